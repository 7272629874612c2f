//===- ModelGraph.cpp - a model's host graph for the runtime
//---------------===//
//
// Walks `@forward` (following calls into the layer functions) and writes
// one step per layer-level op, in program order, over named per-token
// values. Reshapes of the head dimensions (tensor.expand_shape /
// collapse_shape) are aliases: a packed row of D elements and one of
// H x d elements are the same bytes.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Codegen/ModelGraph.h"
#include "deltajit/Dialect/DeltaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <map>

using namespace mlir;
using namespace deltajit;
using namespace deltajit::delta;
namespace json = llvm::json;

namespace {

std::string typeName(Type t) {
  if (t.isBF16())
    return "bf16";
  if (t.isF16())
    return "fp16";
  if (t.isF32())
    return "f32";
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

std::string locString(Location loc) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << loc;
  return s;
}

class GraphBuilder {
public:
  explicit GraphBuilder(ModuleOp module) : module_(module), symbols_(module) {}

  std::optional<json::Value> build(func::FuncOp forward, std::string &error);

private:
  /// Walks `fn` with its arguments bound to `args`; `results` receives the
  /// names of the returned values.
  LogicalResult walk(func::FuncOp fn, ArrayRef<std::string> args,
                     SmallVectorImpl<std::string> &results, int depth);
  LogicalResult step(Operation *op, int depth);

  /// Names a new per-token activation value (`[B, T, ...]`).
  LogicalResult define(Value v, Operation *op);
  std::string use(Value v) { return names_.lookup(v); }
  LogicalResult fail(Operation *op, const Twine &why) {
    error_ = (llvm::Twine("model graph: ") + op->getName().getStringRef() +
              " at " + locString(op->getLoc()) + ": " + why)
                 .str();
    return failure();
  }
  std::string newState(StringRef kind) {
    return (kind + "." + std::to_string(stateCount_[kind.str()]++)).str();
  }

  ModuleOp module_;
  SymbolTable symbols_;
  llvm::DenseMap<Value, std::string> names_;
  std::map<std::string, int> stateCount_;
  int valueCount_ = 0;
  json::Array values_, steps_, states_;
  std::string error_;
};

LogicalResult GraphBuilder::define(Value v, Operation *op) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  if (!t || t.getRank() < 3)
    return fail(op, "result is not a [batch, time, ...] tensor");
  int64_t width = 1;
  for (int64_t d : t.getShape().drop_front(2)) {
    if (ShapedType::isDynamic(d))
      return fail(op, "result has a dynamic feature dimension");
    width *= d;
  }
  std::string name = "v" + std::to_string(valueCount_++);
  names_[v] = name;
  values_.push_back(json::Object{{"name", name},
                                 {"dtype", typeName(t.getElementType())},
                                 {"width", width}});
  return success();
}

/// The static size of dimension `i` (counting from the end when negative).
int64_t dim(Value v, int i) {
  auto shape = cast<RankedTensorType>(v.getType()).getShape();
  return shape[i < 0 ? shape.size() + i : i];
}

