// The kernels delta-bench times (BENCHMARKS.md shapes): bf16 forward with
// in-kernel q/k L2 norm at d = 64, 128, 256, and the d = 128 decode step.
// Compile: deltac bench_kernels.mlir --emit=package -o DIR [--block-v=N --warps=N]
module {
  func.func @fwd_64(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x64x64xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x64x64xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>
    return %o, %f : tensor<?x?x?x64xbf16>, tensor<?x?x64x64xf32>
  }
  func.func @fwd_128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x128x128xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x128x128xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>
    return %o, %f : tensor<?x?x?x128xbf16>, tensor<?x?x128x128xf32>
  }
  func.func @fwd_256(%q: tensor<?x?x?x256xbf16>, %k: tensor<?x?x?x256xbf16>, %v: tensor<?x?x?x256xbf16>, %b: tensor<?x?x?xbf16>, %s: tensor<?x?x256x256xf32>, %cu: tensor<?xi64>) -> (tensor<?x?x?x256xbf16>, tensor<?x?x256x256xf32>) {
    %o, %f = delta.delta_rule %q, %k, %v, %b initial_state(%s : tensor<?x?x256x256xf32>) cu_seqlens(%cu : tensor<?xi64>) {use_qk_l2norm} : tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?xbf16> -> tensor<?x?x?x256xbf16>, tensor<?x?x256x256xf32>
    return %o, %f : tensor<?x?x?x256xbf16>, tensor<?x?x256x256xf32>
  }
  func.func @decode_128(%q: tensor<?x?x128xbf16>, %k: tensor<?x?x128xbf16>, %v: tensor<?x?x128xbf16>, %b: tensor<?x?xbf16>, %s: tensor<?x?x128x128xf32>) -> (tensor<?x?x128xbf16>, tensor<?x?x128x128xf32>) {
    %o, %f = delta.delta_rule_step %q, %k, %v, %b, %s {use_qk_l2norm} : tensor<?x?x128xbf16>, tensor<?x?x128xbf16>, tensor<?x?x128xbf16>, tensor<?x?xbf16>, tensor<?x?x128x128xf32> -> tensor<?x?x128xbf16>, tensor<?x?x128x128xf32>
    return %o, %f : tensor<?x?x128xbf16>, tensor<?x?x128x128xf32>
  }
}
