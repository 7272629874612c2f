//===- DeltaOracle.cpp - fp64 reference oracle for the delta rule ---------===//
//
// Implementation of the recurrent, chunkwise and decode references and of
// the test helpers declared in DeltaOracle.h.
//
//===----------------------------------------------------------------------===//

#include "DeltaOracle.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace deltajit::oracle {

namespace {

[[noreturn]] void fatal(const std::string &msg) {
  std::fprintf(stderr, "deltajit oracle: %s\n", msg.c_str());
  std::fflush(stderr);
  std::abort();
}

std::string str(int64_t x) { return std::to_string(x); }

/// Returns "" if \p x has \p expected elements, else a message naming it.
std::string checkSize(const char *name, size_t actual, int64_t expected) {
  if (static_cast<int64_t>(actual) == expected)
    return "";
  return std::string(name) + " has " + str(static_cast<int64_t>(actual)) +
         " elements, expected " + str(expected);
}

double resolveScale(double scale, int64_t dk) {
  if (std::isnan(scale) || scale < 0)
    return 1.0 / std::sqrt(static_cast<double>(dk));
  return scale;
}

/// One sequence of a problem: batch row and [begin, end) positions in it.
struct Seq {
  int64_t batch, begin, end;
};

std::vector<Seq> sequences(const Problem &p) {
  std::vector<Seq> seqs;
  if (p.isVarlen()) {
    for (size_t n = 0; n + 1 < p.cuSeqlens.size(); ++n)
      seqs.push_back({0, p.cuSeqlens[n], p.cuSeqlens[n + 1]});
  } else {
    for (int64_t b = 0; b < p.B; ++b)
      seqs.push_back({b, 0, p.T});
  }
  return seqs;
}

/// One delta-rule step on the [dk, dv] state \p s of one head:
///   S = decay S;  u = beta (v - S^T k);  S += k u^T;  o = scale S^T q.
/// \p tmp has dv elements.
void stepHead(double *s, const double *q, const double *k, const double *v,
              double beta, double decay, double scale, int64_t dk, int64_t dv,
              double *o, double *tmp) {
  if (decay != 1.0)
    for (int64_t i = 0; i < dk * dv; ++i)
      s[i] *= decay;
  for (int64_t j = 0; j < dv; ++j)
    tmp[j] = 0.0;
  for (int64_t i = 0; i < dk; ++i)
    for (int64_t j = 0; j < dv; ++j)
      tmp[j] += s[i * dv + j] * k[i];
  for (int64_t j = 0; j < dv; ++j)
    tmp[j] = beta * (v[j] - tmp[j]);
  for (int64_t i = 0; i < dk; ++i)
    for (int64_t j = 0; j < dv; ++j)
      s[i * dv + j] += k[i] * tmp[j];
  for (int64_t j = 0; j < dv; ++j)
    o[j] = 0.0;
  for (int64_t i = 0; i < dk; ++i)
    for (int64_t j = 0; j < dv; ++j)
      o[j] += s[i * dv + j] * q[i];
  for (int64_t j = 0; j < dv; ++j)
    o[j] *= scale;
}

/// Forward substitution: x[lo:hi, lo:hi] = inverse of the unit lower block
/// I + strict_lower(a)[lo:hi, lo:hi]. Both are [n, n] row-major.
void invertDiagonalBlock(const std::vector<double> &a, std::vector<double> &x,
                         int64_t n, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) {
    x[i * n + i] = 1.0;
    for (int64_t j = lo; j < i; ++j) {
      // Row i of L X = I below the diagonal: x[i][j] = -sum_m a[i][m] x[m][j].
      double acc = 0.0;
      for (int64_t m = j; m < i; ++m)
        acc += a[i * n + m] * x[m * n + j];
      x[i * n + j] = -acc;
    }
  }
}

