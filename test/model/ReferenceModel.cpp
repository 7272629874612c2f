//===- ReferenceModel.cpp - fp32 CPU reference of a whole deltajit model --===//

#include "ReferenceModel.h"

#include "RandomInit.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <sstream>
#include <stdexcept>

namespace deltajit::reference {

namespace {

using nlohmann::json;

template <typename... Args> std::string cat(Args &&...args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

[[noreturn]] void fieldError(const std::string &field,
                             const std::string &message) {
  throw std::runtime_error(field + ": " + message);
}

/// Reads the fields of one JSON object, remembering which keys were read so
/// that the rest can be reported as unknown.
class Reader {
public:
  Reader(const json &object, std::string path)
      : object_(object), path_(std::move(path)) {}

  std::string field(const std::string &key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

  /// The value of `key` or nullptr; a missing required key is an error.
  const json *get(const std::string &key, bool required) {
    used_.insert(key);
    auto it = object_.find(key);
    if (it == object_.end()) {
      if (required)
        fieldError(field(key), "missing required field");
      return nullptr;
    }
    return &*it;
  }

  /// Integer (an integral JSON number); null allowed when `allowNull`
  /// (returns nullopt then, as for an absent key).
  std::optional<int64_t> integer(const std::string &key, bool required,
                                 bool allowNull = false) {
    const json *v = get(key, required);
    if (!v || (allowNull && v->is_null()))
      return std::nullopt;
    if (v->is_number_integer())
      return v->get<int64_t>();
    if (v->is_number_float()) {
      double d = v->get<double>(), ip;
      if (std::modf(d, &ip) == 0.0 && std::fabs(d) < 9.2e18)
        return int64_t(d);
    }
    fieldError(field(key),
               cat("expected an integer", allowNull ? " or null" : "", ", got ",
                   v->dump()));
  }

  std::optional<double> number(const std::string &key, bool required,
                               bool allowNull = false) {
    const json *v = get(key, required);
    if (!v || (allowNull && v->is_null()))
      return std::nullopt;
    if (v->is_number())
      return v->get<double>();
    fieldError(field(key), cat("expected a number", allowNull ? " or null" : "",
                               ", got ", v->dump()));
  }

  std::optional<bool> boolean(const std::string &key) {
    const json *v = get(key, false);
    if (!v)
      return std::nullopt;
    if (!v->is_boolean())
      fieldError(field(key), "expected true or false, got " + v->dump());
    return v->get<bool>();
  }

  std::optional<std::string> string(const std::string &key) {
    const json *v = get(key, false);
    if (!v)
      return std::nullopt;
    if (!v->is_string())
      fieldError(field(key), "expected a string, got " + v->dump());
    return v->get<std::string>();
  }

  /// Fails on the first key that was not read.
  void checkUnknown() const {
    for (auto it = object_.begin(); it != object_.end(); ++it)
      if (!used_.count(it.key()))
        fieldError(field(it.key()), "unknown field");
  }

private:
  const json &object_;
  std::string path_;
  std::set<std::string> used_;
};

AttentionConfig readAttention(const json &value) {
  if (!value.is_object())
    fieldError("attn", "expected an object or null, got " + value.dump());
  Reader r(value, "attn");
  AttentionConfig attn;
  const json *layers = r.get("layers", true);
  if (!layers->is_array())
    fieldError("attn.layers",
               "expected an array of layer indices, got " + layers->dump());
  for (size_t i = 0; i < layers->size(); ++i) {
    const json &l = (*layers)[i];
    if (!l.is_number_integer())
      fieldError(cat("attn.layers[", i, "]"),
                 "expected an integer layer index, got " + l.dump());
    attn.layers.push_back(l.get<int64_t>());
  }
  attn.numHeads = *r.integer("num_heads", true);
  attn.numKVHeads = r.integer("num_kv_heads", false, /*allowNull=*/true)
                        .value_or(attn.numHeads);
  attn.windowSize = r.integer("window_size", false, /*allowNull=*/true);
  const json *theta = r.get("rope_theta", false);
  if (theta && theta->is_null())
    attn.ropeTheta = std::nullopt;
  else if (theta)
    attn.ropeTheta = r.number("rope_theta", false);
  r.checkUnknown();
  return attn;
}

/// Cheap fp32 dot product with 8 partial sums (vectorisable without
/// reassociation flags).
inline float dot(const float *a, const float *b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j)
      acc[j] += a[i + j] * b[i + j];
  float tail = 0;
  for (; i < n; ++i)
    tail += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) +
         ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

} // namespace

// ---------------------------------------------------------------------------
// Config

bool ReferenceConfig::isAttentionLayer(int64_t layer) const {
  return attn && std::find(attn->layers.begin(), attn->layers.end(), layer) !=
                     attn->layers.end();
}

int64_t ReferenceConfig::attnHeadDim() const {
  return attn && attn->numHeads > 0 ? hiddenSize / attn->numHeads : 0;
}

int64_t defaultIntermediateSize(int64_t hiddenSize, int64_t hiddenRatio) {
  int64_t size = int64_t(double(hiddenSize) * double(hiddenRatio) * 2.0 / 3.0);
  return 256 * ((size + 255) / 256);
}

ReferenceConfig parseModelSpec(const std::string &text) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error &e) {
    throw std::runtime_error(std::string("malformed JSON: ") + e.what());
  }
  if (!root.is_object())
    fieldError("<root>", "expected a JSON object, got " + root.dump());
  Reader r(root, "");
  ReferenceConfig c;
  if (auto name = r.string("name"))
    c.name = *name;
  c.vocabSize = *r.integer("vocab_size", true);
  c.hiddenSize = *r.integer("hidden_size", true);
  c.numLayers = *r.integer("num_layers", true);
  c.numHeads = *r.integer("num_heads", true);
  std::optional<int64_t> headDim = r.integer("head_dim", false);
  std::optional<int64_t> headVDim = r.integer("head_v_dim", false);
  c.convSize = r.integer("conv_size", false).value_or(c.convSize);
  c.useShortConv = r.boolean("use_short_conv").value_or(c.useShortConv);
  c.useGate = r.boolean("use_gate").value_or(c.useGate);
  c.qkL2Norm = r.boolean("qk_l2_norm").value_or(c.qkL2Norm);
  c.normEps = r.number("norm_eps", false).value_or(c.normEps);
  std::optional<int64_t> inter = r.integer("intermediate_size", false);
  if (auto dtype = r.string("dtype")) {
    if (*dtype == "bf16")
      c.dtype = DType::BF16;
    else if (*dtype == "fp16")
      c.dtype = DType::F16;
    else if (*dtype == "fp32")
      c.dtype = DType::F32;
    else
      fieldError("dtype", "unsupported dtype \"" + *dtype +
                              "\" (expected bf16, fp16 or fp32)");
  }
  bool gated = r.boolean("gated").value_or(false);
  c.tieWordEmbeddings =
      r.boolean("tie_word_embeddings").value_or(c.tieWordEmbeddings);
  if (const json *attn = r.get("attn", false); attn && !attn->is_null())
    c.attn = readAttention(*attn);
  r.string("description");
  r.checkUnknown();
  if (gated)
    fieldError("gated", "gated DeltaNet (delta.gated_delta_rule) is not "
                        "supported by the reference model");

