//===- ManifestTest.cpp - manifest.json validation and package checks -----===//
//
// Each test writes a small package (a valid baseline, then one defect) into
// a temp dir and checks the status and message of dj_package_check, which
// needs no GPU.
//
//===----------------------------------------------------------------------===//

#include "Manifest.h"
#include "Error.h"
#include "TestUtil.h"

#include "deltajit/deltajit.h"

#include <gtest/gtest.h>

#include <string>

using deltajit::test::TempDir;
using deltajit::test::writeFile;
using deltajit::test::writePackage;
using nlohmann::json;

namespace {

const char *kFakePtx = "// not real PTX: dj_package_check does not JIT\n";

json baseline() {
  return json::parse(R"json({
    "format": "deltajit-package",
    "format_version": 1,
    "producer": "test",
    "target": {"arch": "sm_80", "sm": 80, "ptx_version": "7.0"},
    "modules": [
      {"file": "k.ptx", "sha256": "AUTO",
       "kernels": ["dj_prepare", "dj_output"]}
    ],
    "entries": [
      {"op": "delta_rule_forward", "dtype": "bf16", "dk": 64, "dv": 64,
       "chunk": 64, "use_qk_l2norm": false,
       "tile": {"chunk": 64, "block_k": 64, "block_v": 64, "warps": 4,
                "stages": 1, "mma": "mma.sync.m16n8k16"},
       "scratch": [{"name": "w", "bytes": "T_total * HV * DK * 2"},
                   {"name": "u", "bytes": "T_total * HV * DV * 2"}],
       "launches": [
         {"kernel": "dj_prepare", "grid": ["total_chunks", "HV", "1"],
          "block": [128, 1, 1], "shared_bytes": 0,
          "params": [{"name": "k", "type": "ptr"},
                     {"name": "w", "type": "ptr"},
                     {"name": "T_total", "type": "i32"},
                     {"name": "scale", "type": "f32"}]},
         {"kernel": "dj_output", "grid": ["ceildiv(T_total, 64)", "HV", "1"],
          "block": [128, 1, 1], "shared_bytes": 1024,
          "params": [{"name": "o", "type": "ptr"},
                     {"name": "u", "type": "ptr"},
                     {"name": "chunk_table", "type": "ptr"},
                     {"name": "N", "type": "i64"}]}
       ]},
      {"op": "delta_rule_decode", "dtype": "bf16", "dk": 64, "dv": 64,
       "use_qk_l2norm": false,
       "launches": [
         {"kernel": "dj_output", "grid": ["N", "HV", "1"],
          "block": [32, 4, 1], "shared_bytes": 0,
          "params": [{"name": "state_in", "type": "ptr"},
                     {"name": "state_out", "type": "ptr"},
                     {"name": "scale", "type": "f32"}]}
       ]}
    ]
  })json");
}

struct Result {
  dj_status_t status;
  std::string message;
};

Result check(const json &manifest,
             const std::map<std::string, std::string> &files = {
                 {"k.ptx", kFakePtx}}) {
  TempDir dir;
  writePackage(dir.path(), manifest, files);
  dj_status_t s = dj_package_check(dir.path().c_str());
  return {s, dj_last_error_message()};
}

/// Expects DJ_ERROR_PACKAGE with `fragment` in the message.
#define EXPECT_PACKAGE_ERROR(result, fragment)                                 \
  do {                                                                         \
    Result r_ = (result);                                                      \
    EXPECT_EQ(r_.status, DJ_ERROR_PACKAGE) << r_.message;                      \
    EXPECT_NE(r_.message.find(fragment), std::string::npos)                    \
        << "message: " << r_.message                                           \
        << "\nexpected to contain: " << (fragment);                            \
  } while (0)

} // namespace

TEST(Manifest, BaselineIsValid) {
  Result r = check(baseline());
  EXPECT_EQ(r.status, DJ_OK) << r.message;
  EXPECT_EQ(r.message, "");
}

