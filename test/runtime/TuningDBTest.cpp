//===- TuningDBTest.cpp - tuning database and entry choice, without a GPU -===//
//
// Keys, shape buckets, the database file (round trip, atomic merge-write,
// corrupt and missing files, clear), the manifest's config and tuning
// table, and the choice among entries that differ only in config.
//
//===----------------------------------------------------------------------===//

#include "TuningDB.h"
#include "DeltaRule.h"
#include "Error.h"
#include "Manifest.h"
#include "Sha256.h"
#include "TestUtil.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

using namespace deltajit;
using deltajit::test::readFile;
using deltajit::test::ScopedEnv;
using deltajit::test::TempDir;
using deltajit::test::writeFile;
using nlohmann::json;

namespace {

GpuKey h200() {
  GpuKey g;
  g.name = "NVIDIA H200";
  g.smCount = 132;
  g.ccMajor = 9;
  g.ccMinor = 0;
  g.driverVersion = 13000;
  return g;
}

OpSignature fwdSig(int64_t d = 128) {
  OpSignature s;
  s.op = "delta_rule_forward";
  s.dtype = "bf16";
  s.dk = s.dv = d;
  s.chunk = 64;
  s.useQkL2norm = true;
  return s;
}

constexpr const char *kRuntime = "deltajit-runtime test";
constexpr const char *kCompiler = "deltac 0.1.0 (MLIR 22.1.8)";

TuningRecord record(const std::string &bucket, const std::string &winner,
                    std::vector<std::pair<std::string, double>> times = {}) {
  TuningRecord r;
  r.gpu = h200();
  r.runtimeVersion = kRuntime;
  r.compilerVersion = kCompiler;
  r.sig = fwdSig();
  r.bucket = bucket;
  r.config = winner;
  r.defaultConfig = "bv64_w8_fused";
  r.shape = "B=8 T=2048 H=16 HV=16";
  r.timesMs = std::move(times);
  r.tunedAt = "2026-12-01T00:00:00Z";
  return r;
}

json fwdEntry(const std::string &config, int chunk = 64, int d = 128) {
  json e = {{"op", "delta_rule_forward"},
            {"dtype", "bf16"},
            {"dk", d},
            {"dv", d},
            {"chunk", chunk},
            {"use_qk_l2norm", true},
            {"launches",
             json::array({{{"kernel", "k0"},
                           {"grid", json::array({"total_chunks", "HV", "1"})},
                           {"block", json::array({128, 1, 1})},
                           {"shared_bytes", 0},
                           {"params", json::array()}}})}};
  if (!config.empty())
    e["config"] = config;
  return e;
}

json decodeEntry(const std::string &config) {
  json e = fwdEntry(config);
  e["op"] = "delta_rule_decode";
  e.erase("chunk");
  e["launches"][0]["grid"] = json::array({"N", "HV", "1"});
  return e;
}

json manifestJson(const json &entries, const json &tuning = nullptr) {
  json m = {{"format", "deltajit-package"},
            {"format_version", 1},
            {"producer", kCompiler},
            {"target", {{"arch", "sm_90a"}, {"sm", 90}}},
            {"modules", json::array({{{"file", "k.ptx"},
                                      {"sha256", std::string(64, '0')},
                                      {"kernels", json::array({"k0"})}}})},
            {"entries", entries}};
  if (!tuning.is_null())
    m["tuning"] = tuning;
  return m;
}

Manifest manifestOf(const json &entries, const json &tuning = nullptr) {
  return parseManifest(manifestJson(entries, tuning).dump(), "manifest.json");
}

json tableFor(const std::string &gpu, const std::string &bucket,
              const std::string &config) {
  return json::array({{{"gpu", {{"name", gpu}, {"compute_capability", "9.0"}}},
                       {"table", json::array({{{"op", "delta_rule_forward"},
                                               {"dtype", "bf16"},
                                               {"dk", 128},
                                               {"dv", 128},
                                               {"chunk", 64},
                                               {"use_qk_l2norm", true},
                                               {"bucket", bucket},
                                               {"config", config}}})}}});
}

/// Three candidates (A default, B, C) of one forward signature, then a
/// decode entry.
json threeConfigs() {
  return json::array(
      {fwdEntry("A"), fwdEntry("B"), fwdEntry("C"), decodeEntry("A")});
}

/// `r` as delta-tune writes it for the candidates of `m`: with their
/// kernels' fingerprint.
TuningRecord measuredOn(const Manifest &m, TuningRecord r) {
  r.kernels = kernelsFingerprint(m, r.sig);
  return r;
}

} // namespace

//===----------------------------------------------------------------------===//
// Buckets and keys
//===----------------------------------------------------------------------===//

TEST(TuningBuckets, PowersOfTwo) {
  EXPECT_EQ(pow2Floor(0), 0);
  EXPECT_EQ(pow2Floor(-5), 0);
  EXPECT_EQ(pow2Floor(1), 1);
  EXPECT_EQ(pow2Floor(2), 2);
  EXPECT_EQ(pow2Floor(3), 2);
  EXPECT_EQ(pow2Floor(96), 64);
  EXPECT_EQ(pow2Floor(128), 128);
  EXPECT_EQ(pow2Floor(int64_t(1) << 62), int64_t(1) << 62);
}

