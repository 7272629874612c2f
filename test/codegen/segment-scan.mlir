// The segment scan (convert-delta-to-nvvm segment-chunks=N; SegmentScan.h):
// each sequence is cut into segments of N chunks that run side by side.
// Four kernels, in launch order:
//   prepare (as without segments, shared with the unsegmented config);
//   the transitions: the register scan over every segment but a
//     sequence's last, on [M | N] (dk + dv columns: dk / block_v tiles of
//     M's, from the identity, with zero values (v's rows zero filled), then
//     dv / block_v of N's, from 0), no output: 20 products per chunk (X^T
//     8, Vn^T 2 x 4, S^T's update 4) against the scan's 32 (Sb^T Q^T 8 and
//     Vn^T P^T 4 more), and it reads no q (nor P);
//   the combine (f32, 16 columns per program, the next segment's M and N
//     loaded beside this one's products): S_start(s + 1) = M_s
//     S_start(s) + N_s from h0, sequential over a sequence's segments, M S
//     on the tensor cores in 3xTF32 (mma.sync m16n8k8 tf32, three per 8-deep
//     step: 8 warps x 2 column tiles x 16 steps x 3 = 96 per segment at dk =
//     128);
//   the scan that computes the output, from each segment's starting state
//     (grid z: the segment), ht from the last segment.
// The segments G = ceildiv(max_chunks, L) and the transitions' slots
// max(G - 1, 1) size the grids and the two f32 scratch buffers. L is the
// launch parameter `segment_chunks`, which the runtime binds per call (N,
// or a little longer so that the transitions fill whole waves); the
// entry's segment_chunks is N. The transitions have no q or P tiles
// (66560 bytes: three programs per SM) and are capped at 168 registers.

// RUN: delta-opt %s -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3 segment-chunks=32" | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile="block-v=128" -convert-delta-to-nvvm="phases=3 segment-chunks=2" | FileCheck %s --check-prefix=BV128
// RUN: not delta-opt %s -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3 segment-chunks=3" 2>&1 | FileCheck %s --check-prefix=ODD
// RUN: not delta-opt %s -delta-chunk-tile="block-v=32" -convert-delta-to-nvvm="phases=3 segment-chunks=32" 2>&1 | FileCheck %s --check-prefix=GENERIC
// RUN: not delta-opt %s -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=2 segment-chunks=32" 2>&1 | FileCheck %s --check-prefix=PHASES
// RUN: not delta-opt %s -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3 output-in-scan=0 segment-chunks=32" 2>&1 | FileCheck %s --check-prefix=GENERIC
// RUN: sed 's/128xbf16/256xbf16/g; s/128x128xf32/256x256xf32/' %s | not delta-opt -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3 segment-chunks=32" 2>&1 | FileCheck %s --check-prefix=GENERIC

// CHECK: delta.launch @deltajit_kernels::@dj_delta_rule_fwd_bf16_d128x128_c64_v64_w8_l2_p3_scan_output_seg32(
// CHECK-SAME: segment_chunks = 32 : i64
// CHECK-SAME: kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_prepare_qk"
// CHECK-SAME: {block = [128, 1, 1], grid = ["4", "N * HV", "max(ceildiv(max_chunks, segment_chunks) - 1, 1)"], kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v64_w8_l2_p3_seg32_transitions"
// CHECK-SAME: ["chunk_offsets", "ptr"], ["max_chunks", "i32"], ["segment_chunks", "i32"], ["ws_seg_trans", "ptr"]
// CHECK-SAME: shared_bytes = 66560 : i64
// CHECK-SAME: {block = [256, 1, 1], grid = ["8", "N * HV", "1"], kernel = "dj_delta_rule_fwd_d128x128_c64_seg32_combine", params = {{\[}}["h0", "ptr"], ["cu_seqlens", "ptr"], ["HV", "i32"], ["has_h0", "i32"], ["max_chunks", "i32"], ["segment_chunks", "i32"], ["ws_seg_trans", "ptr"], ["ws_seg_start", "ptr"]], programmatic_wait = true, shared_bytes = 165888 : i64}
// CHECK-SAME: {block = [128, 1, 1], grid = ["2", "N * HV", "ceildiv(max_chunks, segment_chunks)"], kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v64_w8_l2_p3_scan_output_seg32"
// CHECK-SAME: ["chunk_offsets", "ptr"], ["max_chunks", "i32"], ["segment_chunks", "i32"], ["ws_seg_start", "ptr"]
// CHECK-SAME: shared_bytes = 115712 : i64
// CHECK-SAME: ["ws_seg_trans", "N * HV * max(ceildiv(max_chunks, segment_chunks) - 1, 1) * 131072"], ["ws_seg_start", "N * HV * ceildiv(max_chunks, segment_chunks) * 65536"]]

// The transitions: no q loads, 20 products per chunk; the scan's 32.
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d128x128_c64_v64_w8_l2_p3_seg32_transitions(
// CHECK-SAME: nvvm.maxnreg = 168
// CHECK-NOT: llvm.getelementptr %arg0[
// CHECK-COUNT-20: wgmma.mma_async
// CHECK-NOT: wgmma.mma_async
// CHECK-NOT: llvm.getelementptr %arg0[
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_d128x128_c64_seg32_combine(
// CHECK: griddepcontrol.wait
// CHECK: nvvm.cp.async.shared.global
// CHECK-NOT: llvm.intr.fma
// CHECK-COUNT-96: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<tf32>
// CHECK-NOT: nvvm.mma.sync
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d128x128_c64_v64_w8_l2_p3_scan_output_seg32(
// CHECK-COUNT-32: wgmma.mma_async
// CHECK-NOT: wgmma.mma_async

// BV128: grid = ["2", "N * HV", "max(ceildiv(max_chunks, segment_chunks) - 1, 1)"], kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_seg2_transitions"
// BV128: grid = ["1", "N * HV", "ceildiv(max_chunks, segment_chunks)"], kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_scan_output_seg2"

// ODD: error: 'delta.chunk_loop' op segment-chunks (3): must be 0 or a positive even number of chunks
// GENERIC: error: 'delta.chunk_loop' op segment-chunks (32): the scan is not the register scan that computes the output
// PHASES: error: 'delta.chunk_loop' op segment-chunks (32): needs three phases (phases=3)

func.func @prefill(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %b: tensor<?x?x?xbf16>)
    -> tensor<?x?x?x128xbf16> {
  %o, %f = delta.delta_rule %q, %k, %v, %b {use_qk_l2norm}
      : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?xbf16>
      -> tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>
  return %o : tensor<?x?x?x128xbf16>
}
