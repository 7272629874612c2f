//===- ConvertDeltaToCPU.cpp - the convert-delta-to-cpu pass --------------===//
//
// Lowers delta.chunk_loop to scf loops on memrefs: a loop nest over
// sequences, value heads, value tiles and chunks whose innermost body runs
// the chunk body's tile ops as loops in f32 (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "deltajit/Codegen/CPU/Passes.h"
#include "deltajit/Dialect/DeltaOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

#include <functional>
#include <utility>

namespace deltajit {
#define GEN_PASS_DEF_CONVERTDELTATOCPU
#include "deltajit/Codegen/CPU/Passes.h.inc"
} // namespace deltajit

using namespace mlir;
using namespace deltajit;
using namespace deltajit::delta;

namespace {

/// Epsilon of the q/k L2 normalisation (FLA's l2norm).
constexpr double kL2NormEps = 1.0e-6;

//===----------------------------------------------------------------------===//
// Loop and arithmetic helpers
//===----------------------------------------------------------------------===//

/// Emits index and f32 arithmetic, memref accesses and scf.for loops at the
/// insertion point of a builder.
class LoopBuilder {
public:
  LoopBuilder(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value zero(Type t) {
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(t, 0.0));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value divu(Value x, Value y) { return arith::DivUIOp::create(b, loc, x, y); }
  Value min(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value max(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value fdiv(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value fneg(Value x) { return arith::NegFOp::create(b, loc, x); }
  Value sqrt(Value x) { return math::SqrtOp::create(b, loc, x); }
  Value toIndex(Value x) {
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), x);
  }

  /// `x` (bf16, f16 or f32) widened to f32.
  Value toF32(Value x) {
    if (x.getType().isF32())
      return x;
    return arith::ExtFOp::create(b, loc, b.getF32Type(), x);
  }
  /// `x` converted to the float type `t` (through f32; one rounding).
  Value convert(Value x, Type t) {
    if (x.getType() == t)
      return x;
    x = toF32(x);
    if (t.isF32())
      return x;
    return arith::TruncFOp::create(b, loc, t, x);
  }

  Value load(Value mem, ValueRange indices) {
    return memref::LoadOp::create(b, loc, mem, indices);
  }
  void store(Value x, Value mem, ValueRange indices) {
    memref::StoreOp::create(b, loc, x, mem, indices);
  }
  /// Size `d` of the memref `mem` (a constant when static).
  Value dim(Value mem, int64_t d) {
    int64_t size = cast<MemRefType>(mem.getType()).getDimSize(d);
    if (!ShapedType::isDynamic(size))
      return idx(size);
    return memref::DimOp::create(b, loc, mem, d);
  }

  /// for (iv = lb; iv < ub; iv += step) body(iv).
  void loop(Value lb, Value ub, Value step, function_ref<void(Value)> body) {
    auto forOp = scf::ForOp::create(b, loc, lb, ub, step);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(forOp.getBody()->getTerminator());
    body(forOp.getInductionVar());
  }
  void loop(int64_t lb, Value ub, function_ref<void(Value)> body) {
    loop(idx(lb), ub, idx(1), body);
  }
  void loop(int64_t lb, int64_t ub, function_ref<void(Value)> body) {
    loop(idx(lb), idx(ub), idx(1), body);
  }
  /// The value of `acc` after `for (iv = lb; iv < ub; ++iv) acc = body(iv,
  /// acc)` starting from `init`.
  Value reduce(Value lb, Value ub, Value init,
               function_ref<Value(Value, Value)> body) {
    auto forOp = scf::ForOp::create(b, loc, lb, ub, idx(1), ValueRange{init});
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forOp.getBody());
    Value next = body(forOp.getInductionVar(), forOp.getRegionIterArg(0));
    scf::YieldOp::create(b, loc, next);
    return forOp.getResult(0);
  }

  /// Sets every element of the statically shaped memref `mem` to zero.
  void fillZero(Value mem) {
    auto type = cast<MemRefType>(mem.getType());
    Value z = zero(type.getElementType());
    SmallVector<Value> ivs;
    std::function<void(int64_t)> nest = [&](int64_t d) {
      if (d == type.getRank()) {
        store(z, mem, ivs);
        return;
      }
      loop(0, dim(mem, d), [&](Value iv) {
        ivs.push_back(iv);
        nest(d + 1);
        ivs.pop_back();
      });
    };
    nest(0);
  }

  OpBuilder &b;
  Location loc;
};

Value memrefOf(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  auto memref = MemRefType::get(type.getShape(), type.getElementType());
  return bufferization::ToBufferOp::create(b, loc, memref, tensor,
                                           /*read_only=*/true);
}

bool isTensor(Type t) { return isa<TensorType>(t); }

//===----------------------------------------------------------------------===//
// Lowering of one chunk loop
//===----------------------------------------------------------------------===//

/// Lowers one delta.chunk_loop (see Passes.td).
class ChunkLoopLowering {
public:
  explicit ChunkLoopLowering(ChunkLoopOp loop)
      : loop(loop), body(loop.getBody().front()) {
    dk = cast<RankedTensorType>(loop.getQ().getType()).getDimSize(3);
    dv = cast<RankedTensorType>(loop.getV().getType()).getDimSize(3);
    chunk = loop.getChunk();
    bv = loop.getBlockV();
  }