  if (!headDim) {
    if (c.numHeads <= 0 || c.hiddenSize % c.numHeads != 0)
      fieldError("num_heads", cat(c.numHeads, " does not divide hidden_size ",
                                  c.hiddenSize, " (give head_dim explicitly)"));
    headDim = c.hiddenSize / c.numHeads;
  }
  c.headDim = *headDim;
  c.headVDim = headVDim.value_or(c.headDim);
  c.intermediateSize = inter ? *inter : defaultIntermediateSize(c.hiddenSize);
  validateConfig(c);
  return c;
}

void validateConfig(const ReferenceConfig &c) {
  auto positive = [](const char *field, int64_t v) {
    if (v <= 0)
      fieldError(field, cat("must be positive, got ", v));
  };
  positive("vocab_size", c.vocabSize);
  positive("hidden_size", c.hiddenSize);
  positive("num_layers", c.numLayers);
  positive("num_heads", c.numHeads);
  positive("head_dim", c.headDim);
  positive("head_v_dim", c.headVDim);
  positive("intermediate_size", c.intermediateSize);
  if (c.useShortConv && c.convSize < 2)
    fieldError("conv_size", cat("must be at least 2, got ", c.convSize));
  if (!(c.normEps > 0))
    fieldError("norm_eps", cat("must be positive, got ", c.normEps));
  if (c.name.empty())
    fieldError("name", "must not be empty");
  if (!c.attn)
    return;
  const AttentionConfig &a = *c.attn;
  std::set<int64_t> seen;
  for (size_t i = 0; i < a.layers.size(); ++i) {
    std::string field = cat("attn.layers[", i, "]");
    if (a.layers[i] < 0 || a.layers[i] >= c.numLayers)
      fieldError(field,
                 cat("layer index ", a.layers[i], " is out of range [0, ",
                     c.numLayers, ") (num_layers is ", c.numLayers, ")"));
    if (!seen.insert(a.layers[i]).second)
      fieldError(field, cat("layer ", a.layers[i], " is listed twice"));
  }
  if (a.numHeads <= 0)
    fieldError("attn.num_heads", cat("must be positive, got ", a.numHeads));
  if (c.hiddenSize % a.numHeads != 0)
    fieldError("attn.num_heads",
               cat(a.numHeads, " does not divide hidden_size ", c.hiddenSize));
  if (a.numKVHeads <= 0 || a.numHeads % a.numKVHeads != 0)
    fieldError(
        "attn.num_kv_heads",
        cat(a.numKVHeads, " does not divide attn.num_heads ", a.numHeads));
  if (a.windowSize && *a.windowSize <= 0)
    fieldError("attn.window_size",
               cat("must be positive or null, got ", *a.windowSize));
  if (a.ropeTheta) {
    if (!(*a.ropeTheta > 0))
      fieldError("attn.rope_theta",
                 cat("must be positive, got ", *a.ropeTheta));
    if ((c.hiddenSize / a.numHeads) % 2 != 0)
      fieldError("attn.num_heads",
                 cat("rotary embeddings need an even head dimension, got ",
                     c.hiddenSize / a.numHeads));
  }
}

