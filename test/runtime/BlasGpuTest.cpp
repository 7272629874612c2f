//===- BlasGpuTest.cpp - cuBLASLt projections on a GPU vs an fp64 reference
//===//
//
// Blas::linear (row-major y[M, N] = x[M, K] w[N, K]^T, + y when accumulating)
// in bf16 and fp16 against a CPU fp64 product of the same rounded inputs,
// over decode-like, odd, prefill-like and large shapes; misaligned pointers;
// argument errors; replay inside a CUDA graph. Every test skips (GTEST_SKIP,
// with the reason) where there is no CUDA GPU.
//
// Tolerance: the inputs are exactly representable in the dtype and the
// reference uses them as they are, so the only differences are the fp32
// accumulation (relative ~K * 2^-24 worst case, ~1e-5 for K = 1024, far
// smaller in practice) and the final rounding of y to the dtype: at most
// half an ulp, 2^-8 relative for bf16 (8 significant bits) and 2^-11 for
// fp16, i.e. a relative L2 error of about 1.1e-3 (bf16) / 1.4e-4 (fp16) for
// well-spread values. The bounds (5e-3 bf16, 1e-3 fp16, both under the 1e-2
// of the design) leave a margin of >= 4x over that, while a wrong transpose,
// a dropped accumulate or a stale algorithm gives errors of order 1.
//
//===----------------------------------------------------------------------===//

#include "Blas.h"
#include "Context.h"
#include "Error.h"
#include "HalfFloat.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

using deltajit::Blas;
using deltajit::Context;
using deltajit::ContextScope;
using deltajit::Error;

namespace {

// ----------------------------------------------------------------------------
// 16-bit float conversions (round to nearest even).

using deltajit::bf16ToFloat;
using deltajit::floatToBf16;
using deltajit::floatToHalf;
using deltajit::halfToFloat;

uint16_t encode(dj_dtype_t t, float f) {
  return t == DJ_DTYPE_BF16 ? floatToBf16(f) : floatToHalf(f);
}
float decode(dj_dtype_t t, uint16_t h) {
  return t == DJ_DTYPE_BF16 ? bf16ToFloat(h) : halfToFloat(h);
}

/// Deterministic uniform values in [-1, 1), encoded in the dtype.
std::vector<uint16_t> randomMatrix(dj_dtype_t t, size_t n, uint64_t seed) {
  std::vector<uint16_t> out(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    s += 0x9E3779B97F4A7C15ull;
    uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    double u = double(z >> 11) * (1.0 / 9007199254740992.0);
    out[i] = encode(t, float(2.0 * u - 1.0));
  }
  return out;
}

const char *dtypeName(dj_dtype_t t) {
  return t == DJ_DTYPE_BF16 ? "bf16" : "fp16";
}

// ----------------------------------------------------------------------------

class BlasGpu : public ::testing::Test {
protected:
  void SetUp() override {
    dj_context_options_t opts;
    dj_context_options_init(&opts);
    opts.disable_cache = 1;
    try {
      ctx = Context::create(opts);
    } catch (const Error &e) {
      if (e.status() == DJ_ERROR_NO_DRIVER || e.status() == DJ_ERROR_NO_DEVICE)
        GTEST_SKIP() << "no CUDA GPU here (" << dj_status_string(e.status())
                     << "): " << e.what();
      FAIL() << "Context::create: " << e.what();
    }
    try {
      blas = std::make_unique<Blas>(*ctx);
    } catch (const Error &e) {
      // A GPU machine is expected to have cuBLASLt: report, do not skip.
      FAIL() << "Blas(ctx) on a machine with a GPU: " << e.what();
    }
  }

  void TearDown() override {
    if (ctx) {
      ContextScope scope(*ctx);
      for (CUdeviceptr p : allocations)
        d().cuMemFree_v2(p);
    }
    blas.reset();
    ctx.reset();
  }

  const deltajit::Driver &d() const { return ctx->driver(); }

  /// Device copy of `host` with `offsetBytes` of slack in front (to test
  /// misaligned operands); returns the address of the first element.
  CUdeviceptr upload(const std::vector<uint16_t> &host,
                     size_t offsetBytes = 0) {
    ContextScope scope(*ctx);
    CUdeviceptr base = 0;
    d().check(d().cuMemAlloc_v2(&base, host.size() * 2 + offsetBytes + 256),
              "cuMemAlloc");
    allocations.push_back(base);
    CUdeviceptr p = base + offsetBytes;
    d().check(d().cuMemcpyHtoD_v2(p, host.data(), host.size() * 2),
              "cuMemcpyHtoD");
    return p;
  }

