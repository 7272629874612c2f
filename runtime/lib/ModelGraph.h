//===- ModelGraph.h - the "model" section of a package manifest -----------===//
//
// The host graph of a compiled model (written by deltac, codegen's
// ModelGraph.cpp; format in docs/package-format.md): per-token activation
// values, carried states, and the steps over them in program order. Parsing
// checks every field and every reference (values defined before use,
// weights listed in the manifest, states declared), so the executor
// (Model.cpp) can trust it. Host-only; unit-tested without a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_MODELGRAPH_H
#define DELTAJIT_RUNTIME_MODELGRAPH_H

#include "Weights.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace deltajit {

struct GraphValue {
  std::string name;
  std::string dtype; ///< "bf16", "fp16", "f32"
  int64_t width = 0; ///< elements per token
};

enum class StateKind { Delta, Conv, KV };

struct GraphState {
  std::string name;
  StateKind kind = StateKind::Delta;
  // Delta: [v_heads, dk, dv] f32.  Conv: [channels, kernel - 1] f32.
  // KV: k [kv_heads, max_context, d] and v [kv_heads, max_context, dv].
  int64_t vHeads = 0, dk = 0, dv = 0;
  int64_t channels = 0, kernel = 0;
  int64_t kvHeads = 0, d = 0;
  std::string dtype; ///< KV caches: element type
};

enum class StepOp {
  Embedding,
  RmsNorm,
  L2Norm,
  Linear,
  ShortConv,
  Activation,
  SwiGLU,
  Add,
  DeltaRule,
  Attention
};
const char *stepOpName(StepOp op);

/// An operand: a value of the graph, a weight ("@name") or the ids.
struct GraphRef {
  enum Kind { Value, Weight, Ids } kind = Value;
  int index = -1;   ///< into values or weights; -1 for Ids
  std::string name; ///< as written
};

struct GraphStep {
  StepOp op = StepOp::Add;
  std::string path; ///< "model.steps[i]", for messages
  std::map<std::string, GraphRef> in;
  int out = -1;   ///< value index
  int state = -1; ///< state index (conv, delta, kv)
  int64_t dim = 0, vocab = 0, inFeatures = 0, outFeatures = 0;
  int64_t channels = 0, kernel = 0;
  int64_t heads = 0, vHeads = 0, kvHeads = 0, dk = 0, dv = 0, d = 0;
  int64_t chunk = 0, window = 0;
  double eps = 0, scale = 0, ropeTheta = 0;
  bool useQkL2norm = false;
  std::string activation; ///< "silu", "sigmoid", "none"
  std::string dtype;

  bool has(const std::string &role) const { return in.count(role) != 0; }
  const GraphRef &operand(const std::string &role) const { return in.at(role); }
};

struct ModelGraph {
  std::string dtype;    ///< activations and weights
  std::string idsDtype; ///< "i32" or "i64" (the runtime always takes int32)
  int64_t vocab = 0, hidden = 0;
  int logits = -1; ///< value index
  std::vector<GraphValue> values;
  std::vector<GraphState> states;
  std::vector<GraphStep> steps;
  std::vector<TensorInfo> weights; ///< manifest "weights", in order
  int weightIndex(const std::string &name) const;
};

/// Parses manifest["model"] (with manifest["weights"]) of `fileName`.
/// Throws Error(DJ_ERROR_PACKAGE) naming the field path.
ModelGraph parseModelGraph(const nlohmann::json &manifest,
                           const std::string &fileName);

/// Reads `<dir>/manifest.json` and parses its model section; throws
/// Error(DJ_ERROR_PACKAGE) when the package has none ("not a model
/// package") or it is malformed.
ModelGraph readModelGraph(const std::string &packageDir);

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_MODELGRAPH_H
