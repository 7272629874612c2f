//===- Passes.h - deltajit's target-independent passes ----------*- C++ -*-===//
//
// Declares the passes of passes/ (generated from Passes.td) and their
// registration.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_PASSES_PASSES_H
#define DELTAJIT_PASSES_PASSES_H

#include "deltajit/Dialect/DeltaDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Pass/Pass.h"

namespace deltajit {

#define GEN_PASS_DECL
#include "deltajit/Passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "deltajit/Passes/Passes.h.inc"

/// Adds the graph-level pipeline (fusions, canonicalization, CSE) that every
/// model goes through before tiling: the `delta` stage of deltac.
void buildDeltaGraphPipeline(mlir::OpPassManager &pm);

/// Registers deltajit's passes and the `delta-graph-pipeline` pipeline.
void registerDeltajitPassesAndPipelines();

} // namespace deltajit

#endif // DELTAJIT_PASSES_PASSES_H
