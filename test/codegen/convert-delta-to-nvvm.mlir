// convert-delta-to-nvvm: kernels in a gpu.module, delta.launch in host code.
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm | FileCheck %s
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm="chip=sm_80" | FileCheck %s --check-prefix=SM80
// RUN: delta-opt %s -delta-chunk-tile -convert-delta-to-nvvm -delta-kernels-to-llvm | FileCheck %s --check-prefix=LLVM

// CHECK: module attributes {gpu.container_module}
// CHECK-LABEL: func.func @prefill_and_decode
// CHECK: %[[F:.+]]:2 = delta.launch @deltajit_kernels::@dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2(%arg0, %arg1, %arg2, %arg3, %arg4)
// CHECK-SAME: block = [256, 1, 1]
// CHECK-SAME: entry = {chunk = 64 : i64, dk = 64 : i64, dtype = "bf16", dv = 64 : i64, mma = "mma.sync.m16n8k16", op = "delta_rule_forward", scale = 1.250000e-01 : f32, tile = #delta.tile<chunk = 64, block_v = 64, warps = 8, stages = 1>, use_qk_l2norm = true}
// CHECK-SAME: grid = ["1", "N * HV", "1"]
// CHECK-SAME: params = {{\[}}["q", "ptr"], ["k", "ptr"], ["v", "ptr"], ["beta", "ptr"], ["o", "ptr"], ["h0", "ptr"], ["ht", "ptr"], ["cu_seqlens", "ptr"], ["H", "i32"], ["HV", "i32"], ["has_h0", "i32"], ["has_ht", "i32"], ["scale", "f32"]]
// The tiles of one chunk plus prefetch buffers for the next chunk's q, k, v
// (the state lives in registers: no f32 state tile).
// CHECK-SAME: shared_bytes = 109824
// The second, identical layer reuses the kernel.
// CHECK: delta.launch @deltajit_kernels::@dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2(
// CHECK: delta.launch @deltajit_kernels::@dj_delta_rule_decode_bf16_d64x64_l2(
// CHECK-SAME: grid = ["1", "N * HV", "1"]
// CHECK-SAME: params = {{\[}}["q", "ptr"], ["k", "ptr"], ["v", "ptr"], ["beta", "ptr"], ["o", "ptr"], ["state_in", "ptr"], ["state_out", "ptr"], ["H", "i32"], ["HV", "i32"], ["scale", "f32"]]
// CHECK: gpu.module @deltajit_kernels [#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">]
// 1024-byte aligned on sm_90a: the default tensor-core family (auto) may
// give three-phase kernels wgmma's swizzled tiles.
// CHECK: llvm.mlir.global external @dj_smem() {addr_space = 3 : i32, alignment = 1024 : i64} : !llvm.array<0 x i8>
// CHECK: gpu.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2(%{{.*}}: !llvm.ptr<1>, {{.*}}: i32, %{{.*}}: f32) kernel attributes {known_block_size = array<i32: 256, 1, 1>}
// The first chunk's q, k, v are prefetched before the chunk loop; each
// chunk waits for its own and prefetches the next one's.
// CHECK: nvvm.cp.async.shared.global {{.*}}, 16, cache = cg
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.for
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: nvvm.cp.async.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.ldmatrix
// CHECK: nvvm.mma.sync
// CHECK-SAME: multiplicandAPtxType = #nvvm.mma_type<bf16>
// CHECK-SAME: shape = #nvvm.shape<m = 16, n = 8, k = 16>
// CHECK: gpu.func @dj_delta_rule_decode_bf16_d64x64_l2(
// CHECK-NOT: gpu.func
// SM80: #nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">
// LLVM: gpu.module @deltajit_kernels
// LLVM: llvm.func @dj_delta_rule_fwd_bf16_d64x64_c64_v64_w8_l2(%{{.*}}: !llvm.ptr<1>
// LLVM-SAME: nvvm.kernel
// LLVM: nvvm.mma.sync
// LLVM: llvm.inline_asm "sqrt.rn.f32 $0, $1;"
// LLVM-NOT: scf.
// LLVM-NOT: gpu.barrier
func.func @prefill_and_decode(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x4x64xbf16>,
    %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>, %s: tensor<2x4x64x64xf32>,
    %q1: tensor<2x4x64xbf16>, %v1: tensor<2x4x64xbf16>, %b1: tensor<2x4xbf16>)
    -> (tensor<2x?x4x64xbf16>, tensor<2x4x64xbf16>, tensor<2x4x64x64xf32>) {
  %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<2x4x64x64xf32>) {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  %o2, %f2 = delta.delta_rule %o, %k, %v, %b initial_state(%f : tensor<2x4x64x64xf32>) {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  %od, %fd = delta.delta_rule_step %q1, %q1, %v1, %b1, %f2 {use_qk_l2norm}
      : tensor<2x4x64xbf16>, tensor<2x4x64xbf16>, tensor<2x4x64xbf16>, tensor<2x4xbf16>, tensor<2x4x64x64xf32>
      -> tensor<2x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o2, %od, %fd : tensor<2x?x4x64xbf16>, tensor<2x4x64xbf16>, tensor<2x4x64x64xf32>
}
