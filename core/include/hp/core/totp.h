#pragma once
// TOTP second factor (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits) and recovery codes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/error.h"

namespace hp::core {

// 20 random bytes, returned raw (seal it before storing).
std::string NewTotpSecret();
// RFC 4648 base32 without padding, as authenticator apps expect.
std::string Base32Encode(std::string_view raw);
Result<std::string> Base32Decode(std::string_view text);
// otpauth://totp/<issuer>:<account>?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30
std::string TotpUri(std::string_view issuer, std::string_view account, std::string_view raw_secret);

// The 6-digit code for a time step (step = unix_seconds / 30).
std::string TotpCode(std::string_view raw_secret, int64_t step);
// Checks `code` against steps now-1, now, now+1. Returns the matched step, or nullopt.
// Replay protection is the caller's: refuse a step <= the last accepted step for that user.
std::optional<int64_t> VerifyTotp(std::string_view raw_secret, std::string_view code,
                                  TimePoint now);

// `n` recovery codes like "k3f9-x2m7-q8w4" (about 60 bits each).
std::vector<std::string> NewRecoveryCodes(int n = 10);
// Canonical form for storing (hashed) and comparing a recovery code as typed: lower case, no
// spaces or hyphens, and the look-alikes o->0, i/l->1 folded ("K3F9 X2M7 Q8W4" -> "k3f9x2m7q8w4").
std::string NormalizeRecoveryCode(std::string_view code);

}  // namespace hp::core
