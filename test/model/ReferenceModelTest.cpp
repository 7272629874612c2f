//===- ReferenceModelTest.cpp - the fp32 CPU reference model --------------===//
//
// Spec parsing (defaults, errors naming the field), weight names and shapes
// against the shipped example module, the random init, hand-computed cases
// of every op, and model-level properties: prefill == prefill + decode,
// causality, the receptive field of sliding-window attention.
//
//===----------------------------------------------------------------------===//

#include "ReferenceModel.h"

#include "RandomInit.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

using namespace deltajit::reference;

namespace {

std::string readSource(const std::string &relative) {
  std::string path = std::string(DELTAJIT_SOURCE_DIR) + "/" + relative;
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error("cannot read " + path);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

/// The message of the std::runtime_error that parseModelSpec throws.
std::string parseError(const std::string &json) {
  try {
    parseModelSpec(json);
  } catch (const std::runtime_error &e) {
    return e.what();
  }
  return "<no error>";
}

/// A tiny hybrid: DeltaNet, windowed attention (1 KV head), DeltaNet.
const char *kTinyHybrid = R"({
  "vocab_size": 64, "hidden_size": 32, "num_layers": 3, "num_heads": 2,
  "intermediate_size": 48,
  "attn": {"layers": [1], "num_heads": 2, "num_kv_heads": 1, "window_size": 4}
})";

std::string attentionOnly(int layers, const std::string &window) {
  std::string list;
  for (int i = 0; i < layers; ++i)
    list += (i ? ", " : "") + std::to_string(i);
  return R"({"vocab_size": 64, "hidden_size": 32, "num_layers": )" +
         std::to_string(layers) +
         R"(, "num_heads": 2, "intermediate_size": 48, "attn": {"layers": [)" +
         list + R"(], "num_heads": 4, "num_kv_heads": 2, "window_size": )" +
         window + "}}";
}

std::vector<int32_t> tokens(int n, int vocab, int seed = 1) {
  std::vector<int32_t> ids;
  uint32_t s = uint32_t(seed) * 2654435761u + 12345u;
  for (int i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    ids.push_back(int32_t((s >> 8) % uint32_t(vocab)));
  }
  return ids;
}

double maxAbs(const std::vector<float> &a) {
  double m = 0;
  for (float v : a)
    m = std::max(m, double(std::fabs(v)));
  return m;
}

double maxAbsDiff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i)
    m = std::max(m, double(std::fabs(a[i] - b[i])));
  return m;
}

/// Logits of one row.
std::vector<float> row(const std::vector<float> &logits, int64_t t,
                       int64_t vocab) {
  return std::vector<float>(logits.begin() + t * vocab,
                            logits.begin() + (t + 1) * vocab);
}

} // namespace

// ---------------------------------------------------------------------------
// Spec parsing

TEST(ReferenceSpec, ParsesTheExample) {
  ReferenceConfig c =
      parseModelSpec(readSource("frontend/examples/hybrid_deltanet_swa.json"));
  EXPECT_EQ(c.name, "hybrid_deltanet_swa");
  EXPECT_EQ(c.vocabSize, 1024);
  EXPECT_EQ(c.hiddenSize, 256);
  EXPECT_EQ(c.numLayers, 4);
  EXPECT_EQ(c.numHeads, 4);
  EXPECT_EQ(c.headDim, 64);
  EXPECT_EQ(c.headVDim, 64);
  EXPECT_EQ(c.convSize, 4);
  EXPECT_TRUE(c.useShortConv);
  EXPECT_TRUE(c.useGate);
  EXPECT_TRUE(c.qkL2Norm);
  EXPECT_DOUBLE_EQ(c.normEps, 1e-6);
  EXPECT_EQ(c.intermediateSize, 512);
  EXPECT_EQ(c.dtype, DType::BF16);
  EXPECT_FALSE(c.tieWordEmbeddings);
  ASSERT_TRUE(c.attn.has_value());
  EXPECT_EQ(c.attn->layers, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(c.attn->numHeads, 4);
  EXPECT_EQ(c.attn->numKVHeads, 2);
  EXPECT_EQ(c.attn->windowSize, std::optional<int64_t>(512));
  EXPECT_EQ(c.attn->ropeTheta, std::optional<double>(10000.0));
  EXPECT_TRUE(c.isAttentionLayer(1));
  EXPECT_FALSE(c.isAttentionLayer(2));
  EXPECT_EQ(c.attnHeadDim(), 64);
}

TEST(ReferenceSpec, WeightsMatchTheExampleModule) {
  // Every ml_program.global of the shipped module, in order, with its shape.
  std::string mlir = readSource("frontend/examples/hybrid_deltanet_swa.mlir");
  std::regex global(
      R"(ml_program\.global private @([A-Za-z0-9_.]+)\()"
      R"(#ml_program\.extern : tensor<([0-9x]+)x(bf16|f16|f32)>)");
  std::vector<WeightSpec> expected;
  for (auto it = std::sregex_iterator(mlir.begin(), mlir.end(), global);
       it != std::sregex_iterator(); ++it) {
    WeightSpec w;
    w.name = (*it)[1];
    std::stringstream dims((*it)[2]);
    std::string d;
    while (std::getline(dims, d, 'x'))
      w.shape.push_back(std::stoll(d));
    expected.push_back(w);
  }
  ASSERT_EQ(expected.size(), 51u);
  std::vector<WeightSpec> got = weightSpecs(
      parseModelSpec(readSource("frontend/examples/hybrid_deltanet_swa.json")));
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].name, expected[i].name) << "weight " << i;
    EXPECT_EQ(got[i].shape, expected[i].shape) << got[i].name;
  }
}

