//===- delta-tune.cpp - autotune the configs of a deltajit package --------===//
//
// For every op signature of a package with more than one config (compiled
// with `deltac --tune-space`), and every shape bucket of a shape list, runs
// each candidate config through the C API on random inputs, checks its
// output and final state against the reference (default, first) config's,
// times the ones that match (CUDA events, median after warm-up), and records
// the fastest in the tuning database the runtime reads
// (runtime/lib/TuningDB.h, docs/tuning.md). Also lists and clears that
// database, and lists a package's candidates, without a GPU.
//
//===----------------------------------------------------------------------===//

#include "Error.h"
#include "HalfFloat.h"
#include "Manifest.h"
#include "TuningDB.h"

#include "deltajit/deltajit.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

using namespace deltajit;
using nlohmann::json;

namespace {

//===----------------------------------------------------------------------===//
// Options
//===----------------------------------------------------------------------===//

struct Options {
  std::string package, db, json, shapes = "all";
  int warmup = 5, iters = 30, device = 0;
  double tolerance = 0; ///< 0: per dtype (bf16 1e-2, fp16 2e-3)
  double minGain = 0.02;
  bool list = false, clear = false, candidates = false, which = false,
       dryRun = false;
  int progress = -1; ///< -1: when stderr is a terminal
  std::set<std::string> skip;
};

void usage() {
  std::printf(
      "delta-tune: choose the fastest kernel config of a deltajit package "
      "per GPU and shape\n\n"
      "USAGE: delta-tune --package DIR [options]      tune (GPU)\n"
      "       delta-tune --package DIR --candidates   list what would be "
      "tuned\n"
      "       delta-tune --package DIR --which        what the runtime runs "
      "(GPU)\n"
      "       delta-tune --list | --clear [--db FILE] the tuning database\n\n"
      "OPTIONS:\n"
      "  --package DIR     a package compiled by deltac --tune-space (entries "
      "with\n"
      "                    the same keys and different \"config\"s)\n"
      "  --shapes SPEC     forward | decode | all (default: the shapes of "
      "BENCHMARKS.md),\n"
      "                    or shapes separated by ';': B,T,H,HV,DK,DV "
      "(forward) or\n"
      "                    N,H,HV,DK,DV (decode); the first shape of each "
      "bucket is tuned\n"
      "  --warmup N        untimed runs per config and shape (default 5)\n"
      "  --iters N         timed runs; the median counts (default 30)\n"
      "  --tolerance X     relative L2 bound of a config's o and final state "
      "vs the\n"
      "                    default config's (default 1e-2 for bf16, 2e-3 for "
      "fp16)\n"
      "  --min-gain F      a config must beat the default by this fraction "
      "to win\n"
      "                    (default 0.02: timing noise must not flip "
      "choices)\n"
      "  --skip-config C   never run config C (comma-separated; e.g. one "
      "that faults)\n"
      "  --device N        CUDA device ordinal (default 0)\n"
      "  --db FILE         the database (default $DELTAJIT_TUNING_DB, else\n"
      "                    <cache>/tuning/tuning-db.json; cache as the "
      "runtime's:\n"
      "                    $DELTAJIT_CACHE_DIR, $XDG_CACHE_HOME/deltajit, "
      "~/.cache/deltajit)\n"
      "  --dry-run         measure and report, do not write the database\n"
      "  --json FILE       also write every measurement as JSON\n"
      "  --progress        progress bar on stderr even when it is not a "
      "terminal\n"
      "  --no-progress     no progress bar\n"
      "  --list            print the database and exit\n"
      "  --clear           remove the database (its file and lock file "
      "only)\n"
      "  --candidates      print the package's op signatures and configs "
      "(no GPU)\n"
      "  --which           print the config the runtime runs for each shape "
      "and why\n"
      "                    (tuning database, package table, default; a "
      "segment scan's\n"
      "                    segment length), running nothing\n"
      "  --help            this text\n\n"
      "Buckets: forward nh<P>_len<L> (P, L: powers of two at or below "
      "sequences x HV\n"
      "and the mean tokens per sequence); decode nh<P> (N x HV). The runtime "
      "runs,\n"
      "for a call with several candidate entries, the database's winner for "
      "its GPU\n"
      "(name, SMs, compute capability, driver), runtime and compiler "
      "versions,\n"
      "op signature and bucket; else the package's tuning table; else the "
      "default.\n"
      "A segment-scan config (_seg<L>) runs the segment length the runtime "
      "chooses per\n"
      "call (L, or longer to fill the GPU's waves); DELTAJIT_SEGMENT_CHUNKS "
      "pins it,\n"
      "which delta-tune accepts only with --dry-run.\n");
}

[[noreturn]] void die(const std::string &message, int code = 1) {
  std::fprintf(stderr, "delta-tune: error: %s\n", message.c_str());
  std::exit(code);
}

bool parseArgs(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        die(a + " needs a value", 2);
      return argv[++i];
    };
    auto integer = [&](int lo) {
      std::string v = next();
      char *end = nullptr;
      long x = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || x < lo || x > 1000000)
        die("bad value '" + v + "' for " + a, 2);
      return int(x);
    };
    auto real = [&]() {
      std::string v = next();
      char *end = nullptr;
      double x = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(x >= 0) || !std::isfinite(x))
        die("bad value '" + v + "' for " + a, 2);
      return x;
    };
    if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else if (a == "--package") {
      o.package = next();
    } else if (a == "--shapes") {
      o.shapes = next();
    } else if (a == "--warmup") {
      o.warmup = integer(0);
    } else if (a == "--iters") {
      o.iters = integer(1);
    } else if (a == "--tolerance") {
      o.tolerance = real();
    } else if (a == "--min-gain") {
      o.minGain = real();
    } else if (a == "--skip-config") {
      std::string v = next();
      size_t start = 0;
      while (start <= v.size()) {
        size_t comma = v.find(',', start);
        std::string c = v.substr(start, comma - start);
        if (!c.empty())
          o.skip.insert(c);
        if (comma == std::string::npos)
          break;
        start = comma + 1;
      }
    } else if (a == "--device") {
      o.device = integer(0);
    } else if (a == "--db") {
      o.db = next();
    } else if (a == "--dry-run") {
      o.dryRun = true;
    } else if (a == "--json") {
      o.json = next();
    } else if (a == "--progress") {
      o.progress = 1;
    } else if (a == "--no-progress") {
      o.progress = 0;
    } else if (a == "--list") {
      o.list = true;
    } else if (a == "--clear") {
      o.clear = true;
    } else if (a == "--candidates") {
      o.candidates = true;
    } else if (a == "--which") {
      o.which = true;
    } else {
      std::fprintf(stderr,
                   "delta-tune: error: unknown option '%s' (see --help)\n",
                   a.c_str());
      return false;
    }
  }
  if (o.list + o.clear > 1) {
    std::fprintf(stderr, "delta-tune: error: --list and --clear exclude each "
                         "other\n");
    return false;
  }
  if (!o.list && !o.clear && o.package.empty()) {
    std::fprintf(stderr, "delta-tune: error: --package DIR is required (or "
                         "--list / --clear; see --help)\n");
    return false;
  }
  return true;
}

