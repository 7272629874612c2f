//===- KernelBuilder.h - helpers to emit GPU kernel bodies ------*- C++ -*-===//
//
// A thin layer over OpBuilder for the NVIDIA kernels: i32 arithmetic, global
// (addrspace 1) and shared (addrspace 3) pointers, thread-strided loops and
// the shared-memory tile buffers the tile ops compute in.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_NVIDIA_KERNELBUILDER_H
#define DELTAJIT_CODEGEN_NVIDIA_KERNELBUILDER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace deltajit::nvidia {

/// A tile in shared memory: `rows x cols` elements of `elt` starting
/// `offset` bytes into the kernel's dynamic shared memory. Two layouts:
/// - row-major, rows `ld` elements apart; 2-D tiles pad each row by 16 bytes
///   so that the rows a tensor-core fragment gathers fall into different
///   banks;
/// - `coreMatrix` (16-bit tiles, rows and cols multiples of 8; `ld` is
///   `cols`): one of wgmma's canonical shared-memory layouts. With
///   `swizzle` = 128, 64 or 32, the tile is a row of panels of swizzle / 2
///   columns, each panel `rows` lines of `swizzle` bytes whose 16-byte
///   chunks are permuted by XOR with the line's position in its 1024-byte
///   period (PTX's 128B/64B/32B swizzle: distinct banks for 8 rows of one
///   chunk and for 8 chunks of one row); the tile starts 1024-byte
///   aligned. With swizzle 0 (no swizzle), 8 x 8 blocks of 128 contiguous
///   bytes ("core matrices"), blocks row-major.
/// In every layout any 8 column-aligned neighbours of a row are 16
/// contiguous bytes. A tile of a double buffer has its start chosen at run
/// time: `dynamicOffset` (i32 bytes), when set, replaces `offset`.
struct SmemTile {
  int64_t offset = 0;
  mlir::Value dynamicOffset;
  int64_t rows = 0, cols = 0, ld = 0;
  mlir::Type elt;
  bool coreMatrix = false;
  int64_t swizzle = 0; ///< bytes per swizzled line (coreMatrix only)
  /// A tile of `rows x cols` (cols = 1 for vectors) with the padded `ld`,
  /// or in a canonical wgmma layout (`coreMatrix`: see canUseCoreMatrices;
  /// swizzled as widely as `cols` allows).
  static SmemTile make(int64_t rows, int64_t cols, mlir::Type elt,
                       bool coreMatrix = false);
  /// Whether a rows x cols tile of `elt` can be laid out in core matrices.
  static bool canUseCoreMatrices(int64_t rows, int64_t cols, mlir::Type elt);
  int64_t bytes() const;
  /// The alignment its start needs (swizzled tiles: 1024 bytes).
  int64_t alignment() const;
};

/// A view of a shared tile, possibly transposed: element (r, c) of the view
/// is element (r, c) of the tile, or (c, r) when `transposed`. For
/// row-major tiles it lives at element index r * rowStride + c * colStride
/// (a transpose swaps the strides).
struct TileView {
  SmemTile tile;
  int64_t rowStride = 0, colStride = 0;
  bool transposed = false;
  static TileView of(const SmemTile &t, bool transposed = false);
};

class KernelBuilder {
public:
  KernelBuilder(mlir::OpBuilder &b, mlir::Location loc, mlir::Value smemBase);

  mlir::OpBuilder &b;
  mlir::Location loc;

  mlir::Type i16() const { return b.getI16Type(); }
  mlir::Type i32() const { return b.getI32Type(); }
  mlir::Type i64() const { return b.getI64Type(); }
  mlir::Type f32() const { return b.getF32Type(); }

