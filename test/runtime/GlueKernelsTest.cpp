//===- GlueKernelsTest.cpp - glue kernels without a GPU: NVRTC, checks ----===//
//
// NVRTC needs no GPU: every glue kernel is compiled here for sm_80 and
// sm_90a (cubin: NVRTC runs ptxas) and the PTX is checked for every kernel
// entry. Tests that need NVRTC skip (with the reason) where it is missing.
// The host-side argument checks of every GlueKernels call are exercised
// through GlueProgram.h.
//
//===----------------------------------------------------------------------===//

#include "Error.h"
#include "GlueProgram.h"
#include "Nvrtc.h"
#include "TestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <set>
#include <string>

using namespace deltajit;
using deltajit::test::ScopedEnv;

namespace {

/// True when NVRTC loads; else `why` says what failed.
bool haveNvrtc(std::string *why) {
  try {
    Nvrtc::get();
    return true;
  } catch (const Error &e) {
    *why = e.what();
    return false;
  }
}

#define REQUIRE_NVRTC()                                                        \
  do {                                                                         \
    std::string why_;                                                          \
    if (!haveNvrtc(&why_))                                                     \
      GTEST_SKIP() << "NVRTC is not available here: " << why_;                 \
  } while (0)

/// Runs `f`, expecting Error(status) whose message contains every `parts`.
void expectError(const std::function<void()> &f, dj_status_t status,
                 std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown (expected " << dj_status_string(status)
                  << ")";
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), status) << e.what();
    for (const std::string &p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "message '" << e.what() << "' lacks '" << p << "'";
  }
}

// ---- NVRTC loading
// -------------------------------------------------------------

TEST(GlueNvrtc, MissingLibraryIsNoDriverNamingThePath) {
  ScopedEnv env("DELTAJIT_NVRTC", "/nonexistent/libnvrtc.so.13");
  expectError([] { Nvrtc::get(); }, DJ_ERROR_NO_DRIVER,
              {"/nonexistent/libnvrtc.so.13", "DELTAJIT_NVRTC"});
  // compileCuda reports the same, before doing anything else.
  expectError([] { compileCuda("", "x.cu", {"--gpu-architecture=sm_80"}); },
              DJ_ERROR_NO_DRIVER, {"/nonexistent/libnvrtc.so.13"});
}

TEST(GlueNvrtc, LibraryWithoutNvrtcSymbolsIsNoDriver) {
  // libc is a real shared library without nvrtc* symbols.
  ScopedEnv env("DELTAJIT_NVRTC", "libc.so.6");
  expectError([] { Nvrtc::get(); }, DJ_ERROR_NO_DRIVER,
              {"libc.so.6", "nvrtcGetErrorString"});
}

TEST(GlueNvrtc, DefaultSearchLoadsOrNamesEveryCandidate) {
  ScopedEnv env("DELTAJIT_NVRTC", nullptr);
  std::string why;
  if (haveNvrtc(&why)) {
    const Nvrtc &n = Nvrtc::get();
    EXPECT_FALSE(n.path.empty());
    EXPECT_GE(n.major, 11);
    EXPECT_TRUE(n.supportsArch(80)) << n.versionString();
    return;
  }
  for (const char *p :
       {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so",
        "/usr/local/cuda/lib64/libnvrtc.so.13", "DELTAJIT_NVRTC"})
    EXPECT_NE(why.find(p), std::string::npos) << why;
}

TEST(GlueNvrtc, CompileErrorCarriesTheLog) {
  REQUIRE_NVRTC();
  expectError(
      [] {
        compileCuda("extern \"C\" __global__ void k() { undefined_thing(); }\n",
                    "broken.cu", {"--gpu-architecture=compute_80"});
      },
      DJ_ERROR_INTERNAL, {"broken.cu", "undefined_thing", "compile log"});
}

