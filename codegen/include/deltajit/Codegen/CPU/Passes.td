//===- Passes.td - deltajit's CPU lowering passes ----------*- tablegen -*-===//
//
// The lowering of the tile-level `delta` IR (delta.chunk_loop and its
// delta.tile_* body) to loops on the CPU.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_CPU_PASSES_TD
#define DELTAJIT_CODEGEN_CPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertDeltaToCPU : Pass<"convert-delta-to-cpu", "::mlir::ModuleOp"> {
  let summary = "Lower chunk loops to scf loops on memrefs for the CPU";
  let description = [{
    Replaces every `delta.chunk_loop` (from `delta-chunk-tile`) by loops with
    its semantics, on buffers:

    - the tensor operands are taken as buffers (`bufferization.to_buffer`,
      read-only); `o` and the final states are fresh `memref.alloc`s handed
      back as tensors (`bufferization.to_tensor restrict writable`), so the
      surrounding tensor code is finished by One-Shot Bufferize;
    - every tile value of the body (block arguments and op results) gets a
      buffer of its static shape, allocated once before the loops;
    - `scf.for` over sequences (batch rows, or the `cu_seqlens` offsets),
      value heads (q/k head `hv / (HV / H)`), value tiles of `block_v`
      columns and the sequence's chunks in order. Per value tile the state
      tile starts as the `initial_state` slice (or zeros) and is stored to
      the final state after the last chunk (an empty sequence keeps its
      initial state). Per chunk the q/k/v rows and beta (widened to f32) are
      loaded, zero past the end of the sequence; q and k rows are
      L2-normalised (`x * 1/sqrt(sum x^2 + 1e-6)`, in f32, rounded back to
      the input type) when `use_qk_l2norm` is set; the body ops are emitted
      in order; the output tile's valid rows are stored to `o` (rows of `o`
      outside every sequence are zero) and the yielded state tile becomes the
      state tile of the next chunk.

    Body ops lower to loops with f32 arithmetic: `delta.tile_matmul`
    (`acc + alpha * op(a) op(b)`, products accumulated in f32, then alpha,
    negate and acc, rounded once to the result type), `delta.tile_mask`,
    `delta.tile_row_scale` and `delta.tile_ut_transform` (the blocked forward
    substitution of DeltaTileOps.td: diagonal blocks by substitution, block
    rows combined with `X_ij = -X_ii sum_{j<=m<i} A_im X_mj`, columns scaled
    by beta). Side-effect-free scalar ops without regions (e.g. arithmetic
    on the scale) are cloned into the chunk loop. Any other op in a body, a
    tile with a dynamic shape, or a tile tensor defined outside the body is
    an error naming the op.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"];
}

#endif // DELTAJIT_CODEGEN_CPU_PASSES_TD
