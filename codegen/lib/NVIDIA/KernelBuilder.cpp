//===- KernelBuilder.cpp - helpers to emit GPU kernel bodies --------------===//
//
// Implements KernelBuilder (see KernelBuilder.h).
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace deltajit::nvidia;

SmemTile SmemTile::make(int64_t rows, int64_t cols, Type elt, bool coreMatrix) {
  SmemTile t;
  t.rows = rows;
  t.cols = cols;
  t.elt = elt;
  t.coreMatrix = coreMatrix;
  assert((!coreMatrix || canUseCoreMatrices(rows, cols, elt)) &&
         "core-matrix tiles are 16-bit, rows and cols multiples of 8");
  int64_t eltBytes = elt.getIntOrFloatBitWidth() / 8;
  t.ld = cols > 1 && !coreMatrix ? cols + 16 / eltBytes : cols;
  if (coreMatrix) {
    int64_t lineBytes = cols * eltBytes;
    t.swizzle = lineBytes % 128 == 0                 ? 128
                : lineBytes == 64 || lineBytes == 32 ? lineBytes
                                                     : 0;
  }
  return t;
}

bool SmemTile::canUseCoreMatrices(int64_t rows, int64_t cols, Type elt) {
  return elt.getIntOrFloatBitWidth() == 16 && cols > 1 && rows % 8 == 0 &&
         cols % 8 == 0;
}

int64_t SmemTile::bytes() const {
  return rows * ld * int64_t(elt.getIntOrFloatBitWidth() / 8);
}

int64_t SmemTile::alignment() const { return swizzle ? 1024 : 16; }

TileView TileView::of(const SmemTile &t, bool transposed) {
  TileView v;
  v.tile = t;
  v.transposed = transposed;
  v.rowStride = transposed ? 1 : t.ld;
  v.colStride = transposed ? t.ld : 1;
  return v;
}

KernelBuilder::KernelBuilder(OpBuilder &b, Location loc, Value smemBase)
    : b(b), loc(loc), smemBase(smemBase) {}

