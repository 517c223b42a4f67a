#include "hp/core/secret.h"

#include <openssl/crypto.h>

namespace hp::core {

Secret::Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { other.Clear(); }
Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Clear();
    value_ = std::move(other.value_);
    other.Clear();
  }
  return *this;
}
Secret::~Secret() { Clear(); }
void Secret::Clear() { SecureWipe(value_); }

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void SecureWipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

std::string Redacted(std::string_view secret) {
  return "<redacted:" + std::to_string(secret.size()) + ">";
}

}  // namespace hp::core
