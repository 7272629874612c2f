//===- MmaSync.cpp - tile products with mma.sync.m16n8k16 -----------------===//
//
// The sm_80+ tensor-core family: warps take (16-row strip, column block)
// pairs of the output and compute them with mma.sync.aligned.m16n8k16
// (bf16/f16 inputs, f32 accumulators). Fragments of 16-bit shared tiles are
// loaded with ldmatrix (.trans when the view is transposed); f32 tiles are
// gathered element by element and rounded, or (TileProduct::splitF32) split
// into a rounded part and the rounded remainder, each its own mma.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"
#include "deltajit/Codegen/NVIDIA/TargetInfo.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

using namespace mlir;
using namespace deltajit::nvidia;

namespace {

constexpr int64_t kTileM = 16, kTileN = 8, kTileK = 16;
/// Widest block of output columns a warp computes per pass (bounds the live
/// accumulators: 8 n-tiles x 4 f32).
constexpr int64_t kMaxColumnBlock = 64;

/// The column block: the widest of 64, 32, 16 dividing `n` that still gives
/// every warp a (16-row strip, column block) pair, else the narrowest (16
/// or 8) for the most pairs.
int64_t columnBlock(int64_t m, int64_t n, int64_t numWarps) {
  for (int64_t cb = kMaxColumnBlock; cb >= 16; cb /= 2)
    if (n % cb == 0 && (m / kTileM) * (n / cb) >= numWarps)
      return cb;
  return n % 16 == 0 ? 16 : kTileN;
}

/// True when fragments of `v` can be loaded with ldmatrix: a 16-bit tile of
/// the input type, contiguous along one of its dimensions, rows 16-byte
/// aligned (tiles are 16-byte aligned and padded; see SmemTile::make; in
/// core matrices every 8 aligned neighbours of a row are 16 bytes).
bool ldmatrixable(const TileView &v, Type inputType) {
  const SmemTile &t = v.tile;
  return t.elt == inputType && (v.rowStride == 1 || v.colStride == 1) &&
         t.ld % 8 == 0 && t.offset % 16 == 0;
}

class MmaSyncEmitter : public TensorCoreEmitter {
public:
  StringRef name() const override { return "mma.sync.m16n8k16"; }

  std::optional<std::string> unsupported(const TileProduct &p) const override {
    if (p.first)
      if (auto why = unsupported(*p.first))
        return why;
    if (p.m % kTileM || p.n % kTileN || p.k % kTileK)
      return "tile product " + std::to_string(p.m) + "x" + std::to_string(p.n) +
             "x" + std::to_string(p.k) + " is not a multiple of m16n8k16";
    if (!p.inputType.isBF16() && !p.inputType.isF16())
      return std::string("mma.sync inputs must be bf16 or f16");
    return std::nullopt;
  }

  /// Every warp takes (16-row strip, column block) pairs in turn; the
  /// contraction is unrolled in 16-wide steps (p.first's, then p's, into
  /// the same accumulators). Fragments of 16-bit tiles come from ldmatrix
  /// (.trans for the transposed layouts), others are gathered element by
  /// element and rounded.
  void emit(KernelBuilder &kb, const TileProduct &p, Value warp, Value lane,
            int64_t numWarps) const override {
    Lanes l(kb, lane);
    int64_t cb = columnBlock(p.m, p.n, numWarps);
    int64_t nBlocks = p.n / cb, nTiles = cb / kTileN;
    int64_t items = (p.m / kTileM) * nBlocks;
    kb.forRange(warp, kb.c32(items), kb.c32(numWarps), [&](Value item) {
      Value mt = kb.div(item, kb.c32(nBlocks));
      Value nb = kb.mul(kb.rem(item, kb.c32(nBlocks)), kb.c32(cb));
      Value row0 = kb.mul(mt, kb.c32(kTileM));
      SmallVector<Value> acc(4 * nTiles, kb.cf32(0.0));
      if (p.first)
        accumulateItem(kb, *p.first, l, row0, nb, nTiles, acc);
      accumulateItem(kb, p, l, row0, nb, nTiles, acc);
      forEachPair(kb, l, row0, nb, nTiles, [&](int64_t i, Value r, Value c) {
        p.epilogue(r, c, acc[i], acc[i + 1]);
      });
    });
  }

