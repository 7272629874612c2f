//===- Weights.h - checkpoints checked against a package's weights -*- C++
//-*-===//
//
// Reads the header of a safetensors checkpoint and compares its tensors with
// the weights a package's model needs (manifest "weights").
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_WEIGHTS_H
#define DELTAJIT_RUNTIME_WEIGHTS_H

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace deltajit {

/// One tensor: name, dtype ("bf16", "f16", "f32", ... as in the manifest;
/// safetensors' upper-case names are lowered), shape.
struct TensorInfo {
  std::string name, dtype;
  std::vector<int64_t> shape;
  int64_t fileOffset = -1; ///< safetensors: where the data starts in the file
  uint64_t bytes = 0;      ///< safetensors: data size
};

/// The tensors of a safetensors file (header only; the data is not read).
/// Throws Error(DJ_ERROR_INVALID_ARGUMENT) naming what is malformed.
std::vector<TensorInfo> readSafetensorsHeader(const std::string &path);

/// The weights listed in `packageDir`/manifest.json (empty if none).
std::vector<TensorInfo> readPackageWeights(const std::string &packageDir);

/// The "weights" list of a parsed manifest (`path` prefixes messages).
std::vector<TensorInfo> parsePackageWeights(const nlohmann::json &manifest,
                                            const std::string &path);

/// The checkpoint name of a package weight: "lm_head.weight" for lm_head,
/// else "model." + name + ".weight" (the reference library's layout).
std::string checkpointName(const std::string &weight);

/// Every problem found comparing `checkpoint` with `needed`: missing and
/// unexpected tensors, shape mismatches (a [D, K] convolution weight also
/// matches [D, 1, K]) and dtypes other than bf16/f16/f32. Empty: it fits.
std::vector<std::string>
compareWeights(const std::vector<TensorInfo> &needed,
               const std::vector<TensorInfo> &checkpoint);

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_WEIGHTS_H
