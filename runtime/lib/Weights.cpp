//===- Weights.cpp - checkpoints checked against a package's weights ------===//
//
// safetensors: 8-byte little-endian header size, then a JSON header
// {name: {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}.
//
//===----------------------------------------------------------------------===//

#include "Weights.h"
#include "Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>

namespace deltajit {

namespace {

std::string lower(std::string s) {
  for (char &c : s)
    c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

} // namespace

std::vector<TensorInfo> readSafetensorsHeader(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(DJ_ERROR_INVALID_ARGUMENT, "cannot open checkpoint '", path, "'");
  unsigned char sizeBytes[8];
  if (!in.read(reinterpret_cast<char *>(sizeBytes), 8))
    fail(DJ_ERROR_INVALID_ARGUMENT, "'", path,
         "' is not a safetensors file: shorter than its 8-byte header size");
  uint64_t size = 0;
  for (int i = 7; i >= 0; --i)
    size = (size << 8) | sizeBytes[i];
  in.seekg(0, std::ios::end);
  uint64_t fileSize = uint64_t(in.tellg());
  if (size == 0 || size > fileSize - 8 || size > (uint64_t(1) << 30))
    fail(DJ_ERROR_INVALID_ARGUMENT, "'", path,
         "' is not a safetensors file: header size ", size, " for a file of ",
         fileSize, " bytes");
  std::string text(size, '\0');
  in.seekg(8);
  in.read(text.data(), std::streamsize(size));
  nlohmann::json header = nlohmann::json::parse(text, nullptr, false);
  if (header.is_discarded() || !header.is_object())
    fail(DJ_ERROR_INVALID_ARGUMENT, "'", path,
         "': the safetensors header is not a JSON object");
  std::vector<TensorInfo> tensors;
  for (auto &[name, entry] : header.items()) {
    if (name == "__metadata__")
      continue;
    if (!entry.is_object() || !entry.contains("dtype") ||
        !entry["dtype"].is_string() || !entry.contains("shape") ||
        !entry["shape"].is_array())
      fail(DJ_ERROR_INVALID_ARGUMENT, "'", path, "': tensor '", name,
           "' has no dtype/shape in the header");
    TensorInfo t;
    t.name = name;
    t.dtype = lower(entry["dtype"].get<std::string>());
    if (entry.contains("data_offsets") && entry["data_offsets"].is_array() &&
        entry["data_offsets"].size() == 2 &&
        entry["data_offsets"][0].is_number_unsigned() &&
        entry["data_offsets"][1].is_number_unsigned()) {
      uint64_t b = entry["data_offsets"][0].get<uint64_t>();
      uint64_t e = entry["data_offsets"][1].get<uint64_t>();
      if (e < b || 8 + size + e > fileSize)
        fail(DJ_ERROR_INVALID_ARGUMENT, "'", path, "': tensor '", name,
             "' has data_offsets [", b, ", ", e, "] outside the file");
      t.fileOffset = int64_t(8 + size + b);
      t.bytes = e - b;
    }
    for (auto &d : entry["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        fail(DJ_ERROR_INVALID_ARGUMENT, "'", path, "': tensor '", name,
             "' has a bad shape");
      t.shape.push_back(d.get<int64_t>());
    }
    tensors.push_back(std::move(t));
  }
  return tensors;
}

std::vector<TensorInfo> readPackageWeights(const std::string &packageDir) {
  std::string path = packageDir + "/manifest.json";
  std::ifstream in(path);
  if (!in)
    fail(DJ_ERROR_PACKAGE, "cannot read '", path, "'");
  nlohmann::json manifest = nlohmann::json::parse(in, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object())
    fail(DJ_ERROR_PACKAGE, "'", path, "' is not valid JSON");
  return parsePackageWeights(manifest, path);
}

std::vector<TensorInfo> parsePackageWeights(const nlohmann::json &manifest,
                                            const std::string &path) {
  std::vector<TensorInfo> weights;
  if (!manifest.contains("weights"))
    return weights;
  const nlohmann::json &list = manifest["weights"];
  if (!list.is_array())
    fail(DJ_ERROR_PACKAGE, path, ": weights: expected an array");
  for (size_t i = 0; i < list.size(); ++i) {
    const nlohmann::json &w = list[i];
    std::string where = concat(path, ": weights[", i, "]");
    if (!w.is_object() || !w.contains("name") || !w["name"].is_string() ||
        !w.contains("dtype") || !w["dtype"].is_string() ||
        !w.contains("shape") || !w["shape"].is_array())
      fail(DJ_ERROR_PACKAGE, where, ": expected {name, dtype, shape}");
    TensorInfo t;
    t.name = w["name"].get<std::string>();
    t.dtype = lower(w["dtype"].get<std::string>());
    for (auto &d : w["shape"]) {
      if (!d.is_number_integer())
        fail(DJ_ERROR_PACKAGE, where, ".shape: expected integers");
      t.shape.push_back(d.get<int64_t>());
    }
    weights.push_back(std::move(t));
  }
  return weights;
}

std::string checkpointName(const std::string &weight) {
  if (weight == "lm_head")
    return "lm_head.weight";
  return "model." + weight + ".weight";
}

std::vector<std::string>
compareWeights(const std::vector<TensorInfo> &needed,
               const std::vector<TensorInfo> &checkpoint) {
  std::map<std::string, const TensorInfo *> byName;
  for (const TensorInfo &t : checkpoint)
    byName[t.name] = &t;
  std::vector<std::string> problems;
  std::map<std::string, bool> used;
  for (const TensorInfo &w : needed) {
    std::string name = checkpointName(w.name);
    auto it = byName.find(name);
    if (it == byName.end()) {
      problems.push_back(concat("missing tensor '", name, "' (", w.dtype, " ",
                                shapeText(w.shape), ")"));
      continue;
    }
    used[name] = true;
    const TensorInfo &t = *it->second;
    std::vector<int64_t> shape = t.shape;
    // Depthwise convolution weights are stored [D, 1, K].
    if (shape.size() == 3 && shape[1] == 1 && w.shape.size() == 2)
      shape.erase(shape.begin() + 1);
    if (shape != w.shape)
      problems.push_back(concat("tensor '", name, "' has shape ",
                                shapeText(t.shape), ", the model needs ",
                                shapeText(w.shape)));
    if (t.dtype != "bf16" && t.dtype != "f16" && t.dtype != "f32")
      problems.push_back(concat("tensor '", name, "' has dtype ", t.dtype,
                                " (supported: bf16, f16, f32)"));
  }
  for (const TensorInfo &t : checkpoint)
    if (!used.count(t.name))
      problems.push_back(concat("unexpected tensor '", t.name,
                                "' (the model has no such "
                                "weight)"));
  return problems;
}

} // namespace deltajit
