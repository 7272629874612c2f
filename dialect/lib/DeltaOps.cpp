//===- DeltaOps.cpp - verifiers of the `delta` dialect ops ----------------===//
//
// Shape and type verification for the layer-level ops. Every message names
// the operand (or result) and the dimension that is wrong.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Dialect/DeltaOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>

using namespace mlir;
using namespace deltajit::delta;

namespace {

/// Helper that checks ranks, dimensions and element types of named values
/// and reports the first mismatch on `op`, naming value and dimension.
class ShapeVerifier {
public:
  explicit ShapeVerifier(Operation *op) : op(op) {}

  /// `name` must be a ranked tensor of rank `rank`; `layout` spells its dims.
  LogicalResult rank(StringRef name, Value value, int64_t rank,
                     StringRef layout) {
    auto type = cast<RankedTensorType>(value.getType());
    if (type.getRank() == rank)
      return success();
    return op->emitOpError()
           << "'" << name << "' must have rank " << rank << " " << layout
           << ", got rank " << type.getRank();
  }

  /// `name` must have rank at least `rank`.
  LogicalResult minRank(StringRef name, Value value, int64_t rank) {
    auto type = cast<RankedTensorType>(value.getType());
    if (type.getRank() >= rank)
      return success();
    return op->emitOpError() << "'" << name << "' must have rank >= " << rank
                             << ", got rank " << type.getRank();
  }

  /// Dimension `dim` (called `dimName`) of `name` must equal `expected`, which
  /// comes from `source`. Dynamic sizes on either side are accepted.
  LogicalResult dim(StringRef name, Value value, int64_t dim, StringRef dimName,
                    int64_t expected, StringRef source) {
    int64_t actual = cast<RankedTensorType>(value.getType()).getDimSize(dim);
    if (ShapedType::isDynamic(actual) || ShapedType::isDynamic(expected) ||
        actual == expected)
      return success();
    return op->emitOpError()
           << "'" << name << "' dimension " << dim << " (" << dimName << ") is "
           << actual << ", expected " << expected << " (from " << source << ")";
  }

  /// `name` must have the element type of `refName`.
  LogicalResult sameElementType(StringRef name, Value value, StringRef refName,
                                Value ref) {
    Type a = getElementTypeOrSelf(value.getType());
    Type b = getElementTypeOrSelf(ref.getType());
    if (a == b)
      return success();
    return op->emitOpError()
           << "'" << name << "' element type " << a << " differs from '"
           << refName << "' element type " << b;
  }

