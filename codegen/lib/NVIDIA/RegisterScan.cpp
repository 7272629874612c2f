//===- RegisterScan.cpp - the scan's chunk step in registers --------------===//
//
// See RegisterScan.h. Fragments, per warp w of a warpgroup (rows 16 w ..
// 16 w + 15 of a 64-row wgmma product), g = lane / 4, q = lane % 4:
// accumulators of columns 8 j .. 8 j + 7 are registers 4 j, 4 j + 1 = (g,
// 8 j + 2q, + 1) and 4 j + 2, 4 j + 3 = (g + 8, ...); the A operand of a
// k16 step from registers is a0 = (g, 2q..+1), a1 = (g + 8, 2q..), a2 = (g,
// 2q + 8..), a3 = (g + 8, 2q + 8..), each two 16-bit values. So accumulator
// blocks 2s and 2s + 1, rounded and packed in pairs, are the A operand of
// contraction step s of the next product.
//
//===----------------------------------------------------------------------===//

#include "RegisterScan.h"
#include "Wgmma.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

#include <string>

using namespace mlir;
using namespace deltajit::nvidia;

int64_t RegisterScanStep::halvesFor(int64_t dk, int64_t chunk, int64_t blockV,
                                    Type elt) {
  if (dk <= 128)
    return 1;
  // Each half's N = 128 update starts a 64-column panel of K; a half's
  // 16 columns of Sb (dk / 2 rows, 16-bit) hold the warp's X^T (chunk
  // rows, f32) when chunk <= dk / 4. 64 value columns are 8 warps of 254
  // registers, one program per SM (128 would need 16 warps, beyond the
  // register file). Taken where it has run on a GPU against the oracle
  // (test/gpu ThreePhaseConfigs): bf16 and fp16, chunks of 64 and 32.
  if (dk == 256 && (chunk == 64 || chunk == 32) && blockV <= kGroupColumns &&
      (elt.isBF16() || elt.isF16()))
    return 2;
  return 0;
}

RegisterScanStep::RegisterScanStep(KernelBuilder &kb, Value lane, int64_t dk,
                                   int64_t chunk, Type elt, int64_t halves,
                                   Value half, Value pairBarrier)
    : kb(kb), chunk(chunk), halves(halves), dkHalf(dk / halves), elt(elt),
      half(half), pairBarrier(pairBarrier), lane(lane) {
  assert((halves == 1 || (half && pairBarrier)) &&
         "two halves need the half and the pair's barrier");
  if (halves == 2) {
    halfRow0 = kb.mul(half, kb.c32(dkHalf));
    otherRow0 = kb.sub(kb.c32(dkHalf), halfRow0);
  }
  group = kb.div(lane, kb.c32(4));
  twoQuad = kb.mul(kb.rem(lane, kb.c32(4)), kb.c32(2));
  row8 = kb.rem(lane, kb.c32(8));
  Value m = kb.div(lane, kb.c32(8));
  lo8 = kb.mul(kb.rem(m, kb.c32(2)), kb.c32(8));
  hi8 = kb.mul(kb.div(m, kb.c32(2)), kb.c32(8));
}

void RegisterScanStep::forEachStatePair(
    function_ref<void(int64_t, Value, Value)> fn) {
  for (int64_t nd = 0; nd < dkHalf / 8; ++nd)
    for (int64_t h = 0; h < 2; ++h) {
      Value d = kb.add(twoQuad, kb.c32(8 * nd));
      fn(4 * nd + 2 * h, kb.add(group, kb.c32(8 * h)),
         halfRow0 ? kb.add(d, halfRow0) : d);
    }
}

Value RegisterScanStep::blockRow(const SmemTile &tile, Value row, Value col) {
  return kb.smemPtr(tile, kb.at(tile, row, col));
}

