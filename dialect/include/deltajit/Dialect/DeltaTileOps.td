//===- DeltaTileOps.td - tile-level ops of the `delta` dialect -*- tablegen -*-===//
//
// The chunkwise WY form of the delta rule (ALGORITHM.md section 3) as a loop
// over chunks (`delta.chunk_loop`) whose body computes on tiles with
// `delta.tile_*` ops. Produced by `delta-chunk-tile`; lowered to GPU kernels
// (codegen/NVIDIA) and to CPU loops (codegen/CPU).
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_DIALECT_DELTATILEOPS_TD
#define DELTAJIT_DIALECT_DELTATILEOPS_TD

include "deltajit/Dialect/DeltaDialect.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/RegionKindInterface.td"

def Delta_TileTensor : RankedTensorOf<[BF16, F16, F32]>;

def Delta_ChunkLoopOp : Delta_Op<"chunk_loop", [
    AttrSizedOperandSegments, SingleBlock, RecursiveMemoryEffects]> {
  let summary = "chunkwise delta rule: a loop over chunks with a tile body";
  let description = [{
    Runs the body once per chunk of `chunk` rows of every sequence, v-head
    and value tile (`block_v` columns), in chunk order, threading a state tile
    through. Operands are those of `delta.delta_rule` (same layouts) plus the
    output `scale` (an f32 scalar: the kernels take it as an argument).

    The body's arguments are, for one chunk: `q` and `k` rows (`C x dk`,
    L2-normalised when `use_qk_l2norm`, rows past the end of the sequence are
    zero), the `v` tile (`C x block_v`, zero-padded), `beta` (`C`, f32,
    zero-padded), the state tile entering the chunk (`dk x block_v`, f32:
    the initial state or zeros before the first chunk) and `scale`. It yields
    the output tile (`C x block_v`; rows past the end are dropped) and the
    state tile leaving the chunk. The results are `o` and the final states.

    Example:

    ```mlir
    %o, %s = delta.chunk_loop %q, %k, %v, %beta scale(%scale)
        {tile = #delta.tile<chunk = 64, block_v = 64, warps = 4, stages = 1>}
        : tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>, tensor<2x?x4x64xbf16>,
          tensor<2x?x4xbf16> -> tensor<2x?x4x64xbf16>, tensor<2x4x64x64xf32> {
    ^bb0(%qc: tensor<64x64xbf16>, %kc: tensor<64x64xbf16>,
         %vc: tensor<64x64xbf16>, %bc: tensor<64xf32>,
         %st: tensor<64x64xf32>, %sc: f32):
      ...
      delta.chunk_yield %oc, %next : tensor<64x64xf32>, tensor<64x64xf32>
    }
    ```
  }];
  let arguments = (ins Delta_FloatTensor:$q, Delta_FloatTensor:$k,
                       Delta_FloatTensor:$v, Delta_FloatTensor:$beta,
                       Optional<Delta_StateTensor>:$initial_state,
                       Optional<Delta_IndexTensor>:$cu_seqlens,
                       F32:$scale,
                       Delta_TileAttr:$tile,
                       UnitAttr:$use_qk_l2norm);
  let results = (outs Delta_FloatTensor:$o, Delta_StateTensor:$final_state);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $beta
    (`initial_state` `(` $initial_state^ `:` type($initial_state) `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `:` type($cu_seqlens) `)`)?
    `scale` `(` $scale `)` attr-dict `:` type($q) `,` type($k) `,` type($v) `,`
    type($beta) `->` type($o) `,` type($final_state) $body
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getChunk() { return getTile().getChunk(); }
    int64_t getBlockV() { return getTile().getBlockV(); }
    /// Body arguments, in order.
    ::mlir::BlockArgument getQTile() { return getBody().getArgument(0); }
    ::mlir::BlockArgument getKTile() { return getBody().getArgument(1); }
    ::mlir::BlockArgument getVTile() { return getBody().getArgument(2); }
    ::mlir::BlockArgument getBetaTile() { return getBody().getArgument(3); }
    ::mlir::BlockArgument getStateTile() { return getBody().getArgument(4); }
    ::mlir::BlockArgument getScaleArg() { return getBody().getArgument(5); }
    ChunkYieldOp getYield();
    /// A copy of this loop, inserted at `b`'s insertion point, whose value
    /// tiles are `blockV` columns wide (a divisor of dv): the same body with
    /// the v and state tile types widened or narrowed and every body result
    /// type re-derived from its operands. Nothing reads the copy's results.
    /// Fails (with an error on this op) when the copy does not verify.
    ::mlir::FailureOr<ChunkLoopOp> cloneWithBlockV(::mlir::OpBuilder &b,
                                                   int64_t blockV);
  }];
}

def Delta_ChunkYieldOp : Delta_Op<"chunk_yield", [
    Pure, Terminator, HasParent<"ChunkLoopOp">]> {
  let summary = "ends a chunk body: the output tile and the next state tile";
  let description = [{
    Terminates the body of `delta.chunk_loop` with the chunk's output tile
    (`C x block_v`) and the state tile leaving the chunk (`dk x block_v`, f32).
  }];
  let arguments = (ins Delta_TileTensor:$output, Delta_TileTensor:$state);
  let assemblyFormat = "$output `,` $state attr-dict `:` type($output) `,` type($state)";
}

def Delta_TileMatmulOp
    : Delta_Op<"tile_matmul", [Pure, AttrSizedOperandSegments]> {
  let summary = "tile product with f32 accumulation: acc + alpha * op(a) op(b)";
  let description = [{
    `result = acc + alpha * op(a) * op(b)` with `op(x)` = `x` or its transpose
    (`transpose_a`, `transpose_b`), products accumulated in f32 and the
    result rounded to its element type. `acc` is zero and `alpha` one when
    absent; `negate` flips the sign of the product. On NVIDIA GPUs this is
    tensor-core work: operands are rounded to the input element type (that
    of the 16-bit operand), except that with `split_f32` an f32 operand
    enters as the sum of two input-type numbers, its rounding and the
    rounded remainder (about 16 significant bits; two tensor-core products
    instead of one). The CPU lowering computes in f32 either way.

    Example (the new values of a chunk, `Vn = T X` with `X = V - K S`):

    ```mlir
    %x = delta.tile_matmul %k, %s acc(%v : tensor<64x64xbf16>) {negate}
        : tensor<64x128xbf16>, tensor<128x64xbf16> -> tensor<64x64xf32>
    %vn = delta.tile_matmul %t, %x {split_f32}
        : tensor<64x64xbf16>, tensor<64x64xf32> -> tensor<64x64xbf16>
    ```
  }];
  let arguments = (ins Delta_TileTensor:$a, Delta_TileTensor:$b,
                       Optional<Delta_TileTensor>:$acc, Optional<F32>:$alpha,
                       UnitAttr:$transpose_a, UnitAttr:$transpose_b,
                       UnitAttr:$negate, UnitAttr:$split_f32);
  let results = (outs Delta_TileTensor:$result);
  let assemblyFormat = [{
    $a `,` $b (`acc` `(` $acc^ `:` type($acc) `)`)? (`alpha` `(` $alpha^ `)`)?
    attr-dict `:` type($a) `,` type($b) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Delta_TileMaskKind : I32EnumAttr<"TileMaskKind", "triangular mask", [
    I32EnumAttrCase<"lower", 0>, I32EnumAttrCase<"strict_lower", 1>]> {
  let cppNamespace = "::deltajit::delta";
  let genSpecializedAttr = 0;
}
def Delta_TileMaskKindAttr
    : EnumAttr<Delta_Dialect, Delta_TileMaskKind, "tile_mask">;

def Delta_TileMaskOp : Delta_Op<"tile_mask", [Pure, SameOperandsAndResultType]> {
  let summary = "keep the lower triangle of a square tile";
  let description = [{
    Zeroes `x[r][j]` for `j > r` (`lower`, the causal mask including the
    diagonal) or `j >= r` (`strict_lower`).

    Example: `%p = delta.tile_mask lower %qk : tensor<64x64xf32>`
  }];
  let arguments = (ins Delta_TileMaskKindAttr:$kind, Delta_TileTensor:$x);
  let results = (outs Delta_TileTensor:$result);
  let assemblyFormat = "$kind $x attr-dict `:` type($x)";
  let hasVerifier = 1;
}

def Delta_TileRowScaleOp
    : Delta_Op<"tile_row_scale", [Pure, AllTypesMatch<["x", "result"]>]> {
  let summary = "scale row r of a tile by s[r]";
  let description = [{
    `result[r][j] = x[r][j] * s[r]` (for `A = diag(beta) K K^T`).

    Example: `%a = delta.tile_row_scale %kk, %beta : tensor<64x64xf32>, tensor<64xf32>`
  }];
  let arguments = (ins Delta_TileTensor:$x, Delta_TileTensor:$s);
  let results = (outs Delta_TileTensor:$result);
  let assemblyFormat = "$x `,` $s attr-dict `:` type($x) `,` type($s)";
  let hasVerifier = 1;
}

def Delta_TileUTTransformOp : Delta_Op<"tile_ut_transform", [Pure]> {
  let summary = "T = (I + A)^-1 diag(beta) by blocked forward substitution";
  let description = [{
    The UT transform of a chunk (ALGORITHM.md section 3): `A` is strictly
    lower triangular (`C x C`, f32), `beta` the chunk's betas. The
    `block`-sized diagonal blocks of `(I + A)` are inverted by forward
    substitution and combined into `X = (I + A)^-1`, e.g. block row by block
    row (`X_ij = -X_ii sum_{j<=m<i} A_im X_mj`) or by doubling (two s-blocks
    into one 2s-block: `X_BT = -X_BB A_BT X_TT`; how the NVIDIA lowering
    does it is in docs/codegen.md); the result is scaled by
    `beta` column-wise. Computed in f32; the result is rounded to its
    element type (a 16-bit result is what tensor-core products read).

    Example:

    ```mlir
    %t = delta.tile_ut_transform %a, %beta {block = 16 : i64}
        : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x64xf32>
    ```
  }];
  let arguments = (ins Delta_TileTensor:$a, Delta_TileTensor:$beta,
                       DefaultValuedAttr<I64Attr, "16">:$block);
  let results = (outs Delta_TileTensor:$result);
  let assemblyFormat = [{
    $a `,` $beta attr-dict `:` type($a) `,` type($beta) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Delta_TileConvertOp : Delta_Op<"tile_convert", [Pure]> {
  let summary = "round a tile to another element type";
  let description = [{
    `result[r][j] = x[r][j]` rounded to the result's element type (to
    nearest even). Chunk bodies use it for the 16-bit copy of the f32 state
    that the tensor-core products read, made once per chunk instead of at
    every fragment load.

    Example: `%sb = delta.tile_convert %s : tensor<128x64xf32> -> tensor<128x64xbf16>`
  }];
  let arguments = (ins Delta_TileTensor:$x);
  let results = (outs Delta_TileTensor:$result);
  let assemblyFormat = "$x attr-dict `:` type($x) `->` type($result)";
  let hasVerifier = 1;
}

#endif // DELTAJIT_DIALECT_DELTATILEOPS_TD
