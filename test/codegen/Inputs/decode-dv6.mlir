// A decode step with dv 6 for decode-kernel.mlir: no 16-byte column group
// fits.
func.func @decode6(%q: tensor<?x?x16xbf16>, %v: tensor<?x?x6xbf16>, %b: tensor<?x?xbf16>,
    %s: tensor<?x?x16x6xf32>) -> (tensor<?x?x6xbf16>, tensor<?x?x16x6xf32>) {
  %o, %f = delta.delta_rule_step %q, %q, %v, %b, %s
      : tensor<?x?x16xbf16>, tensor<?x?x16xbf16>, tensor<?x?x6xbf16>, tensor<?x?xbf16>, tensor<?x?x16x6xf32>
      -> tensor<?x?x6xbf16>, tensor<?x?x16x6xf32>
  return %o, %f : tensor<?x?x6xbf16>, tensor<?x?x16x6xf32>
}
