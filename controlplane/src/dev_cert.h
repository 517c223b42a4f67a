#pragma once
#include <string>

#include "hp/core/error.h"

namespace hp::cp {
// Creates (once) a self-signed ECDSA P-256 certificate for localhost, 127.0.0.1 and ::1 at
// dir/server.crt + dir/server.key (mode 0600). Reuses existing files while they are valid.
core::Status EnsureDevCertificate(const std::string& dir);
}  // namespace hp::cp