/// The database path: --db, else the runtime's (TuningDB::defaultPath).
std::string dbPath(const Options &o) {
  std::string path = o.db.empty() ? TuningDB::defaultPath("") : o.db;
  if (path.empty())
    die("no tuning database path: pass --db FILE or set DELTAJIT_TUNING_DB "
        "(no cache directory: HOME, XDG_CACHE_HOME and DELTAJIT_CACHE_DIR "
        "are unset)");
  return path;
}

//===----------------------------------------------------------------------===//
// --list, --clear, --candidates (no GPU)
//===----------------------------------------------------------------------===//

int listDb(const Options &o) {
  std::string path = dbPath(o);
  TuningDB::LoadStatus status;
  TuningDB db = TuningDB::load(path, &status);
  std::printf("tuning database %s: ", path.c_str());
  if (status == TuningDB::LoadStatus::Missing) {
    std::printf("none yet\n");
    return 0;
  }
  if (status == TuningDB::LoadStatus::Corrupt) {
    std::printf("unreadable or corrupt (ignored by the runtime; rebuilt by "
                "the next delta-tune run, or remove it with --clear)\n");
    return 0;
  }
  std::printf("%zu record(s)\n", db.records().size());
  std::vector<const TuningRecord *> sorted;
  for (const TuningRecord &r : db.records())
    sorted.push_back(&r);
  std::sort(sorted.begin(), sorted.end(),
            [](auto *a, auto *b) { return a->key() < b->key(); });
  std::string lastHeader;
  for (const TuningRecord *rp : sorted) {
    const TuningRecord &r = *rp;
    char header[1024];
    std::snprintf(header, sizeof header,
                  "\nGPU \"%s\" (compute capability %s, %d SMs, driver %d), "
                  "%s, packages of %s\n",
                  r.gpu.name.c_str(), r.gpu.computeCapability().c_str(),
                  r.gpu.smCount, r.gpu.driverVersion, r.runtimeVersion.c_str(),
                  r.compilerVersion.c_str());
    if (header != lastHeader) {
      std::fputs(header, stdout);
      std::printf("  %-52s %-16s %-22s %-9s %s\n", "op signature", "bucket",
                  "config", "vs dflt", "measured on");
      lastHeader = header;
    }
    double best = 0, dflt = 0;
    for (auto &[c, ms] : r.timesMs) {
      if (c == r.config)
        best = ms;
      if (c == r.defaultConfig)
        dflt = ms;
    }
    char gain[32] = "-";
    if (best > 0 && dflt > 0)
      std::snprintf(gain, sizeof gain, "x%.2f", dflt / best);
    std::printf("  %-52s %-16s %-22s %-9s %s %s\n", r.sig.describe().c_str(),
                r.bucket.c_str(), r.config.c_str(), gain, r.shape.c_str(),
                r.tunedAt.c_str());
  }
  return 0;
}

int clearDb(const Options &o) {
  std::string path = dbPath(o), error;
  if (!TuningDB::clear(path, &error))
    die(error);
  std::printf("delta-tune: removed the tuning database %s\n", path.c_str());
  return 0;
}

/// An op signature of a package and its candidate configs, in manifest
/// order (the first is the reference).
struct Group {
  OpSignature sig;
  std::vector<std::string> configs;
  bool unnamed = false; ///< an entry without a config
  std::string kernels;  ///< kernelsFingerprint of the candidates
  /// entryCodeFingerprint of each config's entry (where the package has
  /// kernel code fingerprints).
  std::map<std::string, std::string> codes;
};

std::vector<Group> groupsOf(const Manifest &m) {
  std::vector<Group> groups;
  for (const EntrySpec &e : m.entries) {
    if (e.op != "delta_rule_forward" && e.op != "delta_rule_decode")
      continue;
    OpSignature s = OpSignature::of(e);
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const Group &g) { return g.sig == s; });
    if (it == groups.end()) {
      groups.push_back({s, {}, false, kernelsFingerprint(m, s)});
      it = groups.end() - 1;
    }
    if (!e.config) {
      it->unnamed = true;
    } else if (std::find(it->configs.begin(), it->configs.end(), *e.config) ==
               it->configs.end()) {
      it->configs.push_back(*e.config);
      if (std::string code = entryCodeFingerprint(m, e); !code.empty())
        it->codes[*e.config] = code;
    }
  }
  return groups;
}

