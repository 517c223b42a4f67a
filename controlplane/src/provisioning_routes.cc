// /api/v1 routes of provisioning (see provisioning_routes.h and docs/provisioning.md "API").
#include "provisioning_routes.h"

#include <filesystem>
#include <fstream>

#include "hp/core/log.h"
#include "rbac.h"

namespace hp::cp {

namespace prov = provisioning;
using core::ErrorCode;
using core::FailField;
using core::Json;
using core::Result;
using core::http::Response;

namespace {

std::string Rfc(core::TimePoint t) {
  return t.time_since_epoch().count() == 0 ? "" : core::FormatRfc3339(t);
}

std::string OperationUrl(const std::string& org, const std::string& op) {
  return "/api/v1/organizations/" + org + "/operations/" + op;
}

Json OperationJson(const std::string& org, const std::string& op) {
  if (op.empty()) return nullptr;
  return Json{{"id", op}, {"url", OperationUrl(org, op)}};
}

Json VpsJson(const prov::Vps& v) {
  Json j = {{"id", v.id},
            {"hostname", v.hostname},
            {"state", prov::VpsStateName(v.state)},
            {"plan",
             {{"vcpus", v.plan.vcpus}, {"ram_mib", v.plan.ram_mib}, {"disk_gib", v.plan.disk_gib}}},
            {"template", v.template_name},
            {"zone", v.zone},
            {"ipv4", v.ipv4.empty() ? Json(nullptr) : Json(v.ipv4)},
            {"ipv6", v.ipv6.empty() ? Json(nullptr) : Json(v.ipv6)},
            {"operation", OperationJson(v.organization_id, v.operation_id)},
            {"created_at", Rfc(v.created_at)},
            {"updated_at", Rfc(v.updated_at)}};
  if (!v.last_error.empty()) j["error"] = v.last_error;
  return j;
}

Json SiteJson(const prov::Site& s) {
  Json j = {{"id", s.id},
            {"domain", s.domain},
            {"state", prov::SiteStateName(s.state)},
            {"sftp_user", s.system_user},
            {"document_root", s.document_root},
            {"quota_mib", s.quota_mib},
            {"used_mib", s.used_mib},
            {"domains", s.Names()}};
  if (!s.last_error.empty()) j["error"] = s.last_error;
  return j;
}

Json DedicatedJson(const prov::DedicatedServer& d) {
  Json j = {{"id", d.id},
            {"hostname", d.hostname},
            {"state", prov::DedicatedStateName(d.state)},
            {"powered_on", d.powered_on},
            {"operation", OperationJson(d.organization_id, d.operation_id)},
            {"created_at", Rfc(d.created_at)}};
  if (!d.last_error.empty()) j["error"] = d.last_error;
  return j;
}

Json ResourcesJson(const prov::Resources& r) {
  return {{"vcpus", r.vcpus}, {"ram_mib", r.ram_mib}, {"disk_gib", r.disk_gib}};
}

Json TemplateJson(const prov::Template& t) {
  return {{"id", t.id},
          {"name", t.spec.name},
          {"pool", t.spec.pool},
          {"volume", t.spec.volume},
          {"format", t.spec.format},
          {"min_disk_gib", t.spec.min_disk_gib},
          {"kernel", t.spec.kernel},
          {"initrd", t.spec.initrd},
          {"cmdline", t.spec.cmdline}};
}

Json PoolJson(const prov::IpPool& p) {
  return {{"id", p.id},
          {"name", p.spec.name},
          {"zone", p.spec.zone},
          {"family", p.spec.family},
          {"first", p.spec.first},
          {"last", p.spec.last},
          {"prefix_length", p.spec.prefix_length},
          {"gateway", p.spec.gateway},
          {"size", p.size},
          {"used", p.used}};
}

// Typed fields of a JSON object; problems name the field with its path ("plan.vcpus").
Result<std::string> Str(const Json& obj, const std::string& key, const std::string& path,
                        bool required, const std::string& fallback = "") {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) {
    if (required) return FailField(ErrorCode::kInvalidArgument, path, path + " is required");
    return fallback;
  }
  if (!obj[key].is_string())
    return FailField(ErrorCode::kInvalidArgument, path, path + " must be a string");
  return obj[key].get<std::string>();
}

Result<int64_t> Int(const Json& obj, const std::string& key, const std::string& path,
                    int64_t fallback) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return fallback;
  if (!obj[key].is_number_integer())
    return FailField(ErrorCode::kInvalidArgument, path, path + " must be an integer");
  return obj[key].get<int64_t>();
}

Result<double> Num(const Json& obj, const std::string& key, const std::string& path,
                   double fallback) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return fallback;
  if (!obj[key].is_number())
    return FailField(ErrorCode::kInvalidArgument, path, path + " must be a number");
  return obj[key].get<double>();
}

Result<bool> Bool(const Json& obj, const std::string& key, const std::string& path, bool fallback) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return fallback;
  if (!obj[key].is_boolean())
    return FailField(ErrorCode::kInvalidArgument, path, path + " must be true or false");
  return obj[key].get<bool>();
}

Result<Json> Obj(const Json& obj, const std::string& key, bool required) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) {
    if (required) return FailField(ErrorCode::kInvalidArgument, key, key + " is required");
    return Json::object();
  }
  if (!obj[key].is_object())
    return FailField(ErrorCode::kInvalidArgument, key, key + " must be an object");
  return obj[key];
}

