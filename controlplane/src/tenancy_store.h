#pragma once
// SQL for tenancy: partners, organizations, users, memberships, sessions, API tokens, e-mail
// tokens, invitations, recovery codes, idempotency records. Every function runs inside the
// caller's transaction (Database::Write/Read), so a change and its audit event commit together.
// Customer-owned rows are always looked up together with their organization.

#include <optional>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/json.h"

namespace hp::cp::store {

using Tx = SQLite::Database;

struct Partner {
  int64_t row = 0;
  std::string id, name, channel, status;
  int64_t created_at = 0;
};
struct Organization {
  int64_t row = 0;
  std::string id, name, status;
  int64_t partner_row = 0;
  std::string partner_id;
  std::vector<std::string> ip_allowlist;
  int64_t version = 1;
  int64_t created_at = 0, updated_at = 0;
};
struct User {
  int64_t row = 0;
  std::string id, email, name, password_hash, totp_secret;
  bool email_verified = false, is_staff = false, totp_enabled = false;
  int64_t totp_last_step = 0;
  int failed_logins = 0;
  int64_t locked_until = 0, created_at = 0;
};
struct Member {
  std::string user_id, email, name, role;
  int64_t created_at = 0;
};
struct Session {
  int64_t row = 0, user_row = 0;
  std::string csrf_hash;
  int64_t created_at = 0, last_seen_at = 0, expires_at = 0, revoked_at = 0;
};
struct Token {
  int64_t row = 0, org_row = 0, user_row = 0;
  std::string id, org_id, user_id, name, secret_hash;
  std::vector<std::string> scopes, ip_allowlist;
  int64_t expires_at = 0, last_used_at = 0, revoked_at = 0, created_at = 0;
};
struct Invitation {
  int64_t row = 0, org_row = 0;
  std::string id, org_id, email, role;
  int64_t expires_at = 0, accepted_at = 0, revoked_at = 0, created_at = 0;
};

// Time is unix microseconds throughout.
int64_t Now(const core::Clock& clock);

// Partners
core::Result<Partner> CreatePartner(Tx& tx, const std::string& name, const std::string& channel, int64_t now);
core::Result<Partner> GetPartner(Tx& tx, const std::string& id);
core::Result<std::vector<Partner>> ListPartners(Tx& tx, int64_t after_row, int limit);

// Organizations
core::Result<Organization> CreateOrganization(Tx& tx, int64_t partner_row, const std::string& name, int64_t now);
core::Result<Organization> GetOrganization(Tx& tx, const std::string& id);
core::Result<std::vector<Organization>> ListOrganizationsOfUser(Tx& tx, int64_t user_row, int64_t after_row, int limit);
core::Result<std::vector<Organization>> ListOrganizations(Tx& tx, const std::string& partner_id, int64_t after_row, int limit);
core::Status UpdateOrganization(Tx& tx, const Organization& org, int64_t now);  // bumps version
core::Status SetOrganizationStatus(Tx& tx, int64_t org_row, const std::string& status, int64_t now);

// Users
core::Result<User> CreateUser(Tx& tx, const std::string& email, const std::string& name,
                              const std::string& password_hash, bool staff, int64_t now);
core::Result<std::optional<User>> FindUserByEmail(Tx& tx, const std::string& email);
core::Result<User> GetUserByRow(Tx& tx, int64_t row);
core::Status SaveUserSecurity(Tx& tx, const User& u, int64_t now);  // password, totp, lockout, verified

// Memberships
core::Result<std::optional<std::string>> RoleOf(Tx& tx, int64_t org_row, int64_t user_row);
core::Status AddMember(Tx& tx, int64_t org_row, int64_t user_row, const std::string& role, int64_t now);
core::Result<std::vector<Member>> ListMembers(Tx& tx, int64_t org_row);
core::Result<std::optional<std::pair<int64_t, std::string>>> FindMember(Tx& tx, int64_t org_row, const std::string& user_id);
core::Status SetMemberRole(Tx& tx, int64_t org_row, int64_t user_row, const std::string& role);
core::Status RemoveMember(Tx& tx, int64_t org_row, int64_t user_row);
core::Result<int> CountOwners(Tx& tx, int64_t org_row);
// Organizations of the user that have an IP allow-list, with it.
core::Result<std::vector<std::vector<std::string>>> AllowlistsOfUser(Tx& tx, int64_t user_row);

// Sessions
core::Status CreateSession(Tx& tx, const std::string& token_hash, int64_t user_row, const std::string& csrf_hash,
                           const std::string& ip, int64_t now, int64_t expires_at);
core::Result<std::optional<Session>> FindSession(Tx& tx, const std::string& token_hash);
core::Status TouchSession(Tx& tx, int64_t row, int64_t now);
core::Status RevokeSession(Tx& tx, int64_t row, int64_t now);
core::Status RevokeUserSessions(Tx& tx, int64_t user_row, int64_t now);

// API tokens
core::Status CreateToken(Tx& tx, const Token& t);
core::Result<std::optional<Token>> FindToken(Tx& tx, const std::string& id);
core::Result<std::vector<Token>> ListTokens(Tx& tx, int64_t org_row, int64_t after_row, int limit);
core::Status RevokeToken(Tx& tx, int64_t row, int64_t now);
core::Status TouchToken(Tx& tx, int64_t row, int64_t now);

// One-time e-mail tokens ("verify", "reset"): consume returns the user row once.
core::Status CreateEmailToken(Tx& tx, const std::string& token_hash, const std::string& purpose, int64_t user_row,
                              int64_t now, int64_t expires_at);
core::Result<int64_t> ConsumeEmailToken(Tx& tx, const std::string& token_hash, const std::string& purpose, int64_t now);

// Invitations
core::Status CreateInvitation(Tx& tx, const Invitation& inv, const std::string& token_hash, int64_t invited_by);
core::Result<std::vector<Invitation>> ListInvitations(Tx& tx, int64_t org_row);
core::Result<std::optional<Invitation>> FindInvitation(Tx& tx, int64_t org_row, const std::string& id);
core::Result<std::optional<Invitation>> FindInvitationByToken(Tx& tx, const std::string& token_hash);
core::Status MarkInvitation(Tx& tx, int64_t row, const std::string& column, int64_t now);

// Recovery codes (hashes)
core::Status ReplaceRecoveryCodes(Tx& tx, int64_t user_row, const std::vector<std::string>& hashes);
core::Result<bool> UseRecoveryCode(Tx& tx, int64_t user_row, const std::string& hash, int64_t now);

// Idempotency records
struct StoredResponse {
  std::string request_hash;
  int status = 0;
  std::string body;
  core::Json headers;
};
core::Result<std::optional<StoredResponse>> FindIdempotent(Tx& tx, const std::string& principal, const std::string& key);
core::Status SaveIdempotent(Tx& tx, const std::string& principal, const std::string& key, const StoredResponse& r,
                            int64_t now);

}  // namespace hp::cp::store
