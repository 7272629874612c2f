//===- Package.h - a package loaded into a context (modules, functions) ---===//

#ifndef DELTAJIT_RUNTIME_PACKAGE_H
#define DELTAJIT_RUNTIME_PACKAGE_H

#include "Context.h"
#include "Manifest.h"
#include "TuningDB.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace deltajit {

/// The JIT options used for every module (part of the cache key).
inline constexpr const char *kJitOptions = "cuLink;O4;target=context";

class Package {
public:
  /// Reads, verifies and JIT-compiles (or takes from the cache) the package
  /// in `dir` for `ctx`'s device. The caller holds a ContextScope.
  static std::unique_ptr<Package> load(std::shared_ptr<Context> ctx,
                                       const std::string &dir);

  /// Unloads the modules. The caller holds a ContextScope. Idempotent; must
  /// be called before destruction (the destructor does not touch CUDA).
  void unload() noexcept;
  ~Package();

  Context &context() const { return *ctx_; }
  const std::shared_ptr<Context> &contextRef() const { return ctx_; }
  const Manifest &manifest() const { return manifest_; }
  const std::string &dir() const { return dir_; }
  /// The function of launch `launch` of entry `entry`.
  CUfunction function(size_t entry, size_t launch) const {
    return functions_[entry][launch];
  }

  /// Programs of launch `launch` of entry `entry` one SM holds at once (the
  /// driver's occupancy for its block and shared memory), asked once per
  /// launch and remembered; 0 when the driver cannot say. The caller holds
  /// a ContextScope.
  int residentPerSM(size_t entry, size_t launch) const;

  /// The choice among entries that differ only in config (tuning); used
  /// under the context's lock, like every call on the package.
  EntryChooser &chooser() const { return chooser_; }

  size_t modulesFromCache = 0;
  size_t modulesCompiled = 0;
  size_t cacheEntriesRebuilt = 0;

private:
  Package() = default;
  void loadAll();
  CUmodule loadModule(size_t index, const std::string &ptx);

  std::shared_ptr<Context> ctx_;
  std::string dir_;
  Manifest manifest_;
  std::vector<CUmodule> modules_;
  std::vector<std::vector<CUfunction>> functions_;
  mutable EntryChooser chooser_;
  mutable std::map<std::pair<size_t, size_t>, int> residentPerSM_;
};

/// JIT-compiles PTX to a cubin for the current context's device with the
/// driver linker; throws Error with the JIT error log on failure.
std::string jitCompilePtx(const Driver &d, const std::string &ptx,
                          const std::string &name);

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_PACKAGE_H