  std::vector<uint16_t> download(CUdeviceptr p, size_t n) {
    ContextScope scope(*ctx);
    d().check(d().cuCtxSynchronize(), "cuCtxSynchronize");
    std::vector<uint16_t> host(n);
    d().check(d().cuMemcpyDtoH_v2(host.data(), p, n * 2), "cuMemcpyDtoH");
    return host;
  }

  struct Case {
    dj_dtype_t dtype;
    int64_t M, N, K;
    bool accumulate;
    size_t offsetBytes = 0; ///< misalignment of x, w and y
  };

  /// Runs one GEMM and returns the relative L2 error vs fp64 (rows sampled
  /// when the full reference would be too slow).
  double runCase(const Case &c, uint64_t seed) {
    auto x = randomMatrix(c.dtype, size_t(c.M * c.K), seed);
    auto w = randomMatrix(c.dtype, size_t(c.N * c.K), seed + 1);
    auto y0 = randomMatrix(c.dtype, size_t(c.M * c.N), seed + 2);
    CUdeviceptr dx = upload(x, c.offsetBytes), dw = upload(w, c.offsetBytes),
                dy = upload(y0, c.offsetBytes);
    {
      ContextScope scope(*ctx);
      blas->linear(nullptr, c.dtype, dx, dw, dy, c.M, c.N, c.K, c.accumulate);
    }
    auto y = download(dy, y0.size());
    return relativeError(c, x, w, y0, y);
  }

  static double relativeError(const Case &c, const std::vector<uint16_t> &x,
                              const std::vector<uint16_t> &w,
                              const std::vector<uint16_t> &y0,
                              const std::vector<uint16_t> &y) {
    // Decode once.
    std::vector<double> xf(x.size()), wf(w.size());
    for (size_t i = 0; i < x.size(); ++i)
      xf[i] = decode(c.dtype, x[i]);
    for (size_t i = 0; i < w.size(); ++i)
      wf[i] = decode(c.dtype, w[i]);
    // Sample rows when M N K is large (every row stays exercised on the
    // GPU; the sample still covers the first, last and scattered rows).
    int64_t step = double(c.M) * c.N * c.K > 4e8 ? 61 : 1;
    std::vector<int64_t> rows;
    for (int64_t m = 0; m < c.M; m += step)
      rows.push_back(m);
    if (rows.back() != c.M - 1)
      rows.push_back(c.M - 1);
    double num = 0, den = 0;
    for (int64_t m : rows) {
      for (int64_t n = 0; n < c.N; ++n) {
        double ref = c.accumulate ? decode(c.dtype, y0[m * c.N + n]) : 0.0;
        const double *xr = &xf[size_t(m * c.K)], *wr = &wf[size_t(n * c.K)];
        double dot = 0;
        for (int64_t k = 0; k < c.K; ++k)
          dot += xr[k] * wr[k];
        ref += dot;
        double got = decode(c.dtype, y[m * c.N + n]);
        num += (got - ref) * (got - ref);
        den += ref * ref;
      }
    }
    return std::sqrt(num / den);
  }

  static double bound(dj_dtype_t t) { return t == DJ_DTYPE_BF16 ? 5e-3 : 1e-3; }

  std::shared_ptr<Context> ctx;
  std::unique_ptr<Blas> blas;
  std::vector<CUdeviceptr> allocations;
};

struct Shape {
  int64_t M, N, K;
};
const Shape kShapes[] = {
    {1, 1024, 1024}, {7, 256, 512}, {300, 1024, 256}, {4096, 2816, 1024}};

} // namespace

TEST_F(BlasGpu, MatchesFp64ReferenceBf16AndFp16) {
  uint64_t seed = 1;
  for (dj_dtype_t t : {DJ_DTYPE_BF16, DJ_DTYPE_FP16})
    for (const Shape &s : kShapes)
      for (bool acc : {false, true}) {
        SCOPED_TRACE(testing::Message()
                     << dtypeName(t) << " M=" << s.M << " N=" << s.N
                     << " K=" << s.K << (acc ? " accumulate" : ""));
        double err = runCase({t, s.M, s.N, s.K, acc}, seed += 3);
        EXPECT_LT(err, bound(t));
        std::cout << dtypeName(t) << " M=" << s.M << " N=" << s.N
                  << " K=" << s.K << (acc ? " +y" : "   ")
                  << " relative L2 error " << err << "\n";
      }
}

