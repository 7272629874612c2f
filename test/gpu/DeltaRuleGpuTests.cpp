//===- DeltaRuleGpuTests.cpp - delta-rule kernels on a GPU vs the oracle --===//
//
// Runs the compiled delta-rule kernels (a package built by deltac from
// Inputs/delta_rule_variants.mlir) through the runtime's C API and compares
// them with the fp64 oracle. Skipped, with the reason, where no GPU or
// driver is present. Every case prints a RESULT line with its errors.
//
//===----------------------------------------------------------------------===//

#include "DeltaOracle.h"
#include "deltajit/deltajit.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <string>
#include <vector>

using namespace deltajit::oracle;

namespace {

/// The bar for bf16/fp16 forward kernels vs the fp64 oracle (DESIGN.md 4).
constexpr double kTolerance = 5e-3;

const char *packageDir() {
  const char *env = std::getenv("DELTAJIT_TEST_PACKAGE");
  return env ? env : DELTAJIT_TEST_PACKAGE_DEFAULT;
}

/// One context and package for the whole test binary.
class Gpu : public ::testing::Environment {
public:
  static dj_context_t *ctx;
  static dj_package_t *pkg;
  static std::string skipReason;

  void SetUp() override {
    dj_status_t st = dj_context_create(nullptr, &ctx);
    if (st == DJ_ERROR_NO_DRIVER || st == DJ_ERROR_NO_DEVICE) {
      skipReason = std::string("no GPU: ") + dj_last_error_message();
      ctx = nullptr;
      return;
    }
    ASSERT_EQ(st, DJ_OK) << dj_last_error_message();
    dj_device_info_t info;
    ASSERT_EQ(dj_context_device_info(ctx, &info), DJ_OK);
    std::printf("DEVICE %s sm_%d%d, %d SMs, driver %d\n", info.name,
                info.compute_capability_major, info.compute_capability_minor,
                info.sm_count, info.driver_version);
    st = dj_package_load(ctx, packageDir(), &pkg);
    ASSERT_EQ(st, DJ_OK) << "package " << packageDir() << ": "
                         << dj_last_error_message();
  }
  void TearDown() override {
    if (pkg)
      dj_package_destroy(pkg);
    if (ctx)
      dj_context_destroy(ctx);
  }
};
dj_context_t *Gpu::ctx = nullptr;
dj_package_t *Gpu::pkg = nullptr;
std::string Gpu::skipReason;

#define REQUIRE_GPU()                                                          \
  do {                                                                         \
    if (!Gpu::ctx)                                                             \
      GTEST_SKIP() << Gpu::skipReason;                                         \
  } while (0)

/// A device buffer freed on scope exit.
struct DeviceBuffer {
  void *ptr = nullptr;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t n) : bytes(n) {
    if (n) {
      EXPECT_EQ(dj_malloc(Gpu::ctx, n, &ptr), DJ_OK) << dj_last_error_message();
    }
  }
  ~DeviceBuffer() { dj_free(Gpu::ctx, ptr); }
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
};

Precision precisionOf(dj_dtype_t t) {
  return t == DJ_DTYPE_BF16 ? Precision::BF16 : Precision::FP16;
}