TEST(GlueNvrtc, CompilesAKernelToPtxAndCubin) {
  REQUIRE_NVRTC();
  const std::string src =
      "extern \"C\" __global__ void dj_tiny(float *p) { p[threadIdx.x] = 1; }";
  std::string log;
  std::string ptx =
      compileCuda(src, "tiny.cu", {"--gpu-architecture=compute_80"}, &log);
  EXPECT_NE(ptx.find(".entry dj_tiny"), std::string::npos);
  EXPECT_EQ(ptx.find('\0'), std::string::npos);
  std::string cubin = compileCuda(src, "tiny.cu", {"--gpu-architecture=sm_80"},
                                  nullptr, NvrtcOutput::Cubin);
  ASSERT_GE(cubin.size(), 4u);
  EXPECT_EQ(cubin.substr(0, 4), std::string("\x7f"
                                            "ELF"));
  // Asking a virtual architecture for a cubin is an error, not an empty one.
  expectError(
      [&] {
        compileCuda(src, "tiny.cu", {"--gpu-architecture=compute_80"}, nullptr,
                    NvrtcOutput::Cubin);
      },
      DJ_ERROR_INTERNAL, {"cubin"});
}

// ---- The glue program
// -----------------------------------------------------------

TEST(GlueProgram, SourceEmbedsEveryFile) {
  const std::string &src = glue::source();
  for (const char *f : {"glue_common.cu", "glue_rows.cu", "glue_sequence.cu",
                        "glue_attention.cu", "glue_sample.cu"})
    EXPECT_NE(src.find(std::string("#line 1 \"") + f + "\""), std::string::npos)
        << f;
  EXPECT_EQ(src.find('\0'), std::string::npos);
  EXPECT_EQ(src.find("#include"), std::string::npos)
      << "the glue kernels must not need an include path";
}

TEST(GlueProgram, KernelNamesAreUniqueAndDefined) {
  std::vector<std::string> names = glue::kernelNames();
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), names.size());
  EXPECT_EQ(names.size(), 45u);
  for (const char *n :
       {"dj_glue_linear_small_m_bf16", "dj_glue_linear_small_m_f16"})
    EXPECT_EQ(unique.count(n), 1u) << n;
  for (const std::string &n : names)
    EXPECT_EQ(n.rfind("dj_glue_", 0), 0u) << n;
  // (That each is defined is checked against the compiled PTX below.)
}

/// Compiles the whole program for `arch` and checks every kernel entry.
void compileProgram(const std::string &arch, NvrtcOutput out) {
  std::string log;
  std::string bin = compileCuda(glue::source(), "deltajit_glue.cu",
                                glue::nvrtcOptions(arch), &log, out);
  EXPECT_EQ(log.find("warning"), std::string::npos) << log;
  for (const std::string &n : glue::kernelNames()) {
    if (out == NvrtcOutput::Ptx)
      EXPECT_NE(bin.find(".entry " + n + "("), std::string::npos) << n;
    else // the ELF symbol table holds the names, NUL-terminated
      EXPECT_NE(bin.find(n + std::string(1, '\0')), std::string::npos) << n;
  }
  if (out == NvrtcOutput::Ptx) {
    // The tensor-core attention really uses tensor cores and async copies.
    EXPECT_NE(bin.find("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"),
              std::string::npos);
    EXPECT_NE(bin.find("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"),
              std::string::npos);
    EXPECT_NE(bin.find("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"),
              std::string::npos);
    EXPECT_NE(bin.find("cp.async.cg.shared.global"), std::string::npos);
    // The small-M linear streams its weights past L1 with 16-byte loads.
    EXPECT_NE(bin.find("ld.global.nc.L1::no_allocate.v4.u32"),
              std::string::npos);
  } else {
    EXPECT_EQ(bin.substr(0, 4), std::string("\x7f"
                                            "ELF"));
  }
}

