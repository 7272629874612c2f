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

// ---- Counters
// -----------------------------------------------------------------

extern "C" __global__ void dj_glue_increment_i32(int *p, i64 n, int by) {
  for (i64 i = globalThread(); i < n; i += globalStride())
    p[i] += by;
}
