//===- DeltaRuleTest.cpp - host side of the delta-rule ops, launcher ------===//
//
// Argument validation, the sequence tables, symbol binding, entry lookup,
// and the launcher's evaluation and parameter packing: all without a GPU.
//
//===----------------------------------------------------------------------===//

#include "DeltaRule.h"
#include "Error.h"
#include "Launcher.h"
#include "Manifest.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace deltajit;
using nlohmann::json;

namespace {

/// Fake (never dereferenced) device pointers.
const void *fake(uintptr_t p) { return reinterpret_cast<const void *>(p); }
void *fakeMut(uintptr_t p) { return reinterpret_cast<void *>(p); }

dj_delta_rule_forward_args_t validForward() {
  dj_delta_rule_forward_args_t a{};
  a.dtype = DJ_DTYPE_BF16;
  a.B = 2;
  a.T = 130;
  a.H = 4;
  a.HV = 8;
  a.DK = 64;
  a.DV = 128;
  a.q = fake(0x1000);
  a.k = fake(0x2000);
  a.v = fake(0x3000);
  a.beta = fake(0x4000);
  a.o = fakeMut(0x5000);
  a.scale = NAN;
  return a;
}

dj_delta_rule_decode_args_t validDecode() {
  dj_delta_rule_decode_args_t a{};
  a.dtype = DJ_DTYPE_FP16;
  a.N = 3;
  a.H = 2;
  a.HV = 2;
  a.DK = 128;
  a.DV = 128;
  a.q = fake(0x1000);
  a.k = fake(0x2000);
  a.v = fake(0x3000);
  a.beta = fake(0x4000);
  a.o = fakeMut(0x5000);
  a.state_in = fake(0x6000);
  a.scale = 0.25f;
  return a;
}

/// The INVALID_ARGUMENT message of validating `a` ("" when valid).
template <typename Args, typename F>
std::string invalid(const Args &a, F validate) {
  try {
    validate(a);
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), DJ_ERROR_INVALID_ARGUMENT);
    return e.what();
  }
  return "";
}
std::string invalidForward(const dj_delta_rule_forward_args_t &a) {
  return invalid(a, validateForwardArgs);
}
std::string invalidDecode(const dj_delta_rule_decode_args_t &a) {
  return invalid(a, validateDecodeArgs);
}

Manifest manifestWith(const json &entries) {
  json m = {
      {"format", "deltajit-package"},
      {"format_version", 1},
      {"target", {{"arch", "sm_90a"}, {"sm", 90}, {"ptx_version", "8.0"}}},
      {"modules", json::array({{{"file", "k.ptx"},
                                {"sha256", std::string(64, '0')},
                                {"kernels", json::array({"k0", "k1"})}}})},
      {"entries", entries}};
  return parseManifest(m.dump(), "manifest.json");
}

json forwardEntry(const std::string &dtype, int dk, int dv, int chunk,
                  bool l2) {
  return {{"op", "delta_rule_forward"},
          {"dtype", dtype},
          {"dk", dk},
          {"dv", dv},
          {"chunk", chunk},
          {"use_qk_l2norm", l2},
          {"launches",
           json::array({{{"kernel", "k0"},
                         {"grid", json::array({"total_chunks", "HV", "1"})},
                         {"block", json::array({128, 1, 1})},
                         {"shared_bytes", 0},
                         {"params", json::array()}}})}};
}

} // namespace

TEST(ForwardArgs, ValidArgumentsPass) {
  EXPECT_EQ(invalidForward(validForward()), "");
  dj_delta_rule_forward_args_t a = validForward();
  a.T = 0; // an empty batch is valid
  EXPECT_EQ(invalidForward(a), "");
}

