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

// A nonce that passed its stateless checks, not yet recorded as used.
struct CheckedNonce {
  std::string id;        // replay-window key; starts with `issued` (8 bytes, big endian)
  int64_t issued = 0;    // unix microseconds
  int64_t expires = 0;   // unix microseconds after which the row may be pruned
};

class NonceService {
 public:
  virtual ~NonceService() = default;
  // A fresh nonce; never fails and touches no store (one HMAC).
  virtual std::string Issue() = 0;
  // Accepts a nonce exactly once within its lifetime. kAcmeBadNonce when it is malformed, forged,
  // expired or already used; kUnavailable when the store cannot record it.
  virtual core::Status Redeem(std::string_view nonce) = 0;
  // Redeem in two steps, so that the record can join the request's own write transaction (the
  // nonce is then used exactly when the request's changes commit): Check is stateless
  // (kAcmeBadNonce when malformed, forged or expired); RecordNonce runs inside a write.
  virtual core::Result<CheckedNonce> Check(std::string_view nonce) = 0;
};

// Records `nonce` as used inside the caller's write transaction on `db`; kAcmeBadNonce when it
// was used already (the caller must then roll its changes back).
core::Status RecordNonce(SQLite::Database& db, const CheckedNonce& nonce);
// Deletes replay-window rows of nonces that can no longer be redeemed (issued longer ago than
// `recorded`'s window), at most once a second per process and at most 20,000 at a time (call it
// after RecordNonce in the same transaction).
void PruneUsedNonces(SQLite::Database& db, int64_t now_us, const CheckedNonce& recorded);
// The issue time (unix microseconds) at the start of a replay-window key.
int64_t IssuedMicros(std::string_view id);

struct NonceOptions {
  // How long an issued nonce stays redeemable (and how long a used one is remembered).
  core::Duration lifetime = std::chrono::hours(1);
};

// Needs AcmeMigrations() applied. The HMAC key is created in the store on first use.
core::Result<std::unique_ptr<NonceService>> CreateHmacNonceService(core::Database& db,
                                                                   const core::Clock& clock,
                                                                   NonceOptions options = {});

}  // namespace hp::acme
