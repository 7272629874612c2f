//===- MmaSync.cpp - tile products with mma.sync.m16n8k16 -----------------===//
//
// The sm_80+ tensor-core family: each warp owns 16-row strips of the output
// and computes them with mma.sync.aligned.m16n8k16 (bf16/f16 inputs, f32
// accumulators). Fragments are gathered from shared memory through strided
// views, so transposed operands cost nothing extra to describe.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"
#include "deltajit/Codegen/NVIDIA/TargetInfo.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace deltajit::nvidia;

namespace {

constexpr int64_t kTileM = 16, kTileN = 8, kTileK = 16;
/// Output columns computed per pass (bounds the live accumulators).
constexpr int64_t kColumnBlock = 64;

class MmaSyncEmitter : public TensorCoreEmitter {
public:
  StringRef name() const override { return "mma.sync.m16n8k16"; }

  std::optional<std::string> unsupported(const TileProduct &p) const override {
    if (p.m % kTileM || p.n % kTileN || p.k % kTileK)
      return "tile product " + std::to_string(p.m) + "x" + std::to_string(p.n) +
             "x" + std::to_string(p.k) + " is not a multiple of m16n8k16";
    if (!p.inputType.isBF16() && !p.inputType.isF16())
      return std::string("mma.sync inputs must be bf16 or f16");
    return std::nullopt;
  }

  void emit(KernelBuilder &kb, const TileProduct &p, Value warp, Value lane,
            int64_t numWarps) const override {
    Value group = kb.div(lane, kb.c32(4)), quad = kb.rem(lane, kb.c32(4));
    Value twoQuad = kb.mul(quad, kb.c32(2));
    kb.forRange(warp, kb.c32(p.m / kTileM), kb.c32(numWarps), [&](Value mt) {
      Value row0 = kb.add(kb.mul(mt, kb.c32(kTileM)), group);
      for (int64_t nb = 0; nb < p.n; nb += kColumnBlock) {
        int64_t nTiles = std::min(kColumnBlock, p.n - nb) / kTileN;
        // The contraction is an scf.for over 16-wide steps carrying the
        // accumulators; the n-tiles of a column block are unrolled.
        SmallVector<Value> init(4 * nTiles, kb.cf32(0.0));
        auto loop = scf::ForOp::create(kb.b, kb.loc, kb.c32(0), kb.c32(p.k),
                                       kb.c32(kTileK), init);
        {
          OpBuilder::InsertionGuard guard(kb.b);
          kb.b.setInsertionPointToStart(loop.getBody());
          Value k0 = loop.getInductionVar();
          SmallVector<Value> acc(loop.getRegionIterArgs());
          SmallVector<Value, 4> aRegs;
          for (int64_t i = 0; i < 4; ++i) {
            Value r = kb.add(row0, kb.c32((i % 2) * 8));
            Value c = kb.add(kb.add(twoQuad, k0), kb.c32((i / 2) * 8));
            aRegs.push_back(pack(kb, p, *p.a, r, c, /*alongRows=*/false));
          }
          for (int64_t t = 0; t < nTiles; ++t) {
            Value n = kb.add(group, kb.c32(nb + t * kTileN));
            SmallVector<Value, 2> bRegs;
            for (int64_t j = 0; j < 2; ++j) {
              Value k = kb.add(kb.add(twoQuad, k0), kb.c32(j * 8));
              bRegs.push_back(pack(kb, p, *p.b, k, n, /*alongRows=*/true));
            }
            mma(kb, p, aRegs, bRegs,
                MutableArrayRef<Value>(acc).slice(4 * t, 4));
          }
          scf::YieldOp::create(kb.b, kb.loc, acc);
        }
        SmallVector<Value> acc(loop.getResults());
        for (int64_t t = 0; t < nTiles; ++t)
          for (int64_t i = 0; i < 4; ++i) {
            Value r = kb.add(row0, kb.c32((i / 2) * 8));
            Value c = kb.add(twoQuad, kb.c32(nb + t * kTileN + (i % 2)));
            p.epilogue(r, c, acc[4 * t + i]);
          }
      }
    });
  }

private:
  /// Element (r, c) of `v` rounded to the input type, as 16 bits.
  static Value element(KernelBuilder &kb, const TileProduct &p,
                       const TileView &v, Value r, Value c) {
    Value x = kb.loadView(v, r, c);
    if (x.getType() != p.inputType)
      x = kb.fromF32(kb.toF32(x), p.inputType);
    return arith::BitcastOp::create(kb.b, kb.loc, kb.i16(), x);
  }

  /// Two consecutive elements packed into one 32-bit register (the first in
  /// the low half): (r, c), (r, c + 1), or (r, c), (r + 1, c) `alongRows`.
  static Value pack(KernelBuilder &kb, const TileProduct &p, const TileView &v,
                    Value r, Value c, bool alongRows) {
    Value lo = element(kb, p, v, r, c);
    Value hi = alongRows ? element(kb, p, v, kb.add(r, kb.c32(1)), c)
                         : element(kb, p, v, r, kb.add(c, kb.c32(1)));
    Value lo32 = arith::ExtUIOp::create(kb.b, kb.loc, kb.i32(), lo);
    Value hi32 = arith::ExtUIOp::create(kb.b, kb.loc, kb.i32(), hi);
    Value shifted = arith::ShLIOp::create(kb.b, kb.loc, hi32, kb.c32(16));
    Value packed = arith::OrIOp::create(kb.b, kb.loc, shifted, lo32);
    if (p.inputType.isF16()) // f16 fragments are typed vector<2xf16>.
      return LLVM::BitcastOp::create(
          kb.b, kb.loc, VectorType::get({2}, kb.b.getF16Type()), packed);
    return packed;
  }

  static void mma(KernelBuilder &kb, const TileProduct &p, ValueRange a,
                  ValueRange b, MutableArrayRef<Value> acc) {
    MLIRContext *ctx = kb.b.getContext();
    Type f32 = kb.f32();
    auto resultType =
        LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
    NVVM::MMATypes type =
        p.inputType.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
    auto op = NVVM::MmaOp::create(
        kb.b, kb.loc, resultType, a, b,
        SmallVector<Value>(acc.begin(), acc.end()),
        ArrayRef<int64_t>{kTileM, kTileN, kTileK}, std::nullopt, std::nullopt,
        std::array<NVVM::MMATypes, 2>{type, type},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                       NVVM::MMALayout::col});
    for (int64_t i = 0; i < 4; ++i)
      acc[i] = LLVM::ExtractValueOp::create(kb.b, kb.loc, op.getRes(),
                                            ArrayRef<int64_t>{i});
  }
};

} // namespace

std::unique_ptr<TensorCoreEmitter> deltajit::nvidia::createMmaSyncEmitter() {
  return std::make_unique<MmaSyncEmitter>();
}