Result<prov::VpsPlan> PlanFromJson(const Json& body, bool required) {
  HP_ASSIGN_OR_RETURN(Json p, Obj(body, "plan", required));
  prov::VpsPlan plan;
  HP_ASSIGN_OR_RETURN(int64_t vcpus, Int(p, "vcpus", "plan.vcpus", plan.vcpus));
  HP_ASSIGN_OR_RETURN(plan.ram_mib, Int(p, "ram_mib", "plan.ram_mib", plan.ram_mib));
  HP_ASSIGN_OR_RETURN(plan.disk_gib, Int(p, "disk_gib", "plan.disk_gib", plan.disk_gib));
  if (vcpus < 1 || vcpus > 256)
    return FailField(ErrorCode::kInvalidArgument, "plan.vcpus", "vCPUs must be 1-256");
  plan.vcpus = static_cast<int>(vcpus);
  return plan;
}

Result<prov::Resources> ResourcesFromJson(const Json& body, const std::string& key, bool required) {
  HP_ASSIGN_OR_RETURN(Json r, Obj(body, key, required));
  prov::Resources out;
  HP_ASSIGN_OR_RETURN(out.vcpus, Int(r, "vcpus", key + ".vcpus", 0));
  HP_ASSIGN_OR_RETURN(out.ram_mib, Int(r, "ram_mib", key + ".ram_mib", 0));
  HP_ASSIGN_OR_RETURN(out.disk_gib, Int(r, "disk_gib", key + ".disk_gib", 0));
  return out;
}

// A request no host can take is refused at once with the per-filter explanation; the job would
// fail the same way a moment later. (Racy by nature: the job's claim is the authority.)
core::Status CheckPlacement(prov::Placer& placer, const prov::PlacementRequest& r,
                            const std::string& what) {
  auto ex = placer.Explain(r);
  if (!ex) return core::Ok();  // let the service validate and explain
  int64_t rejected = 0;
  for (const auto& [why, n] : ex->rejected) rejected += n;
  if (ex->hosts > 0 && rejected < ex->hosts) return core::Ok();
  std::string detail = "no " + std::string(prov::HostKindName(r.kind)) + " host can take " + what;
  if (!r.zone.empty()) detail += " in zone " + r.zone;
  detail += ": " + (ex->hosts == 0
                        ? "no " + std::string(prov::HostKindName(r.kind)) + " hosts in inventory"
                        : ex->ToString());
  return core::Fail(core::Error(ErrorCode::kConflict, detail)
                        .WithField(r.kind == prov::HostKind::kVps ? "plan" : "zone"));
}

// Every state-changing route audits its outcome: success with the facts the handler adds, or
// failure with the error code (the audit row never carries secrets).
struct Audit {
  std::string target;
  Json detail = Json::object();
};
using AuditedHandler = std::function<Result<Response>(ApiContext&, Audit&)>;

ApiHandler Audited(Api& api, std::string action, std::string param, AuditedHandler fn) {
  return [&api, action = std::move(action), param = std::move(param),
          fn = std::move(fn)](ApiContext& c) -> Result<Response> {
    Audit a;
    if (!param.empty()) a.target = param + ":" + c.http.Param(param);
    auto r = fn(c, a);
    auto ev = c.Event(action, a.target, r ? "success" : "failure");
    ev.detail = a.detail;
    if (!r) {
      ev.detail["error"] = std::string(core::ErrorCodeName(r.error().code));
      if (!r.error().field.empty()) ev.detail["field"] = r.error().field;
    }
    api.AuditAlone(ev);
    return r;
  };
}

Response Accepted(const std::string& org, const prov::Operation& op, const std::string& key,
                  Json resource) {
  Response r =
      Response::Json(202, {{"operation", OperationJson(org, op.id)}, {key, std::move(resource)}});
  r.SetHeader("Location", OperationUrl(org, op.id));
  return r;
}

std::string IdempotencyKey(const ApiContext& c) { return c.http.Header("idempotency-key"); }

// The last `max` bytes of a file, starting after a line break when cut.
std::string Tail(const std::string& path, size_t max) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff start =
      size > static_cast<std::streamoff>(max) ? size - static_cast<std::streamoff>(max) : 0;
  in.seekg(start);
  std::string s(static_cast<size_t>(size - start), '\0');
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  if (start > 0) {
    auto nl = s.find('\n');
    if (nl != std::string::npos) s.erase(0, nl + 1);
  }
  return s;
}