  /// Checks that every op of the body can be lowered; emits an error naming
  /// the first one that cannot.
  LogicalResult check() {
    for (Operation &op : body.without_terminator()) {
      bool tileOp = isa<TileMatmulOp, TileMaskOp, TileRowScaleOp,
                        TileUTTransformOp, TileConvertOp>(op);
      if (!tileOp) {
        bool hasTensor = llvm::any_of(op.getOperandTypes(), isTensor) ||
                         llvm::any_of(op.getResultTypes(), isTensor);
        if (hasTensor || op.getNumRegions() != 0 || !isMemoryEffectFree(&op))
          return op.emitOpError()
                 << "is not supported in a chunk body by the CPU lowering "
                    "(expected delta.tile_* ops, or side-effect-free scalar "
                    "ops without regions)";
        continue;
      }
      if (failed(checkTiles(&op, op.getOperands())) ||
          failed(checkTiles(&op, op.getResults())))
        return failure();
    }
    ChunkYieldOp yield = loop.getYield();
    return checkTiles(yield, yield->getOperands());
  }

  /// Replaces the chunk loop by buffers and loops.
  void rewrite() {
    OpBuilder b(loop);
    Location loc = loop.getLoc();
    LoopBuilder lb(b, loc);

    // Global buffers.
    Value q = memrefOf(b, loc, loop.getQ()), k = memrefOf(b, loc, loop.getK());
    Value v = memrefOf(b, loc, loop.getV());
    Value beta = memrefOf(b, loc, loop.getBeta());
    Value h0 = loop.getInitialState() ? memrefOf(b, loc, loop.getInitialState())
                                      : Value();
    Value cu =
        loop.getCuSeqlens() ? memrefOf(b, loc, loop.getCuSeqlens()) : Value();
    Value batch = lb.dim(q, 0), seqLen = lb.dim(q, 1), heads = lb.dim(q, 2);
    Value vHeads = lb.dim(v, 2);
    Value numSeqs = cu ? lb.sub(lb.dim(cu, 0), lb.idx(1)) : batch;

    auto oType = cast<RankedTensorType>(loop.getO().getType());
    SmallVector<Value> oSizes;
    for (int64_t d = 0; d < oType.getRank(); ++d)
      if (oType.isDynamicDim(d))
        oSizes.push_back(lb.dim(v, d));
    Value o = memref::AllocOp::create(
        b, loc, MemRefType::get(oType.getShape(), oType.getElementType()),
        oSizes);
    auto sType = cast<RankedTensorType>(loop.getFinalState().getType());
    Value stateDims[] = {numSeqs, vHeads, lb.idx(dk), lb.idx(dv)};
    SmallVector<Value> sSizes;
    for (int64_t d = 0; d < sType.getRank(); ++d)
      if (sType.isDynamicDim(d))
        sSizes.push_back(stateDims[d]);
    Value finalState = memref::AllocOp::create(
        b, loc, MemRefType::get(sType.getShape(), sType.getElementType()),
        sSizes);
    // Rows of o outside every sequence (cu_seqlens not covering T) are zero.
    lb.fillZero(o);

    // One buffer per tile value of the body, allocated once.
    auto allocTile = [&](Value tile) {
      auto type = cast<RankedTensorType>(tile.getType());
      bufs[tile] = memref::AllocOp::create(
          b, loc, MemRefType::get(type.getShape(), type.getElementType()));
    };
    for (BlockArgument arg : body.getArguments())
      if (isTensor(arg.getType()))
        allocTile(arg);
    Type f32 = b.getF32Type();
    for (Operation &op : body.without_terminator()) {
      for (Value result : op.getResults())
        if (isTensor(result.getType()))
          allocTile(result);
      if (auto ut = dyn_cast<TileUTTransformOp>(op)) {
        auto type = cast<RankedTensorType>(ut.getType());
        int64_t c = type.getDimSize(0);
        utRowBlock[ut] = memref::AllocOp::create(
            b, loc, MemRefType::get({int64_t(ut.getBlock()), c}, f32));
        if (!type.getElementType().isF32())
          utInverse[ut] =
              memref::AllocOp::create(b, loc, MemRefType::get({c, c}, f32));
      }
    }

    // Sequences x value heads x value tiles x chunks.
    Value group = lb.divu(vHeads, heads);
    Value zero = lb.idx(0), one = lb.idx(1), chunkSize = lb.idx(chunk);
    lb.loop(0, numSeqs, [&](Value n) {
      Seq seq;
      seq.n = n;
      seq.batch = cu ? zero : n;
      seq.bos = cu ? lb.toIndex(lb.load(cu, n)) : zero;
      seq.eos = cu ? lb.toIndex(lb.load(cu, lb.add(n, one))) : seqLen;
      Value len = lb.max(lb.sub(seq.eos, seq.bos), zero);
      Value numChunks = lb.divu(lb.add(len, lb.idx(chunk - 1)), chunkSize);
      lb.loop(0, vHeads, [&](Value hv) {
        seq.hv = hv;
        seq.h = lb.divu(hv, group);
        lb.loop(zero, lb.idx(dv), lb.idx(bv), [&](Value v0) {
          seq.v0 = v0;
          Value state = bufs.lookup(loop.getStateTile());
          if (h0)
            lb.loop(0, dk, [&](Value d) {
              lb.loop(0, bv, [&](Value j) {
                Value x = lb.load(h0, {n, hv, d, lb.add(v0, j)});
                lb.store(lb.convert(x, f32), state, {d, j});
              });
            });
          else
            lb.fillZero(state);
          lb.loop(0, numChunks, [&](Value c) {
            Value t0 = lb.add(seq.bos, lb.mul(c, chunkSize));
            Value rows = lb.min(chunkSize, lb.sub(seq.eos, t0));
            emitChunk(lb, seq, q, k, v, beta, o, t0, rows);
          });
          lb.loop(0, dk, [&](Value d) {
            lb.loop(0, bv, [&](Value j) {
              lb.store(lb.load(state, {d, j}), finalState,
                       {n, hv, d, lb.add(v0, j)});
            });
          });
        });
      });
    });

    Value oTensor = bufferization::ToTensorOp::create(
        b, loc, Type(oType), o, /*restrict=*/true, /*writable=*/true);
    Value sTensor = bufferization::ToTensorOp::create(
        b, loc, Type(sType), finalState, /*restrict=*/true, /*writable=*/true);
    loop->replaceAllUsesWith(ValueRange{oTensor, sTensor});
    loop->erase();
  }

private:
  /// Loop indices of the (sequence, value head, value tile) being emitted.
  struct Seq {
    Value n, batch, bos, eos, hv, h, v0;
  };

