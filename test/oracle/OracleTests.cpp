//===- OracleTests.cpp - unit tests of the fp64 delta-rule oracle ---------===//
//
// Checks the chunkwise WY form against the sequential recurrence across
// shapes, gates, varlen batches and chunk sizes; checks the recurrence itself
// against hand-worked arithmetic; and tests the blocked UT transform, the
// decode step, and the rounding / metric / random-problem helpers.
//
//===----------------------------------------------------------------------===//

#include "DeltaOracle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using namespace deltajit::oracle;

namespace {

constexpr double kTol = 1e-10;

/// Returns the positions [t0, t1) of every batch row of a non-varlen
/// problem, with no initial state.
Problem sliceTime(const Problem &p, int64_t t0, int64_t t1) {
  Problem s = p;
  s.T = t1 - t0;
  s.initialState.clear();
  auto slice = [&](const std::vector<double> &x, int64_t perTok) {
    std::vector<double> y;
    for (int64_t b = 0; b < p.B; ++b)
      y.insert(y.end(), x.begin() + (b * p.T + t0) * perTok,
               x.begin() + (b * p.T + t1) * perTok);
    return y;
  };
  s.q = slice(p.q, p.H * p.DK);
  s.k = slice(p.k, p.H * p.DK);
  s.v = slice(p.v, p.HV * p.DV);
  s.beta = slice(p.beta, p.HV);
  if (p.isGated())
    s.g = slice(p.g, p.HV);
  return s;
}

/// Entries [i0, i1) of \p x times \p perTok.
std::vector<double> range(const std::vector<double> &x, int64_t i0, int64_t i1,
                          int64_t perTok) {
  return std::vector<double>(x.begin() + i0 * perTok, x.begin() + i1 * perTok);
}

double norm(const std::vector<double> &x) {
  double s = 0.0;
  for (double e : x)
    s += e * e;
  return std::sqrt(s);
}

//===----------------------------------------------------------------------===//
// Chunkwise == recurrent, parameterised
//===----------------------------------------------------------------------===//

struct Case {
  std::string name;
  RandomSpec spec;
  int64_t chunk;
};

RandomSpec dims(int64_t B, int64_t T, int64_t H, int64_t HV, int64_t DK,
                int64_t DV, uint64_t seed) {
  RandomSpec s;
  s.B = B;
  s.T = T;
  s.H = H;
  s.HV = HV;
  s.DK = DK;
  s.DV = DV;
  s.seed = seed;
  return s;
}

RandomSpec gated(RandomSpec s) {
  s.gated = true;
  return s;
}

RandomSpec withState(RandomSpec s) {
  s.initialState = true;
  return s;
}

RandomSpec betaRange(RandomSpec s, double lo, double hi) {
  s.betaUniform = true;
  s.betaLo = lo;
  s.betaHi = hi;
  return s;
}

RandomSpec unnormalizedKeys(RandomSpec s) {
  // |k| in [0.5, 3] and beta <= 0.2: beta |k|^2 <= 1.8 < 2, so every
  // (I - beta k k^T) has eigenvalues in (-1, 1] and the state stays bounded.
  s.qkL2Norm = false;
  s.keyNormLo = 0.5;
  s.keyNormHi = 3.0;
  return betaRange(s, 0.01, 0.2);
}

RandomSpec varlen(RandomSpec s, std::vector<int64_t> lens) {
  s.B = 1;
  s.seqLens = std::move(lens);
  return s;
}

std::vector<Case> cases() {
  std::vector<Case> c;
  RandomSpec base = dims(2, 300, 2, 2, 32, 32, 1);
  for (int64_t chunk : {16, 32, 64, 128})
    c.push_back({"Random_C" + std::to_string(chunk), base, chunk});
  for (int64_t chunk : {16, 32, 64, 128})
    c.push_back({"RandomGated_C" + std::to_string(chunk), gated(base), chunk});
  c.push_back({"Random_C40_NotMultipleOf16", base, 40});
  c.push_back({"Random_C1", dims(1, 40, 1, 1, 8, 8, 2), 1});
  RandomSpec uni = dims(2, 150, 1, 1, 16, 24, 3);
  uni.dist = Dist::Uniform;
  c.push_back({"UniformDist_C64", uni, 64});

  c.push_back({"T1_C64", dims(3, 1, 2, 2, 16, 16, 4), 64});
  c.push_back(
      {"T1Gated_C64", gated(withState(dims(3, 1, 2, 2, 16, 16, 5))), 64});
  c.push_back({"T1000_C64", dims(1, 1000, 1, 1, 16, 16, 6), 64});
  c.push_back({"T1000Gated_C64", gated(dims(1, 1000, 1, 2, 16, 16, 7)), 64});
  c.push_back({"T17_C16", dims(2, 17, 1, 1, 16, 16, 8), 16});
  c.push_back({"T17Gated_C16", gated(dims(2, 17, 1, 1, 16, 16, 9)), 16});
  c.push_back({"T4096_C64", dims(1, 4096, 1, 1, 16, 16, 10), 64});
  c.push_back({"T4096Gated_C128", gated(dims(1, 4096, 1, 1, 16, 16, 11)), 128});

  RandomSpec small = dims(2, 200, 1, 1, 16, 16, 12);
  c.push_back({"BetaNear0", betaRange(small, 1e-4, 1e-4), 64});
  c.push_back(
      {"BetaNear0WithState", withState(betaRange(small, 0.5e-4, 1.5e-4)), 32});
  c.push_back({"BetaNear1", betaRange(small, 0.9999, 0.9999), 64});
  c.push_back({"BetaNear1_C128", betaRange(small, 0.9999, 0.9999), 128});
  c.push_back({"BetaNear1Gated", gated(betaRange(small, 0.9999, 0.9999)), 64});
  c.push_back({"NegativeEigenvalues", betaRange(small, 0.0, 2.0), 64});
  c.push_back({"NegativeEigenvalues_C128", betaRange(small, 0.0, 2.0), 128});
  c.push_back({"NegativeEigenvaluesGated",
               gated(withState(betaRange(small, 0.0, 2.0))), 32});

  RandomSpec keys = dims(2, 250, 2, 2, 16, 16, 13);
  c.push_back({"UnnormalizedKeys", unnormalizedKeys(keys), 64});
  c.push_back({"UnnormalizedKeys_C16", unnormalizedKeys(keys), 16});
  c.push_back(
      {"UnnormalizedKeysGated", gated(withState(unnormalizedKeys(keys))), 64});
  RandomSpec l2 = keys;
  l2.qkL2Norm = true;
  l2.keyNormLo = 0.5;
  l2.keyNormHi = 3.0;
  c.push_back({"L2NormOn", l2, 64});
  c.push_back({"L2NormOnGated", gated(l2), 32});

  c.push_back({"Dk64Dv128", dims(1, 130, 1, 1, 64, 128, 14), 64});
  c.push_back({"Dk128Dv32", dims(1, 100, 1, 1, 128, 32, 15), 32});
  c.push_back({"Dk128Dv32Gated", gated(dims(1, 100, 1, 1, 128, 32, 16)), 64});
  c.push_back({"Dk128Dv128", dims(1, 70, 1, 1, 128, 128, 17), 64});
  c.push_back({"Dk128Dv128Gated_C16",
               gated(withState(dims(1, 40, 1, 1, 128, 128, 18))), 16});
  c.push_back({"Dk8Dv40", dims(2, 90, 1, 1, 8, 40, 19), 32});

  c.push_back({"GroupedHV2H", dims(2, 200, 2, 4, 16, 16, 20), 64});
  c.push_back({"GroupedHV2HGated", gated(dims(2, 200, 2, 4, 16, 16, 21)), 32});
  c.push_back({"GroupedHV4H", withState(dims(1, 120, 1, 4, 16, 8, 22)), 16});

  c.push_back({"InitialState", withState(dims(3, 150, 2, 2, 16, 16, 23)), 64});
  c.push_back({"InitialStateGated",
               gated(withState(dims(3, 150, 2, 2, 16, 16, 24))), 64});

  std::vector<int64_t> lens = {37, 1, 0, 130, 64, 200, 0};
  c.push_back(
      {"Varlen", withState(varlen(dims(1, 0, 2, 2, 16, 16, 25), lens)), 64});
  c.push_back({"Varlen_C16",
               withState(varlen(dims(1, 0, 2, 2, 16, 16, 26), lens)), 16});
  c.push_back({"VarlenGated",
               gated(withState(varlen(dims(1, 0, 1, 2, 16, 32, 27), lens))),
               32});
  c.push_back({"VarlenGated_C128",
               gated(varlen(dims(1, 0, 2, 2, 16, 16, 28), lens)), 128});
  return c;
}

/// Prints the case name instead of a byte dump in failure messages.
void PrintTo(const Case &c, std::ostream *os) { *os << c.name; }

class ChunkwiseVsRecurrent : public ::testing::TestWithParam<Case> {};

TEST_P(ChunkwiseVsRecurrent, Matches) {
  const Case &tc = GetParam();
  Problem p = randomProblem(tc.spec);
  ASSERT_EQ(validate(p), "");
  Result ref = recurrent(p);
  Result got = chunkwise(p, tc.chunk);
  // Sanity: the reference is finite and not trivially zero.
  ASSERT_LT(maxAbsDiff(ref.o, ref.o), 1.0) << "non-finite reference output";
  ASSERT_LT(maxAbsDiff(ref.finalState, ref.finalState), 1.0);
  if (p.T > 0) {
    EXPECT_GT(norm(ref.o), 0.0);
  }
  EXPECT_LT(relL2(got.o, ref.o), kTol);
  EXPECT_LT(relL2(got.finalState, ref.finalState), kTol);
}

INSTANTIATE_TEST_SUITE_P(Oracle, ChunkwiseVsRecurrent,
                         ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           return info.param.name;
                         });

