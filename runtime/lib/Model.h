//===- Model.h - the graph executor: models, sessions, prefill, decode ----===//
//
// A Model is a loaded model package (kernels JIT-compiled, weights on the
// device from a safetensors checkpoint or the deterministic random init of
// RandomInit.h). A Session holds the carried state of up to `maxBatch`
// sequences (delta-rule states, short-convolution states, KV caches) and
// runs the graph's steps over packed tokens:
// - prefill: prompts of unequal lengths, one per slot 0..n-1, each continuing
//   its slot's state;
// - decode: one token per active slot, optionally replayed from a captured
//   CUDA graph.
// Kernels: delta-rule layers from the package (deltac), projections through
// cuBLASLt (Blas.h), everything else through GlueKernels (NVRTC).
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_MODEL_H
#define DELTAJIT_RUNTIME_MODEL_H

#include "ModelGraph.h"
#include "deltajit/deltajit.h"

#include <cuda.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace deltajit {

class Blas;
class Context;
class GlueKernels;
class Package;
struct SeqTables;

class Model {
public:
  /// Loads the package in `dir` (it must have a "model" section) and its
  /// weights: from the safetensors file `weightsPath` (checked against the
  /// manifest: every problem is named), or random with `seed` when
  /// `weightsPath` is empty. The caller holds a ContextScope.
  static std::unique_ptr<Model> load(std::shared_ptr<Context> ctx,
                                     const std::string &dir,
                                     const std::string &weightsPath,
                                     uint64_t seed);
  /// Frees device memory; the caller holds a ContextScope. Idempotent.
  void release() noexcept;
  ~Model();

  Context &context() const { return *ctx_; }
  const ModelGraph &graph() const { return graph_; }
  Package &package() const { return *package_; }
  GlueKernels &glue() const { return *glue_; }
  Blas &blas() const { return *blas_; }
  dj_dtype_t dtype() const { return dtype_; }
  size_t elementSize() const { return 2; }
  CUdeviceptr weight(int index) const { return weights_[index]; }
  uint64_t weightBytes() const { return weightBytes_; }
  double loadSeconds() const { return loadSeconds_; }

private:
  Model() = default;
  void loadWeights(const std::string &weightsPath, uint64_t seed);

  std::shared_ptr<Context> ctx_;
  ModelGraph graph_;
  std::unique_ptr<Package> package_;
  std::unique_ptr<GlueKernels> glue_;
  std::unique_ptr<Blas> blas_;
  dj_dtype_t dtype_ = DJ_DTYPE_BF16;
  std::vector<CUdeviceptr> weights_;
  uint64_t weightBytes_ = 0;
  double loadSeconds_ = 0;
};

/// Device buffers for the graph's values at some token capacity, assigned
/// by liveness (values whose lifetimes do not overlap share a buffer).
class ValuePool {
public:
  /// Plans the buffer assignment of `graph`'s values.
  explicit ValuePool(const ModelGraph &graph);
  /// Makes every buffer hold `tokens` rows (grows, never shrinks). The
  /// caller holds a ContextScope; growing frees the old buffers (callers
  /// synchronize first).
  void reserve(Context &ctx, int64_t tokens, size_t elementSize);
  CUdeviceptr value(int index) const { return buffers_[bufferOf_[index]]; }
  int numBuffers() const { return int(widths_.size()); }
  /// The buffer of each value (for tests).
  const std::vector<int> &assignment() const { return bufferOf_; }
  void release(Context &ctx) noexcept;

private:
  std::vector<int> bufferOf_;
  std::vector<int64_t> widths_;
  std::vector<CUdeviceptr> buffers_;
  int64_t capacity_ = 0;
};

/// Per-step GPU times (CUDA events around every graph step, outside CUDA
/// graphs), summed by op kind and printed to stderr when the session is
/// destroyed. On when $DELTAJIT_PROFILE is set (and not "0").
struct StepProfiler {
  struct Totals {
    double ms = 0;
    int64_t calls = 0;
  };
  StepProfiler();
  void begin(Context &ctx, size_t marks);
  void mark(CUstream stream, size_t index);
  void end(Context &ctx, CUstream stream, const ModelGraph &g, size_t steps,
           bool prefill);
  void report() const;

  bool enabled = false;
  const struct Driver *driver = nullptr;
  std::vector<CUevent> events;
  std::map<std::string, Totals> totals;
};

class Session {
public:
  struct Options {
    int64_t maxBatch = 1;
    int64_t maxContext = 4096;
    bool useCudaGraph = true;
  };
  /// Allocates the states of `maxBatch` slots (zeroed). Caller holds a
  /// ContextScope.
  Session(Model &model, const Options &options);
  ~Session();
  void release() noexcept;

