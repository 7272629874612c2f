//===- ConvertDeltaToNVVM.cpp - the convert-delta-to-nvvm pass ------------===//
//
// Outlines delta.chunk_loop and delta.delta_rule_step into gpu.func kernels
// (tensor cores through the target's TensorCoreEmitter) and replaces them in
// host code by delta.launch with the launch contract of the package format.
// The chunk kernels are built here (ChunkLoopKernel); their shared-memory
// plan is SmemPlan.cpp, the UT transform UTTransform.cpp, the register
// scan's step RegisterScan.cpp, the decode kernel DecodeKernel.cpp, the
// launch contract KernelLaunch.cpp.
//
//===----------------------------------------------------------------------===//

#include "DecodeKernel.h"
#include "KernelBuilder.h"
#include "KernelLaunch.h"
#include "RegisterScan.h"
#include "SegmentScan.h"
#include "SmemPlan.h"
#include "UTTransform.h"
#include "deltajit/Codegen/NVIDIA/TargetInfo.h"
#include "deltajit/Codegen/PackageWriter.h"
#include "deltajit/Codegen/Passes.h"
#include "deltajit/Dialect/DeltaOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <functional>
#include <map>
#include <memory>

namespace deltajit {
#define GEN_PASS_DEF_CONVERTDELTATONVVM
#include "deltajit/Codegen/Passes.h.inc"
} // namespace deltajit

using namespace mlir;
using namespace deltajit;
using namespace deltajit::delta;
using namespace deltajit::nvidia;
using arith::CmpIPredicate;

namespace {

constexpr StringLiteral kKernelModule = "deltajit_kernels";
/// decode-block-v's default (Passes.td): measured on the H200 (d = 128,
/// 16 heads, batches 1-256), 64 columns per program (16 rows per thread)
/// beat 16, 32 and 128. Decode kernels of the default width carry no
/// `_v<N>` suffix.
constexpr int64_t kDefaultDecodeBlockV = 64;
/// Warps of a generic three-phase scan of at most kNarrowScanBlockV value
/// columns (see ChunkLoopKernel's constructor).
constexpr int64_t kNarrowScanWarps = 4, kNarrowScanBlockV = 32;

/// Chunk kernels keep their state in registers when it takes at most this
/// many f32 registers per thread.
constexpr int64_t kMaxStateRegisters = 64;

//===----------------------------------------------------------------------===//
// Kernel emission
//===----------------------------------------------------------------------===//

/// Which kernel of a chunk loop to emit: the whole body per chunk (fused),
/// or split in two: the body ops that do not depend on the state, for all
/// chunks in parallel (prepare), and the state-dependent rest, sequential
/// over chunks (scan), with the values crossing from one to the other kept
/// in global scratch; or in three: prepare, a scan of only the ops the next
/// state depends on (which also writes each chunk's starting state and the
/// values the outputs need), and the output ops for all chunks in parallel
/// (output). (TargetInfo's KernelKind, which also picks each kernel's
/// tensor-core family.)
using Part = KernelKind;

/// Which of the segment scan's kernels (SegmentScan.h) a scan is: none, the
/// segments' transitions, or the scan from the segments' starting states.
enum class SegmentRole { None, Transitions, FromStarts };

/// A state-free value the scan part reads from scratch.
struct BoundaryValue {
  Value value;
  bool perVTile; ///< depends on the value tile (else one per chunk)
  std::string name;
};

/// Lowers one delta.chunk_loop to a kernel (see Passes.td).
class ChunkLoopKernel {
public:
  ChunkLoopKernel(ChunkLoopOp loop, const TargetInfo &target,
                  const TensorCoreEmitter &tc, Part part = Part::Fused,
                  bool fuseEpilogues = true, bool threePhase = false,
                  bool allowStateInRegisters = true, bool doubleBuffer = true,
                  bool allowRegisterScan = true,
                  bool allowAccumulatorChains = true, bool outputInScan = false)
      : loop(loop), target(target), tc(tc), part(part),
        fuseEpilogues(fuseEpilogues),
        // Measured on the H200 (x16 heads, d = 128): the scan gains from
        // the double buffer (no copies; 1x16384 scan 655 -> 520 us), the
        // fused kernel loses (8x2048: 0.699 -> 0.788 ms, the run-time tile
        // offsets spill at 255 registers).
        doubleBuffer(doubleBuffer && part == Part::Scan),
        threePhase(threePhase), outputInScan(threePhase && outputInScan) {
    auto qType = cast<RankedTensorType>(loop.getQ().getType());
    elt = qType.getElementType();
    dk = qType.getDimSize(3);
    dv = cast<RankedTensorType>(loop.getV().getType()).getDimSize(3);
    chunk = loop.getChunk();
    bv = loop.getBlockV();
    warps = loop.getTile().getWarps();
    threads = warps * 32;
    analyze();
    if (allowRegisterScan)
      matchRegisterScan();
    if (registerScanHere()) { // one warp per 16 value columns (per half)
      warps = bv / RegisterScanStep::kWarpColumns * rsHalves;
      threads = warps * 32;
    }
    // A generic three-phase scan of at most kNarrowScanBlockV value columns
    // runs on kNarrowScanWarps warps whatever the tile's warps: its
    // products are too small to share among 8 (measured on the H200:
    // docs/codegen.md, eleventh session).
    if (part == Part::Scan && threePhase && !registerScanHere() &&
        bv <= kNarrowScanBlockV && warps > kNarrowScanWarps) {
      warps = kNarrowScanWarps;
      threads = warps * 32;
    }
    stateInRegisters =
        allowStateInRegisters && !registerScanHere() && findRegisterState();
    if (allowAccumulatorChains)
      findAccumulatorChains();
  }

  /// Checks what this lowering supports; emits an error on `loop` if not
  /// (except, with `quietSharedMemory`, for a plan over the shared-memory
  /// limit: then only `overSharedMemory` is set).
  LogicalResult check(bool quietSharedMemory = false) {
    if (!elt.isBF16() && !elt.isF16())
      return loop.emitOpError()
             << "the NVIDIA lowering needs bf16 or f16 q/k/v, got " << elt;
    if (dk % 16 != 0 || bv % 8 != 0)
      return loop.emitOpError() << "the NVIDIA lowering needs dk % 16 == 0 "
                                   "and block_v % 8 == 0, got dk = "
                                << dk << ", block_v = " << bv;
    Block &body = loop.getBody().front();
    for (Operation &op : body.without_terminator()) {
      if (!isa<TileMatmulOp, TileMaskOp, TileRowScaleOp, TileUTTransformOp,
               TileConvertOp>(op))
        return op.emitOpError() << "is not supported in chunk bodies by the "
                                   "NVIDIA lowering";
      if (auto mm = dyn_cast<TileMatmulOp>(op)) {
        TileProduct p = product(mm, nullptr, nullptr);
        if (auto why = tc.unsupported(p))
          return mm.emitOpError() << *why;
      }
    }
    // Scratch slots hold a per-value-tile value in its columns of a
    // rows x dv slot (boundaryBase): such values must be rows x block_v.
    for (const auto *list : {&boundary, &scanBoundary})
      for (const BoundaryValue &b : *list)
        if (b.perVTile &&
            cast<RankedTensorType>(b.value.getType()).getDimSize(1) != bv)
          return loop.emitOpError()
                 << "the NVIDIA lowering needs the value-dependent tiles "
                    "that cross between its kernels to be block_v ("
                 << bv << ") columns wide, got " << b.value.getType();
    SmallVector<Value> crossing, loaded, stored;
    for (const BoundaryValue &b : boundary)
      crossing.push_back(b.value);
    if (part == Part::Prepare)
      stored = crossing;
    // Scratch values the plan must place (block arguments, e.g. the
    // normalised k tile, have their tiles already).
    if (part == Part::Scan || part == Part::Output)
      for (const BoundaryValue *b : loads())
        if (!isa<BlockArgument>(b->value))
          loaded.push_back(b->value);
    if (part == Part::Scan)
      for (const BoundaryValue &b : scanBoundary)
        if (b.value != loop.getStateTile())
          stored.push_back(b.value);
    SmallVector<Value> inRegisters;
    if (stateInRegisters)
      inRegisters = {loop.getStateTile(), stateUpdate.getResult()};
    // The register scan stages Sb and Vn in their tiles on their way to
    // scratch; X and the states stay in registers.
    if (registerScanHere())
      inRegisters = {loop.getStateTile(), rsX.getResult(), rsNext.getResult()};
    // Computing the output too, it stages nothing: the output goes through
    // the warp's columns of v's tile. (Two halves of dk keep Sb's tile as
    // the pairs' exchange area for partial sums.)
    if (registerScanHere() && outputInScan) {
      llvm::append_range(inRegisters,
                         SmallVector<Value>{rsVn.getResult(), rsQS.getResult(),
                                            rsOut.getResult()});
      if (rsHalves == 1)
        inRegisters.push_back(rsConvert.getResult());
      // The transitions read neither q nor P: no tiles for them (three
      // programs then fit in an SM's shared memory).
      if (!readsQP())
        llvm::append_range(inRegisters,
                           SmallVector<Value>{loop.getQTile(), rsOut.getA()});
    }
    for (auto [second, first] : chainedFirst) {
      inRegisters.push_back(first.getResult());
      plan.readsUntil[first] = second;
    }
    if (outputInEpilogue)
      inRegisters.push_back(outputInEpilogue);
    // Double-buffered scratch values alternate with their staging buffers:
    // their tiles must stay theirs for the whole chunk.
    SmallVector<Value> pinned;
    if (doubleBuffer)
      pinned = loaded;
    plan.coreMatrixTiles = tc.wantsCoreMatrixTiles();
    // Prepare loads its chunk once and stores what crosses as soon as it is
    // final (emitOpsStoring): those tiles are free after their last use.
    plan.chunkPerProgram = part == Part::Prepare;
    plan.splitElt = elt;
    plan.splitValues = findSplitTiles(crossing, loaded, stored);
    if (failed(plan.build(
            loop, [&](Operation *op) { return included(op); }, loaded, stored,
            /*keepState=*/part == Part::Fused || part == Part::Scan,
            [&](Operation *op) { return repeatedPerValueTile(op); },
            inRegisters, pinned)))
      return failure();
    overSharedMemory = plan.totalBytes() > target.maxSharedBytes;
    if (overSharedMemory) {
      if (quietSharedMemory)
        return failure();
      return loop.emitOpError()
             << "needs " << plan.totalBytes()
             << " bytes of shared memory, more than the "
             << target.maxSharedBytes << " of " << target.chip
             << ": use a smaller block_v or chunk";
    }
    planStaging();
    if (part == Part::Prepare && stagedBytes > target.maxSharedBytes)
      return loop.emitOpError()
             << "needs " << stagedBytes
             << " bytes of shared memory (q's and k's norms "
             << "after the plan), more than the " << target.maxSharedBytes
             << " of " << target.chip << ": use a smaller chunk";
    return success();
  }

  bool overSharedMemory = false;

  /// The chunk loop this kernel lowers, and its tensor-core family.
  ChunkLoopOp lowered() { return loop; }
  const TensorCoreEmitter &family() const { return tc; }
  /// Whether this kernel is the register scan (matchRegisterScan).
  bool registerScanHere() const { return registerScan; }
  /// Makes this scan one of the segment scan's kernels (SegmentScan.h):
  /// the transitions or the scan from the segments' starts.
  void segment(SegmentRole role) { segRole = role; }
  /// Why this scan cannot be split into segments, or nullopt: it must be
  /// the one-half register scan that computes the output, read nothing
  /// per value tile from scratch (the transitions' tiles run past dv), and
  /// its value tiles must not straddle M's and N's columns.
  std::optional<std::string> whyNotSegmented() const {
    if (!computesOutput() || rsHalves != 1)
      return std::string("the scan is not the register scan that computes "
                         "the output at one warpgroup per 64 columns (needs "
                         "the wgmma family, dk <= 128, block_v 64 or 128, "
                         "output-in-scan)");
    if (dk % bv != 0)
      return "block_v (" + std::to_string(bv) + ") does not divide dk (" +
             std::to_string(dk) + ")";
    for (const BoundaryValue *b : loads())
      if (b->perVTile)
        return "the scan reads '" + b->name + "' per value tile";
    return std::nullopt;
  }
  /// Whether this scan also computes and stores the output (no output
  /// kernel; matchOutputInScan).
  bool computesOutput() const {
    return part == Part::Scan && registerScan && outputInScan;
  }
  /// Whether this prepare also stores q's inverse row norms (for a scan
  /// that computes the output: qNormsCross).
  bool storesQNorms() const { return part == Part::Prepare && qNormsCross; }
  /// Whether it also stores k's, and leaves k unnormalised (kNormsCross).
  bool storesKNorms() const { return part == Part::Prepare && kNormsCross; }
  /// Whether this output kernel chains its products and stores o from the
  /// chain (findAccumulatorChains).
  bool chainsOutput() const {
    return !chainedFirst.empty() || outputInEpilogue;
  }

  /// The scratch buffers of a split lowering: name and size formula.
  SmallVector<std::pair<std::string, std::string>> scratch() const {
    SmallVector<std::pair<std::string, std::string>> result;
    for (const auto *list : {&boundary, &scanBoundary})
      for (const BoundaryValue &b : *list)
        result.push_back(
            {b.name, "total_chunks * HV * " +
                         std::to_string(scratchElems(b) * bytesOf(b.value))});
    if (qNormsCross)
      result.push_back({"ws_norms", "total_chunks * HV * " +
                                        std::to_string(normsPerChunk() * 4)});
    return result;
  }

  LaunchSpec emit(OpBuilder &b, gpu::GPUModuleOp mod, StringRef name) {
    LaunchSpec spec;
    spec.kernel = name.str();
    spec.block = threads;
    spec.sharedBytes = std::max(plan.totalBytes(), stagedBytes);
    if (part == Part::Prepare || part == Part::Output) {
      spec.params = {{"q", "ptr"},    {"k", "ptr"},           {"v", "ptr"},
                     {"beta", "ptr"}, {"chunk_spans", "ptr"}, {"H", "i32"},
                     {"HV", "i32"}};
      if (part == Part::Output) {
        spec.params.push_back({"o", "ptr"});
        spec.params.push_back({"scale", "f32"});
      }
      // Value tiles loop inside the program (see perValueTileLoop).
      spec.grid = {"total_chunks", "HV", "1"};
    } else {
      spec.params = {{"q", "ptr"},    {"k", "ptr"},          {"v", "ptr"},
                     {"beta", "ptr"}, {"o", "ptr"},          {"h0", "ptr"},
                     {"ht", "ptr"},   {"cu_seqlens", "ptr"}, {"H", "i32"},
                     {"HV", "i32"},   {"has_h0", "i32"},     {"has_ht", "i32"},
                     {"scale", "f32"}};
      if (part == Part::Scan)
        spec.params.push_back({"chunk_offsets", "ptr"});
      spec.grid = {std::to_string(dv / bv), "N * HV", "1"};
      if (segRole != SegmentRole::None) {
        bool transitions = segRole == SegmentRole::Transitions;
        spec.params.push_back({"max_chunks", "i32"});
        spec.params.push_back({kSegLength.str(), "i32"});
        spec.params.push_back(
            {(transitions ? kSegTransitions : kSegStarts).str(), "ptr"});
        // The transitions' programs cover [M | N]'s dk + dv columns.
        spec.grid = {std::to_string((transitions ? dk + dv : dv) / bv),
                     "N * HV",
                     transitions ? SegmentLayout::transitionSlotsFormula()
                                 : SegmentLayout::segmentsFormula()};
      }
    }
    if (part != Part::Fused)
      for (const auto *list : {&boundary, &scanBoundary})
        for (const BoundaryValue &bv : *list)
          spec.params.push_back({bv.name, "ptr"});
    if (qNormsCross && part != Part::Fused)
      spec.params.push_back({"ws_norms", "ptr"});

    Location loc = loop.getLoc();
    // The forward's kernels follow each other on one stream (and prepare
    // reuses the scratch that the previous call's output reads): each waits
    // for its predecessor in-kernel, so the runtime may launch it early.
    // Prepare and the scan let their successor launch only as their blocks
    // exit: triggered at their top, the forward lost up to 27% on the H200
    // (1 x 16384 0.49 -> 0.63 ms; not profiled, likely the scan's few
    // programs launched into prepare's last wave and stacked on the SMs
    // freed first, and the output, launched at the scan's start, holding
    // its SMs' shared memory for the whole scan).
    KernelBody body = beginKernel(
        b, loc, mod, spec, target.programmaticLaunch(),
        /*launchDependentsEarly=*/part == Part::Output || part == Part::Fused);
    params = std::move(body.params);
    KernelBuilder &kb = body.kb;
    auto fit = [&](int64_t programs) {
      return programs * (spec.sharedBytes +
                         TargetInfo::kReservedSharedBytesPerBlock) <=
             target.sharedBytesPerSM;
    };
    auto capRegisters = [&](int64_t programs) {
      int64_t maxRegs = 65536 / (programs * threads) / 8 * 8;
      if (maxRegs < 255 && fit(programs))
        body.func->setAttr(NVVM::NVVMDialect::getMaxnregAttrName(),
                           b.getI32IntegerAttr(int32_t(maxRegs)));
    };
    if (part == Part::Prepare || part == Part::Output) {
      // Chunk-parallel kernels are latency-bound chains of short phases:
      // cap registers so that two programs share an SM (the H200's JIT gave
      // prepare 129 registers, one program per SM, without the cap) when
      // their shared memory lets two share it (else the cap only spills:
      // dk = 256 prepare at 128 registers spilled 44 bytes); three when
      // three fit (prepare at d <= 128: 85 -> 80 registers), four when four
      // fit (prepare at d <= 128 once its plan frees q's tile early: 64
      // registers, no spill).
      capRegisters(fit(4) ? 4 : fit(3) ? 3 : 2);
    } else if (segRole == SegmentRole::Transitions && fit(3)) {
      // The segment transitions (no q, P or output tiles) fit three per SM
      // in shared memory at d = 128: 168 registers (ptxas: 204 uncapped,
      // 163 capped, no spill). Four would need 128, less than the state
      // and the products' operands.
      capRegisters(3);
    }
    kb.asyncProxyFence = tc.readsThroughAsyncProxy();
    // Unrolled thread loops (KernelBuilder::forEachThreaded) in the prepare
    // and scan kernels only. Measured on the H200 (x16 heads, d = 128): the
    // output kernel lost its third program per SM (74 -> 95 registers;
    // 157 -> 176 us at 1x16384), the fused kernel spilled more (8x2048:
    // 0.699 -> 0.781 ms). Not in a scan whose state takes the most
    // registers it may (kMaxStateRegisters: d = 128, block_v 128): its
    // unrolled scratch stores spilled 56 bytes at 255 registers (rolled:
    // 248, no spill).
    bool fullState =
        stateInRegisters && stateRegisterCount() >= kMaxStateRegisters;
    if (part == Part::Prepare || (part == Part::Scan && !fullState))
      kb.blockSize = threads;
    if (part == Part::Prepare || part == Part::Output)
      emitChunkParallelBody(kb);
    else
      emitBody(kb);
    gpu::ReturnOp::create(b, loc);
    return spec;
  }

private:
  /// The chunk-parallel kernels loop over the value tiles inside one
  /// program (grid z = 1): prepare runs the ops that do not depend on v
  /// once per chunk, then those that do once per value tile; output loads
  /// and normalises q once, then runs its ops once per value tile.
  bool perValueTileLoop() const {
    if (dv <= bv)
      return false;
    if (part == Part::Output)
      return true;
    // Prepare: only when some of its ops depend on v (a WY-form body's
    // U = T V; delta-chunk-tile's body has none).
    return part == Part::Prepare &&
           llvm::any_of(valueDependent,
                        [&](Operation *op) { return included(op); });
  }
  /// The ops a value-tile loop repeats (none without the loop).
  bool repeatedPerValueTile(Operation *op) const {
    return perValueTileLoop() &&
           (part == Part::Output || valueDependent.count(op));
  }