TEST(Manifest, ParsedFields) {
  json m = baseline();
  m["modules"][0]["sha256"] = std::string(64, 'A');
  deltajit::Manifest p = deltajit::parseManifest(m.dump(), "manifest.json");
  EXPECT_EQ(p.formatVersion, 1);
  EXPECT_EQ(p.producer, "test");
  EXPECT_EQ(p.target.arch, "sm_80");
  EXPECT_EQ(p.target.sm, 80);
  EXPECT_EQ(p.target.ptxVersion, "7.0");
  ASSERT_EQ(p.modules.size(), 1u);
  EXPECT_EQ(p.modules[0].sha256, std::string(64, 'a')); // normalized
  ASSERT_EQ(p.entries.size(), 2u);
  const deltajit::EntrySpec &e = p.entries[0];
  EXPECT_EQ(e.describe(), "delta_rule_forward dtype=bf16 dk=64 dv=64 chunk=64 "
                          "use_qk_l2norm=false");
  EXPECT_EQ(p.entries[1].describe(),
            "delta_rule_decode dtype=bf16 dk=64 dv=64 use_qk_l2norm=false");
  ASSERT_EQ(e.scratch.size(), 2u);
  EXPECT_EQ(e.scratch[1].name, "u");
  ASSERT_EQ(e.launches.size(), 2u);
  EXPECT_EQ(e.launches[1].kernel, "dj_output");
  EXPECT_EQ(e.launches[1].sharedBytes, 1024u);
  EXPECT_EQ(e.launches[1].grid[0].text(), "ceildiv(T_total, 64)");
  EXPECT_EQ(e.launches[1].block[0], 128u);
  ASSERT_EQ(e.launches[1].params.size(), 4u);
  EXPECT_EQ(e.launches[1].params[3].name, "N");
  EXPECT_EQ(e.launches[1].params[3].type, deltajit::ParamType::I64);
  EXPECT_EQ(e.launches[1].path, "entries[0].launches[1]");
}

TEST(Manifest, UnknownFieldsAreIgnored) {
  json m = baseline();
  m["comment"] = "future field";
  m["entries"][0]["launches"][0]["cluster"] = json::array({1, 1, 1});
  Result r = check(m);
  EXPECT_EQ(r.status, DJ_OK) << r.message;
}

