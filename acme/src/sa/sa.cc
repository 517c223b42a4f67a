#include "sa/sa.h"

#include <sstream>

namespace hp::acme {

PendingNonce* CurrentPendingNonce() { return t_pending_nonce; }
void SetPendingNonce(PendingNonce* p) { t_pending_nonce = p; }
namespace {

using core::Fail;
using core::Result;
using core::Status;
using core::TimePoint;

int64_t Us(TimePoint t) { return core::ToUnixMicros(t); }
TimePoint Tp(int64_t us) { return core::FromUnixMicros(us); }

std::string Blob(const SQLite::Column& c) {
  return std::string(static_cast<const char*>(c.getBlob()), static_cast<size_t>(c.getBytes()));
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

constexpr char kAccountCols[] =
    "id, public_id, key_thumbprint, jwk, contact, status, tos_agreed, IFNULL(eab_kid,''), "
    "created_ip, created_at";

AccountRow ReadAccount(SQLite::Statement& q) {
  AccountRow r;
  r.id = q.getColumn(0).getInt64();
  r.public_id = q.getColumn(1).getString();
  r.thumbprint = q.getColumn(2).getString();
  r.jwk = q.getColumn(3).getString();
  r.contact = core::Json::parse(q.getColumn(4).getString(), nullptr, false);
  r.status = q.getColumn(5).getString();
  r.tos_agreed = q.getColumn(6).getInt() != 0;
  r.eab_kid = q.getColumn(7).getString();
  r.created_ip = q.getColumn(8).getString();
  r.created_at = Tp(q.getColumn(9).getInt64());
  return r;
}

constexpr char kAuthzCols[] =
    "id, public_id, account_id, identifier_type, identifier_value, wildcard, status, expires, "
    "token, challenge_types, chall_type, chall_status, validated_at, error, validation_record, "
    "created_at, processing_since";

AuthzRow ReadAuthz(SQLite::Statement& q) {
  AuthzRow r;
  r.id = q.getColumn(0).getInt64();
  r.public_id = q.getColumn(1).getString();
  r.account_id = q.getColumn(2).getInt64();
  r.identifier = {q.getColumn(3).getString(), q.getColumn(4).getString()};
  r.wildcard = q.getColumn(5).getInt() != 0;
  r.status = q.getColumn(6).getString();
  r.expires = Tp(q.getColumn(7).getInt64());
  r.token = q.getColumn(8).getString();
  r.challenge_types = Split(q.getColumn(9).getString());
  r.chall_type = q.getColumn(10).getString();
  r.chall_status = q.getColumn(11).getString();
  r.validated_at = Tp(q.getColumn(12).getInt64());
  r.error = q.getColumn(13).getString();
  r.validation_record = q.getColumn(14).getString();
  r.created_at = Tp(q.getColumn(15).getInt64());
  r.processing_since = Tp(q.getColumn(16).getInt64());
  return r;
}

constexpr char kOrderCols[] =
    "id, public_id, account_id, status, identifiers, authz, profile, replaces, not_before, "
    "not_after, expires, error, certificate_id, created_at, updated_at";

OrderRow ReadOrder(SQLite::Statement& q) {
  OrderRow r;
  r.id = q.getColumn(0).getInt64();
  r.public_id = q.getColumn(1).getString();
  r.account_id = q.getColumn(2).getInt64();
  r.status = q.getColumn(3).getString();
  r.identifiers = IdentifiersFromJson(core::Json::parse(q.getColumn(4).getString(), nullptr, false));
  auto az = core::Json::parse(q.getColumn(5).getString(), nullptr, false);
  if (az.is_array()) {
    for (const auto& a : az) r.authz.push_back(a.get<std::string>());
  }
  r.profile = q.getColumn(6).getString();
  r.replaces = q.getColumn(7).getString();
  r.not_before = Tp(q.getColumn(8).getInt64());
  r.not_after = Tp(q.getColumn(9).getInt64());
  r.expires = Tp(q.getColumn(10).getInt64());
  r.error = q.getColumn(11).getString();
  r.certificate_id = q.getColumn(12).getString();
  r.created_at = Tp(q.getColumn(13).getInt64());
  r.updated_at = Tp(q.getColumn(14).getInt64());
  return r;
}

constexpr char kCertCols[] =
    "id, public_id, serial, ari_id, account_id, order_id, issuer_id, profile, names, spki_hash, "
    "der, not_before, not_after, revoked_at, revoked_reason, replaced_by, created_at";

CertRow ReadCert(SQLite::Statement& q) {
  CertRow r;
  r.id = q.getColumn(0).getInt64();
  r.public_id = q.getColumn(1).getString();
  r.serial = q.getColumn(2).getString();
  r.ari_id = q.getColumn(3).getString();
  r.account_id = q.getColumn(4).getInt64();
  r.order_id = q.getColumn(5).getInt64();
  r.issuer_id = q.getColumn(6).getString();
  r.profile = q.getColumn(7).getString();
  r.names = IdentifiersFromJson(core::Json::parse(q.getColumn(8).getString(), nullptr, false));
  r.spki_hash = q.getColumn(9).getString();
  r.der = Blob(q.getColumn(10));
  r.not_before = Tp(q.getColumn(11).getInt64());
  r.not_after = Tp(q.getColumn(12).getInt64());
  r.revoked_at = Tp(q.getColumn(13).getInt64());
  r.revoked_reason = q.getColumn(14).getInt();
  r.replaced_by = q.getColumn(15).getString();
  r.created_at = Tp(q.getColumn(16).getInt64());
  return r;
}

template <typename Row, typename Reader, typename Bind>
Result<std::optional<Row>> One(SaTx& tx, const std::string& sql, Reader read, Bind bind) {
  SQLite::Statement& q = tx.Stmt(sql);
  bind(q);
  if (!q.executeStep()) return std::optional<Row>();
  return std::optional<Row>(read(q));
}

}  // namespace

SQLite::Statement& StatementCache::Get(SQLite::Database& db, const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    it = statements_.emplace(sql, std::make_unique<SQLite::Statement>(db, sql)).first;
  }
  return *it->second;
}

SaTx::~SaTx() {
  for (SQLite::Statement* q : used_) {
    try {
      q->reset();  // a cached SELECT must not keep its read transaction open
    } catch (...) {
    }
  }
}

SQLite::Statement& SaTx::Stmt(const std::string& sql) {
  SQLite::Statement* q = nullptr;
  if (cache_) {
    q = &cache_->Get(db_, sql);
    q->reset();
    q->clearBindings();
  } else {
    own_.push_back(std::make_unique<SQLite::Statement>(db_, sql));
    q = own_.back().get();
  }
  used_.push_back(q);
  return *q;
}

StatementCache* Sa::CacheFor(SQLite::Database& d) {
  std::lock_guard lock(caches_mu_);
  auto& c = caches_[d.getHandle()];
  if (!c) c = std::make_unique<StatementCache>();
  return c.get();
}

core::Json IdentifiersToJson(const std::vector<core::Identifier>& ids) {
  core::Json a = core::Json::array();
  for (const auto& i : ids) a.push_back({{"type", i.type}, {"value", i.value}});
  return a;
}

std::vector<core::Identifier> IdentifiersFromJson(const core::Json& j) {
  std::vector<core::Identifier> out;
  if (!j.is_array()) return out;
  for (const auto& i : j) out.push_back({i.value("type", ""), i.value("value", "")});
  return out;
}

Result<std::optional<AccountRow>> SaTx::AccountByPublicId(const std::string& id) {
  return One<AccountRow>(*this, std::string("SELECT ") + kAccountCols +
                                  " FROM acme_accounts WHERE public_id = ?",
                         ReadAccount, [&](SQLite::Statement& q) { q.bind(1, id); });
}

Result<std::optional<AccountRow>> SaTx::AccountByThumbprint(const std::string& tp) {
  return One<AccountRow>(*this, std::string("SELECT ") + kAccountCols +
                                  " FROM acme_accounts WHERE key_thumbprint = ?",
                         ReadAccount, [&](SQLite::Statement& q) { q.bind(1, tp); });
}

Result<std::optional<AccountRow>> SaTx::AccountById(int64_t id) {
  return One<AccountRow>(*this, std::string("SELECT ") + kAccountCols +
                                  " FROM acme_accounts WHERE id = ?",
                         ReadAccount, [&](SQLite::Statement& q) { q.bind(1, id); });
}

Status SaTx::InsertAccount(AccountRow& r) {
  SQLite::Statement& q = Stmt("INSERT INTO acme_accounts(public_id, key_thumbprint, jwk, contact, status, "
                      "tos_agreed, eab_kid, created_ip, created_at) VALUES(?,?,?,?,?,?,?,?,?)");
  q.bind(1, r.public_id);
  q.bind(2, r.thumbprint);
  q.bind(3, r.jwk);
  q.bind(4, r.contact.dump());
  q.bind(5, r.status);
  q.bind(6, r.tos_agreed ? 1 : 0);
  if (r.eab_kid.empty()) q.bind(7); else q.bind(7, r.eab_kid);
  q.bind(8, r.created_ip);
  q.bind(9, Us(r.created_at));
  q.exec();
  r.id = db_.getLastInsertRowid();
  return core::Ok();
}

Status SaTx::UpdateAccount(const AccountRow& r) {
  SQLite::Statement& q = Stmt("UPDATE acme_accounts SET contact = ?, status = ?, jwk = ?, "
                      "key_thumbprint = ?, tos_agreed = ? WHERE id = ?");
  q.bind(1, r.contact.dump());
  q.bind(2, r.status);
  q.bind(3, r.jwk);
  q.bind(4, r.thumbprint);
  q.bind(5, r.tos_agreed ? 1 : 0);
  q.bind(6, r.id);
  q.exec();
  return core::Ok();
}

Result<std::optional<EabKeyRow>> SaTx::EabKey(const std::string& kid) {
  return One<EabKeyRow>(
      *this, "SELECT id, kid, hmac_key, owner, IFNULL(bound_account_id, 0), expires_at "
           "FROM acme_eab_keys WHERE kid = ?",
      [](SQLite::Statement& q) {
        return EabKeyRow{q.getColumn(0).getInt64(), q.getColumn(1).getString(),
                         Blob(q.getColumn(2)), q.getColumn(3).getString(),
                         q.getColumn(4).getInt64(), q.getColumn(5).getInt64()};
      },
      [&](SQLite::Statement& q) { q.bind(1, kid); });
}

Status SaTx::InsertEabKey(const EabKeyRow& r) {
  SQLite::Statement& q = Stmt("INSERT INTO acme_eab_keys(kid, hmac_key, owner, created_at, "
                           "expires_at) VALUES(?,?,?,?,?)");
  q.bind(1, r.kid);
  q.bind(2, r.hmac_key.data(), static_cast<int>(r.hmac_key.size()));
  q.bind(3, r.owner);
  q.bind(4, Us(now_));
  q.bind(5, r.expires_at_us);
  q.exec();
  return core::Ok();
}

Result<std::vector<EabKeyInfo>> SaTx::EabKeysOf(const std::string& owner) {
  SQLite::Statement& q = Stmt(
      "SELECT e.kid, e.created_at, e.expires_at, IFNULL(e.bound_at, 0), IFNULL(a.public_id, '') "
      "FROM acme_eab_keys e LEFT JOIN acme_accounts a ON a.id = e.bound_account_id "
      "WHERE e.owner = ? ORDER BY e.id");
  q.bind(1, owner);
  std::vector<EabKeyInfo> out;
  while (q.executeStep()) {
    EabKeyInfo k;
    k.kid = q.getColumn(0).getString();
    k.created_at = Tp(q.getColumn(1).getInt64());
    if (int64_t e = q.getColumn(2).getInt64(); e != 0) k.expires_at = Tp(e);
    if (int64_t b = q.getColumn(3).getInt64(); b != 0) k.bound_at = Tp(b);
    k.account_id = q.getColumn(4).getString();
    out.push_back(std::move(k));
  }
  return out;
}

// Columns 0-9 of both EAB certificate queries: cursor, public id, serial, names, not_before,
// not_after, revoked_at, created_at, kid, account public id.
static EabCertificate EabCertificateRow(SQLite::Statement& q) {
    EabCertificate c;
    c.cursor = q.getColumn(0).getInt64();
    c.id = q.getColumn(1).getString();
    c.serial = q.getColumn(2).getString();
    for (const auto& id : IdentifiersFromJson(core::Json::parse(q.getColumn(3).getString(),
                                                                 nullptr, false)))
      c.names.push_back(id.value);
    c.not_before = Tp(q.getColumn(4).getInt64());
    c.not_after = Tp(q.getColumn(5).getInt64());
    c.revoked = q.getColumn(6).getInt64() != 0;
    c.issued_at = Tp(q.getColumn(7).getInt64());
    c.eab_kid = q.getColumn(8).getString();
    c.account_id = q.getColumn(9).getString();
  return c;
}

Result<std::vector<EabCertificate>> SaTx::EabCertificatesSince(const std::string& owner_prefix,
                                                              int64_t after, int limit) {
  // Certificates by row (issuance order; one writer), each joined to its account's EAB key.
  SQLite::Statement& q = Stmt(
      "SELECT c.id, c.public_id, c.serial, c.names, c.not_before, c.not_after, c.revoked_at, "
      "c.created_at, e.kid, a.public_id, e.owner FROM acme_certificates c "
      "JOIN acme_eab_keys e ON e.bound_account_id = c.account_id "
      "JOIN acme_accounts a ON a.id = c.account_id "
      "WHERE c.id > ? AND substr(e.owner, 1, length(?)) = ? ORDER BY c.id LIMIT ?");
  q.bind(1, after);
  q.bind(2, owner_prefix);
  q.bind(3, owner_prefix);
  q.bind(4, limit);
  std::vector<EabCertificate> out;
  while (q.executeStep()) {
    EabCertificate c = EabCertificateRow(q);
    c.owner = q.getColumn(10).getString();
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<EabCertificate>> SaTx::CertificatesOfEabOwner(const std::string& owner,
                                                                int64_t after, int limit) {
  // Owner's bound accounts -> their orders (acme_orders_account) -> the certificate by public id.
  SQLite::Statement& q = Stmt(
      "SELECT o.id, c.public_id, c.serial, c.names, c.not_before, c.not_after, c.revoked_at, "
      "c.created_at, e.kid, a.public_id FROM acme_eab_keys e "
      "JOIN acme_accounts a ON a.id = e.bound_account_id "
      "JOIN acme_orders o ON o.account_id = e.bound_account_id AND o.id > ? "
      "JOIN acme_certificates c ON c.public_id = o.certificate_id "
      "WHERE e.owner = ? AND o.certificate_id != '' ORDER BY o.id LIMIT ?");
  q.bind(1, after);
  q.bind(2, owner);
  q.bind(3, limit);
  std::vector<EabCertificate> out;
  while (q.executeStep()) {
    out.push_back(EabCertificateRow(q));
  }
  return out;
}

Status SaTx::BindEabKey(int64_t eab_id, int64_t account_id) {
  SQLite::Statement& q = Stmt("UPDATE acme_eab_keys SET bound_account_id = ?, bound_at = ? "
                           "WHERE id = ? AND bound_account_id IS NULL");
  q.bind(1, account_id);
  q.bind(2, Us(now_));
  q.bind(3, eab_id);
  if (q.exec() != 1) {
    return Fail(core::ErrorCode::kAcmeUnauthorized,
                "this external account key is already bound to an account");
  }
  return core::Ok();
}

Status SaTx::InsertAuthz(AuthzRow& r) {
  SQLite::Statement& q = Stmt("INSERT INTO acme_authz(public_id, account_id, identifier_type, "
                      "identifier_value, wildcard, status, expires, token, challenge_types, "
                      "created_at) VALUES(?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, r.public_id);
  q.bind(2, r.account_id);
  q.bind(3, r.identifier.type);
  q.bind(4, r.identifier.value);
  q.bind(5, r.wildcard ? 1 : 0);
  q.bind(6, r.status);
  q.bind(7, Us(r.expires));
  q.bind(8, r.token);
  q.bind(9, Join(r.challenge_types));
  q.bind(10, Us(r.created_at));
  q.exec();
  r.id = db_.getLastInsertRowid();
  return core::Ok();
}

Status SaTx::UpdateAuthz(const AuthzRow& r) {
  SQLite::Statement& q = Stmt("UPDATE acme_authz SET status = ?, chall_type = ?, chall_status = ?, "
                      "validated_at = ?, error = ?, validation_record = ?, expires = ?, "
                      "processing_since = ? WHERE id = ?");
  q.bind(1, r.status);
  q.bind(2, r.chall_type);
  q.bind(3, r.chall_status);
  q.bind(4, Us(r.validated_at));
  q.bind(5, r.error);
  q.bind(6, r.validation_record);
  q.bind(7, Us(r.expires));
  q.bind(8, r.chall_status == "processing" ? Us(r.processing_since) : int64_t{0});
  q.bind(9, r.id);
  q.exec();
  return core::Ok();
}

Result<std::vector<std::string>> SaTx::StaleProcessingAuthz(TimePoint before, int limit) {
  SQLite::Statement& q = Stmt("SELECT public_id FROM acme_authz WHERE chall_status = 'processing' "
                           "AND processing_since < ? ORDER BY processing_since LIMIT ?");
  q.bind(1, Us(before));
  q.bind(2, limit);
  std::vector<std::string> out;
  while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  return out;
}

Result<std::optional<AuthzRow>> SaTx::AuthzByPublicId(const std::string& id) {
  return One<AuthzRow>(*this, std::string("SELECT ") + kAuthzCols +
                                " FROM acme_authz WHERE public_id = ?",
                       ReadAuthz, [&](SQLite::Statement& q) { q.bind(1, id); });
}

Result<std::optional<AuthzRow>> SaTx::ReusableAuthz(int64_t account_id, const core::Identifier& id,
                                                    bool wildcard, TimePoint valid_until) {
  return One<AuthzRow>(
      *this,
      std::string("SELECT ") + kAuthzCols +
          " FROM acme_authz WHERE account_id = ? AND identifier_type = ? AND "
          "identifier_value = ? AND wildcard = ? AND ((status = 'valid' AND expires > ?) OR "
          "(status = 'pending' AND expires > ?)) ORDER BY status = 'valid' DESC, id DESC LIMIT 1",
      ReadAuthz, [&](SQLite::Statement& q) {
        q.bind(1, account_id);
        q.bind(2, id.type);
        q.bind(3, id.value);
        q.bind(4, wildcard ? 1 : 0);
        q.bind(5, Us(valid_until));
        q.bind(6, Us(now_));
      });
}

Result<bool> SaTx::HasValidAuthzFor(int64_t account_id, const std::vector<core::Identifier>& ids) {
  SQLite::Statement& q = Stmt("SELECT 1 FROM acme_authz WHERE account_id = ? AND identifier_type = ? AND "
                      "identifier_value = ? AND status = 'valid' AND expires > ? LIMIT 1");
  for (const auto& id : ids) {
    std::string value = id.value;
    if (value.rfind("*.", 0) == 0) value = value.substr(2);
    q.reset();
    q.bind(1, account_id);
    q.bind(2, id.type);
    q.bind(3, value);
    q.bind(4, Us(now_));
    if (!q.executeStep()) return false;
  }
  return true;
}

Status SaTx::InsertOrder(OrderRow& r) {
  SQLite::Statement& q = Stmt("INSERT INTO acme_orders(public_id, account_id, status, identifiers, authz, "
                      "profile, replaces, not_before, not_after, expires, created_at, updated_at) "
                      "VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, r.public_id);
  q.bind(2, r.account_id);
  q.bind(3, r.status);
  q.bind(4, IdentifiersToJson(r.identifiers).dump());
  q.bind(5, core::Json(r.authz).dump());
  q.bind(6, r.profile);
  q.bind(7, r.replaces);
  q.bind(8, Us(r.not_before));
  q.bind(9, Us(r.not_after));
  q.bind(10, Us(r.expires));
  q.bind(11, Us(r.created_at));
  q.bind(12, Us(r.created_at));
  q.exec();
  r.id = db_.getLastInsertRowid();
  return core::Ok();
}

Status SaTx::UpdateOrder(const OrderRow& r) {
  SQLite::Statement& q = Stmt("UPDATE acme_orders SET status = ?, error = ?, certificate_id = ?, "
                           "updated_at = ? WHERE id = ?");
  q.bind(1, r.status);
  q.bind(2, r.error);
  q.bind(3, r.certificate_id);
  q.bind(4, Us(now_));
  q.bind(5, r.id);
  q.exec();
  return core::Ok();
}

Result<std::optional<OrderRow>> SaTx::OrderByPublicId(const std::string& id) {
  return One<OrderRow>(*this, std::string("SELECT ") + kOrderCols +
                                " FROM acme_orders WHERE public_id = ?",
                       ReadOrder, [&](SQLite::Statement& q) { q.bind(1, id); });
}

Result<std::optional<OrderRow>> SaTx::OrderById(int64_t id) {
  return One<OrderRow>(*this, std::string("SELECT ") + kOrderCols + " FROM acme_orders WHERE id = ?",
                       ReadOrder, [&](SQLite::Statement& q) { q.bind(1, id); });
}

Result<std::vector<std::pair<int64_t, std::string>>> SaTx::OrdersOfAccount(int64_t account_id,
                                                                           int64_t after,
                                                                           int limit) {
  SQLite::Statement& q = Stmt("SELECT id, public_id FROM acme_orders WHERE account_id = ? AND id > ? "
                           "ORDER BY id LIMIT ?");
  q.bind(1, account_id);
  q.bind(2, after);
  q.bind(3, limit);
  std::vector<std::pair<int64_t, std::string>> out;
  while (q.executeStep()) out.emplace_back(q.getColumn(0).getInt64(), q.getColumn(1).getString());
  return out;
}

Status SaTx::InsertCertificate(CertRow& r) {
  SQLite::Statement& q = Stmt("INSERT INTO acme_certificates(public_id, serial, ari_id, account_id, "
                      "order_id, issuer_id, profile, names, spki_hash, der, not_before, not_after, "
                      "created_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, r.public_id);
  q.bind(2, r.serial);
  q.bind(3, r.ari_id);
  q.bind(4, r.account_id);
  q.bind(5, r.order_id);
  q.bind(6, r.issuer_id);
  q.bind(7, r.profile);
  q.bind(8, IdentifiersToJson(r.names).dump());
  q.bind(9, r.spki_hash);
  q.bind(10, r.der.data(), static_cast<int>(r.der.size()));
  q.bind(11, Us(r.not_before));
  q.bind(12, Us(r.not_after));
  q.bind(13, Us(now_));
  q.exec();
  r.id = db_.getLastInsertRowid();
  return core::Ok();
}

Result<std::optional<CertRow>> SaTx::CertByPublicId(const std::string& id) {
  return One<CertRow>(*this, std::string("SELECT ") + kCertCols +
                               " FROM acme_certificates WHERE public_id = ?",
                      ReadCert, [&](SQLite::Statement& q) { q.bind(1, id); });
}

Result<std::optional<CertRow>> SaTx::CertBySerial(const std::string& serial) {
  return One<CertRow>(*this, std::string("SELECT ") + kCertCols +
                               " FROM acme_certificates WHERE serial = ?",
                      ReadCert, [&](SQLite::Statement& q) { q.bind(1, serial); });
}

Result<std::optional<CertRow>> SaTx::CertByAriId(const std::string& ari_id) {
  return One<CertRow>(*this, std::string("SELECT ") + kCertCols +
                               " FROM acme_certificates WHERE ari_id = ?",
                      ReadCert, [&](SQLite::Statement& q) { q.bind(1, ari_id); });
}

Status SaTx::MarkReplaced(int64_t cert_id, const std::string& order_public_id) {
  SQLite::Statement& q = Stmt("UPDATE acme_certificates SET replaced_by = ? WHERE id = ?");
  q.bind(1, order_public_id);
  q.bind(2, cert_id);
  q.exec();
  return core::Ok();
}

Status SaTx::Revoke(int64_t cert_id, int reason) {
  SQLite::Statement& q = Stmt("UPDATE acme_certificates SET revoked_at = ?, revoked_reason = ? "
                           "WHERE id = ? AND revoked_at = 0");
  q.bind(1, Us(now_));
  q.bind(2, reason);
  q.bind(3, cert_id);
  if (q.exec() != 1) {
    return Fail(core::ErrorCode::kAcmeAlreadyRevoked, "certificate is already revoked");
  }
  return core::Ok();
}

Result<std::vector<std::pair<std::string, std::pair<TimePoint, int>>>> SaTx::RevokedOf(
    const std::string& issuer_id) {
  // Expired certificates drop off the CRL an hour after notAfter.
  SQLite::Statement& q = Stmt("SELECT serial, revoked_at, revoked_reason FROM acme_certificates "
                           "WHERE issuer_id = ? AND revoked_at > 0 AND not_after > ?");
  q.bind(1, issuer_id);
  q.bind(2, Us(now_ - std::chrono::hours(1)));
  std::vector<std::pair<std::string, std::pair<TimePoint, int>>> out;
  while (q.executeStep()) {
    out.push_back({q.getColumn(0).getString(),
                   {Tp(q.getColumn(1).getInt64()), q.getColumn(2).getInt()}});
  }
  return out;
}

Result<bool> SaTx::IsKeyBlocked(const std::string& spki_hash) {
  SQLite::Statement& q = Stmt("SELECT 1 FROM acme_blocked_keys WHERE spki_hash = ?");
  q.bind(1, spki_hash);
  return q.executeStep();
}

Status SaTx::BlockKey(const std::string& spki_hash, const std::string& reason) {
  SQLite::Statement& q = Stmt("INSERT OR IGNORE INTO acme_blocked_keys(spki_hash, reason, added_at) "
                           "VALUES(?,?,?)");
  q.bind(1, spki_hash);
  q.bind(2, reason);
  q.bind(3, Us(now_));
  q.exec();
  return core::Ok();
}

Result<std::optional<CrlRow>> SaTx::Crl(const std::string& issuer_id) {
  return One<CrlRow>(
      *this, "SELECT issuer_id, number, der, this_update, next_update, dirty_since FROM acme_crls "
           "WHERE issuer_id = ?",
      [](SQLite::Statement& q) {
        return CrlRow{q.getColumn(0).getString(), q.getColumn(1).getInt64(),
                      Blob(q.getColumn(2)), Tp(q.getColumn(3).getInt64()),
                      Tp(q.getColumn(4).getInt64()), q.getColumn(5).getInt64()};
      },
      [&](SQLite::Statement& q) { q.bind(1, issuer_id); });
}

Status SaTx::PutCrl(const CrlRow& r) {
  SQLite::Statement& q = Stmt("INSERT OR REPLACE INTO acme_crls(issuer_id, number, der, this_update, "
                           "next_update, dirty_since) VALUES(?,?,?,?,?,?)");
  q.bind(1, r.issuer_id);
  q.bind(2, r.number);
  q.bind(3, r.der.data(), static_cast<int>(r.der.size()));
  q.bind(4, Us(r.this_update));
  q.bind(5, Us(r.next_update));
  q.bind(6, r.dirty_since);
  q.exec();
  return core::Ok();
}

Status SaTx::MarkCrlDirty(const std::string& issuer_id) {
  SQLite::Statement& q = Stmt("UPDATE acme_crls SET dirty_since = ? WHERE issuer_id = ? AND "
                           "dirty_since = 0");
  q.bind(1, Us(now_));
  q.bind(2, issuer_id);
  q.exec();
  return core::Ok();
}

Status SaTx::RecordNonce(const CheckedNonce& nonce) {
  SQLite::Statement& q = Stmt("INSERT OR IGNORE INTO acme_used_nonces(id, expires) VALUES(?, ?)");
  q.bind(1, nonce.id.data(), static_cast<int>(nonce.id.size()));
  q.bind(2, static_cast<int64_t>(nonce.expires));
  q.exec();
  if (db_.getChanges() != 1) {
    return Fail(core::ErrorCode::kAcmeBadNonce, "JWS nonce has already been used");
  }
  PruneUsedNonces(db_, Us(now_), nonce);
  return core::Ok();
}

Result<RateDecision> SaTx::RateLimit(const std::string& key, int64_t count, core::Duration period,
                                     bool spend) {
  RateDecision d;
  if (count <= 0) return d;  // 0 disables the limit
  const int64_t now = Us(now_);
  const int64_t interval = period.count() / count;
  SQLite::Statement& q = Stmt("SELECT tat FROM acme_rate_limits WHERE key = ?");
  q.bind(1, key);
  int64_t tat = now;
  if (q.executeStep()) tat = std::max(now, q.getColumn(0).getInt64());
  d.used = (tat - now + interval - 1) / std::max<int64_t>(interval, 1);
  if (!spend) return d;
  const int64_t new_tat = tat + interval;
  if (new_tat - now > period.count()) {
    d.allowed = false;
    d.retry_after_seconds = static_cast<int>((new_tat - period.count() - now) / 1000000 + 1);
    return d;
  }
  SQLite::Statement& up = Stmt("INSERT OR REPLACE INTO acme_rate_limits(key, tat) VALUES(?, ?)");
  up.bind(1, key);
  up.bind(2, new_tat);
  up.exec();
  d.used += 1;
  return d;
}

Result<std::string> SaTx::PruneRateLimits(const std::string& after, int limit, int64_t* deleted) {
  const int64_t now = Us(now_);
  SQLite::Statement& q =
      Stmt("SELECT key, tat FROM acme_rate_limits WHERE key > ? ORDER BY key LIMIT ?");
  q.bind(1, after);
  q.bind(2, limit);
  std::vector<std::string> gone;
  std::string last;
  int rows = 0;
  while (q.executeStep()) {
    ++rows;
    last = q.getColumn(0).getString();
    if (q.getColumn(1).getInt64() <= now) gone.push_back(last);
  }
  SQLite::Statement& del = Stmt("DELETE FROM acme_rate_limits WHERE key = ? AND tat <= ?");
  for (const auto& key : gone) {
    del.reset();
    del.bind(1, key);
    del.bind(2, now);
    del.exec();
    *deleted += db_.getChanges();
  }
  return rows < limit ? std::string() : last;
}

Result<int64_t> Sa::PruneRateLimits(int chunk, const std::function<bool()>& stop) {
  int64_t deleted = 0;
  std::string cursor;
  do {
    HP_ASSIGN_OR_RETURN(cursor, Write([&](SaTx& tx) { return tx.PruneRateLimits(cursor, chunk, &deleted); }));
  } while (!cursor.empty() && !(stop && stop()));
  return deleted;
}

}  // namespace hp::acme
