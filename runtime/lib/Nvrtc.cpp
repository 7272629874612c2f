//===- Nvrtc.cpp - dlopen/dlsym of NVRTC and compileCuda ------------------===//

#include "Nvrtc.h"

#include "Error.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

namespace deltajit {

namespace {

struct LoadResult {
  std::unique_ptr<Nvrtc> nvrtc;
  std::string message;
};

/// The library names/paths to try, in order, for the current environment.
std::vector<std::string> candidates(bool *fromEnv) {
  const char *env = std::getenv("DELTAJIT_NVRTC");
  if (env && *env) {
    *fromEnv = true;
    return {env};
  }
  *fromEnv = false;
  std::vector<std::string> out = {"libnvrtc.so.13", "libnvrtc.so.12",
                                  "libnvrtc.so"};
  const char *home = std::getenv("CUDA_HOME");
  if (home && *home)
    out.push_back(std::string(home) + "/lib64/libnvrtc.so.13");
  out.push_back("/usr/local/cuda/lib64/libnvrtc.so.13");
  return out;
}

std::unique_ptr<Nvrtc> resolve(void *handle, const std::string &path) {
  auto n = std::make_unique<Nvrtc>();
  n->path = path;
#define DELTAJIT_RESOLVE(name)                                                 \
  n->name = reinterpret_cast<decltype(n->name)>(dlsym(handle, #name));         \
  if (!n->name)                                                                \
    fail(DJ_ERROR_NO_DRIVER, "the NVRTC library '", path,                      \
         "' has no symbol '" #name "' (NVRTC older than 11.2?)");
  DELTAJIT_NVRTC_FUNCTIONS(DELTAJIT_RESOLVE)
#undef DELTAJIT_RESOLVE
  if (n->nvrtcVersion(&n->major, &n->minor) != NVRTC_SUCCESS)
    fail(DJ_ERROR_NO_DRIVER, "nvrtcVersion failed in '", path, "'");
  int count = 0;
  if (n->nvrtcGetNumSupportedArchs(&count) == NVRTC_SUCCESS && count > 0) {
    n->archs.resize(static_cast<size_t>(count));
    if (n->nvrtcGetSupportedArchs(n->archs.data()) != NVRTC_SUCCESS)
      n->archs.clear();
  }
  return n;
}

LoadResult load() {
  LoadResult result;
  bool fromEnv = false;
  std::vector<std::string> paths = candidates(&fromEnv);
  std::string tried;
  for (const std::string &path : paths) {
    dlerror();
    void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char *why = dlerror();
      tried += concat("\n  '", path, "': ", why ? why : "unknown dlopen error");
      continue;
    }
    try {
      result.nvrtc = resolve(handle, path);
      return result;
    } catch (const Error &e) {
      // A broken library: report it, but keep looking (not for
      // $DELTAJIT_NVRTC).
      tried += concat("\n  '", path, "': ", e.what());
      dlclose(handle);
    }
  }
  result.message =
      fromEnv
          ? concat("cannot load NVRTC from $DELTAJIT_NVRTC='", paths.front(),
                   "' (no other path is tried when it is set):", tried)
          : concat("cannot load NVRTC (the CUDA runtime compiler, needed for "
                   "the glue kernels); tried:",
                   tried,
                   "\ninstall the CUDA toolkit's NVRTC (e.g. "
                   "cuda-nvrtc-13-0) or set $DELTAJIT_NVRTC to the path of "
                   "libnvrtc.so");
  return result;
}

} // namespace

const Nvrtc &Nvrtc::get() {
  static std::mutex mu;
  static std::map<std::string, LoadResult> attempts;
  const char *env = std::getenv("DELTAJIT_NVRTC");
  std::string key = env ? env : "";
  std::lock_guard<std::mutex> lock(mu);
  auto it = attempts.find(key);
  if (it == attempts.end())
    it = attempts.emplace(key, load()).first;
  if (!it->second.nvrtc)
    throw Error(DJ_ERROR_NO_DRIVER, it->second.message);
  return *it->second.nvrtc;
}

std::string Nvrtc::versionString() const {
  return std::to_string(major) + "." + std::to_string(minor);
}

bool Nvrtc::supportsArch(int arch) const {
  return std::find(archs.begin(), archs.end(), arch) != archs.end();
}

std::string compileCuda(const std::string &source, const std::string &name,
                        const std::vector<std::string> &options,
                        std::string *log, NvrtcOutput output) {
  const Nvrtc &n = Nvrtc::get();
  auto check = [&](nvrtcResult r, const char *call) {
    if (r != NVRTC_SUCCESS)
      fail(r == NVRTC_ERROR_OUT_OF_MEMORY ? DJ_ERROR_OUT_OF_MEMORY
                                          : DJ_ERROR_INTERNAL,
           "NVRTC ", call, " failed for '", name,
           "': ", n.nvrtcGetErrorString(r));
  };
  nvrtcProgram prog = nullptr;
  check(n.nvrtcCreateProgram(&prog, source.c_str(), name.c_str(), 0, nullptr,
                             nullptr),
        "nvrtcCreateProgram");
  struct Destroy {
    const Nvrtc &n;
    nvrtcProgram &prog;
    ~Destroy() { n.nvrtcDestroyProgram(&prog); }
  } destroy{n, prog};

  std::vector<const char *> argv;
  for (const std::string &o : options)
    argv.push_back(o.c_str());
  nvrtcResult compiled =
      n.nvrtcCompileProgram(prog, static_cast<int>(argv.size()), argv.data());

  std::string text;
  size_t logSize = 0;
  if (n.nvrtcGetProgramLogSize(prog, &logSize) == NVRTC_SUCCESS &&
      logSize > 1) {
    text.resize(logSize);
    if (n.nvrtcGetProgramLog(prog, text.data()) != NVRTC_SUCCESS)
      text.clear();
    while (!text.empty() && (text.back() == '\0' || text.back() == '\n'))
      text.pop_back();
  }
  if (log)
    *log = text;
  if (compiled != NVRTC_SUCCESS) {
    std::string opts;
    for (const std::string &o : options)
      opts += " " + o;
    fail(compiled == NVRTC_ERROR_OUT_OF_MEMORY ? DJ_ERROR_OUT_OF_MEMORY
                                               : DJ_ERROR_INTERNAL,
         "NVRTC ", n.versionString(), " ('", n.path, "') failed to compile '",
         name, "' (", n.nvrtcGetErrorString(compiled), "); options:", opts,
         text.empty() ? std::string("\n(empty log)")
                      : "\ncompile log:\n" + text);
  }

  std::string out;
  size_t size = 0;
  if (output == NvrtcOutput::Ptx) {
    check(n.nvrtcGetPTXSize(prog, &size), "nvrtcGetPTXSize");
    out.resize(size);
    check(n.nvrtcGetPTX(prog, out.data()), "nvrtcGetPTX");
    while (!out.empty() && out.back() == '\0')
      out.pop_back();
  } else {
    check(n.nvrtcGetCUBINSize(prog, &size), "nvrtcGetCUBINSize");
    if (size == 0)
      fail(DJ_ERROR_INTERNAL, "NVRTC produced no cubin for '", name,
           "' (options must name a real architecture, sm_XX, not "
           "compute_XX)");
    out.resize(size);
    check(n.nvrtcGetCUBIN(prog, out.data()), "nvrtcGetCUBIN");
  }
  return out;
}

} // namespace deltajit
