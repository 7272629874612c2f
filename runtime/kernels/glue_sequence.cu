//===- glue_sequence.cu - short convolution, rotary + KV-cache append -----===//
//
// Kernels over the packed tokens of a batch of sequences (SeqTables:
// cuSeqlens [numSeqs + 1], tokSeq / tokPos [tokens]).
//
// Short convolution (delta.short_conv), two strategies with equal results:
// - dj_glue_short_conv_seq: one thread per (sequence, channel) walks the
//   sequence's tokens with the window in registers, then stores the carried
//   state. One launch; for decode and short chunks.
// - dj_glue_short_conv_fwd (one thread per (token, 8 or 1 channels), reads
//   the window from x and, before the sequence's first token here, from the
//   state) followed by dj_glue_short_conv_state (one thread per (sequence,
//   channel) writes the new state). Two launches; for prefill.
// A sequence whose first token here has position 0 (tokPos) is fresh: its
// history is zeros whatever the state buffer holds.
//
// dj_glue_rope_append: grid-stride loops over the (token, head, 8 or 1
// pairs) of q (rotated in place), of k (rotated into the cache) and over
// the vectors of v (copied into the cache), all in one launch.
//
//===----------------------------------------------------------------------===//

#define DJ_CONV_MAX_K 8

/// The sequence index i with cu[i] <= t < cu[i + 1] (cu nondecreasing).
DJ_DEV int findSequence(const int *cu, int numSeqs, i64 t) {
  int lo = 0, hi = numSeqs; // answer in [lo, hi)
  while (hi - lo > 1) {
    int mid = (lo + hi) >> 1;
    if (i64(cu[mid]) <= t)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

template <typename T>
DJ_DEV void shortConvSeqBody(const u16 *x, const u16 *w, u16 *y, float *state,
                             const int *cu, const int *tokSeq,
                             const int *tokPos, int numSeqs, i64 channels,
                             int K, int act) {
  const i64 total = i64(numSeqs) * channels;
  const int S = K - 1; // state length
  for (i64 idx = globalThread(); idx < total; idx += globalStride()) {
    const int s = int(idx / channels);
    const i64 c = idx - i64(s) * channels;
    const int start = cu[s], end = cu[s + 1];
    if (end <= start)
      continue;
    const i64 slot = tokSeq[start];
    const bool fresh = tokPos && tokPos[start] == 0;
    // wr[i] multiplies the input i tokens back; h[i] holds that input.
    float wr[DJ_CONV_MAX_K], h[DJ_CONV_MAX_K];
    float *st = state ? state + (slot * channels + c) * S : nullptr;
#pragma unroll
    for (int i = 0; i < DJ_CONV_MAX_K; ++i) {
      wr[i] = i < K ? T::load(w[c * K + (K - 1 - i)]) : 0.0f;
      h[i] = (i >= 1 && i < K && !fresh) ? st[S - i] : 0.0f;
    }
    for (int t = start; t < end; ++t) {
      h[0] = T::load(x[i64(t) * channels + c]);
      float acc = 0.0f;
#pragma unroll
      for (int i = 0; i < DJ_CONV_MAX_K; ++i)
        acc += wr[i] * h[i];
      y[i64(t) * channels + c] = T::store(activate(acc, act));
#pragma unroll
      for (int i = DJ_CONV_MAX_K - 1; i >= 1; --i)
        h[i] = h[i - 1];
    }
#pragma unroll
    for (int i = 1; i < DJ_CONV_MAX_K; ++i)
      if (i < K)
        st[S - i] = h[i];
  }
}

template <typename T, int V>
DJ_DEV void shortConvFwdBody(const u16 *x, const u16 *w, u16 *y,
                             const float *state, const int *cu,
                             const int *tokSeq, const int *tokPos, int numSeqs,
                             i64 tokens, i64 channels, int K, int act) {
  const i64 nvec = channels / V;
  const i64 total = tokens * nvec;
  const int S = K - 1;
  for (i64 idx = globalThread(); idx < total; idx += globalStride()) {
    const i64 t = idx / nvec;
    const i64 c0 = (idx - t * nvec) * V;
    const int s = findSequence(cu, numSeqs, t);
    const int start = cu[s];
    const i64 l = t - start; // index of t in its sequence (this call)
    const i64 slot = tokSeq[t];
    const bool fresh = tokPos && tokPos[start] == 0;
    float acc[V];
#pragma unroll
    for (int v = 0; v < V; ++v)
      acc[v] = 0.0f;
#pragma unroll
    for (int i = 0; i < DJ_CONV_MAX_K; ++i) {
      if (i >= K)
        break;
      float in[V];
      if (l - i >= 0) {
        loadV<T, V>(x + (t - i) * channels + c0, in);
      } else {
#pragma unroll
        for (int v = 0; v < V; ++v)
          in[v] = fresh ? 0.0f
                        : state[(slot * channels + c0 + v) * S + (S + l - i)];
      }
#pragma unroll
      for (int v = 0; v < V; ++v)
        acc[v] += T::load(w[(c0 + v) * K + (K - 1 - i)]) * in[v];
    }
#pragma unroll
    for (int v = 0; v < V; ++v)
      acc[v] = activate(acc[v], act);
    storeV<T, V>(y + t * channels + c0, acc);
  }
}

/// state[slot, c, m] = input at (sequence length - S + m), from x or, for a
/// short chunk, from the old state (read ahead of the write: in place).
template <typename T>
DJ_DEV void shortConvStateBody(const u16 *x, float *state, const int *cu,
                               const int *tokSeq, const int *tokPos,
                               int numSeqs, i64 channels, int K) {
  const i64 total = i64(numSeqs) * channels;
  const int S = K - 1;
  for (i64 idx = globalThread(); idx < total; idx += globalStride()) {
    const int s = int(idx / channels);
    const i64 c = idx - i64(s) * channels;
    const int start = cu[s], len = cu[s + 1] - start;
    if (len <= 0)
      continue;
    const i64 slot = tokSeq[start];
    const bool fresh = tokPos && tokPos[start] == 0;
    float *st = state + (slot * channels + c) * S;
    for (int m = 0; m < S; ++m) {
      const int u = len - S + m; // local index of the input
      float v;
      if (u >= 0)
        v = T::load(x[(i64(start) + u) * channels + c]);
      else
        v = fresh ? 0.0f : st[S + u]; // S + u = len + m > m: not yet written
      st[m] = v;
    }
  }
}

// ---- Rotary + KV-cache append
// ---------------------------------------------------

/// Rotates V consecutive pairs (i, i + d/2), i = i0 .. i0 + V - 1, of `src`
/// by position p and writes them to `dst` (may equal src). As FLA /
/// GPT-NeoX: inv_freq = theta^(-2i/d), angle = p * inv_freq, both in f32.
template <typename T, int V>
DJ_DEV void rotatePairs(const u16 *src, u16 *dst, int i0, int d, float p,
                        float theta) {
  const int half = d / 2;
  float a[V], b[V];
  loadV<T, V>(src + i0, a);
  loadV<T, V>(src + i0 + half, b);
#pragma unroll
  for (int v = 0; v < V; ++v) {
    const float invFreq = 1.0f / powf(theta, float(2 * (i0 + v)) / float(d));
    float sn, cs;
    sincosf(p * invFreq, &sn, &cs);
    const float x1 = a[v], x2 = b[v];
    a[v] = x1 * cs - x2 * sn;
    b[v] = x2 * cs + x1 * sn;
  }
  storeV<T, V>(dst + i0, a);
  storeV<T, V>(dst + i0 + half, b);
}

/// Copies rows [tokens, HKV, width] of `src` into `cache` [slots, HKV,
/// maxCtx, width] at (tokSeq[t], g, tokPos[t]).
template <int V>
DJ_DEV void appendRows(const u16 *src, u16 *cache, const int *tokSeq,
                       const int *tokPos, i64 tokens, int HKV, int width,
                       i64 maxCtx) {
  const int nv = width / V;
  const i64 total = tokens * HKV * nv;
  for (i64 idx = globalThread(); idx < total; idx += globalStride()) {
    const i64 row = idx / nv; // t * HKV + g
    const int j = int(idx - row * nv);
    const i64 t = row / HKV;
    const int g = int(row - t * HKV);
    const int p = tokPos[t];
    if (p < 0 || i64(p) >= maxCtx)
      continue;
    const u16 *s = src + row * width + j * V;
    u16 *d = cache + ((i64(tokSeq[t]) * HKV + g) * maxCtx + p) * width + j * V;
    if constexpr (V == 8)
      *reinterpret_cast<uint4 *>(d) = *reinterpret_cast<const uint4 *>(s);
    else
      *d = *s;
  }
}

/// theta > 0: q rotated in place, k rotated into the cache; otherwise k is
/// copied as is. v is copied into its cache.
template <typename T, int V>
DJ_DEV void ropeAppendBody(u16 *q, const u16 *k, const u16 *v, u16 *kCache,
                           u16 *vCache, const int *tokSeq, const int *tokPos,
                           i64 tokens, int H, int HKV, int d, int dv,
                           i64 maxCtx, float theta) {
  if (theta > 0.0f) {
    const int np = d / 2 / V; // pair groups per head vector
    const i64 nq = tokens * H * np;
    for (i64 idx = globalThread(); idx < nq; idx += globalStride()) {
      const i64 row = idx / np; // t * H + h
      const int j = int(idx - row * np);
      const i64 t = row / H;
      u16 *qr = q + row * d;
      rotatePairs<T, V>(qr, qr, j * V, d, float(tokPos[t]), theta);
    }
    const i64 nk = tokens * HKV * np;
    for (i64 idx = globalThread(); idx < nk; idx += globalStride()) {
      const i64 row = idx / np; // t * HKV + g
      const int j = int(idx - row * np);
      const i64 t = row / HKV;
      const int g = int(row - t * HKV);
      const int p = tokPos[t];
      if (p < 0 || i64(p) >= maxCtx)
        continue;
      u16 *dst = kCache + ((i64(tokSeq[t]) * HKV + g) * maxCtx + p) * d;
      rotatePairs<T, V>(k + row * d, dst, j * V, d, float(p), theta);
    }
  } else {
    appendRows<V>(k, kCache, tokSeq, tokPos, tokens, HKV, d, maxCtx);
  }
  appendRows<V>(v, vCache, tokSeq, tokPos, tokens, HKV, dv, maxCtx);
}

#define DJ_GLUE_SEQUENCE_KERNELS(TY, SUFFIX)                                   \
  extern "C" __global__ void dj_glue_short_conv_seq_##SUFFIX(                  \
      const u16 *x, const u16 *w, u16 *y, float *state, const int *cu,         \
      const int *tokSeq, const int *tokPos, int numSeqs, i64 channels, int K,  \
      int act) {                                                               \
    shortConvSeqBody<TY>(x, w, y, state, cu, tokSeq, tokPos, numSeqs,          \
                         channels, K, act);                                    \
  }                                                                            \
  extern "C" __global__ void dj_glue_short_conv_fwd_##SUFFIX(                  \
      const u16 *x, const u16 *w, u16 *y, const float *state, const int *cu,   \
      const int *tokSeq, const int *tokPos, int numSeqs, i64 tokens,           \
      i64 channels, int K, int act, int vec) {                                 \
    if (vec)                                                                   \
      shortConvFwdBody<TY, 8>(x, w, y, state, cu, tokSeq, tokPos, numSeqs,     \
                              tokens, channels, K, act);                       \
    else                                                                       \
      shortConvFwdBody<TY, 1>(x, w, y, state, cu, tokSeq, tokPos, numSeqs,     \
                              tokens, channels, K, act);                       \
  }                                                                            \
  extern "C" __global__ void dj_glue_short_conv_state_##SUFFIX(                \
      const u16 *x, float *state, const int *cu, const int *tokSeq,            \
      const int *tokPos, int numSeqs, i64 channels, int K) {                   \
    shortConvStateBody<TY>(x, state, cu, tokSeq, tokPos, numSeqs, channels,    \
                           K);                                                 \
  }                                                                            \
  extern "C" __global__ void dj_glue_rope_append_##SUFFIX(                     \
      u16 *q, const u16 *k, const u16 *v, u16 *kCache, u16 *vCache,            \
      const int *tokSeq, const int *tokPos, i64 tokens, int H, int HKV, int d, \
      int dv, i64 maxCtx, float theta, int vec) {                              \
    if (vec)                                                                   \
      ropeAppendBody<TY, 8>(q, k, v, kCache, vCache, tokSeq, tokPos, tokens,   \
                            H, HKV, d, dv, maxCtx, theta);                     \
    else                                                                       \
      ropeAppendBody<TY, 1>(q, k, v, kCache, vCache, tokSeq, tokPos, tokens,   \
                            H, HKV, d, dv, maxCtx, theta);                     \
  }

DJ_GLUE_SEQUENCE_KERNELS(Bf16, bf16)
DJ_GLUE_SEQUENCE_KERNELS(F16, f16)