  /// Register-resident accumulators: every warp holds the same number of
  /// (16-row strip, column block) items, item = warp + i * numWarps; the
  /// column block is the widest of 64..8 dividing n that gives every warp
  /// whole items.
  int64_t accumulatorRegisters(int64_t m, int64_t n,
                               int64_t numWarps) const override {
    int64_t cb = registerColumnBlock(m, n, numWarps);
    return cb ? m * n / (32 * numWarps) : 0;
  }

  void forEachAccumulatorPair(
      KernelBuilder &kb, int64_t m, int64_t n, Value warp, Value lane,
      int64_t numWarps,
      function_ref<void(int64_t, Value, Value)> fn) const override {
    Lanes l(kb, lane);
    forEachRegisterItem(
        kb, m, n, warp, numWarps,
        [&](int64_t base, Value row0, Value nb, int64_t nTiles) {
          forEachPair(kb, l, row0, nb, nTiles,
                      [&](int64_t i, Value r, Value c) { fn(base + i, r, c); });
        });
  }

  SmallVector<Value> accumulate(KernelBuilder &kb, const TileProduct &p,
                                Value warp, Value lane, int64_t numWarps,
                                ArrayRef<Value> acc) const override {
    Lanes l(kb, lane);
    SmallVector<Value> result(acc);
    forEachRegisterItem(
        kb, p.m, p.n, warp, numWarps,
        [&](int64_t base, Value row0, Value nb, int64_t nTiles) {
          accumulateItem(
              kb, p, l, row0, nb, nTiles,
              MutableArrayRef<Value>(result).slice(base, 4 * nTiles));
        });
    return result;
  }

private:
  /// Per-lane values of the fragment layouts.
  struct Lanes {
    Lanes(KernelBuilder &kb, Value lane) {
      group = kb.div(lane, kb.c32(4));
      twoQuad = kb.mul(kb.rem(lane, kb.c32(4)), kb.c32(2));
      // The (row, col) of the view each lane points ldmatrix at, relative
      // to the fragment's origin (see accumulateItem).
      Value sub = kb.div(lane, kb.c32(8));
      row8 = kb.rem(lane, kb.c32(8));
      subLo = kb.mul(kb.rem(sub, kb.c32(2)), kb.c32(8));
      subHi = kb.mul(kb.div(sub, kb.c32(2)), kb.c32(8));
    }
    Value group, twoQuad, row8, subLo, subHi;
  };

  /// The column block of register-resident accumulators (0: none fits).
  static int64_t registerColumnBlock(int64_t m, int64_t n, int64_t numWarps) {
    if (m % kTileM || n % kTileN)
      return 0;
    for (int64_t cb = kMaxColumnBlock; cb >= kTileN; cb /= 2)
      if (n % cb == 0 && ((m / kTileM) * (n / cb)) % numWarps == 0)
        return cb;
    return 0;
  }

  /// Calls `fn(base, row0, nb, nTiles)` for each item this warp holds in
  /// registers: its accumulators start at register `base`.
  static void
  forEachRegisterItem(KernelBuilder &kb, int64_t m, int64_t n, Value warp,
                      int64_t numWarps,
                      function_ref<void(int64_t, Value, Value, int64_t)> fn) {
    int64_t cb = registerColumnBlock(m, n, numWarps);
    assert(cb && "accumulator cannot be held in registers");
    int64_t nBlocks = n / cb, nTiles = cb / kTileN;
    int64_t perWarp = (m / kTileM) * nBlocks / numWarps;
    for (int64_t i = 0; i < perWarp; ++i) {
      Value item = kb.add(warp, kb.c32(i * numWarps));
      Value row0 = kb.mul(kb.div(item, kb.c32(nBlocks)), kb.c32(kTileM));
      Value nb = kb.mul(kb.rem(item, kb.c32(nBlocks)), kb.c32(cb));
      fn(i * 4 * nTiles, row0, nb, nTiles);
    }
  }

