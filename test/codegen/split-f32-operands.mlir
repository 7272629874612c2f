// tile_matmul {split_f32}: an f32 operand enters the product as its
// rounding plus the rounded remainder (two 16-bit parts). delta-chunk-tile
// uses it for Vn = T X, X = V - K Sb (f32). When X is read only as such an
// operand, the lowering keeps it as the two parts in one 16-bit tile of
// twice the rows (X's epilogue writes both) and the product runs as
// [T T][hi; lo] with ldmatrix (or wgmma) operands; otherwise the product
// gathers the f32 elements and splits them as it loads them, two mma per
// step.
// RUN: delta-opt %s -split-input-file -delta-chunk-tile -convert-delta-to-nvvm="tensor-cores=mma.sync" | FileCheck %s

// CHECK-LABEL: func.func @prefill(
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2(
// CHECK-COUNT-54: nvvm.mma.sync {{.*}}tf32
// X = V - K Sb (16 mma); its epilogue stores the rounded value and the
// rounded remainder.
// CHECK: scf.for
// CHECK-COUNT-16: nvvm.mma.sync {{.*}}bf16
// CHECK: arith.subf
// CHECK: llvm.store {{.*}} : vector<2xbf16>, !llvm.ptr<3>
// CHECK: llvm.store {{.*}} : vector<2xbf16>, !llvm.ptr<3>
// CHECK: gpu.barrier
// Vn = [T T][hi; lo]: B fragments by ldmatrix, 8 k16 steps x 4 n-tiles
// per warp, no f32 loads or splitting.
// CHECK: scf.for
// CHECK-NOT: arith.subf
// CHECK: nvvm.ldmatrix
// CHECK-NOT: arith.subf
// CHECK-COUNT-32: nvvm.mma.sync {{.*}}bf16
// CHECK-NOT: arith.subf
// CHECK: gpu.barrier
func.func @prefill(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %o, %f = delta.delta_rule %q, %k, %v, %b {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x?x4x64xbf16>
}

// -----

// X is also the accumulator of the output: it keeps its f32 tile, and
// Vn = T X gathers it, splitting each element as it packs the fragments:
// two mma per step (remainder first).
// CHECK-LABEL: func.func @gathered(
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2(
// CHECK-COUNT-54: nvvm.mma.sync {{.*}}tf32
// CHECK: scf.for
// CHECK-COUNT-16: nvvm.mma.sync {{.*}}bf16
// CHECK-NOT: arith.subf
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: llvm.load {{.*}} : !llvm.ptr<3> -> f32
// CHECK: arith.subf
// CHECK: nvvm.mma.sync
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: nvvm.mma.sync
func.func @gathered(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %scale = arith.constant 0.125 : f32
  %o, %f = delta.chunk_loop %q, %k, %v, %b scale(%scale) {tile = #delta.tile<chunk = 64, block_v = 64, warps = 8, stages = 1>, use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16> -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32> {
  ^bb0(%qc: tensor<64x64xbf16>, %kc: tensor<64x64xbf16>, %vc: tensor<64x64xbf16>, %bc: tensor<64xf32>, %st: tensor<64x64xf32>, %sc: f32):
    %kk = delta.tile_matmul %kc, %kc {transpose_b} : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xf32>
    %as = delta.tile_row_scale %kk, %bc : tensor<64x64xf32>, tensor<64xf32>
    %a = delta.tile_mask strict_lower %as : tensor<64x64xf32>
    %t = delta.tile_ut_transform %a, %bc : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x64xbf16>
    %sb = delta.tile_convert %st : tensor<64x64xf32> -> tensor<64x64xbf16>
    %x = delta.tile_matmul %kc, %sb acc(%vc : tensor<64x64xbf16>) {negate} : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xf32>
    %vn = delta.tile_matmul %t, %x {split_f32} : tensor<64x64xbf16>, tensor<64x64xf32> -> tensor<64x64xbf16>
    %qk = delta.tile_matmul %qc, %kc {transpose_b} : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xbf16>
    %p = delta.tile_mask lower %qk : tensor<64x64xbf16>
    %out = delta.tile_matmul %p, %vn acc(%x : tensor<64x64xf32>) alpha(%sc) : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xf32>
    %next = delta.tile_matmul %kc, %vn acc(%st : tensor<64x64xf32>) {transpose_a} : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xf32>
    delta.chunk_yield %out, %next : tensor<64x64xf32>, tensor<64x64xf32>
  }
  return %o : tensor<2x?x4x64xbf16>
}