//===----------------------------------------------------------------------===//
// Hand-computed cases
//===----------------------------------------------------------------------===//

Problem scalarProblem() {
  Problem p;
  p.T = 2;
  p.DK = p.DV = 1;
  p.scale = 1.0;
  p.q = {3.0, -1.0};
  p.k = {1.0, 2.0};
  p.v = {2.0, 1.0};
  p.beta = {0.5, 0.125};
  return p;
}

TEST(HandComputed, ScalarUngated) {
  // S_t = S + beta k (v - S k),  o_t = scale S_t q,  S_0 = 0, scale = 1.
  // t=1: S = 0 + 0.5 * 1 * (2 - 0)        = 1;     o = 1 * 3     = 3.
  // t=2: S = 1 + 0.125 * 2 * (1 - 1 * 2)  = 0.75;  o = 0.75 * -1 = -0.75.
  Problem p = scalarProblem();
  std::vector<double> o = {3.0, -0.75}, s = {0.75};
  Result r = recurrent(p);
  EXPECT_EQ(r.o, o);
  EXPECT_EQ(r.finalState, s);
  for (int64_t c : {1, 2, 16}) {
    Result cw = chunkwise(p, c);
    EXPECT_LT(maxAbsDiff(cw.o, o), 1e-15) << "chunk " << c;
    EXPECT_LT(maxAbsDiff(cw.finalState, s), 1e-15) << "chunk " << c;
  }
}

