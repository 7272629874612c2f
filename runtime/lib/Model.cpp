//===- Model.cpp - the graph executor: models, sessions, prefill, decode --===//

#include "Model.h"

#include "Blas.h"
#include "Context.h"
#include "DeltaRule.h"
#include "Error.h"
#include "GlueKernels.h"
#include "HalfFloat.h"
#include "Package.h"
#include "RandomInit.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

namespace deltajit {

namespace {

float toFloat(const std::string &dtype, const unsigned char *p) {
  if (dtype == "f32") {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  return dtype == "bf16" ? bf16ToFloat(h) : halfToFloat(h);
}

size_t dtypeBytes(const std::string &dtype) { return dtype == "f32" ? 4 : 2; }

int64_t elementCount(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// Runs f(begin, end) over [0, n) on the machine's cores.
template <typename F> void parallelFor(int64_t n, F f) {
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  threads = unsigned(std::min<int64_t>(threads, std::max<int64_t>(1, n >> 16)));
  if (threads <= 1) {
    f(int64_t(0), n);
    return;
  }
  std::vector<std::thread> pool;
  int64_t per = (n + threads - 1) / threads;
  for (unsigned t = 0; t < threads; ++t) {
    int64_t b = t * per, e = std::min(n, b + per);
    if (b < e)
      pool.emplace_back([=] { f(b, e); });
  }
  for (auto &th : pool)
    th.join();
}

CUdeviceptr allocate(Context &ctx, size_t bytes, const std::string &what) {
  CUdeviceptr p = 0;
  const Driver &d = ctx.driver();
  d.check(d.cuMemAlloc_v2(&p, std::max<size_t>(bytes, 16)),
          concat("cuMemAlloc(", bytes, " bytes for ", what, ")"));
  return p;
}

void freeDevice(Context &ctx, CUdeviceptr &p) noexcept {
  if (p)
    ctx.driver().cuMemFree_v2(p);
  p = 0;
}

GlueActivation activationOf(const std::string &name) {
  if (name == "silu")
    return GlueActivation::Silu;
  if (name == "sigmoid")
    return GlueActivation::Sigmoid;
  return GlueActivation::None;
}

} // namespace

//===----------------------------------------------------------------------===//
// Model
//===----------------------------------------------------------------------===//

std::unique_ptr<Model> Model::load(std::shared_ptr<Context> ctx,
                                   const std::string &dir,
                                   const std::string &weightsPath,
                                   uint64_t seed) {
  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Model> m(new Model());
  m->ctx_ = ctx;
  m->graph_ = readModelGraph(dir);
  m->dtype_ = m->graph_.dtype == "bf16" ? DJ_DTYPE_BF16 : DJ_DTYPE_FP16;
  // Attention rotates q in place: no later step may read it.
  const ModelGraph &g = m->graph_;
  for (size_t i = 0; i < g.steps.size(); ++i) {
    if (g.steps[i].op != StepOp::Attention)
      continue;
    int q = g.steps[i].operand("q").index;
    for (size_t j = i + 1; j < g.steps.size(); ++j)
      for (auto &[role, ref] : g.steps[j].in)
        if (ref.kind == GraphRef::Value && ref.index == q)
          fail(DJ_ERROR_PACKAGE, dir, ": ", g.steps[j].path, " reads '",
               ref.name, "', the q of the attention at ", g.steps[i].path,
               " (the runtime rotates q in place; unsupported)");
  }
  try {
    m->package_ = Package::load(ctx, dir);
    // Every delta-rule layer needs its prefill and decode entries.
    for (const GraphStep &s : m->graph_.steps) {
      if (s.op != StepOp::DeltaRule)
        continue;
      EntryRequest r;
      r.dtype = m->dtype_;
      r.dk = s.dk;
      r.dv = s.dv;
      r.useQkL2norm = s.useQkL2norm;
      r.op = "delta_rule_forward";
      r.chunk = s.chunk;
      findEntry(m->package_->manifest(), r, dir);
      r.op = "delta_rule_decode";
      r.chunk.reset();
      findEntry(m->package_->manifest(), r, dir);
    }
    m->glue_ = std::make_unique<GlueKernels>(*ctx);
    m->glue_->load();
    m->blas_ = std::make_unique<Blas>(*ctx);
    m->loadWeights(weightsPath, seed);
  } catch (...) {
    m->release();
    throw;
  }
  m->loadSeconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return m;
}

void Model::loadWeights(const std::string &weightsPath, uint64_t seed) {
  const Driver &d = ctx_->driver();
  const bool bf16 = dtype_ == DJ_DTYPE_BF16;
  std::vector<TensorInfo> checkpoint;
  std::map<std::string, const TensorInfo *> byName;
  if (!weightsPath.empty()) {
    checkpoint = readSafetensorsHeader(weightsPath);
    std::vector<std::string> problems =
        compareWeights(graph_.weights, checkpoint);
    if (!problems.empty()) {
      std::string msg =
          concat("checkpoint '", weightsPath, "' does not fit the model (",
                 problems.size(), " problem(s)):");
      for (size_t i = 0; i < problems.size() && i < 10; ++i)
        msg += "\n  " + problems[i];
      fail(DJ_ERROR_INVALID_ARGUMENT, msg);
    }
    for (const TensorInfo &t : checkpoint)
      byName[t.name] = &t;
  }
  std::ifstream file;
  if (!weightsPath.empty()) {
    file.open(weightsPath, std::ios::binary);
    if (!file)
      fail(DJ_ERROR_INVALID_ARGUMENT, "cannot open checkpoint '", weightsPath,
           "'");
  }

  std::vector<uint16_t> host;
  std::vector<unsigned char> raw;
  for (const TensorInfo &w : graph_.weights) {
    int64_t n = elementCount(w.shape);
    host.resize(size_t(n));
    if (weightsPath.empty()) {
      uint64_t key = randomInitKey(seed, w.name);
      bool norm = isNormWeight(w.name);
      parallelFor(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          float v = randomInitValue(key, norm, uint64_t(i));
          host[size_t(i)] = bf16 ? floatToBf16(v) : floatToHalf(v);
        }
      });
    } else {
      const TensorInfo &t = *byName.at(checkpointName(w.name));
      size_t esz = dtypeBytes(t.dtype);
      if (t.fileOffset < 0 || t.bytes != uint64_t(n) * esz)
        fail(DJ_ERROR_INVALID_ARGUMENT, "checkpoint '", weightsPath,
             "': tensor '", t.name, "' holds ", t.bytes, " bytes, expected ",
             uint64_t(n) * esz);
      raw.resize(t.bytes);
      file.seekg(t.fileOffset);
      if (!file.read(reinterpret_cast<char *>(raw.data()),
                     std::streamsize(t.bytes)))
        fail(DJ_ERROR_INVALID_ARGUMENT, "checkpoint '", weightsPath,
             "': cannot read tensor '", t.name, "' (truncated file?)");
      bool same = (bf16 && t.dtype == "bf16") || (!bf16 && t.dtype == "f16");
      if (same) {
        std::memcpy(host.data(), raw.data(), t.bytes);
      } else {
        parallelFor(n, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            float v = toFloat(t.dtype, raw.data() + size_t(i) * esz);
            host[size_t(i)] = bf16 ? floatToBf16(v) : floatToHalf(v);
          }
        });
      }
    }
    size_t bytes = size_t(n) * 2;
    CUdeviceptr p = allocate(*ctx_, bytes, "weight '" + w.name + "'");
    weights_.push_back(p);
    d.check(d.cuMemcpyHtoD_v2(p, host.data(), bytes),
            concat("cuMemcpyHtoD(weight '", w.name, "')"));
    weightBytes_ += bytes;
  }
}

