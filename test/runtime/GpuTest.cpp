//===- GpuTest.cpp - end to end on a GPU: JIT, disk cache, launches -------===//
//
// Hand-written PTX kernels in small packages exercise the whole path: driver
// loading, JIT through the driver linker, the disk cache (hit, corrupt and
// truncated entries rebuilt), the generic launcher (scratch, formulas, every
// parameter type) and the symbol binding of delta_rule_forward/decode. Every
// test skips (GTEST_SKIP, with the reason) where there is no CUDA GPU.
//
//===----------------------------------------------------------------------===//

#include "KernelCache.h"
#include "TestUtil.h"

#include "deltajit/deltajit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

using deltajit::test::readFile;
using deltajit::test::TempDir;
using deltajit::test::writeFile;
using deltajit::test::writePackage;
using nlohmann::json;

namespace {

// Kernels (PTX ISA 7.0, sm_80: JIT-compiled for any newer GPU):
//   dj_test_fill(out, n, value):           out[i] = value, i < n
//   dj_test_axpb(out, in, n, offset, mul): out[i] = in[i] * mul + offset
//   dj_test_store(dst, a:i32, b:i32, c:i64, d:f32, e:i32, f:i32): stores the
//       scalars at byte offsets 0, 4, 8, 16, 20, 24 of dst
//   dj_test_copy_b32(dst, src): dst[blockIdx.x] = src[blockIdx.x] (32 bits)
//   dj_test_copy_b64(dst, src): the same with 64-bit words
const char *kTestPtx = R"ptx(
.version 7.0
.target sm_80
.address_size 64

.visible .entry dj_test_fill(
    .param .u64 p_out,
    .param .u32 p_n,
    .param .f32 p_value)
{
    .reg .pred %p<2>;
    .reg .b32 %r<6>;
    .reg .f32 %f<2>;
    .reg .b64 %rd<5>;
    ld.param.u64 %rd1, [p_out];
    ld.param.u32 %r1, [p_n];
    ld.param.f32 %f1, [p_value];
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mov.u32 %r4, %tid.x;
    mad.lo.s32 %r5, %r2, %r3, %r4;
    setp.ge.u32 %p1, %r5, %r1;
    @%p1 bra FILL_DONE;
    cvta.to.global.u64 %rd2, %rd1;
    mul.wide.u32 %rd3, %r5, 4;
    add.s64 %rd4, %rd2, %rd3;
    st.global.f32 [%rd4], %f1;
FILL_DONE:
    ret;
}

.visible .entry dj_test_axpb(
    .param .u64 p_out,
    .param .u64 p_in,
    .param .u32 p_n,
    .param .u64 p_offset,
    .param .f32 p_mul)
{
    .reg .pred %p<2>;
    .reg .b32 %r<6>;
    .reg .f32 %f<5>;
    .reg .b64 %rd<8>;
    ld.param.u64 %rd1, [p_out];
    ld.param.u64 %rd2, [p_in];
    ld.param.u32 %r1, [p_n];
    ld.param.u64 %rd3, [p_offset];
    ld.param.f32 %f1, [p_mul];
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mov.u32 %r4, %tid.x;
    mad.lo.s32 %r5, %r2, %r3, %r4;
    setp.ge.u32 %p1, %r5, %r1;
    @%p1 bra AXPB_DONE;
    mul.wide.u32 %rd4, %r5, 4;
    cvta.to.global.u64 %rd5, %rd2;
    add.s64 %rd5, %rd5, %rd4;
    ld.global.f32 %f2, [%rd5];
    cvt.rn.f32.s64 %f3, %rd3;
    fma.rn.f32 %f4, %f2, %f1, %f3;
    cvta.to.global.u64 %rd6, %rd1;
    add.s64 %rd6, %rd6, %rd4;
    st.global.f32 [%rd6], %f4;
AXPB_DONE:
    ret;
}

.visible .entry dj_test_store(
    .param .u64 p_dst,
    .param .u32 p_a,
    .param .u32 p_b,
    .param .u64 p_c,
    .param .f32 p_d,
    .param .u32 p_e,
    .param .u32 p_f)
{
    .reg .b32 %r<5>;
    .reg .f32 %f<2>;
    .reg .b64 %rd<3>;
    ld.param.u64 %rd1, [p_dst];
    cvta.to.global.u64 %rd1, %rd1;
    ld.param.u32 %r1, [p_a];
    ld.param.u32 %r2, [p_b];
    ld.param.u64 %rd2, [p_c];
    ld.param.f32 %f1, [p_d];
    ld.param.u32 %r3, [p_e];
    ld.param.u32 %r4, [p_f];
    st.global.u32 [%rd1], %r1;
    st.global.u32 [%rd1+4], %r2;
    st.global.u64 [%rd1+8], %rd2;
    st.global.f32 [%rd1+16], %f1;
    st.global.u32 [%rd1+20], %r3;
    st.global.u32 [%rd1+24], %r4;
    ret;
}

.visible .entry dj_test_copy_b32(
    .param .u64 p_dst,
    .param .u64 p_src)
{
    .reg .b32 %r<3>;
    .reg .b64 %rd<6>;
    ld.param.u64 %rd1, [p_dst];
    ld.param.u64 %rd2, [p_src];
    cvta.to.global.u64 %rd1, %rd1;
    cvta.to.global.u64 %rd2, %rd2;
    mov.u32 %r1, %ctaid.x;
    mul.wide.u32 %rd3, %r1, 4;
    add.s64 %rd4, %rd2, %rd3;
    ld.global.u32 %r2, [%rd4];
    add.s64 %rd5, %rd1, %rd3;
    st.global.u32 [%rd5], %r2;
    ret;
}

.visible .entry dj_test_copy_b64(
    .param .u64 p_dst,
    .param .u64 p_src)
{
    .reg .b32 %r<2>;
    .reg .b64 %rd<7>;
    ld.param.u64 %rd1, [p_dst];
    ld.param.u64 %rd2, [p_src];
    cvta.to.global.u64 %rd1, %rd1;
    cvta.to.global.u64 %rd2, %rd2;
    mov.u32 %r1, %ctaid.x;
    mul.wide.u32 %rd3, %r1, 8;
    add.s64 %rd4, %rd2, %rd3;
    ld.global.u64 %rd6, [%rd4];
    add.s64 %rd5, %rd1, %rd3;
    st.global.u64 [%rd5], %rd6;
    ret;
}
)ptx";

