// Partner channels in `hostplane serve` (issue 9): the signed partner API under /partner/v1
// (customers, EAB credentials, API keys, branding, webhooks), staff routes to issue partner API
// keys, the white-label panel page (GET / by Host) and per-partner ACME directories
// (/acme/p/{partner}/directory) whose meta is the partner's.
#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>

#include "api.h"
#include "autossl/autossl.h"
#include "billing_routes.h"
#include "hp/acme/server.h"
#include "hp/billing/catalog.h"
#include "hp/billing/commission.h"
#include "hp/billing/invoice.h"
#include "hp/billing/ledger.h"
#include "hp/billing/price_list.h"
#include "hp/billing/subscription.h"
#include "hp/billing/usage.h"
#include "hp/core/events.h"
#include "hp/core/http_client.h"
#include "hp/core/log.h"
#include "hp/core/mailer.h"
#include "hp/core/random.h"
#include "hp/dns/zone.h"
#include "hp/partner/branding.h"
#include "hp/partner/migrations.h"
#include "hp/partner/signing.h"
#include "hp/partner/webhooks.h"
#include "hp/provisioning/dedicated.h"
#include "hp/provisioning/shared_hosting.h"
#include "hp/provisioning/vps.h"
#include "module.h"
#include "provisioning_routes.h"
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
  s.Add({.key = "partner.webhooks.allowed_private_cidrs",
         .default_value = "",
         .doc = "Comma-separated CIDRs of non-public addresses webhook receivers may have (e.g. "
                "127.0.0.0/8 in tests); every other loopback, private, shared, link-local or "
                "multicast address is refused at subscription and at each attempt."});
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
  s.Add({.key = "partner.rate_limit_per_minute",
         .type = ConfigType::kInt,
         .default_value = "600",
         .doc = "Requests per minute one partner may make on /partner/v1 (burst a quarter of it, "
                "at least 10); more get 429 with Retry-After.",
         .min = 1,
         .max = 1000000});
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
  std::shared_ptr<void> api;      // the PartnerApi the route handlers point into
  std::shared_ptr<void> sweep;    // the EabUsageSweep the job handler points into
  std::shared_ptr<void> billing;  // the PartnerBilling the billing routes point into
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
  Api* api;  // the /api/v1 framework (partner member routes)
  std::string public_url;
  int64_t eab_max_days;
  int rate_limit_per_minute;
};

// What a verified partner request carries into a handler: the caller is either one of the
// partner's API keys (/partner/v1, HMAC-signed) or a signed-in partner member
// (/api/v1/partners/{partner}/..., session or API token, role from partner_members).
struct PartnerCall {
  const Request& http;
  std::string actor_type;  // "partner" (an API key) or "user" (a partner member)
  std::string actor_id;    // the key id or the user id
  std::string key_id;      // the API key, "" for a member
  store::Partner partner;
  Json body = Json::object();
  std::optional<store::Organization> customer;  // for /customers/{customer}/... routes
  std::string member_role;                      // "owner", "admin" or "viewer" for members

