// A decode step of odd sizes for decode-kernel.mlir: dk 144, dv 48.
func.func @decode(%q: tensor<?x?x144xbf16>, %v: tensor<?x?x48xbf16>, %b: tensor<?x?xbf16>,
    %s: tensor<?x?x144x48xf32>) -> (tensor<?x?x48xbf16>, tensor<?x?x144x48xf32>) {
  %o, %f = delta.delta_rule_step %q, %q, %v, %b, %s {use_qk_l2norm}
      : tensor<?x?x144xbf16>, tensor<?x?x144xbf16>, tensor<?x?x48xbf16>, tensor<?x?xbf16>, tensor<?x?x144x48xf32>
      -> tensor<?x?x48xbf16>, tensor<?x?x144x48xf32>
  return %o, %f : tensor<?x?x48xbf16>, tensor<?x?x144x48xf32>
}
