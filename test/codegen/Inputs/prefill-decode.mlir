// A DeltaNet prefill (two layers) and a decode step at dk = dv = 64 (bf16).
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
