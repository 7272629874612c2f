//===- Context.cpp - device selection, primary context, workspaces --------===//

#include "Context.h"

#include "Error.h"

#include <algorithm>
#include <cstring>

#ifndef DELTAJIT_RUNTIME_VERSION
#define DELTAJIT_RUNTIME_VERSION "deltajit-runtime unknown"
#endif

namespace deltajit {

const char *runtimeVersion() { return DELTAJIT_RUNTIME_VERSION; }

std::shared_ptr<Context> Context::create(const dj_context_options_t &opts) {
  if (opts.device_ordinal < 0)
    fail(DJ_ERROR_INVALID_ARGUMENT, "opts->device_ordinal is ",
         opts.device_ordinal, "; it must be >= 0");
  const Driver &d = Driver::get();
  std::shared_ptr<Context> ctx(new Context());
  ctx->driver_ = &d;

  int count = 0;
  d.check(d.cuDeviceGetCount(&count), "cuDeviceGetCount");
  if (count == 0)
    fail(DJ_ERROR_NO_DEVICE, "the CUDA driver reports no devices");
  if (opts.device_ordinal >= count)
    fail(DJ_ERROR_NO_DEVICE, "device ordinal ", opts.device_ordinal,
         " requested but there ", count == 1 ? "is " : "are ", count,
         count == 1 ? " CUDA device" : " CUDA devices");
  d.check(d.cuDeviceGet(&ctx->device_, opts.device_ordinal),
          concat("cuDeviceGet(", opts.device_ordinal, ")"));

  dj_device_info_t &info = ctx->info_;
  info.device_ordinal = opts.device_ordinal;
  d.check(d.cuDeviceGetName(info.name, sizeof(info.name) - 1, ctx->device_),
          "cuDeviceGetName");
  auto attr = [&](CUdevice_attribute a, const char *what) {
    int v = 0;
    d.check(d.cuDeviceGetAttribute(&v, a, ctx->device_),
            concat("cuDeviceGetAttribute(", what, ")"));
    return v;
  };
  info.compute_capability_major = attr(
      CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "COMPUTE_CAPABILITY_MAJOR");
  info.compute_capability_minor = attr(
      CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "COMPUTE_CAPABILITY_MINOR");
  info.sm_count =
      attr(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "MULTIPROCESSOR_COUNT");
  info.max_shared_memory_per_block_optin = static_cast<size_t>(
      attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
           "MAX_SHARED_MEMORY_PER_BLOCK_OPTIN"));
  info.driver_version = d.version;
  size_t total = 0;
  d.check(d.cuDeviceTotalMem_v2(&total, ctx->device_), "cuDeviceTotalMem");
  info.total_memory = total;

  d.check(d.cuDevicePrimaryCtxRetain(&ctx->cuContext_, ctx->device_),
          "cuDevicePrimaryCtxRetain");
  ctx->retained_ = true;

  std::string cacheRoot =
      opts.disable_cache ? std::string() : defaultCacheDir(opts.cache_dir);
  ctx->cache_ = std::make_unique<KernelCache>(cacheRoot);
  return ctx;
}

Context::~Context() {
  if (!driver_)
    return;
  if (cuContext_ && driver_->cuCtxPushCurrent_v2(cuContext_) == CUDA_SUCCESS) {
    driver_->cuCtxSynchronize();
    freeWorkspaces();
    CUcontext popped;
    driver_->cuCtxPopCurrent_v2(&popped);
  }
  if (retained_)
    driver_->cuDevicePrimaryCtxRelease_v2(device_);
}

void Context::freeWorkspaces() noexcept {
  for (auto &[stream, buffers] : workspaces_)
    for (auto &[name, buffer] : buffers)
      if (buffer.ptr)
        driver_->cuMemFree_v2(buffer.ptr);
  workspaces_.clear();
}

CUdeviceptr Context::workspace(CUstream stream, const std::string &name,
                               size_t bytes) {
  if (bytes == 0)
    return 0;
  if (bytes > (size_t(1) << 48))
    fail(DJ_ERROR_OUT_OF_MEMORY, "workspace '", name, "' of ", bytes,
         " bytes is larger than any device memory");
  Buffer &b = workspaces_[stream][name];
  if (b.bytes >= bytes && b.ptr)
    return b.ptr;
  if (b.ptr) {
    // Work queued earlier on this stream may still use the old buffer.
    driver_->check(driver_->cuStreamSynchronize(stream),
                   "cuStreamSynchronize (growing a workspace buffer)");
    driver_->cuMemFree_v2(b.ptr);
    b.ptr = 0;
    b.bytes = 0;
    b.uploaded.clear();
  }
  size_t want = bytes + bytes / 4;    // headroom for slightly larger calls
  want = (want + 4095) / 4096 * 4096; // whole pages
  CUresult r = driver_->cuMemAlloc_v2(&b.ptr, want);
  if (r != CUDA_SUCCESS) {
    b.ptr = 0;
    driver_->check(
        r, concat("cuMemAlloc(", want, " bytes) for workspace '", name, "'"));
  }
  b.bytes = want;
  return b.ptr;
}

CUdeviceptr Context::upload(CUstream stream, const std::string &name,
                            const void *data, size_t bytes) {
  CUdeviceptr p = workspace(stream, name, bytes);
  if (bytes == 0)
    return p;
  Buffer &b = workspaces_[stream][name];
  const auto *src = static_cast<const unsigned char *>(data);
  if (b.uploaded.size() == bytes &&
      std::equal(src, src + bytes, b.uploaded.begin()))
    return p;
  b.uploaded.clear(); // unknown until the copy is queued
  // From pageable memory: returns once the source has been staged, so the
  // caller's memory may change right after; ordered on `stream`.
  driver_->check(driver_->cuMemcpyHtoDAsync_v2(p, data, bytes, stream),
                 concat("cuMemcpyHtoDAsync(", name, ", ", bytes, " bytes)"));
  b.uploaded.assign(src, src + bytes);
  return p;
}

void Context::trim() {
  driver_->check(driver_->cuCtxSynchronize(), "cuCtxSynchronize");
  freeWorkspaces();
}

ContextScope::ContextScope(Context &ctx) : ctx_(ctx), lock_(ctx.mutex()) {
  ctx.driver().check(ctx.driver().cuCtxPushCurrent_v2(ctx.cuContext()),
                     "cuCtxPushCurrent");
}

ContextScope::~ContextScope() {
  CUcontext popped;
  ctx_.driver().cuCtxPopCurrent_v2(&popped);
}

} // namespace deltajit