/// Uploads `x` as 16-bit floats of type `t`.
std::unique_ptr<DeviceBuffer> upload16(const std::vector<double> &x,
                                       dj_dtype_t t) {
  std::vector<uint16_t> bits(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    bits[i] = t == DJ_DTYPE_BF16 ? toBf16Bits(x[i]) : toFp16Bits(x[i]);
  auto buf = std::make_unique<DeviceBuffer>(bits.size() * 2);
  if (!bits.empty()) {
    EXPECT_EQ(dj_memcpy_htod(Gpu::ctx, buf->ptr, bits.data(), bits.size() * 2),
              DJ_OK);
  }
  return buf;
}

std::unique_ptr<DeviceBuffer> uploadF32(const std::vector<double> &x) {
  std::vector<float> f(x.begin(), x.end());
  auto buf = std::make_unique<DeviceBuffer>(f.size() * 4);
  if (!f.empty()) {
    EXPECT_EQ(dj_memcpy_htod(Gpu::ctx, buf->ptr, f.data(), f.size() * 4),
              DJ_OK);
  }
  return buf;
}

std::vector<double> download16(const DeviceBuffer &buf, size_t n,
                               dj_dtype_t t) {
  std::vector<uint16_t> bits(n);
  if (n) {
    EXPECT_EQ(dj_memcpy_dtoh(Gpu::ctx, bits.data(), buf.ptr, n * 2), DJ_OK);
  }
  std::vector<double> x(n);
  for (size_t i = 0; i < n; ++i)
    x[i] = t == DJ_DTYPE_BF16 ? fromBf16Bits(bits[i]) : fromFp16Bits(bits[i]);
  return x;
}

std::vector<double> downloadF32(const DeviceBuffer &buf, size_t n) {
  std::vector<float> f(n);
  if (n) {
    EXPECT_EQ(dj_memcpy_dtoh(Gpu::ctx, f.data(), buf.ptr, n * 4), DJ_OK);
  }
  return std::vector<double>(f.begin(), f.end());
}

bool allFinite(const std::vector<double> &x) {
  for (double v : x)
    if (!std::isfinite(v))
      return false;
  return true;
}

/// Output of one forward run on the GPU.
struct GpuResult {
  std::vector<double> o, finalState;
};

/// Runs `p` (inputs already rounded to `t`) through dj_delta_rule_forward.
GpuResult runForward(const Problem &p, dj_dtype_t t, int chunk = 0) {
  auto q = upload16(p.q, t), k = upload16(p.k, t), v = upload16(p.v, t),
       beta = upload16(p.beta, t);
  int64_t n = p.numSequences();
  size_t oSize = size_t(p.B * p.T * p.HV * p.DV);
  size_t sSize = size_t(n * p.HV * p.DK * p.DV);
  DeviceBuffer o(oSize * 2), ht(sSize * 4);
  std::unique_ptr<DeviceBuffer> h0;
  if (!p.initialState.empty())
    h0 = uploadF32(p.initialState);

  dj_delta_rule_forward_args_t a = {};
  a.dtype = t;
  a.B = p.B;
  a.T = p.T;
  a.H = p.H;
  a.HV = p.HV;
  a.DK = p.DK;
  a.DV = p.DV;
  a.q = q->ptr;
  a.k = k->ptr;
  a.v = v->ptr;
  a.beta = beta->ptr;
  a.o = o.ptr;
  a.h0 = h0 ? h0->ptr : nullptr;
  a.ht = ht.ptr;
  if (p.isVarlen()) {
    a.cu_seqlens = p.cuSeqlens.data();
    a.num_seqs = n;
  }
  a.scale = p.scale < 0 ? NAN : float(p.scale);
  a.use_qk_l2norm = p.qkL2Norm;
  a.chunk_size = chunk;
  EXPECT_EQ(dj_delta_rule_forward(Gpu::ctx, Gpu::pkg, &a, nullptr), DJ_OK)
      << dj_last_error_message();
  EXPECT_EQ(dj_synchronize(Gpu::ctx), DJ_OK) << dj_last_error_message();
  return {download16(o, oSize, t), downloadF32(ht, sSize)};
}

/// Checks the GPU forward of `spec` against the oracle and prints a RESULT.
void checkForward(const std::string &name, RandomSpec spec, dj_dtype_t t,
                  int chunk = 0, double tol = kTolerance) {
  Problem p = randomProblem(spec);
  roundInputs(p, precisionOf(t));
  GpuResult gpu = runForward(p, t, chunk);
  Result ref = recurrent(p);
  double eo = relL2(gpu.o, ref.o), es = relL2(gpu.finalState, ref.finalState);
  std::printf("RESULT forward %-28s B=%lld T=%lld H=%lld HV=%lld dk=%lld "
              "dv=%lld relL2(o)=%.3e relL2(state)=%.3e\n",
              name.c_str(), (long long)p.B, (long long)p.T, (long long)p.H,
              (long long)p.HV, (long long)p.DK, (long long)p.DV, eo, es);
  EXPECT_TRUE(allFinite(gpu.o) && allFinite(gpu.finalState));
  EXPECT_LE(eo, tol) << name;
  EXPECT_LE(es, tol) << name;
}

RandomSpec spec(int64_t B, int64_t T, int64_t H, int64_t HV, int64_t dk,
                int64_t dv, uint64_t seed) {
  RandomSpec s;
  s.B = B;
  s.T = T;
  s.H = H;
  s.HV = HV;
  s.DK = dk;
  s.DV = dv;
  s.seed = seed;
  s.initialState = true;
  s.stateStd = 0.5;
  return s;
}

//===----------------------------------------------------------------------===//
// Forward
//===----------------------------------------------------------------------===//

class ForwardShapes
    : public ::testing::TestWithParam<std::tuple<int64_t, int64_t>> {};

TEST_P(ForwardShapes, MatchesOracle) {
  REQUIRE_GPU();
  auto [dk, dv] = GetParam();
  // T = 300: four full chunks and a partial one; state in and out.
  checkForward("dk" + std::to_string(dk) + "_dv" + std::to_string(dv),
               spec(2, 300, 2, 2, dk, dv, 11 + dk + dv), DJ_DTYPE_BF16);
}

INSTANTIATE_TEST_SUITE_P(Gpu, ForwardShapes,
                         ::testing::Combine(::testing::Values(64, 128, 256),
                                            ::testing::Values(64, 128, 256)));

TEST(GpuForward, SingleToken) {
  REQUIRE_GPU();
  checkForward("T=1", spec(3, 1, 2, 2, 128, 128, 5), DJ_DTYPE_BF16);
}

TEST(GpuForward, NoInitialState) {
  REQUIRE_GPU();
  RandomSpec s = spec(2, 200, 4, 4, 128, 128, 6);
  s.initialState = false;
  checkForward("no-h0", s, DJ_DTYPE_BF16);
}

TEST(GpuForward, GroupedValueHeads) {
  REQUIRE_GPU();
  checkForward("HV=2H", spec(2, 130, 2, 4, 128, 128, 7), DJ_DTYPE_BF16);
}

TEST(GpuForward, VariableLength) {
  REQUIRE_GPU();
  RandomSpec s = spec(1, 0, 2, 2, 128, 128, 8);
  s.seqLens = {1, 64, 200, 0, 37, 128, 513};
  checkForward("varlen", s, DJ_DTYPE_BF16);
}

TEST(GpuForward, WithoutL2Norm) {
  REQUIRE_GPU();
  RandomSpec s = spec(2, 257, 2, 2, 128, 128, 9);
  s.qkL2Norm = false;
  s.keyNormLo = 0.5;
  s.keyNormHi = 1.0; // beta |k|^2 < 2: the recurrence stays bounded
  checkForward("no-l2norm", s, DJ_DTYPE_BF16);
}

TEST(GpuForward, Fp16) {
  REQUIRE_GPU();
  checkForward("fp16", spec(2, 190, 2, 2, 128, 128, 10), DJ_DTYPE_FP16);
  RandomSpec s = spec(2, 100, 2, 2, 64, 256, 12);
  s.qkL2Norm = false;
  s.keyNormLo = 0.5;
  s.keyNormHi = 1.0;
  checkForward("fp16-64x256-no-l2", s, DJ_DTYPE_FP16);
}

TEST(GpuForward, Chunk32) {
  REQUIRE_GPU();
  checkForward("chunk32", spec(2, 100, 2, 2, 64, 64, 13), DJ_DTYPE_BF16, 32);
}

// Chunks of 128 (8 UT blocks): the UT transform's scalar block rows. In
// fp16: with bf16 inputs the rounding of T and W over chunks of 128 alone
// comes to ~5e-3 (5.2e-3 on the H200), which would hide a wrong path.
TEST(GpuForward, Chunk128) {
  REQUIRE_GPU();
  checkForward("chunk128", spec(2, 300, 2, 2, 32, 32, 15), DJ_DTYPE_FP16, 128);
}

TEST(GpuForward, ExplicitScale) {
  REQUIRE_GPU();
  RandomSpec s = spec(1, 90, 2, 2, 64, 64, 14);
  s.scale = 0.3;
  checkForward("scale=0.3", s, DJ_DTYPE_BF16);
}

/// prefill(T1) then prefill(T2) from its state == prefill(T1 + T2).
TEST(GpuForward, SplitPrefillEqualsWhole) {
  REQUIRE_GPU();
  const int64_t t1 = 150, t2 = 170;
  RandomSpec s = spec(1, t1 + t2, 2, 2, 128, 128, 15);
  Problem whole = randomProblem(s);
  roundInputs(whole, Precision::BF16);
  auto slice = [&](int64_t from, int64_t len) {
    Problem part = whole;
    part.T = len;
    auto cut = [&](std::vector<double> &x, int64_t width) {
      x = std::vector<double>(x.begin() + from * width,
                              x.begin() + (from + len) * width);
    };
    cut(part.q, whole.H * whole.DK);
    cut(part.k, whole.H * whole.DK);
    cut(part.v, whole.HV * whole.DV);
    cut(part.beta, whole.HV);
    return part;
  };
  GpuResult all = runForward(whole, DJ_DTYPE_BF16);
  Problem first = slice(0, t1), second = slice(t1, t2);
  GpuResult a = runForward(first, DJ_DTYPE_BF16);
  second.initialState = a.finalState;
  GpuResult b = runForward(second, DJ_DTYPE_BF16);
  std::vector<double> joined = a.o;
  joined.insert(joined.end(), b.o.begin(), b.o.end());
  double eo = relL2(joined, all.o), es = relL2(b.finalState, all.finalState);
  std::printf("RESULT split-prefill T1=%lld T2=%lld relL2(o)=%.3e "
              "relL2(state)=%.3e (vs one prefill)\n",
              (long long)t1, (long long)t2, eo, es);
  EXPECT_LE(eo, kTolerance);
  EXPECT_LE(es, kTolerance);
  Result ref = recurrent(whole);
  EXPECT_LE(relL2(joined, ref.o), kTolerance);
}

/// Pins a config of the test package for its lifetime (the tuner's and the
/// long-sequence rule's picks made explicit); unpins on the way out.
struct PinnedConfig {
  explicit PinnedConfig(const std::string &config) {
    EXPECT_EQ(dj_package_pin_config(Gpu::pkg, config.c_str()), DJ_OK)
        << config << ": " << dj_last_error_message();
  }
  ~PinnedConfig() { dj_package_pin_config(Gpu::pkg, nullptr); }
};

/// Every three-phase config the tuner or the long-sequence rule may pick,
/// pinned, against the oracle: block_v 16 and 32 (generic scan) and 64 and
/// 128 (the register scan on sm_90a: transposed recurrence in wgmma
/// registers), dk 64 / 128 / 256, one and several value tiles per head,
/// bf16 and fp16, q/k L2 norm on and off; T = 300 (a partial chunk) with
/// state in and out, a varlen batch, and T = 16384 (256 chunk steps).
struct ThreePhaseCase {
  std::string name;
  int64_t dk, dv, blockV;
  dj_dtype_t dtype = DJ_DTYPE_BF16;
  bool l2 = true, varlen = false, longT = false;
  int chunk = 0; ///< 0: the package's default (64)
  /// The `_sepout` config: the output kernel kept separate where the
  /// register scan would compute the output (output-in-scan off).
  bool separateOutput = false;
  /// The `_seg<N>` config: the segment scan at N chunks per segment.
  int segmentChunks = 0;
  /// 2 x 1250 x 8 heads (20 chunks, the last partial): at N = 2 the
  /// transitions' 9 segments x 4 value tiles x 16 programs overflow an
  /// H200's three per SM, so the runtime lengthens the segments to 4
  /// chunks (segmentChunksFor).
  bool stretch = false;
};

/// A segment-scan case: the register scan at block_v `blockV`, segments of
/// `segmentChunks` chunks.
ThreePhaseCase segmented(std::string name, int64_t dk, int64_t dv,
                         int64_t blockV, int segmentChunks,
                         dj_dtype_t dtype = DJ_DTYPE_BF16, bool l2 = true,
                         bool varlen = false, bool longT = false) {
  ThreePhaseCase c{std::move(name), dk, dv, blockV, dtype, l2, varlen, longT};
  c.segmentChunks = segmentChunks;
  return c;
}

/// `c` at the shape where the runtime lengthens its segments.
ThreePhaseCase stretched(ThreePhaseCase c) {
  c.stretch = true;
  return c;
}

void PrintTo(const ThreePhaseCase &c, std::ostream *os) {
  *os << "bv" << c.blockV << " " << c.name;
}

class ThreePhaseConfigs : public ::testing::TestWithParam<ThreePhaseCase> {};

TEST_P(ThreePhaseConfigs, MatchesOracle) {
  REQUIRE_GPU();
  const ThreePhaseCase &c = GetParam();
  std::string config =
      "bv" + std::to_string(c.blockV) + "_w8_split3" +
      (c.separateOutput ? "_sepout" : "") +
      (c.segmentChunks ? "_seg" + std::to_string(c.segmentChunks) : "");
  PinnedConfig pin(config);
  RandomSpec s = spec(2, 300, 2, 2, c.dk, c.dv, 40 + c.blockV + c.dk);
  if (c.varlen) {
    s = spec(1, 0, 2, 2, c.dk, c.dv, 41);
    s.seqLens = {1, 64, 200, 0, 37, 128, 513};
  }
  if (c.longT) // 256 chunk steps: rounding that accumulates along the scan
    s = spec(1, 16384, 2, 2, c.dk, c.dv, 42);
  if (c.stretch)
    s = spec(2, 1250, 8, 8, c.dk, c.dv, 43);
  if (!c.l2) {
    s.qkL2Norm = false;
    s.keyNormLo = 0.5;
    s.keyNormHi = 1.0;
  }
  checkForward(config + "-" + c.name, s, c.dtype, c.chunk);
}

INSTANTIATE_TEST_SUITE_P(
    Gpu, ThreePhaseConfigs,
    ::testing::Values(
        ThreePhaseCase{"128x128", 128, 128, 16},
        ThreePhaseCase{"128x128", 128, 128, 32},
        ThreePhaseCase{"128x128", 128, 128, 64},
        ThreePhaseCase{"128x128", 128, 128, 128},
        ThreePhaseCase{"128x128-varlen", 128, 128, 128, DJ_DTYPE_BF16, true,
                       true},
        ThreePhaseCase{"128x128-T16384", 128, 128, 16, DJ_DTYPE_BF16, true,
                       false, true},
        ThreePhaseCase{"128x128-T16384", 128, 128, 64, DJ_DTYPE_BF16, true,
                       false, true},
        ThreePhaseCase{"128x128-T16384", 128, 128, 128, DJ_DTYPE_BF16, true,
                       false, true},
        ThreePhaseCase{"128x128-no-l2", 128, 128, 128, DJ_DTYPE_BF16, false},
        ThreePhaseCase{"128x128-fp16", 128, 128, 128, DJ_DTYPE_FP16},
        ThreePhaseCase{"128x256", 128, 256, 64},
        ThreePhaseCase{"128x256", 128, 256, 128},
        ThreePhaseCase{"128x64", 128, 64, 64},
        ThreePhaseCase{"64x128", 64, 128, 128},
        ThreePhaseCase{"64x64", 64, 64, 64},
        // dk = 256 at block_v 64: the register scan with the state split
        // over two warpgroups (halves of dk; docs/codegen.md), computing
        // the output (half 1 hands its partial O^T to half 0).
        ThreePhaseCase{"256x128", 256, 128, 64},
        ThreePhaseCase{"256x64", 256, 64, 64},
        ThreePhaseCase{"256x256", 256, 256, 64},
        ThreePhaseCase{"256x128-varlen", 256, 128, 64, DJ_DTYPE_BF16, true,
                       true},
        ThreePhaseCase{"256x256-T16384", 256, 256, 64, DJ_DTYPE_BF16, true,
                       false, true},
        // ... in fp16, and at chunk 32 (X^T is 32 rows: half of a warp's
        // exchange area).
        ThreePhaseCase{"256x128-fp16", 256, 128, 64, DJ_DTYPE_FP16},
        ThreePhaseCase{"256x128-fp16-varlen", 256, 128, 64, DJ_DTYPE_FP16, true,
                       true},
        ThreePhaseCase{"256x128-c32", 256, 128, 64, DJ_DTYPE_BF16, true, false,
                       false, 32},
        ThreePhaseCase{"256x128-c32-T16384", 256, 128, 64, DJ_DTYPE_BF16, true,
                       false, true, 32},
        // The register scan with the output kernel kept separate (the
        // `_sepout` configs: it stages Sb and Vn for the output kernel).
        ThreePhaseCase{"128x128-sepout", 128, 128, 64, DJ_DTYPE_BF16, true,
                       false, false, 0, true},
        ThreePhaseCase{"128x128-sepout", 128, 128, 128, DJ_DTYPE_BF16, true,
                       false, false, 0, true},
        ThreePhaseCase{"128x128-varlen-sepout", 128, 128, 128, DJ_DTYPE_BF16,
                       true, true, false, 0, true},
        ThreePhaseCase{"128x128-fp16-sepout", 128, 128, 128, DJ_DTYPE_FP16,
                       true, false, false, 0, true},
        ThreePhaseCase{"128x128-no-l2-sepout", 128, 128, 128, DJ_DTYPE_BF16,
                       false, false, false, 0, true},
        ThreePhaseCase{"64x64-sepout", 64, 64, 64, DJ_DTYPE_BF16, true, false,
                       false, 0, true},
        // ... and at dk = 256 (two warpgroups per 64 columns).
        ThreePhaseCase{"256x128-sepout", 256, 128, 64, DJ_DTYPE_BF16, true,
                       false, false, 0, true},
        ThreePhaseCase{"256x128-varlen-sepout", 256, 128, 64, DJ_DTYPE_BF16,
                       true, true, false, 0, true},
        ThreePhaseCase{"256x128-c32-sepout", 256, 128, 64, DJ_DTYPE_BF16, true,
                       false, false, 32, true},
        // The segment scan (transitions, combine, scan from the segments'
        // starts): at 2 chunks per segment T = 300 has three segments (the
        // last partial), the varlen batch 1-5 per sequence (an empty one
        // passes h0 to ht), T = 16384 64 (the runtime doubles the length:
        // 128 segments' transitions would overflow a wave); at 32 (the
        // long-sequence rule's) T = 16384 has 8; 2 x 1250 x 8 heads runs
        // segments of 4 (one wave on an H200: ThreePhaseCase::stretch).
        // segmentChunksFor in runtime/lib/DeltaRule.cpp chooses.
        segmented("128x128-seg2", 128, 128, 64, 2),
        segmented("128x128-seg2", 128, 128, 128, 2),
        segmented("128x128-varlen-seg2", 128, 128, 64, 2, DJ_DTYPE_BF16, true,
                  true),
        segmented("128x128-varlen-seg32", 128, 128, 64, 32, DJ_DTYPE_BF16, true,
                  true),
        segmented("128x128-T16384-seg2", 128, 128, 64, 2, DJ_DTYPE_BF16, true,
                  false, true),
        segmented("128x128-T16384-seg32", 128, 128, 64, 32, DJ_DTYPE_BF16, true,
                  false, true),
        segmented("128x128-T16384-seg32", 128, 128, 128, 32, DJ_DTYPE_BF16,
                  true, false, true),
        stretched(segmented("128x128-2x1250x8-seg2", 128, 128, 64, 2)),
        segmented("128x128-no-l2-seg2", 128, 128, 64, 2, DJ_DTYPE_BF16, false),
        segmented("128x128-fp16-seg2", 128, 128, 64, 2, DJ_DTYPE_FP16),
        segmented("128x256-seg2", 128, 256, 64, 2),
        segmented("128x64-seg2", 128, 64, 64, 2),
        segmented("64x128-seg2", 64, 128, 64, 2),
        segmented("64x64-seg2", 64, 64, 64, 2),
        segmented("64x64-T16384-seg32", 64, 64, 64, 32, DJ_DTYPE_BF16, true,
                  false, true)),
    [](const ::testing::TestParamInfo<ThreePhaseCase> &info) {
      std::string n =
          "bv" + std::to_string(info.param.blockV) + "_" + info.param.name;
      for (char &ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch)))
          ch = '_';
      return n;
    });