void Model::release() noexcept {
  for (CUdeviceptr &p : weights_)
    freeDevice(*ctx_, p);
  weights_.clear();
  blas_.reset();
  glue_.reset();
  if (package_)
    package_->unload();
}

Model::~Model() = default;

//===----------------------------------------------------------------------===//
// ValuePool
//===----------------------------------------------------------------------===//

ValuePool::ValuePool(const ModelGraph &g) {
  const int n = int(g.values.size());
  std::vector<int> lastUse(size_t(n), -1);
  for (size_t i = 0; i < g.steps.size(); ++i)
    for (auto &[role, ref] : g.steps[i].in)
      if (ref.kind == GraphRef::Value)
        lastUse[size_t(ref.index)] = int(i);
  if (g.logits >= 0)
    lastUse[size_t(g.logits)] = INT_MAX;
  bufferOf_.assign(size_t(n), -1);
  std::vector<int> freeList;
  for (size_t i = 0; i < g.steps.size(); ++i) {
    const GraphStep &s = g.steps[i];
    int64_t w = g.values[size_t(s.out)].width;
    // Best fit among free buffers, else grow the largest free one, else new.
    int best = -1, largest = -1;
    for (int b : freeList) {
      if (widths_[size_t(b)] >= w &&
          (best < 0 || widths_[size_t(b)] < widths_[size_t(best)]))
        best = b;
      if (largest < 0 || widths_[size_t(b)] > widths_[size_t(largest)])
        largest = b;
    }
    if (best < 0 && largest >= 0) {
      best = largest;
      widths_[size_t(best)] = w;
    }
    if (best < 0) {
      best = int(widths_.size());
      widths_.push_back(w);
    } else {
      freeList.erase(std::find(freeList.begin(), freeList.end(), best));
    }
    bufferOf_[size_t(s.out)] = best;
    // Operands whose last use is this step give their buffer back.
    for (auto &[role, ref] : s.in)
      if (ref.kind == GraphRef::Value && lastUse[size_t(ref.index)] == int(i)) {
        int b = bufferOf_[size_t(ref.index)];
        if (std::find(freeList.begin(), freeList.end(), b) == freeList.end())
          freeList.push_back(b);
      }
    // A result nobody reads (none in frontend graphs) is dead at once.
    if (lastUse[size_t(s.out)] < 0)
      freeList.push_back(best);
  }
}

void ValuePool::reserve(Context &ctx, int64_t tokens, size_t elementSize) {
  if (tokens <= capacity_)
    return;
  int64_t cap = std::max<int64_t>(tokens, capacity_ * 2);
  release(ctx);
  buffers_.assign(widths_.size(), 0);
  for (size_t b = 0; b < widths_.size(); ++b)
    buffers_[b] =
        allocate(ctx, size_t(widths_[b] * cap) * elementSize,
                 concat("activation buffer ", b, " (", cap, " tokens)"));
  capacity_ = cap;
}

void ValuePool::release(Context &ctx) noexcept {
  for (CUdeviceptr &p : buffers_)
    freeDevice(ctx, p);
  capacity_ = 0;
}