TEST(TuningBuckets, ForwardAndDecode) {
  // BENCHMARKS.md shapes: 8 x 2048 tokens, HV 16.
  EXPECT_EQ(forwardBucket(8, 16, 8 * 2048), "nh128_len2048");
  EXPECT_EQ(forwardBucket(1, 16, 16384), "nh16_len16384");
  // Variable length: 6 sequences, 16384 tokens: mean 2730 -> 2048.
  EXPECT_EQ(forwardBucket(6, 16, 16384), "nh64_len2048");
  // Shapes in one bucket share it; the next power of two does not.
  EXPECT_EQ(forwardBucket(8, 16, 8 * 4095), "nh128_len2048");
  EXPECT_EQ(forwardBucket(8, 16, 8 * 4096), "nh128_len4096");
  // Short and empty batches stay well defined.
  EXPECT_EQ(forwardBucket(3, 1, 0), "nh2_len1");
  EXPECT_EQ(forwardBucket(0, 16, 0), "nh0_len1");
  EXPECT_EQ(decodeBucket(256, 16), "nh4096");
  EXPECT_EQ(decodeBucket(1, 16), "nh16");
  EXPECT_EQ(decodeBucket(0, 16), "nh0");
}

TEST(TuningDB, EveryKeyFieldSeparatesRecords) {
  TuningDB db;
  db.put(record("nh128_len2048", "B"));
  auto look = [&](GpuKey g, std::string runtime, std::string compiler,
                  OpSignature s, std::string bucket) {
    const TuningRecord *r = db.find(g, runtime, compiler, s, bucket);
    return r ? r->config : std::string("-");
  };
  GpuKey g = h200();
  OpSignature s = fwdSig();
  EXPECT_EQ(look(g, kRuntime, kCompiler, s, "nh128_len2048"), "B");
  EXPECT_EQ(look(g, kRuntime, kCompiler, s, "nh64_len2048"), "-");
  EXPECT_EQ(look(g, "other runtime", kCompiler, s, "nh128_len2048"), "-");
  EXPECT_EQ(look(g, kRuntime, "deltac 0.2.0", s, "nh128_len2048"), "-");
  for (int field = 0; field < 5; ++field) {
    GpuKey other = h200();
    if (field == 0)
      other.name = "NVIDIA H100 80GB HBM3";
    if (field == 1)
      other.smCount = 114;
    if (field == 2)
      other.ccMinor = 1;
    if (field == 3)
      other.ccMajor = 8;
    if (field == 4)
      other.driverVersion = 12080;
    EXPECT_EQ(look(other, kRuntime, kCompiler, s, "nh128_len2048"), "-")
        << "gpu field " << field;
  }
  for (int field = 0; field < 6; ++field) {
    OpSignature other = fwdSig();
    if (field == 0)
      other.op = "delta_rule_decode";
    if (field == 1)
      other.dtype = "fp16";
    if (field == 2)
      other.dk = 64;
    if (field == 3)
      other.dv = 64;
    if (field == 4)
      other.chunk = 32;
    if (field == 5)
      other.useQkL2norm = false;
    EXPECT_EQ(look(g, kRuntime, kCompiler, other, "nh128_len2048"), "-")
        << "signature field " << field;
  }
  // The same key replaces; another key adds.
  db.put(record("nh128_len2048", "C"));
  db.put(record("nh64_len4096", "A"));
  EXPECT_EQ(db.records().size(), 2u);
  EXPECT_EQ(look(g, kRuntime, kCompiler, s, "nh128_len2048"), "C");
}

TEST(TuningDB, LookupFallsBackToFastestAvailable) {
  TuningDB db;
  TuningRecord r = record("b", "Z", {{"Z", 1.0}, {"C", 1.5}, {"B", 2.0}});
  r.kernels = "k1";
  db.put(r);
  auto available = [](const std::string &c) { return c != "Z"; };
  EXPECT_EQ(
      db.lookup(h200(), kRuntime, kCompiler, fwdSig(), "b", "k1", available),
      "C");
  auto none = [](const std::string &) { return false; };
  EXPECT_EQ(db.lookup(h200(), kRuntime, kCompiler, fwdSig(), "b", "k1", none),
            std::nullopt);
  auto all = [](const std::string &) { return true; };
  EXPECT_EQ(db.lookup(h200(), kRuntime, kCompiler, fwdSig(), "b", "k1", all),
            "Z");
  EXPECT_EQ(db.lookup(h200(), kRuntime, kCompiler, fwdSig(), "x", "k1", all),
            std::nullopt);
  // Measured on other kernels (or before records named them): not applied.
  EXPECT_EQ(db.lookup(h200(), kRuntime, kCompiler, fwdSig(), "b", "k2", all),
            std::nullopt);
  EXPECT_EQ(db.lookup(h200(), kRuntime, kCompiler, fwdSig(), "b", "", all),
            std::nullopt);
}

TEST(TuningDB, KernelsFingerprintFollowsTheCandidatesCode) {
  Manifest m = manifestOf(threeConfigs());
  std::string fp = kernelsFingerprint(m, fwdSig());
  EXPECT_EQ(fp.size(), 16u);
  EXPECT_EQ(fp, kernelsFingerprint(manifestOf(threeConfigs()), fwdSig()));
  // Another signature, a changed module checksum, another kernel name, one
  // candidate fewer: another fingerprint.
  EXPECT_NE(fp, kernelsFingerprint(m, fwdSig(64)));
  json changed = manifestJson(threeConfigs());
  changed["modules"][0]["sha256"] = std::string(64, '1');
  EXPECT_NE(fp,
            kernelsFingerprint(parseManifest(changed.dump(), "m"), fwdSig()));
  json renamed = threeConfigs();
  renamed[1]["launches"][0]["kernel"] = "k1";
  json withK1 = manifestJson(renamed);
  withK1["modules"][0]["kernels"] = json::array({"k0", "k1"});
  EXPECT_NE(fp,
            kernelsFingerprint(parseManifest(withK1.dump(), "m"), fwdSig()));
  EXPECT_NE(fp, kernelsFingerprint(
                    manifestOf(json::array({fwdEntry("A"), fwdEntry("B")})),
                    fwdSig()));
  // The entries' order does not matter.
  EXPECT_EQ(fp, kernelsFingerprint(
                    manifestOf(json::array({fwdEntry("C"), fwdEntry("A"),
                                            fwdEntry("B"), decodeEntry("A")})),
                    fwdSig()));
}

