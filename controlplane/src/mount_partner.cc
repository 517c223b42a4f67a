// Partner channels in `hostplane serve` (issue 9): the signed partner API under /partner/v1
// (customers, EAB credentials, API keys, branding, webhooks), staff routes to issue partner API
// keys, the white-label panel page (GET / by Host) and per-partner ACME directories
// (/acme/p/{partner}/directory) whose meta is the partner's.
#include <algorithm>

#include "api.h"
#include "hp/acme/server.h"
#include "hp/core/http_client.h"
#include "hp/core/log.h"
#include "hp/partner/branding.h"
#include "hp/partner/migrations.h"
#include "hp/partner/signing.h"
#include "hp/partner/webhooks.h"
#include "module.h"
#include "rbac.h"
#include "routes.h"
#include "tenancy_store.h"

namespace hp::cp {
namespace {

using core::ErrorCode;
using core::Json;
using core::http::Request;
using core::http::Response;

void AddConfig(core::ConfigSchema& s) {
  using core::ConfigType;
  s.Add({.key = "partner.webhooks.allow_http",
         .type = ConfigType::kBool,
         .default_value = "false",
         .doc = "Allow plain http:// webhook URLs (development and tests only)."});
  s.Add({.key = "partner.webhooks.ca_file",
         .default_value = "",
         .doc = "PEM trust anchors for https webhook receivers instead of the system store "
                "(private CAs, tests)."});
  s.Add({.key = "partner.webhooks.timeout_ms",
         .type = ConfigType::kInt,
         .default_value = "10000",
         .doc = "Timeout of one webhook delivery attempt.",
         .min = 100,
         .max = 60000});
  s.Add({.key = "partner.eab_max_days",
         .type = ConfigType::kInt,
         .default_value = "30",
         .doc = "Longest validity a partner may give EAB credentials it mints.",
         .min = 1,
         .max = 365});
}

std::vector<const core::MigrationSet*> Migrations() { return {&partner::PartnerMigrations()}; }

class Mounted final : public ServedModule {
 public:
  std::unique_ptr<core::HttpClient> http;
  std::unique_ptr<partner::ApiKeyStore> keys;
  std::unique_ptr<partner::BrandingStore> branding;
  std::unique_ptr<partner::WebhookService> webhooks;
  std::shared_ptr<void> api;  // the PartnerApi the route handlers point into
};

struct Deps {
  core::Database* db;
  const core::Clock* clock;
  core::AuditLog* audit;
  partner::ApiKeyStore* keys;
  partner::BrandingStore* branding;
  partner::WebhookService* webhooks;
  acme::AcmeServer* acme;  // may be null (EAB routes answer 503)
  core::http::Router* router;
  std::string public_url;
  int64_t eab_max_days;
};

// What a verified partner request carries into a handler.
struct PartnerCall {
  const Request& http;
  partner::ApiKey key;
  store::Partner partner;
  Json body = Json::object();
  std::optional<store::Organization> customer;  // for /customers/{customer}/... routes

