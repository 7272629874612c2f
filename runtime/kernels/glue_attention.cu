//===- glue_attention.cu - causal / sliding-window attention over KV cache
//-===//
//
// o[t, h] = softmax_j(scale * q[t, h] . K[s, g, j]) V[s, g, j] over keys
// j in [lo, p] (p = tokPos[t], lo = max(0, p - window + 1) with a window, 0
// without), s = tokSeq[t], g = h / (H / HKV). The cache rows for every such
// j were written by dj_glue_rope_append before the call.
//
// - dj_glue_attn_prefill_<type>_d<D>_v<DV> (D, DV in {64, 128}): flash
//   attention 2 on tensor cores (mma.sync m16n8k16, f32 accumulation). One
//   CTA of 4 warps per (64 queries of one sequence, one query head); each
//   warp owns 16 query rows. K/V tiles of 64 keys are staged in shared
//   memory with cp.async, double-buffered; fragments come from ldmatrix.
//   Online softmax in base 2 (scale * log2(e) folded into the scores).
//   Grid (ceil(maxSeqTokens / 64), H, numSeqs), 128 threads, dynamic shared
//   memory (64 + 2 * 64) * (D + 8) * 2 + 2 * 64 * (DV + 8) * 2 bytes.
// - dj_glue_attn_decode_n<N>_h<GH>_<type> (any d, dv <= 64 * N <= 256):
//   flash decoding. One CTA of 4 warps per (token, KV head, chunk of GH
//   query heads of that group, key split); a warp is 4 key groups of 8
//   lanes, each lane owning N 16-byte column chunks of q, K, V and the
//   accumulator; scores are reduced over the 8 lanes, each group keeps its
//   own online softmax in registers, groups merge by shuffles and warps in
//   shared memory at the end. Splits past a token's position exit at once.
//   With one split the CTA writes o; with several it writes (m, l,
//   unnormalised acc) partials that dj_glue_attn_combine_<type> merges over
//   the splits that hold keys. Used for decode, and as the fallback for
//   prefill shapes the tensor-core kernel does not cover.
//
//===----------------------------------------------------------------------===//

// ---- PTX helpers
// ------------------------------------------------------------------

DJ_DEV u32 smemAddr(const void *p) {
  return static_cast<u32>(__cvta_generic_to_shared(p));
}

/// 16-byte asynchronous copy global -> shared; zero-fills when !valid.
DJ_DEV void cpAsync16(u32 dst, const void *src, bool valid) {
  int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst),
               "l"(src), "r"(bytes));
}
DJ_DEV void cpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N> DJ_DEV void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

DJ_DEV void ldmatrixX4(u32 addr, u32 &r0, u32 &r1, u32 &r2, u32 &r3) {
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
      : "r"(addr));
}
DJ_DEV void ldmatrixX4Trans(u32 addr, u32 &r0, u32 &r1, u32 &r2, u32 &r3) {
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
      : "r"(addr));
}

// (mma16816, the m16n8k16 tensor-core tile, is in glue_common.cu.)

DJ_DEV int warpMaxInt(int v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v = max(v, __shfl_xor_sync(DJ_FULL_MASK, v, o));
  return v;
}
DJ_DEV int warpMinInt(int v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v = min(v, __shfl_xor_sync(DJ_FULL_MASK, v, o));
  return v;
}

// ---- Prefill: tensor cores
// ----------------------------------------------------------

#define DJ_ATT_BM 64 // queries per CTA
#define DJ_ATT_BN 64 // keys per tile
#define DJ_ATT_THREADS 128