Value KernelBuilder::c32(int64_t v) {
  return arith::ConstantIntOp::create(b, loc, i32(), v);
}
Value KernelBuilder::c64(int64_t v) {
  return arith::ConstantIntOp::create(b, loc, i64(), v);
}
Value KernelBuilder::cf32(double v) {
  return arith::ConstantFloatOp::create(b, loc, b.getF32Type(),
                                        llvm::APFloat(float(v)));
}
Value KernelBuilder::zero(Type t) {
  if (isa<FloatType>(t))
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(t, 0.0));
  return arith::ConstantOp::create(b, loc, b.getIntegerAttr(t, 0));
}
Value KernelBuilder::add(Value x, Value y) {
  return arith::AddIOp::create(b, loc, x, y);
}
Value KernelBuilder::sub(Value x, Value y) {
  return arith::SubIOp::create(b, loc, x, y);
}
Value KernelBuilder::mul(Value x, Value y) {
  return arith::MulIOp::create(b, loc, x, y);
}
Value KernelBuilder::div(Value x, Value y) {
  return arith::DivSIOp::create(b, loc, x, y);
}
Value KernelBuilder::rem(Value x, Value y) {
  return arith::RemSIOp::create(b, loc, x, y);
}
Value KernelBuilder::min(Value x, Value y) {
  return arith::MinSIOp::create(b, loc, x, y);
}
Value KernelBuilder::cmp(arith::CmpIPredicate p, Value x, Value y) {
  return arith::CmpIOp::create(b, loc, p, x, y);
}
Value KernelBuilder::select(Value c, Value t, Value f) {
  return arith::SelectOp::create(b, loc, c, t, f);
}
Value KernelBuilder::ext64(Value v) {
  return arith::ExtSIOp::create(b, loc, i64(), v);
}
Value KernelBuilder::trunc32(Value v) {
  return arith::TruncIOp::create(b, loc, i32(), v);
}
Value KernelBuilder::fadd(Value x, Value y) {
  return arith::AddFOp::create(b, loc, x, y);
}
Value KernelBuilder::fsub(Value x, Value y) {
  return arith::SubFOp::create(b, loc, x, y);
}
Value KernelBuilder::fmul(Value x, Value y) {
  return arith::MulFOp::create(b, loc, x, y);
}
Value KernelBuilder::fma(Value x, Value y, Value z) {
  return LLVM::FMAOp::create(b, loc, x, y, z);
}
Value KernelBuilder::fneg(Value x) { return arith::NegFOp::create(b, loc, x); }
Value KernelBuilder::fdiv(Value x, Value y) {
  return arith::DivFOp::create(b, loc, x, y);
}
Value KernelBuilder::rsqrt(Value x) {
  // sqrt.rn.f32 directly: the gpu-to-nvvm conversion would otherwise call
  // libdevice for llvm.sqrt, which `format=isa` serialisation does not link.
  auto root = LLVM::InlineAsmOp::create(
      b, loc, f32(), ValueRange{x}, "sqrt.rn.f32 $0, $1;", "=f,f",
      /*has_side_effects=*/false, /*is_align_stack=*/false,
      LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
  return fdiv(cf32(1.0), root.getResult(0));
}

Value KernelBuilder::toF32(Value v) {
  if (v.getType().isF32())
    return v;
  return arith::ExtFOp::create(b, loc, f32(), v);
}
Value KernelBuilder::fromF32(Value v, Type t) {
  if (t.isF32())
    return v;
  return arith::TruncFOp::create(b, loc, t, v);
}

std::pair<Value, Value> KernelBuilder::splitF32(Value v, Type t) {
  Value hi = fromF32(v, t);
  return {hi, fromF32(fsub(v, toF32(hi)), t)};
}

Value KernelBuilder::threadIdX() {
  if (!tid) {
    Value idx = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
    tid = arith::IndexCastOp::create(b, loc, i32(), idx);
  }
  return tid;
}
Value KernelBuilder::blockIdX() {
  Value idx = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  return arith::IndexCastOp::create(b, loc, i32(), idx);
}
Value KernelBuilder::blockIdZ() {
  Value idx = gpu::BlockIdOp::create(b, loc, gpu::Dimension::z);
  return arith::IndexCastOp::create(b, loc, i32(), idx);
}
Value KernelBuilder::blockIdY() {
  Value idx = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  return arith::IndexCastOp::create(b, loc, i32(), idx);
}
void KernelBuilder::barrier() {
  bool fence = asyncProxyFence && fenceNextBarrier;
  fenceNextBarrier = true;
  if (fence)
    NVVM::FenceProxyOp::create(
        b, loc, NVVM::ProxyKind::async_shared,
        NVVM::SharedSpaceAttr::get(b.getContext(),
                                   NVVM::SharedSpace::shared_cta));
  gpu::BarrierOp::create(b, loc);
}

void KernelBuilder::mmaSync(int64_t k, MmaInput input, ValueRange a,
                            ValueRange bRegs, MutableArrayRef<Value> acc) {
  Type f = f32();
  auto resultType =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f, f, f, f});
  NVVM::MMATypes type = input == MmaInput::bf16  ? NVVM::MMATypes::bf16
                        : input == MmaInput::f16 ? NVVM::MMATypes::f16
                                                 : NVVM::MMATypes::tf32;
  auto op = NVVM::MmaOp::create(
      b, loc, resultType, a, bRegs, SmallVector<Value>(acc.begin(), acc.end()),
      ArrayRef<int64_t>{16, 8, k}, std::nullopt, std::nullopt,
      std::array<NVVM::MMATypes, 2>{type, type},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  for (int64_t i = 0; i < 4; ++i)
    acc[i] =
        LLVM::ExtractValueOp::create(b, loc, op.getRes(), ArrayRef<int64_t>{i});
}

