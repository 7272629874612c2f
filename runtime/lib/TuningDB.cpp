//===- TuningDB.cpp - tuning database file, keys, buckets, entry choice ---===//

#include "TuningDB.h"

#include "Error.h"
#include "KernelCache.h"
#include "Sha256.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace deltajit {

using nlohmann::json;

std::string GpuKey::computeCapability() const {
  return std::to_string(ccMajor) + "." + std::to_string(ccMinor);
}

GpuKey GpuKey::of(const dj_device_info_t &info) {
  GpuKey k;
  k.name = std::string(info.name, strnlen(info.name, sizeof(info.name)));
  k.smCount = info.sm_count;
  k.ccMajor = info.compute_capability_major;
  k.ccMinor = info.compute_capability_minor;
  k.driverVersion = info.driver_version;
  return k;
}

std::string OpSignature::describe() const {
  std::ostringstream os;
  os << op << " " << dtype << " dk=" << dk << " dv=" << dv;
  if (chunk)
    os << " chunk=" << *chunk;
  if (useQkL2norm)
    os << " l2norm";
  return os.str();
}

OpSignature OpSignature::of(const EntrySpec &e) {
  OpSignature s;
  s.op = e.op;
  s.dtype = e.dtype.value_or("");
  s.dk = e.dk.value_or(0);
  s.dv = e.dv.value_or(0);
  s.chunk = e.chunk;
  s.useQkL2norm = e.useQkL2norm.value_or(false);
  return s;
}

int64_t pow2Floor(int64_t x) {
  if (x <= 0)
    return 0;
  int64_t p = 1;
  while (p <= x / 2)
    p *= 2;
  return p;
}

std::string forwardBucket(int64_t numSeqs, int64_t HV, int64_t totalTokens) {
  int64_t scans = numSeqs > 0 && HV > 0 ? numSeqs * HV : 0;
  int64_t meanLen = numSeqs > 0 ? totalTokens / numSeqs : 0;
  return "nh" + std::to_string(pow2Floor(scans)) + "_len" +
         std::to_string(pow2Floor(std::max<int64_t>(meanLen, 1)));
}

std::string decodeBucket(int64_t N, int64_t HV) {
  return "nh" + std::to_string(pow2Floor(N > 0 && HV > 0 ? N * HV : 0));
}

namespace {

/// Field separator of keys (not expected in any field).
constexpr char kSep = '\x1f';

std::string sigKey(const OpSignature &s) {
  std::string k = s.op + kSep + s.dtype + kSep + std::to_string(s.dk) + kSep +
                  std::to_string(s.dv) + kSep +
                  (s.chunk ? std::to_string(*s.chunk) : "-") + kSep +
                  (s.useQkL2norm ? "1" : "0");
  return k;
}

std::string makeKey(const GpuKey &g, const std::string &runtimeVersion,
                    const std::string &compilerVersion, const OpSignature &sig,
                    const std::string &bucket) {
  return g.name + kSep + std::to_string(g.smCount) + kSep +
         g.computeCapability() + kSep + std::to_string(g.driverVersion) + kSep +
         runtimeVersion + kSep + compilerVersion + kSep + sigKey(sig) + kSep +
         bucket;
}

// Lenient field readers: a missing or mistyped field makes the record
// invalid (std::nullopt), never an exception.
std::optional<std::string> str(const json &j, const char *key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string())
    return std::nullopt;
  return it->get<std::string>();
}
std::optional<int64_t> integer(const json &j, const char *key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer())
    return std::nullopt;
  return it->get<int64_t>();
}