// ---------------------------------------------------------------------------
// Weights

int64_t WeightSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::vector<WeightSpec> weightSpecs(const ReferenceConfig &c) {
  const int64_t d = c.hiddenSize, inter = c.intermediateSize;
  const int64_t keyDim = c.numHeads * c.headDim;
  const int64_t valueDim = c.numHeads * c.headVDim;
  std::vector<WeightSpec> out;
  out.push_back({"embeddings", {c.vocabSize, d}});
  for (int64_t l = 0; l < c.numLayers; ++l) {
    std::string p = "layers." + std::to_string(l) + ".";
    out.push_back({p + "attn_norm", {d}});
    if (c.isAttentionLayer(l)) {
      int64_t hd = c.attnHeadDim();
      int64_t q = c.attn->numHeads * hd, kv = c.attn->numKVHeads * hd;
      out.push_back({p + "attn.q_proj", {q, d}});
      out.push_back({p + "attn.k_proj", {kv, d}});
      out.push_back({p + "attn.v_proj", {kv, d}});
      out.push_back({p + "attn.o_proj", {d, q}});
    } else {
      out.push_back({p + "attn.q_proj", {keyDim, d}});
      out.push_back({p + "attn.k_proj", {keyDim, d}});
      out.push_back({p + "attn.v_proj", {valueDim, d}});
      if (c.useShortConv) {
        out.push_back({p + "attn.q_conv1d", {keyDim, c.convSize}});
        out.push_back({p + "attn.k_conv1d", {keyDim, c.convSize}});
        out.push_back({p + "attn.v_conv1d", {valueDim, c.convSize}});
      }
      out.push_back({p + "attn.b_proj", {c.numHeads, d}});
      if (c.useGate)
        out.push_back({p + "attn.g_proj", {valueDim, d}});
      out.push_back({p + "attn.o_norm", {c.headVDim}});
      out.push_back({p + "attn.o_proj", {d, valueDim}});
    }
    out.push_back({p + "mlp_norm", {d}});
    out.push_back({p + "mlp.gate_proj", {inter, d}});
    out.push_back({p + "mlp.up_proj", {inter, d}});
    out.push_back({p + "mlp.down_proj", {d, inter}});
  }
  out.push_back({"norm", {d}});
  if (!c.tieWordEmbeddings)
    out.push_back({"lm_head", {c.vocabSize, d}});
  return out;
}