/// Recursive 2x2 block inversion of rows/columns [lo, hi).
void invertRange(const std::vector<double> &a, std::vector<double> &x,
                 int64_t n, int64_t lo, int64_t hi, int64_t blockSize) {
  int64_t len = hi - lo;
  if (len <= blockSize) {
    invertDiagonalBlock(a, x, n, lo, hi);
    return;
  }
  int64_t numBlocks = (len + blockSize - 1) / blockSize;
  int64_t mid = lo + blockSize * ((numBlocks + 1) / 2);
  invertRange(a, x, n, lo, mid, blockSize);
  invertRange(a, x, n, mid, hi, blockSize);
  // X21 = -X22 L21 X11, with L21 = a[mid:hi, lo:mid].
  int64_t rows = hi - mid, cols = mid - lo;
  std::vector<double> tmp(static_cast<size_t>(rows * cols), 0.0);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t m = 0; m < cols; ++m) {
      double l = a[(mid + i) * n + lo + m];
      if (l == 0.0)
        continue;
      for (int64_t j = 0; j <= m; ++j) // X11 is lower triangular.
        tmp[i * cols + j] += l * x[(lo + m) * n + lo + j];
    }
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      double acc = 0.0;
      for (int64_t m = 0; m <= i; ++m) // X22 is lower triangular.
        acc += x[(mid + i) * n + mid + m] * tmp[m * cols + j];
      x[(mid + i) * n + lo + j] = -acc;
    }
}

/// Copy of q and k, L2-normalised when the problem asks for it.
struct PreparedQK {
  std::vector<double> q, k;
};

/// Shared checks of recurrent() and chunkwise().
void requireValid(const Problem &p) {
  std::string err = validate(p);
  if (!err.empty())
    fatal("invalid problem: " + err);
}

Result allocateResult(const Problem &p) {
  Result r;
  r.o.assign(static_cast<size_t>(p.B * p.T * p.HV * p.DV), 0.0);
  int64_t stateSize = p.numSequences() * p.HV * p.DK * p.DV;
  if (p.initialState.empty())
    r.finalState.assign(static_cast<size_t>(stateSize), 0.0);
  else
    r.finalState = p.initialState;
  return r;
}

uint64_t splitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// Stream \p id of the generator seeded with \p seed.
Rng stream(uint64_t seed, uint64_t id) {
  return Rng(splitMix(seed ^ splitMix(id + 1)));
}

constexpr double kPi = 3.14159265358979323846;

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

/// Round to nearest even with \p precisionBits significant bits (including
/// the implicit one), subnormals below 2^minExp, and overflow past
/// \p maxFinite.
double roundToFormat(double x, int precisionBits, int minExp,
                     double maxFinite) {
  if (!std::isfinite(x) || x == 0.0)
    return x;
  int e = std::ilogb(x);
  if (e < minExp)
    e = minExp;
  double quantum = std::ldexp(1.0, e - (precisionBits - 1));
  // x / quantum is exact (power-of-two scaling, |result| < 2^precisionBits).
  double r = std::nearbyint(x / quantum) * quantum;
  if (std::fabs(r) > maxFinite)
    return std::copysign(std::numeric_limits<double>::infinity(), x);
  return r;
}

} // namespace

//===----------------------------------------------------------------------===//
// Problem
//===----------------------------------------------------------------------===//

int64_t Problem::numSequences() const {
  if (isVarlen())
    return static_cast<int64_t>(cuSeqlens.size()) - 1;
  return B;
}

double Problem::effectiveScale() const { return resolveScale(scale, DK); }