LogicalResult GraphBuilder::step(Operation *op, int depth) {
  // Shape bookkeeping the runtime does not need.
  if (isa<tensor::DimOp, arith::ConstantOp>(op))
    return success();
  if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(op)) {
    names_[op->getResult(0)] = use(op->getOperand(0));
    return success();
  }
  if (op->getName().getStringRef() == "ml_program.global_load_const") {
    auto global = op->getAttrOfType<FlatSymbolRefAttr>("global");
    if (!global)
      return fail(op, "no global symbol");
    names_[op->getResult(0)] = "@" + global.getValue().str();
    return success();
  }
  if (auto call = dyn_cast<func::CallOp>(op)) {
    auto callee = symbols_.lookup<func::FuncOp>(call.getCallee());
    if (!callee || callee.isExternal())
      return fail(op, "callee '" + call.getCallee() + "' has no body");
    SmallVector<std::string> args, results;
    for (Value a : call.getOperands())
      args.push_back(use(a));
    if (failed(walk(callee, args, results, depth + 1)))
      return failure();
    for (auto [r, name] : llvm::zip(call.getResults(), results))
      names_[r] = name;
    return success();
  }

  json::Object s;
  auto in = [&](StringRef key, Value v) -> LogicalResult {
    std::string n = use(v);
    if (n.empty())
      return fail(op, "operand '" + key + "' is not a graph value");
    s[key] = n;
    return success();
  };
  auto out = [&](Value v) -> LogicalResult {
    if (failed(define(v, op)))
      return failure();
    s["out"] = use(v);
    return success();
  };

  if (auto e = dyn_cast<EmbeddingOp>(op)) {
    s["op"] = "embedding";
    if (failed(in("ids", e.getIds())) || failed(in("table", e.getTable())) ||
        failed(out(e.getY())))
      return failure();
    s["vocab"] = dim(e.getTable(), 0);
    s["dim"] = dim(e.getTable(), 1);
  } else if (auto n = dyn_cast<RMSNormOp>(op)) {
    s["op"] = "rms_norm";
    if (failed(in("x", n.getX())) || failed(in("weight", n.getWeight())))
      return failure();
    if (n.getGate() && failed(in("gate", n.getGate())))
      return failure();
    if (failed(out(n.getY())))
      return failure();
    s["dim"] = dim(n.getX(), -1);
    s["eps"] = n.getEps().convertToDouble();
  } else if (auto n = dyn_cast<L2NormOp>(op)) {
    s["op"] = "l2_norm";
    if (failed(in("x", n.getX())) || failed(out(n.getY())))
      return failure();
    s["dim"] = dim(n.getX(), -1);
    s["eps"] = n.getEps().convertToDouble();
  } else if (auto l = dyn_cast<LinearOp>(op)) {
    s["op"] = "linear";
    if (l.getBias())
      return fail(op, "linear layers with a bias are not supported by the "
                      "model runtime yet");
    if (failed(in("x", l.getX())) || failed(in("weight", l.getWeight())) ||
        failed(out(l.getY())))
      return failure();
    s["in_features"] = dim(l.getWeight(), 1);
    s["out_features"] = dim(l.getWeight(), 0);
  } else if (auto c = dyn_cast<ShortConvOp>(op)) {
    s["op"] = "short_conv";
    if (c.getInitialState() || c.getCuSeqlens())
      return fail(op, "a model graph's short convolution carries its state "
                      "implicitly (no initial_state / cu_seqlens operands)");
    if (failed(in("x", c.getX())) || failed(in("weight", c.getWeight())) ||
        failed(out(c.getY())))
      return failure();
    int64_t channels = dim(c.getWeight(), 0), kernel = dim(c.getWeight(), 1);
    std::string state = newState("conv");
    s["state"] = state;
    s["channels"] = channels;
    s["kernel"] = kernel;
    s["activation"] = c.getActivation()
                          ? stringifyActivationKind(*c.getActivation()).str()
                          : std::string("none");
    states_.push_back(json::Object{{"name", state},
                                   {"kind", "conv"},
                                   {"channels", channels},
                                   {"kernel", kernel}});
  } else if (auto a = dyn_cast<ActivationOp>(op)) {
    s["op"] = "activation";
    s["kind"] = stringifyActivationKind(a.getKind()).str();
    if (failed(in("x", a.getX())) || failed(out(a.getY())))
      return failure();
  } else if (auto g = dyn_cast<SwiGLUOp>(op)) {
    s["op"] = "swiglu";
    if (failed(in("gate", g.getGate())) || failed(in("up", g.getUp())) ||
        failed(out(g.getY())))
      return failure();
  } else if (auto add = dyn_cast<arith::AddFOp>(op)) {
    s["op"] = "add";
    if (failed(in("a", add.getLhs())) || failed(in("b", add.getRhs())) ||
        failed(out(add.getResult())))
      return failure();
  } else if (auto d = dyn_cast<DeltaRuleOp>(op)) {
    s["op"] = "delta_rule";
    if (d.getInitialState() || d.getCuSeqlens())
      return fail(op, "a model graph's delta rule carries its state "
                      "implicitly (no initial_state / cu_seqlens operands)");
    if (failed(in("q", d.getQ())) || failed(in("k", d.getK())) ||
        failed(in("v", d.getV())) || failed(in("beta", d.getBeta())) ||
        failed(out(d.getO())))
      return failure();
    int64_t h = dim(d.getQ(), 2), hv = dim(d.getV(), 2), dk = dim(d.getQ(), 3),
            dv = dim(d.getV(), 3);
    std::string state = newState("delta");
    s["state"] = state;
    s["heads"] = h;
    s["v_heads"] = hv;
    s["dk"] = dk;
    s["dv"] = dv;
    s["chunk"] = int64_t(d.getChunkSize());
    s["scale"] = d.getEffectiveScale();
    s["use_qk_l2norm"] = d.getUseQkL2norm();
    s["dtype"] = typeName(getElementTypeOrSelf(d.getQ().getType()));
    states_.push_back(json::Object{{"name", state},
                                   {"kind", "delta"},
                                   {"v_heads", hv},
                                   {"dk", dk},
                                   {"dv", dv}});
  } else if (auto at = dyn_cast<AttentionOp>(op)) {
    s["op"] = "attention";
    if (at.getCuSeqlens())
      return fail(op, "a model graph's attention takes no cu_seqlens");
    if (failed(in("q", at.getQ())) || failed(in("k", at.getK())) ||
        failed(in("v", at.getV())) || failed(out(at.getO())))
      return failure();
    int64_t h = dim(at.getQ(), 2), hkv = dim(at.getK(), 2),
            d = dim(at.getQ(), 3), dv = dim(at.getV(), 3);
    std::string state = newState("kv");
    s["cache"] = state;
    s["heads"] = h;
    s["kv_heads"] = hkv;
    s["d"] = d;
    s["dv"] = dv;
    s["window"] = at.getWindowSize() ? int64_t(*at.getWindowSize()) : 0;
    s["rope_theta"] =
        at.getRopeTheta() ? at.getRopeTheta()->convertToDouble() : 0.0;
    s["scale"] = at.getScale() ? at.getScale()->convertToDouble()
                               : 1.0 / std::sqrt(double(d));
    states_.push_back(json::Object{
        {"name", state},
        {"kind", "kv"},
        {"kv_heads", hkv},
        {"d", d},
        {"dv", dv},
        {"dtype", typeName(getElementTypeOrSelf(at.getK().getType()))}});
  } else {
    return fail(op, "the model runtime has no implementation of this op");
  }
  steps_.push_back(std::move(s));
  return success();
}

