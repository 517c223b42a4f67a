#include "hp/core/totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <string>

#include "hp/core/http.h"
#include "hp/core/random.h"
#include "hp/core/secret.h"

namespace hp::core {
namespace {

constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr int64_t kStepSeconds = 30;
constexpr uint32_t kModulus = 1000000;  // 6 digits

// RFC 3986 unreserved characters pass; everything else is percent-encoded (%20, not '+', which
// authenticator apps would show literally) — exactly http::UrlEncode.
std::string PercentEncode(std::string_view s) { return http::UrlEncode(s); }

// Floor division so that times before 1970 still map to the right step.
int64_t StepOf(TimePoint t) {
  int64_t s = ToUnixSeconds(t);
  return s >= 0 ? s / kStepSeconds : -((-s + kStepSeconds - 1) / kStepSeconds);
}

}  // namespace

std::string NewTotpSecret() {
  auto b = RandomBytes(20);
  return std::string(b.begin(), b.end());
}

std::string Base32Encode(std::string_view raw) {
  std::string out;
  out.reserve((raw.size() * 8 + 4) / 5);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += kBase32Alphabet[(acc >> bits) & 31];
    }
  }
  if (bits > 0) out += kBase32Alphabet[(acc << (5 - bits)) & 31];
  return out;
}

Result<std::string> Base32Decode(std::string_view text) {
  // People type secrets by hand: accept lower case, spaces, hyphens and trailing '=' padding.
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char ch : text) {
    if (ch == ' ' || ch == '-') continue;
    if (ch == '=') {
      padding = true;
      continue;
    }
    if (padding) return Fail(ErrorCode::kInvalidArgument, "invalid base32: data after padding");
    int v;
    unsigned char c = static_cast<unsigned char>(std::toupper(static_cast<unsigned char>(ch)));
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= '2' && c <= '7') {
      v = c - '2' + 26;
    } else {
      return Fail(ErrorCode::kInvalidArgument, "invalid base32: unexpected character");
    }
    acc = (acc << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string TotpUri(std::string_view issuer, std::string_view account,
                    std::string_view raw_secret) {
  std::string issuer_enc = PercentEncode(issuer);
  return "otpauth://totp/" + issuer_enc + ":" + PercentEncode(account) +
         "?secret=" + Base32Encode(raw_secret) + "&issuer=" + issuer_enc +
         "&algorithm=SHA1&digits=6&period=30";
}

std::string TotpCode(std::string_view raw_secret, int64_t step) {
  unsigned char msg[8];
  uint64_t counter = static_cast<uint64_t>(step);
  for (int i = 7; i >= 0; --i) {
    msg[i] = static_cast<unsigned char>(counter & 0xff);
    counter >>= 8;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), raw_secret.data(), static_cast<int>(raw_secret.size()), msg, sizeof msg, md,
       &len);
  // RFC 4226 §5.3 dynamic truncation.
  int offset = md[len - 1] & 0x0f;
  uint32_t bin = (static_cast<uint32_t>(md[offset] & 0x7f) << 24) |
                 (static_cast<uint32_t>(md[offset + 1]) << 16) |
                 (static_cast<uint32_t>(md[offset + 2]) << 8) | md[offset + 3];
  OPENSSL_cleanse(md, sizeof md);
  std::string code = std::to_string(bin % kModulus);
  return std::string(6 - code.size(), '0') + code;
}

std::optional<int64_t> VerifyTotp(std::string_view raw_secret, std::string_view code,
                                  TimePoint now) {
  // Apps show "123 456"; accept inner spaces, nothing else.
  std::string digits;
  for (char c : code) {
    if (c == ' ') continue;
    if (c < '0' || c > '9') return std::nullopt;
    digits += c;
  }
  if (digits.size() != 6 || raw_secret.empty()) return std::nullopt;
  const int64_t current = StepOf(now);
  std::optional<int64_t> matched;
  // Check all three windows without stopping early, so timing does not reveal which matched.
  for (int64_t step = current - 1; step <= current + 1; ++step) {
    std::string expected = TotpCode(raw_secret, step);
    if (ConstantTimeEquals(expected, digits) && !matched) matched = step;
  }
  return matched;
}

std::vector<std::string> NewRecoveryCodes(int n) {
  // Crockford's base32 alphabet in lower case: no i, l, o, u to misread.
  static constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    auto b = RandomBytes(12);  // 12 symbols of 5 bits: 60 bits
    std::string code;
    for (size_t j = 0; j < b.size(); ++j) {
      if (j > 0 && j % 4 == 0) code += '-';
      code += kAlphabet[b[j] & 31];
    }
    out.push_back(std::move(code));
  }
  return out;
}

std::string NormalizeRecoveryCode(std::string_view code) {
  std::string out;
  for (char ch : code) {
    char c = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (c == ' ' || c == '-') continue;
    if (c == 'o') c = '0';
    if (c == 'i' || c == 'l') c = '1';
    out += c;
  }
  return out;
}

}  // namespace hp::core
