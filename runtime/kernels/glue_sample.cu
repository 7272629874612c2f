//===- glue_sample.cu - next-token selection: argmax and Gumbel-max -------===//
//
// dj_glue_sample_<type>: one block (1024 threads) per row of logits. Greedy:
// argmax, lowest index on ties (NaN counts as -inf). Temperature T > 0: the
// Gumbel-max trick, argmax_i(logit_i / T + G_i) with G_i = -log(-log(u_i)),
// which is a sample of softmax(logits / T) in a single pass. u_i is a pure
// function of (seed, row, step, i):
//   key  = splitmix64(splitmix64(seed ^ (row * 0x9E3779B97F4A7C15))
//                     ^ (uint32(step) * 0xD1B54A32D192ED03))
//   bits = splitmix64(key + i * 0xBF58476D1CE4E5B9)
//   u    = ((bits >> 40) + 0.5) / 2^24          (in (0, 1), exact in f32)
// where step is read from the device (0 when no counter is given).
//
//===----------------------------------------------------------------------===//

#define DJ_SAMPLE_THREADS 1024

DJ_DEV u64 splitmix64(u64 x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

DJ_DEV float gumbel(u64 key, i64 i) {
  u64 bits = splitmix64(key + u64(i) * 0xBF58476D1CE4E5B9ull);
  float u = (float(u32(bits >> 40)) + 0.5f) * 5.9604644775390625e-8f;
  return -logf(-logf(u));
}

/// Keeps the better of (s, i) and (bs, bi): larger score, then lower index.
DJ_DEV void better(float &bs, int &bi, float s, int i) {
  if (s > bs || (s == bs && i < bi)) {
    bs = s;
    bi = i;
  }
}

template <typename T, int V>
DJ_DEV void sampleBody(const u16 *logits, i64 vocab, float invTemp, int greedy,
                       u64 seed, const int *step, int *outIds, int *nextIds) {
  __shared__ float ws[32];
  __shared__ int wi[32];
  const i64 row = blockIdx.x;
  const u16 *lr = logits + row * vocab;
  u64 key = 0;
  if (!greedy) {
    const u64 st = step ? u64(u32(*step)) : 0ull;
    key = splitmix64(splitmix64(seed ^ (u64(row) * 0x9E3779B97F4A7C15ull)) ^
                     (st * 0xD1B54A32D192ED03ull));
  }
  float bs = DJ_NEG_INF;
  int bi = 0x7fffffff;
  const i64 nvec = vocab / V;
  for (i64 i = threadIdx.x; i < nvec; i += blockDim.x) {
    float v[V];
    loadV<T, V>(lr + i * V, v);
#pragma unroll
    for (int u = 0; u < V; ++u) {
      const i64 idx = i * V + u;
      float s = v[u];
      if (s != s)
        s = DJ_NEG_INF;
      if (!greedy)
        s = s * invTemp + gumbel(key, idx);
      better(bs, bi, s, int(idx));
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float s = __shfl_xor_sync(DJ_FULL_MASK, bs, o);
    int i = __shfl_xor_sync(DJ_FULL_MASK, bi, o);
    better(bs, bi, s, i);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    ws[warp] = bs;
    wi[warp] = bi;
  }
  __syncthreads();
  if (warp == 0) {
    const int nw = blockDim.x >> 5;
    bs = lane < nw ? ws[lane] : DJ_NEG_INF;
    bi = lane < nw ? wi[lane] : 0x7fffffff;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      float s = __shfl_xor_sync(DJ_FULL_MASK, bs, o);
      int i = __shfl_xor_sync(DJ_FULL_MASK, bi, o);
      better(bs, bi, s, i);
    }
    if (lane == 0) {
      const int id = bi == 0x7fffffff ? 0 : bi;
      outIds[row] = id;
      if (nextIds)
        nextIds[row] = id;
    }
  }
}

#define DJ_GLUE_SAMPLE_KERNELS(TY, SUFFIX)                                     \
  extern "C" __global__ void __launch_bounds__(DJ_SAMPLE_THREADS)              \
      dj_glue_sample_##SUFFIX(const u16 *logits, i64 vocab, float invTemp,     \
                              int greedy, u64 seed, const int *step,           \
                              int *outIds, int *nextIds, int vec) {            \
    if (vec)                                                                   \
      sampleBody<TY, 8>(logits, vocab, invTemp, greedy, seed, step, outIds,    \
                        nextIds);                                              \
    else                                                                       \
      sampleBody<TY, 1>(logits, vocab, invTemp, greedy, seed, step, outIds,    \
                        nextIds);                                              \
  }

DJ_GLUE_SAMPLE_KERNELS(Bf16, bf16)
DJ_GLUE_SAMPLE_KERNELS(F16, f16)
