//===- UTTransform.cpp - the UT transform of a chunk kernel ---------------===//
//
// See UTTransform.h. Phases separated by block barriers (utBarrier); X,
// the f32 inverse, and Y, a block row of sums, live in the kernel's
// scratch tiles (SmemPlan).
//
//===----------------------------------------------------------------------===//

#include "UTTransform.h"
#include "KernelBuilder.h"
#include "Tf32Mma.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

using namespace mlir;
using namespace deltajit::nvidia;
using arith::CmpIPredicate;

namespace {

/// One transform's emission: the program's warps and the helpers of its
/// phases.
struct UTEmitter {
  KernelBuilder &kb;
  Value warp, lane;
  int64_t warps, threads;

  /// `w` neighbouring columns of (-)sum_{m < terms} scalar(m) row(m), as a
  /// vector: one broadcast load (scalar) and one vector load (row) per
  /// term, `w` independent FMA chains.
  Value sumOfScaledRows(int64_t terms, int64_t w, bool negate,
                        function_ref<Value(int64_t m)> scalar,
                        function_ref<Value(int64_t m)> row) {
    SmallVector<Value, 4> acc(w, kb.cf32(0.0));
    for (int64_t m = 0; m < terms; ++m) {
      Value sv = scalar(m);
      Value vec = row(m);
      for (int64_t j = 0; j < w; ++j)
        acc[j] = kb.fma(sv, kb.extract(vec, j), acc[j]);
    }
    if (negate)
      for (Value &v : acc)
        v = kb.fneg(v);
    return kb.makeVec(acc);
  }

  /// A barrier between the UT transform's phases: they write only its f32
  /// scratch (X, the block row; X is the result when that is f32), which
  /// no async-proxy (wgmma) product reads, so no proxy fence.
  void utBarrier() {
    kb.fenceNextBarrier = false;
    kb.barrier();
  }

  /// The off-diagonal blocks of the UT inverse X, one block row at a time:
  /// X_ij = -X_ii (sum_{j<=m<i} A_im X_mj), in 2 (nb - 1) barrier-separated
  /// phases; `y` holds a block row of sums.
  void emitUTBlockRows(const SmemTile &a, const SmemTile &x, const SmemTile &y,
                       int64_t nb, int64_t blk, int64_t w) {
    // The sums run over all m < i * blk: X is zero above its block
    // diagonal, so the terms below block column j vanish and the bounds
    // stay static (unrolled, independent loads).
    for (int64_t i = 1; i < nb; ++i) {
      int64_t cols = i * blk, groups = cols / w;
      // out[rr][col + j] = (-)sum_m scalar(rr, m) from[m][col + j]; rows of
      // `out` are those of block row i when it is X, else 0 .. blk.
      auto rowBlock = [&](const SmemTile &from, const SmemTile &out,
                          int64_t terms, bool intoX,
                          function_ref<Value(Value rr, int64_t m)> scalar) {
        kb.forEachThreaded(blk * groups, threads, [&](Value idx) {
          Value rr = kb.div(idx, kb.c32(groups));
          Value col = kb.mul(kb.rem(idx, kb.c32(groups)), kb.c32(w));
          Value sum = sumOfScaledRows(
              terms, w, intoX, [&](int64_t m) { return scalar(rr, m); },
              [&](int64_t m) {
                return kb.loadVec(
                    kb.f32(), w, kb.smemPtr(from, kb.at(from, kb.c32(m), col)));
              });
          Value row = intoX ? kb.add(kb.c32(i * blk), rr) : rr;
          kb.storeVec(sum, kb.smemPtr(out, kb.at(out, row, col)));
        });
        utBarrier();
      };
      // Y = A[block row i][:i blk] X[:i blk][:i blk].
      rowBlock(x, y, cols, /*intoX=*/false, [&](Value rr, int64_t m) {
        return kb.loadSmem(a, kb.at(a, kb.add(kb.c32(i * blk), rr), kb.c32(m)));
      });
      // X[block row i][:i blk] = -X_ii Y.
      rowBlock(y, x, blk, /*intoX=*/true, [&](Value rr, int64_t m) {
        return kb.loadSmem(
            x, kb.at(x, kb.add(kb.c32(i * blk), rr), kb.c32(i * blk + m)));
      });
    }
  }

