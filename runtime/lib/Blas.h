//===- Blas.h - plain projections through cuBLASLt (dlopen'ed) ------------===//
//
// The model graph's delta.linear ops are plain GEMMs; they go to cuBLASLt,
// loaded at run time ($DELTAJIT_CUBLASLT, else libcublasLt.so.13 / .12 on
// the loader path, else under $CUDA_HOME/lib64 and /usr/local/cuda/lib64),
// so the runtime still builds and runs its error paths without it.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_BLAS_H
#define DELTAJIT_RUNTIME_BLAS_H

#include "deltajit/deltajit.h"

#include <cuda.h>

#include <cstdint>
#include <memory>
#include <string>

namespace deltajit {

class Context;

/// Loads cuBLASLt (process-wide, once per candidate list; the library stays
/// loaded) without needing a GPU, and returns the path that was loaded.
/// Throws Error(DJ_ERROR_NO_DRIVER) naming every path tried and why each
/// failed (missing, or not cuBLASLt: a symbol is missing).
std::string loadCublasLt();

class Blas {
public:
  /// Loads cuBLASLt and creates a handle. Throws Error(DJ_ERROR_NO_DRIVER)
  /// naming the paths tried when the library is missing.
  explicit Blas(Context &ctx);
  ~Blas();
  Blas(const Blas &) = delete;
  Blas &operator=(const Blas &) = delete;

  /// Row-major y[M, N] = x[M, K] w[N, K]^T (PyTorch's linear; w is the
  /// checkpoint's [out, in]), plus y when accumulate (residual fused in).
  /// dtype is the type of x, w and y (bf16, fp16); f32 accumulation. M == 0
  /// is a no-op. Only queues work on `stream` (capturable in a CUDA graph:
  /// the workspace is preallocated). The caller holds a ContextScope.
  /// The preallocated workspace serves the first stream used; each further
  /// stream gets its own, allocated by its first call (make that call before
  /// capturing a graph on that stream), so GEMMs on concurrent streams never
  /// share one. The algorithm is chosen once per (dtype, M, N, K,
  /// accumulate, pointer alignments) and cached. Throws
  /// Error(DJ_ERROR_INVALID_ARGUMENT) for bad sizes, dtypes or null
  /// pointers, Error(DJ_ERROR_INTERNAL) naming the cuBLASLt call and status
  /// when cuBLASLt fails.
  void linear(CUstream stream, dj_dtype_t dtype, CUdeviceptr x, CUdeviceptr w,
              CUdeviceptr y, int64_t M, int64_t N, int64_t K, bool accumulate);

  /// The library that was loaded.
  const std::string &libraryPath() const;

private:
  struct Impl;
  Context &ctx_;
  std::unique_ptr<Impl> impl_;
};

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_BLAS_H
