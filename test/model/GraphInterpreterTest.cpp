//===- GraphInterpreterTest.cpp - the compiled model graph vs the reference
//===//
//
// Runs the "model" section that deltac wrote for the example hybrid model
// (steps, values, states, weights: docs/package-format.md) with a plain fp32
// CPU interpreter built from the reference model's ops, and compares its
// logits with ReferenceModel::forward of the same spec and weights. This
// checks, without a GPU, that the graph the runtime executes is the model
// the spec describes (op order, operands, attributes), which the GPU tests
// then check kernel by kernel.
//
//===----------------------------------------------------------------------===//

#include "ModelGraph.h"
#include "ReferenceModel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

using namespace deltajit;
using namespace deltajit::reference;

namespace {

std::string readFile(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// fp32 execution of a parsed graph for one fresh sequence.
std::vector<float> interpret(const ModelGraph &g, const ReferenceModel &ref,
                             const std::vector<int32_t> &ids) {
  const int64_t T = int64_t(ids.size());
  std::vector<std::vector<float>> values(g.values.size());
  auto weight = [&](const GraphStep &s, const char *role) -> const float * {
    return ref.weight(g.weights[size_t(s.operand(role).index)].name).data();
  };
  auto val = [&](const GraphStep &s, const char *role) -> std::vector<float> & {
    return values[size_t(s.operand(role).index)];
  };
  for (const GraphStep &s : g.steps) {
    std::vector<float> &out = values[size_t(s.out)];
    const int64_t width = g.values[size_t(s.out)].width;
    out.assign(size_t(T * width), 0.0f);
    switch (s.op) {
    case StepOp::Embedding: {
      const float *table = weight(s, "table");
      for (int64_t t = 0; t < T; ++t)
        std::copy_n(table + ids[size_t(t)] * s.dim, s.dim,
                    out.begin() + t * s.dim);
      break;
    }
    case StepOp::RmsNorm: {
      const std::vector<float> &x = val(s, "x");
      const float *gate = s.has("gate") ? val(s, "gate").data() : nullptr;
      for (int64_t r = 0; r < T * width / s.dim; ++r)
        ops::rmsNorm(x.data() + r * s.dim, weight(s, "weight"),
                     gate ? gate + r * s.dim : nullptr, out.data() + r * s.dim,
                     s.dim, s.eps);
      break;
    }
    case StepOp::L2Norm:
      out = val(s, "x");
      for (int64_t r = 0; r < T * width / s.dim; ++r)
        ops::l2Norm(out.data() + r * s.dim, s.dim, s.eps);
      break;
    case StepOp::Linear:
      ops::linear(val(s, "x").data(), weight(s, "weight"), out.data(), T,
                  s.outFeatures, s.inFeatures);
      break;
    case StepOp::ShortConv: {
      std::vector<float> state(size_t(s.channels * (s.kernel - 1)), 0.0f);
      ops::shortConv(val(s, "x").data(), weight(s, "weight"), out.data(),
                     state.data(), T, s.channels, s.kernel,
                     s.activation == "silu");
      break;
    }
    case StepOp::Activation: {
      const std::vector<float> &x = val(s, "x");
      for (size_t i = 0; i < out.size(); ++i)
        out[i] = s.activation == "silu" ? ops::silu(x[i]) : ops::sigmoid(x[i]);
      break;
    }
    case StepOp::SwiGLU: {
      const std::vector<float> &a = val(s, "gate"), &b = val(s, "up");
      for (size_t i = 0; i < out.size(); ++i)
        out[i] = ops::silu(a[i]) * b[i];
      break;
    }
    case StepOp::Add: {
      const std::vector<float> &a = val(s, "a"), &b = val(s, "b");
      for (size_t i = 0; i < out.size(); ++i)
        out[i] = a[i] + b[i];
      break;
    }
    case StepOp::DeltaRule: {
      std::vector<float> q = val(s, "q"), k = val(s, "k");
      const std::vector<float> &v = val(s, "v"), &beta = val(s, "beta");
      if (s.useQkL2norm)
        for (int64_t r = 0; r < T * s.heads; ++r) {
          ops::l2Norm(q.data() + r * s.dk, s.dk);
          ops::l2Norm(k.data() + r * s.dk, s.dk);
        }
      const int64_t group = s.vHeads / s.heads;
      for (int64_t hv = 0; hv < s.vHeads; ++hv) {
        std::vector<float> S(size_t(s.dk * s.dv), 0.0f);
        const int64_t h = hv / group;
        for (int64_t t = 0; t < T; ++t)
          ops::deltaRuleStep(q.data() + (t * s.heads + h) * s.dk,
                             k.data() + (t * s.heads + h) * s.dk,
                             v.data() + (t * s.vHeads + hv) * s.dv,
                             beta[size_t(t * s.vHeads + hv)], S.data(),
                             out.data() + (t * s.vHeads + hv) * s.dv, s.dk,
                             s.dv, s.scale);
      }
      break;
    }
    case StepOp::Attention: {
      std::vector<float> q = val(s, "q"), k = val(s, "k");
      const std::vector<float> &v = val(s, "v");
      if (s.ropeTheta > 0)
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t h = 0; h < s.heads; ++h)
            ops::applyRotary(q.data() + (t * s.heads + h) * s.d, s.d, t,
                             s.ropeTheta);
          for (int64_t h = 0; h < s.kvHeads; ++h)
            ops::applyRotary(k.data() + (t * s.kvHeads + h) * s.d, s.d, t,
                             s.ropeTheta);
        }
      const int64_t group = s.heads / s.kvHeads;
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < s.heads; ++h) {
          int64_t lo =
              s.window > 0 ? std::max<int64_t>(0, t - s.window + 1) : 0;
          int64_t g0 = h / group;
          ops::attendOne(q.data() + (t * s.heads + h) * s.d,
                         k.data() + (lo * s.kvHeads + g0) * s.d,
                         s.kvHeads * s.d,
                         v.data() + (lo * s.kvHeads + g0) * s.dv,
                         s.kvHeads * s.dv, t - lo + 1, s.d, s.dv, s.scale,
                         out.data() + (t * s.heads + h) * s.dv);
        }
      break;
    }
    }
  }
  return values[size_t(g.logits)];
}

