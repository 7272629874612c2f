//===- CPULoweringTest.cpp - the CPU lowering against the fp64 oracle -----===//
//
// Builds `func.func @run` around delta.delta_rule (or a hand-written
// delta.chunk_loop), runs delta-chunk-tile, convert-delta-to-cpu and the
// CPU-to-LLVM pipeline, JIT-runs it with mlir::ExecutionEngine on random
// problems and compares o and the final state with the fp64 recurrence.
// Each test compiles the kernels it needs once (B, T, H, HV and N are
// dynamic) and runs several problem shapes through them.
//
//===----------------------------------------------------------------------===//

#include "DeltaOracle.h"
#include "deltajit/Codegen/CPU/Passes.h"
#include "deltajit/Dialect/DeltaDialect.h"
#include "deltajit/Passes/Passes.h"

#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace deltajit::oracle;

namespace {

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

enum class Dtype { F32, BF16 };

/// What one compiled kernel handles: the element type of q/k/v/beta/o, the
/// head sizes, the tiling and the optional operands.
struct Config {
  Dtype dtype = Dtype::F32;
  int64_t dk = 32, dv = 32;
  int64_t chunk = 64, blockV = 64;
  bool l2norm = true, initialState = false, varlen = false;
};

/// Tensor/memref shapes of the @run arguments for `c` (e.g. "?x?x?x32xf32").
struct Shapes {
  std::string qk, v, beta, state, cu = "?xi64";
  explicit Shapes(const Config &c) {
    std::string e = c.dtype == Dtype::BF16 ? "bf16" : "f32";
    qk = "?x?x?x" + std::to_string(c.dk) + "x" + e;
    v = "?x?x?x" + std::to_string(c.dv) + "x" + e;
    beta = "?x?x?x" + e;
    state = "?x?x" + std::to_string(c.dk) + "x" + std::to_string(c.dv) + "xf32";
  }
};

/// `func.func @run(q, k, v, beta, h0, cu_seqlens, o, ht)` on memrefs, with
/// the tensors %qt, %kt, %vt, %bt, %h0t and %cut given to `core`, which
/// must define %ot and %st (o and the final state).
std::string wrapRun(const Config &c, const std::string &core) {
  Shapes s(c);
  auto m = [](const std::string &shape) { return "memref<" + shape + ">"; };
  auto t = [](const std::string &shape) { return "tensor<" + shape + ">"; };
  auto toTensor = [&](const std::string &name, const std::string &shape) {
    return "  %" + name + "t = bufferization.to_tensor %" + name +
           " restrict : " + m(shape) + " to " + t(shape) + "\n";
  };
  std::string src = "func.func @run(%q: " + m(s.qk) + ", %k: " + m(s.qk) +
                    ", %v: " + m(s.v) + ", %b: " + m(s.beta) +
                    ", %h0: " + m(s.state) + ", %cu: " + m(s.cu) +
                    ", %o: " + m(s.v) + ", %ht: " + m(s.state) +
                    ") attributes {llvm.emit_c_interface} {\n";
  src += toTensor("q", s.qk) + toTensor("k", s.qk) + toTensor("v", s.v) +
         toTensor("b", s.beta) + toTensor("h0", s.state) + toTensor("cu", s.cu);
  src += core;
  src += "  bufferization.materialize_in_destination %ot in restrict writable "
         "%o : (" +
         t(s.v) + ", " + m(s.v) + ") -> ()\n";
  src += "  bufferization.materialize_in_destination %st in restrict writable "
         "%ht : (" +
         t(s.state) + ", " + m(s.state) + ") -> ()\n";
  src += "  return\n}\n";
  return src;
}

/// The optional operands and the type list of a delta-rule-like op.
std::string optionalOperands(const Config &c) {
  Shapes s(c);
  std::string ops;
  if (c.initialState)
    ops += " initial_state(%h0t : tensor<" + s.state + ">)";
  if (c.varlen)
    ops += " cu_seqlens(%cut : tensor<" + s.cu + ">)";
  return ops;
}
std::string opTypes(const Config &c) {
  Shapes s(c);
  return " : tensor<" + s.qk + ">, tensor<" + s.qk + ">, tensor<" + s.v +
         ">, tensor<" + s.beta + "> -> tensor<" + s.v + ">, tensor<" + s.state +
         ">";
}

/// @run around delta.delta_rule with the op's chunk_size = c.chunk.
std::string deltaRuleSource(const Config &c) {
  std::string core =
      "  %ot, %st = delta.delta_rule %qt, %kt, %vt, %bt" + optionalOperands(c) +
      " {chunk_size = " + std::to_string(c.chunk) + " : i64" +
      (c.l2norm ? ", use_qk_l2norm" : "") + "}" + opTypes(c) + "\n";
  return wrapRun(c, core);
}

/// A JIT-compiled @run.
class Kernel {
public:
  using Fn = void (*)(void *, void *, void *, void *, void *, void *, void *,
                      void *);