SmallVector<Value, 4> KernelBuilder::ldmatrix(Value ptr, int64_t num,
                                              bool trans) {
  MLIRContext *ctx = b.getContext();
  Type resultType = num == 1 ? i32()
                             : Type(LLVM::LLVMStructType::getLiteral(
                                   ctx, SmallVector<Type>(num, i32())));
  auto op = NVVM::LdMatrixOp::create(
      b, loc, resultType, ptr, num,
      trans ? NVVM::MMALayout::col : NVVM::MMALayout::row,
      NVVM::LdStMatrixShapeAttr::get(ctx, 8, 8), NVVM::LdStMatrixEltType::B16);
  SmallVector<Value, 4> regs;
  for (int64_t i = 0; i < num; ++i)
    regs.push_back(num == 1 ? op.getRes()
                            : LLVM::ExtractValueOp::create(
                                  b, loc, op.getRes(), ArrayRef<int64_t>{i}));
  return regs;
}

Value KernelBuilder::mmaFragment(Value i32v, MmaInput input) {
  if (input != MmaInput::f16)
    return i32v;
  return LLVM::BitcastOp::create(b, loc, VectorType::get({2}, b.getF16Type()),
                                 i32v);
}

Value KernelBuilder::pack16x2(Value first, Value second, Type t) {
  auto to16 = [&](Value x) { return x.getType() == t ? x : fromF32(x, t); };
  Value v = makeVec({to16(first), to16(second)});
  return LLVM::BitcastOp::create(b, loc, i32(), v);
}

std::pair<Value, Value> KernelBuilder::unpack16x2(Value i32v, Type t) {
  Value v = LLVM::BitcastOp::create(b, loc, VectorType::get({2}, t), i32v);
  return {toF32(extract(v, 0)), toF32(extract(v, 1))};
}