TEST(GlueProgram, AttentionDecodeShape) {
  // The measured decode: batch 1, 16/16 heads, d 64, window 2048 of 4096,
  // 132 SMs: 32 splits of 64 keys (a token at 540 uses 9 of them).
  glue::AttnDecodeShape sh =
      glue::attentionDecodeShape(1, 16, 16, 64, 64, 4096, 2048, 132);
  EXPECT_EQ(sh.n, 1);
  EXPECT_EQ(sh.headsPerCta, 1);
  EXPECT_EQ(sh.headChunks, 1);
  EXPECT_EQ(sh.splits, 32);
  EXPECT_EQ(sh.chunkKeys, 64);
  // Long contexts, big batch: the GPU is full without splits.
  sh = glue::attentionDecodeShape(64, 16, 16, 128, 128, 4096, 0, 132);
  EXPECT_EQ(sh.n, 2);
  EXPECT_EQ(sh.splits, 1);
  EXPECT_EQ(sh.chunkKeys, 4096);
  // GQA: heads of a group share the K/V loads (4 / n per CTA).
  sh = glue::attentionDecodeShape(1, 16, 1, 64, 64, 4096, 0, 132);
  EXPECT_EQ(sh.headsPerCta, 4);
  EXPECT_EQ(sh.headChunks, 4);
  sh = glue::attentionDecodeShape(1, 8, 2, 256, 128, 4096, 0, 132);
  EXPECT_EQ(sh.n, 4);
  EXPECT_EQ(sh.headsPerCta, 1);
  EXPECT_EQ(sh.headChunks, 4);
  // Every shape covers the longest key range, splits * chunkKeys >= keys,
  // with no split wholly past it.
  for (int64_t tokens : {1, 3, 64, 5000})
    for (int64_t maxCtx : {1, 63, 64, 65, 4096, 100000})
      for (int64_t window : {0, 1, 100, 2048}) {
        sh = glue::attentionDecodeShape(tokens, 8, 2, 64, 64, maxCtx, window,
                                        132);
        const int64_t keys = window > 0 ? std::min(window, maxCtx) : maxCtx;
        EXPECT_GE(sh.splits, 1);
        EXPECT_LE(sh.splits, 128);
        EXPECT_GE(sh.splits * sh.chunkKeys, keys);
        EXPECT_LT((sh.splits - 1) * sh.chunkKeys, keys);
      }
}

TEST(GlueProgram, CompilesToPtxForCompute80) {
  REQUIRE_NVRTC();
  compileProgram("compute_80", NvrtcOutput::Ptx);
}

TEST(GlueProgram, CompilesToCubinForSm80) {
  REQUIRE_NVRTC();
  compileProgram("sm_80", NvrtcOutput::Cubin);
}

TEST(GlueProgram, CompilesToCubinForSm90a) {
  REQUIRE_NVRTC();
  if (!Nvrtc::get().supportsArch(90))
    GTEST_SKIP() << "NVRTC " << Nvrtc::get().versionString()
                 << " has no sm_90 target";
  compileProgram("sm_90a", NvrtcOutput::Cubin);
}

TEST(GlueProgram, PrefillSharedMemoryFitsAnH100) {
  EXPECT_EQ(glue::attentionPrefillSharedBytes(64, 64), 46080);
  EXPECT_EQ(glue::attentionPrefillSharedBytes(128, 128), 87040);
  EXPECT_LE(glue::attentionPrefillSharedBytes(128, 128), 227 * 1024);
}

// ---- Host-side argument checks
// -------------------------------------------------------

constexpr CUdeviceptr P = 0x10000; // some non-null device address
constexpr dj_dtype_t BF16 = DJ_DTYPE_BF16;

SeqTables seqs(int64_t tokens = 10, int64_t numSeqs = 2,
               int64_t maxSeqTokens = 6) {
  SeqTables s;
  s.cuSeqlens = s.tokSeq = s.tokPos = P;
  s.tokens = tokens;
  s.numSeqs = numSeqs;
  s.maxSeqTokens = maxSeqTokens;
  return s;
}

const dj_dtype_t kBadDtype = [] {
  dj_dtype_t t;
  int v = 7;
  std::memcpy(&t, &v, sizeof(v));
  return t;
}();

const auto INV = DJ_ERROR_INVALID_ARGUMENT;

