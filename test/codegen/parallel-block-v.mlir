// The three-phase lowering runs its chunk-parallel kernels (prepare,
// output) on wider value tiles than the scan: `parallel-block-v` (auto: the
// widest of 128, 64, 32, 16 that divides dv, is a multiple of block_v and
// fits shared memory). Scratch slots do not depend on block_v, so the three
// kernels exchange the same buffers whatever their widths.
// RUN: delta-opt %s -delta-chunk-tile="block-v=16" -convert-delta-to-nvvm="phases=3" | FileCheck %s --check-prefix=AUTO
// RUN: delta-opt %s -delta-chunk-tile="block-v=16" -convert-delta-to-nvvm="phases=3 parallel-block-v=32" | FileCheck %s --check-prefix=PV32
// RUN: delta-opt %s -delta-chunk-tile="block-v=16" -convert-delta-to-nvvm="phases=3 parallel-block-v=16" | FileCheck %s --check-prefix=PV16
// RUN: delta-opt %s -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3" | FileCheck %s --check-prefix=SCRATCH
// RUN: delta-opt %s -delta-chunk-tile="block-v=16" -convert-delta-to-nvvm="phases=3 chip=sm_80" | FileCheck %s --check-prefix=SM80
// RUN: delta-opt %s -delta-chunk-tile="block-v=16" -convert-delta-to-nvvm="phases=1" | FileCheck %s --check-prefix=FUSED
// RUN: not delta-opt %s -delta-chunk-tile="block-v=16" -convert-delta-to-nvvm="phases=3 parallel-block-v=24" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not delta-opt %s -delta-chunk-tile="block-v=32" -convert-delta-to-nvvm="phases=3 parallel-block-v=16" 2>&1 | FileCheck %s --check-prefix=NARROW
// RUN: not delta-opt %s -delta-chunk-tile="block-v=16" -convert-delta-to-nvvm="phases=3 parallel-block-v=128" 2>&1 | FileCheck %s --check-prefix=WIDE
// RUN: not delta-opt %s -delta-chunk-tile="block-v=16" -convert-delta-to-nvvm="phases=3 parallel-block-v=-16" 2>&1 | FileCheck %s --check-prefix=NEG

// Auto at dv = 64: prepare and output at 64 columns, the scan at 16 (all
// wgmma on sm_90a); the entry keeps the scan's tile and records the
// parallel width; the scratch buffers are those of block_v 64 (SCRATCH):
// T and mask(Q K^T) (64 x 64 bf16 each), ws_k the normalised k that prepare
// hands the scan, and the scan's Sb and Vn.
// AUTO: mma = "wgmma.m64nNk16"
// AUTO-SAME: parallel_block_v = 64
// AUTO-SAME: tile = #delta.tile<chunk = 64, block_v = 16, warps = 8, stages = 1>
// AUTO-SAME: grid = ["total_chunks", "HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare"
// AUTO-SAME: grid = ["4", "N * HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v16_w8_l2_p3_scan"
// AUTO-SAME: grid = ["total_chunks", "HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_output"
// AUTO-SAME: scratch = {{\[\[}}"ws0", "total_chunks * HV * 8192"], {{\[}}"ws1", "total_chunks * HV * 8192"], {{\[}}"ws_k", "total_chunks * HV * 8192"], {{\[}}"wss0", "total_chunks * HV * 8192"], {{\[}}"wss1", "total_chunks * HV * 8192"]]
// AUTO: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare(
// AUTO: nvvm.wgmma.mma_async
// AUTO: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v16_w8_l2_p3_scan(
// AUTO: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 16, k = 16>
// AUTO: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_output(
// AUTO: nvvm.wgmma.mma_async

// At block_v 64 the register scan computes the output (output-in-scan):
// two kernels; prepare hands it q's and k's inverse row norms (ws_norms)
// instead of the normalised k, and Sb and Vn stay on chip.
// SCRATCH: parallel_block_v = 64
// SCRATCH-SAME: block_v = 64
// SCRATCH-SAME: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare_qk"
// SCRATCH-SAME: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan_output"
// SCRATCH-SAME: scratch = {{\[\[}}"ws0", "total_chunks * HV * 8192"], {{\[}}"ws1", "total_chunks * HV * 8192"], {{\[}}"ws_norms", "total_chunks * HV * 512"]]

// PV32: parallel_block_v = 32
// PV32-SAME: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_p3_prepare"
// PV32-SAME: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v16_w8_l2_p3_scan"
// PV32-SAME: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_p3_output"

// Prepare and output at 16 columns stay mma.sync; the scan is wgmma.
// PV16: mma = "mma.sync.m16n8k16+wgmma.m64nNk16"
// PV16-SAME: parallel_block_v = 16
// PV16-SAME: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v16_w8_l2_p3_prepare"
// PV16-SAME: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v16_w8_l2_p3_scan"
// PV16-SAME: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v16_w8_l2_p3_output"

// sm_80: the same widths, all mma.sync.
// SM80: mma = "mma.sync.m16n8k16"
// SM80-SAME: parallel_block_v = 64
// SM80-SAME: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare"
// SM80-SAME: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v16_w8_l2_p3_scan"

// One kernel has one value tile width.
// FUSED-NOT: parallel_block_v
// FUSED: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v16_w8_l2(
// FUSED-NOT: parallel_block_v

// BAD: error: 'delta.chunk_loop' op parallel-block-v (24) must be a multiple of block_v (16) that divides dv (64)
// NARROW: error: 'delta.chunk_loop' op parallel-block-v (16) must be a multiple of block_v (32) that divides dv (64)
// WIDE: error: 'delta.chunk_loop' op parallel-block-v (128) must be a multiple of block_v (16) that divides dv (64)
// NEG: error: 'delta.chunk_loop' op parallel-block-v must be >= 0, got -16
func.func @prefill(%q: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %o, %f = delta.delta_rule %q, %q, %v, %b {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x?x4x64xbf16>
}