  /// Compiles `source`; runs delta-chunk-tile first when `tile` is set.
  /// Returns null and fills `error` (diagnostics included) on failure.
  static std::unique_ptr<Kernel> compile(const std::string &source, bool tile,
                                         int64_t blockV, std::string &error) {
    static const bool initialized = [] {
      llvm::InitializeNativeTarget();
      llvm::InitializeNativeTargetAsmPrinter();
      return true;
    }();
    (void)initialized;

    auto kernel = std::unique_ptr<Kernel>(new Kernel());
    mlir::DialectRegistry registry;
    registry.insert<deltajit::delta::DeltaDialect>();
    deltajit::registerCPUCodegenDialects(registry);
    kernel->context = std::make_unique<mlir::MLIRContext>(registry);
    mlir::MLIRContext *ctx = kernel->context.get();
    std::string diagnostics;
    mlir::ScopedDiagnosticHandler handler(ctx, [&](mlir::Diagnostic &d) {
      llvm::raw_string_ostream os(diagnostics);
      os << d.getLocation() << ": " << d << "\n";
      return mlir::success();
    });

    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(source, ctx);
    if (!module) {
      error = "parse error: " + diagnostics;
      return nullptr;
    }
    mlir::PassManager pm(ctx);
    if (tile) {
      deltajit::DeltaChunkTileOptions options;
      options.blockV = blockV;
      pm.addPass(deltajit::createDeltaChunkTile(options));
    }
    pm.addPass(deltajit::createConvertDeltaToCPU());
    deltajit::buildCPUToLLVMPipeline(pm);
    if (mlir::failed(pm.run(*module))) {
      error = "lowering failed: " + diagnostics;
      return nullptr;
    }

    auto transformer = mlir::makeOptimizingTransformer(
        /*optLevel=*/2, /*sizeLevel=*/0, /*targetMachine=*/nullptr);
    mlir::ExecutionEngineOptions options;
    options.transformer = transformer;
    auto engine = mlir::ExecutionEngine::create(*module, options);
    if (!engine) {
      error = "JIT failed: " + llvm::toString(engine.takeError());
      return nullptr;
    }
    kernel->engine = std::move(*engine);
    auto fn = kernel->engine->lookup("_mlir_ciface_run");
    if (!fn) {
      error = "lookup failed: " + llvm::toString(fn.takeError());
      return nullptr;
    }
    kernel->fn = reinterpret_cast<Fn>(*fn);
    return kernel;
  }