  LogicalResult checkTiles(Operation *op, ValueRange values) {
    for (Value value : values) {
      auto type = dyn_cast<RankedTensorType>(value.getType());
      if (!type)
        continue;
      if (!type.hasStaticShape())
        return op->emitOpError()
               << "needs statically shaped tiles in the CPU lowering, got "
               << type;
      if (value.getParentRegion() != &loop.getBody())
        return op->emitOpError()
               << "uses a tile defined outside the chunk body, which the CPU "
                  "lowering does not support";
    }
    return success();
  }

  /// One chunk: load the tiles, run the body, store the output rows and
  /// carry the state.
  void emitChunk(LoopBuilder &lb, const Seq &seq, Value q, Value k, Value v,
                 Value beta, Value o, Value t0, Value rows) {
    Value qt = bufs.lookup(loop.getQTile()), kt = bufs.lookup(loop.getKTile());
    Value vt = bufs.lookup(loop.getVTile());
    Value bt = bufs.lookup(loop.getBetaTile());
    Value state = bufs.lookup(loop.getStateTile());
    Type f32 = lb.b.getF32Type();

    // q, k rows and the v tile, zero past the end of the sequence; beta
    // widened to f32.
    for (Value t : {qt, kt, vt, bt})
      lb.fillZero(t);
    lb.loop(0, rows, [&](Value r) {
      Value tok = lb.add(t0, r);
      lb.loop(0, dk, [&](Value d) {
        for (auto [src, dst] : {std::pair{q, qt}, std::pair{k, kt}}) {
          Value x = lb.load(src, {seq.batch, tok, seq.h, d});
          lb.store(lb.convert(x, elementOf(dst)), dst, {r, d});
        }
      });
      lb.loop(0, bv, [&](Value j) {
        Value x = lb.load(v, {seq.batch, tok, seq.hv, lb.add(seq.v0, j)});
        lb.store(lb.convert(x, elementOf(vt)), vt, {r, j});
      });
      Value b = lb.load(beta, {seq.batch, tok, seq.hv});
      lb.store(lb.convert(b, elementOf(bt)), bt, {r});
    });
    if (loop.getUseQkL2norm()) {
      normalizeRows(lb, qt, rows);
      normalizeRows(lb, kt, rows);
    }

    // The body, op by op.
    IRMapping scalars;
    scalars.map(loop.getScaleArg(), loop.getScale());
    for (Operation &op : body.without_terminator()) {
      llvm::TypeSwitch<Operation *>(&op)
          .Case([&](TileMatmulOp mm) { emitMatmul(lb, mm, scalars); })
          .Case([&](TileMaskOp mask) { emitMask(lb, mask); })
          .Case([&](TileRowScaleOp scale) { emitRowScale(lb, scale); })
          .Case([&](TileUTTransformOp ut) { emitUTTransform(lb, ut); })
          .Case([&](TileConvertOp cv) { emitConvert(lb, cv); })
          .Default([&](Operation *scalar) { lb.b.clone(*scalar, scalars); });
    }

    // The output rows, then the state tile of the next chunk.
    ChunkYieldOp yield = loop.getYield();
    Value out = bufs.lookup(yield.getOutput());
    Type oElt = elementOf(o);
    lb.loop(0, rows, [&](Value r) {
      lb.loop(0, bv, [&](Value j) {
        Value x = lb.convert(lb.load(out, {r, j}), oElt);
        lb.store(x, o, {seq.batch, lb.add(t0, r), seq.hv, lb.add(seq.v0, j)});
      });
    });
    Value next = bufs.lookup(yield.getState());
    if (next != state)
      lb.loop(0, dk, [&](Value d) {
        lb.loop(0, bv, [&](Value j) {
          lb.store(lb.convert(lb.load(next, {d, j}), f32), state, {d, j});
        });
      });
  }