std::string validate(const Problem &p) {
  if (p.B < 1)
    return "B must be >= 1, got " + str(p.B);
  if (p.T < 0)
    return "T must be >= 0, got " + str(p.T);
  if (p.H < 1 || p.HV < 1)
    return "H and HV must be >= 1, got H=" + str(p.H) + " HV=" + str(p.HV);
  if (p.HV % p.H != 0)
    return "HV (" + str(p.HV) + ") must be a multiple of H (" + str(p.H) + ")";
  if (p.DK < 1 || p.DV < 1)
    return "DK and DV must be >= 1, got DK=" + str(p.DK) + " DV=" + str(p.DV);
  int64_t tokens = p.B * p.T;
  std::string err;
  if (!(err = checkSize("q", p.q.size(), tokens * p.H * p.DK)).empty() ||
      !(err = checkSize("k", p.k.size(), tokens * p.H * p.DK)).empty() ||
      !(err = checkSize("v", p.v.size(), tokens * p.HV * p.DV)).empty() ||
      !(err = checkSize("beta", p.beta.size(), tokens * p.HV)).empty())
    return err;
  if (p.isGated()) {
    if (!(err = checkSize("g", p.g.size(), tokens * p.HV)).empty())
      return err;
    for (size_t i = 0; i < p.g.size(); ++i)
      if (!std::isfinite(p.g[i]) || p.g[i] > 0.0)
        return "g[" + str(static_cast<int64_t>(i)) +
               "] must be finite and <= 0, got " + std::to_string(p.g[i]);
  }
  if (p.isVarlen()) {
    if (p.B != 1)
      return "cuSeqlens requires B == 1, got B=" + str(p.B);
    if (p.cuSeqlens.size() < 2)
      return "cuSeqlens needs at least 2 entries";
    if (p.cuSeqlens.front() != 0)
      return "cuSeqlens[0] must be 0, got " + str(p.cuSeqlens.front());
    for (size_t n = 0; n + 1 < p.cuSeqlens.size(); ++n)
      if (p.cuSeqlens[n + 1] < p.cuSeqlens[n])
        return "cuSeqlens must be non-decreasing (entry " +
               str(static_cast<int64_t>(n + 1)) + ")";
    if (p.cuSeqlens.back() != p.T)
      return "cuSeqlens.back() (" + str(p.cuSeqlens.back()) +
             ") must equal T (" + str(p.T) + ")";
  }
  if (!p.initialState.empty() &&
      !(err = checkSize("initialState", p.initialState.size(),
                        p.numSequences() * p.HV * p.DK * p.DV))
           .empty())
    return err;
  return "";
}

std::vector<double> l2NormalizeRows(const std::vector<double> &x, int64_t dim) {
  if (dim < 1 || x.size() % static_cast<size_t>(dim) != 0)
    fatal("l2NormalizeRows: size " + str(static_cast<int64_t>(x.size())) +
          " is not a multiple of dim " + str(dim));
  std::vector<double> y(x.size());
  for (size_t base = 0; base < x.size(); base += static_cast<size_t>(dim)) {
    double sumSq = 0.0;
    for (int64_t i = 0; i < dim; ++i)
      sumSq += x[base + i] * x[base + i];
    double inv = 1.0 / std::sqrt(sumSq + kL2NormEps);
    for (int64_t i = 0; i < dim; ++i)
      y[base + i] = x[base + i] * inv;
  }
  return y;
}

namespace {
PreparedQK prepareQK(const Problem &p) {
  if (!p.qkL2Norm)
    return {p.q, p.k};
  return {l2NormalizeRows(p.q, p.DK), l2NormalizeRows(p.k, p.DK)};
}
} // namespace

//===----------------------------------------------------------------------===//
// Recurrent and decode
//===----------------------------------------------------------------------===//

Result recurrent(const Problem &p) {
  requireValid(p);
  Result r = allocateResult(p);
  PreparedQK qk = prepareQK(p);
  double scale = p.effectiveScale();
  int64_t group = p.HV / p.H, dk = p.DK, dv = p.DV;
  std::vector<double> tmp(static_cast<size_t>(dv));
  std::vector<Seq> seqs = sequences(p);
  for (size_t n = 0; n < seqs.size(); ++n) {
    const Seq &sq = seqs[n];
    for (int64_t hv = 0; hv < p.HV; ++hv) {
      int64_t h = hv / group;
      double *s = &r.finalState[((n * p.HV) + hv) * dk * dv];
      for (int64_t t = sq.begin; t < sq.end; ++t) {
        int64_t tok = sq.batch * p.T + t;
        double decay = p.isGated() ? std::exp(p.g[tok * p.HV + hv]) : 1.0;
        stepHead(s, &qk.q[(tok * p.H + h) * dk], &qk.k[(tok * p.H + h) * dk],
                 &p.v[(tok * p.HV + hv) * dv], p.beta[tok * p.HV + hv], decay,
                 scale, dk, dv, &r.o[(tok * p.HV + hv) * dv], tmp.data());
      }
    }
  }
  return r;
}