template <typename T, int D, int DV>
DJ_DEV void attnPrefillBody(const u16 *q, const u16 *kCache, const u16 *vCache,
                            u16 *o, const int *cu, const int *tokSeq,
                            const int *tokPos, int H, int HKV, i64 maxCtx,
                            int window, float scaleLog2) {
  constexpr int BM = DJ_ATT_BM, BN = DJ_ATT_BN;
  constexpr int QS = D + 8, KS = D + 8, VS = DV + 8; // padded rows (no
                                                     // ldmatrix conflicts)
  extern __shared__ __align__(16) u16 smem[];
  u16 *Qs = smem;             // [BM][QS]
  u16 *Ks = Qs + BM * QS;     // [2][BN][KS]
  u16 *Vs = Ks + 2 * BN * KS; // [2][BN][VS]
  __shared__ int rowP[BM], rowLo[BM], range[2];

  const int seq = blockIdx.z, h = blockIdx.y;
  const int start = cu[seq], len = cu[seq + 1] - start;
  const int q0 = blockIdx.x * BM;
  if (q0 >= len)
    return;
  const int nrows = min(BM, len - q0);
  const int g = h / (H / HKV);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const i64 slot = tokSeq[start + q0];

  // Query tile (rows past the sequence are zero-filled).
  for (int c = tid; c < BM * (D / 8); c += DJ_ATT_THREADS) {
    const int r = c / (D / 8), col = (c % (D / 8)) * 8;
    const bool valid = r < nrows;
    const u16 *src = valid ? q + (i64(start + q0 + r) * H + h) * D + col : q;
    cpAsync16(smemAddr(Qs + r * QS + col), src, valid);
  }

  // Key range of each row: [rowLo, rowP]; rowP < 0 means none.
  if (tid < BM) {
    int p = -1, lo = 0;
    if (tid < nrows) {
      p = tokPos[start + q0 + tid];
      lo = window > 0 ? max(0, p - window + 1) : 0;
      if (i64(p) >= maxCtx)
        p = int(maxCtx - 1);
      if (p < lo)
        p = -1;
    }
    rowP[tid] = p;
    rowLo[tid] = lo;
  }
  __syncthreads();
  if (warp == 0) {
    const int big = 0x7fffffff;
    int pm = max(rowP[lane], rowP[lane + 32]);
    int lm = min(rowP[lane] >= 0 ? rowLo[lane] : big,
                 rowP[lane + 32] >= 0 ? rowLo[lane + 32] : big);
    pm = warpMaxInt(pm);
    lm = warpMinInt(lm);
    if (lane == 0) {
      range[0] = lm;
      range[1] = pm;
    }
  }
  __syncthreads();
  const int kMin = range[0], kMax = range[1];
  const int kBegin = kMax >= 0 ? (kMin / BN) * BN : 0;
  const int nTiles = kMax >= 0 ? (kMax - kBegin) / BN + 1 : 0;

  const u16 *kBase = kCache + (slot * HKV + g) * maxCtx * D;
  const u16 *vBase = vCache + (slot * HKV + g) * maxCtx * DV;
  // Keys outside [kMin, kMax] (no row uses them) are zero-filled, so that
  // whatever the cache holds there never meets a zero weight (0 * NaN).
  auto loadTile = [&](int tile, int buf) {
    const int kb = kBegin + tile * BN;
    u16 *kd = Ks + buf * BN * KS;
    u16 *vd = Vs + buf * BN * VS;
    for (int c = tid; c < BN * (D / 8); c += DJ_ATT_THREADS) {
      const int r = c / (D / 8), col = (c % (D / 8)) * 8;
      const bool valid = kb + r >= kMin && kb + r <= kMax;
      const u16 *src = valid ? kBase + i64(kb + r) * D + col : kBase;
      cpAsync16(smemAddr(kd + r * KS + col), src, valid);
    }
    for (int c = tid; c < BN * (DV / 8); c += DJ_ATT_THREADS) {
      const int r = c / (DV / 8), col = (c % (DV / 8)) * 8;
      const bool valid = kb + r >= kMin && kb + r <= kMax;
      const u16 *src = valid ? vBase + i64(kb + r) * DV + col : vBase;
      cpAsync16(smemAddr(vd + r * VS + col), src, valid);
    }
  };

  if (nTiles > 0)
    loadTile(0, 0);
  cpAsyncCommit();

  // This thread's two rows (lane / 4 and lane / 4 + 8 of the warp's 16).
  const int r0 = warp * 16 + (lane >> 2), r1 = r0 + 8;
  const int p0 = rowP[r0], p1 = rowP[r1], lo0 = rowLo[r0], lo1 = rowLo[r1];
  const int cq = (lane & 3) * 2; // column pair within an n8 tile

  u32 qf[D / 16][4];
  float acc[DV / 8][4];
#pragma unroll
  for (int n = 0; n < DV / 8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      acc[n][e] = 0.0f;
  float m0 = DJ_NEG_INF, m1 = DJ_NEG_INF, l0 = 0.0f, l1 = 0.0f;

  for (int tile = 0; tile < nTiles; ++tile) {
    if (tile + 1 < nTiles)
      loadTile(tile + 1, (tile + 1) & 1);
    cpAsyncCommit();
    cpAsyncWait<1>();
    __syncthreads();
    if (tile == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk)
        ldmatrixX4(smemAddr(Qs + (warp * 16 + (lane & 15)) * QS + kk * 16 +
                            (lane >> 4) * 8),
                   qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3]);
    }
    const u16 *kt = Ks + (tile & 1) * BN * KS;
    const u16 *vt = Vs + (tile & 1) * BN * VS;
    const int kb = kBegin + tile * BN;

    // S = Q K^T for this warp's 16 rows and the tile's 64 keys.
    float s[BN / 8][4];
#pragma unroll
    for (int n = 0; n < BN / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        s[n][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int nn = 0; nn < BN / 16; ++nn) {
        u32 b0, b1, b2, b3;
        ldmatrixX4(smemAddr(kt + (nn * 16 + (lane & 7) + (lane >> 4) * 8) * KS +
                            kk * 16 + ((lane >> 3) & 1) * 8),
                   b0, b1, b2, b3);
        mma16816<T>(s[2 * nn], qf[kk], b0, b1);
        mma16816<T>(s[2 * nn + 1], qf[kk], b2, b3);
      }
    }

    // Scale, mask, online softmax (base 2).
    const bool full =
        kb >= lo0 && kb >= lo1 && kb + BN - 1 <= p0 && kb + BN - 1 <= p1;
    float mx0 = DJ_NEG_INF, mx1 = DJ_NEG_INF;
#pragma unroll
    for (int n = 0; n < BN / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float v = s[n][e] * scaleLog2;
        if (!full) {
          const int key = kb + n * 8 + cq + (e & 1);
          const int pr = e < 2 ? p0 : p1, lr = e < 2 ? lo0 : lo1;
          if (key > pr || key < lr)
            v = DJ_NEG_INF;
        }
        s[n][e] = v;
      }
      mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
      mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
    }
