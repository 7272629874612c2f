//===- ModelBuilder.cpp - builds the `delta` module of a ModelSpec --------===//
//
// Emits a model in the shape of frontend/examples/hybrid_deltanet_swa.mlir:
// external ml_program globals named like FLA checkpoints, one private
// function per layer kind, and @forward(ids) -> (logits, DeltaNet states).
//
//===----------------------------------------------------------------------===//

#include "deltajit/Frontend/ModelSpec.h"

#include "deltajit/Dialect/DeltaDialect.h"
#include "deltajit/Dialect/DeltaOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace deltajit::frontend;
namespace delta = deltajit::delta;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

/// One weight of a layer: its name under `layers.N.` and its type.
struct Weight {
  std::string name;
  RankedTensorType type;
};

class ModelBuilder {
public:
  ModelBuilder(const ModelSpec &spec, MLIRContext &context)
      : spec(spec), ctx(context), b(&context), loc(UnknownLoc::get(&context)) {
    switch (spec.dtype) {
    case DType::BF16:
      elt = b.getBF16Type();
      break;
    case DType::F16:
      elt = b.getF16Type();
      break;
    case DType::F32:
      elt = b.getF32Type();
      break;
    }
    int64_t h = spec.numHeads;
    keyDim = h * spec.headDim;
    valueDim = h * spec.headVDim;
    if (spec.attn) {
      attnHeadDim = spec.hiddenSize / spec.attn->numHeads;
    }
  }

  OwningOpRef<ModuleOp> build();

private:
  RankedTensorType tensor(ArrayRef<int64_t> shape, Type type = {}) {
    return RankedTensorType::get(shape, type ? type : elt);
  }
  /// Activations `[B, T, tail...]`.
  RankedTensorType act(ArrayRef<int64_t> tail) {
    SmallVector<int64_t> shape{kDyn, kDyn};
    shape.append(tail.begin(), tail.end());
    return tensor(shape);
  }

  std::vector<Weight> deltaWeights();
  std::vector<Weight> attnWeights();
  void appendMLP(std::vector<Weight> &weights);
  SmallVector<Type> deltaStateTypes();

  func::FuncOp buildDeltaLayer(ArrayRef<Weight> weights);
  func::FuncOp buildAttnLayer(ArrayRef<Weight> weights);
  void buildForward(func::FuncOp deltaLayer, func::FuncOp attnLayer);

  // Op helpers (inside a layer function).
  Value linear(Value x, Value w) {
    auto xt = cast<RankedTensorType>(x.getType());
    auto wt = cast<RankedTensorType>(w.getType());
    SmallVector<int64_t> shape(xt.getShape());
    shape.back() = wt.getDimSize(0);
    return delta::LinearOp::create(b, loc, tensor(shape), x, w, Value());
  }
  Value rmsNorm(Value x, Value w, Value gate = {}) {
    return delta::RMSNormOp::create(b, loc, x.getType(), x, w, gate,
                                    b.getF32FloatAttr(spec.normEps));
  }
  Value activation(delta::ActivationKind kind, Value x) {
    return delta::ActivationOp::create(
        b, loc, x.getType(), delta::ActivationKindAttr::get(&ctx, kind), x);
  }
  Value splitHeads(Value x, int64_t heads, int64_t dim) {
    return tensor::ExpandShapeOp::create(
        b, loc, act({heads, dim}), x, {{0}, {1}, {2, 3}},
        ArrayRef<OpFoldResult>{batch, seq, b.getIndexAttr(heads),
                               b.getIndexAttr(dim)});
  }
  Value mergeHeads(Value x) {
    auto xt = cast<RankedTensorType>(x.getType());
    return tensor::CollapseShapeOp::create(
        b, loc, act({xt.getDimSize(2) * xt.getDimSize(3)}), x,
        ArrayRef<ReassociationIndices>{{0}, {1}, {2, 3}});
  }
  /// x + o_proj(...) then the SwiGLU MLP with its residual; `w` points at
  /// the mlp_norm weight and the three MLP projections follow it.
  Value residualAndMLP(Value x, Value attnOut, ValueRange w) {
    Value x1 = arith::AddFOp::create(b, loc, x, attnOut);
    Value h = rmsNorm(x1, w[0]);
    Value gate = linear(h, w[1]);
    Value up = linear(h, w[2]);
    Value s = delta::SwiGLUOp::create(b, loc, gate.getType(), gate, up);
    Value down = linear(s, w[3]);
    return arith::AddFOp::create(b, loc, x1, down);
  }
  /// Starts a private layer function and records the batch / seq dims.
  func::FuncOp beginFunction(StringRef name, ArrayRef<Weight> weights,
                             ArrayRef<Type> results);