  /// Accumulators 4t, 4t + 1 of n-tile t are columns c, c + 1 of row r0;
  /// 4t + 2, 4t + 3 the same columns of row r0 + 8.
  static void forEachPair(KernelBuilder &kb, const Lanes &l, Value row0,
                          Value nb, int64_t nTiles,
                          function_ref<void(int64_t, Value, Value)> fn) {
    Value r0 = kb.add(row0, l.group);
    for (int64_t t = 0; t < nTiles; ++t)
      for (int64_t half = 0; half < 2; ++half) {
        Value r = kb.add(r0, kb.c32(half * 8));
        Value c = kb.add(kb.add(nb, l.twoQuad), kb.c32(t * kTileN));
        fn(4 * t + 2 * half, r, c);
      }
  }

  /// acc += A[row0 : +16][:] B[:][nb : +8 nTiles] (acc: 4 nTiles registers).
  static void accumulateItem(KernelBuilder &kb, const TileProduct &p,
                             const Lanes &l, Value row0, Value nb,
                             int64_t nTiles, MutableArrayRef<Value> acc) {
    bool ldmA = ldmatrixable(*p.a, p.inputType);
    bool ldmB = ldmatrixable(*p.b, p.inputType);
    bool splitA = splits(p, *p.a), splitB = splits(p, *p.b);
    for (int64_t k0 = 0; k0 < p.k; k0 += kTileK) {
      Value kc = kb.c32(k0);
      Value kcA = kb.c32(p.aK(k0));
      SmallVector<Value, 4> aRegs, aLo;
      if (ldmA) {
        // Matrix i = lane / 8 covers rows +(i % 2) * 8, cols +(i / 2) * 8.
        bool trans = p.a->colStride != 1;
        Value r = kb.add(row0, trans ? l.subLo : kb.add(l.subLo, l.row8));
        Value c = kb.add(kcA, trans ? kb.add(l.subHi, l.row8) : l.subHi);
        aRegs = ldmatrix(kb, p, *p.a, r, c, 4, trans);
      } else {
        for (int64_t i = 0; i < 4; ++i) {
          Value r = kb.add(kb.add(row0, l.group), kb.c32((i % 2) * 8));
          Value c = kb.add(kb.add(l.twoQuad, kcA), kb.c32((i / 2) * 8));
          auto [hi, lo] = pack(kb, p, *p.a, r, c, /*alongRows=*/false, splitA);
          aRegs.push_back(hi);
          if (splitA)
            aLo.push_back(lo);
        }
      }
      for (int64_t t = 0; t < nTiles; t += 2) {
        int64_t pair = std::min<int64_t>(2, nTiles - t);
        Value n0 = kb.add(nb, kb.c32(t * kTileN));
        SmallVector<Value, 4> bRegs, bLo;
        if (ldmB) {
          // Matrix i covers k +(i % 2) * 8 of n-tile i / 2.
          bool trans = p.b->rowStride != 1;
          Value k = kb.add(kc, trans ? kb.add(l.subLo, l.row8) : l.subLo);
          Value n = kb.add(n0, trans ? l.subHi : kb.add(l.subHi, l.row8));
          if (pair == 1) // lanes 16-31 are ignored by .x2: stay in range
            n = kb.add(n0, trans ? kb.c32(0) : l.row8);
          bRegs = ldmatrix(kb, p, *p.b, k, n, 2 * pair, trans);
        } else {
          for (int64_t u = 0; u < pair; ++u)
            for (int64_t j = 0; j < 2; ++j) {
              Value k = kb.add(kb.add(l.twoQuad, kc), kb.c32(j * 8));
              Value n = kb.add(kb.add(l.group, n0), kb.c32(u * kTileN));
              auto [hi, lo] =
                  pack(kb, p, *p.b, k, n, /*alongRows=*/true, splitB);
              bRegs.push_back(hi);
              if (splitB)
                bLo.push_back(lo);
            }
        }
        // (a_hi + a_lo)(b_hi + b_lo) without the lo * lo term; the small
        // terms first.
        for (int64_t u = 0; u < pair; ++u) {
          MutableArrayRef<Value> c = acc.slice(4 * (t + u), 4);
          if (splitB)
            mma(kb, p, aRegs, ArrayRef<Value>(bLo).slice(2 * u, 2), c);
          if (splitA)
            mma(kb, p, aLo, ArrayRef<Value>(bRegs).slice(2 * u, 2), c);
          mma(kb, p, aRegs, ArrayRef<Value>(bRegs).slice(2 * u, 2), c);
        }
      }
    }
  }

