//===- ReferenceModel.h - fp32 CPU reference of a whole deltajit model ----===//
//
// An independent, plain-loop implementation of the models the frontend
// builds (docs/model-spec.md, frontend/examples/hybrid_deltanet_swa.mlir):
// embedding, DeltaNet layers (RMSNorm, q/k/v projections, causal short
// convolution + SiLU, L2 norm, sigmoid beta, the delta-rule recurrence of
// ALGORITHM.md section 2, gated per-head RMSNorm, o_proj, residual) and
// softmax-attention layers (rotary, grouped KV heads, causal / sliding
// window), each followed by the SwiGLU MLP; final RMSNorm and lm_head (or
// the tied embeddings). Activations are fp32; weights are whatever the
// filler gives (the random init rounds them to the model dtype). The GPU
// model executor is checked against it. No MLIR, no CUDA.
//
// One sequence at a time: forward() continues a SequenceState (delta-rule
// states, short-convolution states, KV caches), so a prefill of T tokens
// equals T single-token calls.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_TEST_MODEL_REFERENCEMODEL_H
#define DELTAJIT_TEST_MODEL_REFERENCEMODEL_H

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace deltajit::reference {

/// Element type of the weights (and of the GPU model's activations).
enum class DType { BF16, F16, F32 };

/// The softmax-attention layers of a hybrid model (the spec's `attn`).
struct AttentionConfig {
  std::vector<int64_t> layers;
  int64_t numHeads = 0;
  int64_t numKVHeads = 0;                    ///< numHeads when not given
  std::optional<int64_t> windowSize;         ///< none: global attention
  std::optional<double> ropeTheta = 10000.0; ///< none: no rotary
};

/// A deltajit model spec (docs/model-spec.md), with defaults applied.
struct ReferenceConfig {
  std::string name = "model";
  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0; ///< DeltaNet heads
  int64_t headDim = 0;  ///< dk
  int64_t headVDim = 0; ///< dv
  int64_t convSize = 4;
  bool useShortConv = true;
  bool useGate = true;
  bool qkL2Norm = true;
  double normEps = 1e-6;
  int64_t intermediateSize = 0;
  DType dtype = DType::BF16;
  bool tieWordEmbeddings = false;
  std::optional<AttentionConfig> attn;

  bool isAttentionLayer(int64_t layer) const;
  /// Head dimension of the attention layers: hiddenSize / attn->numHeads.
  int64_t attnHeadDim() const;
};

/// Parses a deltajit JSON model spec (not a FLA config.json), applies the
/// defaults and validates it like the frontend. Throws std::runtime_error
/// "FIELD: MESSAGE" (e.g. "gated: ...", "attn.layers[1]: ...", "foo: unknown
/// field"); malformed JSON as "malformed JSON: ...".
ReferenceConfig parseModelSpec(const std::string &json);

/// Checks a config (sizes, head splits, layer indices); throws
/// std::runtime_error "FIELD: MESSAGE".
void validateConfig(const ReferenceConfig &config);

/// FLA's default MLP width: int(hidden * ratio * 2 / 3) rounded up to a
/// multiple of 256.
int64_t defaultIntermediateSize(int64_t hiddenSize, int64_t hiddenRatio = 4);

/// One weight tensor: its name (as the frontend's ml_program.global) and
/// shape (row-major).
struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
  int64_t numel() const;
};

/// Every weight of the model, in the order of the frontend's globals:
/// embeddings, layers.N.*, norm, lm_head (absent when tied).
std::vector<WeightSpec> weightSpecs(const ReferenceConfig &config);

/// Fills `dst` (numel() floats) with the values of one weight.
using WeightFiller = std::function<void(const WeightSpec &, float *dst)>;

/// Round to nearest even into the dtype, back as float (F32: unchanged).
float roundToBf16(float x);
float roundToFp16(float x);
float roundToDType(float x, DType dtype);

/// The runtime's deterministic random init (runtime/lib/RandomInit.h):
/// element i of weight `w` is randomInitValue(randomInitKey(seed, name),
/// isNormWeight(name), i), rounded to `dtype`.
void randomInitWeight(const WeightSpec &w, uint64_t seed, DType dtype,
                      float *dst);
WeightFiller randomInitFiller(uint64_t seed, DType dtype = DType::BF16);