  /// Emits `body` once per value tile of this program (scf.for), with
  /// vTile and v0 set to the tile's.
  void forEachValueTile(KernelBuilder &kb, function_ref<void()> body) {
    kb.forRange(kb.c32(0), kb.c32(dv / bv), kb.c32(1), [&](Value vt) {
      vTile = vt;
      v0 = kb.mul(vt, kb.c32(bv));
      body();
    });
  }

  /// Splits the body into state-dependent ops and the rest, and finds the
  /// state-free values the state-dependent ops (or the yield) read.
  void analyze() {
    Block &body = loop.getBody().front();
    llvm::DenseSet<Value> onState{loop.getStateTile()};
    llvm::DenseSet<Value> onV{loop.getVTile()};
    for (Operation &op : body.without_terminator()) {
      bool s = llvm::any_of(op.getOperands(),
                            [&](Value v) { return onState.count(v); });
      bool v =
          llvm::any_of(op.getOperands(), [&](Value x) { return onV.count(x); });
      for (Value r : op.getResults()) {
        if (s)
          onState.insert(r);
        if (v)
          onV.insert(r);
      }
      if (s)
        stateDependent.insert(&op);
      if (v)
        valueDependent.insert(&op);
    }
    for (Operation &op : body.without_terminator()) {
      if (stateDependent.count(&op) || op.getNumResults() != 1)
        continue;
      Value r = op.getResult(0);
      bool crosses = llvm::any_of(r.getUsers(), [&](Operation *u) {
        return stateDependent.count(u) || isa<ChunkYieldOp>(u);
      });
      if (crosses)
        boundary.push_back(
            {r, bool(onV.count(r)), "ws" + std::to_string(boundary.size())});
    }
    if (!threePhase)
      return;
    // The recurrence: the state-dependent ops the next state depends on.
    SmallVector<Value> work{loop.getYield().getState()};
    while (!work.empty()) {
      Operation *def = work.pop_back_val().getDefiningOp();
      if (!def || !stateDependent.count(def) || !recurrence.insert(def).second)
        continue;
      llvm::append_range(work, def->getOperands());
    }
    auto isOutputOp = [&](Operation *u) {
      return stateDependent.count(u) && !recurrence.count(u);
    };
    // What the output ops read from the scan (none when the scan computes
    // them): recurrence results (per value tile) and the state each chunk
    // starts from.
    for (Operation &op : body.without_terminator()) {
      if (outputInScan)
        break;
      if (!recurrence.count(&op) || op.getNumResults() != 1)
        continue;
      Value r = op.getResult(0);
      if (llvm::any_of(r.getUsers(), isOutputOp))
        scanBoundary.push_back(
            {r, true, "wss" + std::to_string(scanBoundary.size())});
    }
    Value state = loop.getStateTile();
    if (!outputInScan && llvm::any_of(state.getUsers(), isOutputOp))
      scanBoundary.push_back({state, true, "ws_state"});
    // A scan that also computes the output reads q as given and scales
    // Q Sb's rows by q's inverse norms, which prepare computes for Q K^T
    // and stores (ws_norms: chunk f32 per chunk and v-head, 256 bytes at
    // chunk 64, instead of the normalised q tile, 16 KB at dk = 128).
    Value q = loop.getQTile(), k = loop.getKTile();
    qNormsCross = outputInScan && loop.getUseQkL2norm() &&
                  llvm::any_of(q.getUsers(), isOutputOp);
    // At bf16 such a scan also reads k as given, with k's inverse norms D_k
    // (another chunk f32 in ws_norms) in the algebra instead of K_n = D_k K
    // (docs/codegen.md, eighteenth session): X = V - D_k (K S), prepare's
    // T' = D_k T, Vn' = T' X = D_k Vn, S += K^T Vn', P' = mask(Q_n K^T) (so
    // P' Vn' = P Vn), A = strict_lower(D_beta D_k K K^T D_k). (Not at fp16:
    // P' grows with k's norms, which fp16's range may not hold.)
    kNormsCross = qNormsCross &&
                  getElementTypeOrSelf(loop.getK().getType()).isBF16() &&
                  kNormsAlgebraHolds();
    // Otherwise, with in-kernel q/k L2 norm, prepare hands the scan the
    // normalised k tile (16-bit, as it is used) instead of the scan
    // reloading and normalising k every chunk step: the norms' reduction
    // chains and a barrier leave the scan's sequential critical path, at the
    // cost of one more chunk-parallel store (measured on the H200: see
    // docs/codegen.md).
    if (loop.getUseQkL2norm() && !kNormsCross &&
        llvm::any_of(k.getUsers(),
                     [&](Operation *u) { return recurrence.count(u); }))
      boundary.push_back({k, false, "ws_k"});
  }

  /// Whether k is read only where D_k can move as kNormsCross moves it
  /// (checked on the body, the same for every part): by K K^T (whose
  /// epilogue scales by D_k on both sides) and Q K^T (P'), by X = V - K S
  /// and by S += K^T Vn (the register scan's forms), and whether each UT
  /// transform's T is read only as the A operand of one product (Vn, so
  /// T' = D_k T reaches nothing else).
  bool kNormsAlgebraHolds() {
    Value k = loop.getKTile(), q = loop.getQTile();
    Value v = loop.getVTile(), state = loop.getStateTile();
    SmallVector<Value> qk; // the Q K^T products
    for (Operation *u : k.getUsers()) {
      auto mm = dyn_cast<TileMatmulOp>(u);
      if (!mm || mm.getAlpha() || mm.getSplitF32())
        return false;
      bool gram = mm.getB() == k && mm.getTransposeB() && !mm.getTransposeA() &&
                  (mm.getA() == k || mm.getA() == q) && !mm.getAcc() &&
                  !mm.getNegate();
      bool x = mm.getA() == k && mm.getB() != k && !mm.getTransposeA() &&
               !mm.getTransposeB() && mm.getAcc() == v && mm.getNegate();
      bool update = mm.getA() == k && mm.getB() != k && mm.getTransposeA() &&
                    !mm.getTransposeB() && mm.getAcc() == state &&
                    !mm.getNegate();
      if (!gram && !x && !update)
        return false;
      if (gram && mm.getA() == q)
        qk.push_back(mm.getResult());
    }
    // q as given in prepare too: read only by Q K^T and by Q Sb (the
    // scan's, scaled by q's norms there).
    for (Operation *u : q.getUsers()) {
      auto mm = dyn_cast<TileMatmulOp>(u);
      if (!mm || mm.getA() != q || mm.getTransposeA() || mm.getB() == q ||
          (mm.getB() != k && !mm.getB().getDefiningOp<TileConvertOp>()))
        return false;
    }
    // T's only reader computes Vn; Vn' = D_k Vn is read only by S's update
    // (K^T Vn') and as the B operand of products whose A is mask(Q K^T).
    auto onlyUser = [](Value x) -> Operation * {
      return x.hasOneUse() ? *x.getUsers().begin() : nullptr;
    };
    SmallVector<Value> vns;
    for (auto ut : loop.getBody().front().getOps<TileUTTransformOp>()) {
      auto vn = dyn_cast_or_null<TileMatmulOp>(onlyUser(ut.getResult()));
      if (!vn || vn.getA() != ut.getResult() || vn.getB() == vn.getA())
        return false;
      vns.push_back(vn.getResult());
    }
    if (vns.empty())
      return false;
    llvm::DenseSet<Value> masked;
    for (Value x : qk) {
      auto mask = dyn_cast_or_null<TileMaskOp>(onlyUser(x));
      if (!mask)
        return false;
      masked.insert(mask.getResult());
    }
    for (Value vn : vns)
      for (Operation *u : vn.getUsers()) {
        auto mm = dyn_cast<TileMatmulOp>(u);
        bool update = mm && mm.getA() == k && mm.getTransposeA();
        if (!mm || mm.getB() != vn || (!update && !masked.count(mm.getA())))
          return false;
      }
    for (Value m : masked)
      for (Operation *u : m.getUsers()) {
        auto mm = dyn_cast<TileMatmulOp>(u);
        if (!mm || mm.getA() != m || !llvm::is_contained(vns, mm.getB()))
          return false;
      }
    return true;
  }

  /// The f32 product results this kernel keeps as two 16-bit parts (a tile
  /// of twice the rows: the rounded values, then the rounded remainders)
  /// instead of an f32 tile: those only read as the B operand of
  /// `split_f32` products (whose A is 16-bit), never loaded, stored or
  /// yielded. Their producer's epilogue writes both parts; the readers run
  /// as one product over twice the contraction, [A A] [hi; lo]: ldmatrix or
  /// wgmma descriptors instead of element gathers of f32, no extra pass.
  llvm::DenseSet<Value> findSplitTiles(ArrayRef<Value> crossing,
                                       ArrayRef<Value> loaded,
                                       ArrayRef<Value> stored) {
    llvm::DenseSet<Value> result;
    Block &body = loop.getBody().front();
    for (Operation &op : body.without_terminator()) {
      auto mm = dyn_cast<TileMatmulOp>(op);
      if (!mm || !included(mm))
        continue;
      Value r = mm.getResult();
      if (!getElementTypeOrSelf(r.getType()).isF32() || r.use_empty() ||
          llvm::is_contained(crossing, r) || llvm::is_contained(loaded, r) ||
          llvm::is_contained(stored, r) ||
          llvm::any_of(scanBoundary,
                       [&](const BoundaryValue &b) { return b.value == r; }))
        continue;
      // Its accumulator must not be an f32 tile the result could reuse.
      if (mm.getAcc() && getElementTypeOrSelf(mm.getAcc().getType()).isF32())
        continue;
      bool onlySplitB = llvm::all_of(r.getUsers(), [&](Operation *u) {
        auto user = dyn_cast<TileMatmulOp>(u);
        return user && included(user) && user.getSplitF32() &&
               user.getB() == r && user.getA() != r && user.getAcc() != r &&
               !user.getTransposeB() &&
               getElementTypeOrSelf(user.getA().getType()) == elt;
      });
      if (onlySplitB)
        result.insert(r);
    }
    return result;
  }

  /// Whether this three-phase scan runs the recurrence in registers
  /// (RegisterScanStep: transposed, one warpgroup per 64 value columns,
  /// wgmma with A from registers, no shared-memory round trip or barrier
  /// between its products): the kernel's family is wgmma (descriptor-read
  /// core-matrix tiles), block_v is a multiple of 64, and the body's
  /// recurrence is exactly
  ///   Sb = convert(S); X = V - K Sb; Vn = T X {split_f32}; S' = S + K^T Vn
  /// with T from prepare and the output reading Sb and Vn only, 16-bit
  /// operands, chunk and dk multiples of 16, and dk <= 128 (the warp's rows
  /// of S^T: dk / 2 registers per thread) or dk = 256 at block_v 64, chunk
  /// 64 and bf16 (two warpgroups each hold half of dk:
  /// RegisterScanStep::halvesFor; the configuration checked against the
  /// oracle on a GPU). Sb and Vn reach scratch in the generic scan's layout
  /// (the output kernel is the same for both).
  void matchRegisterScan() {
    int64_t halves = RegisterScanStep::halvesFor(dk, chunk, bv, elt);
    if (part != Part::Scan || !threePhase || (!elt.isBF16() && !elt.isF16()) ||
        !tc.wantsCoreMatrixTiles() || !halves || dk % 16 || chunk % 16 ||
        chunk > 256 || bv % RegisterScanStep::kGroupColumns)
      return;
    Value state = loop.getStateTile(), k = loop.getKTile(), v = loop.getVTile();
    auto next = loop.getYield().getState().getDefiningOp<TileMatmulOp>();
    if (!next || next.getAcc() != state || next.getA() != k ||
        !next.getTransposeA() || next.getTransposeB() || next.getAlpha() ||
        next.getNegate() || next.getSplitF32())
      return;
    auto vn = next.getB().getDefiningOp<TileMatmulOp>();
    if (!vn || !vn.getSplitF32() || vn.getAcc() || vn.getAlpha() ||
        vn.getNegate() || vn.getTransposeA() || vn.getTransposeB() ||
        getElementTypeOrSelf(vn.getType()) != elt ||
        stateDependent.count(vn.getA().getDefiningOp()) ||
        getElementTypeOrSelf(vn.getA().getType()) != elt)
      return;
    auto x = vn.getB().getDefiningOp<TileMatmulOp>();
    if (!x || x.getA() != k || x.getAcc() != v || !x.getNegate() ||
        x.getAlpha() || x.getTransposeA() || x.getTransposeB() ||
        x.getSplitF32() || !getElementTypeOrSelf(x.getType()).isF32() ||
        !x.getResult().hasOneUse())
      return;
    auto convert = x.getB().getDefiningOp<TileConvertOp>();
    if (!convert || convert.getX() != state ||
        getElementTypeOrSelf(convert.getType()) != elt)
      return;
    if (recurrence.size() != 4 || !recurrence.count(convert) ||
        !recurrence.count(x) || !recurrence.count(vn) ||
        !recurrence.count(next))
      return;
    for (const BoundaryValue &b : scanBoundary)
      if (b.value != convert.getResult() && b.value != vn.getResult())
        return;
    if (outputInScan && !matchOutputInScan(convert, vn))
      return;
    registerScan = true;
    rsHalves = halves;
    rsConvert = convert;
    rsX = x;
    rsVn = vn;
    rsNext = next;
  }
  /// Whether the body's output ops are exactly the three-phase output
  /// kernel's O = scale (Q Sb) + scale (P Vn), with Sb = `convert`, Vn =
  /// `vn` and P a 16-bit chunk x chunk tile from prepare: then the register
  /// scan computes them (RegisterScanStep::Output) and no output kernel
  /// runs. (With two halves of dk each computes a partial O^T and half 1
  /// hands its part to half 0 through Sb's tile, which then only serves as
  /// the pair's exchange area.)
  bool matchOutputInScan(TileConvertOp convert, TileMatmulOp vn) {
    auto out = loop.getYield().getOutput().getDefiningOp<TileMatmulOp>();
    if (!out || !out.getAcc() || out.getB() != vn.getResult() ||
        out.getNegate() || out.getSplitF32() || out.getTransposeA() ||
        out.getTransposeB() || !out.getResult().hasOneUse())
      return false;
    auto qs = out.getAcc().getDefiningOp<TileMatmulOp>();
    if (!qs || qs.getA() != loop.getQTile() ||
        qs.getB() != convert.getResult() || qs.getAcc() || qs.getNegate() ||
        qs.getSplitF32() || qs.getTransposeA() || qs.getTransposeB() ||
        qs.getAlpha() != out.getAlpha() || !qs.getResult().hasOneUse())
      return false;
    // o is stored from the 16-bit staging in V's tile.
    if (getElementTypeOrSelf(loop.getO().getType()) != elt)
      return false;
    Value p = out.getA();
    auto pType = cast<RankedTensorType>(p.getType());
    if (pType.getElementType() != elt || pType.getDimSize(0) != chunk ||
        pType.getDimSize(1) != chunk ||
        llvm::none_of(boundary,
                      [&](const BoundaryValue &b) { return b.value == p; }))
      return false;
    // Nothing else is state-dependent.
    for (Operation *op : stateDependent)
      if (!recurrence.count(op) && op != qs && op != out)
        return false;
    rsQS = qs;
    rsOut = out;
    return true;
  }
  /// The output kernel's products as one accumulator chain, its output
  /// stored by the last product's epilogue (three phases: O = scale (Q Sb)
  /// then O = scale (P Vn) + O is one run of the tensor cores over both
  /// contractions, stored from the accumulators to o): no f32 O tile in
  /// shared memory, no pass that writes it, reads it back and rounds it
  /// (output kernel at d = 128: 107.5 -> 74 KB, three programs per SM).
  /// A product is chained into the next op of the kernel when that is a
  /// product accumulating into its result, its only use, with the same
  /// scaling (alpha, no negate, no split operands). Off with the
  /// epilogue-fusion option, on at every head size (the masks' epilogue
  /// fusion only applies at dk <= 128).
  void findAccumulatorChains() {
    if (part != Part::Output)
      return;
    Block &body = loop.getBody().front();
    Operation *previous = nullptr;
    for (Operation &op : body.without_terminator()) {
      if (!included(&op))
        continue;
      auto second = dyn_cast<TileMatmulOp>(op);
      auto first = dyn_cast_or_null<TileMatmulOp>(previous);
      previous = &op;
      if (!second || !first || second.getAcc() != first.getResult() ||
          !first.getResult().hasOneUse() || first.getAcc() ||
          first.getNegate() || second.getNegate() || first.getSplitF32() ||
          second.getSplitF32() || first.getAlpha() != second.getAlpha() ||
          chainedFirst.count(first))
        continue;
      chainedFirst[second] = first;
    }
    // The yielded output straight from its product's epilogue.
    Value out = loop.getYield().getOutput();
    auto mm = out.getDefiningOp<TileMatmulOp>();
    if (mm && included(mm) && out.hasOneUse() &&
        llvm::none_of(scanBoundary,
                      [&](const BoundaryValue &b) { return b.value == out; }))
      outputInEpilogue = out;
  }
  /// The product chained first into `op`'s accumulators, if any.
  TileMatmulOp chainFirstOf(Operation *op) const {
    return chainedFirst.lookup(op);
  }
  bool chainedAway(Operation *op) const {
    return llvm::any_of(chainedFirst,
                        [&](auto &entry) { return entry.second == op; });
  }

  /// Whether this scan reads the q / k / v tile `qkv` from scratch instead
  /// of loading it (the normalised k, with q/k L2 norm in the three-phase
  /// scan).
  bool fromScratch(Value qkv) const {
    return part == Part::Scan &&
           llvm::any_of(boundary,
                        [&](const BoundaryValue &b) { return b.value == qkv; });
  }

