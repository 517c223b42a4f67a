#include "hp/core/encoding.h"

#include <array>

namespace hp::core {
namespace {

constexpr char kUrlAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kStdAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Encode(std::span<const uint8_t> data, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  size_t rest = data.size() - i;
  if (rest == 1) {
    uint32_t v = data[i] << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    uint32_t v = (data[i] << 16) | (data[i + 1] << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += "=";
  }
  return out;
}

std::array<int8_t, 256> Table(const char* alphabet) {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
  return t;
}

Result<std::vector<uint8_t>> Decode(std::string_view text, const std::array<int8_t, 256>& table,
                                    bool padded, const char* what) {
  if (padded) {
    if (text.size() % 4 != 0) return Fail(ErrorCode::kInvalidArgument, std::string("invalid ") + what + ": bad length");
    size_t pads = 0;
    while (pads < 2 && pads < text.size() && text[text.size() - 1 - pads] == '=') ++pads;
    text.remove_suffix(pads);
  }
  if (text.size() % 4 == 1) return Fail(ErrorCode::kInvalidArgument, std::string("invalid ") + what + ": bad length");
  std::vector<uint8_t> out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int8_t v = table[static_cast<uint8_t>(c)];
    if (v < 0) return Fail(ErrorCode::kInvalidArgument, std::string("invalid ") + what + ": unexpected character");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
    }
  }
  // Non-canonical encodings (non-zero leftover bits) are rejected: one value, one encoding.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return Fail(ErrorCode::kInvalidArgument, std::string("invalid ") + what + ": non-canonical trailing bits");
  return out;
}

}  // namespace

std::string Base64UrlEncode(std::span<const uint8_t> data) { return Encode(data, kUrlAlphabet, false); }
std::string Base64UrlEncode(std::string_view data) { return Encode(AsBytes(data), kUrlAlphabet, false); }
Result<std::vector<uint8_t>> Base64UrlDecode(std::string_view text) {
  static const auto t = Table(kUrlAlphabet);
  return Decode(text, t, false, "base64url");
}
Result<std::string> Base64UrlDecodeToString(std::string_view text) {
  auto r = Base64UrlDecode(text);
  if (!r) return std::unexpected(r.error());
  return std::string(r->begin(), r->end());
}
std::string Base64Encode(std::span<const uint8_t> data) { return Encode(data, kStdAlphabet, true); }
Result<std::vector<uint8_t>> Base64Decode(std::string_view text) {
  static const auto t = Table(kStdAlphabet);
  return Decode(text, t, true, "base64");
}

std::string HexEncode(std::span<const uint8_t> data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Result<std::vector<uint8_t>> HexDecode(std::string_view text) {
  if (text.size() % 2) return Fail(ErrorCode::kInvalidArgument, "invalid hex: odd length");
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<uint8_t> out;
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = val(text[i]), lo = val(text[i + 1]);
    if (hi < 0 || lo < 0) return Fail(ErrorCode::kInvalidArgument, "invalid hex: unexpected character");
    out.push_back(static_cast<uint8_t>(hi * 16 + lo));
  }
  return out;
}

}  // namespace hp::core
