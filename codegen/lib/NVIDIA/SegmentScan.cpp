//===- SegmentScan.cpp - sequences split into segments: combine -----------===//
//
// See SegmentScan.h.
//
//===----------------------------------------------------------------------===//

#include "SegmentScan.h"
#include "Tf32Mma.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace deltajit::nvidia;
using arith::CmpIPredicate;

std::string SegmentLayout::segmentsFormula() {
  return "ceildiv(max_chunks, " + kSegLength.str() + ")";
}

std::string SegmentLayout::transitionSlotsFormula() {
  return "max(" + segmentsFormula() + " - 1, 1)";
}

SmallVector<std::pair<std::string, std::string>, 2>
SegmentLayout::scratch(int64_t dk, int64_t dv) {
  return {
      {kSegTransitions.str(), "N * HV * " + transitionSlotsFormula() + " * " +
                                  std::to_string(dk * (dk + dv) * 4)},
      {kSegStarts.str(),
       "N * HV * " + segmentsFormula() + " * " + std::to_string(dk * dv * 4)}};
}

namespace {
Value ceilDiv(KernelBuilder &kb, Value a, Value by) {
  return kb.div(kb.add(a, kb.sub(by, kb.c32(1))), by);
}
Value ceilDiv(KernelBuilder &kb, Value a, int64_t by) {
  return ceilDiv(kb, a, kb.c32(by));
}
Value atLeastOne(KernelBuilder &kb, Value a) {
  return kb.select(kb.cmp(CmpIPredicate::sgt, a, kb.c32(1)), a, kb.c32(1));
}
} // namespace

Value SegmentLayout::segments(KernelBuilder &kb, Value maxChunks,
                              Value length) {
  return ceilDiv(kb, maxChunks, length);
}

Value SegmentLayout::transitionSlots(KernelBuilder &kb, Value maxChunks,
                                     Value length) {
  return atLeastOne(kb, kb.sub(segments(kb, maxChunks, length), kb.c32(1)));
}

Value SegmentLayout::segmentsOf(KernelBuilder &kb, Value numChunks,
                                Value length) {
  return atLeastOne(kb, ceilDiv(kb, numChunks, length));
}

