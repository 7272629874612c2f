// The decode-step kernel: each thread holds 4 adjacent value columns of up
// to 16 state rows (16-byte loads and stores), loaded before anything else; q and
// k staged in shared memory by all threads, their norms reduced across the
// block (butterfly shuffles, then the warps' partial sums); kv = S^T k and
// o = q^T S' summed over the row splits (shuffles between the splits of a
// warp, then shared memory); decode-block-v caps the columns per program
// (default 64).
// RUN: delta-opt %s -convert-delta-to-nvvm | FileCheck %s
// RUN: delta-opt %s -convert-delta-to-nvvm="decode-block-v=128" | FileCheck %s --check-prefix=V128
// RUN: not delta-opt %s -convert-delta-to-nvvm="decode-block-v=24" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: delta-opt %s -convert-delta-to-nvvm="decode-block-v=48" | FileCheck %s --check-prefix=V48
// RUN: delta-opt %s -convert-delta-to-nvvm="decode-block-v=1024" | FileCheck %s --check-prefix=V1024
// RUN: delta-opt %S/Inputs/decode-odd.mlir -convert-delta-to-nvvm | FileCheck %s --check-prefix=ODD
// RUN: not delta-opt %S/Inputs/decode-dv6.mlir -convert-delta-to-nvvm 2>&1 | FileCheck %s --check-prefix=BADDV

// 64 columns: 16 groups of 4 side by side, 8 row splits of 16 rows (128
// threads), 2 splits per warp summed by a shuffle at lane distance 16, then
// 4 slots of shared memory.
// CHECK-LABEL: func.func @decode
// CHECK: delta.launch @deltajit_kernels::@dj_delta_rule_decode_bf16_d128x128_l2(
// CHECK-SAME: block = [128, 1, 1]
// CHECK-SAME: grid = ["2", "N * HV", "1"]
// Launched with programmatic stream serialization (sm_90): the step lets
// the next one launch at once and waits for the previous one before any
// global access (test/codegen/programmatic-launch.mlir).
// CHECK-SAME: programmatic_wait = true
// q and k (128 f32 each), 2 x 4 warp partial sums, 2 x 4 slots x 64.
// CHECK-SAME: shared_bytes = 3104
// CHECK: gpu.func @dj_delta_rule_decode_bf16_d128x128_l2(
// CHECK-NEXT: nvvm.griddepcontrol launch_dependents
// CHECK-NEXT: llvm.inline_asm has_side_effects "griddepcontrol.wait;", "~{memory}"
// The 16 state rows first, as 16-byte vectors with the streaming cache hint
// (rows 8 apart: 8 x 128 x 4 bytes), then beta and v.
// CHECK: llvm.inline_asm "ld.global.cs.v4.f32 {$0, $1, $2, $3}, [$4+0];"
// CHECK-NEXT: llvm.extractvalue
// CHECK: llvm.inline_asm "ld.global.cs.v4.f32 {$0, $1, $2, $3}, [$4+4096];"
// CHECK-COUNT-14: llvm.inline_asm "ld.global.cs.v4.f32
// CHECK-NOT: gpu.barrier
// CHECK: llvm.load {{.*}} : !llvm.ptr<1> -> bf16
// CHECK: gpu.barrier
// CHECK: nvvm.shfl.sync  bfly
// CHECK: gpu.barrier
// CHECK: sqrt.rn.f32
// CHECK-NOT: nvvm.shfl.sync  bfly {{.*}}, %c8_i32
// CHECK: nvvm.shfl.sync  bfly {{.*}}, %c16_i32
// CHECK: gpu.barrier
// CHECK-COUNT-16: llvm.inline_asm has_side_effects "st.global.cs.v4.f32
// CHECK: nvvm.shfl.sync  bfly {{.*}}, %c16_i32
// CHECK: gpu.barrier
// CHECK: gpu.return

