//===- delta-bench.cpp - time deltajit's delta-rule kernels on a GPU ------===//
//
// Runs the shapes of shared/BENCHMARKS.md (forward, forward with state
// in/out, decode batches, a variable-length batch) through the runtime's C
// API and prints time (CUDA events, median after warm-up), TFLOP/s, GB/s and
// the fraction of the roofline; optionally writes JSON.
//
//===----------------------------------------------------------------------===//

#include "deltajit/deltajit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// Ceilings measured on the H200 (BENCHMARKS.md).
constexpr double kPeakBytesPerS = 4.2e12;
constexpr double kPeakFlopsPerS = 785e12;

struct Options {
  std::string package;
  std::string json;
  std::string only = "all";
  int warmup = 5, iters = 30;
  bool l2norm = true;
};

void usage() {
  std::printf(
      "delta-bench: time deltajit's delta-rule kernels on the GPU\n\n"
      "USAGE: delta-bench --package DIR [options]\n\n"
      "OPTIONS:\n"
      "  --package DIR   package compiled by deltac (--emit=package) holding\n"
      "                  delta_rule_forward / delta_rule_decode entries\n"
      "  --only KIND     forward | decode | varlen | all (default all)\n"
      "  --warmup N      untimed runs per shape (default 5)\n"
      "  --iters N       timed runs per shape; the median is reported "
      "(default 30)\n"
      "  --no-l2norm     use the entries without in-kernel q/k L2 norm\n"
      "  --json FILE     also write the results as JSON\n"
      "  --help          this text\n\n"
      "Each row: time (median of CUDA-event timings), TFLOP/s and GB/s by\n"
      "the counts of ALGORITHM.md (FLOPs 2(3d^2 + 5Cd), bytes 2(4d + 1) per\n"
      "token and head, plus f32 states when read or written), and the\n"
      "fraction of the roofline max(bytes / 4.2 TB/s, FLOPs / 785 TFLOP/s).\n"
      "Inputs are bf16 (random, normal-ish), states f32. Decode rows time\n"
      "32 steps queued back to back (ms per step, what a decoding loop gets)\n"
      "and, as 'latency', one step launched on an idle GPU (host launch path\n"
      "included); the steps take their states in turn from >= 256 MB of\n"
      "buffers, so that no state is read from L2. JSON: latency_ms (0 for\n"
      "forward rows).\n");
}

bool parse(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](const char *name) -> const char * {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "delta-bench: error: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else if (a == "--package") {
      o.package = next("--package");
    } else if (a == "--json") {
      o.json = next("--json");
    } else if (a == "--only") {
      o.only = next("--only");
    } else if (a == "--warmup") {
      o.warmup = std::atoi(next("--warmup"));
    } else if (a == "--iters") {
      o.iters = std::atoi(next("--iters"));
    } else if (a == "--no-l2norm") {
      o.l2norm = false;
    } else {
      std::fprintf(stderr,
                   "delta-bench: error: unknown option '%s' (see --help)\n",
                   a.c_str());
      return false;
    }
  }
  if (o.package.empty()) {
    std::fprintf(stderr, "delta-bench: error: --package DIR is required\n");
    return false;
  }
  if (o.iters < 1 || o.warmup < 0 ||
      (o.only != "all" && o.only != "forward" && o.only != "decode" &&
       o.only != "varlen")) {
    std::fprintf(stderr, "delta-bench: error: bad --iters/--warmup/--only\n");
    return false;
  }
  return true;
}

