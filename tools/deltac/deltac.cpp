//===- deltac.cpp - the deltajit compiler driver --------------------------===//
//
// Reads a model (.mlir in the `delta` dialect, or a .json model spec or FLA
// config.json built by the frontend), verifies it, runs the stages of the
// compilation pipeline and prints the stage asked for with --emit.
//
//===----------------------------------------------------------------------===//

#include "TuneSpace.h"

#include "deltajit/Codegen/ModelGraph.h"
#include "deltajit/Codegen/NVIDIA/TargetInfo.h"
#include "deltajit/Codegen/PackageWriter.h"
#include "deltajit/Codegen/Passes.h"
#include "deltajit/Dialect/DeltaDialect.h"
#include "deltajit/Dialect/DeltaOps.h"
#include "deltajit/Frontend/ModelSpec.h"
#include "deltajit/Passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

#include <map>
#include <mutex>
#include <set>

using namespace mlir;
namespace cl = llvm::cl;

namespace {

cl::OptionCategory deltacCategory("deltac options");

cl::opt<std::string>
    inputFilename(cl::Positional,
                  cl::desc("<input .mlir file or .json model spec / "
                           "config.json, '-' for stdin (MLIR)>"),
                  cl::init("-"), cl::cat(deltacCategory));

cl::opt<std::string> outputFilename("o", cl::desc("Output file ('-': stdout)"),
                                    cl::value_desc("file"), cl::init("-"),
                                    cl::cat(deltacCategory));

cl::opt<std::string> emitStage(
    "emit",
    cl::desc(
        "The stage to print (each includes the ones before it):\n"
        "  parsed   the input after parsing and verification, unchanged\n"
        "  delta    after the graph pipeline (q/k L2-norm fusion,\n"
        "           canonicalization, CSE): layer-level `delta` ops (default)\n"
        "  tiled    after delta-chunk-tile: delta-rule layers as\n"
        "           delta.chunk_loop with tile-op bodies (#delta.tile)\n"
        "  gpu      after convert-delta-to-nvvm: kernels in a gpu.module,\n"
        "           delta.launch in host code\n"
        "  llvm     kernels lowered to the LLVM and NVVM dialects\n"
        "  ptx      the PTX text of the kernels\n"
        "  package  write a package directory (-o DIR): manifest.json +\n"
        "           PTX, what the runtime loads\n"
        "  all      every textual stage (parsed .. ptx) in order, each under\n"
        "           a '// ----- stage: NAME -----' header"),
    cl::value_desc("stage"), cl::init("delta"), cl::cat(deltacCategory));

cl::opt<std::string> chip("chip",
                          cl::desc("Target GPU (sm_80, sm_86, sm_89, sm_90, "
                                   "sm_90a; default sm_90a)"),
                          cl::init("sm_90a"), cl::cat(deltacCategory));
cl::opt<int64_t> blockV("block-v",
                        cl::desc("Value columns per program of delta-rule "
                                 "kernels (default 64; capped at dv)"),
                        cl::init(64), cl::cat(deltacCategory));
cl::opt<int64_t> warps("warps",
                       cl::desc("Warps per delta-rule program "
                                "(1, 2, 4, 8; default 8)"),
                       cl::init(8), cl::cat(deltacCategory));

cl::opt<bool> splitKernels(
    "split-kernels",
    cl::desc("Lower each delta-rule layer to a chunk-parallel prepare kernel "
             "and a sequential scan kernel (global scratch between them) "
             "instead of one fused kernel"),
    cl::init(false), cl::cat(deltacCategory));

cl::opt<int64_t> phases(
    "phases",
    cl::desc("Kernels per delta-rule layer: 1 fused (default), 2 as "
             "--split-kernels, 3 prepare + state-only scan + chunk-parallel "
             "output (or prepare + a scan that computes the output: "
             "--output-in-scan)"),
    cl::init(1), cl::cat(deltacCategory));

cl::opt<int64_t> decodeBlockV(
    "decode-block-v",
    cl::desc("Value columns per decode-step program, at most (default "
             "64; the widest legal block that divides dv is taken)"),
    cl::init(64), cl::cat(deltacCategory));

cl::opt<bool> longSequenceKernels(
    "long-sequence-kernels",
    cl::desc("With --emit=package (and neither --tune-space nor "
             "--tuning-db): also compile every delta-rule layer as "
             "three-phase kernels at block_v 16, 32, 64 and 128, and the "
             "segment scan at block_v 64 (where they fit); the runtime runs "
             "them for sequences of >= 1024 tokens "
             "at head size >= 128, or when the fused kernel would leave SMs "
             "idle (docs/tuning.md, the long-sequence rule; default on)"),
    cl::init(true), cl::cat(deltacCategory));

cl::opt<bool> stateInRegisters(
    "state-in-registers",
    cl::desc("Keep the recurrent state in registers across chunks in the "
             "fused and scan kernels where the layer allows it (default on)"),
    cl::init(true), cl::cat(deltacCategory));

cl::opt<std::string> tensorCores(
    "tensor-cores",
    cl::desc("Tensor-core instruction family of the chunk products: auto "
             "(per kernel, as measured: on sm_90a wgmma for the three-phase "
             "scans and for the other three-phase kernels at block_v >= 32, "
             "mma.sync elsewhere), mma.sync, or "
             "wgmma (sm_90a: warpgroup MMA from shared-memory descriptors; "
             "docs/codegen.md)"),
    cl::value_desc("family"), cl::init("auto"), cl::cat(deltacCategory));

cl::opt<int64_t> parallelBlockV(
    "parallel-block-v",
    cl::desc("Value columns per program of the three-phase prepare and "
             "output kernels (chunk-parallel), independent of the scan's "
             "block_v: 0 = auto (default: the widest of 128, 64, 32, 16, "
             "of 64, 32, 16 above dk = 128, that divides dv, is a multiple "
             "of block_v and fits shared memory), or a multiple of block_v "
             "that divides dv"),
    cl::init(0), cl::cat(deltacCategory));

cl::opt<bool> registerScan(
    "register-scan",
    cl::desc("Run the three-phase scan's recurrence in wgmma registers, "
             "one warpgroup per 64 value columns (transposed; sm_90a, "
             "block_v a multiple of 64, dk <= 128; at dk = 256, block_v "
             "64: two warpgroups, each half of dk; default on)"),
    cl::init(true), cl::cat(deltacCategory));

cl::opt<bool> outputInScan(
    "output-in-scan",
    cl::desc("Three phases: the register scan (dk <= 128, or 256 at "
             "block_v 64) also computes the output (two kernels, no Sb / Vn "
             "in scratch, no output kernel; default on)"),
    cl::init(true), cl::cat(deltacCategory));

cl::opt<int64_t> segmentChunks(
    "segment-chunks",
    cl::desc("Three phases with the output in the scan (the register scan, "
             "dk <= 128): split each sequence into segments of N chunks "
             "(even) that run side by side: the segments' transitions, a "
             "combine, then the scan of every segment from its starting "
             "state (docs/codegen.md, the segment scan); 0 = off (default)"),
    cl::init(0), cl::cat(deltacCategory));

cl::opt<bool> doubleBuffer(
    "double-buffer",
    cl::desc("Alternate prefetched tiles between two shared buffers from "
             "chunk to chunk instead of copying them (default on)"),
    cl::init(true), cl::cat(deltacCategory));

cl::opt<bool> epilogueFusion(
    "epilogue-fusion",
    cl::desc("Run masks and row scales in the epilogue of the product they "
             "transform (default on)"),
    cl::init(true), cl::cat(deltacCategory));

cl::opt<std::string> tuneSpace(
    "tune-space",
    cl::desc("With --emit=package: compile every delta-rule layer once per\n"
             "configuration of SPEC into one package (docs/tuning.md), the\n"
             "configuration of the other flags first (the default); illegal\n"
             "or duplicate configurations are skipped with a note.\n"
             "e.g. --tune-space='block-v=32,64;warps=4,8;split=0,1'\n"
             "SPEC := ITEM (';' ITEM)*   ITEM := KEY=VALUE(,VALUE)*\n"
             "  block-v   value columns per program (integers)\n"
             "  warps     warps per program (1, 2, 4, 8)\n"
             "  stages    load-pipeline stages (integers >= 1)\n"
             "  split     0 fused kernel, 1 prepare + scan kernels\n"
             "  phases    1 fused, 2 split, 3 split3 (not with split)\n"
             "  epilogue  epilogue fusion (0, 1)\n"
             "  mma       tensor-core family (auto, mma.sync, wgmma)\n"
             "  parallel-block-v  value columns of the three-phase prepare\n"
             "            and output kernels (auto, or integers)\n"
             "  output-in-scan  whether a three-phase register scan also\n"
             "            computes the output (1) or leaves it to an output\n"
             "            kernel (0)\n"
             "  segment-chunks  segment scan: chunks per segment (0 off, or\n"
             "            even integers; three phases, output in the scan)\n"
             "Entries get \"config\": bv<N>_w<N>_<fused|split|split3>\n"
             "[_s<stages>][_noepi][_pv<N>][_sepout][_seg<N>][_wgmma|_mmasync]"),
    cl::value_desc("spec"), cl::cat(deltacCategory));

cl::opt<std::string> tuningDb(
    "tuning-db",
    cl::desc("With --emit=package: a tuning database written by delta-tune\n"
             "(on the GPU machine): compile, per delta-rule layer, the\n"
             "default configuration and those that won a shape bucket on the\n"
             "--tune-gpu GPUs, and record their winners in the manifest\n"
             "(\"tuning\") for the runtime; a winner measured on other code\n"
             "than this compile's (the records' code fingerprints) gets a\n"
             "note"),
    cl::value_desc("file"), cl::cat(deltacCategory));

cl::list<std::string> tuneGpu(
    "tune-gpu",
    cl::desc("GPU names of --tuning-db records to use, as delta-tune --list\n"
             "prints them (comma-separated; default: the database's only\n"
             "GPU)"),
    cl::value_desc("name"), cl::CommaSeparated, cl::cat(deltacCategory));

/// The stages, in pipeline order.
enum class Stage { Parsed, Delta, Tiled, Gpu, Llvm, Ptx, Package };
constexpr const char *kStageNames[] = {"parsed", "delta", "tiled",  "gpu",
                                       "llvm",   "ptx",   "package"};

std::optional<Stage> parseStage(llvm::StringRef name) {
  for (int i = 0; i <= int(Stage::Package); ++i)
    if (name == kStageNames[i])
      return Stage(i);
  return std::nullopt;
}

void printHeader(Stage stage, bool header, llvm::raw_ostream &os) {
  if (header)
    os << "// ----- stage: " << kStageNames[int(stage)] << " -----\n";
}

/// The producer string of packages (and the compiler version of tuning
/// records).
/// The long-sequence variants (--long-sequence-kernels): three-phase
/// kernels at these block_v (those a layer cannot have are skipped); the
/// runtime's long-sequence rule picks among them (docs/tuning.md).
constexpr int64_t kLongSequenceBlockV[] = {16, 32, 64, 128};
/// ... and the segment scan at block_v 64 with segments of this many chunks
/// (where its scan is the register scan that computes the output).
constexpr int64_t kLongSequenceSegmentChunks = 32;

constexpr const char *kProducer =
    "deltac " DELTAJIT_VERSION " (MLIR " MLIR_VERSION ")";

struct TuneStats {
  int configs = 0, added = 0, same = 0, skipped = 0;
  /// Ops the variants were compiled for.
  int ops = 0;
  /// Per op signature: configs whose kernels equal another config's.
  std::map<std::string, std::map<std::string, std::string>> aliases;
};

void tuneNote(const std::string &config, const std::string &signature,
              const std::string &what) {
  llvm::errs() << "deltac: note: tune: " << config << " for " << signature
               << ": " << what << "\n";
}

/// Lowers a one-op module with `config` through convert-delta-to-nvvm; null
/// with the first error (or remark) in `why` when that fails or lowers
/// nothing.
OwningOpRef<ModuleOp> lowerVariant(MLIRContext &context, ModuleOp op,
                                   const deltajit::tune::TileConfig &config,
                                   std::string &why) {
  OwningOpRef<ModuleOp> variant = op.clone();
  std::string diagnostics;
  std::mutex mu; // nested pass managers may report from several threads
  ScopedDiagnosticHandler capture(&context, [&](Diagnostic &d) {
    std::lock_guard<std::mutex> lock(mu);
    if (diagnostics.empty() && (d.getSeverity() == DiagnosticSeverity::Error ||
                                d.getSeverity() == DiagnosticSeverity::Remark))
      diagnostics = d.str();
    return success();
  });
  PassManager pm(&context);
  deltajit::DeltaChunkTileOptions tile;
  tile.blockV = config.blockV;
  tile.warps = config.warps;
  tile.stages = config.stages;
  pm.addPass(deltajit::createDeltaChunkTile(tile));
  deltajit::ConvertDeltaToNVVMOptions lower;
  lower.chip = chip;
  lower.phases = config.phases;
  lower.epilogueFusion = config.epilogueFusion;
  lower.decodeBlockV = decodeBlockV;
  lower.stateInRegisters = stateInRegisters;
  lower.doubleBuffer = doubleBuffer;
  lower.registerScan = registerScan;
  lower.outputInScan = config.outputInScan;
  lower.parallelBlockV = config.parallelBlockV;
  lower.segmentChunks = config.segmentChunks;
  lower.tensorCores = config.mma;
  pm.addPass(deltajit::createConvertDeltaToNVVM(lower));
  if (failed(pm.run(*variant))) {
    why = diagnostics.empty() ? "the lowering failed" : diagnostics;
    return nullptr;
  }
  bool lowered = false;
  variant->walk([&](deltajit::delta::LaunchOp) { lowered = true; });
  if (!lowered) {
    why = diagnostics.empty() ? "not lowered" : "not lowered: " + diagnostics;
    return nullptr;
  }
  return variant;
}

/// Compiles the non-default configurations of every delta-rule op (one
/// module per configuration, through PTX), skipping illegal ones and those
/// whose kernels the package already has, and appends them to `parts`.
void compileVariants(MLIRContext &context,
                     const std::vector<deltajit::tune::TileConfig> &space,
                     const std::vector<deltajit::tune::DbRecord> &dbRecords,
                     std::vector<deltajit::tune::OpTemplate> &templates,
                     deltajit::tune::VariantSet &variants,
                     std::map<std::string, std::set<std::string>> &available,
                     std::vector<OwningOpRef<ModuleOp>> &modules,
                     std::vector<deltajit::PackagePart> &parts,
                     TuneStats &stats, bool quiet = false) {
  namespace tune = deltajit::tune;
  const tune::TileConfig &defaults = space.front();
  // With a database: per op signature, the configs that won there.
  std::vector<tune::TileConfig> configs = space;
  std::map<std::string, std::set<std::string>> winners;
  bool fromDb = !tuningDb.empty();
  if (fromDb) {
    std::set<std::string> compilers;
    std::map<std::string, tune::TileConfig> byName;
    for (const tune::DbRecord &r : dbRecords) {
      if (r.compiler != kProducer)
        compilers.insert(r.compiler);
      std::string error;
      auto c = tune::TileConfig::fromName(r.config, error);
      if (!c) {
        llvm::errs() << "deltac: note: tune: --tuning-db: " << error
                     << "; ignored\n";
        continue;
      }
      winners[r.signature].insert(r.config);
      byName.emplace(r.config, *c);
    }
    for (const std::string &c : compilers)
      llvm::errs() << "deltac: note: tune: --tuning-db has records measured "
                      "with kernels of '"
                   << c << "' (this is '" << kProducer << "')\n";
    for (auto &[name, c] : byName)
      if (!(c == defaults))
        configs.push_back(c);
  }

  stats.configs = int(configs.size());
  stats.ops = int(templates.size());
  for (const tune::TileConfig &config : configs) {
    if (config == defaults)
      continue;
    std::string name = config.name();
    OwningOpRef<ModuleOp> merged;
    for (tune::OpTemplate &t : templates) {
      if (fromDb && !winners[t.signature].count(name))
        continue;
      auto skip = [&](const std::string &why) {
        if (!quiet)
          tuneNote(name, t.signature, "skipped: " + why);
        ++stats.skipped;
      };
      if (ShapedType::isDynamic(t.dk) || ShapedType::isDynamic(t.dv)) {
        skip("dynamic head dimension");
        continue;
      }
      if (config.blockV > t.dv) {
        skip("block_v " + std::to_string(config.blockV) + " > dv " +
             std::to_string(t.dv));
        continue;
      }
      if (t.dv % config.blockV != 0) {
        skip("dv " + std::to_string(t.dv) + " is not a multiple of block_v " +
             std::to_string(config.blockV));
        continue;
      }
      std::string why;
      OwningOpRef<ModuleOp> variant =
          lowerVariant(context, *t.module, config, why);
      if (!variant) {
        skip(why);
        continue;
      }
      Operation *launch = nullptr;
      variant->walk([&](deltajit::delta::LaunchOp l) { launch = l; });
      if (auto same = variants.duplicateOf(launch, *variant)) {
        if (!quiet)
          tuneNote(name, t.signature,
                   "same kernels as " + *same + "; not added");
        stats.aliases[t.signature][name] = *same;
        ++stats.same;
        continue;
      }
      variants.shareKernels(*variant);
      variants.uniquifyKernelNames(*variant, name);
      variants.add(*variant, name);
      available[t.signature].insert(name);
      ++stats.added;
      if (!merged)
        merged = std::move(variant);
      else
        tune::mergeKernelModule(*merged, *variant);
    }
    if (!merged)
      continue;
    std::string diagnostics;
    {
      std::mutex mu;
      ScopedDiagnosticHandler capture(&context, [&](Diagnostic &d) {
        std::lock_guard<std::mutex> lock(mu);
        if (diagnostics.empty())
          diagnostics = d.str();
        return success();
      });
      PassManager pm(&context);
      deltajit::buildKernelsToLLVMPipeline(pm);
      deltajit::buildKernelsToPTXPipeline(pm);
      if (failed(pm.run(*merged))) {
        llvm::errs() << "deltac: note: tune: " << name
                     << ": skipped: PTX generation failed: " << diagnostics
                     << "\n";
        continue;
      }
    }
    parts.push_back({*merged, name, "." + name});
    modules.push_back(std::move(merged));
  }
}

int run() {
  bool all = emitStage == "all";
  std::optional<Stage> target = all ? Stage::Ptx : parseStage(emitStage);
  if (!target) {
    llvm::errs() << "deltac: error: unknown stage '" << emitStage
                 << "' for --emit (available: parsed, delta, tiled, gpu, "
                    "llvm, ptx, package, all)\n";
    return 2;
  }
  if (phases < 1 || phases > 3) {
    llvm::errs() << "deltac: error: --phases must be 1, 2 or 3, got "
                 << int64_t(phases) << "\n";
    return 2;
  }
  if (segmentChunks != 0 && (phases != 3 || !outputInScan)) {
    llvm::errs() << "deltac: error: --segment-chunks needs --phases=3 with "
                    "the output in the scan (--output-in-scan, the default); "
                    "got --phases="
                 << int64_t(phases)
                 << (outputInScan ? "" : " --output-in-scan=0") << "\n";
    return 2;
  }
  // Tuning (docs/tuning.md): the default configuration from the flags and
  // the others from --tune-space, or --tuning-db's winners; without either,
  // a package of fused kernels also gets the three-phase long-sequence
  // variants.
  namespace tune = deltajit::tune;
  tune::TileConfig defaultConfig;
  defaultConfig.blockV = blockV;
  defaultConfig.warps = warps;
  defaultConfig.phases = phases > 1 ? int64_t(phases) : splitKernels ? 2 : 1;
  defaultConfig.epilogueFusion = epilogueFusion;
  defaultConfig.outputInScan = outputInScan;
  defaultConfig.segmentChunks =
      defaultConfig.phases == 3 && outputInScan ? int64_t(segmentChunks) : 0;
  defaultConfig.mma = tensorCores;
  defaultConfig.parallelBlockV =
      defaultConfig.phases == 3 ? int64_t(parallelBlockV) : 0;
  std::vector<tune::TileConfig> configs{defaultConfig};
  bool longSequence = *target == Stage::Package && tuneSpace.empty() &&
                      tuningDb.empty() && longSequenceKernels &&
                      defaultConfig.phases == 1;
  if (longSequence)
    for (int64_t bv : kLongSequenceBlockV) {
      tune::TileConfig c = defaultConfig;
      c.blockV = bv;
      c.phases = 3;
      c.parallelBlockV = parallelBlockV;
      configs.push_back(c);
    }
  if (longSequence && outputInScan) {
    tune::TileConfig c = defaultConfig;
    c.blockV = 64;
    c.phases = 3;
    c.parallelBlockV = parallelBlockV;
    c.outputInScan = true;
    c.segmentChunks = kLongSequenceSegmentChunks;
    configs.push_back(c);
  }
  bool tuning = !tuneSpace.empty() || !tuningDb.empty() || longSequence;
  std::vector<tune::DbRecord> dbRecords;
  if (tuning && *target != Stage::Package) {
    llvm::errs() << "deltac: error: --tune-space and --tuning-db need "
                    "--emit=package\n";
    return 2;
  }
  if (!tuneSpace.empty() && !tuningDb.empty()) {
    llvm::errs() << "deltac: error: --tune-space and --tuning-db exclude each "
                    "other (--tuning-db compiles the configs that won)\n";
    return 2;
  }
  if (!tuneGpu.empty() && tuningDb.empty()) {
    llvm::errs() << "deltac: error: --tune-gpu needs --tuning-db\n";
    return 2;
  }
  if (!tuneSpace.empty()) {
    std::string error;
    if (!tune::parseTuneSpace(tuneSpace, defaultConfig, configs, error)) {
      llvm::errs() << "deltac: error: --tune-space: " << error << "\n";
      return 2;
    }
  }
  if (!tuningDb.empty()) {
    std::string error;
    std::vector<tune::DbRecord> all;
    std::vector<std::string> gpus(tuneGpu.begin(), tuneGpu.end());
    if (!tune::readTuningDb(tuningDb, all, error) ||
        !tune::selectGpuRecords(all, gpus, dbRecords, error)) {
      llvm::errs() << "deltac: error: --tuning-db: " << error << "\n";
      return 1;
    }
  }

  if (*target == Stage::Package && outputFilename == "-") {
    llvm::errs() << "deltac: error: --emit=package needs -o DIR (the package "
                    "directory to write)\n";
    return 2;
  }
  std::string targetError;
  if (!deltajit::nvidia::TargetInfo::get(chip, targetError)) {
    llvm::errs() << "deltac: error: --chip: " << targetError << "\n";
    return 2;
  }

  // Never write over the input the user gave us.
  if (outputFilename != "-" && inputFilename != "-" &&
      llvm::sys::fs::equivalent(inputFilename, outputFilename)) {
    llvm::errs() << "deltac: error: output file '" << outputFilename
                 << "' is the input file; refusing to overwrite it\n";
    return 2;
  }

  DialectRegistry registry;
  registry.insert<deltajit::delta::DeltaDialect, func::FuncDialect,
                  ml_program::MLProgramDialect, arith::ArithDialect,
                  tensor::TensorDialect>();
  deltajit::registerCodegenDialects(registry);
  MLIRContext context(registry);

  std::string errorMessage;
  auto input = openInputFile(inputFilename, &errorMessage);
  if (!input) {
    llvm::errs() << "deltac: error: cannot read '" << inputFilename
                 << "': " << errorMessage << "\n";
    return 1;
  }
  llvm::StringRef inputText = input->getBuffer();
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &context);

