//===- DeltaRule.cpp - validation, sequence tables, binding, launch -------===//

#include "DeltaRule.h"

#include "Context.h"
#include "Error.h"
#include "Package.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <sstream>

namespace deltajit {

namespace {

const char *dtypeLabel(dj_dtype_t d) {
  switch (d) {
  case DJ_DTYPE_BF16:
    return "bf16";
  case DJ_DTYPE_FP16:
    return "fp16";
  }
  return "?";
}

void checkDtype(const dj_dtype_t &dtype) {
  int d = rawEnum(dtype);
  if (d != DJ_DTYPE_BF16 && d != DJ_DTYPE_FP16)
    fail(DJ_ERROR_INVALID_ARGUMENT, "args->dtype is ", d,
         d == 0 ? " (unset)" : "", "; expected DJ_DTYPE_BF16 or DJ_DTYPE_FP16");
}

void checkAtLeast(int64_t v, int64_t lo, const char *name) {
  if (v < lo)
    fail(DJ_ERROR_INVALID_ARGUMENT, "args->", name, " is ", v,
         "; it must be >= ", lo);
}

void checkPointer(const void *p, const char *name) {
  if (!p)
    fail(DJ_ERROR_INVALID_ARGUMENT, "args->", name,
         " is NULL; it is a required device pointer");
}

/// Product of the arguments, failing if it leaves int64.
int64_t product(std::initializer_list<int64_t> xs, const char *what) {
  int64_t r = 1;
  for (int64_t x : xs)
    if (__builtin_mul_overflow(r, x, &r))
      fail(DJ_ERROR_INVALID_ARGUMENT, "the size of ", what,
           " overflows 64 bits");
  return r;
}

float resolveScale(float scale, int64_t dk) {
  if (std::isnan(scale))
    return static_cast<float>(1.0 / std::sqrt(static_cast<double>(dk)));
  return scale;
}

void checkScale(float scale) {
  if (std::isinf(scale))
    fail(DJ_ERROR_INVALID_ARGUMENT,
         "args->scale is infinite; pass a finite value or NaN for DK^-1/2");
}

/// Checks shared by forward and decode: dtype, head counts and sizes, the
/// tensors every call needs, the scale.
void checkHeadsAndTensors(dj_dtype_t dtype, int64_t H, int64_t HV, int64_t DK,
                          int64_t DV, const void *q, const void *k,
                          const void *v, const void *beta, const void *o,
                          float scale) {
  checkDtype(dtype);
  checkAtLeast(H, 1, "H");
  checkAtLeast(HV, 1, "HV");
  checkAtLeast(DK, 1, "DK");
  checkAtLeast(DV, 1, "DV");
  if (HV % H != 0)
    fail(DJ_ERROR_INVALID_ARGUMENT, "args->HV (", HV,
         ") must be a multiple of args->H (", H, ")");
  checkPointer(q, "q");
  checkPointer(k, "k");
  checkPointer(v, "v");
  checkPointer(beta, "beta");
  checkPointer(o, "o");
  checkScale(scale);
}

} // namespace

void validateForwardArgs(const dj_delta_rule_forward_args_t &a) {
  checkAtLeast(a.B, 1, "B");
  checkAtLeast(a.T, 0, "T");
  checkHeadsAndTensors(a.dtype, a.H, a.HV, a.DK, a.DV, a.q, a.k, a.v, a.beta,
                       a.o, a.scale);
  if (a.chunk_size < 0)
    fail(DJ_ERROR_INVALID_ARGUMENT, "args->chunk_size is ", a.chunk_size,
         "; it must be >= 0 (0: the package's default)");
  product({a.B, a.T, a.H, a.DK}, "q/k ([B, T, H, DK])");
  product({a.B, a.T, a.HV, a.DV, 2}, "v/o ([B, T, HV, DV])");
  if (a.cu_seqlens) {
    if (a.B != 1)
      fail(DJ_ERROR_INVALID_ARGUMENT, "args->B is ", a.B,
           "; it must be 1 when args->cu_seqlens is given");
    checkAtLeast(a.num_seqs, 1, "num_seqs");
    if (a.num_seqs > std::numeric_limits<int32_t>::max() - 1)
      fail(DJ_ERROR_INVALID_ARGUMENT, "args->num_seqs is ", a.num_seqs,
           "; at most ", std::numeric_limits<int32_t>::max() - 1,
           " sequences are supported");
    if (a.cu_seqlens[0] != 0)
      fail(DJ_ERROR_INVALID_ARGUMENT, "args->cu_seqlens[0] is ",
           a.cu_seqlens[0], "; it must be 0");
    for (int64_t i = 0; i < a.num_seqs; ++i)
      if (a.cu_seqlens[i + 1] < a.cu_seqlens[i])
        fail(DJ_ERROR_INVALID_ARGUMENT,
             "args->cu_seqlens is not "
             "non-decreasing: cu_seqlens[",
             i + 1, "] = ", a.cu_seqlens[i + 1], " < cu_seqlens[", i,
             "] = ", a.cu_seqlens[i]);
    if (a.cu_seqlens[a.num_seqs] != a.T)
      fail(DJ_ERROR_INVALID_ARGUMENT,
           "args->cu_seqlens[num_seqs = ", a.num_seqs, "] is ",
           a.cu_seqlens[a.num_seqs], "; it must equal args->T (", a.T, ")");
  } else if (a.num_seqs != 0) {
    fail(DJ_ERROR_INVALID_ARGUMENT, "args->num_seqs is ", a.num_seqs,
         " but args->cu_seqlens is NULL (num_seqs must be 0 without "
         "cu_seqlens)");
  }
  int64_t n = a.cu_seqlens ? a.num_seqs : a.B;
  product({n, a.HV, a.DK, a.DV, 4}, "the states ([N, HV, DK, DV])");
}

void validateDecodeArgs(const dj_delta_rule_decode_args_t &a) {
  checkAtLeast(a.N, 0, "N");
  checkHeadsAndTensors(a.dtype, a.H, a.HV, a.DK, a.DV, a.q, a.k, a.v, a.beta,
                       a.o, a.scale);
  checkPointer(a.state_in, "state_in");
  for (auto [p, name] :
       {std::pair<const void *, const char *>{a.state_in, "state_in"},
        {a.state_out, "state_out"}})
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0)
      fail(DJ_ERROR_INVALID_ARGUMENT, "args->", name, " (", p,
           ") is not 16-byte aligned; the decode kernels move the state in "
           "16-byte vectors");
  product({a.N, a.HV, a.DK, a.DV, 4}, "the state ([N, HV, DK, DV])");
  product({a.N, a.H, a.DK, 2}, "q/k ([N, H, DK])");
}