TEST(ForwardArgs, EachBadArgumentIsNamed) {
  dj_delta_rule_forward_args_t a = validForward();
  a.dtype = static_cast<dj_dtype_t>(0);
  EXPECT_EQ(invalidForward(a), "args->dtype is 0 (unset); expected "
                               "DJ_DTYPE_BF16 or DJ_DTYPE_FP16");
  a = validForward();
  a.B = 0;
  EXPECT_EQ(invalidForward(a), "args->B is 0; it must be >= 1");
  a = validForward();
  a.T = -1;
  EXPECT_EQ(invalidForward(a), "args->T is -1; it must be >= 0");
  a = validForward();
  a.DK = 0;
  EXPECT_EQ(invalidForward(a), "args->DK is 0; it must be >= 1");
  a = validForward();
  a.HV = 6;
  EXPECT_EQ(invalidForward(a),
            "args->HV (6) must be a multiple of args->H (4)");
  for (const char *name : {"q", "k", "v", "beta", "o"}) {
    a = validForward();
    if (!std::strcmp(name, "q"))
      a.q = nullptr;
    if (!std::strcmp(name, "k"))
      a.k = nullptr;
    if (!std::strcmp(name, "v"))
      a.v = nullptr;
    if (!std::strcmp(name, "beta"))
      a.beta = nullptr;
    if (!std::strcmp(name, "o"))
      a.o = nullptr;
    EXPECT_EQ(invalidForward(a), std::string("args->") + name +
                                     " is NULL; it is a required device "
                                     "pointer");
  }
  a = validForward();
  a.chunk_size = -64;
  EXPECT_EQ(invalidForward(a), "args->chunk_size is -64; it must be >= 0 (0: "
                               "the package's default)");
  a = validForward();
  a.scale = INFINITY;
  EXPECT_NE(invalidForward(a).find("args->scale is infinite"),
            std::string::npos);
  a = validForward();
  a.T = int64_t(1) << 40;
  a.DV = int64_t(1) << 20;
  EXPECT_NE(invalidForward(a).find("overflows 64 bits"), std::string::npos);
}

TEST(ForwardArgs, CuSeqlensChecks) {
  const int64_t good[] = {0, 5, 5, 13};
  dj_delta_rule_forward_args_t a = validForward();
  a.B = 1;
  a.T = 13;
  a.cu_seqlens = good;
  a.num_seqs = 3;
  EXPECT_EQ(invalidForward(a), "");

  a.B = 2;
  EXPECT_EQ(invalidForward(a),
            "args->B is 2; it must be 1 when args->cu_seqlens is given");
  a.B = 1;
  a.num_seqs = 0;
  EXPECT_EQ(invalidForward(a), "args->num_seqs is 0; it must be >= 1");
  a.num_seqs = 3;
  a.T = 14;
  EXPECT_EQ(invalidForward(a),
            "args->cu_seqlens[num_seqs = 3] is 13; it must equal args->T (14)");
  a.T = 13;
  const int64_t notZero[] = {1, 5, 5, 13};
  a.cu_seqlens = notZero;
  EXPECT_EQ(invalidForward(a), "args->cu_seqlens[0] is 1; it must be 0");
  const int64_t decreasing[] = {0, 6, 5, 13};
  a.cu_seqlens = decreasing;
  EXPECT_EQ(invalidForward(a), "args->cu_seqlens is not non-decreasing: "
                               "cu_seqlens[2] = 5 < cu_seqlens[1] = 6");
  a = validForward();
  a.num_seqs = 2;
  EXPECT_EQ(invalidForward(a), "args->num_seqs is 2 but args->cu_seqlens is "
                               "NULL (num_seqs must be 0 without cu_seqlens)");
}

TEST(DecodeArgs, Validation) {
  EXPECT_EQ(invalidDecode(validDecode()), "");
  dj_delta_rule_decode_args_t a = validDecode();
  a.N = 0; // nothing to do, but valid
  EXPECT_EQ(invalidDecode(a), "");
  a.N = -1;
  EXPECT_EQ(invalidDecode(a), "args->N is -1; it must be >= 0");
  a = validDecode();
  a.state_in = nullptr;
  EXPECT_EQ(invalidDecode(a),
            "args->state_in is NULL; it is a required device pointer");
  a = validDecode();
  a.state_in = fake(0x6004);
  EXPECT_EQ(invalidDecode(a),
            "args->state_in (0x6004) is not 16-byte aligned; the decode "
            "kernels move the state in 16-byte vectors");
  a = validDecode();
  a.state_out = const_cast<void *>(fake(0x7008));
  EXPECT_EQ(invalidDecode(a),
            "args->state_out (0x7008) is not 16-byte aligned; the decode "
            "kernels move the state in 16-byte vectors");
  a = validDecode();
  a.H = 3;
  EXPECT_EQ(invalidDecode(a), "args->HV (2) must be a multiple of args->H (3)");
  a = validDecode();
  a.dtype = static_cast<dj_dtype_t>(9);
  EXPECT_EQ(invalidDecode(a), "args->dtype is 9; expected DJ_DTYPE_BF16 or "
                              "DJ_DTYPE_FP16");
}

