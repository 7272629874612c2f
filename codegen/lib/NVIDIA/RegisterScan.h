//===- RegisterScan.h - the scan's chunk step in registers ------*- C++ -*-===//
//
// The three-phase scan's recurrence (Vn = T (V - K Sb), S' = S + K^T Vn)
// computed transposed on sm_90a, one warpgroup per 64 value columns, every
// intermediate in wgmma accumulators: the warpgroup's 64 x dk block of S^T
// is an accumulator; X^T = V^T - Sb^T K^T, Vn^T = X^T T^T (X^T split into
// a 16-bit value and its rounded remainder) and S^T += Vn^T K take their A
// operands from registers (the previous product's accumulators, rounded:
// wgmma's accumulator and register-A fragments agree) and their B operands
// (K, T) from shared memory through descriptors. No shared-memory round
// trip and no barrier inside a chunk step: warpgroups share only the
// chunk's K, T and V tiles. (The same transposed step on mma.sync, one warp
// per 16 columns, measured slower than the generic scan on the H200:
// docs/codegen.md, eleventh session.)
//
// Above dk = 128 the state no longer fits one warpgroup's registers (dk / 2
// per thread): two warpgroups share 64 value columns, each holding half of
// dk. X^T = V^T - Sb_0^T K_0^T - Sb_1^T K_1^T then needs the other half's
// partial product: the two warps of a pair (same value columns) trade them
// through their own columns of Sb's staging tile, after one named barrier
// of the pair. Both compute Vn^T (identical bits), half 0 stages it, and
// each updates its half of S^T with its half of K.
//
// The step can also compute the chunk's output, O^T = Sb^T Q^T + Vn^T P^T
// (Output): the two products share A registers with X^T and with S^T's
// update, so Sb and Vn never leave the SM and the three-phase forward
// needs no output kernel. With two halves each computes a partial O^T
// (Sb^T Q^T over its half of dk, Vn^T P^T over its half of the chunk's
// rows); half 1 hands its partial to half 0 through the exchange area and
// half 0 stores the sum.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_NVIDIA_REGISTERSCAN_H
#define DELTAJIT_CODEGEN_NVIDIA_REGISTERSCAN_H

#include "KernelBuilder.h"

namespace deltajit::nvidia {

class RegisterScanStep {
public:
  /// Columns of S (rows of S^T) one warpgroup holds, and one warp of it.
  static constexpr int64_t kGroupColumns = 64, kWarpColumns = 16;

  /// Warpgroups that share 64 value columns at this dk, chunk, block_v and
  /// element type (each holds dk / halves rows of S), or 0 when the step
  /// does not apply: 1 up to dk = 128; 2 at dk = 256 for chunks of 64 or
  /// 32 and block_v 64, bf16 or fp16 (the partial sums' exchange needs a
  /// half's rows of Sb to hold the chunk's X^T in f32, chunk <= dk / 4; these
  /// are the configurations run against the oracle on a GPU).
  static int64_t halvesFor(int64_t dk, int64_t chunk, int64_t blockV,
                           mlir::Type elt);

  /// A step over chunks of `chunk` rows, state dk x (64 per group of
  /// `halves` warpgroups), 16-bit operands of type `elt` (bf16 or f16).
  /// With two halves, `half` (0 or 1, uniform over the warpgroup) is this
  /// warpgroup's half of dk and `pairBarrier` the named barrier (1..15) its
  /// warp shares with the other half's warp of the same value columns.
  RegisterScanStep(KernelBuilder &kb, mlir::Value lane, int64_t dk,
                   int64_t chunk, mlir::Type elt, int64_t halves = 1,
                   mlir::Value half = {}, mlir::Value pairBarrier = {});