  const ModelSpec &spec;
  MLIRContext &ctx;
  OpBuilder b;
  Location loc;
  Type elt;
  int64_t keyDim = 0, valueDim = 0, attnHeadDim = 0;
  ModuleOp module;
  Value batch, seq;
};

void ModelBuilder::appendMLP(std::vector<Weight> &weights) {
  int64_t d = spec.hiddenSize, i = spec.intermediateSize;
  weights.push_back({"mlp_norm", tensor({d})});
  weights.push_back({"mlp.gate_proj", tensor({i, d})});
  weights.push_back({"mlp.up_proj", tensor({i, d})});
  weights.push_back({"mlp.down_proj", tensor({d, i})});
}

std::vector<Weight> ModelBuilder::deltaWeights() {
  int64_t d = spec.hiddenSize, c = spec.convSize;
  std::vector<Weight> w;
  w.push_back({"attn_norm", tensor({d})});
  w.push_back({"attn.q_proj", tensor({keyDim, d})});
  w.push_back({"attn.k_proj", tensor({keyDim, d})});
  w.push_back({"attn.v_proj", tensor({valueDim, d})});
  if (spec.useShortConv) {
    w.push_back({"attn.q_conv1d", tensor({keyDim, c})});
    w.push_back({"attn.k_conv1d", tensor({keyDim, c})});
    w.push_back({"attn.v_conv1d", tensor({valueDim, c})});
  }
  w.push_back({"attn.b_proj", tensor({spec.numHeads, d})});
  if (spec.useGate)
    w.push_back({"attn.g_proj", tensor({valueDim, d})});
  w.push_back({"attn.o_norm", tensor({spec.headVDim})});
  w.push_back({"attn.o_proj", tensor({d, valueDim})});
  appendMLP(w);
  return w;
}

std::vector<Weight> ModelBuilder::attnWeights() {
  int64_t d = spec.hiddenSize;
  int64_t q = spec.attn->numHeads * attnHeadDim;
  int64_t kv = spec.attn->numKVHeads * attnHeadDim;
  std::vector<Weight> w;
  w.push_back({"attn_norm", tensor({d})});
  w.push_back({"attn.q_proj", tensor({q, d})});
  w.push_back({"attn.k_proj", tensor({kv, d})});
  w.push_back({"attn.v_proj", tensor({kv, d})});
  w.push_back({"attn.o_proj", tensor({d, q})});
  appendMLP(w);
  return w;
}

/// The carried states of a DeltaNet layer: the recurrent state, then the
/// q/k/v short-convolution states.
SmallVector<Type> ModelBuilder::deltaStateTypes() {
  Type f32 = b.getF32Type();
  SmallVector<Type> types{
      tensor({kDyn, spec.numHeads, spec.headDim, spec.headVDim}, f32)};
  if (spec.useShortConv) {
    int64_t k = spec.convSize - 1;
    types.push_back(tensor({kDyn, keyDim, k}, f32));
    types.push_back(tensor({kDyn, keyDim, k}, f32));
    types.push_back(tensor({kDyn, valueDim, k}, f32));
  }
  return types;
}

func::FuncOp ModelBuilder::beginFunction(StringRef name,
                                         ArrayRef<Weight> weights,
                                         ArrayRef<Type> results) {
  SmallVector<Type> args{act({spec.hiddenSize})};
  for (const Weight &w : weights)
    args.push_back(w.type);
  b.setInsertionPointToEnd(module.getBody());
  auto fn =
      func::FuncOp::create(b, loc, name, b.getFunctionType(args, results));
  fn.setPrivate();
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Value x = entry->getArgument(0);
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  batch = tensor::DimOp::create(b, loc, x, c0);
  seq = tensor::DimOp::create(b, loc, x, c1);
  return fn;
}