float roundToBf16(float x) {
  if (std::isnan(x))
    return x;
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  u &= 0xFFFF0000u;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

float roundToFp16(float x) {
  if (!std::isfinite(x) || x == 0)
    return x;
  double a = std::fabs(double(x));
  int e;
  std::frexp(a, &e);              // a in [2^(e-1), 2^e)
  int exp = std::max(e - 1, -14); // below 2^-14: subnormal spacing 2^-24
  double ulp = std::ldexp(1.0, exp - 10);
  double r = std::nearbyint(a / ulp) * ulp; // ties to even (default mode)
  if (r > 65504.0)
    r = INFINITY;
  return float(std::copysign(r, double(x)));
}

float roundToDType(float x, DType dtype) {
  switch (dtype) {
  case DType::BF16:
    return roundToBf16(x);
  case DType::F16:
    return roundToFp16(x);
  case DType::F32:
    break;
  }
  return x;
}

void randomInitWeight(const WeightSpec &w, uint64_t seed, DType dtype,
                      float *dst) {
  uint64_t key = randomInitKey(seed, w.name);
  bool norm = isNormWeight(w.name);
  int64_t n = w.numel();
  for (int64_t i = 0; i < n; ++i)
    dst[i] = roundToDType(randomInitValue(key, norm, uint64_t(i)), dtype);
}

WeightFiller randomInitFiller(uint64_t seed, DType dtype) {
  return [seed, dtype](const WeightSpec &w, float *dst) {
    randomInitWeight(w, seed, dtype, dst);
  };
}

// ---------------------------------------------------------------------------
// Ops

namespace ops {

void linear(const float *x, const float *w, float *y, int64_t T, int64_t N,
            int64_t K) {
  // Blocks of rows of x against every row of w: w streams through once per
  // block, the block of x stays in cache.
  constexpr int64_t kBlock = 64;
  for (int64_t t0 = 0; t0 < T; t0 += kBlock) {
    int64_t t1 = std::min(T, t0 + kBlock);
    for (int64_t n = 0; n < N; ++n) {
      const float *wn = w + n * K;
      for (int64_t t = t0; t < t1; ++t)
        y[t * N + n] = dot(x + t * K, wn, K);
    }
  }
}

float silu(float x) { return float(double(x) / (1.0 + std::exp(-double(x)))); }

float sigmoid(float x) { return float(1.0 / (1.0 + std::exp(-double(x)))); }

void rmsNorm(const float *x, const float *w, const float *gate, float *y,
             int64_t dim, double eps) {
  double ss = 0;
  for (int64_t i = 0; i < dim; ++i)
    ss += double(x[i]) * x[i];
  double r = 1.0 / std::sqrt(ss / double(dim) + eps);
  for (int64_t i = 0; i < dim; ++i) {
    double v = double(x[i]) * r * w[i];
    if (gate)
      v *= silu(gate[i]);
    y[i] = float(v);
  }
}

void l2Norm(float *x, int64_t dim, double eps) {
  double ss = 0;
  for (int64_t i = 0; i < dim; ++i)
    ss += double(x[i]) * x[i];
  double r = 1.0 / std::sqrt(ss + eps);
  for (int64_t i = 0; i < dim; ++i)
    x[i] = float(x[i] * r);
}

void shortConv(const float *x, const float *w, float *y, float *state,
               int64_t T, int64_t channels, int64_t K, bool useSilu) {
  const int64_t S = K - 1;
  std::vector<float> ext(size_t(S + T));
  for (int64_t c = 0; c < channels; ++c) {
    // ext[j] for j < S: the carried inputs; ext[S + t] = x[t, c]. Output t
    // reads ext[t .. t + K - 1], i.e. x[t - K + 1 .. t].
    for (int64_t j = 0; j < S; ++j)
      ext[size_t(j)] = state[c * S + j];
    for (int64_t t = 0; t < T; ++t)
      ext[size_t(S + t)] = x[t * channels + c];
    const float *wc = w + c * K;
    for (int64_t t = 0; t < T; ++t) {
      double acc = 0;
      for (int64_t j = 0; j < K; ++j)
        acc += double(wc[j]) * ext[size_t(t + j)];
      float v = float(acc);
      y[t * channels + c] = useSilu ? silu(v) : v;
    }
    for (int64_t j = 0; j < S; ++j)
      state[c * S + j] = ext[size_t(T + j)];
  }
}

void applyRotary(float *x, int64_t d, int64_t pos, double theta) {
  const int64_t half = d / 2;
  for (int64_t i = 0; i < half; ++i) {
    double angle = double(pos) * std::pow(theta, -2.0 * double(i) / double(d));
    double c = std::cos(angle), s = std::sin(angle);
    double a = x[i], b = x[i + half];
    x[i] = float(a * c - b * s);
    x[i + half] = float(b * c + a * s);
  }
}

void deltaRuleStep(const float *q, const float *k, const float *v, float beta,
                   float *S, float *o, int64_t dk, int64_t dv, double scale) {
  // u = beta (v - S^T k); S += k u^T; o = scale S^T q.
  std::vector<double> u(size_t(dv), 0.0), acc(size_t(dv), 0.0);
  for (int64_t i = 0; i < dk; ++i) {
    const float *row = S + i * dv;
    for (int64_t j = 0; j < dv; ++j)
      u[size_t(j)] += double(k[i]) * row[j];
  }
  for (int64_t j = 0; j < dv; ++j)
    u[size_t(j)] = double(beta) * (double(v[j]) - u[size_t(j)]);
  for (int64_t i = 0; i < dk; ++i) {
    float *row = S + i * dv;
    for (int64_t j = 0; j < dv; ++j) {
      row[j] = float(row[j] + double(k[i]) * u[size_t(j)]);
      acc[size_t(j)] += double(q[i]) * row[j];
    }
  }
  for (int64_t j = 0; j < dv; ++j)
    o[j] = float(scale * acc[size_t(j)]);
}

void attendOne(const float *q, const float *keys, int64_t keyStride,
               const float *values, int64_t valueStride, int64_t n, int64_t d,
               int64_t dv, double scale, float *o) {
  std::vector<double> score(static_cast<size_t>(n));
  double maxScore = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    const float *kj = keys + j * keyStride;
    double s = 0;
    for (int64_t i = 0; i < d; ++i)
      s += double(q[i]) * kj[i];
    score[size_t(j)] = s * scale;
    maxScore = std::max(maxScore, score[size_t(j)]);
  }
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    score[size_t(j)] = std::exp(score[size_t(j)] - maxScore);
    sum += score[size_t(j)];
  }
  std::vector<double> acc(size_t(dv), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    const float *vj = values + j * valueStride;
    double p = score[size_t(j)] / sum;
    for (int64_t i = 0; i < dv; ++i)
      acc[size_t(i)] += p * vj[i];
  }
  for (int64_t i = 0; i < dv; ++i)
    o[i] = float(acc[size_t(i)]);
}

} // namespace ops

