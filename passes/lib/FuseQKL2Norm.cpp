//===- FuseQKL2Norm.cpp - the delta-fuse-qk-l2norm pass -------------------===//
//
// Folds `delta.l2_norm` on both q and k into the `use_qk_l2norm` attribute
// of delta-rule ops, so the kernels normalise in registers.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Dialect/DeltaOps.h"
#include "deltajit/Passes/Passes.h"

#include "mlir/IR/PatternMatch.h"

namespace deltajit {
#define GEN_PASS_DEF_DELTAFUSEQKL2NORM
#include "deltajit/Passes/Passes.h.inc"
} // namespace deltajit

using namespace mlir;
using namespace deltajit;
using namespace deltajit::delta;

namespace {

/// The epsilon the kernels use for in-kernel q/k normalisation.
constexpr double kKernelL2NormEps = 1.0e-6;

/// Returns the normalised input when `v` is `delta.l2_norm` with the
/// kernel's epsilon, else a null value.
Value l2NormInput(Value v) {
  auto norm = v.getDefiningOp<L2NormOp>();
  if (!norm)
    return {};
  // The attribute is f32: compare in f32 so 1e-6 matches exactly.
  if (norm.getEps().convertToFloat() != float(kKernelL2NormEps))
    return {};
  return norm.getX();
}

template <typename OpTy> void fuse(OpTy op) {
  if (op.getUseQkL2norm())
    return;
  Value q = l2NormInput(op.getQ()), k = l2NormInput(op.getK());
  if (!q || !k)
    return;
  op.getQMutable().assign(q);
  op.getKMutable().assign(k);
  op.setUseQkL2norm(true);
}

struct DeltaFuseQKL2NormPass
    : deltajit::impl::DeltaFuseQKL2NormBase<DeltaFuseQKL2NormPass> {
  void runOnOperation() override {
    getOperation()->walk([](Operation *op) {
      if (auto d = dyn_cast<DeltaRuleOp>(op))
        fuse(d);
      else if (auto g = dyn_cast<GatedDeltaRuleOp>(op))
        fuse(g);
    });
    // Normalisations whose only users were folded are dead now.
    SmallVector<L2NormOp> dead;
    getOperation()->walk([&](L2NormOp op) {
      if (op->use_empty())
        dead.push_back(op);
    });
    for (L2NormOp op : dead)
      op->erase();
  }
};

} // namespace
