//===- Blas.cpp - cuBLASLt (dlopen'ed) GEMMs for delta.linear -------------===//
//
// cuBLASLt is loaded at run time like the driver: <cublasLt.h> provides the
// types, the entry points come from dlsym. A row-major GEMM
// y[M, N] = x[M, K] w[N, K]^T is the column-major
// y^T[N, M] = op_T(w viewed as col-major [K, N]) * (x viewed as col-major
// [K, M]), i.e. m = N, n = M, k = K, transa = T, transb = N.
//
//===----------------------------------------------------------------------===//

#include "Blas.h"

#include "Context.h"
#include "Error.h"

#include <cublasLt.h>
#include <dlfcn.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace deltajit {

namespace {

// X(symbol): the cuBLASLt entry points used, by exported name.
#define DELTAJIT_CUBLASLT_FUNCTIONS(X)                                         \
  X(cublasLtGetVersion)                                                        \
  X(cublasLtCreate)                                                            \
  X(cublasLtDestroy)                                                           \
  X(cublasLtMatmulDescCreate)                                                  \
  X(cublasLtMatmulDescDestroy)                                                 \
  X(cublasLtMatmulDescSetAttribute)                                            \
  X(cublasLtMatrixLayoutCreate)                                                \
  X(cublasLtMatrixLayoutDestroy)                                               \
  X(cublasLtMatmulPreferenceCreate)                                            \
  X(cublasLtMatmulPreferenceSetAttribute)                                      \
  X(cublasLtMatmulPreferenceDestroy)                                           \
  X(cublasLtMatmulAlgoGetHeuristic)                                            \
  X(cublasLtMatmul)

/// The loaded library: one function pointer per entry point.
struct CublasLt {
#define DELTAJIT_DECLARE(name) decltype(&::name) name = nullptr;
  DELTAJIT_CUBLASLT_FUNCTIONS(DELTAJIT_DECLARE)
#undef DELTAJIT_DECLARE
  /// Optional (only for messages).
  decltype(&::cublasLtGetStatusName) getStatusName = nullptr;
  std::string path;
  size_t version = 0;