TEST(Manifest, MissingDirectoryOrManifest) {
  Result r{dj_package_check("/nonexistent/deltajit/pkg"), ""};
  r.message = dj_last_error_message();
  EXPECT_EQ(r.status, DJ_ERROR_PACKAGE);
  EXPECT_NE(r.message.find("cannot open package manifest "
                           "'/nonexistent/deltajit/pkg/manifest.json'"),
            std::string::npos)
      << r.message;
  EXPECT_EQ(dj_package_check(nullptr), DJ_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(dj_last_error_message(), "dir is NULL");
}

TEST(Manifest, NotJson) {
  TempDir dir;
  writeFile(dir / "manifest.json", "{\"format\": ");
  EXPECT_EQ(dj_package_check(dir.path().c_str()), DJ_ERROR_PACKAGE);
  std::string msg = dj_last_error_message();
  EXPECT_NE(msg.find("manifest.json: not valid JSON"), std::string::npos)
      << msg;
}

TEST(Manifest, TopLevelNotAnObject) {
  EXPECT_PACKAGE_ERROR(check(json::array({1, 2})),
                       "manifest.json: the document must be a JSON object, "
                       "found array");
}

TEST(Manifest, WrongFormat) {
  json m = baseline();
  m["format"] = "something-else";
  EXPECT_PACKAGE_ERROR(check(m), "manifest.json: format: expected "
                                 "\"deltajit-package\", found "
                                 "\"something-else\"");
}

TEST(Manifest, NewerFormatVersion) {
  json m = baseline();
  m["format_version"] = 2;
  EXPECT_PACKAGE_ERROR(check(m), "format_version: package format version 2 "
                                 "is newer than this runtime supports (1)");
}

TEST(Manifest, FormatVersionWrongType) {
  json m = baseline();
  m["format_version"] = "1";
  EXPECT_PACKAGE_ERROR(check(m), "format_version: expected an integer, "
                                 "found string \"1\"");
}

TEST(Manifest, MissingTarget) {
  json m = baseline();
  m.erase("target");
  EXPECT_PACKAGE_ERROR(check(m), "manifest.json: target: missing required "
                                 "field");
}

TEST(Manifest, TargetSmWrongType) {
  json m = baseline();
  m["target"]["sm"] = "80";
  EXPECT_PACKAGE_ERROR(check(m), "target.sm: expected an integer, found "
                                 "string \"80\"");
}

TEST(Manifest, TargetPtxVersionIsOptional) {
  json m = baseline();
  m["target"].erase("ptx_version");
  m["target"]["ptx_features"] = "+ptx80"; // what deltac writes today
  EXPECT_EQ(check(m).status, DJ_OK) << dj_last_error_message();
  m["target"]["ptx_version"] = 8.0;
  EXPECT_PACKAGE_ERROR(check(m), "target.ptx_version: expected a string, "
                                 "found number 8.0");
}

TEST(Manifest, TargetArchMalformedOrInconsistent) {
  json m = baseline();
  m["target"]["arch"] = "compute_80";
  EXPECT_PACKAGE_ERROR(check(m), "target.arch: expected 'sm_<number>'");
  m["target"]["arch"] = "sm_90a";
  EXPECT_PACKAGE_ERROR(check(m), "target.arch: 'sm_90a' does not match "
                                 "target.sm 80");
}

TEST(Manifest, ModulesNotAnArray) {
  json m = baseline();
  m["modules"] = json::object();
  EXPECT_PACKAGE_ERROR(check(m), "modules: expected an array, found object");
}

TEST(Manifest, ModuleFileOutsideThePackage) {
  json m = baseline();
  m["modules"][0]["file"] = "../k.ptx";
  EXPECT_PACKAGE_ERROR(check(m), "modules[0].file: '../k.ptx' must be a path "
                                 "inside the package directory");
  m["modules"][0]["file"] = "/etc/passwd";
  EXPECT_PACKAGE_ERROR(check(m), "modules[0].file: '/etc/passwd' must be");
}

TEST(Manifest, ModuleFileMissing) {
  json m = baseline();
  m["modules"][0]["sha256"] = deltajit::Sha256::hexHash(kFakePtx);
  EXPECT_PACKAGE_ERROR(check(m, {}), "cannot open module '");
}

TEST(Manifest, Sha256NotHex) {
  json m = baseline();
  m["modules"][0]["sha256"] = "abc";
  EXPECT_PACKAGE_ERROR(check(m), "modules[0].sha256: expected 64 hexadecimal "
                                 "digits, found 'abc'");
}

TEST(Manifest, Sha256Mismatch) {
  json m = baseline();
  m["modules"][0]["sha256"] = deltajit::Sha256::hexHash("other bytes");
  Result r = check(m);
  EXPECT_EQ(r.status, DJ_ERROR_PACKAGE);
  EXPECT_NE(r.message.find("manifest.json: modules[0].sha256: '"),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("has sha256 " + deltajit::Sha256::hexHash(kFakePtx) +
                           " but the manifest says " +
                           deltajit::Sha256::hexHash("other bytes")),
            std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("corrupted, truncated or replaced"),
            std::string::npos);
}

TEST(Manifest, TruncatedModuleFile) {
  TempDir dir;
  writePackage(dir.path(), baseline(), {{"k.ptx", kFakePtx}});
  std::string ptx = kFakePtx;
  writeFile(dir / "k.ptx", ptx.substr(0, ptx.size() / 2));
  EXPECT_EQ(dj_package_check(dir.path().c_str()), DJ_ERROR_PACKAGE);
  std::string msg = dj_last_error_message();
  EXPECT_NE(msg.find("k.ptx' (" + std::to_string(ptx.size() / 2) +
                     " bytes) has sha256"),
            std::string::npos)
      << msg;
}

TEST(Manifest, KernelListedTwice) {
  json m = baseline();
  m["modules"][0]["kernels"].push_back("dj_prepare");
  EXPECT_PACKAGE_ERROR(check(m), "modules[0].kernels[2]: kernel 'dj_prepare' "
                                 "is listed twice");
}

TEST(Manifest, KernelNameNotAString) {
  json m = baseline();
  m["modules"][0]["kernels"][1] = 7;
  EXPECT_PACKAGE_ERROR(check(m), "modules[0].kernels[1]: expected a kernel "
                                 "name (a non-empty string), found number 7");
}

TEST(Manifest, EntryMissingKeyField) {
  json m = baseline();
  m["entries"][0].erase("dk");
  EXPECT_PACKAGE_ERROR(check(m), "manifest.json: entries[0].dk: missing "
                                 "required field");
  m = baseline();
  m["entries"][0].erase("chunk");
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].chunk: missing required field");
}

TEST(Manifest, DecodeEntryNeedsNoChunk) {
  json m = baseline();
  EXPECT_FALSE(m["entries"][1].contains("chunk"));
  EXPECT_EQ(check(m).status, DJ_OK);
}

TEST(Manifest, EntryFieldWrongType) {
  json m = baseline();
  m["entries"][0]["dk"] = "64";
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].dk: expected an integer, found "
                                 "string \"64\"");
  m = baseline();
  m["entries"][0]["dk"] = 64.5;
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].dk: expected an integer, found "
                                 "number 64.5");
  m = baseline();
  m["entries"][1]["use_qk_l2norm"] = 0;
  EXPECT_PACKAGE_ERROR(check(m), "entries[1].use_qk_l2norm: expected a "
                                 "boolean, found number 0");
  m = baseline();
  m["entries"][0]["dtype"] = 16;
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].dtype: expected a string");
  m = baseline();
  m["entries"][0]["tile"] = "64x64";
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].tile: expected an object");
  m = baseline();
  m["entries"][0]["chunk"] = 0;
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].chunk: value 0 is out of range");
}