std::optional<TuningRecord> parseRecord(const json &j) {
  if (!j.is_object())
    return std::nullopt;
  TuningRecord r;
  auto name = str(j, "gpu"), cc = str(j, "compute_capability"),
       runtime = str(j, "runtime"), compiler = str(j, "compiler"),
       op = str(j, "op"), dtype = str(j, "dtype"), bucket = str(j, "bucket"),
       config = str(j, "config");
  auto sm = integer(j, "sm_count"), driver = integer(j, "driver_version"),
       dk = integer(j, "dk"), dv = integer(j, "dv");
  auto l2 = j.find("use_qk_l2norm");
  if (!name || !cc || !runtime || !compiler || !op || !dtype || !bucket ||
      !config || !sm || !driver || !dk || !dv || l2 == j.end() ||
      !l2->is_boolean() || config->empty())
    return std::nullopt;
  int major = 0, minor = 0;
  char dot = 0;
  std::istringstream ccs(*cc);
  if (!(ccs >> major >> dot >> minor) || dot != '.')
    return std::nullopt;
  r.gpu.name = *name;
  r.gpu.smCount = static_cast<int>(*sm);
  r.gpu.ccMajor = major;
  r.gpu.ccMinor = minor;
  r.gpu.driverVersion = static_cast<int>(*driver);
  r.runtimeVersion = *runtime;
  r.compilerVersion = *compiler;
  r.sig.op = *op;
  r.sig.dtype = *dtype;
  r.sig.dk = *dk;
  r.sig.dv = *dv;
  auto chunk = j.find("chunk");
  if (chunk != j.end() && !chunk->is_null()) {
    if (!chunk->is_number_integer())
      return std::nullopt;
    r.sig.chunk = chunk->get<int64_t>();
  }
  r.sig.useQkL2norm = l2->get<bool>();
  r.bucket = *bucket;
  r.config = *config;
  r.defaultConfig = str(j, "default_config").value_or("");
  r.shape = str(j, "shape").value_or("");
  r.tunedAt = str(j, "tuned_at").value_or("");
  r.kernels = str(j, "kernels").value_or("");
  auto times = j.find("times_ms");
  if (times != j.end() && times->is_array())
    for (const json &t : *times) {
      auto c = str(t, "config");
      auto ms = t.find("ms");
      if (c && ms != t.end() && ms->is_number())
        r.timesMs.emplace_back(*c, ms->get<double>());
      if (auto code = str(t, "code"); c && code && !code->empty())
        r.codes[*c] = *code;
    }
  std::stable_sort(r.timesMs.begin(), r.timesMs.end(),
                   [](auto &a, auto &b) { return a.second < b.second; });
  auto rejected = j.find("rejected");
  if (rejected != j.end() && rejected->is_array())
    for (const json &t : *rejected) {
      auto c = str(t, "config"), why = str(t, "reason");
      if (c && why)
        r.rejected.emplace_back(*c, *why);
    }
  return r;
}

json toJson(const TuningRecord &r) {
  json times = json::array(), rejected = json::array();
  for (auto &[c, ms] : r.timesMs) {
    json t = {{"config", c}, {"ms", ms}};
    if (auto code = r.codes.find(c); code != r.codes.end())
      t["code"] = code->second;
    times.push_back(std::move(t));
  }
  for (auto &[c, why] : r.rejected)
    rejected.push_back({{"config", c}, {"reason", why}});
  json j = {{"gpu", r.gpu.name},
            {"sm_count", r.gpu.smCount},
            {"compute_capability", r.gpu.computeCapability()},
            {"driver_version", r.gpu.driverVersion},
            {"runtime", r.runtimeVersion},
            {"compiler", r.compilerVersion},
            {"op", r.sig.op},
            {"dtype", r.sig.dtype},
            {"dk", r.sig.dk},
            {"dv", r.sig.dv},
            {"use_qk_l2norm", r.sig.useQkL2norm},
            {"bucket", r.bucket},
            {"config", r.config},
            {"default_config", r.defaultConfig},
            {"shape", r.shape},
            {"times_ms", times},
            {"rejected", rejected},
            {"tuned_at", r.tunedAt},
            {"kernels", r.kernels}};
  j["chunk"] = r.sig.chunk ? json(*r.sig.chunk) : json(nullptr);
  return j;
}

