#include "tenancy_store.h"

#include "hp/core/random.h"

namespace hp::cp::store {
namespace {

std::vector<std::string> JsonList(const std::string& s) {
  std::vector<std::string> out;
  auto j = core::Json::parse(s, nullptr, false);
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}
std::string ToJsonList(const std::vector<std::string>& v) { return core::Json(v).dump(); }

core::Error NotFound(const std::string& what) { return core::Error(core::ErrorCode::kNotFound, what + " not found"); }

constexpr const char* kOrgCols =
    "o.id, o.public_id, o.name, o.status, o.partner_id, p.public_id, o.ip_allowlist, o.version, o.created_at, o.updated_at";
Organization ReadOrg(SQLite::Statement& q) {
  Organization o;
  o.row = q.getColumn(0).getInt64();
  o.id = q.getColumn(1).getString();
  o.name = q.getColumn(2).getString();
  o.status = q.getColumn(3).getString();
  o.partner_row = q.getColumn(4).getInt64();
  o.partner_id = q.getColumn(5).getString();
  o.ip_allowlist = JsonList(q.getColumn(6).getString());
  o.version = q.getColumn(7).getInt64();
  o.created_at = q.getColumn(8).getInt64();
  o.updated_at = q.getColumn(9).getInt64();
  return o;
}

constexpr const char* kUserCols =
    "id, public_id, email, name, password_hash, totp_secret, email_verified, is_staff, totp_enabled, totp_last_step, "
    "failed_logins, locked_until, created_at";
User ReadUser(SQLite::Statement& q) {
  User u;
  u.row = q.getColumn(0).getInt64();
  u.id = q.getColumn(1).getString();
  u.email = q.getColumn(2).getString();
  u.name = q.getColumn(3).getString();
  u.password_hash = q.getColumn(4).getString();
  u.totp_secret = q.getColumn(5).getString();
  u.email_verified = q.getColumn(6).getInt() != 0;
  u.is_staff = q.getColumn(7).getInt() != 0;
  u.totp_enabled = q.getColumn(8).getInt() != 0;
  u.totp_last_step = q.getColumn(9).getInt64();
  u.failed_logins = q.getColumn(10).getInt();
  u.locked_until = q.getColumn(11).getInt64();
  u.created_at = q.getColumn(12).getInt64();
  return u;
}

constexpr const char* kTokenCols =
    "t.id, t.organization_id, t.user_id, t.public_id, o.public_id, u.public_id, t.name, t.secret_hash, t.scopes, "
    "t.ip_allowlist, t.expires_at, t.last_used_at, t.revoked_at, t.created_at";
Token ReadToken(SQLite::Statement& q) {
  Token t;
  t.row = q.getColumn(0).getInt64();
  t.org_row = q.getColumn(1).getInt64();
  t.user_row = q.getColumn(2).getInt64();
  t.id = q.getColumn(3).getString();
  t.org_id = q.getColumn(4).getString();
  t.user_id = q.getColumn(5).getString();
  t.name = q.getColumn(6).getString();
  t.secret_hash = q.getColumn(7).getString();
  t.scopes = JsonList(q.getColumn(8).getString());
  t.ip_allowlist = JsonList(q.getColumn(9).getString());
  t.expires_at = q.getColumn(10).getInt64();
  t.last_used_at = q.getColumn(11).getInt64();
  t.revoked_at = q.getColumn(12).getInt64();
  t.created_at = q.getColumn(13).getInt64();
  return t;
}

constexpr const char* kInvCols =
    "i.id, i.organization_id, i.public_id, o.public_id, i.email, i.role, i.expires_at, i.accepted_at, i.revoked_at, i.created_at";
Invitation ReadInv(SQLite::Statement& q) {
  Invitation v;
  v.row = q.getColumn(0).getInt64();
  v.org_row = q.getColumn(1).getInt64();
  v.id = q.getColumn(2).getString();
  v.org_id = q.getColumn(3).getString();
  v.email = q.getColumn(4).getString();
  v.role = q.getColumn(5).getString();
  v.expires_at = q.getColumn(6).getInt64();
  v.accepted_at = q.getColumn(7).getInt64();
  v.revoked_at = q.getColumn(8).getInt64();
  v.created_at = q.getColumn(9).getInt64();
  return v;
}

}  // namespace

int64_t Now(const core::Clock& clock) { return core::ToUnixMicros(clock.Now()); }

core::Result<Partner> CreatePartner(Tx& tx, const std::string& name, const std::string& channel, int64_t now) {
  Partner p{0, core::NewPublicId(), name, channel, "active", now};
  SQLite::Statement q(tx, "INSERT INTO partners(public_id, name, channel, created_at) VALUES (?,?,?,?)");
  q.bind(1, p.id);
  q.bind(2, name);
  q.bind(3, channel);
  q.bind(4, static_cast<int64_t>(now));
  q.exec();
  p.row = tx.getLastInsertRowid();
  return p;
}

core::Result<Partner> GetPartner(Tx& tx, const std::string& id) {
  SQLite::Statement q(tx, "SELECT id, public_id, name, channel, status, created_at FROM partners WHERE public_id=?");
  q.bind(1, id);
  if (!q.executeStep()) return core::Fail(NotFound("partner " + id));
  return Partner{q.getColumn(0).getInt64(), q.getColumn(1).getString(), q.getColumn(2).getString(),
                 q.getColumn(3).getString(), q.getColumn(4).getString(), q.getColumn(5).getInt64()};
}

core::Result<std::vector<Partner>> ListPartners(Tx& tx, int64_t after_row, int limit) {
  SQLite::Statement q(tx, "SELECT id, public_id, name, channel, status, created_at FROM partners WHERE id > ? ORDER BY id LIMIT ?");
  q.bind(1, static_cast<int64_t>(after_row));
  q.bind(2, limit);
  std::vector<Partner> out;
  while (q.executeStep())
    out.push_back({q.getColumn(0).getInt64(), q.getColumn(1).getString(), q.getColumn(2).getString(),
                   q.getColumn(3).getString(), q.getColumn(4).getString(), q.getColumn(5).getInt64()});
  return out;
}

core::Result<Organization> CreateOrganization(Tx& tx, int64_t partner_row, const std::string& name, int64_t now) {
  std::string id = core::NewPublicId();
  SQLite::Statement q(tx, "INSERT INTO organizations(public_id, partner_id, name, created_at, updated_at) VALUES (?,?,?,?,?)");
  q.bind(1, id);
  q.bind(2, static_cast<int64_t>(partner_row));
  q.bind(3, name);
  q.bind(4, static_cast<int64_t>(now));
  q.bind(5, static_cast<int64_t>(now));
  q.exec();
  return GetOrganization(tx, id);
}

core::Result<Organization> GetOrganization(Tx& tx, const std::string& id) {
  SQLite::Statement q(tx, std::string("SELECT ") + kOrgCols +
                              " FROM organizations o JOIN partners p ON p.id=o.partner_id WHERE o.public_id=?");
  q.bind(1, id);
  if (!q.executeStep()) return core::Fail(NotFound("organization " + id));
  return ReadOrg(q);
}

core::Result<std::vector<Organization>> ListOrganizationsOfUser(Tx& tx, int64_t user_row, int64_t after_row, int limit) {
  SQLite::Statement q(tx, std::string("SELECT ") + kOrgCols +
                              " FROM organizations o JOIN partners p ON p.id=o.partner_id JOIN memberships m ON "
                              "m.organization_id=o.id WHERE m.user_id=? AND o.id > ? ORDER BY o.id LIMIT ?");
  q.bind(1, static_cast<int64_t>(user_row));
  q.bind(2, static_cast<int64_t>(after_row));
  q.bind(3, limit);
  std::vector<Organization> out;
  while (q.executeStep()) out.push_back(ReadOrg(q));
  return out;
}

core::Result<std::vector<Organization>> ListOrganizations(Tx& tx, const std::string& partner_id, int64_t after_row, int limit) {
  std::string sql = std::string("SELECT ") + kOrgCols +
                    " FROM organizations o JOIN partners p ON p.id=o.partner_id WHERE o.id > :after";
  if (!partner_id.empty()) sql += " AND p.public_id = :partner";
  sql += " ORDER BY o.id LIMIT :limit";
  SQLite::Statement q(tx, sql);
  q.bind(":after", static_cast<int64_t>(after_row));
  if (!partner_id.empty()) q.bind(":partner", partner_id);
  q.bind(":limit", limit);
  std::vector<Organization> out;
  while (q.executeStep()) out.push_back(ReadOrg(q));
  return out;
}

core::Status UpdateOrganization(Tx& tx, const Organization& o, int64_t now) {
  SQLite::Statement q(tx, "UPDATE organizations SET name=?, ip_allowlist=?, version=version+1, updated_at=? WHERE id=? AND version=?");
  q.bind(1, o.name);
  q.bind(2, ToJsonList(o.ip_allowlist));
  q.bind(3, static_cast<int64_t>(now));
  q.bind(4, static_cast<int64_t>(o.row));
  q.bind(5, static_cast<int64_t>(o.version));
  if (q.exec() != 1) return core::Fail(core::ErrorCode::kPreconditionFailed, "the organization was changed meanwhile; reload it and retry");
  return core::Ok();
}

core::Status SetOrganizationStatus(Tx& tx, int64_t org_row, const std::string& status, int64_t now) {
  SQLite::Statement q(tx, "UPDATE organizations SET status=?, version=version+1, updated_at=? WHERE id=?");
  q.bind(1, status);
  q.bind(2, static_cast<int64_t>(now));
  q.bind(3, static_cast<int64_t>(org_row));
  q.exec();
  return core::Ok();
}

core::Result<User> CreateUser(Tx& tx, const std::string& email, const std::string& name, const std::string& password_hash,
                              bool staff, int64_t now) {
  SQLite::Statement dup(tx, "SELECT 1 FROM users WHERE email=?");
  dup.bind(1, email);
  if (dup.executeStep())
    return core::FailField(core::ErrorCode::kAlreadyExists, "email", "an account with this e-mail address already exists");
  SQLite::Statement q(tx, "INSERT INTO users(public_id, email, name, password_hash, is_staff, email_verified, "
                          "password_changed_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)");
  q.bind(1, core::NewPublicId());
  q.bind(2, email);
  q.bind(3, name);
  q.bind(4, password_hash);
  q.bind(5, staff ? 1 : 0);
  q.bind(6, staff ? 1 : 0);
  q.bind(7, static_cast<int64_t>(now));
  q.bind(8, static_cast<int64_t>(now));
  q.bind(9, static_cast<int64_t>(now));
  q.exec();
  return GetUserByRow(tx, tx.getLastInsertRowid());
}

core::Result<std::optional<User>> FindUserByEmail(Tx& tx, const std::string& email) {
  SQLite::Statement q(tx, std::string("SELECT ") + kUserCols + " FROM users WHERE email=?");
  q.bind(1, email);
  if (!q.executeStep()) return std::optional<User>();
  return std::optional<User>(ReadUser(q));
}

core::Result<User> GetUserByRow(Tx& tx, int64_t row) {
  SQLite::Statement q(tx, std::string("SELECT ") + kUserCols + " FROM users WHERE id=?");
  q.bind(1, static_cast<int64_t>(row));
  if (!q.executeStep()) return core::Fail(NotFound("user"));
  return ReadUser(q);
}

core::Status SaveUserSecurity(Tx& tx, const User& u, int64_t now) {
  SQLite::Statement q(tx, "UPDATE users SET password_hash=?, totp_secret=?, totp_enabled=?, totp_last_step=?, "
                          "failed_logins=?, locked_until=?, email_verified=?, name=?, updated_at=? WHERE id=?");
  q.bind(1, u.password_hash);
  q.bind(2, u.totp_secret);
  q.bind(3, u.totp_enabled ? 1 : 0);
  q.bind(4, static_cast<int64_t>(u.totp_last_step));
  q.bind(5, u.failed_logins);
  q.bind(6, static_cast<int64_t>(u.locked_until));
  q.bind(7, u.email_verified ? 1 : 0);
  q.bind(8, u.name);
  q.bind(9, static_cast<int64_t>(now));
  q.bind(10, static_cast<int64_t>(u.row));
  q.exec();
  return core::Ok();
}

core::Result<std::optional<std::string>> RoleOf(Tx& tx, int64_t org_row, int64_t user_row) {
  SQLite::Statement q(tx, "SELECT role FROM memberships WHERE organization_id=? AND user_id=?");
  q.bind(1, static_cast<int64_t>(org_row));
  q.bind(2, static_cast<int64_t>(user_row));
  if (!q.executeStep()) return std::optional<std::string>();
  return std::optional<std::string>(q.getColumn(0).getString());
}

core::Status AddMember(Tx& tx, int64_t org_row, int64_t user_row, const std::string& role, int64_t now) {
  SQLite::Statement q(tx, "INSERT INTO memberships(organization_id, user_id, role, created_at) VALUES (?,?,?,?) "
                          "ON CONFLICT(organization_id, user_id) DO NOTHING");
  q.bind(1, static_cast<int64_t>(org_row));
  q.bind(2, static_cast<int64_t>(user_row));
  q.bind(3, role);
  q.bind(4, static_cast<int64_t>(now));
  if (q.exec() != 1) return core::Fail(core::ErrorCode::kAlreadyExists, "already a member of this organization");
  return core::Ok();
}

core::Result<std::vector<Member>> ListMembers(Tx& tx, int64_t org_row) {
  SQLite::Statement q(tx, "SELECT u.public_id, u.email, u.name, m.role, m.created_at FROM memberships m JOIN users u "
                          "ON u.id=m.user_id WHERE m.organization_id=? ORDER BY m.created_at, u.id");
  q.bind(1, static_cast<int64_t>(org_row));
  std::vector<Member> out;
  while (q.executeStep())
    out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(2).getString(),
                   q.getColumn(3).getString(), q.getColumn(4).getInt64()});
  return out;
}

