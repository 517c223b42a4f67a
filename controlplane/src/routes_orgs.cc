#include <algorithm>

#include "hp/core/mailer.h"
#include "hp/core/random.h"
#include "rbac.h"
#include "routes.h"

namespace hp::cp {

using core::ErrorCode;
using core::Json;
using core::http::Response;

namespace {

Json TokenJson(const store::Token& t) {
  return {{"id", t.id}, {"name", t.name}, {"organization_id", t.org_id}, {"created_by", t.user_id}, {"scopes", t.scopes},
          {"ip_allowlist", t.ip_allowlist}, {"expires_at", t.expires_at ? Json(Iso(t.expires_at)) : Json(nullptr)},
          {"last_used_at", t.last_used_at ? Json(Iso(t.last_used_at)) : Json(nullptr)},
          {"revoked", t.revoked_at != 0}, {"created_at", Iso(t.created_at)}};
}
Json InvitationJson(const store::Invitation& v) {
  std::string state = v.accepted_at ? "accepted" : v.revoked_at ? "revoked" : "pending";
  return {{"id", v.id}, {"email", v.email}, {"role", v.role}, {"state", state}, {"expires_at", Iso(v.expires_at)},
          {"created_at", Iso(v.created_at)}};
}
Json AuditJson(const AuditRow& r) {
  const auto& e = r.event;
  return {{"seq", r.seq}, {"time", core::FormatRfc3339(r.ts)}, {"actor_type", e.actor_type}, {"actor_id", e.actor_id},
          {"organization_id", e.organization_id}, {"action", e.action}, {"target", e.target}, {"source_ip", e.source_ip},
          {"result", e.result}, {"detail", e.detail}, {"request_id", e.request_id}};
}
std::string ETag(const store::Organization& o) { return "\"v" + std::to_string(o.version) + "\""; }

core::Result<AuditQuery> ParseAuditQuery(const core::http::Request& req, bool require_period) {
  AuditQuery q;
  HP_ASSIGN_OR_RETURN(Page page, ParsePage(req));
  q.after_seq = page.after;
  q.limit = page.limit;
  for (const char* k : {"from", "to"}) {
    if (auto v = req.QueryParam(k)) {
      auto t = core::ParseRfc3339(*v);
      if (!t) return core::FailField(ErrorCode::kInvalidArgument, k, "must be an RFC 3339 time such as 2026-11-01T00:00:00Z");
      (std::string(k) == "from" ? q.from : q.to) = *t;
    } else if (require_period) {
      return core::FailField(ErrorCode::kInvalidArgument, k, "is required (RFC 3339 time)");
    }
  }
  if (q.from && q.to && *q.to <= *q.from) return core::FailField(ErrorCode::kInvalidArgument, "to", "must be after 'from'");
  if (auto a = req.QueryParam("action")) q.action_prefix = *a;
  return q;
}

}  // namespace

void RegisterOrganizationRoutes(Api& api, core::http::Router& router) {
  api.Register(router, {.method = "GET", .pattern = "/api/v1/organizations", .summary = "Organizations the caller belongs to.", .tag = "organizations", .permission = kAuthenticated},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(Page page, ParsePage(c.http));
                 HP_ASSIGN_OR_RETURN(auto list, api.db().Read([&](SQLite::Database& tx) {
                   return store::ListOrganizationsOfUser(tx, c.who.user.row, page.after, page.limit);
                 }));
                 if (c.who.token)  // a token sees only its own organization
                   list.erase(std::remove_if(list.begin(), list.end(), [&](const auto& o) { return o.row != c.who.token->org_row; }), list.end());
                 Json items = Json::array();
                 for (const auto& o : list) items.push_back(OrgJson(o));
                 return PageResponse(c.http, items, list.size(), page.limit, list.empty() ? 0 : list.back().row);
               });