TEST_F(BlasGpu, MisalignedOperands) {
  // Operands at 2-byte (one element) alignment: the algorithm must be chosen
  // for that alignment, not for the default 256 bytes.
  for (dj_dtype_t t : {DJ_DTYPE_BF16, DJ_DTYPE_FP16})
    for (bool acc : {false, true}) {
      SCOPED_TRACE(testing::Message() << dtypeName(t) << (acc ? " +y" : ""));
      EXPECT_LT(runCase({t, 7, 256, 512, acc, 2}, 100), bound(t));
      EXPECT_LT(runCase({t, 33, 72, 40, acc, 16}, 200), bound(t));
    }
}

TEST_F(BlasGpu, OddSizes) {
  // Sizes that are not multiples of the tensor-core tiles.
  for (dj_dtype_t t : {DJ_DTYPE_BF16, DJ_DTYPE_FP16}) {
    SCOPED_TRACE(dtypeName(t));
    EXPECT_LT(runCase({t, 5, 3, 8, false}, 300), bound(t));
    EXPECT_LT(runCase({t, 17, 100, 72, true}, 301), bound(t));
    EXPECT_LT(runCase({t, 1, 4, 1024, true}, 302), bound(t));
  }
}

TEST_F(BlasGpu, RepeatedCallsAreDeterministic) {
  Case c{DJ_DTYPE_BF16, 300, 1024, 256, false};
  auto x = randomMatrix(c.dtype, size_t(c.M * c.K), 7);
  auto w = randomMatrix(c.dtype, size_t(c.N * c.K), 8);
  std::vector<uint16_t> zeros(size_t(c.M * c.N), 0);
  CUdeviceptr dx = upload(x), dw = upload(w), dy1 = upload(zeros),
              dy2 = upload(zeros);
  {
    ContextScope scope(*ctx);
    blas->linear(nullptr, c.dtype, dx, dw, dy1, c.M, c.N, c.K, false);
    blas->linear(nullptr, c.dtype, dx, dw, dy2, c.M, c.N, c.K, false);
  }
  EXPECT_EQ(download(dy1, zeros.size()), download(dy2, zeros.size()));
}

TEST_F(BlasGpu, ArgumentErrors) {
  ContextScope scope(*ctx);
  auto expectStatus = [&](dj_status_t want, auto &&call, const char *what) {
    try {
      call();
      ADD_FAILURE() << what << ": no error";
    } catch (const Error &e) {
      EXPECT_EQ(e.status(), want) << what << ": " << e.what();
    }
  };
  CUdeviceptr p = 0;
  d().check(d().cuMemAlloc_v2(&p, 4096), "cuMemAlloc");
  allocations.push_back(p);
  expectStatus(
      DJ_ERROR_INVALID_ARGUMENT,
      [&] { blas->linear(nullptr, DJ_DTYPE_BF16, p, p, p, -1, 4, 4, false); },
      "M = -1");
  expectStatus(
      DJ_ERROR_INVALID_ARGUMENT,
      [&] { blas->linear(nullptr, DJ_DTYPE_BF16, p, p, p, 1, 0, 4, false); },
      "N = 0");
  expectStatus(
      DJ_ERROR_INVALID_ARGUMENT,
      [&] { blas->linear(nullptr, DJ_DTYPE_FP16, p, p, p, 1, 4, 0, false); },
      "K = 0");
  expectStatus(
      DJ_ERROR_INVALID_ARGUMENT,
      [&] { blas->linear(nullptr, DJ_DTYPE_BF16, 0, p, p, 1, 4, 4, false); },
      "null x");
  dj_dtype_t bad;
  int seven = 7;
  std::memcpy(&bad, &seven, sizeof(bad));
  expectStatus(
      DJ_ERROR_INVALID_ARGUMENT,
      [&] { blas->linear(nullptr, bad, p, p, p, 1, 4, 4, false); }, "dtype 7");
  // M == 0 queues nothing, whatever the pointers.
  EXPECT_NO_THROW(blas->linear(nullptr, DJ_DTYPE_BF16, 0, 0, 0, 0, 4, 4, true));
  EXPECT_NE(blas->libraryPath().find("libcublasLt"), std::string::npos)
      << blas->libraryPath();
}

