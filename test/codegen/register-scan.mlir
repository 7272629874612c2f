// The register scan (convert-delta-to-nvvm register-scan, on by default):
// a three-phase scan whose family is wgmma, at block_v a multiple of 64,
// runs the recurrence transposed with everything in wgmma accumulators,
// one warpgroup per 64 value columns (one warp per 16): per chunk, after
// the one barrier that publishes the prefetched K, T, V tiles,
//   Sb^T = S^T rounded (stmatrix.trans into Sb's tile, for the output),
//   X^T = V^T - Sb^T K^T: 8 k16 steps from zero, A from registers, B
//     K-major, then V^T (ldmatrix.trans) minus the accumulators in f32,
//   Vn^T = X^T T^T: X^T split into its rounding and the rounded remainder,
//     both as register A (2 x 4 k16 steps), B = T K-major,
//   Vn^T rounded into Vn's tile (stmatrix.trans), then
//   S^T += Vn^T K: 4 k16 steps of m64n128, B = K MN-major (trans-b 1);
// each warp copies its 16 columns of Sb and of Vn to scratch (16-byte
// stores, no block barrier) while X^T and S^T's update are in flight. The state stays in the chunk loop's registers
// (dk / 2 = 64 per thread). Other block_v, families and the option turned
// off keep the generic scan (prefix GENERIC; X = V - K Sb as a shared tile, three
// barriers per chunk). These runs stage Sb and Vn for the output kernel
// (output-in-scan=0); by default the register scan of one warpgroup per 64
// columns computes the output itself (register-scan-output.mlir).
// RUN: delta-opt %s -delta-chunk-tile="block-v=128" -convert-delta-to-nvvm="phases=3 output-in-scan=0" | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3 output-in-scan=0" | FileCheck %s --check-prefix=BV64
// RUN: delta-opt %s -delta-chunk-tile="block-v=128" -convert-delta-to-nvvm="phases=3 register-scan=0" | FileCheck %s --check-prefix=GENERIC
// RUN: delta-opt %s -delta-chunk-tile="block-v=32" -convert-delta-to-nvvm="phases=3" | FileCheck %s --check-prefixes=GENERIC,NARROW32
// RUN: delta-opt %s -delta-chunk-tile="block-v=16" -convert-delta-to-nvvm="phases=3" | FileCheck %s --check-prefixes=GENERIC,NARROW16
// Generic scans of at most 32 value columns run on 4 warps whatever the
// tile's 8 (NARROW*); the chunk-parallel kernels keep 8.
// RUN: delta-opt %s -delta-chunk-tile="block-v=128" -convert-delta-to-nvvm="phases=3 tensor-cores=mma.sync" | FileCheck %s --check-prefix=GENERIC

// Eight warps (two warpgroups) at block_v 128.
// CHECK: block = [256, 1, 1], grid = ["1", "N * HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_scan"
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_scan(
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (f32, {{.*}}) : i32 {
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: nvvm.fence.proxy
// CHECK-NEXT: gpu.barrier
// CHECK-NOT: gpu.barrier
// CHECK: nvvm.bar.warp.sync
// CHECK-COUNT-8: nvvm.stmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK-COUNT-4: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// While X^T runs, the warp copies its Sb columns (128 rows x 32 bytes).
// CHECK-NEXT: arith.constant -1
// CHECK-NEXT: nvvm.bar.warp.sync
// CHECK-COUNT-8: llvm.store {{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr<1>
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-COUNT-32: arith.subf
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-COUNT-4: nvvm.stmatrix
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// While S^T's update runs, its Vn columns (64 rows).
// CHECK: nvvm.bar.warp.sync
// CHECK-COUNT-4: llvm.store {{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr<1>
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-NOT: gpu.barrier
// CHECK: scf.yield
// CHECK: gpu.return

// One warpgroup at block_v 64.
// BV64: block = [128, 1, 1], grid = ["2", "N * HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v64_w8_l2_p3_scan"
// BV64-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d128x128_c64_v64_w8_l2_p3_scan(
// BV64-COUNT-20: wgmma.mma_async.sync.aligned
// BV64: gpu.return

// NARROW32: block = [256, 1, 1], grid = ["total_chunks", "HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_prepare"
// NARROW32-SAME: block = [128, 1, 1], grid = ["4", "N * HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v32_w8_l2_p3_scan"
// NARROW32-SAME: block = [256, 1, 1], grid = ["total_chunks", "HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v128_w8_l2_p3_output"
// NARROW16: block = [128, 1, 1], grid = ["8", "N * HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d128x128_c64_v16_w8_l2_p3_scan"
// GENERIC-LABEL: gpu.func @{{.*}}_p3_scan(
// GENERIC: llvm.inline_asm has_side_effects "griddepcontrol.wait;"
// GENERIC-NOT: nvvm.stmatrix
// GENERIC-NOT: llvm.inline_asm
// GENERIC: gpu.barrier
// GENERIC: gpu.barrier
// GENERIC: gpu.barrier
// GENERIC: gpu.return
func.func @prefill(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %b: tensor<?x?x?xbf16>)
    -> tensor<?x?x?x128xbf16> {
  %o, %f = delta.delta_rule %q, %k, %v, %b {use_qk_l2norm}
      : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?xbf16>
      -> tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>
  return %o : tensor<?x?x?x128xbf16>
}