  // Constants and i32/i64 arithmetic (operands of one type).
  mlir::Value c32(int64_t v);
  mlir::Value c64(int64_t v);
  mlir::Value cf32(double v);
  mlir::Value zero(mlir::Type t);
  mlir::Value add(mlir::Value a, mlir::Value b);
  mlir::Value sub(mlir::Value a, mlir::Value b);
  mlir::Value mul(mlir::Value a, mlir::Value b);
  mlir::Value div(mlir::Value a, mlir::Value b); ///< signed
  mlir::Value rem(mlir::Value a, mlir::Value b); ///< signed
  mlir::Value min(mlir::Value a, mlir::Value b); ///< signed
  mlir::Value cmp(mlir::arith::CmpIPredicate p, mlir::Value a, mlir::Value b);
  mlir::Value select(mlir::Value c, mlir::Value t, mlir::Value f);
  mlir::Value ext64(mlir::Value i32v);
  mlir::Value trunc32(mlir::Value i64v);
  // f32 arithmetic.
  mlir::Value fadd(mlir::Value a, mlir::Value b);
  mlir::Value fsub(mlir::Value a, mlir::Value b);
  mlir::Value fmul(mlir::Value a, mlir::Value b);
  mlir::Value fneg(mlir::Value a);
  /// a * b + c, one rounding (fma.rn.f32).
  mlir::Value fma(mlir::Value a, mlir::Value b, mlir::Value c);
  mlir::Value fdiv(mlir::Value a, mlir::Value b);
  /// 1 / sqrt(a), correctly rounded steps (no libdevice needed).
  mlir::Value rsqrt(mlir::Value a);
  /// Widens bf16/f16 to f32 (f32 passes through).
  mlir::Value toF32(mlir::Value v);
  /// Rounds an f32 to `t` (bf16, f16 or f32).
  mlir::Value fromF32(mlir::Value v, mlir::Type t);
  /// An f32 as the sum of two `t` (16-bit) values: its rounding to `t` and
  /// the rounded remainder (tile_matmul's `split_f32`).
  std::pair<mlir::Value, mlir::Value> splitF32(mlir::Value v, mlir::Type t);

  // Thread geometry (i32).
  mlir::Value threadIdX();
  mlir::Value blockIdX();
  mlir::Value blockIdY();
  mlir::Value blockIdZ();
  /// A block-wide barrier; with `asyncProxyFence` (unless
  /// `fenceNextBarrier` was cleared for it), preceded by
  /// fence.proxy.async.shared::cta so that shared memory written before it
  /// is visible to the async proxy (wgmma operand reads) after it.
  void barrier();
  bool asyncProxyFence = false;
  /// Cleared by a caller that knows no shared store since the last barrier
  /// is read through the async proxy: the next barrier then goes without
  /// the fence (and is set again by it).
  bool fenceNextBarrier = true;

  /// Input types of mma.sync (operands as the PTX fragment registers: i32,
  /// or vector<2xf16> for f16).
  enum class MmaInput { bf16, f16, tf32 };
  /// acc (4 f32) += a b by one mma.sync.aligned.m16n8k`k`.row.col with f32
  /// accumulators.
  void mmaSync(int64_t k, MmaInput input, mlir::ValueRange a,
               mlir::ValueRange b, llvm::MutableArrayRef<mlir::Value> acc);
  /// `num` (1, 2 or 4) 8 x 8 matrices of 16-bit elements by ldmatrix, lane l
  /// pointing `ptr` (shared, 16-byte aligned) at row l % 8 of matrix l / 8;
  /// `trans` for the transposed distribution. One i32 per matrix.
  llvm::SmallVector<mlir::Value, 4> ldmatrix(mlir::Value ptr, int64_t num,
                                             bool trans);
  /// A 32-bit register of two 16-bit values as mma.sync takes it: i32 for
  /// bf16, vector<2xf16> for f16.
  mlir::Value mmaFragment(mlir::Value i32v, MmaInput input);
  /// Two f32 rounded to 16-bit `t` and packed into one i32, `first` in the
  /// low half (a fragment register, or two neighbouring elements).
  mlir::Value pack16x2(mlir::Value first, mlir::Value second, mlir::Type t);
  /// The two 16-bit `t` halves of an i32 (low first), widened to f32.
  std::pair<mlir::Value, mlir::Value> unpack16x2(mlir::Value i32v,
                                                 mlir::Type t);

