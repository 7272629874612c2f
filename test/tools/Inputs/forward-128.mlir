// One bf16 d = 128 forward layer with in-kernel q/k L2 norm, an initial state
// and cu_seqlens (delta-bench's forward and varlen rows at d = 128).
module {
  func.func @fwd_128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x128x128xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x128x128xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>
    return %o, %f : tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>
  }
}