json testManifest() {
  return json::parse(R"json({
    "format": "deltajit-package",
    "format_version": 1,
    "producer": "GpuTest.cpp",
    "target": {"arch": "sm_80", "sm": 80, "ptx_version": "7.0"},
    "modules": [
      {"file": "test.ptx", "sha256": "AUTO",
       "kernels": ["dj_test_fill", "dj_test_axpb", "dj_test_store",
                   "dj_test_copy_b32", "dj_test_copy_b64"]}
    ],
    "entries": [
      {"op": "test_fill",
       "scratch": [{"name": "tmp", "bytes": "n * 4"}],
       "launches": [
         {"kernel": "dj_test_fill", "grid": ["ceildiv(n, 128)", "1", "1"],
          "block": [128, 1, 1], "shared_bytes": 0,
          "params": [{"name": "tmp", "type": "ptr"},
                     {"name": "n", "type": "i32"},
                     {"name": "value", "type": "f32"}]},
         {"kernel": "dj_test_axpb", "grid": ["ceildiv(n, 256)", "1", "1"],
          "block": [256, 1, 1], "shared_bytes": 0,
          "params": [{"name": "out", "type": "ptr"},
                     {"name": "tmp", "type": "ptr"},
                     {"name": "n", "type": "i32"},
                     {"name": "offset", "type": "i64"},
                     {"name": "mul", "type": "f32"}]}
       ]},
      {"op": "delta_rule_forward", "dtype": "bf16", "dk": 4, "dv": 4,
       "chunk": 4, "use_qk_l2norm": false,
       "scratch": [{"name": "w", "bytes": "T_total * HV * DK * 2"}],
       "launches": [
         {"kernel": "dj_test_store", "grid": ["1", "1", "1"],
          "block": [1, 1, 1], "shared_bytes": 0,
          "params": [{"name": "o", "type": "ptr"},
                     {"name": "total_chunks", "type": "i32"},
                     {"name": "N", "type": "i32"},
                     {"name": "T_total", "type": "i64"},
                     {"name": "scale", "type": "f32"},
                     {"name": "has_h0", "type": "i32"},
                     {"name": "max_chunks", "type": "i32"}]},
         {"kernel": "dj_test_copy_b32", "grid": ["N + 1", "1", "1"],
          "block": [1, 1, 1], "shared_bytes": 0,
          "params": [{"name": "k", "type": "ptr"},
                     {"name": "chunk_offsets", "type": "ptr"}]},
         {"kernel": "dj_test_copy_b32", "grid": ["2 * total_chunks", "1", "1"],
          "block": [1, 1, 1], "shared_bytes": 0,
          "params": [{"name": "v", "type": "ptr"},
                     {"name": "chunk_table", "type": "ptr"}]},
         {"kernel": "dj_test_copy_b32", "grid": ["2 * total_chunks", "1", "1"],
          "block": [1, 1, 1], "shared_bytes": 0,
          "params": [{"name": "q", "type": "ptr"},
                     {"name": "chunk_spans", "type": "ptr"}]},
         {"kernel": "dj_test_copy_b64", "grid": ["N + 1", "1", "1"],
          "block": [1, 1, 1], "shared_bytes": 0,
          "params": [{"name": "beta", "type": "ptr"},
                     {"name": "cu_seqlens", "type": "ptr"}]}
       ]},
      {"op": "delta_rule_decode", "dtype": "bf16", "dk": 4, "dv": 4,
       "use_qk_l2norm": false,
       "launches": [
         {"kernel": "dj_test_store", "grid": ["1", "1", "1"],
          "block": [1, 1, 1], "shared_bytes": 0,
          "params": [{"name": "o", "type": "ptr"},
                     {"name": "N", "type": "i32"},
                     {"name": "H", "type": "i32"},
                     {"name": "DK", "type": "i64"},
                     {"name": "scale", "type": "f32"},
                     {"name": "HV", "type": "i32"},
                     {"name": "DV", "type": "i32"}]},
         {"kernel": "dj_test_copy_b32", "grid": ["N * HV * DK * DV", "1", "1"],
          "block": [1, 1, 1], "shared_bytes": 0,
          "params": [{"name": "state_out", "type": "ptr"},
                     {"name": "state_in", "type": "ptr"}]}
       ]}
    ]
  })json");
}

