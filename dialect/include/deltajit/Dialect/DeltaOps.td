//===- DeltaOps.td - layer-level ops of the `delta` dialect -*- tablegen -*-===//
//
// Ops that together express a DeltaNet-family model and its hybrids
// (ALGORITHM.md sections 1, 6 and 7): the delta-rule layers, the short
// convolution, norms, softmax attention, projections, MLP glue, embedding.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_DIALECT_DELTAOPS_TD
#define DELTAJIT_DIALECT_DELTAOPS_TD

include "deltajit/Dialect/DeltaDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/IR/SymbolInterfaces.td"

//===----------------------------------------------------------------------===//
// Delta-rule layers
//===----------------------------------------------------------------------===//

def Delta_DeltaRuleOp : Delta_Op<"delta_rule", [Pure, AttrSizedOperandSegments]> {
  let summary = "delta-rule linear attention over whole sequences (prefill)";
  let description = [{
    Runs the delta rule (ALGORITHM.md section 2) over every sequence and head:

        S_t = S_{t-1} + beta_t k_t (v_t - S_{t-1}^T k_t)^T,   o_t = scale S_t^T q_t

    Operands: `q`, `k` of shape `[B, T, H, dk]`, `v` of shape
    `[B, T, HV, dv]`, `beta` of shape `[B, T, HV]` (values in (0, 1), or
    (0, 2) for negative-eigenvalue variants). `HV` must be a multiple of `H`
    (grouped value heads: value head `i` reads q/k head `i / (HV / H)`).
    `q`, `k` and `v` share one element type (bf16, f16 or f32).

    Optional `initial_state` (`[N, HV, dk, dv]`, f32; zeros when absent) and
    `cu_seqlens` (`[N + 1]` offsets, FlashAttention's convention; requires
    `B = 1`, and every sequence starts from its own state). `N` is `B`
    without `cu_seqlens`.

    Results: `o` (`[B, T, HV, dv]`, the element type of `v`) and the final
    state (`[N, HV, dk, dv]`, f32).

    Attributes: `scale` (default `dk^-1/2`), `use_qk_l2norm` (L2-normalise
    q and k inside the kernel, `x * rsqrt(sum(x^2) + 1e-6)`), `chunk_size`
    (16, 32, 64 or 128; the chunk length of the WY-form lowering).

    Example:

    ```mlir
    %o, %s = delta.delta_rule %q, %k, %v, %beta
        initial_state(%s0 : tensor<2x4x64x64xf32>) {use_qk_l2norm}
        : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>,
          tensor<2x?x4x64xbf16>, tensor<2x?x4xbf16>
        -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32>
    ```
  }];
  let arguments = (ins Delta_FloatTensor:$q, Delta_FloatTensor:$k,
                       Delta_FloatTensor:$v, Delta_FloatTensor:$beta,
                       Optional<Delta_StateTensor>:$initial_state,
                       Optional<Delta_IndexTensor>:$cu_seqlens,
                       OptionalAttr<F32Attr>:$scale,
                       UnitAttr:$use_qk_l2norm,
                       DefaultValuedAttr<I64Attr, "64">:$chunk_size);
  let results = (outs Delta_FloatTensor:$o, Delta_StateTensor:$final_state);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $beta
    (`initial_state` `(` $initial_state^ `:` type($initial_state) `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `:` type($cu_seqlens) `)`)?
    attr-dict `:` type($q) `,` type($k) `,` type($v) `,` type($beta)
    `->` type($o) `,` type($final_state)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    /// The scale applied to the output: the attribute, or dk^-1/2.
    double getEffectiveScale();
  }];
}

def Delta_GatedDeltaRuleOp
    : Delta_Op<"gated_delta_rule", [Pure, AttrSizedOperandSegments]> {
  let summary = "gated delta rule (Gated DeltaNet) over whole sequences";
  let description = [{
    The gated delta rule (ALGORITHM.md section 6):

        S_t = exp(g_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T

    with the log-gate `g` of shape `[B, T, HV]` (values <= 0). Everything
    else (operands, optional `initial_state` and `cu_seqlens`, results,
    attributes) is as for `delta.delta_rule`.

    Example:

    ```mlir
    %o, %s = delta.gated_delta_rule %q, %k, %v, %g, %beta {use_qk_l2norm}
        : tensor<1x?x4x128xbf16>, tensor<1x?x4x128xbf16>,
          tensor<1x?x4x128xbf16>, tensor<1x?x4xf32>, tensor<1x?x4xbf16>
        -> tensor<1x?x4x128xbf16>, tensor<1x4x128x128xf32>
    ```
  }];
  let arguments = (ins Delta_FloatTensor:$q, Delta_FloatTensor:$k,
                       Delta_FloatTensor:$v, Delta_FloatTensor:$g,
                       Delta_FloatTensor:$beta,
                       Optional<Delta_StateTensor>:$initial_state,
                       Optional<Delta_IndexTensor>:$cu_seqlens,
                       OptionalAttr<F32Attr>:$scale,
                       UnitAttr:$use_qk_l2norm,
                       DefaultValuedAttr<I64Attr, "64">:$chunk_size);
  let results = (outs Delta_FloatTensor:$o, Delta_StateTensor:$final_state);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $g `,` $beta
    (`initial_state` `(` $initial_state^ `:` type($initial_state) `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `:` type($cu_seqlens) `)`)?
    attr-dict `:` type($q) `,` type($k) `,` type($v) `,` type($g) `,`
    type($beta) `->` type($o) `,` type($final_state)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    /// The scale applied to the output: the attribute, or dk^-1/2.
    double getEffectiveScale();
  }];
}

