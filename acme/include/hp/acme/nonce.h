#pragma once
// Replay nonces (RFC 8555 §6.5). A nonce is a stateless token: issue time, 64 random bits and an
// HMAC-SHA256 tag under a key kept in the store, so any replica (and the same process after a
// restart) accepts nonces another one issued. Redemption records the nonce in a replay window
// table in the store; concurrent redemptions share one write transaction (group commit).
//
// Thread safety: NonceService is safe to use from any thread.

#include <memory>
#include <string>
#include <string_view>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/store.h"

namespace hp::acme {

class NonceService {
 public:
  virtual ~NonceService() = default;
  // A fresh nonce; never fails and touches no store (one HMAC).
  virtual std::string Issue() = 0;
  // Accepts a nonce exactly once within its lifetime. kAcmeBadNonce when it is malformed, forged,
  // expired or already used; kUnavailable when the store cannot record it.
  virtual core::Status Redeem(std::string_view nonce) = 0;
};

struct NonceOptions {
  // How long an issued nonce stays redeemable (and how long a used one is remembered).
  core::Duration lifetime = std::chrono::hours(1);
};

// Needs AcmeMigrations() applied. The HMAC key is created in the store on first use.
core::Result<std::unique_ptr<NonceService>> CreateHmacNonceService(core::Database& db,
                                                                   const core::Clock& clock,
                                                                   NonceOptions options = {});

}  // namespace hp::acme
