//===- Launcher.h - generic manifest-entry launcher -----------------------===//

#ifndef DELTAJIT_RUNTIME_LAUNCHER_H
#define DELTAJIT_RUNTIME_LAUNCHER_H

#include "Manifest.h"

#include <cuda.h>

#include <cstdint>
#include <string>
#include <unordered_map>
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

using SymbolTable = std::unordered_map<std::string, SymbolValue>;

/// One kernel launch, fully evaluated and packed.
struct PreparedLaunch {
  CUfunction function = nullptr;
  std::string kernel;
  unsigned grid[3] = {1, 1, 1};
  unsigned block[3] = {1, 1, 1};
  unsigned sharedBytes = 0;
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

/// Allocates the entry's scratch (per-stream workspace of the context),
/// binds it, prepares and queues every launch of entry `entryIndex` on
/// `stream`. The caller holds a ContextScope.
void launchEntry(Context &ctx, const Package &pkg, size_t entryIndex,
                 SymbolTable symbols, CUstream stream);

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_LAUNCHER_H
