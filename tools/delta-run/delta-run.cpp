//===- delta-run.cpp - run a compiled model: prefill + decode -------------===//
//
// Loads a model package (deltac model.json --emit=package -o DIR; or
// compiles one first with --model), puts random or checkpoint weights on the
// GPU, prefills a batch of prompts and decodes, printing the generated token
// ids and the time of each phase (compile, load, prefill tokens/s, decode
// tokens/s). Everything goes through the public C API (deltajit.h).
//
//===----------------------------------------------------------------------===//

#include "deltajit/deltajit.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string package, model, deltac = "deltac", weights, json, ids, lengths;
  uint64_t seed = 0, sampleSeed = 0;
  int64_t batch = 1, promptLen = 128, steps = 32, maxContext = 4096;
  float temperature = 0;
  int warmup = 1;
  bool cudaGraph = true, quiet = false, ifGpu = false;
};

void usage() {
  std::printf(
      "delta-run: run a compiled deltajit model (prefill, then decode)\n\n"
      "USAGE: delta-run --package DIR [options]\n"
      "       delta-run --model SPEC.json --package DIR [options]\n\n"
      "MODEL:\n"
      "  --package DIR        model package (deltac SPEC --emit=package -o "
      "DIR)\n"
      "  --model FILE         compile FILE (model spec, config.json or .mlir)\n"
      "                       into --package DIR first, timing it\n"
      "  --deltac PATH        the compiler for --model (default: deltac on "
      "PATH)\n"
      "  --weights FILE       safetensors checkpoint (default: random "
      "weights)\n"
      "  --seed N             seed of the random weights (default 0)\n\n"
      "INPUT:\n"
      "  --ids LIST           prompt token ids, comma separated (every "
      "sequence)\n"
      "  --batch N            sequences (default 1)\n"
      "  --prompt-len N       random prompt length when --ids is absent "
      "(default 128)\n"
      "  --lengths LIST       per-sequence random prompt lengths (overrides\n"
      "                       --batch and --prompt-len)\n\n"
      "GENERATION:\n"
      "  --steps N            decode steps after the prefill (default 32)\n"
      "  --temperature T      0: greedy (default); else sampling\n"
      "  --sample-seed N      seed of the sampler (default 0)\n"
      "  --max-context N      KV-cache positions per sequence (default 4096)\n"
      "  --no-cuda-graph      decode without the captured CUDA graph\n"
      "  --warmup N           untimed prefill + decode rounds first (default "
      "1)\n\n"
      "OUTPUT:\n"
      "  --json FILE          write the timings and tokens as JSON\n"
      "  --quiet              print only the timings\n"
      "  --if-gpu             where there is no GPU or driver, say so and "
      "exit\n"
      "                       0 (for scripts that run on either kind of "
      "machine)\n"
      "  --help               this text\n\n"
      "Exit codes: 0 done, 1 error, 2 bad arguments, 3 no GPU / driver.\n"
      "Prints the generated ids per sequence, then: compile (when --model),\n"
      "load (JIT + weights), prefill (ms, tokens/s), decode (ms per step,\n"
      "tokens/s = batch x steps / time).\n");
}

bool parseList(const std::string &s, std::vector<int64_t> &out) {
  out.clear();
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos)
      j = s.size();
    std::string item = s.substr(i, j - i);
    char *end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end)
      return false;
    out.push_back(v);
    i = j + 1;
  }
  return !out.empty();
}

bool parse(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](const char *name) -> const char * {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "delta-run: error: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    auto integer = [&](const char *name, int64_t min) {
      const char *v = next(name);
      char *end = nullptr;
      long long x = std::strtoll(v, &end, 10);
      if (!*v || *end || x < min) {
        std::fprintf(stderr,
                     "delta-run: error: %s: '%s' is not an integer >= %lld\n",
                     name, v, (long long)min);
        std::exit(2);
      }
      return int64_t(x);
    };
    if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else if (a == "--package") {
      o.package = next("--package");
    } else if (a == "--model") {
      o.model = next("--model");
    } else if (a == "--deltac") {
      o.deltac = next("--deltac");
    } else if (a == "--weights") {
      o.weights = next("--weights");
    } else if (a == "--seed") {
      o.seed = uint64_t(integer("--seed", 0));
    } else if (a == "--ids") {
      o.ids = next("--ids");
    } else if (a == "--batch") {
      o.batch = integer("--batch", 1);
    } else if (a == "--prompt-len") {
      o.promptLen = integer("--prompt-len", 1);
    } else if (a == "--lengths") {
      o.lengths = next("--lengths");
    } else if (a == "--steps") {
      o.steps = integer("--steps", 0);
    } else if (a == "--temperature") {
      const char *v = next("--temperature");
      char *end = nullptr;
      o.temperature = std::strtof(v, &end);
      if (!*v || *end || !(o.temperature >= 0)) {
        std::fprintf(stderr,
                     "delta-run: error: --temperature: '%s' is not a number "
                     ">= 0\n",
                     v);
        return false;
      }
    } else if (a == "--sample-seed") {
      o.sampleSeed = uint64_t(integer("--sample-seed", 0));
    } else if (a == "--max-context") {
      o.maxContext = integer("--max-context", 1);
    } else if (a == "--no-cuda-graph") {
      o.cudaGraph = false;
    } else if (a == "--warmup") {
      o.warmup = int(integer("--warmup", 0));
    } else if (a == "--json") {
      o.json = next("--json");
    } else if (a == "--quiet") {
      o.quiet = true;
    } else if (a == "--if-gpu") {
      o.ifGpu = true;
    } else {
      std::fprintf(stderr,
                   "delta-run: error: unknown argument '%s' (see --help)\n",
                   a.c_str());
      return false;
    }
  }
  if (o.package.empty()) {
    std::fprintf(stderr, "delta-run: error: --package DIR is required (see "
                         "--help)\n");
    return false;
  }
  return true;
}

