//===- FakeCudaDriver.cpp - a CUDA driver stand-in for tests without a GPU ===//
//
// Loaded through $DELTAJIT_CUDA_DRIVER, it lets the runtime and its tools
// (delta-tune) run their whole GPU-side control flow on a machine without a
// GPU: one device ("Fake GPU", compute capability 9.0, 132 SMs, driver
// 13000) whose memory is host memory; the "JIT" returns the PTX itself;
// modules know their kernels from the PTX's `.entry` lines. A launch runs
// nothing: it fills every buffer passed as a pointer parameter with zeros,
// or with 1.0f when the kernel's name contains $FAKE_CUDA_CORRUPT (with
// $FAKE_CUDA_NO_WRITES set, it writes nothing: for profiling the runtime's
// host path, e.g. perf on delta-bench); and it advances a virtual clock by
// 1 ms, or 0.5 ms when the name contains $FAKE_CUDA_FAST, which CUDA events
// read. cuLaunchKernelEx with programmatic stream serialization is refused
// for a kernel whose PTX has no griddepcontrol.wait ($FAKE_CUDA_LOG_LAUNCHES:
// name each such launch and its grid on stderr). Occupancy queries answer
// by shared memory and threads alone ($FAKE_CUDA_OCCUPANCY_FAILS: they
// fail). Not thread safe; tests only.
//
//===----------------------------------------------------------------------===//

#include <cuda.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

struct Module {
  std::map<std::string, std::vector<bool>> kernels; ///< name -> u64 params
  std::map<std::string, bool> waits; ///< name -> has griddepcontrol.wait
};
struct Function {
  std::string name;
  std::vector<bool> isU64;
  bool waits = false;
};

std::map<uintptr_t, size_t> &allocations() {
  static std::map<uintptr_t, size_t> a;
  return a;
}
double &clockMs() {
  static double t = 0;
  return t;
}

/// The kernels of a PTX text and which of their parameters are 64-bit.
void parsePtx(const std::string &ptx, Module &m) {
  size_t pos = 0;
  while ((pos = ptx.find(".entry ", pos)) != std::string::npos) {
    pos += 7;
    size_t open = ptx.find('(', pos), close = ptx.find(')', pos);
    if (open == std::string::npos || close == std::string::npos)
      return;
    std::string name = ptx.substr(pos, open - pos);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\n'))
      name.pop_back();
    std::vector<bool> params;
    std::string list = ptx.substr(open, close - open);
    size_t p = 0;
    while ((p = list.find(".param", p)) != std::string::npos) {
      p += 6;
      size_t type = list.find('.', p);
      params.push_back(list.compare(type, 4, ".u64") == 0 ||
                       list.compare(type, 4, ".b64") == 0 ||
                       list.compare(type, 4, ".s64") == 0);
    }
    m.kernels[name] = params;
    size_t next = ptx.find(".entry ", close);
    m.waits[name] =
        ptx.substr(close,
                   next == std::string::npos ? std::string::npos : next - close)
            .find("griddepcontrol.wait") != std::string::npos;
    pos = close;
  }
}

bool nameHas(const std::string &name, const char *env) {
  const char *v = std::getenv(env);
  return v && *v && name.find(v) != std::string::npos;
}

} // namespace

