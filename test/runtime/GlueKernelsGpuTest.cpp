//===- GlueKernelsGpuTest.cpp - every glue kernel vs a CPU reference ------===//
//
// Each GlueKernels call on random (seeded) bf16 / fp16 data, against a
// straightforward fp64 CPU reference computed from the same rounded inputs.
// Every test skips (GTEST_SKIP, with the reason) where there is no CUDA GPU
// or no NVRTC.
//
// Tolerances (relative L2 error of the whole output, `relL2`):
// - 5e-3 where the kernel computes in f32 and rounds once to bf16: round
//   to nearest with an 8-bit significand errs by at most 2^-8 = 3.9e-3 of
//   each element's magnitude (about 1.1e-3 RMS), so 2^-8 bounds the
//   relative L2 error; f32 arithmetic adds ~1e-6.
// - 1e-2 for attention: the tensor-core path also rounds the softmax
//   weights P to bf16 before P V (as FlashAttention does), which adds about
//   2^-8 / sqrt(3) = 2.3e-3 relative for random values on top of the output
//   rounding; 1e-2 leaves a 3x margin and still catches any masking or
//   indexing error (those give O(1) errors). The SIMT path keeps P in f32.
// Copies (embedding, gather, v into the cache, short-conv states) must be
// bit-exact.
//
//===----------------------------------------------------------------------===//

#include "Context.h"
#include "Error.h"
#include "GlueKernels.h"
#include "HalfFloat.h"
#include "TestUtil.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using namespace deltajit;
using deltajit::test::ScopedEnv;
using deltajit::test::TempDir;

namespace {

// ---- Host 16-bit floats
// ----------------------------------------------------------

struct Half {
  dj_dtype_t dt;
  uint16_t enc(float f) const {
    return dt == DJ_DTYPE_BF16 ? deltajit::floatToBf16(f)
                               : deltajit::floatToHalf(f);
  }
  float dec(uint16_t b) const {
    return dt == DJ_DTYPE_BF16 ? deltajit::bf16ToFloat(b)
                               : deltajit::halfToFloat(b);
  }
};

const Half kBf16{DJ_DTYPE_BF16};
const Half kF16{DJ_DTYPE_FP16};
constexpr uint16_t kNanBits = 0x7fc0; // NaN in bf16; also NaN in fp16

/// Random values rounded to the dtype: bits and their exact values.
struct Tensor16 {
  std::vector<uint16_t> bits;
  std::vector<double> val;
};

Tensor16 randomTensor(const Half &h, size_t n, std::mt19937 &rng,
                      double scale = 1.0) {
  std::normal_distribution<float> dist(0.0f, float(scale));
  Tensor16 t;
  t.bits.resize(n);
  t.val.resize(n);
  for (size_t i = 0; i < n; ++i) {
    t.bits[i] = h.enc(dist(rng));
    t.val[i] = h.dec(t.bits[i]);
  }
  return t;
}

std::vector<double> decode(const Half &h, const std::vector<uint16_t> &bits) {
  std::vector<double> out(bits.size());
  for (size_t i = 0; i < bits.size(); ++i)
    out[i] = h.dec(bits[i]);
  return out;
}

double relL2(const std::vector<double> &got, const std::vector<double> &ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double e = got[i] - ref[i];
    num += e * e;
    den += ref[i] * ref[i];
  }
  if (std::isnan(num))
    return INFINITY;
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double act(double x, GlueActivation a) {
  return a == GlueActivation::Silu      ? silu(x)
         : a == GlueActivation::Sigmoid ? sigmoid(x)
                                        : x;
}

// ---- Fixture
// ------------------------------------------------------------------------

class GlueGpu : public ::testing::Test {
protected:
  void SetUp() override {
    dj_context_options_t opts;
    dj_context_options_init(&opts);
    opts.cache_dir = cacheDir.path().c_str();
    try {
      ctx = Context::create(opts);
    } catch (const Error &e) {
      if (e.status() == DJ_ERROR_NO_DRIVER || e.status() == DJ_ERROR_NO_DEVICE)
        GTEST_SKIP() << "no CUDA GPU here (" << dj_status_string(e.status())
                     << "): " << e.what();
      FAIL() << e.what();
    }
    scope = std::make_unique<ContextScope>(*ctx);
    glue = std::make_unique<GlueKernels>(*ctx);
    try {
      glue->load();
    } catch (const Error &e) {
      if (e.status() == DJ_ERROR_NO_DRIVER)
        GTEST_SKIP() << "NVRTC is not available: " << e.what();
      FAIL() << e.what();
    }
  }

  void TearDown() override {
    if (!ctx)
      return;
    const Driver &d = ctx->driver();
    d.cuCtxSynchronize();
    glue.reset();
    for (CUdeviceptr p : buffers)
      d.cuMemFree_v2(p);
    buffers.clear();
    scope.reset();
    ctx.reset();
  }

  const Driver &drv() const { return ctx->driver(); }

  CUdeviceptr alloc(size_t bytes) {
    CUdeviceptr p = 0;
    drv().check(drv().cuMemAlloc_v2(&p, std::max<size_t>(bytes, 16) + 64),
                "cuMemAlloc");
    buffers.push_back(p);
    return p;
  }

  template <typename T>
  CUdeviceptr upload(const std::vector<T> &v, size_t offsetBytes = 0) {
    CUdeviceptr p = alloc(v.size() * sizeof(T) + offsetBytes) + offsetBytes;
    if (!v.empty())
      drv().check(drv().cuMemcpyHtoD_v2(p, v.data(), v.size() * sizeof(T)),
                  "cuMemcpyHtoD");
    return p;
  }

  template <typename T> std::vector<T> download(CUdeviceptr p, size_t n) {
    sync();
    std::vector<T> v(n);
    if (n)
      drv().check(drv().cuMemcpyDtoH_v2(v.data(), p, n * sizeof(T)),
                  "cuMemcpyDtoH");
    return v;
  }

  template <typename T> void write(CUdeviceptr p, const std::vector<T> &v) {
    drv().check(drv().cuMemcpyHtoD_v2(p, v.data(), v.size() * sizeof(T)),
                "cuMemcpyHtoD");
  }

  void sync() { drv().check(drv().cuCtxSynchronize(), "cuCtxSynchronize"); }

  /// A second GlueKernels built under the given overrides (the environment
  /// is read by the constructor); loads from the disk cache.
  std::unique_ptr<GlueKernels> withModes(const char *conv, const char *attn) {
    ScopedEnv c("DELTAJIT_GLUE_CONV", conv);
    ScopedEnv a("DELTAJIT_GLUE_ATTENTION", attn);
    auto g = std::make_unique<GlueKernels>(*ctx);
    g->load();
    return g;
  }