def Delta_DeltaRuleStepOp : Delta_Op<"delta_rule_step", [Pure]> {
  let summary = "one decode step of the delta rule for a batch of sequences";
  let description = [{
    The recurrence of ALGORITHM.md section 2 applied once per sequence (the
    inference path of a DeltaNet layer): `q`, `k` `[N, H, dk]`, `v`
    `[N, HV, dv]`, `beta` `[N, HV]`, `state` `[N, HV, dk, dv]` (f32).
    Results: `o` `[N, HV, dv]` and the updated state. `scale` and
    `use_qk_l2norm` as for `delta.delta_rule`. (The runtime may update the
    state in place.)

    Example:

    ```mlir
    %o, %s1 = delta.delta_rule_step %q, %k, %v, %beta, %s0 {use_qk_l2norm}
        : tensor<?x16x128xbf16>, tensor<?x16x128xbf16>, tensor<?x16x128xbf16>,
          tensor<?x16xbf16>, tensor<?x16x128x128xf32>
        -> tensor<?x16x128xbf16>, tensor<?x16x128x128xf32>
    ```
  }];
  let arguments = (ins Delta_FloatTensor:$q, Delta_FloatTensor:$k,
                       Delta_FloatTensor:$v, Delta_FloatTensor:$beta,
                       Delta_StateTensor:$state,
                       OptionalAttr<F32Attr>:$scale,
                       UnitAttr:$use_qk_l2norm);
  let results = (outs Delta_FloatTensor:$o, Delta_StateTensor:$new_state);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $beta `,` $state attr-dict `:` type($q) `,` type($k)
    `,` type($v) `,` type($beta) `,` type($state) `->` type($o) `,`
    type($new_state)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The scale applied to the output: the attribute, or dk^-1/2.
    double getEffectiveScale();
  }];
}

def Delta_LaunchOp : Delta_Op<"launch", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "host-side launch of a compiled deltajit kernel on tensors";
  let description = [{
    What `convert-delta-to-nvvm` leaves in host code in place of a lowered
    layer op: a call of the kernel `kernel` (a `gpu.func` of a `gpu.module`,
    or after serialisation a `gpu.binary`) on the layer's tensors. `launch`
    carries what the runtime needs (see docs/package-format.md): the
    package `entry` (op name, dtype, head sizes, tile), the `grid` formulas,
    the `block` size, `shared_bytes` of dynamic shared memory and the
    kernel's `params` (name and type, in order).

    Example:

    ```mlir
    %o, %s = delta.launch @deltajit_kernels::@dj_delta_rule_fwd_0(%q, %k, %v, %b)
        {launch = {...}} : (...) -> (...)
    ```
  }];
  let arguments = (ins SymbolRefAttr:$kernel, Variadic<AnyType>:$args,
                       DictionaryAttr:$launch);
  let results = (outs Variadic<AnyType>:$results);
  let assemblyFormat = [{
    $kernel `(` $args `)` attr-dict `:` functional-type($args, $results)
  }];
}

//===----------------------------------------------------------------------===//
// Short convolution, norms, activations
//===----------------------------------------------------------------------===//

