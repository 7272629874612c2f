// Two delta-rule layers (dk = dv = 64 without in-kernel norm, dk = dv = 256
// with it): the tuning space of deltac-tune-space.test.
module {
  func.func @small(%q: tensor<?x?x4x64xbf16>, %k: tensor<?x?x4x64xbf16>, %v: tensor<?x?x4x64xbf16>, %b: tensor<?x?x4xbf16>) -> (tensor<?x?x4x64xbf16>, tensor<?x4x64x64xf32>) {
    %o, %s = delta.delta_rule %q, %k, %v, %b : tensor<?x?x4x64xbf16>, tensor<?x?x4x64xbf16>, tensor<?x?x4x64xbf16>, tensor<?x?x4xbf16> -> tensor<?x?x4x64xbf16>, tensor<?x4x64x64xf32>
    return %o, %s : tensor<?x?x4x64xbf16>, tensor<?x4x64x64xf32>
  }
  func.func @wide(%q: tensor<?x?x2x256xbf16>, %k: tensor<?x?x2x256xbf16>, %v: tensor<?x?x2x256xbf16>, %b: tensor<?x?x2xbf16>) -> (tensor<?x?x2x256xbf16>, tensor<?x2x256x256xf32>) {
    %o, %s = delta.delta_rule %q, %k, %v, %b {use_qk_l2norm} : tensor<?x?x2x256xbf16>, tensor<?x?x2x256xbf16>, tensor<?x?x2x256xbf16>, tensor<?x?x2xbf16> -> tensor<?x?x2x256xbf16>, tensor<?x2x256x256xf32>
    return %o, %s : tensor<?x?x2x256xbf16>, tensor<?x2x256x256xf32>
  }
}