  /// Where lane `lane`'s 16-byte piece n of a warp's 16 columns goes when
  /// the warp moves a column strip through shared memory (the output's and
  /// Sb's copies out, the pair's exchange): lanes 2 s and 2 s + 1 take the
  /// two halves (column offsets 0 and 8) of row 16 n + 2 (s % 4) + (s / 4)
  /// % 2 + 8 (s / 8). The 8 lanes of one 16-byte access phase then cover 4
  /// rows two apart: distinct banks on 128-byte-swizzled and padded tiles
  /// (rows 0-3, as before, had 2-way bank conflicts on swizzled ones), and
  /// each row's 32 bytes still reach global memory as one full sector from
  /// one phase (lanes 16 apart per row measured slower on the H200: o's
  /// stores became half-sector writes).
  static std::pair<mlir::Value, mlir::Value>
  stripPiece(KernelBuilder &kb, mlir::Value lane, int64_t n);

  /// f32 registers per thread of its warp's 16 rows of S^T (its half).
  int64_t stateRegisters() const { return dkHalf / 2; }
  /// Rows of S this warpgroup holds: dk / halves from `halfRow()` on (null
  /// with one half: from 0).
  int64_t halfRows() const { return dkHalf; }
  mlir::Value halfRow() const { return halfRow0; }
  /// Calls fn(i, j, d) for this thread's state registers i, i + 1: S^T(j,
  /// d) and S^T(j, d + 1), i.e. S(d, j) and S(d + 1, j), j in [0, 16) of
  /// the warp's columns, d even (within the warpgroup's half).
  void forEachStatePair(
      llvm::function_ref<void(int64_t, mlir::Value, mlir::Value)> fn);

  /// Where the step's Sb and Vn go (the three-phase scan: staged for the
  /// output kernel): the state the step starts from, rounded to `elt` (Sb,
  /// dk x block_v), and the new values (Vn, chunk x block_v) are written to
  /// the warp's columns of `sbOut` and `vnOut` (stmatrix.trans of the
  /// transposed fragments); `sbStaged` and `vnStaged` run right after (the
  /// warp not synced yet) while the next product is in flight on the
  /// tensor cores. With two halves each stages its rows of Sb, and only
  /// half 0 stages (and calls `vnStaged` for) Vn.
  struct Staging {
    const SmemTile &sbOut, &vnOut;
    llvm::function_ref<void()> sbStaged, vnStaged;
  };
  /// The chunk's output computed in the step instead: O^T = Sb^T Q^T + Vn^T
  /// P^T, unscaled, with `q` (chunk x dk) and `p` (chunk x chunk, the
  /// masked Q K^T) 16-bit core-matrix tiles: Sb^T Q^T runs beside X^T (same
  /// A registers), Vn^T P^T beside S^T's update (same A registers). `store`
  /// receives the warp's O^T accumulators (chunk / 2 f32 per thread, the
  /// layout of Vn^T's) once they are final; with two halves only half 0
  /// calls it. Two halves also need `exchange` (a dk x 64 16-bit tile: the
  /// warp pair's partial sums of X^T and O^T go through its columns) and
  /// `handOver`, the named barrier (1..15, not the pair's) at which half 1
  /// hands half 0 its partial O^T. With `rowScales`, Q's row r is scaled by
  /// rowScales(r).first and row r + 1 by .second (r even; q's inverse
  /// norms when q is given unnormalised): called and applied to Sb^T Q^T's
  /// columns once that product is done, before Vn^T P^T is added.
  struct Output {
    const SmemTile &q, &p;
    llvm::function_ref<void(llvm::ArrayRef<mlir::Value>)> store;
    const SmemTile *exchange = nullptr;
    mlir::Value handOver = {};
    llvm::function_ref<std::pair<mlir::Value, mlir::Value>(mlir::Value)>
        rowScales = nullptr;
  };
  /// Row r's and r + 1's scales (r even).
  using RowScales =
      llvm::function_ref<std::pair<mlir::Value, mlir::Value>(mlir::Value)>;