  Fn function() const { return fn; }

private:
  Kernel() = default;
  std::unique_ptr<mlir::MLIRContext> context;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  Fn fn = nullptr;
};

/// Compiled kernels by source: each test compiles what it needs once.
std::map<std::string, std::unique_ptr<Kernel>> &kernelCache() {
  static auto *cache = new std::map<std::string, std::unique_ptr<Kernel>>();
  return *cache;
}

/// Destroys the cached kernels at the end of the test program, while LLVM
/// is still fully alive (an ExecutionEngine destroyed by static destructors
/// at exit runs its JIT deinitializers against torn-down LLVM state and
/// crashes or hangs).
class KernelCacheCleanup : public ::testing::Environment {
public:
  void TearDown() override { kernelCache().clear(); }
};
[[maybe_unused]] ::testing::Environment *const kCleanup =
    ::testing::AddGlobalTestEnvironment(new KernelCacheCleanup());

const Kernel *getKernel(const std::string &source, bool tile, int64_t blockV) {
  auto &cache = kernelCache();
  std::string key = source + "\n// tile=" + std::to_string(tile) +
                    " block-v=" + std::to_string(blockV);
  auto it = cache.find(key);
  if (it != cache.end())
    return it->second.get();
  std::string error;
  std::unique_ptr<Kernel> kernel = Kernel::compile(source, tile, blockV, error);
  if (!kernel) {
    ADD_FAILURE() << error << "\nsource:\n" << source;
    return nullptr;
  }
  return (cache[key] = std::move(kernel)).get();
}

const Kernel *getKernel(const Config &c) {
  return getKernel(deltaRuleSource(c), /*tile=*/true, c.blockV);
}

//===----------------------------------------------------------------------===//
// Running a problem
//===----------------------------------------------------------------------===//

template <typename T, int N>
StridedMemRefType<T, N> descriptor(std::vector<T> &data,
                                   std::array<int64_t, N> sizes) {
  StridedMemRefType<T, N> d;
  d.basePtr = d.data = data.empty() ? nullptr : data.data();
  d.offset = 0;
  int64_t stride = 1;
  for (int i = N - 1; i >= 0; --i) {
    d.sizes[i] = sizes[i];
    d.strides[i] = stride;
    stride *= sizes[i];
  }
  return d;
}

/// Storage of one element type: encode from / decode to double.
struct F32Storage {
  using T = float;
  static T encode(double x) { return float(x); }
  static double decode(T x) { return x; }
  static T poison() { return std::numeric_limits<float>::quiet_NaN(); }
};
struct BF16Storage {
  using T = uint16_t;
  static T encode(double x) { return toBf16Bits(x); }
  static double decode(T x) { return fromBf16Bits(x); }
  static T poison() { return 0x7FC0; }
};

struct Outputs {
  std::vector<double> o, finalState;
};

/// Runs `kernel` on `p` (inputs already representable in the element type).
/// Outputs start as NaN so that an element the kernel misses is an error.
template <typename S> Outputs runWith(const Kernel &kernel, const Problem &p) {
  using T = typename S::T;
  auto encode = [](const std::vector<double> &x) {
    std::vector<T> y(x.size());
    for (size_t i = 0; i < x.size(); ++i)
      y[i] = S::encode(x[i]);
    return y;
  };
  int64_t n = p.numSequences();
  std::vector<T> q = encode(p.q), k = encode(p.k), v = encode(p.v),
                 beta = encode(p.beta);
  std::vector<float> h0(p.initialState.begin(), p.initialState.end());
  std::vector<int64_t> cu = p.cuSeqlens;
  std::vector<T> o(p.B * p.T * p.HV * p.DV, S::poison());
  std::vector<float> ht(n * p.HV * p.DK * p.DV,
                        std::numeric_limits<float>::quiet_NaN());

  auto qd = descriptor<T, 4>(q, {p.B, p.T, p.H, p.DK});
  auto kd = descriptor<T, 4>(k, {p.B, p.T, p.H, p.DK});
  auto vd = descriptor<T, 4>(v, {p.B, p.T, p.HV, p.DV});
  auto bd = descriptor<T, 3>(beta, {p.B, p.T, p.HV});
  auto h0d = descriptor<float, 4>(h0, {h0.empty() ? 0 : n, p.HV, p.DK, p.DV});
  auto cud = descriptor<int64_t, 1>(cu, {int64_t(cu.size())});
  auto od = descriptor<T, 4>(o, {p.B, p.T, p.HV, p.DV});
  auto htd = descriptor<float, 4>(ht, {n, p.HV, p.DK, p.DV});
  kernel.function()(&qd, &kd, &vd, &bd, &h0d, &cud, &od, &htd);

  Outputs out;
  for (T x : o)
    out.o.push_back(S::decode(x));
  out.finalState.assign(ht.begin(), ht.end());
  return out;
}

Outputs run(const Kernel &kernel, Dtype dtype, const Problem &p) {
  return dtype == Dtype::BF16 ? runWith<BF16Storage>(kernel, p)
                              : runWith<F32Storage>(kernel, p);
}

/// A random problem for `c`: B x T (or the varlen `seqLens`), H q/k heads
/// and HV value heads. Without the L2 norm, keys get norms in [0.5, 1] so
/// that the recurrence stays bounded.
RandomSpec specFor(const Config &c, int64_t B, int64_t T, int64_t H, int64_t HV,
                   uint64_t seed, std::vector<int64_t> seqLens = {}) {
  RandomSpec s;
  s.B = c.varlen ? 1 : B;
  s.T = T;
  s.H = H;
  s.HV = HV;
  s.DK = c.dk;
  s.DV = c.dv;
  s.seqLens = std::move(seqLens);
  s.seed = seed;
  s.qkL2Norm = c.l2norm;
  if (!c.l2norm) {
    s.keyNormLo = 0.5;
    s.keyNormHi = 1.0;
  }
  s.initialState = c.initialState;
  return s;
}

/// The chunkwise form in fp64 with the roundings that the IR of
/// delta-chunk-tile prescribes (Vn = T (V - K Sb)): the L2-normalised q/k
/// tiles, T, Q K^T, the state copy Sb, Vn and o are rounded to `storage`
/// (the input element type); A, X = V - K Sb (f32 in the IR, split into two
/// 16-bit parts on the GPU), the products with the state and the state stay
/// exact. The CPU lowering computes the
/// same in f32, so it must match this closely; the distance of this from
/// recurrent() is the error inherent in the storage precision.
Result roundedChunkwise(const Problem &p, int64_t chunk, Precision storage) {
  int64_t dk = p.DK, dv = p.DV, group = p.HV / p.H;
  double scale = p.effectiveScale();
  auto rounded = [&](std::vector<double> x) { return roundedTo(x, storage); };
  std::vector<double> qn = p.qkL2Norm ? rounded(l2NormalizeRows(p.q, dk)) : p.q;
  std::vector<double> kn = p.qkL2Norm ? rounded(l2NormalizeRows(p.k, dk)) : p.k;
  int64_t n = p.numSequences();
  Result r;
  r.o.assign(p.B * p.T * p.HV * dv, 0.0);
  r.finalState = p.initialState;
  r.finalState.resize(n * p.HV * dk * dv, 0.0);
  for (int64_t seq = 0; seq < n; ++seq) {
    int64_t batch = p.isVarlen() ? 0 : seq;
    int64_t bos = p.isVarlen() ? p.cuSeqlens[seq] : 0;
    int64_t eos = p.isVarlen() ? p.cuSeqlens[seq + 1] : p.T;
    for (int64_t hv = 0; hv < p.HV; ++hv) {
      int64_t h = hv / group;
      double *s = &r.finalState[(seq * p.HV + hv) * dk * dv];
      for (int64_t t0 = bos; t0 < eos; t0 += chunk) {
        int64_t m = std::min(chunk, eos - t0);
        auto q = [&](int64_t i, int64_t d) {
          return qn[((batch * p.T + t0 + i) * p.H + h) * dk + d];
        };
        auto k = [&](int64_t i, int64_t d) {
          return kn[((batch * p.T + t0 + i) * p.H + h) * dk + d];
        };
        auto v = [&](int64_t i, int64_t j) {
          return p.v[((batch * p.T + t0 + i) * p.HV + hv) * dv + j];
        };
        std::vector<double> beta(m), a(m * m, 0.0);
        for (int64_t i = 0; i < m; ++i)
          beta[i] = p.beta[(batch * p.T + t0 + i) * p.HV + hv];
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < i; ++j) {
            double dot = 0.0;
            for (int64_t d = 0; d < dk; ++d)
              dot += k(i, d) * k(j, d);
            a[i * m + j] = beta[i] * dot;
          }
        // T, Q K^T and the copy Sb of the state that the products read are
        // stored in `storage` (as delta-chunk-tile types them).
        std::vector<double> t = rounded(utTransform(a, beta, m));
        std::vector<double> sb = rounded(std::vector<double>(s, s + dk * dv));
        // X = V - K Sb and Vn = T X stored in `storage` (the WY form's
        // U - W Sb factored as delta-chunk-tile does).
        std::vector<double> x(m * dv, 0.0), vn(m * dv, 0.0);
        for (int64_t j = 0; j < m; ++j)
          for (int64_t c = 0; c < dv; ++c) {
            double ks = 0.0;
            for (int64_t d = 0; d < dk; ++d)
              ks += k(j, d) * sb[d * dv + c];
            x[j * dv + c] = roundTo(v(j, c) - ks, Precision::FP32);
          }
        for (int64_t i = 0; i < m; ++i)
          for (int64_t c = 0; c < dv; ++c) {
            double y = 0.0;
            for (int64_t j = 0; j < m; ++j)
              y += t[i * m + j] * x[j * dv + c];
            vn[i * dv + c] = roundTo(y, storage);
          }
        // O = scale (Q Sb + mask(Q K^T) Vn), stored in `storage`.
        for (int64_t i = 0; i < m; ++i)
          for (int64_t c = 0; c < dv; ++c) {
            double x = 0.0;
            for (int64_t d = 0; d < dk; ++d)
              x += q(i, d) * sb[d * dv + c];
            for (int64_t j = 0; j <= i; ++j) {
              double qk = 0.0;
              for (int64_t d = 0; d < dk; ++d)
                qk += q(i, d) * k(j, d);
              x += roundTo(qk, storage) * vn[j * dv + c];
            }
            r.o[((batch * p.T + t0 + i) * p.HV + hv) * dv + c] =
                roundTo(scale * x, storage);
          }
        // S += K^T Vn.
        for (int64_t d = 0; d < dk; ++d)
          for (int64_t c = 0; c < dv; ++c)
            for (int64_t i = 0; i < m; ++i)
              s[d * dv + c] += k(i, d) * vn[i * dv + c];
      }
    }
  }
  return r;
}