TEST(ReferenceSpec, Defaults) {
  ReferenceConfig c = parseModelSpec(
      R"({"vocab_size": 10, "hidden_size": 1024, "num_layers": 2,
          "num_heads": 8, "attn": {"layers": [0], "num_heads": 16}})");
  EXPECT_EQ(c.name, "model");
  EXPECT_EQ(c.headDim, 128);
  EXPECT_EQ(c.headVDim, 128);
  EXPECT_EQ(c.convSize, 4);
  EXPECT_TRUE(c.useShortConv);
  EXPECT_TRUE(c.useGate);
  EXPECT_TRUE(c.qkL2Norm);
  EXPECT_DOUBLE_EQ(c.normEps, 1e-6);
  EXPECT_EQ(c.intermediateSize, 2816); // FLA's rule
  EXPECT_EQ(c.dtype, DType::BF16);
  EXPECT_FALSE(c.tieWordEmbeddings);
  EXPECT_EQ(c.attn->numKVHeads, 16);
  EXPECT_FALSE(c.attn->windowSize.has_value());
  EXPECT_EQ(c.attn->ropeTheta, std::optional<double>(10000.0));
  EXPECT_EQ(defaultIntermediateSize(256), 768);

  ReferenceConfig d = parseModelSpec(
      R"({"vocab_size": 10, "hidden_size": 64, "num_layers": 2,
          "num_heads": 2, "head_dim": 16, "dtype": "fp16", "attn": null,
          "tie_word_embeddings": true, "use_short_conv": false,
          "use_gate": false, "description": "x", "gated": false})");
  EXPECT_EQ(d.headDim, 16);
  EXPECT_EQ(d.headVDim, 16);
  EXPECT_EQ(d.dtype, DType::F16);
  EXPECT_FALSE(d.attn.has_value());
  std::vector<WeightSpec> w = weightSpecs(d);
  for (const WeightSpec &s : w) {
    EXPECT_NE(s.name, "lm_head");
    EXPECT_EQ(s.name.find("conv1d"), std::string::npos) << s.name;
    EXPECT_EQ(s.name.find("g_proj"), std::string::npos) << s.name;
  }
  // Rotary off.
  ReferenceConfig e = parseModelSpec(
      R"({"vocab_size": 10, "hidden_size": 64, "num_layers": 1,
          "num_heads": 2, "attn": {"layers": [0], "num_heads": 2,
          "rope_theta": null, "window_size": null}})");
  EXPECT_FALSE(e.attn->ropeTheta.has_value());
  EXPECT_FALSE(e.attn->windowSize.has_value());
}

TEST(ReferenceSpec, ErrorsNameTheField) {
  const std::string base =
      R"("vocab_size": 10, "hidden_size": 64, "num_layers": 4, "num_heads": 2)";
  auto spec = [&](const std::string &extra) {
    return "{" + base + (extra.empty() ? "" : ", " + extra) + "}";
  };
  auto expectPrefix = [](const std::string &msg, const std::string &prefix) {
    EXPECT_EQ(msg.rfind(prefix, 0), 0u) << msg;
  };
  expectPrefix(parseError(spec(R"("gated": true)")), "gated: ");
  expectPrefix(parseError(spec(R"("foo": 1)")), "foo: unknown field");
  expectPrefix(parseError(R"({"hidden_size": 64, "num_layers": 4,
                              "num_heads": 2})"),
               "vocab_size: missing required field");
  expectPrefix(parseError(spec(R"("conv_size": "4")")),
               "conv_size: expected an integer");
  expectPrefix(parseError(spec(R"("use_gate": 1)")),
               "use_gate: expected true or false");
  expectPrefix(parseError(spec(R"("dtype": "int8")")), "dtype: unsupported");
  expectPrefix(parseError(spec(R"("conv_size": 1)")), "conv_size: ");
  expectPrefix(parseError(spec(R"("norm_eps": 0)")), "norm_eps: ");
  expectPrefix(parseError(R"({"vocab_size": 10, "hidden_size": 64,
                              "num_layers": 4, "num_heads": 3})"),
               "num_heads: 3 does not divide hidden_size 64");
  expectPrefix(
      parseError(spec(R"("attn": {"layers": [1, 4], "num_heads": 2})")),
      "attn.layers[1]: layer index 4 is out of range");
  expectPrefix(
      parseError(spec(R"("attn": {"layers": [1, 1], "num_heads": 2})")),
      "attn.layers[1]: layer 1 is listed twice");
  expectPrefix(parseError(spec(R"("attn": {"layers": [1], "num_heads": 2,
                                           "bar": 0})")),
               "attn.bar: unknown field");
  expectPrefix(parseError(spec(R"("attn": {"layers": [1]})")),
               "attn.num_heads: missing required field");
  expectPrefix(parseError(spec(R"("attn": {"layers": [1], "num_heads": 4,
                                           "num_kv_heads": 3})")),
               "attn.num_kv_heads: ");
  expectPrefix(parseError(spec(R"("attn": {"layers": [1], "num_heads": 64})")),
               "attn.num_heads: rotary embeddings need an even head dimension");
  expectPrefix(parseError(spec(R"("attn": {"layers": [1], "num_heads": 2,
                                           "window_size": 0})")),
               "attn.window_size: ");
  expectPrefix(parseError("{"), "malformed JSON: ");
  expectPrefix(parseError("[1]"), "<root>: ");
  // A FLA config.json is not a deltajit spec (its num_hidden_layers is not
  // num_layers).
  expectPrefix(parseError(readSource(
                   "frontend/examples/fla_delta_net_340m_config.json")),
               "num_layers: missing required field");
}

