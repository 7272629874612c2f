// The three-phase output kernel computes O = scale (Q Sb) + scale (P Vn)
// (delta-chunk-tile's body: a product, then a product accumulating into
// it). The lowering runs both as one accumulator chain, Q Sb's k steps then
// P Vn's into the same accumulators, and the chain's epilogue stores O to
// o from the registers (one 2-element store per accumulator pair when o is
// aligned, else two): no f32 O tile in shared memory, no pass that writes
// it, reads it back and rounds it. At d = 128 the output kernel's plan drops
// from 107520 to 73728 bytes: three programs per SM, hence the 80-register
// cap. With epilogue fusion off, the two products and the store pass stay
// separate (NOFUSE). (output-in-scan=0: at block_v 128 the register scan
// computes the output by default; generic scans keep this output kernel.)
// RUN: delta-opt %s -delta-chunk-tile="block-v=128" -convert-delta-to-nvvm="output-in-scan=0 phases=3" | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile="block-v=128" -convert-delta-to-nvvm="output-in-scan=0 phases=3 tensor-cores=mma.sync" | FileCheck %s --check-prefix=MMA
// RUN: delta-opt %s -delta-chunk-tile="block-v=128" -convert-delta-to-nvvm="output-in-scan=0 phases=3 epilogue-fusion=0" | FileCheck %s --check-prefix=NOFUSE

// CHECK: kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_output"
// CHECK-SAME: shared_bytes = 73728
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_output(
// CHECK-SAME: nvvm.maxnreg = 80
// Two warpgroups, a 64-column block each: Q Sb (k = 128, 8 steps) then
// P Vn (k = 64, 4 steps) on one accumulator, one commit and wait.
// CHECK: scf.for
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 64, k = 16>, D[<f32>, <zero>]
// CHECK-COUNT-11: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 64, k = 16>, D[<f32>, <one>]
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// The epilogue: scale, round, store to o (global) inside the sequence.
// CHECK-NOT: !llvm.ptr<3>
// CHECK: arith.mulf
// CHECK: arith.cmpi slt
// CHECK: scf.if
// CHECK: llvm.store {{.*}} {alignment = 4 : i64} : vector<2xbf16>, !llvm.ptr<1>
// CHECK: } else {
// CHECK: llvm.store {{.*}} : bf16, !llvm.ptr<1>
// CHECK: llvm.store {{.*}} : bf16, !llvm.ptr<1>
// No O tile, no separate store pass after the products.
// CHECK-NOT: vector<2xf32>, !llvm.ptr<3>
// CHECK-NOT: vector<8xbf16>, !llvm.ptr<1>
// CHECK: gpu.return

// The mma.sync family chains the same way: per warp (16-row strip,
// 64-column block: 8 n-tiles), 8 k steps of Q Sb and 4 of P Vn.
// MMA: kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_output"
// MMA-SAME: shared_bytes = 78848
// MMA: gpu.func @dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_output(
// MMA: scf.for
// MMA-COUNT-96: nvvm.mma.sync
// MMA-NOT: !llvm.ptr<3>
// MMA: llvm.store {{.*}} : vector<2xbf16>, !llvm.ptr<1>
// MMA-NOT: vector<2xf32>, !llvm.ptr<3>
// MMA: gpu.return

// NOFUSE: kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_output"
// NOFUSE-SAME: shared_bytes = 107520
// NOFUSE: gpu.func @dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_output(
// NOFUSE-COUNT-8: nvvm.wgmma.mma_async
// NOFUSE: vector<2xf32>, !llvm.ptr<3>
// NOFUSE: gpu.barrier
// NOFUSE-COUNT-4: nvvm.wgmma.mma_async
// NOFUSE: vector<2xf32>, !llvm.ptr<3>
// NOFUSE: gpu.barrier
// NOFUSE: vector<8xbf16>, !llvm.ptr<1>
// NOFUSE: gpu.return
func.func @prefill(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %b: tensor<?x?x?xbf16>)
    -> tensor<?x?x?x128xbf16> {
  %o, %f = delta.delta_rule %q, %k, %v, %b {use_qk_l2norm}
      : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?xbf16>
      -> tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>
  return %o : tensor<?x?x?x128xbf16>
}