/// Bounds on relL2 of o and of the final state (infinite: not asserted).
struct Bounds {
  double o, state;
};
constexpr double kUnchecked = std::numeric_limits<double>::infinity();

/// How one case is checked: relL2 against recurrent(), relL2 against
/// roundedChunkwise(), and (when `inherentFactor` > 0) relL2 against
/// recurrent() relative to that of roundedChunkwise() itself.
struct Checks {
  Bounds recurrent, sameRoundings;
  double inherentFactor;
};

/// f32: the kernel and the oracle see identical inputs; the error is f32
/// rounding in the chunkwise form. Measured <= 4.3e-7 (o and state, C 16 to
/// 128, T up to 1000, 8 seeds each).
constexpr Checks kF32 = {{2e-6, 2e-6}, {2e-6, 2e-6}, 0.0};

/// bf16: the oracle gets the same bf16 inputs; the IR itself rounds the
/// normalised q/k, T, Q K^T, the state copy Sb, Vn and o to bf16 (X to
/// f32), and that alone puts roughly
/// 4e-3 between any exact evaluation of it and recurrent(): "roundings
/// alone" in the printout, and the kernel's error is within 2.2% of it
/// everywhere measured (factor 1.1 asserted). Absolute bounds hold for
/// 33 <= T <= 150 (measured over 16 seeds: o <= 4.3e-3, state <= 4.2e-3
/// against recurrent; <= 1.3e-3 against roundedChunkwise, where the f32
/// kernel and the fp64 emulation occasionally round a value to neighbouring
/// bf16 numbers and the trajectories drift apart over chunks).
constexpr Checks kBF16 = {{5e-3, 5e-3}, {2.5e-3, 2.5e-3}, 1.1};
/// bf16, T = 1: o = scale (q.k) beta v, whose relative error is amplified
/// where q.k cancels (up to 9.8e-3 against recurrent for some seeds, with
/// the kernel equal to roundedChunkwise bit for bit).
constexpr Checks kBF16SingleToken = {
    {kUnchecked, kUnchecked}, {2.5e-3, 2.5e-3}, 1.1};
