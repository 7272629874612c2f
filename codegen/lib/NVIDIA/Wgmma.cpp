//===- Wgmma.cpp - tile products with wgmma.mma_async (sm_90a) ------------===//
//
// The Hopper tensor-core family: warpgroups (4 warps) take (64-row block,
// column block) items of the output and compute each with
// wgmma.mma_async.m64nNk16 (bf16/f16 inputs, f32 accumulators), both
// operands read by the tensor cores straight from shared memory through
// 64-bit matrix descriptors (no ldmatrix, no operand registers). Operand
// tiles are laid out in core matrices (SmemTile::coreMatrix, no swizzle);
// a transposed view is the MN-major form of the same descriptor. Products
// wgmma cannot take (f32 operands, m not a multiple of 64, warps not whole
// warpgroups) and the register-resident accumulators of the recurrent
// state go to mma.sync.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"
#include "deltajit/Codegen/NVIDIA/TargetInfo.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

using namespace mlir;
using namespace deltajit::nvidia;

namespace {

constexpr int64_t kWarpgroupWarps = 4, kWgM = 64, kWgK = 16;
/// Widest column block per item: 64 f32 accumulators per thread.
constexpr int64_t kMaxColumnBlock = 128;
/// A core matrix: 8 rows of 16 bytes.
constexpr int64_t kCoreMatrixBytes = 128;

/// Whether wgmma can read `v` for a product of `inputType`: a 16-bit tile
/// of that type in core matrices.
bool descriptorReadable(const TileView &v, Type inputType) {
  return v.tile.coreMatrix && v.tile.elt == inputType;
}

class WgmmaEmitter : public TensorCoreEmitter {
public:
  StringRef name() const override { return "wgmma.m64nNk16"; }

  std::optional<std::string> unsupported(const TileProduct &p) const override {
    return fallback->unsupported(p);
  }

  bool wantsCoreMatrixTiles() const override { return true; }
  bool readsThroughAsyncProxy() const override { return true; }

  void emit(KernelBuilder &kb, const TileProduct &p, Value warp, Value lane,
            int64_t numWarps) const override {
    if (!usesWgmma(p, numWarps))
      return fallback->emit(kb, p, warp, lane, numWarps);
    int64_t groups = numWarps / kWarpgroupWarps;
    int64_t mBlocks = p.m / kWgM;
    // The widest column block (a multiple of 8 dividing n) that still
    // gives every warpgroup an item.
    int64_t cb = p.n;
    while (cb > kMaxColumnBlock ||
           (mBlocks * (p.n / cb) < groups && cb % 16 == 0))
      cb /= 2;
    int64_t nBlocks = p.n / cb, items = mBlocks * nBlocks;
    Value group = kb.div(warp, kb.c32(kWarpgroupWarps));
    Value warpInGroup = kb.rem(warp, kb.c32(kWarpgroupWarps));
    Value quadRow = kb.div(lane, kb.c32(4));
    Value twoQuad = kb.mul(kb.rem(lane, kb.c32(4)), kb.c32(2));
    MLIRContext *ctx = kb.b.getContext();
    Type accType = LLVM::LLVMStructType::getLiteral(
        ctx, SmallVector<Type>(cb / 2, kb.f32()));
    NVVM::WGMMATypes type =
        p.inputType.isBF16() ? NVVM::WGMMATypes::bf16 : NVVM::WGMMATypes::f16;

    kb.forRange(group, kb.c32(items), kb.c32(groups), [&](Value item) {
      Value m0 = kb.mul(kb.div(item, kb.c32(nBlocks)), kb.c32(kWgM));
      Value n0 = kb.mul(kb.rem(item, kb.c32(nBlocks)), kb.c32(cb));
      // A is m x k: the tile is m x k (K-major) or, transposed, k x m
      // (MN-major). B is k x n: the tile is k x n (MN-major) or,
      // transposed, n x k (K-major).
      Operand a = operand(kb, *p.a, m0, /*kMajor=*/!p.a->transposed);
      Operand b = operand(kb, *p.b, n0, /*kMajor=*/p.b->transposed);
      Value acc = LLVM::UndefOp::create(kb.b, kb.loc, accType);
      NVVM::WgmmaFenceAlignedOp::create(kb.b, kb.loc);
      for (int64_t k0 = 0; k0 < p.k; k0 += kWgK) {
        acc = NVVM::WgmmaMmaAsyncOp::create(
            kb.b, kb.loc, accType, acc, a.at(kb, k0), b.at(kb, k0),
            NVVM::MMAShapeAttr::get(ctx, kWgM, cb, kWgK), type, type,
            NVVM::WGMMATypes::f32,
            k0 == 0 ? NVVM::WGMMAScaleOut::zero : NVVM::WGMMAScaleOut::one,
            NVVM::WGMMAScaleIn::one, NVVM::WGMMAScaleIn::one,
            a.kMajor ? NVVM::MMALayout::row : NVVM::MMALayout::col,
            b.kMajor ? NVVM::MMALayout::col : NVVM::MMALayout::row,
            /*satfinite=*/nullptr);
      }
      NVVM::WgmmaGroupSyncAlignedOp::create(kb.b, kb.loc);
      NVVM::WgmmaWaitGroupSyncOp::create(kb.b, kb.loc, 0);
      // Warp w of the group holds rows 16 w + lane / 4 (+ 8); registers
      // 4 j .. 4 j + 3 are columns 8 j + 2 (lane % 4) (+ 1) of those rows.
      Value r0 = kb.add(m0, kb.add(kb.mul(warpInGroup, kb.c32(16)), quadRow));
      for (int64_t j = 0; j < cb / 8; ++j)
        for (int64_t half = 0; half < 2; ++half) {
          int64_t i = 4 * j + 2 * half;
          Value r = kb.add(r0, kb.c32(8 * half));
          Value c = kb.add(kb.add(n0, twoQuad), kb.c32(8 * j));
          Value x0 = LLVM::ExtractValueOp::create(kb.b, kb.loc, acc,
                                                  ArrayRef<int64_t>{i});
          Value x1 = LLVM::ExtractValueOp::create(kb.b, kb.loc, acc,
                                                  ArrayRef<int64_t>{i + 1});
          p.epilogue(r, c, x0, x1);
        }
    });
  }