  TempDir cacheDir;
  std::shared_ptr<Context> ctx;
  std::unique_ptr<ContextScope> scope;
  std::unique_ptr<GlueKernels> glue;
  std::vector<CUdeviceptr> buffers;
  std::mt19937 rng{20261129};
};

/// Host-side SeqTables for sequences of `lengths` with first positions
/// `start` and state slots `slots`.
struct HostSeqs {
  std::vector<int32_t> cu, seq, pos;
  int64_t maxLen = 0;
  HostSeqs(const std::vector<int> &lengths, const std::vector<int> &start,
           const std::vector<int> &slots) {
    cu.push_back(0);
    for (size_t i = 0; i < lengths.size(); ++i) {
      for (int j = 0; j < lengths[i]; ++j) {
        seq.push_back(slots[i]);
        pos.push_back(start[i] + j);
      }
      cu.push_back(cu.back() + lengths[i]);
      maxLen = std::max<int64_t>(maxLen, lengths[i]);
    }
  }
  int64_t tokens() const { return int64_t(seq.size()); }
  int64_t numSeqs() const { return int64_t(cu.size()) - 1; }
};

// ---- Loading and the disk cache
// --------------------------------------------------------

TEST_F(GlueGpu, SecondLoadComesFromTheDiskCache) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (const auto &e : fs::directory_iterator(cacheDir / "kernels"))
    files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u) << "one cubin for the whole glue program";
  struct stat before, after;
  ASSERT_EQ(::stat(files[0].c_str(), &before), 0);
  GlueKernels again(*ctx);
  again.load();
  ASSERT_EQ(::stat(files[0].c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino) << "the entry was rewritten";
  // Loading twice is a no-op.
  again.load();
}

// ---- Embedding, gather, toFloat, increment
// ---------------------------------------------

TEST_F(GlueGpu, EmbeddingCopiesRowsAndFlagsBadIds) {
  for (int64_t dim : {72, 13}) {
    for (size_t off : {size_t(0), size_t(2)}) {
      SCOPED_TRACE("dim " + std::to_string(dim) + " offset " +
                   std::to_string(off));
      const int64_t vocab = 50;
      Tensor16 table = randomTensor(kBf16, size_t(vocab * dim), rng);
      std::vector<int32_t> ids = {0, 49, 3, -1, 50, 7, 7, 1000000, 2};
      const int64_t T = int64_t(ids.size());
      CUdeviceptr dTable = upload(table.bits, off);
      CUdeviceptr dIds = upload(ids);
      CUdeviceptr dY = upload(std::vector<uint16_t>(size_t(T * dim), 0x1234));
      CUdeviceptr dFlag = upload(std::vector<int32_t>{0});
      glue->embedding(nullptr, DJ_DTYPE_BF16, dIds, dTable, dY, T, vocab, dim,
                      dFlag);
      auto y = download<uint16_t>(dY, size_t(T * dim));
      for (int64_t t = 0; t < T; ++t)
        for (int64_t c = 0; c < dim; ++c) {
          bool ok = ids[t] >= 0 && ids[t] < vocab;
          uint16_t want = ok ? table.bits[size_t(ids[t] * dim + c)] : 0;
          ASSERT_EQ(y[size_t(t * dim + c)], want)
              << "token " << t << " c " << c;
        }
      EXPECT_EQ(download<int32_t>(dFlag, 1)[0], 1);

      // All ids valid: the flag stays 0; no flag pointer is fine too.
      std::vector<int32_t> good = {1, 2, 3};
      write(dIds, good);
      write(dFlag, std::vector<int32_t>{0});
      glue->embedding(nullptr, DJ_DTYPE_BF16, dIds, dTable, dY, 3, vocab, dim,
                      dFlag);
      glue->embedding(nullptr, DJ_DTYPE_FP16, dIds, dTable, dY, 3, vocab, dim,
                      0);
      EXPECT_EQ(download<int32_t>(dFlag, 1)[0], 0);
    }
  }
}

TEST_F(GlueGpu, GatherRows) {
  for (int64_t dim : {64, 13}) {
    Tensor16 src = randomTensor(kBf16, size_t(20 * dim), rng);
    std::vector<int32_t> rows = {19, 0, 5, 5, 7};
    CUdeviceptr dSrc = upload(src.bits), dRows = upload(rows);
    CUdeviceptr dDst = alloc(rows.size() * size_t(dim) * 2);
    glue->gatherRows(nullptr, DJ_DTYPE_BF16, dSrc, dRows, dDst,
                     int64_t(rows.size()), dim);
    auto got = download<uint16_t>(dDst, rows.size() * size_t(dim));
    for (size_t i = 0; i < rows.size(); ++i)
      for (int64_t c = 0; c < dim; ++c)
        ASSERT_EQ(got[i * size_t(dim) + size_t(c)],
                  src.bits[size_t(rows[i] * dim + c)]);
  }
}

TEST_F(GlueGpu, ToFloatIsExact) {
  for (const Half &h : {kBf16, kF16})
    for (size_t off : {size_t(0), size_t(2)}) {
      const int64_t n = 100003;
      Tensor16 x = randomTensor(h, size_t(n), rng, 3.0);
      CUdeviceptr dX = upload(x.bits, off);
      CUdeviceptr dY = alloc(size_t(n) * 4);
      glue->toFloat(nullptr, h.dt, dX, dY, n);
      auto y = download<float>(dY, size_t(n));
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(double(y[size_t(i)]), x.val[size_t(i)]) << i;
    }
}

TEST_F(GlueGpu, IncrementI32) {
  std::vector<int32_t> v(1000);
  std::iota(v.begin(), v.end(), -500);
  CUdeviceptr p = upload(v);
  glue->incrementI32(nullptr, p, 1000, 3);
  glue->incrementI32(nullptr, p, 999, -5);
  auto got = download<int32_t>(p, 1000);
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(got[size_t(i)], v[size_t(i)] + 3 - (i < 999 ? 5 : 0));
}

// ---- Norms and element-wise ops
// ----------------------------------------------------------

TEST_F(GlueGpu, RmsNormMatchesReference) {
  struct Case {
    int64_t dim;
    bool gated, alias;
    Half h;
  };
  const Case cases[] = {{64, false, false, kBf16},  {64, true, false, kBf16},
                        {13, true, false, kBf16},   {1000, false, true, kBf16},
                        {2048, true, false, kBf16}, {4104, true, true, kBf16},
                        {256, true, false, kF16},   {24, false, false, kF16}};
  for (const Case &c : cases) {
    SCOPED_TRACE("dim " + std::to_string(c.dim) + (c.gated ? " gated" : "") +
                 (c.alias ? " in place" : "") +
                 (c.h.dt == DJ_DTYPE_BF16 ? " bf16" : " fp16"));
    const int64_t rows = 37;
    const float eps = 1e-6f;
    Tensor16 x = randomTensor(c.h, size_t(rows * c.dim), rng, 2.0);
    Tensor16 g = randomTensor(c.h, size_t(rows * c.dim), rng, 2.0);
    Tensor16 w = randomTensor(c.h, size_t(c.dim), rng, 0.5);
    CUdeviceptr dX = upload(x.bits), dW = upload(w.bits);
    CUdeviceptr dG = c.gated ? upload(g.bits) : 0;
    CUdeviceptr dY = c.alias ? dX : alloc(x.bits.size() * 2);
    glue->rmsNorm(nullptr, c.h.dt, dX, dW, dG, dY, rows, c.dim, eps);
    auto y = decode(c.h, download<uint16_t>(dY, x.bits.size()));
    std::vector<double> ref(x.val.size());
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < c.dim; ++i)
        ss += x.val[size_t(r * c.dim + i)] * x.val[size_t(r * c.dim + i)];
      double inv = 1.0 / std::sqrt(ss / double(c.dim) + eps);
      for (int64_t i = 0; i < c.dim; ++i) {
        size_t k = size_t(r * c.dim + i);
        ref[k] = x.val[k] * inv * w.val[size_t(i)] *
                 (c.gated ? silu(g.val[k]) : 1.0);
      }
    }
    EXPECT_LE(relL2(y, ref), 5e-3);
  }
}