core::Result<std::optional<std::pair<int64_t, std::string>>> FindMember(Tx& tx, int64_t org_row, const std::string& user_id) {
  SQLite::Statement q(tx, "SELECT u.id, m.role FROM memberships m JOIN users u ON u.id=m.user_id WHERE m.organization_id=? AND u.public_id=?");
  q.bind(1, static_cast<int64_t>(org_row));
  q.bind(2, user_id);
  if (!q.executeStep()) return std::optional<std::pair<int64_t, std::string>>();
  return std::optional<std::pair<int64_t, std::string>>(std::make_pair(q.getColumn(0).getInt64(), q.getColumn(1).getString()));
}

core::Status SetMemberRole(Tx& tx, int64_t org_row, int64_t user_row, const std::string& role) {
  SQLite::Statement q(tx, "UPDATE memberships SET role=? WHERE organization_id=? AND user_id=?");
  q.bind(1, role);
  q.bind(2, static_cast<int64_t>(org_row));
  q.bind(3, static_cast<int64_t>(user_row));
  q.exec();
  return core::Ok();
}

core::Status RemoveMember(Tx& tx, int64_t org_row, int64_t user_row) {
  SQLite::Statement q(tx, "DELETE FROM memberships WHERE organization_id=? AND user_id=?");
  q.bind(1, static_cast<int64_t>(org_row));
  q.bind(2, static_cast<int64_t>(user_row));
  q.exec();
  // The member's tokens for this organization stop working with the membership.
  SQLite::Statement t(tx, "UPDATE api_tokens SET revoked_at=CASE WHEN revoked_at=0 THEN created_at ELSE revoked_at END "
                          "WHERE organization_id=? AND user_id=?");
  t.bind(1, static_cast<int64_t>(org_row));
  t.bind(2, static_cast<int64_t>(user_row));
  t.exec();
  return core::Ok();
}

