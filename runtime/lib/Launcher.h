//===- Launcher.h - generic manifest-entry launcher -----------------------===//

#ifndef DELTAJIT_RUNTIME_LAUNCHER_H
#define DELTAJIT_RUNTIME_LAUNCHER_H

#include "Manifest.h"

#include <cuda.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace deltajit {

class Context;
class Package;

/// A value bound to a name for one launch of an entry.
struct SymbolValue {
  SymbolKind kind = SymbolKind::Int;
  uint64_t ptr = 0;
  int64_t i = 0;
  double f = 0;

  static SymbolValue pointer(const void *p) {
    SymbolValue v;
    v.kind = SymbolKind::Ptr;
    v.ptr = reinterpret_cast<uintptr_t>(p);
    return v;
  }
  static SymbolValue pointer(CUdeviceptr p) {
    SymbolValue v;
    v.kind = SymbolKind::Ptr;
    v.ptr = p;
    return v;
  }
  static SymbolValue integer(int64_t x) {
    SymbolValue v;
    v.kind = SymbolKind::Int;
    v.i = x;
    return v;
  }
  static SymbolValue real(double x) {
    SymbolValue v;
    v.kind = SymbolKind::Float;
    v.f = x;
    return v;
  }
};

/// The names bound for one call of an entry: a flat list searched linearly
/// (a call binds one to two dozen names; building it allocates once, where a
/// hash map allocated a node per name on every launch).
class SymbolTable {
public:
  using value_type = std::pair<std::string, SymbolValue>;
  using iterator = std::vector<value_type>::iterator;
  using const_iterator = std::vector<value_type>::const_iterator;

  SymbolTable() { entries_.reserve(32); }

  /// The value bound to `name`, bound (to a default value) first if absent.
  SymbolValue &operator[](std::string_view name) {
    auto it = find(name);
    if (it != entries_.end())
      return it->second;
    entries_.emplace_back(std::string(name), SymbolValue());
    return entries_.back().second;
  }
  /// Binds `name` unless it is bound; returns where, and whether it was new.
  std::pair<iterator, bool> emplace(std::string_view name, SymbolValue v) {
    auto it = find(name);
    if (it != entries_.end())
      return {it, false};
    entries_.emplace_back(std::string(name), v);
    return {entries_.end() - 1, true};
  }
  iterator find(std::string_view name) {
    return std::find_if(entries_.begin(), entries_.end(),
                        [&](const value_type &e) { return e.first == name; });
  }
  const_iterator find(std::string_view name) const {
    return std::find_if(entries_.begin(), entries_.end(),
                        [&](const value_type &e) { return e.first == name; });
  }
  /// The value bound to `name`; throws std::out_of_range if none.
  const SymbolValue &at(std::string_view name) const {
    auto it = find(name);
    if (it == entries_.end())
      throw std::out_of_range("symbol '" + std::string(name) +
                              "' is not bound");
    return it->second;
  }
  size_t count(std::string_view name) const {
    return find(name) != entries_.end();
  }
  void erase(std::string_view name) {
    auto it = find(name);
    if (it != entries_.end())
      entries_.erase(it);
  }
  size_t size() const { return entries_.size(); }
  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }

private:
  std::vector<value_type> entries_;
};

/// One kernel launch, fully evaluated and packed.
struct PreparedLaunch {
  CUfunction function = nullptr;
  std::string kernel;
  unsigned grid[3] = {1, 1, 1};
  unsigned block[3] = {1, 1, 1};
  unsigned sharedBytes = 0;
  bool programmaticWait = false; ///< LaunchSpec::programmaticWait
  bool skip = false;             ///< A grid dimension is zero.
  std::vector<uint64_t> storage; ///< One 8-byte slot per parameter.
  std::vector<void *> params;    ///< Pointers into `storage`.
};

/// Evaluates the grids of `entry` and packs its parameters from `symbols`
/// (which must already hold the entry's scratch pointers). Throws
/// Error(DJ_ERROR_INVALID_ARGUMENT) naming the field and symbol. Needs no
/// device: `functions` may be empty (then PreparedLaunch::function is null).
std::vector<PreparedLaunch>
prepareLaunches(const EntrySpec &entry, const SymbolTable &symbols,
                const std::vector<CUfunction> &functions);

/// Evaluates one scratch-size formula (bytes >= 0).
int64_t evaluateScratchBytes(const EntrySpec &entry, size_t index,
                             const SymbolTable &symbols);

/// Evaluates grid dimension `dim` of launch `launch` of `entry`.
int64_t evaluateGrid(const EntrySpec &entry, size_t launch, int dim,
                     const SymbolTable &symbols);

/// Allocates the entry's scratch (per-stream workspace of the context),
/// binds it, prepares and queues every launch of entry `entryIndex` on
/// `stream`: kernels marked programmatic_wait with programmatic stream
/// serialization (cuLaunchKernelEx) unless programmaticLaunchEnabled() is
/// false. The caller holds a ContextScope.
void launchEntry(Context &ctx, const Package &pkg, size_t entryIndex,
                 SymbolTable symbols, CUstream stream);

/// False when $DELTAJIT_PROGRAMMATIC_LAUNCH is "0" (read at the process's
/// first launch): every kernel is then launched in plain stream order (for
/// comparisons; the kernels' waits are no-ops then).
bool programmaticLaunchEnabled();

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_LAUNCHER_H
