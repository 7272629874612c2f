//===- glue_rows.cu - embedding, norms, element-wise ops, gathers ---------===//
//
// Memory-bound kernels. Each takes `vec`: 1 when every pointer it touches is
// 16-byte aligned and the row length is a multiple of 8, so it moves 8
// elements per 16-byte access; 0 for the scalar path (any alignment).
// Element-wise kernels and gathers are grid-stride loops; the norms run
// blockDim.x threads (a power of two) per row and blockDim.y rows per block
// (see rowSum).
//
//===----------------------------------------------------------------------===//

// ---- Embedding --------------------------------------------------------------

template <int V>
DJ_DEV void embeddingBody(const int *ids, const u16 *table, u16 *y, i64 tokens,
                          i64 vocab, i64 dim, int *errorFlag) {
  const i64 nvec = dim / V;
  const i64 total = tokens * nvec;
  for (i64 idx = globalThread(); idx < total; idx += globalStride()) {
    i64 t = idx / nvec, c = (idx - t * nvec) * V;
    int id = ids[t];
    u16 *dst = y + t * dim + c;
    if (id < 0 || i64(id) >= vocab) {
      if (errorFlag && c == 0)
        *errorFlag = 1;
      if constexpr (V == 8)
        *reinterpret_cast<uint4 *>(dst) = make_uint4(0, 0, 0, 0);
      else
        *dst = 0;
      continue;
    }
    const u16 *src = table + i64(id) * dim + c;
    if constexpr (V == 8)
      *reinterpret_cast<uint4 *>(dst) = *reinterpret_cast<const uint4 *>(src);
    else
      *dst = *src;
  }
}

/// Raw 16-bit copies: one kernel serves bf16 and fp16.
extern "C" __global__ void dj_glue_embedding_b16(const int *ids,
                                                 const u16 *table, u16 *y,
                                                 i64 tokens, i64 vocab, i64 dim,
                                                 int *errorFlag, int vec) {
  if (vec)
    embeddingBody<8>(ids, table, y, tokens, vocab, dim, errorFlag);
  else
    embeddingBody<1>(ids, table, y, tokens, vocab, dim, errorFlag);
}

// ---- Gather -----------------------------------------------------------------

template <int V>
DJ_DEV void gatherBody(const u16 *src, const int *rows, u16 *dst, i64 n,
                       i64 dim) {
  const i64 nvec = dim / V;
  const i64 total = n * nvec;
  for (i64 idx = globalThread(); idx < total; idx += globalStride()) {
    i64 i = idx / nvec, c = (idx - i * nvec) * V;
    const u16 *s = src + i64(rows[i]) * dim + c;
    u16 *d = dst + i * dim + c;
    if constexpr (V == 8)
      *reinterpret_cast<uint4 *>(d) = *reinterpret_cast<const uint4 *>(s);
    else
      *d = *s;
  }
}

extern "C" __global__ void dj_glue_gather_rows_b16(const u16 *src,
                                                   const int *rows, u16 *dst,
                                                   i64 n, i64 dim, int vec) {
  if (vec)
    gatherBody<8>(src, rows, dst, n, dim);
  else
    gatherBody<1>(src, rows, dst, n, dim);
}

// ---- RMSNorm (optionally gated) and L2 norm
// ----------------------------------

/// One row per blockDim.x threads: pass 1 sums squares, pass 2 scales (the
/// row is re-read from L1/L2). y may alias x: each thread rewrites only the
/// elements it read.
template <typename T, int V, bool L2>
DJ_DEV void normBody(const u16 *x, const u16 *w, const u16 *gate, u16 *y,
                     i64 rows, i64 dim, float eps) {
  __shared__ float scratch[32];
  const i64 row = i64(blockIdx.x) * blockDim.y + threadIdx.y;
  const bool active = row < rows;
  const i64 nvec = dim / V;
  const u16 *xr = x + row * dim;
  float ss = 0.0f;
  if (active)
    for (i64 i = threadIdx.x; i < nvec; i += blockDim.x) {
      float v[V];
      loadV<T, V>(xr + i * V, v);
#pragma unroll
      for (int j = 0; j < V; ++j)
        ss += v[j] * v[j];
    }
  ss = rowSum(ss, scratch);
  if (!active)
    return;
  const float r = L2 ? rsqrtf(ss + eps) : rsqrtf(ss / float(dim) + eps);
  u16 *yr = y + row * dim;
  const u16 *gr = gate ? gate + row * dim : nullptr;
  for (i64 i = threadIdx.x; i < nvec; i += blockDim.x) {
    float v[V];
    loadV<T, V>(xr + i * V, v);
    if constexpr (!L2) {
      float wv[V];
      loadV<T, V>(w + i * V, wv);
#pragma unroll
      for (int j = 0; j < V; ++j)
        v[j] *= wv[j];
    }
#pragma unroll
    for (int j = 0; j < V; ++j)
      v[j] *= r;
    if (!L2 && gr) {
      float g[V];
      loadV<T, V>(gr + i * V, g);
#pragma unroll
      for (int j = 0; j < V; ++j)
        v[j] *= siluf(g[j]);
    }
    storeV<T, V>(yr + i * V, v);
  }
}

