#include <qrencode.h>

#include <algorithm>
#include <memory>

#include "hp/core/log.h"
#include "hp/core/mailer.h"
#include "hp/core/password.h"
#include "hp/core/totp.h"
#include "rbac.h"
#include "routes.h"

namespace hp::cp {

using core::ErrorCode;
using core::Json;
using core::http::Response;
using core::http::RouteInfo;

core::Json OrgJson(const store::Organization& o) {
  return {{"id", o.id}, {"name", o.name}, {"status", o.status}, {"partner_id", o.partner_id},
          {"ip_allowlist", o.ip_allowlist}, {"created_at", Iso(o.created_at)}, {"updated_at", Iso(o.updated_at)}};
}
core::Json UserJson(const store::User& u) {
  return {{"id", u.id}, {"email", u.email}, {"name", u.name}, {"email_verified", u.email_verified},
          {"totp_enabled", u.totp_enabled}, {"staff", u.is_staff}, {"created_at", Iso(u.created_at)}};
}

namespace {

// The otpauth:// URI as a QR code in SVG (libqrencode, level M, 4-module quiet zone): one path of
// unit squares, scaled by the viewBox, so the image stays sharp at any size.
core::Result<std::string> QrSvg(const std::string& text) {
  std::unique_ptr<QRcode, decltype(&QRcode_free)> qr(QRcode_encodeString8bit(text.c_str(), 0, QR_ECLEVEL_M), &QRcode_free);
  if (!qr) return core::Fail(ErrorCode::kInternal, "could not encode the QR code");
  const int n = qr->width, quiet = 4, size = n + 2 * quiet;
  std::string d;
  d.reserve(static_cast<size_t>(n) * n * 4);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x)
      if (qr->data[y * n + x] & 1) d += "M" + std::to_string(x + quiet) + " " + std::to_string(y + quiet) + "h1v1h-1z";
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + std::to_string(size) + " " + std::to_string(size) +
         "\" width=\"" + std::to_string(size * 6) + "\" height=\"" + std::to_string(size * 6) +
         "\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path fill=\"#000\" d=\"" + d + "\"/></svg>\n";
}

Json Schema(std::initializer_list<std::pair<const char*, const char*>> props, std::initializer_list<const char*> required) {
  Json p = Json::object();
  for (const auto& [k, t] : props) p[k] = {{"type", t}};
  Json r = Json::array();
  for (const char* k : required) r.push_back(k);
  return {{"type", "object"}, {"properties", p}, {"required", r}};
}

std::string NormalizeEmail(std::string e) {
  while (!e.empty() && std::isspace(static_cast<unsigned char>(e.back()))) e.pop_back();
  while (!e.empty() && std::isspace(static_cast<unsigned char>(e.front()))) e.erase(0, 1);
  auto at = e.rfind('@');
  if (at != std::string::npos)
    std::transform(e.begin() + static_cast<long>(at), e.end(), e.begin() + static_cast<long>(at), ::tolower);
  return e;
}

core::Result<std::string> RequireEmail(const Json& body) {
  HP_ASSIGN_OR_RETURN(std::string email, core::GetString(body, "email"));
  email = NormalizeEmail(email);
  if (!core::IsValidEmail(email)) return core::FailField(ErrorCode::kInvalidArgument, "email", "is not a valid e-mail address");
  return email;
}

Response SessionResponse(const std::string& token, const std::string& csrf, const store::User& u, int64_t expires_at) {
  Response r = Response::Json(201, {{"user", UserJson(u)}, {"csrf_token", csrf}, {"expires_at", Iso(expires_at)}});
  r.SetHeader("Set-Cookie", "hp_session=" + token + "; Path=/; Secure; HttpOnly; SameSite=Strict");
  return r;
}

std::string NormalizeRecovery(std::string code) {
  std::string out;
  for (char c : code)
    if (std::isalnum(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

void RegisterAccountRoutes(Api& api, core::http::Router& router) {
  // --- sign-up -------------------------------------------------------------------------------
  api.Register(router,
               {.method = "POST", .pattern = "/api/v1/signup", .summary = "Create an account and its first organization; sends a verification e-mail.",
                .tag = "account", .permission = kPublic,
                .request_schema = Schema({{"email", "string"}, {"password", "string"}, {"name", "string"}, {"organization_name", "string"}},
                                         {"email", "password", "organization_name"})},
               [&api](ApiContext& c) -> core::Result<Response> {
                 if (!api.settings().public_signup) return core::Fail(ErrorCode::kPermissionDenied, "sign-up is closed on this installation");
                 HP_ASSIGN_OR_RETURN(std::string email, RequireEmail(c.body));
                 HP_ASSIGN_OR_RETURN(std::string password, core::GetString(c.body, "password"));
                 HP_ASSIGN_OR_RETURN(std::string org_name, core::GetString(c.body, "organization_name"));
                 HP_ASSIGN_OR_RETURN(auto name, core::GetOptionalString(c.body, "name"));
                 if (org_name.empty() || org_name.size() > 100)
                   return core::FailField(ErrorCode::kInvalidArgument, "organization_name", "must be 1 to 100 characters");
                 if (name && name->size() > 100) return core::FailField(ErrorCode::kInvalidArgument, "name", "must be at most 100 characters");
                 HP_TRY(core::CheckPasswordPolicy(password, email));
                 HP_ASSIGN_OR_RETURN(std::string hash, core::HashPassword(password));
                 const std::string token = RandomToken();
                 const int64_t now = api.Now();
                 HP_ASSIGN_OR_RETURN(auto created, api.db().Write([&](SQLite::Database& tx) -> core::Result<std::pair<store::User, store::Organization>> {
                   HP_ASSIGN_OR_RETURN(store::User u, store::CreateUser(tx, email, name.value_or(""), hash, false, now));
                   HP_ASSIGN_OR_RETURN(store::Partner direct, store::GetPartner(tx, "direct"));
                   HP_ASSIGN_OR_RETURN(store::Organization o, store::CreateOrganization(tx, direct.row, org_name, now));
                   HP_TRY(store::AddMember(tx, o.row, u.row, "owner", now));
                   HP_TRY(store::CreateEmailToken(tx, Sha256Hex(token), "verify", u.row, now, now + 48LL * 3600 * 1000000));
                   auto ev = c.Event("user.signup", "user:" + u.id);
                   ev.actor_type = "user";
                   ev.actor_id = u.id;
                   ev.organization_id = o.id;
                   ev.partner_id = o.partner_id;
                   HP_TRY(api.audit().Append(tx, ev));
                   return std::make_pair(u, o);
                 }));
                 HP_TRY(api.QueueMail(email, "Confirm your e-mail address",
                                      "Welcome to hostplane.\n\nConfirm your address to activate your account:\n" +
                                          api.settings().public_url + "/verify-email?token=" + token +
                                          "\n\nOr send this token to POST /api/v1/email/verify: " + token +
                                          "\n\nThe link is valid for 48 hours.\n"));
                 Response r = Response::Json(201, {{"user", UserJson(created.first)}, {"organization", OrgJson(created.second)}});
                 r.SetHeader("Location", "/api/v1/organizations/" + created.second.id);
                 return r;
               },
               /*cpu_heavy=*/true);

  api.Register(router,
               {.method = "POST", .pattern = "/api/v1/email/verify", .summary = "Confirm an e-mail address with the token from the e-mail.",
                .tag = "account", .permission = kPublic, .request_schema = Schema({{"token", "string"}}, {"token"})},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(std::string token, core::GetString(c.body, "token"));
                 const int64_t now = api.Now();
                 HP_ASSIGN_OR_RETURN(store::User u, api.db().Write([&](SQLite::Database& tx) -> core::Result<store::User> {
                   HP_ASSIGN_OR_RETURN(int64_t row, store::ConsumeEmailToken(tx, Sha256Hex(token), "verify", now));
                   HP_ASSIGN_OR_RETURN(store::User u, store::GetUserByRow(tx, row));
                   u.email_verified = true;
                   HP_TRY(store::SaveUserSecurity(tx, u, now));
                   auto ev = c.Event("user.verify_email", "user:" + u.id);
                   ev.actor_type = "user";
                   ev.actor_id = u.id;
                   HP_TRY(api.audit().Append(tx, ev));
                   return u;
                 }));
                 return Response::Json(200, {{"user", UserJson(u)}});
               });

  // --- sessions ------------------------------------------------------------------------------
  api.Register(router,
               {.method = "POST", .pattern = "/api/v1/sessions", .summary = "Sign in with e-mail, password and (when enabled) a TOTP or recovery code; sets the session cookie.",
                .tag = "account", .permission = kPublic,
                .request_schema = Schema({{"email", "string"}, {"password", "string"}, {"totp_code", "string"}, {"recovery_code", "string"}}, {"email", "password"})},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(std::string email, core::GetString(c.body, "email"));
                 email = NormalizeEmail(email);
                 HP_ASSIGN_OR_RETURN(std::string password, core::GetString(c.body, "password"));
                 HP_ASSIGN_OR_RETURN(auto totp_code, core::GetOptionalString(c.body, "totp_code"));
                 HP_ASSIGN_OR_RETURN(auto recovery, core::GetOptionalString(c.body, "recovery_code"));
                 const int64_t now = api.Now();
                 auto fail = [&](const std::string& reason, core::Error e, const std::string& user_id) -> core::Result<Response> {
                   auto ev = c.Event("session.create", user_id.empty() ? "email:" + email : "user:" + user_id, "failure");
                   ev.actor_type = user_id.empty() ? "anonymous" : "user";
                   ev.actor_id = user_id.empty() ? email : user_id;
                   ev.detail["reason"] = reason;
                   api.AuditAlone(ev);
                   return core::Fail(std::move(e));
                 };
                 HP_ASSIGN_OR_RETURN(auto found, api.db().Read([&](SQLite::Database& tx) { return store::FindUserByEmail(tx, email); }));
                 const core::Error wrong(ErrorCode::kUnauthenticated, "wrong e-mail address or password");
                 if (!found) {
                   // Same cost as a real check, so response time does not reveal whether the account exists.
                   static const std::string kDummy = core::HashPassword("dummy-password-for-timing").value_or("");
                   (void)core::VerifyPassword(password, kDummy);
                   return fail("unknown e-mail", wrong, "");
                 }
                 store::User u = *found;
                 if (u.locked_until > now)
                   return fail("locked", core::Error(ErrorCode::kPermissionDenied,
                                                     "account locked after too many failed sign-ins; try again after " + Iso(u.locked_until) +
                                                         " or reset your password"),
                               u.id);
                 // Record a failure (and lock at the threshold) in one transaction.
                 auto count_failure = [&](const std::string& reason, core::Error e) -> core::Result<Response> {
                   auto st = api.db().Write([&](SQLite::Database& tx) -> core::Status {
                     HP_ASSIGN_OR_RETURN(store::User cur, store::GetUserByRow(tx, u.row));
                     cur.failed_logins += 1;
                     if (cur.failed_logins >= api.settings().max_failed_logins) {
                       cur.locked_until = now + api.settings().lockout_us;
                       cur.failed_logins = 0;
                       auto lock = c.Event("user.lock", "user:" + u.id);
                       lock.actor_type = "system";
                       lock.detail["until"] = Iso(cur.locked_until);
                       HP_TRY(api.audit().Append(tx, lock));
                     }
                     return store::SaveUserSecurity(tx, cur, now);
                   });
                   if (!st) return std::unexpected(st.error());
                   return fail(reason, std::move(e), u.id);
                 };
                 if (!core::VerifyPassword(password, u.password_hash)) return count_failure("wrong password", wrong);
                 if (!u.email_verified)
                   return fail("email not verified", core::Error(ErrorCode::kPermissionDenied, "confirm your e-mail address first: follow the link we sent you"), u.id);
                 HP_ASSIGN_OR_RETURN(auto lists, api.db().Read([&](SQLite::Database& tx) { return store::AllowlistsOfUser(tx, u.row); }));
                 if (!lists.empty() && std::none_of(lists.begin(), lists.end(), [&](const auto& l) { return IpInAllowlist(c.http.remote_ip, l); }))
                   return fail("ip not allowed", core::Error(ErrorCode::kPermissionDenied,
                                                             "sign-in from " + c.http.remote_ip + " is not allowed by your organizations' IP allow-lists"),
                               u.id);
                 int64_t step = u.totp_last_step;
                 bool used_recovery = false;
                 if (u.totp_enabled) {
                   if (recovery && !recovery->empty()) {
                     HP_ASSIGN_OR_RETURN(bool ok, api.db().Write([&](SQLite::Database& tx) {
                       return store::UseRecoveryCode(tx, u.row, Sha256Hex(NormalizeRecovery(*recovery)), now);
                     }));
                     if (!ok) return count_failure("wrong recovery code", core::Error(ErrorCode::kUnauthenticated, "this recovery code is not valid or was already used").WithField("recovery_code"));
                     used_recovery = true;
                   } else {
                     if (!totp_code || totp_code->empty())
                       return fail("totp required", core::Error(ErrorCode::kUnauthenticated, "enter the 6-digit code from your authenticator app").WithField("totp_code"), u.id);
                     HP_ASSIGN_OR_RETURN(core::Secret secret, api.sealer().Open(u.totp_secret, "user:" + u.id + ":totp"));
                     auto matched = core::VerifyTotp(secret.Reveal(), *totp_code, api.clock().Now());
                     if (!matched) return count_failure("wrong totp", core::Error(ErrorCode::kUnauthenticated, "the authenticator code is wrong").WithField("totp_code"));
                     if (*matched <= u.totp_last_step)
                       return fail("totp replayed", core::Error(ErrorCode::kUnauthenticated, "this authenticator code was already used; wait for the next one").WithField("totp_code"), u.id);
                     step = *matched;
                   }
                 }
                 const std::string token = RandomToken(), csrf = RandomToken();
                 const int64_t expires = now + api.settings().session_absolute_us;
                 HP_TRY(api.db().Write([&](SQLite::Database& tx) -> core::Status {
                   HP_ASSIGN_OR_RETURN(store::User cur, store::GetUserByRow(tx, u.row));
                   cur.failed_logins = 0;
                   cur.totp_last_step = step;
                   if (core::PasswordNeedsRehash(cur.password_hash)) {
                     auto h = core::HashPassword(password);
                     if (h) cur.password_hash = *h;
                   }
                   HP_TRY(store::SaveUserSecurity(tx, cur, now));
                   HP_TRY(store::CreateSession(tx, Sha256Hex(token), u.row, Sha256Hex(csrf), c.http.remote_ip, now, expires));
                   auto ev = c.Event("session.create", "user:" + u.id);
                   ev.actor_type = u.is_staff ? "staff" : "user";
                   ev.actor_id = u.id;
                   if (used_recovery) ev.detail["second_factor"] = "recovery_code";
                   else if (u.totp_enabled) ev.detail["second_factor"] = "totp";
                   return api.audit().Append(tx, ev);
                 }));
                 return SessionResponse(token, csrf, u, expires);
               },
               /*cpu_heavy=*/true);

  api.Register(router,
               {.method = "DELETE", .pattern = "/api/v1/sessions/current", .summary = "Sign out.", .tag = "account", .permission = kAuthenticated},
               [&api](ApiContext& c) -> core::Result<Response> {
                 if (!c.who.session) return core::Fail(ErrorCode::kInvalidArgument, "API tokens have no session; revoke the token instead");
                 HP_TRY(api.db().Write([&](SQLite::Database& tx) -> core::Status {
                   HP_TRY(store::RevokeSession(tx, c.who.session->row, api.Now()));
                   return api.audit().Append(tx, c.Event("session.delete", "user:" + c.who.user.id));
                 }));
                 Response r = Response::Empty(204);
                 r.SetHeader("Set-Cookie", "hp_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
                 return r;
               });

  // --- password reset ------------------------------------------------------------------------
  api.Register(router,
               {.method = "POST", .pattern = "/api/v1/password-reset", .summary = "Send a password-reset e-mail (always 202: no account enumeration).",
                .tag = "account", .permission = kPublic, .request_schema = Schema({{"email", "string"}}, {"email"})},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(std::string email, RequireEmail(c.body));
                 HP_ASSIGN_OR_RETURN(auto found, api.db().Read([&](SQLite::Database& tx) { return store::FindUserByEmail(tx, email); }));
                 if (found) {
                   const std::string token = RandomToken();
                   const int64_t now = api.Now();
                   HP_TRY(api.db().Write([&](SQLite::Database& tx) -> core::Status {
                     HP_TRY(store::CreateEmailToken(tx, Sha256Hex(token), "reset", found->row, now, now + 3600LL * 1000000));
                     auto ev = c.Event("user.password_reset_request", "user:" + found->id);
                     ev.actor_type = "anonymous";
                     return api.audit().Append(tx, ev);
                   }));
                   HP_TRY(api.QueueMail(email, "Reset your password",
                                        "Someone (hopefully you) asked to reset the password of your hostplane account.\n\n" +
                                            api.settings().public_url + "/reset-password?token=" + token +
                                            "\n\nToken for POST /api/v1/password-reset/confirm: " + token +
                                            "\n\nThe link is valid for one hour. If you did not ask, ignore this e-mail.\n"));
                 }
                 return Response::Json(202, {{"status", "if an account exists for this address, an e-mail is on its way"}});
               });

  api.Register(router,
               {.method = "POST", .pattern = "/api/v1/password-reset/confirm", .summary = "Set a new password with the reset token; signs out every session.",
                .tag = "account", .permission = kPublic, .request_schema = Schema({{"token", "string"}, {"password", "string"}}, {"token", "password"})},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(std::string token, core::GetString(c.body, "token"));
                 HP_ASSIGN_OR_RETURN(std::string password, core::GetString(c.body, "password"));
                 const int64_t now = api.Now();
                 // Validate the token first without consuming it, to check the policy against the right e-mail.
                 HP_TRY(api.db().Write([&](SQLite::Database& tx) -> core::Status {
                   HP_ASSIGN_OR_RETURN(int64_t row, store::ConsumeEmailToken(tx, Sha256Hex(token), "reset", now));
                   HP_ASSIGN_OR_RETURN(store::User u, store::GetUserByRow(tx, row));
                   HP_TRY(core::CheckPasswordPolicy(password, u.email));
                   HP_ASSIGN_OR_RETURN(u.password_hash, core::HashPassword(password));
                   u.failed_logins = 0;
                   u.locked_until = 0;
                   u.email_verified = true;  // the e-mail link proves the address
                   HP_TRY(store::SaveUserSecurity(tx, u, now));
                   HP_TRY(store::RevokeUserSessions(tx, u.row, now));
                   auto ev = c.Event("user.password_reset", "user:" + u.id);
                   ev.actor_type = "user";
                   ev.actor_id = u.id;
                   return api.audit().Append(tx, ev);
                 }));
                 return Response::Json(200, {{"status", "password changed; sign in with the new password"}});
               },
               /*cpu_heavy=*/true);

  // --- the caller's own account ----------------------------------------------------------------
  api.Register(router,
               {.method = "GET", .pattern = "/api/v1/me", .summary = "The signed-in user and their organizations.", .tag = "account", .permission = kAuthenticated},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(auto orgs, api.db().Read([&](SQLite::Database& tx) -> core::Result<Json> {
                   Json arr = Json::array();
                   HP_ASSIGN_OR_RETURN(auto list, store::ListOrganizationsOfUser(tx, c.who.user.row, 0, 200));
                   for (const auto& o : list) {
                     HP_ASSIGN_OR_RETURN(auto role, store::RoleOf(tx, o.row, c.who.user.row));
                     Json j = OrgJson(o);
                     j["role"] = role.value_or("");
                     arr.push_back(j);
                   }
                   return arr;
                 }));
                 Json body = {{"user", UserJson(c.who.user)}, {"organizations", orgs}};
                 if (c.who.token) body["token"] = {{"id", c.who.token->id}, {"organization_id", c.who.token->org_id}, {"scopes", c.who.token->scopes}};
                 return Response::Json(200, body);
               });