#pragma unroll
    for (int o = 1; o <= 2; o <<= 1) {
      mx0 = fmaxf(mx0, __shfl_xor_sync(DJ_FULL_MASK, mx0, o));
      mx1 = fmaxf(mx1, __shfl_xor_sync(DJ_FULL_MASK, mx1, o));
    }
    const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
    const float base0 = mn0 == DJ_NEG_INF ? 0.0f : mn0;
    const float base1 = mn1 == DJ_NEG_INF ? 0.0f : mn1;
    const float alpha0 = exp2f(m0 - base0), alpha1 = exp2f(m1 - base1);
    m0 = mn0;
    m1 = mn1;
    float sum0 = 0.0f, sum1 = 0.0f;
#pragma unroll
    for (int n = 0; n < BN / 8; ++n) {
      s[n][0] = exp2f(s[n][0] - base0);
      s[n][1] = exp2f(s[n][1] - base0);
      s[n][2] = exp2f(s[n][2] - base1);
      s[n][3] = exp2f(s[n][3] - base1);
      sum0 += s[n][0] + s[n][1];
      sum1 += s[n][2] + s[n][3];
    }
    l0 = l0 * alpha0 + sum0;
    l1 = l1 * alpha1 + sum1;
#pragma unroll
    for (int n = 0; n < DV / 8; ++n) {
      acc[n][0] *= alpha0;
      acc[n][1] *= alpha0;
      acc[n][2] *= alpha1;
      acc[n][3] *= alpha1;
    }

    // O += P V: the S accumulators of n-tiles 2k, 2k+1 are the A fragment
    // of keys 16k .. 16k + 15.
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      u32 a[4];
      a[0] = T::pack(s[2 * kk][0], s[2 * kk][1]);
      a[1] = T::pack(s[2 * kk][2], s[2 * kk][3]);
      a[2] = T::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      a[3] = T::pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int nn = 0; nn < DV / 16; ++nn) {
        u32 b0, b1, b2, b3;
        ldmatrixX4Trans(
            smemAddr(vt + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * VS +
                     nn * 16 + (lane >> 4) * 8),
            b0, b1, b2, b3);
        mma16816<T>(acc[2 * nn], a, b0, b1);
        mma16816<T>(acc[2 * nn + 1], a, b2, b3);
      }
    }
    __syncthreads(); // the buffer is refilled by the next iteration
  }
  cpAsyncWait<0>();

