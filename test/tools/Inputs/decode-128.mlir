// One bf16 decode step, dk = dv = 128 with q/k L2 norm: the decode entry
// delta-bench times (as in tools/delta-bench/Inputs/bench_kernels.mlir).
module {
  func.func @decode_128(%q: tensor<?x?x128xbf16>, %k: tensor<?x?x128xbf16>, %v: tensor<?x?x128xbf16>, %b: tensor<?x?xbf16>, %s: tensor<?x?x128x128xf32>) -> (tensor<?x?x128xbf16>, tensor<?x?x128x128xf32>) {
    %o, %f = delta.delta_rule_step %q, %k, %v, %b, %s {use_qk_l2norm} : tensor<?x?x128xbf16>, tensor<?x?x128xbf16>, tensor<?x?x128xbf16>, tensor<?x?xbf16>, tensor<?x?x128x128xf32> -> tensor<?x?x128xbf16>, tensor<?x?x128x128xf32>
    return %o, %f : tensor<?x?x128xbf16>, tensor<?x?x128x128xf32>
  }
}