extern "C" {

CUresult CUDAAPI cuInit(unsigned int) { return CUDA_SUCCESS; }
CUresult CUDAAPI cuDriverGetVersion(int *v) {
  *v = 13000;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuGetErrorName(CUresult r, const char **s) {
  *s = r == CUDA_SUCCESS ? "CUDA_SUCCESS" : "CUDA_ERROR_FAKE";
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuGetErrorString(CUresult, const char **s) {
  *s = "fake driver";
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDeviceGetCount(int *n) {
  *n = 1;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDeviceGet(CUdevice *d, int ordinal) {
  if (ordinal != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  *d = 0;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDeviceGetName(char *name, int len, CUdevice) {
  std::strncpy(name, "Fake GPU", size_t(len));
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice) {
  switch (a) {
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
    *v = 9;
    break;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
    *v = 0;
    break;
  case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT:
    *v = 132;
    break;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN:
    *v = 232448;
    break;
  default:
    *v = 0;
  }
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDeviceTotalMem_v2(size_t *bytes, CUdevice) {
  *bytes = size_t(80) << 30;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice) {
  *c = reinterpret_cast<CUcontext>(uintptr_t(0x1000));
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDevicePrimaryCtxRelease_v2(CUdevice) { return CUDA_SUCCESS; }
CUresult CUDAAPI cuCtxPushCurrent_v2(CUcontext) { return CUDA_SUCCESS; }
CUresult CUDAAPI cuCtxPopCurrent_v2(CUcontext *c) {
  if (c)
    *c = reinterpret_cast<CUcontext>(uintptr_t(0x1000));
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuCtxSynchronize() { return CUDA_SUCCESS; }

CUresult CUDAAPI cuMemAlloc_v2(CUdeviceptr *p, size_t bytes) {
  void *m = std::malloc(bytes ? bytes : 1);
  if (!m)
    return CUDA_ERROR_OUT_OF_MEMORY;
  *p = reinterpret_cast<uintptr_t>(m);
  allocations()[*p] = bytes;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemFree_v2(CUdeviceptr p) {
  if (!allocations().erase(p))
    return CUDA_ERROR_INVALID_VALUE;
  std::free(reinterpret_cast<void *>(p));
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemcpyHtoD_v2(CUdeviceptr d, const void *s, size_t n) {
  std::memcpy(reinterpret_cast<void *>(d), s, n);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemcpyDtoH_v2(void *d, CUdeviceptr s, size_t n) {
  std::memcpy(d, reinterpret_cast<const void *>(s), n);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n,
                                      CUstream) {
  return cuMemcpyHtoD_v2(d, s, n);
}
CUresult CUDAAPI cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n,
                                      CUstream) {
  return cuMemcpyDtoH_v2(d, s, n);
}
CUresult CUDAAPI cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n,
                                      CUstream) {
  std::memmove(reinterpret_cast<void *>(d), reinterpret_cast<void *>(s), n);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemsetD32Async(CUdeviceptr d, unsigned int v, size_t n,
                                  CUstream) {
  auto *p = reinterpret_cast<unsigned int *>(d);
  for (size_t i = 0; i < n; ++i)
    p[i] = v;
  return CUDA_SUCCESS;
}

struct Link {
  std::string ptx;
};
CUresult CUDAAPI cuLinkCreate_v2(unsigned int, CUjit_option *, void **,
                                 CUlinkState *state) {
  *state = reinterpret_cast<CUlinkState>(new Link());
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuLinkAddData_v2(CUlinkState state, CUjitInputType, void *data,
                                  size_t size, const char *, unsigned int,
                                  CUjit_option *, void **) {
  auto *l = reinterpret_cast<Link *>(state);
  l->ptx.assign(static_cast<const char *>(data), size);
  while (!l->ptx.empty() && l->ptx.back() == '\0')
    l->ptx.pop_back();
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuLinkComplete(CUlinkState state, void **cubin, size_t *size) {
  auto *l = reinterpret_cast<Link *>(state);
  *cubin = l->ptx.data();
  *size = l->ptx.size();
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuLinkDestroy(CUlinkState state) {
  delete reinterpret_cast<Link *>(state);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuModuleLoadDataEx(CUmodule *m, const void *image,
                                    unsigned int, CUjit_option *, void **) {
  auto *mod = new Module();
  parsePtx(static_cast<const char *>(image), *mod);
  *m = reinterpret_cast<CUmodule>(mod);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuModuleUnload(CUmodule m) {
  delete reinterpret_cast<Module *>(m);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuModuleGetFunction(CUfunction *f, CUmodule m,
                                     const char *name) {
  auto *mod = reinterpret_cast<Module *>(m);
  auto it = mod->kernels.find(name);
  if (it == mod->kernels.end())
    return CUDA_ERROR_NOT_FOUND;
  *f = reinterpret_cast<CUfunction>(
      new Function{name, it->second, mod->waits[name]});
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuFuncGetAttribute(int *v, CUfunction_attribute a,
                                    CUfunction) {
  *v = a == CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK ? 1024 : 0;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuFuncSetAttribute(CUfunction, CUfunction_attribute, int) {
  return CUDA_SUCCESS;
}
// Blocks per SM as an H100 / H200 limits them by shared memory (228 KB per
// SM, 1 KB reserved per block) and threads (2048 per SM); registers are
// not modelled (the PTX is not compiled). With $FAKE_CUDA_OCCUPANCY_FAILS
// set, the query fails.
CUresult CUDAAPI cuOccupancyMaxActiveBlocksPerMultiprocessor(
    int *blocks, CUfunction, int blockSize, size_t dynamicSharedBytes) {
  if (blockSize <= 0 || std::getenv("FAKE_CUDA_OCCUPANCY_FAILS"))
    return CUDA_ERROR_INVALID_VALUE;
  size_t bySmem = 233472 / (dynamicSharedBytes + 1024);
  size_t byThreads = 2048 / size_t(blockSize);
  *blocks = int(bySmem < byThreads ? bySmem : byThreads);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int, unsigned int,
                                unsigned int, unsigned int, unsigned int,
                                unsigned int, unsigned int, CUstream,
                                void **params, void **) {
  auto *fn = reinterpret_cast<Function *>(f);
  bool corrupt = nameHas(fn->name, "FAKE_CUDA_CORRUPT");
  static const bool noWrites = std::getenv("FAKE_CUDA_NO_WRITES") != nullptr;
  for (size_t i = 0; !noWrites && i < fn->isU64.size(); ++i) {
    if (!fn->isU64[i])
      continue;
    uint64_t v;
    std::memcpy(&v, params[i], 8);
    auto it = allocations().upper_bound(uintptr_t(v));
    if (it == allocations().begin())
      continue;
    --it;
    if (v >= it->first + it->second)
      continue;
    std::memset(reinterpret_cast<void *>(it->first), 0, it->second);
    auto *p = reinterpret_cast<float *>(it->first);
    for (size_t k = 0; corrupt && k < it->second / 4; ++k)
      p[k] = 1.0f;
  }
  clockMs() += nameHas(fn->name, "FAKE_CUDA_FAST") ? 0.5 : 1.0;
  return CUDA_SUCCESS;
}
// Programmatic stream serialization is only for a kernel that waits for
// its predecessor in-kernel: launching one that does not is refused (a
// runtime bug that would race on a GPU). With $FAKE_CUDA_LOG_LAUNCHES set,
// each such launch is named on stderr.
CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f,
                                  void **params, void **extra) {
  auto *fn = reinterpret_cast<Function *>(f);
  for (unsigned i = 0; i < config->numAttrs; ++i)
    if (config->attrs[i].id ==
            CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION &&
        config->attrs[i].value.programmaticStreamSerializationAllowed) {
      if (!fn->waits)
        return CUDA_ERROR_INVALID_VALUE;
      if (std::getenv("FAKE_CUDA_LOG_LAUNCHES"))
        std::fprintf(stderr,
                     "fake-cuda: programmatic launch %s grid %ux%ux%u\n",
                     fn->name.c_str(), config->gridDimX, config->gridDimY,
                     config->gridDimZ);
    }
  return cuLaunchKernel(f, config->gridDimX, config->gridDimY, config->gridDimZ,
                        config->blockDimX, config->blockDimY, config->blockDimZ,
                        config->sharedMemBytes, config->hStream, params, extra);
}
CUresult CUDAAPI cuStreamSynchronize(CUstream) { return CUDA_SUCCESS; }
CUresult CUDAAPI cuStreamCreate(CUstream *s, unsigned int) {
  *s = reinterpret_cast<CUstream>(new char);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuStreamDestroy_v2(CUstream s) {
  delete reinterpret_cast<char *>(s);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuEventCreate(CUevent *e, unsigned int) {
  *e = reinterpret_cast<CUevent>(new double(0));
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuEventDestroy_v2(CUevent e) {
  delete reinterpret_cast<double *>(e);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuEventRecord(CUevent e, CUstream) {
  *reinterpret_cast<double *>(e) = clockMs();
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuEventSynchronize(CUevent) { return CUDA_SUCCESS; }
CUresult CUDAAPI cuEventElapsedTime_v2(float *ms, CUevent a, CUevent b) {
  *ms = float(*reinterpret_cast<double *>(b) - *reinterpret_cast<double *>(a));
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuStreamBeginCapture_v2(CUstream, CUstreamCaptureMode) {
  return CUDA_ERROR_NOT_SUPPORTED;
}
CUresult CUDAAPI cuStreamEndCapture(CUstream, CUgraph *) {
  return CUDA_ERROR_NOT_SUPPORTED;
}
CUresult CUDAAPI cuGraphInstantiateWithFlags(CUgraphExec *, CUgraph,
                                             unsigned long long) {
  return CUDA_ERROR_NOT_SUPPORTED;
}
CUresult CUDAAPI cuGraphLaunch(CUgraphExec, CUstream) {
  return CUDA_ERROR_NOT_SUPPORTED;
}
CUresult CUDAAPI cuGraphExecDestroy(CUgraphExec) { return CUDA_SUCCESS; }
CUresult CUDAAPI cuGraphDestroy(CUgraph) { return CUDA_SUCCESS; }

} // extern "C"
