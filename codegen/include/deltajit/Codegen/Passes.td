//===- Passes.td - deltajit's target lowering passes -------*- tablegen -*-===//
//
// Conversions of the tile-level `delta` IR to GPU kernels and CPU loops.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_PASSES_TD
#define DELTAJIT_CODEGEN_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertDeltaToNVVM : Pass<"convert-delta-to-nvvm", "::mlir::ModuleOp"> {
  let summary = "Lower chunk loops and decode steps to NVIDIA GPU kernels";
  let description = [{
    Outlines every `delta.chunk_loop` (from `delta-chunk-tile`) and every
    `delta.delta_rule_step` into a `gpu.func` kernel of the
    `gpu.module @deltajit_kernels` (target `#nvvm.target` for `chip`), and
    replaces it in host code by `delta.launch` carrying the launch contract
    of docs/package-format.md (entry, grid formulas, block, dynamic shared
    memory, parameters).

    Chunk-loop kernels run one program per (value tile, sequence x v-head):
    they keep the state in registers as the tensor-core accumulators of the
    product that updates it, carried by the chunk loop (`state-in-registers`;
    a shared-memory tile when the body does not allow it), loop over the
    sequence's chunks, load the chunk's q/k/v/beta tiles (prefetched by
    cp.async; zero past the end; q/k L2-normalised when asked) and execute
    the body's tile ops in order:
    tile products on tensor cores (the target's instruction family, today
    mma.sync.m16n8k16), masks, row scales and the blocked UT transform on
    CUDA cores. Tile values live in shared memory; buffers are reused once
    a value is dead, and accumulating products write in place. Masks and
    row scales that only transform a product in place run in the product's
    epilogue.

    With `phases` = 2 or 3 the loop is split into chunk-parallel kernels
    (prepare; output) and a sequential scan of the state-dependent ops, the
    values between them in global scratch; the scan double-buffers its
    prefetched tiles (`double-buffer`). With three phases, prepare and
    output run value tiles of `parallel-block-v` columns (a copy of the
    loop at that width) while the scan runs block_v. Where the three-phase
    scan is the register scan (one or two warpgroups per 64 value
    columns), it also computes the output (`output-in-scan`): two kernels.

    Decode kernels give each thread 4 adjacent value columns of up to 16
    state rows of a (sequence, v-head), in registers (the state is read and
    written once, in 16-byte vectors with the streaming cache hint); kv =
    S^T k and o = q^T S' are summed over the row splits by shuffles and
    shared memory.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90a\"",
           "Target chip (sm_80, sm_86, sm_89, sm_90, sm_90a)">,
    Option<"splitKernels", "split-kernels", "bool", /*default=*/"false",
           "Lower each chunk loop to two kernels: the state-free body ops "
           "for all chunks in parallel (prepare), then the state-dependent "
           "ops sequentially over chunks (scan), the values between them "
           "in global scratch">,
    Option<"phases", "phases", "int64_t", /*default=*/"1",
           "Kernels per chunk loop: 1 fused; 2 = split-kernels (prepare + "
           "scan); 3 = prepare (chunk-parallel WY preparation), scan (only "
           "the state recurrence, sequential over chunks, writing each "
           "chunk's starting state and new values to scratch), output "
           "(chunk-parallel outputs from those); see output-in-scan">,
    // The default is kDefaultDecodeBlockV (ConvertDeltaToNVVM.cpp).
    Option<"decodeBlockV", "decode-block-v", "int64_t", /*default=*/"64",
           "Value columns per decode program, at most (a multiple of 16 "
           "in [16, 1024]; the widest block up to it that divides dv and "
           "whose 16-byte column groups are a power of two or whole warps)">,
    Option<"stateInRegisters", "state-in-registers", "bool",
           /*default=*/"true",
           "Keep the recurrent state in registers across chunks (as the "
           "tensor-core accumulators of S' = S + K^T V) in the kernels that "
           "carry it (fused, scan) where the body allows it: no shared f32 "
           "state tile, no state copy per chunk">,
    Option<"registerScan", "register-scan", "bool", /*default=*/"true",
           "Run the three-phase scan's recurrence (Sb = S rounded, X = V - "
           "K Sb, Vn = T X, S' = S + K^T Vn) transposed in wgmma "
           "accumulators, A operands from registers, one warpgroup per 64 "
           "value columns: no shared-memory round trip or barrier between "
           "its products (wgmma family, block_v a multiple of 64, dk <= "
           "128; dk = 256 at block_v 64, chunk 64 or 32: two warpgroups "
           "each hold half of dk and add X's partial sums through shared "
           "memory; other scans stay generic)">,
    Option<"doubleBuffer", "double-buffer", "bool", /*default=*/"true",
           "Prefetched tiles (q, k, v; the scan's scratch values) alternate "
           "between two buffers from chunk to chunk instead of being "
           "copied from one prefetch buffer into the tiles each chunk">,
    Option<"tensorCores", "tensor-cores", "std::string", /*default=*/"\"auto\"",
           "Tensor-core instruction family of the tile products: auto (per "
           "kernel, as measured on the H200: on sm_90a wgmma for the "
           "three-phase scans and for the other three-phase kernels at "
           "block_v >= 32, mma.sync elsewhere), "
           "mma.sync, or wgmma (sm_90a: warpgroup products from shared-"
           "memory descriptors, operand tiles swizzled; mma.sync for what it "
           "cannot take)">,
    Option<"parallelBlockV", "parallel-block-v", "int64_t", /*default=*/"0",
           "Value-tile width of the three-phase lowering's chunk-parallel "
           "kernels (prepare, output), independent of the scan's block_v "
           "(their scratch slots do not depend on it): 0 = auto (the widest "
           "of 128, 64, 32, 16 (of 64, 32, 16 above dk = 128) that divides "
           "dv, is a multiple of block_v and fits shared memory; measured "
           "on the H200: prepare and output take 20-30% less time at 128 "
           "columns than at 16; at dk = 256 the output takes 17% less at "
           "64 than at 128), or a width (a multiple of block_v that "
           "divides dv)">,
    Option<"epilogueFusion", "epilogue-fusion", "bool", /*default=*/"true",
           "Run masks and row scales that transform a product in place in "
           "the product's epilogue (the fused kernel at dk <= 128 only: "
           "measured on the H200 8% faster there, 39% slower at dk = 256; "
           "the three-phase kernels at every dk: d = 256 prepare 7% "
           "faster)">,
    Option<"outputInScan", "output-in-scan", "bool", /*default=*/"true",
           "Three phases: where the scan is the register scan (one "
           "warpgroup per 64 value columns at dk <= 128, two at dk = 256), "
           "it also computes the chunk's output, O^T = scale (Sb^T Q^T + "
           "Vn^T P^T) beside its own products, and stores it: two kernels "
           "(prepare, which with the q/k L2 norm also stores q's inverse "
           "row norms, at bf16 k's too instead of the normalised k, and the "
           "scan, which loads q (and k) as given), no Sb or Vn in scratch, "
           "no output kernel">,
    Option<"segmentChunks", "segment-chunks", "int64_t", /*default=*/"0",
           "Three phases with a scan that computes the output (the register "
           "scan at dk <= 128): 0 = off; N (even) = split each sequence into "
           "segments of N chunks so that few long sequences fill the GPU. "
           "Four kernels: prepare; the segments' transitions (the scan of "
           "each segment but the last from [I | 0] on [M | N], dk + dv "
           "columns, no output: S_end = M S_start + N); the combine "
           "(sequential over a sequence's segments, f32: each segment's "
           "starting state from h0); the scan of every segment from its "
           "starting state, computing the output">,
  ];
  let dependentDialects = [
    "::mlir::gpu::GPUDialect", "::mlir::NVVM::NVVMDialect",
    "::mlir::LLVM::LLVMDialect", "::mlir::scf::SCFDialect",
    "::mlir::arith::ArithDialect"];
}

#endif // DELTAJIT_CODEGEN_PASSES_TD