  /// Validates `cu_seqlens` (rank 1, >= 2 offsets) against the batch size of
  /// `batchName` (must be 1) and returns the number of sequences N through
  /// `numSeqs` (dynamic when unknown).
  LogicalResult cuSeqlens(Value cu, StringRef batchName, Value batchOwner,
                          int64_t &numSeqs) {
    int64_t batch = cast<RankedTensorType>(batchOwner.getType()).getDimSize(0);
    if (!cu) {
      numSeqs = batch;
      return success();
    }
    if (failed(rank("cu_seqlens", cu, 1, "[N + 1]")))
      return failure();
    if (!ShapedType::isDynamic(batch) && batch != 1)
      return op->emitOpError()
             << "'" << batchName
             << "' dimension 0 (batch) must be 1 when 'cu_seqlens' is given, "
                "got "
             << batch;
    int64_t offsets = cast<RankedTensorType>(cu.getType()).getDimSize(0);
    if (!ShapedType::isDynamic(offsets) && offsets < 2)
      return op->emitOpError()
             << "'cu_seqlens' dimension 0 must hold at least 2 offsets "
                "(N + 1 with N >= 1), got "
             << offsets;
    numSeqs =
        ShapedType::isDynamic(offsets) ? ShapedType::kDynamic : offsets - 1;
    return success();
  }

private:
  Operation *op;
};

int64_t dimOf(Value v, int64_t d) {
  return cast<RankedTensorType>(v.getType()).getDimSize(d);
}

/// Shared verifier of delta.delta_rule and delta.gated_delta_rule. `g` is
/// null for the ungated op.
LogicalResult verifyDeltaRuleLike(Operation *op, Value q, Value k, Value v,
                                  Value g, Value beta, Value init, Value cu,
                                  Value o, Value finalState, int64_t chunkSize,
                                  FloatAttr scale) {
  ShapeVerifier sv(op);
  if (failed(sv.rank("q", q, 4, "[B, T, H, dk]")) ||
      failed(sv.rank("k", k, 4, "[B, T, H, dk]")) ||
      failed(sv.rank("v", v, 4, "[B, T, HV, dv]")) ||
      failed(sv.rank("beta", beta, 3, "[B, T, HV]")) ||
      (g && failed(sv.rank("g", g, 3, "[B, T, HV]"))) ||
      failed(sv.rank("o", o, 4, "[B, T, HV, dv]")) ||
      failed(sv.rank("final_state", finalState, 4, "[N, HV, dk, dv]")))
    return failure();

  int64_t b = dimOf(q, 0), t = dimOf(q, 1), h = dimOf(q, 2), dk = dimOf(q, 3);
  static const char *const qkDims[] = {"B", "T", "H", "dk"};
  for (int64_t d = 0; d < 4; ++d)
    if (failed(sv.dim("k", k, d, qkDims[d], dimOf(q, d), "'q'")))
      return failure();
  if (failed(sv.dim("v", v, 0, "B", b, "'q'")) ||
      failed(sv.dim("v", v, 1, "T", t, "'q'")))
    return failure();
  int64_t hv = dimOf(v, 2), dv = dimOf(v, 3);
  if (!ShapedType::isDynamic(hv) && !ShapedType::isDynamic(h) &&
      (h == 0 || hv % h != 0))
    return op->emitOpError()
           << "the number of value heads ('v' dimension 2, " << hv
           << ") must be a multiple of the number of q/k heads ('q' "
              "dimension 2, "
           << h << ")";
  for (auto [name, val] : {std::pair<StringRef, Value>{"beta", beta},
                           std::pair<StringRef, Value>{"g", g}}) {
    if (!val)
      continue;
    if (failed(sv.dim(name, val, 0, "B", b, "'q'")) ||
        failed(sv.dim(name, val, 1, "T", t, "'q'")) ||
        failed(sv.dim(name, val, 2, "HV", hv, "'v'")))
      return failure();
  }
  if (failed(sv.sameElementType("k", k, "q", q)) ||
      failed(sv.sameElementType("v", v, "q", q)))
    return failure();

  if (!llvm::is_contained({16, 32, 64, 128}, chunkSize))
    return op->emitOpError()
           << "'chunk_size' must be one of 16, 32, 64, 128, got " << chunkSize;
  if (scale) {
    double s = scale.getValueAsDouble();
    if (!(s > 0.0) || !std::isfinite(s))
      return op->emitOpError()
             << "'scale' must be a positive finite number, got " << s;
  }

  int64_t n;
  if (failed(sv.cuSeqlens(cu, "q", q, n)))
    return failure();
  auto checkState = [&](StringRef name, Value s) -> LogicalResult {
    StringRef nSource = cu ? "'cu_seqlens' (N + 1 offsets)" : "'q' (batch)";
    if (failed(sv.dim(name, s, 0, "N", n, nSource)) ||
        failed(sv.dim(name, s, 1, "HV", hv, "'v'")) ||
        failed(sv.dim(name, s, 2, "dk", dk, "'q'")) ||
        failed(sv.dim(name, s, 3, "dv", dv, "'v'")))
      return failure();
    return success();
  };
  if (init && (failed(sv.rank("initial_state", init, 4, "[N, HV, dk, dv]")) ||
               failed(checkState("initial_state", init))))
    return failure();
  if (failed(checkState("final_state", finalState)))
    return failure();

  if (failed(sv.dim("o", o, 0, "B", b, "'q'")) ||
      failed(sv.dim("o", o, 1, "T", t, "'q'")) ||
      failed(sv.dim("o", o, 2, "HV", hv, "'v'")) ||
      failed(sv.dim("o", o, 3, "dv", dv, "'v'")) ||
      failed(sv.sameElementType("o", o, "v", v)))
    return failure();
  return success();
}

double effectiveScale(FloatAttr scale, Value q) {
  if (scale)
    return scale.getValueAsDouble();
  int64_t dk = dimOf(q, 3);
  return ShapedType::isDynamic(dk) ? 1.0 : 1.0 / std::sqrt(double(dk));
}

/// Shared check of an optional positive attribute.
LogicalResult verifyPositive(Operation *op, StringRef name,
                             std::optional<double> value) {
  if (!value || (*value > 0.0 && std::isfinite(*value)))
    return success();
  return op->emitOpError() << "'" << name
                           << "' must be a positive finite number, got "
                           << *value;
}

} // namespace