// 128 columns: 32 groups, 8 row splits (256 threads, 16 rows each), one
// split per warp: no shuffles, sums through 8 slots of shared memory.
// V128: delta.launch @deltajit_kernels::@dj_delta_rule_decode_bf16_d128x128_l2_v128(
// V128-SAME: block = [256, 1, 1]
// V128-SAME: grid = ["1", "N * HV", "1"]
// q and k, 2 x 8 warp partial sums, 2 x 8 slots x 128.
// V128-SAME: shared_bytes = 9280
// V128: sqrt.rn.f32
// V128-NOT: nvvm.shfl.sync
// V128: gpu.barrier
// V128-COUNT-16: llvm.inline_asm has_side_effects "st.global.cs.v4.f32
// V128: gpu.barrier
// V128-NOT: nvvm.shfl.sync
// V128: gpu.return

// 32 columns: 8 groups, 16 splits of 8 rows (128 threads), 4 splits per warp
// (shuffles at lane distances 8 and 16), 4 slots. At most 48 columns: the
// widest legal block dividing 128 is 32.
// V48: delta.launch @deltajit_kernels::@dj_delta_rule_decode_bf16_d128x128_l2_v32(
// V48-SAME: block = [128, 1, 1]
// V48-SAME: grid = ["4", "N * HV", "1"]
// V48-SAME: shared_bytes = 2080
// V48: sqrt.rn.f32
// V48: nvvm.shfl.sync  bfly {{.*}}, %c8_i32
// V48: nvvm.shfl.sync  bfly {{.*}}, %c16_i32
// V48-COUNT-8: llvm.inline_asm has_side_effects "st.global.cs.v4.f32

// BAD: error: 'delta.delta_rule_step' op decode-block-v must be a multiple of 16 in [16, 1024], got 24
// Capped at dv.
// V1024: delta.launch @deltajit_kernels::@dj_delta_rule_decode_bf16_d128x128_l2_v128(
// V1024-SAME: grid = ["1", "N * HV", "1"]

// dk 144, dv 48: blocks of 16 columns (32 does not divide 48; 12 groups of
// 4 are no power of two), the default for this dv (no suffix); 32 splits of
// 5 rows: the last row (128 + split) exists for splits < 16 only; its load
// and store are guarded.
// ODD: delta.launch @deltajit_kernels::@dj_delta_rule_decode_bf16_d144x48_l2(
// ODD-SAME: block = [128, 1, 1]
// ODD-SAME: grid = ["3", "N * HV", "1"]
// ODD: gpu.func @dj_delta_rule_decode_bf16_d144x48_l2(
// ODD-COUNT-4: llvm.inline_asm "ld.global.cs.v4.f32
// ODD: arith.cmpi slt, {{.*}}, %c144_i32
// ODD-NEXT: scf.if {{.*}} -> (f32, f32, f32, f32)
// ODD: llvm.inline_asm "ld.global.cs.v4.f32 {$0, $1, $2, $3}, [$4+24576];"
// ODD: scf.yield
// ODD: else
// Missing rows read as 0 and so do their k and q.
// ODD: arith.select
// ODD: llvm.intr.fma
// ODD: scf.if
// ODD: llvm.inline_asm has_side_effects "st.global.cs.v4.f32 [$0+24576]

// BADDV: error: 'delta.delta_rule_step' op the NVIDIA decode kernel needs dv (6) to be a multiple of 4
func.func @decode(%q: tensor<2x4x128xbf16>, %v: tensor<2x4x128xbf16>, %b: tensor<2x4xbf16>,
    %s: tensor<2x4x128x128xf32>) -> (tensor<2x4x128xbf16>, tensor<2x4x128x128xf32>) {
  %o, %f = delta.delta_rule_step %q, %q, %v, %b, %s {use_qk_l2norm}
      : tensor<2x4x128xbf16>, tensor<2x4x128xbf16>, tensor<2x4x128xbf16>, tensor<2x4xbf16>, tensor<2x4x128x128xf32>
      -> tensor<2x4x128xbf16>, tensor<2x4x128x128xf32>
  return %o, %f : tensor<2x4x128xbf16>, tensor<2x4x128x128xf32>
}
