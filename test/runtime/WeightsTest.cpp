//===- WeightsTest.cpp - checkpoints against a package's weights ----------===//
//
// dj_weights_check with small safetensors files written by the test.
//
//===----------------------------------------------------------------------===//

#include "Weights.h"
#include "TestUtil.h"
#include "deltajit/deltajit.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace {

using deltajit::test::TempDir;

/// Writes a safetensors file whose header is `header` (JSON) followed by
/// `dataBytes` zero bytes.
void writeSafetensors(const std::string &path, const std::string &header,
                      size_t dataBytes = 64) {
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out.put(char((n >> (8 * i)) & 0xff));
  out << header << std::string(dataBytes, '\0');
}

/// A package directory whose manifest lists three weights.
void writePackage(const TempDir &dir) {
  std::ofstream(dir / "manifest.json")
      << R"({"format": "deltajit-package", "format_version": 1,
             "weights": [
               {"name": "embeddings", "dtype": "bf16", "shape": [16, 8]},
               {"name": "layers.0.attn.q_conv1d", "dtype": "bf16", "shape": [8, 4]},
               {"name": "lm_head", "dtype": "bf16", "shape": [16, 8]}]})";
}

const char *kGood =
    R"({"__metadata__": {"format": "pt"},
        "model.embeddings.weight": {"dtype": "BF16", "shape": [16, 8], "data_offsets": [0, 256]},
        "model.layers.0.attn.q_conv1d.weight": {"dtype": "F32", "shape": [8, 1, 4], "data_offsets": [256, 384]},
        "lm_head.weight": {"dtype": "F16", "shape": [16, 8], "data_offsets": [384, 640]}})";

TEST(Weights, MatchingCheckpointPasses) {
  TempDir dir;
  writePackage(dir);
  writeSafetensors(dir / "model.safetensors", kGood, 640);
  EXPECT_EQ(
      dj_weights_check(dir.path().c_str(), (dir / "model.safetensors").c_str()),
      DJ_OK)
      << dj_last_error_message();
}

TEST(Weights, EveryProblemIsNamed) {
  TempDir dir;
  writePackage(dir);
  writeSafetensors(
      dir / "bad.safetensors",
      R"({"model.embeddings.weight": {"dtype": "BF16", "shape": [16, 9], "data_offsets": [0, 1]},
          "model.layers.0.attn.q_conv1d.weight": {"dtype": "I8", "shape": [8, 4], "data_offsets": [0, 1]},
          "model.layers.0.attn.extra.weight": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 1]}})");
  EXPECT_EQ(
      dj_weights_check(dir.path().c_str(), (dir / "bad.safetensors").c_str()),
      DJ_ERROR_INVALID_ARGUMENT);
  std::string msg = dj_last_error_message();
  EXPECT_NE(msg.find("4 problem(s)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tensor 'model.embeddings.weight' has shape [16, 9], "
                     "the model needs [16, 8]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("tensor 'model.layers.0.attn.q_conv1d.weight' has dtype "
                     "i8 (supported: bf16, f16, f32)"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("missing tensor 'lm_head.weight' (bf16 [16, 8])"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("unexpected tensor 'model.layers.0.attn.extra.weight'"),
            std::string::npos)
      << msg;
}

TEST(Weights, MalformedFilesAreErrors) {
  TempDir dir;
  writePackage(dir);
  std::string ckpt = dir / "x.safetensors";
  std::ofstream(ckpt) << "abc";
  EXPECT_EQ(dj_weights_check(dir.path().c_str(), ckpt.c_str()),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(dj_last_error_message()).find("not a safetensors file"),
            std::string::npos);
  writeSafetensors(ckpt, "[1, 2]");
  EXPECT_EQ(dj_weights_check(dir.path().c_str(), ckpt.c_str()),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(dj_last_error_message()).find("not a JSON object"),
            std::string::npos);
  EXPECT_EQ(dj_weights_check(dir.path().c_str(),
                             (dir / "missing.safetensors").c_str()),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(dj_last_error_message()).find("cannot open checkpoint"),
            std::string::npos);
}

TEST(Weights, PackageWithoutWeightsIsAnError) {
  TempDir dir;
  std::ofstream(dir / "manifest.json") << R"({"format": "deltajit-package"})";
  writeSafetensors(dir / "m.safetensors", kGood, 640);
  EXPECT_EQ(
      dj_weights_check(dir.path().c_str(), (dir / "m.safetensors").c_str()),
      DJ_ERROR_PACKAGE);
  EXPECT_EQ(dj_weights_check(nullptr, "x"), DJ_ERROR_INVALID_ARGUMENT);
}

TEST(Weights, CheckpointNames) {
  EXPECT_EQ(deltajit::checkpointName("lm_head"), "lm_head.weight");
  EXPECT_EQ(deltajit::checkpointName("layers.3.mlp.up_proj"),
            "model.layers.3.mlp.up_proj.weight");
}

} // namespace