//===----------------------------------------------------------------------===//
// DeltaRuleOp / GatedDeltaRuleOp
//===----------------------------------------------------------------------===//

LogicalResult DeltaRuleOp::verify() {
  return verifyDeltaRuleLike(*this, getQ(), getK(), getV(), Value(), getBeta(),
                             getInitialState(), getCuSeqlens(), getO(),
                             getFinalState(), getChunkSize(), getScaleAttr());
}

double DeltaRuleOp::getEffectiveScale() {
  return effectiveScale(getScaleAttr(), getQ());
}

LogicalResult GatedDeltaRuleOp::verify() {
  return verifyDeltaRuleLike(*this, getQ(), getK(), getV(), getG(), getBeta(),
                             getInitialState(), getCuSeqlens(), getO(),
                             getFinalState(), getChunkSize(), getScaleAttr());
}

double GatedDeltaRuleOp::getEffectiveScale() {
  return effectiveScale(getScaleAttr(), getQ());
}

//===----------------------------------------------------------------------===//
// DeltaRuleStepOp / LaunchOp
//===----------------------------------------------------------------------===//

LogicalResult DeltaRuleStepOp::verify() {
  ShapeVerifier sv(*this);
  Value q = getQ(), k = getK(), v = getV(), beta = getBeta(), s = getState();
  if (failed(sv.rank("q", q, 3, "[N, H, dk]")) ||
      failed(sv.rank("k", k, 3, "[N, H, dk]")) ||
      failed(sv.rank("v", v, 3, "[N, HV, dv]")) ||
      failed(sv.rank("beta", beta, 2, "[N, HV]")) ||
      failed(sv.rank("state", s, 4, "[N, HV, dk, dv]")) ||
      failed(sv.rank("o", getO(), 3, "[N, HV, dv]")))
    return failure();
  static const char *const qkDims[] = {"N", "H", "dk"};
  for (int64_t d = 0; d < 3; ++d)
    if (failed(sv.dim("k", k, d, qkDims[d], dimOf(q, d), "'q'")))
      return failure();
  int64_t n = dimOf(q, 0), h = dimOf(q, 1), dk = dimOf(q, 2);
  int64_t hv = dimOf(v, 1), dv = dimOf(v, 2);
  if (failed(sv.dim("v", v, 0, "N", n, "'q'")))
    return failure();
  if (!ShapedType::isDynamic(hv) && !ShapedType::isDynamic(h) &&
      (h == 0 || hv % h != 0))
    return emitOpError()
           << "the number of value heads ('v' dimension 1, " << hv
           << ") must be a multiple of the number of q/k heads ('q' "
              "dimension 1, "
           << h << ")";
  if (failed(sv.dim("beta", beta, 0, "N", n, "'q'")) ||
      failed(sv.dim("beta", beta, 1, "HV", hv, "'v'")) ||
      failed(sv.sameElementType("k", k, "q", q)) ||
      failed(sv.sameElementType("v", v, "q", q)))
    return failure();
  for (auto [name, val] :
       {std::pair<StringRef, Value>{"state", s},
        std::pair<StringRef, Value>{"new_state", getNewState()}})
    if (failed(sv.dim(name, val, 0, "N", n, "'q'")) ||
        failed(sv.dim(name, val, 1, "HV", hv, "'v'")) ||
        failed(sv.dim(name, val, 2, "dk", dk, "'q'")) ||
        failed(sv.dim(name, val, 3, "dv", dv, "'v'")))
      return failure();
  if (failed(sv.dim("o", getO(), 0, "N", n, "'q'")) ||
      failed(sv.dim("o", getO(), 1, "HV", hv, "'v'")) ||
      failed(sv.dim("o", getO(), 2, "dv", dv, "'v'")) ||
      failed(sv.sameElementType("o", getO(), "v", v)))
    return failure();
  std::optional<double> scale;
  if (auto attr = getScale())
    scale = attr->convertToDouble();
  return verifyPositive(*this, "scale", scale);
}