bool readWholeFile(const std::string &path, std::string &out, bool &missing) {
  missing = false;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    missing = errno == ENOENT;
    return false;
  }
  std::ostringstream os;
  os << in.rdbuf();
  if (in.bad())
    return false;
  out = os.str();
  return true;
}

std::string dirOf(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// An exclusive advisory lock on `<path>.lock` for the scope.
class FileLock {
public:
  explicit FileLock(const std::string &path) {
    fd_ = ::open((path + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd_ >= 0)
      while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
  }
  ~FileLock() {
    if (fd_ >= 0)
      ::close(fd_); // releases the lock
  }
  bool ok() const { return fd_ >= 0; }

private:
  int fd_ = -1;
};

} // namespace

std::string kernelsFingerprint(const Manifest &m, const OpSignature &sig) {
  std::vector<std::string> parts;
  for (const EntrySpec &e : m.entries) {
    if (!(OpSignature::of(e) == sig))
      continue;
    std::string part = e.config.value_or("");
    for (const LaunchSpec &l : e.launches) {
      part += '\n' + l.kernel + ' ';
      if (l.module < m.modules.size())
        part += m.modules[l.module].sha256;
    }
    parts.push_back(std::move(part));
  }
  std::sort(parts.begin(), parts.end());
  Sha256 h;
  for (const std::string &part : parts)
    h.updateField(part);
  return Sha256::hex(h.finish()).substr(0, 16);
}

std::string entryCodeFingerprint(const Manifest &m, const EntrySpec &e) {
  std::string codes;
  for (const LaunchSpec &l : e.launches) {
    if (l.module >= m.modules.size())
      return "";
    const auto &code = m.modules[l.module].kernelCode;
    auto it = code.find(l.kernel);
    if (it == code.end())
      return "";
    codes += it->second + '\n';
  }
  return Sha256::hexHash(codes).substr(0, 16);
}

std::string TuningRecord::key() const {
  return makeKey(gpu, runtimeVersion, compilerVersion, sig, bucket);
}

std::string TuningDB::defaultPath(const std::string &cacheRoot) {
  const char *env = std::getenv("DELTAJIT_TUNING_DB");
  if (env && *env)
    return env;
  std::string root = cacheRoot.empty() ? defaultCacheDir(nullptr) : cacheRoot;
  if (root.empty())
    return "";
  return root + "/tuning/tuning-db.json";
}

bool TuningDB::enabledByEnvironment() {
  const char *env = std::getenv("DELTAJIT_TUNING");
  if (!env)
    return true;
  std::string v(env);
  for (char &c : v)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return !(v == "off" || v == "0" || v == "false" || v == "no");
}

TuningDB TuningDB::parse(std::string_view text, LoadStatus *status) {
  TuningDB db;
  auto corrupt = [&] {
    if (status)
      *status = LoadStatus::Corrupt;
    return TuningDB();
  };
  json root;
  try {
    root = json::parse(text.begin(), text.end());
  } catch (const std::exception &) {
    return corrupt();
  }
  if (!root.is_object() || str(root, "format") != kTuningDbFormat ||
      integer(root, "format_version") != kTuningDbFormatVersion)
    return corrupt();
  auto records = root.find("records");
  if (records == root.end() || !records->is_array())
    return corrupt();
  for (const json &j : *records)
    if (auto r = parseRecord(j))
      db.put(std::move(*r));
  if (status)
    *status = LoadStatus::Loaded;
  return db;
}

TuningDB TuningDB::load(const std::string &path, LoadStatus *status) {
  if (status)
    *status = LoadStatus::Missing;
  if (path.empty())
    return TuningDB();
  try {
    std::string text;
    bool missing = false;
    if (!readWholeFile(path, text, missing)) {
      if (status)
        *status = missing ? LoadStatus::Missing : LoadStatus::Corrupt;
      return TuningDB();
    }
    return parse(text, status);
  } catch (...) {
    if (status)
      *status = LoadStatus::Corrupt;
    return TuningDB();
  }
}

std::string TuningDB::serialize() const {
  json records = json::array();
  for (auto &[key, index] : index_)
    records.push_back(toJson(records_[index]));
  json root = {{"format", kTuningDbFormat},
               {"format_version", kTuningDbFormatVersion},
               {"records", records}};
  return root.dump(2) + "\n";
}

void TuningDB::put(TuningRecord r) {
  std::string key = r.key();
  auto it = index_.find(key);
  if (it != index_.end()) {
    records_[it->second] = std::move(r);
    return;
  }
  index_.emplace(key, records_.size());
  records_.push_back(std::move(r));
}

const TuningRecord *TuningDB::find(const GpuKey &gpu,
                                   const std::string &runtimeVersion,
                                   const std::string &compilerVersion,
                                   const OpSignature &sig,
                                   const std::string &bucket) const {
  auto it =
      index_.find(makeKey(gpu, runtimeVersion, compilerVersion, sig, bucket));
  return it == index_.end() ? nullptr : &records_[it->second];
}

std::optional<std::string> TuningDB::lookup(
    const GpuKey &gpu, const std::string &runtimeVersion,
    const std::string &compilerVersion, const OpSignature &sig,
    const std::string &bucket, const std::string &kernels,
    const std::function<bool(const std::string &)> &available) const {
  const TuningRecord *r =
      find(gpu, runtimeVersion, compilerVersion, sig, bucket);
  if (!r || r->kernels != kernels)
    return std::nullopt;
  if (available(r->config))
    return r->config;
  for (auto &[config, ms] : r->timesMs)
    if (available(config))
      return config;
  return std::nullopt;
}

bool TuningDB::update(const std::string &path,
                      const std::vector<TuningRecord> &records,
                      std::string *error) {
  auto failWith = [&](const std::string &why) {
    if (error)
      *error = why;
    return false;
  };
  if (path.empty())
    return failWith("no tuning database path (set DELTAJIT_TUNING_DB or a "
                    "cache directory)");
  std::string dir = dirOf(path);
  if (!makeDirs(dir))
    return failWith("cannot create directory '" + dir +
                    "': " + std::strerror(errno));
  FileLock lock(path);
  if (!lock.ok())
    return failWith("cannot open lock file '" + path +
                    ".lock': " + std::strerror(errno));
  // Re-read under the lock so concurrent writers merge instead of losing
  // each other's records; a corrupt file is rebuilt.
  TuningDB db = load(path);
  for (const TuningRecord &r : records)
    db.put(r);
  if (!atomicWrite(dir, path, db.serialize()))
    return failWith("cannot write '" + path + "': " + std::strerror(errno));
  return true;
}

bool TuningDB::clear(const std::string &path, std::string *error) {
  bool ok = true;
  for (const std::string &p : {path, path + ".lock"})
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
      ok = false;
      if (error)
        *error = "cannot remove '" + p + "': " + std::strerror(errno);
    }
  return ok;
}

