//===- DeltaDialect.td - the `delta` dialect definition ----*- tablegen -*-===//
//
// The dialect of delta-rule linear-attention models: layer-level ops on ranked
// tensors (this file declares the dialect; ops live in DeltaOps.td).
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_DIALECT_DELTADIALECT_TD
#define DELTAJIT_DIALECT_DELTADIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Delta_Dialect : Dialect {
  let name = "delta";
  let summary = "Delta-rule linear attention and the hybrid models built on it";
  let description = [{
    The `delta` dialect expresses DeltaNet-family models (DeltaNet, Gated
    DeltaNet and their hybrids with sliding-window or global softmax
    attention) at the level of layers: every op works on ranked tensors in the
    layouts of the reference library flash-linear-attention (FLA):
    `q, k : [B, T, H, dk]`, `v, o : [B, T, HV, dv]`, `beta : [B, T, HV]`,
    recurrent states `[N, HV, dk, dv]` in f32. Variable-length batches use
    `B = 1` and `cu_seqlens` (N + 1 offsets).

    Element-wise glue between layers uses upstream dialects where they fit:
    residual additions are `arith.addf` on tensors, head splits are
    `tensor.expand_shape` / `tensor.collapse_shape`.
  }];
  let cppNamespace = "::deltajit::delta";
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 0;
}

//===----------------------------------------------------------------------===//
// Enums and attributes
//===----------------------------------------------------------------------===//

def Delta_ActivationKind : I32EnumAttr<"ActivationKind",
    "element-wise activation function", [
      I32EnumAttrCase<"silu", 0>,
      I32EnumAttrCase<"sigmoid", 1>
    ]> {
  let cppNamespace = "::deltajit::delta";
  let genSpecializedAttr = 0;
}

def Delta_ActivationKindAttr
    : EnumAttr<Delta_Dialect, Delta_ActivationKind, "activation">;

def Delta_TileAttr : AttrDef<Delta_Dialect, "Tile"> {
  let mnemonic = "tile";
  let summary = "tile configuration of a chunkwise delta-rule kernel";
  let description = [{
    How `delta-chunk-tile` splits a delta-rule layer and how the kernels
    that run it are shaped: `chunk` rows per chunk (C), `block_v` columns of
    the value/state per program (the state tile is dk x block_v; dk is kept
    whole), `warps` per program, and `stages` of the load pipeline.

    Example: `#delta.tile<chunk = 64, block_v = 64, warps = 4, stages = 1>`
  }];
  let parameters = (ins "int64_t":$chunk, "int64_t":$block_v,
                        "int64_t":$warps, "int64_t":$stages);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Base class and type constraints
//===----------------------------------------------------------------------===//

class Delta_Op<string mnemonic, list<Trait> traits = []>
    : Op<Delta_Dialect, mnemonic, traits>;

/// Activations, weights and outputs: bf16, f16 or f32 ranked tensors.
def Delta_FloatTensor : RankedTensorOf<[BF16, F16, F32]>;
/// Recurrent and convolution states are kept in f32.
def Delta_StateTensor : RankedTensorOf<[F32]>;
/// Offsets and token ids.
def Delta_IndexTensor : RankedTensorOf<[I32, I64]>;

#endif // DELTAJIT_DIALECT_DELTADIALECT_TD