Value KernelBuilder::gep(Value base, Value index, Type elt) {
  return LLVM::GEPOp::create(b, loc, base.getType(), elt, base,
                             ValueRange{index});
}
Value KernelBuilder::load(Type t, Value ptr) {
  return LLVM::LoadOp::create(b, loc, t, ptr);
}
void KernelBuilder::store(Value v, Value ptr) {
  LLVM::StoreOp::create(b, loc, v, ptr);
}
Type KernelBuilder::vec16(Type elt) const {
  return VectorType::get({128 / int64_t(elt.getIntOrFloatBitWidth())}, elt);
}
Value KernelBuilder::loadVec16(Type elt, Value ptr) {
  return LLVM::LoadOp::create(b, loc, vec16(elt), ptr, /*alignment=*/16);
}
void KernelBuilder::storeVec16(Value v, Value ptr) {
  LLVM::StoreOp::create(b, loc, v, ptr, /*alignment=*/16);
}
SmallVector<Value> KernelBuilder::loadF32x4Streaming(Value ptr,
                                                     int64_t byteOffset) {
  auto type = LLVM::LLVMStructType::getLiteral(b.getContext(),
                                               {f32(), f32(), f32(), f32()});
  auto load = LLVM::InlineAsmOp::create(
      b, loc, type, ValueRange{LLVM::PtrToIntOp::create(b, loc, i64(), ptr)},
      "ld.global.cs.v4.f32 {$0, $1, $2, $3}, [$4+" +
          std::to_string(byteOffset) + "];",
      "=f,=f,=f,=f,l",
      /*has_side_effects=*/false, /*is_align_stack=*/false,
      LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
  SmallVector<Value> out;
  for (int64_t i = 0; i < 4; ++i)
    out.push_back(LLVM::ExtractValueOp::create(b, loc, load.getResult(0), i));
  return out;
}
void KernelBuilder::storeF32x4Streaming(ArrayRef<Value> four, Value ptr,
                                        int64_t byteOffset) {
  SmallVector<Value> operands = {LLVM::PtrToIntOp::create(b, loc, i64(), ptr)};
  operands.append(four.begin(), four.end());
  LLVM::InlineAsmOp::create(
      b, loc, TypeRange{}, operands,
      "st.global.cs.v4.f32 [$0+" + std::to_string(byteOffset) +
          "], {$1, $2, $3, $4};",
      "l,f,f,f,f",
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
}
Value KernelBuilder::loadVec(Type elt, int64_t n, Value ptr) {
  auto type = VectorType::get({n}, elt);
  return LLVM::LoadOp::create(b, loc, type, ptr,
                              n * elt.getIntOrFloatBitWidth() / 8);
}
void KernelBuilder::storeVec(Value v, Value ptr) {
  auto type = cast<VectorType>(v.getType());
  LLVM::StoreOp::create(b, loc, v, ptr,
                        type.getNumElements() *
                            type.getElementType().getIntOrFloatBitWidth() / 8);
}
Value KernelBuilder::makeVec(ArrayRef<Value> elts) {
  Value vec = LLVM::UndefOp::create(
      b, loc, VectorType::get({int64_t(elts.size())}, elts[0].getType()));
  for (auto [i, x] : llvm::enumerate(elts))
    vec = insert(vec, x, i);
  return vec;
}
Value KernelBuilder::extract(Value vec, int64_t i) {
  return LLVM::ExtractElementOp::create(b, loc, vec, c32(i));
}
Value KernelBuilder::insert(Value vec, Value x, int64_t i) {
  return LLVM::InsertElementOp::create(b, loc, vec, x, c32(i));
}
Value KernelBuilder::aligned16(ArrayRef<Value> ptrs) {
  Value bits = c64(0);
  for (Value p : ptrs)
    bits = arith::OrIOp::create(b, loc, bits,
                                LLVM::PtrToIntOp::create(b, loc, i64(), p));
  Value low = arith::AndIOp::create(b, loc, bits, c64(15));
  return cmp(arith::CmpIPredicate::eq, low, c64(0));
}
Value KernelBuilder::smemPtr(const SmemTile &t, Value index) {
  Value base = gep(smemBase, t.dynamicOffset ? t.dynamicOffset : c32(t.offset),
                   b.getI8Type());
  return gep(base, index, t.elt);
}
Value KernelBuilder::loadSmem(const SmemTile &t, Value index) {
  return load(t.elt, smemPtr(t, index));
}
void KernelBuilder::storeSmem(const SmemTile &t, Value index, Value v) {
  store(v, smemPtr(t, index));
}
Value KernelBuilder::loadView(const TileView &v, Value r, Value c) {
  return loadSmem(v.tile, viewIndex(v, r, c));
}

Value KernelBuilder::viewIndex(const TileView &v, Value r, Value c) {
  if (v.tile.coreMatrix)
    return v.transposed ? at(v.tile, c, r) : at(v.tile, r, c);
  return add(mul(r, c32(v.rowStride)), mul(c, c32(v.colStride)));
}

Value KernelBuilder::at(const SmemTile &t, Value r, Value c) {
  if (!t.coreMatrix)
    return add(mul(r, c32(t.ld)), c);
  // Indices are non-negative: unsigned shifts and masks.
  auto shr = [&](Value x, int64_t s) {
    return s ? arith::ShRUIOp::create(b, loc, x, c32(s)).getResult() : x;
  };
  auto low = [&](Value x, int64_t mask) {
    return arith::AndIOp::create(b, loc, x, c32(mask)).getResult();
  };
  if (t.swizzle) {
    // Panel c / e (e = swizzle / 2 columns), line r, 16-byte chunk
    // (c % e) / 8 XOR the line's 128-byte row within its 1024-byte period.
    int64_t e = t.swizzle / 2, chunks = t.swizzle / 16;
    int64_t lineShift = llvm::Log2_64(128 / t.swizzle);
    Value panel = shr(c, llvm::Log2_64(e));
    Value chunk = low(shr(c, 3), chunks - 1);
    Value phase = low(shr(r, lineShift), chunks - 1);
    chunk = arith::XOrIOp::create(b, loc, chunk, phase);
    Value line = add(mul(panel, c32(t.rows)), r);
    return add(add(mul(line, c32(e)), mul(chunk, c32(8))), low(c, 7));
  }
  // Block (r / 8, c / 8) of 64 elements, then (r % 8, c % 8) inside it.
  Value block = add(mul(shr(r, 3), c32(t.cols / 8)), shr(c, 3));
  Value inside = add(mul(low(r, 7), c32(8)), low(c, 7));
  return add(mul(block, c32(64)), inside);
}

Value KernelBuilder::flatToPadded(const SmemTile &t, Value flat) {
  if (t.ld == t.cols && !t.coreMatrix)
    return flat;
  return at(t, div(flat, c32(t.cols)), rem(flat, c32(t.cols)));
}

void KernelBuilder::forRange(Value lb, Value ub, Value step,
                             function_ref<void(Value)> body) {
  auto loop = scf::ForOp::create(b, loc, lb, ub, step);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  body(loop.getInductionVar());
}

void KernelBuilder::forEachThreaded(int64_t count, int64_t numThreads,
                                    function_ref<void(Value)> body) {
  forEachThreaded(count, numThreads,
                  [&](Value iv, int64_t) { return body(iv); });
}

void KernelBuilder::forEachThreaded(int64_t count, int64_t numThreads,
                                    function_ref<void(Value, int64_t)> body) {
  // Unrolled when every thread of the block is one of the numThreads and
  // the trips are few: the iterations' loads issue back to back instead of
  // each waiting behind the loop's branch (a tail past `count` is guarded).
  int64_t trips = (count + numThreads - 1) / numThreads;
  if (numThreads != blockSize || trips > kMaxUnrolledTrips) {
    forRange(threadIdX(), c32(count), c32(numThreads),
             [&](Value iv) { body(iv, -1); });
    return;
  }
  for (int64_t k = 0; k < trips; ++k) {
    Value iv = k ? add(threadIdX(), c32(k * numThreads)) : threadIdX();
    if ((k + 1) * numThreads <= count)
      body(iv, k * numThreads);
    else
      ifThen(cmp(arith::CmpIPredicate::slt, iv, c32(count)),
             [&] { body(iv, k * numThreads); });
  }
}

Value KernelBuilder::forRangeReduce(Value lb, Value ub, Value step, Value init,
                                    function_ref<Value(Value, Value)> body) {
  auto loop = scf::ForOp::create(b, loc, lb, ub, step, ValueRange{init});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value next = body(loop.getInductionVar(), loop.getRegionIterArgs()[0]);
  scf::YieldOp::create(b, loc, next);
  return loop.getResult(0);
}

SmallVector<Value> KernelBuilder::forRangeCarry(
    Value lb, Value ub, Value step, ValueRange init,
    function_ref<SmallVector<Value>(Value, ValueRange)> body) {
  auto loop = scf::ForOp::create(b, loc, lb, ub, step, init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  SmallVector<Value> next =
      body(loop.getInductionVar(), loop.getRegionIterArgs());
  scf::YieldOp::create(b, loc, next);
  return SmallVector<Value>(loop.getResults());
}

void KernelBuilder::ifThen(Value cond, function_ref<void()> then) {
  auto op = scf::IfOp::create(b, loc, cond, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(op.thenBlock()->getTerminator());
  then();
}

void KernelBuilder::ifElse(Value cond, function_ref<void()> then,
                           function_ref<void()> otherwise) {
  auto op = scf::IfOp::create(b, loc, cond, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(op.thenBlock()->getTerminator());
  then();
  b.setInsertionPoint(op.elseBlock()->getTerminator());
  otherwise();
}

Value KernelBuilder::ifThenElse(Value cond, Type type,
                                function_ref<Value()> then,
                                function_ref<Value()> otherwise) {
  auto op = scf::IfOp::create(b, loc, TypeRange{type}, cond,
                              /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(op.thenBlock());
  scf::YieldOp::create(b, loc, then());
  b.setInsertionPointToStart(op.elseBlock());
  scf::YieldOp::create(b, loc, otherwise());
  return op.getResult(0);
}

SmallVector<Value>
KernelBuilder::ifThenElseValues(Value cond,
                                function_ref<SmallVector<Value>()> then,
                                function_ref<SmallVector<Value>()> otherwise) {
  // scf.if infers its result types from the branches' yields.
  auto branch = [&](function_ref<SmallVector<Value>()> fn) {
    return [this, fn](OpBuilder &, Location) {
      scf::YieldOp::create(b, loc, fn());
    };
  };
  auto op = scf::IfOp::create(b, loc, cond, branch(then), branch(otherwise));
  return SmallVector<Value>(op.getResults());
}
