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

RegisterScanStep::RegisterScanStep(KernelBuilder &kb, Value lane, int64_t dk,
                                   int64_t chunk, Type elt)
    : kb(kb), dk(dk), chunk(chunk), elt(elt) {
  group = kb.div(lane, kb.c32(4));
  twoQuad = kb.mul(kb.rem(lane, kb.c32(4)), kb.c32(2));
  row8 = kb.rem(lane, kb.c32(8));
  Value m = kb.div(lane, kb.c32(8));
  lo8 = kb.mul(kb.rem(m, kb.c32(2)), kb.c32(8));
  hi8 = kb.mul(kb.div(m, kb.c32(2)), kb.c32(8));
}

void RegisterScanStep::forEachStatePair(
    function_ref<void(int64_t, Value, Value)> fn) {
  for (int64_t nd = 0; nd < dk / 8; ++nd)
    for (int64_t h = 0; h < 2; ++h)
      fn(4 * nd + 2 * h, kb.add(group, kb.c32(8 * h)),
         kb.add(twoQuad, kb.c32(8 * nd)));
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
                                       const SmemTile &out, Value column) {
  // stmatrix block m = lane / 8 of four: rows 8 (i + m / 2), columns column
  // + 8 (m % 2), i.e. packed[2 i + m].
  for (size_t i = 0; 2 * i < packed.size(); i += 2) {
    Value ptr = blockRow(out, kb.add(kb.add(kb.c32(8 * i), hi8), row8),
                         kb.add(column, lo8));
    NVVM::StMatrixOp::create(
        kb.b, kb.loc, ptr, packed.slice(2 * i, 4), NVVM::MMALayout::col,
        NVVM::LdStMatrixShapeAttr::get(kb.b.getContext(), 8, 8),
        NVVM::LdStMatrixEltType::B16);
  }
}

SmallVector<Value> RegisterScanStep::emit(ArrayRef<Value> state,
                                          const SmemTile &k, const SmemTile &t,
                                          const SmemTile &v, Value vColumn,
                                          const SmemTile &sbOut,
                                          const SmemTile &vnOut,
                                          function_ref<void()> sbStaged,
                                          function_ref<void()> vnStaged) {
  int64_t dTiles = dk / 8, rTiles = chunk / 8;
  Value zero = kb.c32(0);
  auto a4 = [](ArrayRef<Value> regs, int64_t s) {
    return SmallVector<Value, 4>(regs.slice(4 * s, 4));
  };

  // Sb^T: the state rounded, pair by pair: staged for the output kernel,
  // the A operand of X^T.
  SmallVector<Value> sb(2 * dTiles);
  for (int64_t i = 0; i < 2 * dTiles; ++i)
    sb[i] = kb.pack16x2(state[2 * i], state[2 * i + 1], elt);
  storeTransposed(sb, sbOut, vColumn);

  // X^T = V^T - Sb^T K^T, rounded as the generic scan rounds it: the
  // product accumulates from zero (B(d, r) = K(r, d) is K-major) and V^T
  // (ldmatrix.trans of the warp's columns of v: blocks (rows 8 nt, 8 (nt +
  // 1); columns vColumn, + 8) are registers 0-1 / 2-3 of column blocks nt,
  // nt + 1) is subtracted from it once, in f32. (Starting the accumulators
  // at V^T instead let the tensor cores' accumulation round the
  // cancellation: outputs 1.4-3.5e-3 (relL2) away from the generic scan's
  // on the H200, run76.)
  SmallVector<Value> vt(4 * rTiles);
  for (int64_t nt = 0; nt < rTiles; nt += 2) {
    SmallVector<Value, 4> regs =
        kb.ldmatrix(blockRow(v, kb.add(kb.add(kb.c32(8 * nt), hi8), row8),
                             kb.add(vColumn, lo8)),
                    4, /*trans=*/true);
    for (int64_t m = 0; m < 4; ++m)
      std::tie(vt[4 * nt + 2 * m], vt[4 * nt + 2 * m + 1]) =
          kb.unpack16x2(regs[m], elt);
  }
  SmallVector<Value> x(4 * rTiles, kb.cf32(0.0));
  NVVM::WgmmaFenceAlignedOp::create(kb.b, kb.loc);
  for (int64_t s = 0; s < dk / 16; ++s)
    wgmma(chunk, x, a4(sb, s), wgmmaDescriptor(kb, k, zero, 16 * s, true),
          /*scaleD=*/s > 0, /*scaleA=*/1, /*transB=*/false);
  NVVM::WgmmaGroupSyncAlignedOp::create(kb.b, kb.loc);
  // While the tensor cores run (their A and accumulator registers are not
  // touched until the wait).
  sbStaged();
  NVVM::WgmmaWaitGroupSyncOp::create(kb.b, kb.loc, 0);
  for (int64_t i = 0; i < 4 * rTiles; ++i)
    x[i] = kb.fsub(vt[i], x[i]);

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
  storeTransposed(vnPacked, vnOut, vColumn);

  // S^T += Vn^T K; B(r, d) = K(r, d) is MN-major.
  SmallVector<Value> next(state);
  NVVM::WgmmaFenceAlignedOp::create(kb.b, kb.loc);
  for (int64_t s = 0; s < chunk / 16; ++s)
    wgmma(dk, next, a4(vnPacked, s),
          wgmmaDescriptor(kb, k, zero, 16 * s, false), /*scaleD=*/true, 1,
          /*transB=*/true);
  NVVM::WgmmaGroupSyncAlignedOp::create(kb.b, kb.loc);
  vnStaged();
  NVVM::WgmmaWaitGroupSyncOp::create(kb.b, kb.loc, 0);
  return next;
}
