//===- ModelGpuTest.cpp - whole models on the GPU vs the fp32 reference ---===//
//
// Runs the shipped example hybrid model (frontend/examples/
// hybrid_deltanet_swa.json: DeltaNet layers and sliding-window attention
// layers) through the public C API with the runtime's random weights, and
// compares its logits with the fp32 CPU reference model (ReferenceModel.h)
// fed the same weights: prefill of unequal prompts, decode after prefill,
// prefill-then-decode vs one longer prefill, CUDA-graph decode vs plain,
// state read/write, a safetensors checkpoint, and the error paths. Skipped,
// with the reason, where there is no GPU.
//
//===----------------------------------------------------------------------===//

#include "ReferenceModel.h"

#include "deltajit/deltajit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace deltajit::reference;

namespace {

/// bf16 activations between every op of a 4-layer model: the logits carry
/// a few bf16 roundings of O(1) values (2^-8 relative each) through ~40
/// ops; measured ~1e-2 (see the test output). The bound is 3e-2.
constexpr double kLogitsTolerance = 3e-2;

const char *packageDir() {
  const char *env = std::getenv("DELTAJIT_TEST_MODEL_PACKAGE");
  return env ? env : DELTAJIT_TEST_MODEL_PACKAGE_DEFAULT;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double relL2(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

class ModelEnv : public ::testing::Environment {
public:
  static dj_context_t *ctx;
  static dj_model_t *model;
  static std::string skipReason;
  static ReferenceModel *reference;

  void SetUp() override {
    dj_status_t st = dj_context_create(nullptr, &ctx);
    if (st == DJ_ERROR_NO_DRIVER || st == DJ_ERROR_NO_DEVICE) {
      skipReason = std::string("no GPU: ") + dj_last_error_message();
      ctx = nullptr;
      return;
    }
    ASSERT_EQ(st, DJ_OK) << dj_last_error_message();
    dj_model_options_t o;
    dj_model_options_init(&o);
    o.seed = 7;
    st = dj_model_load(ctx, packageDir(), &o, &model);
    ASSERT_EQ(st, DJ_OK) << packageDir() << ": " << dj_last_error_message();
    ReferenceConfig config = parseModelSpec(readFile(DELTAJIT_TEST_MODEL_SPEC));
    reference = new ReferenceModel(ReferenceModel::withRandomInit(config, 7));
  }
  void TearDown() override {
    delete reference;
    dj_model_destroy(model);
    dj_context_destroy(ctx);
  }
};
dj_context_t *ModelEnv::ctx = nullptr;
dj_model_t *ModelEnv::model = nullptr;
std::string ModelEnv::skipReason;
ReferenceModel *ModelEnv::reference = nullptr;

#define REQUIRE_GPU()                                                          \
  do {                                                                         \
    if (!ModelEnv::ctx)                                                        \
      GTEST_SKIP() << ModelEnv::skipReason;                                    \
  } while (0)

struct Session {
  dj_session_t *s = nullptr;
  explicit Session(int64_t batch, int64_t maxContext = 4096, int graph = 1) {
    dj_session_options_t o;
    dj_session_options_init(&o);
    o.max_batch = batch;
    o.max_context = maxContext;
    o.use_cuda_graph = graph;
    EXPECT_EQ(dj_session_create(ModelEnv::model, &o, &s), DJ_OK)
        << dj_last_error_message();
  }
  ~Session() { dj_session_destroy(s); }
};

std::vector<int32_t> prompt(int64_t n, uint32_t seed, int64_t vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  uint64_t x = 0x9E3779B97F4A7C15ull * (seed + 1);
  for (auto &id : ids) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    id = int32_t((x >> 33) % uint64_t(vocab));
  }
  return ids;
}

int64_t vocab() { return ModelEnv::reference->config().vocabSize; }

TEST(ModelGpu, PrefillLogitsMatchReference) {
  REQUIRE_GPU();
  // Unequal prompts, one longer than the attention window (512) and not a
  // multiple of the delta-rule chunk (64).
  std::vector<int64_t> lengths = {1, 37, 130, 600};
  std::vector<int32_t> ids;
  for (size_t i = 0; i < lengths.size(); ++i) {
    auto p = prompt(lengths[i], uint32_t(i), vocab());
    ids.insert(ids.end(), p.begin(), p.end());
  }
  Session s(int64_t(lengths.size()));
  std::vector<float> logits(ids.size() * size_t(vocab()));
  std::vector<int32_t> next(lengths.size());
  ASSERT_EQ(dj_session_prefill(s.s, ids.data(), lengths.data(),
                               int64_t(lengths.size()), nullptr, logits.data(),
                               1, next.data()),
            DJ_OK)
      << dj_last_error_message();
  size_t off = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    std::vector<int32_t> p(ids.begin() + long(off),
                           ids.begin() + long(off + size_t(lengths[i])));
    SequenceState st = ModelEnv::reference->newSequence();
    std::vector<float> ref = ModelEnv::reference->forward(st, p);
    double err =
        relL2(logits.data() + off * size_t(vocab()), ref.data(), ref.size());
    std::printf("RESULT prefill seq %zu (T=%lld): logits relL2 %.3e\n", i,
                (long long)lengths[i], err);
    EXPECT_LT(err, kLogitsTolerance) << "sequence " << i;
    // Greedy next token: the argmax of the last row.
    const float *last =
        logits.data() + (off + size_t(lengths[i]) - 1) * size_t(vocab());
    int32_t best = 0;
    for (int64_t v = 1; v < vocab(); ++v)
      if (last[v] > last[best])
        best = int32_t(v);
    EXPECT_EQ(next[i], best) << "sequence " << i;
    off += size_t(lengths[i]);
  }
}

TEST(ModelGpu, DecodeMatchesReferenceAndLongerPrefill) {
  REQUIRE_GPU();
  const int64_t T = 150, K = 20;
  std::vector<int32_t> ids = prompt(T + K, 11, vocab());
  // One long prefill, all logits.
  Session a(1);
  std::vector<float> full(size_t(T + K) * size_t(vocab()));
  int64_t len = T + K;
  ASSERT_EQ(dj_session_prefill(a.s, ids.data(), &len, 1, nullptr, full.data(),
                               1, nullptr),
            DJ_OK)
      << dj_last_error_message();
  // Prefill T, then K decode steps fed the same tokens.
  Session b(1);
  int64_t lenT = T;
  ASSERT_EQ(dj_session_prefill(b.s, ids.data(), &lenT, 1, nullptr, nullptr, 0,
                               nullptr),
            DJ_OK)
      << dj_last_error_message();
  SequenceState st = ModelEnv::reference->newSequence();
  std::vector<int32_t> head(ids.begin(), ids.begin() + T);
  ModelEnv::reference->forward(st, head);
  double worstPrefill = 0, worstRef = 0;
  std::vector<float> step(static_cast<size_t>(vocab()));
  for (int64_t k = 0; k < K; ++k) {
    int32_t id = ids[size_t(T + k)];
    ASSERT_EQ(dj_session_decode(b.s, &id, nullptr, step.data(), nullptr), DJ_OK)
        << dj_last_error_message();
    std::vector<float> ref = ModelEnv::reference->forward(st, {id});
    worstRef = std::max(worstRef, relL2(step.data(), ref.data(), ref.size()));
    worstPrefill = std::max(worstPrefill,
                            relL2(step.data(),
                                  full.data() + size_t(T + k) * size_t(vocab()),
                                  size_t(vocab())));
  }
  std::printf("RESULT decode after prefill(%lld), %lld steps: vs reference "
              "%.3e, vs one longer prefill %.3e\n",
              (long long)T, (long long)K, worstRef, worstPrefill);
  EXPECT_LT(worstRef, kLogitsTolerance);
  EXPECT_LT(worstPrefill, kLogitsTolerance);
  int64_t length = 0;
  ASSERT_EQ(dj_session_length(b.s, 0, &length), DJ_OK);
  EXPECT_EQ(length, T + K);
}

TEST(ModelGpu, GraphDecodeEqualsPlainDecode) {
  REQUIRE_GPU();
  std::vector<int64_t> lengths = {5, 64, 17};
  std::vector<int32_t> ids = prompt(5 + 64 + 17, 3, vocab());
  const int64_t steps = 24;
  std::vector<int32_t> outGraph(size_t(steps * 3)), outPlain(size_t(steps * 3));
  for (int graph = 0; graph < 2; ++graph) {
    Session s(3, 4096, graph);
    dj_session_options_t opts;
    ASSERT_EQ(dj_session_get_options(s.s, &opts), DJ_OK);
    EXPECT_EQ(opts.max_batch, 3);
    EXPECT_EQ(opts.max_context, 4096);
    EXPECT_EQ(opts.use_cuda_graph, graph);
    dj_sampling_t sampling{0.8f, 1234};
    ASSERT_EQ(dj_session_prefill(s.s, ids.data(), lengths.data(), 3, &sampling,
                                 nullptr, 0, nullptr),
              DJ_OK)
        << dj_last_error_message();
    ASSERT_EQ(dj_session_generate(s.s, steps, &sampling,
                                  graph ? outGraph.data() : outPlain.data()),
              DJ_OK)
        << dj_last_error_message();
  }
  EXPECT_EQ(outGraph, outPlain);
  // Sampling at temperature 0.8 over 72 draws does not collapse to one id.
  std::vector<int32_t> sorted = outGraph;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_GT(std::unique(sorted.begin(), sorted.end()) - sorted.begin(), 10);
}

TEST(ModelGpu, GreedyGenerateFollowsItsOwnLogits) {
  REQUIRE_GPU();
  std::vector<int32_t> ids = prompt(33, 5, vocab());
  int64_t len = 33;
  Session a(1), b(1);
  const int64_t steps = 8;
  std::vector<int32_t> gen(steps);
  int32_t first = -1;
  ASSERT_EQ(
      dj_session_prefill(a.s, ids.data(), &len, 1, nullptr, nullptr, 0, &first),
      DJ_OK);
  ASSERT_EQ(dj_session_generate(a.s, steps, nullptr, gen.data()), DJ_OK)
      << dj_last_error_message();
  // Step by step with the logits: each sampled id is the argmax.
  int32_t cur = -1;
  ASSERT_EQ(
      dj_session_prefill(b.s, ids.data(), &len, 1, nullptr, nullptr, 0, &cur),
      DJ_OK);
  EXPECT_EQ(cur, first);
  std::vector<float> logits(static_cast<size_t>(vocab()));
  for (int64_t k = 0; k < steps; ++k) {
    int32_t next = -1;
    ASSERT_EQ(dj_session_decode(b.s, &cur, nullptr, logits.data(), &next),
              DJ_OK);
    int32_t best = int32_t(std::max_element(logits.begin(), logits.end()) -
                           logits.begin());
    EXPECT_EQ(next, best);
    EXPECT_EQ(gen[size_t(k)], next) << "step " << k;
    cur = next;
  }
}

TEST(ModelGpu, StateReadWriteRoundTrip) {
  REQUIRE_GPU();
  std::vector<int32_t> ids = prompt(70, 9, vocab());
  int64_t len = 70;
  Session s(1);
  ASSERT_EQ(dj_session_prefill(s.s, ids.data(), &len, 1, nullptr, nullptr, 0,
                               nullptr),
            DJ_OK);
  size_t n = 0;
  ASSERT_EQ(dj_session_num_states(s.s, &n), DJ_OK);
  ASSERT_GT(n, 0u);
  std::vector<std::vector<char>> saved(n);
  for (size_t i = 0; i < n; ++i) {
    dj_state_info_t info;
    ASSERT_EQ(dj_session_state_info(s.s, i, &info), DJ_OK);
    saved[i].resize(info.bytes_per_sequence);
    ASSERT_EQ(
        dj_session_read_state(s.s, i, 0, saved[i].data(), saved[i].size()),
        DJ_OK)
        << dj_last_error_message();
  }
  int32_t tok = 42;
  std::vector<float> want(static_cast<size_t>(vocab())),
      got(static_cast<size_t>(vocab()));
  ASSERT_EQ(dj_session_decode(s.s, &tok, nullptr, want.data(), nullptr), DJ_OK);
  // Forget everything, restore, decode the same token again.
  ASSERT_EQ(dj_session_reset(s.s, 0), DJ_OK);
  for (size_t i = 0; i < n; ++i)
    ASSERT_EQ(
        dj_session_write_state(s.s, i, 0, saved[i].data(), saved[i].size()),
        DJ_OK)
        << dj_last_error_message();
  ASSERT_EQ(dj_session_set_length(s.s, 0, 70), DJ_OK);
  ASSERT_EQ(dj_session_decode(s.s, &tok, nullptr, got.data(), nullptr), DJ_OK)
      << dj_last_error_message();
  EXPECT_EQ(want, got);
  // Wrong sizes are refused.
  EXPECT_EQ(dj_session_read_state(s.s, 0, 0, saved[0].data(), 3),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(dj_last_error_message()).find("bytes per sequence"),
            std::string::npos);
}

/// Writes the model's random weights as a safetensors checkpoint with the
/// reference library's names.
void writeCheckpoint(const std::string &path, bool dropOne) {
  const ReferenceModel &ref = *ModelEnv::reference;
  std::string header = "{";
  std::vector<uint16_t> data;
  bool first = true;
  for (const WeightSpec &w : ref.weightList()) {
    if (dropOne && w.name == "norm")
      continue;
    std::string name =
        w.name == "lm_head" ? "lm_head.weight" : "model." + w.name + ".weight";
    size_t begin = data.size() * 2;
    for (float v : ref.weight(w.name)) {
      uint32_t u;
      std::memcpy(&u, &v, 4);
      data.push_back(uint16_t(u >> 16)); // values are bf16 already
    }
    header += std::string(first ? "" : ",") + "\"" + name +
              "\":{\"dtype\":\"BF16\",\"shape\":[";
    for (size_t i = 0; i < w.shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(w.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(begin) + "," +
              std::to_string(data.size() * 2) + "]}";
    first = false;
  }
  header += "}";
  while (header.size() % 8)
    header += ' ';
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header.size();
  out.write(reinterpret_cast<const char *>(&n), 8);
  out << header;
  out.write(reinterpret_cast<const char *>(data.data()),
            std::streamsize(data.size() * 2));
}

TEST(ModelGpu, SafetensorsCheckpointGivesTheSameLogits) {
  REQUIRE_GPU();
  std::string dir = ::testing::TempDir();
  std::string good = dir + "/deltajit-model-test.safetensors";
  std::string bad = dir + "/deltajit-model-test-missing.safetensors";
  writeCheckpoint(good, false);
  writeCheckpoint(bad, true);
  dj_model_options_t o;
  dj_model_options_init(&o);
  o.weights = good.c_str();
  dj_model_t *m = nullptr;
  ASSERT_EQ(dj_model_load(ModelEnv::ctx, packageDir(), &o, &m), DJ_OK)
      << dj_last_error_message();
  std::vector<int32_t> ids = prompt(40, 2, vocab());
  int64_t len = 40;
  std::vector<float> a(static_cast<size_t>(vocab())),
      b(static_cast<size_t>(vocab()));
  {
    dj_session_t *s = nullptr;
    ASSERT_EQ(dj_session_create(m, nullptr, &s), DJ_OK);
    ASSERT_EQ(dj_session_prefill(s, ids.data(), &len, 1, nullptr, a.data(), 0,
                                 nullptr),
              DJ_OK);
    dj_session_destroy(s);
  }
  dj_model_destroy(m);
  Session s(1);
  ASSERT_EQ(dj_session_prefill(s.s, ids.data(), &len, 1, nullptr, b.data(), 0,
                               nullptr),
            DJ_OK);
  EXPECT_EQ(a, b);

  o.weights = bad.c_str();
  m = nullptr;
  EXPECT_EQ(dj_model_load(ModelEnv::ctx, packageDir(), &o, &m),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(m, nullptr);
  EXPECT_NE(std::string(dj_last_error_message())
                .find("missing tensor 'model.norm.weight'"),
            std::string::npos)
      << dj_last_error_message();
  std::remove(good.c_str());
  std::remove(bad.c_str());
}

TEST(ModelGpu, BadInputsAreNamed) {
  REQUIRE_GPU();
  Session s(2, 64);
  int32_t ids[3] = {1, 2, int32_t(vocab())};
  int64_t lengths[2] = {2, 1};
  EXPECT_EQ(dj_session_decode(s.s, nullptr, nullptr, nullptr, nullptr),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(dj_last_error_message()).find("prefill"),
            std::string::npos);
  EXPECT_EQ(
      dj_session_prefill(s.s, ids, lengths, 2, nullptr, nullptr, 0, nullptr),
      DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(dj_last_error_message()).find("ids[2]"),
            std::string::npos)
      << dj_last_error_message();
  EXPECT_EQ(
      dj_session_prefill(s.s, ids, lengths, 3, nullptr, nullptr, 0, nullptr),
      DJ_ERROR_INVALID_ARGUMENT); // more sequences than max_batch
  int64_t zero[1] = {0};
  EXPECT_EQ(dj_session_prefill(s.s, ids, zero, 1, nullptr, nullptr, 0, nullptr),
            DJ_ERROR_INVALID_ARGUMENT);
  // The attention layers' KV caches hold max_context = 64 positions.
  std::vector<int32_t> longPrompt(65, 1);
  int64_t len = 65;
  EXPECT_EQ(dj_session_prefill(s.s, longPrompt.data(), &len, 1, nullptr,
                               nullptr, 0, nullptr),
            DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(dj_last_error_message()).find("max_context"),
            std::string::npos);
  // Not a model package.
  dj_model_t *m = nullptr;
  EXPECT_EQ(dj_model_load(ModelEnv::ctx, "/nonexistent-package", nullptr, &m),
            DJ_ERROR_PACKAGE);
}

} // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new ModelEnv);
  return RUN_ALL_TESTS();
}