/// bf16, long sequences: the cancellation in X = V - K Sb (Sb rounded)
/// grows with the state; the rounding alone reaches 4.9e-3 (C = 64, T =
/// 1000; 5.0e-3 with the WY form's rounded W, U - W Sb) and more at C = 128,
/// and the drift against roundedChunkwise 1-3e-3. Only the factor to the
/// inherent error is asserted.
constexpr Checks kBF16Long = {
    {kUnchecked, kUnchecked}, {kUnchecked, kUnchecked}, 1.1};

/// Runs one problem through `kernel`, the oracle's recurrence and
/// roundedChunkwise, prints the three distances and asserts `checks`.
void check(const Kernel *kernel, const Config &c, const RandomSpec &spec,
           const Checks &checks, const std::string &label) {
  ASSERT_NE(kernel, nullptr);
  Precision storage =
      c.dtype == Dtype::BF16 ? Precision::BF16 : Precision::FP32;
  Problem p = randomProblem(spec);
  roundInputs(p, storage);
  p.initialState = roundedTo(p.initialState, Precision::FP32);
  Result want = recurrent(p);
  Result same = roundedChunkwise(p, c.chunk, storage);
  Outputs got = run(*kernel, c.dtype, p);
  double eo = relL2(got.o, want.o), es = relL2(got.finalState, want.finalState);
  double xo = relL2(got.o, same.o), xs = relL2(got.finalState, same.finalState);
  double io = relL2(same.o, want.o),
         is = relL2(same.finalState, want.finalState);
  std::printf("[ measured ] %-44s vs recurrent: o %.2e s %.2e | vs same "
              "roundings: o %.2e s %.2e | roundings alone: o %.2e s %.2e\n",
              label.c_str(), eo, es, xo, xs, io, is);
  EXPECT_LT(eo, checks.recurrent.o) << label << ": o vs recurrent";
  EXPECT_LT(es, checks.recurrent.state) << label << ": state vs recurrent";
  EXPECT_LT(xo, checks.sameRoundings.o) << label << ": o vs same roundings";
  EXPECT_LT(xs, checks.sameRoundings.state)
      << label << ": state vs same roundings";
  if (checks.inherentFactor > 0.0) {
    EXPECT_LE(eo, checks.inherentFactor * io)
        << label << ": o error beyond the IR's own rounding";
    EXPECT_LE(es, checks.inherentFactor * is)
        << label << ": state error beyond the IR's own rounding";
  }
}