  int64_t accumulatorRegisters(int64_t m, int64_t n,
                               int64_t numWarps) const override {
    return fallback->accumulatorRegisters(m, n, numWarps);
  }
  void forEachAccumulatorPair(
      KernelBuilder &kb, int64_t m, int64_t n, Value warp, Value lane,
      int64_t numWarps,
      function_ref<void(int64_t, Value, Value)> fn) const override {
    fallback->forEachAccumulatorPair(kb, m, n, warp, lane, numWarps, fn);
  }
  SmallVector<Value> accumulate(KernelBuilder &kb, const TileProduct &p,
                                Value warp, Value lane, int64_t numWarps,
                                ArrayRef<Value> acc) const override {
    return fallback->accumulate(kb, p, warp, lane, numWarps, acc);
  }

private:
  bool usesWgmma(const TileProduct &p, int64_t numWarps) const {
    return numWarps % kWarpgroupWarps == 0 && p.m % kWgM == 0 &&
           p.k % kWgK == 0 && p.n % 8 == 0 &&
           descriptorReadable(*p.a, p.inputType) &&
           descriptorReadable(*p.b, p.inputType);
  }

  /// The descriptor of one operand for the item whose rows (A) or columns
  /// (B) start at `mn0`, advanced along K by `at`.
  struct Operand {
    Value base; ///< descriptor of K offset 0 (i64)
    bool kMajor;
    int64_t kStepBytes; ///< bytes between core matrices along K
    Value at(KernelBuilder &kb, int64_t k0) const {
      int64_t units = (k0 / 8) * kStepBytes / 16;
      return units ? arith::AddIOp::create(kb.b, kb.loc, base, kb.c64(units))
                         .getResult()
                   : base;
    }
  };

  /// No-swizzle descriptors (PTX ISA, "Matrix Descriptor Format"): start
  /// address, leading byte offset (between core matrices neighbouring
  /// along K) and stride byte offset (along M or N), each in 16-byte units
  /// in bits 0-13, 16-29 and 32-45. In a core-matrix tile the block right
  /// of a block is 128 bytes on, the one below cols / 8 blocks on.
  static Operand operand(KernelBuilder &kb, const TileView &v, Value mn0,
                         bool kMajor) {
    const SmemTile &t = v.tile;
    int64_t right = kCoreMatrixBytes, below = (t.cols / 8) * kCoreMatrixBytes;
    // K runs along the tile's columns when K-major, else along its rows.
    Operand op;
    op.kMajor = kMajor;
    op.kStepBytes = kMajor ? right : below;
    int64_t stride = kMajor ? below : right;
    Value first = kMajor ? kb.at(t, mn0, kb.c32(0)) : kb.at(t, kb.c32(0), mn0);
    Value ptr = kb.smemPtr(t, first);
    Value addr = LLVM::PtrToIntOp::create(kb.b, kb.loc, kb.i64(), ptr);
    auto c64 = [&](int64_t x) { return kb.c64(x); };
    Value start = arith::AndIOp::create(
        kb.b, kb.loc,
        arith::ShRUIOp::create(kb.b, kb.loc, addr, c64(4)).getResult(),
        c64(0x3fff));
    int64_t fields = ((op.kStepBytes / 16) << 16) | ((stride / 16) << 32);
    op.base = arith::OrIOp::create(kb.b, kb.loc, start, c64(fields));
    return op;
  }

  std::unique_ptr<TensorCoreEmitter> fallback = createMmaSyncEmitter();
};

} // namespace

std::unique_ptr<TensorCoreEmitter> deltajit::nvidia::createWgmmaEmitter() {
  return std::make_unique<WgmmaEmitter>();
}