int listCandidates(const Options &o) {
  PackageContents p;
  try {
    p = readPackage(o.package);
  } catch (const Error &e) {
    die(e.what());
  }
  std::vector<Group> groups = groupsOf(p.manifest);
  std::printf("package %s (%s, %s): %zu op signature(s)\n", o.package.c_str(),
              p.manifest.producer.c_str(), p.manifest.target.arch.c_str(),
              groups.size());
  for (const Group &g : groups) {
    std::printf("  %s: %zu config(s)%s\n", g.sig.describe().c_str(),
                g.configs.size(),
                g.configs.size() > 1 ? " (tuned)" : " (nothing to tune)");
    for (size_t i = 0; i < g.configs.size(); ++i)
      std::printf("    %s%s\n", g.configs[i].c_str(),
                  i == 0 ? "  (default, reference)" : "");
  }
  for (const TuningTableSpec &t : p.manifest.tuning)
    std::printf("  tuning table for \"%s\" (compute capability %s): %zu "
                "row(s)\n",
                t.gpuName.c_str(), t.computeCapability.c_str(), t.rows.size());
  return 0;
}

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

struct Shape {
  bool decode = false;
  int64_t B = 1, T = 0, H = 16, HV = 16, DK = 0, DV = 0; ///< decode: N = B
  std::vector<int64_t> seqLens; ///< variable length (B = 1)
  bool custom = false;          ///< DK, DV given: only those signatures

  int64_t numSeqs() const {
    return seqLens.empty() ? B : int64_t(seqLens.size());
  }
  std::string bucket() const {
    return decode ? decodeBucket(B, HV) : forwardBucket(numSeqs(), HV, B * T);
  }
  std::string describe() const {
    char s[160];
    if (decode)
      std::snprintf(s, sizeof s, "N=%lld H=%lld HV=%lld", (long long)B,
                    (long long)H, (long long)HV);
    else if (!seqLens.empty())
      std::snprintf(s, sizeof s, "varlen %zu seqs T=%lld H=%lld HV=%lld",
                    seqLens.size(), (long long)T, (long long)H, (long long)HV);
    else
      std::snprintf(s, sizeof s, "B=%lld T=%lld H=%lld HV=%lld", (long long)B,
                    (long long)T, (long long)H, (long long)HV);
    return s;
  }
};

/// The shapes of BENCHMARKS.md (dk, dv from the signature).
std::vector<Shape> defaultShapes(bool forward, bool decode) {
  std::vector<Shape> shapes;
  if (forward) {
    const int64_t fwd[][3] = {{8, 2048, 16},  {4, 4096, 16}, {2, 8192, 16},
                              {1, 16384, 16}, {4, 4096, 32}, {4, 4096, 8}};
    for (auto &f : fwd) {
      Shape s;
      s.B = f[0];
      s.T = f[1];
      s.H = s.HV = f[2];
      shapes.push_back(s);
    }
    Shape v;
    v.seqLens = {4096, 1000, 3000, 2500, 17, 5771}; // 16384 tokens
    for (int64_t l : v.seqLens)
      v.T += l;
    shapes.push_back(v);
  }
  if (decode)
    for (int64_t n : {1, 16, 64, 256}) {
      Shape s;
      s.decode = true;
      s.B = n;
      shapes.push_back(s);
    }
  return shapes;
}

std::vector<Shape> parseShapes(const std::string &spec) {
  if (spec == "all")
    return defaultShapes(true, true);
  if (spec == "forward")
    return defaultShapes(true, false);
  if (spec == "decode")
    return defaultShapes(false, true);
  std::vector<Shape> shapes;
  size_t start = 0;
  while (start < spec.size()) {
    size_t semi = spec.find(';', start);
    std::string item = spec.substr(start, semi - start);
    start = semi == std::string::npos ? spec.size() : semi + 1;
    if (item.empty())
      continue;
    std::vector<int64_t> n;
    size_t p = 0;
    while (p <= item.size()) {
      size_t comma = item.find(',', p);
      std::string num = item.substr(p, comma - p);
      char *end = nullptr;
      long long x = std::strtoll(num.c_str(), &end, 10);
      if (num.empty() || *end || x < 1)
        die("--shapes: bad number '" + num + "' in '" + item +
                "' (expected B,T,H,HV,DK,DV or N,H,HV,DK,DV with positive "
                "integers, or forward | decode | all)",
            2);
      n.push_back(x);
      if (comma == std::string::npos)
        break;
      p = comma + 1;
    }
    Shape s;
    s.custom = true;
    if (n.size() == 6) {
      s.B = n[0], s.T = n[1], s.H = n[2], s.HV = n[3], s.DK = n[4], s.DV = n[5];
    } else if (n.size() == 5) {
      s.decode = true;
      s.B = n[0], s.H = n[1], s.HV = n[2], s.DK = n[3], s.DV = n[4];
    } else {
      die("--shapes: '" + item + "' has " + std::to_string(n.size()) +
              " numbers; expected 6 (B,T,H,HV,DK,DV) or 5 (N,H,HV,DK,DV)",
          2);
    }
    if (s.HV % s.H != 0)
      die("--shapes: '" + item + "': HV must be a multiple of H", 2);
    shapes.push_back(s);
  }
  if (shapes.empty())
    die("--shapes: no shapes in '" + spec + "'", 2);
  return shapes;
}

//===----------------------------------------------------------------------===//
// GPU helpers
//===----------------------------------------------------------------------===//

dj_context_t *ctx = nullptr;

/// A failed C API call: the call and the runtime's message.
struct CallError {
  std::string what;
};

void check(dj_status_t st, const char *call) {
  if (st != DJ_OK)
    throw CallError{std::string(call) + ": " + dj_status_string(st) + ": " +
                    dj_last_error_message()};
}
#define CHECK(call) check((call), #call)

/// Device memory freed on scope exit.
struct Buffer {
  void *ptr = nullptr;
  size_t bytes = 0;
  Buffer() = default;
  explicit Buffer(size_t n) : bytes(n) {
    if (n)
      CHECK(dj_malloc(ctx, n, &ptr));
  }
  ~Buffer() {
    if (ptr)
      dj_free(ctx, ptr);
  }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
};