  // Memory.
  mlir::Value gep(mlir::Value base, mlir::Value index, mlir::Type elt);
  mlir::Value load(mlir::Type t, mlir::Value ptr);
  void store(mlir::Value v, mlir::Value ptr);
  /// A 16-byte vector of `elt` (8 x 16-bit or 4 x 32-bit lanes).
  mlir::Type vec16(mlir::Type elt) const;
  /// 16-byte vector load / store; `ptr` must be 16-byte aligned.
  mlir::Value loadVec16(mlir::Type elt, mlir::Value ptr);
  void storeVec16(mlir::Value v, mlir::Value ptr);
  /// 4 f32 from / to 16-byte aligned global memory at `ptr` + `byteOffset`
  /// (an immediate) with the streaming cache hint (.cs: touched once,
  /// evicted first), for data a kernel reads or writes exactly once.
  llvm::SmallVector<mlir::Value> loadF32x4Streaming(mlir::Value ptr,
                                                    int64_t byteOffset);
  void storeF32x4Streaming(llvm::ArrayRef<mlir::Value> four, mlir::Value ptr,
                           int64_t byteOffset);
  /// `n`-element vector load / store, aligned to the vector's size.
  mlir::Value loadVec(mlir::Type elt, int64_t n, mlir::Value ptr);
  void storeVec(mlir::Value v, mlir::Value ptr);
  /// A vector of `elts` (all of one type).
  mlir::Value makeVec(llvm::ArrayRef<mlir::Value> elts);
  /// Lane `i` of a vector / a vector with lane `i` replaced.
  mlir::Value extract(mlir::Value vec, int64_t i);
  mlir::Value insert(mlir::Value vec, mlir::Value x, int64_t i);
  /// True (i1) when every pointer is 16-byte aligned.
  mlir::Value aligned16(llvm::ArrayRef<mlir::Value> ptrs);
  /// Pointer to element `index` (i32) of a shared tile.
  mlir::Value smemPtr(const SmemTile &t, mlir::Value index);
  mlir::Value loadSmem(const SmemTile &t, mlir::Value index);
  void storeSmem(const SmemTile &t, mlir::Value index, mlir::Value v);
  /// Element (r, c) of a view (in the tile's element type).
  mlir::Value loadView(const TileView &v, mlir::Value r, mlir::Value c);
  /// Index of element (r, c) of a tile (r * ld + c when row-major).
  mlir::Value at(const SmemTile &t, mlir::Value r, mlir::Value c);
  /// Index (in the tile) of element (r, c) of a view.
  mlir::Value viewIndex(const TileView &v, mlir::Value r, mlir::Value c);
  /// Index of the element with row-major number `flat` (r * cols + c).
  mlir::Value flatToPadded(const SmemTile &t, mlir::Value flat);

  // Control flow.
  /// for (iv = lb; iv < ub; iv += step) body(iv), all i32.
  void forRange(mlir::Value lb, mlir::Value ub, mlir::Value step,
                llvm::function_ref<void(mlir::Value)> body);
  /// Threads per block of the kernel being built (0: unknown); lets
  /// forEachThreaded unroll.
  int64_t blockSize = 0;
  /// forEachThreaded unrolls up to this many iterations per thread.
  static constexpr int64_t kMaxUnrolledTrips = 16;

  /// A loop over [0, count) whose iterations are spread over the threads of
  /// the block: iv = threadIdx.x + k * numThreads (unrolled when
  /// numThreads is the block size and each thread runs at most
  /// kMaxUnrolledTrips iterations).
  void forEachThreaded(int64_t count, int64_t numThreads,
                       llvm::function_ref<void(mlir::Value)> body);
  /// As above; `body` also gets the iteration's constant offset k *
  /// numThreads from threadIdx.x when unrolled (iv = threadIdx.x + offset),
  /// or -1 in a loop: index arithmetic can then be done once per thread.
  void forEachThreaded(int64_t count, int64_t numThreads,
                       llvm::function_ref<void(mlir::Value, int64_t)> body);
  /// An f32 reduction loop: acc = init; for iv: acc = body(iv, acc).
  mlir::Value forRangeReduce(
      mlir::Value lb, mlir::Value ub, mlir::Value step, mlir::Value init,
      llvm::function_ref<mlir::Value(mlir::Value, mlir::Value)> body);
  /// A loop carrying values from one iteration to the next (scf.for
  /// iter_args): vals = init; for iv: vals = body(iv, vals); returns vals.
  llvm::SmallVector<mlir::Value> forRangeCarry(
      mlir::Value lb, mlir::Value ub, mlir::Value step, mlir::ValueRange init,
      llvm::function_ref<llvm::SmallVector<mlir::Value>(mlir::Value,
                                                        mlir::ValueRange)>
          body);
  void ifThen(mlir::Value cond, llvm::function_ref<void()> then);
  void ifElse(mlir::Value cond, llvm::function_ref<void()> then,
              llvm::function_ref<void()> otherwise);
  mlir::Value ifThenElse(mlir::Value cond, mlir::Type type,
                         llvm::function_ref<mlir::Value()> then,
                         llvm::function_ref<mlir::Value()> otherwise);
  /// An scf.if yielding several values (of the types `then` returns).
  llvm::SmallVector<mlir::Value> ifThenElseValues(
      mlir::Value cond,
      llvm::function_ref<llvm::SmallVector<mlir::Value>()> then,
      llvm::function_ref<llvm::SmallVector<mlir::Value>()> otherwise);

private:
  mlir::Value smemBase;
  mlir::Value tid;
};

} // namespace deltajit::nvidia

#endif // DELTAJIT_CODEGEN_NVIDIA_KERNELBUILDER_H