//===----------------------------------------------------------------------===//
// Session
//===----------------------------------------------------------------------===//

Session::Session(Model &model, const Options &options)
    : model_(model), options_(options), prefillPool_(model.graph()),
      decodePool_(model.graph()) {
  if (options.maxBatch < 1)
    fail(DJ_ERROR_INVALID_ARGUMENT, "max_batch is ", options.maxBatch,
         "; it must be >= 1");
  if (options.maxContext < 1)
    fail(DJ_ERROR_INVALID_ARGUMENT, "max_context is ", options.maxContext,
         "; it must be >= 1");
  Context &ctx = model.context();
  const Driver &d = ctx.driver();
  const ModelGraph &g = model.graph();
  const int64_t B = options.maxBatch;
  profiler_.driver = &d;
  if (profiler_.enabled)
    options_.useCudaGraph = false; // per-step events cannot be captured
  try {
    d.check(d.cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING),
            "cuStreamCreate");
    for (const GraphState &s : g.states) {
      size_t bytes = 0, vBytes = 0;
      switch (s.kind) {
      case StateKind::Delta:
        bytes = size_t(B * s.vHeads * s.dk * s.dv) * 4;
        break;
      case StateKind::Conv:
        bytes = size_t(B * s.channels * (s.kernel - 1)) * 4;
        break;
      case StateKind::KV:
        bytes = size_t(B * s.kvHeads * options.maxContext * s.d) * 2;
        vBytes = size_t(B * s.kvHeads * options.maxContext * s.dv) * 2;
        break;
      }
      states_.push_back(allocate(ctx, bytes, "state '" + s.name + "'"));
      vCaches_.push_back(
          vBytes ? allocate(ctx, vBytes, "v cache '" + s.name + "'") : 0);
    }
    int64_t vocab = g.vocab;
    dIds_ = allocate(ctx, size_t(B) * 4, "decode ids");
    dPos_ = allocate(ctx, size_t(B) * 4, "decode positions");
    dIota_ = allocate(ctx, size_t(B + 1) * 4, "decode tables");
    dStep_ = allocate(ctx, 4, "step counter");
    dSampled_ = allocate(ctx, size_t(B) * 4, "sampled ids");
    dLastRows_ = allocate(ctx, size_t(B) * 4, "last rows");
    dErr_ = allocate(ctx, 4, "error flag");
    dLogits_ = allocate(ctx, size_t(B * vocab) * model.elementSize(),
                        "last-token logits");
    std::vector<int32_t> iota(size_t(B + 1));
    for (size_t i = 0; i < iota.size(); ++i)
      iota[i] = int32_t(i);
    d.check(d.cuMemcpyHtoD_v2(dIota_, iota.data(), iota.size() * 4),
            "cuMemcpyHtoD(decode tables)");
    d.check(d.cuMemsetD32Async(dStep_, 0, 1, stream_), "cuMemsetD32Async");
    d.check(d.cuMemsetD32Async(dErr_, 0, 1, stream_), "cuMemsetD32Async");
    decodePool_.reserve(ctx, B, model.elementSize());
    lengths_.assign(size_t(B), 0);
    reset(-1);
  } catch (...) {
    release();
    throw;
  }
}

Session::~Session() = default;

void Session::dropGraph() noexcept {
  if (graphExec_)
    model_.context().driver().cuGraphExecDestroy(graphExec_);
  graphExec_ = nullptr;
  graphBatch_ = -1;
}

void Session::release() noexcept {
  Context &ctx = model_.context();
  if (stream_)
    ctx.driver().cuStreamSynchronize(stream_);
  profiler_.report();
  for (CUevent e : profiler_.events)
    ctx.driver().cuEventDestroy_v2(e);
  profiler_.events.clear();
  profiler_.totals.clear();
  dropGraph();
  for (CUdeviceptr &p : states_)
    freeDevice(ctx, p);
  for (CUdeviceptr &p : vCaches_)
    freeDevice(ctx, p);
  states_.clear();
  vCaches_.clear();
  for (CUdeviceptr *p :
       {&dIds_, &dPos_, &dIota_, &dStep_, &dSampled_, &dLogitsF32_, &dLastRows_,
        &dErr_, &dGather_, &dLogits_, &pIds_, &pSeq_, &pPos_, &pCu_})
    freeDevice(ctx, *p);
  prefillPool_.release(ctx);
  decodePool_.release(ctx);
  if (stream_)
    ctx.driver().cuStreamDestroy_v2(stream_);
  stream_ = nullptr;
}

uint64_t Session::stateBytes(size_t index) const {
  const GraphState &s = model_.graph().states.at(index);
  switch (s.kind) {
  case StateKind::Delta:
    return uint64_t(s.vHeads * s.dk * s.dv) * 4;
  case StateKind::Conv:
    return uint64_t(s.channels * (s.kernel - 1)) * 4;
  case StateKind::KV:
    return uint64_t(s.kvHeads * options_.maxContext * (s.d + s.dv)) * 2;
  }
  return 0;
}

