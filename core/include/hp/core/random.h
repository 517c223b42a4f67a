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
void RandomFill(uint8_t* out, size_t n);
uint64_t RandomU64();

// 22 characters of base64url carrying 128 random bits.
std::string NewPublicId();

// 30 URL-safe characters (the base64url set): the creation time in milliseconds (8 characters)
// followed by 128 random bits (22 characters), drawn from that set in ASCII order, so that ids
// compare as their creation times do. Rows created together then share the same few index pages
// instead of touching one random page each. Use it where the creation time is not a secret from
// whoever may see the id (ACME orders, authorizations and certificates: their owner).
std::string NewOrderedPublicId(int64_t unix_millis);

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