core::Result<int> CountOwners(Tx& tx, int64_t org_row) {
  SQLite::Statement q(tx, "SELECT COUNT(*) FROM memberships WHERE organization_id=? AND role='owner'");
  q.bind(1, static_cast<int64_t>(org_row));
  q.executeStep();
  return q.getColumn(0).getInt();
}

core::Result<std::vector<std::vector<std::string>>> AllowlistsOfUser(Tx& tx, int64_t user_row) {
  SQLite::Statement q(tx, "SELECT o.ip_allowlist FROM organizations o JOIN memberships m ON m.organization_id=o.id WHERE m.user_id=?");
  q.bind(1, static_cast<int64_t>(user_row));
  std::vector<std::vector<std::string>> out;
  while (q.executeStep()) out.push_back(JsonList(q.getColumn(0).getString()));
  return out;
}

core::Status CreateSession(Tx& tx, const std::string& token_hash, int64_t user_row, const std::string& csrf_hash,
                           const std::string& ip, int64_t now, int64_t expires_at) {
  SQLite::Statement q(tx, "INSERT INTO sessions(token_hash, user_id, csrf_hash, source_ip, created_at, last_seen_at, expires_at) "
                          "VALUES (?,?,?,?,?,?,?)");
  q.bind(1, token_hash);
  q.bind(2, static_cast<int64_t>(user_row));
  q.bind(3, csrf_hash);
  q.bind(4, ip);
  q.bind(5, static_cast<int64_t>(now));
  q.bind(6, static_cast<int64_t>(now));
  q.bind(7, static_cast<int64_t>(expires_at));
  q.exec();
  return core::Ok();
}