/// The residual add and the RMSNorm that follows it in every block, in one
/// pass: sum = a + b (rounded to T, as the separate add would store it),
/// y = rmsnorm(sum) * w. One block per row as normBody.
template <typename T, int V>
DJ_DEV void addNormBody(const u16 *a, const u16 *b, const u16 *w, u16 *sum,
                        u16 *y, i64 rows, i64 dim, float eps) {
  __shared__ float scratch[32];
  const i64 row = i64(blockIdx.x) * (blockDim.y) + threadIdx.y;
  const bool active = row < rows;
  const i64 nvec = dim / V;
  float ss = 0.0f;
  if (active)
    for (i64 i = threadIdx.x; i < nvec; i += blockDim.x) {
      float va[V], vb[V];
      loadV<T, V>(a + row * dim + i * V, va);
      loadV<T, V>(b + row * dim + i * V, vb);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        va[j] = T::load(T::store(va[j] + vb[j])); // what the add stores
        ss += va[j] * va[j];
      }
      storeV<T, V>(sum + row * dim + i * V, va);
    }
  ss = rowSum(ss, scratch);
  if (!active)
    return;
  const float r = rsqrtf(ss / float(dim) + eps);
  for (i64 i = threadIdx.x; i < nvec; i += blockDim.x) {
    float v[V], wv[V];
    loadV<T, V>(sum + row * dim + i * V, v); // this thread's own stores
    loadV<T, V>(w + i * V, wv);
#pragma unroll
    for (int j = 0; j < V; ++j)
      v[j] *= wv[j] * r;
    storeV<T, V>(y + row * dim + i * V, v);
  }
}

// ---- Element-wise
// -------------------------------------------------------------

/// op: 0 add (y = a + b), 1 swiglu (y = silu(a) * b), 2 activation of a
/// (`act`; b unused).
template <typename T>
DJ_DEV float pointwise(int op, int act, float a, float b) {
  return op == 0 ? a + b : op == 1 ? siluf(a) * b : activate(a, act);
}

template <typename T>
DJ_DEV void pointwiseBody(int op, int act, const u16 *a, const u16 *b, u16 *y,
                          i64 n, int vec) {
  i64 done = 0;
  if (vec) {
    const i64 nvec = n / 8;
    for (i64 i = globalThread(); i < nvec; i += globalStride()) {
      float va[8], vb[8];
      load8<T>(a + i * 8, va);
      if (b)
        load8<T>(b + i * 8, vb);
#pragma unroll
      for (int j = 0; j < 8; ++j)
        va[j] = pointwise<T>(op, act, va[j], b ? vb[j] : 0.0f);
      store8<T>(y + i * 8, va);
    }
    done = nvec * 8;
  }
  for (i64 i = done + globalThread(); i < n; i += globalStride()) {
    float va = T::load(a[i]);
    float vb = b ? T::load(b[i]) : 0.0f;
    y[i] = T::store(pointwise<T>(op, act, va, vb));
  }
}

template <typename T>
DJ_DEV void toFloatBody(const u16 *src, float *dst, i64 n, int vec) {
  i64 done = 0;
  if (vec) {
    const i64 nvec = n / 8;
    for (i64 i = globalThread(); i < nvec; i += globalStride()) {
      float v[8];
      load8<T>(src + i * 8, v);
      float4 *d = reinterpret_cast<float4 *>(dst + i * 8);
      d[0] = make_float4(v[0], v[1], v[2], v[3]);
      d[1] = make_float4(v[4], v[5], v[6], v[7]);
    }
    done = nvec * 8;
  }
  for (i64 i = done + globalThread(); i < n; i += globalStride())
    dst[i] = T::load(src[i]);
}

