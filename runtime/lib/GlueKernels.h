//===- GlueKernels.h - the non-delta-rule kernels of a model graph --------===//
//
// Embedding, RMSNorm (optionally gated), residual add, activations, SwiGLU,
// L2 norm, the causal short convolution with its carried state, rotary + KV
// cache append, causal / sliding-window softmax attention over the KV cache
// (grouped KV heads), row gathers, sampling, and small-M (decode)
// projections. The kernels are CUDA C++
// (runtime/kernels/*.cu, embedded in the library at build time),
// JIT-compiled with NVRTC (dlopen'ed, see Nvrtc.h) for the context's device
// on first use and cached on disk like package kernels.
//
// Conventions shared by every call:
// - Activations are packed rows, row-major: a batch of sequences of unequal
//   lengths is laid out token after token ("tokens" rows), described by
//   SeqTables. Decode is the case of one token per sequence.
// - `dtype` is the element type of activations and weights (bf16, fp16);
//   arithmetic is f32; carried states (short-conv) are f32.
// - Pointers are device addresses (CUdeviceptr); 0 means "absent" where an
//   argument is optional. Every call only queues work on `stream` (no
//   synchronisation), so the calls can be captured in a CUDA graph.
// - The caller holds a ContextScope. Errors throw deltajit::Error.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_GLUEKERNELS_H
#define DELTAJIT_RUNTIME_GLUEKERNELS_H

#include "deltajit/deltajit.h"

#include <cuda.h>

#include <cstdint>
#include <memory>

namespace deltajit {

class Context;

/// How the packed tokens of one call map to sequences (all int32, device).
struct SeqTables {
  CUdeviceptr cuSeqlens = 0; ///< [numSeqs + 1] token offsets of each sequence
  CUdeviceptr tokSeq = 0;    ///< [tokens] sequence (state slot) of each token
  CUdeviceptr tokPos = 0;    ///< [tokens] absolute position of each token in
                             ///< its sequence (0 for a fresh prompt's first)
  int64_t numSeqs = 0;
  int64_t tokens = 0;
  int64_t maxSeqTokens = 0; ///< host-known max tokens of one sequence here
};

/// Activation kinds (match the dialect's ActivationKind).
enum class GlueActivation : int { None = -1, Silu = 0, Sigmoid = 1 };

class GlueKernels {
public:
  /// Nothing is compiled until the first call.
  explicit GlueKernels(Context &ctx);
  ~GlueKernels();
  GlueKernels(const GlueKernels &) = delete;
  GlueKernels &operator=(const GlueKernels &) = delete;

  /// Compiles (or loads from the cache) and loads the kernels now. Throws
  /// Error(DJ_ERROR_NO_DRIVER) naming the library when NVRTC is missing,
  /// Error(DJ_ERROR_INTERNAL) with the NVRTC log on a compile error.
  void load();

  /// y[t, :] = table[ids[t], :] for t < tokens; ids are int32. An id outside
  /// [0, vocab) writes a zero row and sets *errorFlag (int32, device) to 1
  /// when errorFlag != 0.
  void embedding(CUstream s, dj_dtype_t dtype, CUdeviceptr ids,
                 CUdeviceptr table, CUdeviceptr y, int64_t tokens,
                 int64_t vocab, int64_t dim, CUdeviceptr errorFlag);

  /// Over rows of length dim: y = x * rsqrt(mean(x^2) + eps) * w, times
  /// silu(gate) when gate != 0 (gate has the shape of x). y may alias x.
  void rmsNorm(CUstream s, dj_dtype_t dtype, CUdeviceptr x, CUdeviceptr w,
               CUdeviceptr gate, CUdeviceptr y, int64_t rows, int64_t dim,
               float eps);

  /// The residual add and the RMSNorm after it, in one pass over rows of
  /// `dim`: sum = a + b (stored, rounded to dtype), y = rmsnorm(sum) * w.
  /// sum may alias a or b; y must differ from sum.
  void addRmsNorm(CUstream s, dj_dtype_t dtype, CUdeviceptr a, CUdeviceptr b,
                  CUdeviceptr w, CUdeviceptr sum, CUdeviceptr y, int64_t rows,
                  int64_t dim, float eps);

  /// y = x * rsqrt(sum(x^2) + eps) over rows of length dim.
  void l2Norm(CUstream s, dj_dtype_t dtype, CUdeviceptr x, CUdeviceptr y,
              int64_t rows, int64_t dim, float eps);

  /// y = a + b over n elements (y may alias a or b).
  void add(CUstream s, dj_dtype_t dtype, CUdeviceptr a, CUdeviceptr b,
           CUdeviceptr y, int64_t n);

  /// y = act(x) over n elements (y may alias x).
  void activation(CUstream s, dj_dtype_t dtype, GlueActivation act,
                  CUdeviceptr x, CUdeviceptr y, int64_t n);

  /// y = silu(gate) * up over n elements (y may alias either).
  void swiglu(CUstream s, dj_dtype_t dtype, CUdeviceptr gate, CUdeviceptr up,
              CUdeviceptr y, int64_t n);

