// convert-delta-to-nvvm{split-kernels}: a chunk-parallel prepare kernel and a
// sequential scan kernel per chunk loop, with the crossing values in scratch.
// RUN: delta-opt %s -split-input-file -delta-chunk-tile="block-v=32" -convert-delta-to-nvvm="split-kernels=1" | FileCheck %s
// RUN: delta-opt %s -split-input-file -delta-chunk-tile -convert-delta-to-nvvm="split-kernels=1" -delta-kernels-to-ptx | FileCheck %s --check-prefix=BIN

// CHECK-LABEL: func.func @prefill
// CHECK: delta.launch @deltajit_kernels::@dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_scan(
// The prepare kernel runs over every chunk of every sequence and v-head.
// CHECK-SAME: launches = [{block = [256, 1, 1], grid = ["total_chunks", "HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_prepare"
// Each chunk's first token and sequence end come from chunk_spans.
// CHECK-SAME: ["chunk_spans", "ptr"]
// CHECK-SAME: ["ws0", "ptr"], ["ws1", "ptr"]], programmatic_wait = true, shared_bytes = 62720
// The scan kernel runs over value tiles x (sequences x v-heads) and reads the scratch.
// CHECK-SAME: {block = [256, 1, 1], grid = ["2", "N * HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_scan"
// CHECK-SAME: ["chunk_offsets", "ptr"], ["ws0", "ptr"], ["ws1", "ptr"]]
// T and mask(QK^T) (64x64 bf16 each, one per chunk): delta-chunk-tile's
// body computes Vn = T (V - K S), so nothing chunk-parallel depends on v.
// CHECK-SAME: scratch = {{\[}}["ws0", "total_chunks * HV * 8192"], ["ws1", "total_chunks * HV * 8192"]]
// Chunk-parallel kernels are capped at 80 registers when three programs'
// shared memory fits an SM (62720 bytes here; 64 registers when four fit,
// else 128, two per SM).
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_prepare({{.*}}) kernel attributes {known_block_size = array<i32: 256, 1, 1>, nvvm.maxnreg = 80 : i32}
// Fragments of the 16-bit tiles come from ldmatrix (K K^T).
// CHECK: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<row>
// CHECK: nvvm.mma.sync
// No value-tile loop.
// CHECK-NOT: scf.for %{{.*}} = %c0_i32{{.*}} to %c2_i32{{.*}} step %c1_i32
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_scan({{.*}}) kernel attributes {known_block_size = array<i32: 256, 1, 1>} {
// Before the chunk loop: the first chunk's k and v (zero-filled past the
// end of the sequence) and scratch values, by 16-byte cp.async.
// CHECK: nvvm.cp.async.shared.global {{.*}}, 16, cache =  cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK: nvvm.cp.async.shared.global {{.*}}, 16, cache =  cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK: nvvm.cp.async.shared.global {{.*}}, 16, cache =  cg : !llvm.ptr<3>, !llvm.ptr<1>
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.for
// CHECK: nvvm.cp.async.wait.group 0
// The next chunk's scratch values are prefetched while this one computes.
// CHECK: nvvm.cp.async.shared.global {{.*}}, 16, cache =  cg : !llvm.ptr<3>, !llvm.ptr<1>
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.mma.sync
// BIN: gpu.binary @deltajit_kernels
func.func @prefill(%q: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %o, %f = delta.delta_rule %q, %q, %v, %b {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x?x4x64xbf16>
}

// -----

// A WY-form body (W = T K and U = T V formed, as written here): U depends
// on v, so prepare loops over the value tiles inside its program.
// CHECK-LABEL: func.func @wy_bv32
// W (64x64 bf16, one per chunk), U (64x32 f32 for each of 2 value tiles),
// mask(QK^T) (64x64 bf16, one per chunk).
// CHECK: scratch = {{\[}}["ws0", "total_chunks * HV * 8192"], ["ws1", "total_chunks * HV * 16384"], ["ws2", "total_chunks * HV * 8192"]]
// Fragments of the 16-bit tiles come from ldmatrix (.trans for T K).
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_prepare(
// CHECK: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<row>
// CHECK: nvvm.mma.sync
// CHECK: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK: nvvm.mma.sync
// The value-tile loop: v columns, then U = T V.
// CHECK: scf.for %{{.*}} = %c0_i32{{.*}} to %c2_i32{{.*}} step %c1_i32
// CHECK: nvvm.mma.sync
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_scan(
func.func @wy_bv32(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %scale = arith.constant 0.125 : f32
  %o, %f = delta.chunk_loop %q, %k, %v, %b scale(%scale) {tile = #delta.tile<chunk = 64, block_v = 32, warps = 8, stages = 1>, use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16> -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32> {
  ^bb0(%qc: tensor<64x64xbf16>, %kc: tensor<64x64xbf16>, %vc: tensor<64x32xbf16>, %bc: tensor<64xf32>, %st: tensor<64x32xf32>, %sc: f32):
    %kk = delta.tile_matmul %kc, %kc {transpose_b} : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xf32>
    %as = delta.tile_row_scale %kk, %bc : tensor<64x64xf32>, tensor<64xf32>
    %a = delta.tile_mask strict_lower %as : tensor<64x64xf32>
    %t = delta.tile_ut_transform %a, %bc : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x64xbf16>
    %w = delta.tile_matmul %t, %kc : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xbf16>
    %u = delta.tile_matmul %t, %vc : tensor<64x64xbf16>, tensor<64x32xbf16> -> tensor<64x32xf32>
    %sb = delta.tile_convert %st : tensor<64x32xf32> -> tensor<64x32xbf16>
    %vn = delta.tile_matmul %w, %sb acc(%u : tensor<64x32xf32>) {negate} : tensor<64x64xbf16>, tensor<64x32xbf16> -> tensor<64x32xbf16>
    %qk = delta.tile_matmul %qc, %kc {transpose_b} : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xbf16>
    %p = delta.tile_mask lower %qk : tensor<64x64xbf16>
    %o1 = delta.tile_matmul %qc, %sb alpha(%sc) : tensor<64x64xbf16>, tensor<64x32xbf16> -> tensor<64x32xf32>
    %out = delta.tile_matmul %p, %vn acc(%o1 : tensor<64x32xf32>) alpha(%sc) : tensor<64x64xbf16>, tensor<64x32xbf16> -> tensor<64x32xf32>
    %next = delta.tile_matmul %kc, %vn acc(%st : tensor<64x32xf32>) {transpose_a} : tensor<64x64xbf16>, tensor<64x32xbf16> -> tensor<64x32xf32>
    delta.chunk_yield %out, %next : tensor<64x32xf32>, tensor<64x32xf32>
  }
  return %o : tensor<2x?x4x64xbf16>
}