  OwningOpRef<ModuleOp> module;
  if (llvm::sys::path::extension(inputFilename) == ".json") {
    // A model spec or FLA config.json: the frontend builds the module.
    std::string name = llvm::sys::path::stem(inputFilename).str();
    for (char &c : name)
      if (!llvm::isAlnum(c) && c != '_')
        c = '_';
    deltajit::frontend::ModelSpec spec;
    deltajit::frontend::SpecError specError;
    if (!deltajit::frontend::parseModelJSON(inputText, name, spec, specError)) {
      llvm::errs() << "deltac: error: " << inputFilename;
      if (specError.line)
        llvm::errs() << ":" << specError.line << ":" << specError.column;
      else
        llvm::errs() << ": " << specError.field;
      llvm::errs() << ": " << specError.message << "\n";
      return 1;
    }
    module = deltajit::frontend::buildModelModule(spec, context);
    if (failed(verify(*module)))
      return 1;
  } else {
    // Parsing verifies the module; diagnostics carry file:line:col.
    module = parseSourceFile<ModuleOp>(sourceMgr, ParserConfig(&context));
    if (!module)
      return 1;
  }

  std::string buffer;
  llvm::raw_string_ostream os(buffer);
  auto wanted = [&](Stage s) { return all ? s <= Stage::Ptx : s == *target; };
  auto runStage = [&](llvm::function_ref<void(PassManager &)> build) {
    PassManager pm(&context);
    if (failed(applyPassManagerCLOptions(pm)))
      return false;
    build(pm);
    return succeeded(pm.run(*module));
  };