  /// Whether operand `v` of `p` enters split into hi + lo.
  static bool splits(const TileProduct &p, const TileView &v) {
    return p.splitF32 && v.tile.elt.isF32();
  }

  /// `num` 8x8 matrices by ldmatrix, each lane pointing at view element
  /// (r, c), the first of 8 contiguous ones; `trans` for the transposed
  /// distribution. Returns the fragment registers (typed as mma wants).
  static SmallVector<Value, 4> ldmatrix(KernelBuilder &kb, const TileProduct &p,
                                        const TileView &v, Value r, Value c,
                                        int64_t num, bool trans) {
    SmallVector<Value, 4> regs =
        kb.ldmatrix(kb.smemPtr(v.tile, kb.viewIndex(v, r, c)), num, trans);
    for (Value &x : regs)
      x = asFragment(kb, p, x);
    return regs;
  }

  /// f16 fragments are typed vector<2xf16>, bf16 ones i32.
  static Value asFragment(KernelBuilder &kb, const TileProduct &p, Value x) {
    return kb.mmaFragment(x, input(p));
  }

  /// Element (r, c) of `v` rounded to the input type, as 16 bits, and with
  /// `split` the rounded remainder (x - rounded x) as well.
  static std::pair<Value, Value> element(KernelBuilder &kb,
                                         const TileProduct &p,
                                         const TileView &v, Value r, Value c,
                                         bool split) {
    Value x = kb.loadView(v, r, c), rest;
    if (x.getType() != p.inputType) {
      if (split) {
        std::tie(x, rest) = kb.splitF32(kb.toF32(x), p.inputType);
        rest = arith::BitcastOp::create(kb.b, kb.loc, kb.i16(), rest);
      } else {
        x = kb.fromF32(kb.toF32(x), p.inputType);
      }
    }
    return {arith::BitcastOp::create(kb.b, kb.loc, kb.i16(), x), rest};
  }

  /// Two 16-bit values in one 32-bit register, `first` in the low half.
  static Value pack2(KernelBuilder &kb, const TileProduct &p, Value first,
                     Value second) {
    Value lo32 = arith::ExtUIOp::create(kb.b, kb.loc, kb.i32(), first);
    Value hi32 = arith::ExtUIOp::create(kb.b, kb.loc, kb.i32(), second);
    Value shifted = arith::ShLIOp::create(kb.b, kb.loc, hi32, kb.c32(16));
    Value packed = arith::OrIOp::create(kb.b, kb.loc, shifted, lo32);
    return asFragment(kb, p, packed);
  }

  /// Two consecutive elements packed into one 32-bit register (the first in
  /// the low half): (r, c), (r, c + 1), or (r, c), (r + 1, c) `alongRows`;
  /// with `split` also their remainders (see element), else a null second.
  static std::pair<Value, Value> pack(KernelBuilder &kb, const TileProduct &p,
                                      const TileView &v, Value r, Value c,
                                      bool alongRows, bool split) {
    auto e0 = element(kb, p, v, r, c, split);
    auto e1 = alongRows ? element(kb, p, v, kb.add(r, kb.c32(1)), c, split)
                        : element(kb, p, v, r, kb.add(c, kb.c32(1)), split);
    Value hi = pack2(kb, p, e0.first, e1.first);
    if (!split)
      return {hi, Value()};
    return {hi, pack2(kb, p, e0.second, e1.second)};
  }

  static KernelBuilder::MmaInput input(const TileProduct &p) {
    return p.inputType.isBF16() ? KernelBuilder::MmaInput::bf16
                                : KernelBuilder::MmaInput::f16;
  }

  static void mma(KernelBuilder &kb, const TileProduct &p, ValueRange a,
                  ValueRange b, MutableArrayRef<Value> acc) {
    kb.mmaSync(kTileK, input(p), a, b, acc);
  }
};

} // namespace

std::unique_ptr<TensorCoreEmitter> deltajit::nvidia::createMmaSyncEmitter() {
  return std::make_unique<MmaSyncEmitter>();
}