TEST(GlueChecks, ValidArgumentsPass) {
  EXPECT_NO_THROW(glue::checkEmbedding(BF16, P, P, P, 4, 100, 64));
  EXPECT_NO_THROW(glue::checkEmbedding(BF16, 0, 0, 0, 0, 100, 64));
  EXPECT_NO_THROW(glue::checkRmsNorm(DJ_DTYPE_FP16, P, P, P, 3, 10, 1e-6f));
  EXPECT_NO_THROW(glue::checkL2Norm(BF16, P, P, 3, 10, 0.0f));
  EXPECT_NO_THROW(glue::checkElementwise("add", BF16, P, P, P, 5));
  EXPECT_NO_THROW(glue::checkElementwise("activation", BF16, P, 0, P, 5));
  EXPECT_NO_THROW(glue::checkShortConv(BF16, P, P, P + 64, P, seqs(), 32, 4,
                                       GlueActivation::Silu));
  EXPECT_NO_THROW(glue::checkShortConv(BF16, P, P, P + 64, 0, seqs(), 32, 1,
                                       GlueActivation::None));
  EXPECT_NO_THROW(glue::checkRopeAppendKV(BF16, P, P, P, P, P, seqs(), 8, 2, 64,
                                          64, 128, 10000.0f));
  EXPECT_NO_THROW(glue::checkRopeAppendKV(BF16, P, P, P, P, P, seqs(), 8, 2, 7,
                                          5, 128, 0.0f));
  EXPECT_NO_THROW(glue::checkAttention(BF16, P, P, P, P, seqs(), 8, 2, 128, 64,
                                       128, 0, 0.125f));
  EXPECT_NO_THROW(glue::checkGatherRows(BF16, P, P, P, 3, 7));
  EXPECT_NO_THROW(glue::checkSample(BF16, P, 2, 50000, 0.0f, P));
  EXPECT_NO_THROW(glue::checkIncrementI32(P, 1));
  EXPECT_NO_THROW(glue::checkIncrementI32(0, 0));
}

TEST(GlueChecks, DtypeMustBeBf16OrFp16) {
  expectError([] { glue::checkEmbedding(kBadDtype, P, P, P, 4, 100, 64); }, INV,
              {"embedding", "dtype 7"});
  expectError([] { glue::checkSample(kBadDtype, P, 1, 10, 0.0f, P); }, INV,
              {"sample", "dtype"});
}

TEST(GlueChecks, SizesMustBePositive) {
  expectError([] { glue::checkEmbedding(BF16, P, P, P, 4, 0, 64); }, INV,
              {"vocab is 0"});
  expectError([] { glue::checkEmbedding(BF16, P, P, P, -1, 10, 64); }, INV,
              {"tokens is -1"});
  expectError([] { glue::checkRmsNorm(BF16, P, P, P, 3, 0, 1e-6f); }, INV,
              {"rmsNorm", "dim is 0"});
  expectError([] { glue::checkRmsNorm(BF16, P, P, P, 3, 8, -1.0f); }, INV,
              {"eps"});
  expectError([] { glue::checkL2Norm(BF16, P, P, -2, 8, 0.0f); }, INV,
              {"l2Norm", "rows is -2"});
  expectError([] { glue::checkElementwise("swiglu", BF16, P, P, P, -5); }, INV,
              {"swiglu", "n is -5"});
  expectError([] { glue::checkGatherRows(BF16, P, P, P, 3, 0); }, INV,
              {"gatherRows", "dim is 0"});
  expectError([] { glue::checkSample(BF16, P, 1, 0, 0.0f, P); }, INV,
              {"vocab is 0"});
  expectError([] { glue::checkIncrementI32(P, -1); }, INV, {"n is -1"});
}

TEST(GlueChecks, RequiredPointers) {
  expectError([] { glue::checkEmbedding(BF16, 0, P, P, 4, 100, 64); }, INV,
              {"ids is null"});
  expectError([] { glue::checkRmsNorm(BF16, P, 0, P, 3, 8, 0.0f); }, INV,
              {"w is null"});
  expectError([] { glue::checkElementwise("add", BF16, P, 0, P, 5); }, INV,
              {"add", "b is null"});
  expectError([] { glue::checkElementwise("swiglu", BF16, P, 0, P, 5); }, INV,
              {"up is null"});
  expectError([] { glue::checkElementwise("toFloat", BF16, P, 0, 0, 5); }, INV,
              {"dst is null"});
  expectError(
      [] {
        glue::checkShortConv(BF16, P, P, P + 64, 0, seqs(), 32, 4,
                             GlueActivation::Silu);
      },
      INV, {"state is null"});
  expectError(
      [] {
        glue::checkAttention(BF16, P, P, 0, P, seqs(), 8, 2, 64, 64, 128, 0,
                             1.0f);
      },
      INV, {"vCache is null"});
  expectError([] { glue::checkSample(BF16, P, 2, 10, 1.0f, 0); }, INV,
              {"outIds is null"});
  expectError([] { glue::checkIncrementI32(0, 3); }, INV, {"p is null"});
}