  /// The off-diagonal blocks of the UT inverse X by doubling on the tensor
  /// cores (3xTF32 mma.sync, f32 accuracy; Tf32Mma.h): at size s = blk, 2
  /// blk, ..., c / 2, every pair of diagonal s-blocks (top T, bottom B, at
  /// offset o) becomes one 2s-block with X_BT = -X_BB (A_BT X_TT). One warp
  /// takes one 8-column slice of a pair's X_BT: Y = A_BT X_TT[:, slice]
  /// into its own region of `y`, then X_BT[:, slice] = -X_BB Y, skipping
  /// the k-steps where the lower triangular X_BB is zero; one barrier per
  /// size (log2(nb) phases). X_TT must be zero above its diagonal blocks
  /// (utUpperBlocksRead).
  void emitUTDoublingTensorCores(const SmemTile &a, const SmemTile &x,
                                 const SmemTile &y, int64_t c, int64_t blk) {
    Tf32Lanes l(kb, lane);
    // (c / 2s pairs) x (s / 8 slices) at every size.
    int64_t items = c / 8 / 2, regions = std::min(warps, items);
    assert(regions * (c / 2) * 8 <= y.rows * y.cols &&
           "the warps' Y regions must fit the scratch row");
    for (int64_t sz = blk; sz < c; sz *= 2) {
      int64_t slices = sz / 8;
      kb.forRange(warp, kb.c32(items), kb.c32(warps), [&](Value item) {
        Value o = kb.mul(kb.div(item, kb.c32(slices)), kb.c32(2 * sz));
        Value n0 = kb.add(o, kb.mul(kb.rem(item, kb.c32(slices)), kb.c32(8)));
        // Element (k, n) of this warp's sz x 8 region of Y, stored flat
        // over the rows of `y`.
        Value base = kb.mul(kb.rem(item, kb.c32(regions)), kb.c32(sz * 8));
        auto yPtr = [&](Value k, Value n) {
          Value flat = kb.add(base, kb.add(kb.mul(k, kb.c32(8)), n));
          return kb.smemPtr(
              y, kb.at(y, kb.div(flat, kb.c32(c)), kb.rem(flat, kb.c32(c))));
        };
        Value top = kb.add(o, kb.c32(sz)); // first row and column of B
        auto element = [&](const SmemTile &t, Value r, Value col) {
          return kb.toF32(kb.loadSmem(t, kb.at(t, r, col)));
        };
        // The accumulators of one 16-row tile, stored in neighbouring pairs.
        auto storePairs = [&](ArrayRef<Value> acc,
                              function_ref<Value(Value, Value)> ptr) {
          forEachTf32AccumulatorPair(kb, l, [&](int64_t i, Value r, Value col) {
            kb.storeVec(kb.makeVec({acc[i], acc[i + 1]}), ptr(r, col));
          });
        };
        // Y = A_BT X_TT[:, slice].
        for (int64_t mi = 0; mi < sz / 16; ++mi) {
          SmallVector<Value, 4> acc(4, kb.cf32(0.0));
          Value r0 = kb.add(top, kb.c32(mi * 16));
          mmaTf32x3(
              kb, l, 0, sz,
              [&](Value r, Value k) {
                return element(a, kb.add(r0, r), kb.add(o, k));
              },
              [&](Value k, Value n) {
                return element(x, kb.add(o, k), kb.add(n0, n));
              },
              acc);
          storePairs(acc, [&](Value r, Value col) {
            return yPtr(kb.add(r, kb.c32(mi * 16)), col);
          });
        }
        NVVM::SyncWarpOp::create(kb.b, kb.loc, kb.c32(-1));
        // X_BT[:, slice] = -X_BB Y (row tile mi of X_BB is zero right of
        // its diagonal block).
        for (int64_t mi = 0; mi < sz / 16; ++mi) {
          SmallVector<Value, 4> acc(4, kb.cf32(0.0));
          Value r0 = kb.add(top, kb.c32(mi * 16));
          mmaTf32x3(
              kb, l, 0, (mi + 1) * 16,
              [&](Value r, Value k) {
                return element(x, kb.add(r0, r), kb.add(top, k));
              },
              [&](Value k, Value n) { return kb.load(kb.f32(), yPtr(k, n)); },
              acc);
          for (Value &v : acc)
            v = kb.fneg(v);
          storePairs(acc, [&](Value r, Value col) {
            return kb.smemPtr(x, kb.at(x, kb.add(r0, r), kb.add(n0, col)));
          });
        }
        // The region is reused by this warp's next item.
        NVVM::SyncWarpOp::create(kb.b, kb.loc, kb.c32(-1));
      });
      utBarrier();
    }
  }