  /// Causal depthwise convolution (delta.short_conv) over the packed tokens:
  /// y[t, c] = act(sum_{j<K} w[c, j] * x[t - K + 1 + j, c]) where inputs
  /// before the first token of a sequence in this call come from
  /// state[seq, c, :] (f32 [numStateSlots, channels, K - 1], oldest first;
  /// zeros for a fresh sequence). On return state[seq] holds the last K - 1
  /// inputs of the sequence (old state and new tokens concatenated), so a
  /// later call continues it. x and y must not alias. w is [channels, K].
  void shortConv(CUstream s, dj_dtype_t dtype, CUdeviceptr x, CUdeviceptr w,
                 CUdeviceptr y, CUdeviceptr state, const SeqTables &seqs,
                 int64_t channels, int64_t kernelSize, GlueActivation act);

  /// For each token t (sequence tokSeq[t], position p = tokPos[t]): applies
  /// rotary embeddings (when ropeTheta > 0; the two halves of each head
  /// vector rotated, angle p * theta^(-2i/d), as FLA / GPT-NeoX) to q
  /// [tokens, H, d] in place and to k [tokens, HKV, d], then writes k and v
  /// [tokens, HKV, dv] into the caches kCache [slots, HKV, maxCtx, d] and
  /// vCache [slots, HKV, maxCtx, dv] at (tokSeq[t], head, p). Positions
  /// p >= maxCtx are skipped (the caller checks lengths on the host).
  void ropeAppendKV(CUstream s, dj_dtype_t dtype, CUdeviceptr q, CUdeviceptr k,
                    CUdeviceptr v, CUdeviceptr kCache, CUdeviceptr vCache,
                    const SeqTables &seqs, int64_t heads, int64_t kvHeads,
                    int64_t d, int64_t dv, int64_t maxCtx, float ropeTheta);

  /// Causal softmax attention over the cache: for token t at position p of
  /// sequence s, o[t, h, :] = softmax_j(scale * q[t, h, :] . K[s, g, j, :])
  /// V[s, g, j, :] over j in [lo, p], lo = window > 0 ? max(0, p - window + 1)
  /// : 0, g = h / (H / HKV). q [tokens, H, d] (already rotated), o
  /// [tokens, H, dv]. Works for prefill (many tokens per sequence; the
  /// caches already hold them, see ropeAppendKV) and decode alike.
  void attention(CUstream s, dj_dtype_t dtype, CUdeviceptr q,
                 CUdeviceptr kCache, CUdeviceptr vCache, CUdeviceptr o,
                 const SeqTables &seqs, int64_t heads, int64_t kvHeads,
                 int64_t d, int64_t dv, int64_t maxCtx, int64_t window,
                 float scale);

  /// dst[i, :] = src[rows[i], :] for i < n (rows int32, device).
  void gatherRows(CUstream s, dj_dtype_t dtype, CUdeviceptr src,
                  CUdeviceptr rows, CUdeviceptr dst, int64_t n, int64_t dim);

  /// f32 copy: dst[i] = float(src[i]) over n elements.
  void toFloat(CUstream s, dj_dtype_t dtype, CUdeviceptr src, CUdeviceptr dst,
               int64_t n);

  /// One token per row of logits [rows, vocab]: temperature <= 0 -> argmax
  /// (lowest index on ties); else a sample of softmax(logits / temperature)
  /// drawn with a counter-based generator of (seed, row, *step) (step: int32
  /// on the device, so a captured graph samples differently each replay).
  /// outIds: int32 [rows]. Also writes outIds to nextIds when nextIds != 0
  /// (the next decode step's input).
  void sample(CUstream s, dj_dtype_t dtype, CUdeviceptr logits, int64_t rows,
              int64_t vocab, float temperature, uint64_t seed, CUdeviceptr step,
              CUdeviceptr outIds, CUdeviceptr nextIds);

  /// The largest M that linearSmallM takes.
  static constexpr int64_t kSmallMMax = 16;

  /// Projection of a few rows (decode): y[M, N] = x[M, K] w[N, K]^T,
  /// row-major (PyTorch linear: w is [out, in]), f32 accumulation, one
  /// rounding to dtype. 0 <= M <= kSmallMMax (0: no-op; larger M is
  /// DJ_ERROR_INVALID_ARGUMENT: use Blas). Memory-bound: each weight is read
  /// once with 16-byte loads (needs 16-byte aligned x and w and K % 8 == 0;
  /// any alignment and K work on the scalar path). y must not overlap x or
  /// w. Deterministic (bitwise, run to run).
  void linearSmallM(CUstream s, dj_dtype_t dtype, CUdeviceptr x, CUdeviceptr w,
                    CUdeviceptr y, int64_t M, int64_t N, int64_t K);

  /// p[i] += by for i < n (int32; positions and step counters in graphs).
  void incrementI32(CUstream s, CUdeviceptr p, int64_t n, int32_t by);

private:
  struct Impl;
  Context &ctx_;
  std::unique_ptr<Impl> impl_;
};

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_GLUEKERNELS_H