// ---------------------------------------------------------------------------
// The model

ReferenceModel::ReferenceModel(ReferenceConfig config, const WeightFiller &fill)
    : config_(std::move(config)) {
  validateConfig(config_);
  specs_ = weightSpecs(config_);
  for (const WeightSpec &s : specs_) {
    std::vector<float> &dst = weights_[s.name];
    dst.assign(size_t(s.numel()), 0.0f);
    fill(s, dst.data());
  }
}

ReferenceModel ReferenceModel::withRandomInit(ReferenceConfig config,
                                              uint64_t seed) {
  DType dtype = config.dtype;
  return ReferenceModel(std::move(config), randomInitFiller(seed, dtype));
}

const std::vector<float> &
ReferenceModel::weight(const std::string &name) const {
  auto it = weights_.find(name);
  if (it == weights_.end())
    throw std::out_of_range("no weight named '" + name + "'");
  return it->second;
}

const std::vector<float> &ReferenceModel::w(int64_t layer,
                                            const char *name) const {
  return weight("layers." + std::to_string(layer) + "." + name);
}

SequenceState ReferenceModel::newSequence() const {
  const ReferenceConfig &c = config_;
  SequenceState s;
  s.layers.resize(size_t(c.numLayers));
  for (int64_t l = 0; l < c.numLayers; ++l) {
    if (c.isAttentionLayer(l))
      continue;
    LayerState &ls = s.layers[size_t(l)];
    ls.delta.assign(size_t(c.numHeads * c.headDim * c.headVDim), 0.0f);
    if (c.useShortConv) {
      ls.convQ.assign(size_t(c.numHeads * c.headDim * (c.convSize - 1)), 0.0f);
      ls.convK.assign(ls.convQ.size(), 0.0f);
      ls.convV.assign(size_t(c.numHeads * c.headVDim * (c.convSize - 1)), 0.0f);
    }
  }
  return s;
}

