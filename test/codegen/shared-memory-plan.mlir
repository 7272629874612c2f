// What the fused kernel keeps in shared memory, per head size (sm_90a,
// 232448 bytes): with room, the tiles of one chunk (bf16 copy of the state
// included) plus cp.async staging buffers for the next chunk's q, k, v; at
// dk = 256 the plan with the state copy does not fit, so the copy is
// dropped (the products round the f32 state as they load it) and there is
// no prefetch.
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm | FileCheck %s

// CHECK-LABEL: func.func @head128
// CHECK: delta.launch @deltajit_kernels::@dj_delta_rule_fwd_bf16_d128x128_c64_v64_w8_l2(
// CHECK-SAME: shared_bytes = 185600
// CHECK-LABEL: func.func @head256
// CHECK: delta.launch @deltajit_kernels::@dj_delta_rule_fwd_bf16_d256x256_c64_v64_w8_l2(
// CHECK-SAME: shared_bytes = 207104
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d128x128_c64_v64_w8_l2(
// CHECK: nvvm.cp.async.shared.global
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d256x256_c64_v64_w8_l2(
// CHECK-NOT: nvvm.cp.async
// CHECK: nvvm.ldmatrix
// CHECK-NOT: nvvm.cp.async
// CHECK: gpu.return
func.func @head128(%q: tensor<2x?x4x128xbf16>, %v: tensor<2x?x4x128xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x128xbf16> {
  %o, %f = delta.delta_rule %q, %q, %v, %b {use_qk_l2norm}
      : tensor<2x?x4x128xbf16>, tensor<2x?x4x128xbf16>, tensor<2x?x4x128xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x128xbf16>, tensor<2x4x128x128xf32>
  return %o : tensor<2x?x4x128xbf16>
}
func.func @head256(%q: tensor<2x?x4x256xbf16>, %v: tensor<2x?x4x256xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x256xbf16> {
  %o, %f = delta.delta_rule %q, %q, %v, %b {use_qk_l2norm}
      : tensor<2x?x4x256xbf16>, tensor<2x?x4x256xbf16>, tensor<2x?x4x256xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x256xbf16>, tensor<2x4x256x256xf32>
  return %o : tensor<2x?x4x256xbf16>
}
