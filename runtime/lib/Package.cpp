//===- Package.cpp - package loading: target check, JIT, cache, functions -===//

#include "Package.h"

#include "Error.h"

#include <cstdint>
#include <map>

namespace deltajit {

namespace {

/// JIT failures caused by the PTX itself are package errors.
dj_status_t jitStatus(CUresult r) {
  switch (r) {
  case CUDA_ERROR_INVALID_PTX:
  case CUDA_ERROR_UNSUPPORTED_PTX_VERSION:
  case CUDA_ERROR_INVALID_IMAGE:
  case CUDA_ERROR_NO_BINARY_FOR_GPU:
  case CUDA_ERROR_INVALID_SOURCE:
    return DJ_ERROR_PACKAGE;
  case CUDA_ERROR_OUT_OF_MEMORY:
    return DJ_ERROR_OUT_OF_MEMORY;
  default:
    return DJ_ERROR_DRIVER;
  }
}

std::string trimLog(const char *log) {
  std::string s(log);
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == ' ' || s.back() == '\0'))
    s.pop_back();
  return s;
}

} // namespace

std::string jitCompilePtx(const Driver &d, const std::string &ptx,
                          const std::string &name) {
  constexpr size_t kLogSize = 1 << 14;
  std::vector<char> errorLog(kLogSize, '\0'), infoLog(kLogSize, '\0');
  CUjit_option options[] = {
      CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
      CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
      CU_JIT_OPTIMIZATION_LEVEL};
  void *values[] = {
      errorLog.data(), reinterpret_cast<void *>(uintptr_t(kLogSize - 1)),
      infoLog.data(), reinterpret_cast<void *>(uintptr_t(kLogSize - 1)),
      reinterpret_cast<void *>(uintptr_t(4))};
  constexpr unsigned numOptions = sizeof(options) / sizeof(options[0]);

  CUlinkState link = nullptr;
  d.check(d.cuLinkCreate_v2(numOptions, options, values, &link),
          "cuLinkCreate");
  struct Destroy {
    const Driver &d;
    CUlinkState link;
    ~Destroy() { d.cuLinkDestroy(link); }
  } destroy{d, link};

  auto jitFail = [&](CUresult r, const char *call) {
    std::string log = trimLog(errorLog.data());
    fail(jitStatus(r), "JIT compilation of '", name, "' failed: ", call, ": ",
         d.describe(r),
         log.empty() ? std::string() : "\nJIT error log:\n" + log);
  };
  // PTX input must be NUL-terminated.
  std::string text = ptx;
  CUresult r =
      d.cuLinkAddData_v2(link, CU_JIT_INPUT_PTX, text.data(), text.size() + 1,
                         name.c_str(), 0, nullptr, nullptr);
  if (r != CUDA_SUCCESS)
    jitFail(r, "cuLinkAddData");
  void *cubin = nullptr;
  size_t cubinSize = 0;
  r = d.cuLinkComplete(link, &cubin, &cubinSize);
  if (r != CUDA_SUCCESS)
    jitFail(r, "cuLinkComplete");
  return std::string(static_cast<const char *>(cubin), cubinSize);
}

std::unique_ptr<Package> Package::load(std::shared_ptr<Context> ctx,
                                       const std::string &dir) {
  std::unique_ptr<Package> pkg(new Package());
  pkg->ctx_ = std::move(ctx);
  pkg->dir_ = dir;
  try {
    pkg->loadAll();
  } catch (...) {
    pkg->unload();
    throw;
  }
  return pkg;
}

