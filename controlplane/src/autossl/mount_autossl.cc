// Mounts AutoSSL (issue 7) into `hostplane serve`: the control plane's ACME account and the
// durable job autossl.issue (see autossl.h, docs/autossl.md), and its API:
//   GET  /api/v1/organizations/{org}/certificates           status and last error per domain
//   POST /api/v1/organizations/{org}/sites/{site}/certificates {"domain"}: (re)issue, 202
// Needs from earlier modules (ServiceRegistry): Api, core::Sealer (controlplane) and
// provisioning::SharedHostingService (provisioning; without it requests answer 503).
#include <memory>

#include "api.h"
#include "autossl/autossl.h"
#include "hp/core/http_client.h"
#include "hp/core/log.h"
#include "hp/core/sealer.h"
#include "hp/provisioning/shared_hosting.h"
#include "module.h"

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
                 for (const auto& r : list) items.push_back(r.ToJson());
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
  m->http = core::NewCurlHttpClient();
  m->service = std::make_unique<autossl::AutoSsl>(
      ctx.db, *sealer, ctx.clock, ctx.jobs, *m->http,
      ctx.services->Get<provisioning::SharedHostingService>(), o);
  m->service->RegisterHandlers(ctx.workers);
  if (Api* api = ctx.services->Get<Api>()) RegisterRoutes(*api, ctx.router, *m->service);
  core::log::Info("autossl mounted", {{"directory", o.directory_url}});
  return std::unique_ptr<ServedModule>(std::move(m));
}

}  // namespace

ModuleSpec AutoSslModuleSpec() { return {"autossl", AddConfig, Migrations, Mount}; }

}  // namespace hp::cp