  api.Register(router,
               {.method = "POST", .pattern = "/api/v1/me/password", .summary = "Change the password (needs the current one); signs out other sessions.",
                .tag = "account", .permission = kAuthenticated,
                .request_schema = Schema({{"current_password", "string"}, {"new_password", "string"}}, {"current_password", "new_password"})},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(std::string current, core::GetString(c.body, "current_password"));
                 HP_ASSIGN_OR_RETURN(std::string next, core::GetString(c.body, "new_password"));
                 if (!core::VerifyPassword(current, c.who.user.password_hash))
                   return core::FailField(ErrorCode::kPermissionDenied, "current_password", "is wrong");
                 if (auto st = core::CheckPasswordPolicy(next, c.who.user.email); !st) {
                   core::Error e = st.error();
                   e.field = "new_password";
                   return core::Fail(std::move(e));
                 }
                 HP_ASSIGN_OR_RETURN(std::string hash, core::HashPassword(next));
                 const int64_t now = api.Now();
                 HP_TRY(api.db().Write([&](SQLite::Database& tx) -> core::Status {
                   HP_ASSIGN_OR_RETURN(store::User u, store::GetUserByRow(tx, c.who.user.row));
                   u.password_hash = hash;
                   HP_TRY(store::SaveUserSecurity(tx, u, now));
                   HP_TRY(store::RevokeUserSessions(tx, u.row, now));
                   if (c.who.session) {
                     SQLite::Statement keep(tx, "UPDATE sessions SET revoked_at=0 WHERE id=?");
                     keep.bind(1, static_cast<int64_t>(c.who.session->row));
                     keep.exec();
                   }
                   return api.audit().Append(tx, c.Event("user.password_change", "user:" + u.id));
                 }));
                 return Response::Json(200, {{"status", "password changed"}});
               },
               /*cpu_heavy=*/true);

  api.Register(router,
               {.method = "POST", .pattern = "/api/v1/me/totp", .summary = "Start TOTP enrollment: returns the secret and otpauth URI.", .tag = "account", .permission = kAuthenticated},
               [&api](ApiContext& c) -> core::Result<Response> {
                 if (c.who.user.totp_enabled) return core::Fail(ErrorCode::kConflict, "TOTP is already enabled; disable it first to enroll a new device");
                 const std::string secret = core::NewTotpSecret();
                 HP_ASSIGN_OR_RETURN(std::string sealed, api.sealer().Seal(secret, "user:" + c.who.user.id + ":totp"));
                 HP_TRY(api.db().Write([&](SQLite::Database& tx) -> core::Status {
                   HP_ASSIGN_OR_RETURN(store::User u, store::GetUserByRow(tx, c.who.user.row));
                   u.totp_secret = sealed;
                   u.totp_enabled = false;
                   HP_TRY(store::SaveUserSecurity(tx, u, api.Now()));
                   return api.audit().Append(tx, c.Event("user.totp_enroll_start", "user:" + u.id));
                 }));
                 return Response::Json(201, {{"secret", core::Base32Encode(secret)}, {"otpauth_uri", core::TotpUri("hostplane", c.who.user.email, secret)}});
               });

  api.Register(router,
               {.method = "GET", .pattern = "/api/v1/me/totp/qr", .summary = "The pending TOTP enrollment's otpauth URI as a QR code (image/svg+xml, not stored by caches).", .tag = "account", .permission = kAuthenticated},
               [&api](ApiContext& c) -> core::Result<Response> {
                 if (c.who.user.totp_enabled) return core::Fail(ErrorCode::kConflict, "TOTP is already enabled; disable it first to enroll a new device");
                 if (c.who.user.totp_secret.empty()) return core::Fail(ErrorCode::kNotFound, "no TOTP enrollment in progress; start one with POST /api/v1/me/totp");
                 HP_ASSIGN_OR_RETURN(core::Secret secret, api.sealer().Open(c.who.user.totp_secret, "user:" + c.who.user.id + ":totp"));
                 HP_ASSIGN_OR_RETURN(std::string svg, QrSvg(core::TotpUri("hostplane", c.who.user.email, secret.Reveal())));
                 Response r(200, "image/svg+xml", std::move(svg));
                 r.SetHeader("Cache-Control", "no-store");
                 return r;
               });

  api.Register(router,
               {.method = "POST", .pattern = "/api/v1/me/totp/confirm", .summary = "Finish TOTP enrollment with a current code; returns recovery codes once.",
                .tag = "account", .permission = kAuthenticated, .request_schema = Schema({{"code", "string"}}, {"code"})},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(std::string code, core::GetString(c.body, "code"));
                 if (c.who.user.totp_secret.empty()) return core::Fail(ErrorCode::kConflict, "start enrollment with POST /api/v1/me/totp first");
                 if (c.who.user.totp_enabled) return core::Fail(ErrorCode::kConflict, "TOTP is already enabled");
                 HP_ASSIGN_OR_RETURN(core::Secret secret, api.sealer().Open(c.who.user.totp_secret, "user:" + c.who.user.id + ":totp"));
                 auto step = core::VerifyTotp(secret.Reveal(), code, api.clock().Now());
                 if (!step) return core::FailField(ErrorCode::kInvalidArgument, "code", "the code does not match; check the device's clock and try the next code");
                 auto codes = core::NewRecoveryCodes(10);
                 std::vector<std::string> hashes;
                 for (const auto& rc : codes) hashes.push_back(Sha256Hex(NormalizeRecovery(rc)));
                 HP_TRY(api.db().Write([&](SQLite::Database& tx) -> core::Status {
                   HP_ASSIGN_OR_RETURN(store::User u, store::GetUserByRow(tx, c.who.user.row));
                   u.totp_enabled = true;
                   u.totp_last_step = *step;
                   HP_TRY(store::SaveUserSecurity(tx, u, api.Now()));
                   HP_TRY(store::ReplaceRecoveryCodes(tx, u.row, hashes));
                   return api.audit().Append(tx, c.Event("user.totp_enable", "user:" + u.id));
                 }));
                 return Response::Json(200, {{"totp_enabled", true}, {"recovery_codes", codes}});
               });

  api.Register(router,
               {.method = "DELETE", .pattern = "/api/v1/me/totp", .summary = "Disable TOTP (needs the password).", .tag = "account", .permission = kAuthenticated,
                .request_schema = Schema({{"password", "string"}}, {"password"})},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(std::string password, core::GetString(c.body, "password"));
                 if (!core::VerifyPassword(password, c.who.user.password_hash)) return core::FailField(ErrorCode::kPermissionDenied, "password", "is wrong");
                 HP_TRY(api.db().Write([&](SQLite::Database& tx) -> core::Status {
                   HP_ASSIGN_OR_RETURN(store::User u, store::GetUserByRow(tx, c.who.user.row));
                   u.totp_enabled = false;
                   u.totp_secret.clear();
                   HP_TRY(store::SaveUserSecurity(tx, u, api.Now()));
                   HP_TRY(store::ReplaceRecoveryCodes(tx, u.row, {}));
                   return api.audit().Append(tx, c.Event("user.totp_disable", "user:" + u.id));
                 }));
                 return Response::Empty(204);
               },
               /*cpu_heavy=*/true);

  api.Register(router,
               {.method = "POST", .pattern = "/api/v1/invitations/accept", .summary = "Accept an invitation for the signed-in user's e-mail address.",
                .tag = "account", .permission = kAuthenticated, .request_schema = Schema({{"token", "string"}}, {"token"})},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(std::string token, core::GetString(c.body, "token"));
                 const int64_t now = api.Now();
                 HP_ASSIGN_OR_RETURN(store::Organization org, api.db().Write([&](SQLite::Database& tx) -> core::Result<store::Organization> {
                   HP_ASSIGN_OR_RETURN(auto inv, store::FindInvitationByToken(tx, Sha256Hex(token)));
                   if (!inv || inv->revoked_at) return core::FailField(ErrorCode::kInvalidArgument, "token", "this invitation is not valid");
                   if (inv->accepted_at) return core::FailField(ErrorCode::kInvalidArgument, "token", "this invitation was already accepted");
                   if (inv->expires_at < now) return core::FailField(ErrorCode::kInvalidArgument, "token", "this invitation has expired; ask for a new one");
                   if (NormalizeEmail(inv->email) != NormalizeEmail(c.who.user.email))
                     return core::FailField(ErrorCode::kPermissionDenied, "token", "this invitation is for another e-mail address");
                   HP_TRY(store::AddMember(tx, inv->org_row, c.who.user.row, inv->role, now));
                   HP_TRY(store::MarkInvitation(tx, inv->row, "accepted_at", now));
                   HP_ASSIGN_OR_RETURN(store::Organization o, store::GetOrganization(tx, inv->org_id));
                   auto ev = c.Event("invitation.accept", "invitation:" + inv->id);
                   ev.organization_id = o.id;
                   ev.partner_id = o.partner_id;
                   ev.detail["role"] = inv->role;
                   HP_TRY(api.audit().Append(tx, ev));
                   return o;
                 }));
                 return Response::Json(200, {{"organization", OrgJson(org)}});
               });
}

}  // namespace hp::cp