TEST_F(GlueGpu, L2NormMatchesReference) {
  for (int64_t dim : {64, 128, 13}) {
    const int64_t rows = 301;
    const float eps = 1e-6f;
    Tensor16 x = randomTensor(kBf16, size_t(rows * dim), rng);
    CUdeviceptr dX = upload(x.bits), dY = alloc(x.bits.size() * 2);
    glue->l2Norm(nullptr, DJ_DTYPE_BF16, dX, dY, rows, dim, eps);
    auto y = decode(kBf16, download<uint16_t>(dY, x.bits.size()));
    std::vector<double> ref(x.val.size());
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i)
        ss += x.val[size_t(r * dim + i)] * x.val[size_t(r * dim + i)];
      for (int64_t i = 0; i < dim; ++i)
        ref[size_t(r * dim + i)] =
            x.val[size_t(r * dim + i)] / std::sqrt(ss + eps);
    }
    EXPECT_LE(relL2(y, ref), 5e-3) << "dim " << dim;
  }
}

TEST_F(GlueGpu, ElementwiseOpsMatchReference) {
  const int64_t n = 100003; // not a multiple of 8: vector body + tail
  for (const Half &h : {kBf16, kF16})
    for (size_t off : {size_t(0), size_t(2)}) { // aligned / unaligned
      SCOPED_TRACE(std::string(h.dt == DJ_DTYPE_BF16 ? "bf16" : "fp16") +
                   (off ? " unaligned" : " aligned"));
      Tensor16 a = randomTensor(h, size_t(n), rng, 3.0);
      Tensor16 b = randomTensor(h, size_t(n), rng, 3.0);
      CUdeviceptr dA = upload(a.bits, off), dB = upload(b.bits, off);
      CUdeviceptr dY = alloc(size_t(n) * 2 + off) + off;
      auto check = [&](const char *what, auto f) {
        auto y = decode(h, download<uint16_t>(dY, size_t(n)));
        std::vector<double> ref(static_cast<size_t>(n));
        for (size_t i = 0; i < size_t(n); ++i)
          ref[i] = f(a.val[i], b.val[i]);
        EXPECT_LE(relL2(y, ref), 5e-3) << what;
      };
      glue->add(nullptr, h.dt, dA, dB, dY, n);
      check("add", [](double x, double y) { return x + y; });
      glue->swiglu(nullptr, h.dt, dA, dB, dY, n);
      check("swiglu", [](double x, double y) { return silu(x) * y; });
      glue->activation(nullptr, h.dt, GlueActivation::Silu, dA, dY, n);
      check("silu", [](double x, double) { return silu(x); });
      glue->activation(nullptr, h.dt, GlueActivation::Sigmoid, dA, dY, n);
      check("sigmoid", [](double x, double) { return sigmoid(x); });
      glue->activation(nullptr, h.dt, GlueActivation::None, dA, dY, n);
      EXPECT_EQ(download<uint16_t>(dY, size_t(n)), a.bits) << "identity";
      // In place: y aliases an input.
      glue->add(nullptr, h.dt, dA, dB, dA, n);
      auto y = decode(h, download<uint16_t>(dA, size_t(n)));
      std::vector<double> ref(static_cast<size_t>(n));
      for (size_t i = 0; i < size_t(n); ++i)
        ref[i] = a.val[i] + b.val[i];
      EXPECT_LE(relL2(y, ref), 5e-3) << "add in place";
    }
}

// ---- Short convolution
// ------------------------------------------------------------------

/// fp64 reference of one call; updates `state` [slots, C, K-1] in place.
std::vector<double> convReference(const HostSeqs &s,
                                  const std::vector<double> &x,
                                  const std::vector<double> &w,
                                  std::vector<double> &state, int64_t C,
                                  int64_t K, GlueActivation a) {
  std::vector<double> y(x.size());
  const int64_t S = K - 1;
  for (int64_t i = 0; i < s.numSeqs(); ++i) {
    int64_t start = s.cu[size_t(i)], len = s.cu[size_t(i + 1)] - start;
    if (len == 0)
      continue;
    int64_t slot = s.seq[size_t(start)];
    bool fresh = s.pos[size_t(start)] == 0;
    for (int64_t c = 0; c < C; ++c) {
      std::vector<double> win;
      for (int64_t m = 0; m < S; ++m)
        win.push_back(fresh ? 0.0 : state[size_t((slot * C + c) * S + m)]);
      for (int64_t l = 0; l < len; ++l)
        win.push_back(x[size_t((start + l) * C + c)]);
      for (int64_t l = 0; l < len; ++l) {
        double acc = 0;
        for (int64_t j = 0; j < K; ++j)
          acc += w[size_t(c * K + j)] * win[size_t(l + j)];
        y[size_t((start + l) * C + c)] = act(acc, a);
      }
      for (int64_t m = 0; m < S; ++m)
        state[size_t((slot * C + c) * S + m)] =
            win[win.size() - size_t(S) + size_t(m)];
    }
  }
  return y;
}

TEST_F(GlueGpu, ShortConvVarlenWithStateContinuation) {
  const int64_t K = 4, slots = 5;
  for (const char *mode : {"sequential", "parallel"})
    for (int64_t C : {48, 13}) {
      SCOPED_TRACE(std::string(mode) + " channels " + std::to_string(C));
      auto g = withModes(mode, nullptr);
      Tensor16 w = randomTensor(kBf16, size_t(C * K), rng, 0.5);
      // Call 1: fresh sequences (positions from 0) of lengths 1, 5, 17, 64,
      // 0 in slots 2, 0, 4, 1, 3; the state buffer holds garbage, which a
      // fresh sequence must ignore.
      HostSeqs s1({1, 5, 17, 64, 0}, {0, 0, 0, 0, 0}, {2, 0, 4, 1, 3});
      // Call 2 continues them (and starts slot 3 fresh).
      HostSeqs s2({3, 1, 0, 9, 2}, {1, 5, 17, 64, 0}, {2, 0, 4, 1, 3});
      Tensor16 x1 = randomTensor(kBf16, size_t(s1.tokens() * C), rng);
      Tensor16 x2 = randomTensor(kBf16, size_t(s2.tokens() * C), rng);
      std::vector<float> garbage(size_t(slots * C * (K - 1)), 7.0f);
      CUdeviceptr dW = upload(w.bits), dState = upload(garbage);
      auto run = [&](const HostSeqs &s, const Tensor16 &x) {
        SeqTables t;
        t.cuSeqlens = upload(s.cu);
        t.tokSeq = upload(s.seq);
        t.tokPos = upload(s.pos);
        t.numSeqs = s.numSeqs();
        t.tokens = s.tokens();
        t.maxSeqTokens = s.maxLen;
        CUdeviceptr dX = upload(x.bits), dY = alloc(x.bits.size() * 2);
        g->shortConv(nullptr, DJ_DTYPE_BF16, dX, dW, dY, dState, t, C, K,
                     GlueActivation::Silu);
        return download<uint16_t>(dY, x.bits.size());
      };
      auto y1 = run(s1, x1);
      auto y2 = run(s2, x2);
      auto stateGpu = download<float>(dState, garbage.size());

      std::vector<double> state(garbage.begin(), garbage.end());
      auto r1 =
          convReference(s1, x1.val, w.val, state, C, K, GlueActivation::Silu);
      auto r2 =
          convReference(s2, x2.val, w.val, state, C, K, GlueActivation::Silu);
      EXPECT_LE(relL2(decode(kBf16, y1), r1), 5e-3);
      EXPECT_LE(relL2(decode(kBf16, y2), r2), 5e-3);
      for (size_t i = 0; i < state.size(); ++i)
        ASSERT_EQ(double(stateGpu[i]), state[i]) << "state element " << i;

      // The same tokens in one call: the same outputs, bit for bit, and the
      // same final state.
      HostSeqs s12({4, 6, 17, 73, 2}, {0, 0, 0, 0, 0}, {2, 0, 4, 1, 3});
      Tensor16 x12;
      std::vector<size_t> from1, from2; // token of s12 -> token of s1 / s2
      for (int64_t i = 0; i < 5; ++i) {
        for (int32_t t = s1.cu[size_t(i)]; t < s1.cu[size_t(i + 1)]; ++t)
          for (int64_t c = 0; c < C; ++c)
            x12.bits.push_back(x1.bits[size_t(t * C + c)]);
        for (int32_t t = s2.cu[size_t(i)]; t < s2.cu[size_t(i + 1)]; ++t)
          for (int64_t c = 0; c < C; ++c)
            x12.bits.push_back(x2.bits[size_t(t * C + c)]);
      }
      write(dState, garbage);
      auto y12 = run(s12, x12);
      size_t k = 0;
      for (int64_t i = 0; i < 5; ++i) {
        for (int32_t t = s1.cu[size_t(i)]; t < s1.cu[size_t(i + 1)]; ++t)
          for (int64_t c = 0; c < C; ++c)
            ASSERT_EQ(y12[k++], y1[size_t(t * C + c)]);
        for (int32_t t = s2.cu[size_t(i)]; t < s2.cu[size_t(i + 1)]; ++t)
          for (int64_t c = 0; c < C; ++c)
            ASSERT_EQ(y12[k++], y2[size_t(t * C + c)]);
      }
      EXPECT_EQ(download<float>(dState, garbage.size()), stateGpu);
    }
}

