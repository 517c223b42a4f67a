#pragma once
// base64url (RFC 4648 §5, no padding: JOSE/ACME), standard base64, hex.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hp/core/error.h"

namespace hp::core {

std::string Base64UrlEncode(std::span<const uint8_t> data);
std::string Base64UrlEncode(std::string_view data);
// Strict: rejects padding, characters outside the alphabet, and non-canonical trailing bits.
Result<std::vector<uint8_t>> Base64UrlDecode(std::string_view text);
Result<std::string> Base64UrlDecodeToString(std::string_view text);

std::string Base64Encode(std::span<const uint8_t> data);
Result<std::vector<uint8_t>> Base64Decode(std::string_view text);

std::string HexEncode(std::span<const uint8_t> data);
Result<std::vector<uint8_t>> HexDecode(std::string_view text);

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace hp::core