core::Result<std::optional<Session>> FindSession(Tx& tx, const std::string& token_hash) {
  SQLite::Statement q(tx, "SELECT id, user_id, csrf_hash, created_at, last_seen_at, expires_at, revoked_at FROM sessions WHERE token_hash=?");
  q.bind(1, token_hash);
  if (!q.executeStep()) return std::optional<Session>();
  return std::optional<Session>(Session{q.getColumn(0).getInt64(), q.getColumn(1).getInt64(), q.getColumn(2).getString(),
                                        q.getColumn(3).getInt64(), q.getColumn(4).getInt64(), q.getColumn(5).getInt64(),
                                        q.getColumn(6).getInt64()});
}

core::Status TouchSession(Tx& tx, int64_t row, int64_t now) {
  SQLite::Statement q(tx, "UPDATE sessions SET last_seen_at=? WHERE id=?");
  q.bind(1, static_cast<int64_t>(now));
  q.bind(2, static_cast<int64_t>(row));
  q.exec();
  return core::Ok();
}
core::Status RevokeSession(Tx& tx, int64_t row, int64_t now) {
  SQLite::Statement q(tx, "UPDATE sessions SET revoked_at=? WHERE id=? AND revoked_at=0");
  q.bind(1, static_cast<int64_t>(now));
  q.bind(2, static_cast<int64_t>(row));
  q.exec();
  return core::Ok();
}
core::Status RevokeUserSessions(Tx& tx, int64_t user_row, int64_t now) {
  SQLite::Statement q(tx, "UPDATE sessions SET revoked_at=? WHERE user_id=? AND revoked_at=0");
  q.bind(1, static_cast<int64_t>(now));
  q.bind(2, static_cast<int64_t>(user_row));
  q.exec();
  return core::Ok();
}