TEST_F(GlueGpu, ShortConvKernelSizesAndActivations) {
  const int64_t C = 24, slots = 3;
  for (int64_t K : {1, 2, 8})
    for (GlueActivation a : {GlueActivation::None, GlueActivation::Sigmoid})
      for (const char *mode : {"sequential", "parallel"}) {
        SCOPED_TRACE("K " + std::to_string(K) + " " + mode);
        auto g = withModes(mode, nullptr);
        Tensor16 w = randomTensor(kBf16, size_t(C * K), rng, 0.5);
        // Not fresh (positions > 0): the given state is the history.
        HostSeqs s({3, 10, 1}, {4, 9, 2}, {1, 2, 0});
        Tensor16 x = randomTensor(kBf16, size_t(s.tokens() * C), rng);
        std::vector<float> st0(size_t(slots * C * (K - 1)));
        for (float &v : st0)
          v = deltajit::bf16ToFloat(
              deltajit::floatToBf16(std::normal_distribution<float>()(rng)));
        CUdeviceptr dState = K > 1 ? upload(st0) : 0;
        SeqTables t;
        t.cuSeqlens = upload(s.cu);
        t.tokSeq = upload(s.seq);
        t.tokPos = upload(s.pos);
        t.numSeqs = s.numSeqs();
        t.tokens = s.tokens();
        t.maxSeqTokens = s.maxLen;
        CUdeviceptr dX = upload(x.bits), dY = alloc(x.bits.size() * 2);
        g->shortConv(nullptr, DJ_DTYPE_BF16, dX, upload(w.bits), dY, dState, t,
                     C, K, a);
        std::vector<double> state(st0.begin(), st0.end());
        auto ref = convReference(s, x.val, w.val, state, C, K, a);
        EXPECT_LE(
            relL2(decode(kBf16, download<uint16_t>(dY, x.bits.size())), ref),
            5e-3);
        if (K > 1) {
          auto got = download<float>(dState, st0.size());
          for (size_t i = 0; i < state.size(); ++i)
            ASSERT_EQ(double(got[i]), state[i]) << i;
        }
      }
}

// ---- Rotary + KV-cache append
// ---------------------------------------------------------------

void ropeReference(std::vector<double> &x, int64_t rows, int64_t d,
                   const std::vector<int> &posOfRow, double theta) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < d / 2; ++i) {
      double ang =
          posOfRow[size_t(r)] * std::pow(theta, -2.0 * double(i) / double(d));
      double x1 = x[size_t(r * d + i)], x2 = x[size_t(r * d + i + d / 2)];
      x[size_t(r * d + i)] = x1 * std::cos(ang) - x2 * std::sin(ang);
      x[size_t(r * d + i + d / 2)] = x2 * std::cos(ang) + x1 * std::sin(ang);
    }
}

TEST_F(GlueGpu, RopeAppendKV) {
  struct Case {
    int64_t d;
    float theta;
    Half h;
  };
  for (const Case &c : {Case{64, 10000.0f, kBf16}, Case{128, 500000.0f, kBf16},
                        Case{64, 10000.0f, kF16}, Case{7, 0.0f, kBf16},
                        Case{24, 10000.0f, kBf16}}) {
    SCOPED_TRACE("d " + std::to_string(c.d) + " theta " +
                 std::to_string(c.theta));
    const int64_t H = 8, HKV = 2, d = c.d, dv = c.d + 8, maxCtx = 256,
                  slots = 4;
    // Positions at offsets (continuations); the last sequence runs past
    // maxCtx (those positions are not written).
    HostSeqs s({1, 5, 17, 0, 5}, {0, 100, 37, 0, 254}, {2, 0, 1, 3, 3});
    const int64_t T = s.tokens();
    Tensor16 q = randomTensor(c.h, size_t(T * H * d), rng);
    Tensor16 k = randomTensor(c.h, size_t(T * HKV * d), rng);
    Tensor16 v = randomTensor(c.h, size_t(T * HKV * dv), rng);
    const uint16_t sentinel = 0x1234;
    std::vector<uint16_t> kc(size_t(slots * HKV * maxCtx * d), sentinel);
    std::vector<uint16_t> vc(size_t(slots * HKV * maxCtx * dv), sentinel);
    CUdeviceptr dQ = upload(q.bits), dK = upload(k.bits), dV = upload(v.bits);
    CUdeviceptr dKc = upload(kc), dVc = upload(vc);
    SeqTables t;
    t.cuSeqlens = upload(s.cu);
    t.tokSeq = upload(s.seq);
    t.tokPos = upload(s.pos);
    t.numSeqs = s.numSeqs();
    t.tokens = T;
    t.maxSeqTokens = s.maxLen;
    glue->ropeAppendKV(nullptr, c.h.dt, dQ, dK, dV, dKc, dVc, t, H, HKV, d, dv,
                       maxCtx, c.theta);
    auto qGot = download<uint16_t>(dQ, q.bits.size());
    auto kcGot = download<uint16_t>(dKc, kc.size());
    auto vcGot = download<uint16_t>(dVc, vc.size());
    EXPECT_EQ(download<uint16_t>(dK, k.bits.size()), k.bits)
        << "k is read only";

    std::vector<int> posQ, posK;
    for (int64_t i = 0; i < T; ++i) {
      for (int64_t h = 0; h < H; ++h)
        posQ.push_back(s.pos[size_t(i)]);
      for (int64_t g = 0; g < HKV; ++g)
        posK.push_back(s.pos[size_t(i)]);
    }
    std::vector<double> qRef = q.val, kRef = k.val;
    if (c.theta > 0) {
      ropeReference(qRef, T * H, d, posQ, c.theta);
      ropeReference(kRef, T * HKV, d, posK, c.theta);
      EXPECT_LE(relL2(decode(c.h, qGot), qRef), 5e-3);
    } else {
      EXPECT_EQ(qGot, q.bits) << "no rotary: q unchanged";
    }
    // Cache rows: written where (slot, position < maxCtx), else untouched.
    std::vector<char> written(size_t(slots * HKV * maxCtx), 0);
    std::vector<double> kGotRows, kRefRows;
    for (int64_t i = 0; i < T; ++i) {
      int p = s.pos[size_t(i)], slot = s.seq[size_t(i)];
      if (p >= maxCtx)
        continue;
      for (int64_t g = 0; g < HKV; ++g) {
        size_t row = size_t((slot * HKV + g) * maxCtx + p);
        written[row] = 1;
        for (int64_t e = 0; e < d; ++e) {
          kGotRows.push_back(c.h.dec(kcGot[row * size_t(d) + size_t(e)]));
          kRefRows.push_back(kRef[size_t((i * HKV + g) * d + e)]);
          if (c.theta <= 0) {
            ASSERT_EQ(kcGot[row * size_t(d) + size_t(e)],
                      k.bits[size_t((i * HKV + g) * d + e)]);
          }
        }
        for (int64_t e = 0; e < dv; ++e)
          ASSERT_EQ(vcGot[row * size_t(dv) + size_t(e)],
                    v.bits[size_t((i * HKV + g) * dv + e)]);
      }
    }
    EXPECT_LE(relL2(kGotRows, kRefRows), 5e-3);
    for (size_t row = 0; row < written.size(); ++row) {
      if (written[row])
        continue;
      for (int64_t e = 0; e < d; ++e)
        ASSERT_EQ(kcGot[row * size_t(d) + size_t(e)], sentinel) << row;
      for (int64_t e = 0; e < dv; ++e)
        ASSERT_EQ(vcGot[row * size_t(dv) + size_t(e)], sentinel) << row;
    }
  }
}