  std::string describe(cublasStatus_t s) const {
    const char *name = getStatusName ? getStatusName(s) : nullptr;
    std::string text = name ? name : "cublasStatus_t " + std::to_string(int(s));
    return text;
  }
  void check(cublasStatus_t s, const std::string &call) const {
    if (s != CUBLAS_STATUS_SUCCESS)
      fail(DJ_ERROR_INTERNAL, "cuBLASLt ", call, " failed: ", describe(s), " (",
           path, ")");
  }
};

/// The candidates, in order: $DELTAJIT_CUBLASLT alone when set; else the
/// sonames on the loader path, then $CUDA_HOME/lib64 and
/// /usr/local/cuda/lib64.
std::vector<std::string> candidatePaths() {
  const char *env = std::getenv("DELTAJIT_CUBLASLT");
  if (env && *env)
    return {env};
  std::vector<std::string> paths = {"libcublasLt.so.13", "libcublasLt.so.12"};
  std::vector<std::string> dirs;
  if (const char *home = std::getenv("CUDA_HOME"); home && *home)
    dirs.push_back(std::string(home) + "/lib64");
  dirs.push_back("/usr/local/cuda/lib64");
  for (const std::string &dir : dirs)
    for (const char *so : {"libcublasLt.so.13", "libcublasLt.so.12"})
      paths.push_back(dir + "/" + so);
  return paths;
}

/// Tries one path; returns the library or fills `why`.
std::unique_ptr<CublasLt> tryLoad(const std::string &path, std::string &why) {
  dlerror();
  void *handle = dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (!handle) {
    const char *e = dlerror();
    why = e ? e : "dlopen failed";
    return nullptr;
  }
  auto lib = std::make_unique<CublasLt>();
  lib->path = path;
#define DELTAJIT_RESOLVE(name)                                                 \
  lib->name = reinterpret_cast<decltype(lib->name)>(dlsym(handle, #name));     \
  if (!lib->name) {                                                            \
    why = "not cuBLASLt: no symbol '" #name "'";                               \
    dlclose(handle);                                                           \
    return nullptr;                                                            \
  }
  DELTAJIT_CUBLASLT_FUNCTIONS(DELTAJIT_RESOLVE)
#undef DELTAJIT_RESOLVE
  lib->getStatusName = reinterpret_cast<decltype(lib->getStatusName)>(
      dlsym(handle, "cublasLtGetStatusName"));
  lib->version = lib->cublasLtGetVersion();
  return lib;
}

struct LoadResult {
  std::unique_ptr<CublasLt> lib;
  std::string message;
};

/// The process-wide library for the current candidate list (attempts are
/// remembered per list; a loaded library is never closed).
const CublasLt &library() {
  static std::mutex mu;
  static std::map<std::vector<std::string>, LoadResult> attempts;
  std::vector<std::string> paths = candidatePaths();
  std::lock_guard<std::mutex> lock(mu);
  auto it = attempts.find(paths);
  if (it == attempts.end()) {
    LoadResult result;
    std::string tried;
    for (const std::string &path : paths) {
      std::string why;
      result.lib = tryLoad(path, why);
      if (result.lib)
        break;
      tried += concat("\n  ", path, ": ", why);
    }
    if (!result.lib)
      result.message = concat(
          "cannot load cuBLASLt (needed for the model's projections); tried:",
          tried,
          "\n(install the CUDA toolkit's cuBLAS or set DELTAJIT_CUBLASLT to "
          "the path of libcublasLt.so)");
    it = attempts.emplace(paths, std::move(result)).first;
  }
  if (!it->second.lib)
    throw Error(DJ_ERROR_NO_DRIVER, it->second.message);
  return *it->second.lib;
}

/// The largest power of two (at most 256) dividing a device address.
uint32_t alignmentOf(CUdeviceptr p) {
  uint32_t a = 256;
  while (a > 1 && (p % a) != 0)
    a /= 2;
  return a;
}

struct PlanKey {
  int dtype;
  int64_t M, N, K;
  bool accumulate;
  uint32_t alignX, alignW, alignY;
  bool operator==(const PlanKey &o) const {
    return dtype == o.dtype && M == o.M && N == o.N && K == o.K &&
           accumulate == o.accumulate && alignX == o.alignX &&
           alignW == o.alignW && alignY == o.alignY;
  }
};

struct PlanKeyHash {
  size_t operator()(const PlanKey &k) const {
    uint64_t h = 0xCBF29CE484222325ull;
    auto mix = [&](uint64_t v) {
      h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    };
    mix(uint64_t(k.dtype));
    mix(uint64_t(k.M));
    mix(uint64_t(k.N));
    mix(uint64_t(k.K));
    mix(uint64_t(k.accumulate));
    mix(uint64_t(k.alignX) | uint64_t(k.alignW) << 16 |
        uint64_t(k.alignY) << 32);
    return size_t(h);
  }
};

/// The descriptors and the chosen algorithm of one GEMM shape.
struct Plan {
  const CublasLt *lib = nullptr;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspaceSize = 0;

  Plan() = default;
  Plan(const Plan &) = delete;
  Plan &operator=(const Plan &) = delete;
  ~Plan() {
    if (c)
      lib->cublasLtMatrixLayoutDestroy(c);
    if (b)
      lib->cublasLtMatrixLayoutDestroy(b);
    if (a)
      lib->cublasLtMatrixLayoutDestroy(a);
    if (desc)
      lib->cublasLtMatmulDescDestroy(desc);
  }
};

/// Destroys a preference descriptor on scope exit.
struct PreferenceGuard {
  const CublasLt &lib;
  cublasLtMatmulPreference_t pref = nullptr;
  ~PreferenceGuard() {
    if (pref)
      lib.cublasLtMatmulPreferenceDestroy(pref);
  }
};

constexpr size_t kWorkspaceBytes = size_t(32) << 20; // Hopper's recommendation

} // namespace

std::string loadCublasLt() { return library().path; }

struct Blas::Impl {
  const CublasLt *lib = nullptr;
  cublasLtHandle_t handle = nullptr;
  std::mutex mu; ///< guards plans and workspaces
  std::unordered_map<PlanKey, std::unique_ptr<Plan>, PlanKeyHash> plans;
  /// The preallocated workspace, handed to the first stream used.
  CUdeviceptr primary = 0;
  bool primaryTaken = false;
  std::unordered_map<CUstream, CUdeviceptr> workspaces;
  std::vector<CUdeviceptr> owned; ///< every workspace allocated

  const Plan &plan(const PlanKey &key);
};

const Plan &Blas::Impl::plan(const PlanKey &key) {
  auto it = plans.find(key);
  if (it != plans.end())
    return *it->second;
  auto p = std::make_unique<Plan>();
  p->lib = lib;
  cudaDataType_t type = key.dtype == DJ_DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_16F;
  lib->check(
      lib->cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F),
      "cublasLtMatmulDescCreate");
  cublasOperation_t transA = CUBLAS_OP_T, transB = CUBLAS_OP_N;
  lib->check(lib->cublasLtMatmulDescSetAttribute(
                 p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &transA, sizeof(transA)),
             "cublasLtMatmulDescSetAttribute(TRANSA)");
  lib->check(lib->cublasLtMatmulDescSetAttribute(
                 p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &transB, sizeof(transB)),
             "cublasLtMatmulDescSetAttribute(TRANSB)");
  // A: w as column-major [K, N] (ld K), used transposed; B: x as
  // column-major [K, M] (ld K); C = D: y as column-major [N, M] (ld N).
  lib->check(lib->cublasLtMatrixLayoutCreate(&p->a, type, uint64_t(key.K),
                                             uint64_t(key.N), key.K),
             "cublasLtMatrixLayoutCreate(w)");
  lib->check(lib->cublasLtMatrixLayoutCreate(&p->b, type, uint64_t(key.K),
                                             uint64_t(key.M), key.K),
             "cublasLtMatrixLayoutCreate(x)");
  lib->check(lib->cublasLtMatrixLayoutCreate(&p->c, type, uint64_t(key.N),
                                             uint64_t(key.M), key.N),
             "cublasLtMatrixLayoutCreate(y)");

  PreferenceGuard pref{*lib};
  lib->check(lib->cublasLtMatmulPreferenceCreate(&pref.pref),
             "cublasLtMatmulPreferenceCreate");
  uint64_t maxWorkspace = kWorkspaceBytes;
  lib->check(lib->cublasLtMatmulPreferenceSetAttribute(
                 pref.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                 &maxWorkspace, sizeof(maxWorkspace)),
             "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
  struct {
    cublasLtMatmulPreferenceAttributes_t attr;
    uint32_t bytes;
    const char *what;
  } alignments[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.alignW, "A"},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.alignX, "B"},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.alignY, "C"},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.alignY, "D"}};
  for (const auto &a : alignments)
    lib->check(lib->cublasLtMatmulPreferenceSetAttribute(
                   pref.pref, a.attr, &a.bytes, sizeof(a.bytes)),
               concat("cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_",
                      a.what, "_BYTES)"));

  cublasLtMatmulHeuristicResult_t result{};
  int count = 0;
  lib->check(lib->cublasLtMatmulAlgoGetHeuristic(handle, p->desc, p->a, p->b,
                                                 p->c, p->c, pref.pref, 1,
                                                 &result, &count),
             concat("cublasLtMatmulAlgoGetHeuristic(M=", key.M, ", N=", key.N,
                    ", K=", key.K, ")"));
  if (count < 1 || result.state != CUBLAS_STATUS_SUCCESS)
    fail(DJ_ERROR_INTERNAL,
         "cuBLASLt cublasLtMatmulAlgoGetHeuristic found no algorithm for the "
         "GEMM M=",
         key.M, ", N=", key.N, ", K=", key.K,
         key.dtype == DJ_DTYPE_BF16 ? " (bf16)" : " (fp16)", ": ",
         count < 1 ? std::string("none returned")
                   : lib->describe(result.state));
  p->algo = result.algo;
  p->workspaceSize = result.workspaceSize;
  const Plan &ref = *p;
  plans.emplace(key, std::move(p));
  return ref;
}