LogicalResult GraphBuilder::walk(func::FuncOp fn, ArrayRef<std::string> args,
                                 SmallVectorImpl<std::string> &results,
                                 int depth) {
  if (depth > 16)
    return fail(fn, "calls nest deeper than 16 (recursion?)");
  if (!fn.getBody().hasOneBlock())
    return fail(fn, "function bodies must be a single block");
  Block &body = fn.getBody().front();
  for (auto [arg, name] : llvm::zip(body.getArguments(), args))
    names_[arg] = name;
  for (Operation &op : body) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (Value v : ret.getOperands())
        results.push_back(use(v));
      return success();
    }
    if (failed(step(&op, depth)))
      return failure();
  }
  return fail(fn, "no return");
}

std::optional<json::Value> GraphBuilder::build(func::FuncOp forward,
                                               std::string &error) {
  SmallVector<std::string> results;
  if (failed(walk(forward, {"ids"}, results, 0))) {
    error = error_;
    return std::nullopt;
  }
  auto logitsType =
      dyn_cast<RankedTensorType>(forward.getFunctionType().getResult(0));
  if (results.empty() || results[0].empty() || !logitsType ||
      logitsType.getRank() != 3) {
    error = "model graph: @forward's first result must be the logits "
            "[batch, time, vocab]";
    return std::nullopt;
  }
  auto idsType = cast<RankedTensorType>(forward.getFunctionType().getInput(0));
  // The model's hidden size and dtype: the embedding's.
  int64_t hidden = 0;
  std::string dtype;
  for (json::Value &v : steps_)
    if (auto *o = v.getAsObject())
      if (o->getString("op") == "embedding") {
        hidden = *o->getInteger("dim");
        break;
      }
  for (json::Value &v : values_)
    if (auto *o = v.getAsObject()) {
      dtype = o->getString("dtype")->str();
      break;
    }
  return json::Value(json::Object{
      {"format_version", 1},
      {"function", forward.getSymName()},
      {"ids_dtype", idsType.getElementType().isInteger(32) ? "i32" : "i64"},
      {"dtype", dtype},
      {"vocab", logitsType.getDimSize(2)},
      {"hidden", hidden},
      {"logits", results[0]},
      {"values", std::move(values_)},
      {"states", std::move(states_)},
      {"steps", std::move(steps_)}});
}

func::FuncOp findForward(ModuleOp module) {
  auto fn = module.lookupSymbol<func::FuncOp>("forward");
  if (!fn || fn.isExternal() || fn.isPrivate() ||
      fn.getFunctionType().getNumInputs() != 1 ||
      fn.getFunctionType().getNumResults() < 1)
    return {};
  auto ids = dyn_cast<RankedTensorType>(fn.getFunctionType().getInput(0));
  if (!ids || ids.getRank() != 2 ||
      !(ids.getElementType().isInteger(32) ||
        ids.getElementType().isInteger(64)))
    return {};
  return fn;
}

} // namespace

bool deltajit::isModelModule(ModuleOp module) {
  return bool(findForward(module));
}

std::optional<json::Value> deltajit::buildModelGraph(ModuleOp module,
                                                     std::string &error) {
  func::FuncOp forward = findForward(module);
  if (!forward) {
    error = "model graph: no public @forward(ids: tensor<?x?xi32|i64>)";
    return std::nullopt;
  }
  return GraphBuilder(module).build(forward, error);
}