#pragma unroll
  for (int o = 1; o <= 2; o <<= 1) {
    l0 += __shfl_xor_sync(DJ_FULL_MASK, l0, o);
    l1 += __shfl_xor_sync(DJ_FULL_MASK, l1, o);
  }
  const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f;
  const float inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
  if (r0 < nrows) {
    u16 *orow = o + (i64(start + q0 + r0) * H + h) * DV;
#pragma unroll
    for (int n = 0; n < DV / 8; ++n)
      *reinterpret_cast<u32 *>(orow + n * 8 + cq) =
          T::pack(acc[n][0] * inv0, acc[n][1] * inv0);
  }
  if (r1 < nrows) {
    u16 *orow = o + (i64(start + q0 + r1) * H + h) * DV;
#pragma unroll
    for (int n = 0; n < DV / 8; ++n)
      *reinterpret_cast<u32 *>(orow + n * 8 + cq) =
          T::pack(acc[n][2] * inv1, acc[n][3] * inv1);
  }
}

#define DJ_GLUE_ATTN_PREFILL(TY, SUFFIX, D, DV)                                \
  extern "C" __global__ void __launch_bounds__(DJ_ATT_THREADS)                 \
      dj_glue_attn_prefill_##SUFFIX##_d##D##_v##DV(                            \
          const u16 *q, const u16 *kCache, const u16 *vCache, u16 *o,          \
          const int *cu, const int *tokSeq, const int *tokPos, int H, int HKV, \
          i64 maxCtx, int window, float scaleLog2) {                           \
    attnPrefillBody<TY, D, DV>(q, kCache, vCache, o, cu, tokSeq, tokPos, H,    \
                               HKV, maxCtx, window, scaleLog2);                \
  }

// ---- Decode: flash decoding
// ---------------------------------------------------------

#define DJ_DEC_WARPS 4  // warps per CTA
#define DJ_DEC_GROUP 8  // lanes per key row (a warp scores 4 keys at once)
#define DJ_DEC_MAXD 256 // largest d / dv

/// Eight elements (one 16-byte chunk) of a cache row from column `col`:
/// one 16-byte load when `vec` (dim % 8 == 0, 16-byte aligned rows), else
/// up to eight 2-byte loads; zeros past `dim` and when !ok (the row is
/// never read then, so NaN in unused cache rows never reaches a weight).
DJ_DEV uint4 loadChunk8(const u16 *row, int col, int dim, bool ok, int vec) {
  uint4 r = make_uint4(0u, 0u, 0u, 0u);
  if (ok && col < dim) {
    if (vec) {
      r = __ldg(reinterpret_cast<const uint4 *>(row + col));
    } else {
      u32 w[4];
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const int c = col + 2 * k;
        const u32 a = c < dim ? u32(row[c]) : 0u;
        const u32 b = c + 1 < dim ? u32(row[c + 1]) : 0u;
        w[k] = a | (b << 16);
      }
      r = make_uint4(w[0], w[1], w[2], w[3]);
    }
  }
  return r;
}

template <typename T> DJ_DEV void unpack8(const uint4 &r, float (&v)[8]) {
  v[0] = T::lo(r.x);
  v[1] = T::hi(r.x);
  v[2] = T::lo(r.y);
  v[3] = T::hi(r.y);
  v[4] = T::lo(r.z);
  v[5] = T::hi(r.z);
  v[6] = T::lo(r.w);
  v[7] = T::hi(r.w);
}

/// The key range [lo, pe] of a token at position p (empty when pe < lo).
DJ_DEV void attnKeyRange(int p, i64 maxCtx, int window, int &lo, int &pe) {
  pe = i64(p) >= maxCtx ? int(maxCtx - 1) : p;
  lo = window > 0 ? max(0, p - window + 1) : 0;
}

/// Splits of `chunkKeys` keys from lo that hold keys (<= nsplit).
DJ_DEV int attnLiveSplits(int lo, int pe, int chunkKeys, int nsplit) {
  return pe >= lo ? min(nsplit, (pe - lo) / chunkKeys + 1) : 0;
}

