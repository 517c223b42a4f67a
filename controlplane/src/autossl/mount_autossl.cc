// Mounts AutoSSL (issue 7) into `hostplane serve`: the control plane's ACME account and the
// durable job autossl.issue (see autossl.h, docs/autossl.md), and its API:
//   GET  /api/v1/organizations/{org}/certificates           status and last error per domain
//   POST /api/v1/organizations/{org}/sites/{site}/certificates {"domain"}: (re)issue, 202
//   GET  /api/v1/organizations/{org}/sites/{site}/certificates/{domain}/pem   chain, never the key
//   POST /api/v1/organizations/{org}/sites/{site}/certificates/{domain}/revoke {"reason"}: 202
// Needs from earlier modules (ServiceRegistry): Api, core::Sealer (controlplane) and
// provisioning::SharedHostingService (provisioning; without it requests answer 503).
#include <cctype>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>

#include "api.h"
#include "autossl/autossl.h"
#include "hp/core/http_client.h"
#include "hp/core/log.h"
#include "hp/core/sealer.h"
#include "hp/dns/zone.h"
#include "hp/partner/webhooks.h"
#include "hp/provisioning/shared_hosting.h"
#include "module.h"
#include "tenancy_store.h"

namespace hp::generated {
const std::vector<hp::core::Migration>& autossl_migrations();
}