TEST(TuningDB, EntryCodeFingerprintFollowsTheKernelsCodeNotTheirNames) {
  // Two entries whose launches run kernels of the same code under other
  // names (another package's), and one of other code.
  json entries = json::array({fwdEntry("A"), fwdEntry("B"), fwdEntry("C")});
  entries[1]["launches"][0]["kernel"] = "k1";
  entries[2]["launches"][0]["kernel"] = "k2";
  json withCode = manifestJson(entries);
  withCode["modules"][0]["kernels"] = json::array({"k0", "k1", "k2"});
  withCode["modules"][0]["kernel_code"] = {{"k0", "00000000000000aa"},
                                           {"k1", "00000000000000aa"},
                                           {"k2", "00000000000000bb"}};
  Manifest m = parseManifest(withCode.dump(), "m");
  std::string a = entryCodeFingerprint(m, m.entries[0]);
  EXPECT_EQ(a.size(), 16u);
  EXPECT_EQ(a, entryCodeFingerprint(m, m.entries[1]));
  EXPECT_NE(a, entryCodeFingerprint(m, m.entries[2]));
  // SHA-256 of the launches' code fingerprints, each with a newline (what
  // deltac --tuning-db computes from the manifest it writes).
  EXPECT_EQ(a, Sha256::hexHash("00000000000000aa\n").substr(0, 16));
  // A package without kernel code: no fingerprint.
  Manifest old = manifestOf(threeConfigs());
  EXPECT_EQ(entryCodeFingerprint(old, old.entries[0]), "");
}

TEST(TuningDB, KernelCodeMustNameTheModulesKernels) {
  json bad = manifestJson(threeConfigs());
  bad["modules"][0]["kernel_code"] = {{"elsewhere", "00000000000000aa"}};
  try {
    parseManifest(bad.dump(), "manifest.json");
    FAIL() << "accepted kernel_code of a kernel the module lacks";
  } catch (const deltajit::Error &e) {
    EXPECT_NE(std::string(e.what()).find(
                  "modules[0].kernel_code.elsewhere: names no kernel"),
              std::string::npos)
        << e.what();
  }
  bad["modules"][0]["kernel_code"] = {{"k0", 7}};
  try {
    parseManifest(bad.dump(), "manifest.json");
    FAIL() << "accepted a number as a code fingerprint";
  } catch (const deltajit::Error &e) {
    EXPECT_NE(std::string(e.what()).find("expected a code fingerprint"),
              std::string::npos)
        << e.what();
  }
}

//===----------------------------------------------------------------------===//
// The file
//===----------------------------------------------------------------------===//

TEST(TuningDBFile, RoundTrip) {
  TuningDB db;
  TuningRecord r = record("nh128_len2048", "B", {{"B", 1.25}, {"A", 1.5}});
  r.rejected = {{"C", "rel L2 of o 0.31 > 0.01"}};
  r.kernels = "0123456789abcdef";
  r.codes = {{"B", "00000000000000bb"}};
  db.put(r);
  TuningRecord d = record("nh16", "A");
  d.sig.op = "delta_rule_decode";
  d.sig.chunk.reset();
  db.put(d);
  TuningDB::LoadStatus status;
  TuningDB back = TuningDB::parse(db.serialize(), &status);
  EXPECT_EQ(status, TuningDB::LoadStatus::Loaded);
  ASSERT_EQ(back.records().size(), 2u);
  const TuningRecord *f =
      back.find(h200(), kRuntime, kCompiler, fwdSig(), "nh128_len2048");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->config, "B");
  EXPECT_EQ(f->defaultConfig, "bv64_w8_fused");
  EXPECT_EQ(f->shape, "B=8 T=2048 H=16 HV=16");
  ASSERT_EQ(f->timesMs.size(), 2u);
  EXPECT_EQ(f->timesMs[0].first, "B");
  EXPECT_DOUBLE_EQ(f->timesMs[0].second, 1.25);
  ASSERT_EQ(f->rejected.size(), 1u);
  EXPECT_EQ(f->rejected[0].second, "rel L2 of o 0.31 > 0.01");
  EXPECT_EQ(f->tunedAt, "2026-12-01T00:00:00Z");
  EXPECT_EQ(f->kernels, "0123456789abcdef");
  // Code fingerprints ride on the measured times (A had none).
  EXPECT_EQ(f->codes,
            (std::map<std::string, std::string>{{"B", "00000000000000bb"}}));
  const TuningRecord *g = back.find(h200(), kRuntime, kCompiler, d.sig, "nh16");
  ASSERT_NE(g, nullptr);
  EXPECT_FALSE(g->sig.chunk.has_value());
  EXPECT_EQ(g->kernels, ""); // as records written before the field
  // The text is stable (records in key order).
  EXPECT_EQ(back.serialize(), db.serialize());
}