std::string message() { return dj_last_error_message(); }

/// Device buffer owned by a test.
struct DeviceBuffer {
  dj_context_t *ctx = nullptr;
  void *ptr = nullptr;
  DeviceBuffer(dj_context_t *c, size_t bytes) : ctx(c) {
    EXPECT_EQ(dj_malloc(ctx, bytes, &ptr), DJ_OK) << message();
  }
  ~DeviceBuffer() { dj_free(ctx, ptr); }
  template <typename T> std::vector<T> read(size_t n) const {
    std::vector<T> out(n);
    EXPECT_EQ(dj_memcpy_dtoh(ctx, out.data(), ptr, n * sizeof(T)), DJ_OK)
        << message();
    return out;
  }
  template <typename T> void write(const std::vector<T> &v) {
    EXPECT_EQ(dj_memcpy_htod(ctx, ptr, v.data(), v.size() * sizeof(T)), DJ_OK)
        << message();
  }
};

class Gpu : public ::testing::Test {
protected:
  void SetUp() override { createContext(cacheDir.path().c_str(), 0); }
  void TearDown() override { dj_context_destroy(ctx); }

  void createContext(const char *cache, int disable) {
    dj_context_options_t opts;
    dj_context_options_init(&opts);
    opts.cache_dir = cache;
    opts.disable_cache = disable;
    dj_status_t s = dj_context_create(&opts, &ctx);
    if (s == DJ_ERROR_NO_DRIVER || s == DJ_ERROR_NO_DEVICE)
      GTEST_SKIP() << "no CUDA GPU here (" << dj_status_string(s)
                   << "): " << message();
    ASSERT_EQ(s, DJ_OK) << message();
  }

  /// Writes the test package (optionally modified) and returns its dir.
  std::string writeTestPackage(const json &manifest = testManifest(),
                               const std::string &ptx = kTestPtx) {
    writePackage(pkgDir.path(), manifest, {{"test.ptx", ptx}});
    return pkgDir.path();
  }

  dj_package_t *load(const std::string &dir, dj_package_info_t *info) {
    dj_package_t *pkg = nullptr;
    EXPECT_EQ(dj_package_load(ctx, dir.c_str(), &pkg), DJ_OK) << message();
    if (pkg && info) {
      EXPECT_EQ(dj_package_get_info(pkg, info), DJ_OK);
    }
    return pkg;
  }

  size_t entryIndex(dj_package_t *pkg, const std::string &op) {
    dj_package_info_t info;
    EXPECT_EQ(dj_package_get_info(pkg, &info), DJ_OK);
    for (size_t i = 0; i < info.num_entries; ++i) {
      dj_entry_info_t e;
      EXPECT_EQ(dj_package_entry_info(pkg, i, &e), DJ_OK);
      if (op == e.op)
        return i;
    }
    ADD_FAILURE() << "no entry " << op;
    return 0;
  }

  /// Runs test_fill over n elements and checks out = value * mul + offset.
  void runFill(dj_package_t *pkg, int64_t n, float value, int64_t offset,
               float mul) {
    DeviceBuffer out(ctx, n * sizeof(float));
    dj_symbol_t symbols[5] = {};
    symbols[0] = {"out", DJ_SYMBOL_PTR, out.ptr, 0, 0};
    symbols[1] = {"n", DJ_SYMBOL_INT, nullptr, n, 0};
    symbols[2] = {"value", DJ_SYMBOL_FLOAT, nullptr, 0, value};
    symbols[3] = {"offset", DJ_SYMBOL_INT, nullptr, offset, 0};
    symbols[4] = {"mul", DJ_SYMBOL_FLOAT, nullptr, 0, mul};
    ASSERT_EQ(dj_package_launch(ctx, pkg, entryIndex(pkg, "test_fill"), symbols,
                                5, nullptr),
              DJ_OK)
        << message();
    ASSERT_EQ(dj_synchronize(ctx), DJ_OK) << message();
    std::vector<float> host = out.read<float>(n);
    float want = value * mul + static_cast<float>(offset);
    size_t bad = 0;
    for (int64_t i = 0; i < n; ++i)
      bad += host[i] != want;
    EXPECT_EQ(bad, 0u) << "n = " << n << ", want " << want
                       << ", host[0] = " << host[0]
                       << ", host[n-1] = " << host[n - 1];
  }

  std::vector<std::string> cacheFiles() {
    std::vector<std::string> files;
    std::string dir = cacheDir / "kernels";
    if (std::filesystem::exists(dir))
      for (const auto &e : std::filesystem::directory_iterator(dir))
        files.push_back(e.path().string());
    return files;
  }