namespace hp::cp {
namespace {

using core::ConfigType;
using core::ErrorCode;
using core::Json;
using core::Result;
using core::http::Response;

void AddConfig(core::ConfigSchema& s) {
  s.Add({.key = "autossl.directory_url",
         .default_value = "",
         .doc = "ACME directory AutoSSL orders from; empty means this server's own "
                "<public_url>/acme/directory (the internal CA, validated by our VA like any "
                "other client)."});
  s.Add({.key = "autossl.ca_file",
         .default_value = "",
         .doc = "PEM trust anchors for the directory's HTTPS; empty means the system store, or "
                "var_dir/tls/server.crt under --dev."});
  s.Add({.key = "autossl.contact",
         .default_value = "",
         .doc = "Contact of the AutoSSL ACME account (e.g. mailto:ops@example.com); optional."});
  s.Add({.key = "autossl.issue_timeout_ms",
         .type = ConfigType::kInt,
         .default_value = "90000",
         .doc = "How long one autossl.issue attempt waits for validation and finalization.",
         .min = 1000,
         .max = 600000});
  s.Add({.key = "autossl.scan_interval_s",
         .type = ConfigType::kInt,
         .default_value = "600",
         .doc = "How often the renewal scan looks for certificates in their ARI renewal window "
                "(fallback: two thirds of the lifetime) and failed ones due for a retry.",
         .min = 1,
         .max = 86400});
  s.Add({.key = "autossl.max_orders_per_3h",
         .type = ConfigType::kInt,
         .default_value = "250",
         .doc = "Orders AutoSSL places per 3 hours at most; keep it under "
                "acme.limits.new_orders_per_account_3h (due renewals beyond it wait for the next "
                "scan).",
         .min = 1,
         .max = 1000000});
  s.Add({.key = "autossl.supersede_grace_s",
         .type = ConfigType::kInt,
         .default_value = "86400",
         .doc = "After a renewal is deployed, the certificate it replaced is revoked with reason "
                "superseded once this many seconds have passed.",
         .min = 0,
         .max = 30 * 86400});
  s.Add({.key = "autossl.retry_base_s",
         .type = ConfigType::kInt,
         .default_value = "300",
         .doc = "Retry backoff after a failed issuance: this times 2^(failures-1), at most 12 h.",
         .min = 1,
         .max = 86400});
}

std::vector<const core::MigrationSet*> Migrations() {
  return {&hp::generated::autossl_migrations()};
}

class Mounted final : public ServedModule {
 public:
  std::unique_ptr<core::HttpClient> http;
  std::unique_ptr<autossl::AutoSsl> service;
};

void RegisterRoutes(Api& api, core::http::Router& router, autossl::AutoSsl& svc) {
  api.Register(router,
               {.method = "GET",
                .pattern = "/api/v1/organizations/{org}/certificates",
                .summary = "AutoSSL certificates of the organization's sites: status (pending, "
                           "issuing, valid, failed), last error, expiry.",
                .tag = "certificates",
                .permission = "services.read"},
               [&svc](ApiContext& c) -> Result<Response> {
                 HP_ASSIGN_OR_RETURN(auto list, svc.List(c.org->id));
                 Json items = Json::array();
                 const int64_t now = svc.NowSeconds();
                 for (const auto& r : list) items.push_back(r.ToJson(now));
                 return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
               });
  api.Register(
      router,
      {.method = "POST",
       .pattern = "/api/v1/organizations/{org}/sites/{site}/certificates",
       .summary = "Issue (or re-issue) the site's certificate for one of its domains through "
                  "AutoSSL; 202 with the certificate's status.",
       .tag = "certificates",
       .permission = "services.manage",
       .request_schema = {{"type", "object"},
                          {"required", Json::array({"domain"})},
                          {"properties", {{"domain", {{"type", "string"}}}}}}},
      [&api, &svc](ApiContext& c) -> Result<Response> {
        const std::string site = c.http.Param("site");
        const std::string domain = c.body.contains("domain") && c.body["domain"].is_string()
                                       ? c.body["domain"].get<std::string>()
                                       : "";
        auto r = svc.Request(c.org->id, site, domain);
        auto ev = c.Event("autossl.request", "site:" + site, r ? "success" : "failure");
        ev.detail = {{"domain", domain}};
        if (!r) ev.detail["error"] = std::string(core::ErrorCodeName(r.error().code));
        api.AuditAlone(ev);
        if (!r) return core::Fail(r.error());
        return Response::Json(202, {{"certificate", r->ToJson()}});
      });
  api.Register(
      router,
      {.method = "GET",
       .pattern = "/api/v1/organizations/{org}/sites/{site}/certificates/{domain}/pem",
       .summary = "Download the certificate chain of one of the site's names (PEM, leaf first, "
                  "application/pem-certificate-chain). The private key is never exported.",
       .tag = "certificates",
       .permission = "services.read"},
      [&svc](ApiContext& c) -> Result<Response> {
        const std::string domain = c.http.Param("domain");
        HP_ASSIGN_OR_RETURN(std::string pem, svc.ChainPem(c.org->id, c.http.Param("site"), domain));
        std::string file;
        for (char ch : domain) file += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-') ? ch : '_';
        Response r(200, "application/pem-certificate-chain", std::move(pem));
        r.SetHeader("Content-Disposition", "attachment; filename=\"" + file + ".pem\"");
        r.SetHeader("Cache-Control", "no-store");
        return r;
      });
  api.Register(
      router,
      {.method = "POST",
       .pattern = "/api/v1/organizations/{org}/sites/{site}/certificates/{domain}/revoke",
       .summary = "Revoke the certificate of one of the site's names through our CA with a BR "
                  "reason (unspecified, keyCompromise, affiliationChanged, superseded, "
                  "cessationOfOperation). An AutoSSL certificate still on the site is replaced at "
                  "once with a new key; an uploaded one is refused (409: revoke it with its "
                  "issuer). 202 with the operation.",
       .tag = "certificates",
       .permission = "services.manage",
       .request_schema = {{"type", "object"},
                          {"properties", {{"reason", {{"type", "string"}}}}}}},
      [&api, &svc](ApiContext& c) -> Result<Response> {
        const std::string site = c.http.Param("site");
        const std::string domain = c.http.Param("domain");
        // Tenancy first (404), then the reason.
        auto rec = svc.Get(site, domain);
        if (!rec || rec->organization_id != c.org->id)
          return core::Fail(ErrorCode::kNotFound, "no certificate for " + domain + " on site " + site);
        const std::string reason = c.body.contains("reason") && c.body["reason"].is_string()
                                       ? c.body["reason"].get<std::string>()
                                       : "";
        auto job = svc.RequestRevoke(c.org->id, site, domain, reason);
        auto ev = c.Event("autossl.revoke.request", "site:" + site, job ? "success" : "failure");
        ev.detail = {{"domain", domain}, {"reason", reason}, {"serial", rec->serial}};
        if (job) ev.detail["operation"] = job->id;
        else ev.detail["error"] = job.error().detail;
        api.AuditAlone(ev);
        if (!job) return core::Fail(job.error());
        const std::string url = "/api/v1/organizations/" + c.org->id + "/operations/" + job->id;
        auto now = svc.Get(site, domain);
        Response r = Response::Json(
            202, {{"operation", {{"id", job->id}, {"url", url}}},
                  {"certificate", now ? now->ToJson(svc.NowSeconds()) : Json(nullptr)}});
        r.SetHeader("Location", url);
        return r;
      });
  api.Register(
      router,
      {.method = "POST",
       .pattern = "/api/v1/organizations/{org}/sites/{site}/certificates/upload",
       .summary = "Upload a customer-supplied certificate (PEM chain, leaf first) and its "
                  "private key; checked, sealed, deployed for every name it covers and never "
                  "renewed automatically. 201 with the certificate records.",
       .tag = "certificates",
       .permission = "services.manage",
       .request_schema = {{"type", "object"},
                          {"required", Json::array({"certificate", "private_key"})},
                          {"properties",
                           {{"certificate", {{"type", "string"}}},
                            {"private_key", {{"type", "string"}}}}}}},
      [&api, &svc](ApiContext& c) -> Result<Response> {
        const std::string site = c.http.Param("site");
        auto str = [&](const char* k) {
          return c.body.contains(k) && c.body[k].is_string() ? c.body[k].get<std::string>() : "";
        };
        auto r = svc.Upload(c.org->id, site, str("certificate"), str("private_key"));
        auto ev = c.Event("autossl.upload", "site:" + site, r ? "success" : "failure");
        if (r) {
          Json names = Json::array();
          for (const auto& rec : *r) names.push_back(rec.domain);
          ev.detail = {{"domains", names}, {"serial", r->empty() ? "" : r->front().serial}};
        } else {
          ev.detail = {{"error", std::string(core::ErrorCodeName(r.error().code))}};
        }
        api.AuditAlone(ev);
        if (!r) return core::Fail(r.error());
        Json items = Json::array();
        for (const auto& rec : *r) items.push_back(rec.ToJson());
        return Response::Json(201, {{"items", items}});
      });
}

Result<std::unique_ptr<ServedModule>> Mount(ServeContext& ctx) {
  auto m = std::make_unique<Mounted>();
  const auto& cfg = ctx.config;
  auto* sealer = ctx.services->Get<core::Sealer>();
  if (sealer == nullptr) return core::Fail(ErrorCode::kInternal, "autossl needs the sealer");
  autossl::Options o;
  o.directory_url = cfg.GetString("autossl.directory_url");
  if (o.directory_url.empty()) o.directory_url = ctx.public_base_url + "/acme/directory";
  o.ca_file = cfg.GetString("autossl.ca_file");
  if (o.ca_file.empty() && ctx.dev) o.ca_file = ctx.var_dir + "/tls/server.crt";
  if (!cfg.GetString("autossl.contact").empty()) o.contact = {cfg.GetString("autossl.contact")};
  o.issue_timeout = std::chrono::milliseconds(cfg.GetInt("autossl.issue_timeout_ms"));
  o.scan_interval = std::chrono::seconds(cfg.GetInt("autossl.scan_interval_s"));
  o.max_orders_per_3h = cfg.GetInt("autossl.max_orders_per_3h");
  o.retry_base = std::chrono::seconds(cfg.GetInt("autossl.retry_base_s"));
  o.supersede_grace = std::chrono::seconds(cfg.GetInt("autossl.supersede_grace_s"));
  m->http = core::NewCurlHttpClient();
  m->service = std::make_unique<autossl::AutoSsl>(
      ctx.db, *sealer, ctx.clock, ctx.jobs, *m->http,
      ctx.services->Get<provisioning::SharedHostingService>(), o);
  m->service->RegisterHandlers(ctx.workers);
  // Other modules (the partner API) request certificates through the same service.
  ctx.services->Put<autossl::AutoSsl>(m->service.get());
  Api* api = ctx.services->Get<Api>();
  auto* webhooks = ctx.services->Get<partner::WebhookService>();
  autossl::Hooks hooks;
  hooks.alert = [api, webhooks](const std::string& event, const std::string& org,
                                const Json& data) {
    if (webhooks != nullptr) {
      partner::Event e{.type = event, .organization_id = org, .data = data};
      if (api != nullptr) {
        auto o = api->db().Read([&](SQLite::Database& tx) { return store::GetOrganization(tx, org); });
        if (o) e.partner_id = o->partner_id;
      }
      auto r = webhooks->Publish(e);
      if (!r) core::log::Warn("autossl webhook not published", {{"error", r.error().detail}});
    }
    if (api == nullptr) return;
    auto members = api->db().Read([&](SQLite::Database& tx) -> Result<std::vector<store::Member>> {
      HP_ASSIGN_OR_RETURN(store::Organization o, store::GetOrganization(tx, org));
      return store::ListMembers(tx, o.row);
    });
    if (!members) return;
    const std::string domain = data.value("domain", "");
    std::string subject, body;
    if (event == "certificate.expiring" && data.value("source", "") == "upload") {
      subject = "The certificate of " + domain + " expires soon";
      char date[32] = "";
      const time_t na = static_cast<time_t>(data.value("not_after", int64_t{0}));
      struct tm tm {};
      if (gmtime_r(&na, &tm) != nullptr) std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm);
      body = "The HTTPS certificate you uploaded for " + domain + " expires on " + date +
             " (within 14 days). We do not renew uploaded certificates.\n\nUpload its "
             "replacement (POST /api/v1/organizations/" + org + "/sites/" +
             data.value("site_id", "") + "/certificates/upload), or let AutoSSL issue and renew "
             "it automatically (POST /api/v1/organizations/" + org + "/sites/" +
             data.value("site_id", "") + "/certificates {\"domain\": \"" + domain + "\"}).\n";
    } else if (event == "certificate.expiring") {
      subject = "The certificate of " + domain + " expires soon";
      body = "The HTTPS certificate of " + domain +
             " expires within 14 days and renewing it keeps failing.\n\nLast error: " +
             data.value("error", "") + "\n\nSee the certificates of your organization in the "
             "control panel or GET /api/v1/organizations/" + org + "/certificates.\n";
    } else {
      subject = "The certificate of " + domain + " could not be issued";
      body = "Issuing the HTTPS certificate of " + domain + " failed:\n\n" +
             data.value("error", "") + "\n\nWe retry automatically with increasing delays. "
             "See GET /api/v1/organizations/" + org + "/certificates.\n";
    }
    for (const auto& mbr : *members)
      if (mbr.role == "owner" || mbr.role == "admin") (void)api->QueueMail(mbr.email, subject, body, org);
  };
  hooks.audit = [api](const std::string& action, const std::string& org,
                      const std::string& target, const Json& detail, bool ok) {
    if (api == nullptr) return;
    core::AuditEvent e;
    e.actor_type = "system";
    e.actor_id = "autossl";
    e.organization_id = org;
    e.action = action;
    e.target = target;
    e.result = ok ? "success" : "failure";
    e.detail = detail;
    api->AuditAlone(e);
  };
  m->service->SetHooks(std::move(hooks));
  {
    std::vector<std::string> ids;
    std::stringstream in(cfg.GetString("acme.caa_identities"));
    for (std::string id; std::getline(in, id, ',');) {
      while (!id.empty() && id.front() == ' ') id.erase(0, 1);
      while (!id.empty() && id.back() == ' ') id.pop_back();
      if (!id.empty()) ids.push_back(id);
    }
    m->service->SetZones(ctx.services->Get<dns::ZoneService>(), std::move(ids));
    std::ifstream addr(ctx.var_dir + "/run/web.addr");
    std::string web;
    if (addr >> web) m->service->SetWebNode(web);
  }
  if (auto* sites = ctx.services->Get<provisioning::SharedHostingService>()) {
    autossl::AutoSsl* svc = m->service.get();
    sites->AddListener([svc](const provisioning::SiteEvent& e) {
      svc->OnSiteEvent(static_cast<int>(e.kind), e.organization_id, e.site_id, e.domain);
    });
  }
  if (auto st = m->service->ScheduleScan(0); !st)
    core::log::Warn("autossl renewal scan not scheduled", {{"error", st.error().detail}});
  if (api != nullptr) RegisterRoutes(*api, ctx.router, *m->service);
  core::log::Info("autossl mounted", {{"directory", o.directory_url}});
  return std::unique_ptr<ServedModule>(std::move(m));
}

}  // namespace

ModuleSpec AutoSslModuleSpec() { return {"autossl", AddConfig, Migrations, Mount}; }

}  // namespace hp::cp