void Session::reset(int64_t slot) {
  if (slot >= options_.maxBatch)
    fail(DJ_ERROR_INVALID_ARGUMENT, "slot ", slot, " is out of range [0, ",
         options_.maxBatch, ")");
  const Driver &d = model_.context().driver();
  const ModelGraph &g = model_.graph();
  int64_t first = slot < 0 ? 0 : slot;
  int64_t count = slot < 0 ? options_.maxBatch : 1;
  for (size_t i = 0; i < g.states.size(); ++i) {
    const GraphState &s = g.states[i];
    uint64_t per = stateBytes(i);
    if (s.kind == StateKind::KV) {
      // Stale cache entries are never read (positions bound the range).
      continue;
    }
    d.check(d.cuMemsetD32Async(states_[i] + first * per, 0,
                               size_t(count * per / 4), stream_),
            "cuMemsetD32Async (state reset)");
  }
  d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
  for (int64_t i = first; i < first + count; ++i)
    lengths_[size_t(i)] = 0;
  if (slot < 0) {
    active_ = 0;
    haveNext_ = false;
  }
}

void Session::checkSlot(int64_t slot) const {
  if (slot < 0 || slot >= options_.maxBatch)
    fail(DJ_ERROR_INVALID_ARGUMENT, "slot ", slot, " is out of range [0, ",
         options_.maxBatch, ")");
}

void Session::setLength(int64_t slot, int64_t length) {
  checkSlot(slot);
  if (length < 0 || length > options_.maxContext)
    fail(DJ_ERROR_INVALID_ARGUMENT, "length ", length,
         " is out of range [0, max_context = ", options_.maxContext, "]");
  lengths_[size_t(slot)] = length;
}

std::vector<Session::StatePiece>
Session::statePieces(size_t index, int64_t slot, size_t bytes) {
  const ModelGraph &g = model_.graph();
  if (index >= g.states.size())
    fail(DJ_ERROR_INVALID_ARGUMENT, "state index ", index,
         " is out of range (the model has ", g.states.size(), ")");
  checkSlot(slot);
  uint64_t per = stateBytes(index);
  if (bytes != per)
    fail(DJ_ERROR_INVALID_ARGUMENT, "state '", g.states[index].name, "' holds ",
         per, " bytes per sequence, not ", bytes);
  const Driver &d = model_.context().driver();
  d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
  const GraphState &s = g.states[index];
  if (s.kind != StateKind::KV)
    return {{states_[index] + slot * per, 0, per}};
  // KV caches: the k cache, then the v cache.
  uint64_t kBytes = uint64_t(s.kvHeads * options_.maxContext * s.d) * 2;
  uint64_t vBytes = per - kBytes;
  return {{states_[index] + slot * kBytes, 0, kBytes},
          {vCaches_[index] + slot * vBytes, kBytes, vBytes}};
}

void Session::readState(size_t index, int64_t slot, void *host, size_t bytes) {
  const Driver &d = model_.context().driver();
  for (const StatePiece &p : statePieces(index, slot, bytes))
    d.check(d.cuMemcpyDtoH_v2(static_cast<char *>(host) + p.hostOffset,
                              p.device, p.bytes),
            "cuMemcpyDtoH(state)");
}

void Session::writeState(size_t index, int64_t slot, const void *host,
                         size_t bytes) {
  const Driver &d = model_.context().driver();
  for (const StatePiece &p : statePieces(index, slot, bytes))
    d.check(d.cuMemcpyHtoD_v2(p.device,
                              static_cast<const char *>(host) + p.hostOffset,
                              p.bytes),
            "cuMemcpyHtoD(state)");
}