  core::AuditEvent Event(const std::string& action, const std::string& target) const {
    core::AuditEvent e;
    e.actor_type = "partner";
    e.actor_id = key.id;
    e.partner_id = partner.id;
    e.organization_id = customer ? customer->id : "";
    e.action = action;
    e.target = target;
    e.source_ip = http.remote_ip;
    e.request_id = http.request_id;
    e.detail = {{"partner_key", key.id}};
    return e;
  }
};
using PartnerHandler = std::function<core::Result<Response>(PartnerCall&)>;

// Which partners a route serves.
enum class Access {
  kAnyPartner,
  kCustomers /* resellers and OEMs: agencies have no API to customers' resources */,
  kBrand
};

int64_t NowUs(const core::Clock& c) { return core::ToUnixMicros(c.Now()); }

Json CustomerJson(const store::Organization& o) {
  return {{"id", o.id},
          {"name", o.name},
          {"status", o.status},
          {"created_at", Iso(o.created_at)},
          {"updated_at", Iso(o.updated_at)}};
}
Json KeyJson(const partner::ApiKey& k) {
  auto t = [](const std::optional<core::TimePoint>& p) {
    return p ? Json(core::FormatRfc3339(*p)) : Json(nullptr);
  };
  return {{"id", k.id},
          {"name", k.name},
          {"created_at", core::FormatRfc3339(k.created_at)},
          {"expires_at", t(k.expires_at)},
          {"revoked_at", t(k.revoked_at)},
          {"last_used_at", t(k.last_used_at)},
          {"replaced_by", k.replaced_by.empty() ? Json(nullptr) : Json(k.replaced_by)}};
}
Json SubscriptionJson(const partner::Subscription& s) {
  return {{"id", s.id},
          {"url", s.url},
          {"events", s.events},
          {"created_at", core::FormatRfc3339(s.created_at)}};
}
Json DeliveryJson(const partner::Delivery& d) {
  return {{"id", d.id},
          {"event_id", d.event_id},
          {"event_type", d.event_type},
          {"state", d.state},
          {"attempts", d.attempts},
          {"next_attempt_at", d.next_attempt_at && d.state == "retrying"
                                  ? Json(core::FormatRfc3339(*d.next_attempt_at))
                                  : Json(nullptr)},
          {"last_status", d.last_status},
          {"last_error", d.last_error},
          {"created_at", core::FormatRfc3339(d.created_at)}};
}

class PartnerApi {
 public:
  explicit PartnerApi(Deps d) : d_(std::move(d)) {}

  void Route(const std::string& method, const std::string& pattern, const std::string& summary,
             Access access, PartnerHandler h, Json request_schema = nullptr) {
    core::http::RouteInfo info{
        .method = method,
        .pattern = "/partner/v1" + pattern,
        .summary = summary,
        .tag = "partner",
        .permission = access == Access::kCustomers ? "partner:reseller" : "partner"};
    if (!request_schema.is_null()) info.request_schema = std::move(request_schema);
    d_.router->Add(std::move(info), [this, access, h](Request&& req, core::http::Reply reply) {
      auto r = Run(req, access, h);
      Response resp = r ? std::move(*r) : Response::FromError(r.error());
      if (!r && r.error().code == ErrorCode::kInternal)
        core::log::Error("partner api internal error",
                         {{"path", req.path}, {"error", r.error().detail}});
      if (!r && r.error().code == ErrorCode::kUnauthenticated)
        resp.SetHeader("WWW-Authenticate", "PartnerHMAC realm=\"partner\"");
      resp.SetHeader("Cache-Control", "no-store");
      reply(std::move(resp));
    });
  }

  const Deps& deps() const { return d_; }

  void Audit(const core::AuditEvent& e) {
    auto st = d_.db->Write([&](SQLite::Database& tx) { return d_.audit->Append(tx, e); });
    if (!st)
      core::log::Error("audit append failed",
                       {{"action", e.action}, {"error", st.error().ToString()}});
  }