TEST(ForwardTables, UniformBatch) {
  dj_delta_rule_forward_args_t a = validForward(); // B = 2, T = 130
  ForwardTables t = buildForwardTables(a, 64);
  EXPECT_EQ(t.numSeqs, 2);
  EXPECT_EQ(t.cuSeqlens, (std::vector<int64_t>{0, 130, 260}));
  EXPECT_EQ(t.totalChunks, 6);
  EXPECT_EQ(t.maxChunks, 3);
  EXPECT_EQ(t.chunkOffsets, (std::vector<int32_t>{0, 3, 6}));
  EXPECT_EQ(t.chunkTable,
            (std::vector<int32_t>{0, 0, 0, 1, 0, 2, 1, 0, 1, 1, 1, 2}));
  // (first token, end of the sequence) per chunk.
  EXPECT_EQ(t.chunkSpans, (std::vector<int32_t>{0, 130, 64, 130, 128, 130, 130,
                                                260, 194, 260, 258, 260}));
}

TEST(ForwardTables, VariableLengthWithEmptySequences) {
  const int64_t cu[] = {0, 0, 64, 65, 65, 200};
  dj_delta_rule_forward_args_t a = validForward();
  a.B = 1;
  a.T = 200;
  a.cu_seqlens = cu;
  a.num_seqs = 5;
  ForwardTables t = buildForwardTables(a, 64);
  // Lengths 0, 64, 1, 0, 135 -> chunks 0, 1, 1, 0, 3.
  EXPECT_EQ(t.cuSeqlens, (std::vector<int64_t>{0, 0, 64, 65, 65, 200}));
  EXPECT_EQ(t.chunkOffsets, (std::vector<int32_t>{0, 0, 1, 2, 2, 5}));
  EXPECT_EQ(t.totalChunks, 5);
  EXPECT_EQ(t.maxChunks, 3);
  EXPECT_EQ(t.chunkTable, (std::vector<int32_t>{1, 0, 2, 0, 4, 0, 4, 1, 4, 2}));
  EXPECT_EQ(t.chunkSpans,
            (std::vector<int32_t>{0, 64, 64, 65, 65, 200, 129, 200, 193, 200}));
}

TEST(ForwardTables, TokensBeyondInt32AreAnError) {
  const int64_t cu[] = {0, int64_t(1) << 31};
  dj_delta_rule_forward_args_t a = validForward();
  a.B = 1;
  a.T = int64_t(1) << 31;
  a.cu_seqlens = cu;
  a.num_seqs = 1;
  try {
    buildForwardTables(a, 64);
    ADD_FAILURE() << "no error";
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(),
                 "the batch has 2147483648 tokens; at most 2^31-1 are "
                 "supported");
  }
}

