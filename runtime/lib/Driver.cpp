//===- Driver.cpp - dlopen/dlsym of libcuda and driver error reporting ----===//

#include "Driver.h"

#include "Error.h"

#include <dlfcn.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

namespace deltajit {

std::string driverLibraryPath() {
  const char *env = std::getenv("DELTAJIT_CUDA_DRIVER");
  if (env && *env)
    return env;
  return "libcuda.so.1";
}

namespace {

/// A driver load attempt: the driver, or the error it failed with. Attempts
/// are remembered per path (dlclose of libcuda is never done).
struct LoadResult {
  std::unique_ptr<Driver> driver;
  dj_status_t status = DJ_OK;
  std::string message;
};

std::unique_ptr<Driver> load(const std::string &path) {
  dlerror();
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    fail(DJ_ERROR_NO_DRIVER, "cannot load the CUDA driver library '", path,
         "': ", why ? why : "unknown dlopen error",
         " (is an NVIDIA driver installed? set DELTAJIT_CUDA_DRIVER to the "
         "path of libcuda.so.1 to override)");
  }
  auto d = std::make_unique<Driver>();
  d->path = path;
  // Resolve everything first, but report a missing symbol only after cuInit
  // had its say: the stub library must be reported as such.
  std::string missing;
#define DELTAJIT_RESOLVE(name)                                                 \
  d->name = reinterpret_cast<decltype(d->name)>(dlsym(handle, #name));         \
  if (!d->name && missing.empty())                                             \
    missing = #name;
  DELTAJIT_DRIVER_FUNCTIONS(DELTAJIT_RESOLVE)
#undef DELTAJIT_RESOLVE
  if (!d->cuInit)
    fail(DJ_ERROR_NO_DRIVER, "'", path,
         "' is not a CUDA driver library (it has no symbol 'cuInit')");

  CUresult r = d->cuInit(0);
  if (r == CUDA_ERROR_STUB_LIBRARY)
    fail(DJ_ERROR_NO_DRIVER, "the CUDA driver library '", path,
         "' is the stub library from the CUDA toolkit (cuInit returned "
         "CUDA_ERROR_STUB_LIBRARY): no real NVIDIA driver is installed");
  if (r == CUDA_ERROR_NO_DEVICE)
    fail(DJ_ERROR_NO_DEVICE, "no CUDA device: cuInit returned ",
         d->describe(r));
  if (r == CUDA_ERROR_SYSTEM_DRIVER_MISMATCH ||
      r == CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE)
    fail(DJ_ERROR_NO_DRIVER, "the CUDA driver in '", path,
         "' cannot be used: cuInit returned ", d->describe(r));
  d->check(r, "cuInit(0)");
  if (!missing.empty())
    fail(DJ_ERROR_NO_DRIVER, "the CUDA driver library '", path,
         "' has no symbol '", missing, "' (driver too old?)");
  d->check(d->cuDriverGetVersion(&d->version), "cuDriverGetVersion");
  return d;
}

} // namespace

const Driver &Driver::get() {
  static std::mutex mu;
  static std::map<std::string, LoadResult> attempts;
  std::string path = driverLibraryPath();
  std::lock_guard<std::mutex> lock(mu);
  auto it = attempts.find(path);
  if (it == attempts.end()) {
    LoadResult result;
    try {
      result.driver = load(path);
    } catch (const Error &e) {
      result.status = e.status();
      result.message = e.what();
    }
    it = attempts.emplace(path, std::move(result)).first;
  }
  if (!it->second.driver)
    throw Error(it->second.status, it->second.message);
  return *it->second.driver;
}

std::string Driver::describe(CUresult r) const {
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName == nullptr || cuGetErrorName(r, &name) != CUDA_SUCCESS)
    name = nullptr;
  if (cuGetErrorString == nullptr || cuGetErrorString(r, &text) != CUDA_SUCCESS)
    text = nullptr;
  std::string s = name ? name : "CUresult " + std::to_string(int(r));
  if (text)
    s += std::string(" (") + text + ")";
  return s;
}

void Driver::check(CUresult r, const std::string &call) const {
  if (r == CUDA_SUCCESS)
    return;
  fail(r == CUDA_ERROR_OUT_OF_MEMORY ? DJ_ERROR_OUT_OF_MEMORY : DJ_ERROR_DRIVER,
       call, " failed: ", describe(r));
}

} // namespace deltajit