void decodeStep(int64_t N, int64_t H, int64_t HV, int64_t DK, int64_t DV,
                const std::vector<double> &q, const std::vector<double> &k,
                const std::vector<double> &v, const std::vector<double> &beta,
                const std::vector<double> &g, double scale, bool qkL2Norm,
                std::vector<double> &state, std::vector<double> &o) {
  if (N < 0 || H < 1 || HV < 1 || HV % H != 0 || DK < 1 || DV < 1)
    fatal("decodeStep: bad dims N=" + str(N) + " H=" + str(H) +
          " HV=" + str(HV) + " DK=" + str(DK) + " DV=" + str(DV));
  if (state.empty())
    state.assign(static_cast<size_t>(N * HV * DK * DV), 0.0);
  std::string err;
  if (!(err = checkSize("q", q.size(), N * H * DK)).empty() ||
      !(err = checkSize("k", k.size(), N * H * DK)).empty() ||
      !(err = checkSize("v", v.size(), N * HV * DV)).empty() ||
      !(err = checkSize("beta", beta.size(), N * HV)).empty() ||
      (!g.empty() && !(err = checkSize("g", g.size(), N * HV)).empty()) ||
      !(err = checkSize("state", state.size(), N * HV * DK * DV)).empty())
    fatal("decodeStep: " + err);
  std::vector<double> qn = qkL2Norm ? l2NormalizeRows(q, DK) : q;
  std::vector<double> kn = qkL2Norm ? l2NormalizeRows(k, DK) : k;
  double sc = resolveScale(scale, DK);
  o.assign(static_cast<size_t>(N * HV * DV), 0.0);
  std::vector<double> tmp(static_cast<size_t>(DV));
  int64_t group = HV / H;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t hv = 0; hv < HV; ++hv) {
      int64_t h = hv / group;
      double decay = g.empty() ? 1.0 : std::exp(g[n * HV + hv]);
      stepHead(&state[(n * HV + hv) * DK * DV], &qn[(n * H + h) * DK],
               &kn[(n * H + h) * DK], &v[(n * HV + hv) * DV], beta[n * HV + hv],
               decay, sc, DK, DV, &o[(n * HV + hv) * DV], tmp.data());
    }
}

//===----------------------------------------------------------------------===//
// Chunkwise
//===----------------------------------------------------------------------===//

std::vector<double> chunkA(const std::vector<double> &k,
                           const std::vector<double> &beta,
                           const std::vector<double> &gCum, int64_t n,
                           int64_t dk) {
  std::string err;
  if (!(err = checkSize("k", k.size(), n * dk)).empty() ||
      !(err = checkSize("beta", beta.size(), n)).empty() ||
      (!gCum.empty() && !(err = checkSize("gCum", gCum.size(), n)).empty()))
    fatal("chunkA: " + err);
  std::vector<double> a(static_cast<size_t>(n * n), 0.0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < r; ++j) {
      double dot = 0.0;
      for (int64_t d = 0; d < dk; ++d)
        dot += k[r * dk + d] * k[j * dk + d];
      double w = beta[r] * dot;
      if (!gCum.empty())
        w *= std::exp(gCum[r] - gCum[j]);
      a[r * n + j] = w;
    }
  return a;
}

std::vector<double> unitLowerInverseBlocked(const std::vector<double> &a,
                                            int64_t n, int64_t blockSize) {
  if (n < 0 || blockSize < 1)
    fatal("unitLowerInverseBlocked: bad n=" + str(n) +
          " blockSize=" + str(blockSize));
  std::string err = checkSize("a", a.size(), n * n);
  if (!err.empty())
    fatal("unitLowerInverseBlocked: " + err);
  std::vector<double> x(static_cast<size_t>(n * n), 0.0);
  if (n > 0)
    invertRange(a, x, n, 0, n, blockSize);
  return x;
}

std::vector<double> utTransform(const std::vector<double> &a,
                                const std::vector<double> &beta, int64_t n,
                                int64_t blockSize) {
  std::string err = checkSize("beta", beta.size(), n);
  if (!err.empty())
    fatal("utTransform: " + err);
  std::vector<double> t = unitLowerInverseBlocked(a, n, blockSize);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j)
      t[i * n + j] *= beta[j];
  return t;
}

