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
// - dj_glue_attn_decode_e<E>_<type> (any d <= 256, dv <= 32 * E): flash
//   decoding. One CTA of 4 warps per (token, KV head, chunk of <= 8 query
//   heads of that group, key split); a lane scores one key for all the
//   group's heads (q in shared memory), warps take interleaved blocks of 32
//   keys, the 4 warps merge in shared memory. With one split the CTA writes
//   o; with several it writes (m, l, unnormalised acc) partials that
//   dj_glue_attn_combine_<type> merges. Used for decode, and as the
//   fallback for prefill shapes the tensor-core kernel does not cover.
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

#define DJ_DEC_WARPS 4
#define DJ_DEC_MAXG 8   // query heads per CTA
#define DJ_DEC_MAXD 256 // largest d

/// E: elements of a dv row per lane (dv <= 32 * E); lane owns columns
/// e * 32 + lane.
template <typename T, int E>
DJ_DEV void attnDecodeBody(const u16 *q, const u16 *kCache, const u16 *vCache,
                           u16 *o, float *partAcc, float *partM, float *partL,
                           const int *tokSeq, const int *tokPos, int H, int HKV,
                           int d, int dv, i64 maxCtx, int window,
                           float scaleLog2, int nsplit, int headChunks,
                           int vecK) {
  constexpr int MAXG = DJ_DEC_MAXG;
  __shared__ __align__(16) float qs[MAXG * DJ_DEC_MAXD];
  __shared__ float wm[DJ_DEC_WARPS][MAXG], wl[DJ_DEC_WARPS][MAXG];
  __shared__ float wacc[DJ_DEC_WARPS][MAXG][E * 32];

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int G = H / HKV;
  i64 b = blockIdx.x;
  const int hc = int(b % headChunks);
  b /= headChunks;
  const int g = int(b % HKV);
  const i64 t = b / HKV;
  const int split = blockIdx.y;
  const int h0 = g * G + hc * MAXG;
  const int nh = min(MAXG, G - hc * MAXG);

  const int p = tokPos[t];
  const i64 slot = tokSeq[t];
  const int pe = i64(p) >= maxCtx ? int(maxCtx - 1) : p;
  const int lo = window > 0 ? max(0, p - window + 1) : 0;
  const int nkeys = max(0, pe - lo + 1);
  const int chunk = (nkeys + nsplit - 1) / nsplit;
  const int ks = lo + split * chunk;
  const int ke = min(pe, ks + chunk - 1);

  for (int i = tid; i < nh * d; i += DJ_DEC_WARPS * 32) {
    const int hh = i / d, e = i - hh * d;
    qs[hh * d + e] = T::load(q[(t * H + h0 + hh) * d + e]) * scaleLog2;
  }
  __syncthreads();

  float m[MAXG], l[MAXG], acc[MAXG][E];
#pragma unroll
  for (int hh = 0; hh < MAXG; ++hh) {
    m[hh] = DJ_NEG_INF;
    l[hh] = 0.0f;
#pragma unroll
    for (int e = 0; e < E; ++e)
      acc[hh][e] = 0.0f;
  }
  const u16 *kBase = kCache + (slot * HKV + g) * maxCtx * d;
  const u16 *vBase = vCache + (slot * HKV + g) * maxCtx * dv;

  for (int kb = ks + warp * 32; kb <= ke; kb += DJ_DEC_WARPS * 32) {
    const int j = kb + lane;
    const bool valid = j <= ke;
    float s[MAXG];
#pragma unroll
    for (int hh = 0; hh < MAXG; ++hh)
      s[hh] = 0.0f;
    if (valid) {
      const u16 *kr = kBase + i64(j) * d;
      if (vecK) {
        for (int c = 0; c < d; c += 8) {
          float kv[8];
          load8<T>(kr + c, kv);
#pragma unroll
          for (int hh = 0; hh < MAXG; ++hh) {
            if (hh < nh) {
              const float4 *qq =
                  reinterpret_cast<const float4 *>(qs + hh * d + c);
              float4 x = qq[0], y = qq[1];
              s[hh] += x.x * kv[0] + x.y * kv[1] + x.z * kv[2] + x.w * kv[3] +
                       y.x * kv[4] + y.y * kv[5] + y.z * kv[6] + y.w * kv[7];
            }
          }
        }
      } else {
        for (int c = 0; c < d; ++c) {
          const float kv = T::load(kr[c]);
#pragma unroll
          for (int hh = 0; hh < MAXG; ++hh)
            if (hh < nh)
              s[hh] += qs[hh * d + c] * kv;
        }
      }
    }
#pragma unroll
    for (int hh = 0; hh < MAXG; ++hh) {
      if (hh >= nh)
        break;
      const float sv = valid ? s[hh] : DJ_NEG_INF;
      const float mn = fmaxf(m[hh], warpMax(sv)); // finite: lane 0 is valid
      const float alpha = exp2f(m[hh] - mn);
      const float pj = valid ? exp2f(sv - mn) : 0.0f;
      l[hh] = l[hh] * alpha + warpSum(pj);
      m[hh] = mn;
#pragma unroll
      for (int e = 0; e < E; ++e)
        acc[hh][e] *= alpha;
      s[hh] = pj;
    }
    const int nk = min(32, ke - kb + 1);
    for (int jj = 0; jj < nk; ++jj) {
      const u16 *vr = vBase + i64(kb + jj) * dv;
      float vv[E];
#pragma unroll
      for (int e = 0; e < E; ++e) {
        const int col = e * 32 + lane;
        vv[e] = col < dv ? T::load(vr[col]) : 0.0f;
      }
#pragma unroll
      for (int hh = 0; hh < MAXG; ++hh) {
        if (hh >= nh)
          break;
        const float pj = __shfl_sync(DJ_FULL_MASK, s[hh], jj);
#pragma unroll
        for (int e = 0; e < E; ++e)
          acc[hh][e] += pj * vv[e];
      }
    }
  }

  // Merge the warps.
#pragma unroll
  for (int hh = 0; hh < MAXG; ++hh) {
    if (hh >= nh)
      break;
    if (lane == 0) {
      wm[warp][hh] = m[hh];
      wl[warp][hh] = l[hh];
    }
#pragma unroll
    for (int e = 0; e < E; ++e)
      wacc[warp][hh][e * 32 + lane] = acc[hh][e];
  }
  __syncthreads();
  for (int i = tid; i < nh * dv; i += DJ_DEC_WARPS * 32) {
    const int hh = i / dv, col = i - hh * dv;
    float M = DJ_NEG_INF;
#pragma unroll
    for (int w = 0; w < DJ_DEC_WARPS; ++w)
      M = fmaxf(M, wm[w][hh]);
    float L = 0.0f, A = 0.0f;
    if (M != DJ_NEG_INF) {
#pragma unroll
      for (int w = 0; w < DJ_DEC_WARPS; ++w) {
        const float sc = exp2f(wm[w][hh] - M);
        L += wl[w][hh] * sc;
        A += wacc[w][hh][col] * sc;
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

template <typename T>
DJ_DEV void attnCombineBody(const float *partAcc, const float *partM,
                            const float *partL, u16 *o, i64 rows, int dv,
                            int nsplit) {
  const i64 total = rows * dv;
  for (i64 idx = globalThread(); idx < total; idx += globalStride()) {
    const i64 th = idx / dv;
    const int col = int(idx - th * dv);
    float M = DJ_NEG_INF;
    for (int s = 0; s < nsplit; ++s)
      M = fmaxf(M, partM[th * nsplit + s]);
    float L = 0.0f, A = 0.0f;
    if (M != DJ_NEG_INF)
      for (int s = 0; s < nsplit; ++s) {
        const i64 pi = th * nsplit + s;
        const float sc = exp2f(partM[pi] - M);
        L += partL[pi] * sc;
        A += partAcc[pi * dv + col] * sc;
      }
    o[idx] = T::store(L > 0.0f ? A / L : 0.0f);
  }
}

#define DJ_GLUE_ATTN_DECODE(TY, SUFFIX, E)                                     \
  extern "C" __global__ void __launch_bounds__(DJ_DEC_WARPS * 32)              \
      dj_glue_attn_decode_e##E##_##SUFFIX(                                     \
          const u16 *q, const u16 *kCache, const u16 *vCache, u16 *o,          \
          float *partAcc, float *partM, float *partL, const int *tokSeq,       \
          const int *tokPos, int H, int HKV, int d, int dv, i64 maxCtx,        \
          int window, float scaleLog2, int nsplit, int headChunks, int vecK) { \
    attnDecodeBody<TY, E>(q, kCache, vCache, o, partAcc, partM, partL, tokSeq, \
                          tokPos, H, HKV, d, dv, maxCtx, window, scaleLog2,    \
                          nsplit, headChunks, vecK);                           \
  }

#define DJ_GLUE_ATTN_KERNELS(TY, SUFFIX)                                       \
  DJ_GLUE_ATTN_PREFILL(TY, SUFFIX, 64, 64)                                     \
  DJ_GLUE_ATTN_PREFILL(TY, SUFFIX, 64, 128)                                    \
  DJ_GLUE_ATTN_PREFILL(TY, SUFFIX, 128, 64)                                    \
  DJ_GLUE_ATTN_PREFILL(TY, SUFFIX, 128, 128)                                   \
  DJ_GLUE_ATTN_DECODE(TY, SUFFIX, 2)                                           \
  DJ_GLUE_ATTN_DECODE(TY, SUFFIX, 4)                                           \
  DJ_GLUE_ATTN_DECODE(TY, SUFFIX, 8)                                           \
  extern "C" __global__ void dj_glue_attn_combine_##SUFFIX(                    \
      const float *partAcc, const float *partM, const float *partL, u16 *o,    \
      i64 rows, int dv, int nsplit) {                                          \
    attnCombineBody<TY>(partAcc, partM, partL, o, rows, dv, nsplit);           \
  }

DJ_GLUE_ATTN_KERNELS(Bf16, bf16)
DJ_GLUE_ATTN_KERNELS(F16, f16)