  /// Whether this kernel keeps the state in registers, as the tensor-core
  /// accumulators of the product that updates it (see docs/codegen.md):
  /// the kernels that carry the state (fused, scan), when its only readers
  /// are one convert (to the products' input type) and, after it, the
  /// product S' = S + A B whose result is only yielded as the next state,
  /// and the tensor-core family can hold a dk x block_v accumulator.
  bool findRegisterState() {
    if (part != Part::Fused && part != Part::Scan)
      return false;
    Value state = loop.getStateTile();
    for (Operation *user : state.getUsers()) {
      if (auto convert = dyn_cast<TileConvertOp>(user)) {
        if (stateConvert)
          return false;
        stateConvert = convert;
        continue;
      }
      auto mm = dyn_cast<TileMatmulOp>(user);
      if (!mm || stateUpdate || mm.getAcc() != state || mm.getA() == state ||
          mm.getB() == state || mm.getAlpha() || mm.getNegate())
        return false;
      stateUpdate = mm;
    }
    if (!stateConvert || !stateUpdate ||
        !stateConvert->isBeforeInBlock(stateUpdate))
      return false;
    Value next = stateUpdate.getResult();
    if (!next.hasOneUse() || loop.getYield().getState() != next ||
        !getElementTypeOrSelf(next.getType()).isF32())
      return false;
    int64_t regs = tc.accumulatorRegisters(dk, bv, warps);
    return regs > 0 && regs <= kMaxStateRegisters;
  }

  /// The scratch values this part (scan or output) loads per chunk.
  SmallVector<const BoundaryValue *> loads() const {
    SmallVector<const BoundaryValue *> result;
    auto usedHere = [&](Value v) {
      return llvm::any_of(v.getUsers(),
                          [&](Operation *u) { return included(u); });
    };
    for (const BoundaryValue &b : boundary)
      if (part == Part::Scan ? (!threePhase || usedHere(b.value))
                             : usedHere(b.value))
        if (readsQP() || !rsOut || b.value != TileMatmulOp(rsOut).getA())
          result.push_back(&b);
    if (part == Part::Output)
      for (const BoundaryValue &b : scanBoundary)
        result.push_back(&b);
    return result;
  }

  /// Elements per 16-byte vector of tile `t`, or 0 when its rows are not
  /// whole vectors (then boundary copies go element by element).
  static int64_t vectorElems(const SmemTile &t) {
    int64_t eltBytes = t.elt.getIntOrFloatBitWidth() / 8;
    return (t.cols * eltBytes) % 16 == 0 ? 16 / eltBytes : 0;
  }

  /// Starts copying scratch value `b` of flat chunk `chunkFlat` into `t`
  /// (its tile, or a staging buffer of the same layout): 16-byte cp.async
  /// copies (scratch slots are 16-byte aligned), all in flight at once; the
  /// caller commits and waits. Element loads when rows are not whole vectors.
  void loadBoundary(KernelBuilder &kb, const BoundaryValue &b,
                    const SmemTile &t, Value chunkFlat, Value vt) {
    Value base = boundaryBase(kb, b, chunkFlat, vt);
    int64_t per = vectorElems(t);
    if (!per) {
      kb.forEachThreaded(t.rows * t.cols, threads, [&](Value idx) {
        Value x =
            kb.load(t.elt, kb.gep(param(b.name),
                                  boundaryOffset(kb, b, base, idx), t.elt));
        kb.storeSmem(t, kb.flatToPadded(t, idx), x);
      });
      return;
    }
    kb.forEachThreaded(
        t.rows * t.cols / per, threads, [&](Value i, int64_t unrolled) {
          Value idx = kb.mul(i, kb.c32(per));
          Value src =
              kb.gep(param(b.name),
                     boundaryOffset(kb, b, base, idx, per, unrolled), t.elt);
          NVVM::CpAsyncOp::create(kb.b, kb.loc,
                                  kb.smemPtr(t, kb.flatToPadded(t, idx)), src,
                                  16, NVVM::LoadCacheModifierKind::CG, Value());
        });
  }

  /// Copies the tile of `b` to its scratch slot of flat chunk `chunkFlat`
  /// (16-byte accesses where rows are whole vectors).
  void storeBoundary(KernelBuilder &kb, const BoundaryValue &b, Value chunkFlat,
                     Value vt) {
    const SmemTile &t = tile(b.value);
    Value base = boundaryBase(kb, b, chunkFlat, vt);
    int64_t per = std::max<int64_t>(vectorElems(t), 1);
    kb.forEachThreaded(
        t.rows * t.cols / per, threads, [&](Value i, int64_t unrolled) {
          Value idx = kb.mul(i, kb.c32(per));
          Value src = kb.smemPtr(t, kb.flatToPadded(t, idx));
          Value dst =
              kb.gep(param(b.name),
                     boundaryOffset(kb, b, base, idx, per, unrolled), t.elt);
          if (per == 1)
            kb.store(kb.load(t.elt, src), dst);
          else
            kb.storeVec16(kb.loadVec16(t.elt, src), dst);
        });
  }

  bool included(Operation *op) const {
    switch (part) {
    case Part::Fused:
      return true;
    case Part::Prepare:
      return !stateDependent.count(op);
    case Part::Scan:
      return threePhase && !outputInScan ? bool(recurrence.count(op))
                                         : bool(stateDependent.count(op));
    case Part::Output:
      return stateDependent.count(op) && !recurrence.count(op);
    }
    return false;
  }

  int64_t scratchElems(const BoundaryValue &b) const {
    auto type = cast<RankedTensorType>(b.value.getType());
    return type.getNumElements() * (b.perVTile ? dv / bv : 1);
  }
  static int64_t bytesOf(Value v) {
    return getElementTypeOrSelf(v.getType()).getIntOrFloatBitWidth() / 8;
  }

  /// Element offset (i64) of boundary value `b` of flat chunk `chunkFlat`
  /// (value tile `vt`) in its scratch buffer. Scratch slots do not depend on
  /// block_v: a value computed per value tile (rows x block_v) is stored in
  /// its columns of a rows x dv slot per (chunk, v-head), so kernels of
  /// different block_v share the buffers (the three-phase lowering's
  /// chunk-parallel kernels run wider value tiles than the scan).
  Value boundaryBase(KernelBuilder &kb, const BoundaryValue &b, Value chunkFlat,
                     Value vt) {
    auto type = cast<RankedTensorType>(b.value.getType());
    int64_t tiles = b.perVTile ? dv / bv : 1;
    Value slot = kb.add(kb.mul(kb.ext64(chunkFlat), kb.ext64(param("HV"))),
                        kb.ext64(hv));
    Value base = kb.mul(slot, kb.c64(type.getNumElements() * tiles));
    if (b.perVTile)
      base = kb.add(base, kb.ext64(kb.mul(vt, kb.c32(bv))));
    return base;
  }
  /// Element offset (i64) of element `idx` (flat, row-major) of boundary
  /// value `b`'s tile, from its base (boundaryBase): per value tile, rows
  /// are dv apart; otherwise the tile is contiguous. idx = i * per for the
  /// thread loop's iteration i; `unrolled` is i's constant offset from
  /// threadIdx.x (forEachThreaded), or -1: when unrolled * per is a
  /// multiple of block_v the row and column are computed once per thread
  /// (no division per iteration: the dk = 256 scan is at 255 registers).
  Value boundaryOffset(KernelBuilder &kb, const BoundaryValue &b, Value base,
                       Value idx, int64_t per = 1, int64_t unrolled = -1) {
    if (!b.perVTile || dv == bv)
      return kb.add(base, kb.ext64(idx));
    int64_t offset = unrolled < 0 ? -1 : unrolled * per; // elements
    if (offset >= 0 && offset % bv == 0) {
      Value first = kb.mul(kb.threadIdX(), kb.c32(per));
      Value rel = kb.add(kb.mul(kb.div(first, kb.c32(bv)), kb.c32(dv)),
                         kb.rem(first, kb.c32(bv)));
      rel = kb.add(rel, kb.c32(offset / bv * dv));
      return kb.add(base, kb.ext64(rel));
    }
    return boundaryAt(kb, b, base, kb.div(idx, kb.c32(bv)),
                      kb.rem(idx, kb.c32(bv)));
  }
  /// Element offset (i64) of element (row, col) of boundary value `b`'s
  /// tile, from its base: per value tile (narrower than dv) rows are dv
  /// apart, otherwise the tile's width.
  Value boundaryAt(KernelBuilder &kb, const BoundaryValue &b, Value base,
                   Value row, Value col) {
    int64_t stride =
        b.perVTile && dv != bv
            ? dv
            : cast<RankedTensorType>(b.value.getType()).getDimSize(1);
    return kb.add(base, kb.ext64(kb.add(kb.mul(row, kb.c32(stride)), col)));
  }

  TileProduct product(TileMatmulOp mm, const TileView *a, const TileView *b) {
    auto at = cast<RankedTensorType>(mm.getA().getType());
    auto rt = cast<RankedTensorType>(mm.getResult().getType());
    TileProduct p;
    p.a = a;
    p.b = b;
    p.m = rt.getDimSize(0);
    p.n = rt.getDimSize(1);
    p.k = mm.getTransposeA() ? at.getDimSize(0) : at.getDimSize(1);
    p.inputType = elt;
    p.splitF32 = mm.getSplitF32();
    if (plan.splitValues.count(mm.getB())) { // [A A] [hi; lo]
      p.aKPeriod = p.k;
      p.k *= 2;
    }
    return p;
  }

  Value param(StringRef name) { return params.lookup(name); }

  /// The chunk-parallel kernels: one program per (flat chunk, v-head),
  /// looping over the value tiles. Prepare computes the state-free ops and
  /// stores what crosses to the later kernels; output (three phases)
  /// computes the chunk's outputs from q, the prepared values and what the
  /// scan wrote (the chunk's starting state, its new values).
  void emitChunkParallelBody(KernelBuilder &kb) {
    Value tid = kb.threadIdX();
    warp = kb.div(tid, kb.c32(32));
    lane = kb.rem(tid, kb.c32(32));
    Value chunkFlat = kb.blockIdX();
    hv = kb.blockIdY();
    // The first value tile (the only one, or forEachValueTile sets each).
    vTile = kb.c32(0);
    h = kb.div(hv, kb.div(param("HV"), param("H")));
    v0 = kb.c32(0);
    // The chunk's first token and its sequence's end, in one 8-byte load
    // (chunk_spans; with (sequence, chunk) pairs and cu_seqlens it took two
    // dependent loads, ~6% of the output kernel's stall samples at 8 x 2048).
    Value span = kb.loadVec(
        kb.i32(), 2,
        kb.gep(param("chunk_spans"), kb.mul(chunkFlat, kb.c32(2)), kb.i32()));
    t0 = kb.extract(span, 0);
    eos = kb.extract(span, 1);
    if (part == Part::Output)
      emitOutputChunk(kb, chunkFlat);
    else
      emitPrepareChunk(kb, chunkFlat);
  }

  /// Output: the chunk's outputs from q, the prepared values and what the
  /// scan wrote; with several value tiles, q is loaded and normalised once.
  void emitOutputChunk(KernelBuilder &kb, Value chunkFlat) {
    if (!perValueTileLoop()) {
      loadChunkTiles(kb, {}, chunkFlat);
      emitOps(kb);
      storeChunkResults(kb);
      return;
    }
    loadChunkTiles(kb, {}, chunkFlat, /*perVTileScratch=*/false);
    forEachValueTile(kb, [&] {
      SmallVector<const BoundaryValue *> perTile;
      for (const BoundaryValue *b : loads())
        if (b->perVTile)
          perTile.push_back(b);
      startScratchLoads(kb, perTile, chunkFlat);
      NVVM::CpAsyncWaitGroupOp::create(kb.b, kb.loc, 0);
      kb.barrier();
      emitOps(kb);
      storeChunkResults(kb); // ends with a barrier
    });
  }

  /// Prepare: the state-free ops, and the values that cross to the later
  /// kernels stored to scratch.
  void emitPrepareChunk(KernelBuilder &kb, Value chunkFlat) {
    chunkFlatHere = chunkFlat;
    loadChunkTiles(kb);
    // The boundary values, those per value tile or not (all: nullopt).
    auto values = [&](std::optional<bool> perVTile) {
      SmallVector<const BoundaryValue *> list;
      for (const BoundaryValue &b : boundary)
        if (!perVTile || b.perVTile == *perVTile)
          list.push_back(&b);
      return list;
    };
    if (!perValueTileLoop()) { // one value tile
      emitOpsStoring(kb, values(std::nullopt), chunkFlat);
      return;
    }
    // The ops that do not depend on v, once; then, per value tile, its v
    // columns and the ops that depend on them.
    emitOpsStoring(kb, values(false), chunkFlat,
                   [&](Operation *op) { return !repeatedPerValueTile(op); });
    forEachValueTile(kb, [&] {
      loadQKV(kb, QKVLoad::AsyncToTiles, /*onlyV=*/true);
      NVVM::CpAsyncCommitGroupOp::create(kb.b, kb.loc);
      NVVM::CpAsyncWaitGroupOp::create(kb.b, kb.loc, 0);
      kb.barrier();
      emitOpsStoring(kb, values(true), chunkFlat,
                     [&](Operation *op) { return repeatedPerValueTile(op); });
      kb.barrier(); // the stores read tiles the next value tile rewrites
    });
  }

  void emitBody(KernelBuilder &kb) {
    Value tid = kb.threadIdX();
    warp = kb.div(tid, kb.c32(32));
    lane = kb.rem(tid, kb.c32(32));
    Value hvCount = param("HV");
    Value nh = kb.blockIdY();
    Value n = kb.div(nh, hvCount);
    hv = kb.rem(nh, hvCount);
    h = kb.div(hv, kb.div(hvCount, param("H")));
    vTile = kb.blockIdX();
    v0 = kb.mul(vTile, kb.c32(bv));
    // The transitions' value tiles: dk / bv of M's columns (zero values:
    // v's rows are not loaded), then dv / bv of N's (v's columns v0 ..).
    Value mColumns;
    if (segRole == SegmentRole::Transitions) {
      Value mTiles = kb.c32(dk / bv);
      mColumns = kb.cmp(CmpIPredicate::slt, vTile, mTiles);
      vRowsOn = kb.cmp(CmpIPredicate::sge, vTile, mTiles);
      v0 = kb.select(mColumns, kb.c32(0),
                     kb.mul(kb.sub(vTile, mTiles), kb.c32(bv)));
    }
    Value cu = param("cu_seqlens");
    Value bos = kb.trunc32(kb.load(kb.i64(), kb.gep(cu, n, kb.i64())));
    eos = kb.trunc32(
        kb.load(kb.i64(), kb.gep(cu, kb.add(n, kb.c32(1)), kb.i64())));
    Value firstChunk;
    if (part == Part::Scan)
      firstChunk =
          kb.load(kb.i32(), kb.gep(param("chunk_offsets"), n, kb.i32()));

    // Element index of S[0][v0] of this (sequence, v-head) in h0 / ht.
    stateBase = kb.add(
        kb.mul(kb.ext64(kb.add(kb.mul(n, hvCount), hv)), kb.c64(dk * dv)),
        kb.ext64(v0));

    Value hasH0 = kb.cmp(CmpIPredicate::ne, param("has_h0"), kb.c32(0));
    // The register scan's state: this warp's 16 columns of S, transposed
    // (with halves of dk: warpgroup g holds half g % 2 of dk for the 64
    // columns of g / 2, and meets the other half's warp of the same
    // columns at named barrier 1 + its 16-column strip).
    std::optional<RegisterScanStep> rs;
    Value strip;
    if (registerScanHere() && rsHalves == 2) {
      Value group = kb.div(warp, kb.c32(4));
      Value pairWarp = kb.add(kb.mul(kb.div(group, kb.c32(2)), kb.c32(4)),
                              kb.rem(warp, kb.c32(4)));
      rs.emplace(kb, lane, dk, chunk, elt, rsHalves, kb.rem(group, kb.c32(2)),
                 kb.add(pairWarp, kb.c32(1)));
      strip = kb.mul(pairWarp, kb.c32(RegisterScanStep::kWarpColumns));
    } else {
      if (registerScanHere())
        rs.emplace(kb, lane, dk, chunk, elt);
      strip = kb.mul(warp, kb.c32(RegisterScanStep::kWarpColumns));
    }
    // Calls fn(i, d, j) for each state register i this thread holds,
    // S(d, j): the register scan pairs registers down a column of S (a row
    // of S^T), the tensor-core families along a row.
    auto forEachStateRegister =
        [&](function_ref<void(int64_t, Value, Value)> fn) {
          if (rs)
            return rs->forEachStatePair([&](int64_t i, Value j, Value d) {
              for (int64_t u = 0; u < 2; ++u)
                fn(i + u, kb.add(d, kb.c32(u)), kb.add(strip, j));
            });
          forEachStatePair(kb, [&](int64_t i, Value d, Value j) {
            for (int64_t u = 0; u < 2; ++u)
              fn(i + u, d, kb.add(j, kb.c32(u)));
          });
        };
    // The segment scan: this program's segment (grid z) and the sequence's
    // segments' slots (SegmentScan.h).
    Value seg, segStartsAt,
        segLength = segRole != SegmentRole::None ? param(kSegLength) : Value();
    if (segRole != SegmentRole::None) {
      assert(rs && "the segment scan is the register scan's");
      seg = kb.blockIdZ();
      Value maxChunks = param("max_chunks");
      Value slots =
          segRole == SegmentRole::Transitions
              ? SegmentLayout::transitionSlots(kb, maxChunks, segLength)
              : SegmentLayout::segments(kb, maxChunks, segLength);
      segStartsAt =
          kb.add(kb.mul(kb.ext64(nh), kb.ext64(slots)), kb.ext64(seg));
    }
    // Element (d, j) of this program's columns in the segments' [M | N]
    // (dk x (dk + dv)) or starting state (dk x dv) of its slot.
    auto segmentAt = [&](Value d, Value j) {
      int64_t width = segRole == SegmentRole::Transitions ? dk + dv : dv;
      Value col = segRole == SegmentRole::Transitions
                      ? kb.add(kb.mul(vTile, kb.c32(bv)), j)
                      : kb.add(v0, j);
      return kb.add(kb.mul(kb.add(kb.mul(segStartsAt, kb.c64(dk)), kb.ext64(d)),
                           kb.c64(width)),
                    kb.ext64(col));
    };
    if (segRole == SegmentRole::Transitions) {
      // [M | N] from [I | 0]: M's column c is the identity's.
      SmallVector<Value> regs(rs->stateRegisters());
      forEachStateRegister([&](int64_t i, Value d, Value j) {
        Value one = kb.select(
            mColumns,
            kb.cmp(CmpIPredicate::eq, d, kb.add(kb.mul(vTile, kb.c32(bv)), j)),
            mColumns);
        regs[i] = kb.select(one, kb.cf32(1.0), kb.cf32(0.0));
      });
      stateRegs = regs;
    } else if (segRole == SegmentRole::FromStarts) {
      // The combine's starting state of this segment (h0 for the first).
      SmallVector<Value> regs(rs->stateRegisters());
      forEachStateRegister([&](int64_t i, Value d, Value j) {
        regs[i] = kb.load(kb.f32(),
                          kb.gep(param(kSegStarts), segmentAt(d, j), kb.f32()));
      });
      stateRegs = regs;
    } else if (rs || stateInRegisters) {
      int64_t count = rs ? rs->stateRegisters() : stateRegisterCount();
      stateRegs = kb.ifThenElseValues(
          hasH0,
          [&] {
            SmallVector<Value> regs(count);
            forEachStateRegister([&](int64_t i, Value d, Value j) {
              regs[i] = kb.load(kb.f32(), stateAddr(kb, "h0", d, j));
            });
            return regs;
          },
          [&] { return SmallVector<Value>(count, kb.cf32(0.0)); });
    } else {
      const SmemTile &s = tile(loop.getStateTile());
      kb.forEachThreaded(dk * bv, threads, [&](Value idx) {
        Value val = kb.ifThenElse(
            hasH0, kb.f32(),
            [&] { return kb.load(kb.f32(), stateAddr(kb, "h0", idx)); },
            [&] { return kb.cf32(0.0); });
        kb.storeSmem(s, kb.flatToPadded(s, idx), val);
      });
      kb.barrier();
    }

    Value len = kb.sub(eos, bos);
    Value numChunks = kb.div(kb.add(len, kb.c32(chunk - 1)), kb.c32(chunk));
    // The chunks this program runs: all, or its segment's (transitions:
    // none in a sequence's last segment; the scan from the starts: none
    // past the sequence's end).
    Value cStart = kb.c32(0), cEnd = numChunks, segActive, lastSegment;
    if (segRole != SegmentRole::None) {
      cStart = kb.mul(seg, segLength);
      Value full = kb.add(cStart, segLength);
      segActive = kb.cmp(CmpIPredicate::slt, full, numChunks);
      // (Not every segment past the end: a shorter sequence's are empty,
      // and their states were never written.)
      lastSegment =
          kb.cmp(CmpIPredicate::eq, seg,
                 kb.sub(SegmentLayout::segmentsOf(kb, numChunks, segLength),
                        kb.c32(1)));
      cEnd = segRole == SegmentRole::Transitions
                 ? kb.select(segActive, full, cStart)
                 : kb.min(full, numChunks);
    }
    if (!staging.empty()) { // the first chunk's q, k, v (scan: and scratch)
      t0 = kb.add(bos, kb.mul(cStart, kb.c32(chunk)));
      kb.ifThen(kb.cmp(CmpIPredicate::sgt, cEnd, cStart), [&] {
        loadQKV(kb, QKVLoad::Prefetch);
        if (part == Part::Scan)
          prefetchBoundaries(kb, kb.add(firstChunk, cStart));
        if (part == Part::Scan && normsTile)
          prefetchNorms(kb, kb.add(firstChunk, cStart), kb.c32(0));
      });
      NVVM::CpAsyncCommitGroupOp::create(kb.b, kb.loc);
    }
    auto chunkBody = [&](Value c) {
      enterChunk(kb, c);
      t0 = kb.add(bos, kb.mul(c, kb.c32(chunk)));
      Value chunkFlat;
      if (part == Part::Scan)
        chunkFlat = kb.add(firstChunk, c);
      if (rs) {
        loadChunkTiles(kb,
                       kb.cmp(CmpIPredicate::slt, kb.add(c, kb.c32(1)), cEnd),
                       chunkFlat);
        emitRegisterScanStep(kb, *rs, strip, chunkFlat);
        if (staging.empty()) // the next chunk's loads overwrite the tiles
          kb.barrier();
        return;
      }
      // The state's 16-bit copy comes from registers: written before the
      // wait for the prefetched tiles, it shares their barrier.
      bool convertFirst = stateConvertLeads();
      if (convertFirst)
        emitStateConvert(kb);
      loadChunkTiles(
          kb, kb.cmp(CmpIPredicate::slt, kb.add(c, kb.c32(1)), numChunks),
          chunkFlat);
      if (part == Part::Scan) {
        // The state this chunk starts from, for the output kernel (read
        // before the update below overwrites the tile; barriers separate).
        for (const BoundaryValue &b : scanBoundary)
          if (b.value == loop.getStateTile()) {
            storeBoundary(kb, b, chunkFlat, vTile);
            kb.barrier();
          }
      }
      SmallVector<const BoundaryValue *> results;
      if (part == Part::Scan)
        for (const BoundaryValue &b : scanBoundary)
          if (b.value != loop.getStateTile())
            results.push_back(&b);
      SmallVector<Operation *, 1> emitted;
      if (convertFirst)
        emitted.push_back(stateConvert);
      emitOpsStoring(kb, results, chunkFlat, nullptr, emitted);
      storeChunkResults(kb);
    };
    if (stateInRegisters || rs)
      stateRegs = kb.forRangeCarry(
          cStart, cEnd, kb.c32(1), stateRegs, [&](Value c, ValueRange carried) {
            stateRegs.assign(carried.begin(), carried.end());
            chunkBody(c);
            return stateRegs;
          });
    else
      kb.forRange(kb.c32(0), numChunks, kb.c32(1), chunkBody);
    current.clear();
    nextBuffer.clear();

    if (segRole == SegmentRole::Transitions) {
      kb.ifThen(segActive, [&] {
        forEachStateRegister([&](int64_t i, Value d, Value j) {
          kb.store(stateRegs[i],
                   kb.gep(param(kSegTransitions), segmentAt(d, j), kb.f32()));
        });
      });
      return;
    }
    Value hasHt = kb.cmp(CmpIPredicate::ne, param("has_ht"), kb.c32(0));
    if (lastSegment) // the scan from the starts: the last segment's
      hasHt = arith::AndIOp::create(kb.b, kb.loc, hasHt, lastSegment);
    kb.ifThen(hasHt, [&] {
      if (rs || stateInRegisters) {
        forEachStateRegister([&](int64_t i, Value d, Value j) {
          kb.store(stateRegs[i], stateAddr(kb, "ht", d, j));
        });
        return;
      }
      const SmemTile &s = tile(loop.getStateTile());
      kb.forEachThreaded(dk * bv, threads, [&](Value idx) {
        kb.store(kb.loadSmem(s, kb.flatToPadded(s, idx)),
                 stateAddr(kb, "ht", idx));
      });
    });
  }

