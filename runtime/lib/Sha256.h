//===- Sha256.h - SHA-256 (FIPS 180-4): package checksums, cache keys -----===//

#ifndef DELTAJIT_RUNTIME_SHA256_H
#define DELTAJIT_RUNTIME_SHA256_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace deltajit {

/// Incremental SHA-256.
class Sha256 {
public:
  using Digest = std::array<uint8_t, 32>;

  Sha256();
  void update(const void *data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  /// Appends a length-prefixed field (8-byte little-endian size, then the
  /// bytes), so that concatenations of fields cannot collide.
  void updateField(std::string_view data);
  /// Finishes the hash; the object must not be updated afterwards.
  Digest finish();

  static Digest hash(std::string_view data);
  static std::string hex(const Digest &digest);
  static std::string hexHash(std::string_view data) { return hex(hash(data)); }

private:
  void compress(const uint8_t *block);

  uint32_t state_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t totalBytes_ = 0;
};

} // namespace deltajit

#endif // DELTAJIT_RUNTIME_SHA256_H