// ---- Attention
// ------------------------------------------------------------------------------

struct AttnCase {
  int64_t H, HKV, d, dv, window;
  std::vector<int> lengths, start;
  int64_t maxCtx;
  Half h = kBf16;
  const char *mode = nullptr; // $DELTAJIT_GLUE_ATTENTION
  size_t qOffset = 0, kOffset = 0;
};

/// fp64 attention over caches holding `kc`, `vc` (values).
std::vector<double> attentionReference(const AttnCase &c, const HostSeqs &s,
                                       const std::vector<double> &q,
                                       const std::vector<double> &kc,
                                       const std::vector<double> &vc,
                                       double scale) {
  const int64_t T = s.tokens(), G = c.H / c.HKV;
  std::vector<double> o(size_t(T * c.H * c.dv), 0.0);
  for (int64_t t = 0; t < T; ++t) {
    int64_t slot = s.seq[size_t(t)], p = s.pos[size_t(t)];
    int64_t lo = c.window > 0 ? std::max<int64_t>(0, p - c.window + 1) : 0;
    int64_t hi = std::min<int64_t>(p, c.maxCtx - 1);
    for (int64_t h = 0; h < c.H; ++h) {
      int64_t g = h / G;
      std::vector<double> sc;
      double mx = -INFINITY;
      for (int64_t j = lo; j <= hi; ++j) {
        double dot = 0;
        for (int64_t e = 0; e < c.d; ++e)
          dot += q[size_t((t * c.H + h) * c.d + e)] *
                 kc[size_t(((slot * c.HKV + g) * c.maxCtx + j) * c.d + e)];
        sc.push_back(dot * scale);
        mx = std::max(mx, sc.back());
      }
      double sum = 0;
      for (double &x : sc)
        sum += (x = std::exp(x - mx));
      for (int64_t j = lo; j <= hi; ++j)
        for (int64_t e = 0; e < c.dv; ++e)
          o[size_t((t * c.H + h) * c.dv + e)] +=
              sc[size_t(j - lo)] / sum *
              vc[size_t(((slot * c.HKV + g) * c.maxCtx + j) * c.dv + e)];
    }
  }
  return o;
}

class GlueAttention : public GlueGpu {
protected:
  /// Fills the caches at positions before each sequence's end with random
  /// values and with NaN after (never read), runs attention, compares.
  void check(const AttnCase &c, double tol = 1e-2) {
    const int64_t n = int64_t(c.lengths.size());
    std::vector<int> slots;
    for (int64_t i = 0; i < n; ++i)
      slots.push_back(int(n - 1 - i)); // slot order differs from sequence order
    HostSeqs s(c.lengths, c.start, slots);
    const int64_t T = s.tokens(), H = c.H, HKV = c.HKV, d = c.d, dv = c.dv;
    Tensor16 q = randomTensor(c.h, size_t(T * H * d), rng);
    std::vector<uint16_t> kc(size_t(n * HKV * c.maxCtx * d), kNanBits);
    std::vector<uint16_t> vc(size_t(n * HKV * c.maxCtx * dv), kNanBits);
    std::normal_distribution<float> dist;
    for (int64_t i = 0; i < n; ++i) {
      int64_t end = std::min<int64_t>(c.start[size_t(i)] + c.lengths[size_t(i)],
                                      c.maxCtx);
      for (int64_t g = 0; g < HKV; ++g)
        for (int64_t j = 0; j < end; ++j) {
          size_t row = size_t((slots[size_t(i)] * HKV + g) * c.maxCtx + j);
          for (int64_t e = 0; e < d; ++e)
            kc[row * size_t(d) + size_t(e)] = c.h.enc(dist(rng));
          for (int64_t e = 0; e < dv; ++e)
            vc[row * size_t(dv) + size_t(e)] = c.h.enc(dist(rng));
        }
    }
    const float scale = float(1.0 / std::sqrt(double(d)));
    SeqTables t;
    t.cuSeqlens = upload(s.cu);
    t.tokSeq = upload(s.seq);
    t.tokPos = upload(s.pos);
    t.numSeqs = n;
    t.tokens = T;
    t.maxSeqTokens = s.maxLen;
    CUdeviceptr dQ = upload(q.bits, c.qOffset);
    CUdeviceptr dK = upload(kc, c.kOffset), dV = upload(vc);
    std::vector<uint16_t> o0(size_t(T * H * dv), kNanBits);
    CUdeviceptr dO = upload(o0);
    auto g = withModes(nullptr, c.mode);
    g->attention(nullptr, c.h.dt, dQ, dK, dV, dO, t, H, HKV, d, dv, c.maxCtx,
                 c.window, scale);
    auto o = decode(c.h, download<uint16_t>(dO, o0.size()));
    auto ref = attentionReference(c, s, q.val, decode(c.h, kc), decode(c.h, vc),
                                  scale);
    double err = relL2(o, ref);
    EXPECT_LE(err, tol) << "relative L2 error";
    // Per token too (a masking error in one short sequence could hide in
    // the total).
    for (int64_t tk = 0; tk < T; ++tk) {
      std::vector<double> a(o.begin() + tk * H * dv,
                            o.begin() + (tk + 1) * H * dv);
      std::vector<double> b(ref.begin() + tk * H * dv,
                            ref.begin() + (tk + 1) * H * dv);
      ASSERT_LE(relL2(a, b), 4 * tol) << "token " << tk;
    }
  }
};