TEST(GlueChecks, SeqTables) {
  SeqTables s = seqs();
  s.tokPos = 0;
  expectError(
      [&] {
        glue::checkRopeAppendKV(BF16, P, P, P, P, P, s, 8, 2, 64, 64, 128,
                                1e4f);
      },
      INV, {"seqs.tokPos is null"});
  // shortConv does not need positions (no fresh-sequence detection then).
  EXPECT_NO_THROW(glue::checkShortConv(BF16, P, P, P + 64, P, s, 32, 4,
                                       GlueActivation::Silu));
  expectError(
      [] {
        glue::checkAttention(BF16, P, P, P, P, seqs(10, 0, 5), 8, 2, 64, 64,
                             128, 0, 1.0f);
      },
      INV, {"seqs.numSeqs is 0"});
  expectError(
      [] {
        glue::checkAttention(BF16, P, P, P, P, seqs(10, 2, 11), 8, 2, 64, 64,
                             128, 0, 1.0f);
      },
      INV, {"seqs.maxSeqTokens is 11"});
  expectError(
      [] {
        glue::checkAttention(BF16, P, P, P, P, seqs(10, 2, 0), 8, 2, 64, 64,
                             128, 0, 1.0f);
      },
      INV, {"seqs.maxSeqTokens is 0"});
  // No tokens: nothing is needed.
  SeqTables empty;
  EXPECT_NO_THROW(glue::checkAttention(BF16, 0, 0, 0, 0, empty, 8, 2, 64, 64,
                                       128, 0, 1.0f));
}

TEST(GlueChecks, HeadsAndDims) {
  expectError(
      [] {
        glue::checkAttention(BF16, P, P, P, P, seqs(), 8, 3, 64, 64, 128, 0,
                             1.0f);
      },
      INV, {"heads (8) is not a multiple of kvHeads (3)"});
  expectError(
      [] {
        glue::checkAttention(BF16, P, P, P, P, seqs(), 8, 0, 64, 64, 128, 0,
                             1.0f);
      },
      INV, {"kvHeads is 0"});
  expectError(
      [] {
        glue::checkAttention(BF16, P, P, P, P, seqs(), 8, 2, 512, 64, 128, 0,
                             1.0f);
      },
      INV, {"d is 512", "[1, 256]"});
  expectError(
      [] {
        glue::checkAttention(BF16, P, P, P, P, seqs(), 8, 2, 64, 64, 128, -1,
                             1.0f);
      },
      INV, {"window is -1"});
  expectError(
      [] {
        glue::checkAttention(BF16, P, P, P, P, seqs(), 8, 2, 64, 64, 0, 0,
                             1.0f);
      },
      INV, {"maxCtx is 0"});
  expectError(
      [] {
        glue::checkAttention(BF16, P, P, P, P, seqs(), 8, 2, 64, 64, 128, 0,
                             NAN);
      },
      INV, {"scale"});
  expectError(
      [] {
        glue::checkRopeAppendKV(BF16, P, P, P, P, P, seqs(), 8, 2, 63, 64, 128,
                                10000.0f);
      },
      INV, {"d is 63", "even"});
  expectError(
      [] {
        glue::checkRopeAppendKV(BF16, P, P, P, P, P, seqs(), 6, 4, 64, 64, 128,
                                10000.0f);
      },
      INV, {"heads (6)", "kvHeads (4)"});
}

TEST(GlueChecks, ShortConvArguments) {
  expectError(
      [] {
        glue::checkShortConv(BF16, P, P, P + 64, P, seqs(), 32, 9,
                             GlueActivation::Silu);
      },
      INV, {"kernelSize is 9", "[1, 8]"});
  expectError(
      [] {
        glue::checkShortConv(BF16, P, P, P, P, seqs(), 32, 4,
                             GlueActivation::Silu);
      },
      INV, {"alias"});
  GlueActivation bad;
  int v = 5;
  std::memcpy(&bad, &v, sizeof(v));
  expectError(
      [&] { glue::checkShortConv(BF16, P, P, P + 64, P, seqs(), 32, 4, bad); },
      INV, {"activation 5"});
  expectError([&] { glue::checkActivation(bad, "activation"); }, INV,
              {"activation 5"});
}