  core::AuditEvent Event(const std::string& action, const std::string& target) const {
    core::AuditEvent e;
    e.actor_type = actor_type;
    e.actor_id = actor_id;
    e.partner_id = partner.id;
    e.organization_id = customer ? customer->id : "";
    e.action = action;
    e.target = target;
    e.source_ip = http.remote_ip;
    e.request_id = http.request_id;
    e.detail = Json::object();
    if (!key_id.empty()) e.detail["partner_key"] = key_id;
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

// Partner member roles, weakest first.
int RoleRank(const std::string& role) {
  return role == "owner" ? 3 : role == "admin" ? 2 : role == "viewer" ? 1 : 0;
}

core::Result<std::optional<std::string>> MemberRole(SQLite::Database& tx,
                                                    const std::string& partner_id,
                                                    const std::string& user_id) {
  SQLite::Statement q(tx, "SELECT role FROM partner_members WHERE partner_id = ? AND user_id = ?");
  q.bind(1, partner_id);
  q.bind(2, user_id);
  if (!q.executeStep()) return std::optional<std::string>();
  return std::optional<std::string>(q.getColumn(0).getString());
}

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

// The ACME EAB owner of keys minted for a customer: its certificates are attributed to it.
std::string EabOwner(const std::string& organization_id) {
  return "organization:" + organization_id;
}

Json EabKeyJson(const acme::EabKeyInfo& k, core::TimePoint now) {
  const char* state = k.bound_at                               ? "bound"
                      : (k.expires_at && now >= *k.expires_at) ? "expired"
                                                               : "unused";
  return {{"kid", k.kid},
          {"created_at", core::FormatRfc3339(k.created_at)},
          {"expires_at", k.expires_at ? Json(core::FormatRfc3339(*k.expires_at)) : Json(nullptr)},
          {"bound_at", k.bound_at ? Json(core::FormatRfc3339(*k.bound_at)) : Json(nullptr)},
          {"acme_account", k.account_id.empty() ? Json(nullptr) : Json(k.account_id)},
          {"state", state}};
}

Json EabCertificateJson(const acme::EabCertificate& c) {
  return {{"id", c.id},
          {"serial", c.serial},
          {"names", c.names},
          {"not_before", core::FormatRfc3339(c.not_before)},
          {"not_after", core::FormatRfc3339(c.not_after)},
          {"issued_at", core::FormatRfc3339(c.issued_at)},
          {"status", c.revoked ? "revoked" : "valid"},
          {"eab_kid", c.eab_kid},
          {"acme_account", c.account_id}};
}

// One page of the certificates of an organization's EAB keys (?limit=, ?cursor=).
core::Result<Response> OrganizationCertificates(acme::AcmeServer* acme, const Request& req,
                                                const std::string& organization_id) {
  if (!acme) return core::Fail(ErrorCode::kUnavailable, "the certificate authority is not running");
  HP_ASSIGN_OR_RETURN(Page page, ParsePage(req));
  HP_ASSIGN_OR_RETURN(
      auto list, acme->CertificatesOfEabOwner(EabOwner(organization_id), page.after, page.limit));
  Json items = Json::array();
  for (const auto& c : list) items.push_back(EabCertificateJson(c));
  return PageResponse(req, items, list.size(), page.limit, list.empty() ? 0 : list.back().cursor);
}

class PartnerApi {
 public:
  explicit PartnerApi(Deps d) : d_(std::move(d)) {}

  // Registers `pattern` twice: under /partner/v1 (HMAC-signed API keys) and under
  // /api/v1/partners/{partner} for signed-in partner members (viewer for GET, admin otherwise).
  void Route(const std::string& method, const std::string& pattern, const std::string& summary,
             Access access, PartnerHandler h, Json request_schema = nullptr) {
    core::http::RouteInfo info{
        .method = method,
        .pattern = "/partner/v1" + pattern,
        .summary = summary,
        .tag = "partner",
        .permission = access == Access::kCustomers ? "partner:reseller" : "partner"};
    if (!request_schema.is_null()) info.request_schema = request_schema;
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
    MemberRoute(method, pattern, summary, access, method == "GET" ? "viewer" : "admin",
                std::move(h), std::move(request_schema));
  }

  // Only under /api/v1/partners/{partner}: for partner members with at least `min_role`.
  void MemberRoute(const std::string& method, const std::string& pattern,
                   const std::string& summary, Access access, const std::string& min_role,
                   PartnerHandler h, Json request_schema = nullptr) {
    if (!d_.api) return;
    core::http::RouteInfo info{.method = method,
                               .pattern = "/api/v1/partners/{partner}" + pattern,
                               .summary = summary + " (partner members: " + min_role + ")",
                               .tag = "partners",
                               .permission = kAuthenticated};
    if (!request_schema.is_null()) info.request_schema = std::move(request_schema);
    d_.api->Register(*d_.router, std::move(info),
                     [this, access, min_role, h](ApiContext& ac) -> core::Result<Response> {
                       auto r = RunMember(ac, access, min_role, h);
                       if (r) r->SetHeader("Cache-Control", "no-store");
                       return r;
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
    if (int retry = 0; !RateLimit(p->id, &retry))
      return core::Fail(
          core::Error(ErrorCode::kRateLimited, "too many requests from this partner; retry after " +
                                                   std::to_string(retry) + " s")
              .WithRetryAfter(retry));
    PartnerCall call{req, "partner", key.id, key.id, *p, Json::object(), std::nullopt, ""};
    if ((req.method == "POST" || req.method == "PUT" || req.method == "PATCH") &&
        !req.body.empty()) {
      if (req.Header("content-type").rfind("application/json", 0) != 0)
        return core::Fail(
            core::Error(ErrorCode::kUnsupportedMediaType, "send the body as application/json")
                .WithField("Content-Type"));
      HP_ASSIGN_OR_RETURN(call.body, core::ParseJsonObject(req.body));
    }
    const std::string idem = req.Header("idempotency-key");
    if (idem.empty() || req.method == "GET") return Authorize(call, access, h);
    return Idempotent(call, idem, [&] { return Authorize(call, access, h); });
  }

  // Replays the stored answer to a retried write with the same Idempotency-Key (24 hours);
  // the same key with another method, path or body is 409. The key is reserved (a pending row,
  // status 0) in a write transaction before the write runs, so two simultaneous first requests
  // run it once: the other gets 409 "still in progress". A reservation older than
  // kIdemPendingTimeoutUs (its request crashed) is taken over.
  static constexpr int64_t kIdemPendingTimeoutUs = 5LL * 60 * 1000000;
  core::Result<Response> Idempotent(PartnerCall& call, const std::string& key,
                                    const std::function<core::Result<Response>()>& run) {
    if (key.size() > 200)
      return core::FailField(ErrorCode::kInvalidArgument, "Idempotency-Key",
                             "must be at most 200 characters");
    const std::string body_hash = Sha256Hex(call.http.body);
    const int64_t now = NowUs(*d_.clock);
    const int64_t day = 24LL * 3600 * 1000000;
    HP_ASSIGN_OR_RETURN(
        std::optional<Response> stored,
        d_.db->Write([&](SQLite::Database& tx) -> core::Result<std::optional<Response>> {
          SQLite::Statement q(tx,
                              "SELECT method, path, body_sha256, status, content_type, location, "
                              "body, created_at FROM partner_idempotency WHERE partner_id = ? AND "
                              "idem_key = ?");
          q.bind(1, call.partner.id);
          q.bind(2, key);
          bool found = q.executeStep();
          if (found) {
            const int64_t at = q.getColumn(7).getInt64();
            const bool pending = q.getColumn(3).getInt() == 0;
            const bool stale = at <= now - day || (pending && at <= now - kIdemPendingTimeoutUs);
            if (!stale) {
              if (q.getColumn(0).getString() != call.http.method ||
                  q.getColumn(1).getString() != call.http.path ||
                  q.getColumn(2).getString() != body_hash)
                return core::FailField(ErrorCode::kConflict, "Idempotency-Key",
                                       "this key was used for another request");
              if (pending)
                return core::Fail(core::Error(ErrorCode::kConflict,
                                              "a request with this key is still in progress; "
                                              "retry later")
                                      .WithField("Idempotency-Key")
                                      .WithRetryAfter(1));
              Response r(q.getColumn(3).getInt(), q.getColumn(4).getString(),
                         q.getColumn(6).getString());
              if (std::string loc = q.getColumn(5).getString(); !loc.empty())
                r.SetHeader("Location", loc);
              r.SetHeader("Idempotent-Replayed", "true");
              return std::optional<Response>(std::move(r));
            }
          }
          q.reset();
          // Reserve the key (or take over an expired row / abandoned reservation).
          SQLite::Statement ins(tx,
                                "INSERT OR REPLACE INTO partner_idempotency(partner_id, idem_key, "
                                "method, path, body_sha256, status, content_type, location, body, "
                                "created_at) VALUES (?, ?, ?, ?, ?, 0, '', '', '', ?)");
          ins.bind(1, call.partner.id);
          ins.bind(2, key);
          ins.bind(3, call.http.method);
          ins.bind(4, call.http.path);
          ins.bind(5, body_hash);
          ins.bind(6, now);
          ins.exec();
          return std::optional<Response>();
        }));
    if (stored) return std::move(*stored);
    // Our reservation is the pending row created at `now` (a takeover would have a later time).
    auto release = [&] {
      auto st = d_.db->Write([&](SQLite::Database& tx) -> core::Status {
        SQLite::Statement q(tx,
                            "DELETE FROM partner_idempotency WHERE partner_id = ? AND idem_key = ? "
                            "AND status = 0 AND created_at = ?");
        q.bind(1, call.partner.id);
        q.bind(2, key);
        q.bind(3, now);
        q.exec();
        return core::Ok();
      });
      if (!st) core::log::Warn("idempotency release failed", {{"error", st.error().ToString()}});
    };
    core::Result<Response> r = [&] {
      try {
        return run();
      } catch (...) {
        release();
        throw;
      }
    }();
    const bool keep = r ? r->status < 500
                        : r.error().code != ErrorCode::kInternal &&
                              r.error().code != ErrorCode::kUnavailable &&
                              r.error().code != ErrorCode::kRateLimited;
    if (!keep) {
      release();  // a retry runs the write again
      return r;
    }
    Response out = r ? *r : Response::FromError(r.error());
    auto st = d_.db->Write([&](SQLite::Database& tx) -> core::Status {
      SQLite::Statement prune(tx, "DELETE FROM partner_idempotency WHERE created_at <= ?");
      prune.bind(1, now - day);
      prune.exec();
      SQLite::Statement q(tx,
                          "UPDATE partner_idempotency SET status = ?, content_type = ?, "
                          "location = ?, body = ? WHERE partner_id = ? AND idem_key = ? AND "
                          "status = 0 AND created_at = ?");
      q.bind(1, out.status);
      q.bind(2, out.GetHeader("Content-Type"));
      q.bind(3, out.GetHeader("Location"));
      q.bind(4, out.body);
      q.bind(5, call.partner.id);
      q.bind(6, key);
      q.bind(7, now);
      q.exec();
      return core::Ok();
    });
    if (!st) {
      core::log::Warn("idempotency record failed", {{"error", st.error().ToString()}});
      release();  // not left pending: a retry runs again rather than waiting for the timeout
    }
    return r;
  }

  // A token bucket per partner (all its keys together).
  bool RateLimit(const std::string& partner_id, int* retry_after) {
    const double per_us = d_.rate_limit_per_minute / 60e6;
    const double burst = std::max(10.0, d_.rate_limit_per_minute / 4.0);
    const int64_t now = NowUs(*d_.clock);
    std::lock_guard lock(rl_mu_);
    if (buckets_.size() > 100000) buckets_.clear();  // bounded memory
    auto [it, fresh] = buckets_.try_emplace(partner_id, Bucket{burst, now});
    Bucket& b = it->second;
    if (!fresh) {
      b.tokens = std::min(burst, b.tokens + static_cast<double>(now - b.at) * per_us);
      b.at = now;
    }
    if (b.tokens >= 1.0) {
      b.tokens -= 1.0;
      return true;
    }
    *retry_after = std::max(1, static_cast<int>((1.0 - b.tokens) / per_us / 1e6 + 0.999));
    return false;
  }

  core::Result<Response> RunMember(ApiContext& ac, Access access, const std::string& min_role,
                                   const PartnerHandler& h) {
    const std::string pid = ac.http.Param("partner");
    const std::string not_found = "partner " + pid + " not found";
    auto found = d_.db->Read(
        [&](SQLite::Database& tx) -> core::Result<std::pair<store::Partner, std::string>> {
          HP_ASSIGN_OR_RETURN(std::optional<std::string> role, MemberRole(tx, pid, ac.who.user.id));
          // Not a member (staff included): the partner does not exist for this caller.
          if (!role) return core::Fail(ErrorCode::kNotFound, not_found);
          auto p = store::GetPartner(tx, pid);
          if (!p) return core::Fail(ErrorCode::kNotFound, not_found);
          return std::pair{*p, *role};
        });
    if (!found) return std::unexpected(found.error());
    PartnerCall call{ac.http,      "user",  ac.who.user.id, "",
                     found->first, ac.body, std::nullopt,   found->second};
    if (RoleRank(call.member_role) < RoleRank(min_role)) {
      auto ev = call.Event(ac.http.method + " " + ac.http.path, ac.http.path);
      ev.result = "denied";
      ev.detail["reason"] = "role " + call.member_role + " below " + min_role;
      Audit(ev);
      return core::Fail(ErrorCode::kPermissionDenied, "your partner role " + call.member_role +
                                                          " may not do this; " + min_role +
                                                          " or above may");
    }
    return Authorize(call, access, h);
  }

  // Checks shared by both ways in: partner status, channel, and the {customer} scope.
  core::Result<Response> Authorize(PartnerCall& call, Access access, const PartnerHandler& h) {
    const Request& req = call.http;
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
    return h(call);
  }

  Deps d_;
  struct Bucket {
    double tokens;
    int64_t at;
  };
  std::mutex rl_mu_;
  std::map<std::string, Bucket> buckets_;
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
              return Response::Json(
                  200, {{"id", c.partner.id},
                        {"name", c.partner.name},
                        {"channel", c.partner.channel},
                        {"status", c.partner.status},
                        {"api_key", c.key_id.empty() ? Json(nullptr) : Json(c.key_id)},
                        {"role", c.member_role.empty() ? Json(nullptr) : Json(c.member_role)}});
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
  api.Route("POST", "/customers",
            "Create a customer organization (name; owner_email invites its first owner).",
            Access::kCustomers,
            [d](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(std::string name, core::GetString(c.body, "name"));
              if (name.empty() || name.size() > 100)
                return core::FailField(ErrorCode::kInvalidArgument, "name",
                                       "must be 1 to 100 characters");
              std::string owner_email;
              if (c.body.contains("owner_email")) {
                HP_ASSIGN_OR_RETURN(owner_email, core::GetString(c.body, "owner_email"));
                if (!core::IsValidEmail(owner_email))
                  return core::FailField(ErrorCode::kInvalidArgument, "owner_email",
                                         "is not a valid e-mail address");
              }
              const std::string invite_token = RandomToken();
              std::optional<store::Invitation> invitation;
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
                    if (!owner_email.empty()) {
                      // The invitation comes from the acting member, or for an API key from
                      // the partner's first owner.
                      SQLite::Statement q(tx,
                                          "SELECT u.id FROM partner_members m JOIN users u ON "
                                          "u.public_id = m.user_id WHERE m.partner_id = ? AND "
                                          "(m.user_id = ? OR m.role = 'owner') ORDER BY "
                                          "(m.user_id = ?) DESC, m.created_at LIMIT 1");
                      q.bind(1, c.partner.id);
                      q.bind(2, c.actor_id);
                      q.bind(3, c.actor_id);
                      if (!q.executeStep())
                        return core::FailField(ErrorCode::kConflict, "owner_email",
                                               "the partner has no owner to send the invitation "
                                               "from; add a partner member first");
                      const int64_t now = NowUs(*d.clock);
                      invitation =
                          store::Invitation{0,           o.row,   core::NewPublicId(),         o.id,
                                            owner_email, "owner", now + 7LL * 86400 * 1000000, 0,
                                            0,           now};
                      HP_TRY(store::CreateInvitation(tx, *invitation, Sha256Hex(invite_token),
                                                     q.getColumn(0).getInt64()));
                      auto iev = c.Event("invitation.create", "invitation:" + invitation->id);
                      iev.detail = {{"email", owner_email}, {"role", "owner"}};
                      HP_TRY(d.audit->Append(tx, iev));
                    }
                    return o;
                  }));
              Json out = CustomerJson(o);
              if (invitation) {
                HP_TRY(d.api->QueueMail(
                    owner_email, "You are invited to " + o.name,
                    "You were invited to join " + o.name + " on hostplane as owner.\n\n" +
                        d.public_url + "/accept-invitation?token=" + invite_token +
                        "\n\nToken for POST /api/v1/invitations/accept: " + invite_token +
                        "\n\nThe invitation is valid for 7 days.\n",
                    o.id));
                out["invitation_id"] = invitation->id;
              }
              Response r = Response::Json(201, out);
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
        const core::TimePoint now = d.clock->Now();
        const core::TimePoint expires = now + std::chrono::hours(24 * days);
        // The ACME server refuses the key at or after `expires` and binds it to one account.
        HP_ASSIGN_OR_RETURN(acme::EabCredentials eab,
                            d.acme->CreateEabKey(EabOwner(c.customer->id), expires));
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

  api.Route("GET", "/customers/{customer}/eab-keys",
            "The customer's EAB credentials (no MAC keys): expiry, binding, state.",
            Access::kCustomers, [d](PartnerCall& c) -> core::Result<Response> {
              if (!d.acme)
                return core::Fail(ErrorCode::kUnavailable,
                                  "the certificate authority is not running");
              HP_ASSIGN_OR_RETURN(auto list, d.acme->EabKeysOf(EabOwner(c.customer->id)));
              Json items = Json::array();
              for (const auto& k : list) items.push_back(EabKeyJson(k, d.clock->Now()));
              return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
            });
  api.Route("GET", "/customers/{customer}/certificates",
            "Certificates issued through ACME accounts bound with the customer's EAB keys.",
            Access::kCustomers, [d](PartnerCall& c) -> core::Result<Response> {
              return OrganizationCertificates(d.acme, c.http, c.customer->id);
            });

  // API keys of the partner itself.
  api.Route("GET", "/keys", "The partner's API keys.", Access::kAnyPartner,
            [d](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(auto list, d.keys->List(c.partner.id));
              Json items = Json::array();
              for (const auto& k : list) items.push_back(KeyJson(k));
              return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
            });
  api.MemberRoute(
      "POST", "/keys", "Create an API key for /partner/v1 (name); the secret is shown once.",
      Access::kAnyPartner, "admin",
      [&api, d](PartnerCall& c) -> core::Result<Response> {
        std::string name;
        if (c.body.contains("name")) {
          HP_ASSIGN_OR_RETURN(name, core::GetString(c.body, "name"));
        }
        if (name.size() > 100)
          return core::FailField(ErrorCode::kInvalidArgument, "name", "must be at most 100 characters");
        HP_ASSIGN_OR_RETURN(partner::NewApiKey k, d.keys->Create(c.partner.id, name));
        auto ev = c.Event("partner.key.create", "partner_key:" + k.key.id);
        ev.detail["name"] = name;
        api.Audit(ev);
        Json j = KeyJson(k.key);
        j["secret"] = std::string(k.secret.Reveal());
        return Response::Json(201, j);
      },
      {{"type", "object"}, {"properties", {{"name", {{"type", "string"}}}}}});
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
  api.Route("POST", "/webhooks/{webhook}/ping",
            "Send a webhook.ping event to this subscription only (tests a receiver).",
            Access::kAnyPartner, [&api, d, owner](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(std::string id,
                                  d.webhooks->Ping(owner(c), c.http.Param("webhook")));
              api.Audit(c.Event("partner.webhook.ping", "webhook:" + c.http.Param("webhook")));
              return Response::Json(202, {{"delivery_id", id}, {"state", "queued"}});
            });
}

Json MemberJson(const store::User& u, const std::string& role, int64_t created_at) {
  return {{"user_id", u.id},
          {"email", u.email},
          {"name", u.name},
          {"role", role},
          {"created_at", Iso(created_at)}};
}

// Adds (or changes the role of) a partner member by e-mail; the user must exist.
core::Result<Json> PutMember(core::Database& db, core::AuditLog& audit, const core::Clock& clock,
                             const std::string& partner_id, const Json& body, core::AuditEvent ev) {
  HP_ASSIGN_OR_RETURN(std::string email, core::GetString(body, "email"));
  HP_ASSIGN_OR_RETURN(std::string role, core::GetString(body, "role"));
  if (RoleRank(role) == 0)
    return core::FailField(ErrorCode::kInvalidArgument, "role", "must be owner, admin or viewer");
  return db.Write([&](SQLite::Database& tx) -> core::Result<Json> {
    HP_ASSIGN_OR_RETURN(auto user, store::FindUserByEmail(tx, email));
    if (!user)
      return core::FailField(ErrorCode::kNotFound, "email",
                             "no user with this e-mail; they sign up first");
    const int64_t now = NowUs(clock);
    SQLite::Statement q(tx,
                        "INSERT INTO partner_members(partner_id, user_id, role, created_at) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT(partner_id, user_id) DO UPDATE SET "
                        "role = excluded.role");
    q.bind(1, partner_id);
    q.bind(2, user->id);
    q.bind(3, role);
    q.bind(4, now);
    q.exec();
    ev.detail["role"] = role;
    ev.detail["user_id"] = user->id;
    HP_TRY(audit.Append(tx, ev));
    return MemberJson(*user, role, now);
  });
}

void RegisterMemberRoutes(PartnerApi& papi, Api& api, core::http::Router& router) {
  const Deps& d = papi.deps();
  api.Register(router,
               {.method = "GET",
                .pattern = "/api/v1/partners",
                .summary = "The partners the caller is a member of, with the caller's role.",
                .tag = "partners",
                .permission = kAuthenticated},
               [d](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(
                     Json items, d.db->Read([&](SQLite::Database& tx) -> core::Result<Json> {
                       SQLite::Statement q(tx,
                                           "SELECT partner_id, role FROM partner_members WHERE "
                                           "user_id = ? ORDER BY created_at, partner_id");
                       q.bind(1, c.who.user.id);
                       Json items = Json::array();
                       while (q.executeStep()) {
                         auto p = store::GetPartner(tx, q.getColumn(0).getString());
                         if (!p) continue;
                         items.push_back({{"id", p->id},
                                          {"name", p->name},
                                          {"channel", p->channel},
                                          {"status", p->status},
                                          {"role", q.getColumn(1).getString()}});
                       }
                       return items;
                     }));
                 return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
               });
  papi.MemberRoute("GET", "", "The partner and the caller's role.", Access::kAnyPartner, "viewer",
                   [](PartnerCall& c) -> core::Result<Response> {
                     return Response::Json(200, {{"id", c.partner.id},
                                                 {"name", c.partner.name},
                                                 {"channel", c.partner.channel},
                                                 {"status", c.partner.status},
                                                 {"role", c.member_role}});
                   });
  papi.MemberRoute(
      "GET", "/members", "The partner's members and their roles.", Access::kAnyPartner, "admin",
      [d](PartnerCall& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(Json items, d.db->Read([&](SQLite::Database& tx) -> core::Result<Json> {
          SQLite::Statement q(tx,
                              "SELECT u.public_id, u.email, u.name, m.role, m.created_at "
                              "FROM partner_members m JOIN users u ON u.public_id = m.user_id "
                              "WHERE m.partner_id = ? ORDER BY m.created_at, m.user_id");
          q.bind(1, c.partner.id);
          Json items = Json::array();
          while (q.executeStep()) {
            store::User u;
            u.id = q.getColumn(0).getString();
            u.email = q.getColumn(1).getString();
            u.name = q.getColumn(2).getString();
            items.push_back(MemberJson(u, q.getColumn(3).getString(), q.getColumn(4).getInt64()));
          }
          return items;
        }));
        HP_ASSIGN_OR_RETURN(Json pending, d.db->Read([&](SQLite::Database& tx) -> core::Result<Json> {
          SQLite::Statement q(tx,
                              "SELECT id, email, role, created_at, expires_at FROM "
                              "partner_invitations WHERE partner_id = ? AND accepted_at IS NULL "
                              "AND expires_at > ? ORDER BY created_at, id");
          q.bind(1, c.partner.id);
          q.bind(2, NowUs(*d.clock));
          Json out = Json::array();
          while (q.executeStep())
            out.push_back({{"id", q.getColumn(0).getString()},
                           {"email", q.getColumn(1).getString()},
                           {"role", q.getColumn(2).getString()},
                           {"created_at", Iso(q.getColumn(3).getInt64())},
                           {"expires_at", Iso(q.getColumn(4).getInt64())}});
          return out;
        }));
        return Response::Json(200,
                              {{"items", items}, {"invitations", pending}, {"next_cursor", nullptr}});
      });
  papi.MemberRoute(
      "POST", "/members",
      "Add a partner member or change their role (email, role); an address without an account "
      "gets an invitation by e-mail instead (202, valid 7 days).",
      Access::kAnyPartner, "owner",
      [d](PartnerCall& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(std::string email, core::GetString(c.body, "email"));
        HP_ASSIGN_OR_RETURN(std::string role, core::GetString(c.body, "role"));
        if (!core::IsValidEmail(email))
          return core::FailField(ErrorCode::kInvalidArgument, "email",
                                 "is not a valid e-mail address");
        if (RoleRank(role) == 0)
          return core::FailField(ErrorCode::kInvalidArgument, "role",
                                 "must be owner, admin or viewer");
        HP_ASSIGN_OR_RETURN(auto user, d.db->Read([&](SQLite::Database& tx) {
          return store::FindUserByEmail(tx, email);
        }));
        if (user) {
          HP_ASSIGN_OR_RETURN(
              Json m, PutMember(*d.db, *d.audit, *d.clock, c.partner.id, c.body,
                                c.Event("partner.member.put", "partner:" + c.partner.id)));
          return Response::Json(201, m);
        }
        const std::string token = RandomToken();
        const std::string id = core::NewPublicId();
        const int64_t now = NowUs(*d.clock);
        const int64_t expires = now + 7LL * 86400 * 1000000;
        HP_TRY(d.db->Write([&](SQLite::Database& tx) -> core::Status {
          SQLite::Statement q(tx,
                              "INSERT INTO partner_invitations(id, partner_id, email, role, "
                              "token_sha256, invited_by, created_at, expires_at) VALUES "
                              "(?, ?, ?, ?, ?, ?, ?, ?)");
          q.bind(1, id);
          q.bind(2, c.partner.id);
          q.bind(3, email);
          q.bind(4, role);
          q.bind(5, Sha256Hex(token));
          q.bind(6, c.actor_id);
          q.bind(7, now);
          q.bind(8, expires);
          q.exec();
          auto ev = c.Event("partner.member.invite", "partner_invitation:" + id);
          ev.detail = {{"email", email}, {"role", role}};
          return d.audit->Append(tx, ev);
        }));
        HP_TRY(d.api->QueueMail(
            email, "You are invited to the partner " + c.partner.name,
            "You were invited to join the partner " + c.partner.name + " on hostplane as " +
                role + ".\n\nCreate an account with this address (or sign in), then open:\n" +
                d.public_url + "/app/#/partner-invitation?token=" + token +
                "\n\nToken for POST /api/v1/partner-invitations/accept: " + token +
                "\n\nThe invitation is valid for 7 days.\n"));
        return Response::Json(202, {{"invitation",
                                     {{"id", id},
                                      {"email", email},
                                      {"role", role},
                                      {"expires_at", Iso(expires)}}}});
      },
      {{"type", "object"}, {"required", {"email", "role"}}});
  papi.MemberRoute("DELETE", "/members/{user}", "Remove a partner member.", Access::kAnyPartner,
                   "owner", [d](PartnerCall& c) -> core::Result<Response> {
                     const std::string uid = c.http.Param("user");
                     if (uid == c.actor_id)
                       return core::Fail(ErrorCode::kConflict,
                                         "you cannot remove yourself; ask another owner");
                     HP_TRY(d.db->Write([&](SQLite::Database& tx) -> core::Status {
                       SQLite::Statement q(
                           tx, "DELETE FROM partner_members WHERE partner_id = ? AND user_id = ?");
                       q.bind(1, c.partner.id);
                       q.bind(2, uid);
                       if (q.exec() == 0)
                         return core::Fail(ErrorCode::kNotFound, "member " + uid + " not found");
                       auto ev = c.Event("partner.member.delete", "user:" + uid);
                       return d.audit->Append(tx, ev);
                     }));
                     return Response::Empty(204);
                   });
  // Staff add a partner's first owner.
  api.Register(
      router,
      {.method = "POST",
       .pattern = "/api/v1/admin/partners/{partner}/members",
       .summary = "Add a partner member (email, role: owner, admin or viewer).",
       .tag = "admin",
       .permission = kStaff,
       .request_schema = {{"type", "object"}, {"required", {"email", "role"}}}},
      [d](ApiContext& c) -> core::Result<Response> {
        const std::string pid = c.http.Param("partner");
        HP_ASSIGN_OR_RETURN(store::Partner p, d.db->Read([&](SQLite::Database& tx) {
          return store::GetPartner(tx, pid);
        }));
        if (p.channel == "direct")
          return core::Fail(ErrorCode::kInvalidArgument, "the direct channel has no partner users");
        auto ev = c.Event("partner.member.put", "partner:" + p.id);
        ev.partner_id = p.id;
        HP_ASSIGN_OR_RETURN(Json m, PutMember(*d.db, *d.audit, *d.clock, p.id, c.body, ev));
        return Response::Json(201, m);
      });
  // The invited person, signed in with the invited address, accepts once.
  api.Register(
      router,
      {.method = "POST",
       .pattern = "/api/v1/partner-invitations/accept",
       .summary = "Accept an invitation to a partner (token from the e-mail); the signed-in user "
                  "must have the invited address.",
       .tag = "partners",
       .permission = kAuthenticated,
       .request_schema = {{"type", "object"}, {"required", {"token"}}}},
      [d](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(std::string token, core::GetString(c.body, "token"));
        auto lower = [](std::string v) {
          std::ranges::transform(v, v.begin(), [](unsigned char ch) { return std::tolower(ch); });
          return v;
        };
        HP_ASSIGN_OR_RETURN(
            Json out, d.db->Write([&](SQLite::Database& tx) -> core::Result<Json> {
              SQLite::Statement q(tx,
                                  "SELECT id, partner_id, email, role, expires_at, accepted_at "
                                  "FROM partner_invitations WHERE token_sha256 = ?");
              q.bind(1, Sha256Hex(token));
              if (!q.executeStep())
                return core::FailField(ErrorCode::kNotFound, "token",
                                       "no such invitation; ask for a new one");
              const std::string id = q.getColumn(0).getString();
              const std::string pid = q.getColumn(1).getString();
              const std::string email = q.getColumn(2).getString();
              const std::string role = q.getColumn(3).getString();
              const int64_t now = NowUs(*d.clock);
              if (!q.getColumn(5).isNull())
                return core::FailField(ErrorCode::kConflict, "token",
                                       "this invitation was already accepted");
              if (q.getColumn(4).getInt64() <= now)
                return core::FailField(ErrorCode::kConflict, "token",
                                       "this invitation expired; ask for a new one");
              if (lower(email) != lower(c.who.user.email))
                return core::FailField(ErrorCode::kPermissionDenied, "token",
                                       "this invitation is for another e-mail address; sign in "
                                       "with the invited address");
              auto p = store::GetPartner(tx, pid);
              if (!p) return core::FailField(ErrorCode::kNotFound, "token", "the partner is gone");
              SQLite::Statement m(tx,
                                  "INSERT INTO partner_members(partner_id, user_id, role, "
                                  "created_at) VALUES (?, ?, ?, ?) ON CONFLICT(partner_id, "
                                  "user_id) DO UPDATE SET role = excluded.role");
              m.bind(1, pid);
              m.bind(2, c.who.user.id);
              m.bind(3, role);
              m.bind(4, now);
              m.exec();
              SQLite::Statement u(tx,
                                  "UPDATE partner_invitations SET accepted_at = ? WHERE id = ?");
              u.bind(1, now);
              u.bind(2, id);
              u.exec();
              auto ev = c.Event("partner.member.accept", "partner_invitation:" + id);
              ev.partner_id = pid;
              ev.detail = {{"role", role}, {"user_id", c.who.user.id}};
              HP_TRY(d.audit->Append(tx, ev));
              return Json{{"partner",
                           {{"id", p->id}, {"name", p->name}, {"channel", p->channel}}},
                          {"role", role}};
            }));
        return Response::Json(200, out);
      });
  // A customer's own view of the certificates issued through its EAB keys.
  api.Register(router,
               {.method = "GET",
                .pattern = "/api/v1/organizations/{org}/acme-certificates",
                .summary = "Certificates issued through ACME accounts bound with the "
                           "organization's EAB credentials (partner-minted).",
                .tag = "certificates",
                .permission = "services.read"},
               [d](ApiContext& c) -> core::Result<Response> {
                 return OrganizationCertificates(d.acme, c.http, c.org->id);
               });
}

// Webhooks of a customer organization (/api/v1/organizations/{org}/webhooks...): the same
// service as the partner's, owned by the organization; org.read to look, org.update to change.
void RegisterOrganizationWebhookRoutes(Api& api, core::http::Router& router,
                                       partner::WebhookService& hooks) {
  const std::string base = "/api/v1/organizations/{org}";
  auto owner = [](const ApiContext& c) {
    return partner::Owner{partner::OwnerType::kOrganization, c.org->id};
  };
  auto reg = [&](const std::string& method, const std::string& pattern, const std::string& summary,
                 const std::string& permission, ApiHandler h, Json schema = nullptr) {
    core::http::RouteInfo info{.method = method,
                               .pattern = base + pattern,
                               .summary = summary,
                               .tag = "webhooks",
                               .permission = permission};
    if (!schema.is_null()) info.request_schema = std::move(schema);
    api.Register(router, std::move(info), std::move(h));
  };
  reg("GET", "/webhooks", "The organization's webhook subscriptions.", "org.read",
      [&hooks, owner](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto list, hooks.ListSubscriptions(owner(c)));
        Json items = Json::array();
        for (const auto& s : list) items.push_back(SubscriptionJson(s));
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  reg("POST", "/webhooks",
      "Subscribe an URL to events (url, events); the signing secret is shown once.", "org.update",
      [&api, &hooks, owner](ApiContext& c) -> core::Result<Response> {
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
        HP_ASSIGN_OR_RETURN(partner::NewSubscription s, hooks.Subscribe(owner(c), url, events));
        auto ev = c.Event("webhook.create", "webhook:" + s.subscription.id);
        ev.detail["url"] = url;
        api.AuditAlone(ev);
        Json j = SubscriptionJson(s.subscription);
        j["secret"] = std::string(s.secret.Reveal());
        return Response::Json(201, j);
      },
      {{"type", "object"}, {"required", {"url", "events"}}});
  reg("DELETE", "/webhooks/{webhook}", "Delete a subscription.", "org.update",
      [&api, &hooks, owner](ApiContext& c) -> core::Result<Response> {
        HP_TRY(hooks.Unsubscribe(owner(c), c.http.Param("webhook")));
        api.AuditAlone(c.Event("webhook.delete", "webhook:" + c.http.Param("webhook")));
        return Response::Empty(204);
      });
  reg("POST", "/webhooks/{webhook}/ping",
      "Send a webhook.ping event to this subscription only (tests a receiver).", "org.update",
      [&api, &hooks, owner](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(std::string id, hooks.Ping(owner(c), c.http.Param("webhook")));
        api.AuditAlone(c.Event("webhook.ping", "webhook:" + c.http.Param("webhook")));
        return Response::Json(202, {{"delivery_id", id}, {"state", "queued"}});
      });
  reg("GET", "/webhooks/{webhook}/deliveries", "Recent deliveries of a subscription.", "org.read",
      [&hooks, owner](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto list, hooks.ListDeliveries(owner(c), c.http.Param("webhook")));
        Json items = Json::array();
        for (const auto& x : list) items.push_back(DeliveryJson(x));
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  reg("GET", "/webhook-deliveries/{delivery}/attempts",
      "The delivery log: every attempt with its HTTP status.", "org.read",
      [&hooks, owner](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto list, hooks.ListAttempts(owner(c), c.http.Param("delivery")));
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
  reg("POST", "/webhook-deliveries/{delivery}/redeliver", "Send a delivery again now.",
      "org.update", [&api, &hooks, owner](ApiContext& c) -> core::Result<Response> {
        HP_TRY(hooks.Redeliver(owner(c), c.http.Param("delivery")));
        api.AuditAlone(c.Event("webhook.redeliver", "delivery:" + c.http.Param("delivery")));
        return Response::Json(202, {{"id", c.http.Param("delivery")}, {"state", "queued"}});
      });
}

// White-label mail: mail about (or to a member or invitee of) an OEM's customer carries the
// OEM's sender, brand and panel host. The organization named by the caller wins; otherwise the
// recipient's newest membership or pending invitation in an OEM customer decides.
void InstallMailBrand(Api& api, core::Database& db, partner::BrandingStore& branding) {
  api.SetMailBrandResolver(
      [&db, &branding](const std::string& organization_id,
                       const std::string& to) -> std::optional<Api::MailBrand> {
        auto partner_id = db.Read([&](SQLite::Database& tx) -> core::Result<std::string> {
          if (!organization_id.empty()) {
            SQLite::Statement q(tx,
                                "SELECT p.public_id FROM organizations o JOIN partners p ON p.id = "
                                "o.partner_id WHERE o.public_id = ? AND p.channel = 'oem'");
            q.bind(1, organization_id);
            return q.executeStep() ? q.getColumn(0).getString() : std::string();
          }
          SQLite::Statement q(
              tx,
              "SELECT p.public_id FROM ("
              " SELECT m.organization_id AS org, m.created_at AS at FROM memberships m"
              "  JOIN users u ON u.id = m.user_id WHERE u.email = ?1"
              " UNION ALL SELECT i.organization_id, i.created_at FROM invitations i"
              "  WHERE i.email = ?1 AND i.accepted_at = 0 AND i.revoked_at = 0) x"
              " JOIN organizations o ON o.id = x.org JOIN partners p ON p.id = o.partner_id"
              " WHERE p.channel = 'oem' ORDER BY x.at DESC LIMIT 1");
          q.bind(1, to);
          return q.executeStep() ? q.getColumn(0).getString() : std::string();
        });
        if (!partner_id || partner_id->empty()) return std::nullopt;
        auto b = branding.Get(*partner_id);
        if (!b || !*b) return std::nullopt;
        const partner::Branding& br = **b;
        Api::MailBrand m;
        m.brand_name = br.brand_name;
        m.from_name = br.mail_from_name.empty() ? br.brand_name : br.mail_from_name;
        m.from_address = br.mail_from_address;
        if (!br.panel_host.empty()) m.base_url = "https://" + br.panel_host;
        return m;
      });
}

// Certificates issued through customers' EAB keys, counted once each (durable job
// "partner.eab.sweep", every minute): a usage record "certificates" (idempotency key
// "acme-cert:<serial>") on the organization's first active subscription, and a
// certificate.issued webhook event for the organization and its partner. Progress is the last
// certificate row seen (partner_cursors), advanced after each certificate.
constexpr const char* kEabSweepJob = "partner.eab.sweep";

class EabUsageSweep {
 public:
  EabUsageSweep(core::Database& db, const core::Clock& clock, core::AuditLog& audit,
                core::JobQueue& jobs, acme::AcmeServer& acme, partner::WebhookService& hooks)
      : db_(db),
        clock_(clock),
        jobs_(jobs),
        acme_(acme),
        hooks_(hooks),
        deps_{&db, &clock, &ids_, &audit},
        catalog_(deps_),
        prices_(deps_, config_, catalog_),
        subscriptions_(deps_, prices_, catalog_),
        usage_(deps_) {}

  void Register(core::WorkerPool& pool) {
    pool.Register(kEabSweepJob, [this](core::JobContext&) -> core::Result<Json> {
      HP_TRY(Schedule(false));  // the next slot first: a failing sweep is retried regardless
      return Run();
    });
    if (auto st = Schedule(true); !st)
      core::log::Error("cannot schedule the EAB usage sweep", {{"error", st.error().ToString()}});
  }

  core::Result<Json> Run() {
    HP_ASSIGN_OR_RETURN(
        int64_t cursor, db_.Read([&](SQLite::Database& tx) -> core::Result<int64_t> {
          SQLite::Statement q(tx,
                              "SELECT value FROM partner_cursors WHERE name = 'eab_certificates'");
          return q.executeStep() ? q.getColumn(0).getInt64() : int64_t{0};
        }));
    int counted = 0, unbilled = 0;
    while (true) {
      HP_ASSIGN_OR_RETURN(auto batch, acme_.EabCertificatesSince("organization:", cursor, 200));
      for (const auto& c : batch) {
        const std::string org_id = c.owner.substr(std::string("organization:").size());
        auto org =
            db_.Read([&](SQLite::Database& tx) { return store::GetOrganization(tx, org_id); });
        if (org) {
          HP_ASSIGN_OR_RETURN(auto subs, subscriptions_.List(org_id));
          auto active = std::find_if(subs.begin(), subs.end(), [](const billing::Subscription& s) {
            return s.state == billing::SubscriptionState::kActive;
          });
          if (active != subs.end()) {
            auto rec = usage_.Record({.organization_id = org_id,
                                      .subscription_id = active->id,
                                      .metric = billing::kMetricCertificates,
                                      .quantity = 1,
                                      .occurred_at = c.issued_at,
                                      .idempotency_key = "acme-cert:" + c.serial});
            if (!rec) return std::unexpected(rec.error());
            ++counted;
          } else {
            ++unbilled;  // no subscription to charge: visible in the job result
          }
          auto ev = hooks_.Publish({"certificate.issued",
                                    org_id,
                                    org->partner_id,
                                    {{"certificate_id", c.id},
                                     {"serial", c.serial},
                                     {"names", c.names},
                                     {"not_after", core::FormatRfc3339(c.not_after)}}});
          if (!ev) core::log::Warn("webhook publish failed", {{"error", ev.error().ToString()}});
        }
        cursor = c.cursor;
        HP_TRY(db_.Write([&](SQLite::Database& tx) -> core::Status {
          SQLite::Statement q(
              tx,
              "INSERT INTO partner_cursors(name, value) VALUES ('eab_certificates', "
              "?) ON CONFLICT(name) DO UPDATE SET value = excluded.value");
          q.bind(1, cursor);
          q.exec();
          return core::Ok();
        }));
      }
      if (batch.size() < 200) break;
    }
    return Json{
        {"certificates_counted", counted}, {"certificates_unbilled", unbilled}, {"cursor", cursor}};
  }

 private:
  core::Status Schedule(bool this_slot) {
    const int64_t now = core::ToUnixSeconds(clock_.Now());
    const int64_t slot = (now / 60 + (this_slot ? 0 : 1)) * 60;
    core::EnqueueOptions o;
    o.idempotency_key = "slot-" + std::to_string(slot);
    o.run_at = core::FromUnixSeconds(slot);
    auto r = jobs_.Enqueue(kEabSweepJob, Json{{"slot", slot}}, o);
    if (!r) return std::unexpected(r.error());
    return core::Ok();
  }

  core::Database& db_;
  const core::Clock& clock_;
  core::JobQueue& jobs_;
  acme::AcmeServer& acme_;
  partner::WebhookService& hooks_;
  core::RandomIdSource ids_;
  billing::BillingDeps deps_;
  billing::BillingConfig config_;
  billing::Catalog catalog_;
  billing::PriceLists prices_;
  billing::Subscriptions subscriptions_;
  billing::UsageMeter usage_;
};

// Billing of a partner's customers over the partner API: the billing library's own classes on
// the same store as the /api/v1 billing routes (subscriptions, invoices, usage), and the billing
// module's Commissions service for agency statements.
class PartnerBilling {
 public:
  PartnerBilling(Api& api, core::Database& db, const core::Clock& clock, core::AuditLog& audit,
                 billing::Commissions* commissions)
      : api_(api),
        deps_{&db, &clock, &ids_, &audit},
        catalog_(deps_),
        prices_(deps_, config_, catalog_),
        subscriptions_(deps_, prices_, catalog_),
        usage_(deps_),
        ledger_(deps_),
        invoices_(deps_, config_, ledger_),
        commissions_(commissions) {
    svc_.catalog = &catalog_;
    svc_.prices = &prices_;
    svc_.subscriptions = &subscriptions_;
    svc_.usage = &usage_;
    svc_.invoices = &invoices_;
    svc_.ledger = &ledger_;
  }

  // The customer's billing account, created from the tenancy on first use (as /api/v1 does).
  core::Status EnsureAccount(const std::string& organization_id) {
    auto a = EnsureBillingAccount(api_, svc_, organization_id);
    if (!a) return std::unexpected(a.error());
    return core::Ok();
  }
  billing::Subscriptions& subscriptions() { return subscriptions_; }
  billing::PriceLists& prices() { return prices_; }
  billing::UsageMeter& usage() { return usage_; }
  billing::InvoiceStore& invoices() { return invoices_; }
  core::TimePoint Now() const { return deps_.clock->Now(); }
  core::Database& db() { return *deps_.db; }
  billing::Commissions* commissions() { return commissions_; }

 private:
  Api& api_;
  core::RandomIdSource ids_;
  billing::BillingDeps deps_;
  billing::BillingConfig config_;
  billing::Catalog catalog_;
  billing::PriceLists prices_;
  billing::Subscriptions subscriptions_;
  billing::UsageMeter usage_;
  billing::Ledger ledger_;
  billing::InvoiceStore invoices_;
  billing::Commissions* commissions_;
  BillingServices svc_;
};

Json BillingSubscriptionJson(const billing::Subscription& s) {
  return {{"id", s.id},
          {"organization_id", s.organization_id},
          {"product", s.product_code},
          {"period", std::string(billing::BillingPeriodName(s.period))},
          {"state", std::string(billing::SubscriptionStateName(s.state))},
          {"current_period",
           {{"start", billing::FormatDate(s.current.start)},
            {"end", billing::FormatDate(s.current.end)}}},
          {"period_price", s.period_price.yen()},
          {"cancel_at_period_end", s.cancel_at_period_end},
          {"currency", "JPY"}};
}

Json BillingInvoiceJson(const billing::Invoice& i) {
  return {{"id", i.id},
          {"number", i.number},
          {"kind", i.kind == billing::InvoiceKind::kInvoice ? "invoice" : "credit_note"},
          {"issuer", i.issuer.name},
          {"issue_date", billing::FormatDate(i.issue_date)},
          {"due_date", billing::FormatDate(i.due_date)},
          {"status", std::string(billing::InvoiceStatusName(i.status))},
          {"subtotal", i.totals.subtotal.yen()},
          {"tax", i.totals.tax.yen()},
          {"total", i.totals.total.yen()},
          {"amount_paid", i.amount_paid.yen()},
          {"currency", "JPY"}};
}

billing::Actor ActorOfCall(const PartnerCall& c) {
  return {.type = c.actor_type == "partner" ? "partner" : "user",
          .id = c.actor_id,
          .source_ip = c.http.remote_ip,
          .request_id = c.http.request_id};
}

void RegisterPartnerBillingRoutes(PartnerApi& api, PartnerBilling& b) {
  api.Route("GET", "/customers/{customer}/subscriptions", "The customer's subscriptions.",
            Access::kCustomers, [&b](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(auto list, b.subscriptions().List(c.customer->id));
              Json items = Json::array();
              for (const auto& s : list) items.push_back(BillingSubscriptionJson(s));
              return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
            });
  api.Route(
      "POST", "/customers/{customer}/subscriptions",
      "Order a subscription for the customer (product, period monthly|yearly) at the partner's "
      "sell price; the Idempotency-Key header makes a retried order return the same one.",
      Access::kCustomers,
      [&api, &b](PartnerCall& c) -> core::Result<Response> {
        billing::OrderRequest r;
        r.organization_id = c.customer->id;
        HP_ASSIGN_OR_RETURN(r.product_code, core::GetString(c.body, "product"));
        if (c.body.contains("period")) {
          HP_ASSIGN_OR_RETURN(std::string period, core::GetString(c.body, "period"));
          HP_ASSIGN_OR_RETURN(r.period, billing::ParseBillingPeriod(period));
        }
        HP_TRY(b.EnsureAccount(c.customer->id));
        const std::string idem = c.http.Header("idempotency-key");
        if (!idem.empty()) r.idempotency_key = "partner:" + c.partner.id + ":" + idem;
        HP_ASSIGN_OR_RETURN(billing::Subscription s, b.subscriptions().Order(r, ActorOfCall(c)));
        // As on /api/v1: no provisioning hook yet, so an order is accepted at once.
        if (s.state == billing::SubscriptionState::kPending) {
          HP_ASSIGN_OR_RETURN(s, b.subscriptions().Accept(c.customer->id, s.id, ActorOfCall(c)));
        }
        auto ev = c.Event("partner.subscription.order", "subscription:" + s.id);
        ev.detail["product"] = s.product_code;
        api.Audit(ev);
        return Response::Json(201, BillingSubscriptionJson(s));
      },
      {{"type", "object"}, {"required", {"product"}}});
  api.Route("POST", "/customers/{customer}/subscriptions/{subscription}/change",
            "Change the plan now (product, period), prorated.", Access::kCustomers,
            [&api, &b](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(std::string product, core::GetString(c.body, "product"));
              billing::BillingPeriod period = billing::BillingPeriod::kMonthly;
              if (c.body.contains("period")) {
                HP_ASSIGN_OR_RETURN(std::string p, core::GetString(c.body, "period"));
                HP_ASSIGN_OR_RETURN(period, billing::ParseBillingPeriod(p));
              }
              HP_ASSIGN_OR_RETURN(
                  billing::PlanChange ch,
                  b.subscriptions().ChangePlan(c.customer->id, c.http.Param("subscription"),
                                               product, period, ActorOfCall(c)));
              auto ev = c.Event("partner.subscription.change",
                                "subscription:" + c.http.Param("subscription"));
              ev.detail["product"] = product;
              api.Audit(ev);
              return Response::Json(200, BillingSubscriptionJson(ch.subscription));
            },
            {{"type", "object"}, {"required", {"product"}}});
  api.Route("POST", "/customers/{customer}/subscriptions/{subscription}/cancel",
            "Cancel at the period end, or now with {\"immediately\": true}.", Access::kCustomers,
            [&api, &b](PartnerCall& c) -> core::Result<Response> {
              const bool now = c.body.value("immediately", false);
              HP_ASSIGN_OR_RETURN(
                  billing::Subscription s,
                  b.subscriptions().Cancel(c.customer->id, c.http.Param("subscription"), now,
                                           ActorOfCall(c)));
              auto ev = c.Event("partner.subscription.cancel", "subscription:" + s.id);
              ev.detail["immediately"] = now;
              api.Audit(ev);
              return Response::Json(200, BillingSubscriptionJson(s));
            });
  api.Route(
      "GET", "/orders",
      "Recent orders of all the partner's customers (subscriptions, newest first; ?limit= at "
      "most 200, of the first 500 customers).",
      Access::kCustomers, [&b](PartnerCall& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(Page page, ParsePage(c.http));
        auto& d = b.db();
        HP_ASSIGN_OR_RETURN(auto customers, d.Read([&](SQLite::Database& tx) {
          return store::ListOrganizations(tx, c.partner.id, 0, 500);
        }));
        std::vector<std::pair<billing::Subscription, const store::Organization*>> all;
        for (const auto& o : customers) {
          HP_ASSIGN_OR_RETURN(auto subs, b.subscriptions().List(o.id));
          for (auto& s : subs) all.emplace_back(std::move(s), &o);
        }
        std::ranges::stable_sort(all, [](const auto& x, const auto& y) {
          return x.first.anchor > y.first.anchor;
        });
        Json items = Json::array();
        for (const auto& [s, o] : all) {
          if (std::cmp_greater_equal(items.size(), page.limit)) break;
          Json j = BillingSubscriptionJson(s);
          j["customer"] = {{"id", o->id}, {"name", o->name}, {"status", o->status}};
          j["ordered_on"] = billing::FormatDate(s.anchor);
          items.push_back(std::move(j));
        }
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  api.Route("GET", "/customers/{customer}/invoices", "The customer's invoices and credit notes.",
            Access::kCustomers, [&b](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(auto list, b.invoices().List(c.customer->id));
              Json items = Json::array();
              for (const auto& i : list) items.push_back(BillingInvoiceJson(i));
              return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
            });
  api.Route("GET", "/customers/{customer}/usage",
            "Metered usage of the customer's active subscriptions in their current period.",
            Access::kCustomers, [&b](PartnerCall& c) -> core::Result<Response> {
              HP_ASSIGN_OR_RETURN(auto subs, b.subscriptions().List(c.customer->id));
              Json items = Json::array();
              for (const auto& s : subs) {
                if (s.state != billing::SubscriptionState::kActive) continue;
                for (const char* metric : {billing::kMetricVpsHours, billing::kMetricBandwidthGb,
                                           billing::kMetricCertificates}) {
                  HP_ASSIGN_OR_RETURN(int64_t q,
                                      b.usage().Total(c.customer->id, s.id, metric,
                                                      billing::StartOfDay(s.current.start),
                                                      billing::StartOfDay(s.current.end)));
                  if (q == 0) continue;
                  items.push_back({{"subscription_id", s.id},
                                   {"product", s.product_code},
                                   {"metric", metric},
                                   {"quantity", q}});
                }
              }
              return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
            });
  api.Route(
      "POST", "/sell-prices",
      "Set the partner's own sell price of a product to its customers (product, period, price, "
      "setup_fee, effective_from YYYY-MM-DD; yen, tax-exclusive); a new version from that day.",
      Access::kBrand,
      [&api, &b](PartnerCall& c) -> core::Result<Response> {
        billing::Price p;
        HP_ASSIGN_OR_RETURN(p.product_code, core::GetString(c.body, "product"));
        if (c.body.contains("period")) {
          HP_ASSIGN_OR_RETURN(std::string period, core::GetString(c.body, "period"));
          HP_ASSIGN_OR_RETURN(p.period, billing::ParseBillingPeriod(period));
        }
        HP_ASSIGN_OR_RETURN(int64_t price, core::GetInt(c.body, "price"));
        if (price < 0)
          return core::FailField(ErrorCode::kInvalidArgument, "price", "must be at least 0 yen");
        p.price = core::Money::Yen(price);
        int64_t setup = 0;
        if (c.body.contains("setup_fee")) {
          HP_ASSIGN_OR_RETURN(setup, core::GetInt(c.body, "setup_fee"));
        }
        if (setup < 0)
          return core::FailField(ErrorCode::kInvalidArgument, "setup_fee",
                                 "must be at least 0 yen");
        p.setup_fee = core::Money::Yen(setup);
        const billing::Date today = billing::ToDate(b.Now());
        if (c.body.contains("effective_from")) {
          HP_ASSIGN_OR_RETURN(std::string day, core::GetString(c.body, "effective_from"));
          HP_ASSIGN_OR_RETURN(p.effective_from, billing::ParseDate(day, "effective_from"));
          if (p.effective_from < today)
            return core::FailField(ErrorCode::kInvalidArgument, "effective_from",
                                   "must be today (" + billing::FormatDate(today) +
                                       ") or later; past prices are never rewritten");
        } else {
          p.effective_from = today;
        }
        // Never below what we charge the partner on that day for the same product and period.
        HP_ASSIGN_OR_RETURN(auto rows,
                            b.prices().PartnerPriceList(c.partner.id, p.effective_from));
        const auto row = std::ranges::find_if(rows, [&](const billing::PartnerPriceRow& r) {
          return r.product.code == p.product_code && r.period == p.period;
        });
        if (row == rows.end())
          return core::FailField(ErrorCode::kInvalidArgument, "product",
                                 "no list price for " + p.product_code + " " +
                                     std::string(billing::BillingPeriodName(p.period)) + " on " +
                                     billing::FormatDate(p.effective_from));
        if (p.price < row->wholesale.price)
          return core::FailField(ErrorCode::kInvalidArgument, "price",
                                 "must be at least your wholesale price of " +
                                     std::to_string(row->wholesale.price.yen()) + " yen");
        if (p.setup_fee < row->wholesale.setup_fee)
          return core::FailField(ErrorCode::kInvalidArgument, "setup_fee",
                                 "must be at least your wholesale setup fee of " +
                                     std::to_string(row->wholesale.setup_fee.yen()) + " yen");
        HP_TRY(b.prices().SetPartnerPrice(c.partner.id, billing::PartnerPriceKind::kSell, p,
                                          ActorOfCall(c)));
        auto ev = c.Event("partner.sell_price.set", "product:" + p.product_code);
        ev.detail["price"] = price;
        ev.detail["effective_from"] = billing::FormatDate(p.effective_from);
        api.Audit(ev);
        return Response::Json(201, {{"product", p.product_code},
                                    {"period", std::string(billing::BillingPeriodName(p.period))},
                                    {"price", p.price.yen()},
                                    {"setup_fee", p.setup_fee.yen()},
                                    {"effective_from", billing::FormatDate(p.effective_from)},
                                    {"currency", "JPY"}});
      },
      {{"type", "object"}, {"required", {"product", "price"}}});
  api.Route(
      "GET", "/price-list",
      "The catalog as the partner sees it today (?date=YYYY-MM-DD): list price per product and "
      "period; resellers and OEMs also their wholesale (buy) price, sell price, margin and the "
      "next scheduled sell price; agencies their commission rate.",
      Access::kAnyPartner, [&b](PartnerCall& c) -> core::Result<Response> {
        billing::Date day = billing::ToDate(b.Now());
        if (auto q = c.http.QueryParam("date"); q && !q->empty()) {
          HP_ASSIGN_OR_RETURN(day, billing::ParseDate(*q, "date"));
        }
        const bool sells = c.partner.channel == "reseller" || c.partner.channel == "oem";
        HP_ASSIGN_OR_RETURN(auto rows, b.prices().PartnerPriceList(c.partner.id, day));
        auto price = [](const billing::Price& p) {
          return Json{{"price", p.price.yen()},
                      {"setup_fee", p.setup_fee.yen()},
                      {"effective_from", billing::FormatDate(p.effective_from)}};
        };
        Json items = Json::array();
        for (const auto& r : rows) {
          Json j = {{"product", r.product.code},
                    {"name", r.product.name},
                    {"kind", std::string(billing::ProductKindName(r.product.kind))},
                    {"period", std::string(billing::BillingPeriodName(r.period))},
                    {"list_price", r.list.price.yen()},
                    {"list_setup_fee", r.list.setup_fee.yen()}};
          if (sells) {
            j["wholesale_price"] = r.wholesale.price.yen();
            j["wholesale_setup_fee"] = r.wholesale.setup_fee.yen();
            j["sell"] = r.sell ? price(*r.sell) : Json(nullptr);
            j["next_sell"] = r.next_sell ? price(*r.next_sell) : Json(nullptr);
            j["margin"] =
                r.sell ? Json(r.sell->price.yen() - r.wholesale.price.yen()) : Json(nullptr);
          }
          items.push_back(std::move(j));
        }
        Json out = {{"date", billing::FormatDate(day)},
                    {"channel", c.partner.channel},
                    {"currency", "JPY"},
                    {"tax", "exclusive"},
                    {"items", items}};
        if (c.partner.channel == "agency") {
          auto terms = b.prices().GetPartner(c.partner.id);
          if (!terms && terms.error().code != ErrorCode::kNotFound)
            return std::unexpected(terms.error());
          out["commission_bp"] = terms ? Json(terms->commission_bp) : Json(nullptr);
        }
        return Response::Json(200, out);
      });
  api.Route("GET", "/customers/{customer}/prices",
            "The customer's price of a product today (?product=&period=): the partner's sell "
            "price and what we charge the partner (wholesale).",
            Access::kCustomers, [&b](PartnerCall& c) -> core::Result<Response> {
              const std::string product = c.http.QueryParam("product").value_or("");
              if (product.empty())
                return core::FailField(ErrorCode::kInvalidArgument, "product",
                                       "is required (?product=<code>)");
              HP_ASSIGN_OR_RETURN(
                  billing::BillingPeriod period,
                  billing::ParseBillingPeriod(c.http.QueryParam("period").value_or("monthly")));
              HP_TRY(b.EnsureAccount(c.customer->id));
              HP_ASSIGN_OR_RETURN(
                  billing::CustomerPrice p,
                  b.prices().PriceFor(c.customer->id, product, period, billing::ToDate(b.Now())));
              Json j = {{"product", product},
                        {"period", std::string(billing::BillingPeriodName(period))},
                        {"price", p.price.yen()},
                        {"setup_fee", p.setup_fee.yen()},
                        {"currency", "JPY"}};
              j["wholesale_price"] =
                  p.wholesale_price ? Json(p.wholesale_price->yen()) : Json(nullptr);
              return Response::Json(200, j);
            });
  api.Route("GET", "/commission-statements",
            "The agency's commission statement of a month (?month=YYYY-MM; &format=csv for CSV).",
            Access::kAnyPartner, [&b](PartnerCall& c) -> core::Result<Response> {
              if (c.partner.channel != "agency")
                return core::Fail(ErrorCode::kPermissionDenied,
                                  "commission statements are for agency partners");
              if (!b.commissions())
                return core::Fail(ErrorCode::kUnavailable, "billing is not running");
              const std::string month = c.http.QueryParam("month").value_or("");
              int year = 0;
              unsigned mon = 0;
              if (month.size() != 7 || month[4] != '-' ||
                  std::sscanf(month.c_str(), "%4d-%2u", &year, &mon) != 2)
                return core::FailField(ErrorCode::kInvalidArgument, "month", "must be YYYY-MM");
              HP_ASSIGN_OR_RETURN(billing::CommissionStatement st,
                                  b.commissions()->Statement(c.partner.id, year, mon));
              if (c.http.QueryParam("format").value_or("") == "csv") {
                Response r(200, "text/csv; charset=utf-8", billing::CommissionStatementToCsv(st));
                r.SetHeader("Content-Disposition",
                            "attachment; filename=\"commission-" + month + ".csv\"");
                return r;
              }
              return Response::Json(200, billing::CommissionStatementToJson(st));
            });
  // Referral codes: the same billing function as the staff route
  // POST /api/v1/admin/billing/partners/{partner}/referral-codes, for the agency itself.
  auto referral_json = [&api](const billing::ReferralCode& rc) {
    return Json{{"code", rc.code},
                {"partner", rc.partner_id},
                {"created_at", core::FormatRfc3339(rc.created_at)},
                {"redemptions", rc.redemptions},
                {"signup_url", api.deps().public_url + "/app/#/signup?referral=" + rc.code}};
  };
  auto agency_only = [&b](const PartnerCall& c) -> core::Status {
    if (c.partner.channel != "agency")
      return core::Fail(ErrorCode::kPermissionDenied, "referral codes are for agency partners");
    if (!b.commissions()) return core::Fail(ErrorCode::kUnavailable, "billing is not running");
    return core::Ok();
  };
  api.Route("GET", "/referral-codes",
            "The agency's referral codes with their redemption counts and a sign-up link carrying "
            "each code.",
            Access::kAnyPartner,
            [&b, agency_only, referral_json](PartnerCall& c) -> core::Result<Response> {
              HP_TRY(agency_only(c));
              HP_ASSIGN_OR_RETURN(auto list, b.commissions()->ReferralCodes(c.partner.id));
              Json items = Json::array();
              for (const auto& rc : list) items.push_back(referral_json(rc));
              return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
            });
  api.Route("POST", "/referral-codes",
            "Mint a referral code (agencies): a new customer redeems it once within 30 days of "
            "sign-up and is attributed to the agency; 201 with the code and its sign-up link.",
            Access::kAnyPartner,
            [&api, &b, agency_only, referral_json](PartnerCall& c) -> core::Result<Response> {
              HP_TRY(agency_only(c));
              auto rc = b.commissions()->CreateReferralCode(c.partner.id, ActorOfCall(c));
              if (!rc && rc.error().code == ErrorCode::kNotFound)  // the partner exists: no terms
                rc = core::Fail(ErrorCode::kConflict,
                                "your billing terms (commission rate) are not set yet; ask your "
                                "account manager");
              auto ev = c.Event("partner.referral_code.create",
                                rc ? "referral_code:" + rc->code : "partner:" + c.partner.id);
              if (!rc) {
                ev.result = "failure";
                ev.detail["error"] = std::string(core::ErrorCodeName(rc.error().code));
              }
              api.Audit(ev);
              if (!rc) return std::unexpected(rc.error());
              Response r = Response::Json(201, referral_json(*rc));
              return r;
            },
            {{"type", "object"}});
}

// A customer's services as the partner sees them, read through the same services the /api/v1
// routes use (shared hosting, VPS, dedicated, DNS zones; certificates from its EAB accounts).
// Each service may be absent when its module is not mounted: the list says so.
void RegisterPartnerServiceRoutes(PartnerApi& api, ServiceRegistry& services) {
  namespace prov = hp::provisioning;
  const auto& d = api.deps();
  api.Route(
      "GET", "/customers/{customer}/services",
      "The customer's services: sites, VPS, dedicated servers, DNS zones and EAB certificates.",
      Access::kCustomers, [&services, d](PartnerCall& c) -> core::Result<Response> {
        const std::string org = c.customer->id;
        Json out = Json::object();
        Json missing = Json::array();
        if (auto* sites = services.Get<prov::SharedHostingService>()) {
          HP_ASSIGN_OR_RETURN(auto list, sites->List(org));
          Json items = Json::array();
          for (const auto& x : list)
            items.push_back({{"id", x.id},
                             {"domain", x.domain},
                             {"state", std::string(prov::SiteStateName(x.state))}});
          out["sites"] = items;
        } else {
          missing.push_back("sites");
        }
        if (auto* vps = services.Get<prov::VpsService>()) {
          HP_ASSIGN_OR_RETURN(auto list, vps->List(org));
          Json items = Json::array();
          for (const auto& x : list)
            items.push_back({{"id", x.id},
                             {"hostname", x.hostname},
                             {"state", std::string(prov::VpsStateName(x.state))},
                             {"plan",
                              {{"vcpus", x.plan.vcpus},
                               {"ram_mib", x.plan.ram_mib},
                               {"disk_gib", x.plan.disk_gib}}},
                             {"ipv4", x.ipv4},
                             {"ipv6", x.ipv6}});
          out["vps"] = items;
        } else {
          missing.push_back("vps");
        }
        if (auto* ded = services.Get<prov::DedicatedService>()) {
          HP_ASSIGN_OR_RETURN(auto list, ded->List(org));
          Json items = Json::array();
          for (const auto& x : list)
            items.push_back({{"id", x.id},
                             {"hostname", x.hostname},
                             {"state", std::string(prov::DedicatedStateName(x.state))},
                             {"powered_on", x.powered_on}});
          out["dedicated"] = items;
        } else {
          missing.push_back("dedicated");
        }
        if (auto* zones = services.Get<dns::ZoneService>()) {
          HP_ASSIGN_OR_RETURN(auto list, zones->ListZones(org));
          Json items = Json::array();
          for (const auto& z : list) items.push_back({{"id", z.id}, {"name", z.name}});
          out["zones"] = items;
        } else {
          missing.push_back("zones");
        }
        if (d.acme) {
          HP_ASSIGN_OR_RETURN(auto certs, d.acme->CertificatesOfEabOwner(EabOwner(org), 0, 200));
          Json items = Json::array();
          for (const auto& x : certs) items.push_back(EabCertificateJson(x));
          out["certificates"] = items;
        } else {
          missing.push_back("certificates");
        }
        out["unavailable"] = missing;
        return Response::Json(200, out);
      });
  api.Route("POST", "/customers/{customer}/zones",
            "Host a DNS zone for the customer (name) on our name servers.", Access::kCustomers,
            [&api, &services](PartnerCall& c) -> core::Result<Response> {
              auto* zones = services.Get<dns::ZoneService>();
              if (!zones) return core::Fail(ErrorCode::kUnavailable, "DNS hosting is not running");
              dns::ZoneSpec spec;
              HP_ASSIGN_OR_RETURN(spec.name, core::GetString(c.body, "name"));
              HP_ASSIGN_OR_RETURN(dns::Zone z, zones->CreateZone(c.customer->id, spec));
              auto ev = c.Event("partner.zone.create", "zone:" + z.id);
              ev.detail["name"] = z.name;
              api.Audit(ev);
              return Response::Json(201, {{"id", z.id}, {"name", z.name}});
            },
            {{"type", "object"}, {"required", {"name"}}});
}

// Orders of services for a customer (sites, VPS, dedicated servers): the same services, the same
// validation and placement pre-check and the same 202 + operation semantics as the customer's own
// /api/v1/organizations/{org}/... routes (provisioning_routes.cc), audited with the same actions
// (site.create, vps.create, ...) as the partner with the customer's organization id. The operation
// URL points at this API's own operations route, which a partner key can read.
namespace orders {
namespace prov = hp::provisioning;
using core::FailField;
using core::Result;

// Typed body fields; problems name the field (copied from provisioning_routes.cc, which is not
// shared through a header yet).
Result<std::string> Str(const Json& obj, const std::string& key, bool required,
                        const std::string& fallback = "") {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) {
    if (required) return FailField(ErrorCode::kInvalidArgument, key, key + " is required");
    return fallback;
  }
  if (!obj[key].is_string())
    return FailField(ErrorCode::kInvalidArgument, key, key + " must be a string");
  return obj[key].get<std::string>();
}
Result<int64_t> Int(const Json& obj, const std::string& key, const std::string& path,
                    int64_t fallback) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return fallback;
  if (!obj[key].is_number_integer())
    return FailField(ErrorCode::kInvalidArgument, path, path + " must be an integer");
  return obj[key].get<int64_t>();
}
Result<bool> Bool(const Json& obj, const std::string& key, bool fallback) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return fallback;
  if (!obj[key].is_boolean())
    return FailField(ErrorCode::kInvalidArgument, key, key + " must be true or false");
  return obj[key].get<bool>();
}
Result<prov::VpsPlan> Plan(const Json& body) {
  if (!body.contains("plan") || body["plan"].is_null())
    return FailField(ErrorCode::kInvalidArgument, "plan", "plan is required");
  if (!body["plan"].is_object())
    return FailField(ErrorCode::kInvalidArgument, "plan", "plan must be an object");
  const Json& p = body["plan"];
  prov::VpsPlan plan;
  HP_ASSIGN_OR_RETURN(int64_t vcpus, Int(p, "vcpus", "plan.vcpus", plan.vcpus));
  HP_ASSIGN_OR_RETURN(plan.ram_mib, Int(p, "ram_mib", "plan.ram_mib", plan.ram_mib));
  HP_ASSIGN_OR_RETURN(plan.disk_gib, Int(p, "disk_gib", "plan.disk_gib", plan.disk_gib));
  if (vcpus < 1 || vcpus > 256)
    return FailField(ErrorCode::kInvalidArgument, "plan.vcpus", "vCPUs must be 1-256");
  plan.vcpus = static_cast<int>(vcpus);
  return plan;
}

// A request no host can take is refused at once with the per-filter explanation (as on /api/v1).
core::Status CheckPlacement(prov::Placer* placer, const prov::PlacementRequest& r,
                            const std::string& what) {
  if (!placer) return core::Ok();
  auto ex = placer->Explain(r);
  if (!ex) return core::Ok();
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

// Where the caller reads an operation: this API's twin of /api/v1/.../operations/{operation}.
std::string OperationUrl(const PartnerCall& c, const std::string& op) {
  const std::string tail = "/customers/" + c.customer->id + "/operations/" + op;
  return c.key_id.empty() ? "/api/v1/partners/" + c.partner.id + tail : "/partner/v1" + tail;
}
Json OperationJson(const PartnerCall& c, const std::string& op) {
  if (op.empty()) return nullptr;
  return {{"id", op},
          {"url", OperationUrl(c, op)},
          {"customer_url", "/api/v1/organizations/" + c.customer->id + "/operations/" + op}};
}
Response Accepted(const PartnerCall& c, const prov::Operation& op, const std::string& key,
                  Json resource) {
  Response r = Response::Json(202, {{"operation", OperationJson(c, op.id)}, {key, resource}});
  r.SetHeader("Location", OperationUrl(c, op.id));
  return r;
}

Json SiteJson(const prov::Site& s) {
  Json j = {{"id", s.id},
            {"domain", s.domain},
            {"state", prov::SiteStateName(s.state)},
            {"sftp_user", s.system_user},
            {"quota_mib", s.quota_mib},
            {"domains", s.Names()}};
  if (!s.last_error.empty()) j["error"] = s.last_error;
  return j;
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
            {"ipv6", v.ipv6.empty() ? Json(nullptr) : Json(v.ipv6)}};
  if (!v.last_error.empty()) j["error"] = v.last_error;
  return j;
}
Json DedicatedJson(const prov::DedicatedServer& d) {
  Json j = {{"id", d.id},
            {"hostname", d.hostname},
            {"state", prov::DedicatedStateName(d.state)},
            {"powered_on", d.powered_on}};
  if (!d.last_error.empty()) j["error"] = d.last_error;
  return j;
}

// Facts for the audit row of an order; target filled by the handler.
struct Audit {
  std::string target;
  Json detail = Json::object();
};
using OrderFn = std::function<Result<Response>(PartnerCall&, Audit&)>;

// Runs an order and audits its outcome (success with the facts, or failure with the error code)
// under the /api/v1 action name, as the partner, for the customer's organization.
PartnerHandler Audited(PartnerApi& api, std::string action, std::string param, OrderFn fn) {
  return [&api, action = std::move(action), param = std::move(param),
          fn = std::move(fn)](PartnerCall& c) -> Result<Response> {
    Audit a;
    if (!param.empty()) a.target = param + ":" + c.http.Param(param);
    auto r = fn(c, a);
    auto ev = c.Event(action, a.target);
    ev.result = r ? "success" : "failure";
    for (auto& [k, v] : a.detail.items()) ev.detail[k] = v;
    ev.detail["via_partner"] = c.partner.id;
    if (!r) {
      ev.detail["error"] = std::string(core::ErrorCodeName(r.error().code));
      if (!r.error().field.empty()) ev.detail["field"] = r.error().field;
    }
    api.Audit(ev);
    return r;
  };
}

const ProvisioningRouteDeps* Deps(ServiceRegistry& services) {
  return services.Get<ProvisioningRouteDeps>();
}
Result<const ProvisioningRouteDeps*> Need(ServiceRegistry& services) {
  auto* d = Deps(services);
  if (!d) return core::Fail(ErrorCode::kUnavailable, "provisioning is not running");
  return d;
}
Result<prov::SharedHostingService*> Sites(ServiceRegistry& services) {
  HP_ASSIGN_OR_RETURN(auto* d, Need(services));
  if (!d->sites)
    return core::Fail(ErrorCode::kUnavailable,
                      "shared hosting is not available: " + d->sites_unavailable);
  return d->sites;
}
std::string IdempotencyKey(const PartnerCall& c) {
  // Scoped to the partner so two partners' keys never meet in the service's own dedupe.
  const std::string k = c.http.Header("idempotency-key");
  return k.empty() ? "" : "partner:" + c.partner.id + ":" + k;
}

void Register(PartnerApi& api, ServiceRegistry& services) {
  const std::string cust = "/customers/{customer}";
  // --- shared-hosting sites ---
  api.Route(
      "POST", cust + "/sites",
      "Create a shared-hosting site for the customer (domain, quota_mib, zone); 202 with the "
      "operation.",
      Access::kCustomers,
      Audited(api, "site.create", "",
              [&services](PartnerCall& c, Audit& a) -> Result<Response> {
                HP_ASSIGN_OR_RETURN(auto* s, Sites(services));
                const auto* d = Deps(services);
                prov::CreateSiteRequest r;
                r.organization_id = c.customer->id;
                HP_ASSIGN_OR_RETURN(r.domain, Str(c.body, "domain", true));
                HP_ASSIGN_OR_RETURN(r.quota_mib,
                                    Int(c.body, "quota_mib", "quota_mib", r.quota_mib));
                HP_ASSIGN_OR_RETURN(r.zone, Str(c.body, "zone", false, d->default_zone));
                r.idempotency_key = IdempotencyKey(c);
                a.detail = {{"domain", r.domain}, {"quota_mib", r.quota_mib}, {"zone", r.zone}};
                if (r.zone.empty())
                  return FailField(ErrorCode::kInvalidArgument, "zone", "zone is required");
                if (r.quota_mib >= 10)
                  HP_TRY(CheckPlacement(d->placer,
                                        {.consumer_id = "api-precheck",
                                         .organization_id = r.organization_id,
                                         .kind = prov::HostKind::kSharedWeb,
                                         .zone = r.zone,
                                         .resources = {0, 0, (r.quota_mib + 1023) / 1024}},
                                        "a site of " + std::to_string(r.quota_mib) + " MiB"));
                HP_ASSIGN_OR_RETURN(prov::Operation op, s->CreateSite(r));
                HP_ASSIGN_OR_RETURN(prov::Site site, s->Get(r.organization_id, op.resource_id));
                a.target = "site:" + site.id;
                a.detail["operation"] = op.id;
                return Accepted(c, op, "site", SiteJson(site));
              }),
      {{"type", "object"}, {"required", {"domain"}}});
  using SiteOp =
      std::function<Result<prov::Operation>(prov::SharedHostingService&, PartnerCall&, Audit&)>;
  auto site_op = [&](const std::string& method, const std::string& suffix,
                     const std::string& action, const std::string& summary, SiteOp fn,
                     Json schema = nullptr) {
    api.Route(method, cust + "/sites/{site}" + suffix, summary, Access::kCustomers,
              Audited(api, action, "site",
                      [&services, fn](PartnerCall& c, Audit& a) -> Result<Response> {
                        HP_ASSIGN_OR_RETURN(auto* s, Sites(services));
                        const std::string id = c.http.Param("site");
                        HP_TRY(s->Get(c.customer->id, id));  // another org's site: 404
                        HP_ASSIGN_OR_RETURN(prov::Operation op, fn(*s, c, a));
                        a.detail["operation"] = op.id;
                        HP_ASSIGN_OR_RETURN(prov::Site site, s->Get(c.customer->id, id));
                        return Accepted(c, op, "site", SiteJson(site));
                      }),
              std::move(schema));
  };
  site_op("DELETE", "", "site.terminate",
          "Terminate the customer's site (server block, user and files removed); 202.",
          [](prov::SharedHostingService& s, PartnerCall& c, Audit&) {
            return s.TerminateSite(c.customer->id, c.http.Param("site"));
          });
  site_op("POST", "/domains", "site.domain.add",
          "Add a name (domain) to the customer's site; AutoSSL then issues its certificate; 202.",
          [](prov::SharedHostingService& s, PartnerCall& c, Audit& a) -> Result<prov::Operation> {
            HP_ASSIGN_OR_RETURN(std::string domain, Str(c.body, "domain", true));
            a.detail = {{"domain", domain}};
            return s.AddDomain(c.customer->id, c.http.Param("site"), domain);
          },
          {{"type", "object"}, {"required", {"domain"}}});
  site_op("POST", "/actions/suspend", "site.suspend",
          "Serve the suspension page (503) instead of the customer's site; 202.",
          [](prov::SharedHostingService& s, PartnerCall& c, Audit&) {
            return s.SuspendSite(c.customer->id, c.http.Param("site"));
          });
  site_op("POST", "/actions/unsuspend", "site.unsuspend", "Serve the customer's site again; 202.",
          [](prov::SharedHostingService& s, PartnerCall& c, Audit&) {
            return s.UnsuspendSite(c.customer->id, c.http.Param("site"));
          });
  api.Route("POST", cust + "/sites/{site}/actions/reset-sftp-password",
            "Set a fresh random SFTP password on the customer's site and show it once.",
            Access::kCustomers,
            Audited(api, "site.sftp_password.reset", "site",
                    [&services](PartnerCall& c, Audit&) -> Result<Response> {
                      HP_ASSIGN_OR_RETURN(auto* s, Sites(services));
                      HP_ASSIGN_OR_RETURN(prov::Site site,
                                          s->Get(c.customer->id, c.http.Param("site")));
                      HP_ASSIGN_OR_RETURN(std::string password,
                                          s->ResetSftpPassword(c.customer->id, site.id));
                      return Response::Json(
                          200, {{"sftp_user", site.system_user}, {"password", password}});
                    }));
  site_op("DELETE", "/domains/{domain}", "site.domain.remove",
          "Remove an added name from the customer's site (its certificate is revoked); 202.",
          [](prov::SharedHostingService& s, PartnerCall& c, Audit& a) {
            a.detail = {{"domain", c.http.Param("domain")}};
            return s.RemoveDomain(c.customer->id, c.http.Param("site"), c.http.Param("domain"));
          });

  // --- certificates of the customer's site names (AutoSSL, the service of the customer's own
  // /api/v1/organizations/{org}/sites/{site}/certificates route, looked up at request time: the
  // autossl module mounts after this one) ---
  api.Route(
      "POST", cust + "/sites/{site}/certificates",
      "Issue (or re-issue) the certificate of one of the customer's site names (domain) through "
      "AutoSSL now; 202 with the certificate's status, Location = the customer's certificate list.",
      Access::kCustomers,
      Audited(api, "autossl.request", "site",
              [&services](PartnerCall& c, Audit& a) -> Result<Response> {
                auto* ssl = services.Get<autossl::AutoSsl>();
                if (!ssl) return core::Fail(ErrorCode::kUnavailable, "AutoSSL is not running");
                HP_ASSIGN_OR_RETURN(std::string domain, Str(c.body, "domain", true));
                a.detail = {{"domain", domain}};
                HP_ASSIGN_OR_RETURN(autossl::CertificateRecord r,
                                    ssl->Request(c.customer->id, c.http.Param("site"), domain));
                const std::string list = c.key_id.empty()
                                             ? "/api/v1/partners/" + c.partner.id + "/customers/" +
                                                   c.customer->id + "/site-certificates"
                                             : "/partner/v1/customers/" + c.customer->id +
                                                   "/site-certificates";
                Response resp = Response::Json(
                    202, {{"certificate", r.ToJson(ssl->NowSeconds())},
                          {"status_url", list},
                          {"customer_url",
                           "/api/v1/organizations/" + c.customer->id + "/certificates"}});
                resp.SetHeader("Location", list);
                return resp;
              }),
      {{"type", "object"}, {"required", {"domain"}}});
  api.Route("GET", cust + "/site-certificates",
            "Certificates of the customer's site names (AutoSSL and uploaded): status (waiting, "
            "pending, issuing, valid, failed), last error, expiry (not_after, days left).",
            Access::kCustomers, [&services](PartnerCall& c) -> Result<Response> {
              auto* ssl = services.Get<autossl::AutoSsl>();
              if (!ssl) return core::Fail(ErrorCode::kUnavailable, "AutoSSL is not running");
              HP_ASSIGN_OR_RETURN(auto list, ssl->List(c.customer->id));
              Json items = Json::array();
              const int64_t now = ssl->NowSeconds();
              for (const auto& r : list) items.push_back(r.ToJson(now));
              return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
            });

  // --- VPS ---
  api.Route(
      "POST", cust + "/vps",
      "Create a VPS for the customer (hostname, template, zone, plan {vcpus, ram_mib, disk_gib}, "
      "ssh_authorized_key, anti_affinity_group); 202 with the operation.",
      Access::kCustomers,
      Audited(api, "vps.create", "",
              [&services](PartnerCall& c, Audit& a) -> Result<Response> {
                HP_ASSIGN_OR_RETURN(auto* d, Need(services));
                prov::CreateVpsRequest r;
                r.organization_id = c.customer->id;
                HP_ASSIGN_OR_RETURN(r.hostname, Str(c.body, "hostname", true));
                HP_ASSIGN_OR_RETURN(r.template_name, Str(c.body, "template", true));
                HP_ASSIGN_OR_RETURN(r.zone, Str(c.body, "zone", false, d->default_zone));
                HP_ASSIGN_OR_RETURN(r.plan, Plan(c.body));
                HP_ASSIGN_OR_RETURN(r.ssh_authorized_key, Str(c.body, "ssh_authorized_key", false));
                HP_ASSIGN_OR_RETURN(r.anti_affinity_group,
                                    Str(c.body, "anti_affinity_group", false));
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
                HP_TRY(CheckPlacement(d->placer,
                                      {.consumer_id = "api-precheck",
                                       .organization_id = r.organization_id,
                                       .kind = prov::HostKind::kVps,
                                       .zone = r.zone,
                                       .resources = {r.plan.vcpus, r.plan.ram_mib, r.plan.disk_gib},
                                       .anti_affinity_group = r.anti_affinity_group},
                                      std::to_string(r.plan.vcpus) + " vCPU/" +
                                          std::to_string(r.plan.ram_mib) + " MiB/" +
                                          std::to_string(r.plan.disk_gib) + " GiB"));
                HP_ASSIGN_OR_RETURN(prov::Operation op, d->vps->CreateVps(r));
                HP_ASSIGN_OR_RETURN(prov::Vps v, d->vps->Get(r.organization_id, op.resource_id));
                a.target = "vps:" + v.id;
                a.detail["operation"] = op.id;
                return Accepted(c, op, "vps", VpsJson(v));
              }),
      {{"type", "object"}, {"required", {"hostname", "template", "plan"}}});
  using VpsOp = std::function<Result<prov::Operation>(prov::VpsService&, PartnerCall&, Audit&)>;
  auto vps_op = [&](const std::string& method, const std::string& suffix, const std::string& action,
                    const std::string& summary, VpsOp fn, Json schema = nullptr) {
    api.Route(
        method, cust + "/vps/{vps}" + suffix, summary, Access::kCustomers,
        Audited(api, action, "vps", [&services, fn](PartnerCall& c, Audit& a) -> Result<Response> {
          HP_ASSIGN_OR_RETURN(auto* d, Need(services));
          const std::string id = c.http.Param("vps");
          HP_TRY(d->vps->Get(c.customer->id, id));  // another org's VPS: 404
          HP_ASSIGN_OR_RETURN(prov::Operation op, fn(*d->vps, c, a));
          a.detail["operation"] = op.id;
          HP_ASSIGN_OR_RETURN(prov::Vps v, d->vps->Get(c.customer->id, id));
          return Accepted(c, op, "vps", VpsJson(v));
        }),
        std::move(schema));
  };
  vps_op("DELETE", "", "vps.delete", "Delete the customer's VPS; 202 with the operation.",
         [](prov::VpsService& v, PartnerCall& c, Audit&) {
           return v.DeleteVps(c.customer->id, c.http.Param("vps"));
         });
  vps_op("POST", "/actions/start", "vps.start", "Power on the customer's VPS; 202.",
         [](prov::VpsService& v, PartnerCall& c, Audit&) {
           return v.StartVps(c.customer->id, c.http.Param("vps"));
         });
  vps_op("POST", "/actions/stop", "vps.stop",
         "Graceful shutdown of the customer's VPS (force, timeout_s 0-3600); 202.",
         [](prov::VpsService& v, PartnerCall& c, Audit& a) -> Result<prov::Operation> {
           prov::StopOptions o;
           HP_ASSIGN_OR_RETURN(o.force, Bool(c.body, "force", false));
           HP_ASSIGN_OR_RETURN(int64_t t, Int(c.body, "timeout_s", "timeout_s", 0));
           if (t < 0 || t > 3600)
             return FailField(ErrorCode::kInvalidArgument, "timeout_s", "timeout_s must be 0-3600");
           o.timeout = std::chrono::seconds(t);
           a.detail = {{"force", o.force}, {"timeout_s", t}};
           return v.StopVps(c.customer->id, c.http.Param("vps"), o);
         });
  vps_op("POST", "/actions/reboot", "vps.reboot", "Reboot the customer's VPS (ACPI); 202.",
         [](prov::VpsService& v, PartnerCall& c, Audit&) {
           return v.RebootVps(c.customer->id, c.http.Param("vps"));
         });
  // Resize, rebuild and snapshots: the VpsService calls the customer's own routes make, with
  // the same audit actions (issue 9).
  vps_op("POST", "/actions/resize", "vps.resize",
         "Offline resize of the customer's VPS to plan {vcpus, ram_mib, disk_gib} (disks only "
         "grow); 202.",
         [](prov::VpsService& v, PartnerCall& c, Audit& a) -> Result<prov::Operation> {
           HP_ASSIGN_OR_RETURN(prov::VpsPlan plan, Plan(c.body));
           a.detail = {
               {"plan",
                {{"vcpus", plan.vcpus}, {"ram_mib", plan.ram_mib}, {"disk_gib", plan.disk_gib}}}};
           return v.ResizeVps(c.customer->id, c.http.Param("vps"), plan);
         },
         {{"type", "object"}, {"required", {"plan"}}});
  vps_op("POST", "/actions/rebuild", "vps.rebuild",
         "Reinstall the customer's VPS from a template (template, ssh_authorized_key; disk and "
         "snapshots discarded, addresses kept); 202.",
         [](prov::VpsService& v, PartnerCall& c, Audit& a) -> Result<prov::Operation> {
           prov::RebuildRequest r;
           HP_ASSIGN_OR_RETURN(r.template_name, Str(c.body, "template", true));
           HP_ASSIGN_OR_RETURN(r.ssh_authorized_key, Str(c.body, "ssh_authorized_key", false));
           a.detail = {{"template", r.template_name}};
           return v.RebuildVps(c.customer->id, c.http.Param("vps"), r);
         },
         {{"type", "object"}, {"required", {"template"}}});
  api.Route("GET", cust + "/vps/{vps}", "One VPS of the customer: state, plan, addresses.",
            Access::kCustomers, [&services](PartnerCall& c) -> Result<Response> {
              HP_ASSIGN_OR_RETURN(auto* d, Need(services));
              HP_ASSIGN_OR_RETURN(prov::Vps v, d->vps->Get(c.customer->id, c.http.Param("vps")));
              return Response::Json(200, VpsJson(v));
            });
  api.Route("GET", cust + "/vps/{vps}/snapshots", "Snapshots of the customer's VPS.",
            Access::kCustomers, [&services](PartnerCall& c) -> Result<Response> {
              HP_ASSIGN_OR_RETURN(auto* d, Need(services));
              HP_ASSIGN_OR_RETURN(auto list,
                                  d->vps->ListSnapshots(c.customer->id, c.http.Param("vps")));
              Json items = Json::array();
              for (const auto& s : list)
                items.push_back({{"name", s.name},
                                 {"state", s.state},
                                 {"created_at", core::FormatRfc3339(s.created_at)}});
              return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
            });
  vps_op("POST", "/snapshots", "vps.snapshot.create",
         "Take a snapshot of the customer's VPS (name); 202.",
         [](prov::VpsService& v, PartnerCall& c, Audit& a) -> Result<prov::Operation> {
           HP_ASSIGN_OR_RETURN(std::string name, Str(c.body, "name", true));
           a.detail = {{"snapshot", name}};
           return v.SnapshotVps(c.customer->id, c.http.Param("vps"), name);
         },
         {{"type", "object"}, {"required", {"name"}}});
  vps_op("DELETE", "/snapshots/{snapshot}", "vps.snapshot.delete",
         "Delete a snapshot of the customer's VPS; 202.",
         [](prov::VpsService& v, PartnerCall& c, Audit& a) {
           a.detail = {{"snapshot", c.http.Param("snapshot")}};
           return v.DeleteSnapshot(c.customer->id, c.http.Param("vps"), c.http.Param("snapshot"));
         });
  vps_op("POST", "/snapshots/{snapshot}/revert", "vps.snapshot.revert",
         "Return the customer's VPS to a snapshot; 202.",
         [](prov::VpsService& v, PartnerCall& c, Audit& a) {
           a.detail = {{"snapshot", c.http.Param("snapshot")}};
           return v.RevertVps(c.customer->id, c.http.Param("vps"), c.http.Param("snapshot"));
         });

  // --- dedicated servers ---
  api.Route(
      "POST", cust + "/dedicated",
      "Reserve a whole dedicated host for the customer (hostname, template, zone); 202 with the "
      "operation.",
      Access::kCustomers,
      Audited(
          api, "dedicated.allocate", "",
          [&services](PartnerCall& c, Audit& a) -> Result<Response> {
            HP_ASSIGN_OR_RETURN(auto* d, Need(services));
            prov::AllocateDedicatedRequest r;
            r.organization_id = c.customer->id;
            HP_ASSIGN_OR_RETURN(r.hostname, Str(c.body, "hostname", true));
            HP_ASSIGN_OR_RETURN(r.template_name, Str(c.body, "template", true));
            HP_ASSIGN_OR_RETURN(r.zone, Str(c.body, "zone", false, d->default_zone));
            r.idempotency_key = IdempotencyKey(c);
            a.detail = {{"hostname", r.hostname}, {"template", r.template_name}, {"zone", r.zone}};
            if (r.zone.empty())
              return FailField(ErrorCode::kInvalidArgument, "zone", "zone is required");
            HP_TRY(CheckPlacement(d->placer,
                                  {.consumer_id = "api-precheck",
                                   .organization_id = r.organization_id,
                                   .kind = prov::HostKind::kDedicated,
                                   .zone = r.zone},
                                  "a dedicated server"));
            HP_ASSIGN_OR_RETURN(prov::Operation op, d->dedicated->Allocate(r));
            HP_ASSIGN_OR_RETURN(prov::DedicatedServer s,
                                d->dedicated->Get(r.organization_id, op.resource_id));
            a.target = "dedicated:" + s.id;
            a.detail["operation"] = op.id;
            return Accepted(c, op, "server", DedicatedJson(s));
          }),
      {{"type", "object"}, {"required", {"hostname", "template"}}});
  auto ded_op = [&](const std::string& method, const std::string& suffix, const std::string& action,
                    const std::string& summary, std::optional<prov::PowerAction> power) {
    api.Route(method, cust + "/dedicated/{server}" + suffix, summary, Access::kCustomers,
              Audited(api, action, "server",
                      [&services, power](PartnerCall& c, Audit& a) -> Result<Response> {
                        HP_ASSIGN_OR_RETURN(auto* d, Need(services));
                        const std::string org = c.customer->id, id = c.http.Param("server");
                        HP_TRY(d->dedicated->Get(org, id));  // another org's server: 404
                        HP_ASSIGN_OR_RETURN(prov::Operation op,
                                            power ? d->dedicated->Power(org, id, *power)
                                                  : d->dedicated->Release(org, id));
                        a.detail["operation"] = op.id;
                        HP_ASSIGN_OR_RETURN(prov::DedicatedServer s, d->dedicated->Get(org, id));
                        return Accepted(c, op, "server", DedicatedJson(s));
                      }));
  };
  ded_op("DELETE", "", "dedicated.release",
         "Release the customer's dedicated server (disk wiped, host returned); 202.", std::nullopt);
  ded_op("POST", "/actions/power-on", "dedicated.power_on", "Power on; 202.",
         prov::PowerAction::kOn);
  ded_op("POST", "/actions/power-off", "dedicated.power_off", "Power off; 202.",
         prov::PowerAction::kOff);
  ded_op("POST", "/actions/reset", "dedicated.reset", "Hard reset; 202.",
         prov::PowerAction::kReset);

  // --- operations ---
  api.Route("GET", cust + "/operations/{operation}",
            "Progress and outcome of an operation of the customer (as on /api/v1).",
            Access::kCustomers, [&api](PartnerCall& c) -> Result<Response> {
              Api* capi = api.deps().api;
              if (!capi) return core::Fail(ErrorCode::kUnavailable, "operations are not available");
              const std::string id = c.http.Param("operation");
              auto job = capi->jobs()->Get(id);
              if (!job || job->organization_id != c.customer->id)
                return core::Fail(ErrorCode::kNotFound, "operation " + id + " not found");
              std::string state;
              switch (job->state) {
                case core::JobState::kQueued:
                  state = job->attempts > 0 ? "retrying" : "pending";
                  break;
                case core::JobState::kRunning:
                  state = "running";
                  break;
                case core::JobState::kSucceeded:
                  state = "succeeded";
                  break;
                case core::JobState::kDead:
                  state = "failed";
                  break;
                case core::JobState::kCancelled:
                  state = "cancelled";
                  break;
              }
              Json body = {{"id", job->id},
                           {"kind", job->kind},
                           {"state", state},
                           {"attempts", job->attempts},
                           {"progress", job->progress},
                           {"created_at", core::FormatRfc3339(job->created_at)},
                           {"updated_at", core::FormatRfc3339(job->updated_at)}};
              if (job->state == core::JobState::kSucceeded) body["result"] = job->result;
              if (!job->last_error.empty()) body["error"] = job->last_error;
              Response r = Response::Json(200, body);
              if (state == "pending" || state == "running" || state == "retrying")
                r.SetHeader("Retry-After", "1");
              return r;
            });
}
}  // namespace orders

// Partner operators: an owner or admin of a reseller/OEM partner acts on its customers' own
// /api/v1/organizations/{org}/... routes with the organization role "admin", a partner viewer
// with "viewer"; every audit event of such a call carries detail.via_partner.
void InstallPartnerOperators(Api& api) {
  api.SetPartnerAccessResolver([](SQLite::Database& tx, const store::Organization& org,
                                  int64_t user_row) -> std::optional<Api::PartnerAccess> {
    SQLite::Statement q(tx,
                        "SELECT m.role, p.public_id FROM partner_members m "
                        "JOIN users u ON u.public_id = m.user_id "
                        "JOIN partners p ON p.public_id = m.partner_id "
                        "WHERE u.id = ? AND p.id = ? AND p.channel IN ('reseller', 'oem') "
                        "AND p.status = 'active'");
    q.bind(1, user_row);
    q.bind(2, org.partner_row);
    if (!q.executeStep()) return std::nullopt;
    const std::string role = q.getColumn(0).getString();
    return Api::PartnerAccess{role == "viewer" ? "viewer" : "admin", q.getColumn(1).getString()};
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
  {
    const std::string cidrs = ctx.config.GetString("partner.webhooks.allowed_private_cidrs");
    size_t start = 0;
    while (start < cidrs.size()) {
      size_t end = cidrs.find(',', start);
      if (end == std::string::npos) end = cidrs.size();
      std::string c = cidrs.substr(start, end - start);
      c.erase(0, c.find_first_not_of(' '));
      c.erase(c.find_last_not_of(' ') + 1);
      if (!c.empty()) {
        const std::string ip = c.substr(0, c.find('/'));
        // A typo here would silently open or close a range: refuse to start.
        if (!partner::CheckWebhookAddress(ip, {c}))
          return core::Fail(ErrorCode::kInvalidArgument,
                            "partner.webhooks.allowed_private_cidrs: bad CIDR '" + c + "'");
        wo.allowed_private_cidrs.push_back(c);
      }
      start = end + 1;
    }
  }
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
         api,
         ctx.public_base_url,
         ctx.config.GetInt("partner.eab_max_days"),
         static_cast<int>(ctx.config.GetInt("partner.rate_limit_per_minute"))};
  auto partner_api = std::make_shared<PartnerApi>(d);
  RegisterPartnerRoutes(*partner_api);
  auto pbilling = std::make_shared<PartnerBilling>(*api, ctx.db, ctx.clock, *audit,
                                                   ctx.services->Get<billing::Commissions>());
  RegisterPartnerBillingRoutes(*partner_api, *pbilling);
  RegisterPartnerServiceRoutes(*partner_api, *ctx.services);
  orders::Register(*partner_api, *ctx.services);
  m->billing = pbilling;
  RegisterOpenApi(ctx.router);
  RegisterStaffRoutes(*api, ctx.router, *m->keys);
  RegisterMemberRoutes(*partner_api, *api, ctx.router);
  RegisterOrganizationWebhookRoutes(*api, ctx.router, *m->webhooks);
  // Domain events other modules record in their own transactions (core/events.h: invoice.issued,
  // invoice.paid, organization.suspended ...) go out to the customer's and its partner's
  // subscriptions.
  {
    partner::WebhookService* hooks = m->webhooks.get();
    core::Database* db = &ctx.db;
    ctx.workers.Register(std::string(core::kEventJobKind), [hooks, db](core::JobContext& jc) -> core::Result<Json> {
      const Json& p = jc.job().payload;
      HP_ASSIGN_OR_RETURN(std::string type, core::GetString(p, "type"));
      HP_ASSIGN_OR_RETURN(std::string org, core::GetString(p, "organization_id"));
      HP_ASSIGN_OR_RETURN(store::Organization o, db->Read([&](SQLite::Database& tx) { return store::GetOrganization(tx, org); }));
      Json data = p.contains("data") && p["data"].is_object() ? p["data"] : Json::object();
      data["organization_id"] = org;
      // The job's id as the source: a retry after Publish (crash, lost lease) yields the same
      // event id and no second deliveries.
      HP_ASSIGN_OR_RETURN(std::string event_id,
                          hooks->Publish({type, org, o.partner_id, data, jc.job().id}));
      return Json{{"event_id", event_id}};
    });
  }
  InstallMailBrand(*api, ctx.db, *m->branding);
  InstallPartnerOperators(*api);
  if (d.acme) {
    auto sweep =
        std::make_shared<EabUsageSweep>(ctx.db, ctx.clock, *audit, ctx.jobs, *d.acme, *m->webhooks);
    sweep->Register(ctx.workers);
    m->sweep = sweep;
  }
  RegisterWhiteLabelRoutes(d);
  m->api = partner_api;
  return std::unique_ptr<ServedModule>(std::move(m));
}

}  // namespace

ModuleSpec PartnerModuleSpec() { return {"partner", AddConfig, Migrations, Mount}; }

}  // namespace hp::cp