CUdeviceptr Session::runGraph(ValuePool &pool, const SeqTables &seqs,
                              CUdeviceptr ids, CUdeviceptr lastRows,
                              bool prefill) {
  const ModelGraph &g = model_.graph();
  GlueKernels &glue = model_.glue();
  Blas &blas = model_.blas();
  Context &ctx = model_.context();
  const dj_dtype_t dt = model_.dtype();
  const int64_t T = seqs.tokens;
  auto val = [&](const GraphStep &s, const char *role) {
    const GraphRef &r = s.operand(role);
    return r.kind == GraphRef::Weight ? model_.weight(r.index)
                                      : pool.value(r.index);
  };
  // Projections: a few rows (decode) are bandwidth-bound GEMVs, where our
  // kernel reads each weight once at full speed; cuBLASLt for the rest
  // (measured on the H200: cuBLASLt took 11-35 us per decode projection).
  auto linear = [&](CUdeviceptr x, CUdeviceptr w, CUdeviceptr y, int64_t M,
                    int64_t N, int64_t K) {
    if (M <= GlueKernels::kSmallMMax)
      glue.linearSmallM(stream_, dt, x, w, y, M, N, K);
    else
      blas.linear(stream_, dt, x, w, y, M, N, K, false);
  };
  auto width = [&](const GraphStep &s, const char *role) {
    return g.values[size_t(s.operand(role).index)].width;
  };
  const bool profile = profiler_.enabled;
  if (profile)
    profiler_.begin(ctx, g.steps.size() + 1);
  // A residual add whose result the next step RMS-normalises runs as one
  // fused kernel (both results are stored; the norm step is skipped).
  auto fusesNorm = [&](size_t i) {
    if (i + 1 >= g.steps.size() || g.steps[i].op != StepOp::Add)
      return false;
    const GraphStep &n = g.steps[i + 1];
    return n.op == StepOp::RmsNorm && !n.has("gate") &&
           n.operand("x").kind == GraphRef::Value &&
           n.operand("x").index == g.steps[i].out &&
           n.dim == g.values[size_t(g.steps[i].out)].width;
  };
  bool skipNext = false;
  for (const GraphStep &s : g.steps) {
    const size_t index = size_t(&s - g.steps.data());
    if (profile)
      profiler_.mark(stream_, index);
    if (skipNext) {
      skipNext = false;
      continue;
    }
    CUdeviceptr out = pool.value(s.out);
    int64_t outWidth = g.values[size_t(s.out)].width;
    if (fusesNorm(index)) {
      const GraphStep &n = g.steps[index + 1];
      glue.addRmsNorm(stream_, dt, val(s, "a"), val(s, "b"), val(n, "weight"),
                      out, pool.value(n.out), T, n.dim, float(n.eps));
      skipNext = true;
      continue;
    }
    switch (s.op) {
    case StepOp::Embedding:
      glue.embedding(stream_, dt, ids, val(s, "table"), out, T, s.vocab, s.dim,
                     dErr_);
      break;
    case StepOp::RmsNorm:
      glue.rmsNorm(stream_, dt, val(s, "x"), val(s, "weight"),
                   s.has("gate") ? val(s, "gate") : 0, out,
                   T * width(s, "x") / s.dim, s.dim, float(s.eps));
      break;
    case StepOp::L2Norm:
      glue.l2Norm(stream_, dt, val(s, "x"), out, T * width(s, "x") / s.dim,
                  s.dim, float(s.eps));
      break;
    case StepOp::Linear:
      if (s.out == g.logits && lastRows) {
        // Only the last token of each sequence needs logits.
        glue.gatherRows(stream_, dt, val(s, "x"), lastRows, dGather_,
                        seqs.numSeqs, s.inFeatures);
        linear(dGather_, val(s, "weight"), dLogits_, seqs.numSeqs,
               s.outFeatures, s.inFeatures);
        if (profile)
          profiler_.end(ctx, stream_, g, size_t(&s - g.steps.data()) + 1,
                        prefill);
        return dLogits_;
      }
      linear(val(s, "x"), val(s, "weight"), out, T, s.outFeatures,
             s.inFeatures);
      break;
    case StepOp::ShortConv:
      glue.shortConv(stream_, dt, val(s, "x"), val(s, "weight"), out,
                     states_[size_t(s.state)], seqs, s.channels, s.kernel,
                     activationOf(s.activation));
      break;
    case StepOp::Activation:
      glue.activation(stream_, dt, activationOf(s.activation), val(s, "x"), out,
                      T * outWidth);
      break;
    case StepOp::SwiGLU:
      glue.swiglu(stream_, dt, val(s, "gate"), val(s, "up"), out, T * outWidth);
      break;
    case StepOp::Add:
      glue.add(stream_, dt, val(s, "a"), val(s, "b"), out, T * outWidth);
      break;
    case StepOp::DeltaRule: {
      CUdeviceptr state = states_[size_t(s.state)];
      if (prefill) {
        dj_delta_rule_forward_args_t a{};
        a.dtype = dt;
        a.B = 1;
        a.T = T;
        a.H = s.heads;
        a.HV = s.vHeads;
        a.DK = s.dk;
        a.DV = s.dv;
        a.q = reinterpret_cast<const void *>(val(s, "q"));
        a.k = reinterpret_cast<const void *>(val(s, "k"));
        a.v = reinterpret_cast<const void *>(val(s, "v"));
        a.beta = reinterpret_cast<const void *>(val(s, "beta"));
        a.o = reinterpret_cast<void *>(out);
        a.h0 = reinterpret_cast<const void *>(state);
        a.ht = reinterpret_cast<void *>(state);
        a.cu_seqlens = hostCu_.data();
        a.num_seqs = seqs.numSeqs;
        a.scale = float(s.scale);
        a.use_qk_l2norm = s.useQkL2norm;
        a.chunk_size = int(s.chunk);
        deltaRuleForward(ctx, model_.package(), a, stream_);
      } else {
        dj_delta_rule_decode_args_t a{};
        a.dtype = dt;
        a.N = seqs.numSeqs;
        a.H = s.heads;
        a.HV = s.vHeads;
        a.DK = s.dk;
        a.DV = s.dv;
        a.q = reinterpret_cast<const void *>(val(s, "q"));
        a.k = reinterpret_cast<const void *>(val(s, "k"));
        a.v = reinterpret_cast<const void *>(val(s, "v"));
        a.beta = reinterpret_cast<const void *>(val(s, "beta"));
        a.o = reinterpret_cast<void *>(out);
        a.state_in = reinterpret_cast<const void *>(state);
        a.state_out = reinterpret_cast<void *>(state);
        a.scale = float(s.scale);
        a.use_qk_l2norm = s.useQkL2norm;
        deltaRuleDecode(ctx, model_.package(), a, stream_);
      }
      break;
    }
    case StepOp::Attention: {
      CUdeviceptr kCache = states_[size_t(s.state)];
      CUdeviceptr vCache = vCaches_[size_t(s.state)];
      // Rotary is applied to q in place: q's buffer is dead after this step
      // in frontend graphs (checked at load).
      glue.ropeAppendKV(stream_, dt, val(s, "q"), val(s, "k"), val(s, "v"),
                        kCache, vCache, seqs, s.heads, s.kvHeads, s.d, s.dv,
                        options_.maxContext, float(s.ropeTheta));
      glue.attention(stream_, dt, val(s, "q"), kCache, vCache, out, seqs,
                     s.heads, s.kvHeads, s.d, s.dv, options_.maxContext,
                     s.window, float(s.scale));
      break;
    }
    }
  }
  if (profile)
    profiler_.end(ctx, stream_, g, g.steps.size(), prefill);
  return pool.value(g.logits);
}