TEST(HandComputed, ScalarGated) {
  // S_t = a (1 - beta k^2) S + beta k v with a = exp(g); S_0 = 4.
  // t=1: a = 0.5:  S = 0.5 * (1 - 0.5 * 1) * 4 + 0.5 * 1 * 2     = 2;
  //      o = 2 * 3 = 6.
  // t=2: a = 0.25: S = 0.25 * (1 - 0.125 * 4) * 2 + 0.125 * 2 * 1
  //                  = 0.25 + 0.25 = 0.5;  o = 0.5 * -1 = -0.5.
  Problem p = scalarProblem();
  p.g = {std::log(0.5), std::log(0.25)};
  p.initialState = {4.0};
  std::vector<double> o = {6.0, -0.5}, s = {0.5};
  Result r = recurrent(p);
  EXPECT_LT(maxAbsDiff(r.o, o), 1e-14);
  EXPECT_LT(maxAbsDiff(r.finalState, s), 1e-14);
  for (int64_t c : {1, 2, 16}) {
    Result cw = chunkwise(p, c);
    EXPECT_LT(maxAbsDiff(cw.o, o), 1e-14) << "chunk " << c;
    EXPECT_LT(maxAbsDiff(cw.finalState, s), 1e-14) << "chunk " << c;
  }
}

Problem twoByTwoProblem() {
  Problem p;
  p.T = 2;
  p.DK = p.DV = 2;
  p.scale = 0.5;
  p.q = {1, 1, 2, 0};
  p.k = {1, 0, 1, 1};
  p.v = {1, 2, 0, 1};
  p.beta = {1.0, 0.5};
  return p;
}

TEST(HandComputed, TwoByTwo) {
  // DK = DV = 2, scale = 0.5, S_0 = 0 (S is DK x DV, o = scale S^T q).
  // t=1: k = (1,0), v = (1,2), beta = 1: S = k v^T = [[1,2],[0,0]];
  //      q = (1,1): S^T q = (1, 2), o = (0.5, 1).
  // t=2: k = (1,1), v = (0,1), beta = 0.5: S^T k = (1, 2),
  //      u = 0.5 * ((0,1) - (1,2)) = (-0.5, -0.5),
  //      S = S + k u^T = [[0.5, 1.5], [-0.5, -0.5]];
  //      q = (2,0): S^T q = (1, 3), o = (0.5, 1.5).
  Problem p = twoByTwoProblem();
  std::vector<double> o = {0.5, 1.0, 0.5, 1.5}, s = {0.5, 1.5, -0.5, -0.5};
  Result r = recurrent(p);
  EXPECT_EQ(r.o, o);
  EXPECT_EQ(r.finalState, s);
  for (int64_t c : {1, 2, 64}) {
    Result cw = chunkwise(p, c);
    EXPECT_LT(maxAbsDiff(cw.o, o), 1e-15) << "chunk " << c;
    EXPECT_LT(maxAbsDiff(cw.finalState, s), 1e-15) << "chunk " << c;
  }
}

