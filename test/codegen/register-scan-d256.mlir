// The register scan at dk = 256 (convert-delta-to-nvvm register-scan):
// S^T's 64 value columns x 256 rows no longer fit one warpgroup's
// registers, so two warpgroups share them, each holding half of dk (64 f32
// registers per thread, as at dk = 128): 8 warps at block_v 64, warp w of
// half 0 and warp w + 4 of half 1 own the same 16 value columns. Per chunk
// each half
//   stages its 128 rows of Sb^T (8 stmatrix.trans) and copies them out,
//   computes its partial X^T = Sb_h^T K_h^T (8 k16 steps, B K-major,
//     half 1's descriptors moved two 64-column panels on),
//   writes the partial (8 x 16 bytes per lane) into its own rows of the
//     warp's Sb columns, meets the other half's warp at the pair's named
//     barrier (64 threads), adds the other's partial, then loads V^T
//     (ldmatrix.trans) and subtracts,
//   computes Vn^T (both halves, the same bits), half 0 alone stages and
//     copies it,
//   and updates its half of S^T (4 k16 steps of m64n128, B MN-major).
// The next chunk's tiles are prefetched (the generic d = 256 scan has no
// room for the buffers). The option turned off keeps the generic scan
// (three barriers per chunk, no prefetch). This is the form that stages Sb
// and Vn for the output kernel (output-in-scan=0); by default the scan
// computes the output itself (register-scan-output.mlir, prefix D256).
// RUN: delta-opt %s -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3 output-in-scan=0" | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3 register-scan=0" | FileCheck %s --check-prefix=GENERIC

// CHECK: block = [256, 1, 1], grid = ["4", "N * HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d256x256_c64_v64_w8_l2_p3_scan"
// CHECK-SAME: shared_bytes = 139264
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d256x256_c64_v64_w8_l2_p3_scan(
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (f32, {{.*}}) : i32 {
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NEXT: nvvm.fence.proxy
// CHECK-NEXT: gpu.barrier
// CHECK-NOT: gpu.barrier
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.bar.warp.sync
// CHECK-COUNT-8: nvvm.stmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// While X^T runs, the warp copies its half's Sb rows (128 rows x 32 bytes).
// CHECK: nvvm.bar.warp.sync
// CHECK-COUNT-8: llvm.store {{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr<1>
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// The partials' exchange.
// CHECK: nvvm.bar.warp.sync
// CHECK-COUNT-8: llvm.store {{.*}} {alignment = 16 : i64} : vector<4xf32>, !llvm.ptr<3>
// CHECK: nvvm.barrier id = {{.*}} number_of_threads = {{.*}}
// CHECK-COUNT-8: llvm.load {{.*}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<4xf32>
// CHECK-COUNT-4: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK-COUNT-32: arith.subf
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// Half 0 stages Vn.
// CHECK: scf.if
// CHECK-COUNT-4: nvvm.stmatrix
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-COUNT-4: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: arith.cmpi eq
// CHECK-NEXT: scf.if
// CHECK: nvvm.bar.warp.sync
// CHECK-COUNT-4: llvm.store {{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr<1>
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-NOT: gpu.barrier
// CHECK: scf.yield
// CHECK: gpu.return

// GENERIC: grid = ["4", "N * HV", "1"], kernel = "dj_delta_rule_fwd_bf16_d256x256_c64_v64_w8_l2_p3_scan"
// GENERIC-SAME: shared_bytes = 106496
// GENERIC-LABEL: gpu.func @{{.*}}_p3_scan(
// GENERIC-NOT: nvvm.stmatrix
// GENERIC-NOT: nvvm.barrier id
// GENERIC: gpu.barrier
// GENERIC: gpu.barrier
// GENERIC: gpu.barrier
// GENERIC: gpu.return
func.func @prefill(%q: tensor<?x?x?x256xbf16>, %k: tensor<?x?x?x256xbf16>, %v: tensor<?x?x?x256xbf16>, %b: tensor<?x?x?xbf16>)
    -> tensor<?x?x?x256xbf16> {
  %o, %f = delta.delta_rule %q, %k, %v, %b {use_qk_l2norm}
      : tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?xbf16>
      -> tensor<?x?x?x256xbf16>, tensor<?x?x256x256xf32>
  return %o : tensor<?x?x?x256xbf16>
}

// fp16 and chunks of 32 take the split register scan too (run on the GPU
// against the oracle: test/gpu ThreePhaseConfigs); at chunk 32 X^T is m64n32
// (2 k16 steps of Vn^T, m64n128 updates of 2 k16 steps).
// RUN: sed -e 's/xbf16>/xf16>/g' %s | delta-opt -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3 output-in-scan=0" | FileCheck %s --check-prefix=F16
// F16-LABEL: gpu.func @dj_delta_rule_fwd_fp16_d256x256_c64_v64_w8_l2_p3_scan(
// F16: nvvm.stmatrix
// F16: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16
// F16: nvvm.barrier id = {{.*}} number_of_threads = %c64_i32
// F16: wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16
// RUN: sed -e 's/{use_qk_l2norm}/{use_qk_l2norm, chunk_size = 32 : i64}/' %s | delta-opt -delta-chunk-tile="block-v=64" -convert-delta-to-nvvm="phases=3 output-in-scan=0" | FileCheck %s --check-prefix=C32
// C32-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d256x256_c32_v64_w8_l2_p3_scan(
// C32: nvvm.stmatrix
// C32: wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16
// C32: nvvm.barrier id = {{.*}} number_of_threads = %c64_i32
// C32-COUNT-2: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// C32-NOT: wgmma.mma_async
// C32: gpu.return