  /// One chunk step of the register scan (see RegisterScanStep) on
  /// stateRegs: this warp's columns `strip` .. + 16 of the value tile. The
  /// step stages its Sb and Vn columns in their tiles; the warp copies each
  /// to scratch while the next product runs (16-byte rows of 16 columns; no
  /// block barrier: each warp reads back only what it wrote: with halves
  /// of dk, its half's rows of Sb).
  void emitRegisterScanStep(KernelBuilder &kb, RegisterScanStep &rs,
                            Value strip, Value chunkFlat) {
    Value sb = rsConvert.getResult(), vn = rsVn.getResult();
    auto copyOut = [&](Value value) {
      NVVM::SyncWarpOp::create(kb.b, kb.loc, kb.c32(-1));
      for (const BoundaryValue &b : scanBoundary) {
        if (b.value != value)
          continue;
        const SmemTile &t = tile(b.value);
        Value base = boundaryBase(kb, b, chunkFlat, vTile);
        bool half = value == sb && rs.halfRows() < t.rows;
        int64_t rows = half ? rs.halfRows() : t.rows;
        // Row r's 16 columns are two 16-byte pieces (stripPiece).
        int64_t pieces = rows * RegisterScanStep::kWarpColumns / 8;
        for (int64_t n = 0; n * 32 < pieces; ++n) {
          Value r, c;
          std::tie(r, c) = RegisterScanStep::stripPiece(kb, lane, n);
          if (half)
            r = kb.add(r, rs.halfRow());
          c = kb.add(strip, c);
          kb.storeVec16(
              kb.loadVec16(t.elt, kb.smemPtr(t, kb.at(t, r, c))),
              kb.gep(param(b.name), boundaryAt(kb, b, base, r, c), t.elt));
        }
      }
    };
    const SmemTile &k = tile(loop.getKTile()), &t = tile(rsVn.getA()),
                   &v = tile(loop.getVTile());
    // q's inverse norms of rows r, r + 1: prefetched with the chunk's
    // tiles (normsTile), else read from L1 / L2 (the warpgroup's threads
    // share the chunk's 256 bytes; measured slower on the H200: the step's
    // first product waited for the loads). (k's: the same at kNormAt.)
    auto norms = [&](Value r) -> std::pair<Value, Value> {
      if (normsTile) {
        Value at = kb.add(normsCur, r);
        return {kb.loadSmem(*normsTile, at),
                kb.loadSmem(*normsTile, kb.add(at, kb.c32(1)))};
      }
      Value at = kb.gep(param("ws_norms"), normAt(kb, chunkFlat, r), kb.f32());
      return {kb.load(kb.f32(), at),
              kb.load(kb.f32(), kb.gep(at, kb.c32(1), kb.f32()))};
    };
    auto kNorms = [&](Value r) { return norms(kNormAt(kb, r)); };
    RegisterScanStep::RowScales kScales = nullptr;
    if (kNormsCross)
      kScales = kNorms;
    if (segRole == SegmentRole::Transitions) { // the state alone
      stateRegs = rs.emit(stateRegs, k, t, v, strip, nullptr, nullptr, kScales);
      return;
    }
    if (outputInScan) {
      auto store = [&](ArrayRef<Value> o) {
        storeOutputTransposed(kb, rs, o, v, strip);
      };
      RegisterScanStep::Output output{tile(loop.getQTile()), tile(rsOut.getA()),
                                      store};
      if (rsHalves == 2) { // the pair's exchange area and hand-over barrier
        output.exchange = &tile(sb);
        output.handOver =
            kb.add(kb.div(strip, kb.c32(RegisterScanStep::kWarpColumns)),
                   kb.c32(1 + bv / RegisterScanStep::kWarpColumns));
      }
      if (qNormsCross)
        output.rowScales = norms;
      stateRegs = rs.emit(stateRegs, k, t, v, strip, nullptr, &output, kScales);
      return;
    }
    // The last step's copies read the staging tiles this step rewrites.
    NVVM::SyncWarpOp::create(kb.b, kb.loc, kb.c32(-1));
    auto sbStaged = [&] { copyOut(sb); };
    auto vnStaged = [&] { copyOut(vn); };
    RegisterScanStep::Staging staged{tile(sb), tile(vn), sbStaged, vnStaged};
    stateRegs = rs.emit(stateRegs, k, t, v, strip, &staged, nullptr);
  }

  /// The register scan's output: this warp's O^T accumulators (`o`,
  /// unscaled; the Vn^T layout) scaled and rounded, written untransposed
  /// into the warp's columns `strip` .. + 16 of `v` (the chunk's V tile:
  /// V^T is in registers by now, and only this warp reads these columns),
  /// then copied to o row by row (16 bytes per row piece; rows past the
  /// sequence's end skipped; element stores when o is not 16-byte
  /// aligned).
  void storeOutputTransposed(KernelBuilder &kb, RegisterScanStep &rs,
                             ArrayRef<Value> o, const SmemTile &v,
                             Value strip) {
    Value alpha = rsOut.getAlpha() ? mapScalar(rsOut.getAlpha()) : Value();
    SmallVector<Value> packed(o.size() / 2);
    for (size_t i = 0; i < packed.size(); ++i) {
      Value x0 = o[2 * i], x1 = o[2 * i + 1];
      if (alpha) {
        x0 = kb.fmul(x0, alpha);
        x1 = kb.fmul(x1, alpha);
      }
      packed[i] = kb.pack16x2(x0, x1, v.elt);
    }
    rs.storeTransposed(packed, v, Value(), strip);
    NVVM::SyncWarpOp::create(kb.b, kb.loc, kb.c32(-1));
    Type oType = getElementTypeOrSelf(loop.getO().getType());
    assert(oType == v.elt && "o is stored in q/k/v's type");
    // (16-byte stores at every dk: the pieces go from shared memory to o
    // through 4 registers, not the whole tile's.)
    Value aligned = kb.aligned16({param("o")});
    // Row r's 16 columns are two 16-byte pieces (stripPiece).
    for (int64_t n = 0; n * 32 < chunk * 2; ++n) {
      Value r, c;
      std::tie(r, c) = RegisterScanStep::stripPiece(kb, lane, n);
      c = kb.add(strip, c);
      Value tok = kb.add(t0, r);
      kb.ifThen(kb.cmp(CmpIPredicate::slt, tok, eos), [&] {
        Value vec = kb.loadVec16(v.elt, kb.smemPtr(v, kb.at(v, r, c)));
        Value at = kb.gep(
            param("o"),
            tokenOffset(kb, tok, param("HV"), hv, dv, kb.add(v0, c)), oType);
        kb.ifElse(
            aligned, [&] { kb.storeVec16(vec, at); },
            [&] {
              for (int64_t e = 0; e < 8; ++e)
                kb.store(kb.extract(vec, e), kb.gep(at, kb.c32(e), oType));
            });
      });
    }
  }

  /// Whether the scan's first op is the state's convert from registers and
  /// its tiles are prefetched: the convert then runs before the prefetch
  /// wait, and the wait's barrier covers both (one barrier less per chunk).
  bool stateConvertLeads() {
    if (part != Part::Scan || !stateInRegisters || staging.empty())
      return false;
    for (Operation &op : loop.getBody().front().without_terminator())
      if (included(&op))
        return &op == stateConvert.getOperation();
    return false;
  }

  /// f32 registers per thread of a state held in registers.
  int64_t stateRegisterCount() const {
    return tc.accumulatorRegisters(dk, bv, warps);
  }
  /// Calls `fn(i, d, j)` for this thread's state registers i, i + 1: state
  /// rows d, columns j, j + 1 (of the tile).
  void forEachStatePair(KernelBuilder &kb,
                        function_ref<void(int64_t, Value, Value)> fn) {
    tc.forEachAccumulatorPair(kb, dk, bv, warp, lane, warps, fn);
  }

  /// Address in h0/ht of element `idx` (= d * block_v + j) of the tile.
  Value stateAddr(KernelBuilder &kb, StringRef which, Value idx) {
    return stateAddr(kb, which, kb.div(idx, kb.c32(bv)),
                     kb.rem(idx, kb.c32(bv)));
  }
  /// Address in h0/ht of element (d, j) of the tile.
  Value stateAddr(KernelBuilder &kb, StringRef which, Value d, Value j) {
    Value off = kb.add(stateBase, kb.ext64(kb.add(kb.mul(d, kb.c32(dv)), j)));
    return kb.gep(param(which), off, kb.f32());
  }

  /// Global element offset (i64) of token `tok`, head `head`, column `col`
  /// of a [tokens, heads, width] tensor.
  Value tokenOffset(KernelBuilder &kb, Value tok, Value heads, Value head,
                    int64_t width, Value col) {
    Value row = kb.add(kb.mul(kb.ext64(tok), kb.ext64(heads)), kb.ext64(head));
    return kb.add(kb.mul(row, kb.c64(width)), kb.ext64(col));
  }

  /// True (i1) when 16-byte global accesses through registers (the output
  /// stores) may be used: every pointer 16-byte aligned, and dk <= 128
  /// (dk = 256 kernels keep element accesses: with 16-byte ones they
  /// spilled and ran 39% slower on the H200). q, k, v loads are cp.async
  /// copies, which hold no registers (see loadQKV).
  Value vectorAccess(KernelBuilder &kb, ArrayRef<Value> ptrs) {
    if (dk > 128)
      return arith::ConstantOp::create(kb.b, kb.loc, kb.b.getBoolAttr(false));
    return kb.aligned16(ptrs);
  }

  /// The q, k and v tiles this part uses, with their global tensors.
  SmallVector<std::pair<StringRef, Value>, 3> qkvTiles() {
    SmallVector<std::pair<StringRef, Value>, 3> result;
    for (auto [name, tile] : {std::pair<StringRef, Value>{"q", loop.getQTile()},
                              {"k", loop.getKTile()},
                              {"v", loop.getVTile()}})
      if (plan.has(tile) && !fromScratch(tile))
        result.push_back({name, tile});
    return result;
  }

  /// Where the q, k, v tiles (and, in the scan, the scratch values it
  /// reads) of the next chunk are prefetched (cp.async while the current
  /// chunk computes): one buffer per tile after the plan. Empty when
  /// prefetching does not pay or fit. With `doubleBuffer` the buffers and
  /// the tiles alternate (chunk c computes in the tiles when c is even, in
  /// the buffers when odd; see enterChunk); else each chunk copies the
  /// buffers into the tiles.
  void planStaging() {
    staging.clear();
    stagedValues.clear();
    normsTile.reset();
    normsHere.reset();
    // Prepare keeps q's and k's inverse norms beside its plan for the
    // products' scaling (kNormsCross; ws_norms' layout).
    if (part == Part::Prepare && kNormsCross) {
      normsHere = SmemTile::make(normsPerChunk(), 1,
                                 Float32Type::get(loop.getContext()));
      normsHere->offset = llvm::alignTo(plan.totalBytes(), kSmemAlign);
      stagedBytes = normsHere->offset + normsPerChunk() * 4;
    }
    // (dk > 128: no room beside the generic kernels' tiles; the register
    // scan has no state, X or product tiles, and its buffers fit.)
    if ((part != Part::Fused && part != Part::Scan) ||
        (dk > 128 && !registerScanHere()))
      return;
    SmallVector<Value> staged;
    for (auto [name, value] : qkvTiles())
      staged.push_back(value);
    if (part == Part::Scan)
      for (const BoundaryValue *b : loads()) {
        if (!vectorElems(plan.tile(b->value)))
          return;
        staged.push_back(b->value);
      }
    int64_t offset = llvm::alignTo(plan.totalBytes(), kSmemAlign);
    stagedValues = staged;
    for (Value value : staged) {
      SmemTile t = plan.tile(value);
      t.offset = llvm::alignTo(offset, std::max(kSmemAlign, t.alignment()));
      offset = llvm::alignTo(t.offset + t.bytes(), kSmemAlign);
      staging[value] = t;
    }
    if (offset > target.maxSharedBytes) {
      staging.clear();
      stagedValues.clear();
      return;
    }
    // A scan that scales by q's (and k's) norms prefetches them with the
    // chunk's tiles: two buffers (chunk c reads buffer c % 2).
    int64_t normsEnd = offset + 2 * normsPerChunk() * 4;
    if (part == Part::Scan && qNormsCross && doubleBuffer &&
        normsEnd <= target.maxSharedBytes) {
      normsTile = SmemTile::make(2 * normsPerChunk(), 1,
                                 Float32Type::get(loop.getContext()));
      normsTile->offset = offset;
      offset = normsEnd;
    }
    stagedBytes = offset;
  }

  /// Starts the cp.async copies of the inverse norms (q's, then k's) of flat
  /// chunk `chunkFlat` (normsPerChunk() f32 from ws_norms, 16 bytes per
  /// thread) into the norms' buffer at element `at` (0 or normsPerChunk())
  /// of normsTile.
  void prefetchNorms(KernelBuilder &kb, Value chunkFlat, Value at) {
    kb.forEachThreaded(normsPerChunk() / 4, threads, [&](Value i) {
      Value r = kb.mul(i, kb.c32(4));
      NVVM::CpAsyncOp::create(
          kb.b, kb.loc, kb.smemPtr(*normsTile, kb.add(at, r)),
          kb.gep(param("ws_norms"), normAt(kb, chunkFlat, r), kb.f32()), 16,
          NVVM::LoadCacheModifierKind::CG, Value());
    });
  }