TEST(HandComputed, TwoByTwoWyPieces) {
  // The same chunk in WY form: A = [[0,0],[beta_2 k_2.k_1, 0]]
  // = [[0,0],[0.5,0]]; (I + A)^-1 = [[1,0],[-0.5,1]];
  // T = (I + A)^-1 diag(1, 0.5) = [[1,0],[-0.5,0.5]].
  Problem p = twoByTwoProblem();
  std::vector<double> a = chunkA(p.k, p.beta, {}, 2, 2);
  EXPECT_EQ(a, (std::vector<double>{0, 0, 0.5, 0}));
  EXPECT_EQ(unitLowerInverseBlocked(a, 2),
            (std::vector<double>{1, 0, -0.5, 1}));
  EXPECT_EQ(utTransform(a, p.beta, 2), (std::vector<double>{1, 0, -0.5, 0.5}));
  // Gate weights: A[1][0] *= exp(G_1 - G_0) with G = (-1, -3): 0.5 e^-2.
  std::vector<double> ag = chunkA(p.k, p.beta, {-1.0, -3.0}, 2, 2);
  EXPECT_NEAR(ag[2], 0.5 * std::exp(-2.0), 1e-16);
  EXPECT_EQ(ag[0], 0.0);
  EXPECT_EQ(ag[1], 0.0);
  EXPECT_EQ(ag[3], 0.0);
}

//===----------------------------------------------------------------------===//
// Blocked UT transform
//===----------------------------------------------------------------------===//

/// A of a random chunk of \p n rows (unit keys, beta in (0, 2), gated).
std::pair<std::vector<double>, std::vector<double>>
randomChunk(int64_t n, uint64_t seed, bool withGate) {
  RandomSpec s = betaRange(dims(1, n, 1, 1, 16, 16, seed), 0.0, 2.0);
  Problem p = randomProblem(s);
  std::vector<double> k = l2NormalizeRows(p.k, 16), gCum;
  if (withGate) {
    Rng rng(seed);
    double acc = 0.0;
    for (int64_t i = 0; i < n; ++i)
      gCum.push_back(acc -= rng.uniform(0.0, 0.1));
  }
  return {chunkA(k, p.beta, gCum, n, 16), p.beta};
}

TEST(UtTransform, SolvesUnitLowerSystem) {
  for (int64_t n : {1, 5, 16, 17, 31, 32, 50, 64, 100, 128}) {
    for (bool withGate : {false, true}) {
      std::vector<double> a, beta;
      std::tie(a, beta) = randomChunk(n, 100 + n, withGate);
      std::vector<double> t = utTransform(a, beta, n);
      std::vector<double> x = unitLowerInverseBlocked(a, n);
      double maxT = 0.0;
      for (double e : t)
        maxT = std::max(maxT, std::fabs(e));
      double errT = 0.0, errLeft = 0.0, errRight = 0.0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          // L = I + A.
          auto l = [&](int64_t r, int64_t c) {
            return (r == c ? 1.0 : 0.0) + (c < r ? a[r * n + c] : 0.0);
          };
          double lt = 0.0, xl = 0.0, lx = 0.0;
          for (int64_t m = 0; m < n; ++m) {
            lt += l(i, m) * t[m * n + j];
            xl += x[i * n + m] * l(m, j);
            lx += l(i, m) * x[m * n + j];
          }
          double eye = i == j ? 1.0 : 0.0;
          errT = std::max(errT, std::fabs(lt - eye * beta[i]));
          errLeft = std::max(errLeft, std::fabs(xl - eye));
          errRight = std::max(errRight, std::fabs(lx - eye));
          if (j > i) {
            EXPECT_EQ(t[i * n + j], 0.0);
            EXPECT_EQ(x[i * n + j], 0.0);
          }
        }
      // (I + A) T = diag(beta); X (I + A) = (I + A) X = I.
      EXPECT_LT(errT, 1e-12 * std::max(1.0, maxT)) << "n=" << n;
      EXPECT_LT(errLeft, 1e-12 * std::max(1.0, maxT)) << "n=" << n;
      EXPECT_LT(errRight, 1e-12 * std::max(1.0, maxT)) << "n=" << n;
    }
  }
}

TEST(UtTransform, BlockSizeDoesNotChangeResult) {
  // blockSize >= n is plain forward substitution over the whole chunk.
  for (int64_t n : {16, 33, 64, 128}) {
    std::vector<double> a, beta;
    std::tie(a, beta) = randomChunk(n, 200 + n, true);
    std::vector<double> plain = unitLowerInverseBlocked(a, n, n);
    for (int64_t bs : {1, 4, 16, 32})
      EXPECT_LT(relL2(unitLowerInverseBlocked(a, n, bs), plain), 1e-13)
          << "n=" << n << " blockSize=" << bs;
  }
  EXPECT_TRUE(unitLowerInverseBlocked({}, 0).empty());
}

//===----------------------------------------------------------------------===//
// Decode, splitting, varlen and grouping identities
//===----------------------------------------------------------------------===//