double DeltaRuleStepOp::getEffectiveScale() {
  if (auto s = getScale())
    return s->convertToDouble();
  int64_t dk = dimOf(getQ(), 2);
  return ShapedType::isDynamic(dk) ? 1.0 : 1.0 / std::sqrt(double(dk));
}

LogicalResult LaunchOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  // The kernel lives in a gpu.module (or gpu.binary once serialised) that the
  // host module holds; only its presence is checked.
  auto module = (*this)->getParentOfType<ModuleOp>();
  if (!module)
    return success();
  StringAttr root = getKernel().getRootReference();
  if (!symbolTable.lookupSymbolIn(module, root))
    return emitOpError() << "kernel container '" << root.getValue()
                         << "' is not defined in the module";
  return success();
}

//===----------------------------------------------------------------------===//
// ChunkLoopOp
//===----------------------------------------------------------------------===//

ChunkYieldOp ChunkLoopOp::getYield() {
  return cast<ChunkYieldOp>(getBody().front().getTerminator());
}

LogicalResult ChunkLoopOp::verify() {
  if (failed(verifyDeltaRuleLike(
          *this, getQ(), getK(), getV(), Value(), getBeta(), getInitialState(),
          getCuSeqlens(), getO(), getFinalState(), getChunk(), FloatAttr())))
    return failure();
  int64_t dk = dimOf(getQ(), 3), dv = dimOf(getV(), 3);
  if (ShapedType::isDynamic(dk) || ShapedType::isDynamic(dv))
    return emitOpError() << "needs static head dimensions (dk = 'q' dimension "
                            "3, dv = 'v' dimension 3)";
  int64_t c = getChunk(), bv = getBlockV();
  if (dv % bv != 0)
    return emitOpError() << "'tile' block_v (" << bv
                         << ") must divide dv ('v' dimension 3, " << dv << ")";

  // The body computes on one chunk's tiles.
  Block &body = getBody().front();
  Type elt = getElementTypeOrSelf(getQ().getType());
  Type f32 = Float32Type::get(getContext());
  auto tile = [&](ArrayRef<int64_t> shape, Type e) -> Type {
    return RankedTensorType::get(shape, e);
  };
  Type expected[] = {tile({c, dk}, elt),  tile({c, dk}, elt),
                     tile({c, bv}, elt),  tile({c}, f32),
                     tile({dk, bv}, f32), f32};
  static const char *const names[] = {"q tile",    "k tile",     "v tile",
                                      "beta tile", "state tile", "scale"};
  if (body.getNumArguments() != 6)
    return emitOpError() << "body must take 6 arguments (q, k, v, beta, "
                            "state tiles and the scale), got "
                         << body.getNumArguments();
  for (unsigned i = 0; i < 6; ++i)
    if (body.getArgument(i).getType() != expected[i])
      return emitOpError() << "body argument #" << i << " (" << names[i]
                           << ") must be " << expected[i] << ", got "
                           << body.getArgument(i).getType();
  auto yield = dyn_cast<ChunkYieldOp>(body.getTerminator());
  if (!yield)
    return emitOpError() << "body must end with 'delta.chunk_yield'";
  auto out = cast<RankedTensorType>(yield.getOutput().getType());
  if (out.getShape() != ArrayRef<int64_t>{c, bv})
    return yield.emitOpError() << "output tile must be " << c << "x" << bv
                               << " (chunk x block_v), got " << out;
  if (yield.getState().getType() != expected[4])
    return yield.emitOpError() << "state tile must be " << expected[4]
                               << ", got " << yield.getState().getType();
  return success();
}