  /// Emits one chunk step on `state` (stateRegisters() f32) and returns the
  /// next state. `k` (chunk x dk), `t` (chunk x chunk, the UT transform's
  /// T), `v` (chunk x block_v) are 16-bit shared tiles in core matrices
  /// (SmemTile::coreMatrix); the warp's value columns are `column` .. + 16
  /// of `v` (its warpgroup's start at a multiple of 64). At most one of
  /// `staging` and `output` is given; with neither (one half only), the
  /// step only advances the state (the segment scan's transitions). With
  /// `kScales`, k is given unnormalised, with `t` (and the output's `p`)
  /// already D_k T and mask(Q_n K^T) (prepare's): X^T = V^T - (Sb^T K^T)
  /// D_k, its columns r, r + 1 scaled by kScales(r).first / .second (k's
  /// inverse norms), and the step's Vn is D_k Vn, which S^T's update and
  /// O^T need with k and P as given.
  llvm::SmallVector<mlir::Value>
  emit(llvm::ArrayRef<mlir::Value> state, const SmemTile &k, const SmemTile &t,
       const SmemTile &v, mlir::Value column, const Staging *staging,
       const Output *output, RowScales kScales = nullptr);

  /// Writes the transposed fragments `packed` (packed[2 i + h]: rows g + 8
  /// h, columns 8 i + 2q, + 1 of the warp's 16 rows, as 16-bit pairs) into
  /// `out` untransposed: element (r, j) at out(row0 + r, column + j) (row0
  /// null: 0).
  void storeTransposed(llvm::ArrayRef<mlir::Value> packed, const SmemTile &out,
                       mlir::Value row0, mlir::Value column);

private:
  /// Pointer to element (row, col) of `tile` (ldmatrix / stmatrix rows).
  mlir::Value blockRow(const SmemTile &tile, mlir::Value row, mlir::Value col);
  /// acc (n / 2 f32) = (scaleD ? acc : 0) + scaleA * A B by one
  /// wgmma.mma_async.m64n`n`k16 of the warpgroup, A from registers (this
  /// warp's 16-row fragment: 4 i32), B by descriptor.
  void wgmma(int64_t n, llvm::MutableArrayRef<mlir::Value> acc,
             llvm::ArrayRef<mlir::Value> a, mlir::Value descB, bool scaleD,
             int scaleA, bool transB);
  /// Two halves: adds the other half's partial X^T (`x`: this thread's
  /// accumulators) to this one's, traded through the warp's columns of
  /// `area` (Sb's staging tile, already copied out): each half writes its
  /// rows' 16 columns, the pair meets at its named barrier, each reads the
  /// other's. The next chunk's block barrier comes before either half
  /// rewrites its rows.
  void addOtherHalf(llvm::MutableArrayRef<mlir::Value> x, const SmemTile &area,
                    mlir::Value column);
  /// Two halves: half 1 writes its partial O^T (`o`) into the rows of
  /// `area` it read half 0's X^T from, arrives at `handOver`; half 0 waits
  /// there, adds it to its own and calls `store` with the sum.
  void handOverOutput(llvm::ArrayRef<mlir::Value> o, const Output &output,
                      mlir::Value column);
  /// x += the other half's accumulators in `area`'s pieces from row `row0`
  /// (exchangePiece), element by element in f32.
  void addExchanged(llvm::MutableArrayRef<mlir::Value> x, const SmemTile &area,
                    mlir::Value row0, mlir::Value column);
  /// 16-byte piece i of this lane's accumulators in the warp's columns
  /// `column` .. + 16 of `area` from row `row0` on (stripPiece).
  mlir::Value exchangePiece(const SmemTile &area, mlir::Value row0,
                            mlir::Value column, int64_t i);

  KernelBuilder &kb;
  int64_t chunk, halves, dkHalf;
  mlir::Type elt;
  /// This warpgroup's half, the first row of S it holds and the other
  /// half's (null with one half), and the pair's named barrier.
  mlir::Value half, halfRow0, otherRow0, pairBarrier;
  mlir::Value lane;
  /// group = lane / 4, twoQuad = 2 (lane % 4), row8 = lane % 8, and this
  /// lane's ldmatrix / stmatrix block m = lane / 8 as (m % 2) * 8 and
  /// (m / 2) * 8.
  mlir::Value group, twoQuad, row8, lo8, hi8;
};

} // namespace deltajit::nvidia

#endif // DELTAJIT_CODEGEN_NVIDIA_REGISTERSCAN_H
