// Round-trip of every `delta` op: custom form, and generic form back to custom.
// RUN: delta-opt %s | delta-opt | FileCheck %s
// RUN: delta-opt %s --mlir-print-op-generic | delta-opt | FileCheck %s

// CHECK-LABEL: func.func @delta_rule_minimal
// CHECK: %{{.*}}, %{{.*}} = delta.delta_rule %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x128x4x64xbf16>, tensor<2x128x4x64xbf16>, tensor<2x128x4x32xbf16>, tensor<2x128x4xbf16> -> tensor<2x128x4x32xbf16>, tensor<2x4x64x32xf32>
func.func @delta_rule_minimal(%q: tensor<2x128x4x64xbf16>, %k: tensor<2x128x4x64xbf16>,
    %v: tensor<2x128x4x32xbf16>, %beta: tensor<2x128x4xbf16>)
    -> (tensor<2x128x4x32xbf16>, tensor<2x4x64x32xf32>) {
  %o, %s = delta.delta_rule %q, %k, %v, %beta
      : tensor<2x128x4x64xbf16>, tensor<2x128x4x64xbf16>, tensor<2x128x4x32xbf16>, tensor<2x128x4xbf16>
      -> tensor<2x128x4x32xbf16>, tensor<2x4x64x32xf32>
  return %o, %s : tensor<2x128x4x32xbf16>, tensor<2x4x64x32xf32>
}

// CHECK-LABEL: func.func @delta_rule_full
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<1x?x2x128xf16>, %[[K:[^:]+]]: tensor<1x?x2x128xf16>, %[[V:[^:]+]]: tensor<1x?x4x64xf16>, %[[B:[^:]+]]: tensor<1x?x4xf32>, %[[S:[^:]+]]: tensor<3x4x128x64xf32>, %[[CU:[^:]+]]: tensor<4xi64>)
// CHECK: delta.delta_rule %[[Q]], %[[K]], %[[V]], %[[B]] initial_state(%[[S]] : tensor<3x4x128x64xf32>) cu_seqlens(%[[CU]] : tensor<4xi64>) {chunk_size = 32 : i64, scale = 1.250000e-01 : f32, use_qk_l2norm}
// CHECK-SAME: -> tensor<1x?x4x64xf16>, tensor<3x4x128x64xf32>
func.func @delta_rule_full(%q: tensor<1x?x2x128xf16>, %k: tensor<1x?x2x128xf16>,
    %v: tensor<1x?x4x64xf16>, %beta: tensor<1x?x4xf32>, %s0: tensor<3x4x128x64xf32>,
    %cu: tensor<4xi64>) -> (tensor<1x?x4x64xf16>, tensor<3x4x128x64xf32>) {
  %o, %s = delta.delta_rule %q, %k, %v, %beta initial_state(%s0 : tensor<3x4x128x64xf32>)
      cu_seqlens(%cu : tensor<4xi64>) {scale = 0.125 : f32, use_qk_l2norm, chunk_size = 32 : i64}
      : tensor<1x?x2x128xf16>, tensor<1x?x2x128xf16>, tensor<1x?x4x64xf16>, tensor<1x?x4xf32>
      -> tensor<1x?x4x64xf16>, tensor<3x4x128x64xf32>
  return %o, %s : tensor<1x?x4x64xf16>, tensor<3x4x128x64xf32>
}

// The default chunk size (64) is not printed.
// CHECK-LABEL: func.func @delta_rule_default_chunk
// CHECK: delta.delta_rule
// CHECK-NOT: chunk_size
// CHECK: return
func.func @delta_rule_default_chunk(%q: tensor<?x?x4x64xf32>, %v: tensor<?x?x4x64xf32>,
    %beta: tensor<?x?x4xf32>) -> tensor<?x?x4x64xf32> {
  %o, %s = delta.delta_rule %q, %q, %v, %beta {chunk_size = 64 : i64}
      : tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4x64xf32>, tensor<?x?x4xf32>
      -> tensor<?x?x4x64xf32>, tensor<?x4x64x64xf32>
  return %o : tensor<?x?x4x64xf32>
}