  // A model (a public @forward over token ids) gets its host graph in the
  // package and a decode kernel per delta-rule layer.
  bool isModel = deltajit::isModelModule(*module);
  std::optional<llvm::json::Value> modelGraph;
  // Tuning: the delta-rule ops to compile per configuration, and what the
  // package holds (kernels, entries; configs per entry signature).
  std::vector<tune::OpTemplate> opTemplates;
  tune::VariantSet variants;
  std::map<std::string, std::set<std::string>> available;

  for (int i = 0; i <= int(*target); ++i) {
    Stage stage = Stage(i);
    bool ok = true;
    switch (stage) {
    case Stage::Parsed:
      break;
    case Stage::Delta:
      ok = runStage(
          [](PassManager &pm) { deltajit::buildDeltaGraphPipeline(pm); });
      if (ok && isModel && *target == Stage::Package) {
        std::string error;
        modelGraph = deltajit::buildModelGraph(*module, error);
        if (!modelGraph) {
          llvm::errs() << "deltac: error: " << inputFilename << ": " << error
                       << "\n";
          return 1;
        }
      }
      if (ok && tuning)
        opTemplates = tune::extractDeltaRuleOps(*module);
      break;
    case Stage::Tiled:
      ok = runStage([&](PassManager &pm) {
        if (isModel)
          pm.addPass(deltajit::createDeltaAddDecodeSteps());
        deltajit::DeltaChunkTileOptions options;
        options.blockV = blockV;
        options.warps = warps;
        pm.addPass(deltajit::createDeltaChunkTile(options));
      });
      break;
    case Stage::Gpu:
      ok = runStage([](PassManager &pm) {
        deltajit::ConvertDeltaToNVVMOptions options;
        options.chip = chip;
        options.splitKernels = splitKernels;
        options.phases = phases;
        options.epilogueFusion = epilogueFusion;
        options.decodeBlockV = decodeBlockV;
        options.stateInRegisters = stateInRegisters;
        options.doubleBuffer = doubleBuffer;
        options.registerScan = registerScan;
        options.outputInScan = outputInScan;
        options.parallelBlockV = parallelBlockV;
        options.segmentChunks = segmentChunks;
        options.tensorCores = tensorCores;
        pm.addPass(deltajit::createConvertDeltaToNVVM(options));
      });
      if (ok && tuning) {
        variants.add(*module, defaultConfig.name());
        module->walk([&](deltajit::delta::LaunchOp l) {
          if (auto entry = l.getLaunch().getAs<DictionaryAttr>("entry"))
            available[tune::signatureOf(entry)].insert(defaultConfig.name());
        });
      }
      break;
    case Stage::Llvm:
      ok = runStage(
          [](PassManager &pm) { deltajit::buildKernelsToLLVMPipeline(pm); });
      break;
    case Stage::Ptx:
      ok = runStage(
          [](PassManager &pm) { deltajit::buildKernelsToPTXPipeline(pm); });
      break;
    case Stage::Package:
      break;
    }
    if (!ok)
      return 1;
    if (!wanted(stage) || stage == Stage::Package)
      continue;
    printHeader(stage, all, os);
    if (stage == Stage::Ptx) {
      for (auto &[name, text] : deltajit::collectPTX(*module))
        os << "// ----- kernel module: " << name << " -----\n" << text << "\n";
    } else {
      module->print(os);
      os << "\n";
    }
  }

