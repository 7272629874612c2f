// The wgmma tensor-core family (convert-delta-to-nvvm tensor-cores=wgmma,
// sm_90a): the chunk products run as wgmma.mma_async.m64nNk16 from shared-
// memory descriptors; the register-resident state update stays mma.sync.
// Three-phase lowering of dk = dv = 64, block_v 64, 8 warps (2 warpgroups):
// a 64 x 64 product whose B is K-major (K K^T, Q K^T) is split into two
// m64n32 items, one per warpgroup; one whose B is MN-major (K Sb) stays
// one m64n64 item (a column block must start on a 64-column swizzle panel).
// Operand tiles are 128-byte swizzled (64 bf16 columns per line): smaller
// than the padded row-major tiles, 1024-byte aligned.
// The scan checked here is the generic one (register-scan=0; the default
// register scan: register-scan.mlir).
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3 tensor-cores=wgmma register-scan=0" | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3 tensor-cores=wgmma" -delta-kernels-to-ptx | FileCheck %s --check-prefix=BIN
// RUN: not delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="chip=sm_80 tensor-cores=wgmma" 2>&1 | FileCheck %s --check-prefix=SM80
// The default family (auto) picks per kernel: wgmma for the three-phase
// kernels from block_v 32 on and for the three-phase scan at every block_v
// (sm_90a), mma.sync for prepare and output at block_v 16, for the fused
// kernel and on sm_80 (value tiles pinned with parallel-block-v here;
// parallel-block-v.mlir checks the mixed widths and families).
// RUN: delta-opt %s -delta-chunk-tile="block-v=32" -convert-delta-to-nvvm="phases=3 parallel-block-v=32" | FileCheck %s --check-prefix=AUTO32
// RUN: delta-opt %s -delta-chunk-tile="block-v=16" -convert-delta-to-nvvm="phases=3 parallel-block-v=16" | FileCheck %s --check-prefix=AUTO16
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm | FileCheck %s --check-prefix=AUTOMMA
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="chip=sm_80 phases=3" | FileCheck %s --check-prefix=AUTOMMA
// RUN: not delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="tensor-cores=tcgen05" 2>&1 | FileCheck %s --check-prefix=UNKNOWN

// CHECK: mma = "wgmma.m64nNk16"
// CHECK-SAME: kernel = "dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare"
// CHECK-SAME: shared_bytes = 51456

// Prepare: Q K^T (first: the ops that read q are hoisted, so q's tile dies
// early), then K K^T (both operands K-major: A row, B col), then the UT
// transform (tf32 mma.sync). Each product: fence,
// four k16 steps (the first overwrites the accumulators; descriptors
// computed between them), commit, wait.
// Barriers are preceded by a proxy fence (shared stores -> async proxy).
// Descriptor fields (PTX ISA, matrix descriptor: LBO bits 16-29, SBO bits
// 32-45, both in 16-byte units; swizzle mode bits 62-63, 1 = 128B):
// K-major 128B-swizzled operand: LBO unused (1), SBO = 8 lines x 128 B =
// 1024 B (64): 1 << 16 | 64 << 32 | 1 << 62 = 4611686293305360384.
// MN-major (a 64 x 64 tile read as k x n, the scan's Sb): LBO = the panel
// stride, 64 lines x 128 B = 8192 B (512), SBO 64: 4611686293338849280.
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare(
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT: gpu.barrier
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: arith.constant 4611686293305360384 : i64
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 32, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK-COUNT-3: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 32, k = 16>, D[<f32>, <one>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 32, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK-NOT: nvvm.mma.sync {{.*}}bf16
// CHECK: nvvm.mma.sync {{.*}}tf32
// CHECK-NOT: nvvm.mma.sync {{.*}}bf16
// CHECK: gpu.return

// Scan: X = V - K Sb by wgmma (B = Sb, MN-major: 4 k16 steps); Vn = T X
// by wgmma over X's two bf16 parts, [T T] [hi; lo] (8 k16 steps, no f32
// tile); S' = S + K^T Vn by mma.sync on the registers carried by the chunk
// loop.
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan(
// CHECK: scf.for {{.*}} iter_args
// CHECK: arith.constant 4611686293338849280 : i64
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 64, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <row>]
// CHECK-COUNT-3: nvvm.wgmma.mma_async {{.*}} D[<f32>, <one>]
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 64, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <row>]
// CHECK-COUNT-7: nvvm.wgmma.mma_async {{.*}} D[<f32>, <one>]
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NOT: nvvm.wgmma.mma_async
// CHECK: nvvm.mma.sync
// CHECK: gpu.return

// AUTO32: mma = "wgmma.m64nNk16"
// AUTO32: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_p3_prepare(
// AUTO32: nvvm.wgmma.mma_async
// AUTO32: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_p3_scan(
// AUTO32: nvvm.wgmma.mma_async
// AUTO32: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v32_w8_l2_p3_output(
// AUTO32: nvvm.wgmma.mma_async
// AUTO16: mma = "mma.sync.m16n8k16+wgmma.m64nNk16"
// AUTO16: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v16_w8_l2_p3_prepare(
// AUTO16-NOT: wgmma
// AUTO16: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v16_w8_l2_p3_scan(
// AUTO16: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 16, k = 16>
// AUTO16: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v16_w8_l2_p3_output(
// AUTO16-NOT: wgmma
// AUTOMMA: mma = "mma.sync.m16n8k16"
// AUTOMMA-NOT: wgmma

// BIN: gpu.binary @deltajit_kernels
// SM80: tensor-core family 'wgmma' needs sm_90a, the target is sm_80
// UNKNOWN: unknown tensor-core family 'tcgen05' (expected auto, mma.sync or wgmma)
func.func @prefill(%q: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %o, %f = delta.delta_rule %q, %q, %v, %b {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x?x4x64xbf16>
}