// ---------------------------------------------------------------------------
// Random init and rounding

TEST(ReferenceWeights, RoundingIsNearestEven) {
  EXPECT_EQ(roundToBf16(1.0f + 0x1p-8f), 1.0f);               // tie -> even
  EXPECT_EQ(roundToBf16(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f); // tie -> even
  EXPECT_EQ(roundToBf16(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f);
  EXPECT_EQ(roundToBf16(-3.0f), -3.0f);
  EXPECT_EQ(roundToFp16(1.0f + 0x1p-11f), 1.0f);
  EXPECT_EQ(roundToFp16(1.0f + 3 * 0x1p-11f), 1.0f + 0x1p-9f);
  EXPECT_EQ(roundToFp16(1.5f * 0x1p-24f), 0x1p-23f); // subnormal tie
  EXPECT_EQ(roundToFp16(0.25f * 0x1p-24f), 0.0f);
  EXPECT_EQ(roundToFp16(65504.0f), 65504.0f);
  EXPECT_TRUE(std::isinf(roundToFp16(70000.0f)));
  EXPECT_EQ(roundToDType(0.1f, DType::F32), 0.1f);
}

TEST(ReferenceWeights, RandomInitIsTheRuntimes) {
  ReferenceConfig c = parseModelSpec(kTinyHybrid);
  ReferenceModel m = ReferenceModel::withRandomInit(c, 42);
  ASSERT_EQ(m.weightList().size(), weightSpecs(c).size());
  const double a = 0.02 * std::sqrt(3.0);
  for (const WeightSpec &w : m.weightList()) {
    const std::vector<float> &v = m.weight(w.name);
    ASSERT_EQ(int64_t(v.size()), w.numel()) << w.name;
    uint64_t key = deltajit::randomInitKey(42, w.name);
    bool norm = deltajit::isNormWeight(w.name);
    double sum = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      ASSERT_EQ(v[i], roundToBf16(deltajit::randomInitValue(key, norm, i)))
          << w.name << "[" << i << "]";
      ASSERT_EQ(v[i], roundToBf16(v[i]));
      if (norm) {
        ASSERT_EQ(v[i], 1.0f) << w.name;
      } else {
        ASSERT_LE(std::fabs(v[i]), a * 1.004) << w.name;
      }
      sum += v[i];
    }
    if (!norm && v.size() >= 1000) {
      EXPECT_LT(std::fabs(sum / double(v.size())), 0.005) << w.name;
    }
  }
  // Other seeds, other weights; the same seed, the same weights.
  ReferenceModel m2 = ReferenceModel::withRandomInit(c, 43);
  EXPECT_NE(m.weight("embeddings"), m2.weight("embeddings"));
  EXPECT_EQ(m.weight("embeddings"),
            ReferenceModel::withRandomInit(c, 42).weight("embeddings"));
  EXPECT_THROW(m.weight("nope"), std::out_of_range);
  // The filler callback sees every weight once, in order.
  std::vector<std::string> seen;
  ReferenceModel m3(c, [&](const WeightSpec &w, float *dst) {
    seen.push_back(w.name);
    std::fill(dst, dst + w.numel(), 0.5f);
  });
  ASSERT_EQ(seen.size(), m3.weightList().size());
  for (size_t i = 0; i < seen.size(); ++i)
    EXPECT_EQ(seen[i], m3.weightList()[i].name);
  EXPECT_EQ(m3.weight("norm")[0], 0.5f);
}

// ---------------------------------------------------------------------------
// Ops, by hand

TEST(ReferenceOps, Linear) {
  const float x[] = {1, 2, 3, 4, 5, 6};  // [2, 3]
  const float w[] = {1, 0, 0, 0, 1, -1}; // [2, 3]: y = [x0, x1 - x2]
  float y[4];
  ops::linear(x, w, y, 2, 2, 3);
  EXPECT_EQ(y[0], 1);
  EXPECT_EQ(y[1], -1);
  EXPECT_EQ(y[2], 4);
  EXPECT_EQ(y[3], -1);
  // Odd K, several row blocks, against a double loop.
  const int64_t T = 70, N = 5, K = 13;
  std::vector<float> xs(T * K), ws(N * K), ys(T * N);
  for (size_t i = 0; i < xs.size(); ++i)
    xs[i] = float(std::sin(0.1 * double(i)));
  for (size_t i = 0; i < ws.size(); ++i)
    ws[i] = float(std::cos(0.3 * double(i)));
  ops::linear(xs.data(), ws.data(), ys.data(), T, N, K);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      double ref = 0;
      for (int64_t k = 0; k < K; ++k)
        ref += double(xs[t * K + k]) * ws[n * K + k];
      EXPECT_NEAR(ys[t * N + n], ref, 1e-5);
    }
}