TEST(ModelGraphInterpreter, CompiledGraphMatchesTheReferenceModel) {
  ModelGraph g = readModelGraph(DELTAJIT_TEST_MODEL_PACKAGE_DEFAULT);
  ReferenceConfig config = parseModelSpec(readFile(DELTAJIT_TEST_MODEL_SPEC));
  ReferenceModel ref = ReferenceModel::withRandomInit(config, 3);
  // Every weight the graph reads exists in the reference with that shape.
  for (const TensorInfo &w : g.weights) {
    const std::vector<float> &values = ref.weight(w.name);
    int64_t n = 1;
    for (int64_t d : w.shape)
      n *= d;
    EXPECT_EQ(int64_t(values.size()), n) << w.name;
  }
  // Longer than the attention window would be slow here; 70 tokens cover
  // two delta-rule chunks, the short convolutions and attention.
  std::vector<int32_t> ids(70);
  for (size_t i = 0; i < ids.size(); ++i)
    ids[i] = int32_t((i * 7919 + 13) % size_t(config.vocabSize));
  std::vector<float> got = interpret(g, ref, ids);
  SequenceState st = ref.newSequence();
  std::vector<float> want = ref.forward(st, ids);
  ASSERT_EQ(got.size(), want.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  double rel = std::sqrt(num / den);
  std::printf("RESULT compiled graph vs reference model: relL2 %.3e\n", rel);
  // Both fp32 with the same ops; only summation orders may differ.
  EXPECT_LT(rel, 1e-5);
}

} // namespace