TEST(Decode, RepeatedStepsEqualRecurrent) {
  RandomSpec s = gated(withState(dims(3, 50, 2, 4, 16, 8, 300)));
  Problem p = randomProblem(s);
  Result ref = recurrent(p);
  int64_t N = p.B;
  std::vector<double> state = p.initialState, o;
  std::vector<double> q, k, v, beta, g, oAll(ref.o.size());
  for (int64_t t = 0; t < p.T; ++t) {
    for (std::vector<double> *x : {&q, &k, &v, &beta, &g})
      x->clear();
    for (int64_t b = 0; b < N; ++b) {
      int64_t tok = b * p.T + t;
      auto append = [&](std::vector<double> &dst,
                        const std::vector<double> &src, int64_t perTok) {
        std::vector<double> r = range(src, tok, tok + 1, perTok);
        dst.insert(dst.end(), r.begin(), r.end());
      };
      append(q, p.q, p.H * p.DK);
      append(k, p.k, p.H * p.DK);
      append(v, p.v, p.HV * p.DV);
      append(beta, p.beta, p.HV);
      append(g, p.g, p.HV);
    }
    decodeStep(N, p.H, p.HV, p.DK, p.DV, q, k, v, beta, g, p.scale, p.qkL2Norm,
               state, o);
    for (int64_t b = 0; b < N; ++b)
      std::copy(o.begin() + b * p.HV * p.DV, o.begin() + (b + 1) * p.HV * p.DV,
                oAll.begin() + (b * p.T + t) * p.HV * p.DV);
  }
  EXPECT_LT(relL2(oAll, ref.o), 1e-14);
  EXPECT_LT(relL2(state, ref.finalState), 1e-14);
}

TEST(Decode, EmptyStateMeansZeros) {
  Problem p = twoByTwoProblem();
  std::vector<double> state, o;
  decodeStep(1, 1, 1, 2, 2, range(p.q, 0, 1, 2), range(p.k, 0, 1, 2),
             range(p.v, 0, 1, 2), {1.0}, {}, 0.5, false, state, o);
  EXPECT_EQ(o, (std::vector<double>{0.5, 1.0}));
  EXPECT_EQ(state, (std::vector<double>{1, 2, 0, 0}));
}

TEST(Identities, SplitRecurrenceEqualsWhole) {
  for (bool isGated : {false, true}) {
    RandomSpec s = withState(dims(2, 128, 1, 2, 16, 16, 400));
    s.gated = isGated;
    Problem p = randomProblem(s);
    Result whole = recurrent(p);
    Problem first = sliceTime(p, 0, 37), second = sliceTime(p, 37, p.T);
    first.initialState = p.initialState;
    Result r1 = recurrent(first);
    second.initialState = r1.finalState;
    Result r2 = recurrent(second);
    EXPECT_LT(relL2(r2.finalState, whole.finalState), 1e-13);
    for (int64_t b = 0; b < p.B; ++b) {
      int64_t per = p.HV * p.DV;
      EXPECT_LT(relL2(range(r1.o, b * 37, (b + 1) * 37, per),
                      range(whole.o, b * p.T, b * p.T + 37, per)),
                1e-13);
      EXPECT_LT(relL2(range(r2.o, b * 91, (b + 1) * 91, per),
                      range(whole.o, b * p.T + 37, (b + 1) * p.T, per)),
                1e-13);
    }
    // The chunkwise form across the same split (not on a chunk boundary).
    Result c1 = chunkwise(first, 16);
    second.initialState = c1.finalState;
    Result c2 = chunkwise(second, 16);
    EXPECT_LT(relL2(c2.finalState, whole.finalState), kTol);
  }
}

TEST(Identities, VarlenEqualsSeparateSequences) {
  RandomSpec s = gated(
      withState(varlen(dims(1, 0, 1, 2, 16, 16, 500), {5, 0, 70, 1, 33})));
  Problem p = randomProblem(s);
  Result whole = recurrent(p);
  Result wholeChunk = chunkwise(p, 32);
  int64_t nSeq = p.numSequences(), stateSize = p.HV * p.DK * p.DV;
  for (int64_t n = 0; n < nSeq; ++n) {
    int64_t t0 = p.cuSeqlens[n], t1 = p.cuSeqlens[n + 1];
    Problem one = sliceTime(p, t0, t1);
    one.cuSeqlens.clear();
    one.initialState = range(p.initialState, n, n + 1, stateSize);
    Result r = recurrent(one);
    std::vector<double> sFinal = range(whole.finalState, n, n + 1, stateSize);
    EXPECT_LT(relL2(sFinal, r.finalState), 1e-14) << "sequence " << n;
    EXPECT_LT(
        relL2(range(wholeChunk.finalState, n, n + 1, stateSize), r.finalState),
        kTol)
        << "sequence " << n;
    EXPECT_LT(relL2(range(whole.o, t0, t1, p.HV * p.DV), r.o), 1e-14)
        << "sequence " << n;
  }
}

