// The register scan computes the chunk's output too (convert-delta-to-nvvm
// output-in-scan, on by default): where the three-phase scan is the
// register scan of one warpgroup per 64 value columns (dk <= 128), the
// output ops O = scale (Q Sb) + scale (P Vn) run transposed beside the
// recurrence's own products, from the same A registers:
//   O^T  = Sb^T Q^T  (A = Sb^T, as X^T's; B = q K-major), a wgmma group of
//          its own issued right after X^T's, waited for only at the end
//          (wait.group 1 lets X^T's finish first);
//   O^T += Vn^T P^T  (A = Vn^T, as S^T's update; B = P = mask(Q K^T) from
//          prepare, K-major), in the update's group;
// then O^T is scaled, rounded, written untransposed into the warp's
// columns of the chunk's V tile (V^T is in registers by then) and copied
// to o in 16-byte row pieces (rows past the sequence's end skipped; element
// stores when o is not 16-byte aligned). Sb and Vn never leave the SM:
// two kernels (prepare, which also stores q's and k's inverse row norms as
// ws_norms and no normalised k, and the scan, which loads q and k as given,
// scales X^T's columns by k's norms (V^T - (Sb^T K^T) D_k, one FMA each)
// and Sb^T Q^T's by q's before Vn^T P^T is added), no Sb / Vn scratch, no
// output kernel, no block barrier in the chunk step but the prefetch's. The generic scan at block_v 32 keeps the
// output kernel (prefix GENERIC). At dk = 256 (prefix D256) two warpgroups
// share 64 value columns, each holding half of dk: each computes a partial
// O^T (Sb_h^T Q_h^T over its half of dk, in the group after X^T's; Vn^T
// P^T over its half of the chunk's rows, 2 of the 4 k16 steps, selected by
// the half), half 1 writes its partial into the pair's exchange area (Sb's
// tile, which X^T's partials also go through) and arrives at the pair's
// hand-over barrier; half 0 waits there, adds it and stores o.
// RUN: delta-opt %s -delta-chunk-tile="block-v=128" -convert-delta-to-nvvm="phases=3" | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3" | FileCheck %s --check-prefix=BV64
// RUN: delta-opt %s -delta-chunk-tile="block-v=32" -convert-delta-to-nvvm="phases=3" | FileCheck %s --check-prefix=GENERIC
// RUN: sed 's/128xbf16/256xbf16/g; s/128x128xf32/256x256xf32/' %s | delta-opt -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3" | FileCheck %s --check-prefix=D256