  api.Register(router, {.method = "POST", .pattern = "/api/v1/organizations", .summary = "Create another organization owned by the caller.", .tag = "organizations", .permission = kAuthenticated,
                        .request_schema = {{"type", "object"}, {"properties", {{"name", {{"type", "string"}}}}}, {"required", {"name"}}}},
               [&api](ApiContext& c) -> core::Result<Response> {
                 if (c.who.token) return core::Fail(ErrorCode::kPermissionDenied, "API tokens belong to one organization and cannot create others");
                 HP_ASSIGN_OR_RETURN(std::string name, core::GetString(c.body, "name"));
                 if (name.empty() || name.size() > 100) return core::FailField(ErrorCode::kInvalidArgument, "name", "must be 1 to 100 characters");
                 const int64_t now = api.Now();
                 HP_ASSIGN_OR_RETURN(store::Organization o, api.db().Write([&](SQLite::Database& tx) -> core::Result<store::Organization> {
                   HP_ASSIGN_OR_RETURN(store::Partner direct, store::GetPartner(tx, "direct"));
                   HP_ASSIGN_OR_RETURN(store::Organization o, store::CreateOrganization(tx, direct.row, name, now));
                   HP_TRY(store::AddMember(tx, o.row, c.who.user.row, "owner", now));
                   auto ev = c.Event("organization.create", "organization:" + o.id);
                   ev.organization_id = o.id;
                   ev.partner_id = o.partner_id;
                   HP_TRY(api.audit().Append(tx, ev));
                   return o;
                 }));
                 Response r = Response::Json(201, OrgJson(o));
                 r.SetHeader("Location", "/api/v1/organizations/" + o.id);
                 r.SetHeader("ETag", ETag(o));
                 return r;
               });

  api.Register(router, {.method = "GET", .pattern = "/api/v1/organizations/{org}", .summary = "One organization.", .tag = "organizations", .permission = "org.read"},
               [](ApiContext& c) -> core::Result<Response> {
                 Json j = OrgJson(*c.org);
                 j["role"] = c.role;
                 Response r = Response::Json(200, j);
                 r.SetHeader("ETag", ETag(*c.org));
                 return r;
               });