TEST(Identities, ZeroLengthSequencesKeepInitialState) {
  Problem p = randomProblem(
      withState(varlen(dims(1, 0, 1, 1, 8, 8, 600), {0, 5, 0, 0})));
  EXPECT_EQ(p.cuSeqlens, (std::vector<int64_t>{0, 0, 5, 5, 5}));
  int64_t stateSize = p.HV * p.DK * p.DV;
  for (int64_t chunk : {0, 16}) {
    Result r = chunk ? chunkwise(p, chunk) : recurrent(p);
    for (int64_t n : {0, 2, 3})
      EXPECT_EQ(range(r.finalState, n, n + 1, stateSize),
                range(p.initialState, n, n + 1, stateSize));
    EXPECT_NE(range(r.finalState, 1, 2, stateSize),
              range(p.initialState, 1, 2, stateSize));
  }
  // T == 0 without varlen: nothing to do, the state passes through.
  Problem empty = randomProblem(withState(dims(2, 0, 1, 1, 8, 8, 601)));
  EXPECT_TRUE(recurrent(empty).o.empty());
  EXPECT_EQ(recurrent(empty).finalState, empty.initialState);
  EXPECT_EQ(chunkwise(empty, 64).finalState, empty.initialState);
}

TEST(Identities, GroupedHeadsEqualExplicitlyRepeatedHeads) {
  // HV = 2H must equal H' = HV with each q/k head duplicated.
  Problem p = randomProblem(gated(dims(2, 40, 2, 4, 8, 8, 700)));
  Problem rep = p;
  rep.H = p.HV;
  rep.q.clear();
  rep.k.clear();
  int64_t group = p.HV / p.H;
  for (int64_t tok = 0; tok < p.B * p.T; ++tok)
    for (int64_t hv = 0; hv < p.HV; ++hv) {
      int64_t h = hv / group;
      auto q = range(p.q, tok * p.H + h, tok * p.H + h + 1, p.DK);
      auto k = range(p.k, tok * p.H + h, tok * p.H + h + 1, p.DK);
      rep.q.insert(rep.q.end(), q.begin(), q.end());
      rep.k.insert(rep.k.end(), k.begin(), k.end());
    }
  Result a = recurrent(p), b = recurrent(rep);
  EXPECT_EQ(a.o, b.o);
  EXPECT_EQ(a.finalState, b.finalState);
}

TEST(Identities, ZeroGateEqualsUngated) {
  Problem p = randomProblem(withState(dims(1, 80, 1, 1, 16, 16, 800)));
  Problem z = p;
  z.g.assign(p.beta.size(), 0.0);
  EXPECT_LT(relL2(recurrent(z).o, recurrent(p).o), 1e-15);
  EXPECT_LT(relL2(chunkwise(z, 32).o, chunkwise(p, 32).o), 1e-15);
}

//===----------------------------------------------------------------------===//
// Options: L2 norm, scale, validation
//===----------------------------------------------------------------------===//

TEST(Options, L2NormFollowsFlaEpsilon) {
  std::vector<double> y = l2NormalizeRows({3.0, 4.0, 0.0, 0.0}, 2);
  double inv = 1.0 / std::sqrt(25.0 + 1e-6);
  EXPECT_DOUBLE_EQ(y[0], 3.0 * inv);
  EXPECT_DOUBLE_EQ(y[1], 4.0 * inv);
  EXPECT_EQ(y[2], 0.0); // The epsilon keeps a zero vector finite.
  EXPECT_EQ(y[3], 0.0);
}

TEST(Options, L2NormEqualsPrenormalizedInputs) {
  RandomSpec s = gated(dims(2, 60, 2, 2, 16, 16, 900));
  s.qkL2Norm = true;
  Problem p = randomProblem(s);
  Problem pre = p;
  pre.qkL2Norm = false;
  for (std::vector<double> *x : {&pre.q, &pre.k})
    for (size_t i = 0; i < x->size(); i += 16) {
      double ss = 0.0;
      for (size_t d = 0; d < 16; ++d)
        ss += (*x)[i + d] * (*x)[i + d];
      for (size_t d = 0; d < 16; ++d)
        (*x)[i + d] /= std::sqrt(ss + 1e-6);
    }
  EXPECT_LT(relL2(recurrent(p).o, recurrent(pre).o), 1e-14);
  EXPECT_LT(relL2(chunkwise(p, 16).o, recurrent(pre).o), kTol);
}

TEST(Options, DefaultScaleIsRsqrtDk) {
  Problem p = randomProblem(dims(1, 20, 1, 1, 16, 16, 1000));
  p.scale = 0.25; // 16^-1/2
  Result explicitScale = recurrent(p);
  for (double sentinel : {-1.0, std::numeric_limits<double>::quiet_NaN()}) {
    p.scale = sentinel;
    EXPECT_EQ(p.effectiveScale(), 0.25);
    EXPECT_EQ(recurrent(p).o, explicitScale.o);
  }
  p.scale = 0.0; // Honoured literally: zero output, same state.
  Result zero = recurrent(p);
  EXPECT_EQ(norm(zero.o), 0.0);
  EXPECT_EQ(zero.finalState, explicitScale.finalState);
}

