// RUN: delta-opt %s --delta-add-decode-steps -split-input-file | FileCheck %s

// One decode-step function per distinct delta-rule signature; the prefill
// ops stay. Two layers of one kind share a function.
// CHECK-LABEL: func.func @forward
// CHECK-COUNT-3: delta.delta_rule %
// CHECK: func.func private @decode_step_0(%[[Q:.+]]: tensor<?x4x64xbf16>, %[[K:.+]]: tensor<?x4x64xbf16>, %[[V:.+]]: tensor<?x4x64xbf16>, %[[B:.+]]: tensor<?x4xbf16>, %[[S:.+]]: tensor<?x4x64x64xf32>) -> (tensor<?x4x64xbf16>, tensor<?x4x64x64xf32>)
// CHECK: delta.delta_rule_step %[[Q]], %[[K]], %[[V]], %[[B]], %[[S]] {use_qk_l2norm}
// CHECK: func.func private @decode_step_1(%{{.+}}: tensor<?x2x128xbf16>, %{{.+}}: tensor<?x2x128xbf16>, %{{.+}}: tensor<?x4x64xbf16>, %{{.+}}: tensor<?x4xbf16>, %{{.+}}: tensor<?x4x128x64xf32>)
// CHECK: delta.delta_rule_step {{.*}} {scale = 5.000000e-01 : f32}
// CHECK-NOT: decode_step_2
func.func @forward(%q: tensor<1x?x4x64xbf16>, %v: tensor<1x?x4x64xbf16>, %b: tensor<1x?x4xbf16>,
                   %q2: tensor<1x?x2x128xbf16>) -> (tensor<1x?x4x64xbf16>, tensor<1x?x4x64xbf16>, tensor<1x?x4x64xbf16>) {
  %o0, %s0 = delta.delta_rule %q, %q, %v, %b {use_qk_l2norm} : tensor<1x?x4x64xbf16>, tensor<1x?x4x64xbf16>, tensor<1x?x4x64xbf16>, tensor<1x?x4xbf16> -> tensor<1x?x4x64xbf16>, tensor<1x4x64x64xf32>
  %o1, %s1 = delta.delta_rule %q, %q, %o0, %b {use_qk_l2norm} : tensor<1x?x4x64xbf16>, tensor<1x?x4x64xbf16>, tensor<1x?x4x64xbf16>, tensor<1x?x4xbf16> -> tensor<1x?x4x64xbf16>, tensor<1x4x64x64xf32>
  %o2, %s2 = delta.delta_rule %q2, %q2, %v, %b {scale = 0.5 : f32} : tensor<1x?x2x128xbf16>, tensor<1x?x2x128xbf16>, tensor<1x?x4x64xbf16>, tensor<1x?x4xbf16> -> tensor<1x?x4x64xbf16>, tensor<1x4x128x64xf32>
  return %o0, %o1, %o2 : tensor<1x?x4x64xbf16>, tensor<1x?x4x64xbf16>, tensor<1x?x4x64xbf16>
}

// -----

// A name already taken is skipped.
// CHECK-LABEL: func.func private @decode_step_0()
// CHECK: func.func private @decode_step_1(
func.func private @decode_step_0() {
  return
}
func.func @f(%q: tensor<2x?x1x16xf16>, %b: tensor<2x?x1xf16>) -> tensor<2x?x1x16xf16> {
  %o, %s = delta.delta_rule %q, %q, %q, %b : tensor<2x?x1x16xf16>, tensor<2x?x1x16xf16>, tensor<2x?x1x16xf16>, tensor<2x?x1xf16> -> tensor<2x?x1x16xf16>, tensor<2x1x16x16xf32>
  return %o : tensor<2x?x1x16xf16>
}