LaunchSpec deltajit::nvidia::emitSegmentCombineKernel(
    OpBuilder &b, gpu::GPUModuleOp mod, StringRef name, int64_t dk, int64_t dv,
    int64_t chunk, bool programmatic) {
  // 16 columns per program (dv = 128 at 16 v-heads: 128 programs); M S on
  // the tensor cores (3xTF32 m16n8k8: about f32's accuracy): warp w takes
  // rows 16 w .. + 16 of S, both of its 8-column tiles (one load of A's
  // fragments for the two). (The first combine ran M S as
  // FMAs, every thread 8 rows of one column: each M element was read from
  // shared memory by 16 threads, 30 us of 1 x 16384's forward.)
  constexpr int64_t kColumns = 16, kColTiles = kColumns / 8;
  assert(dk % 16 == 0 && dk <= 128 &&
         "the segment scan runs at dk <= 128, a multiple of 16");
  int64_t warps = dk / 16;
  LaunchSpec spec;
  spec.kernel = name.str();
  spec.params = {{"h0", "ptr"},
                 {"cu_seqlens", "ptr"},
                 {"HV", "i32"},
                 {"has_h0", "i32"},
                 {"max_chunks", "i32"},
                 {kSegLength.str(), "i32"},
                 {kSegTransitions.str(), "ptr"},
                 {kSegStarts.str(), "ptr"}};
  spec.grid = {std::to_string(dv / kColumns), "N * HV", "1"};
  spec.block = warps * 32;
  Type f32 = b.getF32Type();
  // Two buffers of each segment's M (dk x dk, rows padded by 16 bytes: the
  // A fragments' 8 rows x 4 columns fall in distinct banks) and of its N's
  // 16 columns (segment s in buffer s % 2: the next segment's load runs
  // beside this one's products), and the state's 16 columns (B).
  SmemTile m[2] = {SmemTile::make(dk, dk, f32), SmemTile::make(dk, dk, f32)};
  SmemTile n[2] = {SmemTile::make(dk, kColumns, f32),
                   SmemTile::make(dk, kColumns, f32)};
  SmemTile s = SmemTile::make(dk, kColumns, f32);
  int64_t offset = 0;
  for (SmemTile *t : {&m[0], &m[1], &n[0], &n[1], &s}) {
    t->offset = offset;
    offset = llvm::alignTo(offset + t->bytes(), 16);
  }
  spec.sharedBytes = offset;

  Location loc = mod.getLoc();
  KernelBody body = beginKernel(b, loc, mod, spec, programmatic,
                                /*launchDependentsEarly=*/false);
  llvm::StringMap<Value> &p = body.params;
  KernelBuilder &kb = body.kb;
  kb.blockSize = spec.block;

  Value tid = kb.threadIdX();
  Value warp = kb.div(tid, kb.c32(32));
  Tf32Lanes lanes(kb, kb.rem(tid, kb.c32(32)));
  Value nh = kb.blockIdY();
  Value seqIdx = kb.div(nh, p["HV"]);
  Value c0 = kb.mul(kb.blockIdX(), kb.c32(kColumns));
  Value cu = p["cu_seqlens"];
  Value bos = kb.trunc32(kb.load(kb.i64(), kb.gep(cu, seqIdx, kb.i64())));
  Value eos = kb.trunc32(
      kb.load(kb.i64(), kb.gep(cu, kb.add(seqIdx, kb.c32(1)), kb.i64())));
  Value numChunks = ceilDiv(kb, kb.sub(eos, bos), chunk);
  Value length = p[kSegLength];
  Value segs = SegmentLayout::segmentsOf(kb, numChunks, length);
  Value maxChunks = p["max_chunks"];
  Value slots = SegmentLayout::segments(kb, maxChunks, length);
  Value transSlots = SegmentLayout::transitionSlots(kb, maxChunks, length);
  Value nh64 = kb.ext64(nh);

  // This lane's state elements: per column tile t, the accumulator pairs
  // (row, col), (row, col + 1) at a = 0, 2 (forEachTf32AccumulatorPair) of
  // the warp's rows, carried as value 4 t + a, + 1.
  Value r0 = kb.mul(warp, kb.c32(16));
  auto forEachPair = [&](function_ref<void(int64_t, Value, Value)> fn) {
    for (int64_t t = 0; t < kColTiles; ++t)
      forEachTf32AccumulatorPair(kb, lanes, [&](int64_t a, Value r, Value c) {
        fn(4 * t + a, kb.add(r0, r), kb.add(c, kb.c32(8 * t)));
      });
  };
  int64_t carriedCount = 4 * kColTiles;
  // Elements (d, c0 + c), + 1 of a dk x dv state at slot `slot` (i64).
  auto stateAt = [&](Value slot, Value d, Value c) {
    return kb.add(
        kb.mul(kb.add(kb.mul(slot, kb.c64(dk)), kb.ext64(d)), kb.c64(dv)),
        kb.ext64(kb.add(c0, c)));
  };
  // Segment `seg`'s buffers (seg % 2).
  auto buffer = [&](SmemTile(&t)[2], Value seg) {
    SmemTile at = t[0];
    at.dynamicOffset =
        kb.select(kb.cmp(CmpIPredicate::ne, kb.rem(seg, kb.c32(2)), kb.c32(0)),
                  kb.c32(t[1].offset), kb.c32(t[0].offset));
    return at;
  };
  // Starts the copies of segment seg's M and N columns c0 .. + 16 (f32,
  // rows of dk + dv in ws_seg_trans) into its buffers.
  auto prefetch = [&](Value seg) {
    Value trans =
        kb.mul(kb.add(kb.mul(nh64, kb.ext64(transSlots)), kb.ext64(seg)),
               kb.c64(dk * (dk + dv)));
    auto transAt = [&](Value r, Value c) {
      return kb.gep(
          p[kSegTransitions],
          kb.add(trans, kb.ext64(kb.add(kb.mul(r, kb.c32(dk + dv)), c))), f32);
    };
    SmemTile mt = buffer(m, seg), ntile = buffer(n, seg);
    auto copy = [&](const SmemTile &to, int64_t cols, Value col0) {
      kb.forEachThreaded(dk * cols / 4, spec.block, [&](Value idx) {
        Value r = kb.div(idx, kb.c32(cols / 4));
        Value c = kb.mul(kb.rem(idx, kb.c32(cols / 4)), kb.c32(4));
        NVVM::CpAsyncOp::create(kb.b, kb.loc, kb.smemPtr(to, kb.at(to, r, c)),
                                transAt(r, kb.add(col0, c)), 16,
                                NVVM::LoadCacheModifierKind::CG, Value());
      });
    };
    copy(mt, dk, kb.c32(0));
    copy(ntile, kColumns, kb.add(kb.c32(dk), c0));
  };

  Value hasH0 = kb.cmp(CmpIPredicate::ne, p["has_h0"], kb.c32(0));
  kb.ifThen(kb.cmp(CmpIPredicate::sgt, segs, kb.c32(1)),
            [&] { prefetch(kb.c32(0)); });
  NVVM::CpAsyncCommitGroupOp::create(kb.b, kb.loc);
  SmallVector<Value> init = kb.ifThenElseValues(
      hasH0,
      [&] {
        SmallVector<Value> regs(carriedCount);
        // (Element loads: h0 is the caller's, 4-byte aligned.)
        forEachPair([&](int64_t i, Value r, Value c) {
          Value at = kb.gep(p["h0"], stateAt(nh64, r, c), f32);
          regs[i] = kb.load(f32, at);
          regs[i + 1] = kb.load(f32, kb.gep(at, kb.c32(1), f32));
        });
        return regs;
      },
      [&] { return SmallVector<Value>(carriedCount, kb.cf32(0.0)); });

  kb.forRangeCarry(
      kb.c32(0), segs, kb.c32(1), init,
      [&](Value seg, ValueRange carried) -> SmallVector<Value> {
        // This segment's starting state.
        Value start = kb.add(kb.mul(nh64, kb.ext64(slots)), kb.ext64(seg));
        forEachPair([&](int64_t i, Value r, Value c) {
          kb.storeVec(kb.makeVec({carried[i], carried[i + 1]}),
                      kb.gep(p[kSegStarts], stateAt(start, r, c), f32));
        });
        Value next = kb.add(seg, kb.c32(1));
        return kb.ifThenElseValues(
            kb.cmp(CmpIPredicate::slt, next, segs),
            [&] {
              // S <- M S + N with segment seg's [M | N].
              kb.barrier(); // the last step's reads of s and the buffers
              kb.ifThen(
                  kb.cmp(CmpIPredicate::slt, kb.add(next, kb.c32(1)), segs),
                  [&] { prefetch(next); });
              NVVM::CpAsyncCommitGroupOp::create(kb.b, kb.loc);
              forEachPair([&](int64_t i, Value r, Value c) {
                kb.storeVec(kb.makeVec({carried[i], carried[i + 1]}),
                            kb.smemPtr(s, kb.at(s, r, c)));
              });
              NVVM::CpAsyncWaitGroupOp::create(kb.b, kb.loc, 1); // seg's
              kb.barrier();
              SmemTile mt = buffer(m, seg), ntile = buffer(n, seg);
              // acc = N, then += M S (both column tiles).
              SmallVector<SmallVector<Value, 4>> acc(kColTiles,
                                                     SmallVector<Value, 4>(4));
              forEachPair([&](int64_t i, Value r, Value c) {
                Value pair =
                    kb.loadVec(f32, 2, kb.smemPtr(ntile, kb.at(ntile, r, c)));
                acc[i / 4][i % 4] = kb.extract(pair, 0);
                acc[i / 4][i % 4 + 1] = kb.extract(pair, 1);
              });
              mmaTf32x3(
                  kb, lanes, 0, dk,
                  [&](Value r, Value k) {
                    return kb.loadSmem(mt, kb.at(mt, kb.add(r0, r), k));
                  },
                  [&](int64_t t, Value k, Value c) {
                    return kb.loadSmem(s,
                                       kb.at(s, k, kb.add(c, kb.c32(8 * t))));
                  },
                  acc);
              SmallVector<Value> result;
              for (auto &tile : acc)
                llvm::append_range(result, tile);
              return result;
            },
            [&] { return SmallVector<Value>(carried.begin(), carried.end()); });
      });
  gpu::ReturnOp::create(b, loc);
  return spec;
}