/// N: 16-byte chunks of a row per lane (d, dv <= 64 * N); GH: query heads
/// of one KV group per CTA (they share every K/V load).
///
/// CTA = (token t, KV head g, chunk of GH query heads, key split). Lane
/// `lane` is in key group kg = lane / 8 and owns columns (sub + 8 i) * 8 ..
/// + 7 (sub = lane % 8, i < N) of K, V, q and the accumulator. A warp
/// iteration takes U = 4 / N steps of 4 consecutive keys (one per key
/// group), all loads issued first; a score is a dot product reduced over the
/// 8 lanes of the group (3 shuffles). Each key group keeps its own online
/// softmax (m, l, acc) in registers, no communication in the loop; the 4
/// groups merge by shuffles, the 4 warps in shared memory, at the end.
/// Split s holds keys [lo + s * chunkKeys, lo + (s + 1) * chunkKeys) of
/// [lo, pe]; a split past pe exits at once (split 0 always runs, so an
/// empty range still writes zeros when nsplit == 1).
template <typename T, int N, int GH>
DJ_DEV void attnDecodeBody(const u16 *q, const u16 *kCache, const u16 *vCache,
                           u16 *o, float *partAcc, float *partM, float *partL,
                           const int *tokSeq, const int *tokPos, int H, int HKV,
                           int d, int dv, i64 maxCtx, int window,
                           float scaleLog2, int nsplit, int chunkKeys,
                           int headChunks, int vec) {
  constexpr int U = 4 / N;               // key steps per warp iteration
  constexpr int KPS = 32 / DJ_DEC_GROUP; // keys per step (4)
  constexpr int KPW = U * KPS;           // keys per warp iteration
  constexpr int W = DJ_DEC_WARPS;
  constexpr int COLS = 64 * N;
  __shared__ float wm[W][GH], wl[W][GH];
  __shared__ float wacc[W][GH * COLS];

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int kg = lane >> 3, sub = lane & 7;
  const int G = H / HKV;
  i64 b = blockIdx.x;
  const int hc = int(b % headChunks);
  b /= headChunks;
  const int g = int(b % HKV);
  const i64 t = b / HKV;
  const int split = blockIdx.y;
  const int h0 = g * G + hc * GH;
  const int nh = min(GH, G - hc * GH);

  const int p = tokPos[t];
  int lo, pe;
  attnKeyRange(p, maxCtx, window, lo, pe);
  const i64 ks64 = i64(lo) + i64(split) * chunkKeys;
  if (split > 0 && ks64 > i64(pe))
    return; // an empty split (uniform over the CTA): the combine skips it
  const int ks = int(ks64);
  const int ke = int(min(i64(pe), ks64 + chunkKeys - 1));
  const i64 slot = tokSeq[t];

  // q (times scale * log2(e)) for this lane's columns, in registers.
  float qr[GH][N][8];
#pragma unroll
  for (int hh = 0; hh < GH; ++hh) {
    const u16 *qrow = q + (t * H + h0 + hh) * d;
#pragma unroll
    for (int i = 0; i < N; ++i)
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const int col = (sub + 8 * i) * 8 + e;
        qr[hh][i][e] =
            hh < nh && col < d ? T::load(qrow[col]) * scaleLog2 : 0.0f;
      }
  }

  float m[GH], l[GH], acc[GH][N][8];
#pragma unroll
  for (int hh = 0; hh < GH; ++hh) {
    m[hh] = DJ_NEG_INF;
    l[hh] = 0.0f;
#pragma unroll
    for (int i = 0; i < N; ++i)
#pragma unroll
      for (int e = 0; e < 8; ++e)
        acc[hh][i][e] = 0.0f;
  }
  const u16 *kBase = kCache + (slot * HKV + g) * maxCtx * d;
  const u16 *vBase = vCache + (slot * HKV + g) * maxCtx * dv;

  for (int kb = ks + warp * KPW; kb <= ke; kb += W * KPW) {
    uint4 kraw[U][N], vraw[U][N];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int j = kb + u * KPS + kg;
      const bool ok = j <= ke;
      const u16 *kr = kBase + i64(j) * d;
      const u16 *vr = vBase + i64(j) * dv;
#pragma unroll
      for (int i = 0; i < N; ++i) {
        const int col = (sub + 8 * i) * 8;
        kraw[u][i] = loadChunk8(kr, col, d, ok, vec);
        vraw[u][i] = loadChunk8(vr, col, dv, ok, vec);
      }
    }
    float s[U][GH];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float kv[N][8];