TEST(ForwardTables, AllEmpty) {
  dj_delta_rule_forward_args_t a = validForward();
  a.T = 0;
  ForwardTables t = buildForwardTables(a, 64);
  EXPECT_EQ(t.totalChunks, 0);
  EXPECT_EQ(t.maxChunks, 0);
  EXPECT_EQ(t.cuSeqlens, (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(t.chunkOffsets, (std::vector<int32_t>{0, 0, 0}));
  EXPECT_TRUE(t.chunkTable.empty());
  EXPECT_TRUE(t.chunkSpans.empty());
}

TEST(ForwardSymbols, BindsTheDocumentedTable) {
  dj_delta_rule_forward_args_t a = validForward();
  a.h0 = fake(0x7000);
  ForwardTables t = buildForwardTables(a, 64);
  SymbolTable s = forwardSymbols(a, t, 0xa000, 0xb000, 0xc000, 0xd000);
  for (const char *name : {"q",
                           "k",
                           "v",
                           "beta",
                           "o",
                           "h0",
                           "ht",
                           "cu_seqlens",
                           "chunk_offsets",
                           "chunk_table",
                           "chunk_spans",
                           "B",
                           "T",
                           "H",
                           "HV",
                           "DK",
                           "DV",
                           "N",
                           "T_total",
                           "total_chunks",
                           "max_chunks",
                           "has_h0",
                           "has_ht",
                           "scale"}) {
    ASSERT_TRUE(s.count(name)) << name;
    // Every symbol of the docs' table is one the manifest checker knows.
    EXPECT_EQ(opSymbols("delta_rule_forward")->at(name), s.at(name).kind)
        << name;
  }
  // All but segment_chunks, which deltaRuleForward binds for the segment
  // scan's entries alone (segmentChunksFor).
  EXPECT_FALSE(s.count("segment_chunks"));
  EXPECT_EQ(opSymbols("delta_rule_forward")->at("segment_chunks"),
            SymbolKind::Int);
  EXPECT_EQ(s.size() + 1, opSymbols("delta_rule_forward")->size());
  EXPECT_EQ(s["q"].ptr, 0x1000u);
  EXPECT_EQ(s["h0"].ptr, 0x7000u);
  EXPECT_EQ(s["ht"].ptr, 0u);
  EXPECT_EQ(s["chunk_table"].ptr, 0xc000u);
  EXPECT_EQ(s["chunk_spans"].ptr, 0xd000u);
  EXPECT_EQ(s["T_total"].i, 260);
  EXPECT_EQ(s["N"].i, 2);
  EXPECT_EQ(s["total_chunks"].i, 6);
  EXPECT_EQ(s["has_h0"].i, 1);
  EXPECT_EQ(s["has_ht"].i, 0);
  EXPECT_FLOAT_EQ(static_cast<float>(s["scale"].f), 0.125f); // 64^-1/2
  a.scale = 0.5f;
  EXPECT_FLOAT_EQ(
      static_cast<float>(forwardSymbols(a, t, 0, 0, 0, 0)["scale"].f), 0.5f);
}

TEST(DecodeSymbols, InPlaceWhenStateOutIsNull) {
  dj_delta_rule_decode_args_t a = validDecode();
  SymbolTable s = decodeSymbols(a);
  EXPECT_EQ(s.size(), opSymbols("delta_rule_decode")->size());
  EXPECT_EQ(s["state_out"].ptr, 0x6000u);
  a.state_out = fakeMut(0x8000);
  EXPECT_EQ(decodeSymbols(a)["state_out"].ptr, 0x8000u);
  EXPECT_FLOAT_EQ(static_cast<float>(s["scale"].f), 0.25f);
}

TEST(FindEntry, MatchesKeysAndChunk) {
  Manifest m =
      manifestWith(json::array({forwardEntry("bf16", 64, 64, 64, false),
                                forwardEntry("bf16", 128, 128, 64, false),
                                forwardEntry("bf16", 128, 128, 32, false),
                                forwardEntry("fp16", 128, 128, 64, true)}));
  EntryRequest r;
  r.op = "delta_rule_forward";
  r.dtype = DJ_DTYPE_BF16;
  r.dk = 128;
  r.dv = 128;
  EXPECT_EQ(findEntry(m, r, "pkg"), 1u); // first match when chunk is unset
  r.chunk = 32;
  EXPECT_EQ(findEntry(m, r, "pkg"), 2u);
  r.chunk.reset();
  r.dtype = DJ_DTYPE_FP16;
  r.useQkL2norm = true;
  EXPECT_EQ(findEntry(m, r, "pkg"), 3u);
}

TEST(FindEntry, NotFoundListsRequestAndEntries) {
  Manifest m =
      manifestWith(json::array({forwardEntry("bf16", 64, 64, 64, false),
                                forwardEntry("bf16", 128, 128, 64, true)}));
  EntryRequest r;
  r.op = "delta_rule_forward";
  r.dtype = DJ_DTYPE_BF16;
  r.dk = 128;
  r.dv = 128;
  r.chunk = 32;
  try {
    findEntry(m, r, "/p");
    FAIL() << "found an entry";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), DJ_ERROR_NOT_FOUND);
    EXPECT_EQ(std::string(e.what()),
              "no entry of package '/p' matches delta_rule_forward dtype=bf16 "
              "dk=128 dv=128 chunk=32 use_qk_l2norm=false; the package has 2 "
              "entries:\n"
              "  delta_rule_forward dtype=bf16 dk=64 dv=64 chunk=64 "
              "use_qk_l2norm=false\n"
              "  delta_rule_forward dtype=bf16 dk=128 dv=128 chunk=64 "
              "use_qk_l2norm=true");
  }
}

