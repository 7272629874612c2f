// The decode-step kernel: one thread per value column (its state column in
// registers); q and k staged in shared memory by all threads, their norms
// reduced across the block (butterfly shuffles, then the warps' partial
// sums); decode-block-v sets the columns per program.
// RUN: delta-opt %s -convert-delta-to-nvvm | FileCheck %s
// RUN: delta-opt %s -convert-delta-to-nvvm="decode-block-v=32" | FileCheck %s --check-prefix=V32
// RUN: not delta-opt %s -convert-delta-to-nvvm="decode-block-v=24" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not delta-opt %s -convert-delta-to-nvvm="decode-block-v=96" 2>&1 | FileCheck %s --check-prefix=BADDIV

// CHECK-LABEL: func.func @decode
// CHECK: delta.launch @deltajit_kernels::@dj_delta_rule_decode_bf16_d128x128_l2(
// CHECK-SAME: block = [128, 1, 1]
// CHECK-SAME: grid = ["1", "N * HV", "1"]
// q and k (128 f32 each) and 2 x 4 warp partial sums.
// CHECK-SAME: shared_bytes = 1056
// CHECK: gpu.func @dj_delta_rule_decode_bf16_d128x128_l2(
// CHECK: gpu.barrier
// CHECK: nvvm.shfl.sync  bfly
// CHECK: nvvm.shfl.sync  bfly
// CHECK: gpu.barrier
// CHECK: sqrt.rn.f32
// The barrier between the column's two passes.
// CHECK: gpu.barrier

// One warp per program: 4 programs per (sequence, v-head), full-warp shuffles.
// V32: delta.launch @deltajit_kernels::@dj_delta_rule_decode_bf16_d128x128_l2_v32(
// V32-SAME: block = [32, 1, 1]
// V32-SAME: grid = ["4", "N * HV", "1"]
// V32-SAME: shared_bytes = 1032

// BAD: error: 'delta.delta_rule_step' op decode-block-v must be a multiple of 16 in [16, 1024], got 24
// BADDIV: error: 'delta.delta_rule_step' op the NVIDIA lowering needs dv (128) to be a multiple of the decode block (96)
func.func @decode(%q: tensor<2x4x128xbf16>, %v: tensor<2x4x128xbf16>, %b: tensor<2x4xbf16>,
    %s: tensor<2x4x128x128xf32>) -> (tensor<2x4x128xbf16>, tensor<2x4x128x128xf32>) {
  %o, %f = delta.delta_rule_step %q, %q, %v, %b, %s {use_qk_l2norm}
      : tensor<2x4x128xbf16>, tensor<2x4x128xbf16>, tensor<2x4x128xbf16>, tensor<2x4xbf16>, tensor<2x4x128x128xf32>
      -> tensor<2x4x128xbf16>, tensor<2x4x128x128xf32>
  return %o, %f : tensor<2x4x128xbf16>, tensor<2x4x128x128xf32>
}