Blas::Blas(Context &ctx) : ctx_(ctx), impl_(std::make_unique<Impl>()) {
  impl_->lib = &library();
  const CublasLt &lib = *impl_->lib;
  const Driver &d = ctx.driver();
  d.check(d.cuCtxPushCurrent_v2(ctx.cuContext()), "cuCtxPushCurrent");
  try {
    lib.check(lib.cublasLtCreate(&impl_->handle), "cublasLtCreate");
    CUresult r = d.cuMemAlloc_v2(&impl_->primary, kWorkspaceBytes);
    if (r != CUDA_SUCCESS) {
      impl_->primary = 0;
      d.check(r, concat("cuMemAlloc(", kWorkspaceBytes,
                        " bytes) for the cuBLASLt workspace"));
    }
    impl_->owned.push_back(impl_->primary);
  } catch (...) {
    if (impl_->handle)
      lib.cublasLtDestroy(impl_->handle);
    CUcontext popped;
    d.cuCtxPopCurrent_v2(&popped);
    throw;
  }
  CUcontext popped;
  d.cuCtxPopCurrent_v2(&popped);
}

Blas::~Blas() {
  const Driver &d = ctx_.driver();
  bool pushed = d.cuCtxPushCurrent_v2(ctx_.cuContext()) == CUDA_SUCCESS;
  impl_->plans.clear();
  if (pushed) {
    // cuMemFree waits for work still using the buffers.
    for (CUdeviceptr p : impl_->owned)
      d.cuMemFree_v2(p);
  }
  if (impl_->handle)
    impl_->lib->cublasLtDestroy(impl_->handle);
  if (pushed) {
    CUcontext popped;
    d.cuCtxPopCurrent_v2(&popped);
  }
}

