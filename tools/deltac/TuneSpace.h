//===- TuneSpace.h - deltac's tuning space: configs, variants, tuning DB --===//
//
// `deltac --tune-space=SPEC --emit=package` compiles every delta-rule layer
// once per legal tile configuration into one package (docs/tuning.md): the
// module is compiled as usual with the default configuration, and every
// other configuration compiles each distinct delta-rule op on its own (a
// one-op module), so an illegal configuration (block_v > dv, too much shared
// memory, ...) skips only that op. Variants whose kernels equal ones already
// in the package are dropped; kernel names that clash get the config as a
// suffix. `--tuning-db` instead compiles, per op, the configurations that
// won on a GPU in a delta-tune database, and records that GPU's winners in
// the manifest ("tuning").
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_TOOLS_DELTAC_TUNESPACE_H
#define DELTAJIT_TOOLS_DELTAC_TUNESPACE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/JSON.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace deltajit::tune {

/// One point of the tuning space: the options of delta-chunk-tile and
/// convert-delta-to-nvvm that shape a delta-rule forward kernel.
struct TileConfig {
  int64_t blockV = 64;
  int64_t warps = 8;
  int64_t stages = 1;
  int64_t phases = 1; ///< 1 fused, 2 split (prepare + scan), 3 split3
  bool epilogueFusion = true;
  std::string mma = "auto"; ///< tensor-core family: auto | mma.sync | wgmma
  /// Value tile of the three-phase prepare and output kernels
  /// (convert-delta-to-nvvm's parallel-block-v); 0 = auto. Only for
  /// phases == 3.
  int64_t parallelBlockV = 0;
  /// Whether a three-phase scan that can compute the output does
  /// (convert-delta-to-nvvm's output-in-scan). Only for phases == 3.
  bool outputInScan = true;
  /// Chunks per segment of the segment scan (convert-delta-to-nvvm's
  /// segment-chunks); 0 = off. Only for phases == 3 with the output in the
  /// scan.
  int64_t segmentChunks = 0;

  /// The stable name recorded as the manifest entries' "config":
  /// "bv<block_v>_w<warps>_<fused|split|split3>", then "_s<stages>" when
  /// stages != 1, "_noepi" without epilogue fusion, "_pv<N>" for an explicit
  /// parallel block_v, "_sepout" for a three-phase config whose output
  /// kernel stays separate (output-in-scan off), "_seg<N>" for the segment
  /// scan at N chunks per segment, and "_wgmma" or
  /// "_mmasync" for a tensor-core family
  /// other than auto (always last: the runtime reads the family there).
  std::string name() const;
  /// Parses name() back; nullopt with `error` set when it is not one.
  static std::optional<TileConfig> fromName(llvm::StringRef name,
                                            std::string &error);
  bool operator==(const TileConfig &o) const { return name() == o.name(); }
};

/// Parses a --tune-space SPEC into the configurations of the cartesian
/// product (keys left out take `defaults`' value), `defaults` first, each
/// once. False with `error` set on a syntax error, an unknown key or value.
bool parseTuneSpace(llvm::StringRef spec, const TileConfig &defaults,
                    std::vector<TileConfig> &configs, std::string &error);

/// The lookup keys of a manifest entry as one string ("delta_rule_forward
/// bf16 dk=64 dv=64 chunk=64 l2norm"), from the entry dictionary of a
/// delta.launch or from a tuning-database record.
std::string signatureOf(mlir::DictionaryAttr entry);

/// A distinct delta.delta_rule of the module, alone in a module of its own
/// (`func.func @tune_op` around a clone of it), and its keys.
struct OpTemplate {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::string signature; ///< signatureOf() of its forward entry
  int64_t dk = 0, dv = 0;
};

/// One template per distinct delta.delta_rule (types and attributes) of
/// `module`, in program order.
std::vector<OpTemplate> extractDeltaRuleOps(mlir::ModuleOp module);

