//===- DeltaTileOps.cpp - verifiers of the tile-level `delta` ops ---------===//
//
// Shape checks of #delta.tile and the delta.tile_* ops used in chunk bodies.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Dialect/DeltaOps.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace deltajit::delta;

LogicalResult TileAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               int64_t chunk, int64_t blockV, int64_t warps,
                               int64_t stages) {
  if (!llvm::is_contained({16, 32, 64, 128}, chunk))
    return emitError() << "'chunk' must be one of 16, 32, 64, 128, got "
                       << chunk;
  if (blockV < 8 || blockV > 256 || blockV % 8 != 0)
    return emitError() << "'block_v' must be a multiple of 8 in [8, 256], got "
                       << blockV;
  if (!llvm::is_contained({1, 2, 4, 8}, warps))
    return emitError() << "'warps' must be one of 1, 2, 4, 8, got " << warps;
  if (stages < 1)
    return emitError() << "'stages' must be at least 1, got " << stages;
  return success();
}

namespace {
ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}
} // namespace

LogicalResult TileMatmulOp::verify() {
  ArrayRef<int64_t> a = shapeOf(getA()), b = shapeOf(getB()),
                    r = shapeOf(getResult());
  if (a.size() != 2 || b.size() != 2 || r.size() != 2)
    return emitOpError() << "operands and result must be 2-D tiles";
  int64_t m = getTransposeA() ? a[1] : a[0], ka = getTransposeA() ? a[0] : a[1];
  int64_t kb = getTransposeB() ? b[1] : b[0], n = getTransposeB() ? b[0] : b[1];
  if (ka != kb)
    return emitOpError() << "contraction sizes differ: op(a) is " << m << "x"
                         << ka << ", op(b) is " << kb << "x" << n;
  if (r[0] != m || r[1] != n)
    return emitOpError() << "result must be " << m << "x" << n << ", got "
                         << r[0] << "x" << r[1];
  if (getAcc() && shapeOf(getAcc()) != r)
    return emitOpError() << "'acc' must have the result's shape " << m << "x"
                         << n;
  return success();
}

LogicalResult TileMaskOp::verify() {
  ArrayRef<int64_t> x = shapeOf(getX());
  if (x.size() != 2 || x[0] != x[1])
    return emitOpError() << "needs a square 2-D tile, got " << getX().getType();
  return success();
}

LogicalResult TileRowScaleOp::verify() {
  ArrayRef<int64_t> x = shapeOf(getX()), s = shapeOf(getS());
  if (x.size() != 2 || s.size() != 1 || s[0] != x[0])
    return emitOpError() << "'s' must be a vector of one value per row of "
                            "'x' ("
                         << (x.empty() ? 0 : x[0]) << ")";
  if (getResult().getType() != getX().getType())
    return emitOpError() << "result must have the type of 'x'";
  return success();
}

LogicalResult TileUTTransformOp::verify() {
  ArrayRef<int64_t> a = shapeOf(getA()), beta = shapeOf(getBeta());
  if (a.size() != 2 || a[0] != a[1])
    return emitOpError() << "'a' must be a square tile, got "
                         << getA().getType();
  if (beta.size() != 1 || beta[0] != a[0])
    return emitOpError() << "'beta' must hold " << a[0] << " values";
  if (shapeOf(getResult()) != a)
    return emitOpError() << "result must have the shape of 'a'";
  int64_t block = getBlock();
  if (block < 1 || a[0] % block != 0)
    return emitOpError() << "'block' (" << block
                         << ") must divide the tile size " << a[0];
  return success();
}

LogicalResult TileConvertOp::verify() {
  if (shapeOf(getResult()) != shapeOf(getX()))
    return emitOpError() << "result must have the shape of 'x' ("
                         << getX().getType() << ")";
  return success();
}
