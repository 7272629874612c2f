//===- GlueProgram.h - the glue kernels' program and host-side checks -----===//
//
// The parts of GlueKernels that need no GPU, exposed for the unit tests and
// tools: the embedded CUDA C++ program (runtime/kernels/glue_*.cu), its
// kernel names, the NVRTC options, and the argument checks every
// GlueKernels call runs before touching the device (each throws
// Error(DJ_ERROR_INVALID_ARGUMENT) naming the argument; the arguments are
// those of the GlueKernels method of the same name, without the stream).
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_GLUEPROGRAM_H
#define DELTAJIT_RUNTIME_GLUEPROGRAM_H

#include "GlueKernels.h"

#include <string>
#include <vector>

namespace deltajit::glue {

/// The CUDA C++ source: every runtime/kernels/glue_*.cu, concatenated (with
/// #line directives naming each file).
const std::string &source();

/// Every `extern "C"` kernel of the program.
std::vector<std::string> kernelNames();

/// NVRTC options for a target architecture, e.g. "sm_90", "sm_90a" (cubin)
/// or "compute_80" (PTX).
std::vector<std::string> nvrtcOptions(const std::string &arch);

/// The largest sequence count the tensor-core prefill attention handles in
/// one launch (grid.z); bigger batches use the decode kernel.
inline constexpr int64_t kMaxGridZ = 65535;

/// Bytes of dynamic shared memory of the prefill attention kernel.
int64_t attentionPrefillSharedBytes(int64_t d, int64_t dv);

/// Launch shape of the decode (SIMT) attention kernel: one CTA of 4 warps
/// per (token, KV head, chunk of headsPerCta query heads of the group) x
/// `splits` key splits of `chunkKeys` keys each (splits * chunkKeys covers
/// the longest key range, min(window, maxCtx) or maxCtx; a split past a
/// token's position exits at once). n: 16-byte chunks of a row per lane
/// (max(d, dv) <= 64 * n). With splits > 1, dj_glue_attn_combine_<t>
/// merges the partials of the splits that hold keys. `window` is 0 for
/// none; `sms` the GPU's multiprocessors (splits aim for 4 CTAs per SM).
struct AttnDecodeShape {
  int n = 1;
  int headsPerCta = 1;
  int64_t headChunks = 1;
  int64_t splits = 1;
  int64_t chunkKeys = 1;
};
AttnDecodeShape attentionDecodeShape(int64_t tokens, int64_t heads,
                                     int64_t kvHeads, int64_t d, int64_t dv,
                                     int64_t maxCtx, int64_t window, int sms);

void checkEmbedding(dj_dtype_t dtype, CUdeviceptr ids, CUdeviceptr table,
                    CUdeviceptr y, int64_t tokens, int64_t vocab, int64_t dim);
void checkRmsNorm(dj_dtype_t dtype, CUdeviceptr x, CUdeviceptr w, CUdeviceptr y,
                  int64_t rows, int64_t dim, float eps);
void checkL2Norm(dj_dtype_t dtype, CUdeviceptr x, CUdeviceptr y, int64_t rows,
                 int64_t dim, float eps);
/// add, activation, swiglu, toFloat: `what` names the call.
void checkElementwise(const char *what, dj_dtype_t dtype, CUdeviceptr a,
                      CUdeviceptr b, CUdeviceptr y, int64_t n);
void checkActivation(GlueActivation act, const char *what);
void checkShortConv(dj_dtype_t dtype, CUdeviceptr x, CUdeviceptr w,
                    CUdeviceptr y, CUdeviceptr state, const SeqTables &seqs,
                    int64_t channels, int64_t kernelSize, GlueActivation act);
void checkRopeAppendKV(dj_dtype_t dtype, CUdeviceptr q, CUdeviceptr k,
                       CUdeviceptr v, CUdeviceptr kCache, CUdeviceptr vCache,
                       const SeqTables &seqs, int64_t heads, int64_t kvHeads,
                       int64_t d, int64_t dv, int64_t maxCtx, float ropeTheta);
void checkAttention(dj_dtype_t dtype, CUdeviceptr q, CUdeviceptr kCache,
                    CUdeviceptr vCache, CUdeviceptr o, const SeqTables &seqs,
                    int64_t heads, int64_t kvHeads, int64_t d, int64_t dv,
                    int64_t maxCtx, int64_t window, float scale);
void checkGatherRows(dj_dtype_t dtype, CUdeviceptr src, CUdeviceptr rows,
                     CUdeviceptr dst, int64_t n, int64_t dim);
void checkSample(dj_dtype_t dtype, CUdeviceptr logits, int64_t rows,
                 int64_t vocab, float temperature, CUdeviceptr outIds);
void checkIncrementI32(CUdeviceptr p, int64_t n);
void checkLinearSmallM(dj_dtype_t dtype, CUdeviceptr x, CUdeviceptr w,
                       CUdeviceptr y, int64_t M, int64_t N, int64_t K);

/// Launch shape of linearSmallM on a GPU of `sms` multiprocessors: one CTA
/// per 8 output features (grid.x = ceil(N / 8)) of `warps` warps (1..16)
/// that split K.
struct LinearSmallMShape {
  unsigned blocks = 0;
  unsigned warps = 0;
};
LinearSmallMShape linearSmallMShape(int64_t N, int64_t K, int sms);

} // namespace deltajit::glue

#endif // DELTAJIT_RUNTIME_GLUEPROGRAM_H
