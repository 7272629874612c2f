//===- DecodeKernel.cpp - the decode step's kernel ------------------------===//
//
// See DecodeKernel.h.
//
//===----------------------------------------------------------------------===//

#include "DecodeKernel.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace deltajit;
using namespace deltajit::delta;
using namespace deltajit::nvidia;
using arith::CmpIPredicate;

LaunchSpec deltajit::nvidia::emitDecodeKernel(OpBuilder &b,
                                              gpu::GPUModuleOp mod,
                                              DeltaRuleStepOp op,
                                              StringRef name, int64_t bv,
                                              bool programmatic) {
  auto qType = cast<RankedTensorType>(op.getQ().getType());
  Type elt = qType.getElementType();
  Type betaType = getElementTypeOrSelf(op.getBeta().getType());
  Type oType = getElementTypeOrSelf(op.getO().getType());
  int64_t dk = qType.getDimSize(2);
  int64_t dv = cast<RankedTensorType>(op.getV().getType()).getDimSize(2);
  DecodeLayout lay = DecodeLayout::of(dk, bv);
  constexpr int64_t kCols = 4;

  LaunchSpec spec;
  spec.kernel = name.str();
  spec.params = {{"q", "ptr"},         {"k", "ptr"}, {"v", "ptr"},
                 {"beta", "ptr"},      {"o", "ptr"}, {"state_in", "ptr"},
                 {"state_out", "ptr"}, {"H", "i32"}, {"HV", "i32"},
                 {"scale", "f32"}};
  spec.grid = {std::to_string(dv / bv), "N * HV", "1"};
  spec.block = lay.threads;

  Location loc = op.getLoc();
  KernelBody body = beginKernel(b, loc, mod, spec, programmatic,
                                /*launchDependentsEarly=*/true);
  llvm::StringMap<Value> &p = body.params;
  KernelBuilder &kb = body.kb;
  kb.blockSize = lay.threads;
  Type f32 = kb.f32();

  Value hvCount = p["HV"];
  Value nh = kb.blockIdY();
  Value n = kb.div(nh, hvCount), hv = kb.rem(nh, hvCount);
  Value h = kb.div(hv, kb.div(hvCount, p["H"]));
  Value tid = kb.threadIdX();
  Value g = kb.rem(tid, kb.c32(lay.groups));
  Value split = kb.div(tid, kb.c32(lay.groups));
  Value col0 = kb.add(kb.mul(kb.blockIdX(), kb.c32(bv)), kb.mul(g, kb.c32(4)));
  Value qkBase = kb.mul(kb.ext64(kb.add(kb.mul(n, p["H"]), h)), kb.c64(dk));
  Value rowV = kb.ext64(kb.add(kb.mul(n, hvCount), hv));
  Value vIdx = kb.add(kb.mul(rowV, kb.c64(dv)), kb.ext64(col0));
  Value sBase = kb.add(kb.mul(rowV, kb.c64(dk * dv)), kb.ext64(col0));

  // Row i of this thread, and whether it exists (dk not a multiple of the
  // splits: only the last i can fall off).
  auto rowOf = [&](int64_t i) { return kb.add(split, kb.c32(i * lay.splits)); };
  auto rowMayBeMissing = [&](int64_t i) { return (i + 1) * lay.splits > dk; };
  auto rowExists = [&](int64_t i) {
    return kb.cmp(CmpIPredicate::slt, rowOf(i), kb.c32(dk));
  };
  // The thread's first state row; row i is i * rowStrideBytes further.
  auto rowZero = [&](StringRef which) {
    Value off = kb.add(sBase, kb.mul(kb.ext64(split), kb.c64(dv)));
    return kb.gep(p[which], off, f32);
  };
  Value stateRow0In = rowZero("state_in"), stateRow0Out = rowZero("state_out");
  const int64_t rowStrideBytes = lay.splits * dv * 4;
  // 1. The state rows, beta and v, loaded before anything else (their
  // latencies overlap each other's and the q/k staging's). Offsets from sBase
  // are multiples of 4 elements (dv and col0 are): 16-byte accesses, as the
  // runtime checks that the state pointers are 16-byte aligned. The state is
  // read and written once: streaming cache hints (H200, 16 heads x 128: 85%
  // -> 87% of 4.2 TB/s at batch 64, 70% -> 74% at 16, the same at 256).
  SmallVector<Value> S;
  for (int64_t i = 0; i < lay.rows; ++i) {
    auto load = [&]() -> SmallVector<Value> {
      return kb.loadF32x4Streaming(stateRow0In, i * rowStrideBytes);
    };
    S.append(rowMayBeMissing(i)
                 ? kb.ifThenElseValues(rowExists(i), load,
                                       [&]() -> SmallVector<Value> {
                                         return SmallVector<Value>(
                                             kCols, kb.cf32(0.0));
                                       })
                 : load());
  }
  auto at = [&](int64_t i, int64_t c) { return S[i * kCols + c]; };
  Value beta = kb.toF32(kb.load(betaType, kb.gep(p["beta"], rowV, betaType)));
  SmallVector<Value> vCols;
  for (int64_t c = 0; c < kCols; ++c)
    vCols.push_back(
        kb.toF32(kb.load(elt, kb.gep(p["v"], kb.add(vIdx, kb.c64(c)), elt))));

  // 2. q and k of the (sequence, head), staged in shared memory (f32) by all
  // threads, then read as broadcasts; their squared norms are reduced across
  // the block (butterfly within warps, then the warps' partial sums).
  int64_t numWarps = llvm::divideCeil(lay.threads, 32);
  SmemTile qs = SmemTile::make(dk, 1, f32), ks = qs;
  ks.offset = dk * 4;
  SmemTile partial = SmemTile::make(2 * numWarps, 1, f32);
  partial.offset = 2 * dk * 4;
  SmemTile kvSums = SmemTile::make(lay.slots * bv, 1, f32);
  kvSums.offset = partial.offset + partial.bytes();
  SmemTile oSums = kvSums;
  oSums.offset = kvSums.offset + kvSums.bytes();
  spec.sharedBytes = lay.slots > 1 ? oSums.offset + oSums.bytes()
                                   : partial.offset + partial.bytes();
  kb.forEachThreaded(dk, lay.threads, [&](Value d) {
    for (auto [which, tile] :
         {std::pair<StringRef, const SmemTile *>{"q", &qs}, {"k", &ks}})
      kb.storeSmem(
          *tile, d,
          kb.toF32(kb.load(
              elt, kb.gep(p[which], kb.add(qkBase, kb.ext64(d)), elt))));
  });
  kb.barrier();
  Value invQ = kb.cf32(1.0), invK = kb.cf32(1.0);
  if (op.getUseQkL2norm()) {
    int64_t lanes = std::min<int64_t>(lay.threads, 32);
    Value lane = kb.rem(tid, kb.c32(32)), warp = kb.div(tid, kb.c32(32));
    const StringRef names[] = {"q", "k"};
    for (auto [i, which] : llvm::enumerate(names)) {
      const SmemTile &tile = which == "q" ? qs : ks;
      Value sum = kb.forRangeReduce(tid, kb.c32(dk), kb.c32(lay.threads),
                                    kb.cf32(0.0), [&](Value d, Value acc) {
                                      Value x = kb.loadSmem(tile, d);
                                      return kb.fma(x, x, acc);
                                    });
      sum = butterflySum(kb, sum, lanes);
      kb.ifThen(kb.cmp(CmpIPredicate::eq, lane, kb.c32(0)), [&] {
        kb.storeSmem(partial, kb.add(warp, kb.c32(int64_t(i) * numWarps)), sum);
      });
    }
    kb.barrier();
    auto total = [&](int64_t i) {
      Value sum = kb.cf32(0.0);
      for (int64_t w = 0; w < numWarps; ++w)
        sum = kb.fadd(sum, kb.loadSmem(partial, kb.c32(i * numWarps + w)));
      return kb.rsqrt(kb.fadd(sum, kb.cf32(kL2NormEps)));
    };
    invQ = total(0);
    invK = total(1);
  }
  // q or k at row i (0 for a missing row).
  auto vecAt = [&](const SmemTile &tile, int64_t i) {
    if (!rowMayBeMissing(i))
      return kb.loadSmem(tile, rowOf(i));
    Value clamped = kb.min(rowOf(i), kb.c32(dk - 1));
    return kb.select(rowExists(i), kb.loadSmem(tile, clamped), kb.cf32(0.0));
  };
  // Sums each column's partial over the row splits: shuffles between the
  // splits of a warp, then (several warps) shared memory.
  auto sumOverSplits = [&](SmallVector<Value> part, const SmemTile &slots) {
    for (Value &x : part)
      x = butterflySum(kb, x, lay.inWarp, lay.groups);
    if (lay.slots == 1)
      return part;
    Value slot = kb.div(split, kb.c32(lay.inWarp));
    Value first =
        kb.cmp(CmpIPredicate::eq, kb.rem(split, kb.c32(lay.inWarp)), kb.c32(0));
    Value colIdx = kb.mul(g, kb.c32(kCols));
    kb.ifThen(first, [&] {
      for (int64_t c = 0; c < kCols; ++c)
        kb.storeSmem(
            slots, kb.add(kb.mul(slot, kb.c32(bv)), kb.add(colIdx, kb.c32(c))),
            part[c]);
    });
    kb.barrier();
    SmallVector<Value> total;
    for (int64_t c = 0; c < kCols; ++c) {
      Value sum = kb.cf32(0.0);
      for (int64_t sl = 0; sl < lay.slots; ++sl)
        sum = kb.fadd(sum,
                      kb.loadSmem(slots, kb.add(colIdx, kb.c32(sl * bv + c))));
      total.push_back(sum);
    }
    return total;
  };

  // 3. kv = S^T k per column; u = beta (v - kv); S' = S + k u.
  SmallVector<Value> kv(kCols, kb.cf32(0.0));
  for (int64_t i = 0; i < lay.rows; ++i) {
    Value ki = vecAt(ks, i);
    for (int64_t c = 0; c < kCols; ++c)
      kv[c] = kb.fma(at(i, c), ki, kv[c]);
  }
  kv = sumOverSplits(kv, kvSums);
  SmallVector<Value> ku;
  for (int64_t c = 0; c < kCols; ++c) {
    Value u = kb.fmul(beta, kb.fsub(vCols[c], kb.fmul(kv[c], invK)));
    ku.push_back(kb.fmul(invK, u));
  }
  // 4. S' = S + k u, stored; o = q^T S'.
  SmallVector<Value> next(S.size());
  SmallVector<Value> dot(kCols, kb.cf32(0.0));
  for (int64_t i = 0; i < lay.rows; ++i) {
    Value ki = vecAt(ks, i), qi = vecAt(qs, i);
    for (int64_t c = 0; c < kCols; ++c) {
      next[i * kCols + c] = kb.fma(ki, ku[c], at(i, c));
      dot[c] = kb.fma(next[i * kCols + c], qi, dot[c]);
    }
  }
  for (int64_t i = 0; i < lay.rows; ++i) {
    auto store = [&] {
      kb.storeF32x4Streaming(ArrayRef<Value>(next).slice(i * kCols, kCols),
                             stateRow0Out, i * rowStrideBytes);
    };
    if (rowMayBeMissing(i))
      kb.ifThen(rowExists(i), store);
    else
      store();
  }
  dot = sumOverSplits(dot, oSums);
  kb.ifThen(kb.cmp(CmpIPredicate::eq, split, kb.c32(0)), [&] {
    for (int64_t c = 0; c < kCols; ++c) {
      Value o = kb.fmul(kb.fmul(dot[c], invQ), p["scale"]);
      kb.store(kb.fromF32(o, oType),
               kb.gep(p["o"], kb.add(vIdx, kb.c64(c)), oType));
    }
  });
  gpu::ReturnOp::create(b, loc);
  return spec;
}