// CHECK-LABEL: func.func @gated_delta_rule
// CHECK: delta.gated_delta_rule %{{.*}}, %{{.*}}, %{{.*}}, %[[G:.+]], %{{.*}} initial_state(%{{.*}} : tensor<2x4x128x128xf32>) {use_qk_l2norm} : tensor<2x?x4x128xbf16>, tensor<2x?x4x128xbf16>, tensor<2x?x4x128xbf16>, tensor<2x?x4xf32>, tensor<2x?x4xbf16> -> tensor<2x?x4x128xbf16>, tensor<2x4x128x128xf32>
func.func @gated_delta_rule(%q: tensor<2x?x4x128xbf16>, %v: tensor<2x?x4x128xbf16>,
    %g: tensor<2x?x4xf32>, %beta: tensor<2x?x4xbf16>, %s0: tensor<2x4x128x128xf32>)
    -> tensor<2x4x128x128xf32> {
  %o, %s = delta.gated_delta_rule %q, %q, %v, %g, %beta
      initial_state(%s0 : tensor<2x4x128x128xf32>) {use_qk_l2norm}
      : tensor<2x?x4x128xbf16>, tensor<2x?x4x128xbf16>, tensor<2x?x4x128xbf16>,
        tensor<2x?x4xf32>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x128xbf16>, tensor<2x4x128x128xf32>
  return %s : tensor<2x4x128x128xf32>
}