TEST(Options, ValidateRejectsBadProblems) {
  Problem good = randomProblem(dims(1, 4, 2, 4, 8, 8, 1100));
  EXPECT_EQ(validate(good), "");
  auto expectError = [](Problem p, const std::string &needle) {
    std::string err = validate(p);
    EXPECT_NE(err.find(needle), std::string::npos)
        << "got '" << err << "', expected it to mention '" << needle << "'";
  };
  Problem p = good;
  p.HV = 3;
  expectError(p, "multiple of H");
  p = good;
  p.q.pop_back();
  expectError(p, "q has");
  p = good;
  p.g.assign(p.beta.size(), -0.1);
  p.g[2] = 0.5;
  expectError(p, "g[2]");
  p = good;
  p.cuSeqlens = {0, 2, 3};
  expectError(p, "equal T");
  p.cuSeqlens = {0, 3, 2, 4};
  expectError(p, "non-decreasing");
  p.cuSeqlens = {1, 4};
  expectError(p, "cuSeqlens[0]");
  p = randomProblem(dims(2, 4, 1, 1, 8, 8, 1101));
  p.cuSeqlens = {0, 4};
  expectError(p, "B == 1");
  p = good;
  p.initialState.assign(5, 0.0);
  expectError(p, "initialState");
}

TEST(OptionsDeathTest, InvalidProblemAborts) {
  Problem p = randomProblem(dims(1, 4, 1, 1, 8, 8, 1200));
  p.v.pop_back();
  EXPECT_DEATH(recurrent(p), "invalid problem: v has");
  EXPECT_DEATH(chunkwise(p, 64), "invalid problem");
  p.v.push_back(0.0);
  EXPECT_DEATH(chunkwise(p, 0), "chunkSize must be >= 1");
}

//===----------------------------------------------------------------------===//
// Random problems and metrics
//===----------------------------------------------------------------------===//

TEST(Random, DeterministicAndWithinSpec) {
  RandomSpec s = gated(withState(dims(2, 30, 1, 2, 8, 4, 42)));
  s.qkL2Norm = false;
  s.keyNormLo = 0.5;
  s.keyNormHi = 3.0;
  s.betaUniform = true;
  s.betaLo = 0.2;
  s.betaHi = 0.3;
  Problem a = randomProblem(s), b = randomProblem(s);
  EXPECT_EQ(a.q, b.q);
  EXPECT_EQ(a.v, b.v);
  EXPECT_EQ(a.g, b.g);
  EXPECT_EQ(a.initialState, b.initialState);
  for (size_t i = 0; i < a.k.size(); i += 8) {
    double n = norm(range(a.k, i / 8, i / 8 + 1, 8));
    EXPECT_GE(n, 0.5 - 1e-12);
    EXPECT_LE(n, 3.0 + 1e-12);
  }
  for (double x : a.beta) {
    EXPECT_GE(x, 0.2);
    EXPECT_LT(x, 0.3);
  }
  for (double x : a.g)
    EXPECT_LT(x, 0.0);
  // Streams are per tensor: turning the gate off leaves q, k, v, beta alone.
  RandomSpec s2 = s;
  s2.gated = false;
  Problem c = randomProblem(s2);
  EXPECT_EQ(a.q, c.q);
  EXPECT_EQ(a.k, c.k);
  EXPECT_EQ(a.beta, c.beta);
  EXPECT_TRUE(c.g.empty());
  s2.seed = 43;
  EXPECT_NE(randomProblem(s2).q, a.q);
}

TEST(Random, NormalMoments) {
  Rng rng(7);
  double sum = 0.0, sumSq = 0.0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double x = rng.normal();
    sum += x;
    sumSq += x * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sumSq / n, 1.0, 0.02);
}

TEST(Metrics, RelL2AndMaxAbsDiff) {
  std::vector<double> b = {3.0, 4.0}, a = {3.0, 4.5};
  EXPECT_DOUBLE_EQ(relL2(a, b), 0.1);
  EXPECT_DOUBLE_EQ(maxAbsDiff(a, b), 0.5);
  EXPECT_EQ(relL2(b, b), 0.0);
  EXPECT_EQ(relL2({0.0}, {0.0}), 0.0);
  EXPECT_GT(relL2({1e-200}, {0.0}), 1e50); // tiny floor, no division by 0
  double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(relL2({1.0}, b), inf);
  EXPECT_EQ(maxAbsDiff({1.0}, b), inf);
  EXPECT_EQ(relL2({std::nan("")}, {1.0}), inf);
  EXPECT_EQ(maxAbsDiff({1.0}, {inf}), inf);
}

//===----------------------------------------------------------------------===//
// Rounding
//===----------------------------------------------------------------------===//