TEST(GlueChecks, SampleTemperature) {
  expectError([] { glue::checkSample(BF16, P, 1, 10, NAN, P); }, INV,
              {"temperature"});
  expectError([] { glue::checkSample(BF16, P, 1, 10, INFINITY, P); }, INV,
              {"temperature"});
  EXPECT_NO_THROW(glue::checkSample(BF16, P, 1, 10, -1.0f, P));
}

TEST(GlueChecks, LinearSmallM) {
  constexpr CUdeviceptr X = 0x100000, W = 0x200000, Y = 0x800000;
  EXPECT_EQ(GlueKernels::kSmallMMax, 16);
  EXPECT_NO_THROW(glue::checkLinearSmallM(BF16, X, W, Y, 1, 1024, 1024));
  EXPECT_NO_THROW(glue::checkLinearSmallM(DJ_DTYPE_FP16, X, W, Y, 16, 7, 13));
  EXPECT_NO_THROW(glue::checkLinearSmallM(BF16, 0, 0, 0, 0, 4, 8)); // no-op
  expectError([&] { glue::checkLinearSmallM(BF16, X, W, Y, 17, 64, 64); }, INV,
              {"linearSmallM", "M is 17", "[0, 16]"});
  expectError([&] { glue::checkLinearSmallM(BF16, X, W, Y, -1, 64, 64); }, INV,
              {"M is -1"});
  expectError([&] { glue::checkLinearSmallM(BF16, X, W, Y, 2, 0, 64); }, INV,
              {"N is 0"});
  expectError([&] { glue::checkLinearSmallM(BF16, X, W, Y, 2, 64, 0); }, INV,
              {"K is 0"});
  expectError([&] { glue::checkLinearSmallM(kBadDtype, X, W, Y, 2, 8, 8); },
              INV, {"linearSmallM", "dtype 7"});
  expectError([&] { glue::checkLinearSmallM(BF16, 0, W, Y, 2, 8, 8); }, INV,
              {"x is null"});
  expectError([&] { glue::checkLinearSmallM(BF16, X, 0, Y, 2, 8, 8); }, INV,
              {"w is null"});
  expectError([&] { glue::checkLinearSmallM(BF16, X, W, 0, 2, 8, 8); }, INV,
              {"y is null"});
  // y must not overlap x (2 x 64 elements) or w (8 x 64 elements).
  expectError([&] { glue::checkLinearSmallM(BF16, X, W, X + 254, 2, 8, 64); },
              INV, {"y overlaps x"});
  EXPECT_NO_THROW(glue::checkLinearSmallM(BF16, X, W, X + 256, 2, 8, 64));
  expectError([&] { glue::checkLinearSmallM(BF16, X, W, W + 16, 2, 8, 64); },
              INV, {"y overlaps w"});
  EXPECT_NO_THROW(glue::checkLinearSmallM(BF16, X, W, W - 32, 2, 8, 64));
}

TEST(GlueProgram, LinearSmallMShape) {
  // H200: 132 SMs. One CTA per 8 output features; warps split K.
  auto s = glue::linearSmallMShape(1024, 1024, 132);
  EXPECT_EQ(s.blocks, 128u);
  EXPECT_EQ(s.warps, 16u);
  s = glue::linearSmallMShape(2816, 1024, 132);
  EXPECT_EQ(s.blocks, 352u);
  EXPECT_EQ(s.warps, 6u);
  s = glue::linearSmallMShape(32000, 1024, 132);
  EXPECT_EQ(s.blocks, 4000u);
  EXPECT_EQ(s.warps, 4u);
  s = glue::linearSmallMShape(4, 1024, 132);
  EXPECT_EQ(s.blocks, 1u);
  EXPECT_EQ(s.warps, 16u);
  s = glue::linearSmallMShape(7, 13, 132); // one chunk of 32: one warp
  EXPECT_EQ(s.blocks, 1u);
  EXPECT_EQ(s.warps, 1u);
  s = glue::linearSmallMShape(1, 100, 0);
  EXPECT_EQ(s.warps, 4u);
}

} // namespace