  static Type elementOf(Value shaped) {
    return cast<ShapedType>(shaped.getType()).getElementType();
  }
  static int64_t dimOf(Value shaped, int64_t d) {
    return cast<ShapedType>(shaped.getType()).getDimSize(d);
  }

  /// x[r] = x[r] * 1/sqrt(sum(x[r]^2) + eps) (in f32) for the first `rows`
  /// rows of a tile.
  void normalizeRows(LoopBuilder &lb, Value tile, Value rows) {
    int64_t cols = dimOf(tile, 1);
    Type elt = elementOf(tile);
    lb.loop(0, rows, [&](Value r) {
      Value sum = lb.reduce(lb.idx(0), lb.idx(cols), lb.f32(0.0),
                            [&](Value d, Value acc) {
                              Value x = lb.toF32(lb.load(tile, {r, d}));
                              return lb.fadd(acc, lb.fmul(x, x));
                            });
      Value inv =
          lb.fdiv(lb.f32(1.0), lb.sqrt(lb.fadd(sum, lb.f32(kL2NormEps))));
      lb.loop(0, cols, [&](Value d) {
        Value x = lb.toF32(lb.load(tile, {r, d}));
        lb.store(lb.convert(lb.fmul(x, inv), elt), tile, {r, d});
      });
    });
  }

