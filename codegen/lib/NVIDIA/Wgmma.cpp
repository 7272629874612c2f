//===- Wgmma.cpp - tile products with wgmma.mma_async (sm_90a) ------------===//
//
// The Hopper tensor-core family: warpgroups (4 warps) take (64-row block,
// column block) items of the output and compute each with
// wgmma.mma_async.m64nNk16 (bf16/f16 inputs, f32 accumulators), both
// operands read by the tensor cores straight from shared memory through
// 64-bit matrix descriptors (no ldmatrix, no operand registers). Operand
// tiles are in wgmma's canonical layouts (SmemTile::coreMatrix: 128/64/32-
// byte swizzled panels, or plain core matrices); a transposed view is the
// MN-major form of the same descriptor. Products
// wgmma cannot take (f32 operands, m not a multiple of 64, warps not whole
// warpgroups) and the register-resident accumulators of the recurrent
// state go to mma.sync.
//
//===----------------------------------------------------------------------===//

#include "Wgmma.h"
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
  bool readsThroughAsyncProxy(const TileProduct &p,
                              int64_t numWarps) const override {
    return usesWgmma(p, numWarps);
  }

  void emit(KernelBuilder &kb, const TileProduct &p, Value warp, Value lane,
            int64_t numWarps) const override {
    if (!usesWgmma(p, numWarps))
      return fallback->emit(kb, p, warp, lane, numWarps);
    int64_t groups = numWarps / kWarpgroupWarps;
    // Column blocks of up to 128 (64 accumulators per thread); warpgroups
    // take (64-row block, column block) items in turn. While there are
    // fewer items than warpgroups, the block is halved where its start
    // stays legal for B (see splitsAt): the tensor-core work is the same
    // either way, but every warpgroup then shares the epilogue.
    // A chained first product (TileProduct::first) shares the items: its B
    // must split where this one's does.
    auto splitsBothAt = [&](int64_t n0) {
      return splitsAt(*p.b, n0) && (!p.first || splitsAt(*p.first->b, n0));
    };
    int64_t cb = std::min(p.n, kMaxColumnBlock);
    int64_t mBlocks = p.m / kWgM;
    while (mBlocks * (p.n / cb) < groups && splitsBothAt(cb / 2))
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
      Value acc = LLVM::UndefOp::create(kb.b, kb.loc, accType);
      NVVM::WgmmaFenceAlignedOp::create(kb.b, kb.loc);
      bool fresh = true; // the first step overwrites the accumulators
      for (const TileProduct *q : {p.first, &p}) {
        if (!q)
          continue;
        // A is m x k: the tile is m x k (K-major) or, transposed, k x m
        // (MN-major). B is k x n: the tile is k x n (MN-major) or,
        // transposed, n x k (K-major).
        Operand a{*q->a, m0, /*kMajor=*/!q->a->transposed};
        Operand b{*q->b, n0, /*kMajor=*/q->b->transposed};
        for (int64_t k0 = 0; k0 < q->k; k0 += kWgK) {
          acc = NVVM::WgmmaMmaAsyncOp::create(
              kb.b, kb.loc, accType, acc, a.descriptor(kb, q->aK(k0)),
              b.descriptor(kb, k0),
              NVVM::MMAShapeAttr::get(ctx, kWgM, cb, kWgK), type, type,
              NVVM::WGMMATypes::f32,
              fresh ? NVVM::WGMMAScaleOut::zero : NVVM::WGMMAScaleOut::one,
              NVVM::WGMMAScaleIn::one, NVVM::WGMMAScaleIn::one,
              a.kMajor ? NVVM::MMALayout::row : NVVM::MMALayout::col,
              b.kMajor ? NVVM::MMALayout::col : NVVM::MMALayout::row,
              /*satfinite=*/nullptr);
          fresh = false;
        }
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
    if (p.first && !usesWgmma(*p.first, numWarps))
      return false;
    return numWarps % kWarpgroupWarps == 0 && p.m % kWgM == 0 &&
           p.k % kWgK == 0 && p.n % 8 == 0 &&
           (p.n <= kMaxColumnBlock || p.n % kMaxColumnBlock == 0) &&
           descriptorReadable(*p.a, p.inputType) &&
           descriptorReadable(*p.b, p.inputType);
  }

  /// Whether B view `v` may start an item at any multiple of `n0` (> 0, a
  /// multiple of 8) columns: K-major B starts on a line (any multiple of
  /// 8); MN-major B on a swizzle panel.
  static bool splitsAt(const TileView &v, int64_t n0) {
    if (n0 <= 0 || n0 % 8)
      return false;
    bool kMajor = v.transposed;
    return kMajor || !v.tile.swizzle || n0 % (v.tile.swizzle / 2) == 0;
  }

  /// One operand of an item: view `v` read from row (A) or column (B)
  /// `mn0` on, K-major (K along the tile's columns) or MN-major (K along
  /// its rows).
  struct Operand {
    const TileView &v;
    Value mn0;
    bool kMajor;

    /// The matrix descriptor of the k16 step at `k0` (wgmmaDescriptor).
    Value descriptor(KernelBuilder &kb, int64_t k0) const {
      return wgmmaDescriptor(kb, v.tile, mn0, k0, kMajor);
    }
  };

  std::unique_ptr<TensorCoreEmitter> fallback = createMmaSyncEmitter();
};

} // namespace

Value deltajit::nvidia::wgmmaDescriptor(KernelBuilder &kb, const SmemTile &t,
                                        Value mn0, int64_t k0, bool kMajor) {
  Value k = kb.c32(k0);
  Value first = kMajor ? kb.at(t, mn0, k) : kb.at(t, k, mn0);
  Value addr =
      LLVM::PtrToIntOp::create(kb.b, kb.loc, kb.i64(), kb.smemPtr(t, first));
  int64_t lead, stride, mode = 0;
  if (t.swizzle) {
    // Lines of `swizzle` bytes, 8-line groups 8 * swizzle apart; along MN,
    // panels rows * swizzle apart (K-major: K stays in a line, the leading
    // offset is unused).
    stride = 8 * t.swizzle;
    lead = kMajor ? 16 : t.rows * t.swizzle;
    mode = t.swizzle == 128 ? 1 : t.swizzle == 64 ? 2 : 3;
  } else {
    // Core matrices: the block right of one is 128 bytes on, the one below
    // cols / 8 blocks on; leading = along K, stride = along MN.
    int64_t right = kCoreMatrixBytes, below = (t.cols / 8) * kCoreMatrixBytes;
    lead = kMajor ? right : below;
    stride = kMajor ? below : right;
  }
  Value start = arith::AndIOp::create(
      kb.b, kb.loc,
      arith::ShRUIOp::create(kb.b, kb.loc, addr, kb.c64(4)).getResult(),
      kb.c64(0x3fff));
  uint64_t fields = (uint64_t(lead / 16) << 16) |
                    (uint64_t(stride / 16) << 32) | (uint64_t(mode) << 62);
  return arith::OrIOp::create(kb.b, kb.loc, start, kb.c64(int64_t(fields)));
}

std::unique_ptr<TensorCoreEmitter> deltajit::nvidia::createWgmmaEmitter() {
  return std::make_unique<WgmmaEmitter>();
}
