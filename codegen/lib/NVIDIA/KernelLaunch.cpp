//===- KernelLaunch.cpp - what a kernel needs from its launch -------------===//
//
// See KernelLaunch.h.
//
//===----------------------------------------------------------------------===//

#include "KernelLaunch.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

using namespace mlir;
using namespace deltajit::nvidia;

gpu::GPUFuncOp deltajit::nvidia::createKernel(OpBuilder &b, Location loc,
                                              gpu::GPUModuleOp mod,
                                              StringRef name,
                                              ArrayRef<KernelParam> params,
                                              int64_t blockSize) {
  MLIRContext *ctx = b.getContext();
  SmallVector<Type> types;
  for (const KernelParam &p : params) {
    if (p.type == "ptr")
      types.push_back(LLVM::LLVMPointerType::get(ctx, /*addressSpace=*/1));
    else if (p.type == "i32")
      types.push_back(b.getI32Type());
    else
      types.push_back(b.getF32Type());
  }
  b.setInsertionPointToEnd(mod.getBody());
  auto func = gpu::GPUFuncOp::create(b, loc, name,
                                     b.getFunctionType(types, TypeRange{}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({int32_t(blockSize), 1, 1}));
  b.setInsertionPointToStart(&func.getBody().front());
  return func;
}

KernelBody deltajit::nvidia::beginKernel(OpBuilder &b, Location loc,
                                         gpu::GPUModuleOp mod, LaunchSpec &spec,
                                         bool programmatic,
                                         bool launchDependentsEarly) {
  gpu::GPUFuncOp func =
      createKernel(b, loc, mod, spec.kernel, spec.params, spec.block);
  if (programmatic) {
    emitGridDependency(b, loc, launchDependentsEarly);
    spec.programmaticWait = true;
  }
  llvm::StringMap<Value> params;
  for (auto [i, p] : llvm::enumerate(spec.params))
    params[p.name] = func.getArgument(i);
  Value smem = LLVM::AddressOfOp::create(
      b, loc, LLVM::LLVMPointerType::get(b.getContext(), 3), kSmemSymbol);
  return {func, std::move(params), KernelBuilder(b, loc, smem)};
}

Value deltajit::nvidia::butterflySum(KernelBuilder &kb, Value x, int64_t parts,
                                     int64_t stride) {
  int64_t span = parts * stride;
  Value mask = kb.c32(span >= 32 ? -1 : (int64_t(1) << span) - 1);
  for (int64_t off = stride; off < span; off *= 2) {
    Value other =
        NVVM::ShflOp::create(kb.b, kb.loc, kb.f32(), mask, x, kb.c32(off),
                             kb.c32(0x1f), NVVM::ShflKind::bfly, UnitAttr());
    x = kb.fadd(x, other);
  }
  return x;
}

void deltajit::nvidia::emitGridDependency(OpBuilder &b, Location loc,
                                          bool launchDependentsEarly) {
  if (launchDependentsEarly)
    NVVM::GriddepcontrolOp::create(b, loc,
                                   NVVM::GridDepActionKind::launch_dependents);
  // The wait as inline asm with a memory clobber: LLVM's intrinsic is
  // IntrNoMem, so nothing would keep a global load from being scheduled
  // above it.
  LLVM::InlineAsmOp::create(
      b, loc, TypeRange{}, ValueRange{}, "griddepcontrol.wait;", "~{memory}",
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
}