const std::string &Blas::libraryPath() const { return impl_->lib->path; }

void Blas::linear(CUstream stream, dj_dtype_t dtype, CUdeviceptr x,
                  CUdeviceptr w, CUdeviceptr y, int64_t M, int64_t N, int64_t K,
                  bool accumulate) {
  int type = rawEnum(dtype);
  if (type != DJ_DTYPE_BF16 && type != DJ_DTYPE_FP16)
    fail(DJ_ERROR_INVALID_ARGUMENT, "linear: dtype ", type,
         " is not bf16 or fp16");
  if (M < 0 || N <= 0 || K <= 0)
    fail(DJ_ERROR_INVALID_ARGUMENT, "linear: bad sizes M=", M, ", N=", N,
         ", K=", K, " (need M >= 0, N >= 1, K >= 1)");
  constexpr int64_t kMax = int64_t(1) << 31; // per-dimension sanity bound
  if (M >= kMax || N >= kMax || K >= kMax)
    fail(DJ_ERROR_INVALID_ARGUMENT, "linear: sizes M=", M, ", N=", N, ", K=", K,
         " are too large (each must be < 2^31)");
  if (M == 0)
    return;
  if (!x || !w || !y) {
    const char *which = !x ? "x" : !w ? "w" : "y";
    fail(DJ_ERROR_INVALID_ARGUMENT, "linear: null ", which, " pointer (M=", M,
         ", N=", N, ", K=", K, ")");
  }

  const CublasLt &lib = *impl_->lib;
  uint32_t ax = alignmentOf(x), aw = alignmentOf(w), ay = alignmentOf(y);
  PlanKey key{type, M, N, K, accumulate, ax, aw, ay};
  const Plan *p;
  CUdeviceptr workspace;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    p = &impl_->plan(key);
    auto it = impl_->workspaces.find(stream);
    if (it != impl_->workspaces.end()) {
      workspace = it->second;
    } else if (!impl_->primaryTaken) {
      impl_->primaryTaken = true;
      workspace = impl_->primary;
      impl_->workspaces.emplace(stream, workspace);
    } else {
      const Driver &d = ctx_.driver();
      workspace = 0;
      CUresult r = d.cuMemAlloc_v2(&workspace, kWorkspaceBytes);
      if (r != CUDA_SUCCESS)
        d.check(r, concat("cuMemAlloc(", kWorkspaceBytes,
                          " bytes) for a cuBLASLt workspace of a new stream"));
      impl_->owned.push_back(workspace);
      impl_->workspaces.emplace(stream, workspace);
    }
  }
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  lib.check(lib.cublasLtMatmul(impl_->handle, p->desc, &alpha,
                               reinterpret_cast<const void *>(w), p->a,
                               reinterpret_cast<const void *>(x), p->b, &beta,
                               reinterpret_cast<const void *>(y), p->c,
                               reinterpret_cast<void *>(y), p->c, &p->algo,
                               reinterpret_cast<void *>(workspace),
                               kWorkspaceBytes, stream),
            concat("cublasLtMatmul(M=", M, ", N=", N, ", K=", K,
                   accumulate ? ", accumulate" : "", ")"));
}

} // namespace deltajit