TEST(ReferenceOps, RmsNorm) {
  const float x[] = {1, 2, 3, 4}, w[] = {1, 1, 2, 0.5f};
  float y[4];
  ops::rmsNorm(x, w, nullptr, y, 4, 0.0);
  double r = 1.0 / std::sqrt(7.5); // mean(x^2) = 30 / 4
  EXPECT_NEAR(y[0], r, 1e-7);
  EXPECT_NEAR(y[1], 2 * r, 1e-7);
  EXPECT_NEAR(y[2], 6 * r, 1e-6);
  EXPECT_NEAR(y[3], 2 * r, 1e-7);
  // Gated: times silu(gate).
  const float gate[] = {0, 1, -1, 2};
  ops::rmsNorm(x, w, gate, y, 4, 0.0);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_NEAR(y[1], 2 * r * 0.7310585786, 1e-6);
  EXPECT_NEAR(y[2], 6 * r * -0.2689414214, 1e-6);
  EXPECT_NEAR(y[3], 2 * r * 1.7615941560, 1e-6);
  // eps inside the square root.
  const float z[] = {0, 0};
  const float ones[] = {1, 1};
  ops::rmsNorm(z, ones, nullptr, y, 2, 1e-6);
  EXPECT_EQ(y[0], 0.0f);
  const float s[] = {1e-3f, 1e-3f};
  ops::rmsNorm(s, ones, nullptr, y, 2, 1e-6);
  EXPECT_NEAR(y[0], 1e-3 / std::sqrt(1e-6 + 1e-6), 1e-6);
}

TEST(ReferenceOps, L2NormAndActivations) {
  float x[] = {3, 4};
  ops::l2Norm(x, 2, 0.0);
  EXPECT_FLOAT_EQ(x[0], 0.6f);
  EXPECT_FLOAT_EQ(x[1], 0.8f);
  // eps 1e-6 is added to the sum of squares (not the mean).
  float y[] = {1e-3f, 0};
  ops::l2Norm(y, 2);
  EXPECT_NEAR(y[0], 1e-3 / std::sqrt(2e-6), 1e-6);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_FLOAT_EQ(ops::sigmoid(0), 0.5f);
  EXPECT_NEAR(ops::sigmoid(2), 0.8807970780, 1e-7);
  EXPECT_FLOAT_EQ(ops::silu(0), 0.0f);
  EXPECT_NEAR(ops::silu(-3), -3 * 0.0474258732, 1e-7);
}

TEST(ReferenceOps, ShortConvCarriesItsState) {
  // One channel, K = 3: y[t] = w0 x[t-2] + w1 x[t-1] + w2 x[t].
  const float w[] = {1, 2, 3};
  float state[2] = {0, 0};
  const float x[] = {1, 10, 100};
  float y[3];
  ops::shortConv(x, w, y, state, 3, 1, 3, /*silu=*/false);
  EXPECT_EQ(y[0], 3);
  EXPECT_EQ(y[1], 32);
  EXPECT_EQ(y[2], 321);
  EXPECT_EQ(state[0], 10); // oldest first
  EXPECT_EQ(state[1], 100);
  const float x2[] = {1000};
  ops::shortConv(x2, w, y, state, 1, 1, 3, false);
  EXPECT_EQ(y[0], 3210);
  EXPECT_EQ(state[0], 100);
  EXPECT_EQ(state[1], 1000);
  // Two channels, interleaved rows, SiLU; one call == token by token.
  const float w2[] = {0.5f, -1, 2, 1, 1, 1}; // [2, 3]
  const float xs[] = {1, -1, 2, 0.5f, -3, 4, 0.25f, 2};
  float s1[4] = {0.1f, 0.2f, 0.3f, 0.4f}, s2[4] = {0.1f, 0.2f, 0.3f, 0.4f};
  float ya[8], yb[8];
  ops::shortConv(xs, w2, ya, s1, 4, 2, 3, true);
  for (int t = 0; t < 4; ++t)
    ops::shortConv(xs + 2 * t, w2, yb + 2 * t, s2, 1, 2, 3, true);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(ya[i], yb[i]) << i;
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(s1[i], s2[i]) << i;
  // Channel 0 at t = 0 reads its state (0.1, 0.2) then x = 1.
  EXPECT_NEAR(ya[0], ops::silu(0.5f * 0.1f - 0.2f + 2 * 1), 1e-7);
}