#pragma unroll
      for (int i = 0; i < N; ++i)
        unpack8<T>(kraw[u][i], kv[i]);
      const bool ok = kb + u * KPS + kg <= ke;
#pragma unroll
      for (int hh = 0; hh < GH; ++hh) {
        float a = 0.0f;
#pragma unroll
        for (int i = 0; i < N; ++i)
#pragma unroll
          for (int e = 0; e < 8; ++e)
            a = fmaf(qr[hh][i][e], kv[i][e], a);
        a += __shfl_xor_sync(DJ_FULL_MASK, a, 1);
        a += __shfl_xor_sync(DJ_FULL_MASK, a, 2);
        a += __shfl_xor_sync(DJ_FULL_MASK, a, 4);
        s[u][hh] = ok ? a : DJ_NEG_INF;
      }
    }
    float vv[U][N][8];
#pragma unroll
    for (int u = 0; u < U; ++u)
#pragma unroll
      for (int i = 0; i < N; ++i)
        unpack8<T>(vraw[u][i], vv[u][i]);
#pragma unroll
    for (int hh = 0; hh < GH; ++hh) {
      float mx = s[0][hh];
#pragma unroll
      for (int u = 1; u < U; ++u)
        mx = fmaxf(mx, s[u][hh]);
      const float mn = fmaxf(m[hh], mx);
      const float base = mn == DJ_NEG_INF ? 0.0f : mn;
      const float alpha = exp2f(m[hh] - base);
      float pu[U];
      float sum = 0.0f;
#pragma unroll
      for (int u = 0; u < U; ++u) {
        pu[u] = exp2f(s[u][hh] - base); // 0 for a masked key
        sum += pu[u];
      }
      l[hh] = l[hh] * alpha + sum;
      m[hh] = mn;
#pragma unroll
      for (int i = 0; i < N; ++i)
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          float a = acc[hh][i][e] * alpha;
#pragma unroll
          for (int u = 0; u < U; ++u)
            a = fmaf(pu[u], vv[u][i][e], a);
          acc[hh][i][e] = a;
        }
    }
  }

  // Merge the 4 key groups of the warp (lanes 8 and 16 apart).
#pragma unroll
  for (int off = 8; off <= 16; off <<= 1) {
#pragma unroll
    for (int hh = 0; hh < GH; ++hh) {
      const float mo = __shfl_xor_sync(DJ_FULL_MASK, m[hh], off);
      const float lo2 = __shfl_xor_sync(DJ_FULL_MASK, l[hh], off);
      const float mn = fmaxf(m[hh], mo);
      const float base = mn == DJ_NEG_INF ? 0.0f : mn;
      const float sa = exp2f(m[hh] - base), sb = exp2f(mo - base);
      l[hh] = l[hh] * sa + lo2 * sb;
      m[hh] = mn;
#pragma unroll
      for (int i = 0; i < N; ++i)
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          const float ao = __shfl_xor_sync(DJ_FULL_MASK, acc[hh][i][e], off);
          acc[hh][i][e] = acc[hh][i][e] * sa + ao * sb;
        }
    }
  }
  if (kg == 0) {
#pragma unroll
    for (int hh = 0; hh < GH; ++hh) {
      if (sub == 0) {
        wm[warp][hh] = m[hh];
        wl[warp][hh] = l[hh];
      }
#pragma unroll
      for (int i = 0; i < N; ++i)
#pragma unroll
        for (int e = 0; e < 8; ++e)
          wacc[warp][hh * COLS + (sub + 8 * i) * 8 + e] = acc[hh][i][e];
    }
  }
  __syncthreads();

  // Merge the warps; write o (one split) or this split's partials.
  for (int i = tid; i < nh * dv; i += W * 32) {
    const int hh = i / dv, col = i - hh * dv;
    float M = DJ_NEG_INF;
#pragma unroll
    for (int w = 0; w < W; ++w)
      M = fmaxf(M, wm[w][hh]);
    float L = 0.0f, A = 0.0f;
    if (M != DJ_NEG_INF) {
#pragma unroll
      for (int w = 0; w < W; ++w) {
        const float sc = exp2f(wm[w][hh] - M);
        L += wl[w][hh] * sc;
        A += wacc[w][hh * COLS + col] * sc;
      }
    }
    const i64 th = t * H + h0 + hh;
    if (nsplit == 1) {
      o[th * dv + col] = T::store(L > 0.0f ? A / L : 0.0f);
    } else {
      const i64 pi = th * nsplit + split;
      partAcc[pi * dv + col] = A;
      if (col == 0) {
        partM[pi] = M;
        partL[pi] = L;
      }
    }
  }
}

