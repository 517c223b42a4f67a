#pragma once
// Storage authority: all ACME persistence. Callers group their reads and writes into one
// transaction per request through Sa::Read / Sa::Write and the typed operations of SaTx. Writes
// of concurrent requests share one SQLite transaction and one commit (GroupCommitter), so an
// issuance costs a fraction of an fsync.

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/json.h"
#include "hp/acme/nonce.h"
#include "hp/acme/server.h"  // EabKeyInfo, EabCertificate
#include "hp/core/store.h"
#include "sa/group_commit.h"

namespace hp::acme {

struct AccountRow {
  int64_t id = 0;
  std::string public_id;
  std::string thumbprint;
  std::string jwk;  // canonical
  core::Json contact = core::Json::array();
  std::string status = "valid";
  bool tos_agreed = false;
  std::string eab_kid;
  std::string created_ip;
  core::TimePoint created_at;
};

struct AuthzRow {
  int64_t id = 0;
  std::string public_id;
  int64_t account_id = 0;
  core::Identifier identifier;  // value without "*."
  bool wildcard = false;
  std::string status = "pending";
  core::TimePoint expires;
  std::string token;
  std::vector<std::string> challenge_types;
  std::string chall_type;
  std::string chall_status = "pending";
  core::TimePoint validated_at;
  std::string error;  // problem JSON
  std::string validation_record;
  core::TimePoint created_at;
  core::TimePoint processing_since;  // when chall_status became processing
};

struct OrderRow {
  int64_t id = 0;
  std::string public_id;
  int64_t account_id = 0;
  std::string status = "pending";
  std::vector<core::Identifier> identifiers;
  std::vector<std::string> authz;  // public ids
  std::string profile;
  std::string replaces;
  core::TimePoint not_before, not_after;
  core::TimePoint expires;
  std::string error;
  std::string certificate_id;
  core::TimePoint created_at, updated_at;
};

struct CertRow {
  int64_t id = 0;
  std::string public_id;
  std::string serial;
  std::string ari_id;
  int64_t account_id = 0;
  int64_t order_id = 0;
  std::string issuer_id;
  std::string profile;
  std::vector<core::Identifier> names;
  std::string spki_hash;
  std::string der;
  core::TimePoint not_before, not_after;
  core::TimePoint revoked_at;  // epoch when not revoked
  int revoked_reason = 0;
  std::string replaced_by;
  core::TimePoint created_at;
};

struct EabKeyRow {
  int64_t id = 0;
  std::string kid;
  std::string hmac_key;
  std::string owner;
  int64_t bound_account_id = 0;
  int64_t expires_at_us = 0;  // 0: no expiry
};

struct CrlRow {
  std::string issuer_id;
  int64_t number = 0;
  std::string der;
  core::TimePoint this_update, next_update;
  int64_t dirty_since = 0;
};

struct RateDecision {
  bool allowed = true;
  int retry_after_seconds = 0;
  int64_t used = 0;  // requests counted in the current window (approximate, GCRA)
};

core::Json IdentifiersToJson(const std::vector<core::Identifier>& ids);
std::vector<core::Identifier> IdentifiersFromJson(const core::Json& j);

// Prepared statements of one connection, kept across transactions (preparing is a large share
// of a short transaction's cost). Used by one thread at a time, like its connection.
class StatementCache {
 public:
  SQLite::Statement& Get(SQLite::Database& db, const std::string& sql);

 private:
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> statements_;
};

// Typed operations inside one transaction. Not thread-safe; lives for one Read/Write call.
class SaTx {
 public:
  SaTx(SQLite::Database& db, core::TimePoint now, StatementCache* cache = nullptr)
      : db_(db), now_(now), cache_(cache) {}
  ~SaTx();
  SaTx(const SaTx&) = delete;
  SaTx& operator=(const SaTx&) = delete;
  core::TimePoint now() const { return now_; }
  // A reset statement for `sql` (from the connection's cache when there is one).
  SQLite::Statement& Stmt(const std::string& sql);