core::Status CreateToken(Tx& tx, const Token& t) {
  SQLite::Statement q(tx, "INSERT INTO api_tokens(public_id, organization_id, user_id, name, secret_hash, scopes, ip_allowlist, "
                          "expires_at, created_at) VALUES (?,?,?,?,?,?,?,?,?)");
  q.bind(1, t.id);
  q.bind(2, static_cast<int64_t>(t.org_row));
  q.bind(3, static_cast<int64_t>(t.user_row));
  q.bind(4, t.name);
  q.bind(5, t.secret_hash);
  q.bind(6, ToJsonList(t.scopes));
  q.bind(7, ToJsonList(t.ip_allowlist));
  q.bind(8, static_cast<int64_t>(t.expires_at));
  q.bind(9, static_cast<int64_t>(t.created_at));
  q.exec();
  return core::Ok();
}

core::Result<std::optional<Token>> FindToken(Tx& tx, const std::string& id) {
  SQLite::Statement q(tx, std::string("SELECT ") + kTokenCols +
                              " FROM api_tokens t JOIN organizations o ON o.id=t.organization_id JOIN users u ON "
                              "u.id=t.user_id WHERE t.public_id=?");
  q.bind(1, id);
  if (!q.executeStep()) return std::optional<Token>();
  return std::optional<Token>(ReadToken(q));
}

