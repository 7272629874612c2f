//===- Passes.h - deltajit's CPU lowering -----------------------*- C++ -*-===//
//
// Declares convert-delta-to-cpu (from Passes.td), the pipeline that takes its
// output to the LLVM dialect for mlir::ExecutionEngine, and registration.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_CPU_PASSES_H
#define DELTAJIT_CODEGEN_CPU_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/Pass.h"

namespace deltajit {

#define GEN_PASS_DECL
#include "deltajit/Codegen/CPU/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "deltajit/Codegen/CPU/Passes.h.inc"

/// Adds the passes that take the output of convert-delta-to-cpu (loops on
/// memrefs inside tensor code) to the LLVM dialect: One-Shot Bufferize
/// (function boundaries included, identity layouts), the buffer deallocation
/// pipeline, then scf/arith (bf16 expanded to integer ops)/math/memref/func
/// to LLVM. Functions marked `llvm.emit_c_interface` get their
/// `_mlir_ciface_` wrappers for mlir::ExecutionEngine.
void buildCPUToLLVMPipeline(mlir::OpPassManager &pm);

/// Adds delta-chunk-tile (with `blockV` columns per value tile),
/// convert-delta-to-cpu and buildCPUToLLVMPipeline: delta.delta_rule on
/// tensors to the LLVM dialect.
void buildDeltaRuleToCPUPipeline(mlir::OpPassManager &pm, int64_t blockV = 64);

/// Registers the dialects and external models (bufferization interfaces)
/// that the CPU lowering and its pipeline need, and the LLVM IR translations
/// that mlir::ExecutionEngine needs.
void registerCPUCodegenDialects(mlir::DialectRegistry &registry);

/// Registers convert-delta-to-cpu and the `delta-cpu-to-llvm` pipeline.
void registerCPUCodegenPassesAndPipelines();

} // namespace deltajit

#endif // DELTAJIT_CODEGEN_CPU_PASSES_H