  /// Loads the chunk's q, k, v and beta tiles (those this part uses), zero
  /// past the end of the sequence, and, given flat chunk `chunkFlat` (scan,
  /// output), the scratch values this part reads; L2-normalises q and k if
  /// asked; ends with a barrier. With staging, q, k, v (and the scan's
  /// scratch values) come from the buffers prefetched during the previous
  /// chunk (or before the loop), and the next chunk's (`hasNext`) are
  /// prefetched.
  void loadChunkTiles(KernelBuilder &kb, Value hasNext = {},
                      Value chunkFlat = {}, bool perVTileScratch = true) {
    SmallVector<const BoundaryValue *> fromScratch;
    if (chunkFlat)
      for (const BoundaryValue *b : loads())
        if (perVTileScratch || !b->perVTile)
          fromScratch.push_back(b);
    if (staging.empty()) {
      // Everything in flight at once: cp.async leaves the registers free.
      startScratchLoads(kb, fromScratch, chunkFlat);
      loadQKV(kb, QKVLoad::AsyncToTiles);
      NVVM::CpAsyncCommitGroupOp::create(kb.b, kb.loc);
      NVVM::CpAsyncWaitGroupOp::create(kb.b, kb.loc, 0);
    } else {
      assert(hasNext && "prefetching needs the next-chunk condition");
      NVVM::CpAsyncWaitGroupOp::create(kb.b, kb.loc, 0);
      kb.barrier();
      if (!doubleBuffer) {
        for (auto [name, value] : qkvTiles())
          copyTile(kb, staging[value], plan.tile(value));
        for (const BoundaryValue *b : fromScratch)
          copyTile(kb, staging[b->value], plan.tile(b->value));
      }
    }
    loadBeta(kb);
    // Separates what was written above from the ops (double-buffered:
    // only beta is; the barrier above covered the prefetched tiles).
    if (staging.empty() || !doubleBuffer || plan.has(loop.getBetaTile()))
      kb.barrier();
    if (!staging.empty()) {
      // The tiles are read from here on (copied, or double-buffered):
      // refill the other buffers for the next chunk.
      Value t = t0;
      t0 = kb.add(t0, kb.c32(chunk));
      kb.ifThen(hasNext, [&] {
        loadQKV(kb, QKVLoad::Prefetch);
        if (chunkFlat)
          prefetchBoundaries(kb, kb.add(chunkFlat, kb.c32(1)));
        if (chunkFlat && normsTile)
          prefetchNorms(kb, kb.add(chunkFlat, kb.c32(1)), normsNext);
      });
      NVVM::CpAsyncCommitGroupOp::create(kb.b, kb.loc);
      t0 = t;
    }
    if (loop.getUseQkL2norm()) {
      bool any = false;
      for (auto [name, value] : qkvTiles()) {
        if (name == "v")
          continue;
        // A scan that computes the output scales by prepare's q norms
        // instead (qNormsCross); prepare stores them. With kNormsCross q
        // and k stay as given in prepare too: their norms (kept in
        // normsHere, ws_norms' layout) scale the products' epilogues
        // (Q K^T by rows, K K^T on both sides, T' by rows).
        if ((name == "q" && qNormsCross) || (name == "k" && kNormsCross)) {
          if (part == Part::Scan)
            continue;
          normalizeRows(
              kb, tile(value),
              [&](Value r, Value inv) {
                Value at = name == "q" ? r : kNormAt(kb, r);
                kb.store(inv, kb.gep(param("ws_norms"),
                                     normAt(kb, chunkFlatHere, at), kb.f32()));
                if (normsHere)
                  kb.storeSmem(*normsHere, at, inv);
              },
              /*scaleRows=*/!normsHere);
        } else {
          normalizeRows(kb, tile(value));
        }
        any = true;
      }
      // The first op's barrier also covers the normalisation when that op
      // does not read q or k (the scan starts with the state's copy).
      if (any && firstOpReadsQK())
        kb.barrier();
    }
  }

  /// Whether the first op this part emits (with its epilogue) reads the q
  /// or k tile.
  bool firstOpReadsQK() {
    if (perValueTileLoop())
      return true;
    Block &body = loop.getBody().front();
    for (Operation &op : body.without_terminator()) {
      if (!included(&op))
        continue;
      SmallVector<Operation *> ops{&op};
      if (auto mm = dyn_cast<TileMatmulOp>(op))
        llvm::append_range(ops, epilogueChain(mm));
      for (Operation *o : ops)
        for (Value x : o->getOperands())
          if (x == loop.getQTile() || x == loop.getKTile())
            return true;
      return false;
    }
    return true;
  }

  /// Starts copying scratch values `values` of flat chunk `chunkFlat` into
  /// their tiles (one cp.async group; the caller waits).
  void startScratchLoads(KernelBuilder &kb,
                         ArrayRef<const BoundaryValue *> values,
                         Value chunkFlat) {
    for (const BoundaryValue *b : values)
      loadBoundary(kb, *b, tile(b->value), chunkFlat, vTile);
    if (!values.empty())
      NVVM::CpAsyncCommitGroupOp::create(kb.b, kb.loc);
  }

  /// Starts the cp.async copies of the scan's scratch values of flat chunk
  /// `chunkFlat` into their prefetch buffers.
  void prefetchBoundaries(KernelBuilder &kb, Value chunkFlat) {
    for (const BoundaryValue *b : loads())
      loadBoundary(kb, *b, prefetchTarget(b->value), chunkFlat, vTile);
  }

  /// Whether this kernel reads q and P = mask(Q K^T): all but the segment
  /// scan's transitions (no output).
  bool readsQP() const { return segRole != SegmentRole::Transitions; }

  /// Where the next chunk's `value` is prefetched: its staging buffer, or,
  /// double-buffered, the buffer the current chunk does not compute in (the
  /// tile itself before the loop).
  SmemTile prefetchTarget(Value value) {
    if (!doubleBuffer)
      return staging[value];
    auto it = nextBuffer.find(value);
    return it != nextBuffer.end() ? it->second : plan.tile(value);
  }

  /// Double-buffered: points the staged values of chunk `c` at buffer
  /// c % 2 (the tile when even, the staging buffer when odd) and their
  /// prefetch targets at the other.
  void enterChunk(KernelBuilder &kb, Value c) {
    if (staging.empty() || !doubleBuffer)
      return;
    Value odd = kb.cmp(CmpIPredicate::ne, kb.rem(c, kb.c32(2)), kb.c32(0));
    if (normsTile) {
      Value n = kb.c32(normsPerChunk());
      normsCur = kb.select(odd, n, kb.c32(0));
      normsNext = kb.select(odd, kb.c32(0), n);
    }
    for (Value value : stagedValues) {
      SmemTile t = plan.tile(value);
      Value even = kb.c32(t.offset), other = kb.c32(staging[value].offset);
      SmemTile cur = t, next = t;
      cur.dynamicOffset = kb.select(odd, other, even);
      next.dynamicOffset = kb.select(odd, even, other);
      current[value] = cur;
      nextBuffer[value] = next;
    }
  }

  /// The tile `v` lives in now (see enterChunk).
  const SmemTile &tile(Value v) const {
    auto it = current.find(v);
    return it != current.end() ? it->second : plan.tile(v);
  }

  /// 16-byte copies of a padded tile between shared buffers of one layout.
  void copyTile(KernelBuilder &kb, const SmemTile &from, const SmemTile &to) {
    int64_t vectors = from.bytes() / 16;
    Type i32 = kb.i32();
    kb.forEachThreaded(vectors, threads, [&](Value i) {
      Value byte = kb.mul(i, kb.c32(16));
      SmemTile f = from, t = to;
      f.elt = t.elt = kb.b.getI8Type();
      kb.storeVec16(kb.loadVec16(i32, kb.smemPtr(f, byte)),
                    kb.smemPtr(t, byte));
    });
  }

  /// Where loadQKV copies to: the tiles, or the prefetch buffers of the
  /// next chunk.
  enum class QKVLoad { AsyncToTiles, Prefetch };

  /// Loads rows t0 .. t0 + chunk of q, k, v (only v with `onlyV`) into the
  /// tiles or prefetch buffers (`how`): by 16-byte cp.async, all in flight
  /// at once, where the tensors allow (the caller commits and waits), else
  /// by element loads and shared stores.
  void loadQKV(KernelBuilder &kb, QKVLoad how, bool onlyV = false) {
    Value zero = kb.zero(elt);
    SmallVector<std::pair<StringRef, const SmemTile *>, 2> qk;
    SmallVector<SmemTile, 3> targets;
    targets.reserve(3); // q, k, v at most: the pointers below stay valid
    std::pair<StringRef, const SmemTile *> vt{"", nullptr};
    for (auto [name, value] : qkvTiles()) {
      if ((onlyV && name != "v") || (name == "q" && !readsQP()))
        continue;
      SmemTile target =
          how == QKVLoad::Prefetch ? prefetchTarget(value) : tile(value);
      const SmemTile *t = &targets.emplace_back(target);
      if (name == "v")
        vt = {name, t};
      else
        qk.push_back({name, t});
    }
    // 16-byte copies (8 elements) when the tensors allow it (rows are
    // multiples of 8 elements, tiles' rows 16-byte aligned by padding);
    // element loads otherwise (e.g. a caller's unaligned views).
    // (cp.async holds no registers: unlike vectorAccess's register copies,
    // fine at dk = 256 too.)
    Value vectorOK = kb.aligned16({param("q"), param("k"), param("v")});
    // (rowsOn: when false, every row is zero filled.)
    auto loadRows = [&](ArrayRef<std::pair<StringRef, const SmemTile *>> tiles,
                        int64_t width, int64_t rowWidth, StringRef heads,
                        Value head, Value col0, Value rowsOn = {}) {
      auto validRow = [&](Value tok) {
        Value valid = kb.cmp(CmpIPredicate::slt, tok, eos);
        return rowsOn ? arith::AndIOp::create(kb.b, kb.loc, valid, rowsOn)
                      : valid;
      };
      kb.ifElse(
          vectorOK,
          [&] {
            int64_t perRow = width / 8;
            kb.forEachThreaded(chunk * perRow, threads, [&](Value idx) {
              Value r = kb.div(idx, kb.c32(perRow));
              Value c = kb.mul(kb.rem(idx, kb.c32(perRow)), kb.c32(8));
              Value tok = kb.add(t0, r);
              Value valid = validRow(tok);
              Value off = tokenOffset(kb, tok, param(heads), head, rowWidth,
                                      kb.add(col0, c));
              for (auto [name, tile] : tiles) {
                Value dst = kb.smemPtr(*tile, kb.at(*tile, r, c));
                // Rows past the end: 0 source bytes (zero fill) from a
                // valid address.
                Value src =
                    kb.gep(param(name), kb.select(valid, off, kb.c64(0)), elt);
                Value bytes = kb.select(valid, kb.c32(16), kb.c32(0));
                NVVM::CpAsyncOp::create(kb.b, kb.loc, dst, src, 16,
                                        NVVM::LoadCacheModifierKind::CG, bytes);
              }
            });
          },
          [&] {
            kb.forEachThreaded(chunk * width, threads, [&](Value idx) {
              Value r = kb.div(idx, kb.c32(width)),
                    d = kb.rem(idx, kb.c32(width));
              Value tok = kb.add(t0, r);
              Value valid = validRow(tok);
              Value off = tokenOffset(kb, tok, param(heads), head, rowWidth,
                                      kb.add(col0, d));
              for (auto [name, tile] : tiles) {
                Value x = kb.ifThenElse(
                    valid, elt,
                    [&] { return kb.load(elt, kb.gep(param(name), off, elt)); },
                    [&] { return zero; });
                kb.storeSmem(*tile, kb.flatToPadded(*tile, idx), x);
              }
            });
          });
    };
    if (!qk.empty())
      loadRows(qk, dk, dk, "H", h, kb.c32(0));
    if (vt.second)
      loadRows({vt}, bv, dv, "HV", hv, v0, vRowsOn);
  }

  void loadBeta(KernelBuilder &kb) {
    if (!plan.has(loop.getBetaTile()))
      return;
    const SmemTile &bs = tile(loop.getBetaTile());
    Type betaType = getElementTypeOrSelf(loop.getBeta().getType());
    kb.forEachThreaded(chunk, threads, [&](Value r) {
      Value tok = kb.add(t0, r);
      Value valid = kb.cmp(CmpIPredicate::slt, tok, eos);
      Value off =
          kb.add(kb.mul(kb.ext64(tok), kb.ext64(param("HV"))), kb.ext64(hv));
      Value x = kb.ifThenElse(
          valid, kb.f32(),
          [&] {
            return kb.toF32(
                kb.load(betaType, kb.gep(param("beta"), off, betaType)));
          },
          [&] { return kb.cf32(0.0); });
      kb.storeSmem(bs, r, x);
    });
  }

  using ByteRange = std::pair<int64_t, int64_t>; ///< [begin, end)

  /// The shared-memory bytes value `v`'s tile may occupy: its tile and,
  /// double-buffered, its other buffer.
  SmallVector<ByteRange, 2> tileRanges(Value v) const {
    SmallVector<ByteRange, 2> ranges;
    SmallVector<SmemTile, 2> tiles = {plan.tile(v)};
    if (auto it = staging.find(v); doubleBuffer && it != staging.end())
      tiles.push_back(it->second);
    for (const SmemTile &t : tiles)
      ranges.push_back({t.offset, t.offset + t.bytes()});
    return ranges;
  }

  /// The shared-memory ranges an op (with its epilogue chain) reads and
  /// writes through its tiles, or nullopt when not known statically: the
  /// UT transform (its scratch and internal barriers), the
  /// state-in-registers ops.
  struct SmemAccess {
    SmallVector<ByteRange, 4> reads, writes;
  };
  std::optional<SmemAccess> smemAccess(Operation *op,
                                       ArrayRef<Operation *> chain) {
    if (isa<TileUTTransformOp>(op) ||
        (stateInRegisters && (op == stateConvert.getOperation() ||
                              op == stateUpdate.getOperation())))
      return std::nullopt;
    SmemAccess access;
    auto add = [&](Value v, SmallVector<ByteRange, 4> &to) {
      if (plan.has(v)) // else a scalar
        llvm::append_range(to, tileRanges(v));
    };
    for (Value x : op->getOperands())
      add(x, access.reads);
    for (Operation *o : chain)
      for (Value x : o->getOperands())
        add(x, access.reads);
    if (TileMatmulOp first = chainFirstOf(op))
      for (Value x : first->getOperands())
        add(x, access.reads);
    add(op->getResult(0), access.writes);
    return access;
  }

  static bool overlaps(ArrayRef<ByteRange> x, ArrayRef<ByteRange> y) {
    for (auto [b0, e0] : x)
      for (auto [b1, e1] : y)
        if (b0 < e1 && b1 < e0)
          return true;
    return false;
  }
  /// Whether `next` may run without a barrier after the ops of `since`
  /// (those emitted since the last barrier): no tile it reads was written
  /// by them, none it writes was read or written by them.
  static bool independent(const SmemAccess &next, ArrayRef<SmemAccess> since) {
    for (const SmemAccess &prev : since)
      if (overlaps(next.reads, prev.writes) ||
          overlaps(next.writes, prev.reads) ||
          overlaps(next.writes, prev.writes))
        return false;
    return true;
  }

  /// The body ops of this part (those `filter` keeps), in order, each
  /// followed by a barrier unless the next op touches none of the shared
  /// memory the ops since the last barrier wrote, nor writes what they read
  /// (independent).
  /// `afterBarrier(done)`, when given, runs right after every barrier
  /// emitOps emits between or after ops (and once before the first op; the
  /// caller has just emitted a barrier), with the ops emitted so far (and
  /// their epilogue chains); it returns the shared ranges it read.
  /// `emitted`: ops the caller emitted before its barrier (skipped here,
  /// counted as done).
  using AfterBarrier =
      function_ref<SmemAccess(const llvm::DenseSet<Operation *> &done)>;
  void emitOps(KernelBuilder &kb,
               function_ref<bool(Operation *)> filter = nullptr,
               AfterBarrier afterBarrier = nullptr,
               ArrayRef<Operation *> emitted = {}) {
    // The ops with their epilogue chains (run in the product's epilogue)
    // and shared-memory accesses.
    struct BodyOp {
      Operation *op;
      SmallVector<Operation *> chain;
      std::optional<SmemAccess> access;
    };
    Block &body = loop.getBody().front();
    SmallVector<BodyOp> ops;
    llvm::DenseSet<Operation *> inEpilogue;
    for (Operation &op : body.without_terminator()) {
      if (!included(&op) || inEpilogue.count(&op) || chainedAway(&op) ||
          llvm::is_contained(emitted, &op) || (filter && !filter(&op)))
        continue;
      SmallVector<Operation *> chain;
      if (auto mm = dyn_cast<TileMatmulOp>(op))
        chain = epilogueChain(mm);
      inEpilogue.insert(chain.begin(), chain.end());
      std::optional<SmemAccess> access = smemAccess(&op, chain);
      ops.push_back({&op, std::move(chain), std::move(access)});
    }
    SmallVector<SmemAccess> sinceBarrier;
    llvm::DenseSet<Operation *> done(emitted.begin(), emitted.end());
    // After a barrier: the caller's stores, then another barrier when the
    // next op (`next`) may overwrite what they read (only a plan with
    // chunkPerProgram reuses a stored tile, once it is stored; the ops
    // without an access list write their result or scratch).
    auto barrierDone = [&](size_t next) {
      if (!afterBarrier)
        return;
      SmemAccess read = afterBarrier(done);
      if (read.reads.empty())
        return;
      if (plan.chunkPerProgram && next < ops.size() &&
          (!ops[next].access || !independent(*ops[next].access, {read}))) {
        kb.fenceNextBarrier = false; // nothing was written since the last
        kb.barrier();
        return;
      }
      sinceBarrier.push_back(std::move(read));
    };
    barrierDone(0);
    for (size_t i = 0; i < ops.size(); ++i) {
      Operation &op = *ops[i].op;
      done.insert(&op);
      done.insert(ops[i].chain.begin(), ops[i].chain.end());
      if (TileMatmulOp first = chainFirstOf(&op))
        done.insert(first);
      if (stateInRegisters && &op == stateConvert.getOperation()) {
        emitStateConvert(kb);
      } else if (stateInRegisters && &op == stateUpdate.getOperation()) {
        // Only registers written: a barrier is needed only before later
        // ops could overwrite the tiles it reads (storeChunkResults).
        emitStateUpdate(kb);
        sinceBarrier.clear();
        if (!lastIncluded(&op)) {
          kb.barrier();
          barrierDone(i + 1);
        }
        continue;
      } else if (auto mm = dyn_cast<TileMatmulOp>(op)) {
        emitMatmul(kb, mm, ops[i].chain);
      } else if (auto mask = dyn_cast<TileMaskOp>(op))
        emitMask(kb, mask);
      else if (auto scale = dyn_cast<TileRowScaleOp>(op))
        emitRowScale(kb, scale);
      else if (auto convert = dyn_cast<TileConvertOp>(op))
        emitConvert(kb, convert);
      else
        emitUTTransform(kb, cast<TileUTTransformOp>(op));
      // The barrier after the last op always stays (the code after emitOps
      // reads the results).
      const std::optional<SmemAccess> &mine = ops[i].access;
      if (mine) {
        sinceBarrier.push_back(*mine);
        if (i + 1 < ops.size() && ops[i + 1].access &&
            independent(*ops[i + 1].access, sinceBarrier))
          continue;
        // The proxy fence only when a tile written since the last barrier
        // is one that an async-proxy product of this kernel reads.
        SmallVector<ByteRange> later = asyncReadsAfter(&op);
        kb.fenceNextBarrier = llvm::any_of(
            sinceBarrier, [&](auto &a) { return overlaps(a.writes, later); });
      } else if (auto ut = dyn_cast<TileUTTransformOp>(op)) {
        // Its last phase writes only the result (the phases before it end
        // in barriers of their own, f32 scratch: UTTransform.cpp).
        kb.fenceNextBarrier =
            overlaps(tileRanges(ut.getResult()), asyncReadsAfter(&op));
      }
      kb.barrier();
      sinceBarrier.clear();
      barrierDone(i + 1);
    }
  }