  api.Register(router, {.method = "PATCH", .pattern = "/api/v1/organizations/{org}", .summary = "Rename or set the IP allow-list; honours If-Match.", .tag = "organizations", .permission = "org.update",
                        .request_schema = {{"type", "object"}, {"properties", {{"name", {{"type", "string"}}}, {"ip_allowlist", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}}},
               [&api](ApiContext& c) -> core::Result<Response> {
                 store::Organization o = *c.org;
                 const std::string if_match = c.http.Header("if-match");
                 if (!if_match.empty() && if_match != "*" && if_match != ETag(o))
                   return core::Fail(core::Error(ErrorCode::kPreconditionFailed, "the organization changed since you read it (ETag " + ETag(o) + "); reload and retry").WithField("If-Match"));
                 Json changed = Json::object();
                 if (c.body.contains("name")) {
                   HP_ASSIGN_OR_RETURN(o.name, core::GetString(c.body, "name"));
                   if (o.name.empty() || o.name.size() > 100) return core::FailField(ErrorCode::kInvalidArgument, "name", "must be 1 to 100 characters");
                   changed["name"] = o.name;
                 }
                 if (c.body.contains("ip_allowlist")) {
                   HP_ASSIGN_OR_RETURN(o.ip_allowlist, ParseAllowlist(c.body["ip_allowlist"], "ip_allowlist"));
                   // Do not let a caller lock themselves out.
                   if (!IpInAllowlist(c.http.remote_ip, o.ip_allowlist))
                     return core::FailField(ErrorCode::kInvalidArgument, "ip_allowlist", "must include your current address " + c.http.remote_ip);
                   changed["ip_allowlist"] = o.ip_allowlist;
                 }
                 for (auto it = c.body.begin(); it != c.body.end(); ++it)
                   if (it.key() != "name" && it.key() != "ip_allowlist")
                     return core::FailField(ErrorCode::kInvalidArgument, it.key(), "is not a field you can change");
                 const int64_t now = api.Now();
                 HP_ASSIGN_OR_RETURN(store::Organization updated, api.db().Write([&](SQLite::Database& tx) -> core::Result<store::Organization> {
                   HP_TRY(store::UpdateOrganization(tx, o, now));
                   auto ev = c.Event("organization.update", "organization:" + o.id);
                   ev.detail = changed;
                   HP_TRY(api.audit().Append(tx, ev));
                   return store::GetOrganization(tx, o.id);
                 }));
                 Response r = Response::Json(200, OrgJson(updated));
                 r.SetHeader("ETag", ETag(updated));
                 return r;
               });

  // --- members -------------------------------------------------------------------------------
  api.Register(router, {.method = "GET", .pattern = "/api/v1/organizations/{org}/members", .summary = "Members and their roles.", .tag = "members", .permission = "org.read"},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(auto members, api.db().Read([&](SQLite::Database& tx) { return store::ListMembers(tx, c.org->row); }));
                 Json items = Json::array();
                 for (const auto& m : members)
                   items.push_back({{"user_id", m.user_id}, {"email", m.email}, {"name", m.name}, {"role", m.role}, {"since", Iso(m.created_at)}});
                 return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
               });

  api.Register(router, {.method = "PATCH", .pattern = "/api/v1/organizations/{org}/members/{user}", .summary = "Change a member's role.", .tag = "members", .permission = "members.manage",
                        .request_schema = {{"type", "object"}, {"properties", {{"role", {{"type", "string"}}}}}, {"required", {"role"}}}},
               [&api](ApiContext& c) -> core::Result<Response> {
                 const std::string user_id = c.http.Param("user");
                 std::string role;
                 HP_TRY(api.db().Write([&](SQLite::Database& tx) -> core::Status {
                   HP_ASSIGN_OR_RETURN(auto m, store::FindMember(tx, c.org->row, user_id));
                   if (!m) return core::Fail(ErrorCode::kNotFound, "member " + user_id + " not found");
                   HP_ASSIGN_OR_RETURN(role, core::GetString(c.body, "role"));
                   if (!IsRole(role)) return core::FailField(ErrorCode::kInvalidArgument, "role", "must be one of owner, admin, billing, operator, developer, auditor, viewer");
                   if (!CanAssignRole(c.role, role) || (m->second == "owner" && c.role != "owner"))
                     return core::Fail(ErrorCode::kPermissionDenied, "your role '" + c.role + "' cannot make someone '" + role + "' or change an owner");
                   if (m->second == "owner" && role != "owner") {
                     HP_ASSIGN_OR_RETURN(int owners, store::CountOwners(tx, c.org->row));
                     if (owners <= 1) return core::Fail(ErrorCode::kConflict, "an organization needs at least one owner");
                   }
                   HP_TRY(store::SetMemberRole(tx, c.org->row, m->first, role));
                   auto ev = c.Event("member.update", "user:" + user_id);
                   ev.detail = {{"from", m->second}, {"to", role}};
                   return api.audit().Append(tx, ev);
                 }));
                 return Response::Json(200, {{"user_id", user_id}, {"role", role}});
               });

  api.Register(router, {.method = "DELETE", .pattern = "/api/v1/organizations/{org}/members/{user}", .summary = "Remove a member (their tokens for this organization are revoked).", .tag = "members", .permission = "members.manage"},
               [&api](ApiContext& c) -> core::Result<Response> {
                 const std::string user_id = c.http.Param("user");
                 HP_TRY(api.db().Write([&](SQLite::Database& tx) -> core::Status {
                   HP_ASSIGN_OR_RETURN(auto m, store::FindMember(tx, c.org->row, user_id));
                   if (!m) return core::Fail(ErrorCode::kNotFound, "member " + user_id + " not found");
                   if (m->second == "owner") {
                     if (c.role != "owner") return core::Fail(ErrorCode::kPermissionDenied, "only an owner can remove an owner");
                     HP_ASSIGN_OR_RETURN(int owners, store::CountOwners(tx, c.org->row));
                     if (owners <= 1) return core::Fail(ErrorCode::kConflict, "an organization needs at least one owner");
                   }
                   HP_TRY(store::RemoveMember(tx, c.org->row, m->first));
                   return api.audit().Append(tx, c.Event("member.remove", "user:" + user_id));
                 }));
                 return Response::Empty(204);
               });

  // --- invitations -------------------------------------------------------------------------
  api.Register(router, {.method = "POST", .pattern = "/api/v1/organizations/{org}/invitations", .summary = "Invite someone by e-mail with a role.", .tag = "members", .permission = "members.manage",
                        .request_schema = {{"type", "object"}, {"properties", {{"email", {{"type", "string"}}}, {"role", {{"type", "string"}}}}}, {"required", {"email", "role"}}}},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(std::string email, core::GetString(c.body, "email"));
                 if (!core::IsValidEmail(email)) return core::FailField(ErrorCode::kInvalidArgument, "email", "is not a valid e-mail address");
                 HP_ASSIGN_OR_RETURN(std::string role, core::GetString(c.body, "role"));
                 if (!IsRole(role)) return core::FailField(ErrorCode::kInvalidArgument, "role", "must be one of owner, admin, billing, operator, developer, auditor, viewer");
                 if (!CanAssignRole(c.role, role)) return core::FailField(ErrorCode::kPermissionDenied, "role", "your role '" + c.role + "' cannot invite a '" + role + "'");
                 const std::string token = RandomToken();
                 const int64_t now = api.Now();
                 store::Invitation inv{0, c.org->row, core::NewPublicId(), c.org->id, email, role, now + 7LL * 86400 * 1000000, 0, 0, now};
                 HP_TRY(api.db().Write([&](SQLite::Database& tx) -> core::Status {
                   HP_TRY(store::CreateInvitation(tx, inv, Sha256Hex(token), c.who.user.row));
                   auto ev = c.Event("invitation.create", "invitation:" + inv.id);
                   ev.detail = {{"email", email}, {"role", role}};
                   return api.audit().Append(tx, ev);
                 }));
                 HP_TRY(api.QueueMail(email, "You are invited to " + c.org->name,
                                      "You were invited to join " + c.org->name + " on hostplane as " + role + ".\n\n" +
                                          api.settings().public_url + "/accept-invitation?token=" + token +
                                          "\n\nToken for POST /api/v1/invitations/accept: " + token + "\n\nThe invitation is valid for 7 days.\n"));
                 Response r = Response::Json(201, InvitationJson(inv));
                 r.SetHeader("Location", "/api/v1/organizations/" + c.org->id + "/invitations/" + inv.id);
                 return r;
               });