  if (*target == Stage::Package) {
    deltajit::PackageSummary summary;
    std::string error;
    // Every entry names its configuration; tuning adds parts of other ones.
    std::vector<deltajit::PackagePart> parts{
        {*module, defaultConfig.name(), ""}};
    std::vector<OwningOpRef<ModuleOp>> variantModules;
    std::optional<llvm::json::Value> tuningSection;
    TuneStats stats;
    if (tuning) {
      compileVariants(context, configs, dbRecords, opTemplates, variants,
                      available, variantModules, parts, stats,
                      /*quiet=*/longSequence);
      if (!tuningDb.empty()) {
        // A winner whose kernels the package has under another config
        // runs as that one.
        for (tune::DbRecord &r : dbRecords) {
          auto &aliases = stats.aliases[r.signature];
          auto it = aliases.find(r.config);
          if (it != aliases.end())
            r.config = it->second;
        }
        int dropped = 0;
        tuningSection = tune::tuningSection(dbRecords, available, dropped);
        if (dropped)
          llvm::errs() << "deltac: note: tune: " << dropped
                       << " record(s) of --tuning-db name a layer or "
                          "config this package does not have; not in its "
                          "tuning table\n";
      }
    }
    if (!deltajit::writePackage(parts, outputFilename, kProducer, summary,
                                error, std::move(modelGraph),
                                std::move(tuningSection))) {
      llvm::errs() << "deltac: error: " << error << "\n";
      return 1;
    }
    if (!tuningDb.empty()) {
      // Winners measured on other code than this package's: their timing
      // may not hold here (the compiler changed since delta-tune ran).
      std::vector<std::string> mismatches;
      if (!tune::codeMismatches(outputFilename, dbRecords, mismatches, error))
        llvm::errs() << "deltac: note: tune: cannot compare the database's "
                        "code fingerprints: "
                     << error << "\n";
      for (const std::string &m : mismatches)
        llvm::errs() << "deltac: note: tune: " << m << "\n";
      if (!mismatches.empty())
        llvm::errs() << "deltac: note: tune: " << mismatches.size()
                     << " winner(s) of --tuning-db were measured on other "
                        "kernels than these; re-run delta-tune on this "
                        "package to measure them\n";
    }
    llvm::outs() << "deltac: wrote package '" << outputFilename
                 << "': " << summary.numKernels << " kernel(s), "
                 << summary.numEntries << " entr"
                 << (summary.numEntries == 1 ? "y" : "ies") << " for "
                 << summary.chip << "\n";
    if (longSequence) {
      if (stats.ops)
        llvm::outs() << "deltac: long-sequence kernels: " << stats.added
                     << " three-phase variant(s) for " << stats.ops
                     << " layer(s) (--long-sequence-kernels=0: none)\n";
    } else if (tuning)
      llvm::outs() << "deltac: tune: " << stats.configs << " config(s) x "
                   << opTemplates.size() << " delta-rule op(s): " << stats.added
                   << " variant(s) added, " << stats.same
                   << " same as another, " << stats.skipped << " skipped\n";
    return 0;
  }