  const Options &options() const { return options_; }
  int64_t activeBatch() const { return active_; }
  int64_t length(int64_t slot) const { return lengths_.at(size_t(slot)); }

  /// Zeroes the states of `slot` (all slots when slot < 0).
  void reset(int64_t slot);

  /// Runs the prompts `ids` (concatenated; lengths[i] tokens for slot i,
  /// i < n) and makes slots 0..n-1 the active batch. logits (f32, host):
  /// [n, vocab] of each sequence's last token, or every token's
  /// [sum(lengths), vocab] when allLogits; nextIds (host) [n] the sampled
  /// next tokens (kept as the next decode input). Either may be null.
  void prefill(const int32_t *ids, const int64_t *lengths, int64_t n,
               float temperature, uint64_t seed, float *logits, bool allLogits,
               int32_t *nextIds);

  /// One decode step for the active batch: input ids (host, [n]) or, when
  /// null, the tokens sampled by the previous prefill/step. Outputs as for
  /// prefill (logits [n, vocab]).
  void decode(const int32_t *ids, float temperature, uint64_t seed,
              float *logits, int32_t *nextIds);

  /// `steps` decode steps feeding each sampled token back; outIds (host)
  /// [steps, n]. Uses a captured CUDA graph when enabled.
  void generate(int64_t steps, float temperature, uint64_t seed,
                int32_t *outIds);

  /// State access: bytes per sequence of state `index`, read/write of one
  /// slot (KV caches: the k cache then the v cache).
  uint64_t stateBytes(size_t index) const;
  void readState(size_t index, int64_t slot, void *host, size_t bytes);
  void writeState(size_t index, int64_t slot, const void *host, size_t bytes);
  void setLength(int64_t slot, int64_t length);

  CUstream stream() const { return stream_; }

  /// Throws DJ_ERROR_INVALID_ARGUMENT unless 0 <= slot < maxBatch.
  void checkSlot(int64_t slot) const;

private:
  /// A contiguous device range of one slot's state and where it goes in the
  /// caller's buffer (KV states have two: the k and the v cache).
  struct StatePiece {
    CUdeviceptr device;
    uint64_t hostOffset, bytes;
  };
  /// Validates a state access (index, slot, size), waits for the stream and
  /// returns the pieces.
  std::vector<StatePiece> statePieces(size_t index, int64_t slot, size_t bytes);
  /// Runs every step for `tokens` packed tokens described by `seqs`;
  /// `lastRows` (device int32 [numSeqs], or 0) selects the rows the logits
  /// are computed for. Returns the logits pointer ([rows, vocab]).
  CUdeviceptr runGraph(ValuePool &pool, const SeqTables &seqs, CUdeviceptr ids,
                       CUdeviceptr lastRows, bool prefill);
  /// Logits [rows, vocab] to the host as f32 (waits for the stream).
  void copyLogits(CUdeviceptr logits, int64_t rows, float *host);
  /// The sampled ids to the host (when `host`); they feed the next decode.
  void copyNextIds(int32_t *host);
  void sampleAndCopy(CUdeviceptr logits, int64_t rows, float temperature,
                     uint64_t seed, float *hostLogits, int32_t *nextIds);
  void checkContext(const int64_t *extra, int64_t n) const;
  void decodeStep(float temperature, uint64_t seed); ///< queues one step
  void uploadDecodeTables();
  void dropGraph() noexcept;

  Model &model_;
  Options options_;
  CUstream stream_ = nullptr;
  std::vector<CUdeviceptr> states_;  ///< per graph state: [maxBatch, ...]
  std::vector<CUdeviceptr> vCaches_; ///< KV states: the v cache
  std::vector<int64_t> lengths_;
  std::vector<int64_t> hostCu_; ///< the current prefill's cu_seqlens
  int64_t active_ = 0;
  bool haveNext_ = false;
  ValuePool prefillPool_, decodePool_;
  // Small device buffers (int32): decode tables and sampling outputs.
  CUdeviceptr dIds_ = 0, dPos_ = 0, dIota_ = 0, dStep_ = 0, dSampled_ = 0;
  CUdeviceptr dLogitsF32_ = 0, dLastRows_ = 0, dErr_ = 0, dGather_ = 0;
  int64_t logitsF32Rows_ = 0, gatherRows_ = 0;
  CUdeviceptr dLogits_ = 0; ///< [maxBatch, vocab] last-token logits
  // Prefill scratch tables (grown).
  CUdeviceptr pIds_ = 0, pSeq_ = 0, pPos_ = 0, pCu_ = 0;
  int64_t pTokens_ = 0;
  // The captured decode step.
  CUgraphExec graphExec_ = nullptr;
  int64_t graphBatch_ = -1;
  float graphTemperature_ = 0;
  uint64_t graphSeed_ = 0;
  StepProfiler profiler_;
};

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_MODEL_H