TEST(Launcher, EvaluatesGridsAndPacksParams) {
  json entry = {
      {"op", "custom"},
      {"scratch", json::array({{{"name", "tmp"}, {"bytes", "n * 4"}}})},
      {"launches",
       json::array(
           {{{"kernel", "k0"},
             {"grid", json::array({"ceildiv(n, 128)", "2", "1"})},
             {"block", json::array({128, 1, 1})},
             {"shared_bytes", 256},
             {"params", json::array({{{"name", "out"}, {"type", "ptr"}},
                                     {{"name", "n"}, {"type", "i32"}},
                                     {{"name", "n"}, {"type", "i64"}},
                                     {{"name", "x"}, {"type", "f32"}},
                                     {{"name", "tmp"}, {"type", "ptr"}}})}},
            {{"kernel", "k1"},
             {"grid", json::array({"n - n", "1", "1"})},
             {"block", json::array({32, 1, 1})},
             {"shared_bytes", 0},
             {"params", json::array()}}})}};
  Manifest m = manifestWith(json::array({entry}));
  SymbolTable s;
  s["out"] = SymbolValue::pointer(CUdeviceptr(0xdead0000));
  s["n"] = SymbolValue::integer(1000);
  s["x"] = SymbolValue::real(1.5);
  EXPECT_EQ(evaluateScratchBytes(m.entries[0], 0, s), 4000);
  s["tmp"] = SymbolValue::pointer(CUdeviceptr(0xbeef0000));
  std::vector<PreparedLaunch> l = prepareLaunches(m.entries[0], s, {});
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].grid[0], 8u);
  EXPECT_EQ(l[0].grid[1], 2u);
  EXPECT_EQ(l[0].block[0], 128u);
  EXPECT_EQ(l[0].sharedBytes, 256u);
  EXPECT_FALSE(l[0].skip);
  ASSERT_EQ(l[0].params.size(), 5u);
  uint64_t p;
  std::memcpy(&p, l[0].params[0], 8);
  EXPECT_EQ(p, 0xdead0000u);
  int32_t i32;
  std::memcpy(&i32, l[0].params[1], 4);
  EXPECT_EQ(i32, 1000);
  int64_t i64;
  std::memcpy(&i64, l[0].params[2], 8);
  EXPECT_EQ(i64, 1000);
  float f;
  std::memcpy(&f, l[0].params[3], 4);
  EXPECT_EQ(f, 1.5f);
  std::memcpy(&p, l[0].params[4], 8);
  EXPECT_EQ(p, 0xbeef0000u);
  EXPECT_TRUE(l[1].skip); // zero-sized grid
}

TEST(Launcher, LaunchTimeErrorsNameTheField) {
  json entry = {
      {"op", "custom"},
      {"launches",
       json::array(
           {{{"kernel", "k0"},
             {"grid", json::array({"n / d", "1", "1"})},
             {"block", json::array({1, 1, 1})},
             {"shared_bytes", 0},
             {"params", json::array({{{"name", "n"}, {"type", "i32"}},
                                     {{"name", "p"}, {"type", "ptr"}}})}}})}};
  Manifest m = manifestWith(json::array({entry}));
  auto error = [&](const SymbolTable &s) -> std::string {
    try {
      prepareLaunches(m.entries[0], s, {});
    } catch (const Error &e) {
      EXPECT_EQ(e.status(), DJ_ERROR_INVALID_ARGUMENT);
      return e.what();
    }
    return "";
  };
  SymbolTable s;
  s["n"] = SymbolValue::integer(10);
  s["p"] = SymbolValue::pointer(CUdeviceptr(0x10));
  EXPECT_EQ(error(s), "custom: entries[0].launches[0].grid[0]: symbol 'd' is "
                      "not bound");
  s["d"] = SymbolValue::integer(0);
  EXPECT_EQ(error(s), "custom: entries[0].launches[0].grid[0]: division by "
                      "zero in 'n / d'");
  s["d"] = SymbolValue::real(1.0);
  EXPECT_EQ(error(s), "custom: entries[0].launches[0].grid[0]: symbol 'd' is "
                      "a float, not an integer");
  s["d"] = SymbolValue::integer(-1);
  EXPECT_EQ(error(s), "custom: entries[0].launches[0].grid[0]: 'n / d' "
                      "evaluates to -10, outside the grid range [0, "
                      "2147483647]");
  s["d"] = SymbolValue::integer(1);
  s.erase("p");
  EXPECT_EQ(error(s), "custom: entries[0].launches[0].params[1]: parameter "
                      "'p' of kernel 'k0' is not bound");
  s["p"] = SymbolValue::integer(3);
  EXPECT_EQ(error(s), "custom: entries[0].launches[0].params[1]: parameter "
                      "'p' has type ptr but is bound to an integer");
  s["p"] = SymbolValue::pointer(CUdeviceptr(0x10));
  s["n"] = SymbolValue::integer(int64_t(1) << 33);
  s["d"] = SymbolValue::integer(int64_t(1) << 30);
  EXPECT_EQ(error(s), "custom: entries[0].launches[0].params[0]: parameter "
                      "'n' is i32 but its value 8589934592 does not fit in 32 "
                      "bits");
  s["n"] = SymbolValue::integer(10);
  s["d"] = SymbolValue::integer(1);
  EXPECT_EQ(error(s), "");
}