  TempDir cacheDir, pkgDir;
  dj_context_t *ctx = nullptr;
};

} // namespace

TEST_F(Gpu, DeviceInfo) {
  dj_device_info_t info;
  ASSERT_EQ(dj_context_device_info(ctx, &info), DJ_OK) << message();
  std::cout << "device " << info.device_ordinal << ": " << info.name
            << ", compute capability " << info.compute_capability_major << "."
            << info.compute_capability_minor << ", " << info.sm_count
            << " SMs, " << (info.total_memory >> 20) << " MiB, driver "
            << info.driver_version << ", max dynamic shared memory "
            << info.max_shared_memory_per_block_optin << " bytes\n";
  EXPECT_GT(std::strlen(info.name), 0u);
  EXPECT_GT(info.sm_count, 0);
  EXPECT_GE(info.compute_capability_major, 7);
  EXPECT_GT(info.driver_version, 0);
  EXPECT_GT(info.total_memory, 0u);
  const char *dir = nullptr;
  ASSERT_EQ(dj_context_cache_dir(ctx, &dir), DJ_OK);
  ASSERT_NE(dir, nullptr);
  EXPECT_EQ(std::string(dir), cacheDir.path());
}

TEST_F(Gpu, BadDeviceOrdinal) {
  dj_context_options_t opts;
  dj_context_options_init(&opts);
  opts.device_ordinal = 1000;
  dj_context_t *other = nullptr;
  EXPECT_EQ(dj_context_create(&opts, &other), DJ_ERROR_NO_DEVICE);
  EXPECT_NE(message().find("device ordinal 1000 requested"), std::string::npos)
      << message();
  opts.device_ordinal = -1;
  EXPECT_EQ(dj_context_create(&opts, &other), DJ_ERROR_INVALID_ARGUMENT);
}

TEST_F(Gpu, MemoryRoundTrip) {
  std::vector<int32_t> data(1000);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<int32_t>(i * 3 - 7);
  DeviceBuffer buf(ctx, data.size() * 4);
  buf.write(data);
  EXPECT_EQ(buf.read<int32_t>(data.size()), data);
  void *p = nullptr;
  EXPECT_EQ(dj_malloc(ctx, 0, &p), DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(dj_free(ctx, nullptr), DJ_OK);
}

TEST_F(Gpu, GenericLaunchFillAndAxpb) {
  dj_package_info_t info;
  dj_package_t *pkg = load(writeTestPackage(), &info);
  ASSERT_NE(pkg, nullptr);
  EXPECT_EQ(info.num_modules, 1u);
  EXPECT_EQ(info.num_entries, 3u);
  EXPECT_STREQ(info.arch, "sm_80");
  EXPECT_STREQ(info.producer, "GpuTest.cpp");
  EXPECT_EQ(info.modules_compiled, 1u);
  EXPECT_EQ(info.modules_from_cache, 0u);
  runFill(pkg, 1000, 2.0f, 3, 1.5f);
  runFill(pkg, 1, -1.0f, -5, 2.0f);
  runFill(pkg, 1 << 20, 0.25f, 1 << 20, 4.0f); // scratch grows
  runFill(pkg, 1000, 7.0f, 0, 1.0f);           // and is reused
  dj_package_destroy(pkg);
}

TEST_F(Gpu, GenericLaunchErrors) {
  dj_package_t *pkg = load(writeTestPackage(), nullptr);
  ASSERT_NE(pkg, nullptr);
  size_t fill = entryIndex(pkg, "test_fill");
  DeviceBuffer out(ctx, 16);
  dj_symbol_t symbols[4] = {};
  symbols[0] = {"out", DJ_SYMBOL_PTR, out.ptr, 0, 0};
  symbols[1] = {"n", DJ_SYMBOL_INT, nullptr, 4, 0};
  symbols[2] = {"offset", DJ_SYMBOL_INT, nullptr, 0, 0};
  symbols[3] = {"mul", DJ_SYMBOL_FLOAT, nullptr, 0, 1.0};
  EXPECT_EQ(dj_package_launch(ctx, pkg, fill, symbols, 4, nullptr),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message().find("parameter 'value' of kernel 'dj_test_fill' is "
                           "not bound"),
            std::string::npos)
      << message();
  EXPECT_EQ(dj_package_launch(ctx, pkg, 99, symbols, 4, nullptr),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message().find("entry_index 99 is out of range"),
            std::string::npos);
  symbols[3] = {"n", DJ_SYMBOL_INT, nullptr, 4, 0};
  EXPECT_EQ(dj_package_launch(ctx, pkg, fill, symbols, 4, nullptr),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message().find("'n' is bound twice"), std::string::npos);

  // A package is tied to the context it was loaded in.
  dj_context_t *other = nullptr;
  ASSERT_EQ(dj_context_create(nullptr, &other), DJ_OK) << message();
  EXPECT_EQ(dj_package_launch(other, pkg, fill, symbols, 4, nullptr),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message().find("different context"), std::string::npos);
  dj_context_destroy(other);
  dj_package_destroy(pkg);
}

TEST_F(Gpu, SecondLoadHitsTheCache) {
  std::string dir = writeTestPackage();
  dj_package_info_t info;
  dj_package_destroy(load(dir, &info));
  EXPECT_EQ(info.modules_compiled, 1u);
  EXPECT_EQ(info.modules_from_cache, 0u);
  ASSERT_EQ(cacheFiles().size(), 1u);
  EXPECT_EQ(std::filesystem::path(cacheFiles()[0]).extension(), ".cubin");

  dj_package_t *pkg = load(dir, &info);
  EXPECT_EQ(info.modules_compiled, 0u);
  EXPECT_EQ(info.modules_from_cache, 1u);
  EXPECT_EQ(info.cache_entries_rebuilt, 0u);
  runFill(pkg, 5000, 1.0f, 1, 1.0f);
  dj_package_destroy(pkg);

  // A new context (same cache dir) hits as well.
  dj_context_destroy(ctx);
  ctx = nullptr;
  createContext(cacheDir.path().c_str(), 0);
  pkg = load(dir, &info);
  EXPECT_EQ(info.modules_from_cache, 1u);
  dj_package_destroy(pkg);
}

TEST_F(Gpu, CorruptOrTruncatedCacheEntryIsRebuilt) {
  std::string dir = writeTestPackage();
  dj_package_destroy(load(dir, nullptr));
  ASSERT_EQ(cacheFiles().size(), 1u);
  std::string path = cacheFiles()[0];
  std::string good = readFile(path);
  ASSERT_GT(good.size(), deltajit::kCacheHeaderSize);
  deltajit::Sha256::Digest key;
  std::memcpy(key.data(), good.data() + 8, key.size());

  struct Case {
    const char *what;
    std::string bytes;
  };
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x5a;
  std::vector<Case> cases = {
      {"payload byte flipped", flipped},
      {"truncated", good.substr(0, good.size() / 3)},
      {"empty", ""},
      {"well-formed entry, but not a cubin",
       deltajit::encodeCacheEntry(key, "this is not a cubin")},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.what);
    writeFile(path, c.bytes);
    dj_package_info_t info;
    dj_package_t *pkg = load(dir, &info);
    ASSERT_NE(pkg, nullptr);
    EXPECT_EQ(info.cache_entries_rebuilt, 1u);
    EXPECT_EQ(info.modules_compiled, 1u);
    EXPECT_EQ(info.modules_from_cache, 0u);
    runFill(pkg, 300, 2.0f, 0, 2.0f);
    dj_package_destroy(pkg);
    // The rebuilt entry is good again.
    pkg = load(dir, &info);
    EXPECT_EQ(info.modules_from_cache, 1u);
    dj_package_destroy(pkg);
    EXPECT_EQ(cacheFiles().size(), 1u);
  }
}

