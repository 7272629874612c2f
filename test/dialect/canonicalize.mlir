// Canonicalization patterns of the `delta` ops.
// RUN: delta-opt %s -canonicalize -split-input-file | FileCheck %s

// A zero initial state is the default: the operand is dropped.
// CHECK-LABEL: func.func @drop_zero_state
// CHECK-NOT: arith.constant
// CHECK: delta.delta_rule %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {use_qk_l2norm} :
func.func @drop_zero_state(%q: tensor<2x?x4x64xbf16>, %v: tensor<2x?x4x64xbf16>,
    %b: tensor<2x?x4xbf16>) -> (tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>) {
  %z = arith.constant dense<0.0> : tensor<2x4x64x64xf32>
  %o, %s = delta.delta_rule %q, %q, %v, %b initial_state(%z : tensor<2x4x64x64xf32>) {use_qk_l2norm}
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o, %s : tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
}

// -----

// A non-zero constant state is kept.
// CHECK-LABEL: func.func @keep_nonzero_state
// CHECK: %[[C:.+]] = arith.constant dense<1.000000e+00>
// CHECK: delta.delta_rule {{.*}} initial_state(%[[C]] :
func.func @keep_nonzero_state(%q: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x64xbf16>,
    %b: tensor<2x8x4xbf16>) -> tensor<2x4x64x64xf32> {
  %c = arith.constant dense<1.0> : tensor<2x4x64x64xf32>
  %o, %s = delta.delta_rule %q, %q, %v, %b initial_state(%c : tensor<2x4x64x64xf32>)
      : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4xbf16>
      -> tensor<2x8x4x64xbf16>, tensor<2x4x64x64xf32>
  return %s : tensor<2x4x64x64xf32>
}

// -----

// A gate of exp(0) = 1 everywhere makes the gated rule a plain delta rule;
// its zero initial state and attributes carry over.
// CHECK-LABEL: func.func @ungate_zero_gate
// CHECK-NOT: gated_delta_rule
// CHECK: delta.delta_rule %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {chunk_size = 32 : i64, scale = 5.000000e-01 : f32} : tensor<1x8x2x32xf16>, tensor<1x8x2x32xf16>, tensor<1x8x2x32xf16>, tensor<1x8x2xf16> -> tensor<1x8x2x32xf16>, tensor<1x2x32x32xf32>
func.func @ungate_zero_gate(%q: tensor<1x8x2x32xf16>, %v: tensor<1x8x2x32xf16>,
    %b: tensor<1x8x2xf16>, %g: tensor<1x8x2xf32>) -> tensor<1x8x2x32xf16> {
  %zg = arith.constant dense<0.0> : tensor<1x8x2xf32>
  %o, %s = delta.gated_delta_rule %q, %q, %v, %zg, %b {chunk_size = 32 : i64, scale = 0.5 : f32}
      : tensor<1x8x2x32xf16>, tensor<1x8x2x32xf16>, tensor<1x8x2x32xf16>, tensor<1x8x2xf32>, tensor<1x8x2xf16>
      -> tensor<1x8x2x32xf16>, tensor<1x2x32x32xf32>
  return %o : tensor<1x8x2x32xf16>
}

// -----

// A gate that is not constant zero stays gated.
// CHECK-LABEL: func.func @keep_gate
// CHECK: delta.gated_delta_rule
func.func @keep_gate(%q: tensor<1x8x2x32xf16>, %v: tensor<1x8x2x32xf16>,
    %b: tensor<1x8x2xf16>, %g: tensor<1x8x2xf32>) -> tensor<1x8x2x32xf16> {
  %o, %s = delta.gated_delta_rule %q, %q, %v, %g, %b
      : tensor<1x8x2x32xf16>, tensor<1x8x2x32xf16>, tensor<1x8x2x32xf16>, tensor<1x8x2xf32>, tensor<1x8x2xf16>
      -> tensor<1x8x2x32xf16>, tensor<1x2x32x32xf32>
  return %o : tensor<1x8x2x32xf16>
}

// -----

// Short convolutions drop a zero carried state too.
// CHECK-LABEL: func.func @short_conv_zero_state
// CHECK: delta.short_conv %{{.*}}, %{{.*}} : tensor<2x?x64xbf16>
func.func @short_conv_zero_state(%x: tensor<2x?x64xbf16>, %w: tensor<64x4xbf16>)
    -> (tensor<2x?x64xbf16>, tensor<2x64x3xf32>) {
  %z = arith.constant dense<0.0> : tensor<2x64x3xf32>
  %y, %s = delta.short_conv %x, %w initial_state(%z : tensor<2x64x3xf32>)
      : tensor<2x?x64xbf16>, tensor<64x4xbf16> -> tensor<2x?x64xbf16>, tensor<2x64x3xf32>
  return %y, %s : tensor<2x?x64xbf16>, tensor<2x64x3xf32>
}

// -----

// Unused layer ops are pure and disappear.
// CHECK-LABEL: func.func @dead_layer
// CHECK-NEXT: return
func.func @dead_layer(%q: tensor<1x8x2x32xf16>, %v: tensor<1x8x2x32xf16>, %b: tensor<1x8x2xf16>) {
  %o, %s = delta.delta_rule %q, %q, %v, %b
      : tensor<1x8x2x32xf16>, tensor<1x8x2x32xf16>, tensor<1x8x2x32xf16>, tensor<1x8x2xf16>
      -> tensor<1x8x2x32xf16>, tensor<1x2x32x32xf32>
  return
}
