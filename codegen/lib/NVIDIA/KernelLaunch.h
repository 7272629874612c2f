//===- KernelLaunch.h - what a kernel needs from its launch -----*- C++ -*-===//
//
// The pieces every kernel the NVIDIA lowering emits shares: its parameters
// and launch contract (LaunchSpec: grid, block, dynamic shared memory,
// parameters, the package entry's keys), the gpu.func it is built in, the
// dynamic shared-memory symbol, and a warp's butterfly sum.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_NVIDIA_KERNELLAUNCH_H
#define DELTAJIT_CODEGEN_NVIDIA_KERNELLAUNCH_H

#include "KernelBuilder.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/OperationSupport.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace deltajit::nvidia {

/// The dynamic shared memory every kernel addresses (one per GPU module).
constexpr llvm::StringLiteral kSmemSymbol = "dj_smem";
/// Added to the sum of squares before the rsqrt of in-kernel L2 norms.
constexpr double kL2NormEps = 1.0e-6;

struct KernelParam {
  std::string name, type; // type: ptr, i32, f32
};

/// What a kernel needs from its host-side launch.
struct LaunchSpec {
  std::string kernel;
  llvm::SmallVector<std::string, 3> grid;
  int64_t block = 0;
  int64_t sharedBytes = 0;
  llvm::SmallVector<KernelParam> params;
  mlir::NamedAttrList entry;
  /// The kernel waits for its stream predecessor before touching global
  /// memory (emitGridDependency): manifest `programmatic_wait`.
  bool programmaticWait = false;
};

/// At the top of a kernel: `griddepcontrol.wait` (nothing before it
/// touches global memory, so everything after sees the previous kernel's
/// writes; a memory clobber keeps loads below it), preceded by
/// `griddepcontrol.launch_dependents` when `launchDependentsEarly` (the
/// next kernel in the stream may then be scheduled once all of this one's
/// blocks run; else once they exit). No-ops for a kernel launched without
/// programmatic serialization.
void emitGridDependency(mlir::OpBuilder &b, mlir::Location loc,
                        bool launchDependentsEarly);

/// Creates `gpu.func @name(params) kernel` with an entry block and returns
/// it; the builder is left inside the body.
mlir::gpu::GPUFuncOp createKernel(mlir::OpBuilder &b, mlir::Location loc,
                                  mlir::gpu::GPUModuleOp mod,
                                  llvm::StringRef name,
                                  llvm::ArrayRef<KernelParam> params,
                                  int64_t blockSize);

/// A kernel being built: its function, its parameters by name, and the
/// builder of its body (dynamic shared memory at kSmemSymbol).
struct KernelBody {
  mlir::gpu::GPUFuncOp func;
  llvm::StringMap<mlir::Value> params;
  KernelBuilder kb;
};

/// Starts kernel `spec.kernel` (createKernel with `spec.params` and
/// `spec.block`); with `programmatic`, its grid dependency
/// (emitGridDependency) and `spec.programmaticWait`. The builder is left in
/// the body.
KernelBody beginKernel(mlir::OpBuilder &b, mlir::Location loc,
                       mlir::gpu::GPUModuleOp mod, LaunchSpec &spec,
                       bool programmatic, bool launchDependentsEarly);

/// The sum of `x` over groups of `parts` lanes `stride` apart (`parts` and
/// `stride` powers of two, parts x stride <= 32: lane, lane ^ stride, ...),
/// by butterfly shuffles (a warp of fewer than 32 threads has parts x stride
/// lanes).
mlir::Value butterflySum(KernelBuilder &kb, mlir::Value x, int64_t parts,
                         int64_t stride = 1);

} // namespace deltajit::nvidia

#endif // DELTAJIT_CODEGEN_NVIDIA_KERNELLAUNCH_H
