//===- deltac.cpp - the deltajit compiler driver --------------------------===//
//
// Reads a model (.mlir in the `delta` dialect, or a .json model spec or FLA
// config.json built by the frontend), verifies it, runs the stages of the
// compilation pipeline and prints the stage asked for with --emit.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Codegen/NVIDIA/TargetInfo.h"
#include "deltajit/Codegen/ModelGraph.h"
#include "deltajit/Codegen/PackageWriter.h"
#include "deltajit/Codegen/Passes.h"
#include "deltajit/Dialect/DeltaDialect.h"
#include "deltajit/Frontend/ModelSpec.h"
#include "deltajit/Passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
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

cl::opt<bool> epilogueFusion(
    "epilogue-fusion",
    cl::desc("Run masks and row scales in the epilogue of the product they "
             "transform (default on)"),
    cl::init(true), cl::cat(deltacCategory));

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

int run() {
  bool all = emitStage == "all";
  std::optional<Stage> target = all ? Stage::Ptx : parseStage(emitStage);
  if (!target) {
    llvm::errs() << "deltac: error: unknown stage '" << emitStage
                 << "' for --emit (available: parsed, delta, tiled, gpu, "
                    "llvm, ptx, package, all)\n";
    return 2;
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
        options.epilogueFusion = epilogueFusion;
        pm.addPass(deltajit::createConvertDeltaToNVVM(options));
      });
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
    if (!deltajit::writePackage(*module, outputFilename,
                                "deltac " DELTAJIT_VERSION
                                " (MLIR " MLIR_VERSION ")",
                                summary, error, std::move(modelGraph))) {
      llvm::errs() << "deltac: error: " << error << "\n";
      return 1;
    }
    llvm::outs() << "deltac: wrote package '" << outputFilename
                 << "': " << summary.numKernels << " kernel(s), "
                 << summary.numEntries << " entr"
                 << (summary.numEntries == 1 ? "y" : "ies") << " for "
                 << summary.chip << "\n";
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