  /// result = acc + alpha * op(a) op(b), products accumulated in f32.
  void emitMatmul(LoopBuilder &lb, TileMatmulOp mm, const IRMapping &scalars) {
    Value a = bufs.lookup(mm.getA()), b = bufs.lookup(mm.getB());
    Value out = bufs.lookup(mm.getResult());
    Value acc = mm.getAcc() ? bufs.lookup(mm.getAcc()) : Value();
    Value alpha =
        mm.getAlpha() ? scalars.lookupOrDefault(mm.getAlpha()) : Value();
    bool ta = mm.getTransposeA(), tb = mm.getTransposeB();
    int64_t m = dimOf(out, 0), n = dimOf(out, 1);
    int64_t kSize = ta ? dimOf(a, 0) : dimOf(a, 1);
    Type outElt = elementOf(out);
    lb.loop(0, m, [&](Value i) {
      lb.loop(0, n, [&](Value j) {
        Value sum = lb.reduce(
            lb.idx(0), lb.idx(kSize), lb.f32(0.0), [&](Value l, Value s) {
              Value x = lb.toF32(ta ? lb.load(a, {l, i}) : lb.load(a, {i, l}));
              Value y = lb.toF32(tb ? lb.load(b, {j, l}) : lb.load(b, {l, j}));
              return lb.fadd(s, lb.fmul(x, y));
            });
        if (alpha)
          sum = lb.fmul(sum, alpha);
        if (mm.getNegate())
          sum = lb.fneg(sum);
        if (acc)
          sum = lb.fadd(sum, lb.toF32(lb.load(acc, {i, j})));
        lb.store(lb.convert(sum, outElt), out, {i, j});
      });
    });
  }

  /// Zeroes x[r][c] for c > r (lower) or c >= r (strict_lower).
  void emitMask(LoopBuilder &lb, TileMaskOp op) {
    Value x = bufs.lookup(op.getX()), out = bufs.lookup(op.getResult());
    int64_t size = dimOf(x, 0);
    auto pred = op.getKind() == TileMaskKind::strict_lower
                    ? arith::CmpIPredicate::ult
                    : arith::CmpIPredicate::ule;
    Value z = lb.zero(elementOf(x));
    lb.loop(0, size, [&](Value r) {
      lb.loop(0, size, [&](Value c) {
        Value keep = lb.cmp(pred, c, r);
        lb.store(lb.select(keep, lb.load(x, {r, c}), z), out, {r, c});
      });
    });
  }

  /// result[r][j] = x[r][j] * s[r].
  void emitRowScale(LoopBuilder &lb, TileRowScaleOp op) {
    Value x = bufs.lookup(op.getX()), s = bufs.lookup(op.getS());
    Value out = bufs.lookup(op.getResult());
    Type outElt = elementOf(out);
    lb.loop(0, dimOf(x, 0), [&](Value r) {
      Value sr = lb.toF32(lb.load(s, {r}));
      lb.loop(0, dimOf(x, 1), [&](Value j) {
        Value y = lb.fmul(lb.toF32(lb.load(x, {r, j})), sr);
        lb.store(lb.convert(y, outElt), out, {r, j});
      });
    });
  }

  /// result[r][j] = x[r][j] rounded to the result's element type.
  void emitConvert(LoopBuilder &lb, TileConvertOp op) {
    Value x = bufs.lookup(op.getX()), out = bufs.lookup(op.getResult());
    Type outElt = elementOf(out);
    lb.loop(0, dimOf(x, 0), [&](Value r) {
      lb.loop(0, dimOf(x, 1), [&](Value j) {
        lb.store(lb.convert(lb.toF32(lb.load(x, {r, j})), outElt), out, {r, j});
      });
    });
  }