double seconds(std::chrono::steady_clock::time_point a) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - a)
      .count();
}

/// Prints the failed call and the runtime's message; returns the exit code.
int report(const char *what, dj_status_t s) {
  std::fprintf(stderr, "delta-run: error: %s: %s: %s\n", what,
               dj_status_string(s), dj_last_error_message());
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  if (!parse(argc, argv, o))
    return 2;

  // Prompts.
  std::vector<int64_t> lengths, fixed;
  if (!o.ids.empty() && !parseList(o.ids, fixed)) {
    std::fprintf(stderr,
                 "delta-run: error: --ids: '%s' is not a list of "
                 "integers\n",
                 o.ids.c_str());
    return 2;
  }
  if (!o.lengths.empty()) {
    if (!parseList(o.lengths, lengths) ||
        std::any_of(lengths.begin(), lengths.end(),
                    [](int64_t l) { return l < 1; })) {
      std::fprintf(stderr,
                   "delta-run: error: --lengths: '%s' is not a list "
                   "of positive integers\n",
                   o.lengths.c_str());
      return 2;
    }
  } else {
    lengths.assign(size_t(o.batch),
                   fixed.empty() ? o.promptLen : int64_t(fixed.size()));
  }

  double compileS = -1;
  if (!o.model.empty()) {
    std::string cmd = "'" + o.deltac + "' '" + o.model +
                      "' --emit=package -o '" + o.package + "'";
    auto t0 = std::chrono::steady_clock::now();
    int rc = std::system(cmd.c_str());
    compileS = seconds(t0);
    if (rc != 0) {
      std::fprintf(stderr, "delta-run: error: compiling '%s' failed: %s\n",
                   o.model.c_str(), cmd.c_str());
      return 1;
    }
  }

  dj_context_options_t copts;
  dj_context_options_init(&copts);
  dj_context_t *ctx = nullptr;
  if (dj_status_t s = dj_context_create(&copts, &ctx)) {
    if (o.ifGpu && (s == DJ_ERROR_NO_DRIVER || s == DJ_ERROR_NO_DEVICE)) {
      std::printf("delta-run: no GPU here (%s); the package '%s' is compiled "
                  "but not run\n",
                  dj_last_error_message(), o.package.c_str());
      return 0;
    }
    report("creating the context", s);
    return s == DJ_ERROR_NO_DRIVER || s == DJ_ERROR_NO_DEVICE ? 3 : 1;
  }

  dj_model_options_t mopts;
  dj_model_options_init(&mopts);
  mopts.weights = o.weights.empty() ? nullptr : o.weights.c_str();
  mopts.seed = o.seed;
  dj_model_t *model = nullptr;
  auto t0 = std::chrono::steady_clock::now();
  if (dj_status_t s = dj_model_load(ctx, o.package.c_str(), &mopts, &model)) {
    dj_context_destroy(ctx);
    return report("loading the model", s);
  }
  double loadS = seconds(t0);
  dj_model_info_t info;
  dj_model_get_info(model, &info);

  const int64_t batch = int64_t(lengths.size());
  std::vector<int32_t> ids;
  uint64_t lcg = 0x2545F4914F6CDD1Dull;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < lengths[size_t(b)]; ++t) {
      if (!fixed.empty()) {
        ids.push_back(int32_t(fixed[size_t(t)]));
      } else {
        lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
        ids.push_back(int32_t((lcg >> 33) % uint64_t(info.vocab)));
      }
    }
  int64_t tokens = int64_t(ids.size());

  dj_session_options_t sopts;
  dj_session_options_init(&sopts);
  sopts.max_batch = batch;
  sopts.max_context = o.maxContext;
  sopts.use_cuda_graph = o.cudaGraph;
  dj_session_t *session = nullptr;
  int rc = 0;
  std::vector<int32_t> next(static_cast<size_t>(batch)),
      out(size_t(std::max<int64_t>(o.steps, 0) * batch));
  double prefillS = 0, decodeS = 0;
  dj_sampling_t sampling{o.temperature, o.sampleSeed};
  // Whether decode replays a CUDA graph: the session's effective options
  // ($DELTAJIT_PROFILE turns graphs off).
  bool graph = false;
  if (dj_status_t s = dj_session_create(model, &sopts, &session)) {
    rc = report("creating the session", s);
  } else if (dj_status_t s = dj_session_get_options(session, &sopts)) {
    rc = report("reading the session's options", s);
  } else {
    graph = sopts.use_cuda_graph != 0;
    for (int round = 0; round <= o.warmup && rc == 0; ++round) {
      dj_status_t s = dj_session_reset(session, -1);
      if (s) {
        rc = report("resetting the session", s);
        break;
      }
      auto tp = std::chrono::steady_clock::now();
      s = dj_session_prefill(session, ids.data(), lengths.data(), batch,
                             &sampling, nullptr, 0, next.data());
      prefillS = seconds(tp);
      if (s) {
        rc = report("prefill", s);
        break;
      }
      auto td = std::chrono::steady_clock::now();
      if (o.steps > 0)
        s = dj_session_generate(session, o.steps, &sampling, out.data());
      decodeS = seconds(td);
      if (s)
        rc = report("decode", s);
    }
  }

  if (rc == 0) {
    if (!o.quiet)
      for (int64_t b = 0; b < batch; ++b) {
        std::printf("sequence %lld (%lld prompt tokens): %d", (long long)b,
                    (long long)lengths[size_t(b)], next[size_t(b)]);
        for (int64_t s = 0; s < o.steps; ++s)
          std::printf(" %d", out[size_t(s * batch + b)]);
        std::printf("\n");
      }
    double prefillTps = double(tokens) / prefillS;
    double decodeTps = o.steps > 0 ? double(o.steps * batch) / decodeS : 0;
    if (compileS >= 0)
      std::printf("compile: %.3f s\n", compileS);
    std::printf("load:    %.3f s (JIT + %.1f MB of %s weights%s)\n", loadS,
                double(info.weight_bytes) / 1e6, info.dtype,
                o.weights.empty() ? ", random" : "");
    std::printf("prefill: %lld tokens in %.3f ms: %.0f tokens/s\n",
                (long long)tokens, prefillS * 1e3, prefillTps);
    if (o.steps > 0)
      std::printf("decode:  %lld steps x %lld sequences in %.3f ms: %.3f ms "
                  "per step, %.0f tokens/s%s\n",
                  (long long)o.steps, (long long)batch, decodeS * 1e3,
                  decodeS * 1e3 / double(o.steps), decodeTps,
                  graph ? " (CUDA graph)" : "");
    if (!o.json.empty()) {
      FILE *f = std::fopen(o.json.c_str(), "w");
      if (!f) {
        std::fprintf(stderr, "delta-run: error: cannot write '%s'\n",
                     o.json.c_str());
        rc = 1;
      } else {
        std::fprintf(f,
                     "{\n  \"package\": \"%s\",\n  \"batch\": %lld,\n"
                     "  \"prompt_tokens\": %lld,\n  \"steps\": %lld,\n"
                     "  \"compile_s\": %.6f,\n  \"load_s\": %.6f,\n"
                     "  \"prefill_s\": %.6f,\n  \"prefill_tokens_per_s\": "
                     "%.1f,\n  \"decode_s\": %.6f,\n"
                     "  \"decode_tokens_per_s\": %.1f,\n  \"cuda_graph\": "
                     "%s,\n  \"generated\": [",
                     o.package.c_str(), (long long)batch, (long long)tokens,
                     (long long)o.steps, compileS, loadS, prefillS, prefillTps,
                     decodeS, decodeTps, graph ? "true" : "false");
        for (int64_t b = 0; b < batch; ++b) {
          std::fprintf(f, "%s[%d", b ? ", " : "", next[size_t(b)]);
          for (int64_t s = 0; s < o.steps; ++s)
            std::fprintf(f, ", %d", out[size_t(s * batch + b)]);
          std::fprintf(f, "]");
        }
        std::fprintf(f, "]\n}\n");
        std::fclose(f);
      }
    }
  }
  dj_session_destroy(session);
  dj_model_destroy(model);
  dj_context_destroy(ctx);
  return rc;
}