/// What one layer carries from call to call for one sequence.
struct LayerState {
  // DeltaNet layers.
  std::vector<float> delta; ///< [H, dk, dv], S of ALGORITHM.md section 2
  /// Short-convolution states [channels, K - 1]: the last K - 1 inputs
  /// (projections before the convolution), oldest first; zeros initially.
  std::vector<float> convQ, convK, convV;
  // Attention layers: keys (after rotary) and values of positions
  // [kvStart, position), each position [HKV, d]; with a window only the
  // positions the next query can see are kept.
  std::vector<float> kCache, vCache;
  int64_t kvStart = 0;
};

/// The carried state of one sequence.
struct SequenceState {
  int64_t position = 0; ///< tokens consumed so far
  std::vector<LayerState> layers;
};

class ReferenceModel {
public:
  /// Validates `config` and fills every weight of weightSpecs(config) with
  /// `fill`.
  ReferenceModel(ReferenceConfig config, const WeightFiller &fill);

  /// The model with the runtime's random init (rounded to config.dtype).
  static ReferenceModel withRandomInit(ReferenceConfig config, uint64_t seed);

  const ReferenceConfig &config() const { return config_; }
  const std::vector<WeightSpec> &weightList() const { return specs_; }
  /// The values of a weight (row-major); throws std::out_of_range.
  const std::vector<float> &weight(const std::string &name) const;

  /// A fresh sequence (position 0, zero states, empty caches).
  SequenceState newSequence() const;

  /// Runs the tokens `ids` of one sequence, continuing `state` (which it
  /// updates), and returns the logits [ids.size(), vocabSize]. Throws
  /// std::out_of_range for an id outside [0, vocabSize) (state unchanged).
  std::vector<float> forward(SequenceState &state,
                             const std::vector<int32_t> &ids) const;

private:
  const std::vector<float> &w(int64_t layer, const char *name) const;
  void deltaLayer(int64_t l, LayerState &s, std::vector<float> &x,
                  int64_t T) const;
  void attentionLayer(int64_t l, LayerState &s, int64_t pos0,
                      std::vector<float> &x, int64_t T) const;
  void mlp(int64_t l, std::vector<float> &x, int64_t T) const;

  ReferenceConfig config_;
  std::vector<WeightSpec> specs_;
  std::map<std::string, std::vector<float>> weights_;
};

/// The op-level building blocks (exposed for hand-computed tests). Row
/// pointers are contiguous; all arithmetic accumulates in double unless
/// noted.
namespace ops {

/// y[t, n] = sum_k x[t, k] w[n, k] for t < T (fp32 accumulation, 8 partial
/// sums); y must not alias x.
void linear(const float *x, const float *w, float *y, int64_t T, int64_t N,
            int64_t K);

/// y = x * rsqrt(mean(x^2) + eps) * w, times silu(gate) when gate is given;
/// over one row of `dim`. y may alias x.
void rmsNorm(const float *x, const float *w, const float *gate, float *y,
             int64_t dim, double eps);

/// x *= rsqrt(sum(x^2) + eps) over one row, in place.
void l2Norm(float *x, int64_t dim, double eps = 1e-6);

float silu(float x);
float sigmoid(float x);

/// Causal depthwise convolution of T rows of `channels`:
/// y[t, c] = act(sum_{j<K} w[c, j] * x[t - K + 1 + j, c]) with earlier
/// inputs from state [channels, K - 1] (oldest first), which is then
/// replaced by the last K - 1 inputs. act = silu when `silu`.
void shortConv(const float *x, const float *w, float *y, float *state,
               int64_t T, int64_t channels, int64_t K, bool silu);

/// Rotary embedding of one head vector of dimension d at position `pos`
/// (GPT-NeoX / FLA halves: (x[i], x[i + d/2]) rotated by pos *
/// theta^(-2i/d)), in place.
void applyRotary(float *x, int64_t d, int64_t pos, double theta);

/// One delta-rule step of one head: S += beta k (v - S^T k)^T, then
/// o = scale S^T q. S is [dk, dv].
void deltaRuleStep(const float *q, const float *k, const float *v, float beta,
                   float *S, float *o, int64_t dk, int64_t dv, double scale);

/// Softmax attention of one query over n keys/values:
/// o = sum_j softmax_j(scale q . k_j) v_j; key j at keys + j * keyStride,
/// value j at values + j * valueStride.
void attendOne(const float *q, const float *keys, int64_t keyStride,
               const float *values, int64_t valueStride, int64_t n, int64_t d,
               int64_t dv, double scale, float *o);

} // namespace ops

} // namespace deltajit::reference

#endif // DELTAJIT_TEST_MODEL_REFERENCEMODEL_H