  /// The 16-blocks above X's block diagonal that the tensor-core doubling
  /// reads as zeros: those inside the top s-block X_TT of a pair at every
  /// size s >= 2 blk (as (block row, block column)).
  static SmallVector<std::pair<int64_t, int64_t>>
  utUpperBlocksRead(int64_t c, int64_t blk) {
    SmallVector<std::pair<int64_t, int64_t>> blocks;
    int64_t nb = c / blk;
    for (int64_t bi = 0; bi < nb; ++bi)
      for (int64_t bj = bi + 1; bj < nb; ++bj) {
        bool read = false;
        for (int64_t span = 2; span < nb; span *= 2) // s = span blk
          read |= bi / span == bj / span && (bi / span) % 2 == 0;
        if (read)
          blocks.push_back({bi, bj});
      }
    return blocks;
  }

  /// T = (I + A)^-1 diag(beta), by blocks of 16 (see DeltaTileOps.td).
  void emit(const UTTransformTiles &tiles,
            const std::function<Value(Value)> &rowNormOf) {
    const SmemTile &a = tiles.a, &beta = tiles.beta, &result = tiles.result;
    const SmemTile &x = tiles.x, &y = tiles.y;
    int64_t c = a.rows, blk = tiles.block, nb = c / blk;
    bool tensorCores = utDoublingOnTensorCores(c, blk);

    // The scalar paths read X whole: zero it first. The tensor-core path
    // reads only the blocks on and below the diagonal and the upper blocks
    // of utUpperBlocksRead, zeroed beside the forward substitution.
    SmallVector<std::pair<int64_t, int64_t>> upper;
    if (tensorCores) {
      upper = utUpperBlocksRead(c, blk);
    } else {
      kb.forEachThreaded(c * c, threads, [&](Value idx) {
        kb.storeSmem(x, kb.flatToPadded(x, idx), kb.cf32(0.0));
      });
      utBarrier();
    }
    // The diagonal blocks by forward substitution: thread j owns column j
    // of its block and keeps it in registers. Threads from c on zero the
    // `upper` blocks, 4 elements each.
    int64_t quads = blk * blk / 4;
    int64_t zeroItems = int64_t(upper.size()) * quads;
    auto substitute = [&](Value j) {
      Value b0 = kb.mul(kb.div(j, kb.c32(blk)), kb.c32(blk));
      Value jj = kb.rem(j, kb.c32(blk));
      SmallVector<Value> col;
      for (int64_t rr = 0; rr < blk; ++rr) {
        Value r = kb.add(b0, kb.c32(rr));
        Value isDiag = kb.cmp(CmpIPredicate::eq, jj, kb.c32(rr));
        Value v = kb.select(isDiag, kb.cf32(1.0), kb.cf32(0.0));
        for (int64_t mm = 0; mm < rr; ++mm) {
          Value aRM = kb.loadSmem(a, kb.at(a, r, kb.add(b0, kb.c32(mm))));
          v = kb.fma(kb.fneg(aRM), col[mm], v);
        }
        col.push_back(v);
        kb.storeSmem(x, kb.at(x, r, j), v);
      }
    };
    auto zeroUpper = [&](Value item) {
      for (size_t u = 0; u < upper.size(); ++u) {
        Value inBlock = kb.sub(item, kb.c32(int64_t(u) * quads));
        Value mine = kb.cmp(CmpIPredicate::ult, inBlock, kb.c32(quads));
        kb.ifThen(mine, [&] {
          Value r = kb.add(kb.c32(upper[u].first * blk),
                           kb.div(inBlock, kb.c32(blk / 4)));
          Value col =
              kb.add(kb.c32(upper[u].second * blk),
                     kb.mul(kb.rem(inBlock, kb.c32(blk / 4)), kb.c32(4)));
          kb.storeVec(kb.makeVec(SmallVector<Value>(4, kb.cf32(0.0))),
                      kb.smemPtr(x, kb.at(x, r, col)));
        });
      }
    };
    kb.forEachThreaded(c + zeroItems, threads, [&](Value idx) {
      if (!zeroItems) {
        substitute(idx);
        return;
      }
      kb.ifElse(
          kb.cmp(CmpIPredicate::slt, idx, kb.c32(c)), [&] { substitute(idx); },
          [&] { zeroUpper(kb.sub(idx, kb.c32(c))); });
    });
    utBarrier();

    if (tensorCores) {
      emitUTDoublingTensorCores(a, x, y, c, blk);
    } else {
      // A thread computes `w` neighbouring columns of an output block
      // (sumOfScaledRows).
      int64_t w = blk % 4 == 0 ? 4 : blk % 2 == 0 ? 2 : 1;
      emitUTBlockRows(a, x, y, nb, blk, w);
    }

    // Scale column j by beta[j] (rounded to the result type). T is zero
    // above the block diagonal; the tensor-core path wrote X there only
    // where its products read it, so those elements are written as zeros.
    auto aboveBlocks = [&](Value r, Value j) {
      return kb.cmp(CmpIPredicate::sgt, kb.div(j, kb.c32(blk)),
                    kb.div(r, kb.c32(blk)));
    };
    // Prepare's T' = D_k T (kNormsCross): row r also by k's inverse norm.
    Value rowNorm;
    auto scaled = [&](Value above, Value xv, Value betaJ) {
      Value val = kb.fmul(xv, betaJ);
      if (rowNorm)
        val = kb.fmul(val, rowNorm);
      return above ? kb.select(above, kb.cf32(0.0), val) : val;
    };
    if (c % 4 == 0 && blk % 4 == 0 && x.elt.isF32() && !x.coreMatrix) {
      // Four neighbouring columns per item, consecutive items along a row:
      // one 16-byte load of X and of beta (4 f32 each) and one 8-byte store
      // of a 16-bit result (16 bytes of an f32 one). A 16-byte load phase
      // (8 lanes) then reads 128 contiguous bytes of a row: no bank
      // conflicts (eight columns per item, as before, strode 32 bytes and
      // had 2-way conflicts on X and beta). Four columns aligned to 4 are
      // contiguous in every layout and share a diagonal block.
      kb.forEachThreaded(c * c / 4, threads, [&](Value idx) {
        Value r = kb.div(idx, kb.c32(c / 4));
        Value j = kb.mul(kb.rem(idx, kb.c32(c / 4)), kb.c32(4));
        Value above = tensorCores ? aboveBlocks(r, j) : Value();
        if (rowNormOf)
          rowNorm = rowNormOf(r);
        Value xs = kb.loadVec16(kb.f32(), kb.smemPtr(x, kb.at(x, r, j)));
        Value bs = kb.loadVec16(kb.f32(), kb.smemPtr(beta, j));
        SmallVector<Value, 4> vals;
        for (int64_t e = 0; e < 4; ++e)
          vals.push_back(scaled(above, kb.extract(xs, e), kb.extract(bs, e)));
        Value to = kb.smemPtr(result, kb.at(result, r, j));
        if (result.elt.isF32()) {
          kb.storeVec16(kb.makeVec(vals), to);
          return;
        }
        kb.storeVec(kb.makeVec({kb.pack16x2(vals[0], vals[1], result.elt),
                                kb.pack16x2(vals[2], vals[3], result.elt)}),
                    to);
      });
      return;
    }
    kb.forEachThreaded(c * c, threads, [&](Value idx) {
      Value r = kb.div(idx, kb.c32(c)), j = kb.rem(idx, kb.c32(c));
      if (rowNormOf)
        rowNorm = rowNormOf(r);
      Value val =
          scaled(tensorCores ? aboveBlocks(r, j) : Value(),
                 kb.loadSmem(x, kb.flatToPadded(x, idx)), kb.loadSmem(beta, j));
      kb.storeSmem(result, kb.flatToPadded(result, idx),
                   kb.fromF32(val, result.elt));
    });
  }
};

} // namespace

void deltajit::nvidia::emitUTTransform(
    KernelBuilder &kb, const UTTransformTiles &tiles,
    const UTTransformThreads &threads,
    const std::function<Value(Value)> &rowNorm) {
  UTEmitter{kb, threads.warp, threads.lane, threads.warps, threads.threads}
      .emit(tiles, rowNorm);
}
