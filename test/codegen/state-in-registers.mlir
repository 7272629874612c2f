// The recurrent state in registers and double-buffered prefetch tiles
// (convert-delta-to-nvvm state-in-registers / double-buffer, both on by
// default), on the three-phase scan of dk = dv = 64, block_v = 32 (a narrow
// scan: 4 warps whatever the tile's 8): the 64 x 32 f32 state is 16
// mma.sync accumulators per thread (4 row strips x 2 column blocks of 16 =
// 8 warp items, 2 per warp), carried by the chunk loop. The
// mma.sync family throughout (auto would give this scan's other products
// wgmma: test/codegen/wgmma.mlir).
// RUN: delta-opt %s -delta-chunk-tile="block-v=32" -convert-delta-to-nvvm="phases=3 tensor-cores=mma.sync" | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile="block-v=32" -convert-delta-to-nvvm="phases=3 tensor-cores=mma.sync state-in-registers=0 double-buffer=0" | FileCheck %s --check-prefix=OFF
// RUN: delta-opt %s -delta-chunk-tile="block-v=32" -convert-delta-to-nvvm="phases=3 tensor-cores=mma.sync" -delta-kernels-to-ptx | FileCheck %s --check-prefix=BIN

// No f32 state tile: 9216 bytes (64 rows x (32 + 4) f32) less shared memory.
// CHECK: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_p3_scan"
// CHECK-SAME: shared_bytes = 67584
// OFF: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_p3_scan"
// OFF-SAME: shared_bytes = 76800

// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_p3_scan(
// h0 (or zeros) straight into the registers.
// CHECK: scf.if %{{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32) {
// CHECK: llvm.load %{{.*}} : !llvm.ptr<1> -> f32
// CHECK: } else {
// The chunk loop carries the registers; chunk c computes in buffer c % 2
// of each prefetched tile (k, v, T) and prefetches chunk c + 1 into the
// other: no copies, three barriers per chunk (the prefetch wait, which also
// covers Sb = bf16(S) written from the registers just before it; X = V -
// K Sb written; Vn = T X written).
// CHECK: scf.for %[[C:.*]] = %{{.*}} iter_args(%[[S0:.*]] = %{{.*}}#0, {{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
// CHECK: %[[ODD:.*]] = arith.remsi %[[C]], %c2_i32
// CHECK: arith.select
// CHECK-NOT: gpu.barrier
// CHECK: llvm.store %{{.*}} : vector<2xbf16>, !llvm.ptr<3>
// CHECK-NOT: gpu.barrier
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: gpu.barrier
// CHECK-NOT: gpu.barrier
// CHECK: nvvm.cp.async.commit.group
// CHECK-NOT: gpu.barrier
// Then X = V - K Sb, then Vn = T X.
// CHECK: nvvm.mma.sync
// CHECK: gpu.barrier
// CHECK: nvvm.mma.sync
// CHECK: gpu.barrier
// CHECK-NOT: gpu.barrier
// S' = S + K^T Vn accumulates into the carried registers.
// CHECK: nvvm.mma.sync {{.*}} C[%[[S0]],
// CHECK-NOT: gpu.barrier
// CHECK: scf.yield {{.*}} : f32, f32, f32, f32, f32, f32, f32, f32
// ht from the registers.
// CHECK: llvm.store %{{.*}} : f32, !llvm.ptr<1>
// CHECK: gpu.return

// Off: the state lives in a shared f32 tile, the prefetch buffers are
// copied into the tiles each chunk.
// OFF-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_p3_scan(
// OFF-NOT: iter_args
// OFF-NOT: arith.select %{{.*}}, %c{{[0-9]+}}_i32, %c{{[0-9]+}}_i32 : i32
// OFF: gpu.return

// BIN: gpu.binary @deltajit_kernels
func.func @prefill(%q: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %o, %f = delta.delta_rule %q, %q, %v, %b {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x?x4x64xbf16>
}