TEST(ReferenceOps, Rotary) {
  // Position 0 is the identity.
  float x[] = {0.3f, -1.5f, 2.0f, 0.7f, 1.1f, -0.2f};
  float y[6];
  std::copy(x, x + 6, y);
  ops::applyRotary(y, 6, 0, 10000.0);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(y[i], x[i]);
  // Position 1, d = 4: pairs (0, 2) by 1 rad, (1, 3) by 10000^(-1/2) rad.
  float z[] = {1, 0, 0, 1};
  ops::applyRotary(z, 4, 1, 10000.0);
  EXPECT_NEAR(z[0], std::cos(1.0), 1e-7);
  EXPECT_NEAR(z[2], std::sin(1.0), 1e-7);
  EXPECT_NEAR(z[1], -std::sin(0.01), 1e-7);
  EXPECT_NEAR(z[3], std::cos(0.01), 1e-7);
  // q . k depends only on the distance of the positions.
  auto rotDot = [](int pq, int pk) {
    float q[] = {0.3f, -1.5f, 2.0f, 0.7f, 1.1f, -0.2f, 0.4f, 0.9f};
    float k[] = {1.2f, 0.1f, -0.8f, 0.5f, -0.3f, 0.6f, 1.0f, -1.1f};
    ops::applyRotary(q, 8, pq, 500.0);
    ops::applyRotary(k, 8, pk, 500.0);
    double s = 0;
    for (int i = 0; i < 8; ++i)
      s += double(q[i]) * k[i];
    return s;
  };
  EXPECT_NEAR(rotDot(5, 3), rotDot(2, 0), 1e-5);
  EXPECT_NEAR(rotDot(17, 4), rotDot(13, 0), 1e-5);
  EXPECT_GT(std::fabs(rotDot(5, 3) - rotDot(3, 0)), 1e-3);
}

TEST(ReferenceOps, DeltaRuleStep) {
  // dk = 2, dv = 2, k = e0, v = (1, 2), beta = 0.5, scale 1.
  float S[4] = {0, 0, 0, 0}, o[2];
  const float q[] = {1, 0}, k[] = {1, 0}, v[] = {1, 2};
  ops::deltaRuleStep(q, k, v, 0.5f, S, o, 2, 2, 1.0);
  EXPECT_EQ(S[0], 0.5f);
  EXPECT_EQ(S[1], 1.0f);
  EXPECT_EQ(S[2], 0.0f);
  EXPECT_EQ(S[3], 0.0f);
  EXPECT_EQ(o[0], 0.5f);
  EXPECT_EQ(o[1], 1.0f);
  // Again: u = 0.5 (v - S^T k) = (0.25, 0.5).
  ops::deltaRuleStep(q, k, v, 0.5f, S, o, 2, 2, 1.0);
  EXPECT_EQ(S[0], 0.75f);
  EXPECT_EQ(S[1], 1.5f);
  // beta = 1 writes v exactly under a unit key; q orthogonal reads 0 there.
  const float q1[] = {0, 1}, k1[] = {0, 1}, v1[] = {3, -4};
  ops::deltaRuleStep(q1, k1, v1, 1.0f, S, o, 2, 2, 0.5);
  EXPECT_EQ(S[2], 3.0f);
  EXPECT_EQ(S[3], -4.0f);
  EXPECT_EQ(o[0], 1.5f); // scale 0.5
  EXPECT_EQ(o[1], -2.0f);
  EXPECT_EQ(S[0], 0.75f); // the other row is untouched
}

TEST(ReferenceOps, Attention) {
  const float q[] = {1, 0};
  // One key: the output is its value, whatever the score.
  const float k1[] = {5, 5}, v1[] = {0.25f, -7, 3};
  float o[3];
  ops::attendOne(q, k1, 2, v1, 3, 1, 2, 3, 0.7, o);
  EXPECT_EQ(o[0], 0.25f);
  EXPECT_EQ(o[1], -7.0f);
  EXPECT_EQ(o[2], 3.0f);
  // Equal scores: the mean of the values.
  const float k2[] = {0, 1, 0, -1}, v2[] = {1, 2, 3, 4};
  ops::attendOne(q, k2, 2, v2, 2, 2, 2, 2, 1.0, o);
  EXPECT_FLOAT_EQ(o[0], 2.0f);
  EXPECT_FLOAT_EQ(o[1], 3.0f);
  // Scores differing by log 3: weights 3/4 and 1/4.
  const float k3[] = {float(std::log(3.0)), 0, 0, 0};
  ops::attendOne(q, k3, 2, v2, 2, 2, 2, 2, 1.0, o);
  EXPECT_NEAR(o[0], 0.75 * 1 + 0.25 * 3, 1e-6);
  EXPECT_NEAR(o[1], 0.75 * 2 + 0.25 * 4, 1e-6);
}