TEST(Manifest, EntryWithoutLaunches) {
  json m = baseline();
  m["entries"][1]["launches"] = json::array();
  EXPECT_PACKAGE_ERROR(check(m), "entries[1].launches: an entry needs at "
                                 "least one launch");
}

TEST(Manifest, BadGridFormula) {
  json m = baseline();
  m["entries"][0]["launches"][0]["grid"][1] = "HV *";
  EXPECT_PACKAGE_ERROR(check(m), "manifest.json: entries[0].launches[0]."
                                 "grid[1]: expected a number, name or '(', "
                                 "found end of formula at column 5 of 'HV *'");
}

TEST(Manifest, UnknownSymbolInGrid) {
  json m = baseline();
  m["entries"][0]["launches"][1]["grid"][2] = "TT";
  EXPECT_PACKAGE_ERROR(check(m), "manifest.json: entries[0].launches[1]."
                                 "grid[2]: unknown symbol 'TT'");
}

TEST(Manifest, PointerSymbolInGrid) {
  json m = baseline();
  m["entries"][0]["launches"][0]["grid"][0] = "q + 1";
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].launches[0].grid[0]: symbol 'q' "
                                 "is a pointer, not an integer");
  m = baseline();
  m["entries"][0]["launches"][0]["grid"][0] = "w";
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].launches[0].grid[0]: symbol 'w' "
                                 "is a scratch buffer (a pointer)");
}

TEST(Manifest, DecodeSymbolsDifferFromForward) {
  json m = baseline();
  m["entries"][1]["launches"][0]["grid"][0] = "total_chunks";
  EXPECT_PACKAGE_ERROR(check(m), "entries[1].launches[0].grid[0]: unknown "
                                 "symbol 'total_chunks'");
}

TEST(Manifest, GridShape) {
  json m = baseline();
  m["entries"][0]["launches"][0]["grid"] = json::array({"1", "1"});
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].launches[0].grid: expected 3 "
                                 "formulas, found 2");
  m = baseline();
  m["entries"][0]["launches"][0]["grid"][2] = 1;
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].launches[0].grid[2]: expected a "
                                 "formula string, found number 1");
}

TEST(Manifest, BlockChecks) {
  json m = baseline();
  m["entries"][0]["launches"][0]["block"] = json::array({64, 32, 1});
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].launches[0].block: 2048 threads "
                                 "per block (the maximum is 1024)");
  m = baseline();
  m["entries"][0]["launches"][0]["block"][1] = 0;
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].launches[0].block[1]: value 0 "
                                 "is out of range [1, 1024]");
  m = baseline();
  m["entries"][0]["launches"][0]["shared_bytes"] = -1;
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].launches[0].shared_bytes: value "
                                 "-1 is out of range");
}

TEST(Manifest, ProgrammaticWait) {
  // Optional, false when absent; a boolean.
  json m = baseline();
  m["modules"][0]["sha256"] = std::string(64, 'a');
  m["entries"][0]["launches"][1]["programmatic_wait"] = true;
  deltajit::Manifest p = deltajit::parseManifest(m.dump(), "manifest.json");
  EXPECT_FALSE(p.entries[0].launches[0].programmaticWait);
  EXPECT_TRUE(p.entries[0].launches[1].programmaticWait);
  m = baseline();
  m["entries"][0]["launches"][1]["programmatic_wait"] = 1;
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].launches[1].programmatic_wait: "
                                 "expected a boolean, found number 1");
}

TEST(Manifest, KernelNotInAnyModule) {
  json m = baseline();
  m["entries"][0]["launches"][1]["kernel"] = "dj_missing";
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].launches[1].kernel: kernel "
                                 "'dj_missing' is not listed in any module's "
                                 "kernels");
}