Result chunkwise(const Problem &p, int64_t chunkSize) {
  requireValid(p);
  if (chunkSize < 1)
    fatal("chunkwise: chunkSize must be >= 1, got " + str(chunkSize));
  Result r = allocateResult(p);
  PreparedQK qk = prepareQK(p);
  double scale = p.effectiveScale();
  int64_t group = p.HV / p.H, dk = p.DK, dv = p.DV;
  size_t c = static_cast<size_t>(chunkSize);
  std::vector<double> kc(c * dk), qc(c * dk), vc(c * dv), bc(c), gc(c);
  std::vector<double> w(c * dk), u(c * dv), vn(c * dv), qkT(c * c);
  std::vector<Seq> seqs = sequences(p);
  for (size_t sIdx = 0; sIdx < seqs.size(); ++sIdx) {
    const Seq &sq = seqs[sIdx];
    for (int64_t hv = 0; hv < p.HV; ++hv) {
      int64_t h = hv / group;
      double *s = &r.finalState[((sIdx * p.HV) + hv) * dk * dv];
      for (int64_t c0 = sq.begin; c0 < sq.end; c0 += chunkSize) {
        int64_t n = std::min(chunkSize, sq.end - c0);
        kc.resize(n * dk);
        qc.resize(n * dk);
        vc.resize(n * dv);
        bc.resize(n);
        // Gather the chunk; gc = cumulative in-chunk log-gate G_r.
        double gAcc = 0.0;
        for (int64_t r0 = 0; r0 < n; ++r0) {
          int64_t tok = sq.batch * p.T + c0 + r0;
          for (int64_t d = 0; d < dk; ++d) {
            kc[r0 * dk + d] = qk.k[(tok * p.H + h) * dk + d];
            qc[r0 * dk + d] = qk.q[(tok * p.H + h) * dk + d];
          }
          for (int64_t d = 0; d < dv; ++d)
            vc[r0 * dv + d] = p.v[(tok * p.HV + hv) * dv + d];
          bc[r0] = p.beta[tok * p.HV + hv];
          if (p.isGated())
            gAcc += p.g[tok * p.HV + hv];
          gc[r0] = gAcc;
        }
        std::vector<double> gCum;
        if (p.isGated())
          gCum.assign(gc.begin(), gc.begin() + n);

        // T = (I + A)^-1 b.
        std::vector<double> a = chunkA(kc, bc, gCum, n, dk);
        std::vector<double> tm = utTransform(a, bc, n);

        // W = T diag(exp(G)) K, U = T V.
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t d = 0; d < dk; ++d)
            w[i * dk + d] = 0.0;
          for (int64_t d = 0; d < dv; ++d)
            u[i * dv + d] = 0.0;
          for (int64_t j = 0; j <= i; ++j) {
            double tij = tm[i * n + j];
            double tg = p.isGated() ? tij * std::exp(gc[j]) : tij;
            for (int64_t d = 0; d < dk; ++d)
              w[i * dk + d] += tg * kc[j * dk + d];
            for (int64_t d = 0; d < dv; ++d)
              u[i * dv + d] += tij * vc[j * dv + d];
          }
        }

        // Vn = U - W S.
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t d = 0; d < dv; ++d)
            vn[i * dv + d] = u[i * dv + d];
          for (int64_t e = 0; e < dk; ++e) {
            double wie = w[i * dk + e];
            for (int64_t d = 0; d < dv; ++d)
              vn[i * dv + d] -= wie * s[e * dv + d];
          }
        }

        // O = scale (diag(exp(G)) Q S + (mask_incl_diag(Q K^T) * Gamma) Vn)
        // with Gamma[r][j] = exp(G_r - G_j).
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j <= i; ++j) {
            double dot = 0.0;
            for (int64_t d = 0; d < dk; ++d)
              dot += qc[i * dk + d] * kc[j * dk + d];
            if (p.isGated())
              dot *= std::exp(gc[i] - gc[j]);
            qkT[i * n + j] = dot;
          }
        for (int64_t i = 0; i < n; ++i) {
          int64_t tok = sq.batch * p.T + c0 + i;
          double *o = &r.o[(tok * p.HV + hv) * dv];
          double gateI = p.isGated() ? std::exp(gc[i]) : 1.0;
          for (int64_t d = 0; d < dv; ++d) {
            double inter = 0.0;
            for (int64_t e = 0; e < dk; ++e)
              inter += qc[i * dk + e] * s[e * dv + d];
            double intra = 0.0;
            for (int64_t j = 0; j <= i; ++j)
              intra += qkT[i * n + j] * vn[j * dv + d];
            o[d] = scale * (gateI * inter + intra);
          }
        }

        // S' = exp(G_last) S + K^T (exp(G_last - G_r) Vn).
        double gLast = gc[n - 1];
        if (p.isGated()) {
          double decay = std::exp(gLast);
          for (int64_t i = 0; i < dk * dv; ++i)
            s[i] *= decay;
        }
        for (int64_t j = 0; j < n; ++j) {
          double wj = p.isGated() ? std::exp(gLast - gc[j]) : 1.0;
          for (int64_t e = 0; e < dk; ++e) {
            double ke = kc[j * dk + e] * wj;
            for (int64_t d = 0; d < dv; ++d)
              s[e * dv + d] += ke * vn[j * dv + d];
          }
        }
      }
    }
  }
  return r;
}

