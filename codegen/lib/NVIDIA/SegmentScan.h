//===- SegmentScan.h - sequences split into segments: combine ---*- C++ -*-===//
//
// The segment scan (convert-delta-to-nvvm's segment-chunks; issue 4, item
// 2): a few long sequences leave most SMs idle in the sequential scan, so
// each sequence is cut into segments of L chunks that run side by side.
// The chunk step is affine in the state, S' = (I - K^T W) S + K^T U, so a
// segment maps its starting state to its end state by S_end = M S_start +
// N (M: dk x dk, N: dk x dv). The forward then runs four kernels:
//
//   1. prepare, as without segments;
//   2. the transitions: the register scan over each segment but a
//      sequence's last, on the dk + dv columns [M | N] from [I | 0], with
//      zero values for M's columns and no output; it writes [M | N]
//      (ws_seg_trans, f32 [N, HV, max(G - 1, 1), dk, dk + dv]);
//   3. the combine (this file): per sequence and v-head, sequentially over
//      its segments, S_start(0) = h0 (or 0), S_start(s + 1) = M_s
//      S_start(s) + N_s in f32 (ws_seg_start, f32 [N, HV, G, dk, dv]);
//   4. the scan that computes the output, one program per segment, from
//      the segment's starting state; the last segment writes ht.
//
// G = ceildiv(max_chunks, L) segments per sequence (a shorter sequence's
// later segments are empty: their programs exit). Every kernel derives G
// from `max_chunks` and L alone, so that they agree on the scratch layout.
// L is a launch parameter (`segment_chunks`), chosen per call by the
// runtime: the compiled length (the config's `_seg<L>`) or a little
// longer, so that the transitions fill whole waves of the GPU
// (runtime/lib/DeltaRule.cpp, segmentChunksFor).
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_NVIDIA_SEGMENTSCAN_H
#define DELTAJIT_CODEGEN_NVIDIA_SEGMENTSCAN_H

#include "KernelLaunch.h"

namespace deltajit::nvidia {

/// Scratch names of the segment scan, and the launch parameter (and
/// manifest symbol) of the segments' length in chunks.
constexpr llvm::StringLiteral kSegTransitions = "ws_seg_trans",
                              kSegStarts = "ws_seg_start",
                              kSegLength = "segment_chunks";

/// The segments' layout formulas and in-kernel values. Segments are L =
/// `segment_chunks` chunks long (a launch parameter, even: a segment's
/// first chunk then computes in the first of the scan's double buffers).
struct SegmentLayout {
  /// Manifest formulas: segments per sequence (G), and the transitions'
  /// slots per sequence (max(G - 1, 1): the grid's z needs at least one).
  static std::string segmentsFormula();
  static std::string transitionSlotsFormula();
  /// The scratch buffers and their byte-size formulas at dk, dv.
  static llvm::SmallVector<std::pair<std::string, std::string>, 2>
  scratch(int64_t dk, int64_t dv);

  /// The same in a kernel, from its `max_chunks` and `segment_chunks`
  /// parameters (i32).
  static mlir::Value segments(KernelBuilder &kb, mlir::Value maxChunks,
                              mlir::Value length);
  static mlir::Value transitionSlots(KernelBuilder &kb, mlir::Value maxChunks,
                                     mlir::Value length);
  /// Segments of a sequence of `numChunks` chunks (at least 1: an empty
  /// sequence has one, empty segment, which passes h0 on to ht).
  static mlir::Value segmentsOf(KernelBuilder &kb, mlir::Value numChunks,
                                mlir::Value length);
};

/// The combine kernel (step 3): grid (dv / 16, N * HV), min(8, dk / 16)
/// warps. Each program holds 16 columns of one (sequence, v-head)'s state
/// in mma.sync accumulators (warp w: the 16-row tiles w, w + 8, ...) and
/// per segment stages M and N's columns in shared memory (cp.async, the
/// next segment's beside this one's products) and the state's columns
/// beside them; M S runs in 3xTF32 (Tf32Mma.h). With `programmatic`, it
/// waits for its stream predecessor at its top.
LaunchSpec emitSegmentCombineKernel(mlir::OpBuilder &b,
                                    mlir::gpu::GPUModuleOp mod,
                                    llvm::StringRef name, int64_t dk,
                                    int64_t dv, int64_t chunk,
                                    bool programmatic);

} // namespace deltajit::nvidia

#endif // DELTAJIT_CODEGEN_NVIDIA_SEGMENTSCAN_H
