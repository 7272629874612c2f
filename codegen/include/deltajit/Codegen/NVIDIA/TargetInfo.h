//===- TargetInfo.h - NVIDIA target facts and instruction families -*- C++
//-*-===//
//
// What the NVIDIA lowering needs to know about a target (chip, PTX features,
// shared memory) and which tensor-core instruction family emits tile
// products for it. Adding a chip family is a new TensorCoreEmitter, not
// edits in the kernels.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_NVIDIA_TARGETINFO_H
#define DELTAJIT_CODEGEN_NVIDIA_TARGETINFO_H

#include "mlir/IR/Value.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"

#include <memory>
#include <optional>
#include <string>

namespace deltajit::nvidia {

class KernelBuilder;
struct TileView;

/// One warp-distributed tile product: out(m, n) = sum_k A(m, k) B(k, n),
/// M x N x K, with A and B read through strided shared-memory views and
/// rounded to `inputType` (bf16 or f16); accumulation in f32. The epilogue
/// receives the accumulators in pairs of neighbouring columns: (row, col)
/// and (row, col + 1), col even, both i32.
struct TileProduct {
  const TileView *a = nullptr;
  const TileView *b = nullptr;
  int64_t m = 0, n = 0, k = 0;
  mlir::Type inputType;
  /// f32 operands enter as hi + lo, both of `inputType` (two products; see
  /// tile_matmul's `split_f32`); otherwise they are rounded.
  bool splitF32 = false;
  /// When > 0, A's contraction index is taken modulo aKPeriod: the product
  /// is [A A] B with B of 2 aKPeriod rows (k = 2 aKPeriod), a B kept as
  /// its rounded values over its rounded remainders.
  int64_t aKPeriod = 0;
  /// A's contraction index for the product's contraction index `k0`.
  int64_t aK(int64_t k0) const { return aKPeriod ? k0 % aKPeriod : k0; }
  /// A product of the same m x n (its own epilogue unused) computed into
  /// the same accumulators first: the epilogue then receives first + this
  /// (one accumulator chain, no f32 tile between the two).
  const TileProduct *first = nullptr;
  llvm::function_ref<void(mlir::Value row, mlir::Value col, mlir::Value acc0,
                          mlir::Value acc1)>
      epilogue;
};

/// A tensor-core instruction family (mma.sync, wgmma, ...).
class TensorCoreEmitter {
public:
  virtual ~TensorCoreEmitter();
  /// The instruction, as recorded in package manifests.
  virtual llvm::StringRef name() const = 0;
  /// Why `p` cannot be emitted, or nullopt when it can.
  virtual std::optional<std::string>
  unsupported(const TileProduct &p) const = 0;
  /// Emits `p` spread over `numWarps` warps; `warp` and `lane` are i32.
  virtual void emit(KernelBuilder &kb, const TileProduct &p, mlir::Value warp,
                    mlir::Value lane, int64_t numWarps) const = 0;

  // Register-resident accumulators: an m x n f32 matrix spread over the
  // threads of `numWarps` warps in this family's fragment layout, kept in
  // registers across products (the recurrent state of a chunk loop).

  /// f32 registers per thread holding an m x n accumulator, or 0 when this
  /// family cannot keep it in registers over `numWarps` warps.
  virtual int64_t accumulatorRegisters(int64_t m, int64_t n,
                                       int64_t numWarps) const = 0;
  /// Calls `fn(i, row, col)` for each pair of this thread's accumulator
  /// registers i, i + 1 (i even): elements (row, col) and (row, col + 1),
  /// col even, both i32.
  virtual void forEachAccumulatorPair(
      KernelBuilder &kb, int64_t m, int64_t n, mlir::Value warp,
      mlir::Value lane, int64_t numWarps,
      llvm::function_ref<void(int64_t, mlir::Value, mlir::Value)> fn) const = 0;
  /// acc += A B for `p` (its epilogue unused) on register accumulators laid
  /// out as forEachAccumulatorPair says; returns the new registers.
  virtual llvm::SmallVector<mlir::Value>
  accumulate(KernelBuilder &kb, const TileProduct &p, mlir::Value warp,
             mlir::Value lane, int64_t numWarps,
             llvm::ArrayRef<mlir::Value> acc) const = 0;

  /// Whether 16-bit tiles should be laid out in core matrices
  /// (SmemTile::coreMatrix) for this family to read them.
  virtual bool wantsCoreMatrixTiles() const { return false; }
  /// Whether this family reads shared memory through the async proxy: then
  /// a barrier after shared stores that such a read may see is preceded by
  /// a proxy fence.
  virtual bool readsThroughAsyncProxy() const { return false; }
  /// Whether emit() reads the operands of `p` through the async proxy
  /// (accumulate() never does).
  virtual bool readsThroughAsyncProxy(const TileProduct &p,
                                      int64_t numWarps) const {
    return readsThroughAsyncProxy();
  }
};

/// mma.sync.aligned.m16n8k16 (sm_80 and later).
std::unique_ptr<TensorCoreEmitter> createMmaSyncEmitter();
/// wgmma.mma_async.m64nNk16 from shared-memory descriptors (sm_90a), with
/// mma.sync for what it cannot take.
std::unique_ptr<TensorCoreEmitter> createWgmmaEmitter();

/// The kernels a chunk loop is lowered to (convert-delta-to-nvvm phases):
/// one fused kernel, or prepare + scan (+ output).
enum class KernelKind { Fused, Prepare, Scan, Output };

/// Facts about one NVIDIA target.
struct TargetInfo {
  std::string chip;        ///< e.g. "sm_90a", "sm_80"
  int sm = 0;              ///< compute capability * 10, e.g. 90
  std::string ptxFeatures; ///< e.g. "+ptx80"
  /// Dynamic shared memory a block may use, in bytes.
  int64_t maxSharedBytes = 0;
  /// Shared memory of one SM, and what the hardware reserves per resident
  /// block, in bytes (how many programs of a kernel fit on one SM).
  int64_t sharedBytesPerSM = 0;
  static constexpr int64_t kReservedSharedBytesPerBlock = 1024;
  /// Whether kernels may order themselves after their stream predecessor
  /// (griddepcontrol, sm_90 on): the runtime may then launch them with
  /// programmatic stream serialization, so their blocks are resident before
  /// the previous kernel ends (LaunchSpec::programmaticWait).
  bool programmaticLaunch() const { return sm >= 90; }

  /// Parses "sm_80", "sm_86", "sm_89", "sm_90", "sm_90a"; nullopt (and
  /// `error` set) otherwise.
  static std::optional<TargetInfo> get(llvm::StringRef chip,
                                       std::string &error);
  /// The emitter of tensor-core family `family` on this target: "mma.sync"
  /// or "wgmma" (sm_90a only; "auto" is resolved per kernel by
  /// autoFamily); nullptr (and `error` set) for an unknown or unavailable
  /// one.
  std::unique_ptr<TensorCoreEmitter> tensorCores(llvm::StringRef family,
                                                 std::string &error) const;
  /// The family "auto" means for `kernel` of a lowering in `phases`
  /// kernels at block_v `blockV`: "mma.sync" or "wgmma".
  llvm::StringRef autoFamily(KernelKind kernel, int64_t phases,
                             int64_t blockV) const;
  /// Whether `family` may give any kernel wgmma (its tiles then need a
  /// 1024-byte aligned shared memory); false for an unknown family.
  bool mayUseWgmma(llvm::StringRef family) const;
};

} // namespace deltajit::nvidia

#endif // DELTAJIT_CODEGEN_NVIDIA_TARGETINFO_H