std::vector<std::string> dtypeNames(dj_dtype_t dtype) {
  if (dtype == DJ_DTYPE_BF16)
    return {"bf16"};
  if (dtype == DJ_DTYPE_FP16)
    return {"fp16", "f16"};
  return {};
}

std::string EntryRequest::describe() const {
  std::ostringstream os;
  os << op << " dtype=" << dtypeLabel(dtype) << " dk=" << dk << " dv=" << dv;
  if (op == "delta_rule_forward")
    os << " chunk=" << (chunk ? std::to_string(*chunk) : std::string("any"));
  os << " use_qk_l2norm=" << (useQkL2norm ? "true" : "false");
  return os.str();
}

std::string EntryRequest::memoKey() const {
  return op + '|' + std::to_string(static_cast<int>(dtype)) + '|' +
         std::to_string(dk) + '|' + std::to_string(dv) + '|' +
         (chunk ? std::to_string(*chunk) : std::string("any")) + '|' +
         (useQkL2norm ? '1' : '0');
}

std::vector<size_t> findEntries(const Manifest &m, const EntryRequest &r,
                                const std::string &packageDir) {
  std::vector<size_t> found;
  std::vector<std::string> names = dtypeNames(r.dtype);
  for (size_t i = 0; i < m.entries.size(); ++i) {
    const EntrySpec &e = m.entries[i];
    if (e.op != r.op || !e.dtype || !e.dk || !e.dv || !e.useQkL2norm)
      continue;
    bool dtypeOk = false;
    for (const std::string &n : names)
      dtypeOk = dtypeOk || *e.dtype == n;
    if (!dtypeOk || *e.dk != r.dk || *e.dv != r.dv ||
        *e.useQkL2norm != r.useQkL2norm)
      continue;
    if (r.chunk && (!e.chunk || *e.chunk != *r.chunk))
      continue;
    found.push_back(i);
  }
  if (!found.empty())
    return found;
  std::ostringstream os;
  os << "no entry of package '" << packageDir << "' matches " << r.describe()
     << "; the package has ";
  if (m.entries.empty())
    os << "no entries";
  else {
    os << m.entries.size() << (m.entries.size() == 1 ? " entry:" : " entries:");
    constexpr size_t kMaxListed = 32;
    for (size_t i = 0; i < m.entries.size() && i < kMaxListed; ++i)
      os << "\n  " << m.entries[i].describe();
    if (m.entries.size() > kMaxListed)
      os << "\n  ... (" << m.entries.size() - kMaxListed << " more)";
  }
  fail(DJ_ERROR_NOT_FOUND, os.str());
}

