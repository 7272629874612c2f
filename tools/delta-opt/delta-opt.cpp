//===- delta-opt.cpp - mlir-opt with the delta dialect --------------------===//
//
// Runs passes over .mlir files (the driver of the lit tests): upstream MLIR
// dialects and passes plus the `delta` dialect and deltajit's passes.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Codegen/CPU/Passes.h"
#include "deltajit/Codegen/Passes.h"
#include "deltajit/Dialect/DeltaDialect.h"
#include "deltajit/Passes/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  deltajit::registerDeltajitPassesAndPipelines();
  deltajit::registerCodegenPassesAndPipelines();
  deltajit::registerCPUCodegenPassesAndPipelines();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  registry.insert<deltajit::delta::DeltaDialect>();
  deltajit::registerCodegenDialects(registry);
  deltajit::registerCPUCodegenDialects(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "deltajit optimizer driver (delta-opt)\n", registry));
}