TEST(TuningDBFile, MissingAndCorruptFilesReadAsEmpty) {
  TempDir dir;
  TuningDB::LoadStatus status;
  EXPECT_TRUE(TuningDB::load(dir / "absent.json", &status).empty());
  EXPECT_EQ(status, TuningDB::LoadStatus::Missing);
  EXPECT_TRUE(TuningDB::load("", &status).empty());
  EXPECT_EQ(status, TuningDB::LoadStatus::Missing);

  std::string good = [] {
    TuningDB db;
    db.put(record("b", "B"));
    return db.serialize();
  }();
  const std::vector<std::string> corrupt = {
      "",
      good.substr(0, good.size() / 2), // truncated
      "[1, 2, 3]",
      R"({"format": "something-else", "format_version": 1, "records": []})",
      R"({"format": "deltajit-tuning-db", "format_version": 2, "records": []})",
      R"({"format": "deltajit-tuning-db", "format_version": 1, "records": {}})",
      std::string("\0\xff\xfe garbage", 11)};
  for (size_t i = 0; i < corrupt.size(); ++i) {
    writeFile(dir / "db.json", corrupt[i]);
    TuningDB db = TuningDB::load(dir / "db.json", &status);
    EXPECT_TRUE(db.empty()) << "case " << i;
    EXPECT_EQ(status, TuningDB::LoadStatus::Corrupt) << "case " << i;
  }
  // A directory where the file should be: unreadable, not fatal.
  std::filesystem::create_directories(dir / "isdir.json");
  EXPECT_TRUE(TuningDB::load(dir / "isdir.json", &status).empty());
}

TEST(TuningDBFile, BadRecordsAreSkippedOthersKept) {
  json good = json::parse(TuningDB().serialize());
  TuningDB one;
  one.put(record("b", "B"));
  json rec = json::parse(one.serialize())["records"][0];
  json noConfig = rec, badDk = rec, badCc = rec;
  noConfig.erase("config");
  badDk["dk"] = "128";
  badCc["compute_capability"] = "nine";
  good["records"] = json::array({noConfig, 42, badDk, badCc, rec});
  TuningDB::LoadStatus status;
  TuningDB db = TuningDB::parse(good.dump(), &status);
  EXPECT_EQ(status, TuningDB::LoadStatus::Loaded);
  ASSERT_EQ(db.records().size(), 1u);
  EXPECT_EQ(db.records()[0].config, "B");
}

TEST(TuningDBFile, UpdateMergesAtomicallyAndCreatesTheDirectory) {
  TempDir dir;
  std::string path = dir / "nested/tuning/tuning-db.json";
  std::string error;
  ASSERT_TRUE(TuningDB::update(path, {record("b1", "B")}, &error)) << error;
  ASSERT_TRUE(
      TuningDB::update(path, {record("b2", "C"), record("b1", "A")}, &error))
      << error;
  TuningDB db = TuningDB::load(path);
  ASSERT_EQ(db.records().size(), 2u);
  EXPECT_EQ(db.find(h200(), kRuntime, kCompiler, fwdSig(), "b1")->config, "A");
  EXPECT_EQ(db.find(h200(), kRuntime, kCompiler, fwdSig(), "b2")->config, "C");
  // Only the database and its lock file are left: no temp files.
  std::vector<std::string> names;
  for (auto &e : std::filesystem::directory_iterator(dir / "nested/tuning"))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"tuning-db.json",
                                             "tuning-db.json.lock"}));
}

TEST(TuningDBFile, CorruptFileIsRebuiltOnWrite) {
  TempDir dir;
  std::string path = dir / "db.json";
  writeFile(path, "{ not json");
  std::string error;
  ASSERT_TRUE(TuningDB::update(path, {record("b", "B")}, &error)) << error;
  TuningDB::LoadStatus status;
  TuningDB db = TuningDB::load(path, &status);
  EXPECT_EQ(status, TuningDB::LoadStatus::Loaded);
  ASSERT_EQ(db.records().size(), 1u);
  EXPECT_EQ(db.records()[0].config, "B");
}

TEST(TuningDBFile, FailedWriteLeavesTheFileAndSaysWhy) {
  TempDir dir;
  writeFile(dir / "plain-file", "x");
  std::string error;
  EXPECT_FALSE(
      TuningDB::update(dir / "plain-file/db.json", {record("b", "B")}, &error));
  EXPECT_NE(error.find("plain-file"), std::string::npos) << error;
  EXPECT_FALSE(TuningDB::update("", {record("b", "B")}, &error));
  EXPECT_NE(error.find("DELTAJIT_TUNING_DB"), std::string::npos) << error;
  EXPECT_EQ(readFile(dir / "plain-file"), "x");
}

TEST(TuningDBFile, ClearRemovesOnlyItsFiles) {
  TempDir dir;
  std::string path = dir / "tuning/tuning-db.json";
  std::string error;
  ASSERT_TRUE(TuningDB::update(path, {record("b", "B")}, &error));
  writeFile(dir / "tuning/notes.txt", "keep");
  EXPECT_TRUE(TuningDB::clear(path, &error)) << error;
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".lock"));
  EXPECT_EQ(readFile(dir / "tuning/notes.txt"), "keep");
  // Clearing nothing is fine.
  EXPECT_TRUE(TuningDB::clear(path, &error));
}

TEST(TuningDBFile, DefaultPathAndSwitches) {
  TempDir dir;
  {
    ScopedEnv db("DELTAJIT_TUNING_DB", nullptr);
    ScopedEnv cache("DELTAJIT_CACHE_DIR", (dir / "cache").c_str());
    EXPECT_EQ(TuningDB::defaultPath("/ctx/cache"),
              "/ctx/cache/tuning/tuning-db.json");
    EXPECT_EQ(TuningDB::defaultPath(""), dir / "cache/tuning/tuning-db.json");
  }
  {
    ScopedEnv db("DELTAJIT_TUNING_DB", "/elsewhere/db.json");
    EXPECT_EQ(TuningDB::defaultPath("/ctx/cache"), "/elsewhere/db.json");
  }
  {
    ScopedEnv off("DELTAJIT_TUNING", nullptr);
    EXPECT_TRUE(TuningDB::enabledByEnvironment());
  }
  for (const char *v : {"off", "OFF", "0", "false", "no"}) {
    ScopedEnv off("DELTAJIT_TUNING", v);
    EXPECT_FALSE(TuningDB::enabledByEnvironment()) << v;
  }
  ScopedEnv on("DELTAJIT_TUNING", "on");
  EXPECT_TRUE(TuningDB::enabledByEnvironment());
}