/// Deterministic uniform numbers in [0, 1).
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  double next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return double((s >> 11) & ((1ull << 53) - 1)) / double(1ull << 53);
  }
};

/// Random host values: uniform in [lo, hi); rows of `rowLen` normalised to
/// unit L2 norm when `normalize` (so the recurrence stays bounded without
/// the in-kernel norm).
std::vector<float> randomValues(size_t n, uint64_t seed, double lo, double hi,
                                int64_t rowLen = 0, bool normalize = false) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float &x : v)
    x = float(lo + (hi - lo) * rng.next());
  if (normalize && rowLen > 0)
    for (size_t r = 0; r + size_t(rowLen) <= n; r += size_t(rowLen)) {
      double ss = 0;
      for (int64_t i = 0; i < rowLen; ++i)
        ss += double(v[r + i]) * v[r + i];
      float inv = float(1.0 / std::sqrt(ss + 1e-12));
      for (int64_t i = 0; i < rowLen; ++i)
        v[r + i] *= inv;
    }
  return v;
}

/// A device tensor of 16-bit values (bf16 or fp16) from host floats.
void upload16(Buffer &b, const std::vector<float> &v, bool bf16) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    h[i] = bf16 ? floatToBf16(v[i]) : floatToHalf(v[i]);
  CHECK(dj_memcpy_htod(ctx, b.ptr, h.data(), h.size() * 2));
}
void upload32(Buffer &b, const std::vector<float> &v) {
  CHECK(dj_memcpy_htod(ctx, b.ptr, v.data(), v.size() * 4));
}
std::vector<float> download16(const Buffer &b, size_t n, bool bf16) {
  std::vector<uint16_t> h(n);
  CHECK(dj_memcpy_dtoh(ctx, h.data(), b.ptr, n * 2));
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = bf16 ? bf16ToFloat(h[i]) : halfToFloat(h[i]);
  return v;
}
std::vector<float> download32(const Buffer &b, size_t n) {
  std::vector<float> v(n);
  CHECK(dj_memcpy_dtoh(ctx, v.data(), b.ptr, n * 4));
  return v;
}
/// Fills a buffer with NaNs (all bits set), so a config that writes
/// nothing cannot pass for the reference.
void poison(Buffer &b) {
  std::vector<uint8_t> ones(b.bytes, 0xff);
  CHECK(dj_memcpy_htod(ctx, b.ptr, ones.data(), ones.size()));
}

/// ||a - ref|| / ||ref|| (absolute when ref is 0); infinity when `a` has a
/// non-finite value.
double relL2(const std::vector<float> &a, const std::vector<float> &ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]))
      return INFINITY;
    double d = double(a[i]) - ref[i];
    num += d * d;
    den += double(ref[i]) * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

//===----------------------------------------------------------------------===//
// Tuning one (op signature, shape)
//===----------------------------------------------------------------------===//

struct CandidateResult {
  std::string config;
  std::string status; ///< "ok", "rejected", "failed"
  std::string reason;
  double relO = NAN, relState = NAN, ms = NAN;
};

struct ItemResult {
  const Group *group = nullptr;
  Shape shape;
  std::string bucket;
  std::string error; ///< the reference itself failed
  std::vector<CandidateResult> candidates;
  std::string winner;
};

struct Progress {
  bool enabled = false;
  size_t done = 0, total = 0;
  void show(const std::string &label) {
    if (!enabled)
      return;
    constexpr int kWidth = 30;
    int filled = total ? int(kWidth * done / total) : kWidth;
    std::string bar(size_t(filled), '#');
    bar.resize(kWidth, '.');
    std::string text = label.size() > 64 ? label.substr(0, 61) + "..." : label;
    std::fprintf(stderr, "\r[%s] %zu/%zu %-64s", bar.c_str(), done, total,
                 text.c_str());
    std::fflush(stderr);
  }
  void finish() {
    if (enabled)
      std::fprintf(stderr, "\r%*s\r", 110, "");
  }
};