//===----------------------------------------------------------------------===//
// StepProfiler
//===----------------------------------------------------------------------===//

StepProfiler::StepProfiler() {
  const char *env = std::getenv("DELTAJIT_PROFILE");
  enabled = env && *env && std::string(env) != "0";
}

void StepProfiler::begin(Context &ctx, size_t marks) {
  const Driver &d = ctx.driver();
  while (events.size() < marks) {
    CUevent e = nullptr;
    d.check(d.cuEventCreate(&e, CU_EVENT_DEFAULT), "cuEventCreate");
    events.push_back(e);
  }
}

void StepProfiler::mark(CUstream stream, size_t index) {
  driver->cuEventRecord(events[index], stream);
}

void StepProfiler::end(Context &ctx, CUstream stream, const ModelGraph &g,
                       size_t steps, bool prefill) {
  const Driver &d = ctx.driver();
  d.check(d.cuEventRecord(events[steps], stream), "cuEventRecord");
  d.check(d.cuEventSynchronize(events[steps]), "cuEventSynchronize");
  for (size_t i = 0; i < steps; ++i) {
    float ms = 0;
    d.check(d.cuEventElapsedTime_v2(&ms, events[i], events[i + 1]),
            "cuEventElapsedTime");
    const GraphStep &s = g.steps[i];
    std::string key =
        concat(prefill ? "prefill " : "decode  ", stepOpName(s.op));
    if (s.op == StepOp::Linear)
      key += concat(" ", s.outFeatures, "x", s.inFeatures);
    Totals &t = totals[key];
    t.ms += ms;
    ++t.calls;
  }
}

void StepProfiler::report() const {
  if (!enabled || totals.empty())
    return;
  std::vector<std::pair<std::string, Totals>> rows(totals.begin(),
                                                   totals.end());
  std::sort(rows.begin(), rows.end(), [](const auto &a, const auto &b) {
    return a.second.ms > b.second.ms;
  });
  double all = 0;
  for (auto &r : rows)
    all += r.second.ms;
  std::fprintf(stderr,
               "deltajit profile (DELTAJIT_PROFILE; CUDA graphs off): %.3f ms "
               "in steps\n%-32s %8s %10s %10s %6s\n",
               all, "step", "calls", "total ms", "mean us", "share");
  for (auto &[key, t] : rows)
    std::fprintf(stderr, "%-32s %8lld %10.3f %10.2f %5.1f%%\n", key.c_str(),
                 (long long)t.calls, t.ms, 1e3 * t.ms / double(t.calls),
                 100.0 * t.ms / all);
}

void Session::checkContext(const int64_t *extra, int64_t n) const {
  bool hasKV = false;
  for (const GraphState &s : model_.graph().states)
    hasKV |= s.kind == StateKind::KV;
  if (!hasKV)
    return;
  for (int64_t i = 0; i < n; ++i)
    if (lengths_[size_t(i)] + extra[i] > options_.maxContext)
      fail(DJ_ERROR_INVALID_ARGUMENT, "sequence ", i, " would reach ",
           lengths_[size_t(i)] + extra[i],
           " tokens, more than the session's max_context (",
           options_.maxContext, ") its attention KV caches hold");
}

void Session::copyLogits(CUdeviceptr logits, int64_t rows, float *host) {
  Context &ctx = model_.context();
  const Driver &d = ctx.driver();
  const int64_t vocab = model_.graph().vocab;
  if (rows > logitsF32Rows_) {
    d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
    freeDevice(ctx, dLogitsF32_);
    int64_t cap = std::max(rows, options_.maxBatch);
    dLogitsF32_ = allocate(ctx, size_t(cap * vocab) * 4, "f32 logits");
    logitsF32Rows_ = cap;
  }
  model_.glue().toFloat(stream_, model_.dtype(), logits, dLogitsF32_,
                        rows * vocab);
  d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
  d.check(d.cuMemcpyDtoH_v2(host, dLogitsF32_, size_t(rows * vocab) * 4),
          "cuMemcpyDtoH(logits)");
}

void Session::copyNextIds(int32_t *host) {
  const Driver &d = model_.context().driver();
  d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
  if (host)
    d.check(d.cuMemcpyDtoH_v2(host, dSampled_, size_t(active_) * 4),
            "cuMemcpyDtoH(next ids)");
  haveNext_ = true;
}

void Session::sampleAndCopy(CUdeviceptr logits, int64_t rows, float temperature,
                            uint64_t seed, float *hostLogits,
                            int32_t *nextIds) {
  model_.glue().sample(stream_, model_.dtype(), logits, active_,
                       model_.graph().vocab, temperature, seed, dStep_,
                       dSampled_, dIds_);
  model_.glue().incrementI32(stream_, dStep_, 1, 1);
  if (hostLogits)
    copyLogits(logits, rows, hostLogits);
  copyNextIds(nextIds);
}