  core::Result<std::optional<AccountRow>> AccountByPublicId(const std::string& id);
  core::Result<std::optional<AccountRow>> AccountByThumbprint(const std::string& thumbprint);
  core::Result<std::optional<AccountRow>> AccountById(int64_t id);
  core::Status InsertAccount(AccountRow& row);
  core::Status UpdateAccount(const AccountRow& row);  // contact, status, jwk, thumbprint

  core::Result<std::optional<EabKeyRow>> EabKey(const std::string& kid);
  core::Status InsertEabKey(const EabKeyRow& row);
  core::Status BindEabKey(int64_t eab_id, int64_t account_id);
  core::Result<std::vector<EabKeyInfo>> EabKeysOf(const std::string& owner);
  core::Result<std::vector<EabCertificate>> CertificatesOfEabOwner(const std::string& owner,
                                                                  int64_t after, int limit);
  core::Result<std::vector<EabCertificate>> EabCertificatesSince(const std::string& owner_prefix,
                                                                int64_t after, int limit);

  core::Status InsertAuthz(AuthzRow& row);
  // status, chall_*, validated_at, error, expires, processing_since (kept only while processing)
  core::Status UpdateAuthz(const AuthzRow& row);
  // Public ids of authorizations whose validation has been processing since before `before`.
  core::Result<std::vector<std::string>> StaleProcessingAuthz(core::TimePoint before, int limit);
  core::Result<std::optional<AuthzRow>> AuthzByPublicId(const std::string& id);
  // A reusable authorization: same account and identifier, valid and not expiring before
  // `valid_until`, or pending and not expired. Newest first.
  core::Result<std::optional<AuthzRow>> ReusableAuthz(int64_t account_id,
                                                      const core::Identifier& id, bool wildcard,
                                                      core::TimePoint valid_until);
  // Valid authorizations of the account for every identifier (revocation by authorization).
  core::Result<bool> HasValidAuthzFor(int64_t account_id, const std::vector<core::Identifier>& ids);

  core::Status InsertOrder(OrderRow& row);
  core::Status UpdateOrder(const OrderRow& row);  // status, error, certificate_id
  core::Result<std::optional<OrderRow>> OrderByPublicId(const std::string& id);
  core::Result<std::optional<OrderRow>> OrderById(int64_t id);
  // Public ids of the account's orders with row id > after, oldest first, at most `limit`;
  // returns the last row id for the next page.
  core::Result<std::vector<std::pair<int64_t, std::string>>> OrdersOfAccount(int64_t account_id,
                                                                             int64_t after,
                                                                             int limit);

  core::Status InsertCertificate(CertRow& row);
  core::Result<std::optional<CertRow>> CertByPublicId(const std::string& id);
  core::Result<std::optional<CertRow>> CertBySerial(const std::string& serial);
  core::Result<std::optional<CertRow>> CertByAriId(const std::string& ari_id);
  core::Status MarkReplaced(int64_t cert_id, const std::string& order_public_id);
  core::Status Revoke(int64_t cert_id, int reason);
  core::Result<std::vector<std::pair<std::string, std::pair<core::TimePoint, int>>>> RevokedOf(
      const std::string& issuer_id);

  core::Result<bool> IsKeyBlocked(const std::string& spki_hash);
  core::Status BlockKey(const std::string& spki_hash, const std::string& reason);

  core::Result<std::optional<CrlRow>> Crl(const std::string& issuer_id);
  core::Status PutCrl(const CrlRow& row);
  core::Status MarkCrlDirty(const std::string& issuer_id);

  // Records a checked nonce as used (kAcmeBadNonce when it was) and prunes expired ones.
  core::Status RecordNonce(const CheckedNonce& nonce);

  // GCRA: `count` events per `period` with a burst of `count`. Spends one when `spend`.
  core::Result<RateDecision> RateLimit(const std::string& key, int64_t count,
                                       core::Duration period, bool spend);
  // Deletes the rate-limit rows whose theoretical arrival time has passed (such a row means what
  // no row means: the whole burst is available again) among the `limit` keys after `after`, in
  // key order. Returns the last key looked at, or "" once the table's end was reached.
  core::Result<std::string> PruneRateLimits(const std::string& after, int limit,
                                            int64_t* deleted);