const char *choiceSourceName(ChoiceSource s) {
  switch (s) {
  case ChoiceSource::Only:
    return "only";
  case ChoiceSource::Default:
    return "default";
  case ChoiceSource::TuningDb:
    return "tuning-db";
  case ChoiceSource::PackageTable:
    return "package-table";
  case ChoiceSource::Pinned:
    return "pinned";
  case ChoiceSource::Rule:
    return "long-sequence rule";
  }
  return "?";
}

namespace {

/// The parts of a config name ("bv32_w8_split3"; docs/tuning.md).
struct ConfigParts {
  int64_t blockV = 0, warps = 0;
  std::string kind;          ///< fused | split | split3
  size_t launches = 0;       ///< the entry's kernels (longSequenceChoice)
  int64_t segmentChunks = 0; ///< "_seg<N>": the segment scan's segments
};

std::optional<ConfigParts> parseConfig(const std::string &name) {
  ConfigParts c;
  char kind[16] = {0};
  if (std::sscanf(name.c_str(), "bv%" SCNd64 "_w%" SCNd64 "_%15[a-z0-9]",
                  &c.blockV, &c.warps, kind) != 3 ||
      c.blockV <= 0 || c.warps <= 0)
    return std::nullopt;
  c.kind = kind;
  size_t seg = name.find("_seg");
  if (seg != std::string::npos &&
      std::sscanf(name.c_str() + seg, "_seg%" SCNd64, &c.segmentChunks) != 1)
    return std::nullopt;
  return c;
}

/// The tensor-core family tag of a config name: "_wgmma", "_mmasync" or ""
/// (auto; docs/tuning.md).
std::string familyTag(const std::string &config) {
  for (const char *tag : {"_wgmma", "_mmasync"}) {
    std::string t = tag;
    if (config.size() >= t.size() &&
        config.compare(config.size() - t.size(), t.size(), t) == 0)
      return t;
  }
  return "";
}

/// The scans (sequences x v-heads) and mean length of a forward bucket
/// ("nh16_len16384", as forwardBucket() writes it).
bool parseForwardBucket(const std::string &bucket, int64_t *scans,
                        int64_t *len) {
  return std::sscanf(bucket.c_str(), "nh%" SCNd64 "_len%" SCNd64, scans, len) ==
         2;
}

/// The rule for a forward shape nothing was measured for: for long
/// sequences (>= 1024 tokens), a three-phase config: its prepare and output
/// kernels run all chunks in parallel and only its lean scan (state in
/// registers) is sequential. Of those, the largest block_v whose scan
/// programs still cover 3/4 of the SMs (else the smallest block_v), then
/// most warps. Derived from delta-tune on the H200 (2026-11-29, 21 buckets
/// of d = 64, 128, 256, block_v 16-128, fused and split3; docs/tuning.md),
/// when the fused default still won at head size 64 where its programs
/// filled the GPU; rechecked 2026-11-30 with the chunk body Vn = T (V - K S)
/// (10 buckets of d = 64, 128, 256): a three-phase config won every one,
/// d = 64 included (8x2048x16: 0.234 vs fused 0.273 ms), and the rule's
/// pick is the winner or within 2.1% of it in all 10. Since 2026-11-30
/// (sixteenth session) a split3 config whose scan computes the output (two
/// launches: the register scan, dk <= 128, block_v 64 / 128) comes first
/// when its scan programs cover a quarter of the SMs, the smallest such
/// block_v: with the old order alone the rule was up to 26% behind the
/// winner (d = 128 2 x 8192 x 16: bv32 0.397 ms vs bv64 0.334; 21
/// buckets, run9: this order picks the winner in 20 and is 4.6% behind in
/// the other, d = 256 1 x 16384).
std::optional<size_t> longSequenceChoice(const Manifest &m,
                                         const std::vector<size_t> &candidates,
                                         const std::string &bucket,
                                         const GpuKey &gpu) {
  const EntrySpec &first = m.entries[candidates.front()];
  int64_t scans = 0, len = 0;
  if (first.op != "delta_rule_forward" || !first.dv || !first.dk ||
      !first.config || gpu.smCount <= 0 ||
      !parseForwardBucket(bucket, &scans, &len) || len < 1024)
    return std::nullopt;
  std::optional<ConfigParts> def = parseConfig(*first.config);
  if (!def || def->kind != "fused" || *first.dv % def->blockV != 0)
    return std::nullopt;
  // Whether c's programs (scans x value tiles) cover 3/4 of the SMs.
  auto fills = [&](const ConfigParts &c) {
    return scans * (*first.dv / c.blockV) * 4 >= gpu.smCount * 3;
  };
  // Whether c's scan computes the output (two launches, no output kernel)
  // and its programs cover a quarter of the SMs.
  auto outputInScan = [&](const ConfigParts &c) {
    return c.launches == 2 && scans * (*first.dv / c.blockV) * 4 >= gpu.smCount;
  };
  // Better: a scan that computes the output, the smallest block_v; then
  // filling over not filling; then, among fillers, larger block_v (fewer
  // programs re-reading W and k), among the others smaller; then more
  // warps.
  auto better = [&](const ConfigParts &a, const ConfigParts &b) {
    if (outputInScan(a) != outputInScan(b))
      return outputInScan(a);
    if (outputInScan(a) && a.blockV != b.blockV)
      return a.blockV < b.blockV;
    if (fills(a) != fills(b))
      return fills(a);
    if (a.blockV != b.blockV)
      return fills(a) ? a.blockV > b.blockV : a.blockV < b.blockV;
    return a.warps > b.warps;
  };
  // The segment scan (config "_seg<N>", SegmentScan.h in codegen): where
  // the block_v 64 scan that computes the output has programs for at most
  // a quarter of the SMs and the sequences have at least two segments, or
  // for at most half of them and at least four segments. Measured on the
  // H200 (run26, 16 heads, seg32): d = 128 1 x 16384 0.355 ms against
  // bv16's 0.492; d = 64 1 x 16384 0.198 against 0.356, 2 x 8192 0.197
  // against 0.263. With the transitions three per SM (run45): d = 128 2 x
  // 8192 (64 programs, four segments) 0.294 against bv64's 0.321 (0.328
  // against 0.321 when they ran two per SM); 4 x 4096 (128 programs, two
  // segments) 0.274 against 0.212: not taken.
  auto segmentsPay = [&](const ConfigParts &c) {
    if (!first.chunk)
      return false;
    int64_t programs = scans * (*first.dv / 64);
    int64_t segments = len / (c.segmentChunks * *first.chunk);
    return (programs * 4 <= gpu.smCount && segments >= 2) ||
           (programs * 2 <= gpu.smCount && segments >= 4);
  };
  std::optional<size_t> best, segmented;
  ConfigParts bestParts;
  for (size_t i : candidates) {
    const EntrySpec &e = m.entries[i];
    std::optional<ConfigParts> c =
        e.config ? parseConfig(*e.config) : std::nullopt;
    // Same tensor-core family as the default (the rule was measured per
    // family), epilogue fusion on.
    if (!c || c->kind != "split3" || *first.dv % c->blockV != 0 ||
        e.config->find("_noepi") != std::string::npos ||
        familyTag(*e.config) != familyTag(*first.config))
      continue;
    c->launches = e.launches.size();
    if (c->segmentChunks) {
      if (!segmented && segmentsPay(*c))
        segmented = i;
      continue;
    }
    if (!best || better(*c, bestParts)) {
      best = i;
      bestParts = *c;
    }
  }
  return segmented ? segmented : best;
}

} // namespace

