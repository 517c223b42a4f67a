#pragma once
// Cryptographically secure randomness (OpenSSL RAND_bytes) and random public identifiers.
// Public identifiers in URLs are 128 random bits in base64url; integer row ids never leave the
// process.

#include <cstdint>
#include <string>
#include <vector>

namespace hp::core {

// Aborts the process if the CSPRNG fails: continuing without randomness is never safe.
std::vector<uint8_t> RandomBytes(size_t n);
uint64_t RandomU64();

// 22 characters of base64url carrying 128 random bits.
std::string NewPublicId();

// A source of public ids; tests may inject a deterministic one.
class IdSource {
 public:
  virtual ~IdSource() = default;
  virtual std::string NewId() = 0;
};
class RandomIdSource final : public IdSource {
 public:
  std::string NewId() override { return NewPublicId(); }
};

}  // namespace hp::core
