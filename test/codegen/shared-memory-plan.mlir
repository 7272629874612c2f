// What the fused kernel keeps in shared memory, per head size (sm_90a,
// 232448 bytes): the tiles of one chunk (bf16 copy of the state included;
// the f32 state itself lives in registers) plus, for dk <= 128, cp.async
// staging buffers for the next chunk's q, k, v (none at dk = 256). With
// the state in a shared tile (state-in-registers=0) the plans take 186624
// and 228608 bytes, the dk = 256 one with the state copy (since the chunk
// body no longer holds W and U it fits; before, the copy was dropped and
// the products rounded the f32 state as they loaded it).
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="state-in-registers=0" | FileCheck %s --check-prefix=SMEM

// SMEM-LABEL: func.func @head128
// SMEM: shared_bytes = 186624
// SMEM-LABEL: func.func @head256
// SMEM: shared_bytes = 228608
// CHECK-LABEL: func.func @head128
// CHECK: delta.launch @deltajit_kernels::@dj_delta_rule_fwd_bf16_d128x128_c64_v64_w8_l2(
// CHECK-SAME: shared_bytes = 151808
// CHECK-LABEL: func.func @head256
// CHECK: delta.launch @deltajit_kernels::@dj_delta_rule_fwd_bf16_d256x256_c64_v64_w8_l2(
// CHECK-SAME: shared_bytes = 158976
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d128x128_c64_v64_w8_l2(
// CHECK: nvvm.cp.async.shared.global
// No prefetch at dk = 256: each chunk's q, k, v are copied (cp.async)
// straight into the tiles, then waited for.
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d256x256_c64_v64_w8_l2(
// CHECK-NOT: nvvm.cp.async
// CHECK: scf.for
// CHECK: nvvm.cp.async.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK-NEXT: nvvm.cp.async.wait.group 0
// CHECK: nvvm.ldmatrix
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
