//===- Passes.td - deltajit's target-independent passes ----*- tablegen -*-===//
//
// Declarations of the graph-level and tiling passes over the `delta` dialect.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_PASSES_PASSES_TD
#define DELTAJIT_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def DeltaFuseQKL2Norm : Pass<"delta-fuse-qk-l2norm"> {
  let summary = "Fold q/k L2 normalisation into delta-rule ops";
  let description = [{
    When both `q` and `k` of a `delta.delta_rule` or `delta.gated_delta_rule`
    are produced by `delta.l2_norm` with `eps = 1e-6` (the epsilon of the
    in-kernel normalisation), the op reads the un-normalised tensors and gets
    the `use_qk_l2norm` attribute instead, so the kernels normalise on the
    fly and the normalised tensors are never written to memory. Ops whose q
    and k are not both normalised that way, or that already carry the
    attribute, are left alone. `delta.l2_norm` ops left without users are
    erased.

    Example:

    ```mlir
    %qn = delta.l2_norm %q : tensor<1x?x4x64xbf16>
    %kn = delta.l2_norm %k : tensor<1x?x4x64xbf16>
    %o, %s = delta.delta_rule %qn, %kn, %v, %beta : ...
    // becomes
    %o, %s = delta.delta_rule %q, %k, %v, %beta {use_qk_l2norm} : ...
    ```
  }];
  let dependentDialects = ["::deltajit::delta::DeltaDialect"];
}

#endif // DELTAJIT_PASSES_PASSES_TD
