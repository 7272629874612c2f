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

def DeltaChunkTile : Pass<"delta-chunk-tile"> {
  let summary = "Tile delta-rule layers into the chunkwise WY form";
  let description = [{
    Rewrites every `delta.delta_rule` into a `delta.chunk_loop` whose body
    computes one chunk with tile ops (ALGORITHM.md section 3):

        A  = strict_lower(diag(beta) K K^T)        tile_matmul, tile_row_scale, tile_mask
        T  = (I + A)^-1 diag(beta)                  tile_ut_transform (blocked, 16)
        Sb = S rounded to the input type            tile_convert
        X  = V - K Sb                               tile_matmul {negate}, acc V
        Vn = T X   (= U - W Sb, U = T V, W = T K)   tile_matmul
        O  = scale (Q Sb + mask_incl_diag(Q K^T) Vn) tile_matmul, tile_mask
        S' = S + K^T Vn                             tile_matmul {transpose_a}

    The WY form's W and U are never formed: Vn = T (V - K S) is the same
    value ((I + A) Vn = diag(beta) (V - K S)) with the difference rounded
    after it cancels instead of W before, and it leaves the chunk-parallel
    part (A, T, mask(Q K^T)) independent of v.
    The tiles that only feed tensor-core products (T, X, Vn, Q K^T and the
    copy Sb of the state) are rounded to the input element type, as the
    reference library does (the products round their operands anyway); A,
    O and the state itself stay f32.
    The chunk size comes from the op's `chunk_size`; the other tile
    parameters from the options (`block-v` is capped at dv). Ops with dynamic
    head dimensions, or whose dv is not a multiple of `block-v`, are left
    alone with a remark.
  }];
  let options = [
    Option<"blockV", "block-v", "int64_t", /*default=*/"64",
           "Value/state columns per program (dv is split into such tiles)">,
    Option<"warps", "warps", "int64_t", /*default=*/"8",
           "Warps per program (8 measured faster than 4 on the H200 for "
           "every forward shape of BENCHMARKS.md)">,
    Option<"stages", "stages", "int64_t", /*default=*/"1",
           "Stages of the load pipeline">,
  ];
  let dependentDialects = ["::deltajit::delta::DeltaDialect",
                           "::mlir::arith::ArithDialect"];
}

def DeltaAddDecodeSteps : Pass<"delta-add-decode-steps", "::mlir::ModuleOp"> {
  let summary = "Add a decode-step function for every delta-rule layer";
  let description = [{
    A model's prefill graph (`@forward`) holds `delta.delta_rule` ops only;
    decoding one token per sequence needs the matching
    `delta.delta_rule_step` kernels too. For every distinct delta-rule
    signature (element type, H, HV, dk, dv, scale, in-kernel q/k L2 norm)
    this pass adds a private function `@decode_step_<i>` computing one step
    for a dynamic batch, so the package carries a decode kernel for each
    layer kind. The `@forward` graph is left unchanged. Gated delta rules are
    skipped (no decode lowering yet).

    Example: for `delta.delta_rule ... : tensor<?x?x4x64xbf16>, ...` it adds

    ```mlir
    func.func private @decode_step_0(%q: tensor<?x4x64xbf16>, ...,
        %s: tensor<?x4x64x64xf32>) -> (tensor<?x4x64xbf16>, tensor<?x4x64x64xf32>) {
      %o, %s1 = delta.delta_rule_step %q, %k, %v, %beta, %s {scale = ...}
          : ... 
      return %o, %s1 : ...
    }
    ```
  }];
  let dependentDialects = ["::deltajit::delta::DeltaDialect",
                           "::mlir::func::FuncDialect"];
}

#endif // DELTAJIT_PASSES_PASSES_TD
