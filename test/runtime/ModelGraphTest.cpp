//===- ModelGraphTest.cpp - the manifest's model section, value planning --===//

#include "ModelGraph.h"
#include "Error.h"
#include "Model.h"

#include <gtest/gtest.h>

#include <set>

using namespace deltajit;
using nlohmann::json;

namespace {

/// A small valid model: embedding -> rms_norm -> linear (logits), plus a
/// residual add so one value lives across steps.
json smallManifest() {
  return json::parse(R"({
    "weights": [
      {"name": "embeddings", "shape": [16, 8], "dtype": "bf16"},
      {"name": "norm", "shape": [8], "dtype": "bf16"},
      {"name": "lm_head", "shape": [16, 8], "dtype": "bf16"}],
    "model": {
      "format_version": 1, "dtype": "bf16", "ids_dtype": "i64",
      "vocab": 16, "hidden": 8, "logits": "v3", "function": "forward",
      "values": [
        {"name": "v0", "dtype": "bf16", "width": 8},
        {"name": "v1", "dtype": "bf16", "width": 8},
        {"name": "v2", "dtype": "bf16", "width": 8},
        {"name": "v3", "dtype": "bf16", "width": 16}],
      "states": [],
      "steps": [
        {"op": "embedding", "ids": "ids", "table": "@embeddings", "out": "v0",
         "vocab": 16, "dim": 8},
        {"op": "rms_norm", "x": "v0", "weight": "@norm", "out": "v1",
         "dim": 8, "eps": 1e-6},
        {"op": "add", "a": "v0", "b": "v1", "out": "v2"},
        {"op": "linear", "x": "v2", "weight": "@lm_head", "out": "v3",
         "in_features": 8, "out_features": 16}]}})");
}

std::string parseError(const json &m) {
  try {
    parseModelGraph(m, "manifest.json");
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), DJ_ERROR_PACKAGE);
    return e.what();
  }
  return "(no error)";
}

TEST(ModelGraph, ParsesStepsValuesAndWeights) {
  ModelGraph g = parseModelGraph(smallManifest(), "manifest.json");
  EXPECT_EQ(g.vocab, 16);
  EXPECT_EQ(g.hidden, 8);
  ASSERT_EQ(g.steps.size(), 4u);
  EXPECT_EQ(g.steps[0].op, StepOp::Embedding);
  EXPECT_EQ(g.steps[0].operand("table").kind, GraphRef::Weight);
  EXPECT_EQ(g.steps[0].operand("table").index, 0);
  EXPECT_EQ(g.steps[3].op, StepOp::Linear);
  EXPECT_EQ(g.steps[3].outFeatures, 16);
  EXPECT_EQ(g.logits, 3);
  EXPECT_EQ(g.weights.size(), 3u);
}

TEST(ModelGraph, ErrorsNameTheField) {
  json m = smallManifest();
  m.erase("model");
  EXPECT_NE(parseError(m).find("not a model package"), std::string::npos);

  m = smallManifest();
  m["model"]["steps"][1]["op"] = "softmax";
  EXPECT_NE(parseError(m).find("model.steps[1].op: unknown op 'softmax'"),
            std::string::npos)
      << parseError(m);

  m = smallManifest();
  m["model"]["steps"][1]["x"] = "v2"; // defined by a later step
  EXPECT_NE(parseError(m).find("model.steps[1].x: 'v2' is not a value "
                               "defined by an earlier step"),
            std::string::npos)
      << parseError(m);

  m = smallManifest();
  m["model"]["steps"][3]["weight"] = "@unembed";
  EXPECT_NE(parseError(m).find("model.steps[3].weight: '@unembed' is not a "
                               "weight"),
            std::string::npos)
      << parseError(m);

  m = smallManifest();
  m["model"]["steps"][3]["in_features"] = 9;
  EXPECT_NE(parseError(m).find("model.steps[3]: x/out widths differ"),
            std::string::npos)
      << parseError(m);

  m = smallManifest();
  m["model"]["dtype"] = "f32";
  EXPECT_NE(parseError(m).find("model.dtype: 'f32' is not supported"),
            std::string::npos)
      << parseError(m);

  m = smallManifest();
  m["model"]["steps"][2]["out"] = "v1"; // defined twice
  EXPECT_NE(parseError(m).find("defined twice"), std::string::npos)
      << parseError(m);

  m = smallManifest();
  m["model"]["logits"] = "v2";
  EXPECT_NE(parseError(m).find("model.logits: width 8 differs from vocab 16"),
            std::string::npos)
      << parseError(m);
}

TEST(ValuePool, LiveValuesNeverShareABuffer) {
  ModelGraph g = parseModelGraph(smallManifest(), "manifest.json");
  ValuePool pool(g);
  const std::vector<int> &a = pool.assignment();
  // v0 lives until step 2 (the add), so v1 and v2 cannot take its buffer;
  // v1 dies at step 2, so v3 (step 3) may reuse v1's or v0's.
  EXPECT_NE(a[0], a[1]);
  EXPECT_NE(a[0], a[2]);
  EXPECT_NE(a[1], a[2]);
  EXPECT_NE(a[2], a[3]);
  EXPECT_LE(pool.numBuffers(), 3);
}

TEST(ValuePool, LongChainsReuseBuffers) {
  // A chain of 40 adds over two inputs: x_{i+1} = x_i + x_i. Two buffers
  // suffice however long the chain is.
  json m = smallManifest();
  json &model = m["model"];
  model["values"] = json::array();
  model["steps"] = json::array();
  model["values"].push_back({{"name", "e"}, {"dtype", "bf16"}, {"width", 8}});
  model["steps"].push_back({{"op", "embedding"},
                            {"ids", "ids"},
                            {"table", "@embeddings"},
                            {"out", "e"},
                            {"vocab", 16},
                            {"dim", 8}});
  std::string prev = "e";
  for (int i = 0; i < 40; ++i) {
    std::string v = "x" + std::to_string(i);
    model["values"].push_back({{"name", v}, {"dtype", "bf16"}, {"width", 8}});
    model["steps"].push_back(
        {{"op", "add"}, {"a", prev}, {"b", prev}, {"out", v}});
    prev = v;
  }
  model["values"].push_back({{"name", "l"}, {"dtype", "bf16"}, {"width", 16}});
  model["steps"].push_back({{"op", "linear"},
                            {"x", prev},
                            {"weight", "@lm_head"},
                            {"out", "l"},
                            {"in_features", 8},
                            {"out_features", 16}});
  model["logits"] = "l";
  ModelGraph g = parseModelGraph(m, "manifest.json");
  ValuePool pool(g);
  EXPECT_LE(pool.numBuffers(), 2);
}

} // namespace
