#include "hp/partner/signing.h"

#include <algorithm>
#include <charconv>

#include "hp/core/encoding.h"
#include "hp/core/openssl.h"
#include "hp/core/random.h"

namespace hp::partner {

using core::ErrorCode;

namespace {

constexpr core::Duration kMaxOverlap = std::chrono::hours(24 * 30);

std::string Hex(std::string_view raw) { return core::HexEncode(core::AsBytes(raw)); }
std::string SealContext(const std::string& key_id) { return "partner-api-key:" + key_id; }
int64_t Micros(core::TimePoint t) { return core::ToUnixMicros(t); }
std::optional<core::TimePoint> Opt(int64_t us) {
  return us ? std::optional<core::TimePoint>(core::FromUnixMicros(us)) : std::nullopt;
}
core::Error Unauth(std::string detail) {
  return core::Error(ErrorCode::kUnauthenticated, std::move(detail));
}

constexpr const char* kSelect =
    "SELECT public_id, partner_id, name, created_at, expires_at, revoked_at, last_used_at, "
    "replaced_by, "
    "secret_sealed FROM partner_api_keys";

ApiKey Row(SQLite::Statement& q, std::string* sealed = nullptr) {
  ApiKey k;
  k.id = q.getColumn(0).getString();
  k.partner_id = q.getColumn(1).getString();
  k.name = q.getColumn(2).getString();
  k.created_at = core::FromUnixMicros(q.getColumn(3).getInt64());
  k.expires_at = Opt(q.getColumn(4).getInt64());
  k.revoked_at = Opt(q.getColumn(5).getInt64());
  k.last_used_at = Opt(q.getColumn(6).getInt64());
  k.replaced_by = q.getColumn(7).getString();
  if (sealed) *sealed = q.getColumn(8).getString();
  return k;
}

core::Result<std::optional<std::pair<ApiKey, std::string>>> Find(SQLite::Database& tx,
                                                                 const std::string& id) {
  SQLite::Statement q(tx, std::string(kSelect) + " WHERE public_id = ?");
  q.bind(1, id);
  if (!q.executeStep()) return std::nullopt;
  std::string sealed;
  ApiKey k = Row(q, &sealed);
  return std::make_pair(std::move(k), std::move(sealed));
}

}  // namespace

std::string CanonicalQuery(std::string_view raw) {
  std::vector<std::string_view> parts;
  while (!raw.empty()) {
    size_t amp = raw.find('&');
    std::string_view part = raw.substr(0, amp);
    if (!part.empty()) parts.push_back(part);
    if (amp == std::string_view::npos) break;
    raw.remove_prefix(amp + 1);
  }
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += '&';
    out += parts[i];
  }
  return out;
}