//===----------------------------------------------------------------------===//
// Random problems
//===----------------------------------------------------------------------===//

double Rng::uniform() {
  return static_cast<double>(engine() >> 11) * 0x1.0p-53;
}

double Rng::normal() {
  if (hasSpare) {
    hasSpare = false;
    return spare;
  }
  double u1 = 0.0;
  while (u1 <= 0.0)
    u1 = uniform();
  double u2 = uniform();
  double radius = std::sqrt(-2.0 * std::log(u1));
  double angle = 2.0 * kPi * u2;
  spare = radius * std::sin(angle);
  hasSpare = true;
  return radius * std::cos(angle);
}

Problem randomProblem(const RandomSpec &spec) {
  Problem p;
  p.B = spec.B;
  p.T = spec.T;
  p.H = spec.H;
  p.HV = spec.HV;
  p.DK = spec.DK;
  p.DV = spec.DV;
  p.scale = spec.scale;
  p.qkL2Norm = spec.qkL2Norm;
  if (!spec.seqLens.empty()) {
    if (spec.B != 1)
      fatal("randomProblem: seqLens requires B == 1");
    p.cuSeqlens.push_back(0);
    for (int64_t len : spec.seqLens) {
      if (len < 0)
        fatal("randomProblem: negative sequence length");
      p.cuSeqlens.push_back(p.cuSeqlens.back() + len);
    }
    p.T = p.cuSeqlens.back();
  }
  if (p.B < 1 || p.T < 0 || p.H < 1 || p.HV < 1 || p.HV % p.H != 0 ||
      p.DK < 1 || p.DV < 1)
    fatal("randomProblem: bad dims");

  auto fill = [&](std::vector<double> &x, int64_t size, uint64_t id) {
    Rng rng = stream(spec.seed, id);
    x.resize(static_cast<size_t>(size));
    for (double &e : x)
      e = spec.dist == Dist::Normal ? rng.normal() : rng.uniform(-1.0, 1.0);
  };
  int64_t tokens = p.B * p.T;
  fill(p.q, tokens * p.H * p.DK, 1);
  fill(p.k, tokens * p.H * p.DK, 2);
  fill(p.v, tokens * p.HV * p.DV, 3);

  if (spec.keyNormHi > 0.0) {
    Rng rng = stream(spec.seed, 4);
    for (int64_t row = 0; row < tokens * p.H; ++row) {
      double *kr = &p.k[row * p.DK];
      double sumSq = 0.0;
      for (int64_t d = 0; d < p.DK; ++d)
        sumSq += kr[d] * kr[d];
      double target = rng.uniform(spec.keyNormLo, spec.keyNormHi);
      double f = sumSq > 0.0 ? target / std::sqrt(sumSq) : 0.0;
      for (int64_t d = 0; d < p.DK; ++d)
        kr[d] *= f;
    }
  }

  {
    Rng rng = stream(spec.seed, 5);
    p.beta.resize(static_cast<size_t>(tokens * p.HV));
    for (double &b : p.beta)
      b = spec.betaUniform ? rng.uniform(spec.betaLo, spec.betaHi)
                           : sigmoid(rng.normal());
  }
  if (spec.gated) {
    Rng rng = stream(spec.seed, 6);
    p.g.resize(static_cast<size_t>(tokens * p.HV));
    for (double &gv : p.g)
      gv = std::log(sigmoid(spec.gateBias + rng.normal()));
  }
  if (spec.initialState) {
    Rng rng = stream(spec.seed, 7);
    p.initialState.resize(
        static_cast<size_t>(p.numSequences() * p.HV * p.DK * p.DV));
    for (double &x : p.initialState)
      x = spec.stateStd * rng.normal();
  }
  std::string err = validate(p);
  if (!err.empty())
    fatal("randomProblem produced an invalid problem: " + err);
  return p;
}

