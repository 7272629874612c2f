//===- AddDecodeSteps.cpp - the delta-add-decode-steps pass ---------------===//
//
// Adds one `delta.delta_rule_step` function per distinct delta-rule layer
// signature, so a model package carries the decode kernels of its layers.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Dialect/DeltaOps.h"
#include "deltajit/Passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/ADT/StringSet.h"

namespace deltajit {
#define GEN_PASS_DEF_DELTAADDDECODESTEPS
#include "deltajit/Passes/Passes.h.inc"
} // namespace deltajit

using namespace mlir;
using namespace deltajit;
using namespace deltajit::delta;

namespace {

/// `tensor<?x?xAxBxT>` (batch, time, ...) -> `tensor<?xAxBxT>` (batch, ...).
RankedTensorType dropTime(Type t) {
  auto r = cast<RankedTensorType>(t);
  SmallVector<int64_t> shape{ShapedType::kDynamic};
  llvm::append_range(shape, r.getShape().drop_front(2));
  return RankedTensorType::get(shape, r.getElementType());
}

/// The state type with a dynamic batch.
RankedTensorType dynamicBatch(Type t) {
  auto r = cast<RankedTensorType>(t);
  SmallVector<int64_t> shape(r.getShape());
  shape[0] = ShapedType::kDynamic;
  return RankedTensorType::get(shape, r.getElementType());
}

struct DeltaAddDecodeStepsPass
    : deltajit::impl::DeltaAddDecodeStepsBase<DeltaAddDecodeStepsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<DeltaRuleOp> rules;
    module.walk([&](DeltaRuleOp op) { rules.push_back(op); });

    OpBuilder b(module.getContext());
    b.setInsertionPointToEnd(module.getBody());
    SymbolTable symbols(module);
    llvm::StringSet<> seen;
    int index = 0;
    for (DeltaRuleOp op : rules) {
      // A rule whose head dims are dynamic cannot be lowered anyway.
      auto qType = cast<RankedTensorType>(op.getQ().getType());
      auto vType = cast<RankedTensorType>(op.getV().getType());
      if (qType.getRank() != 4 || vType.getRank() != 4 ||
          ShapedType::isDynamicShape(qType.getShape().drop_front(2)) ||
          ShapedType::isDynamicShape(vType.getShape().drop_front(2)))
        continue;
      Type types[] = {
          dropTime(op.getQ().getType()), dropTime(op.getK().getType()),
          dropTime(op.getV().getType()), dropTime(op.getBeta().getType()),
          dynamicBatch(op.getFinalState().getType())};
      // One function per distinct signature.
      std::string key;
      llvm::raw_string_ostream os(key);
      for (Type t : types)
        os << t << ";";
      os << op.getEffectiveScale() << ";" << op.getUseQkL2norm();
      if (!seen.insert(key).second)
        continue;

      std::string name;
      do
        name = "decode_step_" + std::to_string(index++);
      while (symbols.lookup(name));
      auto fnType = b.getFunctionType(types, {types[2], types[4]});
      auto fn = func::FuncOp::create(b, op.getLoc(), name, fnType);
      fn.setPrivate();
      OpBuilder::InsertionGuard guard(b);
      Block *body = fn.addEntryBlock();
      b.setInsertionPointToStart(body);
      auto step = DeltaRuleStepOp::create(
          b, op.getLoc(), TypeRange{types[2], types[4]}, body->getArgument(0),
          body->getArgument(1), body->getArgument(2), body->getArgument(3),
          body->getArgument(4), op.getScaleAttr(), op.getUseQkL2normAttr());
      func::ReturnOp::create(b, op.getLoc(), step.getResults());
      symbols.insert(fn);
    }
  }
};

} // namespace
