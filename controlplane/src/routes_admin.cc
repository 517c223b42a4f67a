#include "rbac.h"
#include "routes.h"
#include "hp/core/events.h"

namespace hp::cp {

using core::ErrorCode;
using core::Json;
using core::http::Response;

void RegisterAdminRoutes(Api& api, core::http::Router& router, core::JobQueue& jobs) {
  api.Register(router, {.method = "POST", .pattern = "/api/v1/admin/partners", .summary = "Create a partner (agency, reseller, oem).", .tag = "admin", .permission = kStaff,
                        .request_schema = {{"type", "object"}, {"properties", {{"name", {{"type", "string"}}}, {"channel", {{"type", "string"}}}}}, {"required", {"name", "channel"}}}},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(std::string name, core::GetString(c.body, "name"));
                 HP_ASSIGN_OR_RETURN(std::string channel, core::GetString(c.body, "channel"));
                 if (name.empty() || name.size() > 100) return core::FailField(ErrorCode::kInvalidArgument, "name", "must be 1 to 100 characters");
                 if (channel != "agency" && channel != "reseller" && channel != "oem")
                   return core::FailField(ErrorCode::kInvalidArgument, "channel", "must be agency, reseller or oem");
                 HP_ASSIGN_OR_RETURN(store::Partner p, api.db().Write([&](SQLite::Database& tx) -> core::Result<store::Partner> {
                   HP_ASSIGN_OR_RETURN(store::Partner p, store::CreatePartner(tx, name, channel, api.Now()));
                   auto ev = c.Event("partner.create", "partner:" + p.id);
                   ev.partner_id = p.id;
                   ev.detail = {{"name", name}, {"channel", channel}};
                   HP_TRY(api.audit().Append(tx, ev));
                   return p;
                 }));
                 return Response::Json(201, {{"id", p.id}, {"name", p.name}, {"channel", p.channel}, {"status", p.status}});
               });

  api.Register(router, {.method = "GET", .pattern = "/api/v1/admin/partners", .summary = "All partners.", .tag = "admin", .permission = kStaff},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(Page page, ParsePage(c.http));
                 HP_ASSIGN_OR_RETURN(auto list, api.db().Read([&](SQLite::Database& tx) { return store::ListPartners(tx, page.after, page.limit); }));
                 Json items = Json::array();
                 for (const auto& p : list) items.push_back({{"id", p.id}, {"name", p.name}, {"channel", p.channel}, {"status", p.status}});
                 return PageResponse(c.http, items, list.size(), page.limit, list.empty() ? 0 : list.back().row);
               });

  api.Register(router, {.method = "GET", .pattern = "/api/v1/admin/organizations", .summary = "All organizations (filter: partner).", .tag = "admin", .permission = kStaff},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(Page page, ParsePage(c.http));
                 std::string partner = c.http.QueryParam("partner").value_or("");
                 HP_ASSIGN_OR_RETURN(auto list, api.db().Read([&](SQLite::Database& tx) { return store::ListOrganizations(tx, partner, page.after, page.limit); }));
                 Json items = Json::array();
                 for (const auto& o : list) items.push_back(OrgJson(o));
                 return PageResponse(c.http, items, list.size(), page.limit, list.empty() ? 0 : list.back().row);
               });

  for (const std::string action : {"suspend", "unsuspend"}) {
    api.Register(router, {.method = "POST", .pattern = "/api/v1/admin/organizations/{id}/" + action,
                          .summary = action == "suspend" ? "Suspend an organization (its members can read but not change anything)." : "Lift a suspension.",
                          .tag = "admin", .permission = kStaff},
                 [&api, action](ApiContext& c) -> core::Result<Response> {
                   const std::string id = c.http.Param("id");
                   std::string reason;
                   if (c.body.contains("reason")) {
                     HP_ASSIGN_OR_RETURN(reason, core::GetString(c.body, "reason"));
                   }
                   HP_ASSIGN_OR_RETURN(store::Organization o, api.db().Write([&](SQLite::Database& tx) -> core::Result<store::Organization> {
                     HP_ASSIGN_OR_RETURN(store::Organization o, store::GetOrganization(tx, id));
                     if (o.status == "terminated") return core::Fail(ErrorCode::kConflict, "organization is terminated");
                     HP_TRY(store::SetOrganizationStatus(tx, o.row, action == "suspend" ? "suspended" : "active", api.Now()));
                     auto ev = c.Event("organization." + action, "organization:" + o.id);
                     ev.organization_id = o.id;
                     ev.partner_id = o.partner_id;
                     if (!reason.empty()) ev.detail["reason"] = reason;
                     HP_TRY(api.audit().Append(tx, ev));
                     if (action == "suspend" && o.status != "suspended")
                       HP_TRY(core::RecordEventInTx(*api.jobs(), tx, "organization.suspended", o.id, Json{{"status", "suspended"}, {"by", "operator"}}));
                     return store::GetOrganization(tx, id);
                   }));
                   return Response::Json(200, OrgJson(o));
                 });
  }

  api.Register(router, {.method = "GET", .pattern = "/api/v1/admin/audit-events", .summary = "The whole audit log (filters: organization, from, to, action).", .tag = "admin", .permission = kStaff},
               [&api](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(Page page, ParsePage(c.http));
                 AuditQuery q;
                 q.after_seq = page.after;
                 q.limit = page.limit;
                 q.organization_id = c.http.QueryParam("organization").value_or("");
                 q.action_prefix = c.http.QueryParam("action").value_or("");
                 HP_ASSIGN_OR_RETURN(auto rows, ChainedAuditLog::Query(api.db(), q));
                 Json items = Json::array();
                 for (const auto& r : rows)
                   items.push_back({{"seq", r.seq}, {"time", core::FormatRfc3339(r.ts)}, {"actor_type", r.event.actor_type},
                                    {"actor_id", r.event.actor_id}, {"organization_id", r.event.organization_id}, {"action", r.event.action},
                                    {"target", r.event.target}, {"source_ip", r.event.source_ip}, {"result", r.event.result}, {"detail", r.event.detail}});
                 return PageResponse(c.http, items, rows.size(), q.limit, rows.empty() ? 0 : rows.back().seq);
               });

  api.Register(router, {.method = "GET", .pattern = "/api/v1/admin/jobs", .summary = "Durable jobs (filters: state, kind).", .tag = "admin", .permission = kStaff},
               [&jobs](ApiContext& c) -> core::Result<Response> {
                 core::JobFilter f;
                 if (auto s = c.http.QueryParam("state")) {
                   HP_ASSIGN_OR_RETURN(f.state, core::ParseJobState(*s));
                 }
                 f.kind = c.http.QueryParam("kind").value_or("");
                 HP_ASSIGN_OR_RETURN(auto list, jobs.List(f));
                 Json items = Json::array();
                 for (const auto& j : list)
                   items.push_back({{"id", j.id}, {"kind", j.kind}, {"state", std::string(core::JobStateName(j.state))}, {"attempts", j.attempts},
                                    {"max_attempts", j.max_attempts}, {"last_error", j.last_error}, {"organization_id", j.organization_id},
                                    {"created_at", core::FormatRfc3339(j.created_at)}, {"progress", j.progress}});
                 return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
               });
}

}  // namespace hp::cp