// CHECK-LABEL: func.func @short_conv
// CHECK: delta.short_conv %{{.*}}, %{{.*}} {activation = #delta<activation silu>} : tensor<2x?x256xbf16>, tensor<256x4xbf16> -> tensor<2x?x256xbf16>, tensor<2x256x3xf32>
// CHECK: delta.short_conv %{{.*}}, %{{.*}} initial_state(%{{.*}} : tensor<3x256x3xf32>) cu_seqlens(%{{.*}} : tensor<4xi32>) : tensor<1x?x256xbf16>, tensor<256x4xbf16> -> tensor<1x?x256xbf16>, tensor<3x256x3xf32>
func.func @short_conv(%x: tensor<2x?x256xbf16>, %w: tensor<256x4xbf16>,
    %xv: tensor<1x?x256xbf16>, %s0: tensor<3x256x3xf32>, %cu: tensor<4xi32>)
    -> (tensor<2x?x256xbf16>, tensor<1x?x256xbf16>) {
  %y, %s = delta.short_conv %x, %w {activation = #delta<activation silu>}
      : tensor<2x?x256xbf16>, tensor<256x4xbf16> -> tensor<2x?x256xbf16>, tensor<2x256x3xf32>
  %y2, %s2 = delta.short_conv %xv, %w initial_state(%s0 : tensor<3x256x3xf32>)
      cu_seqlens(%cu : tensor<4xi32>)
      : tensor<1x?x256xbf16>, tensor<256x4xbf16> -> tensor<1x?x256xbf16>, tensor<3x256x3xf32>
  return %y, %y2 : tensor<2x?x256xbf16>, tensor<1x?x256xbf16>
}

// CHECK-LABEL: func.func @norms_and_activations
// CHECK: delta.rms_norm %{{.*}}, %{{.*}} : tensor<2x?x256xbf16>, tensor<256xbf16> -> tensor<2x?x256xbf16>
// CHECK: delta.rms_norm %{{.*}}, %{{.*}} gate(%{{.*}} : tensor<2x?x4x64xbf16>) {eps = 9.99999974E-6 : f32} : tensor<2x?x4x64xbf16>, tensor<64xf32> -> tensor<2x?x4x64xbf16>
// CHECK: delta.l2_norm %{{.*}} : tensor<2x?x4x64xbf16>
// CHECK: delta.activation sigmoid %{{.*}} : tensor<2x?x4xbf16>
// CHECK: delta.activation silu %{{.*}} : tensor<2x?x256xbf16>
func.func @norms_and_activations(%x: tensor<2x?x256xbf16>, %w: tensor<256xbf16>,
    %o: tensor<2x?x4x64xbf16>, %ow: tensor<64xf32>, %b: tensor<2x?x4xbf16>) {
  %0 = delta.rms_norm %x, %w : tensor<2x?x256xbf16>, tensor<256xbf16> -> tensor<2x?x256xbf16>
  %1 = delta.rms_norm %o, %ow gate(%o : tensor<2x?x4x64xbf16>) {eps = 1.0e-5 : f32}
      : tensor<2x?x4x64xbf16>, tensor<64xf32> -> tensor<2x?x4x64xbf16>
  %2 = delta.l2_norm %o : tensor<2x?x4x64xbf16>
  %3 = delta.activation sigmoid %b : tensor<2x?x4xbf16>
  %4 = delta.activation silu %x : tensor<2x?x256xbf16>
  return
}

// CHECK-LABEL: func.func @attention
// CHECK: delta.attention %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x?x8x64xbf16>, tensor<2x?x2x64xbf16>, tensor<2x?x2x64xbf16> -> tensor<2x?x8x64xbf16>
// CHECK: delta.attention %{{.*}}, %{{.*}}, %{{.*}} cu_seqlens(%{{.*}} : tensor<3xi64>) {rope_theta = 1.000000e+04 : f32, scale = 1.250000e-01 : f32, window_size = 2048 : i64} : tensor<1x?x8x64xbf16>, tensor<1x?x8x64xbf16>, tensor<1x?x8x128xbf16> -> tensor<1x?x8x128xbf16>
func.func @attention(%q: tensor<2x?x8x64xbf16>, %k: tensor<2x?x2x64xbf16>,
    %v: tensor<2x?x2x64xbf16>, %q1: tensor<1x?x8x64xbf16>, %v1: tensor<1x?x8x128xbf16>,
    %cu: tensor<3xi64>) {
  %0 = delta.attention %q, %k, %v
      : tensor<2x?x8x64xbf16>, tensor<2x?x2x64xbf16>, tensor<2x?x2x64xbf16> -> tensor<2x?x8x64xbf16>
  %1 = delta.attention %q1, %q1, %v1 cu_seqlens(%cu : tensor<3xi64>)
      {window_size = 2048 : i64, rope_theta = 10000.0 : f32, scale = 0.125 : f32}
      : tensor<1x?x8x64xbf16>, tensor<1x?x8x64xbf16>, tensor<1x?x8x128xbf16> -> tensor<1x?x8x128xbf16>
  return
}

// CHECK-LABEL: func.func @projections
// CHECK: delta.linear %{{.*}}, %{{.*}} : tensor<2x?x1024xbf16>, tensor<512x1024xbf16> -> tensor<2x?x512xbf16>
// CHECK: delta.linear %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<512xbf16>) : tensor<2x?x1024xbf16>, tensor<512x1024xbf16> -> tensor<2x?x512xbf16>
// CHECK: delta.swiglu %{{.*}}, %{{.*}} : tensor<2x?x512xbf16>
// CHECK: delta.embedding %{{.*}}, %{{.*}} : tensor<2x?xi64>, tensor<32000x1024xbf16> -> tensor<2x?x1024xbf16>
func.func @projections(%x: tensor<2x?x1024xbf16>, %w: tensor<512x1024xbf16>,
    %bias: tensor<512xbf16>, %ids: tensor<2x?xi64>, %table: tensor<32000x1024xbf16>) {
  %0 = delta.linear %x, %w : tensor<2x?x1024xbf16>, tensor<512x1024xbf16> -> tensor<2x?x512xbf16>
  %1 = delta.linear %x, %w bias(%bias : tensor<512xbf16>)
      : tensor<2x?x1024xbf16>, tensor<512x1024xbf16> -> tensor<2x?x512xbf16>
  %2 = delta.swiglu %0, %1 : tensor<2x?x512xbf16>
  %3 = delta.embedding %ids, %table : tensor<2x?xi64>, tensor<32000x1024xbf16> -> tensor<2x?x1024xbf16>
  return
}

// CHECK-LABEL: func.func @decode_step
// CHECK: delta.delta_rule_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.250000e-01 : f32, use_qk_l2norm} : tensor<?x4x64xbf16>, tensor<?x4x64xbf16>, tensor<?x8x32xbf16>, tensor<?x8xbf16>, tensor<?x8x64x32xf32> -> tensor<?x8x32xbf16>, tensor<?x8x64x32xf32>
func.func @decode_step(%q: tensor<?x4x64xbf16>, %v: tensor<?x8x32xbf16>, %b: tensor<?x8xbf16>,
    %s: tensor<?x8x64x32xf32>) -> tensor<?x8x64x32xf32> {
  %o, %s1 = delta.delta_rule_step %q, %q, %v, %b, %s {use_qk_l2norm, scale = 0.125 : f32}
      : tensor<?x4x64xbf16>, tensor<?x4x64xbf16>, tensor<?x8x32xbf16>, tensor<?x8xbf16>, tensor<?x8x64x32xf32>
      -> tensor<?x8x32xbf16>, tensor<?x8x64x32xf32>
  return %s1 : tensor<?x8x64x32xf32>
}

// CHECK-LABEL: func.func @chunk_loop
// CHECK: delta.chunk_loop %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} scale(%{{.*}}) {tile = #delta.tile<chunk = 16, block_v = 16, warps = 2, stages = 1>}
// CHECK: ^bb0(%{{.*}}: tensor<16x32xf16>, %{{.*}}: tensor<16x32xf16>, %{{.*}}: tensor<16x16xf16>, %{{.*}}: tensor<16xf32>, %{{.*}}: tensor<32x16xf32>, %{{.*}}: f32):
// CHECK: delta.tile_matmul %{{.*}}, %{{.*}} {transpose_b} : tensor<16x32xf16>, tensor<16x32xf16> -> tensor<16x16xf32>
// CHECK: delta.tile_row_scale
// CHECK: delta.tile_mask strict_lower
// CHECK: delta.tile_ut_transform %{{.*}}, %{{.*}} {block = 8 : i64} : tensor<16x16xf32>, tensor<16xf32> -> tensor<16x16xf16>
// CHECK: delta.tile_convert %{{.*}} : tensor<32x16xf32> -> tensor<32x16xf16>
// CHECK: delta.tile_matmul %{{.*}}, %{{.*}} acc(%{{.*}} : tensor<16x16xf32>) alpha(%{{.*}}) {negate}
// CHECK: delta.tile_matmul %{{.*}}, %{{.*}} {split_f32} : tensor<16x16xf16>, tensor<16x16xf32> -> tensor<16x16xf16>
// CHECK: delta.chunk_yield
func.func @chunk_loop(%q: tensor<1x?x2x32xf16>, %v: tensor<1x?x2x32xf16>, %b: tensor<1x?x2xf16>,
    %scale: f32) -> tensor<1x?x2x32xf16> {
  %o, %s = delta.chunk_loop %q, %q, %v, %b scale(%scale)
      {tile = #delta.tile<chunk = 16, block_v = 16, warps = 2, stages = 1>}
      : tensor<1x?x2x32xf16>, tensor<1x?x2x32xf16>, tensor<1x?x2x32xf16>, tensor<1x?x2xf16>
      -> tensor<1x?x2x32xf16>, tensor<1x2x32x32xf32> {
  ^bb0(%qc: tensor<16x32xf16>, %kc: tensor<16x32xf16>, %vc: tensor<16x16xf16>,
       %bc: tensor<16xf32>, %st: tensor<32x16xf32>, %sc: f32):
    %kk = delta.tile_matmul %kc, %kc {transpose_b} : tensor<16x32xf16>, tensor<16x32xf16> -> tensor<16x16xf32>
    %a0 = delta.tile_row_scale %kk, %bc : tensor<16x16xf32>, tensor<16xf32>
    %a = delta.tile_mask strict_lower %a0 : tensor<16x16xf32>
    %t = delta.tile_ut_transform %a, %bc {block = 8 : i64} : tensor<16x16xf32>, tensor<16xf32> -> tensor<16x16xf16>
    %sb = delta.tile_convert %st : tensor<32x16xf32> -> tensor<32x16xf16>
    %u = delta.tile_matmul %t, %vc : tensor<16x16xf16>, tensor<16x16xf16> -> tensor<16x16xf32>
    %o1 = delta.tile_matmul %a, %u acc(%u : tensor<16x16xf32>) alpha(%sc) {negate} : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
    %n = delta.tile_matmul %kc, %u acc(%st : tensor<32x16xf32>) {transpose_a} : tensor<16x32xf16>, tensor<16x16xf32> -> tensor<32x16xf32>
    %vs = delta.tile_matmul %t, %o1 {split_f32} : tensor<16x16xf16>, tensor<16x16xf32> -> tensor<16x16xf16>
    delta.chunk_yield %o1, %n : tensor<16x16xf32>, tensor<32x16xf32>
  }
  return %o : tensor<1x?x2x32xf16>
}
