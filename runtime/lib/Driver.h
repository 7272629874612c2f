//===- Driver.h - the CUDA driver API, loaded with dlopen at run time -----===//
//
// The runtime never links libcuda: it dlopen()s "libcuda.so.1" (or the path
// in $DELTAJIT_CUDA_DRIVER) and resolves the entry points it uses with
// dlsym, under their versioned names (the ones <cuda.h> maps the API names
// to). <cuda.h> is included for types only.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_DRIVER_H
#define DELTAJIT_RUNTIME_DRIVER_H

#include <cuda.h>

#include <string>

namespace deltajit {

// X(symbol): every driver entry point the runtime uses, by exported name.
#define DELTAJIT_DRIVER_FUNCTIONS(X)                                           \
  X(cuInit)                                                                    \
  X(cuDriverGetVersion)                                                        \
  X(cuGetErrorName)                                                            \
  X(cuGetErrorString)                                                          \
  X(cuDeviceGetCount)                                                          \
  X(cuDeviceGet)                                                               \
  X(cuDeviceGetName)                                                           \
  X(cuDeviceGetAttribute)                                                      \
  X(cuDeviceTotalMem_v2)                                                       \
  X(cuDevicePrimaryCtxRetain)                                                  \
  X(cuDevicePrimaryCtxRelease_v2)                                              \
  X(cuCtxPushCurrent_v2)                                                       \
  X(cuCtxPopCurrent_v2)                                                        \
  X(cuCtxSynchronize)                                                          \
  X(cuMemAlloc_v2)                                                             \
  X(cuMemFree_v2)                                                              \
  X(cuMemcpyHtoD_v2)                                                           \
  X(cuMemcpyDtoH_v2)                                                           \
  X(cuMemcpyHtoDAsync_v2)                                                      \
  X(cuMemcpyDtoDAsync_v2)                                                      \
  X(cuMemsetD32Async)                                                          \
  X(cuLinkCreate_v2)                                                           \
  X(cuLinkAddData_v2)                                                          \
  X(cuLinkComplete)                                                            \
  X(cuLinkDestroy)                                                             \
  X(cuModuleLoadDataEx)                                                        \
  X(cuModuleUnload)                                                            \
  X(cuModuleGetFunction)                                                       \
  X(cuFuncGetAttribute)                                                        \
  X(cuFuncSetAttribute)                                                        \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessor)                               \
  X(cuLaunchKernel)                                                            \
  X(cuLaunchKernelEx)                                                          \
  X(cuStreamSynchronize)                                                       \
  X(cuEventCreate)                                                             \
  X(cuEventDestroy_v2)                                                         \
  X(cuEventRecord)                                                             \
  X(cuEventSynchronize)                                                        \
  X(cuEventElapsedTime_v2)                                                     \
  X(cuStreamCreate)                                                            \
  X(cuStreamDestroy_v2)                                                        \
  X(cuStreamBeginCapture_v2)                                                   \
  X(cuStreamEndCapture)                                                        \
  X(cuGraphInstantiateWithFlags)                                               \
  X(cuGraphLaunch)                                                             \
  X(cuGraphExecDestroy)                                                        \
  X(cuGraphDestroy)                                                            \
  X(cuMemcpyDtoHAsync_v2)

/// The loaded driver: one function pointer per entry point.
struct Driver {
#define DELTAJIT_DECLARE(name) decltype(&::name) name = nullptr;
  DELTAJIT_DRIVER_FUNCTIONS(DELTAJIT_DECLARE)
#undef DELTAJIT_DECLARE

  std::string path; ///< What was passed to dlopen.
  int version = 0;  ///< cuDriverGetVersion()

  /// Returns the process-wide driver for $DELTAJIT_CUDA_DRIVER or
  /// "libcuda.so.1", loading and initializing it (cuInit) on first use.
  /// Throws Error: DJ_ERROR_NO_DRIVER (library missing, symbols missing, stub
  /// library), DJ_ERROR_NO_DEVICE (cuInit: no device), DJ_ERROR_DRIVER.
  static const Driver &get();

  /// "CUDA_ERROR_X (description)" for a CUresult.
  std::string describe(CUresult r) const;

  /// Throws Error (DJ_ERROR_DRIVER, or DJ_ERROR_OUT_OF_MEMORY for
  /// CUDA_ERROR_OUT_OF_MEMORY) naming `call` when r != CUDA_SUCCESS.
  void check(CUresult r, const std::string &call) const;
};

/// The driver library path the next context will use.
std::string driverLibraryPath();

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_DRIVER_H
