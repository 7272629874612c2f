// The values that cross to the later kernels are stored to their scratch
// as soon as they are final (after the barrier that follows their
// producer), not at the end of the chunk: the stores' latency overlaps the
// later ops, and the memory fence at the next chunk's first barrier finds
// them done.
// (The scan checked here is the generic one: the register scan, default
// at block_v 64 on sm_90a, has no op-by-op stores; register-scan.mlir.)
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3 register-scan=0" | FileCheck %s

// Prepare: the normalised k (for the scan) goes out right after the loads'
// barriers, before the first product (K K^T).
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare(
// CHECK: nvvm.cp.async.wait.group 0
// CHECK-NOT: nvvm.wgmma.commit.group.sync.aligned
// CHECK: llvm.store {{.*}} : vector<8xbf16>, !llvm.ptr<1>
// CHECK: nvvm.wgmma.commit.group.sync.aligned

// Scan: Vn goes out after the barrier that follows its product (X = V -
// K Sb, then Vn = T X, both wgmma), before the state update's mma.sync reads
// it.
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan(
// CHECK: scf.for
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: gpu.barrier
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: gpu.barrier
// CHECK-NOT: nvvm.mma.sync
// CHECK: llvm.store {{.*}} : vector<8xbf16>, !llvm.ptr<1>
// CHECK: nvvm.ldmatrix
// CHECK: nvvm.mma.sync

func.func @prefill(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %o, %f = delta.delta_rule %q, %k, %v, %b {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x?x4x64xbf16>
}
