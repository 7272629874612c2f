//===- Manifest.h - parsed and validated package manifest (format v1) -----===//
//
// The in-memory form of manifest.json (docs/package-format.md). Parsing
// validates every field's type and value, parses every formula, and for the
// ops the runtime knows (delta_rule_forward, delta_rule_decode) checks that
// every formula symbol and kernel parameter names something the runtime
// binds, with the right kind. Errors are deltajit::Error(DJ_ERROR_PACKAGE)
// whose message names the file and the field path, e.g.
//   ".../manifest.json: entries[0].launches[1].grid[2]: unknown symbol 'TT'".
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_MANIFEST_H
#define DELTAJIT_RUNTIME_MANIFEST_H

#include "Formula.h"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deltajit {

/// The format this runtime reads.
inline constexpr const char *kPackageFormat = "deltajit-package";
inline constexpr int kPackageFormatVersion = 1;

enum class ParamType { Ptr, I32, I64, F32 };
const char *paramTypeName(ParamType t);

/// What a bound symbol is.
enum class SymbolKind { Ptr, Int, Float };
const char *symbolKindName(SymbolKind k);
/// "a pointer", "an integer", "a float".
const char *symbolKindArticle(SymbolKind k);

/// The symbols the runtime binds for a known op, or nullptr for an op it
/// does not know (whose names are then only checked at launch).
const std::map<std::string, SymbolKind> *opSymbols(const std::string &op);

struct ParamSpec {
  std::string name;
  ParamType type;
};

struct LaunchSpec {
  std::string kernel;
  size_t module = 0; ///< Index of the module defining `kernel`.
  std::array<Formula, 3> grid;
  std::array<unsigned, 3> block{1, 1, 1};
  unsigned sharedBytes = 0;
  std::vector<ParamSpec> params;
  std::string path; ///< "entries[i].launches[j]", for messages.
  /// The kernel waits for its stream predecessor in-kernel (griddepcontrol):
  /// it may be launched with programmatic stream serialization.
  bool programmaticWait = false;
};

struct ScratchSpec {
  std::string name;
  Formula bytes;
};

struct EntrySpec {
  std::string op;
  std::optional<std::string> dtype;
  std::optional<int64_t> dk, dv, chunk;
  std::optional<bool> useQkL2norm;
  /// The compile configuration that produced the entry ("bv64_w8_fused";
  /// docs/tuning.md); entries with the same keys and different configs are
  /// the candidates the runtime chooses among.
  std::optional<std::string> config;
  /// The segment scan's compiled (shortest) segment length in chunks
  /// (config "_seg<L>"); the runtime binds `segment_chunks` per call
  /// (DeltaRule.h, segmentChunksFor).
  std::optional<int64_t> segmentChunks;
  std::vector<ScratchSpec> scratch;
  std::vector<LaunchSpec> launches;
  std::string path; ///< "entries[i]"

  /// "delta_rule_forward dtype=bf16 dk=128 dv=128 chunk=64 use_qk_l2norm=false"
  std::string describe() const;
};

struct ModuleSpec {
  std::string file;
  std::string sha256; ///< 64 lowercase hex digits.
  std::vector<std::string> kernels;
  /// Optional "kernel_code": a fingerprint of each kernel's code whatever
  /// its name (16 hex digits, deltac's PackageWriter), by kernel name.
  std::map<std::string, std::string> kernelCode;
};

struct TargetSpec {
  std::string arch; ///< e.g. "sm_90a", "sm_80"
  int sm = 0;       ///< e.g. 90
  std::string ptxVersion;
};

/// One row of a package's tuning table: for the entries with these keys, on
/// the table's GPU, shapes of `bucket` run `config` fastest.
struct TuningRowSpec {
  std::string op, dtype;
  int64_t dk = 0, dv = 0;
  std::optional<int64_t> chunk;
  bool useQkL2norm = false;
  std::string bucket, config;
};

/// The manifest's "tuning" section: winners measured on one GPU kind
/// (written by deltac --tuning-db; docs/tuning.md).
struct TuningTableSpec {
  std::string gpuName;           ///< e.g. "NVIDIA H200"
  std::string computeCapability; ///< e.g. "9.0"
  std::vector<TuningRowSpec> rows;
};

struct Manifest {
  int formatVersion = 0;
  std::string producer;
  TargetSpec target;
  std::vector<ModuleSpec> modules;
  std::vector<EntrySpec> entries;
  std::vector<TuningTableSpec> tuning;
};

/// Parses and validates manifest JSON text. `fileName` prefixes messages.
Manifest parseManifest(std::string_view json, const std::string &fileName);

/// A package read from disk and verified (checksums), without a device.
struct PackageContents {
  std::string dir;
  Manifest manifest;
  std::vector<std::string> moduleTexts; ///< PTX of each module, in order.
};

/// Reads `<dir>/manifest.json` and every module file, verifying sha256s.
PackageContents readPackage(const std::string &dir);

/// Checks that a package for `target` can run on a device of compute
/// capability major.minor; throws Error(DJ_ERROR_PACKAGE) explaining why not.
void checkTargetCompatible(const TargetSpec &target, int ccMajor, int ccMinor,
                           const std::string &fileName);

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_MANIFEST_H
