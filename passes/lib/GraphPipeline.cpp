//===- GraphPipeline.cpp - the graph-level pass pipeline ------------------===//
//
// The passes every model runs before tiling (deltac's `delta` stage), and the
// registration of all deltajit passes and pipelines for the tools.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void deltajit::buildDeltaGraphPipeline(OpPassManager &pm) {
  pm.addPass(createDeltaFuseQKL2Norm());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void deltajit::registerDeltajitPassesAndPipelines() {
  registerDeltaPasses();
  PassPipelineRegistration<>(
      "delta-graph-pipeline",
      "The graph-level pipeline run before tiling (fusions, canonicalize, "
      "CSE)",
      [](OpPassManager &pm) { buildDeltaGraphPipeline(pm); });
}