// ---------------------------------------------------------------------------
// The model

namespace {

/// Runs `ids` in the chunks `sizes` (summing to ids.size()) and returns the
/// concatenated logits.
std::vector<float> runChunks(const ReferenceModel &m,
                             const std::vector<int32_t> &ids,
                             const std::vector<size_t> &sizes) {
  SequenceState s = m.newSequence();
  std::vector<float> all;
  size_t at = 0;
  for (size_t n : sizes) {
    std::vector<int32_t> part(ids.begin() + long(at),
                              ids.begin() + long(at + n));
    std::vector<float> l = m.forward(s, part);
    all.insert(all.end(), l.begin(), l.end());
    at += n;
  }
  EXPECT_EQ(at, ids.size());
  EXPECT_EQ(s.position, int64_t(ids.size()));
  return all;
}

void expectPrefillEqualsDecode(const std::string &spec, int T) {
  ReferenceModel m = ReferenceModel::withRandomInit(parseModelSpec(spec), 7);
  const int64_t V = m.config().vocabSize;
  std::vector<int32_t> ids = tokens(T, int(V));
  SequenceState s = m.newSequence();
  std::vector<float> full = m.forward(s, ids);
  ASSERT_EQ(full.size(), size_t(T * V));
  for (float v : full)
    ASSERT_TRUE(std::isfinite(v));
  double scale = maxAbs(full);
  ASSERT_GT(scale, 0);
  // Every split point, then token by token.
  for (int first : {0, 1, 2, 3, 5, T - 1}) {
    std::vector<size_t> sizes;
    if (first > 0)
      sizes.push_back(size_t(first));
    for (int t = first; t < T; ++t)
      sizes.push_back(1);
    std::vector<float> inc = runChunks(m, ids, sizes);
    ASSERT_EQ(inc.size(), full.size());
    EXPECT_LE(maxAbsDiff(full.data(), inc.data(), full.size()), 1e-5 * scale)
        << "prefill of " << first << " tokens, then one at a time";
  }
  // Uneven chunks.
  std::vector<float> chunks = runChunks(m, ids, {3, 4, size_t(T - 7)});
  EXPECT_LE(maxAbsDiff(full.data(), chunks.data(), full.size()), 1e-5 * scale);
}

} // namespace

TEST(ReferenceModel, PrefillEqualsPrefillPlusDecode) {
  expectPrefillEqualsDecode(kTinyHybrid, 13);
}

TEST(ReferenceModel, PrefillEqualsDecodeVariants) {
  // No short convolutions, no gate, tied embeddings, no rotary, global
  // attention, fp16 weights, unequal dk / dv.
  expectPrefillEqualsDecode(
      R"({"vocab_size": 50, "hidden_size": 32, "num_layers": 2,
          "num_heads": 2, "head_dim": 8, "head_v_dim": 24,
          "use_short_conv": false, "use_gate": false,
          "tie_word_embeddings": true, "dtype": "fp16", "intermediate_size": 40,
          "attn": {"layers": [0], "num_heads": 4, "rope_theta": null}})",
      11);
  expectPrefillEqualsDecode(
      R"({"vocab_size": 50, "hidden_size": 32, "num_layers": 2,
          "num_heads": 4, "conv_size": 2, "qk_l2_norm": false,
          "intermediate_size": 40})",
      9);
  expectPrefillEqualsDecode(attentionOnly(2, "3"), 10);
}

TEST(ReferenceModel, Causality) {
  ReferenceModel m =
      ReferenceModel::withRandomInit(parseModelSpec(kTinyHybrid), 3);
  const int64_t V = m.config().vocabSize, T = 10;
  std::vector<int32_t> ids = tokens(int(T), int(V), 5);
  SequenceState s0 = m.newSequence();
  std::vector<float> base = m.forward(s0, ids);
  for (int64_t j : {0, 4, 9}) {
    std::vector<int32_t> changed = ids;
    changed[size_t(j)] = (changed[size_t(j)] + 17) % int32_t(V);
    SequenceState s = m.newSequence();
    std::vector<float> other = m.forward(s, changed);
    for (int64_t t = 0; t < T; ++t) {
      double diff =
          maxAbsDiff(&base[size_t(t * V)], &other[size_t(t * V)], size_t(V));
      if (t < j)
        EXPECT_EQ(diff, 0.0) << "token " << j << " changed logits at " << t;
      else
        EXPECT_GT(diff, 0.0) << "token " << j << " did not change logits at "
                             << t << " (the DeltaNet layers carry it)";
    }
  }
}

