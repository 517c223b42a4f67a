#pragma once
// IPv4/IPv6 addresses as 128-bit integers for range arithmetic.
#include <string>

#include "hp/core/error.h"

namespace hp::provisioning {

__extension__ typedef unsigned __int128 IpValue;

// kInvalidArgument when `text` is not an address of `family` (4 or 6).
core::Result<IpValue> ParseIp(const std::string& text, int family);
std::string FormatIp(IpValue v, int family);

}  // namespace hp::provisioning