std::string shapeLabel(const std::string &what, const Config &c, int64_t B,
                       int64_t T, int64_t H, int64_t HV) {
  return what + " C" + std::to_string(c.chunk) + " dk" + std::to_string(c.dk) +
         " dv" + std::to_string(c.dv) + " bv" +
         std::to_string(std::min(c.blockV, c.dv)) + " B" + std::to_string(B) +
         " T" + std::to_string(T) + " H" + std::to_string(H) + " HV" +
         std::to_string(HV);
}

/// Runs a list of (B, T, H, HV) shapes through the kernel of `c`.
void checkShapes(const Config &c, std::vector<std::array<int64_t, 4>> shapes,
                 const Checks &checks, const std::string &what) {
  const Kernel *kernel = getKernel(c);
  ASSERT_NE(kernel, nullptr);
  uint64_t seed = 1;
  for (auto [B, T, H, HV] : shapes)
    check(kernel, c, specFor(c, B, T, H, HV, seed++), checks,
          shapeLabel(what, c, B, T, H, HV));
}

//===----------------------------------------------------------------------===//
// f32
//===----------------------------------------------------------------------===//

/// Every chunk size, with T = 1, T below, at and not a multiple of C, and
/// grouped value heads.
class CpuLoweringF32Chunk : public ::testing::TestWithParam<int64_t> {};

TEST_P(CpuLoweringF32Chunk, MatchesRecurrence) {
  Config c;
  c.chunk = GetParam();
  int64_t C = c.chunk;
  checkShapes(c,
              {{2, 1, 1, 2},
               {2, 33, 1, 2},
               {1, C, 2, 2},
               {2, 100, 1, 2},
               {1, 3 * C + 5, 1, 2}},
              kF32, "f32");
}

INSTANTIATE_TEST_SUITE_P(Chunks, CpuLoweringF32Chunk,
                         ::testing::Values(16, 32, 64, 128),
                         [](const ::testing::TestParamInfo<int64_t> &info) {
                           return "C" + std::to_string(info.param);
                         });

TEST(CpuLoweringF32, LongSequence) {
  Config c; // C = 64: 16 chunks.
  checkShapes(c, {{1, 1000, 2, 4}}, kF32, "f32 long");
}

TEST(CpuLoweringF32, DkGreaterThanDv) {
  Config c;
  c.dk = 64;
  c.dv = 32;
  c.blockV = 16; // Two value tiles.
  c.chunk = 32;
  checkShapes(c, {{2, 100, 1, 2}, {1, 1, 1, 1}}, kF32, "f32 dk>dv");
}

TEST(CpuLoweringF32, DvGreaterThanDk) {
  Config c;
  c.dk = 32;
  c.dv = 64;
  c.blockV = 32; // Two value tiles.
  checkShapes(c, {{2, 100, 2, 4}, {1, 64, 1, 1}}, kF32, "f32 dv>dk");
}

TEST(CpuLoweringF32, NoL2NormWithInitialState) {
  Config c;
  c.l2norm = false;
  c.initialState = true;
  checkShapes(c, {{2, 100, 1, 2}, {1, 1, 1, 1}}, kF32, "f32 no-l2 h0");
}

