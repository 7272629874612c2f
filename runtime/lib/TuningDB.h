//===- TuningDB.h - autotuning database and the choice among entries ------===//
//
// A package compiled with `deltac --tune-space` holds several entries with
// the same lookup keys (op, dtype, dk, dv, chunk, use_qk_l2norm) and
// different `config`s. `delta-tune` measures them on a GPU and records the
// fastest per shape bucket in the tuning database, a JSON file under the
// user's cache directory (docs/tuning.md). When a call matches several
// entries, the runtime runs the one the database names for this GPU and
// bucket, else the one the package's own "tuning" table names, else the
// first (default) entry. Nothing here ever fails a call: a missing or
// corrupt database reads as empty.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_TUNINGDB_H
#define DELTAJIT_RUNTIME_TUNINGDB_H

#include "Manifest.h"

#include "deltajit/deltajit.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace deltajit {

inline constexpr const char *kTuningDbFormat = "deltajit-tuning-db";
inline constexpr int kTuningDbFormatVersion = 1;

/// The GPU half of a tuning key.
struct GpuKey {
  std::string name; ///< e.g. "NVIDIA H200"
  int smCount = 0;
  int ccMajor = 0, ccMinor = 0;
  int driverVersion = 0;                 ///< cuDriverGetVersion(), e.g. 13000
  std::string computeCapability() const; ///< "9.0"
  static GpuKey of(const dj_device_info_t &info);
};

/// The lookup keys shared by the candidate entries of a call.
struct OpSignature {
  std::string op, dtype;
  int64_t dk = 0, dv = 0;
  std::optional<int64_t> chunk; ///< forward only
  bool useQkL2norm = false;
  /// "delta_rule_forward bf16 dk=128 dv=128 chunk=64 l2norm"
  std::string describe() const;
  bool operator==(const OpSignature &o) const {
    return op == o.op && dtype == o.dtype && dk == o.dk && dv == o.dv &&
           chunk == o.chunk && useQkL2norm == o.useQkL2norm;
  }
  /// The signature of a manifest entry (missing keys read as empty / 0).
  static OpSignature of(const EntrySpec &e);
};

/// Largest power of two <= x (0 for x <= 0).
int64_t pow2Floor(int64_t x);

/// Shape buckets (docs/tuning.md). Forward: "nh<P>_len<L>" with P the
/// power-of-two floor of (sequences x HV), the independent scans, and L that
/// of the mean tokens per sequence. Decode: "nh<P>" of N x HV.
std::string forwardBucket(int64_t numSeqs, int64_t HV, int64_t totalTokens);
std::string decodeBucket(int64_t N, int64_t HV);

/// One measurement of one (GPU, versions, op signature, bucket).
struct TuningRecord {
  GpuKey gpu;
  std::string runtimeVersion;  ///< dj_runtime_version()
  std::string compilerVersion; ///< the package's manifest "producer"
  OpSignature sig;
  std::string bucket;
  std::string config;        ///< the winner
  std::string defaultConfig; ///< the package's first entry's config
  std::string shape;         ///< the shape measured, for people
  /// Median milliseconds of every candidate that matched the reference,
  /// fastest first.
  std::vector<std::pair<std::string, double>> timesMs;
  /// Candidates whose output differed from the reference's, with the reason.
  std::vector<std::pair<std::string, std::string>> rejected;
  std::string tunedAt; ///< ISO 8601 UTC
  /// kernelsFingerprint() of the package that was tuned ("" in records
  /// written before it existed). Not part of the key: a record measured on
  /// other kernels is not applied, and re-tuning replaces it.
  std::string kernels;
  /// entryCodeFingerprint() of each measured candidate, by config (in
  /// `times_ms`; none for packages without the manifest's `kernel_code`):
  /// what `deltac --tuning-db` compares with the kernels it compiles.
  std::map<std::string, std::string> codes;

  /// The identity of the record: everything but the results.
  std::string key() const;
};

/// A fingerprint of the candidate kernels of `sig` in `m`: every entry with
/// that signature, its config and its launches' kernels with their modules'
/// checksums (16 hex digits of a SHA-256). It changes when any candidate's
/// code (or module) changes, also between packages of one compiler version.
std::string kernelsFingerprint(const Manifest &m, const OpSignature &sig);

/// A fingerprint of one entry's code: 16 hex digits of the SHA-256 of its
/// launches' kernel code fingerprints (the manifest's `kernel_code`), each
/// followed by a newline, in launch order. Unlike kernelsFingerprint it
/// depends neither on the kernels' names nor on the package's other
/// entries, so a package compiled with other configs (deltac --tuning-db's)
/// gives the same value for the same code. "" when a kernel has no code
/// fingerprint (a package written before them).
std::string entryCodeFingerprint(const Manifest &m, const EntrySpec &e);

