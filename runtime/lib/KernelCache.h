//===- KernelCache.h - on-disk cache of JIT-compiled cubins ---------------===//
//
// Files live at <dir>/kernels/<key>.cubin, where key is the hex SHA-256 of
// everything that changes the JIT output (see cubinCacheKey). Each file is
//
//   offset 0   8 bytes   magic "DJCUBIN1"
//   offset 8  32 bytes   the raw key digest
//   offset 40  8 bytes   payload size, little-endian
//   offset 48 32 bytes   SHA-256 of the payload
//   offset 80            payload (the cubin)
//
// so truncation and corruption are detected before the bytes reach the
// driver. Writes are atomic (temp file in the same directory, fsync,
// rename). Nothing here is fatal: a directory that cannot be created or
// written disables the cache, and a bad entry is deleted and reported as
// such so the caller rebuilds it.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_KERNELCACHE_H
#define DELTAJIT_RUNTIME_KERNELCACHE_H

#include "Sha256.h"

#include <optional>
#include <string>
#include <string_view>

namespace deltajit {

inline constexpr size_t kCacheHeaderSize = 80;

/// Serializes a cache file (header + payload).
std::string encodeCacheEntry(const Sha256::Digest &key,
                             std::string_view payload);

/// Validates a cache file's bytes against `key`; on success stores the
/// payload in `*payload` and returns true, else stores the reason in `*why`.
bool decodeCacheEntry(std::string_view bytes, const Sha256::Digest &key,
                      std::string *payload, std::string *why);

/// The key of a module's cubin: PTX bytes, device compute capability,
/// driver version, runtime version and the JIT options, each length-framed.
Sha256::Digest cubinCacheKey(std::string_view ptx, int ccMajor, int ccMinor,
                             int driverVersion, std::string_view runtimeVersion,
                             std::string_view jitOptions);

/// The cache directory selection of dj_context_options_t: explicit dir,
/// else $DELTAJIT_CACHE_DIR, else $XDG_CACHE_HOME/deltajit, else
/// $HOME/.cache/deltajit; empty when none applies.
std::string defaultCacheDir(const char *explicitDir);

/// mkdir -p; true when `path` exists as a directory afterwards.
bool makeDirs(const std::string &path);

/// Writes `bytes` to `path` (a file in directory `dir`) atomically: a temp
/// file in `dir`, fsync, rename over `path`. False on any failure (the temp
/// file is removed).
bool atomicWrite(const std::string &dir, const std::string &path,
                 std::string_view bytes);

class KernelCache {
public:
  enum class Lookup { Hit, Miss, Corrupt };

  /// Opens (creating if needed) `<root>/kernels`. An empty root, or one that
  /// cannot be created or written, gives a disabled cache.
  explicit KernelCache(const std::string &root);

  bool enabled() const { return enabled_; }
  const std::string &root() const { return root_; }
  /// Why the cache is disabled (empty when enabled).
  const std::string &disabledReason() const { return disabledReason_; }

  std::string pathFor(const Sha256::Digest &key) const;

  /// Reads the entry for `key`. Corrupt entries (bad header, truncation,
  /// checksum mismatch) are deleted and reported as Corrupt.
  Lookup load(const Sha256::Digest &key, std::string *payload);

  /// Writes the entry atomically; failures are silent (returns false).
  bool store(const Sha256::Digest &key, std::string_view payload);

  /// Deletes the entry (e.g. one the driver rejected).
  void remove(const Sha256::Digest &key);

private:
  std::string root_;
  std::string kernelsDir_;
  bool enabled_ = false;
  std::string disabledReason_;
};

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_KERNELCACHE_H
