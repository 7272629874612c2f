//===- ModelSpec.cpp - JSON model specs and FLA config.json import --------===//
//
// Reads a deltajit model spec or a FLA `config.json` into a ModelSpec and
// checks it; every error names the field path and the offending value.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Frontend/ModelSpec.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <cmath>
#include <set>

using namespace deltajit::frontend;
namespace json = llvm::json;

bool ModelSpec::isAttentionLayer(int64_t layer) const {
  return attn && llvm::is_contained(attn->layers, layer);
}

int64_t deltajit::frontend::defaultIntermediateSize(int64_t hiddenSize,
                                                    int64_t hiddenRatio) {
  int64_t size = int64_t(double(hiddenSize) * double(hiddenRatio) * 2.0 / 3.0);
  return 256 * ((size + 255) / 256);
}

namespace {

std::string show(const json::Value &v) { return llvm::formatv("{0}", v).str(); }

/// Reads the fields of one JSON object, tracking which keys were used so the
/// rest can be reported as unknown. Every getter returns false after filling
/// the error.
class ObjectReader {
public:
  ObjectReader(const json::Object &object, std::string path, SpecError &error)
      : object(object), path(std::move(path)), error(error) {}

  std::string fieldPath(llvm::StringRef key) const {
    return path.empty() ? key.str() : path + "." + key.str();
  }

  bool fail(llvm::StringRef key, const llvm::Twine &message) {
    error.field = fieldPath(key);
    error.message = message.str();
    return false;
  }

  /// The value of `key` (marking it used), or null when absent. A missing
  /// required field is an error.
  const json::Value *lookup(llvm::StringRef key, bool required, bool &ok) {
    used.insert(key);
    const json::Value *v = object.get(key);
    ok = true;
    if (!v && required)
      ok = fail(key, "missing required field");
    return v;
  }

  bool has(llvm::StringRef key) const { return object.get(key) != nullptr; }

  /// Integer field; `allowNull` accepts JSON null (leaving `present` false).
  bool getInt(llvm::StringRef key, int64_t &out, bool required,
              bool *present = nullptr, bool allowNull = false) {
    return getScalar(key, out, required, present, allowNull,
                     &json::Value::getAsInteger, "an integer");
  }

  bool getNumber(llvm::StringRef key, double &out, bool required,
                 bool *present = nullptr, bool allowNull = false) {
    return getScalar(key, out, required, present, allowNull,
                     &json::Value::getAsNumber, "a number");
  }

  /// Shared reading of integer and number fields through `as`.
  template <typename T>
  bool getScalar(llvm::StringRef key, T &out, bool required, bool *present,
                 bool allowNull, std::optional<T> (json::Value::*as)() const,
                 llvm::StringRef what) {
    bool ok;
    const json::Value *v = lookup(key, required, ok);
    if (present)
      *present = false;
    if (!ok || !v)
      return ok;
    if (allowNull && v->getAsNull())
      return true;
    std::optional<T> x = (v->*as)();
    if (!x)
      return fail(key, "expected " + what +
                           llvm::Twine(allowNull ? " or null" : "") + ", got " +
                           show(*v));
    out = *x;
    if (present)
      *present = true;
    return true;
  }

  bool getBool(llvm::StringRef key, bool &out, bool required = false) {
    bool ok;
    const json::Value *v = lookup(key, required, ok);
    if (!ok || !v)
      return ok;
    std::optional<bool> b = v->getAsBoolean();
    if (!b)
      return fail(key, "expected true or false, got " + show(*v));
    out = *b;
    return true;
  }

  bool getString(llvm::StringRef key, std::string &out, bool required,
                 bool *present = nullptr, bool allowNull = false) {
    bool ok;
    const json::Value *v = lookup(key, required, ok);
    if (present)
      *present = false;
    if (!ok || !v)
      return ok;
    if (allowNull && v->getAsNull())
      return true;
    std::optional<llvm::StringRef> s = v->getAsString();
    if (!s)
      return fail(key, "expected a string" +
                           llvm::Twine(allowNull ? " or null" : "") + ", got " +
                           show(*v));
    out = s->str();
    if (present)
      *present = true;
    return true;
  }