TEST(CpuLoweringF32, InitialStateBatch) {
  Config c;
  c.initialState = true;
  c.chunk = 32;
  c.blockV = 16;
  checkShapes(c, {{3, 70, 2, 4}, {2, 1, 1, 2}}, kF32, "f32 h0");
}

TEST(CpuLoweringF32, Varlen) {
  Config c;
  c.varlen = true;
  c.initialState = true;
  c.blockV = 16;
  const Kernel *kernel = getKernel(c);
  // Unequal lengths: 1, a multiple of C, an empty sequence (keeps its initial
  // state), and lengths that end mid-chunk.
  std::vector<std::vector<int64_t>> batches = {{1, 64, 0, 37, 150, 5},
                                               {128, 1}};
  uint64_t seed = 100;
  for (const auto &lens : batches) {
    int64_t total = 0;
    for (int64_t l : lens)
      total += l;
    check(kernel, c, specFor(c, 1, total, 1, 2, seed++, lens), kF32,
          "f32 varlen h0 N" + std::to_string(lens.size()));
  }
}

//===----------------------------------------------------------------------===//
// bf16
//===----------------------------------------------------------------------===//

TEST(CpuLoweringBF16, Basic) {
  Config c;
  c.dtype = Dtype::BF16;
  checkShapes(c, {{2, 100, 1, 2}, {2, 64, 2, 4}}, kBF16, "bf16");
}

TEST(CpuLoweringBF16, SingleToken) {
  Config c;
  c.dtype = Dtype::BF16;
  checkShapes(c, {{3, 1, 1, 2}}, kBF16SingleToken, "bf16 T=1");
}

TEST(CpuLoweringBF16, LongSequence) {
  Config c;
  c.dtype = Dtype::BF16;
  checkShapes(c, {{1, 1000, 1, 2}}, kBF16Long, "bf16 long");
}

TEST(CpuLoweringBF16, ChunkSizes) {
  for (int64_t C : {16, 128}) {
    Config c;
    c.dtype = Dtype::BF16;
    c.chunk = C;
    checkShapes(c, {{2, 33, 1, 2}, {1, 150, 2, 4}}, kBF16, "bf16");
  }
}

TEST(CpuLoweringBF16, HeadDims) {
  Config a;
  a.dtype = Dtype::BF16;
  a.dk = 64;
  a.dv = 32;
  a.blockV = 16;
  a.chunk = 32;
  checkShapes(a, {{2, 100, 1, 2}}, kBF16, "bf16 dk>dv");
  Config b;
  b.dtype = Dtype::BF16;
  b.dk = 32;
  b.dv = 64;
  b.blockV = 32;
  checkShapes(b, {{2, 100, 1, 2}}, kBF16, "bf16 dv>dk");
}

TEST(CpuLoweringBF16, NoL2Norm) {
  Config c;
  c.dtype = Dtype::BF16;
  c.l2norm = false;
  checkShapes(c, {{2, 100, 1, 2}}, kBF16, "bf16 no-l2");
}

TEST(CpuLoweringBF16, VarlenInitialState) {
  Config c;
  c.dtype = Dtype::BF16;
  c.varlen = true;
  c.initialState = true;
  c.blockV = 16;
  std::vector<int64_t> lens = {1, 64, 0, 37, 150, 5};
  check(getKernel(c), c, specFor(c, 1, 257, 1, 2, 200, lens), kBF16,
        "bf16 varlen h0 N6");
}

//===----------------------------------------------------------------------===//
// Hand-written chunk bodies
//===----------------------------------------------------------------------===//

