//===- SmemPlan.cpp - shared-memory plan of a chunk body ------------------===//
//
// See SmemPlan.h.
//
//===----------------------------------------------------------------------===//

#include "SmemPlan.h"

using namespace mlir;
using namespace deltajit::delta;
using namespace deltajit::nvidia;

bool deltajit::nvidia::utDoublingOnTensorCores(int64_t c, int64_t blk) {
  int64_t nb = c / blk;
  return blk == 16 && (nb == 2 || nb == 4);
}

LogicalResult
SmemPlan::build(ChunkLoopOp loop, function_ref<bool(Operation *)> include,
                ArrayRef<Value> preloaded, ArrayRef<Value> liveOut,
                bool keepState, function_ref<bool(Operation *)> repeated,
                ArrayRef<Value> inRegisters, ArrayRef<Value> pinned) {
  Block &body = loop.getBody().front();
  llvm::DenseSet<Value> registers(inRegisters.begin(), inRegisters.end());
  this->pinned.insert(pinned.begin(), pinned.end());
  this->include = include;
  this->repeated = repeated;
  this->liveOut.insert(liveOut.begin(), liveOut.end());
  SmallVector<Operation *> order;
  for (Operation &op : body)
    if (!isRepeated(&op))
      order.push_back(&op);
  for (Operation &op : body)
    if (isRepeated(&op))
      order.push_back(&op);
  for (auto [i, op] : llvm::enumerate(order))
    index[op] = i;
  int64_t end = body.getOperations().size();
  for (BlockArgument arg : body.getArguments()) {
    if (!isa<RankedTensorType>(arg.getType()) || registers.count(arg))
      continue;
    bool used = llvm::any_of(arg.getUsers(), [&](Operation *u) {
      return include(u) || isa<ChunkYieldOp>(u);
    });
    if (used || (keepState && arg == loop.getStateTile()))
      allocate(arg, 0, chunkPerProgram ? lastUse(arg) : end + 1);
  }
  for (Value v : preloaded)
    allocate(v, 0, this->pinned.count(v) ? end + 1 : lastUse(v));
  for (Operation *opPtr : order) {
    Operation &op = *opPtr;
    if (op.getNumResults() != 1 || !include(&op) ||
        registers.count(op.getResult(0)))
      continue;
    Value result = op.getResult(0);
    int64_t def = index[&op], last = lastUse(result);
    if (Value reuse = inPlaceOperand(op)) {
      tiles[result] = tiles[reuse];
      extend(reuse, last);
      continue;
    }
    allocate(result, def, last);
    if (auto ut = dyn_cast<TileUTTransformOp>(op)) {
      if (rowBlockFitsResult(ut, tiles[result]))
        rowInResult.insert(&op);
      scratch[&op] = place(utScratchBytes(ut), def, def);
    }
  }
  return success();
}

SmemTile SmemPlan::utRowTile(TileUTTransformOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  return SmemTile::make(op.getBlock(), type.getDimSize(0),
                        Float32Type::get(op.getContext()));
}

bool SmemPlan::rowBlockFitsResult(TileUTTransformOp op, const SmemTile &t) {
  return !t.elt.isF32() && utDoublingOnTensorCores(t.rows, op.getBlock()) &&
         utRowTile(op).bytes() <= t.bytes();
}

int64_t SmemPlan::utScratchBytes(TileUTTransformOp op) const {
  auto type = cast<RankedTensorType>(op.getType());
  int64_t c = type.getDimSize(0);
  int64_t bytes = rowInResult.count(op)
                      ? 0
                      : llvm::alignTo(utRowTile(op).bytes(), kSmemAlign);
  if (!type.getElementType().isF32())
    bytes += SmemTile::make(c, c, Float32Type::get(op.getContext())).bytes();
  return bytes;
}

SmemTile SmemPlan::utRowBlock(TileUTTransformOp op) const {
  SmemTile t = utRowTile(op);
  t.offset = rowInResult.count(op) ? tile(op.getResult()).offset
                                   : scratch.find(op)->second;
  return t;
}

SmemTile SmemPlan::utInverse(TileUTTransformOp op) const {
  const SmemTile &result = tile(op.getResult());
  if (result.elt.isF32())
    return result;
  SmemTile t = SmemTile::make(result.rows, result.cols,
                              Float32Type::get(op.getContext()));
  t.offset = scratch.find(op)->second;
  if (!rowInResult.count(op))
    t.offset += llvm::alignTo(utRowTile(op).bytes(), kSmemAlign);
  return t;
}