FailureOr<ChunkLoopOp> ChunkLoopOp::cloneWithBlockV(OpBuilder &b,
                                                    int64_t blockV) {
  TileAttr tile = getTile();
  auto newTile = TileAttr::getChecked([&] { return emitOpError(); },
                                      getContext(), tile.getChunk(), blockV,
                                      tile.getWarps(), tile.getStages());
  if (!newTile)
    return failure();
  auto copy = cast<ChunkLoopOp>(b.clone(*getOperation()));
  copy.setTileAttr(newTile);
  // The value-tile columns: the v and state tiles' dimension 1.
  Block &body = copy.getBody().front();
  for (BlockArgument arg : {copy.getVTile(), copy.getStateTile()}) {
    auto type = cast<RankedTensorType>(arg.getType());
    arg.setType(RankedTensorType::get({type.getDimSize(0), blockV},
                                      type.getElementType()));
  }
  auto shapeOf = [](Value v) {
    return cast<RankedTensorType>(v.getType()).getShape();
  };
  for (Operation &op : body.without_terminator()) {
    if (op.getNumResults() != 1)
      continue;
    auto type = dyn_cast<RankedTensorType>(op.getResult(0).getType());
    if (!type)
      continue;
    SmallVector<int64_t, 2> shape;
    if (auto mm = dyn_cast<TileMatmulOp>(op)) {
      ArrayRef<int64_t> a = shapeOf(mm.getA()), bs = shapeOf(mm.getB());
      shape = {mm.getTransposeA() ? a[1] : a[0],
               mm.getTransposeB() ? bs[0] : bs[1]};
    } else if (isa<TileMaskOp, TileRowScaleOp, TileUTTransformOp,
                   TileConvertOp>(op)) {
      shape.assign(shapeOf(op.getOperand(0)).begin(),
                   shapeOf(op.getOperand(0)).end());
    } else {
      continue;
    }
    op.getResult(0).setType(
        RankedTensorType::get(shape, type.getElementType()));
  }
  if (failed(mlir::verify(copy))) {
    copy.erase();
    return emitOpError() << "has no valid form at block_v " << blockV;
  }
  return copy;
}

//===----------------------------------------------------------------------===//
// ShortConvOp
//===----------------------------------------------------------------------===//