  /// The shared ranges that products of this part read through the async
  /// proxy (wgmma), both buffers of a double-buffered tile; computed once.
  ArrayRef<ByteRange> asyncReads() {
    if (!asyncReadRanges)
      asyncReadRanges = asyncReadsFrom(nullptr);
    return *asyncReadRanges;
  }
  /// Those of the products after `op` in a kernel that runs its body once
  /// (prepare without a value-tile loop): nothing reads `op`'s writes
  /// through the async proxy when no later product does. Else asyncReads():
  /// a loop's next iteration reads them too.
  SmallVector<ByteRange> asyncReadsAfter(Operation *op) {
    if (part == Part::Prepare && !perValueTileLoop())
      return asyncReadsFrom(op->getNextNode());
    return SmallVector<ByteRange>(asyncReads());
  }
  /// The async-proxy reads of the products from `first` on (all: null).
  SmallVector<ByteRange> asyncReadsFrom(Operation *first) {
    SmallVector<ByteRange> ranges;
    Block &body = loop.getBody().front();
    Operation *from = first ? first : &body.front();
    for (Operation *op = from; op && op != body.getTerminator();
         op = op->getNextNode()) {
      auto mm = dyn_cast<TileMatmulOp>(op);
      // accumulate() (the state in registers) runs mma.sync.
      if (!mm || !included(op) || (stateInRegisters && mm == stateUpdate))
        continue;
      TileView a = TileView::of(plan.tile(mm.getA()), mm.getTransposeA());
      TileView b = TileView::of(plan.tile(mm.getB()), mm.getTransposeB());
      if (!tc.readsThroughAsyncProxy(product(mm, &a, &b), warps))
        continue;
      for (Value v : {mm.getA(), mm.getB()})
        llvm::append_range(ranges, tileRanges(v));
    }
    return ranges;
  }

  /// emitOps, storing each of `values` to its scratch as soon as it is
  /// final: after the barrier that follows its producer (block arguments
  /// before the first op), so that the stores' latency overlaps the later
  /// ops (and the memory fence of the next chunk's first barrier finds
  /// them done) instead of queueing at the end of the chunk.
  void emitOpsStoring(KernelBuilder &kb, ArrayRef<const BoundaryValue *> values,
                      Value chunkFlat,
                      function_ref<bool(Operation *)> filter = nullptr,
                      ArrayRef<Operation *> emitted = {}) {
    SmallVector<const BoundaryValue *> pending(values.begin(), values.end());
    emitOps(
        kb, filter,
        [&](const llvm::DenseSet<Operation *> &done) {
          SmemAccess read;
          llvm::erase_if(pending, [&](const BoundaryValue *b) {
            Operation *def = b->value.getDefiningOp();
            if (def && !done.count(def))
              return false;
            storeBoundary(kb, *b, chunkFlat, vTile);
            llvm::append_range(read.reads, tileRanges(b->value));
            return true;
          });
          return read;
        },
        emitted);
    assert(pending.empty() && "a value to store was produced by no op");
  }

  /// Whether `op` is the last op of the body this part emits.
  bool lastIncluded(Operation *op) {
    for (Operation *o = op->getNextNode(); o; o = o->getNextNode())
      if (!isa<ChunkYieldOp>(o) && included(o))
        return false;
    return true;
  }

  /// The state in registers rounded into the convert's result tile.
  void emitStateConvert(KernelBuilder &kb) {
    const SmemTile &out = tile(stateConvert.getResult());
    forEachStatePair(kb, [&](int64_t i, Value r, Value c) {
      SmallVector<Value, 2> x = {kb.fromF32(stateRegs[i], out.elt),
                                 kb.fromF32(stateRegs[i + 1], out.elt)};
      kb.storeVec(kb.makeVec(x), kb.smemPtr(out, kb.at(out, r, c)));
    });
  }

  /// S' = S + A B on the state registers.
  void emitStateUpdate(KernelBuilder &kb) {
    TileMatmulOp mm = stateUpdate;
    TileView a = TileView::of(tile(mm.getA()), mm.getTransposeA());
    TileView b = TileView::of(tile(mm.getB()), mm.getTransposeB());
    TileProduct p = product(mm, &a, &b);
    stateRegs = tc.accumulate(kb, p, warp, lane, warps, stateRegs);
  }

  /// Stores the output rows of the chunk and carries the state tile.
  void storeChunkResults(KernelBuilder &kb) {
    ChunkYieldOp yield = loop.getYield();
    if (plan.has(yield.getOutput()))
      storeOutput(kb);
    if (part == Part::Output) {
      kb.barrier();
      return;
    }
    if (stateInRegisters) {
      // The next chunk's loads overwrite tiles the update read: with
      // staging they start after its first barrier, else here.
      if (staging.empty())
        kb.barrier();
      return;
    }
    const SmemTile &next = tile(yield.getState());
    const SmemTile &state = tile(loop.getStateTile());
    if (next.offset != state.offset)
      kb.forEachThreaded(dk * bv, threads, [&](Value idx) {
        kb.storeSmem(state, kb.flatToPadded(state, idx),
                     kb.loadSmem(next, kb.flatToPadded(next, idx)));
      });
    kb.barrier();
  }

  /// Stores the output rows of the chunk (those inside the sequence).
  void storeOutput(KernelBuilder &kb) {
    ChunkYieldOp yield = loop.getYield();
    const SmemTile &out = tile(yield.getOutput());
    Type oType = getElementTypeOrSelf(loop.getO().getType());
    Value vectorOK = vectorAccess(kb, {param("o")});
    int64_t lanes = 128 / oType.getIntOrFloatBitWidth();
    // 16-byte stores of `lanes` consecutive columns.
    kb.ifElse(
        vectorOK,
        [&] {
          int64_t perRow = bv / lanes;
          kb.forEachThreaded(chunk * perRow, threads, [&](Value idx) {
            Value r = kb.div(idx, kb.c32(perRow));
            Value c = kb.mul(kb.rem(idx, kb.c32(perRow)), kb.c32(lanes));
            Value tok = kb.add(t0, r);
            kb.ifThen(kb.cmp(CmpIPredicate::slt, tok, eos), [&] {
              Value vec = LLVM::UndefOp::create(kb.b, kb.loc, kb.vec16(oType));
              for (int64_t i = 0; i < lanes; ++i) {
                Value x = kb.loadSmem(out, kb.at(out, r, kb.add(c, kb.c32(i))));
                vec = kb.insert(vec, kb.fromF32(kb.toF32(x), oType), i);
              }
              Value off =
                  tokenOffset(kb, tok, param("HV"), hv, dv, kb.add(v0, c));
              kb.storeVec16(vec, kb.gep(param("o"), off, oType));
            });
          });
        },
        [&] {
          kb.forEachThreaded(chunk * bv, threads, [&](Value idx) {
            Value r = kb.div(idx, kb.c32(bv)), j = kb.rem(idx, kb.c32(bv));
            Value tok = kb.add(t0, r);
            kb.ifThen(kb.cmp(CmpIPredicate::slt, tok, eos), [&] {
              Value off =
                  tokenOffset(kb, tok, param("HV"), hv, dv, kb.add(v0, j));
              Value x = kb.fromF32(
                  kb.toF32(kb.loadSmem(out, kb.flatToPadded(out, idx))), oType);
              kb.store(x, kb.gep(param("o"), off, oType));
            });
          });
        });
  }

  /// Stores output elements (r, c) and (r, c + 1) of the chunk (f32, from a
  /// product's accumulators) to o if row r is inside the sequence: one
  /// 2-element store when `pairStores` (o 16-byte aligned; c is even, so
  /// is dv), else two.
  void storeOutputPair(KernelBuilder &kb, Value r, Value c, Value x0, Value x1,
                       Value pairStores) {
    Type oType = getElementTypeOrSelf(loop.getO().getType());
    Value tok = kb.add(t0, r);
    kb.ifThen(kb.cmp(CmpIPredicate::slt, tok, eos), [&] {
      Value off = tokenOffset(kb, tok, param("HV"), hv, dv, kb.add(v0, c));
      Value y0 = kb.fromF32(x0, oType), y1 = kb.fromF32(x1, oType);
      Value at = kb.gep(param("o"), off, oType);
      kb.ifElse(
          pairStores,
          [&] {
            kb.storeVec(kb.makeVec({y0, y1}), at);
          },
          [&] {
            kb.store(y0, at);
            kb.store(y1, kb.gep(at, kb.c32(1), oType));
          });
    });
  }

  /// x[r] *= 1 / sqrt(sum(x[r]^2) + eps) for every row of a [chunk, dk] tile.
  /// (With `rowNorm`, one thread per row also calls rowNorm(row, inverse
  /// norm); without `scaleRows` the tile is left as it is.)
  void normalizeRows(KernelBuilder &kb, const SmemTile &t,
                     function_ref<void(Value, Value)> rowNorm = nullptr,
                     bool scaleRows = true) {
    // `parts` lanes share a row (each sums dk / parts elements; butterfly
    // shuffles combine them), so every thread works instead of one per row.
    // A warp's lanes take its 32 / parts rows first, then the parts: the
    // eight lanes of one 16-byte load phase read eight rows at one column,
    // which every tile layout puts in distinct banks (with the parts as
    // neighbouring lanes, a swizzled q / k tile's loads had 2-way bank
    // conflicts: half of prepare's norm phase's shared wavefronts).
    int64_t parts = threads / chunk;
    if (threads % chunk == 0 && parts >= 2 && parts <= 32 &&
        llvm::isPowerOf2_64(parts) && dk % parts == 0) {
      int64_t span = dk / parts, rowsPerWarp = 32 / parts;
      Value r = kb.add(kb.mul(warp, kb.c32(rowsPerWarp)),
                       kb.rem(lane, kb.c32(rowsPerWarp)));
      Value part = kb.div(lane, kb.c32(rowsPerWarp));
      Value col0 = kb.mul(part, kb.c32(span));
      // Element d of this thread's span (the vectors below stay inside
      // aligned groups of 8 columns: contiguous in every tile layout).
      Value base = t.coreMatrix ? Value() : kb.at(t, r, col0);
      auto elem = [&](Value d) {
        return base ? kb.add(base, d) : kb.at(t, r, kb.add(col0, d));
      };
      int64_t lanes = 128 / t.elt.getIntOrFloatBitWidth();
      if (span % lanes == 0 && span / lanes <= 8) {
        // 16-byte loads kept in registers: one pass over shared memory.
        SmallVector<Value> vecs;
        Value sum = kb.cf32(0.0);
        for (int64_t v = 0; v < span / lanes; ++v) {
          vecs.push_back(
              kb.loadVec16(t.elt, kb.smemPtr(t, elem(kb.c32(v * lanes)))));
          for (int64_t j = 0; j < lanes; ++j) {
            Value x = kb.toF32(kb.extract(vecs.back(), j));
            sum = kb.fma(x, x, sum);
          }
        }
        Value inv = kb.rsqrt(kb.fadd(butterflySum(kb, sum, parts, rowsPerWarp),
                                     kb.cf32(kL2NormEps)));
        if (rowNorm)
          kb.ifThen(kb.cmp(CmpIPredicate::eq, part, kb.c32(0)),
                    [&] { rowNorm(r, inv); });
        if (!scaleRows)
          return;
        for (auto [v, vec] : llvm::enumerate(vecs)) {
          Value out = vec;
          for (int64_t j = 0; j < lanes; ++j)
            out = kb.insert(
                out,
                kb.fromF32(kb.fmul(kb.toF32(kb.extract(vec, j)), inv), t.elt),
                j);
          kb.storeVec16(out, kb.smemPtr(t, elem(kb.c32(int64_t(v) * lanes))));
        }
        return;
      }
      Value sum = kb.forRangeReduce(kb.c32(0), kb.c32(span), kb.c32(1),
                                    kb.cf32(0.0), [&](Value d, Value acc) {
                                      Value x =
                                          kb.toF32(kb.loadSmem(t, elem(d)));
                                      return kb.fma(x, x, acc);
                                    });
      Value inv = kb.rsqrt(kb.fadd(butterflySum(kb, sum, parts, rowsPerWarp),
                                   kb.cf32(kL2NormEps)));
      if (rowNorm)
        kb.ifThen(kb.cmp(CmpIPredicate::eq, part, kb.c32(0)),
                  [&] { rowNorm(r, inv); });
      if (!scaleRows)
        return;
      kb.forRange(kb.c32(0), kb.c32(span), kb.c32(1), [&](Value d) {
        Value idx = elem(d);
        Value x = kb.toF32(kb.loadSmem(t, idx));
        kb.storeSmem(t, idx, kb.fromF32(kb.fmul(x, inv), t.elt));
      });
      return;
    }
    kb.forEachThreaded(chunk, threads, [&](Value r) {
      Value sum = kb.forRangeReduce(kb.c32(0), kb.c32(dk), kb.c32(1),
                                    kb.cf32(0.0), [&](Value d, Value acc) {
                                      Value x = kb.toF32(
                                          kb.loadSmem(t, kb.at(t, r, d)));
                                      return kb.fma(x, x, acc);
                                    });
      Value inv = kb.rsqrt(kb.fadd(sum, kb.cf32(kL2NormEps)));
      if (rowNorm)
        rowNorm(r, inv);
      if (!scaleRows)
        return;
      kb.forRange(kb.c32(0), kb.c32(dk), kb.c32(1), [&](Value d) {
        Value idx = kb.at(t, r, d);
        Value x = kb.toF32(kb.loadSmem(t, idx));
        kb.storeSmem(t, idx, kb.fromF32(kb.fmul(x, inv), t.elt));
      });
    });
  }

  /// Element offset (i64) in ws_norms of norm `r` of flat chunk
  /// `chunkFlat` (this v-head): q's row r for r < chunk, then k's row r -
  /// chunk (kNormsCross).
  Value normAt(KernelBuilder &kb, Value chunkFlat, Value r) {
    Value slot = kb.add(kb.mul(kb.ext64(chunkFlat), kb.ext64(param("HV"))),
                        kb.ext64(hv));
    return kb.add(kb.mul(slot, kb.c64(normsPerChunk())), kb.ext64(r));
  }
  /// The f32 norms per chunk and v-head in ws_norms: q's rows', then k's.
  int64_t normsPerChunk() const { return chunk * (kNormsCross ? 2 : 1); }
  /// Where k's norm of row `r` sits among a chunk's norms (kNormsCross).
  Value kNormAt(KernelBuilder &kb, Value r) { return kb.add(r, kb.c32(chunk)); }

  Value mapScalar(Value v) {
    // The only scalar a body sees is its scale argument.
    assert(v == loop.getScaleArg() && "unexpected scalar in chunk body");
    return param("scale");
  }

  /// The element-wise ops (row scales, masks) that only transform the
  /// product of `mm` in place: they run in its epilogue, on registers,
  /// instead of as separate passes over shared memory.
  SmallVector<Operation *> epilogueChain(TileMatmulOp mm) {
    SmallVector<Operation *> chain;
    Value v = mm.getResult();
    while (fuseEpilogues && v.hasOneUse()) {
      Operation *user = *v.getUsers().begin();
      if (!isa<TileMaskOp, TileRowScaleOp>(user) || !included(user) ||
          user->getOperand(0) != v ||
          plan.tile(user->getResult(0)).offset != plan.tile(v).offset)
        break;
      chain.push_back(user);
      v = user->getResult(0);
    }
    return chain;
  }