TEST_F(Gpu, DisabledCache) {
  dj_context_destroy(ctx);
  ctx = nullptr;
  createContext(cacheDir.path().c_str(), 1);
  const char *dir = "unset";
  ASSERT_EQ(dj_context_cache_dir(ctx, &dir), DJ_OK);
  EXPECT_EQ(dir, nullptr);
  std::string pkgPath = writeTestPackage();
  dj_package_info_t info;
  dj_package_destroy(load(pkgPath, &info));
  dj_package_destroy(load(pkgPath, &info));
  EXPECT_EQ(info.modules_compiled, 1u);
  EXPECT_EQ(info.modules_from_cache, 0u);
  EXPECT_TRUE(cacheFiles().empty());
}

TEST_F(Gpu, UnwritableCacheDirectoryIsNotAnError) {
  dj_context_destroy(ctx);
  ctx = nullptr;
  writeFile(cacheDir / "plain-file", "x");
  std::string bad = cacheDir / "plain-file/cache";
  createContext(bad.c_str(), 0);
  const char *dir = "unset";
  ASSERT_EQ(dj_context_cache_dir(ctx, &dir), DJ_OK);
  EXPECT_EQ(dir, nullptr);
  dj_package_info_t info;
  dj_package_t *pkg = load(writeTestPackage(), &info);
  ASSERT_NE(pkg, nullptr);
  EXPECT_EQ(info.modules_compiled, 1u);
  runFill(pkg, 10, 1.0f, 0, 1.0f);
  dj_package_destroy(pkg);
}