int64_t SmemPlan::lastUse(Value v) {
  if (liveOut.count(v) && !chunkPerProgram) // stored after the last op
    return int64_t(index.size()) + 1;
  Operation *def = v.getDefiningOp();
  int64_t last = def ? index[def] : 0;
  for (Operation *user : v.getUsers()) {
    if (!include(user) && !isa<ChunkYieldOp>(user))
      continue;
    // Read again by every repetition: live to the end.
    if (isRepeated(user) && !(def && isRepeated(def)))
      return int64_t(index.size()) + 1;
    if (Operation *until = readsUntil.lookup(user))
      user = until;
    last = std::max(last, index[user]);
  }
  return last;
}

Value SmemPlan::inPlaceOperand(Operation &op) {
  Value candidate;
  if (auto mm = dyn_cast<TileMatmulOp>(op)) {
    candidate = mm.getAcc();
    if (candidate && (candidate == mm.getA() || candidate == mm.getB()))
      return {};
  } else if (isa<TileMaskOp, TileRowScaleOp>(op)) {
    candidate = op.getOperand(0);
  }
  if (!candidate || candidate.getType() != op.getResult(0).getType() ||
      pinned.count(candidate))
    return {};
  Operation *def = candidate.getDefiningOp();
  if (isRepeated(&op) && !(def && isRepeated(def)))
    return {}; // read again by the next repetition

  // The candidate must die here: its only remaining use is `op`.
  for (Operation *user : candidate.getUsers())
    if (user != &op && (include(user) || isa<ChunkYieldOp>(user)) &&
        index[user] >= index[&op])
      return {};
  if (isa<BlockArgument>(candidate) &&
      candidate != cast<ChunkLoopOp>(op.getParentOp()).getStateTile())
    return {}; // q, k, v, beta tiles are reloaded: never overwrite them.
  return candidate;
}

void SmemPlan::extend(Value v, int64_t end) {
  for (Live &l : live)
    if (tiles[l.owner].offset == tiles[v].offset)
      l.end = std::max(l.end, end);
}

int64_t SmemPlan::place(int64_t bytes, int64_t def, int64_t end,
                        int64_t align) {
  // A tile stored by the op just before this one (chunkPerProgram: its
  // last use) is free, but overwriting it costs a barrier after the store:
  // it is avoided unless that makes the plan larger.
  auto justStored = [&](const Live &l) {
    return chunkPerProgram && l.end == def - 1 &&
           llvm::any_of(liveOut, [&](Value v) {
             return tiles.count(v) && tiles[v].offset == l.offset;
           });
  };
  auto firstFit = [&](bool avoidStored) {
    SmallVector<std::pair<int64_t, int64_t>> busy;
    for (const Live &l : live)
      if (l.end >= def || (avoidStored && justStored(l)))
        busy.push_back({l.offset, l.offset + l.bytes});
    llvm::sort(busy);
    int64_t offset = 0;
    for (auto [lo, hi] : busy) {
      if (offset + bytes <= lo)
        break;
      offset = std::max<int64_t>(offset, llvm::alignTo(hi, align));
    }
    return offset;
  };
  int64_t offset = firstFit(/*avoidStored=*/true);
  if (offset + bytes > total)
    offset = std::min(offset, firstFit(/*avoidStored=*/false));
  live.push_back({offset, bytes, end, Value()});
  total = std::max(total, offset + bytes);
  return offset;
}

void SmemPlan::allocate(Value v, int64_t def, int64_t end) {
  auto type = cast<RankedTensorType>(v.getType());
  int64_t rows = type.getDimSize(0);
  int64_t cols = type.getRank() > 1 ? type.getDimSize(1) : 1;
  Type elt = type.getElementType();
  if (splitValues.count(v)) {
    rows *= 2;
    elt = splitElt;
  }
  SmemTile t = SmemTile::make(
      rows, cols, elt,
      coreMatrixTiles && SmemTile::canUseCoreMatrices(rows, cols, elt));
  t.offset = place(t.bytes(), def, end, std::max(kSmemAlign, t.alignment()));
  live.back().owner = v;
  tiles[v] = t;
}
