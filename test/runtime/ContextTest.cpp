//===- ContextTest.cpp - workspaces and table uploads on the stand-in driver
//===//
//
// Context::upload through test/runtime/FakeCudaDriver.cpp (its device memory
// is host memory, so a test can read and overwrite what a copy put there):
// the copy happens on the first upload and whenever the bytes change, and
// is skipped while the buffer still holds them.
//
//===----------------------------------------------------------------------===//

#include "Context.h"
#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

using namespace deltajit;

namespace {

/// A context on the stand-in driver ($DELTAJIT_CUDA_DRIVER set by the
/// caller).
std::shared_ptr<Context> fakeContext() {
  dj_context_options_t opts;
  dj_context_options_init(&opts);
  opts.disable_cache = 1;
  return Context::create(opts);
}

/// The bytes at a stand-in device address.
std::vector<unsigned char> deviceBytes(CUdeviceptr p, size_t n) {
  const auto *b = reinterpret_cast<const unsigned char *>(p);
  return std::vector<unsigned char>(b, b + n);
}

} // namespace

TEST(ContextUpload, CopiesOnlyWhenTheBytesChange) {
  deltajit::test::ScopedEnv env("DELTAJIT_CUDA_DRIVER", DELTAJIT_FAKE_CUDA);
  std::shared_ptr<Context> ctx = fakeContext();
  ContextScope scope(*ctx);
  std::vector<unsigned char> table = {1, 2, 3, 4, 5, 6, 7, 8};
  CUdeviceptr p = ctx->upload(nullptr, "tables", table.data(), table.size());
  ASSERT_NE(p, 0u);
  EXPECT_EQ(deviceBytes(p, table.size()), table);

  // The same bytes again: no copy (a marker written on the "device"
  // survives), the same buffer.
  std::memset(reinterpret_cast<void *>(p), 0xAB, table.size());
  EXPECT_EQ(ctx->upload(nullptr, "tables", table.data(), table.size()), p);
  EXPECT_EQ(deviceBytes(p, table.size()),
            std::vector<unsigned char>(table.size(), 0xAB));

  // Changed bytes, or a different length: copied.
  table[3] = 42;
  EXPECT_EQ(ctx->upload(nullptr, "tables", table.data(), table.size()), p);
  EXPECT_EQ(deviceBytes(p, table.size()), table);
  std::memset(reinterpret_cast<void *>(p), 0xAB, table.size());
  EXPECT_EQ(ctx->upload(nullptr, "tables", table.data(), 4), p);
  EXPECT_EQ(deviceBytes(p, 4),
            std::vector<unsigned char>(table.begin(), table.begin() + 4));

  // Another name or another stream has a buffer of its own.
  CUdeviceptr q = ctx->upload(nullptr, "other", table.data(), table.size());
  EXPECT_NE(q, p);
  EXPECT_EQ(deviceBytes(q, table.size()), table);
  auto *stream = reinterpret_cast<CUstream>(uintptr_t(0x10));
  CUdeviceptr r = ctx->upload(stream, "tables", table.data(), table.size());
  EXPECT_NE(r, p);
  EXPECT_EQ(deviceBytes(r, table.size()), table);

  // A buffer grown for a larger upload starts unknown: copied.
  std::vector<unsigned char> big(1 << 16, 7);
  CUdeviceptr g = ctx->upload(nullptr, "tables", big.data(), big.size());
  EXPECT_EQ(deviceBytes(g, big.size()), big);
  // trim() frees the workspaces and what they were known to hold.
  ctx->trim();
  CUdeviceptr t = ctx->upload(nullptr, "tables", big.data(), big.size());
  EXPECT_EQ(deviceBytes(t, big.size()), big);
  // Nothing to copy: no buffer.
  EXPECT_EQ(ctx->upload(nullptr, "empty", nullptr, 0), 0u);
}