  /// Accepts a boolean field only when it has the value `supported`.
  bool requireBool(llvm::StringRef key, bool supported, llvm::StringRef why) {
    bool value = supported;
    if (!getBool(key, value))
      return false;
    if (value != supported)
      return fail(key, llvm::Twine(value ? "true" : "false") +
                           " is not supported yet (" + why + ")");
    return true;
  }

  /// Fails on the first key neither read nor in `ignored`.
  bool checkUnknown(llvm::ArrayRef<llvm::StringRef> ignored = {}) {
    for (const auto &kv : object) {
      llvm::StringRef key = kv.first;
      if (used.contains(key) || llvm::is_contained(ignored, key))
        continue;
      return fail(key, "unknown field");
    }
    return true;
  }

private:
  const json::Object &object;
  std::string path;
  SpecError &error;
  llvm::StringSet<> used;
};

/// Reads an `attn` object (the same field names in both formats).
bool readAttention(const json::Value &value, const std::string &path,
                   AttentionSpec &attn, SpecError &error, bool flaConfig) {
  const json::Object *object = value.getAsObject();
  if (!object) {
    error.field = path;
    error.message = "expected an object or null, got " + show(value);
    return false;
  }
  ObjectReader r(*object, path, error);
  bool ok;
  const json::Value *layers = r.lookup("layers", /*required=*/true, ok);
  if (!ok)
    return false;
  const json::Array *array = layers->getAsArray();
  if (!array)
    return r.fail("layers",
                  "expected an array of layer indices, got " + show(*layers));
  for (auto [i, layer] : llvm::enumerate(*array)) {
    std::optional<int64_t> index = layer.getAsInteger();
    if (!index) {
      error.field = r.fieldPath("layers") + "[" + std::to_string(i) + "]";
      error.message = "expected an integer layer index, got " + show(layer);
      return false;
    }
    attn.layers.push_back(*index);
  }
  bool present = false;
  if (!r.getInt("num_heads", attn.numHeads, /*required=*/true) ||
      !r.getInt("num_kv_heads", attn.numKVHeads, false, &present,
                /*allowNull=*/true))
    return false;
  if (!present)
    attn.numKVHeads = attn.numHeads;
  int64_t window = 0;
  if (!r.getInt("window_size", window, false, &present, /*allowNull=*/true))
    return false;
  if (present)
    attn.windowSize = window;
  double theta = 10000.0;
  bool thetaGiven = r.has("rope_theta");
  if (!r.getNumber("rope_theta", theta, false, &present, /*allowNull=*/true))
    return false;
  if (present)
    attn.ropeTheta = theta;
  else if (thetaGiven)
    attn.ropeTheta = std::nullopt;
  if (flaConfig &&
      !r.requireBool("qkv_bias", false, "attention projections have no bias"))
    return false;
  return r.checkUnknown();
}

bool readDType(ObjectReader &r, llvm::StringRef key, DType &dtype,
               bool torchNames) {
  std::string name;
  bool present = false;
  if (!r.getString(key, name, false, &present, /*allowNull=*/torchNames))
    return false;
  if (!present)
    return true;
  if (name == (torchNames ? "bfloat16" : "bf16"))
    dtype = DType::BF16;
  else if (name == (torchNames ? "float16" : "fp16"))
    dtype = DType::F16;
  else if (name == (torchNames ? "float32" : "fp32"))
    dtype = DType::F32;
  else
    return r.fail(key, "unsupported dtype \"" + name + "\" (expected " +
                           (torchNames ? "bfloat16, float16 or float32"
                                       : "bf16, fp16 or fp32") +
                           ")");
  return true;
}

/// The deltajit model spec (docs/model-spec.md).
bool readSpec(const json::Object &object, ModelSpec &spec, SpecError &error) {
  ObjectReader r(object, "", error);
  if (!r.getString("name", spec.name, false) ||
      !r.getInt("vocab_size", spec.vocabSize, true) ||
      !r.getInt("hidden_size", spec.hiddenSize, true) ||
      !r.getInt("num_layers", spec.numLayers, true) ||
      !r.getInt("num_heads", spec.numHeads, true))
    return false;
  bool hasHeadDim = false, hasHeadVDim = false, hasInter = false;
  if (!r.getInt("head_dim", spec.headDim, false, &hasHeadDim) ||
      !r.getInt("head_v_dim", spec.headVDim, false, &hasHeadVDim) ||
      !r.getInt("conv_size", spec.convSize, false) ||
      !r.getBool("use_short_conv", spec.useShortConv) ||
      !r.getBool("use_gate", spec.useGate) ||
      !r.getBool("qk_l2_norm", spec.qkL2Norm) ||
      !r.getNumber("norm_eps", spec.normEps, false) ||
      !r.getInt("intermediate_size", spec.intermediateSize, false, &hasInter) ||
      !readDType(r, "dtype", spec.dtype, /*torchNames=*/false) ||
      !r.getBool("gated", spec.gated) ||
      !r.getBool("tie_word_embeddings", spec.tieWordEmbeddings))
    return false;
  bool ok;
  if (const json::Value *attn = r.lookup("attn", false, ok);
      attn && !attn->getAsNull()) {
    spec.attn.emplace();
    if (!readAttention(*attn, "attn", *spec.attn, error, false))
      return false;
  }
  std::string description;
  if (!r.getString("description", description, false) || !r.checkUnknown())
    return false;

  if (!hasHeadDim) {
    if (spec.numHeads <= 0 || spec.hiddenSize % spec.numHeads != 0)
      return r.fail("num_heads",
                    llvm::formatv("{0} does not divide hidden_size {1} (give "
                                  "head_dim explicitly)",
                                  spec.numHeads, spec.hiddenSize));
    spec.headDim = spec.hiddenSize / spec.numHeads;
  }
  if (!hasHeadVDim)
    spec.headVDim = spec.headDim;
  if (!hasInter)
    spec.intermediateSize = defaultIntermediateSize(spec.hiddenSize);
  return true;
}

/// Fields of FLA / Hugging Face configs that do not change the forward pass.
const llvm::StringRef kIgnoredConfigFields[] = {"_name_or_path",
                                                "architectures",
                                                "attn_mode",
                                                "bos_token_id",
                                                "eos_token_id",
                                                "pad_token_id",
                                                "fuse_cross_entropy",
                                                "fuse_linear_cross_entropy",
                                                "fuse_norm",
                                                "fuse_swiglu",
                                                "initializer_range",
                                                "max_position_embeddings",
                                                "transformers_version",
                                                "use_cache",
                                                "use_l2warp"};

/// Per-head dimension `hidden * expand / heads`, checking the split.
bool splitHeads(ObjectReader &r, llvm::StringRef key, int64_t hidden,
                double expand, int64_t heads, int64_t &dim) {
  double total = double(hidden) * expand;
  if (total != std::floor(total) || total <= 0)
    return r.fail(key, llvm::formatv("hidden_size * {0} = {1} is not a "
                                     "positive integer",
                                     key, total));
  if (heads <= 0 || int64_t(total) % heads != 0)
    return r.fail("num_heads",
                  llvm::formatv("{0} does not divide hidden_size * {1} = {2}",
                                heads, key, int64_t(total)));
  dim = int64_t(total) / heads;
  return true;
}

/// A FLA config.json of model_type delta_net or gated_deltanet.
bool readFLAConfig(const json::Object &object, llvm::StringRef modelType,
                   ModelSpec &spec, SpecError &error) {
  ObjectReader r(object, "", error);
  bool ok;
  r.lookup("model_type", true, ok);
  spec.gated = modelType == "gated_deltanet";
  if (!r.getInt("vocab_size", spec.vocabSize, true) ||
      !r.getInt("hidden_size", spec.hiddenSize, true) ||
      !r.getInt("num_hidden_layers", spec.numLayers, true) ||
      !r.getInt("num_heads", spec.numHeads, true))
    return false;

  // Head dimensions: delta_net uses expand_k / expand_v (head_dim, when
  // given, overrides expand_k); gated_deltanet uses head_dim and expand_v.
  double expandK = 1.0, expandV = spec.gated ? 2.0 : 1.0;
  bool hasHeadDim = false;
  int64_t headDim = spec.gated ? 256 : 0;
  if (!r.getNumber("expand_k", expandK, false) ||
      !r.getNumber("expand_v", expandV, false) ||
      !r.getInt("head_dim", headDim, false, &hasHeadDim, /*allowNull=*/true))
    return false;
  if (spec.gated || hasHeadDim) {
    if (headDim <= 0)
      return r.fail("head_dim",
                    llvm::formatv("must be positive, got {0}", headDim));
    spec.headDim = headDim;
    double v = double(headDim) * expandV;
    if (v != std::floor(v) || v <= 0)
      return r.fail("expand_v",
                    llvm::formatv("head_dim * expand_v = {0} is not a "
                                  "positive integer",
                                  v));
    spec.headVDim = int64_t(v);
  } else if (!splitHeads(r, "expand_k", spec.hiddenSize, expandK, spec.numHeads,
                         spec.headDim) ||
             !splitHeads(r, "expand_v", spec.hiddenSize, expandV, spec.numHeads,
                         spec.headVDim)) {
    return false;
  }

  spec.useGate = spec.gated; // FLA's defaults: false (delta_net), true.
  if (!r.getBool("use_gate", spec.useGate) ||
      !r.getBool("use_short_conv", spec.useShortConv) ||
      !r.getInt("conv_size", spec.convSize, false) ||
      !r.getNumber("norm_eps", spec.normEps, false) ||
      !r.getBool("tie_word_embeddings", spec.tieWordEmbeddings) ||
      !readDType(r, "torch_dtype", spec.dtype, /*torchNames=*/true))
    return false;
  if (!spec.gated &&
      (!r.requireBool("use_beta", true,
                      "beta = sigmoid(b_proj(x)) is "
                      "always used") ||
       !r.requireBool("use_output_norm", true,
                      "the per-head output RMSNorm is always applied")))
    return false;
  if (spec.gated) {
    if (!r.requireBool("allow_neg_eigval", false, "beta stays in (0, 1)"))
      return false;
    int64_t numVHeads = spec.numHeads;
    bool present = false;
    if (!r.getInt("num_v_heads", numVHeads, false, &present, true))
      return false;
    if (present && numVHeads != spec.numHeads)
      return r.fail("num_v_heads",
                    llvm::formatv("{0} differs from num_heads {1}; grouped "
                                  "value heads are not supported yet",
                                  numVHeads, spec.numHeads));
  }

  // String-valued choices of which only FLA's defaults are supported.
  auto requireString = [&](llvm::StringRef key,
                           llvm::ArrayRef<llvm::StringRef> supported) {
    std::string value;
    bool present = false;
    if (!r.getString(key, value, false, &present))
      return false;
    if (present && !llvm::is_contained(supported, value))
      return r.fail(key, llvm::Twine("\"") + value +
                             "\" is not supported (expected \"" +
                             supported.front() + "\")");
    return true;
  };
  if ((!spec.gated && !requireString("qk_norm", {"l2"})) ||
      (!spec.gated && !requireString("qk_activation", {"silu"})) ||
      !requireString("hidden_act", {"swish", "silu"}))
    return false;
  spec.qkL2Norm = true;

  // MLP width: intermediate_size, else FLA's rule from hidden_ratio.
  int64_t ratio = 4;
  bool hasInter = false, hasRatio = false;
  if (!r.getInt("intermediate_size", spec.intermediateSize, false, &hasInter,
                /*allowNull=*/true) ||
      !r.getInt("hidden_ratio", ratio, false, &hasRatio, /*allowNull=*/true))
    return false;
  if (!hasInter) {
    if (ratio <= 0)
      return r.fail("hidden_ratio",
                    llvm::formatv("must be positive, got {0}", ratio));
    spec.intermediateSize = defaultIntermediateSize(spec.hiddenSize, ratio);
  }

  if (const json::Value *attn = r.lookup("attn", false, ok);
      attn && !attn->getAsNull()) {
    spec.attn.emplace();
    if (!readAttention(*attn, "attn", *spec.attn, error, true))
      return false;
  }
  return r.checkUnknown(kIgnoredConfigFields);
}

bool positive(const char *field, int64_t value, SpecError &error) {
  if (value > 0)
    return true;
  error.field = field;
  error.message = llvm::formatv("must be positive, got {0}", value).str();
  return false;
}

} // namespace

