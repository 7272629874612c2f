//===- RandomInit.h - deterministic random weights for demos and tests ----===//
//
// Without a checkpoint, a model's weights are filled by a counter-based
// generator: element i of the tensor named NAME, for seed S, is a pure
// function of (S, NAME, i). The runtime (Model.cpp) and the fp32 CPU
// reference model of the tests (test/model) call the same function, so the
// two see the same weights without sharing memory. Header-only, no
// dependencies.
//
// Values (FLA's initialisation, in spirit): tensors whose name ends in
// "norm" (RMSNorm weights: attn_norm, mlp_norm, o_norm, norm) are all ones;
// every other tensor is uniform in [-a, a] with a = 0.02 * sqrt(3) (standard
// deviation 0.02).
//
//===----------------------------------------------------------------------===//

#ifndef DELTAJIT_RUNTIME_RANDOMINIT_H
#define DELTAJIT_RUNTIME_RANDOMINIT_H

#include <cstdint>
#include <string_view>

namespace deltajit {

/// splitmix64's output function.
inline uint64_t splitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// FNV-1a 64 of a tensor name.
inline uint64_t nameHash(std::string_view name) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001B3ull;
  }
  return h;
}

/// True when `name` is an RMSNorm weight (initialised to ones).
inline bool isNormWeight(std::string_view name) {
  return name.size() >= 4 && name.substr(name.size() - 4) == "norm";
}

/// Element `index` of weight `name` for `seed`, as float (callers round to
/// the model dtype). `key` is randomInitKey(seed, name), hoisted per tensor.
inline uint64_t randomInitKey(uint64_t seed, std::string_view name) {
  return splitMix64(seed ^ nameHash(name));
}
inline float randomInitValue(uint64_t key, bool normWeight, uint64_t index) {
  if (normWeight)
    return 1.0f;
  uint64_t bits = splitMix64(key + index * 0xD1B54A32D192ED03ull);
  double u = double(bits >> 11) * (1.0 / 9007199254740992.0); // [0, 1)
  const double a = 0.034641016151377546;                      // 0.02*sqrt(3)
  return float((2.0 * u - 1.0) * a);
}

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_RANDOMINIT_H