TEST_F(Gpu, BadPtxReportsTheJitLog) {
  std::string ptx = ".version 7.0\n.target sm_80\n.address_size 64\n"
                    ".visible .entry dj_test_fill()\n{\n    bogus.instruction "
                    "%r1;\n    ret;\n}\n";
  std::string dir = writeTestPackage(testManifest(), ptx);
  dj_package_t *pkg = nullptr;
  EXPECT_EQ(dj_package_load(ctx, dir.c_str(), &pkg), DJ_ERROR_PACKAGE);
  EXPECT_EQ(pkg, nullptr);
  std::string msg = message();
  std::cout << "JIT failure message:\n" << msg << "\n";
  EXPECT_NE(msg.find("JIT compilation of 'test.ptx' failed"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("CUDA_ERROR_INVALID_PTX"), std::string::npos) << msg;
  EXPECT_NE(msg.find("JIT error log:"), std::string::npos) << msg;
  EXPECT_TRUE(cacheFiles().empty());
}

TEST_F(Gpu, KernelMissingFromModule) {
  json m = testManifest();
  m["modules"][0]["kernels"].push_back("dj_test_nope");
  dj_package_t *pkg = nullptr;
  EXPECT_EQ(dj_package_load(ctx, writeTestPackage(m).c_str(), &pkg),
            DJ_ERROR_PACKAGE);
  EXPECT_NE(message().find("modules[0].kernels: kernel 'dj_test_nope' is not "
                           "defined in 'test.ptx'"),
            std::string::npos)
      << message();
}

TEST_F(Gpu, IncompatibleTarget) {
  dj_device_info_t dev;
  ASSERT_EQ(dj_context_device_info(ctx, &dev), DJ_OK);
  int other =
      dev.compute_capability_major * 10 + dev.compute_capability_minor + 1;
  json m = testManifest();
  m["target"]["arch"] = "sm_" + std::to_string(other) + "a";
  m["target"]["sm"] = other;
  dj_package_t *pkg = nullptr;
  EXPECT_EQ(dj_package_load(ctx, writeTestPackage(m).c_str(), &pkg),
            DJ_ERROR_PACKAGE);
  EXPECT_NE(message().find("target.arch: the package targets sm_" +
                           std::to_string(other) +
                           "a, which runs only on "
                           "compute capability"),
            std::string::npos)
      << message();
  m["target"]["arch"] = "sm_990";
  m["target"]["sm"] = 990;
  EXPECT_EQ(dj_package_load(ctx, writeTestPackage(m).c_str(), &pkg),
            DJ_ERROR_PACKAGE);
  EXPECT_NE(message().find("needs compute capability 99.0 or newer"),
            std::string::npos)
      << message();
}

TEST_F(Gpu, ChecksumMismatchFailsTheLoad) {
  std::string dir = writeTestPackage();
  std::string ptx = kTestPtx;
  writeFile(dir + "/test.ptx", ptx.substr(0, ptx.size() - 20));
  dj_package_t *pkg = nullptr;
  EXPECT_EQ(dj_package_load(ctx, dir.c_str(), &pkg), DJ_ERROR_PACKAGE);
  EXPECT_NE(message().find("modules[0].sha256"), std::string::npos)
      << message();
}

TEST_F(Gpu, ForwardBindsTablesAndScalars) {
  dj_package_t *pkg = load(writeTestPackage(), nullptr);
  ASSERT_NE(pkg, nullptr);
  DeviceBuffer q(ctx, 4096), k(ctx, 4096), v(ctx, 4096), beta(ctx, 4096),
      o(ctx, 64);

  const int64_t cu[] = {0, 5, 5, 13};
  dj_delta_rule_forward_args_t a{};
  a.dtype = DJ_DTYPE_BF16;
  a.B = 1;
  a.T = 13;
  a.H = 1;
  a.HV = 1;
  a.DK = 4;
  a.DV = 4;
  a.q = q.ptr;
  a.k = k.ptr;
  a.v = v.ptr;
  a.beta = beta.ptr;
  a.o = o.ptr;
  a.cu_seqlens = cu;
  a.num_seqs = 3;
  a.scale = NAN;
  ASSERT_EQ(dj_delta_rule_forward(ctx, pkg, &a, nullptr), DJ_OK) << message();
  ASSERT_EQ(dj_synchronize(ctx), DJ_OK);
  // Lengths 5, 0, 8 with chunk 4: chunks 2, 0, 2.
  std::vector<int32_t> scalars = o.read<int32_t>(7);
  EXPECT_EQ(scalars[0], 4); // total_chunks
  EXPECT_EQ(scalars[1], 3); // N
  int64_t tTotal;
  std::memcpy(&tTotal, &scalars[2], 8);
  EXPECT_EQ(tTotal, 13);
  float scale;
  std::memcpy(&scale, &scalars[4], 4);
  EXPECT_EQ(scale, 0.5f);   // 4^-1/2
  EXPECT_EQ(scalars[5], 0); // has_h0
  EXPECT_EQ(scalars[6], 2); // max_chunks
  EXPECT_EQ(k.read<int32_t>(4), (std::vector<int32_t>{0, 2, 2, 4}));
  EXPECT_EQ(v.read<int32_t>(8), (std::vector<int32_t>{0, 0, 0, 1, 2, 0, 2, 1}));
  // (first token, end of the sequence) of each chunk.
  EXPECT_EQ(q.read<int32_t>(8),
            (std::vector<int32_t>{0, 5, 4, 5, 5, 13, 9, 13}));
  EXPECT_EQ(beta.read<int64_t>(4), (std::vector<int64_t>{0, 5, 5, 13}));

  // A larger uniform batch (the tables grow), explicit chunk and scale.
  dj_delta_rule_forward_args_t b = a;
  b.cu_seqlens = nullptr;
  b.num_seqs = 0;
  b.B = 3;
  b.T = 100;
  b.chunk_size = 4;
  b.scale = 0.75f;
  ASSERT_EQ(dj_delta_rule_forward(ctx, pkg, &b, nullptr), DJ_OK) << message();
  ASSERT_EQ(dj_synchronize(ctx), DJ_OK);
  scalars = o.read<int32_t>(7);
  EXPECT_EQ(scalars[0], 75);
  EXPECT_EQ(scalars[1], 3);
  std::memcpy(&tTotal, &scalars[2], 8);
  EXPECT_EQ(tTotal, 300);
  std::memcpy(&scale, &scalars[4], 4);
  EXPECT_EQ(scale, 0.75f);
  EXPECT_EQ(scalars[6], 25);
  EXPECT_EQ(k.read<int32_t>(4), (std::vector<int32_t>{0, 25, 50, 75}));
  std::vector<int32_t> table = v.read<int32_t>(150);
  for (int c = 0; c < 75; ++c) {
    EXPECT_EQ(table[2 * c], c / 25) << c;
    EXPECT_EQ(table[2 * c + 1], c % 25) << c;
  }
  std::vector<int32_t> spans = q.read<int32_t>(150);
  for (int c = 0; c < 75; ++c) {
    EXPECT_EQ(spans[2 * c], c / 25 * 100 + c % 25 * 4) << c;
    EXPECT_EQ(spans[2 * c + 1], (c / 25 + 1) * 100) << c;
  }
  EXPECT_EQ(beta.read<int64_t>(4), (std::vector<int64_t>{0, 100, 200, 300}));

  // No entry for these keys: the message lists what exists.
  dj_delta_rule_forward_args_t c = b;
  c.DK = 8;
  EXPECT_EQ(dj_delta_rule_forward(ctx, pkg, &c, nullptr), DJ_ERROR_NOT_FOUND);
  EXPECT_NE(message().find("matches delta_rule_forward dtype=bf16 dk=8 dv=4 "
                           "chunk=4 use_qk_l2norm=false"),
            std::string::npos)
      << message();
  EXPECT_NE(message().find("\n  delta_rule_forward dtype=bf16 dk=4 dv=4 "
                           "chunk=4 use_qk_l2norm=false"),
            std::string::npos)
      << message();
  c = b;
  c.chunk_size = 64;
  EXPECT_EQ(dj_delta_rule_forward(ctx, pkg, &c, nullptr), DJ_ERROR_NOT_FOUND);
  c = b;
  c.dtype = DJ_DTYPE_FP16;
  EXPECT_EQ(dj_delta_rule_forward(ctx, pkg, &c, nullptr), DJ_ERROR_NOT_FOUND);
  c = b;
  c.o = nullptr;
  EXPECT_EQ(dj_delta_rule_forward(ctx, pkg, &c, nullptr),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(message(), "args->o is NULL; it is a required device pointer");
  dj_package_destroy(pkg);
}

TEST_F(Gpu, ForwardOfAnEmptyBatchSetsTheFinalState) {
  dj_package_t *pkg = load(writeTestPackage(), nullptr);
  ASSERT_NE(pkg, nullptr);
  DeviceBuffer q(ctx, 64), o(ctx, 64), h0(ctx, 2 * 16 * 4), ht(ctx, 2 * 16 * 4);
  o.write(std::vector<int32_t>(16, 0x5a5a5a5a));
  std::vector<float> state(32);
  for (size_t i = 0; i < state.size(); ++i)
    state[i] = 0.5f * static_cast<float>(i) - 3.0f;
  h0.write(state);
  ht.write(std::vector<float>(32, 42.0f));

  const int64_t cu[] = {0, 0, 0};
  dj_delta_rule_forward_args_t a{};
  a.dtype = DJ_DTYPE_BF16;
  a.B = 1;
  a.T = 0;
  a.H = 1;
  a.HV = 1;
  a.DK = 4;
  a.DV = 4;
  a.q = a.k = a.v = a.beta = q.ptr;
  a.o = o.ptr;
  a.h0 = h0.ptr;
  a.ht = ht.ptr;
  a.cu_seqlens = cu;
  a.num_seqs = 2;
  a.scale = NAN;
  ASSERT_EQ(dj_delta_rule_forward(ctx, pkg, &a, nullptr), DJ_OK) << message();
  ASSERT_EQ(dj_synchronize(ctx), DJ_OK);
  EXPECT_EQ(ht.read<float>(32), state);
  // No kernel ran.
  EXPECT_EQ(o.read<int32_t>(16), std::vector<int32_t>(16, 0x5a5a5a5a));

  a.h0 = nullptr;
  ASSERT_EQ(dj_delta_rule_forward(ctx, pkg, &a, nullptr), DJ_OK) << message();
  ASSERT_EQ(dj_synchronize(ctx), DJ_OK);
  EXPECT_EQ(ht.read<float>(32), std::vector<float>(32, 0.0f));
  dj_package_destroy(pkg);
}

TEST_F(Gpu, DecodeBindsSymbolsAndState) {
  dj_package_t *pkg = load(writeTestPackage(), nullptr);
  ASSERT_NE(pkg, nullptr);
  const int n = 2, hv = 2, d = 4;
  DeviceBuffer q(ctx, 64), o(ctx, 64), sIn(ctx, n * hv * d * d * 4),
      sOut(ctx, n * hv * d * d * 4);
  std::vector<float> state(n * hv * d * d);
  for (size_t i = 0; i < state.size(); ++i)
    state[i] = static_cast<float>(i) * 0.25f;
  sIn.write(state);
  sOut.write(std::vector<float>(state.size(), -1.0f));

  dj_delta_rule_decode_args_t a{};
  a.dtype = DJ_DTYPE_BF16;
  a.N = n;
  a.H = 1;
  a.HV = hv;
  a.DK = d;
  a.DV = d;
  a.q = a.k = a.v = a.beta = q.ptr;
  a.o = o.ptr;
  a.state_in = sIn.ptr;
  a.state_out = sOut.ptr;
  a.scale = 0.125f;
  ASSERT_EQ(dj_delta_rule_decode(ctx, pkg, &a, nullptr), DJ_OK) << message();
  ASSERT_EQ(dj_synchronize(ctx), DJ_OK);
  std::vector<int32_t> s = o.read<int32_t>(7);
  EXPECT_EQ(s[0], n);
  EXPECT_EQ(s[1], 1);
  int64_t dk;
  std::memcpy(&dk, &s[2], 8);
  EXPECT_EQ(dk, d);
  float scale;
  std::memcpy(&scale, &s[4], 4);
  EXPECT_EQ(scale, 0.125f);
  EXPECT_EQ(s[5], hv);
  EXPECT_EQ(s[6], d);
  EXPECT_EQ(sOut.read<float>(state.size()), state);

  // N == 0 queues nothing.
  o.write(std::vector<int32_t>(16, 7));
  a.N = 0;
  ASSERT_EQ(dj_delta_rule_decode(ctx, pkg, &a, nullptr), DJ_OK) << message();
  ASSERT_EQ(dj_synchronize(ctx), DJ_OK);
  EXPECT_EQ(o.read<int32_t>(16), std::vector<int32_t>(16, 7));

  a.N = n;
  a.use_qk_l2norm = 1;
  EXPECT_EQ(dj_delta_rule_decode(ctx, pkg, &a, nullptr), DJ_ERROR_NOT_FOUND);
  EXPECT_NE(message().find("delta_rule_decode dtype=bf16 dk=4 dv=4 "
                           "use_qk_l2norm=true"),
            std::string::npos)
      << message();
  dj_package_destroy(pkg);
}

TEST_F(Gpu, PackageMayOutliveTheContextHandle) {
  dj_package_t *pkg = load(writeTestPackage(), nullptr);
  ASSERT_NE(pkg, nullptr);
  dj_context_destroy(ctx);
  ctx = nullptr;
  dj_package_info_t info;
  EXPECT_EQ(dj_package_get_info(pkg, &info), DJ_OK);
  dj_package_destroy(pkg); // releases the device resources last
}

TEST_F(Gpu, TrimFreesWorkspaces) {
  dj_package_t *pkg = load(writeTestPackage(), nullptr);
  ASSERT_NE(pkg, nullptr);
  runFill(pkg, 4096, 1.0f, 0, 1.0f);
  EXPECT_EQ(dj_context_trim(ctx), DJ_OK) << message();
  runFill(pkg, 4096, 2.0f, 0, 1.0f); // re-allocated on demand
  dj_package_destroy(pkg);
}

TEST_F(Gpu, ConcurrentCallsFromSeveralThreads) {
  dj_package_t *pkg = load(writeTestPackage(), nullptr);
  ASSERT_NE(pkg, nullptr);
  size_t fill = entryIndex(pkg, "test_fill");
  constexpr int kThreads = 6, kIterations = 20, kN = 3000;
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      void *out = nullptr;
      if (dj_malloc(ctx, kN * sizeof(float), &out) != DJ_OK) {
        ++failures[t];
        return;
      }
      std::vector<float> host(kN);
      for (int it = 0; it < kIterations; ++it) {
        // Sizes differ per thread and iteration, so the shared scratch of
        // the default stream grows while other threads use it.
        int64_t n = kN - 97 * ((t + it) % 7);
        float value = static_cast<float>(t * 100 + it);
        dj_symbol_t symbols[5] = {{"out", DJ_SYMBOL_PTR, out, 0, 0},
                                  {"n", DJ_SYMBOL_INT, nullptr, n, 0},
                                  {"value", DJ_SYMBOL_FLOAT, nullptr, 0, value},
                                  {"offset", DJ_SYMBOL_INT, nullptr, 1, 0},
                                  {"mul", DJ_SYMBOL_FLOAT, nullptr, 0, 1.0}};
        if (dj_package_launch(ctx, pkg, fill, symbols, 5, nullptr) != DJ_OK ||
            dj_memcpy_dtoh(ctx, host.data(), out, n * sizeof(float)) != DJ_OK) {
          ++failures[t];
          continue;
        }
        for (int64_t i = 0; i < n; ++i)
          if (host[i] != value + 1.0f) {
            ++failures[t];
            break;
          }
      }
      dj_free(ctx, out);
    });
  for (std::thread &th : threads)
    th.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(failures[t], 0) << "thread " << t;
  dj_package_destroy(pkg);
}