EntryChoice chooseEntry(const Manifest &m, const std::vector<size_t> &matches,
                        const std::string &bucket, const ChoiceInputs &in) {
  if (matches.empty())
    fail(DJ_ERROR_INTERNAL, "chooseEntry: no matching entries");
  const EntrySpec &first = m.entries[matches.front()];
  // The candidates: the matches of the first match's chunk (a call without
  // a chunk size gets the first entry's).
  std::vector<size_t> candidates;
  for (size_t i : matches)
    if (m.entries[i].chunk == first.chunk)
      candidates.push_back(i);
  auto withConfig = [&](const std::string &config) -> std::optional<size_t> {
    for (size_t i : candidates)
      if (m.entries[i].config && *m.entries[i].config == config)
        return i;
    return std::nullopt;
  };

  std::set<std::string> configs;
  for (size_t i : candidates)
    if (m.entries[i].config)
      configs.insert(*m.entries[i].config);

  if (!in.pinned.empty()) {
    if (auto i = withConfig(in.pinned))
      return {*i, ChoiceSource::Pinned};
    // A pin applies to calls with a choice; the others run their one entry.
    if (configs.size() <= 1)
      return {candidates.front(), ChoiceSource::Only};
    std::ostringstream os;
    os << "the package's config is pinned to '" << in.pinned
       << "' but no entry with that config matches "
       << OpSignature::of(first).describe() << " (configs there:";
    std::set<std::string> seen;
    for (size_t i : candidates)
      if (seen.insert(m.entries[i].config.value_or("(none)")).second)
        os << " " << m.entries[i].config.value_or("(none)");
    os << ")";
    fail(DJ_ERROR_NOT_FOUND, os.str());
  }

  if (configs.size() <= 1 || !in.gpu)
    return {candidates.front(),
            configs.size() <= 1 ? ChoiceSource::Only : ChoiceSource::Default};

  OpSignature sig = OpSignature::of(first);
  auto available = [&](const std::string &c) { return configs.count(c) > 0; };
  if (in.db)
    if (auto c = in.db->lookup(*in.gpu, in.runtimeVersion, m.producer, sig,
                               bucket, kernelsFingerprint(m, sig), available))
      return {*withConfig(*c), ChoiceSource::TuningDb};
  if (in.usePackageTable)
    for (const TuningTableSpec &t : m.tuning) {
      if (t.gpuName != in.gpu->name ||
          t.computeCapability != in.gpu->computeCapability())
        continue;
      for (const TuningRowSpec &r : t.rows)
        if (r.op == sig.op && r.dtype == sig.dtype && r.dk == sig.dk &&
            r.dv == sig.dv && r.chunk == sig.chunk &&
            r.useQkL2norm == sig.useQkL2norm && r.bucket == bucket &&
            available(r.config))
          return {*withConfig(r.config), ChoiceSource::PackageTable};
    }
  if (auto i = longSequenceChoice(m, candidates, bucket, *in.gpu))
    return {*i, ChoiceSource::Rule};
  return {candidates.front(), ChoiceSource::Default};
}

