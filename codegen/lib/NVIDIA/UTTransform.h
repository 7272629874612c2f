//===- UTTransform.h - the UT transform of a chunk kernel ----------*- C++
//-*-===//
//
// T = (I + A)^-1 diag(beta) for one chunk (delta.tile_ut_transform; the
// maths in ALGORITHM.md, the measurements in docs/codegen.md): the 16 x 16
// diagonal blocks of the inverse by forward substitution, the blocks below
// them by doubling on the tensor cores (3xTF32 mma.sync, Tf32Mma.h) or, at
// chunks of 128, by scalar block rows; then the columns scaled by beta and
// rounded to T's type.
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_NVIDIA_UTTRANSFORM_H
#define DELTAJIT_CODEGEN_NVIDIA_UTTRANSFORM_H

#include "SmemPlan.h"

#include <functional>

namespace deltajit::nvidia {

class KernelBuilder;

/// The shared-memory tiles of one transform: A (strictly lower, f32),
/// beta, the result T, the f32 inverse X and the block-row scratch Y
/// (SmemPlan::utInverse / utRowBlock), and the diagonal block size.
struct UTTransformTiles {
  const SmemTile &a, &beta, &result;
  SmemTile x, y;
  int64_t block;
};

/// The program's warps: warp and lane (i32), their counts.
struct UTTransformThreads {
  mlir::Value warp, lane;
  int64_t warps, threads;
};

/// Emits the transform; every thread of the program calls it. `rowNorm`,
/// when set, gives row r's factor of T' = D T (prepare's k norms).
void emitUTTransform(KernelBuilder &kb, const UTTransformTiles &tiles,
                     const UTTransformThreads &threads,
                     const std::function<mlir::Value(mlir::Value)> &rowNorm);

} // namespace deltajit::nvidia

#endif