void ReferenceModel::deltaLayer(int64_t l, LayerState &s, std::vector<float> &x,
                                int64_t T) const {
  const ReferenceConfig &c = config_;
  const int64_t D = c.hiddenSize, H = c.numHeads, dk = c.headDim,
                dv = c.headVDim;
  const int64_t keyDim = H * dk, valueDim = H * dv;

  std::vector<float> h(size_t(T * D));
  const float *attnNorm = w(l, "attn_norm").data();
  for (int64_t t = 0; t < T; ++t)
    ops::rmsNorm(&x[size_t(t * D)], attnNorm, nullptr, &h[size_t(t * D)], D,
                 c.normEps);

  // Projections, then short convolution + SiLU (or SiLU alone).
  auto project = [&](const char *proj, const char *conv, std::vector<float> &st,
                     int64_t dim) {
    std::vector<float> p(size_t(T * dim)), y(size_t(T * dim));
    ops::linear(h.data(), w(l, proj).data(), p.data(), T, dim, D);
    if (c.useShortConv) {
      ops::shortConv(p.data(), w(l, conv).data(), y.data(), st.data(), T, dim,
                     c.convSize, /*silu=*/true);
    } else {
      for (size_t i = 0; i < p.size(); ++i)
        y[i] = ops::silu(p[i]);
    }
    return y;
  };
  std::vector<float> q =
      project("attn.q_proj", "attn.q_conv1d", s.convQ, keyDim);
  std::vector<float> k =
      project("attn.k_proj", "attn.k_conv1d", s.convK, keyDim);
  std::vector<float> v =
      project("attn.v_proj", "attn.v_conv1d", s.convV, valueDim);
  if (c.qkL2Norm)
    for (int64_t r = 0; r < T * H; ++r) {
      ops::l2Norm(&q[size_t(r * dk)], dk, 1e-6);
      ops::l2Norm(&k[size_t(r * dk)], dk, 1e-6);
    }
  std::vector<float> beta(size_t(T * H));
  ops::linear(h.data(), w(l, "attn.b_proj").data(), beta.data(), T, H, D);
  for (float &b : beta)
    b = ops::sigmoid(b);

  // The recurrence, token by token, head by head.
  std::vector<float> o(size_t(T * valueDim));
  const double scale = 1.0 / std::sqrt(double(dk));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t hh = 0; hh < H; ++hh)
      ops::deltaRuleStep(
          &q[size_t((t * H + hh) * dk)], &k[size_t((t * H + hh) * dk)],
          &v[size_t((t * H + hh) * dv)], beta[size_t(t * H + hh)],
          &s.delta[size_t(hh * dk * dv)], &o[size_t((t * H + hh) * dv)], dk, dv,
          scale);

  // Per-head RMSNorm over dv, gated by silu(g_proj(h)).
  std::vector<float> g;
  if (c.useGate) {
    g.resize(size_t(T * valueDim));
    ops::linear(h.data(), w(l, "attn.g_proj").data(), g.data(), T, valueDim, D);
  }
  const float *oNorm = w(l, "attn.o_norm").data();
  for (int64_t r = 0; r < T * H; ++r)
    ops::rmsNorm(&o[size_t(r * dv)], oNorm,
                 c.useGate ? &g[size_t(r * dv)] : nullptr, &o[size_t(r * dv)],
                 dv, c.normEps);

  std::vector<float> out(size_t(T * D));
  ops::linear(o.data(), w(l, "attn.o_proj").data(), out.data(), T, D, valueDim);
  for (size_t i = 0; i < out.size(); ++i)
    x[i] += out[i];
}