 private:
  core::Result<Response> Run(const Request& req, Access access, const PartnerHandler& h) {
    partner::SignedRequest sr{req.method,
                              req.path,
                              req.query,
                              req.body,
                              req.Header(partner::kKeyIdHeader),
                              req.Header(partner::kTimestampHeader),
                              req.Header(partner::kSignatureHeader)};
    HP_ASSIGN_OR_RETURN(partner::ApiKey key, d_.keys->Verify(sr));
    auto p =
        d_.db->Read([&](SQLite::Database& tx) { return store::GetPartner(tx, key.partner_id); });
    if (!p) return core::Fail(ErrorCode::kUnauthenticated, "unknown API key");
    PartnerCall call{req, key, *p, Json::object(), std::nullopt};
    auto deny = [&](const std::string& why) -> core::Result<Response> {
      auto ev = call.Event(req.method + " " + req.path, req.path);
      ev.result = "denied";
      ev.detail["reason"] = why;
      Audit(ev);
      return core::Fail(ErrorCode::kPermissionDenied, why);
    };
    if (call.partner.status != "active")
      return deny("partner account is " + call.partner.status + "; contact your account manager");
    const std::string& ch = call.partner.channel;
    if (access == Access::kCustomers && ch != "reseller" && ch != "oem")
      return deny(ch == "agency"
                      ? "agency partners refer customers and have no access to their resources"
                      : "this route is for reseller and OEM partners");
    if (access == Access::kBrand && ch != "reseller" && ch != "oem")
      return deny("branding is for reseller and OEM partners");
    if (auto it = req.params.find("customer"); it != req.params.end()) {
      auto o =
          d_.db->Read([&](SQLite::Database& tx) { return store::GetOrganization(tx, it->second); });
      // Another partner's customer does not exist for this caller (404, never 403).
      if (!o || o->partner_row != call.partner.row)
        return core::Fail(ErrorCode::kNotFound, "customer " + it->second + " not found");
      call.customer = *o;
    }
    if ((req.method == "POST" || req.method == "PUT" || req.method == "PATCH") &&
        !req.body.empty()) {
      if (req.Header("content-type").rfind("application/json", 0) != 0)
        return core::Fail(
            core::Error(ErrorCode::kUnsupportedMediaType, "send the body as application/json")
                .WithField("Content-Type"));
      HP_ASSIGN_OR_RETURN(call.body, core::ParseJsonObject(req.body));
    }
    return h(call);
  }

