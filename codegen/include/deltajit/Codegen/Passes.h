//===- Passes.h - deltajit's target lowering passes -------------*- C++ -*-===//
//
// Declares the codegen passes (from Passes.td) and the lowering pipelines
// from kernels in the gpu dialect to LLVM and PTX.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_PASSES_H
#define DELTAJIT_CODEGEN_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include <map>
#include <string>

namespace deltajit {

#define GEN_PASS_DECL
#include "deltajit/Codegen/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "deltajit/Codegen/Passes.h.inc"

/// Lowers the kernels of every gpu.module (arith, scf, gpu ops) to the LLVM
/// and NVVM dialects, ready for serialisation.
void buildKernelsToLLVMPipeline(mlir::OpPassManager &pm);

/// Serialises every gpu.module to PTX (gpu-module-to-binary, format isa).
void buildKernelsToPTXPipeline(mlir::OpPassManager &pm);

/// The PTX text of each gpu.binary of `module` (after the PTX pipeline),
/// keyed by the binary's symbol name.
std::map<std::string, std::string> collectPTX(mlir::ModuleOp module);

/// Registers the codegen passes, the `delta-kernels-to-llvm` and
/// `delta-kernels-to-ptx` pipelines, and the dialect extensions the
/// lowering needs (convert-to-LLVM interfaces, NVVM target, translations).
void registerCodegenPassesAndPipelines();
void registerCodegenDialects(mlir::DialectRegistry &registry);

} // namespace deltajit

#endif // DELTAJIT_CODEGEN_PASSES_H