const std::vector<int> kLengths = {1, 5, 17, 64, 0, 100};
const std::vector<int> kStarts = {0, 3, 0, 40, 0, 7};

TEST_F(GlueAttention, PrefillGqaHeadDim64) {
  for (const char *mode : {"tensor", "simt"})
    for (int64_t window : {0, 16}) {
      SCOPED_TRACE(std::string(mode) + " window " + std::to_string(window));
      check({8, 2, 64, 64, window, kLengths, kStarts, 256, kBf16, mode});
    }
}

TEST_F(GlueAttention, PrefillGqaHeadDim128) {
  for (const char *mode : {"tensor", "simt"})
    for (int64_t window : {0, 32}) {
      SCOPED_TRACE(std::string(mode) + " window " + std::to_string(window));
      check({8, 2, 128, 128, window, kLengths, kStarts, 256, kBf16, mode});
    }
}

TEST_F(GlueAttention, PrefillAutomaticPathAndMixedDims) {
  // Default selection (tensor cores: maxSeqTokens >= 16), d != dv.
  check({8, 2, 128, 64, 0, kLengths, kStarts, 256});
  check({4, 4, 64, 128, 20, kLengths, kStarts, 256});
  // A window larger than every position is no window.
  check({8, 2, 64, 64, 1000, kLengths, kStarts, 256});
}

TEST_F(GlueAttention, PrefillFp16) {
  check({8, 2, 64, 64, 0, kLengths, kStarts, 256, kF16, "tensor"});
  check({8, 2, 128, 128, 24, kLengths, kStarts, 256, kF16, "simt"});
}

TEST_F(GlueAttention, PrefillLongSequenceManyTiles) {
  // 300 queries x 700 keys of context: several query blocks and key tiles.
  check({8, 2, 64, 64, 0, {300, 2}, {400, 0}, 1024});
  check({8, 2, 128, 128, 100, {300, 2}, {400, 0}, 1024});
}

TEST_F(GlueAttention, DecodeWithKeySplits) {
  // One token per sequence at positions > 0; maxCtx 2048 splits the keys
  // over several CTAs (flash decoding) and merges them.
  const std::vector<int> ones = {1, 1, 1, 1};
  const std::vector<int> pos = {5, 130, 700, 2047};
  for (int64_t window : {0, 100}) {
    SCOPED_TRACE("window " + std::to_string(window));
    check({8, 2, 128, 128, window, ones, pos, 2048});
    check({8, 2, 64, 64, window, ones, pos, 2048});
    check({16, 1, 64, 64, window, ones, pos, 2048}); // 16 heads, 2 chunks
  }
}

TEST_F(GlueAttention, DecodePositionsWindowsAndGqa) {
  // One token per sequence at positions 0, 1, 540 and maxCtx - 1 (maxCtx
  // 4096: up to 64 key splits, most past the position, which exit at once
  // and which the combine skips), with no window, a short one and the
  // 2048 of the measured model; GQA groups of 16, 4 and 1; head dims 64,
  // 128, 256 (16-byte chunks per lane n = 1, 2, 4).
  const std::vector<int> ones = {1, 1, 1, 1};
  const std::vector<int> pos = {0, 1, 540, 4095};
  for (int64_t window : {0, 100, 2048}) {
    SCOPED_TRACE("window " + std::to_string(window));
    check({16, 1, 64, 64, window, ones, pos, 4096});  // H=16 / HKV=1
    check({8, 2, 64, 64, window, ones, pos, 4096});   // H=8 / HKV=2
    check({16, 16, 64, 64, window, ones, pos, 4096}); // no grouping
    check({8, 2, 128, 128, window, ones, pos, 4096}); // n = 2, 2 heads/CTA
    check({16, 16, 128, 128, window, ones, pos, 4096});
    check({8, 2, 256, 256, window, ones, pos, 4096}); // n = 4
  }
  // Mixed dims, fp16, a position past maxCtx (clamped; with a short window
  // no key is left: zeros), a batch large enough for a single split.
  check({16, 1, 128, 64, 2048, ones, pos, 4096, kF16});
  check({8, 2, 64, 128, 0, {1, 1, 1}, {5000, 4200, 3}, 4096});
  check({8, 2, 64, 64, 100, {1, 1, 1}, {5000, 4200, 3}, 4096});
  std::vector<int> many(100, 1), manyPos(100);
  for (int i = 0; i < 100; ++i)
    manyPos[size_t(i)] = (i * 37) % 200;
  check({4, 4, 64, 64, 0, many, manyPos, 200});
}

TEST_F(GlueAttention, DecodeUnalignedScalarPath) {
  // Unaligned caches and odd head dims: 2-byte loads, same splits.
  const std::vector<int> ones = {1, 1, 1, 1};
  const std::vector<int> pos = {0, 1, 540, 2047};
  for (int64_t window : {0, 300}) {
    SCOPED_TRACE("window " + std::to_string(window));
    AttnCase c{16, 1, 64, 64, window, ones, pos, 2048};
    c.qOffset = 2;
    c.kOffset = 2;
    check(c);
    check({8, 2, 100, 72, window, ones, pos, 2048});
    check({4, 4, 13, 40, window, ones, pos, 2048, kF16});
  }
}

TEST_F(GlueAttention, OtherHeadDimsAndUnalignedPointers) {
  // Head dims the tensor-core kernel does not cover, and unaligned
  // pointers (scalar loads), run on the SIMT kernel.
  check({4, 2, 80, 80, 0, {3, 20}, {10, 0}, 64});
  check({2, 1, 256, 256, 0, {3, 20}, {10, 0}, 64});
  check({2, 2, 13, 40, 7, {3, 20}, {10, 0}, 64});
  AttnCase c{8, 2, 64, 64, 0, kLengths, kStarts, 256};
  c.qOffset = 2;
  c.kOffset = 2;
  check(c);
}