void RegisterScanStep::wgmma(int64_t n, MutableArrayRef<Value> acc,
                             ArrayRef<Value> a, Value descB, bool scaleD,
                             int scaleA, bool transB) {
  // Operands: n / 2 accumulators out ($0..), the same in (tied), A's four
  // registers, B's descriptor, scale-d (an immediate).
  int64_t m = n / 2;
  std::string type = elt.isBF16() ? "bf16" : "f16";
  std::string text = "{\n.reg .pred p;\nsetp.ne.b32 p, $" +
                     std::to_string(2 * m + 5) +
                     ", 0;\nwgmma.mma_async.sync.aligned.m64n" +
                     std::to_string(n) + "k16.f32." + type + "." + type + " {";
  std::string constraints;
  for (int64_t i = 0; i < m; ++i) {
    text += (i ? ", $" : "$") + std::to_string(i);
    constraints += (i ? ",=f" : "=f");
  }
  for (int64_t i = 0; i < m; ++i)
    constraints += "," + std::to_string(i);
  text += "}, {$" + std::to_string(2 * m) + ", $" + std::to_string(2 * m + 1) +
          ", $" + std::to_string(2 * m + 2) + ", $" +
          std::to_string(2 * m + 3) + "}, $" + std::to_string(2 * m + 4) +
          ", p, " + std::to_string(scaleA) + ", 1, " + (transB ? "1" : "0") +
          ";\n}\n";
  constraints += ",r,r,r,r,l,n";
  SmallVector<Value> operands(acc.begin(), acc.end());
  operands.append(a.begin(), a.end());
  operands.push_back(descB);
  operands.push_back(kb.c32(scaleD ? 1 : 0));
  Type result = LLVM::LLVMStructType::getLiteral(
      kb.b.getContext(), SmallVector<Type>(m, kb.f32()));
  auto op = LLVM::InlineAsmOp::create(
      kb.b, kb.loc, result, operands, text, constraints,
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
  for (int64_t i = 0; i < m; ++i)
    acc[i] = LLVM::ExtractValueOp::create(kb.b, kb.loc, op.getResult(0),
                                          ArrayRef<int64_t>{i});
}

void RegisterScanStep::storeTransposed(ArrayRef<Value> packed,
                                       const SmemTile &out, Value row0,
                                       Value column) {
  // stmatrix block m = lane / 8 of four: rows row0 + 8 (i + m / 2), columns
  // column + 8 (m % 2), i.e. packed[2 i + m].
  for (size_t i = 0; 2 * i < packed.size(); i += 2) {
    Value col = kb.add(column, lo8);
    Value row = kb.add(kb.add(kb.c32(8 * i), hi8), row8);
    Value ptr = blockRow(out, row0 ? kb.add(row0, row) : row, col);
    NVVM::StMatrixOp::create(
        kb.b, kb.loc, ptr, packed.slice(2 * i, 4), NVVM::MMALayout::col,
        NVVM::LdStMatrixShapeAttr::get(kb.b.getContext(), 8, 8),
        NVVM::LdStMatrixEltType::B16);
  }
}

std::pair<Value, Value> RegisterScanStep::stripPiece(KernelBuilder &kb,
                                                     Value lane, int64_t n) {
  Value slot = kb.div(lane, kb.c32(2));
  Value row = kb.add(kb.add(kb.mul(kb.rem(slot, kb.c32(4)), kb.c32(2)),
                            kb.rem(kb.div(slot, kb.c32(4)), kb.c32(2))),
                     kb.mul(kb.div(slot, kb.c32(8)), kb.c32(8)));
  return {kb.add(kb.c32(16 * n), row),
          kb.mul(kb.rem(lane, kb.c32(2)), kb.c32(8))};
}

Value RegisterScanStep::exchangePiece(const SmemTile &area, Value row0,
                                      Value column, int64_t i) {
  auto [r, c] = stripPiece(kb, lane, i);
  return blockRow(area, kb.add(row0, r), kb.add(column, c));
}

void RegisterScanStep::addOtherHalf(MutableArrayRef<Value> x,
                                    const SmemTile &area, Value column) {
  // This thread's accumulators in 16-byte pieces (exchangePiece). The other
  // half's warp holds the same X^T positions in the same registers (same
  // warp of its warpgroup, same lane).
  int64_t pieces = x.size() / 4;
  // The warp's copies of Sb out of this area are done.
  NVVM::SyncWarpOp::create(kb.b, kb.loc, kb.c32(-1));
  for (int64_t i = 0; i < pieces; ++i)
    kb.storeVec16(kb.makeVec(x.slice(4 * i, 4)),
                  exchangePiece(area, halfRow0, column, i));
  NVVM::BarrierOp::create(kb.b, kb.loc, Type(), pairBarrier, kb.c32(64),
                          NVVM::BarrierReductionAttr(), Value());
  addExchanged(x, area, otherRow0, column);
}

void RegisterScanStep::addExchanged(MutableArrayRef<Value> x,
                                    const SmemTile &area, Value row0,
                                    Value column) {
  for (int64_t i = 0; i < int64_t(x.size()) / 4; ++i) {
    Value other = kb.loadVec16(kb.f32(), exchangePiece(area, row0, column, i));
    for (int64_t u = 0; u < 4; ++u)
      x[4 * i + u] = kb.fadd(x[4 * i + u], kb.extract(other, u));
  }
}

void RegisterScanStep::handOverOutput(ArrayRef<Value> o, const Output &output,
                                      Value column) {
  // Half 1 writes where it read half 0's X^T this step (rows 0 .. dkHalf):
  // each thread overwrites only the addresses it read itself, and half 0
  // rewrites them with the next chunk's X^T only after reading them here.
  // Half 1's next write to them comes after the next chunk's pair barrier,
  // which half 0 reaches after this read.
  int64_t pieces = o.size() / 4;
  Value zero = kb.c32(0);
  Value first = kb.cmp(arith::CmpIPredicate::eq, halfRow0, zero);
  kb.ifThen(kb.cmp(arith::CmpIPredicate::ne, halfRow0, zero), [&] {
    for (int64_t i = 0; i < pieces; ++i)
      kb.storeVec16(kb.makeVec(o.slice(4 * i, 4)),
                    exchangePiece(*output.exchange, zero, column, i));
    NVVM::BarrierArriveOp::create(kb.b, kb.loc, output.handOver, kb.c32(64));
  });
  kb.ifThen(first, [&] {
    NVVM::BarrierOp::create(kb.b, kb.loc, Type(), output.handOver, kb.c32(64),
                            NVVM::BarrierReductionAttr(), Value());
    SmallVector<Value> sum(o);
    addExchanged(sum, *output.exchange, zero, column);
    output.store(sum);
  });
}

SmallVector<Value> RegisterScanStep::emit(ArrayRef<Value> state,
                                          const SmemTile &k, const SmemTile &t,
                                          const SmemTile &v, Value vColumn,
                                          const Staging *staging,
                                          const Output *output,
                                          RowScales kScales) {
  assert(!(staging && output) && "Sb and Vn staged, or the output");
  assert((staging || output || halves == 1) &&
         "two halves trade partial sums through Sb's or the output's area");
  assert((!output || halves == 1 || (output->exchange && output->handOver)) &&
         "two halves hand over the output through an exchange area");
  // Where two halves trade their partial sums.
  const SmemTile *area = staging  ? &staging->sbOut
                         : output ? output->exchange
                                  : nullptr;
  int64_t dTiles = dkHalf / 8, rTiles = chunk / 8;
  Value zero = kb.c32(0);
  // Half 1's columns of K (and q) start dkHalf columns on, whole 64-column
  // panels: its descriptors are half 0's with the start address (16-byte
  // units) moved by the panels' bytes.
  auto halfShift = [&](const SmemTile &tile) -> Value {
    if (halves == 1)
      return {};
    int64_t bytes = tile.elt.getIntOrFloatBitWidth() / 8;
    return kb.ext64(kb.mul(
        half, kb.div(kb.mul(kb.at(tile, zero, kb.c32(dkHalf)), kb.c32(bytes)),
                     kb.c32(16))));
  };
  Value kShift = halfShift(k), qShift = output ? halfShift(output->q) : Value();
  auto inHalf = [&](Value desc) {
    return kShift ? kb.add(desc, kShift) : desc;
  };
  // Half 0 alone stages Vn (both compute it).
  auto onceForVn = [&](function_ref<void()> fn) {
    if (halves == 1)
      return fn();
    kb.ifThen(kb.cmp(arith::CmpIPredicate::eq, halfRow0, zero), fn);
  };
  auto a4 = [](ArrayRef<Value> regs, int64_t s) {
    return SmallVector<Value, 4>(regs.slice(4 * s, 4));
  };

  // Sb^T: the state rounded, pair by pair: staged for the output kernel,
  // the A operand of X^T (and of Sb^T Q^T).
  SmallVector<Value> sb(2 * dTiles);
  for (int64_t i = 0; i < 2 * dTiles; ++i)
    sb[i] = kb.pack16x2(state[2 * i], state[2 * i + 1], elt);
  if (staging)
    storeTransposed(sb, staging->sbOut, halfRow0, vColumn);

  // X^T = V^T - Sb^T K^T, rounded as the generic scan rounds it: the
  // product accumulates from zero (B(d, r) = K(r, d) is K-major; two
  // halves: each its rows d of S, the partial sums added in f32) and V^T
  // (ldmatrix.trans of the warp's columns of v: blocks (rows 8 nt, 8 (nt +
  // 1); columns vColumn, + 8) are registers 0-1 / 2-3 of column blocks nt,
  // nt + 1) is subtracted from it once, in f32. (Starting the accumulators
  // at V^T instead let the tensor cores' accumulation round the
  // cancellation: outputs 1.4-3.5e-3 (relL2) away from the generic scan's
  // on the H200, run76.)
  // (Two halves load V^T after the product: their registers are short,
  // and the partials' exchange waits anyway.)
  SmallVector<Value> vt(4 * rTiles);
  auto loadVt = [&] {
    for (int64_t nt = 0; nt < rTiles; nt += 2) {
      SmallVector<Value, 4> regs =
          kb.ldmatrix(blockRow(v, kb.add(kb.add(kb.c32(8 * nt), hi8), row8),
                               kb.add(vColumn, lo8)),
                      4, /*trans=*/true);
      for (int64_t m = 0; m < 4; ++m)
        std::tie(vt[4 * nt + 2 * m], vt[4 * nt + 2 * m + 1]) =
            kb.unpack16x2(regs[m], elt);
    }
  };
  if (halves == 1)
    loadVt();
  SmallVector<Value> x(4 * rTiles, kb.cf32(0.0));
  NVVM::WgmmaFenceAlignedOp::create(kb.b, kb.loc);
  for (int64_t s = 0; s < dkHalf / 16; ++s)
    wgmma(chunk, x, a4(sb, s),
          inHalf(wgmmaDescriptor(kb, k, zero, 16 * s, true)),
          /*scaleD=*/s > 0, /*scaleA=*/1, /*transB=*/false);
  NVVM::WgmmaGroupSyncAlignedOp::create(kb.b, kb.loc);
  // O^T = Sb^T Q^T in a group of its own, waited for only at the end (two
  // halves: each over its half of dk, B = q's columns of the half).
  SmallVector<Value> o;
  if (output) {
    o.assign(4 * rTiles, kb.cf32(0.0));
    for (int64_t s = 0; s < dkHalf / 16; ++s) {
      Value desc = wgmmaDescriptor(kb, output->q, zero, 16 * s, true);
      wgmma(chunk, o, a4(sb, s), qShift ? kb.add(desc, qShift) : desc,
            /*scaleD=*/s > 0, /*scaleA=*/1, /*transB=*/false);
    }
    NVVM::WgmmaGroupSyncAlignedOp::create(kb.b, kb.loc);
  }
  // While the tensor cores run (their A and accumulator registers are not
  // touched until the wait).
  if (staging)
    staging->sbStaged();
  NVVM::WgmmaWaitGroupSyncOp::create(kb.b, kb.loc, output ? 1 : 0);
  // With k's norms (kScales): the columns r = 8 j + 2q, + 1 of
  // (Sb^T K^T) D_k (the accumulators' layout, as O^T's) scaled by
  // fn(scale, accumulator, V^T) (two halves: each scales its partial sum,
  // before the exchange, where fewer registers are live).
  auto scaleByK = [&](function_ref<Value(Value, Value, Value)> fn) {
    for (int64_t j = 0; j < rTiles; ++j) {
      auto [s0, s1] = kScales(kb.add(twoQuad, kb.c32(8 * j)));
      for (int64_t u = 0; u < 4; ++u)
        x[4 * j + u] = fn(u % 2 ? s1 : s0, x[4 * j + u], vt[4 * j + u]);
    }
  };
  bool kScaled = bool(kScales);
  if (halves == 2) {
    if (kScaled)
      scaleByK([&](Value s, Value a, Value) { return kb.fmul(a, s); });
    addOtherHalf(x, *area, vColumn);
    loadVt();
    // Sb^T Q^T had the exchange's time: waiting for it here frees Sb^T's
    // registers before Vn^T's operands and accumulators are live (at 255
    // registers the scan spilled without this wait).
    if (output)
      NVVM::WgmmaWaitGroupSyncOp::create(kb.b, kb.loc, 0);
  }
  if (kScaled && halves == 1) {
    // V^T - a s as one FMA with the scale negated (negating the
    // accumulators instead, LLVM moved those sign flips above the wgmma
    // wait, and ptxas then waited there).
    scaleByK(
        [&](Value s, Value a, Value vt) { return kb.fma(a, kb.fneg(s), vt); });
  } else {
    for (int64_t i = 0; i < 4 * rTiles; ++i)
      x[i] = kb.fsub(vt[i], x[i]);
  }

  // Vn^T = X^T T^T with X^T as its rounding plus the rounded remainder
  // (the small terms first); B(r', r) = T(r, r') is K-major.
  SmallVector<Value> hi(2 * rTiles), lo(2 * rTiles);
  for (int64_t i = 0; i < 2 * rTiles; ++i) {
    auto [h0, l0] = kb.splitF32(x[2 * i], elt);
    auto [h1, l1] = kb.splitF32(x[2 * i + 1], elt);
    hi[i] = kb.pack16x2(h0, h1, elt);
    lo[i] = kb.pack16x2(l0, l1, elt);
  }
  SmallVector<Value> vn(4 * rTiles, kb.cf32(0.0));
  NVVM::WgmmaFenceAlignedOp::create(kb.b, kb.loc);
  for (int64_t s = 0; s < chunk / 16; ++s) {
    Value desc = wgmmaDescriptor(kb, t, zero, 16 * s, true);
    wgmma(chunk, vn, a4(lo, s), desc, /*scaleD=*/s > 0, 1, false);
    wgmma(chunk, vn, a4(hi, s), desc, /*scaleD=*/true, 1, false);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(kb.b, kb.loc);
  NVVM::WgmmaWaitGroupSyncOp::create(kb.b, kb.loc, 0);

  // Vn^T rounded: staged for the output kernel, the A operand of S^T's
  // update.
  SmallVector<Value> vnPacked(2 * rTiles);
  for (int64_t i = 0; i < 2 * rTiles; ++i)
    vnPacked[i] = kb.pack16x2(vn[2 * i], vn[2 * i + 1], elt);
  if (staging)
    onceForVn(
        [&] { storeTransposed(vnPacked, staging->vnOut, Value(), vColumn); });

  // O^T += Vn^T P^T's operands; B(r', r) = P(r, r') is K-major. Two halves
  // split the contraction over the chunk's rows r': half h takes the k16
  // steps of its half of them (A registers and descriptors selected by the
  // half before the fence: no branch around the asynchronous products and
  // no register written after it), their partial sums added with Sb^T
  // Q^T's at the hand-over.
  int64_t pSteps = chunk / 16 / halves;
  SmallVector<Value> pA, pDesc;
  if (output) {
    Value second =
        halves == 2 ? kb.cmp(arith::CmpIPredicate::ne, half, zero) : Value();
    for (int64_t s = 0; s < pSteps; ++s) {
      SmallVector<Value, 4> a = a4(vnPacked, s);
      Value desc = wgmmaDescriptor(kb, output->p, zero, 16 * s, true);
      if (second) {
        SmallVector<Value, 4> a1 = a4(vnPacked, s + pSteps);
        for (int64_t u = 0; u < 4; ++u)
          a[u] = kb.select(second, a1[u], a[u]);
        desc = kb.select(
            second,
            wgmmaDescriptor(kb, output->p, zero, 16 * (s + pSteps), true),
            desc);
      }
      llvm::append_range(pA, a);
      pDesc.push_back(desc);
    }
  }

  // S^T += Vn^T K; B(r, d) = K(r, d) is MN-major (this half's columns d).
  SmallVector<Value> next(state);
  NVVM::WgmmaFenceAlignedOp::create(kb.b, kb.loc);
  for (int64_t s = 0; s < chunk / 16; ++s)
    wgmma(dkHalf, next, a4(vnPacked, s),
          inHalf(wgmmaDescriptor(kb, k, zero, 16 * s, false)),
          /*scaleD=*/true, 1, /*transB=*/true);
  auto addVnP = [&] {
    for (int64_t s = 0; s < pSteps; ++s)
      wgmma(chunk, o, a4(pA, s), pDesc[s], /*scaleD=*/true, 1,
            /*transB=*/false);
  };
  bool scaled = output && output->rowScales;
  if (output && !scaled)
    addVnP();
  NVVM::WgmmaGroupSyncAlignedOp::create(kb.b, kb.loc);
  // With row scales: Sb^T Q^T's columns r = 8 j + 2q, + 1 scaled while the
  // update runs (its group is done: waited for by now), then Vn^T P^T in a
  // group of its own (the update is the next step's path; the scaling
  // before it measured slower on the H200 where the scan is latency-bound).
  if (scaled) {
    for (int64_t j = 0; j < rTiles; ++j) {
      auto [s0, s1] = output->rowScales(kb.add(twoQuad, kb.c32(8 * j)));
      for (int64_t u = 0; u < 4; ++u)
        o[4 * j + u] = kb.fmul(o[4 * j + u], u % 2 ? s1 : s0);
    }
    NVVM::WgmmaFenceAlignedOp::create(kb.b, kb.loc);
    addVnP();
    NVVM::WgmmaGroupSyncAlignedOp::create(kb.b, kb.loc);
  }
  if (staging)
    onceForVn(staging->vnStaged);
  NVVM::WgmmaWaitGroupSyncOp::create(kb.b, kb.loc, 0);
  if (output && halves == 2)
    handOverOutput(o, *output, vColumn);
  else if (output)
    output->store(o);
  return next;
}
