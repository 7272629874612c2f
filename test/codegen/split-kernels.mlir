// convert-delta-to-nvvm{split-kernels}: a chunk-parallel prepare kernel and a
// sequential scan kernel per chunk loop, with the crossing values in scratch.
// RUN: delta-opt %s -delta-chunk-tile="block-v=32" -convert-delta-to-nvvm="split-kernels=1" | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="split-kernels=1" -delta-kernels-to-ptx | FileCheck %s --check-prefix=BIN

// CHECK-LABEL: func.func @prefill
// CHECK: delta.launch @deltajit_kernels::@dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_scan(
// The prepare kernel runs over every chunk of every sequence and v-head; the
// ops that depend on v (U = T V) loop over the value tiles inside it.
// CHECK-SAME: launches = [{block = [256, 1, 1], grid = ["total_chunks", "HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_prepare"
// CHECK-SAME: ["chunk_table", "ptr"]
// CHECK-SAME: ["ws0", "ptr"], ["ws1", "ptr"], ["ws2", "ptr"]]
// The scan kernel runs over value tiles x (sequences x v-heads) and reads the scratch.
// CHECK-SAME: {block = [256, 1, 1], grid = ["2", "N * HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_scan"
// CHECK-SAME: ["chunk_offsets", "ptr"], ["ws0", "ptr"], ["ws1", "ptr"], ["ws2", "ptr"]]
// W (64x64 bf16, one per chunk), U (64x32 f32 for each of 2 value tiles), mask(QK^T) (64x64 bf16, one per chunk).
// CHECK-SAME: scratch = {{\[}}["ws0", "total_chunks * HV * 8192"], ["ws1", "total_chunks * HV * 16384"], ["ws2", "total_chunks * HV * 8192"]]
// Chunk-parallel kernels are capped at 128 registers (two programs per SM).
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_prepare({{.*}}) kernel attributes {known_block_size = array<i32: 256, 1, 1>, nvvm.maxnreg = 128 : i32}
// Fragments of the 16-bit tiles come from ldmatrix (.trans for T K).
// CHECK: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<row>
// CHECK: nvvm.mma.sync
// CHECK: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK: nvvm.mma.sync
// The value-tile loop: v columns, then U = T V.
// CHECK: scf.for %{{.*}} = %c0_i32{{.*}} to %c2_i32{{.*}} step %c1_i32
// CHECK: nvvm.mma.sync
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_scan({{.*}}) kernel attributes {known_block_size = array<i32: 256, 1, 1>} {
// Before the chunk loop: the first chunk's k (zero-filled past the end of
// the sequence) and scratch values, by 16-byte cp.async.
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