 private:
  SQLite::Database& db_;
  core::TimePoint now_;
  StatementCache* cache_;
  std::vector<SQLite::Statement*> used_;
  std::vector<std::unique_ptr<SQLite::Statement>> own_;
};

// A request's checked nonce that is not recorded yet (see Sa::NonceScope).
struct PendingNonce {
  CheckedNonce nonce;
  bool recorded = false;
};
inline thread_local PendingNonce* t_pending_nonce = nullptr;
// t_pending_nonce through calls the compiler cannot inline: request code may run on a fiber that
// moves to another thread inside a Write (sa/fiber.h), so no thread_local address may be kept
// across one.
[[gnu::noinline]] PendingNonce* CurrentPendingNonce();
[[gnu::noinline]] void SetPendingNonce(PendingNonce* p);

class Sa {
 public:
  // While alive, the first successful Write() on this thread also records `pending` inside its
  // own savepoint: the nonce is used exactly when the request's changes commit, without a
  // transaction of its own. A request without a write records it afterwards (pending->recorded
  // says whether that is still needed).
  class NonceScope {
   public:
    explicit NonceScope(PendingNonce* pending) : prev_(CurrentPendingNonce()) {
      SetPendingNonce(pending);
    }
    ~NonceScope() { SetPendingNonce(prev_); }
    NonceScope(const NonceScope&) = delete;
    NonceScope& operator=(const NonceScope&) = delete;

   private:
    PendingNonce* prev_;
  };

  Sa(core::Database& db, const core::Clock& clock)
      : db_(db), clock_(clock), committer_(GroupCommitter::For(db)) {}
  // fn(SaTx&) inside a savepoint of a group-committed write transaction; returns once durable.
  template <typename F>
  auto Write(F&& fn) {
    using R = decltype(fn(std::declval<SaTx&>()));
    R out = std::unexpected(core::Error(core::ErrorCode::kInternal, "not run"));
    PendingNonce* current = CurrentPendingNonce();
    PendingNonce* nonce = current && !current->recorded ? current : nullptr;
    core::Status st = committer_->Run([&](SQLite::Database& d) -> core::Status {
      SaTx tx(d, clock_.Now(), CacheFor(d));
      if (nonce) {
        if (auto r = tx.RecordNonce(nonce->nonce); !r) {
          out = std::unexpected(r.error());
          return r;
        }
      }
      out = fn(tx);
      if (!out) return std::unexpected(out.error());
      return core::Ok();
    });
    if (!st && out) return R(std::unexpected(st.error()));
    if (st && out && nonce) nonce->recorded = true;
    return out;
  }
  template <typename F>
  auto Read(F&& fn) {
    return db_.Read([&](SQLite::Database& d) {
      SaTx tx(d, clock_.Now(), CacheFor(d));
      return fn(tx);
    });
  }
  // A read for a request whose nonce is still to be recorded runs as that write instead: one
  // group-committed transaction does both, rather than a read transaction plus a write.
  template <typename F>
  auto ReadForRequest(F&& fn) {
    if (PendingNonce* p = CurrentPendingNonce(); p && !p->recorded) return Write(std::forward<F>(fn));
    return Read(std::forward<F>(fn));
  }

  // One pass over the rate-limit table, `chunk` keys per write transaction (so no request waits
  // behind a long delete), dropping rows that have run out; stops early when `stop` says so.
  // Returns how many rows it deleted. The table would otherwise keep a row for every account, IP
  // and registered domain that ever asked for anything.
  core::Result<int64_t> PruneRateLimits(int chunk, const std::function<bool()>& stop = {});

  const core::Clock& clock() const { return clock_; }
  GroupCommitter& committer() { return *committer_; }

 private:
  // The statement cache of a connection. Sa must be destroyed before the Database.
  StatementCache* CacheFor(SQLite::Database& d);

  core::Database& db_;
  const core::Clock& clock_;
  std::shared_ptr<GroupCommitter> committer_;
  std::mutex caches_mu_;
  std::unordered_map<sqlite3*, std::unique_ptr<StatementCache>> caches_;
};

}  // namespace hp::acme