class TuningDB {
public:
  /// $DELTAJIT_TUNING_DB when set; else `<root>/tuning/tuning-db.json` with
  /// root = `cacheRoot`, or defaultCacheDir() when that is empty; "" when no
  /// directory applies.
  static std::string defaultPath(const std::string &cacheRoot);
  /// False when $DELTAJIT_TUNING is "off", "0", "false" or "no".
  static bool enabledByEnvironment();

  enum class LoadStatus { Loaded, Missing, Corrupt };
  /// Reads `path`; a missing, unreadable or corrupt file (not JSON, wrong
  /// format or version) gives an empty database, and records with missing or
  /// mistyped fields are skipped. Never throws.
  static TuningDB load(const std::string &path, LoadStatus *status = nullptr);
  static TuningDB parse(std::string_view text, LoadStatus *status = nullptr);
  /// The JSON text of the database (records in key order).
  std::string serialize() const;

  const std::vector<TuningRecord> &records() const { return records_; }
  bool empty() const { return records_.empty(); }
  /// Adds `r`, replacing the record with the same key.
  void put(TuningRecord r);

  const TuningRecord *find(const GpuKey &gpu, const std::string &runtimeVersion,
                           const std::string &compilerVersion,
                           const OpSignature &sig,
                           const std::string &bucket) const;
  /// The config to run for this key among those `available` accepts: the
  /// winner, else the fastest measured one available; nothing when there is
  /// no record, the record was measured on other kernels (its `kernels` is
  /// not `kernels`, the candidates' kernelsFingerprint), or none of its
  /// configs is available.
  std::optional<std::string>
  lookup(const GpuKey &gpu, const std::string &runtimeVersion,
         const std::string &compilerVersion, const OpSignature &sig,
         const std::string &bucket, const std::string &kernels,
         const std::function<bool(const std::string &)> &available) const;

  /// Merges `records` into the database file at `path` (replacing records
  /// with the same keys; a corrupt file is rebuilt from `records` alone)
  /// under an exclusive lock on `<path>.lock`, and writes it atomically
  /// (temp file + rename). Creates the directory. False with `*error` set on
  /// failure; the file on disk is then unchanged.
  static bool update(const std::string &path,
                     const std::vector<TuningRecord> &records,
                     std::string *error);
  /// Removes the database file and its lock file (nothing else). True when
  /// neither exists afterwards.
  static bool clear(const std::string &path, std::string *error);

private:
  std::vector<TuningRecord> records_;
  std::map<std::string, size_t> index_;
};

/// How an entry was chosen (dj_entry_choice_t).
enum class ChoiceSource { Only, Default, TuningDb, PackageTable, Pinned, Rule };
const char *choiceSourceName(ChoiceSource s);

struct EntryChoice {
  size_t index = 0;
  ChoiceSource source = ChoiceSource::Only;
};

/// What a choice may consult.
struct ChoiceInputs {
  const GpuKey *gpu = nullptr;  ///< null: no DB or table lookups
  std::string runtimeVersion;   ///< of the DB key
  const TuningDB *db = nullptr; ///< null: no DB
  bool usePackageTable = true;  ///< the manifest's "tuning" section
  std::string pinned;           ///< non-empty: only this config
};

/// Chooses among `matches` (indices of the entries matching a call, in
/// manifest order, non-empty; candidates are those with the first match's
/// chunk). Pinned: the first candidate with that config; when there is none,
/// the first match if the candidates have one config only, else
/// Error(DJ_ERROR_NOT_FOUND) naming the configs there are. Else, with one
/// candidate config, the first match; else the DB's config for this GPU,
/// versions, signature and bucket, else the manifest table's for this GPU
/// name and compute capability, else the first match (Default).
EntryChoice chooseEntry(const Manifest &m, const std::vector<size_t> &matches,
                        const std::string &bucket, const ChoiceInputs &in);

/// Per-package choice state: the pinned config, the database (read on the
/// first call that has several candidates) and the choices made so far. Not
/// thread safe: the caller holds the context's lock.
class EntryChooser {
public:
  void pin(const std::string &config);
  const std::string &pinned() const { return pinned_; }

  /// chooseEntry() with this package's pin, the database at
  /// TuningDB::defaultPath(cacheRoot) unless tuning is disabled
  /// ($DELTAJIT_TUNING=off), memoized by `memoKey` (the request and bucket).
  EntryChoice choose(const Manifest &m, const std::vector<size_t> &matches,
                     const std::string &bucket, const GpuKey &gpu,
                     const std::string &cacheRoot, const std::string &memoKey);

  /// The choice memoized under `memoKey` by choose() or remember(); null if
  /// none, and always while a config is pinned. (The launch path asks this
  /// first, before matching the manifest.)
  const EntryChoice *memoized(const std::string &memoKey) const;
  /// Memoizes `choice` under `memoKey` (unless a config is pinned).
  EntryChoice remember(const std::string &memoKey, EntryChoice choice);

private:
  std::string pinned_;
  bool dbLoaded_ = false;
  bool tuningEnabled_ = true;
  TuningDB db_;
  std::map<std::string, EntryChoice> memo_;
};

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_TUNINGDB_H