void EntryChooser::pin(const std::string &config) {
  pinned_ = config;
  memo_.clear();
}

EntryChoice EntryChooser::choose(const Manifest &m,
                                 const std::vector<size_t> &matches,
                                 const std::string &bucket, const GpuKey &gpu,
                                 const std::string &cacheRoot,
                                 const std::string &memoKey) {
  ChoiceInputs in;
  in.pinned = pinned_;
  if (!pinned_.empty())
    return chooseEntry(m, matches, bucket, in);
  auto it = memo_.find(memoKey);
  if (it != memo_.end())
    return it->second;
  if (matches.size() > 1 && !dbLoaded_) {
    dbLoaded_ = true;
    tuningEnabled_ = TuningDB::enabledByEnvironment();
    if (tuningEnabled_)
      db_ = TuningDB::load(TuningDB::defaultPath(cacheRoot));
  }
  if (tuningEnabled_) {
    in.gpu = &gpu;
    in.runtimeVersion = dj_runtime_version();
    in.db = db_.empty() ? nullptr : &db_;
  }
  return remember(memoKey, chooseEntry(m, matches, bucket, in));
}

const EntryChoice *EntryChooser::memoized(const std::string &memoKey) const {
  if (!pinned_.empty())
    return nullptr;
  auto it = memo_.find(memoKey);
  return it == memo_.end() ? nullptr : &it->second;
}

EntryChoice EntryChooser::remember(const std::string &memoKey,
                                   EntryChoice choice) {
  if (pinned_.empty())
    memo_.emplace(memoKey, choice);
  return choice;
}

} // namespace deltajit