void Session::prefill(const int32_t *ids, const int64_t *lengths, int64_t n,
                      float temperature, uint64_t seed, float *logits,
                      bool allLogits, int32_t *nextIds) {
  if (n < 1 || n > options_.maxBatch)
    fail(DJ_ERROR_INVALID_ARGUMENT, "num_seqs is ", n,
         "; it must be in [1, max_batch = ", options_.maxBatch, "]");
  if (!ids || !lengths)
    fail(DJ_ERROR_INVALID_ARGUMENT, "ids and lengths are required");
  const ModelGraph &g = model_.graph();
  int64_t tokens = 0, maxLen = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (lengths[i] < 1)
      fail(DJ_ERROR_INVALID_ARGUMENT, "lengths[", i, "] is ", lengths[i],
           "; every prompt needs at least one token");
    tokens += lengths[i];
    maxLen = std::max(maxLen, lengths[i]);
  }
  for (int64_t t = 0; t < tokens; ++t)
    if (ids[t] < 0 || ids[t] >= g.vocab)
      fail(DJ_ERROR_INVALID_ARGUMENT, "ids[", t, "] = ", ids[t],
           " is outside the vocabulary [0, ", g.vocab, ")");
  checkContext(lengths, n);

  Context &ctx = model_.context();
  const Driver &d = ctx.driver();
  // Host tables.
  hostCu_.assign(size_t(n + 1), 0);
  std::vector<int32_t> cu(static_cast<size_t>(n + 1)),
      seq(static_cast<size_t>(tokens)), pos(static_cast<size_t>(tokens)),
      last(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    hostCu_[size_t(i + 1)] = hostCu_[size_t(i)] + lengths[i];
    cu[size_t(i + 1)] = int32_t(hostCu_[size_t(i + 1)]);
    last[size_t(i)] = int32_t(hostCu_[size_t(i + 1)] - 1);
    for (int64_t j = 0; j < lengths[i]; ++j) {
      seq[size_t(hostCu_[size_t(i)] + j)] = int32_t(i);
      pos[size_t(hostCu_[size_t(i)] + j)] = int32_t(lengths_[size_t(i)] + j);
    }
  }
  d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
  if (tokens > pTokens_) {
    for (CUdeviceptr *p : {&pIds_, &pSeq_, &pPos_, &pCu_})
      freeDevice(ctx, *p);
    int64_t cap = std::max(tokens, pTokens_ * 2);
    pIds_ = allocate(ctx, size_t(cap) * 4, "prefill ids");
    pSeq_ = allocate(ctx, size_t(cap) * 4, "prefill tables");
    pPos_ = allocate(ctx, size_t(cap) * 4, "prefill tables");
    pCu_ = allocate(ctx, size_t(options_.maxBatch + 1) * 4, "prefill tables");
    pTokens_ = cap;
  }
  if (!dGather_) {
    int64_t widest = 0;
    for (const GraphValue &v : g.values)
      widest = std::max(widest, v.width);
    dGather_ =
        allocate(ctx, size_t(options_.maxBatch * widest) * 2, "gathered rows");
  }
  prefillPool_.reserve(ctx, tokens, model_.elementSize());
  d.check(d.cuMemcpyHtoD_v2(pIds_, ids, size_t(tokens) * 4), "cuMemcpyHtoD");
  d.check(d.cuMemcpyHtoD_v2(pSeq_, seq.data(), seq.size() * 4), "cuMemcpyHtoD");
  d.check(d.cuMemcpyHtoD_v2(pPos_, pos.data(), pos.size() * 4), "cuMemcpyHtoD");
  d.check(d.cuMemcpyHtoD_v2(pCu_, cu.data(), cu.size() * 4), "cuMemcpyHtoD");
  d.check(d.cuMemcpyHtoD_v2(dLastRows_, last.data(), last.size() * 4),
          "cuMemcpyHtoD");

  SeqTables seqs;
  seqs.cuSeqlens = pCu_;
  seqs.tokSeq = pSeq_;
  seqs.tokPos = pPos_;
  seqs.numSeqs = n;
  seqs.tokens = tokens;
  seqs.maxSeqTokens = maxLen;
  active_ = n;
  CUdeviceptr out =
      runGraph(prefillPool_, seqs, pIds_, allLogits ? 0 : dLastRows_, true);
  CUdeviceptr lastLogits = out;
  if (allLogits) {
    model_.glue().gatherRows(stream_, model_.dtype(), out, dLastRows_, dLogits_,
                             n, g.vocab);
    lastLogits = dLogits_;
  }
  if (allLogits && logits) {
    // All rows to the host; sampling reads the gathered last rows.
    sampleAndCopy(lastLogits, 0, temperature, seed, nullptr, nextIds);
    copyLogits(out, tokens, logits);
  } else {
    sampleAndCopy(lastLogits, n, temperature, seed, logits, nextIds);
  }
  int32_t err = 0;
  d.check(d.cuMemcpyDtoH_v2(&err, dErr_, 4), "cuMemcpyDtoH(error flag)");
  if (err)
    fail(DJ_ERROR_INTERNAL, "the embedding kernel saw an id outside the "
                            "vocabulary (host checks passed: memory error?)");
  for (int64_t i = 0; i < n; ++i)
    lengths_[size_t(i)] += lengths[i];
}

void Session::uploadDecodeTables() {
  const Driver &d = model_.context().driver();
  std::vector<int32_t> pos(static_cast<size_t>(active_));
  for (int64_t i = 0; i < active_; ++i)
    pos[size_t(i)] = int32_t(lengths_[size_t(i)]);
  d.check(d.cuMemcpyHtoDAsync_v2(dPos_, pos.data(), pos.size() * 4, stream_),
          "cuMemcpyHtoDAsync(positions)");
  d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
}