  Deps d_;
};

core::Result<Response> ChangeCustomerStatus(PartnerApi& api, PartnerCall& c,
                                            const std::string& action) {
  const auto& d = api.deps();
  const std::string to = action == "suspend"     ? "suspended"
                         : action == "unsuspend" ? "active"
                                                 : "terminated";
  HP_ASSIGN_OR_RETURN(store::Organization o,
                      d.db->Write([&](SQLite::Database& tx) -> core::Result<store::Organization> {
                        HP_ASSIGN_OR_RETURN(store::Organization o,
                                            store::GetOrganization(tx, c.customer->id));
                        if (o.status == "terminated")
                          return core::Fail(ErrorCode::kConflict, "customer is terminated");
                        if (o.status != to)
                          HP_TRY(store::SetOrganizationStatus(tx, o.row, to, NowUs(*d.clock)));
                        auto ev = c.Event("partner.customer." + action, "organization:" + o.id);
                        if (c.body.contains("reason") && c.body["reason"].is_string())
                          ev.detail["reason"] = c.body["reason"];
                        HP_TRY(d.audit->Append(tx, ev));
                        return store::GetOrganization(tx, o.id);
                      }));
  if (action == "suspend") {
    auto e = d.webhooks->Publish({"organization.suspended",
                                  o.id,
                                  c.partner.id,
                                  {{"organization_id", o.id}, {"status", o.status}}});
    if (!e) core::log::Warn("webhook publish failed", {{"error", e.error().ToString()}});
  }
  return Response::Json(200, CustomerJson(o));
}

void RegisterPartnerRoutes(PartnerApi& api) {
  const auto& d = api.deps();
  api.Route("GET", "/partner", "The calling partner.", Access::kAnyPartner,
            [](PartnerCall& c) -> core::Result<Response> {
              return Response::Json(200, {{"id", c.partner.id},
                                          {"name", c.partner.name},
                                          {"channel", c.partner.channel},
                                          {"status", c.partner.status},
                                          {"api_key", c.key.id}});
            });

  // Customers (resellers and OEMs only).
  api.Route("GET", "/customers", "The partner's customer organizations (paginated).",
            Access::kCustomers, [d](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(Page page, ParsePage(c.http));
              HP_ASSIGN_OR_RETURN(auto list, d.db->Read([&](SQLite::Database& tx) {
                return store::ListOrganizations(tx, c.partner.id, page.after, page.limit);
              }));
              Json items = Json::array();
              for (const auto& o : list) items.push_back(CustomerJson(o));
              return PageResponse(c.http, items, list.size(), page.limit,
                                  list.empty() ? 0 : list.back().row);
            });
  api.Route("POST", "/customers", "Create a customer organization (name).", Access::kCustomers,
            [d](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(std::string name, core::GetString(c.body, "name"));
              if (name.empty() || name.size() > 100)
                return core::FailField(ErrorCode::kInvalidArgument, "name",
                                       "must be 1 to 100 characters");
              HP_ASSIGN_OR_RETURN(
                  store::Organization o,
                  d.db->Write([&](SQLite::Database& tx) -> core::Result<store::Organization> {
                    HP_ASSIGN_OR_RETURN(
                        store::Organization o,
                        store::CreateOrganization(tx, c.partner.row, name, NowUs(*d.clock)));
                    c.customer = o;
                    auto ev = c.Event("partner.customer.create", "organization:" + o.id);
                    ev.detail["name"] = name;
                    HP_TRY(d.audit->Append(tx, ev));
                    return o;
                  }));
              Response r = Response::Json(201, CustomerJson(o));
              r.SetHeader("Location", "/partner/v1/customers/" + o.id);
              return r;
            },
            {{"type", "object"},
             {"properties", {{"name", {{"type", "string"}}}}},
             {"required", {"name"}}});
  api.Route("GET", "/customers/{customer}", "One customer organization.", Access::kCustomers,
            [](PartnerCall& c) -> core::Result<Response> {
              return Response::Json(200, CustomerJson(*c.customer));
            });
  for (const std::string action : {"suspend", "unsuspend", "terminate"}) {
    api.Route("POST", "/customers/{customer}/" + action,
              action == "suspend"     ? "Suspend a customer (reason)."
              : action == "unsuspend" ? "Lift a suspension."
                                      : "Terminate a customer (final).",
              Access::kCustomers,
              [&api, action](PartnerCall& c) { return ChangeCustomerStatus(api, c, action); });
  }

  // EAB credentials bound to one customer organization.
  api.Route(
      "POST", "/customers/{customer}/eab-keys",
      "Mint single-use ACME EAB credentials for a customer (expires_in_days); shown once.",
      Access::kCustomers,
      [d](PartnerCall& c) -> core::Result<Response> {
        if (!d.acme)
          return core::Fail(ErrorCode::kUnavailable, "the certificate authority is not running");
        if (c.customer->status != "active")
          return core::Fail(ErrorCode::kConflict, "customer is " + c.customer->status);
        int64_t days = 7;
        if (c.body.contains("expires_in_days")) {
          HP_ASSIGN_OR_RETURN(days, core::GetInt(c.body, "expires_in_days"));
        }
        if (days < 1 || days > d.eab_max_days)
          return core::FailField(ErrorCode::kInvalidArgument, "expires_in_days",
                                 "must be 1 to " + std::to_string(d.eab_max_days));
        HP_ASSIGN_OR_RETURN(
            acme::EabCredentials eab,
            d.acme->CreateEabKey("partner:" + c.partner.id + "/organization:" + c.customer->id));
        const core::TimePoint now = d.clock->Now();
        const core::TimePoint expires = now + std::chrono::hours(24 * days);
        HP_TRY(d.db->Write([&](SQLite::Database& tx) -> core::Status {
          SQLite::Statement q(tx,
                              "INSERT INTO partner_eab_keys(kid, partner_id, organization_id, "
                              "created_at, expires_at) VALUES (?, ?, ?, ?, ?)");
          q.bind(1, eab.kid);
          q.bind(2, c.partner.id);
          q.bind(3, c.customer->id);
          q.bind(4, core::ToUnixMicros(now));
          q.bind(5, core::ToUnixMicros(expires));
          q.exec();
          auto ev = c.Event("partner.eab.create", "eab:" + eab.kid);
          ev.detail["expires_at"] = core::FormatRfc3339(expires);
          return d.audit->Append(tx, ev);
        }));
        return Response::Json(
            201, {{"kid", eab.kid},
                  {"hmac_key", eab.hmac_key_b64url},
                  {"organization_id", c.customer->id},
                  {"expires_at", core::FormatRfc3339(expires)},
                  {"single_use", true},
                  {"directory", d.public_url + "/acme/p/" + c.partner.id + "/directory"}});
      },
      {{"type", "object"}, {"properties", {{"expires_in_days", {{"type", "integer"}}}}}});

  // API keys of the partner itself.
  api.Route("GET", "/keys", "The partner's API keys.", Access::kAnyPartner,
            [d](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(auto list, d.keys->List(c.partner.id));
              Json items = Json::array();
              for (const auto& k : list) items.push_back(KeyJson(k));
              return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
            });
  api.Route("POST", "/keys/{key}/rotate",
            "Rotate a key: a new key now, the old one valid for overlap_seconds (default 86400, at "
            "most 30 days).",
            Access::kAnyPartner,
            [&api, d](PartnerCall& c) -> core::Result<Response> {
              int64_t overlap = 86400;
              if (c.body.contains("overlap_seconds")) {
                HP_ASSIGN_OR_RETURN(overlap, core::GetInt(c.body, "overlap_seconds"));
              }
              HP_ASSIGN_OR_RETURN(
                  partner::NewApiKey k,
                  d.keys->Rotate(c.http.Param("key"), std::chrono::seconds(overlap), c.partner.id));
              auto ev = c.Event("partner.key.rotate", "partner_key:" + c.http.Param("key"));
              ev.detail["new_key"] = k.key.id;
              api.Audit(ev);
              Json j = KeyJson(k.key);
              j["secret"] = std::string(k.secret.Reveal());
              return Response::Json(201, j);
            },
            {{"type", "object"}, {"properties", {{"overlap_seconds", {{"type", "integer"}}}}}});
  api.Route("DELETE", "/keys/{key}", "Revoke a key at once.", Access::kAnyPartner,
            [&api, d](PartnerCall& c) -> core::Result<Response> {
              HP_TRY(d.keys->Revoke(c.http.Param("key"), c.partner.id));
              api.Audit(c.Event("partner.key.revoke", "partner_key:" + c.http.Param("key")));
              return Response::Empty(204);
            });

  // White-label branding.
  api.Route("GET", "/branding", "The partner's branding.", Access::kBrand,
            [d](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(auto b, d.branding->Get(c.partner.id));
              if (!b) return core::Fail(ErrorCode::kNotFound, "no branding set");
              return Response::Json(200, partner::BrandingToJson(*b));
            });
  api.Route("PUT", "/branding",
            "Replace the partner's branding (brand_name, colours, logo_url, panel_host, mail "
            "sender, invoice_issuer, support, ACME meta URLs).",
            Access::kBrand,
            [&api, d](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(partner::Branding b, partner::BrandingFromJson(c.body));
              b.partner_id = c.partner.id;
              if (!b.panel_host.empty() && c.partner.channel != "oem")
                return core::FailField(ErrorCode::kPermissionDenied, "panel_host",
                                       "an own panel host name is for OEM partners");
              HP_TRY(d.branding->Put(b));
              auto ev = c.Event("partner.branding.update", "partner:" + c.partner.id);
              ev.detail["panel_host"] = b.panel_host;
              api.Audit(ev);
              return Response::Json(200, partner::BrandingToJson(b));
            },
            {{"type", "object"}, {"required", {"brand_name"}}});

  // Webhooks of the partner.
  auto owner = [](const PartnerCall& c) {
    return partner::Owner{partner::OwnerType::kPartner, c.partner.id};
  };
  api.Route("GET", "/webhooks", "Webhook subscriptions.", Access::kAnyPartner,
            [d, owner](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(auto list, d.webhooks->ListSubscriptions(owner(c)));
              Json items = Json::array();
              for (const auto& s : list) items.push_back(SubscriptionJson(s));
              return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
            });
  api.Route("POST", "/webhooks",
            "Subscribe an URL to events (url, events); the signing secret is shown once.",
            Access::kAnyPartner,
            [&api, d, owner](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(std::string url, core::GetString(c.body, "url"));
              if (!c.body.contains("events") || !c.body["events"].is_array())
                return core::FailField(ErrorCode::kInvalidArgument, "events",
                                       "must be an array of event types");
              std::vector<std::string> events;
              for (const auto& e : c.body["events"]) {
                if (!e.is_string())
                  return core::FailField(ErrorCode::kInvalidArgument, "events",
                                         "must be an array of event types");
                events.push_back(e.get<std::string>());
              }
              HP_ASSIGN_OR_RETURN(partner::NewSubscription s,
                                  d.webhooks->Subscribe(owner(c), url, events));
              auto ev = c.Event("partner.webhook.create", "webhook:" + s.subscription.id);
              ev.detail["url"] = url;
              api.Audit(ev);
              Json j = SubscriptionJson(s.subscription);
              j["secret"] = std::string(s.secret.Reveal());
              return Response::Json(201, j);
            },
            {{"type", "object"}, {"required", {"url", "events"}}});
  api.Route("DELETE", "/webhooks/{webhook}", "Delete a subscription.", Access::kAnyPartner,
            [&api, d, owner](PartnerCall& c) -> core::Result<Response> {
              HP_TRY(d.webhooks->Unsubscribe(owner(c), c.http.Param("webhook")));
              api.Audit(c.Event("partner.webhook.delete", "webhook:" + c.http.Param("webhook")));
              return Response::Empty(204);
            });
  api.Route("GET", "/webhooks/{webhook}/deliveries", "Recent deliveries of a subscription.",
            Access::kAnyPartner, [d, owner](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(auto list,
                                  d.webhooks->ListDeliveries(owner(c), c.http.Param("webhook")));
              Json items = Json::array();
              for (const auto& x : list) items.push_back(DeliveryJson(x));
              return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
            });
  api.Route("GET", "/deliveries/{delivery}/attempts",
            "The delivery log: every attempt with its HTTP status.", Access::kAnyPartner,
            [d, owner](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(auto list,
                                  d.webhooks->ListAttempts(owner(c), c.http.Param("delivery")));
              Json items = Json::array();
              for (const auto& a : list)
                items.push_back({{"number", a.number},
                                 {"at", core::FormatRfc3339(a.at)},
                                 {"http_status", a.http_status},
                                 {"error", a.error},
                                 {"duration_ms", a.duration_ms},
                                 {"manual", a.manual}});
              return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
            });
  api.Route(
      "POST", "/deliveries/{delivery}/redeliver", "Send a delivery again now.", Access::kAnyPartner,
      [&api, d, owner](PartnerCall& c) -> core::Result<Response> {
        HP_TRY(d.webhooks->Redeliver(owner(c), c.http.Param("delivery")));
        api.Audit(c.Event("partner.webhook.redeliver", "delivery:" + c.http.Param("delivery")));
        return Response::Json(202, {{"id", c.http.Param("delivery")}, {"state", "queued"}});
      });
}

// Staff issue a partner's first API key (later keys come from rotation).
void RegisterStaffRoutes(Api& api, core::http::Router& router, partner::ApiKeyStore& keys) {
  api.Register(
      router,
      {.method = "POST",
       .pattern = "/api/v1/admin/partners/{partner}/keys",
       .summary = "Issue a partner API key (name); the secret is shown once.",
       .tag = "admin",
       .permission = kStaff,
       .request_schema = {{"type", "object"}, {"properties", {{"name", {{"type", "string"}}}}}}},
      [&api, &keys](ApiContext& c) -> core::Result<Response> {
        const std::string pid = c.http.Param("partner");
        HP_ASSIGN_OR_RETURN(store::Partner p, api.db().Read([&](SQLite::Database& tx) {
          return store::GetPartner(tx, pid);
        }));
        if (p.channel == "direct")
          return core::Fail(ErrorCode::kInvalidArgument, "the direct channel has no partner API");
        std::string name = c.body.value("name", "");
        HP_ASSIGN_OR_RETURN(partner::NewApiKey k, keys.Create(p.id, name));
        auto ev = c.Event("partner.key.create", "partner_key:" + k.key.id);
        ev.partner_id = p.id;
        api.AuditAlone(ev);
        Json j = KeyJson(k.key);
        j["partner_id"] = p.id;
        j["secret"] = std::string(k.secret.Reveal());
        return Response::Json(201, j);
      });
  api.Register(router,
               {.method = "GET",
                .pattern = "/api/v1/admin/partners/{partner}/keys",
                .summary = "A partner's API keys.",
                .tag = "admin",
                .permission = kStaff},
               [&keys](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(auto list, keys.List(c.http.Param("partner")));
                 Json items = Json::array();
                 for (const auto& k : list) items.push_back(KeyJson(k));
                 return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
               });
}

// The ACME directory as the acme module serves it, asked through the router (the acme module
// owns its shape; we only swap the meta).
core::Result<Json> BaseDirectory(const core::http::Router& router) {
  auto m = router.Find("GET", "/acme/directory");
  if (!m.route) return core::Fail(ErrorCode::kUnavailable, "the ACME server is not mounted");
  Request req;
  req.method = "GET";
  req.path = "/acme/directory";
  std::optional<Response> out;
  (*m.handler)(std::move(req), [&out](Response r) { out = std::move(r); });
  if (!out || out->status != 200)
    return core::Fail(ErrorCode::kUnavailable, "the ACME directory is not available");
  return core::ParseJson(out->body);
}

std::string HostOf(const Request& req) {
  std::string h = req.host.empty() ? req.Header("host") : req.host;
  if (auto c = h.find(':'); c != std::string::npos && h.find(']') == std::string::npos)
    h = h.substr(0, c);
  std::transform(h.begin(), h.end(), h.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return h;
}

void RegisterWhiteLabelRoutes(const Deps& d) {
  d.router->Add(
      {.method = "GET",
       .pattern = "/acme/p/{partner}/directory",
       .summary = "A partner's ACME directory (RFC 8555 §7.1.1) with the partner's meta.",
       .tag = "acme"},
      [d](Request&& req, core::http::Reply reply) {
        auto r = [&]() -> core::Result<Response> {
          const std::string pid = req.Param("partner");
          auto p = d.db->Read([&](SQLite::Database& tx) { return store::GetPartner(tx, pid); });
          if (!p || (p->channel != "oem" && p->channel != "reseller") || p->status != "active")
            return core::Fail(ErrorCode::kNotFound, "no such ACME directory");
          HP_ASSIGN_OR_RETURN(auto by_host, d.branding->FindByHost(HostOf(req)));
          if (by_host && by_host->partner_id != p->id)
            return core::Fail(ErrorCode::kNotFound, "no such ACME directory");
          HP_ASSIGN_OR_RETURN(auto b, d.branding->Get(p->id));
          HP_ASSIGN_OR_RETURN(Json dir, BaseDirectory(*d.router));
          Json& meta = dir["meta"];
          if (b) {
            meta.erase("termsOfService");
            meta.erase("website");
            // Our CAA identity names us; a partner's customers see only the partner.
            meta.erase("caaIdentities");
            if (!b->terms_of_service_url.empty()) meta["termsOfService"] = b->terms_of_service_url;
            if (!b->website_url.empty()) meta["website"] = b->website_url;
          }
          meta["externalAccountRequired"] = true;
          return Response::Json(200, dir);
        }();
        Response resp =
            r ? std::move(*r) : Response::FromError(r.error(), core::ProblemNamespace::kAcme);
        resp.SetHeader("Cache-Control", "public, max-age=60");
        reply(std::move(resp));
      });
  d.router->AddSync(
      {.method = "GET",
       .pattern = "/",
       .summary = "The control panel's landing page (the partner's brand on its panel host).",
       .tag = "panel",
       .response_type = "text/html"},
      [d](const Request& req) {
        auto b = d.branding->FindByHost(HostOf(req));
        Response r;
        if (b && *b) {
          r = Response(200, "text/html; charset=utf-8", partner::RenderPanelPage(**b));
        } else {
          partner::Branding ours;
          ours.brand_name = "hostplane";
          r = Response(200, "text/html; charset=utf-8", partner::RenderPanelPage(ours));
        }
        r.SetHeader("Cache-Control", "no-store");
        r.SetHeader("Vary", "Host");
        return r;
      });
}

void RegisterOpenApi(core::http::Router& router) {
  router.AddSync(
      {.method = "GET",
       .pattern = "/partner/v1/openapi.json",
       .summary = "OpenAPI 3.1 document of the partner API.",
       .tag = "partner"},
      [&router](const Request&) {
        Json doc = router.OpenApi("Partner API", "1");
        Json paths = Json::object();
        for (auto it = doc["paths"].begin(); it != doc["paths"].end(); ++it)
          if (it.key().rfind("/partner/v1/", 0) == 0 && it.key() != "/partner/v1/openapi.json")
            paths[it.key()] = it.value();
        doc["paths"] = paths;
        doc["components"]["securitySchemes"]["partnerHmac"] = {
            {"type", "apiKey"},
            {"in", "header"},
            {"name", std::string(partner::kSignatureHeader)},
            {"description",
             "HMAC-SHA256 request signature with X-Partner-Key-Id and X-Partner-Timestamp; see "
             "docs/partners.md"}};
        doc["security"] = Json::array({{{"partnerHmac", Json::array()}}});
        return Response::Json(200, doc);
      });
}

core::Result<std::unique_ptr<ServedModule>> Mount(ServeContext& ctx) {
  auto m = std::make_unique<Mounted>();
  Api* api = ctx.services->Get<Api>();
  core::AuditLog* audit = ctx.services->Get<core::AuditLog>();
  core::Sealer* sealer = ctx.services->Get<core::Sealer>();
  if (!api || !audit || !sealer)
    return core::Fail(ErrorCode::kInternal,
                      "the partner module needs the controlplane module mounted first");
  m->http = core::NewCurlHttpClient();
  m->keys = std::make_unique<partner::ApiKeyStore>(ctx.db, *sealer, ctx.clock);
  m->branding = std::make_unique<partner::BrandingStore>(ctx.db, ctx.clock);
  partner::WebhookOptions wo;
  wo.allow_http = ctx.config.GetBool("partner.webhooks.allow_http");
  wo.ca_file = ctx.config.GetString("partner.webhooks.ca_file");
  wo.timeout_ms = ctx.config.GetInt("partner.webhooks.timeout_ms");
  m->webhooks =
      std::make_unique<partner::WebhookService>(ctx.db, *sealer, ctx.jobs, *m->http, ctx.clock, wo);
  m->webhooks->RegisterJobs(ctx.workers);
  ctx.services->Put<partner::WebhookService>(m->webhooks.get());
  ctx.services->Put<partner::BrandingStore>(m->branding.get());

  Deps d{&ctx.db,
         &ctx.clock,
         audit,
         m->keys.get(),
         m->branding.get(),
         m->webhooks.get(),
         ctx.services->Get<acme::AcmeServer>(),
         &ctx.router,
         ctx.public_base_url,
         ctx.config.GetInt("partner.eab_max_days")};
  auto partner_api = std::make_shared<PartnerApi>(d);
  RegisterPartnerRoutes(*partner_api);
  RegisterOpenApi(ctx.router);
  RegisterStaffRoutes(*api, ctx.router, *m->keys);
  RegisterWhiteLabelRoutes(d);
  m->api = partner_api;
  return std::unique_ptr<ServedModule>(std::move(m));
}

}  // namespace

ModuleSpec PartnerModuleSpec() { return {"partner", AddConfig, Migrations, Mount}; }

}  // namespace hp::cp