std::string CanonicalRequest(std::string_view method, std::string_view path,
                             std::string_view raw_query, std::string_view timestamp,
                             std::string_view body) {
  std::string m(method);
  std::transform(m.begin(), m.end(), m.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  std::string out = "HMAC-SHA256\n";
  out += m + "\n";
  out += std::string(path) + "\n";
  out += CanonicalQuery(raw_query) + "\n";
  out += std::string(timestamp) + "\n";
  out += Hex(core::ossl::Sha256(body));
  return out;
}

std::string SignRequest(std::string_view secret, std::string_view method, std::string_view path,
                        std::string_view raw_query, std::string_view timestamp,
                        std::string_view body) {
  return Hex(
      core::ossl::HmacSha256(secret, CanonicalRequest(method, path, raw_query, timestamp, body)));
}

ApiKeyStore::ApiKeyStore(core::Database& db, core::Sealer& sealer, const core::Clock& clock)
    : db_(db), sealer_(sealer), clock_(clock) {}

core::Result<NewApiKey> ApiKeyStore::Create(const std::string& partner_id,
                                            const std::string& name) {
  if (partner_id.empty())
    return core::FailField(ErrorCode::kInvalidArgument, "partner_id", "is required");
  if (name.size() > 100)
    return core::FailField(ErrorCode::kInvalidArgument, "name", "must be at most 100 characters");
  NewApiKey out;
  out.key.id = core::NewPublicId();
  out.key.partner_id = partner_id;
  out.key.name = name;
  out.key.created_at = clock_.Now();
  out.secret = core::Secret(core::Base64UrlEncode(core::RandomBytes(32)));
  HP_ASSIGN_OR_RETURN(std::string sealed,
                      sealer_.Seal(out.secret.Reveal(), SealContext(out.key.id)));
  HP_TRY(db_.Write([&](SQLite::Database& tx) -> core::Status {
    SQLite::Statement q(
        tx,
        "INSERT INTO partner_api_keys(public_id, partner_id, name, secret_sealed, created_at) "
        "VALUES (?, ?, ?, ?, ?)");
    q.bind(1, out.key.id);
    q.bind(2, partner_id);
    q.bind(3, name);
    q.bind(4, sealed);
    q.bind(5, Micros(out.key.created_at));
    q.exec();
    return core::Ok();
  }));
  return out;
}

core::Result<NewApiKey> ApiKeyStore::Rotate(const std::string& key_id, core::Duration overlap,
                                            const std::string& partner_id) {
  if (overlap < core::Duration::zero() || overlap > kMaxOverlap)
    return core::FailField(ErrorCode::kInvalidArgument, "overlap", "must be between 0 and 30 days");
  HP_ASSIGN_OR_RETURN(ApiKey old, Get(key_id));
  if (!partner_id.empty() && old.partner_id != partner_id)
    return core::Fail(ErrorCode::kNotFound, "API key " + key_id + " not found");
  if (old.revoked_at) return core::Fail(ErrorCode::kConflict, "API key " + key_id + " is revoked");
  if (!old.replaced_by.empty())
    return core::Fail(ErrorCode::kConflict,
                      "API key " + key_id + " was already rotated (to " + old.replaced_by + ")");
  HP_ASSIGN_OR_RETURN(NewApiKey fresh, Create(old.partner_id, old.name));
  const int64_t end = Micros(clock_.Now() + overlap);
  HP_TRY(db_.Write([&](SQLite::Database& tx) -> core::Status {
    // Only if nobody rotated or revoked it meanwhile.
    SQLite::Statement q(tx,
                        "UPDATE partner_api_keys SET expires_at = CASE WHEN expires_at = 0 OR "
                        "expires_at > ? THEN ? "
                        "ELSE expires_at END, replaced_by = ? WHERE public_id = ? AND replaced_by "
                        "= '' AND revoked_at = 0");
    q.bind(1, end);
    q.bind(2, end);
    q.bind(3, fresh.key.id);
    q.bind(4, key_id);
    if (q.exec() != 1) {
      SQLite::Statement d(tx, "DELETE FROM partner_api_keys WHERE public_id = ?");
      d.bind(1, fresh.key.id);
      d.exec();
      return core::Fail(ErrorCode::kConflict, "API key " + key_id + " changed meanwhile; retry");
    }
    return core::Ok();
  }));
  return fresh;
}

core::Status ApiKeyStore::Revoke(const std::string& key_id, const std::string& partner_id) {
  const int64_t now = Micros(clock_.Now());
  return db_.Write([&](SQLite::Database& tx) -> core::Status {
    HP_ASSIGN_OR_RETURN(auto found, Find(tx, key_id));
    if (!found || (!partner_id.empty() && found->first.partner_id != partner_id))
      return core::Fail(ErrorCode::kNotFound, "API key " + key_id + " not found");
    SQLite::Statement q(
        tx, "UPDATE partner_api_keys SET revoked_at = ? WHERE public_id = ? AND revoked_at = 0");
    q.bind(1, now);
    q.bind(2, key_id);
    q.exec();
    return core::Ok();
  });
}

core::Result<ApiKey> ApiKeyStore::Get(const std::string& key_id) {
  HP_ASSIGN_OR_RETURN(auto found, db_.Read([&](SQLite::Database& tx) { return Find(tx, key_id); }));
  if (!found) return core::Fail(ErrorCode::kNotFound, "API key " + key_id + " not found");
  return found->first;
}

core::Result<std::vector<ApiKey>> ApiKeyStore::List(const std::string& partner_id) {
  return db_.Read([&](SQLite::Database& tx) -> core::Result<std::vector<ApiKey>> {
    SQLite::Statement q(tx, std::string(kSelect) + " WHERE partner_id = ? ORDER BY id");
    q.bind(1, partner_id);
    std::vector<ApiKey> out;
    while (q.executeStep()) out.push_back(Row(q));
    return out;
  });
}

core::Result<ApiKey> ApiKeyStore::Verify(const SignedRequest& r) {
  if (r.key_id.empty() || r.timestamp.empty() || r.signature.empty())
    return core::Fail(Unauth("sign the request: send " + std::string(kKeyIdHeader) + ", " +
                             std::string(kTimestampHeader) + " and " +
                             std::string(kSignatureHeader)));
  int64_t ts = 0;
  auto [end, ec] = std::from_chars(r.timestamp.data(), r.timestamp.data() + r.timestamp.size(), ts);
  if (ec != std::errc() || end != r.timestamp.data() + r.timestamp.size() ||
      r.timestamp.size() > 12)
    return core::Fail(Unauth(std::string(kTimestampHeader) + " must be unix seconds"));
  const core::TimePoint now = clock_.Now();
  const int64_t now_s = core::ToUnixSeconds(now);
  if (ts < now_s - kMaxClockSkew.count() || ts > now_s + kMaxClockSkew.count())
    return core::Fail(
        Unauth("request timestamp is outside the 5-minute window of the server clock (" +
               core::FormatRfc3339(core::FromUnixSeconds(now_s)) + ")"));
  if (r.signature.size() != 64) return core::Fail(Unauth("signature does not match"));
  HP_ASSIGN_OR_RETURN(auto found,
                      db_.Read([&](SQLite::Database& tx) { return Find(tx, r.key_id); }));
  if (!found) return core::Fail(Unauth("unknown API key"));
  const ApiKey& key = found->first;
  if (key.revoked_at) return core::Fail(Unauth("this API key was revoked"));
  if (key.expires_at && *key.expires_at <= now)
    return core::Fail(Unauth("this API key expired at " + core::FormatRfc3339(*key.expires_at) +
                             " (rotated to " + key.replaced_by + ")"));
  HP_ASSIGN_OR_RETURN(core::Secret secret, sealer_.Open(found->second, SealContext(key.id)));
  std::string expected =
      SignRequest(secret.Reveal(), r.method, r.path, r.query, r.timestamp, r.body);
  std::string given = r.signature;
  std::transform(given.begin(), given.end(), given.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!core::ConstantTimeEquals(expected, given))
    return core::Fail(Unauth("signature does not match"));
  // Replay: each accepted signature is remembered until its timestamp leaves the window.
  const int64_t remember_until = Micros(core::FromUnixSeconds(ts + kMaxClockSkew.count() + 1));
  const int64_t now_us = Micros(now);
  HP_TRY(db_.Write([&](SQLite::Database& tx) -> core::Status {
    SQLite::Statement prune(tx, "DELETE FROM partner_seen_signatures WHERE expires_at < ?");
    prune.bind(1, now_us);
    prune.exec();
    SQLite::Statement q(tx,
                        "INSERT OR IGNORE INTO partner_seen_signatures(key_id, signature, "
                        "expires_at) VALUES (?, ?, ?)");
    q.bind(1, key.id);
    q.bind(2, expected);
    q.bind(3, remember_until);
    if (q.exec() != 1)
      return core::Fail(Unauth("this signature was already used (replayed request)"));
    if (!key.last_used_at || now_us - Micros(*key.last_used_at) > 60LL * 1000000) {
      SQLite::Statement t(tx, "UPDATE partner_api_keys SET last_used_at = ? WHERE public_id = ?");
      t.bind(1, now_us);
      t.bind(2, key.id);
      t.exec();
    }
    return core::Ok();
  }));
  return key;
}

}  // namespace hp::partner