void Session::decodeStep(float temperature, uint64_t seed) {
  SeqTables seqs;
  seqs.cuSeqlens = dIota_;
  seqs.tokSeq = dIota_;
  seqs.tokPos = dPos_;
  seqs.numSeqs = active_;
  seqs.tokens = active_;
  seqs.maxSeqTokens = 1;
  CUdeviceptr logits = runGraph(decodePool_, seqs, dIds_, 0, false);
  model_.glue().sample(stream_, model_.dtype(), logits, active_,
                       model_.graph().vocab, temperature, seed, dStep_,
                       dSampled_, dIds_);
  model_.glue().incrementI32(stream_, dStep_, 1, 1);
  model_.glue().incrementI32(stream_, dPos_, active_, 1);
}

void Session::decode(const int32_t *ids, float temperature, uint64_t seed,
                     float *logits, int32_t *nextIds) {
  if (active_ < 1)
    fail(DJ_ERROR_INVALID_ARGUMENT,
         "no active batch: run a prefill before decoding");
  const ModelGraph &g = model_.graph();
  const Driver &d = model_.context().driver();
  if (ids) {
    for (int64_t i = 0; i < active_; ++i)
      if (ids[i] < 0 || ids[i] >= g.vocab)
        fail(DJ_ERROR_INVALID_ARGUMENT, "ids[", i, "] = ", ids[i],
             " is outside the vocabulary [0, ", g.vocab, ")");
    d.check(d.cuMemcpyHtoD_v2(dIds_, ids, size_t(active_) * 4),
            "cuMemcpyHtoD(ids)");
  } else if (!haveNext_) {
    fail(DJ_ERROR_INVALID_ARGUMENT, "ids is NULL but no token was sampled yet");
  }
  std::vector<int64_t> one(static_cast<size_t>(active_), 1);
  checkContext(one.data(), active_);
  uploadDecodeTables();
  decodeStep(temperature, seed);
  if (logits)
    copyLogits(decodePool_.value(g.logits), active_, logits);
  copyNextIds(nextIds);
  for (int64_t i = 0; i < active_; ++i)
    ++lengths_[size_t(i)];
}

void Session::generate(int64_t steps, float temperature, uint64_t seed,
                       int32_t *outIds) {
  if (active_ < 1)
    fail(DJ_ERROR_INVALID_ARGUMENT,
         "no active batch: run a prefill before generating");
  if (!haveNext_)
    fail(DJ_ERROR_INVALID_ARGUMENT, "no sampled token to continue from");
  if (steps < 0)
    fail(DJ_ERROR_INVALID_ARGUMENT, "steps is ", steps, "; it must be >= 0");
  if (steps == 0)
    return;
  std::vector<int64_t> extra(static_cast<size_t>(active_), steps);
  checkContext(extra.data(), active_);
  Context &ctx = model_.context();
  const Driver &d = ctx.driver();
  uploadDecodeTables();
  CUdeviceptr history =
      ctx.workspace(stream_, "generate.history", size_t(steps * active_) * 4);
  if (options_.useCudaGraph &&
      (graphBatch_ != active_ || graphTemperature_ != temperature ||
       graphSeed_ != seed))
    dropGraph();
  auto record = [&](int64_t step) {
    d.check(d.cuMemcpyDtoDAsync_v2(history + size_t(step * active_) * 4,
                                   dSampled_, size_t(active_) * 4, stream_),
            "cuMemcpyDtoDAsync(sampled ids)");
  };
  int64_t first = 0;
  if (options_.useCudaGraph && !graphExec_) {
    // The first step runs uncaptured: it sizes the per-stream workspaces
    // (attention partials, GEMM plans) that a captured step must not
    // allocate.
    decodeStep(temperature, seed);
    record(0);
    first = 1;
    if (steps > 1) {
      CUgraph graph = nullptr;
      d.check(d.cuStreamBeginCapture_v2(stream_,
                                        CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
              "cuStreamBeginCapture");
      try {
        decodeStep(temperature, seed);
      } catch (...) {
        d.cuStreamEndCapture(stream_, &graph);
        if (graph)
          d.cuGraphDestroy(graph);
        throw;
      }
      d.check(d.cuStreamEndCapture(stream_, &graph), "cuStreamEndCapture");
      CUresult r = d.cuGraphInstantiateWithFlags(&graphExec_, graph, 0);
      d.cuGraphDestroy(graph);
      d.check(r, "cuGraphInstantiateWithFlags (decode step)");
      graphBatch_ = active_;
      graphTemperature_ = temperature;
      graphSeed_ = seed;
    }
  }
  for (int64_t s = first; s < steps; ++s) {
    if (graphExec_)
      d.check(d.cuGraphLaunch(graphExec_, stream_), "cuGraphLaunch");
    else
      decodeStep(temperature, seed);
    record(s);
  }
  d.check(d.cuStreamSynchronize(stream_), "cuStreamSynchronize");
  if (outIds)
    d.check(d.cuMemcpyDtoH_v2(outIds, history, size_t(steps * active_) * 4),
            "cuMemcpyDtoH(generated ids)");
  for (int64_t i = 0; i < active_; ++i)
    lengths_[size_t(i)] += steps;
}

} // namespace deltajit
