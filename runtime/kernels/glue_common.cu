//===- glue_common.cu - types, conversions and reductions of glue kernels -===//
//
// The glue kernels (runtime/kernels/glue_*.cu, see runtime/lib/GlueKernels.h
// and docs/runtime-kernels.md) are compiled by NVRTC at run time as one
// program: this file first, then the others in the order CMake lists them.
// They include no header at all (no include path is needed on the GPU
// machine): 16-bit elements are raw `u16` bits, converted with PTX cvt
// (sm_80+). Kernels are `extern "C"` wrappers named dj_glue_<op>_<type>
// around templates on the element type (Bf16 / F16 tags).
//
//===----------------------------------------------------------------------===//

typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

#define DJ_DEV __device__ __forceinline__
#define DJ_NEG_INF __int_as_float(0xff800000)
#define DJ_FULL_MASK 0xffffffffu

// ---- Element types --------------------------------------------------------

struct Bf16 {
  static DJ_DEV float load(u16 b) { return __uint_as_float(u32(b) << 16); }
  static DJ_DEV float lo(u32 w) { return __uint_as_float(w << 16); }
  static DJ_DEV float hi(u32 w) { return __uint_as_float(w & 0xffff0000u); }
  static DJ_DEV u16 store(float f) {
    u16 r;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(f));
    return r;
  }
  /// Two floats as a packed pair: `lo` in bits 0-15.
  static DJ_DEV u32 pack(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
  }
};

struct F16 {
  static DJ_DEV float load(u16 b) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(b));
    return f;
  }
  static DJ_DEV float lo(u32 w) { return load(u16(w & 0xffffu)); }
  static DJ_DEV float hi(u32 w) { return load(u16(w >> 16)); }
  static DJ_DEV u16 store(float f) {
    u16 r;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r) : "f"(f));
    return r;
  }
  static DJ_DEV u32 pack(float lo, float hi) {
    u32 r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
  }
};

// ---- Vectors of 8 elements (16 bytes) --------------------------------------

template <typename T> DJ_DEV void load8(const u16 *p, float (&v)[8]) {
  uint4 r = *reinterpret_cast<const uint4 *>(p);
  u32 w[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    v[2 * i] = T::lo(w[i]);
    v[2 * i + 1] = T::hi(w[i]);
  }
}

template <typename T> DJ_DEV void store8(u16 *p, const float (&v)[8]) {
  uint4 r;
  r.x = T::pack(v[0], v[1]);
  r.y = T::pack(v[2], v[3]);
  r.z = T::pack(v[4], v[5]);
  r.w = T::pack(v[6], v[7]);
  *reinterpret_cast<uint4 *>(p) = r;
}

/// Loads V (8 or 1) consecutive elements.
template <typename T, int V> DJ_DEV void loadV(const u16 *p, float (&v)[V]) {
  if constexpr (V == 8)
    load8<T>(p, v);
  else
    v[0] = T::load(*p);
}

template <typename T, int V> DJ_DEV void storeV(u16 *p, const float (&v)[V]) {
  if constexpr (V == 8)
    store8<T>(p, v);
  else
    *p = T::store(v[0]);
}

// ---- Grid-stride helpers ----------------------------------------------------

DJ_DEV i64 globalThread() { return i64(blockIdx.x) * blockDim.x + threadIdx.x; }
DJ_DEV i64 globalStride() { return i64(gridDim.x) * blockDim.x; }

// ---- Math -------------------------------------------------------------------

DJ_DEV float siluf(float x) { return x / (1.0f + __expf(-x)); }
DJ_DEV float sigmoidf(float x) { return 1.0f / (1.0f + __expf(-x)); }

/// Activation codes (GlueActivation): -1 none, 0 silu, 1 sigmoid.
DJ_DEV float activate(float x, int act) {
  return act == 0 ? siluf(x) : act == 1 ? sigmoidf(x) : x;
}

// ---- Reductions -------------------------------------------------------------

DJ_DEV float warpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(DJ_FULL_MASK, v, o);
  return v;
}

DJ_DEV float warpMax(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(DJ_FULL_MASK, v, o));
  return v;
}

/// Sum over the blockDim.x threads of a row (blockDim.x a power of two; when
/// it is <= 32 several rows share a warp, blockDim.y of them per block; when
/// larger blockDim.y == 1). Every thread of the block must call it; all the
/// threads of the row get the total. `scratch` holds 32 floats.
DJ_DEV float rowSum(float v, float *scratch) {
  const int tpr = blockDim.x;
  if (tpr <= 32) {
    for (int o = tpr >> 1; o > 0; o >>= 1)
      v += __shfl_xor_sync(DJ_FULL_MASK, v, o);
    return v;
  }
  v = warpSum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  float t = lane < (tpr >> 5) ? scratch[lane] : 0.0f;
  return warpSum(t);
}

// ---- Tensor cores
// ------------------------------------------------------------

/// c += a * b for one m16n8k16 tile (a row-major, b column-major).
template <typename T>
DJ_DEV void mma16816(float (&c)[4], const u32 (&a)[4], u32 b0, u32 b1);

template <>
DJ_DEV void mma16816<Bf16>(float (&c)[4], const u32 (&a)[4], u32 b0, u32 b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <>
DJ_DEV void mma16816<F16>(float (&c)[4], const u32 (&a)[4], u32 b0, u32 b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