/// Runs one call on the pinned config, timed `iters` times after `warmup`.
template <typename F> double medianMs(const Options &o, F call) {
  for (int i = 0; i < o.warmup; ++i)
    call();
  CHECK(dj_synchronize(ctx));
  dj_event_t *start = nullptr, *end = nullptr;
  CHECK(dj_event_create(ctx, &start));
  struct Events {
    dj_event_t *&a, *&b;
    ~Events() {
      dj_event_destroy(ctx, a);
      dj_event_destroy(ctx, b);
    }
  } events{start, end};
  CHECK(dj_event_create(ctx, &end));
  std::vector<double> ms;
  for (int i = 0; i < o.iters; ++i) {
    CHECK(dj_event_record(ctx, start, nullptr));
    call();
    CHECK(dj_event_record(ctx, end, nullptr));
    float t = 0;
    CHECK(dj_event_elapsed_ms(ctx, start, end, &t));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

/// Whether the context still works after a failed call (a kernel fault
/// leaves it unusable: every later call fails).
bool contextUsable(std::string &why) {
  dj_status_t st = dj_synchronize(ctx);
  if (st == DJ_OK)
    return true;
  why = dj_last_error_message();
  return false;
}

/// "fwd bf16 128x128 l2 8x2048x16/16": the progress bar's label.
std::string shortLabel(const Group &g, const Shape &s) {
  std::string l = (s.decode ? "dec " : "fwd ") + g.sig.dtype + " " +
                  std::to_string(g.sig.dk) + "x" + std::to_string(g.sig.dv) +
                  (g.sig.useQkL2norm ? " l2 " : " ");
  if (s.decode)
    l += "N=" + std::to_string(s.B);
  else if (!s.seqLens.empty())
    l += "varlen" + std::to_string(s.seqLens.size());
  else
    l += std::to_string(s.B) + "x" + std::to_string(s.T);
  return l + "x" + std::to_string(s.H) + "/" + std::to_string(s.HV);
}

ItemResult tuneItem(const Options &o, dj_package_t *pkg, const Group &g,
                    const Shape &shape, Progress &progress) {
  ItemResult item;
  item.group = &g;
  item.shape = shape;
  item.bucket = shape.bucket();
  bool bf16 = g.sig.dtype == "bf16";
  double tolerance = o.tolerance > 0 ? o.tolerance : bf16 ? 1e-2 : 2e-3;
  int64_t DK = g.sig.dk, DV = g.sig.dv;
  bool l2 = g.sig.useQkL2norm;
  std::string label = g.sig.describe() + " | " + shape.describe();
  std::string bar = shortLabel(g, shape);

  // Inputs and outputs (reused by every candidate).
  int64_t rows = shape.decode ? shape.B : shape.B * shape.T;
  int64_t N = shape.numSeqs();
  size_t qkN = size_t(rows * shape.H * DK), vN = size_t(rows * shape.HV * DV),
         betaN = size_t(rows * shape.HV),
         stateN = size_t(N * shape.HV * DK * DV);
  Buffer q(qkN * 2), k(qkN * 2), v(vN * 2), beta(betaN * 2), o_(vN * 2),
      s0(stateN * 4), s1(stateN * 4);
  upload16(q, randomValues(qkN, 1, -1, 1, DK, !l2), bf16);
  upload16(k, randomValues(qkN, 2, -1, 1, DK, !l2), bf16);
  upload16(v, randomValues(vN, 3, -1, 1), bf16);
  upload16(beta, randomValues(betaN, 4, 0.05, 0.95), bf16);
  upload32(s0, randomValues(stateN, 5, -0.1, 0.1));

  std::vector<int64_t> cu;
  dj_delta_rule_forward_args_t fa{};
  dj_delta_rule_decode_args_t da{};
  dj_dtype_t dtype = bf16 ? DJ_DTYPE_BF16 : DJ_DTYPE_FP16;
  if (shape.decode) {
    da.dtype = dtype;
    da.N = shape.B;
    da.H = shape.H;
    da.HV = shape.HV;
    da.DK = DK;
    da.DV = DV;
    da.q = q.ptr;
    da.k = k.ptr;
    da.v = v.ptr;
    da.beta = beta.ptr;
    da.o = o_.ptr;
    da.state_in = s0.ptr;
    da.state_out = s1.ptr; // out of place: every run reads the same state
    da.scale = NAN;
    da.use_qk_l2norm = l2;
  } else {
    fa.dtype = dtype;
    fa.B = shape.B;
    fa.T = shape.T;
    fa.H = shape.H;
    fa.HV = shape.HV;
    fa.DK = DK;
    fa.DV = DV;
    fa.q = q.ptr;
    fa.k = k.ptr;
    fa.v = v.ptr;
    fa.beta = beta.ptr;
    fa.o = o_.ptr;
    fa.h0 = s0.ptr;
    fa.ht = s1.ptr;
    if (!shape.seqLens.empty()) {
      cu.push_back(0);
      for (int64_t l : shape.seqLens)
        cu.push_back(cu.back() + l);
      fa.cu_seqlens = cu.data();
      fa.num_seqs = N;
    }
    fa.scale = NAN;
    fa.use_qk_l2norm = l2;
    fa.chunk_size = int(g.sig.chunk.value_or(0));
  }
  auto call = [&] {
    if (shape.decode)
      CHECK(dj_delta_rule_decode(ctx, pkg, &da, nullptr));
    else
      CHECK(dj_delta_rule_forward(ctx, pkg, &fa, nullptr));
  };

  // Correctness: every candidate against the reference (the first).
  std::vector<float> refO, refS;
  for (size_t i = 0; i < g.configs.size(); ++i) {
    CandidateResult c;
    c.config = g.configs[i];
    progress.show(bar + " check " + c.config);
    if (i > 0 && o.skip.count(c.config)) {
      c.status = "skipped";
      c.reason = "--skip-config";
      item.candidates.push_back(c);
      continue;
    }
    try {
      CHECK(dj_package_pin_config(pkg, c.config.c_str()));
      poison(o_);
      poison(s1);
      call();
      CHECK(dj_synchronize(ctx));
      std::vector<float> out = download16(o_, vN, bf16);
      std::vector<float> state = download32(s1, stateN);
      if (i == 0) {
        refO = std::move(out);
        refS = std::move(state);
        for (float x : refO)
          if (!std::isfinite(x))
            throw CallError{"the reference config's output is not finite"};
        c.status = "ok";
        c.relO = c.relState = 0;
      } else {
        c.relO = relL2(out, refO);
        c.relState = relL2(state, refS);
        if (c.relO <= tolerance && c.relState <= tolerance) {
          c.status = "ok";
        } else {
          char why[160];
          std::snprintf(why, sizeof why,
                        "differs from %s: rel L2 o %.3g, state %.3g > %.3g",
                        g.configs[0].c_str(), c.relO, c.relState, tolerance);
          c.status = "rejected";
          c.reason = why;
        }
      }
    } catch (const CallError &e) {
      std::string why;
      if (!contextUsable(why))
        die("config " + c.config + " on " + label + " failed (" + e.what +
            ") and left the CUDA context unusable (" + why +
            "); rerun with --skip-config " + c.config);
      if (i == 0) {
        item.error = "the reference config " + c.config + " failed: " + e.what;
        dj_package_pin_config(pkg, nullptr);
        return item;
      }
      c.status = "failed";
      c.reason = e.what;
    }
    item.candidates.push_back(c);
  }

  // Timing of the candidates that matched.
  for (CandidateResult &c : item.candidates) {
    if (c.status != "ok")
      continue;
    progress.show(bar + " time " + c.config);
    try {
      CHECK(dj_package_pin_config(pkg, c.config.c_str()));
      c.ms = medianMs(o, call);
    } catch (const CallError &e) {
      std::string why;
      if (!contextUsable(why))
        die("config " + c.config + " on " + label + " failed while timing (" +
            e.what + ") and left the CUDA context unusable (" + why +
            "); rerun with --skip-config " + c.config);
      c.status = "failed";
      c.reason = e.what;
    }
  }
  dj_package_pin_config(pkg, nullptr);

  // The winner: the fastest, if it beats the reference by --min-gain.
  const CandidateResult &ref = item.candidates.front();
  item.winner = ref.config;
  double best = ref.status == "ok" ? ref.ms : INFINITY;
  for (const CandidateResult &c : item.candidates)
    if (c.status == "ok" && c.config != ref.config && c.ms < best &&
        c.ms * (1.0 + o.minGain) <= ref.ms) {
      best = c.ms;
      item.winner = c.config;
    }
  if (ref.status != "ok")
    item.error = "the reference config " + ref.config +
                 " failed while timing: " + ref.reason;
  return item;
}

std::string nowUtc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char s[32];
  std::strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return s;
}

void printItem(const ItemResult &item) {
  std::printf("\n%s | %s | bucket %s\n", item.group->sig.describe().c_str(),
              item.shape.describe().c_str(), item.bucket.c_str());
  if (!item.error.empty()) {
    std::printf("  not tuned: %s\n", item.error.c_str());
    return;
  }
  double refMs = item.candidates.front().ms;
  for (const CandidateResult &c : item.candidates) {
    char ms[32] = "-", speed[32] = "-", err[48] = "-";
    if (std::isfinite(c.ms)) {
      std::snprintf(ms, sizeof ms, "%.4f ms", c.ms);
      std::snprintf(speed, sizeof speed, "x%.2f", refMs / c.ms);
    }
    if (std::isfinite(c.relO) || std::isfinite(c.relState))
      std::snprintf(err, sizeof err, "%.1e / %.1e", c.relO, c.relState);
    std::printf("  %-24s %12s %7s  rel L2 o/state %-17s %s%s%s\n",
                c.config.c_str(), ms, speed, err,
                c.config == item.winner ? "WINNER " : "", c.status.c_str(),
                c.reason.empty() ? "" : (": " + c.reason).c_str());
  }
}

json itemJson(const ItemResult &item) {
  json cands = json::array();
  for (const CandidateResult &c : item.candidates) {
    json j = {{"config", c.config}, {"status", c.status}};
    if (!c.reason.empty())
      j["reason"] = c.reason;
    if (std::isfinite(c.ms))
      j["ms"] = c.ms;
    if (std::isfinite(c.relO))
      j["rel_l2_o"] = c.relO;
    if (std::isfinite(c.relState))
      j["rel_l2_state"] = c.relState;
    cands.push_back(j);
  }
  json j = {{"signature", item.group->sig.describe()},
            {"shape", item.shape.describe()},
            {"bucket", item.bucket},
            {"reference", item.group->configs.front()},
            {"candidates", cands}};
  if (item.error.empty())
    j["winner"] = item.winner;
  else
    j["error"] = item.error;
  return j;
}

/// The entry config the runtime runs for `shape` on `pkg` (nothing is
/// launched: validation only needs non-null pointers) and why.
bool runtimeChoice(dj_package_t *pkg, const Group &g, const Shape &shape,
                   std::string &config, dj_entry_choice_t &how,
                   std::string &error, int64_t *segmentChunks = nullptr) {
  void *fake = reinterpret_cast<void *>(uintptr_t(256));
  size_t index = 0;
  dj_status_t st;
  dj_dtype_t dtype = g.sig.dtype == "bf16" ? DJ_DTYPE_BF16 : DJ_DTYPE_FP16;
  std::vector<int64_t> cu;
  if (shape.decode) {
    dj_delta_rule_decode_args_t a{};
    a.dtype = dtype;
    a.N = shape.B, a.H = shape.H, a.HV = shape.HV;
    a.DK = g.sig.dk, a.DV = g.sig.dv;
    a.q = a.k = a.v = a.beta = a.state_in = fake;
    a.o = fake;
    a.scale = NAN;
    a.use_qk_l2norm = g.sig.useQkL2norm;
    st = dj_delta_rule_decode_entry(ctx, pkg, &a, &index, &how);
  } else {
    dj_delta_rule_forward_args_t a{};
    a.dtype = dtype;
    a.B = shape.B, a.T = shape.T, a.H = shape.H, a.HV = shape.HV;
    a.DK = g.sig.dk, a.DV = g.sig.dv;
    a.q = a.k = a.v = a.beta = fake;
    a.o = fake;
    if (!shape.seqLens.empty()) {
      cu.push_back(0);
      for (int64_t l : shape.seqLens)
        cu.push_back(cu.back() + l);
      a.cu_seqlens = cu.data();
      a.num_seqs = int64_t(shape.seqLens.size());
    }
    a.scale = NAN;
    a.use_qk_l2norm = g.sig.useQkL2norm;
    a.chunk_size = int(g.sig.chunk.value_or(0));
    st = dj_delta_rule_forward_entry(ctx, pkg, &a, &index, &how);
    if (st == DJ_OK && segmentChunks)
      st = dj_delta_rule_forward_segment_chunks(ctx, pkg, &a, index,
                                                segmentChunks);
  }
  const char *name = nullptr;
  if (st == DJ_OK)
    st = dj_package_entry_config(pkg, index, &name);
  if (st != DJ_OK) {
    error = std::string(": ") + dj_last_error_message();
    return false;
  }
  config = name ? name : "(unnamed)";
  return true;
}

const char *choiceName(dj_entry_choice_t how) {
  switch (how) {
  case DJ_CHOICE_ONLY:
    return "only config";
  case DJ_CHOICE_DEFAULT:
    return "default";
  case DJ_CHOICE_TUNING_DB:
    return "tuning database";
  case DJ_CHOICE_PACKAGE_TABLE:
    return "package tuning table";
  case DJ_CHOICE_PINNED:
    return "pinned";
  case DJ_CHOICE_RULE:
    return "long-sequence rule";
  }
  return "?";
}

/// (group, shape) pairs: the shapes of each group's kind and head sizes,
/// the first of each bucket; groups with one config only when `all`.
std::vector<std::pair<const Group *, Shape>>
workList(const std::vector<Group> &groups, const std::vector<Shape> &shapes,
         bool all) {
  std::vector<std::pair<const Group *, Shape>> work;
  for (const Group &g : groups) {
    if (!all && g.configs.size() < 2)
      continue;
    if (!all && g.unnamed) {
      std::printf("note: %s has entries without a config; not tuned\n",
                  g.sig.describe().c_str());
      continue;
    }
    std::set<std::string> buckets;
    bool decode = g.sig.op == "delta_rule_decode";
    for (Shape s : shapes) {
      if (s.decode != decode)
        continue;
      if (s.custom && (s.DK != g.sig.dk || s.DV != g.sig.dv))
        continue;
      s.DK = g.sig.dk;
      s.DV = g.sig.dv;
      if (!buckets.insert(s.bucket()).second) {
        if (s.custom)
          std::printf("note: %s: %s is in bucket %s, tuned with an earlier "
                      "shape\n",
                      g.sig.describe().c_str(), s.describe().c_str(),
                      s.bucket().c_str());
        continue;
      }
      work.push_back({&g, s});
    }
  }
  return work;
}

/// Opens the context and the package; dies with the reason on failure.
void open(const Options &o, dj_device_info_t &info, dj_package_t *&pkg,
          dj_package_info_t &pinfo, std::vector<Group> &groups) {
  dj_context_options_t opts;
  dj_context_options_init(&opts);
  opts.device_ordinal = o.device;
  dj_status_t st = dj_context_create(&opts, &ctx);
  if (st != DJ_OK)
    die(std::string("cannot use the GPU: ") + dj_status_string(st) + ": " +
        dj_last_error_message());
  try {
    CHECK(dj_context_device_info(ctx, &info));
    CHECK(dj_package_load(ctx, o.package.c_str(), &pkg));
    CHECK(dj_package_get_info(pkg, &pinfo));
    groups = groupsOf(readPackage(o.package).manifest);
  } catch (const CallError &e) {
    die(e.what);
  } catch (const Error &e) {
    die(e.what());
  }
}

/// --which: the config the runtime runs for each shape, and why.
int which(const Options &o) {
  std::vector<Shape> shapes = parseShapes(o.shapes);
  if (!o.db.empty())
    ::setenv("DELTAJIT_TUNING_DB", o.db.c_str(), 1);
  dj_device_info_t info;
  dj_package_t *pkg = nullptr;
  dj_package_info_t pinfo;
  std::vector<Group> groups;
  open(o, info, pkg, pinfo, groups);
  GpuKey gpu = GpuKey::of(info);
  std::printf("on %s (compute capability %s, %d SMs, driver %d), tuning "
              "database %s%s:\n",
              gpu.name.c_str(), gpu.computeCapability().c_str(), gpu.smCount,
              gpu.driverVersion, TuningDB::defaultPath("").c_str(),
              TuningDB::enabledByEnvironment() ? ""
                                               : " (off: DELTAJIT_TUNING)");
  // Records of this package's signatures measured on other kernels (an
  // earlier compiler build, other configs) are not applied: say so.
  TuningDB db = TuningDB::enabledByEnvironment()
                    ? TuningDB::load(TuningDB::defaultPath(""))
                    : TuningDB();
  int status = 0;
  for (auto &[g, s] : workList(groups, shapes, true)) {
    std::string config, why;
    dj_entry_choice_t how;
    int64_t segmentChunks = 0;
    if (runtimeChoice(pkg, *g, s, config, how, why, &segmentChunks)) {
      const TuningRecord *r = db.find(gpu, dj_runtime_version(), pinfo.producer,
                                      g->sig, s.bucket());
      std::string stale =
          r && r->kernels != g->kernels
              ? "; the database's record of this bucket was measured on "
                "other kernels, not applied: re-run delta-tune"
              : "";
      std::string segments =
          segmentChunks
              ? "; segments of " + std::to_string(segmentChunks) + " chunks"
              : "";
      std::printf("  %s | %s | %s -> %s (%s%s%s)\n", g->sig.describe().c_str(),
                  s.describe().c_str(), s.bucket().c_str(), config.c_str(),
                  choiceName(how), segments.c_str(), stale.c_str());
    } else {
      std::printf("  %s | %s | %s -> error%s\n", g->sig.describe().c_str(),
                  s.describe().c_str(), s.bucket().c_str(), why.c_str());
      status = 1;
    }
  }
  dj_package_destroy(pkg);
  dj_context_destroy(ctx);
  return status;
}

int tune(const Options &o) {
  // A pinned segment length (the runtime's experiment override) would time
  // the segment scan at other segments than the runtime runs untuned.
  if (const char *pinned = std::getenv("DELTAJIT_SEGMENT_CHUNKS");
      pinned && *pinned && !o.dryRun) {
    std::fprintf(stderr,
                 "delta-tune: error: DELTAJIT_SEGMENT_CHUNKS=%s is set: the "
                 "segment scan would be timed at segments the runtime does "
                 "not choose; unset it, or measure with --dry-run\n",
                 pinned);
    return 2;
  }
  std::vector<Shape> shapes = parseShapes(o.shapes);
  std::string path = o.dryRun && o.db.empty() ? std::string() : dbPath(o);
  // The runtime of this process (the check at the end) reads this database.
  if (!path.empty())
    ::setenv("DELTAJIT_TUNING_DB", path.c_str(), 1);

  dj_device_info_t info;
  dj_package_t *pkg = nullptr;
  dj_package_info_t pinfo;
  std::vector<Group> groups;
  open(o, info, pkg, pinfo, groups);
  GpuKey gpu = GpuKey::of(info);
  std::printf("delta-tune on %s (compute capability %s, %d SMs, driver %d), "
              "package %s (%s), median of %d after %d warm-up\n",
              gpu.name.c_str(), gpu.computeCapability().c_str(), gpu.smCount,
              gpu.driverVersion, o.package.c_str(), pinfo.producer, o.iters,
              o.warmup);

  // The work: (group, first shape of each bucket).
  std::vector<std::pair<const Group *, Shape>> work =
      workList(groups, shapes, false);
  if (work.empty()) {
    std::printf("nothing to tune: no op signature of the package has more "
                "than one config for these shapes (compile it with deltac "
                "--tune-space; see delta-tune --candidates)\n");
    dj_package_destroy(pkg);
    dj_context_destroy(ctx);
    return 0;
  }

  Progress progress;
  progress.enabled = o.progress == 1 || (o.progress == -1 && ::isatty(2));
  progress.total = work.size();
  std::vector<ItemResult> results;
  for (auto &[g, s] : work) {
    try {
      results.push_back(tuneItem(o, pkg, *g, s, progress));
    } catch (const CallError &e) {
      progress.finish();
      die("setting up " + g->sig.describe() + " | " + s.describe() + ": " +
          e.what);
    }
    ++progress.done;
    // Each table as soon as it is measured (long runs), under the bar.
    progress.finish();
    printItem(results.back());
    std::fflush(stdout);
    progress.show(shortLabel(*g, s) + " done");
  }
  progress.finish();

  // The database.
  std::vector<TuningRecord> records;
  std::string tunedAt = nowUtc();
  for (const ItemResult &r : results) {
    if (!r.error.empty())
      continue;
    TuningRecord rec;
    rec.gpu = gpu;
    rec.runtimeVersion = dj_runtime_version();
    rec.compilerVersion = pinfo.producer;
    rec.sig = r.group->sig;
    rec.bucket = r.bucket;
    rec.config = r.winner;
    rec.defaultConfig = r.group->configs.front();
    rec.shape = r.shape.describe();
    rec.tunedAt = tunedAt;
    rec.kernels = r.group->kernels;
    for (const CandidateResult &c : r.candidates) {
      if (c.status == "ok") {
        rec.timesMs.push_back({c.config, c.ms});
        if (auto code = r.group->codes.find(c.config);
            code != r.group->codes.end())
          rec.codes[c.config] = code->second;
      } else
        rec.rejected.push_back({c.config, c.status + ": " + c.reason});
    }
    std::stable_sort(rec.timesMs.begin(), rec.timesMs.end(),
                     [](auto &a, auto &b) { return a.second < b.second; });
    records.push_back(rec);
  }
  int status = 0;
  if (o.dryRun) {
    std::printf("\n--dry-run: %zu record(s) not written\n", records.size());
  } else if (!records.empty()) {
    std::string error;
    if (TuningDB::update(path, records, &error)) {
      std::printf("\nwrote %zu record(s) to %s\n", records.size(),
                  path.c_str());
    } else {
      std::fprintf(stderr, "delta-tune: error: %s\n", error.c_str());
      status = 1;
    }
  }

  // What the runtime now chooses (a fresh load reads the database).
  if (!o.dryRun && status == 0 && !records.empty()) {
    dj_package_t *fresh = nullptr;
    if (dj_package_load(ctx, o.package.c_str(), &fresh) == DJ_OK) {
      int mismatches = 0;
      for (const ItemResult &r : results) {
        if (!r.error.empty())
          continue;
        std::string config, why;
        dj_entry_choice_t how;
        bool chosen = runtimeChoice(fresh, *r.group, r.shape, config, how, why);
        if (!chosen || r.winner != config) {
          ++mismatches;
          std::printf(
              "check: the runtime runs %s for %s | %s, not the "
              "winner %s%s%s\n",
              chosen ? config.c_str() : "?", r.group->sig.describe().c_str(),
              r.shape.describe().c_str(), r.winner.c_str(),
              TuningDB::enabledByEnvironment() ? ""
                                               : " (DELTAJIT_TUNING is off)",
              why.c_str());
        }
      }
      if (!mismatches)
        std::printf("check: the runtime now runs the winner of every tuned "
                    "bucket\n");
      dj_package_destroy(fresh);
    }
  }

  if (!o.json.empty()) {
    json out = {{"device",
                 {{"name", gpu.name},
                  {"compute_capability", gpu.computeCapability()},
                  {"sm_count", gpu.smCount},
                  {"driver_version", gpu.driverVersion}}},
                {"runtime", dj_runtime_version()},
                {"package", o.package},
                {"producer", pinfo.producer},
                {"warmup", o.warmup},
                {"iters", o.iters},
                {"min_gain", o.minGain},
                {"database", path},
                {"results", json::array()}};
    for (const ItemResult &r : results)
      out["results"].push_back(itemJson(r));
    FILE *f = std::fopen(o.json.c_str(), "w");
    if (!f || std::fputs((out.dump(2) + "\n").c_str(), f) < 0) {
      std::fprintf(stderr, "delta-tune: error: cannot write '%s'\n",
                   o.json.c_str());
      status = 1;
    }
    if (f)
      std::fclose(f);
  }
  dj_package_destroy(pkg);
  dj_context_destroy(ctx);
  return status;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  if (!parseArgs(argc, argv, o))
    return 2;
  if (o.list)
    return listDb(o);
  if (o.clear)
    return clearDb(o);
  if (o.candidates)
    return listCandidates(o);
  if (o.which)
    return which(o);
  return tune(o);
}
