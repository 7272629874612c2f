//===- Wgmma.h - wgmma pieces shared by the Hopper kernels -----*- C++ -*-===//
//
// The shared-memory matrix descriptor of wgmma.mma_async operands (used by
// the Wgmma tensor-core family and the register scan).
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_CODEGEN_NVIDIA_WGMMA_H
#define DELTAJIT_CODEGEN_NVIDIA_WGMMA_H

#include "KernelBuilder.h"

namespace deltajit::nvidia {

/// The matrix descriptor (PTX ISA, "Matrix Descriptor Format") of the k16
/// step at `k0` of an operand read from tile `t` (16-bit, in core matrices:
/// SmemTile::coreMatrix) from row (A) or column (B) `mn0` on, K-major (K
/// along the tile's columns) or MN-major (K along its rows): start address,
/// leading and stride byte offsets in 16-byte units (bits 0-13, 16-29,
/// 32-45), swizzle mode (bits 62-63: 1 = 128B, 2 = 64B, 3 = 32B). The start
/// is the element at (mn0, k0) (K-major) or (k0, mn0) (MN-major); mn0 and
/// k0 are multiples of 8 and mn0 starts a panel, where swizzled and plain
/// addresses agree.
mlir::Value wgmmaDescriptor(KernelBuilder &kb, const SmemTile &t,
                            mlir::Value mn0, int64_t k0, bool kMajor);

} // namespace deltajit::nvidia

#endif // DELTAJIT_CODEGEN_NVIDIA_WGMMA_H