TEST(SegmentChunks, CompiledLengthWhenItsTransitionsFitOneWave) {
  // 2 x 8192 x 16 heads, d = 128, block_v 64: 128 chunks, 4 x 32 = 128
  // transitions programs per segment, 3 x 132 resident: 3 segments' fit.
  EXPECT_EQ(segmentChunksFor(32, 128, 128, 396), 32);
  // A single segment has no transitions.
  EXPECT_EQ(segmentChunksFor(32, 20, 1 << 20, 396), 32);
}

TEST(SegmentChunks, LongerSegmentsFillOneWave) {
  // 1 x 16384 x 16 heads: 256 chunks, 64 programs per segment; at 32, 7 x
  // 64 = 448 programs overflow 396; 34 and 36 still need 8 segments, 38
  // needs 7 (6 x 64 = 384).
  EXPECT_EQ(segmentChunksFor(32, 256, 64, 396), 38);
  // Two per SM (264): 5 segments would be needed (L = 52 > 40): kept.
  EXPECT_EQ(segmentChunksFor(32, 256, 64, 264), 32);
  // At most max(L + 2, 5/4 L): 2 -> 4.
  EXPECT_EQ(segmentChunksFor(2, 20, 64, 396), 4);
}

TEST(SegmentChunks, LongSequencesTakeTwiceTheLength) {
  // No length within a quarter fits one wave: twice the compiled one where
  // the sequences still hold 8 segments (1 x 32768 and 1 x 65536 x 16
  // heads: 512 and 1024 chunks), else the compiled one (2 x 16384 x 16:
  // 256 chunks, 128 programs per segment).
  EXPECT_EQ(segmentChunksFor(32, 512, 64, 396), 64);
  EXPECT_EQ(segmentChunksFor(32, 1024, 64, 396), 64);
  EXPECT_EQ(segmentChunksFor(32, 256, 128, 396), 32);
  EXPECT_EQ(segmentChunksFor(2, 32, 64, 396), 4);
  EXPECT_EQ(segmentChunksFor(2, 28, 128, 396), 2);
}

TEST(SegmentChunks, NothingKnownKeepsTheCompiledLength) {
  EXPECT_EQ(segmentChunksFor(32, 256, 64, 0), 32);
  EXPECT_EQ(segmentChunksFor(32, 0, 64, 396), 32);
  EXPECT_EQ(segmentChunksFor(32, 256, 0, 396), 32);
}

TEST(SegmentChunks, OverrideFromTheEnvironment) {
  ::unsetenv("DELTAJIT_SEGMENT_CHUNKS");
  EXPECT_FALSE(segmentChunksOverride());
  ::setenv("DELTAJIT_SEGMENT_CHUNKS", "", 1);
  EXPECT_FALSE(segmentChunksOverride());
  ::setenv("DELTAJIT_SEGMENT_CHUNKS", "48", 1);
  EXPECT_EQ(segmentChunksOverride(), std::optional<int64_t>(48));
  for (const char *bad : {"5", "0", "-2", "32x", "99999999999999999999"}) {
    ::setenv("DELTAJIT_SEGMENT_CHUNKS", bad, 1);
    try {
      segmentChunksOverride();
      ADD_FAILURE() << bad;
    } catch (const Error &e) {
      EXPECT_EQ(e.status(), DJ_ERROR_INVALID_ARGUMENT) << bad;
      EXPECT_NE(std::string(e.what()).find("DELTAJIT_SEGMENT_CHUNKS"),
                std::string::npos)
          << e.what();
    }
  }
  ::unsetenv("DELTAJIT_SEGMENT_CHUNKS");
}