size_t findEntry(const Manifest &m, const EntryRequest &r,
                 const std::string &packageDir) {
  return findEntries(m, r, packageDir).front();
}

namespace {
/// The EntryChooser's choice for request `r` in shape bucket `bucket`:
/// memoized per request and bucket, so that a repeated call matches no
/// manifest entries and builds no GPU key; one match and no pin needs no
/// database.
EntryChoice choose(Context &ctx, const Package &pkg, const EntryRequest &r,
                   const std::string &bucket) {
  EntryChooser &chooser = pkg.chooser();
  std::string key = r.memoKey() + "|bucket=" + bucket;
  if (const EntryChoice *memo = chooser.memoized(key))
    return *memo;
  std::vector<size_t> matches = findEntries(pkg.manifest(), r, pkg.dir());
  if (matches.size() == 1 && chooser.pinned().empty())
    return chooser.remember(key, {matches.front(), ChoiceSource::Only});
  return chooser.choose(pkg.manifest(), matches, bucket, GpuKey::of(ctx.info()),
                        ctx.cache().root(), key);
}

EntryRequest forwardRequest(const dj_delta_rule_forward_args_t &a) {
  EntryRequest r;
  r.op = "delta_rule_forward";
  r.dtype = a.dtype;
  r.dk = a.DK;
  r.dv = a.DV;
  if (a.chunk_size > 0)
    r.chunk = a.chunk_size;
  r.useQkL2norm = a.use_qk_l2norm != 0;
  return r;
}

EntryRequest decodeRequest(const dj_delta_rule_decode_args_t &a) {
  EntryRequest r;
  r.op = "delta_rule_decode";
  r.dtype = a.dtype;
  r.dk = a.DK;
  r.dv = a.DV;
  r.useQkL2norm = a.use_qk_l2norm != 0;
  return r;
}
} // namespace

EntryChoice chooseForwardEntry(Context &ctx, const Package &pkg,
                               const dj_delta_rule_forward_args_t &a) {
  int64_t numSeqs = a.cu_seqlens ? a.num_seqs : a.B;
  return choose(ctx, pkg, forwardRequest(a),
                forwardBucket(numSeqs, a.HV, a.B * a.T));
}

EntryChoice chooseDecodeEntry(Context &ctx, const Package &pkg,
                              const dj_delta_rule_decode_args_t &a) {
  return choose(ctx, pkg, decodeRequest(a), decodeBucket(a.N, a.HV));
}

