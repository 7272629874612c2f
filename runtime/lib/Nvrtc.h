//===- Nvrtc.h - NVRTC (CUDA C++ -> PTX/cubin), loaded with dlopen --------===//
//
// The runtime never links NVRTC: it dlopen()s $DELTAJIT_NVRTC when set (and
// only that), else the first of "libnvrtc.so.13", "libnvrtc.so.12",
// "libnvrtc.so" that the loader finds, else $CUDA_HOME/lib64/libnvrtc.so.13
// and /usr/local/cuda/lib64/libnvrtc.so.13. <nvrtc.h> is included for types
// only. Nothing here touches the CUDA driver, so compiling works on a
// machine without a GPU (the unit tests compile every glue kernel).
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_NVRTC_H
#define DELTAJIT_RUNTIME_NVRTC_H

#include <nvrtc.h>

#include <string>
#include <vector>

namespace deltajit {

// X(symbol): every NVRTC entry point the runtime uses.
#define DELTAJIT_NVRTC_FUNCTIONS(X)                                            \
  X(nvrtcGetErrorString)                                                       \
  X(nvrtcVersion)                                                              \
  X(nvrtcGetNumSupportedArchs)                                                 \
  X(nvrtcGetSupportedArchs)                                                    \
  X(nvrtcCreateProgram)                                                        \
  X(nvrtcDestroyProgram)                                                       \
  X(nvrtcCompileProgram)                                                       \
  X(nvrtcGetPTXSize)                                                           \
  X(nvrtcGetPTX)                                                               \
  X(nvrtcGetCUBINSize)                                                         \
  X(nvrtcGetCUBIN)                                                             \
  X(nvrtcGetProgramLogSize)                                                    \
  X(nvrtcGetProgramLog)

/// The loaded NVRTC library: one function pointer per entry point.
struct Nvrtc {
#define DELTAJIT_DECLARE(name) decltype(&::name) name = nullptr;
  DELTAJIT_NVRTC_FUNCTIONS(DELTAJIT_DECLARE)
#undef DELTAJIT_DECLARE

  std::string path; ///< What dlopen succeeded with.
  int major = 0;    ///< nvrtcVersion()
  int minor = 0;
  std::vector<int> archs; ///< nvrtcGetSupportedArchs(), e.g. 75, 80, 90

  /// The process-wide NVRTC for the current $DELTAJIT_NVRTC (loaded on first
  /// use; attempts are remembered per value of the variable). Throws
  /// Error(DJ_ERROR_NO_DRIVER) naming every path tried when no library
  /// loads or a loaded one lacks an entry point.
  static const Nvrtc &get();

  /// "13.0"
  std::string versionString() const;
  /// True when `arch` (e.g. 90 for sm_90) is a real target of this NVRTC.
  bool supportsArch(int arch) const;
};

/// What compileCuda produces.
enum class NvrtcOutput { Ptx, Cubin };

/// Compiles CUDA C++ `source` (named `name` in diagnostics) with `options`
/// (e.g. "--gpu-architecture=sm_90a") and returns the PTX text (without a
/// trailing NUL) or the cubin bytes. The compile log (warnings included) is
/// stored in `*log` when log != nullptr. Throws Error(DJ_ERROR_INTERNAL)
/// with the full log when compilation fails, Error(DJ_ERROR_NO_DRIVER) when
/// NVRTC is missing.
std::string compileCuda(const std::string &source, const std::string &name,
                        const std::vector<std::string> &options,
                        std::string *log = nullptr,
                        NvrtcOutput output = NvrtcOutput::Ptx);

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_NVRTC_H