// CHECK: block = [256, 1, 1], grid = ["total_chunks", "HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_prepare_qk"
// CHECK-SAME: block = [256, 1, 1], grid = ["1", "N * HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_scan_output"
// CHECK-SAME: {{\[}}"o", "ptr"]
// CHECK-SAME: {{\[}}"ws1", "ptr"], {{\[}}"ws_norms", "ptr"]]
// CHECK-SAME: shared_bytes = 132096
// CHECK-NOT: _p3_output"
// CHECK-SAME: scratch = {{\[\[}}"ws0", "total_chunks * HV * 8192"], {{\[}}"ws1", "total_chunks * HV * 8192"], {{\[}}"ws_norms", "total_chunks * HV * 512"]]
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_scan_output(
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (f32, {{.*}}) : i32 {
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: nvvm.fence.proxy
// CHECK-NEXT: gpu.barrier
// CHECK-NOT: gpu.barrier
// CHECK-NOT: nvvm.stmatrix
// CHECK-COUNT-4: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK: nvvm.wgmma.fence.aligned
// X^T = Sb^T K^T, then O^T = Sb^T Q^T in its own group.
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK-NOT: arith.subf
// CHECK-COUNT-32: llvm.intr.fma
// CHECK: nvvm.wgmma.fence.aligned
// Vn^T = X^T T^T (split operands: 2 x 4 steps).
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-NOT: nvvm.stmatrix
// S^T += Vn^T K in its group; while it runs, Sb^T Q^T's columns are
// scaled by q's inverse norms (prefetched into shared memory with the
// chunk's tiles: two per 8 columns); then O^T += Vn^T P^T in a group of its
// own.
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-COUNT-2: llvm.load {{.*}} : !llvm.ptr<3> -> f32
// CHECK-COUNT-4: arith.mulf
// CHECK-COUNT-2: llvm.load {{.*}} : !llvm.ptr<3> -> f32
// CHECK-COUNT-4: arith.mulf
// CHECK-COUNT-2: llvm.load {{.*}} : !llvm.ptr<3> -> f32
// CHECK-COUNT-4: arith.mulf
// CHECK-COUNT-2: llvm.load {{.*}} : !llvm.ptr<3> -> f32
// CHECK-COUNT-4: arith.mulf
// CHECK-COUNT-2: llvm.load {{.*}} : !llvm.ptr<3> -> f32
// CHECK-COUNT-4: arith.mulf
// CHECK-COUNT-2: llvm.load {{.*}} : !llvm.ptr<3> -> f32
// CHECK-COUNT-4: arith.mulf
// CHECK-COUNT-2: llvm.load {{.*}} : !llvm.ptr<3> -> f32
// CHECK-COUNT-4: arith.mulf
// CHECK-COUNT-2: llvm.load {{.*}} : !llvm.ptr<3> -> f32
// CHECK-COUNT-4: arith.mulf
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-COUNT-32: arith.mulf {{.*}}, %arg12 : f32
// CHECK-COUNT-4: nvvm.stmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK-NEXT: arith.constant -1
// CHECK-NEXT: nvvm.bar.warp.sync
// CHECK-NOT: gpu.barrier
// The copy to o (RegisterScanStep::stripPiece): lanes 2 s and 2 s + 1 take
// the two 16-byte halves of row 2 (s % 4) + (s / 4) % 2 + 8 (s / 8): each
// 8-lane phase reads 4 rows two apart (no bank conflicts on the swizzled
// tile) and writes their 32-byte sectors whole.
// CHECK: %[[SLOT:.*]] = arith.divsi %{{.*}}, %c2_i32
// CHECK: arith.divsi %[[SLOT]], %c8_i32
// CHECK: %[[QUAD:.*]] = arith.divsi %[[SLOT]], %c4_i32
// CHECK-NEXT: arith.remsi %[[QUAD]], %c2_i32
// CHECK: arith.remsi %[[SLOT]], %c4_i32
// CHECK: llvm.store {{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr<1>
// CHECK-NOT: gpu.barrier
// CHECK: scf.yield
// CHECK: gpu.return

// One warpgroup at block_v 64: 128 threads, two programs per SM (115712
// bytes, with the 1024 reserved per program the SM's 233472 exactly: K, V,
// T, q, P and q's and k's norms double-buffered; nothing else).
// BV64: block = [128, 1, 1], grid = ["2", "N * HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v64_w8_l2_p3_scan_output"
// BV64-SAME: shared_bytes = 115712
// BV64-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d128x128_c64_v64_w8_l2_p3_scan_output(
// BV64-COUNT-32: wgmma.mma_async.sync.aligned
// BV64: gpu.return

// GENERIC: kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_prepare"
// GENERIC-SAME: kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v32_w8_l2_p3_scan"
// GENERIC-SAME: kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_output"
// GENERIC-NOT: ws_norms
// D256: kernel = "dj_delta_rule_fwd_bf16_d256x256_c64_v64_w8_l2_p3_prepare_qk"
// D256-SAME: block = [256, 1, 1], grid = ["4", "N * HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d256x256_c64_v64_w8_l2_p3_scan_output"
// D256-SAME: shared_bytes = 214016
// D256-NOT: _p3_output"
// D256-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d256x256_c64_v64_w8_l2_p3_scan_output(
// D256: scf.for
// D256: gpu.barrier
// D256: nvvm.wgmma.fence.aligned
// D256-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// D256: nvvm.wgmma.commit.group.sync.aligned
// D256-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// D256: nvvm.wgmma.commit.group.sync.aligned
// D256-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// X^T's partials traded, V^T loaded and subtracted; then O^T's partial is
// waited for (its A registers free before Vn^T's product).
// D256: nvvm.bar.warp.sync
// D256-COUNT-8: llvm.store {{.*}} {alignment = 16 : i64} : vector<4xf32>, !llvm.ptr<3>
// D256: nvvm.barrier id = {{.*}} number_of_threads = %c64_i32
// D256-COUNT-8: llvm.load {{.*}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<4xf32>
// D256-COUNT-4: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
// D256: nvvm.wgmma.wait.group.sync.aligned 0
// D256: nvvm.wgmma.fence.aligned
// D256-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// D256: nvvm.wgmma.wait.group.sync.aligned 0
// D256-NOT: nvvm.stmatrix
// D256: nvvm.wgmma.fence.aligned
// D256-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// D256-COUNT-2: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// D256-NOT: wgmma.mma_async
// D256: nvvm.wgmma.commit.group.sync.aligned
// D256-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// The hand-over: half 1 writes and arrives, half 0 waits, adds and stores.
// D256: scf.if
// D256-COUNT-8: llvm.store {{.*}} {alignment = 16 : i64} : vector<4xf32>, !llvm.ptr<3>
// D256: nvvm.barrier.arrive id = {{.*}} number_of_threads = %c64_i32
// D256: scf.if
// D256: nvvm.barrier id = {{.*}} number_of_threads = %c64_i32
// D256-COUNT-8: llvm.load {{.*}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<4xf32>
// D256-COUNT-32: arith.mulf {{.*}}, %arg12 : f32
// D256-COUNT-4: nvvm.stmatrix {{.*}}layout = #nvvm.mma_layout<col>
// D256: llvm.store {{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr<1>
// D256-NOT: gpu.barrier
// D256: scf.yield
// D256: gpu.return
func.func @prefill(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %b: tensor<?x?x?xbf16>)
    -> tensor<?x?x?x128xbf16> {
  %o, %f = delta.delta_rule %q, %k, %v, %b {use_qk_l2norm}
      : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?xbf16>
      -> tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>
  return %o : tensor<?x?x?x128xbf16>
}