ForwardTables buildForwardTables(const dj_delta_rule_forward_args_t &a,
                                 int64_t chunk) {
  if (chunk <= 0)
    fail(DJ_ERROR_INTERNAL, "chunk length ", chunk, " is not positive");
  ForwardTables t;
  t.numSeqs = a.cu_seqlens ? a.num_seqs : a.B;
  t.cuSeqlens.resize(t.numSeqs + 1);
  for (int64_t i = 0; i <= t.numSeqs; ++i)
    t.cuSeqlens[i] = a.cu_seqlens ? a.cu_seqlens[i] : i * a.T;
  t.chunkOffsets.resize(t.numSeqs + 1);
  for (int64_t s = 0; s < t.numSeqs; ++s) {
    int64_t len = t.cuSeqlens[s + 1] - t.cuSeqlens[s];
    int64_t chunks = len / chunk + (len % chunk != 0);
    t.chunkOffsets[s] = static_cast<int32_t>(t.totalChunks);
    t.totalChunks += chunks;
    if (t.totalChunks > std::numeric_limits<int32_t>::max())
      fail(DJ_ERROR_INVALID_ARGUMENT,
           "the batch has more than 2^31-1 chunks "
           "of ",
           chunk, " tokens");
    t.maxChunks = std::max(t.maxChunks, chunks);
  }
  t.chunkOffsets[t.numSeqs] = static_cast<int32_t>(t.totalChunks);
  // The kernels index tokens in 32 bits (chunk_spans, cu_seqlens).
  if (t.cuSeqlens[t.numSeqs] > std::numeric_limits<int32_t>::max())
    fail(DJ_ERROR_INVALID_ARGUMENT, "the batch has ", t.cuSeqlens[t.numSeqs],
         " tokens; at most 2^31-1 are supported");
  t.chunkTable.resize(2 * t.totalChunks);
  t.chunkSpans.resize(2 * t.totalChunks);
  for (int64_t s = 0; s < t.numSeqs; ++s)
    for (int32_t c = t.chunkOffsets[s]; c < t.chunkOffsets[s + 1]; ++c) {
      int32_t inSeq = c - t.chunkOffsets[s];
      t.chunkTable[2 * c] = static_cast<int32_t>(s);
      t.chunkTable[2 * c + 1] = inSeq;
      t.chunkSpans[2 * c] =
          static_cast<int32_t>(t.cuSeqlens[s] + inSeq * chunk);
      t.chunkSpans[2 * c + 1] = static_cast<int32_t>(t.cuSeqlens[s + 1]);
    }
  return t;
}

namespace {
/// The symbols forward and decode share: the per-token tensors, the head
/// counts and sizes, and the scale.
template <typename Args> SymbolTable headSymbols(const Args &a) {
  SymbolTable s;
  s["q"] = SymbolValue::pointer(a.q);
  s["k"] = SymbolValue::pointer(a.k);
  s["v"] = SymbolValue::pointer(a.v);
  s["beta"] = SymbolValue::pointer(a.beta);
  s["o"] = SymbolValue::pointer(a.o);
  s["H"] = SymbolValue::integer(a.H);
  s["HV"] = SymbolValue::integer(a.HV);
  s["DK"] = SymbolValue::integer(a.DK);
  s["DV"] = SymbolValue::integer(a.DV);
  s["scale"] = SymbolValue::real(resolveScale(a.scale, a.DK));
  return s;
}
} // namespace

SymbolTable forwardSymbols(const dj_delta_rule_forward_args_t &a,
                           const ForwardTables &t, CUdeviceptr cuSeqlens,
                           CUdeviceptr chunkOffsets, CUdeviceptr chunkTable,
                           CUdeviceptr chunkSpans) {
  SymbolTable s = headSymbols(a);
  s["h0"] = SymbolValue::pointer(a.h0);
  s["ht"] = SymbolValue::pointer(a.ht);
  s["cu_seqlens"] = SymbolValue::pointer(cuSeqlens);
  s["chunk_offsets"] = SymbolValue::pointer(chunkOffsets);
  s["chunk_table"] = SymbolValue::pointer(chunkTable);
  s["chunk_spans"] = SymbolValue::pointer(chunkSpans);
  s["B"] = SymbolValue::integer(a.B);
  s["T"] = SymbolValue::integer(a.T);
  s["N"] = SymbolValue::integer(t.numSeqs);
  s["T_total"] = SymbolValue::integer(a.B * a.T);
  s["total_chunks"] = SymbolValue::integer(t.totalChunks);
  s["max_chunks"] = SymbolValue::integer(t.maxChunks);
  s["has_h0"] = SymbolValue::integer(a.h0 ? 1 : 0);
  s["has_ht"] = SymbolValue::integer(a.ht ? 1 : 0);
  return s;
}

SymbolTable decodeSymbols(const dj_delta_rule_decode_args_t &a) {
  SymbolTable s = headSymbols(a);
  s["state_in"] = SymbolValue::pointer(a.state_in);
  s["state_out"] = SymbolValue::pointer(
      a.state_out ? static_cast<const void *>(a.state_out) : a.state_in);
  s["N"] = SymbolValue::integer(a.N);
  return s;
}