  void emitMatmul(KernelBuilder &kb, TileMatmulOp mm,
                  ArrayRef<Operation *> chain) {
    TileView a = TileView::of(tile(mm.getA()), mm.getTransposeA());
    TileView b = TileView::of(tile(mm.getB()), mm.getTransposeB());
    TileProduct p = product(mm, &a, &b);
    // The product computed first into the same accumulators, which are
    // then this product's acc (findAccumulatorChains).
    std::optional<TileView> firstA, firstB;
    TileProduct firstProduct;
    if (TileMatmulOp first = chainFirstOf(mm)) {
      firstA = TileView::of(tile(first.getA()), first.getTransposeA());
      firstB = TileView::of(tile(first.getB()), first.getTransposeB());
      firstProduct = product(first, &*firstA, &*firstB);
      p.first = &firstProduct;
    }
    bool toOutput = mm.getResult() == outputInEpilogue;
    std::optional<SmemTile> out;
    if (!toOutput)
      out = tile(mm.getResult());
    Value pairStores;
    if (toOutput) // o's element pairs stored as one (aligned) vector
      pairStores = kb.aligned16({param("o")});
    bool splitOut = plan.splitValues.count(mm.getResult());
    std::optional<SmemTile> acc;
    if (mm.getAcc() && !p.first)
      acc = tile(mm.getAcc());
    Value alpha = mm.getAlpha() ? mapScalar(mm.getAlpha()) : Value();
    bool negate = mm.getNegate();
    // Columns c and c + 1 (c even) are neighbours in every tile (16-byte
    // aligned, even leading dimensions): loaded and stored as pairs.
    Value coef = alpha;
    if (negate)
      coef = alpha ? kb.fneg(alpha) : kb.cf32(-1.0);
    // Products of q and k as given (kNormsCross): K_n K_n^T = D_k K K^T
    // D_k, Q_n K^T = D_q Q K^T (q's norms from element 0 of normsHere,
    // k's from element chunk).
    bool gramOfK = normsHere && mm.getA() == loop.getKTile() &&
                   mm.getB() == loop.getKTile();
    bool gramOfQ = normsHere && mm.getA() == loop.getQTile();
    auto epilogue = [&](Value r, Value c, Value x0, Value x1) {
      SmallVector<Value, 2> x = {x0, x1};
      if (gramOfK) {
        Value rowNorm = kb.loadSmem(*normsHere, kNormAt(kb, r));
        Value colNorms =
            kb.loadVec(kb.f32(), 2, kb.smemPtr(*normsHere, kNormAt(kb, c)));
        for (int64_t j = 0; j < 2; ++j)
          x[j] = kb.fmul(x[j], kb.fmul(rowNorm, kb.extract(colNorms, j)));
      }
      SmallVector<Value, 2> accs;
      if (acc) {
        Value pair =
            kb.loadVec(acc->elt, 2, kb.smemPtr(*acc, kb.at(*acc, r, c)));
        accs = {kb.extract(pair, 0), kb.extract(pair, 1)};
      }
      for (int64_t j = 0; j < 2; ++j) {
        Value col = kb.add(c, kb.c32(j));
        // acc + coef * x in one FMA (coef = +-alpha, -1 or 1).
        if (acc && coef)
          x[j] = kb.fma(x[j], coef, kb.toF32(accs[j]));
        else if (acc)
          x[j] = kb.fadd(x[j], kb.toF32(accs[j]));
        else if (coef)
          x[j] = kb.fmul(x[j], coef);
        for (Operation *op : chain) {
          if (auto scale = dyn_cast<TileRowScaleOp>(op)) {
            x[j] = kb.fmul(x[j], kb.toF32(kb.loadSmem(tile(scale.getS()), r)));
          } else {
            bool strict =
                cast<TileMaskOp>(op).getKind() == TileMaskKind::strict_lower;
            Value keep = kb.cmp(
                strict ? CmpIPredicate::slt : CmpIPredicate::sle, col, r);
            x[j] = kb.select(keep, x[j], kb.cf32(0.0));
          }
        }
      }
      if (gramOfQ) {
        Value rowNorm = kb.loadSmem(*normsHere, r);
        for (int64_t j = 0; j < 2; ++j)
          x[j] = kb.fmul(x[j], rowNorm);
      }
      if (toOutput)
        return storeOutputPair(kb, r, c, x[0], x[1], pairStores);
      if (splitOut) { // the rounded values, the rounded remainders below
        SmallVector<Value, 2> rest(2);
        for (int64_t j = 0; j < 2; ++j)
          std::tie(x[j], rest[j]) = kb.splitF32(x[j], out->elt);
        Value below = kb.add(r, kb.c32(out->rows / 2));
        kb.storeVec(kb.makeVec(rest), kb.smemPtr(*out, kb.at(*out, below, c)));
      } else {
        for (int64_t j = 0; j < 2; ++j)
          x[j] = kb.fromF32(x[j], out->elt);
      }
      kb.storeVec(kb.makeVec(x), kb.smemPtr(*out, kb.at(*out, r, c)));
    };
    p.epilogue = epilogue;
    tc.emit(kb, p, warp, lane, warps);
  }

  void emitMask(KernelBuilder &kb, TileMaskOp op) {
    const SmemTile &x = tile(op.getX());
    const SmemTile &out = tile(op.getResult());
    bool strict = op.getKind() == TileMaskKind::strict_lower;
    kb.forEachThreaded(x.rows * x.cols, threads, [&](Value idx) {
      Value r = kb.div(idx, kb.c32(x.cols)), c = kb.rem(idx, kb.c32(x.cols));
      Value keep =
          kb.cmp(strict ? CmpIPredicate::slt : CmpIPredicate::sle, c, r);
      Value v = kb.loadSmem(x, kb.at(x, r, c));
      kb.storeSmem(out, kb.at(out, r, c), kb.select(keep, v, kb.zero(x.elt)));
    });
  }

  void emitRowScale(KernelBuilder &kb, TileRowScaleOp op) {
    const SmemTile &x = tile(op.getX());
    const SmemTile &s = tile(op.getS());
    const SmemTile &out = tile(op.getResult());
    kb.forEachThreaded(x.rows * x.cols, threads, [&](Value idx) {
      Value r = kb.div(idx, kb.c32(x.cols)), c = kb.rem(idx, kb.c32(x.cols));
      Value v = kb.fmul(kb.toF32(kb.loadSmem(x, kb.at(x, r, c))),
                        kb.toF32(kb.loadSmem(s, r)));
      kb.storeSmem(out, kb.at(out, r, c), kb.fromF32(v, out.elt));
    });
  }

  void emitConvert(KernelBuilder &kb, TileConvertOp op) {
    const SmemTile &x = tile(op.getX());
    const SmemTile &out = tile(op.getResult());
    if (x.cols % 4 == 0 && x.ld % 4 == 0 && out.ld % 4 == 0) {
      // Four neighbouring elements per step (rows are 16-byte aligned).
      int64_t groups = x.cols / 4;
      kb.forEachThreaded(x.rows * groups, threads, [&](Value idx) {
        Value r = kb.div(idx, kb.c32(groups));
        Value c = kb.mul(kb.rem(idx, kb.c32(groups)), kb.c32(4));
        Value in = kb.loadVec(x.elt, 4, kb.smemPtr(x, kb.at(x, r, c)));
        SmallVector<Value, 4> y;
        for (int64_t j = 0; j < 4; ++j)
          y.push_back(kb.fromF32(kb.toF32(kb.extract(in, j)), out.elt));
        kb.storeVec(kb.makeVec(y), kb.smemPtr(out, kb.at(out, r, c)));
      });
      return;
    }
    kb.forEachThreaded(x.rows * x.cols, threads, [&](Value idx) {
      Value r = kb.div(idx, kb.c32(x.cols)), c = kb.rem(idx, kb.c32(x.cols));
      Value v = kb.toF32(kb.loadSmem(x, kb.at(x, r, c)));
      kb.storeSmem(out, kb.at(out, r, c), kb.fromF32(v, out.elt));
    });
  }

  /// T = (I + A)^-1 diag(beta) (UTTransform.cpp), with prepare's row
  /// scaling by k's inverse norms (T' = D_k T) where it stores them.
  void emitUTTransform(KernelBuilder &kb, TileUTTransformOp op) {
    UTTransformTiles t{tile(op.getA()),      tile(op.getBeta()),
                       tile(op.getResult()), plan.utInverse(op),
                       plan.utRowBlock(op),  int64_t(op.getBlock())};
    std::function<Value(Value)> rowNorm;
    if (normsHere)
      rowNorm = [&](Value r) {
        return kb.loadSmem(*normsHere, kNormAt(kb, r));
      };
    nvidia::emitUTTransform(kb, t, {warp, lane, warps, threads}, rowNorm);
  }

  ChunkLoopOp loop;
  const TargetInfo &target;
  const TensorCoreEmitter &tc;
  Part part;
  bool fuseEpilogues;
  Type elt;
  int64_t dk, dv, chunk, bv, warps, threads;
  SmemPlan plan;
  llvm::StringMap<Value> params;
  Value warp, lane, hv, h, v0, vTile, eos, t0, stateBase;
  /// Prefetch buffers of the q, k, v tiles and the scan's scratch values
  /// (see planStaging).
  llvm::DenseMap<Value, SmemTile> staging;
  SmallVector<Value> stagedValues; ///< staging's keys, in a fixed order
  /// asyncReads(), once computed.
  std::optional<SmallVector<ByteRange>> asyncReadRanges;
  /// Double buffering (planStaging): the staged values' tiles of the
  /// current chunk and their prefetch targets (set by enterChunk).
  bool doubleBuffer;
  llvm::DenseMap<Value, SmemTile> current, nextBuffer;
  /// Ops that depend on the v tile (prepare's per-value-tile ops).
  llvm::DenseSet<Operation *> valueDependent;
  int64_t stagedBytes = 0;
  llvm::DenseSet<Operation *> stateDependent;
  SmallVector<BoundaryValue> boundary;
  // Three phases: the ops of the scan, and what it hands to the output.
  bool threePhase = false;
  /// The state in registers (findRegisterState): its convert and update
  /// ops, and, while emitting, the registers holding it.
  bool stateInRegisters = false;
  TileConvertOp stateConvert;
  TileMatmulOp stateUpdate;
  SmallVector<Value> stateRegs;
  llvm::DenseSet<Operation *> recurrence;
  SmallVector<BoundaryValue> scanBoundary;
  /// Accumulator chains (findAccumulatorChains): a product -> the product
  /// computed first into its accumulators.
  llvm::DenseMap<Operation *, TileMatmulOp> chainedFirst;
  /// The yielded output, when its product's epilogue stores it to o.
  Value outputInEpilogue;
  /// The three-phase recurrence in registers (matchRegisterScan): its ops,
  /// and the warpgroups that share 64 value columns (halves of dk).
  bool registerScan = false;
  int64_t rsHalves = 1;
  TileConvertOp rsConvert;
  TileMatmulOp rsX, rsVn, rsNext;
  /// Three phases with the output ops in the scan (the pass's
  /// output-in-scan), and the output products O = scale (Q Sb), O = scale
  /// (P Vn) + O once the register scan matches them (matchOutputInScan).
  /// A scan built with it that does not match (computesOutput() false) is
  /// only lowerChunkLoop's probe: the loop then gets three kernels without
  /// it (buildKernels refuses such a scan).
  bool outputInScan = false;
  TileMatmulOp rsQS, rsOut;
  /// q's inverse row norms cross from prepare to such a scan (ws_norms),
  /// and prepare's flat chunk while it is emitted.
  bool qNormsCross = false;
  Value chunkFlatHere;
  /// k's inverse row norms cross too (after q's, per chunk), and k as given
  /// instead of the normalised k (analyze). Prepare then also leaves q and
  /// k as given and keeps both norm vectors in normsHere (2 x chunk f32
  /// after its plan, ws_norms' layout) for its products' scaling.
  bool kNormsCross = false;
  std::optional<SmemTile> normsHere;
  /// The scan's double buffer of the norms (planStaging; none when it does
  /// not fit: normsPerChunk() per chunk) and the element where the current
  /// / next chunk's start.
  std::optional<SmemTile> normsTile;
  Value normsCur, normsNext;
  /// The segment scan's kernel this scan is, if any (segment()), and its
  /// segments.
  SegmentRole segRole = SegmentRole::None;
  /// While emitting a transitions kernel: false in programs of M's columns
  /// (their values are zero: v's rows are not loaded, the tiles zero
  /// filled).
  Value vRowsOn;
};

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

struct ConvertDeltaToNVVMPass
    : deltajit::impl::ConvertDeltaToNVVMBase<ConvertDeltaToNVVMPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string error;
    std::optional<TargetInfo> target = TargetInfo::get(chip, error);
    if (!target) {
      module.emitError() << "convert-delta-to-nvvm: " << error;
      return signalPassFailure();
    }
    // An explicit family is checked up front (auto picks per kernel).
    if (tensorCores != "auto" && !emitterFor(*target, tensorCores, error)) {
      module.emitError() << "convert-delta-to-nvvm: " << error;
      return signalPassFailure();
    }

    SmallVector<Operation *> work;
    module.walk([&](Operation *op) {
      if (isa<ChunkLoopOp, DeltaRuleStepOp>(op))
        work.push_back(op);
    });
    if (work.empty())
      return;