#define CHECK(call)                                                            \
  do {                                                                         \
    dj_status_t st_ = (call);                                                  \
    if (st_ != DJ_OK) {                                                        \
      std::fprintf(stderr, "delta-bench: error: %s: %s\n", #call,              \
                   dj_last_error_message());                                   \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)

dj_context_t *ctx;
dj_package_t *pkg;

/// Device buffer of `bytes` filled with small random bf16 (or f32) values.
void *randomBuffer(size_t count, bool f32, uint64_t seed) {
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  auto next = [&] {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return double((s >> 11) & ((1ull << 53) - 1)) / double(1ull << 53);
  };
  void *ptr = nullptr;
  size_t bytes = count * (f32 ? 4 : 2);
  CHECK(dj_malloc(ctx, bytes, &ptr));
  if (f32) {
    std::vector<float> h(count);
    for (float &x : h)
      x = float(next() - 0.5) * 0.2f;
    CHECK(dj_memcpy_htod(ctx, ptr, h.data(), bytes));
  } else {
    std::vector<uint16_t> h(count);
    for (uint16_t &x : h) {
      float f = float(next() - 0.5) * 2.0f;
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      x = uint16_t((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
    }
    CHECK(dj_memcpy_htod(ctx, ptr, h.data(), bytes));
  }
  return ptr;
}

/// Median milliseconds of `run` over the options' iterations.
template <typename F> double timeMs(const Options &o, F run) {
  for (int i = 0; i < o.warmup; ++i)
    run();
  CHECK(dj_synchronize(ctx));
  dj_event_t *start, *end;
  CHECK(dj_event_create(ctx, &start));
  CHECK(dj_event_create(ctx, &end));
  std::vector<double> ms;
  for (int i = 0; i < o.iters; ++i) {
    CHECK(dj_event_record(ctx, start, nullptr));
    run();
    CHECK(dj_event_record(ctx, end, nullptr));
    float t = 0;
    CHECK(dj_event_elapsed_ms(ctx, start, end, &t));
    ms.push_back(t);
  }
  dj_event_destroy(ctx, start);
  dj_event_destroy(ctx, end);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

/// Back-to-back launches per decode timing: the host queues this many
/// steps between two events, as a decoding loop does.
constexpr int kStepsPerSample = 32;

/// Median milliseconds per call of `run` when kStepsPerSample calls are
/// queued back to back (the GPU runs ahead of the host when the host's
/// launch path is the faster of the two).
template <typename F> double timeStepsMs(const Options &o, F run) {
  return timeMs(o,
                [&] {
                  for (int i = 0; i < kStepsPerSample; ++i)
                    run();
                }) /
         kStepsPerSample;
}

struct Row {
  std::string kind, shape;
  double ms, flops, bytes;
  double fla; ///< the reference library's figure (BENCHMARKS.md), ms; 0: none
  /// Decode rows: one launch on an idle GPU (host launch path included),
  /// ms; `ms` is then the time per step of back-to-back launches. 0: none.
  double latencyMs = 0;
};
std::vector<Row> rows;

void report(const Row &r) {
  double s = r.ms * 1e-3;
  double roof = std::max(r.bytes / kPeakBytesPerS, r.flops / kPeakFlopsPerS);
  std::printf("%-14s %-22s %9.3f ms %8.1f TFLOP/s %8.1f GB/s %6.1f%% roofline",
              r.kind.c_str(), r.shape.c_str(), r.ms, r.flops / s * 1e-12,
              r.bytes / s * 1e-9, 100.0 * roof / s);
  if (r.latencyMs > 0)
    std::printf("   latency %.3f ms", r.latencyMs);
  if (r.fla > 0)
    std::printf("   FLA %.3f ms (BENCHMARKS.md): x%.2f", r.fla, r.fla / r.ms);
  std::printf("\n");
  std::fflush(stdout);
  rows.push_back(r);
}

void forward(const Options &o, int64_t B, int64_t T, int64_t H, int64_t d,
             bool state, double fla, const std::vector<int64_t> &seqLens = {}) {
  const int64_t chunk = 64;
  int64_t N = seqLens.empty() ? B : int64_t(seqLens.size());
  std::vector<int64_t> cu;
  if (!seqLens.empty()) {
    cu.push_back(0);
    for (int64_t len : seqLens)
      cu.push_back(cu.back() + len);
    T = cu.back();
  }
  size_t tokens = size_t(B * T);
  void *q = randomBuffer(tokens * H * d, false, 1);
  void *k = randomBuffer(tokens * H * d, false, 2);
  void *v = randomBuffer(tokens * H * d, false, 3);
  void *beta = randomBuffer(tokens * H, false, 4);
  void *out = nullptr;
  CHECK(dj_malloc(ctx, tokens * H * d * 2, &out));
  void *h0 = nullptr, *ht = nullptr;
  if (state) {
    h0 = randomBuffer(size_t(N * H * d * d), true, 5);
    CHECK(dj_malloc(ctx, size_t(N * H * d * d) * 4, &ht));
  }
  dj_delta_rule_forward_args_t a = {};
  a.dtype = DJ_DTYPE_BF16;
  a.B = B;
  a.T = T;
  a.H = a.HV = H;
  a.DK = a.DV = d;
  a.q = q;
  a.k = k;
  a.v = v;
  a.beta = beta;
  a.o = out;
  a.h0 = h0;
  a.ht = ht;
  if (!cu.empty()) {
    a.cu_seqlens = cu.data();
    a.num_seqs = N;
  }
  a.scale = NAN;
  a.use_qk_l2norm = o.l2norm;
  double ms =
      timeMs(o, [&] { CHECK(dj_delta_rule_forward(ctx, pkg, &a, nullptr)); });
  double th = double(tokens) * double(H);
  double flops = th * 2.0 * (3.0 * d * d + 5.0 * chunk * d);
  double bytes = th * 2.0 * (4.0 * d + 1.0);
  if (state)
    bytes += 2.0 * double(N * H) * d * d * 4.0;
  char shape[64];
  if (seqLens.empty())
    std::snprintf(shape, sizeof shape, "%lldx%lldx%lldx%lld", (long long)B,
                  (long long)T, (long long)H, (long long)d);
  else
    std::snprintf(shape, sizeof shape, "varlen%zux%lld", seqLens.size(),
                  (long long)T);
  report({state ? "fwd+state" : (seqLens.empty() ? "fwd" : "fwd varlen"), shape,
          ms, flops, bytes, fla});
  for (void *p : {q, k, v, beta, out, h0, ht})
    dj_free(ctx, p);
}

void decode(const Options &o, int64_t N, int64_t H, int64_t d, double fla) {
  void *q = randomBuffer(size_t(N * H * d), false, 6);
  void *k = randomBuffer(size_t(N * H * d), false, 7);
  void *v = randomBuffer(size_t(N * H * d), false, 8);
  void *beta = randomBuffer(size_t(N * H), false, 9);
  // Steps take their states in turn from enough buffers (>= 256 MB in all)
  // that no step finds its state in L2 from an earlier one.
  size_t stateBytes = size_t(N * H * d * d) * 4;
  size_t sets = std::clamp<size_t>((size_t(256) << 20) / stateBytes, 2, 256);
  std::vector<void *> states;
  for (size_t i = 0; i < sets; ++i)
    states.push_back(randomBuffer(size_t(N * H * d * d), true, 10 + i));
  void *out = nullptr;
  CHECK(dj_malloc(ctx, size_t(N * H * d) * 2, &out));
  dj_delta_rule_decode_args_t a = {};
  a.dtype = DJ_DTYPE_BF16;
  a.N = N;
  a.H = a.HV = H;
  a.DK = a.DV = d;
  a.q = q;
  a.k = k;
  a.v = v;
  a.beta = beta;
  a.o = out;
  a.state_out = nullptr; // in place
  a.scale = NAN;
  a.use_qk_l2norm = o.l2norm;
  size_t next = 0;
  auto step = [&] {
    a.state_in = states[next++ % sets];
    CHECK(dj_delta_rule_decode(ctx, pkg, &a, nullptr));
  };
  double latency = timeMs(o, step);
  double ms = timeStepsMs(o, step);
  double bytes = double(N * H) * (2.0 * 4.0 * d * d + 2.0 * (4.0 * d + 1.0));
  double flops = double(N * H) * 6.0 * d * d;
  char shape[64];
  std::snprintf(shape, sizeof shape, "N=%lld H=%lld d=%lld", (long long)N,
                (long long)H, (long long)d);
  report({"decode", shape, ms, flops, bytes, fla, latency});
  for (void *p : {q, k, v, beta, out})
    dj_free(ctx, p);
  for (void *p : states)
    dj_free(ctx, p);
}

void writeJson(const std::string &path) {
  FILE *f = std::fopen(path.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "delta-bench: error: cannot write '%s'\n",
                 path.c_str());
    std::exit(1);
  }
  std::fprintf(f, "{\n  \"rows\": [\n");
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row &r = rows[i];
    double s = r.ms * 1e-3;
    double roof = std::max(r.bytes / kPeakBytesPerS, r.flops / kPeakFlopsPerS);
    std::fprintf(
        f,
        "    {\"kind\": \"%s\", \"shape\": \"%s\", \"ms\": %.6f, "
        "\"tflops\": %.3f, \"gbps\": %.1f, \"roofline_fraction\": %.4f, "
        "\"fla_ms_benchmarks_md\": %.4f, \"latency_ms\": %.6f}%s\n",
        r.kind.c_str(), r.shape.c_str(), r.ms, r.flops / s * 1e-12,
        r.bytes / s * 1e-9, roof / s, r.fla, r.latencyMs,
        i + 1 < rows.size() ? "," : "");
  }
  std::fprintf(f, "  ]\n}\n");
  std::fclose(f);
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  if (!parse(argc, argv, o))
    return 2;
  dj_status_t st = dj_context_create(nullptr, &ctx);
  if (st != DJ_OK) {
    std::fprintf(stderr, "delta-bench: error: %s\n", dj_last_error_message());
    return 1;
  }
  dj_device_info_t info;
  CHECK(dj_context_device_info(ctx, &info));
  CHECK(dj_package_load(ctx, o.package.c_str(), &pkg));
  std::printf("delta-bench on %s (sm_%d%d, %d SMs), package %s, bf16, "
              "q/k L2 norm %s, median of %d after %d warm-up\n",
              info.name, info.compute_capability_major,
              info.compute_capability_minor, info.sm_count, o.package.c_str(),
              o.l2norm ? "in kernel" : "off", o.iters, o.warmup);
  struct Fwd {
    int64_t B, T, H, d;
    double fla, flaState;
  };
  const Fwd fwd[] = {
      {8, 2048, 16, 128, 0.518, 0.529}, {4, 4096, 16, 128, 0.528, 0.575},
      {2, 8192, 16, 128, 0.711, 0.700}, {1, 16384, 16, 128, 0.794, 0.864},
      {4, 4096, 32, 64, 0.676, 0.682},  {4, 4096, 8, 256, 0.669, 0.569}};
  if (o.only == "all" || o.only == "forward")
    for (const Fwd &f : fwd) {
      forward(o, f.B, f.T, f.H, f.d, false, f.fla);
      forward(o, f.B, f.T, f.H, f.d, true, f.flaState);
    }
  if (o.only == "all" || o.only == "decode") {
    const std::pair<int64_t, double> batches[] = {
        {1, 0.135}, {16, 0.139}, {64, 0.059}, {256, 0.188}};
    for (auto [n, fla] : batches)
      decode(o, n, 16, 128, fla);
  }
  if (o.only == "all" || o.only == "varlen")
    forward(o, 1, 0, 16, 128, false, 0.0,
            {4096, 1000, 3000, 2500, 17, 5771}); // 16384 tokens
  if (!o.json.empty())
    writeJson(o.json);
  dj_package_destroy(pkg);
  dj_context_destroy(ctx);
  return 0;
}