TEST_F(GlueGpu, PrefillThenDecodeThroughTheCache) {
  // ropeAppendKV + attention for a prefill, then one decode token per
  // sequence, against a reference that rotates in fp64 and stores bf16.
  const int64_t H = 8, HKV = 2, d = 64, dv = 64, maxCtx = 128;
  const float theta = 10000.0f, scale = 0.125f;
  const std::vector<int> lens = {5, 17, 64};
  const int64_t n = int64_t(lens.size());
  std::vector<int> slots = {0, 1, 2};
  std::vector<uint16_t> zeros(size_t(n * HKV * maxCtx * d), 0);
  CUdeviceptr dKc = upload(zeros), dVc = upload(zeros);
  std::vector<double> kcRef(zeros.size(), 0.0), vcRef(zeros.size(), 0.0);

  auto step = [&](const HostSeqs &s) {
    const int64_t T = s.tokens();
    Tensor16 q = randomTensor(kBf16, size_t(T * H * d), rng);
    Tensor16 k = randomTensor(kBf16, size_t(T * HKV * d), rng);
    Tensor16 v = randomTensor(kBf16, size_t(T * HKV * dv), rng);
    SeqTables t;
    t.cuSeqlens = upload(s.cu);
    t.tokSeq = upload(s.seq);
    t.tokPos = upload(s.pos);
    t.numSeqs = s.numSeqs();
    t.tokens = T;
    t.maxSeqTokens = s.maxLen;
    CUdeviceptr dQ = upload(q.bits), dO = alloc(size_t(T * H * dv) * 2);
    glue->ropeAppendKV(nullptr, DJ_DTYPE_BF16, dQ, upload(k.bits),
                       upload(v.bits), dKc, dVc, t, H, HKV, d, dv, maxCtx,
                       theta);
    glue->attention(nullptr, DJ_DTYPE_BF16, dQ, dKc, dVc, dO, t, H, HKV, d, dv,
                    maxCtx, 0, scale);
    auto o = decode(kBf16, download<uint16_t>(dO, size_t(T * H * dv)));
    // Reference: rotate, round to bf16 (what the buffers hold), attend.
    std::vector<int> posQ, posK;
    for (int64_t i = 0; i < T; ++i) {
      for (int64_t h = 0; h < H; ++h)
        posQ.push_back(s.pos[size_t(i)]);
      for (int64_t g = 0; g < HKV; ++g)
        posK.push_back(s.pos[size_t(i)]);
    }
    std::vector<double> qr = q.val, kr = k.val;
    ropeReference(qr, T * H, d, posQ, theta);
    ropeReference(kr, T * HKV, d, posK, theta);
    for (double &x : qr)
      x = deltajit::bf16ToFloat(deltajit::floatToBf16(float(x)));
    for (int64_t i = 0; i < T; ++i)
      for (int64_t g = 0; g < HKV; ++g) {
        size_t row =
            size_t((s.seq[size_t(i)] * HKV + g) * maxCtx + s.pos[size_t(i)]);
        for (int64_t e = 0; e < d; ++e)
          kcRef[row * size_t(d) + size_t(e)] = deltajit::bf16ToFloat(
              deltajit::floatToBf16(float(kr[size_t((i * HKV + g) * d + e)])));
        for (int64_t e = 0; e < dv; ++e)
          vcRef[row * size_t(dv) + size_t(e)] =
              v.val[size_t((i * HKV + g) * dv + e)];
      }
    AttnCase c{H, HKV, d, dv, 0, {}, {}, maxCtx};
    auto ref = attentionReference(c, s, qr, kcRef, vcRef, scale);
    EXPECT_LE(relL2(o, ref), 1e-2);
  };
  step(HostSeqs(lens, {0, 0, 0}, slots));        // prefill
  step(HostSeqs({1, 1, 1}, {5, 17, 64}, slots)); // decode step 1
  step(HostSeqs({1, 1, 1}, {6, 18, 65}, slots)); // decode step 2
}

// ---- Sampling
// ---------------------------------------------------------------------------------

TEST_F(GlueGpu, GreedyIsArgmaxWithLowestIndexOnTies) {
  for (const Half &h : {kBf16, kF16})
    for (int64_t vocab : {1000, 1001}) {
      SCOPED_TRACE("vocab " + std::to_string(vocab));
      const int64_t rows = 6;
      std::uniform_real_distribution<float> u(-4, 4);
      std::vector<uint16_t> l(size_t(rows * vocab));
      for (auto &b : l)
        b = h.enc(u(rng));
      auto at = [&](int64_t r, int64_t i) -> uint16_t & {
        return l[size_t(r * vocab + i)];
      };
      at(1, 17) = at(1, 900) = h.enc(10.0f); // tie: 17
      for (int64_t i = 0; i < vocab; ++i)    // all equal: 0
        at(2, i) = h.enc(1.5f);
      for (int64_t i = 0; i < vocab; ++i) // NaNs are skipped
        at(3, i) = kNanBits;
      at(3, 500) = h.enc(-3.0f);
      for (int64_t i = 0; i < vocab; ++i) // all NaN: 0
        at(4, i) = kNanBits;
      at(5, vocab - 1) = h.enc(100.0f); // last index
      std::vector<int32_t> want(static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r) {
        double best = -INFINITY;
        int32_t bi = 0;
        for (int64_t i = 0; i < vocab; ++i) {
          double v = h.dec(at(r, i));
          if (!std::isnan(v) && v > best) {
            best = v;
            bi = int32_t(i);
          }
        }
        want[size_t(r)] = bi;
      }
      ASSERT_EQ(want[1], 17);
      ASSERT_EQ(want[3], 500);
      CUdeviceptr dL = upload(l), dOut = alloc(size_t(rows) * 4),
                  dNext = alloc(size_t(rows) * 4);
      glue->sample(nullptr, h.dt, dL, rows, vocab, 0.0f, 1, 0, dOut, dNext);
      EXPECT_EQ(download<int32_t>(dOut, size_t(rows)), want);
      EXPECT_EQ(download<int32_t>(dNext, size_t(rows)), want);
    }
}

TEST_F(GlueGpu, TemperatureSamplingIsDeterministicPerStep) {
  const int64_t rows = 256, vocab = 1000;
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<uint16_t> l(size_t(rows * vocab));
  for (auto &b : l)
    b = deltajit::floatToBf16(u(rng));
  CUdeviceptr dL = upload(l), dStep = upload(std::vector<int32_t>{5});
  auto draw = [&](uint64_t seed, CUdeviceptr stepPtr) {
    CUdeviceptr dOut = alloc(size_t(rows) * 4);
    glue->sample(nullptr, DJ_DTYPE_BF16, dL, rows, vocab, 0.8f, seed, stepPtr,
                 dOut, 0);
    return download<int32_t>(dOut, size_t(rows));
  };
  auto differ = [](const std::vector<int32_t> &a,
                   const std::vector<int32_t> &b) {
    int n = 0;
    for (size_t i = 0; i < a.size(); ++i)
      n += a[i] != b[i];
    return n;
  };
  auto a = draw(1234, dStep), b = draw(1234, dStep);
  EXPECT_EQ(a, b) << "same seed and step";
  for (int32_t id : a)
    ASSERT_TRUE(id >= 0 && id < vocab);
  glue->incrementI32(nullptr, dStep, 1, 1); // the next step (as in a graph)
  auto c = draw(1234, dStep);
  EXPECT_GT(differ(a, c), 200) << "a different step draws differently";
  write(dStep, std::vector<int32_t>{5});
  EXPECT_EQ(draw(1234, dStep), a) << "the step counter is the only state";
  EXPECT_GT(differ(a, draw(99, dStep)), 200) << "a different seed";
  // Without a counter, step 0.
  auto z1 = draw(7, 0), z2 = draw(7, 0);
  EXPECT_EQ(z1, z2);
}

