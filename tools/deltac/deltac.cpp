//===- deltac.cpp - the deltajit compiler driver --------------------------===//
//
// Reads a model (.mlir in the `delta` dialect), verifies it, runs the stages
// of the compilation pipeline and prints the stage asked for with --emit.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Dialect/DeltaDialect.h"
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
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
namespace cl = llvm::cl;

namespace {

cl::OptionCategory deltacCategory("deltac options");

cl::opt<std::string> inputFilename(cl::Positional,
                                   cl::desc("<input .mlir file, '-' for stdin>"),
                                   cl::init("-"), cl::cat(deltacCategory));

cl::opt<std::string> outputFilename("o", cl::desc("Output file ('-': stdout)"),
                                    cl::value_desc("file"), cl::init("-"),
                                    cl::cat(deltacCategory));

cl::opt<std::string> emitStage(
    "emit",
    cl::desc(
        "The stage to print:\n"
        "  parsed  the input after parsing and verification, unchanged\n"
        "  delta   after the graph pipeline (q/k L2-norm fusion,\n"
        "          canonicalization, CSE): the layer-level `delta` module\n"
        "          that tiling starts from (default)\n"
        "  all     every available stage in order, each under a\n"
        "          '// ----- stage: NAME -----' header\n"
        "Stages of later compiler releases (tiled, gpu, llvm, ptx, package)\n"
        "are reported as not available in this build."),
    cl::value_desc("stage"), cl::init("delta"), cl::cat(deltacCategory));

/// The stages this build can produce, in pipeline order.
enum class Stage { Parsed, Delta };
constexpr const char *kStageNames[] = {"parsed", "delta"};

/// The stages the design names that this build does not produce yet.
bool isPlannedStage(llvm::StringRef s) {
  return llvm::is_contained({"tiled", "gpu", "llvm", "ptx", "package"}, s);
}

/// Prints `module` to `os`, under a stage header when `header` is set.
void printStage(ModuleOp module, Stage stage, bool header,
                llvm::raw_ostream &os) {
  if (header)
    os << "// ----- stage: " << kStageNames[int(stage)] << " -----\n";
  module.print(os);
  os << "\n";
}

int run() {
  std::optional<Stage> only =
      llvm::StringSwitch<std::optional<Stage>>(emitStage)
          .Case("parsed", Stage::Parsed)
          .Case("delta", Stage::Delta)
          .Case("all", std::nullopt)
          .Default(std::nullopt);
  bool all = emitStage == "all";
  if (!only && !all) {
    if (isPlannedStage(emitStage))
      llvm::errs() << "deltac: error: stage '" << emitStage
                   << "' is not available in this build (available: parsed, "
                      "delta, all)\n";
    else
      llvm::errs() << "deltac: error: unknown stage '" << emitStage
                   << "' for --emit (available: parsed, delta, all)\n";
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
                  ml_program::MLProgramDialect,
                  arith::ArithDialect, tensor::TensorDialect>();
  MLIRContext context(registry);

  std::string errorMessage;
  auto input = openInputFile(inputFilename, &errorMessage);
  if (!input) {
    llvm::errs() << "deltac: error: cannot read '" << inputFilename
                 << "': " << errorMessage << "\n";
    return 1;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &context);

  // Parsing verifies the module; diagnostics carry file:line:col.
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(sourceMgr, ParserConfig(&context));
  if (!module)
    return 1;

  std::string buffer;
  llvm::raw_string_ostream os(buffer);
  if (all || *only == Stage::Parsed)
    printStage(*module, Stage::Parsed, all, os);

  if (all || *only == Stage::Delta) {
    PassManager pm(&context);
    if (failed(applyPassManagerCLOptions(pm)))
      return 1;
    deltajit::buildDeltaGraphPipeline(pm);
    if (failed(pm.run(*module)))
      return 1;
    printStage(*module, Stage::Delta, all, os);
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
      "dialect. The input is verified (errors carry file:line:col and give a\n"
      "non-zero exit) and run through the pipeline up to --emit's stage.\n\n"
      "Example:\n"
      "  deltac frontend/examples/hybrid_deltanet_swa.mlir --emit=all\n");
  return run();
}
