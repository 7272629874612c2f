//===- DeltaOracle.h - fp64 reference oracle for the delta rule -*- C++ -*-===//
//
// The fp64 ground truth every deltajit kernel is checked against: the
// sequential delta-rule recurrence (ALGORITHM.md sections 2, 4, 6), the
// chunkwise WY form (section 3), and helpers shared by the CPU and GPU tests
// (random problems, error metrics, bf16/fp16 rounding).
//
// Plain C++17 and the standard library only; no exceptions are thrown.
// Bad problem descriptions are reported by validate(); the computing entry
// points print a message and std::abort() when handed one (programmer error).
//
// Layouts are row-major, FLA's:
//   q, k [B, T, H, DK]   v, o [B, T, HV, DV]   beta, g [B, T, HV]
//   states [N, HV, DK, DV]   (N = B, or the number of cu_seqlens sequences)
// Value head hv reads q/k head hv / (HV / H).
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_TEST_ORACLE_DELTAORACLE_H
#define DELTAJIT_TEST_ORACLE_DELTAORACLE_H

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace deltajit::oracle {

/// Epsilon of the optional q/k L2 normalisation. FLA's convention:
/// y = x * rsqrt(sum(x^2) + kL2NormEps), applied per head vector.
constexpr double kL2NormEps = 1e-6;

/// Side of the diagonal blocks that the blocked UT transform inverts by
/// plain forward substitution before combining them.
constexpr int64_t kUtBlockSize = 16;

//===----------------------------------------------------------------------===//
// Problem and result
//===----------------------------------------------------------------------===//

/// One delta-rule forward problem in fp64.
///
/// Gated delta rule when `g` is non-empty:
///   S_t = exp(g_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,
///   o_t = scale * S_t^T q_t.
struct Problem {
  int64_t B = 1;  ///< Batch size (must be 1 with cuSeqlens).
  int64_t T = 0;  ///< Positions per batch row (total tokens when varlen).
  int64_t H = 1;  ///< q/k heads.
  int64_t HV = 1; ///< v heads; HV % H == 0.
  int64_t DK = 0; ///< Key dimension.
  int64_t DV = 0; ///< Value dimension.

  std::vector<double> q;    ///< [B, T, H, DK]
  std::vector<double> k;    ///< [B, T, H, DK]
  std::vector<double> v;    ///< [B, T, HV, DV]
  std::vector<double> beta; ///< [B, T, HV]
  /// Optional log-gate [B, T, HV], every entry finite and <= 0.
  /// Empty = ungated delta rule.
  std::vector<double> g;
  /// Optional FlashAttention-style offsets (N + 1 entries, cuSeqlens[0] = 0,
  /// non-decreasing, cuSeqlens[N] = T); requires B == 1. Zero-length
  /// sequences are allowed: their final state is their initial state.
  std::vector<int64_t> cuSeqlens;
  /// Optional initial state [N, HV, DK, DV]; empty = zeros.
  std::vector<double> initialState;
  /// Output scale. A negative value or NaN is a sentinel meaning the default
  /// DK^-1/2; every other value (including 0) is used as given.
  double scale = -1.0;
  /// L2-normalise every q and k head vector before use (see kL2NormEps).
  bool qkL2Norm = false;

  bool isGated() const { return !g.empty(); }
  bool isVarlen() const { return !cuSeqlens.empty(); }
  /// N: B without cuSeqlens, else cuSeqlens.size() - 1.
  int64_t numSequences() const;
  /// The scale actually applied (resolves the default sentinel).
  double effectiveScale() const;
};

/// Outputs of a forward problem.
struct Result {
  std::vector<double> o;          ///< [B, T, HV, DV]
  std::vector<double> finalState; ///< [N, HV, DK, DV]
};

/// Checks sizes and invariants of \p p. Returns "" when it is valid, else a
/// message naming the first problem found.
std::string validate(const Problem &p);

/// The ground-truth sequential recurrence (ALGORITHM.md sections 2 and 6).
/// Aborts with a message if validate(p) fails.
Result recurrent(const Problem &p);

/// The chunkwise WY form (ALGORITHM.md sections 3 and 6) with chunks of
/// \p chunkSize rows (any value >= 1; the last chunk of a sequence may be
/// shorter). Per chunk: A = strict_lower(b K K^T) (gate-weighted), the UT
/// transform T = (I + A)^-1 b by blocked forward substitution, W = T K,
/// U = T V, Vn = U - W S, O = scale (Q S + mask_incl_diag(Q K^T) Vn),
/// S += K^T Vn. Aborts with a message if validate(p) fails or
/// chunkSize < 1.
Result chunkwise(const Problem &p, int64_t chunkSize = 64);

/// One recurrence step for N independent sequences (decoding, section 4).
///   q, k [N, H, DK]; v [N, HV, DV]; beta [N, HV]; g [N, HV] or empty;
///   state [N, HV, DK, DV] updated in place (an empty state is taken as
///   zeros and resized); o [N, HV, DV] is resized and overwritten.
/// \p scale follows Problem::scale's sentinel convention. Aborts with a
/// message on inconsistent sizes.
void decodeStep(int64_t N, int64_t H, int64_t HV, int64_t DK, int64_t DV,
                const std::vector<double> &q, const std::vector<double> &k,
                const std::vector<double> &v, const std::vector<double> &beta,
                const std::vector<double> &g, double scale, bool qkL2Norm,
                std::vector<double> &state, std::vector<double> &o);

//===----------------------------------------------------------------------===//
// Chunk-level building blocks (exposed for direct tests)
//===----------------------------------------------------------------------===//

/// A of one chunk of \p n rows: A[r][j] = beta_r (k_r . k_j)
/// exp(gCum_r - gCum_j) for j < r, zero on and above the diagonal.
/// \p k is [n, dk] row-major, \p beta [n], \p gCum [n] the cumulative
/// in-chunk log-gate (empty = ungated). Returns [n, n] row-major.
std::vector<double> chunkA(const std::vector<double> &k,
                           const std::vector<double> &beta,
                           const std::vector<double> &gCum, int64_t n,
                           int64_t dk);

/// (I + strict_lower(a))^-1 for an [n, n] row-major \p a (its diagonal and
/// upper part are ignored). Blocked: the diagonal blocks of \p blockSize
/// rows are inverted by forward substitution and combined recursively with
/// inv([[L11, 0], [L21, L22]]) = [[X11, 0], [-X22 L21 X11, X22]], splitting
/// at a multiple of blockSize. Any n >= 0 works. Returns [n, n].
std::vector<double> unitLowerInverseBlocked(const std::vector<double> &a,
                                            int64_t n,
                                            int64_t blockSize = kUtBlockSize);

/// The UT transform T = (I + strict_lower(a))^-1 diag(beta), computed with
/// unitLowerInverseBlocked. Satisfies (I + A) T = diag(beta).
std::vector<double> utTransform(const std::vector<double> &a,
                                const std::vector<double> &beta, int64_t n,
                                int64_t blockSize = kUtBlockSize);

/// Returns \p x with every consecutive group of \p dim values scaled by
/// rsqrt(sum(x^2) + kL2NormEps).
std::vector<double> l2NormalizeRows(const std::vector<double> &x, int64_t dim);

//===----------------------------------------------------------------------===//
// Random problems
//===----------------------------------------------------------------------===//

/// Deterministic generator: std::mt19937_64 plus hand-written uniform and
/// Box-Muller normal draws, so streams are identical across standard
/// libraries (std::normal_distribution is not).
class Rng {
public:
  explicit Rng(uint64_t seed) : engine(seed) {}
  /// Uniform in [0, 1), 53 random bits.
  double uniform();
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Standard normal.
  double normal();

private:
  std::mt19937_64 engine;
  bool hasSpare = false;
  double spare = 0.0;
};

/// Distribution of q, k, v entries.
enum class Dist {
  Normal, ///< N(0, 1)
  Uniform ///< U[-1, 1)
};

/// Recipe for randomProblem(). Every tensor is drawn from its own stream
/// derived from `seed`, so changing one option does not perturb the others.
struct RandomSpec {
  int64_t B = 1, T = 64, H = 1, HV = 1, DK = 16, DV = 16;
  /// Non-empty: varlen problem (B must be 1); T becomes the sum and
  /// cuSeqlens the prefix sums. Zero lengths are allowed.
  std::vector<int64_t> seqLens;
  uint64_t seed = 0;
  Dist dist = Dist::Normal;
  /// Copied to Problem::qkL2Norm. On by default because unnormalised
  /// N(0, 1) keys have |k|^2 ~ DK and the recurrence then diverges.
  bool qkL2Norm = true;
  /// If keyNormHi > 0, every k head vector is rescaled to a norm drawn from
  /// U[keyNormLo, keyNormHi] (for tests of the unnormalised path:
  /// the recurrence stays bounded while beta |k|^2 < 2).
  double keyNormLo = 0.0, keyNormHi = 0.0;
  /// beta ~ U[betaLo, betaHi] if betaUniform, else sigmoid(N(0, 1)).
  bool betaUniform = false;
  double betaLo = 0.0, betaHi = 1.0;
  /// If gated: g = log(sigmoid(N(gateBias, 1))) (negative; larger bias =
  /// slower decay).
  bool gated = false;
  double gateBias = 2.0;
  /// If initialState: entries ~ N(0, stateStd^2); else empty (zeros).
  bool initialState = false;
  double stateStd = 1.0;
  double scale = -1.0; ///< Copied to Problem::scale.
};

/// Builds a valid Problem from \p spec (aborts on an inconsistent spec).
Problem randomProblem(const RandomSpec &spec);

//===----------------------------------------------------------------------===//
// Metrics
//===----------------------------------------------------------------------===//

/// ||a - b||_2 / max(||b||_2, 1e-300). Returns +inf if the sizes differ or
/// a value is not finite (so `relL2(...) < tol` fails).
double relL2(const std::vector<double> &a, const std::vector<double> &b);

/// max_i |a_i - b_i|; +inf if the sizes differ or a value is not finite.
double maxAbsDiff(const std::vector<double> &a, const std::vector<double> &b);

//===----------------------------------------------------------------------===//
// Low-precision rounding (round to nearest, ties to even; one rounding
// straight from the double, with subnormals, overflow to +-inf, NaN kept)
//===----------------------------------------------------------------------===//

enum class Precision { FP64, FP32, BF16, FP16 };

/// The value of \p x rounded to bfloat16 (8 exponent, 7 mantissa bits).
double roundToBf16(double x);
/// The value of \p x rounded to IEEE binary16 (max finite 65504).
double roundToFp16(double x);
/// The value of \p x rounded to IEEE binary32.
double roundToFp32(double x);
/// Dispatches on \p p (FP64 returns x).
double roundTo(double x, Precision p);
/// Element-wise roundTo.
std::vector<double> roundedTo(const std::vector<double> &x, Precision p);
/// Rounds the kernel inputs q, k, v, beta and g of \p problem in place (not
/// the initial state, which kernels keep in fp32: round it separately).
void roundInputs(Problem &problem, Precision p);

/// Bit pattern of roundToBf16(x) (NaN -> quiet NaN 0x7FC0 with x's sign).
uint16_t toBf16Bits(double x);
/// Value of a bfloat16 bit pattern.
double fromBf16Bits(uint16_t bits);
/// Bit pattern of roundToFp16(x) (NaN -> quiet NaN 0x7E00 with x's sign).
uint16_t toFp16Bits(double x);
/// Value of an IEEE binary16 bit pattern.
double fromFp16Bits(uint16_t bits);

} // namespace deltajit::oracle

#endif // DELTAJIT_TEST_ORACLE_DELTAORACLE_H
