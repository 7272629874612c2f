// The UT transform's off-diagonal blocks by doubling on the tensor cores:
// 3xTF32 mma.sync.m16n8k8 (each f32 operand split into a tf32 high part and
// a tf32 residual, three products per step; the high part by clearing the
// 13 low mantissa bits, not cvt.rna: two instructions per element instead of
// nine), one warp per 8-column slice of
// a pair's bottom-left block, its Y slice staged in a warp-private region.
// (Three kernels, output-in-scan=0: the output kernel's checks below.)
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3 output-in-scan=0" | FileCheck %s --check-prefixes=C64
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3 output-in-scan=0" | FileCheck %s --check-prefix=SYNC
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm | FileCheck %s --check-prefix=FUSED
// RUN: sed 's/chunk_size = 64/chunk_size = 32/' %s | delta-opt -delta-chunk-tile -convert-delta-to-nvvm="phases=3 output-in-scan=0" | FileCheck %s --check-prefix=C32
// RUN: sed 's/chunk_size = 64/chunk_size = 128/' %s | delta-opt -delta-chunk-tile -convert-delta-to-nvvm="phases=3 output-in-scan=0" | FileCheck %s --check-prefix=C128
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3 output-in-scan=0" -delta-kernels-to-ptx | FileCheck %s --check-prefix=PTX

// Chunk 64 (4 blocks of 16): sizes 16 and 32. Per size one warp item:
// size 16: Y (1 row tile x 2 k-steps) and X_BT (2 k-steps) = 4 steps;
// size 32: Y (2 row tiles x 4 k-steps) and X_BT (2 + 4 k-steps: X_BB is
// zero right of its diagonal) = 14 steps; 18 steps x 3 products = 54.
// C64-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare(
// C64-NOT: nvvm.convert.float.to.tf32
// C64: arith.andi {{.*}}, %c-8192_i32
// C64-COUNT-54: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<tf32>, multiplicandBPtxType = #nvvm.mma_type<tf32>, shape = #nvvm.shape<m = 16, n = 8, k = 8>
// Then T's columns are scaled by beta four at a time, consecutive threads
// along a row (no bank conflicts): a 16-byte load of X and of beta (4 f32
// each), one 8-byte store of four bf16.
// C64: gpu.barrier
// C64: llvm.load {{.*}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<4xf32>
// C64: llvm.load {{.*}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<4xf32>
// C64: llvm.store {{.*}} {alignment = 8 : i64} : vector<2xi32>, !llvm.ptr<3>
// C64-NOT: nvvm.mma.sync {{.*}}#nvvm.mma_type<tf32>
// C64: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan(
// C64-NOT: #nvvm.mma_type<tf32>
// C64: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_output(
// C64-NOT: #nvvm.mma_type<tf32>

// Between the two products of an item the warp syncs on its Y region (and
// again before its next item reuses it); one block barrier per size.
// SYNC-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare(
// SYNC: nvvm.mma.sync {{.*}}tf32
// SYNC: nvvm.bar.warp.sync
// SYNC: nvvm.mma.sync {{.*}}tf32
// SYNC: nvvm.bar.warp.sync
// SYNC-NEXT: }
// SYNC: gpu.barrier

// The fused kernel runs the same products.
// FUSED-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2(
// FUSED-COUNT-54: nvvm.mma.sync {{.*}}#nvvm.mma_type<tf32>
// FUSED-NOT: nvvm.mma.sync {{.*}}#nvvm.mma_type<tf32>

// Chunk 32 (2 blocks): size 16 only, 4 steps x 3 = 12 products.
// C32-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c32_v64_w8_l2_p3_prepare(
// C32-COUNT-12: nvvm.mma.sync {{.*}}#nvvm.mma_type<tf32>
// C32-NOT: nvvm.mma.sync {{.*}}#nvvm.mma_type<tf32>

// Chunk 128 (8 blocks): the Y regions would not fit the scratch row; the
// scalar block rows run instead.
// C128-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c128_v64_w8_l2_p3_prepare(
// C128-NOT: #nvvm.mma_type<tf32>
// C128: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c128_v64_w8_l2_p3_scan(

// PTX-NOT: cvt.rna.tf32.f32
// PTX: and.b32 {{.*}}, -8192;
// PTX: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// PTX: bar.warp.sync

func.func @prefill(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %o, %f = delta.delta_rule %q, %k, %v, %b {use_qk_l2norm, chunk_size = 64 : i64}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x?x4x64xbf16>
}
