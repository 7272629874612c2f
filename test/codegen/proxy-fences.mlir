// wgmma reads shared memory through the async proxy, so a barrier after
// shared stores that a wgmma may read needs `fence.proxy.async` before it
// (a fence also waits for the thread's outstanding memory operations,
// global stores included). Barriers after stores that no wgmma reads go
// without: after Q K^T (its mask is only stored by prepare) and the
// barrier that lets K K^T overwrite it once stored, after K K^T (A in f32,
// read by the UT transform), between the UT transform's phases (f32
// scratch), after the UT transform (T is only stored; in prepare, which
// runs its body once, a tile only needs the fence when a later wgmma reads
// it, wherever the plan put it), and in the scan after Vn (read by the
// state update's mma.sync).
// (The scan checked here is the generic one; the register scan, default at
// block_v 64 on sm_90a, fences its one barrier per chunk: register-scan.mlir.)
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="phases=3 register-scan=0" | FileCheck %s

// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_prepare(
// The loads (cp.async, generic proxy) and the L2 norm: fenced.
// CHECK: nvvm.cp.async.wait.group
// CHECK: nvvm.fence.proxy
// CHECK-NEXT: gpu.barrier
// Q K^T and K K^T: no fence, nor between the UT transform's phases, nor
// after it.
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NOT: nvvm.fence.proxy
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NOT: nvvm.fence.proxy
// CHECK: nvvm.mma.sync {{.*}}tf32
// CHECK-NOT: nvvm.fence.proxy
// CHECK: gpu.barrier
// CHECK-NOT: nvvm.fence.proxy
// CHECK: nvvm.mma.sync {{.*}}tf32
// CHECK-NOT: nvvm.fence.proxy
// CHECK: gpu.barrier
// CHECK-NOT: nvvm.fence.proxy
// CHECK-LABEL: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2_p3_scan(
// CHECK: scf.for
// The state's bf16 copy (read by X = V - K Sb on wgmma): fenced; X's two
// bf16 parts (read by Vn = T X on wgmma): fenced; Vn: not.
// CHECK: nvvm.fence.proxy
// CHECK-NEXT: gpu.barrier
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: nvvm.fence.proxy
// CHECK-NEXT: gpu.barrier
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NOT: nvvm.fence.proxy
// CHECK: gpu.barrier
// CHECK-NOT: nvvm.fence.proxy
// CHECK: nvvm.mma.sync

func.func @prefill(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>)
    -> tensor<2x?x4x64xbf16> {
  %o, %f = delta.delta_rule %q, %k, %v, %b {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x?x4x64xbf16>
}
