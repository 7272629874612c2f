//===- TargetInfo.cpp - NVIDIA target facts -------------------------------===//
//
// The chips deltajit generates code for and their tensor-core family.
//
//===----------------------------------------------------------------------===//

#include "deltajit/Codegen/NVIDIA/TargetInfo.h"

#include "llvm/ADT/StringSwitch.h"

using namespace deltajit::nvidia;

TensorCoreEmitter::~TensorCoreEmitter() = default;

std::optional<TargetInfo> TargetInfo::get(llvm::StringRef chip,
                                          std::string &error) {
  TargetInfo info;
  info.chip = chip.str();
  info.sm = llvm::StringSwitch<int>(chip)
                .Case("sm_80", 80)
                .Case("sm_86", 86)
                .Case("sm_89", 89)
                .Cases({"sm_90", "sm_90a"}, 90)
                .Default(0);
  if (!info.sm) {
    error = "unsupported chip '" + chip.str() +
            "' (supported: sm_80, sm_86, sm_89, sm_90, sm_90a)";
    return std::nullopt;
  }
  // PTX ISA 8.0 (CUDA 12.0) covers every chip above, sm_90a included.
  info.ptxFeatures = "+ptx80";
  // Opt-in dynamic shared memory per block (CUDA programming guide, table of
  // compute capabilities): 163 KB on sm_80, 99 KB on sm_86/89, 227 KB on 90.
  info.maxSharedBytes = info.sm == 80   ? 163 * 1024
                        : info.sm >= 90 ? 227 * 1024
                                        : 99 * 1024;
  info.sharedBytesPerSM = info.sm == 80   ? 164 * 1024
                          : info.sm >= 90 ? 228 * 1024
                                          : 100 * 1024;
  return info;
}

std::unique_ptr<TensorCoreEmitter>
TargetInfo::tensorCores(llvm::StringRef family, std::string &error) const {
  if (family == "mma.sync")
    return createMmaSyncEmitter();
  if (family == "wgmma") {
    if (chip != "sm_90a") {
      error = "tensor-core family 'wgmma' needs sm_90a, the target is " + chip;
      return nullptr;
    }
    return createWgmmaEmitter();
  }
  error = "unknown tensor-core family '" + family.str() +
          "' (expected auto, mma.sync or wgmma)";
  return nullptr;
}

llvm::StringRef TargetInfo::autoFamily(KernelKind kernel, int64_t phases,
                                       int64_t blockV) const {
  // Measured on the H200 (ncu, d = 128, x16 heads, 8x2048 and 1x16384;
  // docs/codegen.md): in the three-phase kernels wgmma is as fast or
  // faster from block_v 32 on (block_v 64: output 154 -> 123 us; 128:
  // prepare 248 -> 240, scan 143 -> 132, output 129 -> 120); at 16 it was
  // slower in prepare and output (n = 16 products; prepare 301 -> 318,
  // output 179 -> 202; they now run at 128 value columns whatever the
  // scan's block_v) but is faster in the scan: the block_v 16 scan (4
  // warps, one warpgroup; latency-bound) went 306 -> 265 us on wgmma
  // (run84: mma.sync's chains of dependent HMMAs and ldmatrix loads were
  // most of its stall samples). The fused kernel, already at the register
  // limit, spills more with wgmma (8x2048: 0.72 -> 1.05 ms).
  if (chip == "sm_90a" && phases == 3 && kernel != KernelKind::Fused &&
      (blockV >= 32 || kernel == KernelKind::Scan))
    return "wgmma";
  return "mma.sync";
}

bool TargetInfo::mayUseWgmma(llvm::StringRef family) const {
  return chip == "sm_90a" && (family == "wgmma" || family == "auto");
}