void ReferenceModel::attentionLayer(int64_t l, LayerState &s, int64_t pos0,
                                    std::vector<float> &x, int64_t T) const {
  const ReferenceConfig &c = config_;
  const AttentionConfig &a = *c.attn;
  const int64_t D = c.hiddenSize, Hq = a.numHeads, Hkv = a.numKVHeads,
                d = c.attnHeadDim();
  const int64_t group = Hq / Hkv, qDim = Hq * d, kvDim = Hkv * d;

  std::vector<float> h(size_t(T * D));
  const float *attnNorm = w(l, "attn_norm").data();
  for (int64_t t = 0; t < T; ++t)
    ops::rmsNorm(&x[size_t(t * D)], attnNorm, nullptr, &h[size_t(t * D)], D,
                 c.normEps);
  std::vector<float> q(size_t(T * qDim)), k(size_t(T * kvDim)),
      v(size_t(T * kvDim));
  ops::linear(h.data(), w(l, "attn.q_proj").data(), q.data(), T, qDim, D);
  ops::linear(h.data(), w(l, "attn.k_proj").data(), k.data(), T, kvDim, D);
  ops::linear(h.data(), w(l, "attn.v_proj").data(), v.data(), T, kvDim, D);
  if (a.ropeTheta)
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t hh = 0; hh < Hq; ++hh)
        ops::applyRotary(&q[size_t(t * qDim + hh * d)], d, pos0 + t,
                         *a.ropeTheta);
      for (int64_t hh = 0; hh < Hkv; ++hh)
        ops::applyRotary(&k[size_t(t * kvDim + hh * d)], d, pos0 + t,
                         *a.ropeTheta);
    }
  s.kCache.insert(s.kCache.end(), k.begin(), k.end());
  s.vCache.insert(s.vCache.end(), v.begin(), v.end());

  // Query at position p sees keys lo <= j <= p.
  std::vector<float> o(size_t(T * qDim));
  const double scale = 1.0 / std::sqrt(double(d));
  for (int64_t t = 0; t < T; ++t) {
    int64_t p = pos0 + t;
    int64_t lo = a.windowSize ? std::max<int64_t>(0, p - *a.windowSize + 1) : 0;
    for (int64_t hh = 0; hh < Hq; ++hh) {
      int64_t g = hh / group;
      size_t first = size_t((lo - s.kvStart) * kvDim + g * d);
      ops::attendOne(&q[size_t(t * qDim + hh * d)], &s.kCache[first], kvDim,
                     &s.vCache[first], kvDim, p - lo + 1, d, d, scale,
                     &o[size_t(t * qDim + hh * d)]);
    }
  }
  // Drop what the next query (position pos0 + T) cannot see.
  if (a.windowSize) {
    int64_t keep = std::max<int64_t>(0, pos0 + T - *a.windowSize + 1);
    if (keep > s.kvStart) {
      size_t drop = size_t((keep - s.kvStart) * kvDim);
      s.kCache.erase(s.kCache.begin(), s.kCache.begin() + long(drop));
      s.vCache.erase(s.vCache.begin(), s.vCache.begin() + long(drop));
      s.kvStart = keep;
    }
  }

  std::vector<float> out(size_t(T * D));
  ops::linear(o.data(), w(l, "attn.o_proj").data(), out.data(), T, D, qDim);
  for (size_t i = 0; i < out.size(); ++i)
    x[i] += out[i];
}