int64_t segmentChunksFor(int64_t shortest, int64_t maxChunks,
                         int64_t programsPerSegment, int64_t residentPrograms) {
  auto fits = [&](int64_t length) {
    int64_t segments = (maxChunks + length - 1) / length;
    return (segments - 1) * programsPerSegment <= residentPrograms;
  };
  if (shortest < 2 || maxChunks <= 0 || programsPerSegment <= 0 ||
      residentPrograms <= 0 || fits(shortest))
    return shortest;
  int64_t longest = std::max(shortest + 2, shortest + shortest / 4) / 2 * 2;
  for (int64_t length = shortest + 2; length <= longest; length += 2)
    if (fits(length))
      return length;
  // Long sequences (run49, H200, 16 heads: 1 x 32768 and 1 x 65536 at
  // d = 128 ran 3% and 5% faster at 64 chunks than at 32): half the
  // combine's sequential steps and fewer waves of transitions.
  if ((maxChunks + 2 * shortest - 1) / (2 * shortest) >= 8)
    return 2 * shortest;
  return shortest;
}

std::optional<int64_t> segmentChunksOverride() {
  const char *env = std::getenv("DELTAJIT_SEGMENT_CHUNKS");
  if (!env || !*env)
    return std::nullopt;
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(env, &end, 10);
  if (errno != 0 || *end != '\0' || v < 2 || v > (1 << 20) || v % 2 != 0)
    fail(DJ_ERROR_INVALID_ARGUMENT, "DELTAJIT_SEGMENT_CHUNKS='", env,
         "': must be an even number of chunks >= 2 (a segment's first chunk "
         "computes in the first of the scan's double buffers)");
  return static_cast<int64_t>(v);
}

namespace {
bool takesSegmentChunks(const LaunchSpec &l) {
  return std::any_of(l.params.begin(), l.params.end(), [](const ParamSpec &p) {
    return p.name == "segment_chunks";
  });
}

/// `segment_chunks` for a call of segment-scan entry `entryIndex`
/// (symbols bound but for it): $DELTAJIT_SEGMENT_CHUNKS if set, else
/// segmentChunksFor with the transitions' programs per segment (their
/// grid's x * y) and how many of them the GPU holds at once (the driver's
/// occupancy of their kernel x SMs). The compiled length where no launch
/// takes it as a parameter (packages of compilers that fixed it in the
/// kernels and formulas).
int64_t chooseSegmentChunks(Context &ctx, const Package &pkg, size_t entryIndex,
                            const SymbolTable &symbols) {
  const EntrySpec &entry = pkg.manifest().entries[entryIndex];
  int64_t shortest = *entry.segmentChunks;
  if (std::none_of(entry.launches.begin(), entry.launches.end(),
                   takesSegmentChunks))
    return shortest;
  if (std::optional<int64_t> pinned = segmentChunksOverride())
    return *pinned;
  const std::string suffix = "_transitions";
  for (size_t li = 0; li < entry.launches.size(); ++li) {
    const LaunchSpec &l = entry.launches[li];
    if (!takesSegmentChunks(l) || l.kernel.size() < suffix.size() ||
        l.kernel.compare(l.kernel.size() - suffix.size(), suffix.size(),
                         suffix) != 0)
      continue;
    SymbolTable probe = symbols;
    probe["segment_chunks"] = SymbolValue::integer(shortest);
    int64_t perSegment =
        evaluateGrid(entry, li, 0, probe) * evaluateGrid(entry, li, 1, probe);
    // (A failed occupancy query, 0, only loses the choice: segmentChunksFor
    // keeps the compiled length.)
    return segmentChunksFor(shortest, symbols.at("max_chunks").i, perSegment,
                            int64_t(pkg.residentPerSM(entryIndex, li)) *
                                ctx.info().sm_count);
  }
  return shortest;
}
} // namespace

int64_t forwardSegmentChunks(Context &ctx, const Package &pkg,
                             size_t entryIndex,
                             const dj_delta_rule_forward_args_t &a) {
  const EntrySpec &entry = pkg.manifest().entries.at(entryIndex);
  if (!entry.segmentChunks || !entry.chunk)
    return 0;
  ForwardTables t = buildForwardTables(a, *entry.chunk);
  return chooseSegmentChunks(ctx, pkg, entryIndex,
                             forwardSymbols(a, t, 0, 0, 0, 0));
}