func::FuncOp ModelBuilder::buildDeltaLayer(ArrayRef<Weight> weights) {
  SmallVector<Type> results{act({spec.hiddenSize})};
  results.append(deltaStateTypes());
  func::FuncOp fn = beginFunction("deltanet_layer", weights, results);
  ValueRange args = fn.getArguments();
  Value x = args[0];
  unsigned next = 1;
  auto arg = [&]() { return args[next++]; };
  Value attnNorm = arg(), wq = arg(), wk = arg(), wv = arg();
  Value cq, ck, cv;
  if (spec.useShortConv) {
    cq = arg();
    ck = arg();
    cv = arg();
  }
  Value wb = arg();
  Value wg = spec.useGate ? arg() : Value();
  Value oNorm = arg(), wo = arg();
  ValueRange mlp = args.drop_front(next);

  Value h = rmsNorm(x, attnNorm);
  SmallVector<Value> convStates;
  // Projection, short convolution + SiLU (or SiLU alone, FLA's
  // qk_activation without the convolution), split into heads.
  auto project = [&](Value w, Value conv, int64_t dim) {
    Value p = linear(h, w);
    if (conv) {
      Type stateType =
          tensor({kDyn, cast<RankedTensorType>(p.getType()).getDimSize(2),
                  spec.convSize - 1},
                 b.getF32Type());
      auto op = delta::ShortConvOp::create(
          b, loc, p.getType(), stateType, p, conv, Value(), Value(),
          delta::ActivationKindAttr::get(&ctx, delta::ActivationKind::silu));
      p = op.getY();
      convStates.push_back(op.getFinalState());
    } else {
      p = activation(delta::ActivationKind::silu, p);
    }
    return splitHeads(p, spec.numHeads, dim);
  };
  Value q = project(wq, cq, spec.headDim);
  Value k = project(wk, ck, spec.headDim);
  Value v = project(wv, cv, spec.headVDim);
  if (spec.qkL2Norm) {
    q = delta::L2NormOp::create(b, loc, q);
    k = delta::L2NormOp::create(b, loc, k);
  }
  Value beta = activation(delta::ActivationKind::sigmoid, linear(h, wb));
  auto rule = delta::DeltaRuleOp::create(
      b, loc, act({spec.numHeads, spec.headVDim}), results[1], q, k, v, beta,
      Value(), Value(), FloatAttr(), UnitAttr(), b.getI64IntegerAttr(64));
  Value gate;
  if (wg)
    gate = splitHeads(linear(h, wg), spec.numHeads, spec.headVDim);
  Value o = mergeHeads(rmsNorm(rule.getO(), oNorm, gate));
  Value out = residualAndMLP(x, linear(o, wo), mlp);

  SmallVector<Value> returned{out, rule.getFinalState()};
  returned.append(convStates);
  func::ReturnOp::create(b, loc, returned);
  return fn;
}

func::FuncOp ModelBuilder::buildAttnLayer(ArrayRef<Weight> weights) {
  const AttentionSpec &attn = *spec.attn;
  func::FuncOp fn = beginFunction(attn.windowSize ? "swa_layer" : "attn_layer",
                                  weights, {act({spec.hiddenSize})});
  ValueRange args = fn.getArguments();
  Value x = args[0];
  Value h = rmsNorm(x, args[1]);
  Value qp = linear(h, args[2]);
  Value kp = linear(h, args[3]);
  Value vp = linear(h, args[4]);
  Value q = splitHeads(qp, attn.numHeads, attnHeadDim);
  Value k = splitHeads(kp, attn.numKVHeads, attnHeadDim);
  Value v = splitHeads(vp, attn.numKVHeads, attnHeadDim);
  Value o = delta::AttentionOp::create(
      b, loc, q.getType(), q, k, v, Value(), FloatAttr(),
      attn.windowSize ? b.getI64IntegerAttr(*attn.windowSize) : IntegerAttr(),
      attn.ropeTheta ? b.getF32FloatAttr(*attn.ropeTheta) : FloatAttr());
  Value out =
      residualAndMLP(x, linear(mergeHeads(o), args[5]), args.drop_front(6));
  func::ReturnOp::create(b, loc, out);
  return fn;
}