  // Only open (and so create or truncate) the output once all stages
  // succeeded.
  auto output = openOutputFile(outputFilename, &errorMessage);
  if (!output) {
    llvm::errs() << "deltac: error: cannot write '" << outputFilename
                 << "': " << errorMessage << "\n";
    return 1;
  }
  output->os() << buffer;
  output->keep();
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerAsmPrinterCLOptions();
  cl::HideUnrelatedOptions({&deltacCategory});
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << "deltac (deltajit) " DELTAJIT_VERSION "\n";
  });
  cl::ParseCommandLineOptions(
      argc, argv,
      "deltac: the deltajit compiler driver\n\n"
      "Compiles delta-rule linear-attention models written in the `delta`\n"
      "dialect, or given as a .json model spec or FLA config.json\n"
      "(docs/model-spec.md), to GPU kernels. The input is verified (errors\n"
      "carry file:line:col, or file: field for JSON, and give a non-zero\n"
      "exit) and run through the pipeline up to --emit's stage: parsed ->\n"
      "delta -> tiled -> gpu -> llvm -> ptx -> package.\n\n"
      "Examples:\n"
      "  deltac model.mlir --emit=tiled\n"
      "  deltac config.json --emit=parsed\n"
      "  deltac model.mlir --emit=package -o model.djpkg --chip=sm_90a\n");
  return run();
}