//===----------------------------------------------------------------------===//
// The manifest
//===----------------------------------------------------------------------===//

TEST(TuningManifest, ConfigAndTableAreParsed) {
  Manifest m = manifestOf(threeConfigs(), tableFor("NVIDIA H200", "b", "C"));
  ASSERT_EQ(m.entries.size(), 4u);
  EXPECT_EQ(m.entries[1].config, "B");
  EXPECT_EQ(m.entries[1].describe(),
            "delta_rule_forward dtype=bf16 dk=128 dv=128 chunk=64 "
            "use_qk_l2norm=true config=B");
  ASSERT_EQ(m.tuning.size(), 1u);
  EXPECT_EQ(m.tuning[0].gpuName, "NVIDIA H200");
  EXPECT_EQ(m.tuning[0].computeCapability, "9.0");
  ASSERT_EQ(m.tuning[0].rows.size(), 1u);
  EXPECT_EQ(m.tuning[0].rows[0].config, "C");
  EXPECT_EQ(m.tuning[0].rows[0].chunk, 64);
  // Entries without a config (older packages) stay valid.
  EXPECT_FALSE(manifestOf(json::array({fwdEntry("")})).entries[0].config);
}

TEST(TuningManifest, BadFieldsAreNamed) {
  auto error = [](const json &entries, const json &tuning) {
    try {
      manifestOf(entries, tuning);
    } catch (const deltajit::Error &e) {
      EXPECT_EQ(e.status(), DJ_ERROR_PACKAGE);
      return std::string(e.what());
    }
    return std::string();
  };
  json entry = fwdEntry("A");
  entry["config"] = 3;
  EXPECT_NE(error(json::array({entry}), nullptr)
                .find("entries[0].config: expected a string"),
            std::string::npos);
  json table = tableFor("NVIDIA H200", "b", "C");
  table[0]["table"][0].erase("bucket");
  EXPECT_NE(error(threeConfigs(), table)
                .find("tuning[0].table[0].bucket: missing required field"),
            std::string::npos);
  EXPECT_NE(
      error(threeConfigs(), json::object()).find("tuning: expected an array"),
      std::string::npos);
}

//===----------------------------------------------------------------------===//
// The choice among entries
//===----------------------------------------------------------------------===//