LogicalResult ShortConvOp::verify() {
  ShapeVerifier sv(*this);
  Value x = getX(), w = getWeight(), y = getY(), fs = getFinalState();
  if (failed(sv.rank("x", x, 3, "[B, T, D]")) ||
      failed(sv.rank("weight", w, 2, "[D, K]")) ||
      failed(sv.rank("y", y, 3, "[B, T, D]")) ||
      failed(sv.rank("final_state", fs, 3, "[N, D, K - 1]")))
    return failure();
  int64_t d = dimOf(x, 2), kernel = dimOf(w, 1);
  if (failed(sv.dim("weight", w, 0, "D", d, "'x'")))
    return failure();
  if (!ShapedType::isDynamic(kernel) && kernel < 1)
    return emitOpError() << "'weight' dimension 1 (K, the kernel size) must "
                            "be at least 1, got "
                         << kernel;
  int64_t n;
  if (failed(sv.cuSeqlens(getCuSeqlens(), "x", x, n)))
    return failure();
  int64_t stateLen =
      ShapedType::isDynamic(kernel) ? ShapedType::kDynamic : kernel - 1;
  StringRef nSource =
      getCuSeqlens() ? "'cu_seqlens' (N + 1 offsets)" : "'x' (batch)";
  auto checkState = [&](StringRef name, Value s) -> LogicalResult {
    if (failed(sv.dim(name, s, 0, "N", n, nSource)) ||
        failed(sv.dim(name, s, 1, "D", d, "'x'")) ||
        failed(sv.dim(name, s, 2, "K - 1", stateLen, "'weight'")))
      return failure();
    return success();
  };
  if (Value init = getInitialState())
    if (failed(sv.rank("initial_state", init, 3, "[N, D, K - 1]")) ||
        failed(checkState("initial_state", init)))
      return failure();
  if (failed(checkState("final_state", fs)))
    return failure();
  for (int64_t i = 0; i < 3; ++i)
    if (failed(sv.dim("y", y, i, i == 2 ? "D" : (i ? "T" : "B"), dimOf(x, i),
                      "'x'")))
      return failure();
  return sv.sameElementType("y", y, "x", x);
}

//===----------------------------------------------------------------------===//
// RMSNormOp / L2NormOp
//===----------------------------------------------------------------------===//

LogicalResult RMSNormOp::verify() {
  ShapeVerifier sv(*this);
  Value x = getX(), w = getWeight(), y = getY();
  if (failed(sv.minRank("x", x, 1)) || failed(sv.rank("weight", w, 1, "[D]")))
    return failure();
  int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
  if (failed(sv.dim("weight", w, 0, "D", dimOf(x, rank - 1),
                    "the last dimension of 'x'")))
    return failure();
  if (failed(sv.rank("y", y, rank, "(the rank of 'x')")))
    return failure();
  for (int64_t i = 0; i < rank; ++i)
    if (failed(sv.dim("y", y, i, "shape of x", dimOf(x, i), "'x'")))
      return failure();
  if (Value gate = getGate()) {
    if (failed(sv.rank("gate", gate, rank, "(the rank of 'x')")))
      return failure();
    for (int64_t i = 0; i < rank; ++i)
      if (failed(sv.dim("gate", gate, i, "shape of x", dimOf(x, i), "'x'")))
        return failure();
  }
  if (failed(verifyPositive(*this, "eps", getEps().convertToDouble())))
    return failure();
  return sv.sameElementType("y", y, "x", x);
}

