#pragma once
// Partner API request signing. A partner holds API keys (id + secret); every /partner/v1 request
// carries three headers:
//   X-Partner-Key-Id:    the key id
//   X-Partner-Timestamp: unix seconds when the request was signed
//   X-Partner-Signature: hex(HMAC-SHA256(secret, CanonicalRequest(...)))
// The canonical string is
//   "HMAC-SHA256\n" METHOD "\n" path "\n" sorted query "\n" timestamp "\n" hex(SHA-256(body))
// (path and query exactly as sent; query parameters sorted bytewise, '&'-joined). The server
// accepts a timestamp within 5 minutes of its clock and each signature once (replays are refused
// for as long as the timestamp could pass). Keys rotate with an overlap: after Rotate() the old
// key keeps working until the overlap ends; Revoke() ends a key at once.
//
// Thread-safety: ApiKeyStore may be used from any thread.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/sealer.h"
#include "hp/core/secret.h"
#include "hp/core/store.h"

namespace hp::partner {

inline constexpr std::string_view kKeyIdHeader = "X-Partner-Key-Id";
inline constexpr std::string_view kTimestampHeader = "X-Partner-Timestamp";
inline constexpr std::string_view kSignatureHeader = "X-Partner-Signature";
inline constexpr std::chrono::seconds kMaxClockSkew{300};

// Query parameters sorted bytewise (each "name=value" kept as sent).
std::string CanonicalQuery(std::string_view raw_query);
std::string CanonicalRequest(std::string_view method, std::string_view path,
                             std::string_view raw_query, std::string_view timestamp,
                             std::string_view body);
// Lower-case hex HMAC-SHA256 of the canonical request.
std::string SignRequest(std::string_view secret, std::string_view method, std::string_view path,
                        std::string_view raw_query, std::string_view timestamp,
                        std::string_view body);

struct SignedRequest {
  std::string method, path, query, body;
  std::string key_id, timestamp, signature;  // the three headers
};

struct ApiKey {
  std::string id;
  std::string partner_id;
  std::string name;
  core::TimePoint created_at;
  std::optional<core::TimePoint> expires_at;  // set once rotated (end of the overlap)
  std::optional<core::TimePoint> revoked_at;
  std::optional<core::TimePoint> last_used_at;
  std::string replaced_by;  // the key that replaced this one on rotation
};

struct NewApiKey {
  ApiKey key;
  core::Secret secret;  // shown once; only a sealed copy is stored
};

class ApiKeyStore {
 public:
  // `db` with CoreMigrations() and PartnerMigrations() applied.
  ApiKeyStore(core::Database& db, core::Sealer& sealer, const core::Clock& clock);

  core::Result<NewApiKey> Create(const std::string& partner_id, const std::string& name);
  // A new key for the same partner; the old one keeps working for `overlap` (at most 30 days),
  // then is refused. kNotFound for an unknown key or one of another partner (when `partner_id` is
  // given); kConflict for a revoked or already rotated key.
  core::Result<NewApiKey> Rotate(const std::string& key_id, core::Duration overlap,
                                 const std::string& partner_id = "");
  // Ends the key now. Idempotent.
  core::Status Revoke(const std::string& key_id, const std::string& partner_id = "");
  core::Result<ApiKey> Get(const std::string& key_id);
  core::Result<std::vector<ApiKey>> List(const std::string& partner_id);

  // Checks the headers, the clock-skew window, the key's state, the signature (constant time)
  // and that this signature was not accepted before. Every failure is kUnauthenticated with a
  // detail safe to show the caller. On success returns the key (its partner is the caller).
  core::Result<ApiKey> Verify(const SignedRequest& request);

 private:
  core::Database& db_;
  core::Sealer& sealer_;
  const core::Clock& clock_;
};

}  // namespace hp::partner
