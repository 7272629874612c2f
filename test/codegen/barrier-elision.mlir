// Body ops run back to back without a block barrier between them when the
// later one reads no shared tile the ops since the last barrier wrote and
// writes none they read or wrote (tile ranges from the shared-memory plan).
// RUN: delta-opt %s -split-input-file -delta-chunk-tile -convert-delta-to-nvvm="phases=3" | FileCheck %s
// RUN: delta-opt %s -split-input-file -delta-chunk-tile -convert-delta-to-nvvm | FileCheck %s --check-prefix=FUSED

// A WY-form body (W = T K, U = T V formed, as written here; delta-chunk-tile
// no longer forms them), three-phase. Prepare runs mask(Q K^T) first (the
// ops that read q are hoisted: q's tile dies early), then K K^T and the UT
// transform; after it (its last tf32 products, then the beta scaling and a
// barrier) W = T K and U = T V read only T, k, v and write distinct tiles
// (the plan keeps U off W's tile, stored just before, as that costs no
// bytes): one barrier after the two.
// CHECK-LABEL: func.func @wy(
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare(
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: gpu.barrier
// CHECK-COUNT-54: nvvm.mma.sync {{.*}}tf32
// CHECK: gpu.barrier
// CHECK: gpu.barrier
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NOT: gpu.barrier
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: gpu.barrier
// CHECK-NOT: nvvm.wgmma.commit.group.sync.aligned
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan(
// The products that read what an earlier one wrote keep their barrier: in
// the output kernel O = Q S then O += mask(Q K^T) Vn.
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_output(
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: gpu.barrier
// CHECK: nvvm.wgmma.commit.group.sync.aligned

func.func @wy(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %scale = arith.constant 0.125 : f32
  %o, %f = delta.chunk_loop %q, %k, %v, %b scale(%scale) {tile = #delta.tile<chunk = 64, block_v = 64, warps = 8, stages = 1>, use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16> -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32> {
  ^bb0(%qc: tensor<64x64xbf16>, %kc: tensor<64x64xbf16>, %vc: tensor<64x64xbf16>, %bc: tensor<64xf32>, %st: tensor<64x64xf32>, %sc: f32):
    %kk = delta.tile_matmul %kc, %kc {transpose_b} : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xf32>
    %as = delta.tile_row_scale %kk, %bc : tensor<64x64xf32>, tensor<64xf32>
    %a = delta.tile_mask strict_lower %as : tensor<64x64xf32>
    %t = delta.tile_ut_transform %a, %bc : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x64xbf16>
    %w = delta.tile_matmul %t, %kc : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xbf16>
    %u = delta.tile_matmul %t, %vc : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xf32>
    %sb = delta.tile_convert %st : tensor<64x64xf32> -> tensor<64x64xbf16>
    %vn = delta.tile_matmul %w, %sb acc(%u : tensor<64x64xf32>) {negate} : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xbf16>
    %qk = delta.tile_matmul %qc, %kc {transpose_b} : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xbf16>
    %p = delta.tile_mask lower %qk : tensor<64x64xbf16>
    %o1 = delta.tile_matmul %qc, %sb alpha(%sc) : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xf32>
    %out = delta.tile_matmul %p, %vn acc(%o1 : tensor<64x64xf32>) alpha(%sc) : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xf32>
    %next = delta.tile_matmul %kc, %vn acc(%st : tensor<64x64xf32>) {transpose_a} : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xf32>
    delta.chunk_yield %out, %next : tensor<64x64xf32>, tensor<64x64xf32>
  }
  return %o : tensor<2x?x4x64xbf16>
}

// -----

// delta-chunk-tile's body, fused kernel (mma.sync, one loop over warp items
// per product): X = V - K Sb, barrier, Vn = T X (split: 2 x 16 mma),
// barrier, then mask(Q K^T) and Q Sb (both read q and write their own
// tiles) without a barrier between them, then the barrier before
// O += mask(Q K^T) Vn.
// FUSED-LABEL: func.func @prefill(
// FUSED: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2(
// FUSED-COUNT-54: nvvm.mma.sync {{.*}}tf32
// FUSED: scf.for
// FUSED: gpu.barrier
// FUSED: gpu.barrier
// FUSED: scf.for
// FUSED-COUNT-16: nvvm.mma.sync {{.*}}bf16
// FUSED: gpu.barrier
// FUSED: scf.for
// FUSED-COUNT-32: nvvm.mma.sync {{.*}}bf16
// FUSED: gpu.barrier
// FUSED: scf.for
// FUSED-COUNT-16: nvvm.mma.sync {{.*}}bf16
// FUSED-NOT: gpu.barrier
// FUSED: scf.for
// FUSED-COUNT-16: nvvm.mma.sync {{.*}}bf16
// FUSED: gpu.barrier
// FUSED: scf.for
// FUSED-COUNT-16: nvvm.mma.sync {{.*}}bf16

func.func @prefill(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %o, %f = delta.delta_rule %q, %k, %v, %b {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x?x4x64xbf16>
}
