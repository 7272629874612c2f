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
  return info;
}

std::unique_ptr<TensorCoreEmitter>
TargetInfo::tensorCores(llvm::StringRef family, std::string &error) const {
  // "auto" stays mma.sync on every chip until wgmma measures faster (see
  // docs/codegen.md).
  if (family == "auto" || family == "mma.sync")
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