/// A chunk body that is not the one delta-chunk-tile writes: the ops in
/// another order, the scale split through scalar arith ops and two
/// products, two UT transforms with blocks of 8 and 32 (= C) feeding U and
/// W. With `bad`, an arith.addf on tiles the CPU lowering must reject.
std::string customBodySource(const Config &c, bool bad) {
  // dk = 16, dv = 32, C = 32, block_v = 16.
  const char *body = R"(
  %scale = arith.constant 0.25 : f32
  %ot, %st = delta.chunk_loop %qt, %kt, %vt, %bt OPERANDS scale(%scale)
      {tile = #delta.tile<chunk = 32, block_v = 16, warps = 4, stages = 1>,
       use_qk_l2norm} TYPES {
  ^bb0(%qc: tensor<32x16xf32>, %kc: tensor<32x16xf32>, %vc: tensor<32x16xf32>,
       %bc: tensor<32xf32>, %s: tensor<16x16xf32>, %sc: f32):
    %two = arith.constant 2.0 : f32
    %half = arith.divf %sc, %two : f32
    %qk = delta.tile_matmul %qc, %kc {transpose_b}
        : tensor<32x16xf32>, tensor<32x16xf32> -> tensor<32x32xf32>
    %p = delta.tile_mask lower %qk : tensor<32x32xf32>
    %kk0 = delta.tile_matmul %kc, %kc {transpose_b}
        : tensor<32x16xf32>, tensor<32x16xf32> -> tensor<32x32xf32>
    %kk = BADOP
    %m = delta.tile_mask strict_lower %kk : tensor<32x32xf32>
    %a = delta.tile_row_scale %m, %bc : tensor<32x32xf32>, tensor<32xf32>
    %t8 = delta.tile_ut_transform %a, %bc {block = 8 : i64}
        : tensor<32x32xf32>, tensor<32xf32> -> tensor<32x32xf32>
    %u = delta.tile_matmul %t8, %vc
        : tensor<32x32xf32>, tensor<32x16xf32> -> tensor<32x16xf32>
    %t32 = delta.tile_ut_transform %a, %bc {block = 32 : i64}
        : tensor<32x32xf32>, tensor<32xf32> -> tensor<32x32xf32>
    %w = delta.tile_matmul %t32, %kc
        : tensor<32x32xf32>, tensor<32x16xf32> -> tensor<32x16xf32>
    %vn = delta.tile_matmul %w, %s acc(%u : tensor<32x16xf32>) {negate}
        : tensor<32x16xf32>, tensor<16x16xf32> -> tensor<32x16xf32>
    %o1 = delta.tile_matmul %qc, %s alpha(%half)
        : tensor<32x16xf32>, tensor<16x16xf32> -> tensor<32x16xf32>
    %o2 = delta.tile_matmul %qc, %s acc(%o1 : tensor<32x16xf32>) alpha(%half)
        : tensor<32x16xf32>, tensor<16x16xf32> -> tensor<32x16xf32>
    %next = delta.tile_matmul %kc, %vn acc(%s : tensor<16x16xf32>) {transpose_a}
        : tensor<32x16xf32>, tensor<32x16xf32> -> tensor<16x16xf32>
    %oc = delta.tile_matmul %p, %vn acc(%o2 : tensor<32x16xf32>) alpha(%sc)
        : tensor<32x32xf32>, tensor<32x16xf32> -> tensor<32x16xf32>
    delta.chunk_yield %oc, %next : tensor<32x16xf32>, tensor<16x16xf32>
  }
)";
  std::string core = body;
  auto replace = [&](const std::string &from, const std::string &to) {
    core.replace(core.find(from), from.size(), to);
  };
  replace("OPERANDS", optionalOperands(c));
  replace("TYPES", opTypes(c));
  replace("BADOP", bad ? "arith.addf %kk0, %kk0 : tensor<32x32xf32>"
                       : "delta.tile_mask lower %kk0 : tensor<32x32xf32>");
  return wrapRun(c, core);
}

Config customBodyConfig() {
  Config c;
  c.dk = 16;
  c.dv = 32;
  c.chunk = 32;
  c.blockV = 16;
  c.initialState = true;
  c.varlen = true;
  return c;
}

TEST(CpuLoweringCustomBody, ReorderedBodyMatchesRecurrence) {
  Config c = customBodyConfig();
  const Kernel *kernel =
      getKernel(customBodySource(c, /*bad=*/false), /*tile=*/false, 0);
  std::vector<int64_t> lens = {33, 1, 64, 0, 90};
  check(kernel, c, specFor(c, 1, 188, 2, 4, 300, lens), kF32,
        "f32 custom body varlen h0");
}

TEST(CpuLoweringCustomBody, UnsupportedOpIsAnError) {
  Config c = customBodyConfig();
  std::string error;
  std::unique_ptr<Kernel> kernel = Kernel::compile(
      customBodySource(c, /*bad=*/true), /*tile=*/false, 0, error);
  EXPECT_EQ(kernel, nullptr);
  EXPECT_NE(error.find("'arith.addf' op is not supported in a chunk body by "
                       "the CPU lowering"),
            std::string::npos)
      << error;
}

} // namespace
