//===- Context.h - a device context: primary CUDA context, cache, scratch -===//

#ifndef DELTAJIT_RUNTIME_CONTEXT_H
#define DELTAJIT_RUNTIME_CONTEXT_H

#include "Driver.h"
#include "KernelCache.h"

#include "deltajit/deltajit.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace deltajit {

/// The runtime version string (part of cache keys).
const char *runtimeVersion();

class Context {
public:
  /// Loads the driver, checks the device, retains its primary context and
  /// opens the kernel cache.
  static std::shared_ptr<Context> create(const dj_context_options_t &opts);
  ~Context();
  Context(const Context &) = delete;
  Context &operator=(const Context &) = delete;

  const Driver &driver() const { return *driver_; }
  const dj_device_info_t &info() const { return info_; }
  KernelCache &cache() { return *cache_; }
  std::mutex &mutex() { return mu_; }
  CUcontext cuContext() const { return cuContext_; }

  /// A device buffer of at least `bytes` bytes named `name`, private to
  /// `stream` and kept across calls (grown when too small; growing waits for
  /// the stream before freeing the old buffer). Caller holds a ContextScope.
  CUdeviceptr workspace(CUstream stream, const std::string &name, size_t bytes);

  /// Workspace `name` of `stream` holding a copy of `bytes` bytes at
  /// `data` (host memory): the copy (stream-ordered, from pageable memory)
  /// is skipped when the buffer still holds exactly these bytes from the
  /// previous upload to it. For small read-only tables (a forward call's
  /// sequence tables, the same for every layer of a model and every call
  /// of one batch shape). Caller holds a ContextScope.
  CUdeviceptr upload(CUstream stream, const std::string &name, const void *data,
                     size_t bytes);

  /// Synchronizes the device and frees every workspace buffer.
  void trim();

private:
  Context() = default;
  struct Buffer {
    CUdeviceptr ptr = 0;
    size_t bytes = 0;
    /// What upload() last copied into the buffer (empty: unknown).
    std::vector<unsigned char> uploaded;
  };
  void freeWorkspaces() noexcept;

  const Driver *driver_ = nullptr;
  CUdevice device_ = 0;
  CUcontext cuContext_ = nullptr;
  bool retained_ = false;
  dj_device_info_t info_{};
  std::unique_ptr<KernelCache> cache_;
  std::mutex mu_;
  std::map<CUstream, std::map<std::string, Buffer>> workspaces_;
};

/// Locks a context and makes its CUDA context current on this thread for
/// the scope; restores the previous current context afterwards.
class ContextScope {
public:
  explicit ContextScope(Context &ctx);
  ~ContextScope();
  ContextScope(const ContextScope &) = delete;
  ContextScope &operator=(const ContextScope &) = delete;

private:
  Context &ctx_;
  std::unique_lock<std::mutex> lock_;
};

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_CONTEXT_H