    OpBuilder b(module.getContext());
    gpu::GPUModuleOp kernels = getOrCreateKernelModule(
        b, module, *target, target->mayUseWgmma(tensorCores));
    for (Operation *op : work) {
      LogicalResult result =
          TypeSwitch<Operation *, LogicalResult>(op)
              .Case([&](ChunkLoopOp loop) {
                return lowerChunkLoop(b, kernels, loop, *target);
              })
              .Case([&](DeltaRuleStepOp step) {
                return lowerStep(b, kernels, step, *target);
              });
      if (failed(result))
        return signalPassFailure();
    }
  }

  /// The emitter of tensor-core family `family` (made once per pass run),
  /// or nullptr with `error` set.
  const TensorCoreEmitter *emitterFor(const TargetInfo &target,
                                      StringRef family, std::string &error) {
    std::shared_ptr<TensorCoreEmitter> &slot = emitters[family.str()];
    if (!slot)
      slot = target.tensorCores(family, error);
    return slot.get();
  }

  gpu::GPUModuleOp getOrCreateKernelModule(OpBuilder &b, ModuleOp module,
                                           const TargetInfo &target,
                                           bool mayUseWgmma) {
    MLIRContext *ctx = module.getContext();
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(ctx));
    if (auto existing = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModule))
      return existing;
    b.setInsertionPointToEnd(module.getBody());
    auto nvvmTarget =
        NVVM::NVVMTargetAttr::get(ctx, /*optLevel=*/3, "nvptx64-nvidia-cuda",
                                  target.chip, target.ptxFeatures);
    auto mod = gpu::GPUModuleOp::create(b, module.getLoc(), kKernelModule,
                                        b.getArrayAttr({nvvmTarget}));
    b.setInsertionPointToStart(mod.getBody());
    // `.extern .shared .align 16 .b8 dj_smem[]`: the dynamic shared memory
    // (1024-byte aligned for swizzled tiles: their XOR pattern is taken
    // from address bits).
    int64_t align = mayUseWgmma ? 1024 : kSmemAlign;
    LLVM::GlobalOp::create(
        b, module.getLoc(), LLVM::LLVMArrayType::get(b.getI8Type(), 0),
        /*isConstant=*/false, LLVM::Linkage::External, kSmemSymbol, Attribute(),
        /*alignment=*/align, /*addrSpace=*/3);
    return mod;
  }

  /// The emitters made so far, by family (shared: the pass is copyable).
  std::map<std::string, std::shared_ptr<TensorCoreEmitter>> emitters;

  /// A unique kernel name; identical kernels (same key) share one.
  std::pair<std::string, bool> kernelName(StringRef base, StringRef key) {
    auto it = kernelsByKey.find(key);
    if (it != kernelsByKey.end())
      return {it->second, false};
    std::string name = base.str();
    for (int i = 1; usedNames.count(name); ++i)
      name = base.str() + "_" + std::to_string(i);
    usedNames.insert(name);
    kernelsByKey[key] = name;
    return {name, true};
  }

  /// The keys the runtime finds a package entry by (docs/package-format.md).
  static NamedAttrList entryKeys(Builder &attrs, StringRef op, StringRef dtype,
                                 int64_t dk, int64_t dv, bool l2norm) {
    NamedAttrList entry;
    entry.append("op", attrs.getStringAttr(op));
    entry.append("dtype", attrs.getStringAttr(dtype));
    entry.append("dk", attrs.getI64IntegerAttr(dk));
    entry.append("dv", attrs.getI64IntegerAttr(dv));
    entry.append("use_qk_l2norm", attrs.getBoolAttr(l2norm));
    return entry;
  }

  /// Epilogue fusion where it measured faster (H200, delta-bench): the
  /// fused kernel gained ~8% at dk <= 128 and lost 39% at dk = 256 (first
  /// session, 2026-11-29: 255 registers, spills); the three-phase kernels
  /// take it at every dk (thirteenth session, dk = 256: prepare 130 -> 121
  /// us in ncu, the forward 0.556 -> 0.554 ms; the output kernel compiles
  /// the same either way). The autotuner is meant to own this choice.
  bool fuseEpilogues(ChunkLoopOp loop, Part part) {
    int64_t dk = cast<RankedTensorType>(loop.getQ().getType()).getDimSize(3);
    return epilogueFusion && (dk <= 128 || part != Part::Fused);
  }

  /// The value-tile widths the three-phase chunk-parallel kernels may
  /// run, in order of preference (the last one is block_v); an error when
  /// an explicit `parallel-block-v` is not legal. Auto: the widest of 128,
  /// 64, 32, 16 (64 above dk = 128: the output kernel's 256 x 128 Sb tile
  /// leaves one program per SM; at 64 two fit. H200, 4 x 4096 x 8 x 256,
  /// thirteenth session: output 186 -> 155 us, forward 0.553-0.565 ->
  /// 0.518-0.523 ms; at d = 128 64 columns measured slower, 0.358 ->
  /// 0.366 ms at 8 x 2048).
  FailureOr<SmallVector<int64_t>> parallelWidths(ChunkLoopOp loop) {
    int64_t bv = loop.getTile().getBlockV();
    int64_t dk = cast<RankedTensorType>(loop.getQ().getType()).getDimSize(3);
    int64_t dv = cast<RankedTensorType>(loop.getV().getType()).getDimSize(3);
    if (parallelBlockV > 0) {
      if (parallelBlockV % bv != 0 || dv % parallelBlockV != 0)
        return loop.emitOpError()
               << "parallel-block-v (" << int64_t(parallelBlockV)
               << ") must be a multiple of block_v (" << bv
               << ") that divides dv (" << dv << ")";
      return SmallVector<int64_t>{parallelBlockV};
    }
    if (parallelBlockV < 0)
      return loop.emitOpError() << "parallel-block-v must be >= 0, got "
                                << int64_t(parallelBlockV);
    SmallVector<int64_t> widths;
    int64_t widest = dk > 128 ? 64 : 128;
    for (int64_t w : {128, 64, 32, 16})
      if (w <= widest && w > bv && w <= dv && dv % w == 0 && w % bv == 0)
        widths.push_back(w);
    widths.push_back(bv);
    return widths;
  }

  /// What building a loop's kernels gave.
  enum class Built { Ok, OverSharedMemory, Error };

  /// Makes and checks the kernels of `parts` into `out`: prepare and output
  /// lower `wide` when given, the others `loop`. With `quiet`, a plan over the
  /// shared-memory limit is reported as OverSharedMemory without an error.
  Built buildKernels(ChunkLoopOp loop, ChunkLoopOp wide, ArrayRef<Part> parts,
                     int64_t numPhases, const TargetInfo &target, bool quiet,
                     SmallVector<std::unique_ptr<ChunkLoopKernel>> &out) {
    out.clear();
    // Three phases without an output kernel: the scan computes the output.
    bool inScan = numPhases == 3 && !llvm::is_contained(parts, Part::Output);
    for (Part part : parts) {
      ChunkLoopOp of =
          wide && (part == Part::Prepare || part == Part::Output) ? wide : loop;
      const TensorCoreEmitter *tc = familyOf(of, part, numPhases, target);
      if (!tc)
        return Built::Error;
      out.push_back(std::make_unique<ChunkLoopKernel>(
          of, target, *tc, part, fuseEpilogues(loop, part), numPhases == 3,
          stateInRegisters, doubleBuffer, registerScan, epilogueFusion,
          inScan));
      if (part == Part::Scan && inScan && !out.back()->computesOutput()) {
        loop.emitOpError() << "internal error: the scan was to compute the "
                              "output but does not match its register form";
        return Built::Error;
      }
      if (failed(out.back()->check(quiet)))
        return out.back()->overSharedMemory ? Built::OverSharedMemory
                                            : Built::Error;
    }
    // The kernels of one loop exchange scratch buffers by name and size.
    if (wide && out.front()->scratch() != out[1]->scratch()) {
      loop.emitOpError() << "internal error: the prepare kernel at block_v "
                         << wide.getTile().getBlockV()
                         << " and the scan disagree on the scratch buffers";
      return Built::Error;
    }
    return Built::Ok;
  }

  /// The tensor-core emitter of `part` of `of` (auto:
  /// TargetInfo::autoFamily), or nullptr after an error on `of`.
  const TensorCoreEmitter *familyOf(ChunkLoopOp of, Part part,
                                    int64_t numPhases,
                                    const TargetInfo &target) {
    StringRef family =
        tensorCores == "auto"
            ? target.autoFamily(part, numPhases, of.getTile().getBlockV())
            : StringRef(tensorCores);
    std::string error;
    const TensorCoreEmitter *tc = emitterFor(target, family, error);
    if (!tc)
      of.emitOpError() << error;
    return tc;
  }

  /// Whether the three-phase scan of `loop` computes the output itself
  /// (output-in-scan, and the register scan matches the body with its
  /// output ops: ChunkLoopKernel::computesOutput), leaving two kernels.
  bool scanComputesOutput(ChunkLoopOp loop, const TargetInfo &target) {
    if (!outputInScan)
      return false;
    const TensorCoreEmitter *tc = familyOf(loop, Part::Scan, 3, target);
    if (!tc)
      return false;
    ChunkLoopKernel probe(loop, target, *tc, Part::Scan,
                          fuseEpilogues(loop, Part::Scan), true,
                          stateInRegisters, doubleBuffer, registerScan,
                          epilogueFusion, /*outputInScan=*/true);
    return probe.computesOutput();
  }

  LogicalResult lowerChunkLoop(OpBuilder &b, gpu::GPUModuleOp kernels,
                               ChunkLoopOp loop, const TargetInfo &target) {
    int64_t numPhases = phases > 1 ? phases : (splitKernels ? 2 : 1);
    SmallVector<Part> parts = {Part::Fused};
    if (numPhases == 2)
      parts = {Part::Prepare, Part::Scan};
    if (numPhases == 3)
      parts = {Part::Prepare, Part::Scan, Part::Output};
    int64_t bv = loop.getTile().getBlockV();
    SmallVector<int64_t> widths = {bv};
    if (numPhases == 3) {
      hoistQueryProducts(loop);
      auto w = parallelWidths(loop);
      if (failed(w))
        return failure();
      widths = *w;
    }
    // Three phases: prepare and output lower a copy of the loop at the
    // widest value tile that fits (`wide`, erased once they are emitted).
    ChunkLoopOp wide;
    auto dropWide = [&] {
      if (wide)
        wide.erase();
      wide = nullptr;
    };
    SmallVector<std::unique_ptr<ChunkLoopKernel>> kernelsToEmit;
    // Every width with the body's 16-bit operand copies, then (when none
    // fits) every width without them (the products then round the f32
    // tiles as they load them: same values, slower loads). Only the last
    // attempt reports a plan over the shared-memory limit.
    bool copies = hasOperandCopies(loop), done = false;
    for (bool withCopies : {true, false}) {
      if (!withCopies) {
        if (!copies)
          break;
        dropOperandCopies(loop);
      }
      // Whether the scan computes the output depends on the scan's loop
      // (its body, with or without the copies), not on prepare's width.
      if (numPhases == 3)
        parts =
            scanComputesOutput(loop, target)
                ? SmallVector<Part>{Part::Prepare, Part::Scan}
                : SmallVector<Part>{Part::Prepare, Part::Scan, Part::Output};
      for (int64_t pv : widths) {
        dropWide();
        if (pv != bv) {
          OpBuilder here(loop);
          auto copy = loop.cloneWithBlockV(here, pv);
          if (failed(copy))
            return failure();
          wide = *copy;
        }
        bool last = pv == widths.back() && (!withCopies || !copies);
        Built built = buildKernels(loop, wide, parts, numPhases, target,
                                   /*quiet=*/!last, kernelsToEmit);
        if (built == Built::Error) {
          dropWide();
          return failure();
        }
        if (built == Built::Ok) {
          done = true;
          break;
        }
      }
      if (done)
        break;
    }
    if (!done) {
      dropWide();
      return failure();
    }
    // The segment scan: the scan runs from the segments' starts, after the
    // transitions (a second scan kernel) and the combine.
    std::unique_ptr<ChunkLoopKernel> transitions;
    if (segmentChunks != 0) {
      auto refuse = [&](const Twine &why) {
        dropWide();
        return loop.emitOpError()
               << "segment-chunks (" << int64_t(segmentChunks) << "): " << why;
      };
      if (segmentChunks < 0 || segmentChunks % 2 != 0)
        return refuse("must be 0 or a positive even number of chunks");
      if (numPhases != 3)
        return refuse("needs three phases (phases=3)");
      ChunkLoopKernel &scan = *kernelsToEmit[1];
      if (auto why = scan.whyNotSegmented())
        return refuse(*why);
      scan.segment(SegmentRole::FromStarts);
      const TensorCoreEmitter *tc = familyOf(loop, Part::Scan, 3, target);
      if (!tc) {
        dropWide();
        return failure();
      }
      transitions = std::make_unique<ChunkLoopKernel>(
          loop, target, *tc, Part::Scan, fuseEpilogues(loop, Part::Scan), true,
          stateInRegisters, doubleBuffer, registerScan, epilogueFusion,
          /*outputInScan=*/true);
      transitions->segment(SegmentRole::Transitions);
      if (failed(transitions->check())) {
        dropWide();
        return failure();
      }
    }
    auto qType = cast<RankedTensorType>(loop.getQ().getType());
    int64_t dk = qType.getDimSize(3);
    int64_t dv = cast<RankedTensorType>(loop.getV().getType()).getDimSize(3);
    TileAttr tile = loop.getTile();
    std::string dtype = manifestDtype(qType.getElementType());
    auto baseName = [&](ChunkLoopOp of) {
      TileAttr t = of.getTile();
      return "dj_delta_rule_fwd_" + dtype + "_d" + std::to_string(dk) + "x" +
             std::to_string(dv) + "_c" + std::to_string(t.getChunk()) + "_v" +
             std::to_string(t.getBlockV()) + "_w" +
             std::to_string(t.getWarps()) +
             (loop.getUseQkL2norm() ? "_l2" : "") +
             (numPhases == 3 ? "_p3" : "");
    };
    std::string segTag =
        transitions ? "_seg" + std::to_string(segmentChunks) : "";
    SmallVector<LaunchSpec, 3> launchSpecs;
    for (auto [part, kernel] : llvm::zip(parts, kernelsToEmit)) {
      const char *suffix = part == Part::Prepare
                               ? (kernel->storesKNorms()   ? "_prepare_qk"
                                  : kernel->storesQNorms() ? "_prepare_q"
                                                           : "_prepare")
                           : kernel->computesOutput() ? "_scan_output"
                           : part == Part::Scan       ? "_scan"
                           : part == Part::Output     ? "_output"
                                                      : "";
      ChunkLoopOp of = kernel->lowered();
      if (transitions && part == Part::Scan) {
        // Before the scan: the transitions and the combine.
        auto [tName, tNew] =
            kernelName(baseName(of) + segTag + "_transitions",
                       keyOf(of) + "transitions" + segTag +
                           (fuseEpilogues(loop, part) ? "f" : ""));
        if (tNew)
          specs[tName] = transitions->emit(b, kernels, tName);
        launchSpecs.push_back(specs[tName]);
        std::string cKey = "combine " + std::to_string(dk) + "x" +
                           std::to_string(dv) + "c" +
                           std::to_string(tile.getChunk()) + segTag;
        auto [cName, cNew] = kernelName(
            "dj_delta_rule_fwd_d" + std::to_string(dk) + "x" +
                std::to_string(dv) + "_c" + std::to_string(tile.getChunk()) +
                segTag + "_combine",
            cKey);
        if (cNew)
          specs[cName] = emitSegmentCombineKernel(b, kernels, cName, dk, dv,
                                                  tile.getChunk(),
                                                  target.programmaticLaunch());
        launchSpecs.push_back(specs[cName]);
      }
      std::string scanSeg = part == Part::Scan ? segTag : "";
      auto [name, isNew] =
          kernelName(baseName(of) + suffix + scanSeg,
                     keyOf(of) + scanSeg + std::to_string(int(part)) +
                         std::to_string(numPhases) +
                         (fuseEpilogues(loop, part) ? "f" : "") +
                         (kernel->registerScanHere() ? "r" : "") +
                         (kernel->chainsOutput() ? "c" : "") +
                         (kernel->storesQNorms() ? "q" : "") +
                         (kernel->storesKNorms() ? "k" : "") +
                         (kernel->computesOutput() ? "o" : ""));
      if (isNew)
        specs[name] = kernel->emit(b, kernels, name);
      launchSpecs.push_back(specs[name]);
    }

    Builder attrs(loop.getContext());
    NamedAttrList entry = entryKeys(attrs, "delta_rule_forward", dtype, dk, dv,
                                    loop.getUseQkL2norm());
    entry.append("chunk", attrs.getI64IntegerAttr(tile.getChunk()));
    entry.append("tile", tile);
    if (numPhases == 3) // prepare's value tile
      entry.append("parallel_block_v",
                   attrs.getI64IntegerAttr(
                       kernelsToEmit.front()->lowered().getTile().getBlockV()));
    // The families of the kernels, in order, each once ("a+b" if mixed).
    std::string mma;
    for (const auto &kernel : kernelsToEmit) {
      StringRef name = kernel->family().name();
      if (!StringRef(mma).contains(name))
        mma += (mma.empty() ? "" : "+") + name.str();
    }
    entry.append("mma", attrs.getStringAttr(mma));
    if (auto c = loop.getScale().getDefiningOp<arith::ConstantFloatOp>())
      entry.append("scale", attrs.getF32FloatAttr(c.value().convertToFloat()));
    if (transitions)
      entry.append("segment_chunks", attrs.getI64IntegerAttr(segmentChunks));
    launchSpecs.front().entry = entry;
    SmallVector<std::pair<std::string, std::string>> scratch;
    if (numPhases > 1)
      scratch = kernelsToEmit.front()->scratch();
    if (transitions)
      llvm::append_range(scratch, SegmentLayout::scratch(dk, dv));
    kernelsToEmit.clear();
    dropWide();
    replaceWithLaunch(loop, kernels, launchSpecs, scratch);
    return success();
  }

  LogicalResult lowerStep(OpBuilder &b, gpu::GPUModuleOp kernels,
                          DeltaRuleStepOp step, const TargetInfo &target) {
    auto qType = cast<RankedTensorType>(step.getQ().getType());
    auto vType = cast<RankedTensorType>(step.getV().getType());
    int64_t dk = qType.getDimSize(2), dv = vType.getDimSize(2);
    Type elt = qType.getElementType();
    if (ShapedType::isDynamic(dk) || ShapedType::isDynamic(dv))
      return step.emitOpError() << "the NVIDIA lowering needs static dk and dv";
    int64_t block = decodeBlockV;
    if (block < 16 || block > 1024 || block % 16 != 0)
      return step.emitOpError()
             << "decode-block-v must be a multiple of 16 in [16, 1024], got "
             << block;
    int64_t bv = DecodeLayout::blockFor(dv, std::min<int64_t>(dv, block));
    if (bv == 0)
      return step.emitOpError() << "the NVIDIA decode kernel needs dv (" << dv
                                << ") to be a multiple of 4";
    if (!elt.isBF16() && !elt.isF16() && !elt.isF32())
      return step.emitOpError() << "unsupported element type " << elt;
    std::string dtype = manifestDtype(elt);
    std::string base =
        "dj_delta_rule_decode_" + dtype + "_d" + std::to_string(dk) + "x" +
        std::to_string(dv) + (step.getUseQkL2norm() ? "_l2" : "") +
        (bv == DecodeLayout::blockFor(
                   dv, std::min<int64_t>(dv, kDefaultDecodeBlockV))
             ? std::string()
             : "_v" + std::to_string(bv));
    std::string key;
    llvm::raw_string_ostream os(key);
    os << "decode " << step.getQ().getType() << step.getV().getType()
       << step.getBeta().getType() << step.getO().getType()
       << step.getUseQkL2norm();
    auto [name, isNew] = kernelName(base, key);
    LaunchSpec spec;
    if (isNew) {
      spec = emitDecodeKernel(b, kernels, step, name, bv,
                              target.programmaticLaunch());
      specs[name] = spec;
    } else {
      spec = specs[name];
    }
    Builder attrs(step.getContext());
    NamedAttrList entry = entryKeys(attrs, "delta_rule_decode", dtype, dk, dv,
                                    step.getUseQkL2norm());
    entry.append("scale",
                 attrs.getF32FloatAttr(float(step.getEffectiveScale())));
    spec.entry = entry;
    replaceWithLaunch(step, kernels, {spec}, {});
    return success();
  }

  /// A copy of a tile in the products' input type (that of q) that only
  /// products read (as a or b: they round their operands to that type).
  static bool isOperandCopy(TileConvertOp op) {
    auto loop = op->getParentOfType<ChunkLoopOp>();
    if (getElementTypeOrSelf(op.getType()) !=
        getElementTypeOrSelf(loop.getQ().getType()))
      return false;
    return llvm::all_of(op->getUses(), [](OpOperand &use) {
      auto mm = dyn_cast<TileMatmulOp>(use.getOwner());
      return mm && use.getOperandNumber() < 2; // a or b, not acc
    });
  }
  static bool hasOperandCopies(ChunkLoopOp loop) {
    return llvm::any_of(loop.getBody().front().getOps<TileConvertOp>(),
                        isOperandCopy);
  }

  /// Moves the ops that read q (and those that read only their results and
  /// block arguments: Q K^T and its mask) to the front of the body, in
  /// order. Every part's ops keep their dependences; what changes is
  /// prepare's plan (chunkPerProgram): q's tile and the stored mask(Q K^T)
  /// die before K K^T's f32 tile and the UT transform's scratch are
  /// placed (d = 128: 76800 -> 50432 bytes, four programs per SM).
  static void hoistQueryProducts(ChunkLoopOp loop) {
    Block &body = loop.getBody().front();
    llvm::DenseSet<Value> cone = {loop.getQTile()};
    SmallVector<Operation *> hoisted;
    for (Operation &op : body.without_terminator()) {
      bool readsCone = false, ready = true;
      for (Value x : op.getOperands()) {
        readsCone |= cone.contains(x);
        // Defined before the body's ops: a block argument, a value from
        // above, or a hoisted result.
        ready &= isa<BlockArgument>(x) || cone.contains(x) ||
                 x.getParentBlock() != &body;
      }
      if (!readsCone || !ready || op.getNumResults() != 1)
        continue;
      cone.insert(op.getResult(0));
      hoisted.push_back(&op);
    }
    Operation *anchor = nullptr; // the first op that stays
    for (Operation &op : body)
      if (!llvm::is_contained(hoisted, &op)) {
        anchor = &op;
        break;
      }
    for (Operation *op : hoisted)
      op->moveBefore(anchor);
  }

  /// Replaces the body's operand copies by the tiles they copy.
  static void dropOperandCopies(ChunkLoopOp loop) {
    for (TileConvertOp op : llvm::make_early_inc_range(
             loop.getBody().front().getOps<TileConvertOp>()))
      if (isOperandCopy(op)) {
        op.getResult().replaceAllUsesWith(op.getX());
        op.erase();
      }
  }

  /// Structural key of a chunk loop's kernel: its types, attributes and
  /// body, without the (host-only) operands.
  std::string keyOf(ChunkLoopOp loop) {
    std::string key;
    llvm::raw_string_ostream os(key);
    os << "chunk " << loop.getQ().getType() << loop.getV().getType()
       << loop.getBeta().getType() << loop.getO().getType() << loop.getTile()
       << loop.getUseQkL2norm();
    // The body, with values named by position (block argument number or
    // defining op index) so identical bodies give identical keys.
    llvm::DenseMap<Value, std::string> ids;
    Block &body = loop.getBody().front();
    for (BlockArgument arg : body.getArguments())
      ids[arg] = "a" + std::to_string(arg.getArgNumber());
    for (auto [i, op] : llvm::enumerate(body)) {
      os << op.getName() << "(";
      for (Value operand : op.getOperands())
        os << ids.lookup(operand) << ",";
      os << ")" << op.getAttrDictionary() << "->";
      for (Value result : op.getResults()) {
        ids[result] = "r" + std::to_string(i);
        os << result.getType() << ",";
      }
      os << ";";
    }
    return key;
  }

  /// Replaces `op` by delta.launch. One kernel and no scratch: the launch
  /// dictionary holds grid, block, shared_bytes and params directly; else
  /// a `launches` list (run in order) and the `scratch` buffers.
  void
  replaceWithLaunch(Operation *op, gpu::GPUModuleOp kernels,
                    ArrayRef<LaunchSpec> specs,
                    ArrayRef<std::pair<std::string, std::string>> scratch) {
    MLIRContext *ctx = op->getContext();
    Builder attrs(ctx);
    auto describe = [&](const LaunchSpec &spec, NamedAttrList &out) {
      SmallVector<Attribute> grid, params;
      for (const std::string &g : spec.grid)
        grid.push_back(attrs.getStringAttr(g));
      for (const KernelParam &p : spec.params)
        params.push_back(attrs.getArrayAttr(
            {attrs.getStringAttr(p.name), attrs.getStringAttr(p.type)}));
      out.append("grid", attrs.getArrayAttr(grid));
      out.append("block", attrs.getI64ArrayAttr({spec.block, 1, 1}));
      out.append("shared_bytes", attrs.getI64IntegerAttr(spec.sharedBytes));
      out.append("params", attrs.getArrayAttr(params));
      if (spec.programmaticWait)
        out.append("programmatic_wait", attrs.getBoolAttr(true));
    };
    NamedAttrList launch;
    launch.append("entry", specs.front().entry.getDictionary(ctx));
    if (specs.size() == 1 && scratch.empty()) {
      describe(specs.front(), launch);
    } else {
      SmallVector<Attribute> launches, buffers;
      for (const LaunchSpec &spec : specs) {
        NamedAttrList one;
        one.append("kernel", attrs.getStringAttr(spec.kernel));
        describe(spec, one);
        launches.push_back(one.getDictionary(ctx));
      }
      for (auto &[name, bytes] : scratch)
        buffers.push_back(attrs.getArrayAttr(
            {attrs.getStringAttr(name), attrs.getStringAttr(bytes)}));
      launch.append("launches", attrs.getArrayAttr(launches));
      launch.append("scratch", attrs.getArrayAttr(buffers));
    }

    OpBuilder b(op);
    SmallVector<Value> args;
    for (Value v : op->getOperands())
      if (isa<TensorType>(v.getType()))
        args.push_back(v);
    auto symbol =
        SymbolRefAttr::get(kernels.getNameAttr(),
                           {FlatSymbolRefAttr::get(ctx, specs.back().kernel)});
    auto launchOp = LaunchOp::create(b, op->getLoc(), op->getResultTypes(),
                                     symbol, args, launch.getDictionary(ctx));
    op->replaceAllUsesWith(launchOp->getResults());
    op->erase();
  }

  llvm::StringMap<std::string> kernelsByKey;
  llvm::StringSet<> usedNames;
  llvm::StringMap<LaunchSpec> specs;
};

} // namespace