/// What is in the package so far, to drop duplicate variants and keep
/// kernel names unique. Fed with every module after convert-delta-to-nvvm.
class VariantSet {
public:
  /// The config name of an entry of `module` with the same keys, launches
  /// and kernel code (modulo kernel names) as `launch`, if any.
  std::optional<std::string> duplicateOf(mlir::Operation *launch,
                                         mlir::ModuleOp module) const;
  /// Records the entries and kernel names of `module` as config `config`.
  void add(mlir::ModuleOp module, llvm::StringRef config);
  /// Removes the kernels of `module` whose code equals a kernel recorded
  /// before (another config's; e.g. the three-phase prepare and output at
  /// the same parallel value tile) and points its delta.launch ops at that
  /// one: the package defines each kernel once, in the first module that
  /// has it, and entries launch kernels of any module.
  void shareKernels(mlir::ModuleOp module);
  /// Renames the kernels of `module` whose names are taken (suffix
  /// "_<config>", then a number), updating its delta.launch ops.
  void uniquifyKernelNames(mlir::ModuleOp module, llvm::StringRef config);

private:
  /// Points the delta.launch ops of `module` at the new kernel names.
  static void renameKernels(mlir::ModuleOp module,
                            const llvm::StringMap<std::string> &renamed);

  std::map<std::string, std::string> fingerprints_; ///< -> config
  llvm::StringSet<> kernelNames_;
  /// Kernel code (without its own name) -> the kernel's name.
  std::map<std::string, std::string> kernelByCode_;
  /// Kernel name -> code, of every kernel recorded.
  llvm::StringMap<std::string> codeOf_;
};

/// Moves the kernels and host functions of `from` (a module after
/// convert-delta-to-nvvm) into `into` (likewise; shared-memory globals are
/// not duplicated). Both must hold a gpu.module named deltajit_kernels.
void mergeKernelModule(mlir::ModuleOp into, mlir::ModuleOp from);

/// One record of a delta-tune database that deltac uses.
struct DbRecord {
  std::string gpu, computeCapability, compiler, tunedAt;
  int64_t smCount = 0, driverVersion = 0;
  std::string signature;   ///< as signatureOf()
  llvm::json::Object keys; ///< op, dtype, dk, dv, chunk, use_qk_l2norm
  std::string bucket, config;
  /// The code fingerprint each measured config had (delta-tune's
  /// `times_ms[].code`; the runtime's entryCodeFingerprint), by config.
  std::map<std::string, std::string> codes;
};

/// Reads a delta-tune database (runtime/lib/TuningDB.h's format). Records
/// with missing fields are skipped. False with `error` set when the file
/// cannot be read or is not such a database.
bool readTuningDb(llvm::StringRef path, std::vector<DbRecord> &records,
                  std::string &error);

/// The records whose winner was measured on other code than the package at
/// `packageDir` (a manifest deltac wrote, with `kernel_code`) has for that
/// config: one line each, "<config> for <signature> (<bucket>): measured
/// <fingerprint>, compiled <fingerprint>". Records without a fingerprint
/// for their winner are not compared. False with `error` set when the
/// manifest cannot be read.
bool codeMismatches(llvm::StringRef packageDir,
                    const std::vector<DbRecord> &records,
                    std::vector<std::string> &mismatches, std::string &error);

/// The records of the GPUs named in `gpus` (all, when `gpus` is empty and
/// the database holds one GPU name), newest per (GPU, signature, bucket).
/// False with `error` set when a name is absent or the choice is ambiguous.
bool selectGpuRecords(const std::vector<DbRecord> &all,
                      const std::vector<std::string> &gpus,
                      std::vector<DbRecord> &selected, std::string &error);

/// The manifest "tuning" section: per GPU of `records`, the rows whose
/// config `available` (signature -> configs in the package) holds.
/// `dropped` counts the others.
llvm::json::Value
tuningSection(const std::vector<DbRecord> &records,
              const std::map<std::string, std::set<std::string>> &available,
              int &dropped);

} // namespace deltajit::tune

#endif // DELTAJIT_TOOLS_DELTAC_TUNESPACE_H
