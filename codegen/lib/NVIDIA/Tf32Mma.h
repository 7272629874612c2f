//===- Tf32Mma.h - f32 warp products on tensor cores (3xTF32) ---*- C++ -*-===//
//
// One warp's 16 x 8 tiles of f32 matrix products on the tensor cores:
// mma.sync.aligned.m16n8k8 with tf32 inputs (sm_80 and later), each operand
// split into a tf32 high part and a tf32 residual and the three significant
// partial products summed (3xTF32: a_lo b_hi + a_hi b_lo + a_hi b_hi, as
// CUTLASS does), which keeps about the accuracy of f32 FMAs. Used where a
// kernel multiplies small f32 matrices that must not lose precision (the UT
// transform's inverse).
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_NVIDIA_TF32MMA_H
#define DELTAJIT_CODEGEN_NVIDIA_TF32MMA_H

#include "mlir/IR/Value.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"

namespace deltajit::nvidia {

class KernelBuilder;

/// Per-lane coordinates of the m16n8k8 fragments (i32): group = lane / 4,
/// quad = lane % 4.
struct Tf32Lanes {
  Tf32Lanes(KernelBuilder &kb, mlir::Value lane);
  mlir::Value group, quad;
};

/// An element loader: the f32 element at (row, col) (i32) of an operand.
using Tf32Element = llvm::function_ref<mlir::Value(mlir::Value, mlir::Value)>;

/// acc += A[0:16][kBegin:kEnd] B[kBegin:kEnd][0:8] for one warp (every lane
/// calls it), in 8-wide steps of the contraction (kBegin, kEnd multiples of
/// 8). `a(r, k)` loads A's element at tile row r (0..15) and contraction
/// index k, `b(k, n)` B's at k and tile column n (0..7). acc holds 4 f32 in
/// the accumulator layout of forEachTf32Accumulator.
void mmaTf32x3(KernelBuilder &kb, const Tf32Lanes &l, int64_t kBegin,
               int64_t kEnd, Tf32Element a, Tf32Element b,
               llvm::MutableArrayRef<mlir::Value> acc);

/// An element loader of several B tiles: tile t's element at (k, n).
using Tf32TileElement =
    llvm::function_ref<mlir::Value(int64_t, mlir::Value, mlir::Value)>;

/// The same for accs.size() 16 x 8 tiles of one A: accs[t] += A[0:16]
/// [kBegin:kEnd] B_t[kBegin:kEnd][0:8], A's fragments loaded and split once
/// per step of the contraction for all of them.
void mmaTf32x3(KernelBuilder &kb, const Tf32Lanes &l, int64_t kBegin,
               int64_t kEnd, Tf32Element a, Tf32TileElement b,
               llvm::MutableArrayRef<llvm::SmallVector<mlir::Value, 4>> accs);

/// Calls `fn(i, row, col)` for accumulators i = 0 and 2: i and i + 1 are the
/// neighbouring elements (row, col) and (row, col + 1) of the 16 x 8 tile,
/// col even (rows group and group + 8, col 2 quad).
void forEachTf32AccumulatorPair(
    KernelBuilder &kb, const Tf32Lanes &l,
    llvm::function_ref<void(int64_t, mlir::Value, mlir::Value)> fn);

} // namespace deltajit::nvidia

#endif // DELTAJIT_CODEGEN_NVIDIA_TF32MMA_H