#define DJ_GLUE_ROW_KERNELS(TY, SUFFIX)                                        \
  extern "C" __global__ void dj_glue_rms_norm_##SUFFIX(                        \
      const u16 *x, const u16 *w, const u16 *gate, u16 *y, i64 rows, i64 dim,  \
      float eps, int vec) {                                                    \
    if (vec)                                                                   \
      normBody<TY, 8, false>(x, w, gate, y, rows, dim, eps);                   \
    else                                                                       \
      normBody<TY, 1, false>(x, w, gate, y, rows, dim, eps);                   \
  }                                                                            \
  extern "C" __global__ void dj_glue_add_rms_norm_##SUFFIX(                    \
      const u16 *a, const u16 *b, const u16 *w, u16 *sum, u16 *y, i64 rows,    \
      i64 dim, float eps, int vec) {                                           \
    if (vec)                                                                   \
      addNormBody<TY, 8>(a, b, w, sum, y, rows, dim, eps);                     \
    else                                                                       \
      addNormBody<TY, 1>(a, b, w, sum, y, rows, dim, eps);                     \
  }                                                                            \
  extern "C" __global__ void dj_glue_l2_norm_##SUFFIX(                         \
      const u16 *x, u16 *y, i64 rows, i64 dim, float eps, int vec) {           \
    if (vec)                                                                   \
      normBody<TY, 8, true>(x, nullptr, nullptr, y, rows, dim, eps);           \
    else                                                                       \
      normBody<TY, 1, true>(x, nullptr, nullptr, y, rows, dim, eps);           \
  }                                                                            \
  extern "C" __global__ void dj_glue_pointwise_##SUFFIX(                       \
      int op, int act, const u16 *a, const u16 *b, u16 *y, i64 n, int vec) {   \
    pointwiseBody<TY>(op, act, a, b, y, n, vec);                               \
  }                                                                            \
  extern "C" __global__ void dj_glue_to_float_##SUFFIX(                        \
      const u16 *src, float *dst, i64 n, int vec) {                            \
    toFloatBody<TY>(src, dst, n, vec);                                         \
  }

DJ_GLUE_ROW_KERNELS(Bf16, bf16)
DJ_GLUE_ROW_KERNELS(F16, f16)

// ---- Small-M linear (decode projections)
// ----------------------------------------------

// y[M, N] = x[M, K] w[N, K]^T (row-major; w is [out, in] as in PyTorch) for
// M <= 16, f32 accumulation. Memory-bound: every weight is read once from
// HBM with 16-byte loads that do not allocate in L1; x (at most 16 rows) is
// read through L1/L2 by every CTA.
//
// One CTA per DJ_LIN_ROWS = 8 output features (one n8 tile of
// mma.sync.m16n8k16: x is the 16-row A operand, rows >= M are zeros; the 8
// weight rows are the column-major B operand). Its blockDim.x / 32 warps
// split K into contiguous ranges of 32-element chunks; per chunk lane
// (g = lane / 4, t = lane % 4) loads 8 consecutive elements
// [32 c + 8 t, 32 c + 8 t + 8) of weight row n0 + g and of x rows g and
// g + 8 (16 bytes each), so a warp load covers 64 contiguous bytes of 8
// weight rows and no shuffle is needed: the chunk is 2 mma's over a
// permutation of its k (the same for A and B, so the sum is unchanged).
// DJ_LIN_UNROLL chunks are loaded before their mma's. The warps' partial
// 16x8 tiles are summed in shared memory in warp order (deterministic) and
// warp 0 stores y.
#define DJ_LIN_ROWS 8
#define DJ_LIN_MAX_WARPS 16
#define DJ_LIN_UNROLL 4

/// 16 bytes, read-only, streamed past L1 (weights: read once).
DJ_DEV uint4 ldStream16(const u16 *p) {
  uint4 r;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
      : "l"(p));
  return r;
}

/// 16 bytes, read-only, cached in L1 (x: read by every CTA).
DJ_DEV uint4 ldCached16(const u16 *p) {
  uint4 r;
  asm("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
      : "l"(p));
  return r;
}