  api.Register(router, {.method = "GET", .pattern = "/api/v1/organizations/{org}/invitations", .summary = "Invitations of the organization.", .tag = "members", .permission = "members.manage"},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(auto list, api.db().Read([&](SQLite::Database& tx) { return store::ListInvitations(tx, c.org->row); }));
                 Json items = Json::array();
                 for (const auto& v : list) items.push_back(InvitationJson(v));
                 return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
               });

  // Resend: the token is stored only as a hash, so a new invitation (new token, new 7 days) replaces
  // the pending one, which is withdrawn in the same transaction.
  api.Register(router, {.method = "POST", .pattern = "/api/v1/organizations/{org}/invitations/{invitation}/resend", .summary = "Send a pending invitation again: a new link valid for 7 days replaces the old one.", .tag = "members", .permission = "members.manage"},
               [&api](ApiContext& c) -> core::Result<Response> {
                 const std::string id = c.http.Param("invitation");
                 const std::string token = RandomToken();
                 const int64_t now = api.Now();
                 HP_ASSIGN_OR_RETURN(store::Invitation inv, api.db().Write([&](SQLite::Database& tx) -> core::Result<store::Invitation> {
                   HP_ASSIGN_OR_RETURN(auto old, store::FindInvitation(tx, c.org->row, id));
                   if (!old) return core::Fail(ErrorCode::kNotFound, "invitation " + id + " not found");
                   if (old->accepted_at) return core::Fail(ErrorCode::kConflict, "this invitation was already accepted");
                   if (old->revoked_at) return core::Fail(ErrorCode::kConflict, "this invitation was withdrawn; send a new one");
                   if (!CanAssignRole(c.role, old->role)) return core::Fail(ErrorCode::kPermissionDenied, "your role '" + c.role + "' cannot invite a '" + old->role + "'");
                   HP_TRY(store::MarkInvitation(tx, old->row, "revoked_at", now));
                   store::Invitation fresh{0, c.org->row, core::NewPublicId(), c.org->id, old->email, old->role, now + 7LL * 86400 * 1000000, 0, 0, now};
                   HP_TRY(store::CreateInvitation(tx, fresh, Sha256Hex(token), c.who.user.row));
                   auto ev = c.Event("invitation.resend", "invitation:" + fresh.id);
                   ev.detail = {{"email", fresh.email}, {"role", fresh.role}, {"replaces", id}};
                   HP_TRY(api.audit().Append(tx, ev));
                   return fresh;
                 }));
                 HP_TRY(api.QueueMail(inv.email, "You are invited to " + c.org->name,
                                      "You were invited to join " + c.org->name + " on hostplane as " + inv.role + ".\n\n" +
                                          api.settings().public_url + "/accept-invitation?token=" + token +
                                          "\n\nToken for POST /api/v1/invitations/accept: " + token + "\n\nThe invitation is valid for 7 days; earlier links for it no longer work.\n"));
                 Response r = Response::Json(201, InvitationJson(inv));
                 r.SetHeader("Location", "/api/v1/organizations/" + c.org->id + "/invitations/" + inv.id);
                 return r;
               });

  api.Register(router, {.method = "DELETE", .pattern = "/api/v1/organizations/{org}/invitations/{invitation}", .summary = "Withdraw an invitation.", .tag = "members", .permission = "members.manage"},
               [&api](ApiContext& c) -> core::Result<Response> {
                 const std::string id = c.http.Param("invitation");
                 HP_TRY(api.db().Write([&](SQLite::Database& tx) -> core::Status {
                   HP_ASSIGN_OR_RETURN(auto inv, store::FindInvitation(tx, c.org->row, id));
                   if (!inv) return core::Fail(ErrorCode::kNotFound, "invitation " + id + " not found");
                   HP_TRY(store::MarkInvitation(tx, inv->row, "revoked_at", api.Now()));
                   return api.audit().Append(tx, c.Event("invitation.revoke", "invitation:" + id));
                 }));
                 return Response::Empty(204);
               });

  // --- API tokens ----------------------------------------------------------------------------
  api.Register(router, {.method = "GET", .pattern = "/api/v1/organizations/{org}/tokens", .summary = "API tokens (never their secrets).", .tag = "tokens", .permission = "tokens.read"},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(Page page, ParsePage(c.http));
                 HP_ASSIGN_OR_RETURN(auto list, api.db().Read([&](SQLite::Database& tx) { return store::ListTokens(tx, c.org->row, page.after, page.limit); }));
                 Json items = Json::array();
                 for (const auto& t : list) items.push_back(TokenJson(t));
                 return PageResponse(c.http, items, list.size(), page.limit, list.empty() ? 0 : list.back().row);
               });

  api.Register(router, {.method = "POST", .pattern = "/api/v1/organizations/{org}/tokens", .summary = "Create an API token; the secret is shown once.", .tag = "tokens", .permission = "tokens.manage",
                        .request_schema = {{"type", "object"},
                                           {"properties", {{"name", {{"type", "string"}}}, {"scopes", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                                                           {"expires_at", {{"type", "string"}, {"format", "date-time"}}}, {"ip_allowlist", {{"type", "array"}}}}},
                                           {"required", {"name", "scopes"}}}},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(std::string name, core::GetString(c.body, "name"));
                 if (name.empty() || name.size() > 100) return core::FailField(ErrorCode::kInvalidArgument, "name", "must be 1 to 100 characters");
                 if (!c.body.contains("scopes") || !c.body["scopes"].is_array() || c.body["scopes"].empty())
                   return core::FailField(ErrorCode::kInvalidArgument, "scopes", "must be a non-empty array of permissions");
                 store::Token t;
                 for (size_t i = 0; i < c.body["scopes"].size(); ++i) {
                   const auto& s = c.body["scopes"][i];
                   const std::string field = "scopes[" + std::to_string(i) + "]";
                   if (!s.is_string() || !IsPermission(s.get<std::string>()))
                     return core::FailField(ErrorCode::kInvalidArgument, field, "is not a permission (see docs/roles.md)");
                   if (!RoleHas(c.role, s.get<std::string>()))
                     return core::FailField(ErrorCode::kPermissionDenied, field, "your role '" + c.role + "' does not have " + s.get<std::string>());
                   if (c.who.token && std::find(c.who.token->scopes.begin(), c.who.token->scopes.end(), s.get<std::string>()) == c.who.token->scopes.end())
                     return core::FailField(ErrorCode::kPermissionDenied, field, "a token cannot create a token with more scopes than its own");
                   t.scopes.push_back(s.get<std::string>());
                 }
                 const int64_t now = api.Now();
                 if (c.body.contains("expires_at") && !c.body["expires_at"].is_null()) {
                   HP_ASSIGN_OR_RETURN(std::string e, core::GetString(c.body, "expires_at"));
                   auto tp = core::ParseRfc3339(e);
                   if (!tp) return core::FailField(ErrorCode::kInvalidArgument, "expires_at", "must be an RFC 3339 time");
                   t.expires_at = core::ToUnixMicros(*tp);
                   if (t.expires_at <= now) return core::FailField(ErrorCode::kInvalidArgument, "expires_at", "must be in the future");
                 }
                 if (c.body.contains("ip_allowlist")) {
                   HP_ASSIGN_OR_RETURN(t.ip_allowlist, ParseAllowlist(c.body["ip_allowlist"], "ip_allowlist"));
                 }
                 const std::string secret = RandomToken();
                 t.id = core::NewPublicId();
                 t.org_row = c.org->row;
                 t.org_id = c.org->id;
                 t.user_row = c.who.user.row;
                 t.user_id = c.who.user.id;
                 t.name = name;
                 t.secret_hash = Sha256Hex(secret);
                 t.created_at = now;
                 HP_TRY(api.db().Write([&](SQLite::Database& tx) -> core::Status {
                   HP_TRY(store::CreateToken(tx, t));
                   auto ev = c.Event("token.create", "token:" + t.id);
                   ev.detail = {{"name", name}, {"scopes", t.scopes}};
                   return api.audit().Append(tx, ev);
                 }));
                 Json j = TokenJson(t);
                 j["token"] = "hp_" + t.id + "_" + secret;  // shown once
                 Response r = Response::Json(201, j);
                 r.SetHeader("Location", "/api/v1/organizations/" + c.org->id + "/tokens/" + t.id);
                 return r;
               });

  api.Register(router, {.method = "DELETE", .pattern = "/api/v1/organizations/{org}/tokens/{token}", .summary = "Revoke an API token.", .tag = "tokens", .permission = "tokens.manage"},
               [&api](ApiContext& c) -> core::Result<Response> {
                 const std::string id = c.http.Param("token");
                 HP_TRY(api.db().Write([&](SQLite::Database& tx) -> core::Status {
                   HP_ASSIGN_OR_RETURN(auto t, store::FindToken(tx, id));
                   if (!t || t->org_row != c.org->row) return core::Fail(ErrorCode::kNotFound, "token " + id + " not found");
                   HP_TRY(store::RevokeToken(tx, t->row, api.Now()));
                   return api.audit().Append(tx, c.Event("token.revoke", "token:" + id));
                 }));
                 return Response::Empty(204);
               });

  // --- asynchronous operations ----------------------------------------------------------------
  // Long work (provisioning, issuance, publishing) answers 202 with this URL; the operation is a
  // durable job owned by the organization.
  api.Register(router, {.method = "GET", .pattern = "/api/v1/organizations/{org}/operations/{operation}", .summary = "Progress and outcome of an asynchronous operation.",
                        .tag = "operations", .permission = "services.read"},
               [&api](ApiContext& c) -> core::Result<Response> {
                 core::JobQueue* jobs = api.jobs();
                 auto job = jobs->Get(c.http.Param("operation"));
                 if (!job || job->organization_id != c.org->id)
                   return core::Fail(ErrorCode::kNotFound, "operation " + c.http.Param("operation") + " not found");
                 std::string state;
                 switch (job->state) {
                   case core::JobState::kQueued:
                     state = job->attempts > 0 ? "retrying" : "pending";
                     break;
                   case core::JobState::kRunning: state = "running"; break;
                   case core::JobState::kSucceeded: state = "succeeded"; break;
                   case core::JobState::kDead: state = "failed"; break;
                   case core::JobState::kCancelled: state = "cancelled"; break;
                 }
                 Json body = {{"id", job->id}, {"kind", job->kind}, {"state", state}, {"attempts", job->attempts},
                              {"progress", job->progress}, {"created_at", core::FormatRfc3339(job->created_at)},
                              {"updated_at", core::FormatRfc3339(job->updated_at)}};
                 if (job->state == core::JobState::kSucceeded) body["result"] = job->result;
                 if (!job->last_error.empty()) body["error"] = job->last_error;
                 Response r = Response::Json(200, body);
                 if (state == "pending" || state == "running" || state == "retrying") r.SetHeader("Retry-After", "1");
                 return r;
               });

  // --- audit log -----------------------------------------------------------------------------
  api.Register(router, {.method = "GET", .pattern = "/api/v1/organizations/{org}/audit-events", .summary = "Audit events of the organization (filters: from, to, action; cursor pagination).", .tag = "audit", .permission = "audit.read"},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(AuditQuery q, ParseAuditQuery(c.http, false));
                 q.organization_id = c.org->id;
                 HP_ASSIGN_OR_RETURN(auto rows, ChainedAuditLog::Query(api.db(), q));
                 Json items = Json::array();
                 for (const auto& r : rows) items.push_back(AuditJson(r));
                 return PageResponse(c.http, items, rows.size(), q.limit, rows.empty() ? 0 : rows.back().seq);
               });

  api.Register(router, {.method = "GET", .pattern = "/api/v1/organizations/{org}/audit-events.csv", .summary = "CSV export of one period (from, to required; at most 3 months per file).", .tag = "audit", .permission = "audit.read",
                        .response_type = "text/csv"},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(AuditQuery q, ParseAuditQuery(c.http, true));
                 if (*q.to - *q.from > std::chrono::days(92))
                   return core::FailField(ErrorCode::kInvalidArgument, "to", "a CSV export covers at most 3 months; split the period");
                 q.organization_id = c.org->id;
                 q.after_seq = 0;
                 q.limit = 1000000;
                 HP_ASSIGN_OR_RETURN(auto rows, ChainedAuditLog::Query(api.db(), q));
                 Response r(200, "text/csv; charset=utf-8", ChainedAuditLog::ToCsv(rows));
                 r.SetHeader("Content-Disposition", "attachment; filename=\"audit-" + c.org->id + ".csv\"");
                 return r;
               });
}

}  // namespace hp::cp
