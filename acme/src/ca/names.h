#pragma once
// Identifier helpers shared by ca, ra and va (private to hp_acme).

#include <string>
#include <string_view>
#include <vector>

#include <openssl/x509v3.h>

#include "hp/core/error.h"

namespace hp::acme {

// Lower-cases DNS names and canonicalises IP text ("::0001" -> "::1"); unchanged when invalid.
std::string NormalizeName(std::string_view type, std::string_view value);
bool LooksLikeIp(std::string_view s);
// 4 or 16 raw bytes -> text; kInvalidArgument otherwise.
core::Result<std::string> IpBytesToText(const std::string& raw);
core::Result<std::string> IpTextToBytes(std::string_view text);
// Key policy for certificate keys (CSR and lint share it).
// validate_point = false skips the EC point check for a key checked before (it is the costly
// part for P-256/P-384).
core::Status CheckLeafKey(EVP_PKEY* key, bool validate_point = true);
core::Result<std::string> SpkiSha256Hex(EVP_PKEY* key);
core::Result<std::vector<core::Identifier>> GeneralNamesToIdentifiers(GENERAL_NAMES* names);

}  // namespace hp::acme
