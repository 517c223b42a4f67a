#pragma once
// Password hashing (argon2id, memory-hard) and the password policy of SPEC.md.
// Thread-safe; Hash() costs ~tens of ms and ~19 MiB by design: never call it on a reactor thread
// in a loop, and throttle sign-in attempts before hashing.

#include <string>
#include <string_view>

#include "hp/core/error.h"

namespace hp::core {

struct PasswordHashParams {
  uint32_t t_cost = 2;          // iterations
  uint32_t m_cost_kib = 19456;  // 19 MiB (OWASP's argon2id minimum)
  uint32_t parallelism = 1;
};

// Encoded PHC string "$argon2id$v=19$m=...,t=...,p=...$salt$hash" with a random 16-byte salt.
Result<std::string> HashPassword(std::string_view password, const PasswordHashParams& params = {});
// Constant-time verification against an encoded hash; false on mismatch or a malformed hash.
bool VerifyPassword(std::string_view password, std::string_view encoded);
// True when `encoded` used weaker parameters than `params` (rehash after a successful sign-in).
bool PasswordNeedsRehash(std::string_view encoded, const PasswordHashParams& params = {});

// SPEC.md: at least 8 characters, at least two character classes (lower, upper, digit, other),
// not the e-mail address (or its local part), not in the built-in list of common passwords,
// at most 1024 bytes. Errors are kInvalidArgument with field "password" and a readable reason.
Status CheckPasswordPolicy(std::string_view password, std::string_view email);

}  // namespace hp::core