TEST(ReferenceModel, SlidingWindowReceptiveField) {
  // Attention only: with window W, layer outputs at t read inputs in
  // (t - W, t], so L layers see tokens >= t - L (W - 1) and nothing older.
  const int64_t W = 4, T = 12, t = T - 1;
  for (int layers : {1, 2}) {
    SCOPED_TRACE(testing::Message() << layers << " attention layers");
    ReferenceModel m = ReferenceModel::withRandomInit(
        parseModelSpec(attentionOnly(layers, std::to_string(W))), 11);
    const int64_t V = m.config().vocabSize;
    std::vector<int32_t> ids = tokens(int(T), int(V), 9);
    SequenceState s0 = m.newSequence();
    std::vector<float> base = row(m.forward(s0, ids), t, V);
    const int64_t oldest = t - layers * (W - 1);
    for (int64_t j = 0; j < T; ++j) {
      std::vector<int32_t> changed = ids;
      changed[size_t(j)] = (changed[size_t(j)] + 29) % int32_t(V);
      SequenceState s = m.newSequence();
      std::vector<float> other = row(m.forward(s, changed), t, V);
      double diff = maxAbsDiff(base.data(), other.data(), size_t(V));
      if (j < oldest)
        EXPECT_EQ(diff, 0.0) << "token " << j << " is outside the window";
      else
        EXPECT_GT(diff, 0.0) << "token " << j << " is inside the window";
    }
    // The same through decode: the trimmed KV cache still holds the window.
    SequenceState s = m.newSequence();
    std::vector<float> last;
    for (int32_t id : ids)
      last = m.forward(s, {id});
    EXPECT_LE(maxAbsDiff(base.data(), last.data(), size_t(V)),
              1e-5 * maxAbs(base));
    EXPECT_EQ(s.layers[0].kvStart, T - W + 1);
  }
  // Global attention: the first token still matters at the end.
  ReferenceModel g = ReferenceModel::withRandomInit(
      parseModelSpec(attentionOnly(1, "null")), 11);
  const int64_t V = g.config().vocabSize;
  std::vector<int32_t> ids = tokens(int(T), int(V), 9);
  SequenceState s1 = g.newSequence(), s2 = g.newSequence();
  std::vector<float> a = row(g.forward(s1, ids), t, V);
  ids[0] = (ids[0] + 29) % int32_t(V);
  std::vector<float> b = row(g.forward(s2, ids), t, V);
  EXPECT_GT(maxAbsDiff(a.data(), b.data(), size_t(V)), 0.0);
}

TEST(ReferenceModel, OneTokenAttentionLayerPassesV) {
  // With a single token, attention returns v exactly: the layer's residual
  // update is o_proj(v_proj(rmsnorm(x))) with query head i reading KV head
  // i / (H / HKV) (4 query heads of 2, 2 KV heads), checked by hand against
  // the weights.
  ReferenceConfig c = parseModelSpec(
      R"({"vocab_size": 8, "hidden_size": 8, "num_layers": 1, "num_heads": 1,
          "intermediate_size": 4,
          "attn": {"layers": [0], "num_heads": 4, "num_kv_heads": 2}})");
  // Zero MLP (down_proj) and identity-like norms: logits = lm_head .
  // rmsnorm(x + o_proj(attn)).
  ReferenceModel m(c, [](const WeightSpec &w, float *dst) {
    randomInitWeight(w, 5, DType::F32, dst);
    if (w.name == "layers.0.mlp.down_proj")
      std::fill(dst, dst + w.numel(), 0.0f);
  });
  SequenceState s = m.newSequence();
  std::vector<float> logits = m.forward(s, {3});
  const int64_t D = 8, d = 2, kvDim = 4;
  const std::vector<float> &emb = m.weight("embeddings");
  std::vector<float> x(emb.begin() + 3 * D, emb.begin() + 4 * D), h(D);
  ops::rmsNorm(x.data(), m.weight("layers.0.attn_norm").data(), nullptr,
               h.data(), D, 1e-6);
  std::vector<float> v(kvDim), o(D), out(D);
  ops::linear(h.data(), m.weight("layers.0.attn.v_proj").data(), v.data(), 1,
              kvDim, D);
  for (int64_t head = 0; head < 4; ++head) // heads 0, 1 -> KV 0; 2, 3 -> KV 1
    for (int64_t i = 0; i < d; ++i)
      o[size_t(head * d + i)] = v[size_t((head / 2) * d + i)];
  ops::linear(o.data(), m.weight("layers.0.attn.o_proj").data(), out.data(), 1,
              D, D);
  for (int64_t i = 0; i < D; ++i)
    x[size_t(i)] += out[size_t(i)];
  ops::rmsNorm(x.data(), m.weight("norm").data(), nullptr, x.data(), D, 1e-6);
  std::vector<float> ref(8);
  ops::linear(x.data(), m.weight("lm_head").data(), ref.data(), 1, 8, D);
  EXPECT_LE(maxAbsDiff(ref.data(), logits.data(), 8), 1e-6 * maxAbs(ref));
}