TEST(Manifest, ParamChecks) {
  json m = baseline();
  m["entries"][0]["launches"][0]["params"][0]["type"] = "u8";
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].launches[0].params[0].type: "
                                 "unknown type 'u8' (expected ptr, i32, i64 "
                                 "or f32)");
  m = baseline();
  m["entries"][0]["launches"][0]["params"][1]["name"] = "foo";
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].launches[0].params[1].name: "
                                 "'foo' is neither a symbol the runtime binds "
                                 "for delta_rule_forward nor a scratch buffer");
  m = baseline();
  m["entries"][0]["launches"][0]["params"][3]["type"] = "i32";
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].launches[0].params[3]: 'scale' "
                                 "is a float but the parameter type is i32");
  m = baseline();
  m["entries"][0]["launches"][0]["params"][1]["type"] = "i64";
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].launches[0].params[1]: 'w' is a "
                                 "pointer but the parameter type is i64");
  m = baseline();
  m["entries"][0]["launches"][0]["params"][0].erase("type");
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].launches[0].params[0].type: "
                                 "missing required field");
}

TEST(Manifest, ScratchChecks) {
  json m = baseline();
  m["entries"][0]["scratch"][1]["bytes"] = "T_total * HV * DVV";
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].scratch[1].bytes: unknown symbol "
                                 "'DVV'");
  m = baseline();
  m["entries"][0]["scratch"][1]["name"] = "w";
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].scratch[1].name: scratch buffer "
                                 "'w' is declared twice");
  m = baseline();
  m["entries"][0]["scratch"][1]["name"] = "cu_seqlens";
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].scratch[1].name: 'cu_seqlens' is "
                                 "already a symbol the runtime binds");
  m = baseline();
  m["entries"][0]["scratch"][0]["name"] = "2w";
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].scratch[0].name: '2w' is not an "
                                 "identifier");
  m = baseline();
  m["entries"][0]["scratch"][0]["bytes"] = 1024;
  EXPECT_PACKAGE_ERROR(check(m), "entries[0].scratch[0].bytes: expected a "
                                 "formula string");
}

TEST(Manifest, UnknownOpDefersSymbolChecks) {
  json m = baseline();
  m["entries"].push_back(json::parse(R"json({
    "op": "test_fill",
    "launches": [{"kernel": "dj_prepare", "grid": ["ceildiv(n, 128)", "1", "1"],
                  "block": [128, 1, 1], "shared_bytes": 0,
                  "params": [{"name": "out", "type": "ptr"},
                             {"name": "n", "type": "i32"}]}]})json"));
  Result r = check(m);
  EXPECT_EQ(r.status, DJ_OK) << r.message;
}

TEST(TargetCompatibility, ArchSpecificNeedsExactCapability) {
  deltajit::TargetSpec t{"sm_90a", 90, "8.0"};
  EXPECT_NO_THROW(deltajit::checkTargetCompatible(t, 9, 0, "m.json"));
  try {
    deltajit::checkTargetCompatible(t, 10, 0, "m.json");
    FAIL() << "sm_90a accepted on cc 10.0";
  } catch (const deltajit::Error &e) {
    EXPECT_EQ(e.status(), DJ_ERROR_PACKAGE);
    EXPECT_NE(std::string(e.what()).find(
                  "m.json: target.arch: the package targets sm_90a, which runs "
                  "only on compute capability 9.0 (arch-specific 'a' "
                  "features); this device has compute capability 10.0"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(deltajit::checkTargetCompatible(t, 8, 0, "m.json"),
               deltajit::Error);
}

TEST(TargetCompatibility, PlainArchRunsOnNewer) {
  deltajit::TargetSpec t{"sm_80", 80, "7.0"};
  EXPECT_NO_THROW(deltajit::checkTargetCompatible(t, 8, 0, "m.json"));
  EXPECT_NO_THROW(deltajit::checkTargetCompatible(t, 8, 6, "m.json"));
  EXPECT_NO_THROW(deltajit::checkTargetCompatible(t, 9, 0, "m.json"));
  try {
    deltajit::checkTargetCompatible(t, 7, 5, "m.json");
    FAIL() << "sm_80 accepted on cc 7.5";
  } catch (const deltajit::Error &e) {
    EXPECT_NE(std::string(e.what()).find("needs compute capability 8.0 or "
                                         "newer; this device has compute "
                                         "capability 7.5"),
              std::string::npos)
        << e.what();
  }
}

TEST(TargetCompatibility, FamilyArch) {
  deltajit::TargetSpec t{"sm_100f", 100, "8.8"};
  EXPECT_NO_THROW(deltajit::checkTargetCompatible(t, 10, 0, "m.json"));
  EXPECT_NO_THROW(deltajit::checkTargetCompatible(t, 10, 3, "m.json"));
  EXPECT_THROW(deltajit::checkTargetCompatible(t, 12, 0, "m.json"),
               deltajit::Error);
  EXPECT_THROW(deltajit::checkTargetCompatible(t, 9, 0, "m.json"),
               deltajit::Error);
}