void RegisterVps(Api& api, core::http::Router& router, const ProvisioningRouteDeps& d) {
  const std::string base = "/api/v1/organizations/{org}/vps";
  auto& vps = *d.vps;
  auto* placer = d.placer;
  const std::string zone0 = d.default_zone;
  auto reg = [&](const std::string& method, const std::string& pattern, const std::string& summary,
                 const char* perm, ApiHandler h, Json schema = nullptr) {
    api.Register(router,
                 {.method = method,
                  .pattern = pattern,
                  .summary = summary,
                  .tag = "vps",
                  .permission = perm,
                  .request_schema = std::move(schema)},
                 std::move(h));
  };
  reg("GET", base, "Virtual private servers of the organization.", "services.read",
      [&vps](ApiContext& c) -> Result<Response> {
        HP_ASSIGN_OR_RETURN(auto list, vps.List(c.org->id));
        Json items = Json::array();
        for (const auto& v : list) items.push_back(VpsJson(v));
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  reg("POST", base,
      "Create a VPS (hostname, template, zone, plan {vcpus, ram_mib, disk_gib}, "
      "ssh_authorized_key, anti_affinity_group); "
      "202 with the operation.",
      "services.manage",
      Audited(api, "vps.create", "",
              [&vps, placer, zone0](ApiContext& c, Audit& a) -> Result<Response> {
                prov::CreateVpsRequest r;
                r.organization_id = c.org->id;
                HP_ASSIGN_OR_RETURN(r.hostname, Str(c.body, "hostname", "hostname", true));
                HP_ASSIGN_OR_RETURN(r.template_name, Str(c.body, "template", "template", true));
                HP_ASSIGN_OR_RETURN(r.zone, Str(c.body, "zone", "zone", false, zone0));
                HP_ASSIGN_OR_RETURN(r.plan, PlanFromJson(c.body, true));
                HP_ASSIGN_OR_RETURN(r.ssh_authorized_key,
                                    Str(c.body, "ssh_authorized_key", "ssh_authorized_key", false));
                HP_ASSIGN_OR_RETURN(r.anti_affinity_group, Str(c.body, "anti_affinity_group",
                                                               "anti_affinity_group", false));
                r.idempotency_key = IdempotencyKey(c);
                a.detail = {{"hostname", r.hostname},
                            {"template", r.template_name},
                            {"zone", r.zone},
                            {"plan",
                             {{"vcpus", r.plan.vcpus},
                              {"ram_mib", r.plan.ram_mib},
                              {"disk_gib", r.plan.disk_gib}}}};
                if (r.zone.empty())
                  return FailField(ErrorCode::kInvalidArgument, "zone", "zone is required");
                HP_TRY(CheckPlacement(*placer,
                                      {.consumer_id = "api-precheck",
                                       .organization_id = r.organization_id,
                                       .kind = prov::HostKind::kVps,
                                       .zone = r.zone,
                                       .resources = {r.plan.vcpus, r.plan.ram_mib, r.plan.disk_gib},
                                       .anti_affinity_group = r.anti_affinity_group},
                                      std::to_string(r.plan.vcpus) + " vCPU/" +
                                          std::to_string(r.plan.ram_mib) + " MiB/" +
                                          std::to_string(r.plan.disk_gib) + " GiB"));
                HP_ASSIGN_OR_RETURN(prov::Operation op, vps.CreateVps(r));
                HP_ASSIGN_OR_RETURN(prov::Vps v, vps.Get(c.org->id, op.resource_id));
                a.target = "vps:" + v.id;
                a.detail["operation"] = op.id;
                return Accepted(c.org->id, op, "vps", VpsJson(v));
              }),
      {{"type", "object"}, {"required", {"hostname", "template", "plan"}}});
  reg("GET", base + "/{vps}", "One VPS: state, plan, addresses, latest operation.", "services.read",
      [&vps](ApiContext& c) -> Result<Response> {
        HP_ASSIGN_OR_RETURN(prov::Vps v, vps.Get(c.org->id, c.http.Param("vps")));
        return Response::Json(200, VpsJson(v));
      });
  // Every operation on one VPS answers 202 with its operation and the VPS as it is now.
  using OpFn = std::function<Result<prov::Operation>(ApiContext&, Audit&)>;
  auto op_route = [&, base](const std::string& method, const std::string& suffix,
                            const std::string& action, const std::string& summary, OpFn fn,
                            Json schema = nullptr) {
    reg(method, base + suffix, summary, "services.manage",
        Audited(api, action, "vps",
                [&vps, fn](ApiContext& c, Audit& a) -> Result<Response> {
                  const std::string id = c.http.Param("vps");
                  HP_TRY(vps.Get(c.org->id,
                                 id));  // another organization's VPS: 404 whatever the body says
                  HP_ASSIGN_OR_RETURN(prov::Operation op, fn(c, a));
                  a.detail["operation"] = op.id;
                  HP_ASSIGN_OR_RETURN(prov::Vps v, vps.Get(c.org->id, id));
                  return Accepted(c.org->id, op, "vps", VpsJson(v));
                }),
        std::move(schema));
  };
  op_route("DELETE", "/{vps}", "vps.delete",
           "Delete a VPS (domain, disks, addresses, PTRs); 202 with the operation.",
           [&vps](ApiContext& c, Audit&) { return vps.DeleteVps(c.org->id, c.http.Param("vps")); });
  op_route("POST", "/{vps}/actions/start", "vps.start", "Power on; 202 with the operation.",
           [&vps](ApiContext& c, Audit&) { return vps.StartVps(c.org->id, c.http.Param("vps")); });
  op_route("POST", "/{vps}/actions/stop", "vps.stop",
           "Graceful shutdown (ACPI), forced after timeout_s or at once with force; 202 with the "
           "operation.",
           [&vps](ApiContext& c, Audit& a) -> Result<prov::Operation> {
             prov::StopOptions o;
             HP_ASSIGN_OR_RETURN(o.force, Bool(c.body, "force", "force", false));
             HP_ASSIGN_OR_RETURN(int64_t t, Int(c.body, "timeout_s", "timeout_s", 0));
             if (t < 0 || t > 3600)
               return FailField(ErrorCode::kInvalidArgument, "timeout_s",
                                "timeout_s must be 0-3600");
             o.timeout = std::chrono::seconds(t);
             a.detail = {{"force", o.force}, {"timeout_s", t}};
             return vps.StopVps(c.org->id, c.http.Param("vps"), o);
           });
  op_route("POST", "/{vps}/actions/reboot", "vps.reboot", "Reboot (ACPI); 202 with the operation.",
           [&vps](ApiContext& c, Audit&) { return vps.RebootVps(c.org->id, c.http.Param("vps")); });
  op_route("POST", "/{vps}/actions/resize", "vps.resize",
           "Offline resize to plan {vcpus, ram_mib, disk_gib} (disks only grow); 202 with the "
           "operation.",
           [&vps](ApiContext& c, Audit& a) -> Result<prov::Operation> {
             HP_ASSIGN_OR_RETURN(prov::VpsPlan plan, PlanFromJson(c.body, true));
             a.detail = {
                 {"plan",
                  {{"vcpus", plan.vcpus}, {"ram_mib", plan.ram_mib}, {"disk_gib", plan.disk_gib}}}};
             return vps.ResizeVps(c.org->id, c.http.Param("vps"), plan);
           },
           {{"type", "object"}, {"required", {"plan"}}});
  op_route("POST", "/{vps}/actions/rebuild", "vps.rebuild",
           "Reinstall from a template (disk and snapshots discarded, addresses kept); 202 with the "
           "operation.",
           [&vps](ApiContext& c, Audit& a) -> Result<prov::Operation> {
             prov::RebuildRequest r;
             HP_ASSIGN_OR_RETURN(r.template_name, Str(c.body, "template", "template", true));
             HP_ASSIGN_OR_RETURN(r.ssh_authorized_key,
                                 Str(c.body, "ssh_authorized_key", "ssh_authorized_key", false));
             a.detail = {{"template", r.template_name}};
             return vps.RebuildVps(c.org->id, c.http.Param("vps"), r);
           },
           {{"type", "object"}, {"required", {"template"}}});
  reg("GET", base + "/{vps}/snapshots", "Snapshots of a VPS.", "services.read",
      [&vps](ApiContext& c) -> Result<Response> {
        HP_ASSIGN_OR_RETURN(auto list, vps.ListSnapshots(c.org->id, c.http.Param("vps")));
        Json items = Json::array();
        for (const auto& s : list)
          items.push_back(
              {{"name", s.name}, {"state", s.state}, {"created_at", Rfc(s.created_at)}});
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  op_route("POST", "/{vps}/snapshots", "vps.snapshot.create",
           "Take a snapshot (name); 202 with the operation.",
           [&vps](ApiContext& c, Audit& a) -> Result<prov::Operation> {
             HP_ASSIGN_OR_RETURN(std::string name, Str(c.body, "name", "name", true));
             a.detail = {{"snapshot", name}};
             return vps.SnapshotVps(c.org->id, c.http.Param("vps"), name);
           },
           {{"type", "object"}, {"required", {"name"}}});
  op_route("DELETE", "/{vps}/snapshots/{snapshot}", "vps.snapshot.delete",
           "Delete a snapshot; 202 with the operation.", [&vps](ApiContext& c, Audit& a) {
             a.detail = {{"snapshot", c.http.Param("snapshot")}};
             return vps.DeleteSnapshot(c.org->id, c.http.Param("vps"), c.http.Param("snapshot"));
           });
  op_route("POST", "/{vps}/snapshots/{snapshot}/revert", "vps.snapshot.revert",
           "Return the VPS to a snapshot (including its power state then); 202 with the operation.",
           [&vps](ApiContext& c, Audit& a) {
             a.detail = {{"snapshot", c.http.Param("snapshot")}};
             return vps.RevertVps(c.org->id, c.http.Param("vps"), c.http.Param("snapshot"));
           });
  const std::string console_dir = d.console_log_dir;
  api.Register(router,
               {.method = "GET",
                .pattern = base + "/{vps}/console",
                .summary = "The tail of the serial console log (?bytes=, at most 1 MiB).",
                .tag = "vps",
                .permission = "services.read",
                .response_type = "text/plain"},
               [&vps, console_dir](ApiContext& c) -> Result<Response> {
                 HP_ASSIGN_OR_RETURN(prov::Vps v, vps.Get(c.org->id, c.http.Param("vps")));
                 int64_t bytes = 65536;
                 if (auto q = c.http.QueryParam("bytes")) {
                   if (q->empty() || q->size() > 7 || !std::all_of(q->begin(), q->end(), ::isdigit))
                     return FailField(ErrorCode::kInvalidArgument, "bytes",
                                      "bytes must be a number 1-1048576");
                   bytes = std::stoll(*q);
                   if (bytes < 1 || bytes > 1048576)
                     return FailField(ErrorCode::kInvalidArgument, "bytes",
                                      "bytes must be a number 1-1048576");
                 }
                 if (console_dir.empty())
                   return core::Fail(ErrorCode::kUnavailable,
                                     "serial console logging is not configured");
                 return Response(
                     200, "text/plain; charset=utf-8",
                     Tail(console_dir + "/" + v.domain_name + ".log", static_cast<size_t>(bytes)));
               });
}

void RegisterSites(Api& api, core::http::Router& router, const ProvisioningRouteDeps& d) {
  const std::string base = "/api/v1/organizations/{org}/sites";
  auto* sites = d.sites;
  const std::string why = d.sites_unavailable;
  auto svc = [sites, why]() -> Result<prov::SharedHostingService*> {
    if (!sites)
      return core::Fail(ErrorCode::kUnavailable, "shared hosting is not available: " + why);
    return sites;
  };
  auto* placer = d.placer;
  const std::string zone0 = d.default_zone;
  auto reg = [&](const std::string& method, const std::string& pattern, const std::string& summary,
                 const char* perm, ApiHandler h, Json schema = nullptr) {
    api.Register(router,
                 {.method = method,
                  .pattern = pattern,
                  .summary = summary,
                  .tag = "sites",
                  .permission = perm,
                  .request_schema = std::move(schema)},
                 std::move(h));
  };
  reg("GET", base, "Shared-hosting sites of the organization.", "services.read",
      [svc](ApiContext& c) -> Result<Response> {
        HP_ASSIGN_OR_RETURN(auto* s, svc());
        HP_ASSIGN_OR_RETURN(auto list, s->List(c.org->id));
        Json items = Json::array();
        for (const auto& x : list) items.push_back(SiteJson(x));
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  reg("POST", base,
      "Create a site (domain, quota_mib, zone): system user, document root, server block; 202 with "
      "the operation.",
      "services.manage",
      Audited(api, "site.create", "",
              [svc, placer, zone0](ApiContext& c, Audit& a) -> Result<Response> {
                HP_ASSIGN_OR_RETURN(auto* s, svc());
                prov::CreateSiteRequest r;
                r.organization_id = c.org->id;
                HP_ASSIGN_OR_RETURN(r.domain, Str(c.body, "domain", "domain", true));
                HP_ASSIGN_OR_RETURN(r.quota_mib,
                                    Int(c.body, "quota_mib", "quota_mib", r.quota_mib));
                HP_ASSIGN_OR_RETURN(r.zone, Str(c.body, "zone", "zone", false, zone0));
                r.idempotency_key = IdempotencyKey(c);
                a.detail = {{"domain", r.domain}, {"quota_mib", r.quota_mib}, {"zone", r.zone}};
                if (r.zone.empty())
                  return FailField(ErrorCode::kInvalidArgument, "zone", "zone is required");
                if (r.quota_mib >= 10) {
                  HP_TRY(CheckPlacement(*placer,
                                        {.consumer_id = "api-precheck",
                                         .organization_id = r.organization_id,
                                         .kind = prov::HostKind::kSharedWeb,
                                         .zone = r.zone,
                                         .resources = {0, 0, (r.quota_mib + 1023) / 1024}},
                                        "a site of " + std::to_string(r.quota_mib) + " MiB"));
                }
                HP_ASSIGN_OR_RETURN(prov::Operation op, s->CreateSite(r));
                HP_ASSIGN_OR_RETURN(prov::Site site, s->Get(c.org->id, op.resource_id));
                a.target = "site:" + site.id;
                a.detail["operation"] = op.id;
                return Accepted(c.org->id, op, "site", SiteJson(site));
              }),
      {{"type", "object"}, {"required", {"domain"}}});
  reg("GET", base + "/{site}", "One site: state, SFTP user, quota and usage.", "services.read",
      [svc](ApiContext& c) -> Result<Response> {
        HP_ASSIGN_OR_RETURN(auto* s, svc());
        HP_ASSIGN_OR_RETURN(prov::Site site, s->Get(c.org->id, c.http.Param("site")));
        return Response::Json(200, SiteJson(site));
      });
  using OpFn = std::function<Result<prov::Operation>(prov::SharedHostingService&,
                                                     const std::string&, const std::string&)>;
  auto op_route = [&, base](const std::string& method, const std::string& suffix,
                            const std::string& action, const std::string& summary, OpFn fn) {
    reg(method, base + suffix, summary, "services.manage",
        Audited(api, action, "site", [svc, fn](ApiContext& c, Audit& a) -> Result<Response> {
          HP_ASSIGN_OR_RETURN(auto* s, svc());
          const std::string id = c.http.Param("site");
          HP_TRY(s->Get(c.org->id, id));
          HP_ASSIGN_OR_RETURN(prov::Operation op, fn(*s, c.org->id, id));
          a.detail["operation"] = op.id;
          HP_ASSIGN_OR_RETURN(prov::Site site, s->Get(c.org->id, id));
          return Accepted(c.org->id, op, "site", SiteJson(site));
        }));
  };
  op_route("DELETE", "/{site}", "site.terminate",
           "Terminate a site (server block, user and files removed); 202 with the operation.",
           [](prov::SharedHostingService& s, const std::string& org, const std::string& id) {
             return s.TerminateSite(org, id);
           });
  op_route("POST", "/{site}/actions/suspend", "site.suspend",
           "Serve the suspension page (503) instead of the site; 202 with the operation.",
           [](prov::SharedHostingService& s, const std::string& org, const std::string& id) {
             return s.SuspendSite(org, id);
           });
  op_route("POST", "/{site}/actions/unsuspend", "site.unsuspend",
           "Serve the site again; 202 with the operation.",
           [](prov::SharedHostingService& s, const std::string& org, const std::string& id) {
             return s.UnsuspendSite(org, id);
           });
  // Names besides the site's own (AutoSSL issues a certificate for each once it is served).
  reg("POST", base + "/{site}/domains",
      "Add a name (domain) to the site: served by its server block, then a certificate is issued "
      "automatically; 202 with the operation.",
      "services.manage",
      Audited(api, "site.domain.add", "site", [svc](ApiContext& c, Audit& a) -> Result<Response> {
        HP_ASSIGN_OR_RETURN(auto* s, svc());
        const std::string id = c.http.Param("site");
        HP_TRY(s->Get(c.org->id, id));  // another organization's site is 404 before the body
        HP_ASSIGN_OR_RETURN(std::string domain, Str(c.body, "domain", "domain", true));
        a.detail = {{"domain", domain}};
        HP_ASSIGN_OR_RETURN(prov::Operation op, s->AddDomain(c.org->id, id, domain));
        a.detail["operation"] = op.id;
        HP_ASSIGN_OR_RETURN(prov::Site site, s->Get(c.org->id, id));
        return Accepted(c.org->id, op, "site", SiteJson(site));
      }),
      {{"type", "object"}, {"required", {"domain"}}});
  reg("DELETE", base + "/{site}/domains/{domain}",
      "Remove an added name from the site (its certificate is revoked); 202 with the operation.",
      "services.manage",
      Audited(api, "site.domain.remove", "site", [svc](ApiContext& c, Audit& a) -> Result<Response> {
        HP_ASSIGN_OR_RETURN(auto* s, svc());
        const std::string id = c.http.Param("site");
        const std::string domain = c.http.Param("domain");
        a.detail = {{"domain", domain}};
        HP_ASSIGN_OR_RETURN(prov::Operation op, s->RemoveDomain(c.org->id, id, domain));
        a.detail["operation"] = op.id;
        HP_ASSIGN_OR_RETURN(prov::Site site, s->Get(c.org->id, id));
        return Accepted(c.org->id, op, "site", SiteJson(site));
      }));
  reg("POST", base + "/{site}/actions/reset-sftp-password",
      "Set a fresh random SFTP password and show it once.", "services.manage",
      Audited(api, "site.sftp_password.reset", "site",
              [svc](ApiContext& c, Audit&) -> Result<Response> {
                HP_ASSIGN_OR_RETURN(auto* s, svc());
                HP_ASSIGN_OR_RETURN(prov::Site site, s->Get(c.org->id, c.http.Param("site")));
                HP_ASSIGN_OR_RETURN(std::string password, s->ResetSftpPassword(c.org->id, site.id));
                Response r =
                    Response::Json(200, {{"sftp_user", site.system_user}, {"password", password}});
                r.SetHeader("Cache-Control", "no-store");
                return r;
              }));
}

void RegisterDedicated(Api& api, core::http::Router& router, const ProvisioningRouteDeps& d) {
  const std::string base = "/api/v1/organizations/{org}/dedicated";
  auto& ded = *d.dedicated;
  auto* placer = d.placer;
  const std::string zone0 = d.default_zone;
  auto reg = [&](const std::string& method, const std::string& pattern, const std::string& summary,
                 const char* perm, ApiHandler h, Json schema = nullptr) {
    api.Register(router,
                 {.method = method,
                  .pattern = pattern,
                  .summary = summary,
                  .tag = "dedicated",
                  .permission = perm,
                  .request_schema = std::move(schema)},
                 std::move(h));
  };
  reg("GET", base, "Dedicated servers of the organization.", "services.read",
      [&ded](ApiContext& c) -> Result<Response> {
        HP_ASSIGN_OR_RETURN(auto list, ded.List(c.org->id));
        Json items = Json::array();
        for (const auto& x : list) items.push_back(DedicatedJson(x));
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  reg("POST", base,
      "Allocate a whole dedicated host (hostname, template, zone); 202 with the operation.",
      "services.manage",
      Audited(
          api, "dedicated.allocate", "",
          [&ded, placer, zone0](ApiContext& c, Audit& a) -> Result<Response> {
            prov::AllocateDedicatedRequest r;
            r.organization_id = c.org->id;
            HP_ASSIGN_OR_RETURN(r.hostname, Str(c.body, "hostname", "hostname", true));
            HP_ASSIGN_OR_RETURN(r.template_name, Str(c.body, "template", "template", true));
            HP_ASSIGN_OR_RETURN(r.zone, Str(c.body, "zone", "zone", false, zone0));
            r.idempotency_key = IdempotencyKey(c);
            a.detail = {{"hostname", r.hostname}, {"template", r.template_name}, {"zone", r.zone}};
            if (r.zone.empty())
              return FailField(ErrorCode::kInvalidArgument, "zone", "zone is required");
            HP_TRY(CheckPlacement(*placer,
                                  {.consumer_id = "api-precheck",
                                   .organization_id = r.organization_id,
                                   .kind = prov::HostKind::kDedicated,
                                   .zone = r.zone},
                                  "a dedicated server"));
            HP_ASSIGN_OR_RETURN(prov::Operation op, ded.Allocate(r));
            HP_ASSIGN_OR_RETURN(prov::DedicatedServer s, ded.Get(c.org->id, op.resource_id));
            a.target = "dedicated:" + s.id;
            a.detail["operation"] = op.id;
            return Accepted(c.org->id, op, "server", DedicatedJson(s));
          }),
      {{"type", "object"}, {"required", {"hostname", "template"}}});
  reg("GET", base + "/{server}", "One dedicated server: state and power.", "services.read",
      [&ded](ApiContext& c) -> Result<Response> {
        HP_ASSIGN_OR_RETURN(prov::DedicatedServer s, ded.Get(c.org->id, c.http.Param("server")));
        return Response::Json(200, DedicatedJson(s));
      });
  using OpFn = std::function<Result<prov::Operation>(const std::string&, const std::string&)>;
  auto op_route = [&, base](const std::string& method, const std::string& suffix,
                            const std::string& action, const std::string& summary, OpFn fn) {
    reg(method, base + suffix, summary, "services.manage",
        Audited(api, action, "server", [&ded, fn](ApiContext& c, Audit& a) -> Result<Response> {
          const std::string id = c.http.Param("server");
          HP_TRY(ded.Get(c.org->id, id));
          HP_ASSIGN_OR_RETURN(prov::Operation op, fn(c.org->id, id));
          a.detail["operation"] = op.id;
          HP_ASSIGN_OR_RETURN(prov::DedicatedServer s, ded.Get(c.org->id, id));
          return Accepted(c.org->id, op, "server", DedicatedJson(s));
        }));
  };
  op_route("DELETE", "/{server}", "dedicated.release",
           "Release the server (disk wiped with zeros, host returned); 202 with the operation.",
           [&ded](const std::string& org, const std::string& id) { return ded.Release(org, id); });
  op_route("POST", "/{server}/actions/power-on", "dedicated.power_on",
           "Power on; 202 with the operation.",
           [&ded](const std::string& org, const std::string& id) {
             return ded.Power(org, id, prov::PowerAction::kOn);
           });
  op_route("POST", "/{server}/actions/power-off", "dedicated.power_off",
           "Power off (like holding the power button); 202 with the operation.",
           [&ded](const std::string& org, const std::string& id) {
             return ded.Power(org, id, prov::PowerAction::kOff);
           });
  op_route("POST", "/{server}/actions/reset", "dedicated.reset",
           "Hard reset; 202 with the operation.",
           [&ded](const std::string& org, const std::string& id) {
             return ded.Power(org, id, prov::PowerAction::kReset);
           });
}

Result<prov::Host> FindHost(prov::Inventory& inv, const std::string& key) {
  auto h = inv.GetHost(key);
  if (h || h.error().code != ErrorCode::kNotFound) return h;
  return inv.GetHostByName(key);  // operators think in names
}

void RegisterAdmin(Api& api, core::http::Router& router, const ProvisioningRouteDeps& d) {
  auto& inv = *d.inventory;
  auto reg = [&](const std::string& method, const std::string& pattern, const std::string& summary,
                 ApiHandler h, Json schema = nullptr) {
    api.Register(router,
                 {.method = method,
                  .pattern = pattern,
                  .summary = summary,
                  .tag = "admin",
                  .permission = kStaff,
                  .request_schema = std::move(schema)},
                 std::move(h));
  };
  reg("GET", "/api/v1/admin/hosts", "Inventory hosts with capacity, use and state.",
      [&inv](ApiContext&) -> Result<Response> {
        HP_ASSIGN_OR_RETURN(auto list, inv.ListHosts());
        Json items = Json::array();
        for (const auto& h : list) items.push_back(HostJson(h));
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  reg("POST", "/api/v1/admin/hosts",
      "Add a host (name, uri, zone, kind, capacity, reserved, cpu_ratio, ram_ratio, disk_ratio, "
      "storage_pool, bridge, web_root).",
      Audited(api, "host.add", "",
              [&inv](ApiContext& c, Audit& a) -> Result<Response> {
                HP_ASSIGN_OR_RETURN(prov::HostSpec spec, HostSpecFromJson(c.body));
                a.detail = {{"name", spec.name},
                            {"uri", spec.uri},
                            {"kind", prov::HostKindName(spec.kind)},
                            {"zone", spec.zone}};
                HP_ASSIGN_OR_RETURN(prov::Host h, inv.AddHost(spec));
                a.target = "host:" + h.id;
                Response r = Response::Json(201, HostJson(h));
                r.SetHeader("Location", "/api/v1/admin/hosts/" + h.id);
                return r;
              }),
      {{"type", "object"}, {"required", {"name", "uri", "zone", "kind", "capacity"}}});
  reg("GET", "/api/v1/admin/hosts/{host}", "One host (by id or name).",
      [&inv](ApiContext& c) -> Result<Response> {
        HP_ASSIGN_OR_RETURN(prov::Host h, FindHost(inv, c.http.Param("host")));
        return Response::Json(200, HostJson(h));
      });
  reg("DELETE", "/api/v1/admin/hosts/{host}", "Remove a host that holds no allocations.",
      Audited(api, "host.remove", "host", [&inv](ApiContext& c, Audit& a) -> Result<Response> {
        HP_ASSIGN_OR_RETURN(prov::Host h, FindHost(inv, c.http.Param("host")));
        a.target = "host:" + h.id;
        a.detail = {{"name", h.spec.name}};
        HP_TRY(inv.RemoveHost(h.id));
        return Response::Empty(204);
      }));
  auto state_route = [&](const std::string& suffix, prov::HostState state,
                         const std::string& summary) {
    reg("POST", "/api/v1/admin/hosts/{host}/" + suffix, summary,
        Audited(api, "host." + suffix, "host",
                [&inv, state](ApiContext& c, Audit& a) -> Result<Response> {
                  HP_ASSIGN_OR_RETURN(prov::Host h, FindHost(inv, c.http.Param("host")));
                  a.target = "host:" + h.id;
                  a.detail = {{"name", h.spec.name},
                              {"from", prov::HostStateName(h.state)},
                              {"to", prov::HostStateName(state)}};
                  HP_TRY(inv.SetHostState(h.id, state));
                  HP_ASSIGN_OR_RETURN(prov::Host now, inv.GetHost(h.id));
                  return Response::Json(200, HostJson(now));
                }));
  };
  state_route("drain", prov::HostState::kDraining,
              "Drain a host: its guests stay, no new ones are placed on it.");
  state_route("activate", prov::HostState::kActive, "Put a host back into placement.");
  state_route("maintenance", prov::HostState::kMaintenance,
              "Mark a host as in maintenance (no placement).");

  reg("GET", "/api/v1/admin/templates", "Image templates.",
      [&inv](ApiContext&) -> Result<Response> {
        HP_ASSIGN_OR_RETURN(auto list, inv.ListTemplates());
        Json items = Json::array();
        for (const auto& t : list) items.push_back(TemplateJson(t));
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  reg("POST", "/api/v1/admin/templates",
      "Add an image template (name, pool, volume, format, min_disk_gib, kernel, initrd, cmdline).",
      Audited(api, "template.add", "",
              [&inv](ApiContext& c, Audit& a) -> Result<Response> {
                prov::TemplateSpec s;
                HP_ASSIGN_OR_RETURN(s.name, Str(c.body, "name", "name", true));
                HP_ASSIGN_OR_RETURN(s.pool, Str(c.body, "pool", "pool", false, "default"));
                HP_ASSIGN_OR_RETURN(s.volume, Str(c.body, "volume", "volume", true));
                HP_ASSIGN_OR_RETURN(s.format, Str(c.body, "format", "format", false, "qcow2"));
                HP_ASSIGN_OR_RETURN(s.min_disk_gib, Int(c.body, "min_disk_gib", "min_disk_gib", 1));
                HP_ASSIGN_OR_RETURN(s.kernel, Str(c.body, "kernel", "kernel", false));
                HP_ASSIGN_OR_RETURN(s.initrd, Str(c.body, "initrd", "initrd", false));
                HP_ASSIGN_OR_RETURN(s.cmdline, Str(c.body, "cmdline", "cmdline", false));
                a.detail = {{"name", s.name}, {"volume", s.volume}};
                HP_ASSIGN_OR_RETURN(prov::Template t, inv.AddTemplate(s));
                a.target = "template:" + t.id;
                return Response::Json(201, TemplateJson(t));
              }),
      {{"type", "object"}, {"required", {"name", "volume"}}});
  reg("GET", "/api/v1/admin/ip-pools", "IP address pools with their use.",
      [&inv](ApiContext&) -> Result<Response> {
        HP_ASSIGN_OR_RETURN(auto list, inv.ListIpPools());
        Json items = Json::array();
        for (const auto& p : list) items.push_back(PoolJson(p));
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  reg("POST", "/api/v1/admin/ip-pools",
      "Add an IP pool (name, zone, family, first, last, prefix_length, gateway).",
      Audited(
          api, "ip_pool.add", "",
          [&inv](ApiContext& c, Audit& a) -> Result<Response> {
            prov::IpPoolSpec s;
            HP_ASSIGN_OR_RETURN(s.name, Str(c.body, "name", "name", true));
            HP_ASSIGN_OR_RETURN(s.zone, Str(c.body, "zone", "zone", true));
            HP_ASSIGN_OR_RETURN(int64_t family, Int(c.body, "family", "family", 4));
            s.family = static_cast<int>(family);
            HP_ASSIGN_OR_RETURN(s.first, Str(c.body, "first", "first", true));
            HP_ASSIGN_OR_RETURN(s.last, Str(c.body, "last", "last", true));
            HP_ASSIGN_OR_RETURN(int64_t prefix, Int(c.body, "prefix_length", "prefix_length",
                                                    s.family == 4 ? 24 : 64));
            s.prefix_length = static_cast<int>(prefix);
            HP_ASSIGN_OR_RETURN(s.gateway, Str(c.body, "gateway", "gateway", false));
            a.detail = {{"name", s.name}, {"zone", s.zone}, {"first", s.first}, {"last", s.last}};
            HP_ASSIGN_OR_RETURN(prov::IpPool p, inv.AddIpPool(s));
            a.target = "ip_pool:" + p.id;
            return Response::Json(201, PoolJson(p));
          }),
      {{"type", "object"}, {"required", {"name", "zone", "first", "last"}}});
}

}  // namespace

Json HostJson(const prov::Host& h) {
  return {{"id", h.id},
          {"name", h.spec.name},
          {"uri", h.spec.uri},
          {"zone", h.spec.zone},
          {"kind", prov::HostKindName(h.spec.kind)},
          {"state", prov::HostStateName(h.state)},
          {"capacity", ResourcesJson(h.spec.capacity)},
          {"reserved", ResourcesJson(h.spec.reserved)},
          {"ratios",
           {{"cpu", h.spec.cpu_ratio}, {"ram", h.spec.ram_ratio}, {"disk", h.spec.disk_ratio}}},
          {"effective", ResourcesJson(h.Effective())},
          {"used", ResourcesJson(h.used)},
          {"allocations", h.allocations},
          {"storage_pool", h.spec.storage_pool},
          {"bridge", h.spec.bridge},
          {"web_root", h.spec.web_root},
          {"dedicated_organization_id",
           h.dedicated_organization_id.empty() ? Json(nullptr) : Json(h.dedicated_organization_id)},
          {"created_at", Rfc(h.created_at)}};
}

Result<prov::HostSpec> HostSpecFromJson(const Json& body) {
  prov::HostSpec s;
  HP_ASSIGN_OR_RETURN(s.name, Str(body, "name", "name", true));
  HP_ASSIGN_OR_RETURN(s.uri, Str(body, "uri", "uri", true));
  HP_ASSIGN_OR_RETURN(s.zone, Str(body, "zone", "zone", true));
  HP_ASSIGN_OR_RETURN(std::string kind, Str(body, "kind", "kind", true));
  auto k = prov::ParseHostKind(kind);
  if (!k)
    return FailField(ErrorCode::kInvalidArgument, "kind",
                     "kind must be shared-web, vps or dedicated");
  s.kind = *k;
  HP_ASSIGN_OR_RETURN(s.capacity, ResourcesFromJson(body, "capacity", true));
  HP_ASSIGN_OR_RETURN(s.reserved, ResourcesFromJson(body, "reserved", false));
  HP_ASSIGN_OR_RETURN(s.cpu_ratio, Num(body, "cpu_ratio", "cpu_ratio", s.cpu_ratio));
  HP_ASSIGN_OR_RETURN(s.ram_ratio, Num(body, "ram_ratio", "ram_ratio", s.ram_ratio));
  HP_ASSIGN_OR_RETURN(s.disk_ratio, Num(body, "disk_ratio", "disk_ratio", s.disk_ratio));
  HP_ASSIGN_OR_RETURN(s.storage_pool,
                      Str(body, "storage_pool", "storage_pool", false, s.storage_pool));
  HP_ASSIGN_OR_RETURN(s.bridge, Str(body, "bridge", "bridge", false));
  HP_ASSIGN_OR_RETURN(s.web_root, Str(body, "web_root", "web_root", false));
  if (s.kind == prov::HostKind::kSharedWeb && s.web_root.empty())
    return FailField(ErrorCode::kInvalidArgument, "web_root",
                     "a shared-web host needs web_root (where site files live)");
  return s;
}

void RegisterProvisioningRoutes(Api& api, core::http::Router& router,
                                const ProvisioningRouteDeps& deps) {
  RegisterVps(api, router, deps);
  RegisterSites(api, router, deps);
  RegisterDedicated(api, router, deps);
  RegisterAdmin(api, router, deps);
}

}  // namespace hp::cp
