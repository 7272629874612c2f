//===- DecodeKernel.h - the decode step's kernel ----------------*- C++ -*-===//
//
// delta.delta_rule_step (one token per sequence) lowered to a kernel whose
// threads hold columns of the state in registers: read and written once in
// 16-byte vectors, the dot products summed by shuffles and shared memory.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_NVIDIA_DECODEKERNEL_H
#define DELTAJIT_CODEGEN_NVIDIA_DECODEKERNEL_H

#include "KernelLaunch.h"

#include "deltajit/Dialect/DeltaOps.h"

#include "llvm/ADT/bit.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>

namespace deltajit::nvidia {

/// How a decode kernel spreads a (sequence, v-head)'s block of `bv` value
/// columns over its threads: each thread holds 4 adjacent columns (16-byte
/// accesses) of `rows` state rows (row = split + splits * i), `groups` = bv /
/// 4 threads side by side cover a row, `splits` of them the dk rows. The
/// splits within a warp (lanes g, g + groups, ...) sum their partial dot
/// products by shuffles, the warps' sums meet in shared memory (`slots`).
struct DecodeLayout {
  int64_t groups = 0, splits = 0, threads = 0, rows = 0;
  int64_t inWarp = 1, slots = 1;

  /// The widest block of at most `bv` columns that divides dv and whose
  /// 16-byte groups are a power of two (a row's threads tile warps evenly)
  /// or whole warps; 0 if dv is not a multiple of 4.
  static int64_t blockFor(int64_t dv, int64_t bv) {
    for (int64_t w = bv - bv % 4; w >= 4; w -= 4)
      if (dv % w == 0 && (llvm::isPowerOf2_64(w / 4) || (w / 4) % 32 == 0))
        return w;
    return 0;
  }

  static DecodeLayout of(int64_t dk, int64_t bv) {
    DecodeLayout l;
    l.groups = bv / 4;
    // 128 threads (4 warps) per program, at most 16 rows (64 state values)
    // per thread, whole warps, at most 1024 threads. (H200, d = 128: 64
    // columns of 16 rows beat 32 x 8, 32 x 16, 64 x 4 and 64 x 8.)
    int64_t splits = std::max<int64_t>(
        {1, 128 / l.groups,
         int64_t(llvm::PowerOf2Ceil(llvm::divideCeil(dk, 16)))});
    splits =
        std::min<int64_t>(splits, int64_t(llvm::bit_floor(uint64_t(
                                      std::max<int64_t>(1, 1024 / l.groups)))));
    if (l.groups < 32)
      splits = std::max<int64_t>(splits, 32 / l.groups);
    l.splits = splits;
    l.threads = l.groups * splits;
    l.rows = llvm::divideCeil(dk, splits);
    l.inWarp = l.groups < 32 ? 32 / l.groups : 1;
    l.slots = splits / l.inWarp;
    return l;
  }
};

/// Lowers one delta.delta_rule_step to a decode kernel (see DecodeLayout):
/// the thread's state rows are loaded first (16-byte streaming loads; the
/// runtime checks the states' alignment) so that their latency overlaps the q/k
/// staging; kv = S^T k and o = q^T S' are summed in independent chains per
/// column, then across the row splits. With `programmatic` (sm_90), it
/// starts with emitGridDependency, letting the next step launch at once
/// (its few programs find free SMs) and waiting for the previous one.
LaunchSpec emitDecodeKernel(mlir::OpBuilder &b, mlir::gpu::GPUModuleOp mod,
                            delta::DeltaRuleStepOp op, llvm::StringRef name,
                            int64_t bv, bool programmatic);

} // namespace deltajit::nvidia

#endif // DELTAJIT_CODEGEN_NVIDIA_DECODEKERNEL_H