void deltaRuleForward(Context &ctx, const Package &pkg,
                      const dj_delta_rule_forward_args_t &a, CUstream stream) {
  validateForwardArgs(a);
  size_t entryIndex = chooseForwardEntry(ctx, pkg, a).index;
  const EntrySpec &entry = pkg.manifest().entries[entryIndex];
  ForwardTables t = buildForwardTables(a, *entry.chunk);
  const Driver &d = ctx.driver();

  if (t.totalChunks == 0) {
    // Nothing to compute: every sequence is empty. The final state is the
    // initial one (or zeros).
    if (a.ht) {
      size_t bytes = static_cast<size_t>(t.numSeqs * a.HV * a.DK * a.DV) * 4;
      CUdeviceptr ht = reinterpret_cast<uintptr_t>(a.ht);
      if (a.h0 && a.h0 != a.ht)
        d.check(d.cuMemcpyDtoDAsync_v2(ht, reinterpret_cast<uintptr_t>(a.h0),
                                       bytes, stream),
                "cuMemcpyDtoDAsync (ht = h0 for an empty batch)");
      else if (!a.h0)
        d.check(d.cuMemsetD32Async(ht, 0, bytes / 4, stream),
                "cuMemsetD32Async (ht = 0 for an empty batch)");
    }
    return;
  }

  // Only the tables the entry's kernels take are uploaded: the fused
  // kernel takes cu_seqlens alone, the three-phase kernels chunk_spans,
  // cu_seqlens and chunk_offsets; chunk_table is for packages of older
  // compilers. The others are bound to 0. They go as one block (16-byte
  // aligned parts), copied only when it differs from the last call's on
  // this stream (Context::upload): the layers of a model, and the calls of
  // one batch shape, share it. (Three staged copies from pageable memory
  // per call before.)
  auto taken = [&](const char *name) {
    for (const LaunchSpec &l : entry.launches)
      for (const ParamSpec &p : l.params)
        if (p.name == name)
          return true;
    return false;
  };
  std::vector<unsigned char> block;
  auto part = [&](const char *name, const void *data,
                  size_t bytes) -> std::optional<size_t> {
    if (!taken(name))
      return std::nullopt;
    size_t at = (block.size() + 15) / 16 * 16;
    block.resize(at + bytes);
    std::memcpy(block.data() + at, data, bytes);
    return at;
  };
  std::optional<size_t> cuAt = part("cu_seqlens", t.cuSeqlens.data(),
                                    t.cuSeqlens.size() * sizeof(int64_t));
  std::optional<size_t> offsetsAt =
      part("chunk_offsets", t.chunkOffsets.data(),
           t.chunkOffsets.size() * sizeof(int32_t));
  std::optional<size_t> tableAt = part("chunk_table", t.chunkTable.data(),
                                       t.chunkTable.size() * sizeof(int32_t));
  std::optional<size_t> spansAt = part("chunk_spans", t.chunkSpans.data(),
                                       t.chunkSpans.size() * sizeof(int32_t));
  CUdeviceptr base =
      ctx.upload(stream, "forward_tables", block.data(), block.size());
  auto at = [&](std::optional<size_t> offset) -> CUdeviceptr {
    return offset ? base + *offset : 0;
  };
  CUdeviceptr cu = at(cuAt), offsets = at(offsetsAt), table = at(tableAt),
              spans = at(spansAt);
  SymbolTable symbols = forwardSymbols(a, t, cu, offsets, table, spans);
  if (entry.segmentChunks)
    symbols["segment_chunks"] = SymbolValue::integer(
        chooseSegmentChunks(ctx, pkg, entryIndex, symbols));
  launchEntry(ctx, pkg, entryIndex, std::move(symbols), stream);
}

void deltaRuleDecode(Context &ctx, const Package &pkg,
                     const dj_delta_rule_decode_args_t &a, CUstream stream) {
  validateDecodeArgs(a);
  size_t entryIndex = chooseDecodeEntry(ctx, pkg, a).index;
  if (a.N == 0)
    return;
  launchEntry(ctx, pkg, entryIndex, decodeSymbols(a), stream);
}

} // namespace deltajit