void ModelBuilder::buildForward(func::FuncOp deltaLayer,
                                func::FuncOp attnLayer) {
  int64_t d = spec.hiddenSize, vocab = spec.vocabSize;
  SmallVector<Type> results{act({vocab})};
  for (int64_t i = 0; i < spec.numLayers; ++i)
    if (!spec.isAttentionLayer(i))
      results.append(deltaStateTypes());
  Type ids = RankedTensorType::get({kDyn, kDyn}, b.getI64Type());
  b.setInsertionPointToEnd(module.getBody());
  auto fn = func::FuncOp::create(b, loc, "forward",
                                 b.getFunctionType({ids}, results));
  b.setInsertionPointToStart(fn.addEntryBlock());

  auto load = [&](StringRef name, Type type) -> Value {
    return ml_program::GlobalLoadConstOp::create(
        b, loc, type, FlatSymbolRefAttr::get(&ctx, name));
  };
  RankedTensorType table = tensor({vocab, d});
  Value embed = load("embeddings", table);
  Value x =
      delta::EmbeddingOp::create(b, loc, act({d}), fn.getArgument(0), embed);
  SmallVector<Value> states;
  for (int64_t i = 0; i < spec.numLayers; ++i) {
    bool isAttn = spec.isAttentionLayer(i);
    std::string prefix = "layers." + std::to_string(i) + ".";
    SmallVector<Value> operands{x};
    for (const Weight &w : isAttn ? attnWeights() : deltaWeights())
      operands.push_back(load(prefix + w.name, w.type));
    auto call =
        func::CallOp::create(b, loc, isAttn ? attnLayer : deltaLayer, operands);
    x = call.getResult(0);
    for (Value s : call.getResults().drop_front())
      states.push_back(s);
  }
  Value norm = load("norm", tensor({d}));
  Value head = spec.tieWordEmbeddings ? embed : load("lm_head", table);
  SmallVector<Value> returned{linear(rmsNorm(x, norm), head)};
  returned.append(states);
  func::ReturnOp::create(b, loc, returned);
}

OwningOpRef<ModuleOp> ModelBuilder::build() {
  OwningOpRef<ModuleOp> owned = ModuleOp::create(loc, StringRef(spec.name));
  module = *owned;
  b.setInsertionPointToEnd(module.getBody());

  auto global = [&](const std::string &name, RankedTensorType type) {
    ml_program::GlobalOp::create(
        b, loc, b.getStringAttr(name), TypeAttr::get(type), UnitAttr(),
        ml_program::ExternAttr::get(&ctx, type), b.getStringAttr("private"));
  };
  int64_t d = spec.hiddenSize;
  global("embeddings", tensor({spec.vocabSize, d}));
  for (int64_t i = 0; i < spec.numLayers; ++i) {
    std::string prefix = "layers." + std::to_string(i) + ".";
    for (const Weight &w :
         spec.isAttentionLayer(i) ? attnWeights() : deltaWeights())
      global(prefix + w.name, w.type);
  }
  global("norm", tensor({d}));
  if (!spec.tieWordEmbeddings)
    global("lm_head", tensor({spec.vocabSize, d}));

  // Layer functions, only for the kinds the model has.
  bool hasDelta = false, hasAttn = false;
  for (int64_t i = 0; i < spec.numLayers; ++i)
    (spec.isAttentionLayer(i) ? hasAttn : hasDelta) = true;
  func::FuncOp deltaLayer, attnLayer;
  if (hasDelta)
    deltaLayer = buildDeltaLayer(deltaWeights());
  if (hasAttn)
    attnLayer = buildAttnLayer(attnWeights());
  buildForward(deltaLayer, attnLayer);
  return owned;
}

} // namespace

OwningOpRef<ModuleOp>
deltajit::frontend::buildModelModule(const ModelSpec &spec,
                                     MLIRContext &context) {
  context.loadDialect<delta::DeltaDialect, func::FuncDialect,
                      ml_program::MLProgramDialect, arith::ArithDialect,
                      tensor::TensorDialect>();
  return ModelBuilder(spec, context).build();
}