TEST(ReferenceModel, OneTokenDeltaLayerByHand) {
  // First token of a DeltaNet layer: S = beta k v^T, so o = scale beta
  // (q . k) v per head.
  ReferenceConfig c = parseModelSpec(
      R"({"vocab_size": 8, "hidden_size": 8, "num_layers": 1, "num_heads": 2,
          "intermediate_size": 4, "use_short_conv": false})");
  ReferenceModel m(c, [](const WeightSpec &w, float *dst) {
    randomInitWeight(w, 6, DType::F32, dst);
    if (w.name == "layers.0.mlp.down_proj")
      std::fill(dst, dst + w.numel(), 0.0f);
  });
  SequenceState s = m.newSequence();
  std::vector<float> logits = m.forward(s, {5});
  const int64_t D = 8, H = 2, dk = 4;
  auto W = [&](const char *n) {
    return m.weight(std::string("layers.0.") + n).data();
  };
  const std::vector<float> &emb = m.weight("embeddings");
  std::vector<float> x(emb.begin() + 5 * D, emb.begin() + 6 * D), h(D);
  ops::rmsNorm(x.data(), W("attn_norm"), nullptr, h.data(), D, 1e-6);
  std::vector<float> q(D), k(D), v(D), b(H), g(D), o(D), out(D);
  ops::linear(h.data(), W("attn.q_proj"), q.data(), 1, D, D);
  ops::linear(h.data(), W("attn.k_proj"), k.data(), 1, D, D);
  ops::linear(h.data(), W("attn.v_proj"), v.data(), 1, D, D);
  ops::linear(h.data(), W("attn.b_proj"), b.data(), 1, H, D);
  ops::linear(h.data(), W("attn.g_proj"), g.data(), 1, D, D);
  for (int64_t i = 0; i < D; ++i) {
    q[size_t(i)] = ops::silu(q[size_t(i)]);
    k[size_t(i)] = ops::silu(k[size_t(i)]);
    v[size_t(i)] = ops::silu(v[size_t(i)]);
  }
  for (int64_t hh = 0; hh < H; ++hh) {
    ops::l2Norm(&q[size_t(hh * dk)], dk);
    ops::l2Norm(&k[size_t(hh * dk)], dk);
    double qk = 0;
    for (int64_t i = 0; i < dk; ++i)
      qk += double(q[size_t(hh * dk + i)]) * k[size_t(hh * dk + i)];
    double beta = 1.0 / (1.0 + std::exp(-double(b[size_t(hh)])));
    for (int64_t i = 0; i < dk; ++i)
      o[size_t(hh * dk + i)] =
          float(qk * beta * v[size_t(hh * dk + i)] / std::sqrt(double(dk)));
    ops::rmsNorm(&o[size_t(hh * dk)], W("attn.o_norm"), &g[size_t(hh * dk)],
                 &o[size_t(hh * dk)], dk, 1e-6);
  }
  ops::linear(o.data(), W("attn.o_proj"), out.data(), 1, D, D);
  for (int64_t i = 0; i < D; ++i)
    x[size_t(i)] += out[size_t(i)];
  ops::rmsNorm(x.data(), m.weight("norm").data(), nullptr, x.data(), D, 1e-6);
  std::vector<float> ref(8);
  ops::linear(x.data(), m.weight("lm_head").data(), ref.data(), 1, 8, D);
  EXPECT_LE(maxAbsDiff(ref.data(), logits.data(), 8), 1e-5 * maxAbs(ref));
}

TEST(ReferenceModel, BadInputs) {
  ReferenceModel m =
      ReferenceModel::withRandomInit(parseModelSpec(kTinyHybrid), 1);
  SequenceState s = m.newSequence();
  EXPECT_THROW(m.forward(s, {1, 64}), std::out_of_range);
  EXPECT_THROW(m.forward(s, {-1}), std::out_of_range);
  EXPECT_EQ(s.position, 0);
  EXPECT_TRUE(m.forward(s, {}).empty());
  SequenceState wrong;
  EXPECT_THROW(m.forward(wrong, {1}), std::invalid_argument);
}

TEST(ReferenceModel, ExampleModelSpeed) {
  // The model of the GPU tests (hidden 256, 4 layers) over 300 tokens:
  // prefill 290 + 10 decode steps == a 300-token prefill.
  ReferenceModel m = ReferenceModel::withRandomInit(
      parseModelSpec(readSource("frontend/examples/hybrid_deltanet_swa.json")),
      0);
  const int64_t V = m.config().vocabSize;
  std::vector<int32_t> ids = tokens(300, int(V), 2);
  auto start = std::chrono::steady_clock::now();
  SequenceState s = m.newSequence();
  std::vector<float> full = m.forward(s, ids);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::cout << "300-token prefill of hybrid_deltanet_swa: " << seconds
            << " s\n";
  std::vector<size_t> sizes{290};
  for (int i = 0; i < 10; ++i)
    sizes.push_back(1);
  std::vector<float> inc = runChunks(m, ids, sizes);
  EXPECT_LE(maxAbsDiff(full.data(), inc.data(), full.size()),
            1e-5 * maxAbs(full));
}