namespace {

/// The stream and graph entry points this test needs, resolved from the
/// driver library the context uses (the runtime itself does not use them).
struct GraphApi {
  decltype(&::cuStreamCreate) streamCreate = nullptr;
  decltype(&::cuStreamDestroy_v2) streamDestroy = nullptr;
  decltype(&::cuStreamBeginCapture_v2) beginCapture = nullptr;
  decltype(&::cuStreamEndCapture) endCapture = nullptr;
  decltype(&::cuGraphInstantiateWithFlags) instantiate = nullptr;
  decltype(&::cuGraphLaunch) launch = nullptr;
  decltype(&::cuGraphExecDestroy) execDestroy = nullptr;
  decltype(&::cuGraphDestroy) graphDestroy = nullptr;

  bool load(const std::string &path) {
    void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h)
      return false;
#define RESOLVE(field, name)                                                   \
  field = reinterpret_cast<decltype(field)>(dlsym(h, name));                   \
  if (!field)                                                                  \
    return false;
    RESOLVE(streamCreate, "cuStreamCreate")
    RESOLVE(streamDestroy, "cuStreamDestroy_v2")
    RESOLVE(beginCapture, "cuStreamBeginCapture_v2")
    RESOLVE(endCapture, "cuStreamEndCapture")
    RESOLVE(instantiate, "cuGraphInstantiateWithFlags")
    RESOLVE(launch, "cuGraphLaunch")
    RESOLVE(execDestroy, "cuGraphExecDestroy")
    RESOLVE(graphDestroy, "cuGraphDestroy")
#undef RESOLVE
    return true;
  }
};

} // namespace

TEST_F(BlasGpu, CapturedInACudaGraph) {
  GraphApi g;
  ASSERT_TRUE(g.load(d().path)) << "graph entry points missing in " << d().path;
  Case c{DJ_DTYPE_BF16, 64, 512, 256, true};
  auto x1 = randomMatrix(c.dtype, size_t(c.M * c.K), 11);
  auto x2 = randomMatrix(c.dtype, size_t(c.M * c.K), 12);
  auto w = randomMatrix(c.dtype, size_t(c.N * c.K), 13);
  auto y0 = randomMatrix(c.dtype, size_t(c.M * c.N), 14);
  CUdeviceptr dx = upload(x1), dw = upload(w), dy = upload(y0);

  ContextScope scope(*ctx);
  CUstream stream = nullptr;
  d().check(g.streamCreate(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  // First call on this stream outside the capture (chooses the algorithm,
  // sets up the stream's workspace); then capture in the strictest mode.
  blas->linear(stream, c.dtype, dx, dw, dy, c.M, c.N, c.K, c.accumulate);
  d().check(d().cuStreamSynchronize(stream), "cuStreamSynchronize");
  d().check(d().cuMemcpyHtoD_v2(dy, y0.data(), y0.size() * 2), "reset y");

  d().check(g.beginCapture(stream, CU_STREAM_CAPTURE_MODE_GLOBAL),
            "cuStreamBeginCapture");
  std::string captureError;
  try {
    blas->linear(stream, c.dtype, dx, dw, dy, c.M, c.N, c.K, c.accumulate);
  } catch (const Error &e) {
    captureError = e.what();
  }
  CUgraph graph = nullptr;
  CUresult endResult = g.endCapture(stream, &graph);
  ASSERT_TRUE(captureError.empty())
      << "linear() during capture: " << captureError;
  d().check(endResult, "cuStreamEndCapture");
  CUgraphExec exec = nullptr;
  d().check(g.instantiate(&exec, graph, 0), "cuGraphInstantiate");

  // Replay with x1, then with new contents of x (same address): y = y0 +
  // x1 w^T, then y0 + x1 w^T + x2 w^T.
  d().check(g.launch(exec, stream), "cuGraphLaunch");
  d().check(d().cuStreamSynchronize(stream), "cuStreamSynchronize");
  std::vector<uint16_t> y1(y0.size());
  d().check(d().cuMemcpyDtoH_v2(y1.data(), dy, y1.size() * 2), "read y");
  EXPECT_LT(relativeError(c, x1, w, y0, y1), bound(c.dtype));
  d().check(d().cuMemcpyHtoD_v2(dx, x2.data(), x2.size() * 2), "write x");
  d().check(g.launch(exec, stream), "cuGraphLaunch");
  d().check(d().cuStreamSynchronize(stream), "cuStreamSynchronize");
  std::vector<uint16_t> y2(y0.size());
  d().check(d().cuMemcpyDtoH_v2(y2.data(), dy, y2.size() * 2), "read y");
  EXPECT_LT(relativeError(c, x2, w, y1, y2), bound(c.dtype));

  g.execDestroy(exec);
  g.graphDestroy(graph);
  g.streamDestroy(stream);
}