/// Elements [k, k + 8) of `row` (of length K) as 4 packed pairs (lower k in
/// the low half), zeros past K or when !valid. VEC: 16-byte aligned rows and
/// K % 8 == 0 (a piece is then entirely inside or outside the row).
template <bool VEC, bool STREAM>
DJ_DEV uint4 linPiece(const u16 *row, i64 k, i64 K, bool valid) {
  uint4 r = make_uint4(0, 0, 0, 0);
  if (!valid)
    return r;
  if constexpr (VEC) {
    if (k < K)
      r = STREAM ? ldStream16(row + k) : ldCached16(row + k);
  } else {
    u32 h[8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
      h[i] = k + i < K ? u32(row[k + i]) : 0u;
    r.x = h[0] | (h[1] << 16);
    r.y = h[2] | (h[3] << 16);
    r.z = h[4] | (h[5] << 16);
    r.w = h[6] | (h[7] << 16);
  }
  return r;
}

template <typename T, bool VEC>
DJ_DEV void linearSmallMBody(const u16 *x, const u16 *w, u16 *y, int M, i64 N,
                             i64 K, float4 (*part)[32]) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const i64 n0 = i64(blockIdx.x) * DJ_LIN_ROWS;
  const bool nOk = n0 + g < N;
  const u16 *wr = w + (nOk ? n0 + g : 0) * K;
  const bool lo = g < M, hi = g + 8 < M;
  const u16 *x0 = x + (lo ? i64(g) * K : 0);
  const u16 *x1 = x + (hi ? i64(g + 8) * K : 0);

  const i64 chunks = (K + 31) / 32;
  const i64 per = (chunks + warps - 1) / warps;
  const i64 c0 = min(chunks, i64(warp) * per);
  const i64 c1 = min(chunks, c0 + per);
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (i64 c = c0; c < c1; c += DJ_LIN_UNROLL) {
    uint4 b[DJ_LIN_UNROLL], a0[DJ_LIN_UNROLL], a1[DJ_LIN_UNROLL];
#pragma unroll
    for (int u = 0; u < DJ_LIN_UNROLL; ++u) {
      const i64 k = (c + u) * 32 + t * 8;
      const bool in = c + u < c1;
      b[u] = linPiece<VEC, true>(wr, k, K, in && nOk);
      a0[u] = linPiece<VEC, false>(x0, k, K, in && lo);
      a1[u] = linPiece<VEC, false>(x1, k, K, in && hi);
    }
#pragma unroll
    for (int u = 0; u < DJ_LIN_UNROLL; ++u) {
      // Pieces hold k = 8t + {0..7}; mma 1 takes 8t + {0..3} (as its
      // k = 2t + {0, 1} and 2t + 8 + {0, 1}), mma 2 takes 8t + {4..7}.
      const u32 f0[4] = {a0[u].x, a1[u].x, a0[u].y, a1[u].y};
      mma16816<T>(acc, f0, b[u].x, b[u].y);
      const u32 f1[4] = {a0[u].z, a1[u].z, a0[u].w, a1[u].w};
      mma16816<T>(acc, f1, b[u].z, b[u].w);
    }
  }

  if (warps > 1) {
    if (warp > 0)
      part[warp - 1][lane] = make_float4(acc[0], acc[1], acc[2], acc[3]);
    __syncthreads();
    if (warp > 0)
      return;
    for (int i = 0; i < warps - 1; ++i) {
      const float4 p = part[i][lane];
      acc[0] += p.x;
      acc[1] += p.y;
      acc[2] += p.z;
      acc[3] += p.w;
    }
  }
  // Accumulator (m, n): c0, c1 = (g, 2t + {0, 1}), c2, c3 = (g + 8, ...).
  const i64 n = n0 + 2 * t;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int m = g + (i >> 1) * 8;
    const i64 col = n + (i & 1);
    if (m < M && col < N)
      y[i64(m) * N + col] = T::store(acc[i]);
  }
}

#define DJ_GLUE_LINEAR_KERNELS(TY, SUFFIX)                                     \
  extern "C" __global__ void __launch_bounds__(DJ_LIN_MAX_WARPS * 32)          \
      dj_glue_linear_small_m_##SUFFIX(const u16 *x, const u16 *w, u16 *y,      \
                                      int M, i64 N, i64 K, int vec) {          \
    __shared__ float4 part[DJ_LIN_MAX_WARPS - 1][32];                          \
    if (vec)                                                                   \
      linearSmallMBody<TY, true>(x, w, y, M, N, K, part);                      \
    else                                                                       \
      linearSmallMBody<TY, false>(x, w, y, M, N, K, part);                     \
  }

DJ_GLUE_LINEAR_KERNELS(Bf16, bf16)
DJ_GLUE_LINEAR_KERNELS(F16, f16)

// ---- Counters
// -----------------------------------------------------------------

extern "C" __global__ void dj_glue_increment_i32(int *p, i64 n, int by) {
  for (i64 i = globalThread(); i < n; i += globalStride())
    p[i] += by;
}