TEST_F(GlueGpu, TemperatureSamplingFollowsSoftmax) {
  const std::vector<float> logits = {0.5f, -1.0f, 2.0f, 0.0f,
                                     1.0f, -0.5f, 1.5f, -2.0f};
  const int64_t vocab = int64_t(logits.size()), rows = 40000;
  for (float T : {0.7f, 1.0f, 2.0f}) {
    SCOPED_TRACE("temperature " + std::to_string(T));
    std::vector<uint16_t> l;
    for (int64_t r = 0; r < rows; ++r)
      for (float x : logits)
        l.push_back(deltajit::floatToBf16(x));
    CUdeviceptr dL = upload(l), dOut = alloc(size_t(rows) * 4);
    CUdeviceptr dStep = upload(std::vector<int32_t>{int32_t(T * 10)});
    glue->sample(nullptr, DJ_DTYPE_BF16, dL, rows, vocab, T, 42, dStep, dOut,
                 0);
    auto ids = download<int32_t>(dOut, size_t(rows));
    std::vector<double> freq(static_cast<size_t>(vocab), 0.0),
        p(static_cast<size_t>(vocab));
    for (int32_t id : ids) {
      ASSERT_TRUE(id >= 0 && id < vocab);
      freq[size_t(id)] += 1.0 / double(rows);
    }
    double z = 0;
    for (int64_t i = 0; i < vocab; ++i)
      z += (p[size_t(i)] = std::exp(double(logits[size_t(i)]) / T));
    for (int64_t i = 0; i < vocab; ++i) {
      p[size_t(i)] /= z;
      // 5 standard deviations of a binomial frequency.
      double sigma =
          std::sqrt(p[size_t(i)] * (1 - p[size_t(i)]) / double(rows));
      EXPECT_NEAR(freq[size_t(i)], p[size_t(i)], 5 * sigma + 1e-4)
          << "token " << i;
    }
  }
}

// ---- Small-M linear (decode projections)
// --------------------------------------------------------

/// fp64 reference of y[M, N] = x[M, K] w[N, K]^T.
std::vector<double> linearRef(const Tensor16 &x, const Tensor16 &w, int64_t M,
                              int64_t N, int64_t K) {
  std::vector<double> y(size_t(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += x.val[size_t(m * K + k)] * w.val[size_t(n * K + k)];
      y[size_t(m * N + n)] = acc;
    }
  return y;
}

// Tolerance 5e-3: f32 accumulation (tensor-core mma, relative error ~1e-6
// for these K) and one rounding of each output to bf16 (<= 2^-8 = 3.9e-3 of
// its magnitude); fp16 rounds to 2^-11. Any indexing error is O(1).
TEST_F(GlueGpu, LinearSmallMMatchesReference) {
  const int64_t shapes[][2] = {{1024, 1024},  {2816, 1024}, {1024, 2816},
                               {32000, 1024}, {4, 1024},    {7, 13}};
  for (const auto &nk : shapes)
    for (int64_t M : {1, 3, 8, 16}) {
      const int64_t N = nk[0], K = nk[1];
      SCOPED_TRACE("M " + std::to_string(M) + " N " + std::to_string(N) +
                   " K " + std::to_string(K));
      Tensor16 x = randomTensor(kBf16, size_t(M * K), rng);
      Tensor16 w = randomTensor(kBf16, size_t(N * K), rng, 0.05);
      CUdeviceptr dX = upload(x.bits), dW = upload(w.bits);
      CUdeviceptr dY = upload(std::vector<uint16_t>(size_t(M * N + 8), 0x7fc0));
      glue->linearSmallM(nullptr, DJ_DTYPE_BF16, dX, dW, dY, M, N, K);
      auto got = download<uint16_t>(dY, size_t(M * N + 8));
      std::vector<uint16_t> out(got.begin(), got.begin() + M * N);
      EXPECT_LE(relL2(decode(kBf16, out), linearRef(x, w, M, N, K)), 5e-3);
      for (size_t i = size_t(M * N); i < got.size(); ++i)
        ASSERT_EQ(got[i], 0x7fc0) << "wrote past y";
    }
}

TEST_F(GlueGpu, LinearSmallMUnalignedFp16AndOddK) {
  struct Case {
    int64_t M, N, K;
    size_t offX, offW, offY;
    Half h;
  };
  const Case cases[] = {
      {3, 1024, 1024, 2, 0, 0, kBf16}, // x unaligned: scalar path
      {16, 300, 1024, 0, 6, 2, kBf16}, // w unaligned
      {5, 333, 1000, 0, 0, 2, kBf16},  // K % 32 != 0, vector path
      {8, 1024, 1024, 0, 0, 0, kF16},  // fp16
      {16, 2816, 1024, 0, 0, 0, kF16},
      {2, 50, 1003, 2, 4, 0, kF16},  // odd K, unaligned
      {1, 1, 1, 0, 0, 0, kBf16},     // the smallest
      {16, 9, 8200, 0, 0, 0, kBf16}, // large K, few outputs
  };
  for (const Case &c : cases) {
    SCOPED_TRACE("M " + std::to_string(c.M) + " N " + std::to_string(c.N) +
                 " K " + std::to_string(c.K) + " offsets " +
                 std::to_string(c.offX) + "," + std::to_string(c.offW) + "," +
                 std::to_string(c.offY) +
                 (c.h.dt == DJ_DTYPE_BF16 ? " bf16" : " fp16"));
    Tensor16 x = randomTensor(c.h, size_t(c.M * c.K), rng);
    Tensor16 w = randomTensor(c.h, size_t(c.N * c.K), rng, 0.05);
    CUdeviceptr dX = upload(x.bits, c.offX), dW = upload(w.bits, c.offW);
    CUdeviceptr dY = alloc(size_t(c.M * c.N) * 2 + c.offY) + c.offY;
    glue->linearSmallM(nullptr, c.h.dt, dX, dW, dY, c.M, c.N, c.K);
    auto y = decode(c.h, download<uint16_t>(dY, size_t(c.M * c.N)));
    EXPECT_LE(relL2(y, linearRef(x, w, c.M, c.N, c.K)), 5e-3);
  }
}

TEST_F(GlueGpu, LinearSmallMIsDeterministicAndChecksM) {
  for (int64_t K : {1024, 1003}) {
    const int64_t M = 16, N = 2816;
    Tensor16 x = randomTensor(kBf16, size_t(M * K), rng);
    Tensor16 w = randomTensor(kBf16, size_t(N * K), rng, 0.05);
    CUdeviceptr dX = upload(x.bits), dW = upload(w.bits);
    CUdeviceptr dY = alloc(size_t(M * N) * 2);
    glue->linearSmallM(nullptr, DJ_DTYPE_BF16, dX, dW, dY, M, N, K);
    auto first = download<uint16_t>(dY, size_t(M * N));
    for (int rep = 0; rep < 5; ++rep) {
      write(dY, std::vector<uint16_t>(size_t(M * N), 0));
      glue->linearSmallM(nullptr, DJ_DTYPE_BF16, dX, dW, dY, M, N, K);
      ASSERT_EQ(download<uint16_t>(dY, size_t(M * N)), first)
          << "K " << K << " replay " << rep;
    }
    // Row m of a batch equals the same row computed alone (M = 1).
    CUdeviceptr dY1 = alloc(size_t(N) * 2);
    glue->linearSmallM(nullptr, DJ_DTYPE_BF16, dX + CUdeviceptr(5 * K * 2), dW,
                       dY1, 1, N, K);
    auto row = download<uint16_t>(dY1, size_t(N));
    EXPECT_TRUE(std::equal(row.begin(), row.end(), first.begin() + 5 * N))
        << "K " << K;
  }
  try {
    glue->linearSmallM(nullptr, DJ_DTYPE_BF16, 16, 16, 1 << 20,
                       GlueKernels::kSmallMMax + 1, 8, 8);
    ADD_FAILURE() << "M > kSmallMMax accepted";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), DJ_ERROR_INVALID_ARGUMENT) << e.what();
  }
  // M == 0 is a no-op.
  glue->linearSmallM(nullptr, DJ_DTYPE_BF16, 0, 0, 0, 0, 8, 8);
}

} // namespace