core::Result<std::vector<Token>> ListTokens(Tx& tx, int64_t org_row, int64_t after_row, int limit) {
  SQLite::Statement q(tx, std::string("SELECT ") + kTokenCols +
                              " FROM api_tokens t JOIN organizations o ON o.id=t.organization_id JOIN users u ON "
                              "u.id=t.user_id WHERE t.organization_id=? AND t.id > ? ORDER BY t.id LIMIT ?");
  q.bind(1, static_cast<int64_t>(org_row));
  q.bind(2, static_cast<int64_t>(after_row));
  q.bind(3, limit);
  std::vector<Token> out;
  while (q.executeStep()) out.push_back(ReadToken(q));
  return out;
}

core::Status RevokeToken(Tx& tx, int64_t row, int64_t now) {
  SQLite::Statement q(tx, "UPDATE api_tokens SET revoked_at=? WHERE id=? AND revoked_at=0");
  q.bind(1, static_cast<int64_t>(now));
  q.bind(2, static_cast<int64_t>(row));
  q.exec();
  return core::Ok();
}
core::Status TouchToken(Tx& tx, int64_t row, int64_t now) {
  SQLite::Statement q(tx, "UPDATE api_tokens SET last_used_at=? WHERE id=?");
  q.bind(1, static_cast<int64_t>(now));
  q.bind(2, static_cast<int64_t>(row));
  q.exec();
  return core::Ok();
}

core::Status CreateEmailToken(Tx& tx, const std::string& token_hash, const std::string& purpose, int64_t user_row,
                              int64_t now, int64_t expires_at) {
  SQLite::Statement q(tx, "INSERT INTO email_tokens(token_hash, purpose, user_id, expires_at, created_at) VALUES (?,?,?,?,?)");
  q.bind(1, token_hash);
  q.bind(2, purpose);
  q.bind(3, static_cast<int64_t>(user_row));
  q.bind(4, static_cast<int64_t>(expires_at));
  q.bind(5, static_cast<int64_t>(now));
  q.exec();
  return core::Ok();
}

core::Result<int64_t> ConsumeEmailToken(Tx& tx, const std::string& token_hash, const std::string& purpose, int64_t now) {
  SQLite::Statement q(tx, "SELECT user_id, expires_at, used_at FROM email_tokens WHERE token_hash=? AND purpose=?");
  q.bind(1, token_hash);
  q.bind(2, purpose);
  if (!q.executeStep())
    return core::FailField(core::ErrorCode::kInvalidArgument, "token", "this link is not valid; request a new one");
  int64_t user = q.getColumn(0).getInt64(), expires = q.getColumn(1).getInt64(), used = q.getColumn(2).getInt64();
  q.reset();
  if (used) return core::FailField(core::ErrorCode::kInvalidArgument, "token", "this link was already used; request a new one");
  if (expires < now) return core::FailField(core::ErrorCode::kInvalidArgument, "token", "this link has expired; request a new one");
  SQLite::Statement u(tx, "UPDATE email_tokens SET used_at=? WHERE token_hash=?");
  u.bind(1, static_cast<int64_t>(now));
  u.bind(2, token_hash);
  u.exec();
  return user;
}

core::Status CreateInvitation(Tx& tx, const Invitation& v, const std::string& token_hash, int64_t invited_by) {
  SQLite::Statement q(tx, "INSERT INTO invitations(public_id, organization_id, email, role, token_hash, invited_by, expires_at, created_at) "
                          "VALUES (?,?,?,?,?,?,?,?)");
  q.bind(1, v.id);
  q.bind(2, static_cast<int64_t>(v.org_row));
  q.bind(3, v.email);
  q.bind(4, v.role);
  q.bind(5, token_hash);
  q.bind(6, static_cast<int64_t>(invited_by));
  q.bind(7, static_cast<int64_t>(v.expires_at));
  q.bind(8, static_cast<int64_t>(v.created_at));
  q.exec();
  return core::Ok();
}