def Delta_ShortConvOp
    : Delta_Op<"short_conv", [Pure, AttrSizedOperandSegments]> {
  let summary = "causal depthwise short convolution with carried state";
  let description = [{
    A causal depthwise 1-D convolution over time (kernel size K, typically 4),
    as DeltaNet applies to q, k and v before the delta rule:

        y[b, t, c] = act(sum_{j<K} weight[c, j] * x[b, t - K + 1 + j, c])

    where positions before the start of a sequence read the carried state.
    `x`: `[B, T, D]`; `weight`: `[D, K]`; optional `initial_state`:
    `[N, D, K - 1]` f32 (the last K - 1 inputs of the previous call; zeros
    when absent); optional `cu_seqlens` as for `delta.delta_rule`.
    Results: `y` (`[B, T, D]`, the type of `x`) and the final state
    (`[N, D, K - 1]`, f32). `activation` is applied to the output when given.

    Example:

    ```mlir
    %y, %cs = delta.short_conv %x, %w {activation = #delta<activation silu>}
        : tensor<2x?x256xbf16>, tensor<256x4xbf16>
        -> tensor<2x?x256xbf16>, tensor<2x256x3xf32>
    ```
  }];
  let arguments = (ins Delta_FloatTensor:$x, Delta_FloatTensor:$weight,
                       Optional<Delta_StateTensor>:$initial_state,
                       Optional<Delta_IndexTensor>:$cu_seqlens,
                       OptionalAttr<Delta_ActivationKindAttr>:$activation);
  let results = (outs Delta_FloatTensor:$y, Delta_StateTensor:$final_state);
  let assemblyFormat = [{
    $x `,` $weight
    (`initial_state` `(` $initial_state^ `:` type($initial_state) `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `:` type($cu_seqlens) `)`)?
    attr-dict `:` type($x) `,` type($weight) `->` type($y) `,` type($final_state)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def Delta_RMSNormOp : Delta_Op<"rms_norm", [Pure]> {
  let summary = "RMS normalisation over the last dimension, optionally gated";
  let description = [{
    `y = x * rsqrt(mean(x^2, last dim) + eps) * weight`, and when `gate` is
    given (FLA's FusedRMSNormGated, the per-head output norm of DeltaNet)
    `y = rmsnorm(x) * weight * silu(gate)`. `weight` is `[D]` with `D` the
    last dimension of `x`; `gate` has the shape of `x`.

    Example:

    ```mlir
    %y = delta.rms_norm %x, %w gate(%g : tensor<2x?x4x64xbf16>) {eps = 1.0e-05 : f32}
        : tensor<2x?x4x64xbf16>, tensor<64xbf16> -> tensor<2x?x4x64xbf16>
    ```
  }];
  let arguments = (ins Delta_FloatTensor:$x, Delta_FloatTensor:$weight,
                       Optional<Delta_FloatTensor>:$gate,
                       DefaultValuedAttr<F32Attr, "1.0e-6">:$eps);
  let results = (outs Delta_FloatTensor:$y);
  let assemblyFormat = [{
    $x `,` $weight (`gate` `(` $gate^ `:` type($gate) `)`)?
    attr-dict `:` type($x) `,` type($weight) `->` type($y)
  }];
  let hasVerifier = 1;
}

def Delta_L2NormOp
    : Delta_Op<"l2_norm", [Pure, SameOperandsAndResultType]> {
  let summary = "L2 normalisation over the last dimension";
  let description = [{
    `y = x * rsqrt(sum(x^2, last dim) + eps)` (FLA's l2norm). The pass
    `delta-fuse-qk-l2norm` folds it into the `use_qk_l2norm` attribute of a
    delta-rule op when it normalises both q and k with `eps = 1e-6`.

    Example:

    ```mlir
    %qn = delta.l2_norm %q : tensor<2x?x4x64xbf16>
    ```
  }];
  let arguments = (ins Delta_FloatTensor:$x,
                       DefaultValuedAttr<F32Attr, "1.0e-6">:$eps);
  let results = (outs Delta_FloatTensor:$y);
  let assemblyFormat = "$x attr-dict `:` type($x)";
  let builders = [OpBuilder<(ins "::mlir::Value":$x), [{
    build($_builder, $_state, x.getType(), x,
          $_builder.getF32FloatAttr(1.0e-6f));
  }]>];
  let hasVerifier = 1;
}

def Delta_ActivationOp
    : Delta_Op<"activation", [Pure, SameOperandsAndResultType]> {
  let summary = "element-wise activation (SiLU, sigmoid)";
  let description = [{
    Applies an element-wise activation: `silu(x) = x * sigmoid(x)` (the
    DeltaNet short-conv output) or `sigmoid(x)` (beta = sigmoid(Linear(x))).

    Example:

    ```mlir
    %beta = delta.activation sigmoid %b : tensor<2x?x4xbf16>
    ```
  }];
  let arguments = (ins Delta_ActivationKindAttr:$kind, Delta_FloatTensor:$x);
  let results = (outs Delta_FloatTensor:$y);
  let assemblyFormat = "$kind $x attr-dict `:` type($x)";
}

//===----------------------------------------------------------------------===//
// Softmax attention
//===----------------------------------------------------------------------===//

def Delta_AttentionOp
    : Delta_Op<"attention", [Pure]> {
  let summary = "causal softmax attention: sliding window, grouped KV, rotary";
  let description = [{
    Causal softmax attention for the attention layers of hybrid models
    (ALGORITHM.md section 7): `q` `[B, T, H, d]`, `k` `[B, T, HKV, d]`,
    `v` `[B, T, HKV, dv]` with `H` a multiple of `HKV` (grouped-query
    attention: query head `i` reads KV head `i / (H / HKV)`). Result
    `[B, T, H, dv]`. Query `t` attends to keys `s <= t`, and with
    `window_size = W` only to `t - W < s <= t`. With `rope_theta`, rotary
    position embeddings (positions 0..T-1 of each sequence, rotating the
    two halves of each head vector) are applied to q and k first. `scale`
    defaults to `d^-1/2`. Optional `cu_seqlens` as for `delta.delta_rule`.

    Example:

    ```mlir
    %o = delta.attention %q, %k, %v {window_size = 2048 : i64, rope_theta = 10000.0 : f32}
        : tensor<2x?x8x64xbf16>, tensor<2x?x2x64xbf16>, tensor<2x?x2x64xbf16>
        -> tensor<2x?x8x64xbf16>
    ```
  }];
  let arguments = (ins Delta_FloatTensor:$q, Delta_FloatTensor:$k,
                       Delta_FloatTensor:$v,
                       Optional<Delta_IndexTensor>:$cu_seqlens,
                       OptionalAttr<F32Attr>:$scale,
                       OptionalAttr<I64Attr>:$window_size,
                       OptionalAttr<F32Attr>:$rope_theta);
  let results = (outs Delta_FloatTensor:$o);
  let assemblyFormat = [{
    $q `,` $k `,` $v
    (`cu_seqlens` `(` $cu_seqlens^ `:` type($cu_seqlens) `)`)?
    attr-dict `:` type($q) `,` type($k) `,` type($v) `->` type($o)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Projections, MLP, embedding
//===----------------------------------------------------------------------===//

def Delta_LinearOp : Delta_Op<"linear", [Pure]> {
  let summary = "linear projection y = x W^T (+ bias)";
  let description = [{
    A projection over the last dimension, with the weight in the layout of
    PyTorch / Hugging Face checkpoints: `x` `[..., in]`, `weight`
    `[out, in]`, optional `bias` `[out]`; result `[..., out]`.

    Example:

    ```mlir
    %q = delta.linear %x, %wq : tensor<2x?x1024xbf16>, tensor<1024x1024xbf16>
        -> tensor<2x?x1024xbf16>
    ```
  }];
  let arguments = (ins Delta_FloatTensor:$x, Delta_FloatTensor:$weight,
                       Optional<Delta_FloatTensor>:$bias);
  let results = (outs Delta_FloatTensor:$y);
  let assemblyFormat = [{
    $x `,` $weight (`bias` `(` $bias^ `:` type($bias) `)`)?
    attr-dict `:` type($x) `,` type($weight) `->` type($y)
  }];
  let hasVerifier = 1;
}

def Delta_SwiGLUOp : Delta_Op<"swiglu", [Pure, SameOperandsAndResultType]> {
  let summary = "SwiGLU gating: silu(gate) * up";
  let description = [{
    The gating of the SwiGLU MLP (`down(silu(gate(x)) * up(x))`): the
    element-wise product of `silu(gate)` and `up`, both of one shape.

    Example:

    ```mlir
    %h = delta.swiglu %gate, %up : tensor<2x?x2816xbf16>
    ```
  }];
  let arguments = (ins Delta_FloatTensor:$gate, Delta_FloatTensor:$up);
  let results = (outs Delta_FloatTensor:$y);
  let assemblyFormat = "$gate `,` $up attr-dict `:` type($y)";
}

def Delta_EmbeddingOp : Delta_Op<"embedding", [Pure]> {
  let summary = "token embedding lookup";
  let description = [{
    Gathers rows of `table` (`[V, D]`) for the token ids `ids` (`[B, T]`,
    i32 or i64); result `[B, T, D]` with the element type of `table`. Ids
    outside `[0, V)` are an error at run time.

    Example:

    ```mlir
    %x = delta.embedding %ids, %table : tensor<2x?xi64>, tensor<32000x1024xbf16>
        -> tensor<2x?x1024xbf16>
    ```
  }];
  let arguments = (ins Delta_IndexTensor:$ids, Delta_FloatTensor:$table);
  let results = (outs Delta_FloatTensor:$y);
  let assemblyFormat = [{
    $ids `,` $table attr-dict `:` type($ids) `,` type($table) `->` type($y)
  }];
  let hasVerifier = 1;
}

include "deltajit/Dialect/DeltaTileOps.td"

#endif // DELTAJIT_DIALECT_DELTAOPS_TD