bool deltajit::frontend::validateModelSpec(const ModelSpec &spec,
                                           SpecError &error) {
  auto fail = [&](const std::string &field, const llvm::Twine &message) {
    error.field = field;
    error.message = message.str();
    return false;
  };
  if (spec.gated)
    return fail("gated", "gated DeltaNet (delta.gated_delta_rule with its "
                         "softplus log-gate) is not supported yet");
  if (!positive("vocab_size", spec.vocabSize, error) ||
      !positive("hidden_size", spec.hiddenSize, error) ||
      !positive("num_layers", spec.numLayers, error) ||
      !positive("num_heads", spec.numHeads, error) ||
      !positive("head_dim", spec.headDim, error) ||
      !positive("head_v_dim", spec.headVDim, error) ||
      !positive("intermediate_size", spec.intermediateSize, error))
    return false;
  if (spec.useShortConv && spec.convSize < 2)
    return fail("conv_size",
                llvm::formatv("must be at least 2, got {0}", spec.convSize));
  if (!(spec.normEps > 0))
    return fail("norm_eps",
                llvm::formatv("must be positive, got {0}", spec.normEps));
  if (spec.name.empty())
    return fail("name", "must not be empty");
  if (!spec.attn)
    return true;

  const AttentionSpec &attn = *spec.attn;
  std::set<int64_t> seen;
  for (auto [i, layer] : llvm::enumerate(attn.layers)) {
    std::string field = "attn.layers[" + std::to_string(i) + "]";
    if (layer < 0 || layer >= spec.numLayers)
      return fail(field, llvm::formatv("layer index {0} is out of range "
                                       "[0, {1}) (num_layers is {1})",
                                       layer, spec.numLayers));
    if (!seen.insert(layer).second)
      return fail(field, llvm::formatv("layer {0} is listed twice", layer));
  }
  if (attn.numHeads <= 0)
    return fail("attn.num_heads",
                llvm::formatv("must be positive, got {0}", attn.numHeads));
  if (spec.hiddenSize % attn.numHeads != 0)
    return fail("attn.num_heads",
                llvm::formatv("{0} does not divide hidden_size {1}",
                              attn.numHeads, spec.hiddenSize));
  if (attn.numKVHeads <= 0 || attn.numHeads % attn.numKVHeads != 0)
    return fail("attn.num_kv_heads",
                llvm::formatv("{0} does not divide attn.num_heads {1}",
                              attn.numKVHeads, attn.numHeads));
  if (attn.windowSize && *attn.windowSize <= 0)
    return fail(
        "attn.window_size",
        llvm::formatv("must be positive or null, got {0}", *attn.windowSize));
  if (attn.ropeTheta) {
    if (!(*attn.ropeTheta > 0))
      return fail("attn.rope_theta",
                  llvm::formatv("must be positive, got {0}", *attn.ropeTheta));
    if ((spec.hiddenSize / attn.numHeads) % 2 != 0)
      return fail("attn.num_heads",
                  llvm::formatv("rotary embeddings need an even head "
                                "dimension, got {0}",
                                spec.hiddenSize / attn.numHeads));
  }
  return true;
}

