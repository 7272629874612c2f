//===- SmemPlan.h - shared-memory plan of a chunk body ----------*- C++ -*-===//
//
// Where each tile value of a delta.chunk_loop body lives in a kernel's
// shared memory: the block arguments for the whole loop, op results by first
// fit over their live ranges, in place on a dying operand where an op allows
// it, plus the UT transform's scratch.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_NVIDIA_SMEMPLAN_H
#define DELTAJIT_CODEGEN_NVIDIA_SMEMPLAN_H

#include "KernelBuilder.h"

#include "deltajit/Dialect/DeltaOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallVector.h"

namespace deltajit::nvidia {

/// Alignment of every shared tile and buffer (swizzled tiles need more:
/// SmemTile::alignment).
constexpr int64_t kSmemAlign = 16;

/// Whether the UT transform's doubling runs on the tensor cores: blocks of
/// 16 (mma tiles), 2 or 4 of them (the warps' Y regions, c / 16 of sz x 8
/// f32 at sz <= c / 2, fit the blk x c scratch row).
bool utDoublingOnTensorCores(int64_t c, int64_t blk);

/// Assigns a shared tile to every tile value of a chunk body: the block
/// arguments first (live for the whole loop), then op results by first fit
/// over their live ranges; products that accumulate into a value dying at
/// them, and element-wise ops on such a value, reuse its tile.
class SmemPlan {
public:
  /// Lay 16-bit tiles out in core matrices where their shape allows (set
  /// before build when the tensor-core family reads them that way).
  bool coreMatrixTiles = false;
  /// f32 values kept as their two `splitElt` parts (set before build): a
  /// 2 rows x cols tile, the rounded values in rows [0, rows), the rounded
  /// remainders below (see ChunkLoopKernel::findSplitTiles).
  llvm::DenseSet<mlir::Value> splitValues;
  mlir::Type splitElt;
  /// Products computed in the accumulators of a later product (set before
  /// build; ChunkLoopKernel::findAccumulatorChains): their operands are
  /// read until that product runs.
  llvm::DenseMap<mlir::Operation *, mlir::Operation *> readsUntil;
  /// The kernel runs one chunk per program and stores its live-out values
  /// as soon as they are final (set before build; prepare): the block
  /// arguments' tiles (loaded once) and the live-out values' die at their
  /// last use in the body instead of living to its end. The kernel must
  /// put a barrier between a store and a later op that overwrites what it
  /// read (ChunkLoopKernel::emitOps).
  bool chunkPerProgram = false;

  /// Plans the ops of the body for which `include` holds; `preloaded`
  /// values (computed elsewhere) are given tiles from the start. Ops for
  /// which `repeated` holds run after all the others, possibly several
  /// times (once per value tile): what they read from the others stays
  /// live to the end and none of them works in place on such a value.
  /// Values in `inRegisters` get no tile; `pinned` preloaded values keep
  /// theirs to the end, to themselves (no op works in place on them).
  mlir::LogicalResult
  build(delta::ChunkLoopOp loop,
        llvm::function_ref<bool(mlir::Operation *)> include,
        llvm::ArrayRef<mlir::Value> preloaded,
        llvm::ArrayRef<mlir::Value> liveOut, bool keepState,
        llvm::function_ref<bool(mlir::Operation *)> repeated = nullptr,
        llvm::ArrayRef<mlir::Value> inRegisters = {},
        llvm::ArrayRef<mlir::Value> pinned = {});

  bool has(mlir::Value v) const { return tiles.count(v); }
  const SmemTile &tile(mlir::Value v) const { return tiles.find(v)->second; }

  /// The UT transform's block row: blk x c f32.
  static SmemTile utRowTile(delta::TileUTTransformOp op);
  /// Whether UT transform `op` keeps its block row in the bytes of its
  /// 16-bit result tile `t`: the doubling on the tensor cores is the last
  /// to use the row and ends with a barrier before the beta scaling writes
  /// the result (utDoublingOnTensorCores), and the row fits. Saves the
  /// row's bytes when the transform is the plan's peak (prepare at d = 128,
  /// before its plan freed q and k early: 81152 -> 76800 bytes).
  static bool rowBlockFitsResult(delta::TileUTTransformOp op,
                                 const SmemTile &t);
  /// The UT transform's f32 scratch: the block row unless it lives in the
  /// result (rowBlockFitsResult), then, when the result is not f32, the f32
  /// inverse it is rounded from.
  int64_t utScratchBytes(delta::TileUTTransformOp op) const;
  /// The block-row scratch of UT transform `op`.
  SmemTile utRowBlock(delta::TileUTTransformOp op) const;
  /// Where UT transform `op` computes its f32 inverse: its result tile, or
  /// scratch (after the block row unless that is in the result) when the
  /// result is 16-bit.
  SmemTile utInverse(delta::TileUTTransformOp op) const;
  int64_t totalBytes() const { return total; }

private:
  struct Live {
    int64_t offset, bytes, end;
    mlir::Value owner;
  };

  bool isRepeated(mlir::Operation *op) const {
    return repeated && include(op) && repeated(op);
  }

  int64_t lastUse(mlir::Value v);
  /// The operand whose tile the result of `op` may take over, if any.
  mlir::Value inPlaceOperand(mlir::Operation &op);
  void extend(mlir::Value v, int64_t end);
  int64_t place(int64_t bytes, int64_t def, int64_t end,
                int64_t align = kSmemAlign);
  void allocate(mlir::Value v, int64_t def, int64_t end);

  llvm::function_ref<bool(mlir::Operation *)> include;
  llvm::function_ref<bool(mlir::Operation *)> repeated;
  llvm::DenseSet<mlir::Value> liveOut, pinned;
  llvm::DenseMap<mlir::Operation *, int64_t> index;
  llvm::DenseMap<mlir::Value, SmemTile> tiles;
  llvm::DenseMap<mlir::Operation *, int64_t> scratch;
  /// UT transforms whose block row lives in their result tile.
  llvm::DenseSet<mlir::Operation *> rowInResult;
  llvm::SmallVector<Live> live;
  int64_t total = 0;
};

} // namespace deltajit::nvidia

#endif // DELTAJIT_CODEGEN_NVIDIA_SMEMPLAN_H