TEST(Rounding, Bf16TiesToEven) {
  double ulp = std::ldexp(1.0, -7);                         // bf16 ulp at 1
  EXPECT_EQ(roundToBf16(1.0 + ulp / 2), 1.0);               // tie -> even
  EXPECT_EQ(roundToBf16(1.0 + 3 * ulp / 2), 1.0 + 2 * ulp); // tie -> even
  EXPECT_EQ(roundToBf16(1.0 + ulp / 2 + 1e-12), 1.0 + ulp);
  EXPECT_EQ(roundToBf16(-1.0 - ulp / 2), -1.0);
  EXPECT_EQ(roundToBf16(3.14159), 3.140625);
  EXPECT_EQ(toBf16Bits(1.0), 0x3F80);
  EXPECT_EQ(toBf16Bits(-2.0), 0xC000);
  EXPECT_EQ(toBf16Bits(3.14159), 0x4049);
  double maxBf16 = 0x1.fep127;
  EXPECT_EQ(roundToBf16(maxBf16), maxBf16);
  EXPECT_EQ(roundToBf16(0x1.fefp127), maxBf16);
  EXPECT_TRUE(std::isinf(roundToBf16(0x1.ffp127))); // tie past max -> inf
  EXPECT_EQ(toBf16Bits(1e300), 0x7F80);
  EXPECT_EQ(roundToBf16(0x1p-133), 0x1p-133); // smallest subnormal
  EXPECT_EQ(roundToBf16(0x1p-134), 0.0);      // tie -> even (zero)
  EXPECT_EQ(toBf16Bits(std::nan("")) & 0x7FC0, 0x7FC0);
}

TEST(Rounding, Fp16TiesToEvenSubnormalsOverflow) {
  double ulp = std::ldexp(1.0, -10);
  EXPECT_EQ(roundToFp16(1.0 + ulp / 2), 1.0);
  EXPECT_EQ(roundToFp16(1.0 + 3 * ulp / 2), 1.0 + 2 * ulp);
  EXPECT_EQ(roundToFp16(65504.0), 65504.0);
  EXPECT_EQ(roundToFp16(65519.0), 65504.0);
  EXPECT_TRUE(std::isinf(roundToFp16(65520.0))); // tie -> inf
  EXPECT_EQ(roundToFp16(0x1p-24), 0x1p-24);
  EXPECT_EQ(roundToFp16(0x1p-25), 0.0); // tie -> even (zero)
  EXPECT_EQ(roundToFp16(0x1.8p-25), 0x1p-24);
  EXPECT_EQ(roundToFp16(0x1.8p-24), 0x1p-23); // tie -> even
  EXPECT_EQ(toFp16Bits(1.0), 0x3C00);
  EXPECT_EQ(toFp16Bits(-2.0), 0xC000);
  EXPECT_EQ(toFp16Bits(65504.0), 0x7BFF);
  EXPECT_EQ(toFp16Bits(1e6), 0x7C00);
  EXPECT_EQ(toFp16Bits(-1e6), 0xFC00);
  EXPECT_EQ(toFp16Bits(0x1p-24), 0x0001);
  EXPECT_EQ(toFp16Bits(0x1p-14), 0x0400);
  EXPECT_EQ(toFp16Bits(-0.0), 0x8000);
  EXPECT_EQ(toFp16Bits(std::nan("")) & 0x7E00, 0x7E00);
}

TEST(Rounding, BitPatternsRoundTrip) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    uint16_t b = static_cast<uint16_t>(bits);
    double h = fromFp16Bits(b), f = fromBf16Bits(b);
    if (!std::isnan(h)) {
      EXPECT_EQ(toFp16Bits(h), b);
      EXPECT_EQ(roundToFp16(h), h);
    }
    if (!std::isnan(f)) {
      EXPECT_EQ(toBf16Bits(f), b);
      EXPECT_EQ(roundToBf16(f), f);
    }
  }
}

TEST(Rounding, Fp32MatchesCastAndHelpers) {
  Rng rng(9);
  for (int i = 0; i < 10000; ++i) {
    double x = rng.normal() * std::ldexp(1.0, static_cast<int>(i % 60) - 30);
    EXPECT_EQ(roundToFp32(x), static_cast<double>(static_cast<float>(x)));
    // bf16 of a value already in fp32 equals one rounding from the double
    // except on double-rounding ties; the result is always a bf16 value.
    EXPECT_EQ(roundToBf16(roundToBf16(x)), roundToBf16(x));
  }
  std::vector<double> x = {1.0 + 0x1p-9, 1.0 + 0x1p-12, 0.1};
  std::vector<double> y = roundedTo(x, Precision::BF16);
  EXPECT_EQ(y, (std::vector<double>{1.0, 1.0, roundToBf16(0.1)}));
  EXPECT_EQ(roundedTo(x, Precision::FP64), x);
  Problem p = randomProblem(gated(withState(dims(1, 8, 1, 1, 4, 4, 5))));
  Problem r = p;
  roundInputs(r, Precision::FP16);
  EXPECT_EQ(r.q, roundedTo(p.q, Precision::FP16));
  EXPECT_EQ(r.g, roundedTo(p.g, Precision::FP16));
  EXPECT_EQ(r.initialState, p.initialState);
}

} // namespace
