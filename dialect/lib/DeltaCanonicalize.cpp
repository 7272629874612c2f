//===- DeltaCanonicalize.cpp - canonicalization patterns of `delta` ops ---===//
//
// Rewrites that simplify layer ops without changing their results:
//  - an all-zero `initial_state` is the default and is dropped;
//  - a gated delta rule whose log-gate is all zero (a_t = 1) is a plain
//    delta rule.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Dialect/DeltaOps.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace deltajit::delta;

namespace {

/// Drops an `initial_state` operand that is a constant zero splat: every op
/// with an optional state starts from zeros when it is absent.
template <typename OpTy> struct DropZeroInitialState : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    Value init = op.getInitialState();
    if (!init || !matchPattern(init, m_AnyZeroFloat()))
      return rewriter.notifyMatchFailure(op, "no constant-zero initial state");
    rewriter.modifyOpInPlace(op, [&] { op.getInitialStateMutable().clear(); });
    return success();
  }
};

/// gated_delta_rule with g == 0 everywhere (gate exp(0) = 1) -> delta_rule.
struct UngateZeroGate : OpRewritePattern<GatedDeltaRuleOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(GatedDeltaRuleOp op,
                                PatternRewriter &rewriter) const override {
    if (!matchPattern(op.getG(), m_AnyZeroFloat()))
      return rewriter.notifyMatchFailure(op, "gate is not constant zero");
    auto plain = DeltaRuleOp::create(
        rewriter, op.getLoc(), op.getO().getType(),
        op.getFinalState().getType(), op.getQ(), op.getK(), op.getV(),
        op.getBeta(), op.getInitialState(), op.getCuSeqlens(),
        op.getScaleAttr(), op.getUseQkL2normAttr(), op.getChunkSizeAttr());
    rewriter.replaceOp(op, plain->getResults());
    return success();
  }
};

} // namespace

void DeltaRuleOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                              MLIRContext *context) {
  results.add<DropZeroInitialState<DeltaRuleOp>>(context);
}

void GatedDeltaRuleOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                                   MLIRContext *context) {
  results.add<DropZeroInitialState<GatedDeltaRuleOp>, UngateZeroGate>(context);
}

void ShortConvOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                              MLIRContext *context) {
  results.add<DropZeroInitialState<ShortConvOp>>(context);
}