/// A 64K-token sequence stays finite and within tolerance.
TEST(GpuForward, LongSequence) {
  REQUIRE_GPU();
  checkForward("T=65536", spec(1, 65536, 1, 1, 128, 128, 16), DJ_DTYPE_BF16);
}

//===----------------------------------------------------------------------===//
// Decode
//===----------------------------------------------------------------------===//

struct DecodeRun {
  std::vector<double> o, state;
};

/// One decode step on the GPU: q, k [N, H, dk], v [N, HV, dv], beta [N, HV].
DecodeRun runDecode(int64_t N, int64_t H, int64_t HV, int64_t dk, int64_t dv,
                    const std::vector<double> &q, const std::vector<double> &k,
                    const std::vector<double> &v,
                    const std::vector<double> &beta,
                    const std::vector<double> &state, bool l2, bool inPlace,
                    dj_dtype_t t = DJ_DTYPE_BF16) {
  auto dq = upload16(q, t), dk16 = upload16(k, t), dvv = upload16(v, t),
       db = upload16(beta, t);
  auto sIn = uploadF32(state);
  DeviceBuffer o(size_t(N * HV * dv) * 2), sOut(state.size() * 4);
  dj_delta_rule_decode_args_t a = {};
  a.dtype = t;
  a.N = N;
  a.H = H;
  a.HV = HV;
  a.DK = dk;
  a.DV = dv;
  a.q = dq->ptr;
  a.k = dk16->ptr;
  a.v = dvv->ptr;
  a.beta = db->ptr;
  a.o = o.ptr;
  a.state_in = sIn->ptr;
  a.state_out = inPlace ? nullptr : sOut.ptr;
  a.scale = NAN;
  a.use_qk_l2norm = l2;
  EXPECT_EQ(dj_delta_rule_decode(Gpu::ctx, Gpu::pkg, &a, nullptr), DJ_OK)
      << dj_last_error_message();
  EXPECT_EQ(dj_synchronize(Gpu::ctx), DJ_OK);
  return {download16(o, size_t(N * HV * dv), t),
          downloadF32(inPlace ? *sIn : sOut, state.size())};
}