  /// T = (I + A)^-1 diag(beta): the diagonal blocks by forward substitution,
  /// block rows below by X_ij = -X_ii sum_{j<=m<i} A_im X_mj, then columns
  /// scaled by beta. f32 throughout.
  void emitUTTransform(LoopBuilder &lb, TileUTTransformOp op) {
    Value a = bufs.lookup(op.getA()), beta = bufs.lookup(op.getBeta());
    Value out = bufs.lookup(op.getResult());
    Value x = utInverse.lookup(op) ? utInverse.lookup(op) : out;
    Value y = utRowBlock.lookup(op);
    int64_t c = dimOf(a, 0), blk = op.getBlock(), nb = c / blk;
    auto loadA = [&](Value r, Value col) {
      return lb.toF32(lb.load(a, {r, col}));
    };

    lb.fillZero(x);
    // Diagonal blocks: column jj of block b0 by substitution down its rows.
    lb.loop(lb.idx(0), lb.idx(c), lb.idx(blk), [&](Value b0) {
      lb.loop(0, blk, [&](Value jj) {
        Value col = lb.add(b0, jj);
        lb.loop(0, blk, [&](Value rr) {
          Value row = lb.add(b0, rr);
          Value diag = lb.cmp(arith::CmpIPredicate::eq, rr, jj);
          Value init = lb.select(diag, lb.f32(1.0), lb.f32(0.0));
          Value val = lb.reduce(lb.idx(0), rr, init, [&](Value m, Value s) {
            Value bm = lb.add(b0, m);
            return lb.fsub(s, lb.fmul(loadA(row, bm), lb.load(x, {bm, col})));
          });
          lb.store(val, x, {row, col});
        });
      });
    });
    // Block rows i = 1 .. nb-1, each against the block columns jb < i.
    lb.loop(lb.idx(1), lb.idx(nb), lb.idx(1), [&](Value i) {
      Value ib = lb.mul(i, lb.idx(blk));
      // Y[rr][col] = sum_{jb*blk <= m < ib} A[ib + rr][m] X[m][col].
      lb.loop(0, ib, [&](Value col) {
        Value jb0 = lb.mul(lb.divu(col, lb.idx(blk)), lb.idx(blk));
        lb.loop(0, blk, [&](Value rr) {
          Value row = lb.add(ib, rr);
          Value sum = lb.reduce(jb0, ib, lb.f32(0.0), [&](Value m, Value s) {
            return lb.fadd(s, lb.fmul(loadA(row, m), lb.load(x, {m, col})));
          });
          lb.store(sum, y, {rr, col});
        });
      });
      // X[ib + rr][col] = -sum_{m < blk} X[ib + rr][ib + m] Y[m][col].
      lb.loop(0, ib, [&](Value col) {
        lb.loop(0, blk, [&](Value rr) {
          Value row = lb.add(ib, rr);
          Value sum = lb.reduce(
              lb.idx(0), lb.idx(blk), lb.f32(0.0), [&](Value m, Value s) {
                Value xv = lb.load(x, {row, lb.add(ib, m)});
                return lb.fadd(s, lb.fmul(xv, lb.load(y, {m, col})));
              });
          lb.store(lb.fneg(sum), x, {row, col});
        });
      });
    });
    // Columns scaled by beta.
    Type outElt = elementOf(out);
    lb.loop(0, c, [&](Value r) {
      lb.loop(0, c, [&](Value j) {
        Value val = lb.fmul(lb.load(x, {r, j}), lb.toF32(lb.load(beta, {j})));
        lb.store(lb.convert(val, outElt), out, {r, j});
      });
    });
  }

  ChunkLoopOp loop;
  Block &body;
  int64_t dk, dv, chunk, bv;
  /// The buffer of every tile value of the body.
  llvm::DenseMap<Value, Value> bufs;
  /// Per UT transform: the [block, C] f32 scratch of a block row, and the
  /// f32 inverse when the result is not f32.
  llvm::DenseMap<Operation *, Value> utRowBlock, utInverse;
};

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

struct ConvertDeltaToCPUPass
    : deltajit::impl::ConvertDeltaToCPUBase<ConvertDeltaToCPUPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<ChunkLoopOp> loops;
    getOperation()->walk([&](ChunkLoopOp loop) { loops.push_back(loop); });
    for (ChunkLoopOp loop : loops) {
      ChunkLoopLowering lowering(loop);
      if (failed(lowering.check()))
        return signalPassFailure();
      lowering.rewrite();
    }
  }
};

} // namespace