/// Merges the partials of the splits that hold keys (the others were never
/// written). rows = tokens * H.
template <typename T>
DJ_DEV void attnCombineBody(const float *partAcc, const float *partM,
                            const float *partL, u16 *o, const int *tokPos,
                            i64 rows, int H, int dv, i64 maxCtx, int window,
                            int nsplit, int chunkKeys) {
  const i64 total = rows * dv;
  for (i64 idx = globalThread(); idx < total; idx += globalStride()) {
    const i64 th = idx / dv;
    const int col = int(idx - th * dv);
    int lo, pe;
    attnKeyRange(tokPos[th / H], maxCtx, window, lo, pe);
    const int live = attnLiveSplits(lo, pe, chunkKeys, nsplit);
    const i64 p0 = th * nsplit;
    float M = DJ_NEG_INF;
    for (int s = 0; s < live; ++s)
      M = fmaxf(M, partM[p0 + s]);
    float L = 0.0f, A = 0.0f;
    if (M != DJ_NEG_INF)
      for (int s = 0; s < live; ++s) {
        const float sc = exp2f(partM[p0 + s] - M);
        L += partL[p0 + s] * sc;
        A += partAcc[(p0 + s) * dv + col] * sc;
      }
    o[idx] = T::store(L > 0.0f ? A / L : 0.0f);
  }
}

#define DJ_GLUE_ATTN_DECODE(TY, SUFFIX, N, GH)                                 \
  extern "C" __global__ void __launch_bounds__(DJ_DEC_WARPS * 32)              \
      dj_glue_attn_decode_n##N##_h##GH##_##SUFFIX(                             \
          const u16 *q, const u16 *kCache, const u16 *vCache, u16 *o,          \
          float *partAcc, float *partM, float *partL, const int *tokSeq,       \
          const int *tokPos, int H, int HKV, int d, int dv, i64 maxCtx,        \
          int window, float scaleLog2, int nsplit, int chunkKeys,              \
          int headChunks, int vec) {                                           \
    attnDecodeBody<TY, N, GH>(q, kCache, vCache, o, partAcc, partM, partL,     \
                              tokSeq, tokPos, H, HKV, d, dv, maxCtx, window,   \
                              scaleLog2, nsplit, chunkKeys, headChunks, vec);  \
  }

#define DJ_GLUE_ATTN_KERNELS(TY, SUFFIX)                                       \
  DJ_GLUE_ATTN_PREFILL(TY, SUFFIX, 64, 64)                                     \
  DJ_GLUE_ATTN_PREFILL(TY, SUFFIX, 64, 128)                                    \
  DJ_GLUE_ATTN_PREFILL(TY, SUFFIX, 128, 64)                                    \
  DJ_GLUE_ATTN_PREFILL(TY, SUFFIX, 128, 128)                                   \
  DJ_GLUE_ATTN_DECODE(TY, SUFFIX, 1, 1)                                        \
  DJ_GLUE_ATTN_DECODE(TY, SUFFIX, 1, 4)                                        \
  DJ_GLUE_ATTN_DECODE(TY, SUFFIX, 2, 1)                                        \
  DJ_GLUE_ATTN_DECODE(TY, SUFFIX, 2, 2)                                        \
  DJ_GLUE_ATTN_DECODE(TY, SUFFIX, 4, 1)                                        \
  extern "C" __global__ void dj_glue_attn_combine_##SUFFIX(                    \
      const float *partAcc, const float *partM, const float *partL, u16 *o,    \
      const int *tokPos, i64 rows, int H, int dv, i64 maxCtx, int window,      \
      int nsplit, int chunkKeys) {                                             \
    attnCombineBody<TY>(partAcc, partM, partL, o, tokPos, rows, H, dv, maxCtx, \
                        window, nsplit, chunkKeys);                            \
  }

DJ_GLUE_ATTN_KERNELS(Bf16, bf16)
DJ_GLUE_ATTN_KERNELS(F16, f16)