class DecodeShapes
    : public ::testing::TestWithParam<std::tuple<int64_t, int64_t>> {};

TEST_P(DecodeShapes, MatchesOracle) {
  REQUIRE_GPU();
  auto [dk, dv] = GetParam();
  const int64_t N = 5, H = 2, HV = 4;
  RandomSpec s = spec(N, 1, H, HV, dk, dv, 21 + dk * dv);
  Problem p = randomProblem(s);
  roundInputs(p, Precision::BF16);
  for (bool inPlace : {false, true}) {
    DecodeRun gpu = runDecode(N, H, HV, dk, dv, p.q, p.k, p.v, p.beta,
                              p.initialState, true, inPlace);
    std::vector<double> state = p.initialState, o;
    decodeStep(N, H, HV, dk, dv, p.q, p.k, p.v, p.beta, {}, p.effectiveScale(),
               true, state, o);
    double eo = relL2(gpu.o, o), es = relL2(gpu.state, state);
    std::printf("RESULT decode dk=%lld dv=%lld %s relL2(o)=%.3e "
                "relL2(state)=%.3e\n",
                (long long)dk, (long long)dv,
                inPlace ? "in-place  " : "in/out    ", eo, es);
    EXPECT_LE(eo, kTolerance);
    EXPECT_LE(es, kTolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(Gpu, DecodeShapes,
                         ::testing::Combine(::testing::Values(64, 128, 256),
                                            ::testing::Values(64, 128, 256)));
// dk = 144: rows split 32 ways, 5 per thread, the last one missing for some;
// dv = 48: blocks of 16 columns (48 has no power-of-two count of 16-byte
// groups).
INSTANTIATE_TEST_SUITE_P(GpuOddSizes, DecodeShapes,
                         ::testing::Values(std::make_tuple(int64_t(144),
                                                           int64_t(48))));

/// Token-by-token decode equals the chunked prefill of the same tokens.
TEST(GpuDecode, TokenByTokenEqualsPrefill) {
  REQUIRE_GPU();
  const int64_t T = 100, H = 2, d = 128;
  RandomSpec s = spec(1, T, H, H, d, d, 31);
  Problem p = randomProblem(s);
  roundInputs(p, Precision::BF16);
  GpuResult prefill = runForward(p, DJ_DTYPE_BF16);
  std::vector<double> state = p.initialState, outs;
  for (int64_t t = 0; t < T; ++t) {
    auto at = [&](const std::vector<double> &x, int64_t width) {
      return std::vector<double>(x.begin() + t * width,
                                 x.begin() + (t + 1) * width);
    };
    DecodeRun step = runDecode(1, H, H, d, d, at(p.q, H * d), at(p.k, H * d),
                               at(p.v, H * d), at(p.beta, H), state, true,
                               /*inPlace=*/true);
    state = step.state;
    outs.insert(outs.end(), step.o.begin(), step.o.end());
  }
  double eo = relL2(outs, prefill.o), es = relL2(state, prefill.finalState);
  std::printf(
      "RESULT decode-vs-prefill T=%lld relL2(o)=%.3e relL2(state)=%.3e\n",
      (long long)T, eo, es);
  EXPECT_LE(eo, kTolerance);
  EXPECT_LE(es, kTolerance);
}

TEST(GpuDecode, Fp16AndNoL2Norm) {
  REQUIRE_GPU();
  const int64_t N = 3, H = 2, d = 128;
  for (auto [t, l2] : {std::pair<dj_dtype_t, bool>{DJ_DTYPE_FP16, true},
                       {DJ_DTYPE_BF16, false}}) {
    RandomSpec s = spec(N, 1, H, H, d, d, 41);
    s.qkL2Norm = l2;
    if (!l2) {
      s.keyNormLo = 0.5;
      s.keyNormHi = 1.0;
    }
    Problem p = randomProblem(s);
    roundInputs(p, precisionOf(t));
    DecodeRun gpu = runDecode(N, H, H, d, d, p.q, p.k, p.v, p.beta,
                              p.initialState, l2, false, t);
    std::vector<double> state = p.initialState, o;
    decodeStep(N, H, H, d, d, p.q, p.k, p.v, p.beta, {}, p.effectiveScale(), l2,
               state, o);
    double eo = relL2(gpu.o, o), es = relL2(gpu.state, state);
    std::printf("RESULT decode %s l2=%d relL2(o)=%.3e relL2(state)=%.3e\n",
                t == DJ_DTYPE_FP16 ? "fp16" : "bf16", int(l2), eo, es);
    EXPECT_LE(eo, kTolerance);
    EXPECT_LE(es, kTolerance);
  }
}

/// A request the package has no kernel for is a clear error, not a crash.
TEST(GpuErrors, MissingEntryIsNotFound) {
  REQUIRE_GPU();
  DeviceBuffer buf(1 << 20);
  dj_delta_rule_forward_args_t a = {};
  a.dtype = DJ_DTYPE_BF16;
  a.B = 1;
  a.T = 4;
  a.H = a.HV = 1;
  a.DK = 96; // not compiled into the test package
  a.DV = 64;
  a.q = a.k = a.v = a.beta = buf.ptr;
  a.o = buf.ptr;
  a.scale = NAN;
  EXPECT_EQ(dj_delta_rule_forward(Gpu::ctx, Gpu::pkg, &a, nullptr),
            DJ_ERROR_NOT_FOUND);
  EXPECT_NE(std::string(dj_last_error_message()).find("96"), std::string::npos)
      << dj_last_error_message();
}

} // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new Gpu);
  return RUN_ALL_TESTS();
}
