//===- ModelSpec.h - model specs, config.json import, module builder -*- C++
//-*-===//
//
// The model frontend: a JSON model spec (docs/model-spec.md) or a Hugging
// Face / FLA `config.json` (model_type delta_net or gated_deltanet) becomes a
// ModelSpec, and a ModelSpec becomes a `delta` module shaped like
// frontend/examples/hybrid_deltanet_swa.mlir.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_FRONTEND_MODELSPEC_H
#define DELTAJIT_FRONTEND_MODELSPEC_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir {
class MLIRContext;
} // namespace mlir

namespace deltajit {
namespace frontend {

/// Element type of the weights and activations.
enum class DType { BF16, F16, F32 };

/// The softmax-attention layers of a hybrid model.
struct AttentionSpec {
  /// Indices of the attention layers (every other layer is a DeltaNet layer).
  std::vector<int64_t> layers;
  int64_t numHeads = 0;
  /// KV heads (grouped-query attention); numHeads when not given.
  int64_t numKVHeads = 0;
  /// Sliding window; none for global attention.
  std::optional<int64_t> windowSize;
  /// Rotary base; none for no rotary embeddings.
  std::optional<double> ropeTheta = 10000.0;
};

/// A DeltaNet-family model (ALGORITHM.md section 7).
struct ModelSpec {
  /// Symbol name of the module.
  std::string name = "model";
  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;
  int64_t numLayers = 0;
  /// Heads of the DeltaNet layers; q/k head dimension and v head dimension.
  int64_t numHeads = 0;
  int64_t headDim = 0;
  int64_t headVDim = 0;
  int64_t convSize = 4;
  bool useShortConv = true;
  /// Output gate: the per-head RMSNorm is gated by silu(g_proj(x)).
  bool useGate = true;
  /// L2-normalise q and k before the delta rule.
  bool qkL2Norm = true;
  double normEps = 1e-6;
  /// Width of the SwiGLU MLP.
  int64_t intermediateSize = 0;
  DType dtype = DType::BF16;
  /// Gated DeltaNet (gated_delta_rule); not supported yet.
  bool gated = false;
  /// The logits reuse the embedding table (no lm_head weight).
  bool tieWordEmbeddings = false;
  std::optional<AttentionSpec> attn;

  bool isAttentionLayer(int64_t layer) const;
};

/// An error in a spec or config: the field path (e.g. `attn.layers[2]`) and
/// what is wrong with it; for malformed JSON, no field but the 1-based line
/// and column.
struct SpecError {
  std::string field;
  std::string message;
  unsigned line = 0, column = 0;
};

/// FLA's default MLP width: int(hidden * ratio * 2 / 3) rounded up to a
/// multiple of 256.
int64_t defaultIntermediateSize(int64_t hiddenSize, int64_t hiddenRatio = 4);

/// Parses `text`: a FLA config.json when it has a `model_type` field, else a
/// deltajit model spec. `defaultName` names the module when the input does
/// not. Validates the result. Returns false and fills `error` on failure.
bool parseModelJSON(llvm::StringRef text, llvm::StringRef defaultName,
                    ModelSpec &spec, SpecError &error);

/// Checks the consistency of a spec (sizes, head splits, layer indices).
bool validateModelSpec(const ModelSpec &spec, SpecError &error);

/// Builds the `delta` module of a valid spec: weights as external
/// ml_program globals named like FLA checkpoints, a private function per
/// layer kind and @forward(ids) -> (logits, per-DeltaNet-layer states).
/// Loads the dialects it needs into `context`.
mlir::OwningOpRef<mlir::ModuleOp> buildModelModule(const ModelSpec &spec,
                                                   mlir::MLIRContext &context);

} // namespace frontend
} // namespace deltajit

#endif // DELTAJIT_FRONTEND_MODELSPEC_H