bool deltajit::frontend::parseModelJSON(llvm::StringRef text,
                                        llvm::StringRef defaultName,
                                        ModelSpec &spec, SpecError &error) {
  llvm::Expected<json::Value> parsed = json::parse(text);
  if (!parsed) {
    // ParseError logs "[line:col, byte=N]: message".
    std::string log = llvm::toString(parsed.takeError());
    llvm::StringRef rest(log);
    error.field = "";
    error.message = "malformed JSON: " + log;
    if (rest.consume_front("[")) {
      auto [position, tail] = rest.split("]: ");
      auto [line, column] = position.split(',').first.split(':');
      if (!line.getAsInteger(10, error.line) &&
          !column.getAsInteger(10, error.column))
        error.message = "malformed JSON: " + tail.str();
    }
    return false;
  }
  const json::Object *object = parsed->getAsObject();
  if (!object) {
    error.field = "<root>";
    error.message = "expected a JSON object, got " + show(*parsed);
    return false;
  }
  spec = ModelSpec();
  spec.name = defaultName.str();
  if (const json::Value *type = object->get("model_type")) {
    std::optional<llvm::StringRef> name = type->getAsString();
    if (!name || (*name != "delta_net" && *name != "gated_deltanet")) {
      error.field = "model_type";
      error.message = "unsupported model_type " + show(*type) +
                      " (expected \"delta_net\" or \"gated_deltanet\")";
      return false;
    }
    if (!readFLAConfig(*object, *name, spec, error))
      return false;
  } else if (!readSpec(*object, spec, error)) {
    return false;
  }
  return validateModelSpec(spec, error);
}
