// The delta-fuse-qk-l2norm pass.
// RUN: delta-opt %s -delta-fuse-qk-l2norm -split-input-file | FileCheck %s

// Both q and k normalised with the kernel's epsilon: folded.
// CHECK-LABEL: func.func @fuse
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<2x?x4x64xbf16>, %[[K:[^:]+]]: tensor<2x?x4x64xbf16>
// CHECK-NOT: delta.l2_norm
// CHECK: delta.delta_rule %[[Q]], %[[K]], %{{.*}}, %{{.*}} {use_qk_l2norm}
func.func @fuse(%q: tensor<2x?x4x64xbf16>, %k: tensor<2x?x4x64xbf16>,
    %v: tensor<2x?x4x64xbf16>, %b: tensor<2x?x4xbf16>) -> tensor<2x?x4x64xbf16> {
  %qn = delta.l2_norm %q : tensor<2x?x4x64xbf16>
  %kn = delta.l2_norm %k : tensor<2x?x4x64xbf16>
  %o, %s = delta.delta_rule %qn, %kn, %v, %b
      : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
      -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x?x4x64xbf16>
}

// -----

// The gated rule too.
// CHECK-LABEL: func.func @fuse_gated
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<1x?x2x128xbf16>, %[[K:[^:]+]]: tensor<1x?x2x128xbf16>
// CHECK: delta.gated_delta_rule %[[Q]], %[[K]], {{.*}} {use_qk_l2norm}
func.func @fuse_gated(%q: tensor<1x?x2x128xbf16>, %k: tensor<1x?x2x128xbf16>,
    %v: tensor<1x?x2x128xbf16>, %g: tensor<1x?x2xf32>, %b: tensor<1x?x2xbf16>)
    -> tensor<1x2x128x128xf32> {
  %qn = delta.l2_norm %q : tensor<1x?x2x128xbf16>
  %kn = delta.l2_norm %k : tensor<1x?x2x128xbf16>
  %o, %s = delta.gated_delta_rule %qn, %kn, %v, %g, %b
      : tensor<1x?x2x128xbf16>, tensor<1x?x2x128xbf16>, tensor<1x?x2x128xbf16>, tensor<1x?x2xf32>, tensor<1x?x2xbf16>
      -> tensor<1x?x2x128xbf16>, tensor<1x2x128x128xf32>
  return %s : tensor<1x2x128x128xf32>
}

// -----

// Only q normalised: the attribute would normalise k too, so nothing changes.
// CHECK-LABEL: func.func @only_q
// CHECK: %[[QN:.+]] = delta.l2_norm
// CHECK: delta.delta_rule %[[QN]],
// CHECK-NOT: use_qk_l2norm
func.func @only_q(%q: tensor<2x8x4x64xbf16>, %k: tensor<2x8x4x64xbf16>,
    %v: tensor<2x8x4x64xbf16>, %b: tensor<2x8x4xbf16>) -> tensor<2x8x4x64xbf16> {
  %qn = delta.l2_norm %q : tensor<2x8x4x64xbf16>
  %o, %s = delta.delta_rule %qn, %k, %v, %b
      : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4xbf16>
      -> tensor<2x8x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x8x4x64xbf16>
}

// -----

// A different epsilon is not what the kernels compute: left alone.
// CHECK-LABEL: func.func @other_eps
// CHECK: delta.l2_norm %{{.*}} {eps = 9.99999974E-6 : f32}
// CHECK: delta.delta_rule
// CHECK-NOT: use_qk_l2norm
func.func @other_eps(%q: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x64xbf16>,
    %b: tensor<2x8x4xbf16>) -> tensor<2x8x4x64xbf16> {
  %qn = delta.l2_norm %q {eps = 1.0e-5 : f32} : tensor<2x8x4x64xbf16>
  %o, %s = delta.delta_rule %qn, %qn, %v, %b
      : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4xbf16>
      -> tensor<2x8x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o : tensor<2x8x4x64xbf16>
}

// -----

// A normalised tensor with another user stays for that user.
// CHECK-LABEL: func.func @shared_norm
// CHECK: %[[QN:.+]] = delta.l2_norm
// CHECK: delta.delta_rule {{.*}} {use_qk_l2norm}
// CHECK: return %{{.*}}, %[[QN]]
func.func @shared_norm(%q: tensor<2x8x4x64xbf16>, %v: tensor<2x8x4x64xbf16>,
    %b: tensor<2x8x4xbf16>) -> (tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>) {
  %qn = delta.l2_norm %q : tensor<2x8x4x64xbf16>
  %o, %s = delta.delta_rule %qn, %qn, %v, %b
      : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>, tensor<2x8x4xbf16>
      -> tensor<2x8x4x64xbf16>, tensor<2x4x64x64xf32>
  return %o, %qn : tensor<2x8x4x64xbf16>, tensor<2x8x4x64xbf16>
}