core::Result<std::vector<Invitation>> ListInvitations(Tx& tx, int64_t org_row) {
  SQLite::Statement q(tx, std::string("SELECT ") + kInvCols +
                              " FROM invitations i JOIN organizations o ON o.id=i.organization_id WHERE i.organization_id=? ORDER BY i.id");
  q.bind(1, static_cast<int64_t>(org_row));
  std::vector<Invitation> out;
  while (q.executeStep()) out.push_back(ReadInv(q));
  return out;
}

core::Result<std::optional<Invitation>> FindInvitation(Tx& tx, int64_t org_row, const std::string& id) {
  SQLite::Statement q(tx, std::string("SELECT ") + kInvCols +
                              " FROM invitations i JOIN organizations o ON o.id=i.organization_id WHERE i.organization_id=? AND i.public_id=?");
  q.bind(1, static_cast<int64_t>(org_row));
  q.bind(2, id);
  if (!q.executeStep()) return std::optional<Invitation>();
  return std::optional<Invitation>(ReadInv(q));
}

core::Result<std::optional<Invitation>> FindInvitationByToken(Tx& tx, const std::string& token_hash) {
  SQLite::Statement q(tx, std::string("SELECT ") + kInvCols +
                              " FROM invitations i JOIN organizations o ON o.id=i.organization_id WHERE i.token_hash=?");
  q.bind(1, token_hash);
  if (!q.executeStep()) return std::optional<Invitation>();
  return std::optional<Invitation>(ReadInv(q));
}

core::Status MarkInvitation(Tx& tx, int64_t row, const std::string& column, int64_t now) {
  if (column != "accepted_at" && column != "revoked_at") return core::Fail(core::ErrorCode::kInternal, "bad column");
  SQLite::Statement q(tx, "UPDATE invitations SET " + column + "=? WHERE id=?");
  q.bind(1, static_cast<int64_t>(now));
  q.bind(2, static_cast<int64_t>(row));
  q.exec();
  return core::Ok();
}

core::Status ReplaceRecoveryCodes(Tx& tx, int64_t user_row, const std::vector<std::string>& hashes) {
  SQLite::Statement d(tx, "DELETE FROM recovery_codes WHERE user_id=?");
  d.bind(1, static_cast<int64_t>(user_row));
  d.exec();
  for (const auto& h : hashes) {
    SQLite::Statement q(tx, "INSERT INTO recovery_codes(user_id, code_hash) VALUES (?,?)");
    q.bind(1, static_cast<int64_t>(user_row));
    q.bind(2, h);
    q.exec();
  }
  return core::Ok();
}

core::Result<bool> UseRecoveryCode(Tx& tx, int64_t user_row, const std::string& hash, int64_t now) {
  SQLite::Statement q(tx, "UPDATE recovery_codes SET used_at=? WHERE user_id=? AND code_hash=? AND used_at=0");
  q.bind(1, static_cast<int64_t>(now));
  q.bind(2, static_cast<int64_t>(user_row));
  q.bind(3, hash);
  return q.exec() == 1;
}

core::Result<std::optional<StoredResponse>> FindIdempotent(Tx& tx, const std::string& principal, const std::string& key) {
  SQLite::Statement q(tx, "SELECT request_hash, status, body, headers FROM idempotency_keys WHERE principal=? AND key=?");
  q.bind(1, principal);
  q.bind(2, key);
  if (!q.executeStep()) return std::optional<StoredResponse>();
  return std::optional<StoredResponse>(StoredResponse{q.getColumn(0).getString(), q.getColumn(1).getInt(),
                                                      q.getColumn(2).getString(),
                                                      core::Json::parse(q.getColumn(3).getString(), nullptr, false)});
}

core::Status SaveIdempotent(Tx& tx, const std::string& principal, const std::string& key, const StoredResponse& r, int64_t now) {
  SQLite::Statement q(tx, "INSERT OR IGNORE INTO idempotency_keys(principal, key, request_hash, status, body, headers, created_at) "
                          "VALUES (?,?,?,?,?,?,?)");
  q.bind(1, principal);
  q.bind(2, key);
  q.bind(3, r.request_hash);
  q.bind(4, r.status);
  q.bind(5, r.body);
  q.bind(6, r.headers.dump());
  q.bind(7, static_cast<int64_t>(now));
  q.exec();
  return core::Ok();
}

}  // namespace hp::cp::store
