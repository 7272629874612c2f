// Body ops run back to back without a block barrier between them when the
// later one reads no shared tile the ops since the last barrier wrote and
// writes none they read or wrote (tile ranges from the shared-memory plan).
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3" | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm | FileCheck %s --check-prefix=FUSED

// Prepare: after the UT transform (its last tf32 products, then the beta
// scaling and a barrier), W = T K, U = T V and mask(Q K^T) read only T, k,
// v, q and write three distinct tiles: one barrier after the three.
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare(
// CHECK-COUNT-54: nvvm.mma.sync {{.*}}tf32
// CHECK: gpu.barrier
// CHECK: gpu.barrier
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NOT: gpu.barrier
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NOT: gpu.barrier
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: gpu.barrier
// The products that read what an earlier one wrote keep their barrier: in
// the output kernel O = Q S then O += mask(Q K^T) Vn.
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_output(
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: gpu.barrier
// CHECK: nvvm.wgmma.commit.group.sync.aligned

// Fused kernel (mma.sync, one loop over warp items per product): after the
// UT transform (size-32 barrier, beta scaling, barrier) W = T K and U = T V
// run without a barrier between them.
// FUSED-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2(
// FUSED-COUNT-54: nvvm.mma.sync {{.*}}tf32
// FUSED: gpu.barrier
// FUSED: gpu.barrier
// FUSED: scf.for
// FUSED-NOT: gpu.barrier
// FUSED: scf.for
// FUSED: gpu.barrier

func.func @prefill(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %o, %f = delta.delta_rule %q, %k, %v, %b {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x?x4x64xbf16>
}