LogicalResult L2NormOp::verify() {
  if (failed(ShapeVerifier(*this).minRank("x", getX(), 1)))
    return failure();
  return verifyPositive(*this, "eps", getEps().convertToDouble());
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::verify() {
  ShapeVerifier sv(*this);
  Value q = getQ(), k = getK(), v = getV(), o = getO();
  if (failed(sv.rank("q", q, 4, "[B, T, H, d]")) ||
      failed(sv.rank("k", k, 4, "[B, T, HKV, d]")) ||
      failed(sv.rank("v", v, 4, "[B, T, HKV, dv]")) ||
      failed(sv.rank("o", o, 4, "[B, T, H, dv]")))
    return failure();
  int64_t b = dimOf(q, 0), t = dimOf(q, 1), h = dimOf(q, 2), d = dimOf(q, 3);
  if (failed(sv.dim("k", k, 0, "B", b, "'q'")) ||
      failed(sv.dim("k", k, 1, "T", t, "'q'")) ||
      failed(sv.dim("k", k, 3, "d", d, "'q'")) ||
      failed(sv.dim("v", v, 0, "B", b, "'q'")) ||
      failed(sv.dim("v", v, 1, "T", t, "'q'")) ||
      failed(sv.dim("v", v, 2, "HKV", dimOf(k, 2), "'k'")))
    return failure();
  int64_t hkv = dimOf(k, 2);
  if (!ShapedType::isDynamic(h) && !ShapedType::isDynamic(hkv) &&
      (hkv == 0 || h % hkv != 0))
    return emitOpError()
           << "the number of query heads ('q' dimension 2, " << h
           << ") must be a multiple of the number of KV heads ('k' "
              "dimension 2, "
           << hkv << ")";
  if (failed(sv.dim("o", o, 0, "B", b, "'q'")) ||
      failed(sv.dim("o", o, 1, "T", t, "'q'")) ||
      failed(sv.dim("o", o, 2, "H", h, "'q'")) ||
      failed(sv.dim("o", o, 3, "dv", dimOf(v, 3), "'v'")))
    return failure();
  if (failed(sv.sameElementType("k", k, "q", q)) ||
      failed(sv.sameElementType("v", v, "q", q)) ||
      failed(sv.sameElementType("o", o, "q", q)))
    return failure();
  int64_t n;
  if (failed(sv.cuSeqlens(getCuSeqlens(), "q", q, n)))
    return failure();
  if (auto w = getWindowSize(); w && *w < 1)
    return emitOpError() << "'window_size' must be at least 1, got " << *w;
  std::optional<double> scale, theta;
  if (auto s = getScale())
    scale = s->convertToDouble();
  if (auto r = getRopeTheta())
    theta = r->convertToDouble();
  if (failed(verifyPositive(*this, "scale", scale)) ||
      failed(verifyPositive(*this, "rope_theta", theta)))
    return failure();
  if (theta && !ShapedType::isDynamic(d) && d % 2 != 0)
    return emitOpError() << "rotary embeddings need an even head dimension "
                            "('q' dimension 3), got "
                         << d;
  return success();
}

//===----------------------------------------------------------------------===//
// LinearOp / EmbeddingOp
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::verify() {
  ShapeVerifier sv(*this);
  Value x = getX(), w = getWeight(), y = getY();
  if (failed(sv.minRank("x", x, 1)) ||
      failed(sv.rank("weight", w, 2, "[out, in]")))
    return failure();
  int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
  int64_t out = dimOf(w, 0);
  if (failed(sv.dim("weight", w, 1, "in", dimOf(x, rank - 1),
                    "the last dimension of 'x'")) ||
      failed(sv.rank("y", y, rank, "(the rank of 'x')")))
    return failure();
  for (int64_t i = 0; i + 1 < rank; ++i)
    if (failed(sv.dim("y", y, i, "leading dimension", dimOf(x, i), "'x'")))
      return failure();
  if (failed(sv.dim("y", y, rank - 1, "out", out, "'weight' dimension 0")))
    return failure();
  if (Value bias = getBias())
    if (failed(sv.rank("bias", bias, 1, "[out]")) ||
        failed(sv.dim("bias", bias, 0, "out", out, "'weight' dimension 0")))
      return failure();
  return success();
}

LogicalResult EmbeddingOp::verify() {
  ShapeVerifier sv(*this);
  Value ids = getIds(), table = getTable(), y = getY();
  if (failed(sv.rank("ids", ids, 2, "[B, T]")) ||
      failed(sv.rank("table", table, 2, "[V, D]")) ||
      failed(sv.rank("y", y, 3, "[B, T, D]")) ||
      failed(sv.dim("y", y, 0, "B", dimOf(ids, 0), "'ids'")) ||
      failed(sv.dim("y", y, 1, "T", dimOf(ids, 1), "'ids'")) ||
      failed(sv.dim("y", y, 2, "D", dimOf(table, 1), "'table'")))
    return failure();
  return sv.sameElementType("y", y, "table", table);
}

#define GET_OP_CLASSES
#include "deltajit/Dialect/DeltaOps.cpp.inc"