//===----------------------------------------------------------------------===//
// Metrics
//===----------------------------------------------------------------------===//

double relL2(const std::vector<double> &a, const std::vector<double> &b) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (a.size() != b.size())
    return inf;
  // Scaled sums of squares (as BLAS nrm2 does) so that neither tiny nor huge
  // values underflow or overflow.
  double dMax = 0.0, bMax = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i]))
      return inf;
    dMax = std::max(dMax, std::fabs(a[i] - b[i]));
    bMax = std::max(bMax, std::fabs(b[i]));
  }
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (dMax > 0.0) {
      double d = (a[i] - b[i]) / dMax;
      num += d * d;
    }
    if (bMax > 0.0) {
      double e = b[i] / bMax;
      den += e * e;
    }
  }
  return dMax * std::sqrt(num) / std::max(bMax * std::sqrt(den), 1e-300);
}

double maxAbsDiff(const std::vector<double> &a, const std::vector<double> &b) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (a.size() != b.size())
    return inf;
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i]))
      return inf;
    m = std::max(m, std::fabs(a[i] - b[i]));
  }
  return m;
}

//===----------------------------------------------------------------------===//
// Low-precision rounding
//===----------------------------------------------------------------------===//

double roundToBf16(double x) { return roundToFormat(x, 8, -126, 0x1.fep127); }

double roundToFp16(double x) { return roundToFormat(x, 11, -14, 65504.0); }

double roundToFp32(double x) {
  return roundToFormat(x, 24, -126,
                       static_cast<double>(std::numeric_limits<float>::max()));
}

double roundTo(double x, Precision p) {
  switch (p) {
  case Precision::FP64:
    return x;
  case Precision::FP32:
    return roundToFp32(x);
  case Precision::BF16:
    return roundToBf16(x);
  case Precision::FP16:
    return roundToFp16(x);
  }
  return x;
}

std::vector<double> roundedTo(const std::vector<double> &x, Precision p) {
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    y[i] = roundTo(x[i], p);
  return y;
}

void roundInputs(Problem &problem, Precision p) {
  for (std::vector<double> *x :
       {&problem.q, &problem.k, &problem.v, &problem.beta, &problem.g})
    *x = roundedTo(*x, p);
}

uint16_t toBf16Bits(double x) {
  uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  if (std::isnan(x))
    return sign | 0x7FC0;
  // The rounded value is exactly representable as a float.
  float f = static_cast<float>(roundToBf16(x));
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return static_cast<uint16_t>(u >> 16);
}

double fromBf16Bits(uint16_t bits) {
  uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return static_cast<double>(f);
}

uint16_t toFp16Bits(double x) {
  uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  if (std::isnan(x))
    return sign | 0x7E00;
  double a = std::fabs(roundToFp16(x));
  if (std::isinf(a))
    return sign | 0x7C00;
  if (a == 0.0)
    return sign;
  int e = std::ilogb(a);
  if (e < -14) // Subnormal: a = mant * 2^-24.
    return sign | static_cast<uint16_t>(std::ldexp(a, 24));
  uint16_t mant = static_cast<uint16_t>(std::ldexp(a, 10 - e) - 1024.0);
  return sign | static_cast<uint16_t>((e + 15) << 10) | mant;
}

double fromFp16Bits(uint16_t bits) {
  double sign = (bits & 0x8000) ? -1.0 : 1.0;
  int exp = (bits >> 10) & 0x1F;
  int mant = bits & 0x3FF;
  if (exp == 0x1F)
    return mant ? std::copysign(std::numeric_limits<double>::quiet_NaN(), sign)
                : sign * std::numeric_limits<double>::infinity();
  if (exp == 0)
    return sign * std::ldexp(static_cast<double>(mant), -24);
  return sign * std::ldexp(static_cast<double>(mant + 1024), exp - 25);
}

} // namespace deltajit::oracle
