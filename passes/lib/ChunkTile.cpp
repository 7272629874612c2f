//===- ChunkTile.cpp - the delta-chunk-tile pass --------------------------===//
//
// Rewrites delta.delta_rule into delta.chunk_loop with a tile-op body: the
// chunkwise WY form of ALGORITHM.md section 3.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Dialect/DeltaOps.h"
#include "deltajit/Passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace deltajit {
#define GEN_PASS_DEF_DELTACHUNKTILE
#include "deltajit/Passes/Passes.h.inc"
} // namespace deltajit

using namespace mlir;
using namespace deltajit;
using namespace deltajit::delta;

namespace {

/// Builds the body of one chunk (see Passes.td) at `b`'s insertion point.
void buildChunkBody(OpBuilder &b, Location loc, ChunkLoopOp loop, Type elt) {
  Type f32 = b.getF32Type();
  int64_t c = loop.getChunk(), bv = loop.getBlockV();
  int64_t dk = cast<RankedTensorType>(loop.getQ().getType()).getDimSize(3);
  auto tile = [&](ArrayRef<int64_t> shape, Type e) -> RankedTensorType {
    return RankedTensorType::get(shape, e);
  };
  Value q = loop.getQTile(), k = loop.getKTile(), v = loop.getVTile();
  Value beta = loop.getBetaTile(), s = loop.getStateTile();
  Value scale = loop.getScaleArg();
  auto matmul = [&](Type type, Value x, Value y, Value acc, Value alpha,
                    bool ta, bool tb, bool neg) -> Value {
    return TileMatmulOp::create(b, loc, type, x, y, acc, alpha, ta, tb, neg);
  };

  // Tiles that only feed tensor-core products are kept in the input type
  // (products round their operands to it anyway): T, mask(Q K^T) and a copy
  // of the state made once per chunk.
  // A = strict_lower(diag(beta) K K^T); T = (I + A)^-1 diag(beta).
  Value kk = matmul(tile({c, c}, f32), k, k, {}, {}, false, true, false);
  Value scaled = TileRowScaleOp::create(b, loc, kk, beta);
  Value a = TileMaskOp::create(b, loc, TileMaskKind::strict_lower, scaled);
  Value t = TileUTTransformOp::create(b, loc, tile({c, c}, elt), a, beta,
                                      b.getI64IntegerAttr(16));
  // The new values Vn = U - W S with U = T V, W = T K, computed as
  // Vn = T (V - K S) (ALGORITHM.md section 3: (I + A) Vn = b (V - K S)): W
  // and U are never formed, so everything the chunk-parallel kernels
  // compute (A, T, mask(Q K^T)) is v-independent and the scan reads T
  // instead of W and an f32 U. X = V - K S stays f32 and enters T X split
  // into two 16-bit parts: its cancellation is then never rounded (the WY
  // form rounded W before U - W S cancelled; a 16-bit X measured 5-9% more
  // error on long sequences, the split one 2-4% less than the WY form).
  Value sIn = TileConvertOp::create(b, loc, tile({dk, bv}, elt), s);
  Value x = matmul(tile({c, bv}, f32), k, sIn, v, {}, false, false, true);
  Value vn = TileMatmulOp::create(b, loc, tile({c, bv}, elt), t, x, Value(),
                                  Value(), false, false, false,
                                  /*split_f32=*/true);
  // O = scale (Q S + mask(Q K^T) Vn).
  Value qk = matmul(tile({c, c}, elt), q, k, {}, {}, false, true, false);
  Value p = TileMaskOp::create(b, loc, TileMaskKind::lower, qk);
  Value o1 = matmul(tile({c, bv}, f32), q, sIn, {}, scale, false, false, false);
  Value o = matmul(tile({c, bv}, f32), p, vn, o1, scale, false, false, false);
  // S' = S + K^T Vn.
  Value next = matmul(tile({dk, bv}, f32), k, vn, s, {}, true, false, false);
  ChunkYieldOp::create(b, loc, o, next);
}

struct DeltaChunkTilePass
    : deltajit::impl::DeltaChunkTileBase<DeltaChunkTilePass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<DeltaRuleOp> ops;
    getOperation()->walk([&](DeltaRuleOp op) { ops.push_back(op); });
    for (DeltaRuleOp op : ops)
      if (failed(tile(op)))
        return signalPassFailure();
  }

  LogicalResult tile(DeltaRuleOp op) {
    auto qType = cast<RankedTensorType>(op.getQ().getType());
    auto vType = cast<RankedTensorType>(op.getV().getType());
    int64_t dk = qType.getDimSize(3), dv = vType.getDimSize(3);
    if (ShapedType::isDynamic(dk) || ShapedType::isDynamic(dv)) {
      op.emitRemark() << "not tiled: dynamic head dimension";
      return success();
    }
    // A value dimension narrower than block-v is one tile.
    int64_t bv = std::min<int64_t>(blockV, dv);
    if (dv % bv != 0) {
      op.emitRemark() << "not tiled: dv (" << dv
                      << ") is not a multiple of block-v (" << bv << ")";
      return success();
    }
    auto tileAttr = TileAttr::getChecked(
        [&] { return op.emitError(); }, op.getContext(),
        int64_t(op.getChunkSize()), bv, int64_t(warps), int64_t(stages));
    if (!tileAttr)
      return failure();

    OpBuilder b(op);
    Location loc = op.getLoc();
    Value scale = arith::ConstantOp::create(
        b, loc, b.getF32FloatAttr(float(op.getEffectiveScale())));
    auto loop = ChunkLoopOp::create(
        b, loc, op.getO().getType(), op.getFinalState().getType(), op.getQ(),
        op.getK(), op.getV(), op.getBeta(), op.getInitialState(),
        op.getCuSeqlens(), scale, tileAttr, op.getUseQkL2norm());

    Type elt = qType.getElementType();
    Type f32 = b.getF32Type();
    int64_t c = op.getChunkSize();
    SmallVector<Type> argTypes = {RankedTensorType::get({c, dk}, elt),
                                  RankedTensorType::get({c, dk}, elt),
                                  RankedTensorType::get({c, bv}, elt),
                                  RankedTensorType::get({c}, f32),
                                  RankedTensorType::get({dk, bv}, f32),
                                  f32};
    SmallVector<Location> argLocs(argTypes.size(), loc);
    Block *body = b.createBlock(&loop.getBody(), {}, argTypes, argLocs);
    b.setInsertionPointToStart(body);
    buildChunkBody(b, loc, loop, elt);

    op.replaceAllUsesWith(loop->getResults());
    op.erase();
    return success();
  }
};

} // namespace
