//===- Tf32Mma.cpp - f32 warp products on tensor cores (3xTF32) -----------===//
//
// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 with operands split
// into tf32 high and residual parts (see Tf32Mma.h). Fragment layouts (PTX
// ISA, m16n8k8 .tf32): A a0 (g, q), a1 (g + 8, q), a2 (g, q + 4), a3 (g + 8,
// q + 4); B b0 (q, g), b1 (q + 4, g); C c0, c1 (g, 2q .. 2q + 1), c2, c3
// (g + 8, 2q .. 2q + 1), with g = lane / 4 and q = lane % 4.
//
//===----------------------------------------------------------------------===//

#include "Tf32Mma.h"
#include "KernelBuilder.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

#include <array>

using namespace mlir;
using namespace deltajit::nvidia;

namespace {

/// x = hi + lo as the i32 registers mma reads: hi is x with the 13 low
/// mantissa bits cleared (exactly a tf32), lo = x - hi (exact in f32, |lo|
/// < 2^-10 |x|), whose low bits the tensor cores ignore. Two instructions
/// (LOP3, FADD); rounding hi to nearest (cvt.rna.tf32.f32, four SASS
/// instructions on sm_90 each, twice) keeps |lo| < 2^-11 |x|, which the
/// products' f32 accuracy does not need: the dropped terms stay below
/// 2^-20 of each product.
std::array<Value, 2> splitTf32(KernelBuilder &kb, Value x) {
  Value bits = arith::BitcastOp::create(kb.b, kb.loc, kb.i32(), x);
  Value hi = arith::AndIOp::create(kb.b, kb.loc, bits,
                                   kb.c32(-(1 << 13))); // 0xffffe000
  Value hiF = arith::BitcastOp::create(kb.b, kb.loc, kb.f32(), hi);
  Value lo = arith::BitcastOp::create(kb.b, kb.loc, kb.i32(), kb.fsub(x, hiF));
  return {hi, lo};
}

} // namespace

Tf32Lanes::Tf32Lanes(KernelBuilder &kb, Value lane)
    : group(kb.div(lane, kb.c32(4))), quad(kb.rem(lane, kb.c32(4))) {}

void deltajit::nvidia::mmaTf32x3(KernelBuilder &kb, const Tf32Lanes &l,
                                 int64_t kBegin, int64_t kEnd, Tf32Element a,
                                 Tf32Element b, MutableArrayRef<Value> acc) {
  assert(acc.size() == 4);
  SmallVector<SmallVector<Value, 4>, 1> accs = {
      SmallVector<Value, 4>(acc.begin(), acc.end())};
  mmaTf32x3(
      kb, l, kBegin, kEnd, a,
      [&](int64_t, Value k, Value n) { return b(k, n); }, accs);
  llvm::copy(accs.front(), acc.begin());
}

void deltajit::nvidia::mmaTf32x3(KernelBuilder &kb, const Tf32Lanes &l,
                                 int64_t kBegin, int64_t kEnd, Tf32Element a,
                                 Tf32TileElement b,
                                 MutableArrayRef<SmallVector<Value, 4>> accs) {
  assert(kBegin % 8 == 0 && kEnd % 8 == 0);
  Value g8 = kb.add(l.group, kb.c32(8));
  for (int64_t k0 = kBegin; k0 < kEnd; k0 += 8) {
    Value k = kb.add(l.quad, kb.c32(k0)), k4 = kb.add(k, kb.c32(4));
    // Fragments, each element split into {hi, lo}.
    std::array<std::array<Value, 2>, 4> as = {
        splitTf32(kb, a(l.group, k)), splitTf32(kb, a(g8, k)),
        splitTf32(kb, a(l.group, k4)), splitTf32(kb, a(g8, k4))};
    for (auto [t, acc] : llvm::enumerate(accs)) {
      assert(acc.size() == 4);
      std::array<std::array<Value, 2>, 2> bf = {
          splitTf32(kb, b(t, k, l.group)), splitTf32(kb, b(t, k4, l.group))};
      auto part = [&](int64_t ai, int64_t bi) {
        kb.mmaSync(8, KernelBuilder::MmaInput::tf32,
                   {as[0][ai], as[1][ai], as[2][ai], as[3][ai]},
                   {bf[0][bi], bf[1][bi]}, acc);
      };
      // The small terms first: a_lo b_hi, a_hi b_lo, then a_hi b_hi.
      part(1, 0);
      part(0, 1);
      part(0, 0);
    }
  }
}

void deltajit::nvidia::forEachTf32AccumulatorPair(
    KernelBuilder &kb, const Tf32Lanes &l,
    function_ref<void(int64_t, Value, Value)> fn) {
  Value col = kb.mul(l.quad, kb.c32(2));
  fn(0, l.group, col);
  fn(2, kb.add(l.group, kb.c32(8)), col);
}
