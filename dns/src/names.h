#pragma once
// Strict validation of domain names and record data for hosted zones.

#include <string>
#include <string_view>

#include "hp/core/error.h"
#include "hp/dns/zone.h"

namespace hp::dns::internal {

struct NameRules {
  bool allow_wildcard = false;  // leftmost label may be "*"
  bool allow_root = false;      // "." alone
};

std::string ToLower(std::string_view s);
// Returns the absolute, lower-case form (trailing dot) or kInvalidArgument naming `field`.
hp::core::Result<std::string> NormalizeName(std::string_view input, const std::string& field,
                                            NameRules rules = {});
// Owner name of a record: "@"/"" is the apex; a name ending in the zone (with or without the
// trailing dot) is absolute; anything else is relative to the zone. Must lie inside the zone.
hp::core::Result<std::string> QualifyOwner(std::string_view input, const std::string& zone);
// name == zone or name is below zone (both absolute, lower case).
bool InZone(std::string_view name, std::string_view zone);
// Strips the leftmost label ("a.b.c." -> "b.c."); "." for a one-label name.
std::string Parent(std::string_view name);

// Validates and canonicalises the RDATA of one record; errors name "data" or "data.<part>".
hp::core::Result<std::string> CanonicalRdata(RecordType type, std::string_view data,
                                             const std::string& owner);

}  // namespace hp::dns::internal