void ReferenceModel::mlp(int64_t l, std::vector<float> &x, int64_t T) const {
  const ReferenceConfig &c = config_;
  const int64_t D = c.hiddenSize, I = c.intermediateSize;
  std::vector<float> h(size_t(T * D)), gate(size_t(T * I)), up(size_t(T * I)),
      out(size_t(T * D));
  const float *norm = w(l, "mlp_norm").data();
  for (int64_t t = 0; t < T; ++t)
    ops::rmsNorm(&x[size_t(t * D)], norm, nullptr, &h[size_t(t * D)], D,
                 c.normEps);
  ops::linear(h.data(), w(l, "mlp.gate_proj").data(), gate.data(), T, I, D);
  ops::linear(h.data(), w(l, "mlp.up_proj").data(), up.data(), T, I, D);
  for (size_t i = 0; i < gate.size(); ++i)
    gate[i] = ops::silu(gate[i]) * up[i];
  ops::linear(gate.data(), w(l, "mlp.down_proj").data(), out.data(), T, D, I);
  for (size_t i = 0; i < out.size(); ++i)
    x[i] += out[i];
}

std::vector<float>
ReferenceModel::forward(SequenceState &state,
                        const std::vector<int32_t> &ids) const {
  const ReferenceConfig &c = config_;
  const int64_t T = int64_t(ids.size()), D = c.hiddenSize, V = c.vocabSize;
  if (state.layers.size() != size_t(c.numLayers))
    throw std::invalid_argument(cat("forward: the state has ",
                                    state.layers.size(), " layers, the model ",
                                    c.numLayers, " (use newSequence())"));
  for (int64_t t = 0; t < T; ++t)
    if (ids[size_t(t)] < 0 || ids[size_t(t)] >= V)
      throw std::out_of_range(cat("forward: token id ", ids[size_t(t)],
                                  " at index ", t, " is outside [0, ", V, ")"));
  if (T == 0)
    return {};

  const std::vector<float> &table = weight("embeddings");
  std::vector<float> x(size_t(T * D));
  for (int64_t t = 0; t < T; ++t)
    std::copy_n(&table[size_t(int64_t(ids[size_t(t)]) * D)], D,
                &x[size_t(t * D)]);

  for (int64_t l = 0; l < c.numLayers; ++l) {
    LayerState &ls = state.layers[size_t(l)];
    if (c.isAttentionLayer(l))
      attentionLayer(l, ls, state.position, x, T);
    else
      deltaLayer(l, ls, x, T);
    mlp(l, x, T);
  }

  const float *norm = weight("norm").data();
  for (int64_t t = 0; t < T; ++t)
    ops::rmsNorm(&x[size_t(t * D)], norm, nullptr, &x[size_t(t * D)], D,
                 c.normEps);
  std::vector<float> logits(size_t(T * V));
  const std::vector<float> &head =
      c.tieWordEmbeddings ? table : weight("lm_head");
  ops::linear(x.data(), head.data(), logits.data(), T, V, D);
  state.position += T;
  return logits;
}

} // namespace deltajit::reference
