//===- ModelGraph.cpp - the "model" section of a package manifest ---------===//

#include "ModelGraph.h"

#include "Error.h"

#include <fstream>
#include <set>

namespace deltajit {

const char *stepOpName(StepOp op) {
  switch (op) {
  case StepOp::Embedding:
    return "embedding";
  case StepOp::RmsNorm:
    return "rms_norm";
  case StepOp::L2Norm:
    return "l2_norm";
  case StepOp::Linear:
    return "linear";
  case StepOp::ShortConv:
    return "short_conv";
  case StepOp::Activation:
    return "activation";
  case StepOp::SwiGLU:
    return "swiglu";
  case StepOp::Add:
    return "add";
  case StepOp::DeltaRule:
    return "delta_rule";
  case StepOp::Attention:
    return "attention";
  }
  return "?";
}

int ModelGraph::weightIndex(const std::string &name) const {
  for (size_t i = 0; i < weights.size(); ++i)
    if (weights[i].name == name)
      return int(i);
  return -1;
}

namespace {

using nlohmann::json;

/// Field readers that name the path on error.
struct Reader {
  const std::string &file;

  const json &field(const json &o, const std::string &path,
                    const char *key) const {
    if (!o.is_object() || !o.contains(key))
      fail(DJ_ERROR_PACKAGE, file, ": ", path, ": missing field '", key, "'");
    return o[key];
  }
  std::string str(const json &o, const std::string &path,
                  const char *key) const {
    const json &v = field(o, path, key);
    if (!v.is_string())
      fail(DJ_ERROR_PACKAGE, file, ": ", path, ".", key, ": expected a string");
    return v.get<std::string>();
  }
  int64_t integer(const json &o, const std::string &path, const char *key,
                  int64_t min) const {
    const json &v = field(o, path, key);
    if (!v.is_number_integer() || v.get<int64_t>() < min)
      fail(DJ_ERROR_PACKAGE, file, ": ", path, ".", key,
           ": expected an integer >= ", min);
    return v.get<int64_t>();
  }
  double number(const json &o, const std::string &path, const char *key) const {
    const json &v = field(o, path, key);
    if (!v.is_number())
      fail(DJ_ERROR_PACKAGE, file, ": ", path, ".", key, ": expected a number");
    return v.get<double>();
  }
  bool boolean(const json &o, const std::string &path, const char *key) const {
    const json &v = field(o, path, key);
    if (!v.is_boolean())
      fail(DJ_ERROR_PACKAGE, file, ": ", path, ".", key,
           ": expected true or false");
    return v.get<bool>();
  }
};

const std::map<std::string, StepOp> &stepOps() {
  static const std::map<std::string, StepOp> ops = {
      {"embedding", StepOp::Embedding},  {"rms_norm", StepOp::RmsNorm},
      {"l2_norm", StepOp::L2Norm},       {"linear", StepOp::Linear},
      {"short_conv", StepOp::ShortConv}, {"activation", StepOp::Activation},
      {"swiglu", StepOp::SwiGLU},        {"add", StepOp::Add},
      {"delta_rule", StepOp::DeltaRule}, {"attention", StepOp::Attention}};
  return ops;
}

/// The operand roles of each op: value operands, weight operands, and
/// optional ones.
struct Roles {
  std::vector<const char *> values, weights, optionalValues;
};
const Roles &rolesOf(StepOp op) {
  static const std::map<StepOp, Roles> roles = {
      {StepOp::Embedding, {{}, {"table"}, {}}},
      {StepOp::RmsNorm, {{"x"}, {"weight"}, {"gate"}}},
      {StepOp::L2Norm, {{"x"}, {}, {}}},
      {StepOp::Linear, {{"x"}, {"weight"}, {}}},
      {StepOp::ShortConv, {{"x"}, {"weight"}, {}}},
      {StepOp::Activation, {{"x"}, {}, {}}},
      {StepOp::SwiGLU, {{"gate", "up"}, {}, {}}},
      {StepOp::Add, {{"a", "b"}, {}, {}}},
      {StepOp::DeltaRule, {{"q", "k", "v", "beta"}, {}, {}}},
      {StepOp::Attention, {{"q", "k", "v"}, {}, {}}}};
  return roles.at(op);
}

} // namespace

ModelGraph parseModelGraph(const json &manifest, const std::string &file) {
  Reader r{file};
  if (!manifest.is_object() || !manifest.contains("model"))
    fail(DJ_ERROR_PACKAGE, file,
         ": not a model package (no \"model\" section; compile a model spec "
         "or a module with a public @forward)");
  const json &m = manifest["model"];
  if (!m.is_object())
    fail(DJ_ERROR_PACKAGE, file, ": model: expected an object");
  ModelGraph g;
  if (r.integer(m, "model", "format_version", 0) != 1)
    fail(DJ_ERROR_PACKAGE, file,
         ": model.format_version: this runtime reads version 1");
  g.dtype = r.str(m, "model", "dtype");
  if (g.dtype != "bf16" && g.dtype != "fp16")
    fail(DJ_ERROR_PACKAGE, file, ": model.dtype: '", g.dtype,
         "' is not supported by the model runtime (bf16, fp16)");
  g.idsDtype = r.str(m, "model", "ids_dtype");
  g.vocab = r.integer(m, "model", "vocab", 1);
  g.hidden = r.integer(m, "model", "hidden", 1);
  g.weights = parsePackageWeights(manifest, file);

  std::map<std::string, int> valueIndex, stateIndex;
  const json &values = r.field(m, "model", "values");
  if (!values.is_array())
    fail(DJ_ERROR_PACKAGE, file, ": model.values: expected an array");
  for (size_t i = 0; i < values.size(); ++i) {
    std::string path = concat("model.values[", i, "]");
    GraphValue v;
    v.name = r.str(values[i], path, "name");
    v.dtype = r.str(values[i], path, "dtype");
    v.width = r.integer(values[i], path, "width", 1);
    if (v.dtype != g.dtype)
      fail(DJ_ERROR_PACKAGE, file, ": ", path, ".dtype: '", v.dtype,
           "' differs from the model's '", g.dtype,
           "' (mixed precision graphs are not supported yet)");
    if (!valueIndex.emplace(v.name, int(i)).second)
      fail(DJ_ERROR_PACKAGE, file, ": ", path, ".name: duplicate value '",
           v.name, "'");
    g.values.push_back(std::move(v));
  }

  const json &states = r.field(m, "model", "states");
  if (!states.is_array())
    fail(DJ_ERROR_PACKAGE, file, ": model.states: expected an array");
  for (size_t i = 0; i < states.size(); ++i) {
    std::string path = concat("model.states[", i, "]");
    const json &o = states[i];
    GraphState s;
    s.name = r.str(o, path, "name");
    std::string kind = r.str(o, path, "kind");
    if (kind == "delta") {
      s.kind = StateKind::Delta;
      s.vHeads = r.integer(o, path, "v_heads", 1);
      s.dk = r.integer(o, path, "dk", 1);
      s.dv = r.integer(o, path, "dv", 1);
    } else if (kind == "conv") {
      s.kind = StateKind::Conv;
      s.channels = r.integer(o, path, "channels", 1);
      s.kernel = r.integer(o, path, "kernel", 2);
    } else if (kind == "kv") {
      s.kind = StateKind::KV;
      s.kvHeads = r.integer(o, path, "kv_heads", 1);
      s.d = r.integer(o, path, "d", 1);
      s.dv = r.integer(o, path, "dv", 1);
      s.dtype = r.str(o, path, "dtype");
    } else {
      fail(DJ_ERROR_PACKAGE, file, ": ", path, ".kind: unknown state kind '",
           kind, "' (delta, conv, kv)");
    }
    if (!stateIndex.emplace(s.name, int(i)).second)
      fail(DJ_ERROR_PACKAGE, file, ": ", path, ".name: duplicate state '",
           s.name, "'");
    g.states.push_back(std::move(s));
  }

  const json &steps = r.field(m, "model", "steps");
  if (!steps.is_array() || steps.empty())
    fail(DJ_ERROR_PACKAGE, file, ": model.steps: expected a non-empty array");
  std::set<int> defined;
  for (size_t i = 0; i < steps.size(); ++i) {
    std::string path = concat("model.steps[", i, "]");
    const json &o = steps[i];
    GraphStep s;
    s.path = path;
    std::string op = r.str(o, path, "op");
    auto it = stepOps().find(op);
    if (it == stepOps().end())
      fail(DJ_ERROR_PACKAGE, file, ": ", path, ".op: unknown op '", op, "'");
    s.op = it->second;
    const Roles &roles = rolesOf(s.op);
    auto valueRef = [&](const char *role) {
      std::string name = r.str(o, path, role);
      auto v = valueIndex.find(name);
      if (v == valueIndex.end() || !defined.count(v->second))
        fail(DJ_ERROR_PACKAGE, file, ": ", path, ".", role, ": '", name,
             "' is not a value defined by an earlier step");
      s.in[role] = GraphRef{GraphRef::Value, v->second, name};
    };
    for (const char *role : roles.values)
      valueRef(role);
    for (const char *role : roles.optionalValues)
      if (o.contains(role))
        valueRef(role);
    for (const char *role : roles.weights) {
      std::string name = r.str(o, path, role);
      int w = name.size() > 1 && name[0] == '@' ? g.weightIndex(name.substr(1))
                                                : -1;
      if (w < 0)
        fail(DJ_ERROR_PACKAGE, file, ": ", path, ".", role, ": '", name,
             "' is not a weight of the manifest's \"weights\"");
      s.in[role] = GraphRef{GraphRef::Weight, w, name};
    }
    if (s.op == StepOp::Embedding) {
      if (r.str(o, path, "ids") != "ids")
        fail(DJ_ERROR_PACKAGE, file, ": ", path,
             ".ids: must be the model input 'ids'");
      s.in["ids"] = GraphRef{GraphRef::Ids, -1, "ids"};
    }
    std::string out = r.str(o, path, "out");
    auto v = valueIndex.find(out);
    if (v == valueIndex.end())
      fail(DJ_ERROR_PACKAGE, file, ": ", path, ".out: '", out,
           "' is not in model.values");
    if (!defined.insert(v->second).second)
      fail(DJ_ERROR_PACKAGE, file, ": ", path, ".out: '", out,
           "' is defined twice");
    s.out = v->second;
    auto stateRef = [&](const char *key, StateKind kind) {
      std::string name = r.str(o, path, key);
      auto st = stateIndex.find(name);
      if (st == stateIndex.end() || g.states[st->second].kind != kind)
        fail(DJ_ERROR_PACKAGE, file, ": ", path, ".", key, ": '", name,
             "' is not a state of the right kind in model.states");
      s.state = st->second;
    };
    int64_t outWidth = g.values[s.out].width;
    auto width = [&](const char *role) {
      return g.values[s.in.at(role).index].width;
    };
    auto expect = [&](bool ok, const std::string &what) {
      if (!ok)
        fail(DJ_ERROR_PACKAGE, file, ": ", path, ": ", what);
    };
    switch (s.op) {
    case StepOp::Embedding:
      s.vocab = r.integer(o, path, "vocab", 1);
      s.dim = r.integer(o, path, "dim", 1);
      expect(outWidth == s.dim, "out width differs from dim");
      break;
    case StepOp::RmsNorm:
    case StepOp::L2Norm:
      s.dim = r.integer(o, path, "dim", 1);
      s.eps = r.number(o, path, "eps");
      expect(width("x") % s.dim == 0 && outWidth == width("x"),
             "x/out widths do not fit dim");
      if (s.has("gate"))
        expect(width("gate") == width("x"), "gate width differs from x");
      break;
    case StepOp::Linear:
      s.inFeatures = r.integer(o, path, "in_features", 1);
      s.outFeatures = r.integer(o, path, "out_features", 1);
      expect(width("x") == s.inFeatures && outWidth == s.outFeatures,
             "x/out widths differ from in/out_features");
      break;
    case StepOp::ShortConv:
      s.channels = r.integer(o, path, "channels", 1);
      s.kernel = r.integer(o, path, "kernel", 2);
      s.activation = r.str(o, path, "activation");
      stateRef("state", StateKind::Conv);
      expect(width("x") == s.channels && outWidth == s.channels,
             "x/out widths differ from channels");
      expect(s.activation == "silu" || s.activation == "none",
             "activation must be silu or none");
      break;
    case StepOp::Activation:
      s.activation = r.str(o, path, "kind");
      expect(s.activation == "silu" || s.activation == "sigmoid",
             "kind must be silu or sigmoid");
      expect(outWidth == width("x"), "out width differs from x");
      break;
    case StepOp::SwiGLU:
    case StepOp::Add: {
      const char *a = s.op == StepOp::Add ? "a" : "gate";
      const char *b = s.op == StepOp::Add ? "b" : "up";
      expect(width(a) == width(b) && outWidth == width(a),
             "operand widths differ");
      break;
    }
    case StepOp::DeltaRule:
      s.heads = r.integer(o, path, "heads", 1);
      s.vHeads = r.integer(o, path, "v_heads", 1);
      s.dk = r.integer(o, path, "dk", 1);
      s.dv = r.integer(o, path, "dv", 1);
      s.chunk = r.integer(o, path, "chunk", 1);
      s.scale = r.number(o, path, "scale");
      s.useQkL2norm = r.boolean(o, path, "use_qk_l2norm");
      s.dtype = r.str(o, path, "dtype");
      stateRef("state", StateKind::Delta);
      expect(s.vHeads % s.heads == 0, "v_heads is not a multiple of heads");
      expect(width("q") == s.heads * s.dk && width("k") == s.heads * s.dk &&
                 width("v") == s.vHeads * s.dv && width("beta") == s.vHeads &&
                 outWidth == s.vHeads * s.dv,
             "operand widths do not fit heads/v_heads/dk/dv");
      break;
    case StepOp::Attention:
      s.heads = r.integer(o, path, "heads", 1);
      s.kvHeads = r.integer(o, path, "kv_heads", 1);
      s.d = r.integer(o, path, "d", 1);
      s.dv = r.integer(o, path, "dv", 1);
      s.window = r.integer(o, path, "window", 0);
      s.ropeTheta = r.number(o, path, "rope_theta");
      s.scale = r.number(o, path, "scale");
      stateRef("cache", StateKind::KV);
      expect(s.heads % s.kvHeads == 0, "heads is not a multiple of kv_heads");
      expect(width("q") == s.heads * s.d && width("k") == s.kvHeads * s.d &&
                 width("v") == s.kvHeads * s.dv && outWidth == s.heads * s.dv,
             "operand widths do not fit heads/kv_heads/d/dv");
      break;
    }
    g.steps.push_back(std::move(s));
  }

  std::string logits = r.str(m, "model", "logits");
  auto lv = valueIndex.find(logits);
  if (lv == valueIndex.end() || !defined.count(lv->second))
    fail(DJ_ERROR_PACKAGE, file, ": model.logits: '", logits,
         "' is not a value defined by a step");
  g.logits = lv->second;
  if (g.values[g.logits].width != g.vocab)
    fail(DJ_ERROR_PACKAGE, file, ": model.logits: width ",
         g.values[g.logits].width, " differs from vocab ", g.vocab);
  return g;
}

ModelGraph readModelGraph(const std::string &packageDir) {
  std::string path = packageDir + "/manifest.json";
  std::ifstream in(path);
  if (!in)
    fail(DJ_ERROR_PACKAGE, "cannot read '", path, "'");
  json manifest = json::parse(in, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object())
    fail(DJ_ERROR_PACKAGE, "'", path, "' is not valid JSON");
  return parseModelGraph(manifest, path);
}

} // namespace deltajit