TEST(EntryChoice, FindEntriesListsEveryMatchInOrder) {
  Manifest m = manifestOf(threeConfigs());
  EntryRequest r;
  r.op = "delta_rule_forward";
  r.dtype = DJ_DTYPE_BF16;
  r.dk = r.dv = 128;
  r.useQkL2norm = true;
  EXPECT_EQ(findEntries(m, r, "p"), (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(findEntry(m, r, "p"), 0u);
  r.useQkL2norm = false;
  EXPECT_THROW(findEntries(m, r, "p"), Error);
}

TEST(EntryChoice, DefaultWithoutTuning) {
  Manifest m = manifestOf(threeConfigs());
  GpuKey g = h200();
  ChoiceInputs in;
  in.gpu = &g;
  in.runtimeVersion = kRuntime;
  EntryChoice c = chooseEntry(m, {0, 1, 2}, "b", in);
  EXPECT_EQ(c.index, 0u);
  EXPECT_EQ(c.source, ChoiceSource::Default);
  // One candidate: "only".
  c = chooseEntry(m, {3}, "b", in);
  EXPECT_EQ(c.index, 3u);
  EXPECT_EQ(c.source, ChoiceSource::Only);
}

TEST(EntryChoice, DatabaseThenPackageTableThenDefault) {
  Manifest m = manifestOf(threeConfigs(), tableFor("NVIDIA H200", "b", "C"));
  GpuKey g = h200();
  TuningDB db;
  db.put(measuredOn(m, record("b", "B")));
  ChoiceInputs in;
  in.gpu = &g;
  in.runtimeVersion = kRuntime;
  in.db = &db;
  EntryChoice c = chooseEntry(m, {0, 1, 2}, "b", in);
  EXPECT_EQ(c.index, 1u);
  EXPECT_EQ(c.source, ChoiceSource::TuningDb);
  // A record measured on other kernels (a package whose candidates' code
  // changed since, with the same compiler version) is not applied: the
  // package's table.
  TuningDB stale;
  TuningRecord old = record("b", "B");
  old.kernels = "0123456789abcdef";
  stale.put(old);
  in.db = &stale;
  c = chooseEntry(m, {0, 1, 2}, "b", in);
  EXPECT_EQ(c.index, 2u);
  EXPECT_EQ(c.source, ChoiceSource::PackageTable);
  in.db = &db;
  // The database knows nothing of this driver: the package's table.
  GpuKey newer = h200();
  newer.driverVersion = 13010;
  in.gpu = &newer;
  c = chooseEntry(m, {0, 1, 2}, "b", in);
  EXPECT_EQ(c.index, 2u);
  EXPECT_EQ(c.source, ChoiceSource::PackageTable);
  in.usePackageTable = false;
  EXPECT_EQ(chooseEntry(m, {0, 1, 2}, "b", in).source, ChoiceSource::Default);
  in.usePackageTable = true;
  // Another bucket, or another GPU: the default.
  c = chooseEntry(m, {0, 1, 2}, "other-bucket", in);
  EXPECT_EQ(c.index, 0u);
  EXPECT_EQ(c.source, ChoiceSource::Default);
  GpuKey other = h200();
  other.name = "NVIDIA A100-SXM4-80GB";
  in.gpu = &other;
  EXPECT_EQ(chooseEntry(m, {0, 1, 2}, "b", in).source, ChoiceSource::Default);
  // Without GPU facts nothing is looked up.
  in.gpu = nullptr;
  EXPECT_EQ(chooseEntry(m, {0, 1, 2}, "b", in).source, ChoiceSource::Default);
}

TEST(EntryChoice, LongSequencesTakeTheThreePhaseConfigByDefault) {
  // Fused default, then three-phase and fused alternatives (a package
  // compiled with --tune-space).
  Manifest m = manifestOf(
      json::array({fwdEntry("bv64_w8_fused"), fwdEntry("bv64_w8_split3"),
                   fwdEntry("bv32_w4_split3"), fwdEntry("bv32_w8_split3"),
                   fwdEntry("bv32_w8_fused"), fwdEntry("bv16_w8_split3")}));
  GpuKey g = h200(); // 132 SMs
  ChoiceInputs in;
  in.gpu = &g;
  in.runtimeVersion = kRuntime;
  std::vector<size_t> all{0, 1, 2, 3, 4, 5};
  // The entry chosen for `bucket` among `matches` and why.
  auto expectChoice =
      [&](const Manifest &man, const std::vector<size_t> &matches,
          const std::string &bucket, size_t index, ChoiceSource source) {
        EntryChoice c = chooseEntry(man, matches, bucket, in);
        EXPECT_EQ(c.index, index) << bucket;
        EXPECT_EQ(c.source, source) << bucket;
      };
  // 16 scans, 16384 tokens: three-phase, block_v 16 (16 x 8 = 128 scan
  // programs >= 3/4 of 132 SMs).
  expectChoice(m, all, "nh16_len16384", 5, ChoiceSource::Rule);
  EXPECT_STREQ(choiceSourceName(ChoiceSource::Rule), "long-sequence rule");
  // 32 scans: block_v 32 gives 128 programs; 8 warps over 4.
  EXPECT_EQ(chooseEntry(m, all, "nh32_len8192", in).index, 3u);
  // Without block_v 16, 16 scans fill no SM set: the smallest block_v.
  EXPECT_EQ(chooseEntry(m, {0, 1, 2, 3, 4}, "nh16_len16384", in).index, 3u);
  // 64 scans: block_v 64 already gives 128 programs.
  expectChoice(m, all, "nh64_len4096", 1, ChoiceSource::Rule);
  // Short sequences: the fused default.
  expectChoice(m, all, "nh16_len512", 0, ChoiceSource::Default);
  // Head size 64: three-phase too, also where the fused default's
  // programs would fill 3/4 of the SMs (128 scans: block_v 64 gives 128
  // programs), and with 16 scans (no block_v fills: the smallest).
  Manifest narrow = manifestOf(json::array(
      {fwdEntry("bv64_w8_fused", 64, 64), fwdEntry("bv64_w8_split3", 64, 64),
       fwdEntry("bv16_w8_split3", 64, 64)}));
  expectChoice(narrow, {0, 1, 2}, "nh128_len2048", 1, ChoiceSource::Rule);
  expectChoice(narrow, {0, 1, 2}, "nh16_len16384", 2, ChoiceSource::Rule);
  expectChoice(narrow, {0, 1, 2}, "nh128_len512", 0, ChoiceSource::Default);
  // Not a forward bucket: the default.
  EXPECT_EQ(chooseEntry(m, all, "b", in).index, 0u);
  // No three-phase candidate: the default.
  EXPECT_EQ(chooseEntry(m, {0, 4}, "nh16_len16384", in).index, 0u);
  // A measurement wins over the rule.
  TuningDB db;
  db.put(measuredOn(m, record("nh16_len16384", "bv64_w8_fused")));
  in.db = &db;
  expectChoice(m, all, "nh16_len16384", 0, ChoiceSource::TuningDb);
  // Head size 256 (128 scans: block_v 64 gives 512 programs, block_v 128
  // is not in the package).
  Manifest wide = manifestOf(json::array(
      {fwdEntry("bv64_w8_fused", 64, 256), fwdEntry("bv32_w8_split3", 64, 256),
       fwdEntry("bv64_w8_split3", 64, 256)}));
  expectChoice(wide, {0, 1, 2}, "nh128_len2048", 2, ChoiceSource::Rule);
  // 16 scans: block_v 32 gives 128 programs.
  EXPECT_EQ(chooseEntry(wide, {0, 1, 2}, "nh16_len16384", in).index, 1u);
  EXPECT_EQ(chooseEntry(wide, {0, 1, 2}, "nh128_len512", in).index, 0u);
  // Tensor-core families (a package tuned over mma=mma.sync,wgmma): the
  // rule stays in the default's family (it was measured per family).
  Manifest families = manifestOf(json::array(
      {fwdEntry("bv64_w8_fused"), fwdEntry("bv16_w8_split3_wgmma"),
       fwdEntry("bv32_w8_split3"), fwdEntry("bv64_w8_fused_wgmma")}));
  in.db = nullptr;
  expectChoice(families, {0, 1, 2, 3}, "nh16_len16384", 2, ChoiceSource::Rule);
  Manifest wgmmaFirst = manifestOf(
      json::array({fwdEntry("bv64_w8_fused_wgmma"), fwdEntry("bv32_w8_split3"),
                   fwdEntry("bv16_w8_split3_wgmma")}));
  expectChoice(wgmmaFirst, {0, 1, 2}, "nh16_len16384", 2, ChoiceSource::Rule);
  // Without GPU facts (tuning off) nothing is looked up or guessed.
  in.db = nullptr;
  in.gpu = nullptr;
  EXPECT_EQ(chooseEntry(m, all, "nh16_len16384", in).index, 0u);
}

TEST(EntryChoice, LongSequencesPreferTheScanThatComputesTheOutput) {
  // Three-phase configs whose scan computes the output launch two kernels
  // (the register scan, block_v 64 and 128 at dk <= 128); the generic
  // scans' three.
  auto twoLaunches = [](json e) {
    e["launches"].push_back(e["launches"][0]);
    return e;
  };
  auto threeLaunches = [&](json e) {
    e = twoLaunches(std::move(e));
    e["launches"].push_back(e["launches"][0]);
    return e;
  };
  Manifest m = manifestOf(json::array(
      {fwdEntry("bv64_w8_fused"), threeLaunches(fwdEntry("bv16_w8_split3")),
       threeLaunches(fwdEntry("bv32_w8_split3")),
       twoLaunches(fwdEntry("bv64_w8_split3")),
       twoLaunches(fwdEntry("bv128_w8_split3"))}));
  GpuKey g = h200(); // 132 SMs
  ChoiceInputs in;
  in.gpu = &g;
  in.runtimeVersion = kRuntime;
  std::vector<size_t> all{0, 1, 2, 3, 4};
  auto choice = [&](const std::string &bucket) {
    EntryChoice c = chooseEntry(m, all, bucket, in);
    EXPECT_EQ(c.source, ChoiceSource::Rule) << bucket;
    return c.index;
  };
  // The smallest such block_v whose scan programs cover a quarter of the
  // SMs: 128 scans x 2 value tiles of 64 (not block_v 128, which fills
  // 3/4 too); 64 x 2; 32 x 2 = 64 programs (block_v 32 would give 128).
  EXPECT_EQ(choice("nh128_len2048"), 3u);
  EXPECT_EQ(choice("nh64_len4096"), 3u);
  EXPECT_EQ(choice("nh32_len8192"), 3u);
  // 16 x 2 = 32 programs do not: the old order (block_v 16: 128 programs).
  EXPECT_EQ(choice("nh16_len16384"), 1u);
  // Without the two-launch configs, the old order (block_v 32 gives 128
  // programs at 32 scans).
  EXPECT_EQ(chooseEntry(m, {0, 1, 2}, "nh32_len8192", in).index, 2u);
}

TEST(EntryChoice, FewLongSequencesTakeTheSegmentScan) {
  // The long-sequence variants of deltac: the generic scans (three
  // launches), the register scans that compute the output (two) and the
  // segment scan at block_v 64 (four: prepare, transitions, combine, scan).
  auto launches = [](json e, int n) {
    for (int i = 1; i < n; ++i)
      e["launches"].push_back(e["launches"][0]);
    return e;
  };
  Manifest m = manifestOf(json::array(
      {fwdEntry("bv64_w8_fused"), launches(fwdEntry("bv16_w8_split3"), 3),
       launches(fwdEntry("bv32_w8_split3"), 3),
       launches(fwdEntry("bv64_w8_split3"), 2),
       launches(fwdEntry("bv128_w8_split3"), 2),
       launches(fwdEntry("bv64_w8_split3_seg32"), 4)}));
  GpuKey g = h200(); // 132 SMs
  ChoiceInputs in;
  in.gpu = &g;
  in.runtimeVersion = kRuntime;
  std::vector<size_t> all{0, 1, 2, 3, 4, 5};
  auto choice = [&](const Manifest &man, const std::vector<size_t> &matches,
                    const std::string &bucket) {
    EntryChoice c = chooseEntry(man, matches, bucket, in);
    EXPECT_EQ(c.source, ChoiceSource::Rule) << bucket;
    return c.index;
  };
  // 16 scans x 2 value tiles of 64 = 32 programs, a quarter of the SMs at
  // most: segments (16384 tokens: 4 segments of 32 x 64).
  EXPECT_EQ(choice(m, all, "nh16_len16384"), 5u);
  // 32 scans x 2 = 64 programs, half the SMs at most: segments when the
  // sequences hold four (measured: 0.294 ms against the register scan's
  // 0.321 at 2 x 8192 x 16 heads), else the register scan.
  EXPECT_EQ(choice(m, all, "nh32_len8192"), 5u);
  EXPECT_EQ(choice(m, all, "nh32_len8191"), 3u);
  // 64 scans x 2 = 128 programs: the register scan.
  EXPECT_EQ(choice(m, all, "nh64_len16384"), 3u);
  // Too short for two segments: the old order (block_v 16).
  EXPECT_EQ(choice(m, all, "nh16_len4095"), 1u);
  EXPECT_EQ(choice(m, all, "nh16_len4096"), 5u);
  // Without the segment scan in the package: the old order.
  EXPECT_EQ(choice(m, {0, 1, 2, 3, 4}, "nh16_len16384"), 1u);
  // Head size 64: 32 scans x 1 value tile of 64 still take segments
  // (measured: 0.197 ms against 0.263 at 2 x 8192 x 16 heads).
  Manifest narrow = manifestOf(
      json::array({fwdEntry("bv64_w8_fused", 64, 64),
                   launches(fwdEntry("bv16_w8_split3", 64, 64), 3),
                   launches(fwdEntry("bv64_w8_split3", 64, 64), 2),
                   launches(fwdEntry("bv64_w8_split3_seg32", 64, 64), 4)}));
  EXPECT_EQ(choice(narrow, {0, 1, 2, 3}, "nh32_len8192"), 3u);
  EXPECT_EQ(choice(narrow, {0, 1, 2, 3}, "nh64_len4096"), 2u);
}

TEST(EntryChoice, RecordedWinnerMissingFromThePackage) {
  Manifest m = manifestOf(threeConfigs());
  GpuKey g = h200();
  TuningDB db;
  db.put(measuredOn(m, record("b", "Z", {{"Z", 1.0}, {"C", 1.1}, {"A", 1.3}})));
  ChoiceInputs in;
  in.gpu = &g;
  in.runtimeVersion = kRuntime;
  in.db = &db;
  EntryChoice c = chooseEntry(m, {0, 1, 2}, "b", in);
  EXPECT_EQ(c.index, 2u); // C: the fastest measured config the package has
  EXPECT_EQ(c.source, ChoiceSource::TuningDb);
  // Nothing measured is available: the default.
  TuningDB only;
  only.put(measuredOn(m, record("b", "Z", {{"Z", 1.0}})));
  in.db = &only;
  EXPECT_EQ(chooseEntry(m, {0, 1, 2}, "b", in).source, ChoiceSource::Default);
}

TEST(EntryChoice, CandidatesShareTheFirstMatchsChunk) {
  Manifest m = manifestOf(
      json::array({fwdEntry("A", 64), fwdEntry("B", 32), fwdEntry("C", 64)}));
  GpuKey g = h200();
  TuningDB db;
  db.put(
      measuredOn(m, record("b", "B"))); // B has another chunk: not a candidate
  ChoiceInputs in;
  in.gpu = &g;
  in.runtimeVersion = kRuntime;
  in.db = &db;
  EXPECT_EQ(chooseEntry(m, {0, 1, 2}, "b", in).index, 0u);
  db.put(measuredOn(m, record("b", "C")));
  EXPECT_EQ(chooseEntry(m, {0, 1, 2}, "b", in).index, 2u);
}

TEST(EntryChoice, PinnedConfig) {
  Manifest m = manifestOf(threeConfigs());
  ChoiceInputs in;
  in.pinned = "C";
  EntryChoice c = chooseEntry(m, {0, 1, 2}, "b", in);
  EXPECT_EQ(c.index, 2u);
  EXPECT_EQ(c.source, ChoiceSource::Pinned);
  // The decode entry has one config: it runs, pin or not.
  in.pinned = "B";
  EXPECT_EQ(chooseEntry(m, {3}, "b", in).source, ChoiceSource::Only);
  in.pinned = "nope";
  try {
    chooseEntry(m, {0, 1, 2}, "b", in);
    FAIL() << "chose an entry for an unknown pinned config";
  } catch (const deltajit::Error &e) {
    EXPECT_EQ(e.status(), DJ_ERROR_NOT_FOUND);
    EXPECT_NE(std::string(e.what()).find("configs there: A B C"),
              std::string::npos)
        << e.what();
  }
}

/// The launch path asks memoized() before matching the manifest: a choice
/// is memoized by choose() and remember(), never while a config is pinned,
/// and a pin forgets the earlier ones.
TEST(EntryChoice, ChooserMemoizesPerKeyUnlessPinned) {
  Manifest m = manifestOf(threeConfigs());
  ScopedEnv off("DELTAJIT_TUNING", "off");
  EntryChooser chooser;
  EXPECT_EQ(chooser.memoized("k"), nullptr);
  EntryChoice c = chooser.choose(m, {0, 1, 2}, "b", h200(), "", "k");
  ASSERT_NE(chooser.memoized("k"), nullptr);
  EXPECT_EQ(chooser.memoized("k")->index, c.index);
  EXPECT_EQ(chooser.memoized("other"), nullptr);
  EntryChoice only = chooser.remember("one", {7, ChoiceSource::Only});
  EXPECT_EQ(only.index, 7u);
  ASSERT_NE(chooser.memoized("one"), nullptr);
  EXPECT_EQ(chooser.memoized("one")->source, ChoiceSource::Only);
  chooser.pin("C");
  EXPECT_EQ(chooser.memoized("k"), nullptr);
  chooser.remember("pinned", {2, ChoiceSource::Pinned});
  chooser.pin("");
  EXPECT_EQ(chooser.memoized("pinned"), nullptr);
  EXPECT_EQ(chooser.memoized("one"), nullptr);
}

TEST(EntryChoice, ChooserReadsTheDatabaseFileAndHonoursTheSwitch) {
  TempDir dir;
  std::string path = dir / "db.json";
  Manifest m = manifestOf(threeConfigs());
  TuningRecord r = measuredOn(m, record("b", "B"));
  r.runtimeVersion = dj_runtime_version();
  std::string error;
  ASSERT_TRUE(TuningDB::update(path, {r}, &error)) << error;
  ScopedEnv db("DELTAJIT_TUNING_DB", path.c_str());
  {
    ScopedEnv on("DELTAJIT_TUNING", nullptr);
    EntryChooser chooser;
    EntryChoice c = chooser.choose(m, {0, 1, 2}, "b", h200(), "", "k");
    EXPECT_EQ(c.index, 1u);
    EXPECT_EQ(c.source, ChoiceSource::TuningDb);
    chooser.pin("C");
    EXPECT_EQ(chooser.choose(m, {0, 1, 2}, "b", h200(), "", "k").index, 2u);
    chooser.pin("");
    EXPECT_EQ(chooser.choose(m, {0, 1, 2}, "b", h200(), "", "k").index, 1u);
  }
  {
    ScopedEnv off("DELTAJIT_TUNING", "off");
    EntryChooser chooser;
    EntryChoice c = chooser.choose(m, {0, 1, 2}, "b", h200(), "", "k");
    EXPECT_EQ(c.index, 0u);
    EXPECT_EQ(c.source, ChoiceSource::Default);
  }
  // A corrupt database: the default, no error.
  writeFile(path, "\x01garbage");
  EntryChooser chooser;
  EntryChoice c = chooser.choose(m, {0, 1, 2}, "b", h200(), "", "k");
  EXPECT_EQ(c.index, 0u);
  EXPECT_EQ(c.source, ChoiceSource::Default);
}