void Package::loadAll() {
  Package *pkg = this;
  const std::string &dir = dir_;
  PackageContents contents = readPackage(dir);
  pkg->manifest_ = std::move(contents.manifest);
  const Manifest &m = pkg->manifest_;
  const dj_device_info_t &info = pkg->ctx_->info();
  std::string manifestPath = dir + "/manifest.json";
  checkTargetCompatible(m.target, info.compute_capability_major,
                        info.compute_capability_minor, manifestPath);

  const Driver &d = pkg->ctx_->driver();
  std::map<std::string, CUfunction> functions;
  for (size_t i = 0; i < m.modules.size(); ++i) {
    CUmodule mod = pkg->loadModule(i, contents.moduleTexts[i]);
    for (const std::string &k : m.modules[i].kernels) {
      CUfunction fn = nullptr;
      CUresult r = d.cuModuleGetFunction(&fn, mod, k.c_str());
      if (r == CUDA_ERROR_NOT_FOUND)
        fail(DJ_ERROR_PACKAGE, manifestPath, ": modules[", i,
             "].kernels: kernel '", k, "' is not defined in '",
             m.modules[i].file, "' (no such .entry)");
      d.check(r, concat("cuModuleGetFunction('", k, "')"));
      functions[k] = fn;
    }
  }

  // Resolve each launch's function; raise the dynamic shared memory limit
  // of kernels that need more than the default 48 KiB; check block sizes.
  std::map<CUfunction, unsigned> maxShared;
  for (const EntrySpec &e : m.entries) {
    std::vector<CUfunction> fns;
    for (const LaunchSpec &l : e.launches) {
      CUfunction fn = functions.at(l.kernel);
      fns.push_back(fn);
      unsigned &s = maxShared[fn];
      if (l.sharedBytes > s)
        s = l.sharedBytes;
      if (l.sharedBytes > info.max_shared_memory_per_block_optin)
        fail(DJ_ERROR_PACKAGE, manifestPath, ": ", l.path,
             ".shared_bytes: ", l.sharedBytes,
             " bytes of dynamic shared memory, but the device allows at most ",
             info.max_shared_memory_per_block_optin);
      int maxThreads = 0;
      d.check(d.cuFuncGetAttribute(&maxThreads,
                                   CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, fn),
              concat("cuFuncGetAttribute('", l.kernel, "')"));
      unsigned threads = l.block[0] * l.block[1] * l.block[2];
      if (threads > unsigned(maxThreads))
        fail(DJ_ERROR_PACKAGE, manifestPath, ": ", l.path, ".block: ", threads,
             " threads per block, but kernel '", l.kernel, "' allows at most ",
             maxThreads, " on this device");
    }
    pkg->functions_.push_back(std::move(fns));
  }
  for (const auto &[fn, bytes] : maxShared) {
    if (bytes <= 48 * 1024)
      continue;
    d.check(d.cuFuncSetAttribute(
                fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                static_cast<int>(bytes)),
            concat("cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES, ", bytes,
                   ")"));
    // Ask for the largest shared-memory carveout: without it the driver may
    // pick one that fits a single program per SM where two would fit.
    d.check(d.cuFuncSetAttribute(
                fn, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT,
                CU_SHAREDMEM_CARVEOUT_MAX_SHARED),
            "cuFuncSetAttribute(PREFERRED_SHARED_MEMORY_CARVEOUT, max)");
  }
}

CUmodule Package::loadModule(size_t index, const std::string &ptx) {
  const Driver &d = ctx_->driver();
  const dj_device_info_t &info = ctx_->info();
  const std::string &file = manifest_.modules[index].file;
  KernelCache &cache = ctx_->cache();
  Sha256::Digest key = cubinCacheKey(
      ptx, info.compute_capability_major, info.compute_capability_minor,
      info.driver_version, runtimeVersion(), kJitOptions);

  CUmodule mod = nullptr;
  std::string cubin;
  switch (cache.load(key, &cubin)) {
  case KernelCache::Lookup::Hit:
    if (d.cuModuleLoadDataEx(&mod, cubin.data(), 0, nullptr, nullptr) ==
        CUDA_SUCCESS) {
      ++modulesFromCache;
      modules_.push_back(mod);
      return mod;
    }
    // The driver rejected a well-formed entry: drop it and rebuild.
    cache.remove(key);
    ++cacheEntriesRebuilt;
    mod = nullptr;
    break;
  case KernelCache::Lookup::Corrupt:
    ++cacheEntriesRebuilt;
    break;
  case KernelCache::Lookup::Miss:
    break;
  }

  cubin = jitCompilePtx(d, ptx, file);
  ++modulesCompiled;
  CUresult r = d.cuModuleLoadDataEx(&mod, cubin.data(), 0, nullptr, nullptr);
  if (r != CUDA_SUCCESS)
    fail(jitStatus(r), "loading the cubin compiled from '", dir_, "/", file,
         "' failed: cuModuleLoadDataEx: ", d.describe(r));
  modules_.push_back(mod);
  cache.store(key, cubin);
  return mod;
}

int Package::residentPerSM(size_t entry, size_t launch) const {
  auto [it, added] = residentPerSM_.try_emplace({entry, launch}, 0);
  if (added) {
    const LaunchSpec &l = manifest_.entries.at(entry).launches.at(launch);
    if (ctx_->driver().cuOccupancyMaxActiveBlocksPerMultiprocessor(
            &it->second, function(entry, launch),
            static_cast<int>(l.block[0] * l.block[1] * l.block[2]),
            l.sharedBytes) != CUDA_SUCCESS)
      it->second = 0;
  }
  return it->second;
}

void Package::unload() noexcept {
  for (CUmodule m : modules_)
    ctx_->driver().cuModuleUnload(m);
  modules_.clear();
  functions_.clear();
  residentPerSM_.clear();
}

Package::~Package() = default;

} // namespace deltajit
