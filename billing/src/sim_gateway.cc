#include "hp/billing/sim_gateway.h"

#include <map>
#include <mutex>

#include "hp/billing/payment.h"
#include "hp/core/http.h"
#include "hp/core/http_server.h"
#include "hp/core/json.h"
#include "hp/core/random.h"

namespace hp::billing {
namespace {

using core::Json;
using core::http::Request;
using core::http::Response;

class SimImpl final : public SimulatedCardGateway {
 public:
  SimImpl(SimulatedCardGatewayOptions o, const core::Clock& clock, core::HttpClient& http)
      : o_(std::move(o)), clock_(clock), http_(http) {}

  core::Status Start(core::MetricsRegistry& metrics) {
    auto route = [&](std::string pattern, core::http::SyncHandler h) {
      core::http::RouteInfo info;
      info.method = "POST";
      info.pattern = std::move(pattern);
      info.documented = false;
      router_.AddSync(info, std::move(h));
    };
    route("/v1/authorizations", [this](const Request& r) { return Authorize(r); });
    route("/v1/authorizations/{id}/capture",
          [this](const Request& r) { return Capture(r, false); });
    route("/v1/authorizations/{id}/refund", [this](const Request& r) { return Capture(r, true); });
    // The gateway's own dashboard: a merchant's operator refunds a charge there, outside
    // hostplane (same key as the API stands in for the dashboard's login). The event's
    // data.refund carries no metadata of ours.
    route("/dashboard/authorizations/{id}/refund",
          [this](const Request& r) { return Capture(r, true, /*dashboard=*/true); });
    HP_ASSIGN_OR_RETURN(server_, core::http::Server::Create(
                                     {.port = 0, .threads = 1, .access_log = false}, router_,
                                     metrics));
    return server_->Start();
  }
  ~SimImpl() override { Shutdown(); }

  std::string url() const override {
    return "http://127.0.0.1:" + std::to_string(server_->port());
  }
  void SetWebhookUrl(const std::string& url) override {
    std::lock_guard l(mu_);
    o_.webhook_url = url;
  }
  core::Result<int> DeliverPending() override {
    std::vector<std::string> ids;
    {
      std::lock_guard l(mu_);
      for (auto& e : events_)
        if (!e.delivered) ids.push_back(e.id);
    }
    int ok = 0;
    for (const std::string& id : ids) {
      HP_ASSIGN_OR_RETURN(int status, Redeliver(id));
      if (status / 100 == 2) {
        ++ok;
        std::lock_guard l(mu_);
        for (auto& e : events_)
          if (e.id == id) e.delivered = true;
      }
    }
    return ok;
  }
  core::Result<int> Redeliver(const std::string& id) override {
    std::string body, url;
    {
      std::lock_guard l(mu_);
      url = o_.webhook_url;
      for (auto& e : events_)
        if (e.id == id) body = e.body;
    }
    if (body.empty()) return core::Fail(core::ErrorCode::kNotFound, "no event " + id);
    core::HttpClientRequest r;
    r.method = "POST";
    r.url = url;
    r.body = body;
    r.headers = {{"Content-Type", "application/json"},
                 {"X-Gateway-Signature",
                  SignWebhook(o_.webhook_secret, core::ToUnixSeconds(clock_.Now()), body)}};
    HP_ASSIGN_OR_RETURN(core::HttpClientResponse resp, http_.Do(r));
    return resp.status;
  }
  std::vector<std::string> EventIds() const override {
    std::lock_guard l(mu_);
    std::vector<std::string> out;
    for (auto& e : events_) out.push_back(e.id);
    return out;
  }
  void Shutdown() override {
    if (server_ && !stopped_) {
      stopped_ = true;
      server_->Shutdown(std::chrono::milliseconds(500));
    }
  }

 private:
  struct Auth {
    std::string id;
    int64_t amount = 0;
    std::string status;
    int64_t refunded = 0;
    Json metadata;
    std::string decline_reason;
  };
  struct Event {
    std::string id;
    std::string body;
    bool delivered = false;
  };

  static Json ToJson(const Auth& a) {
    Json j{{"id", a.id}, {"status", a.status}, {"amount", a.amount}, {"refunded", a.refunded}};
    if (!a.decline_reason.empty()) j["decline_reason"] = a.decline_reason;
    return j;
  }
  bool Authorized(const Request& r) const {
    return r.Header("authorization") == "Bearer " + o_.api_key;
  }
  void QueueEvent(const std::string& type, const Auth& a, int64_t amount,
                  const Json& refund = nullptr) {
    Event e;
    e.id = "evt_" + core::NewPublicId();
    Json data{{"id", a.id}, {"amount", amount}, {"metadata", a.metadata}};
    if (!refund.is_null()) data["refund"] = refund;
    e.body = Json{{"id", e.id}, {"type", type}, {"data", data}}.dump();
    events_.push_back(std::move(e));
  }

  Response Authorize(const Request& r) {
    if (!Authorized(r)) return Response::Json(401, Json{{"error", "unauthorized"}});
    auto body = core::ParseJsonObject(r.body);
    if (!body) return Response::Json(400, Json{{"error", body.error().detail}});
    auto amount = core::GetInt(*body, "amount");
    auto token = core::GetString(*body, "card_token");
    if (!amount || !token || *amount <= 0) return Response::Json(400, Json{{"error", "bad body"}});
    std::lock_guard l(mu_);
    const std::string key = r.Header("idempotency-key");
    if (!key.empty() && by_key_.contains(key)) return Response::Json(200, ToJson(auths_[by_key_[key]]));
    Auth a;
    a.id = "auth_" + core::NewPublicId();
    a.amount = *amount;
    a.metadata = body->value("metadata", Json::object());
    if (*token == "tok_decline") {
      a.status = "declined";
      a.decline_reason = "card_declined";
    } else {
      a.status = "authorized";
    }
    auths_[a.id] = a;
    if (!key.empty()) by_key_[key] = a.id;
    return Response::Json(a.status == "declined" ? 402 : 200, ToJson(a));
  }

  Response Capture(const Request& r, bool refund, bool dashboard = false) {
    if (!Authorized(r)) return Response::Json(401, Json{{"error", "unauthorized"}});
    auto body = core::ParseJsonObject(r.body);
    if (!body) return Response::Json(400, Json{{"error", body.error().detail}});
    auto amount = core::GetInt(*body, "amount");
    if (!amount || *amount <= 0) return Response::Json(400, Json{{"error", "bad amount"}});
    std::lock_guard l(mu_);
    const std::string key = r.Header("idempotency-key");
    auto it = auths_.find(r.Param("id"));
    if (it == auths_.end()) return Response::Json(404, Json{{"error", "no such authorization"}});
    Auth& a = it->second;
    if (!key.empty() && done_keys_.contains(key)) return Response::Json(200, ToJson(a));
    if (!refund) {
      if (a.status != "authorized" || *amount > a.amount)
        return Response::Json(409, Json{{"error", "cannot capture"}});
      a.status = "captured";
      a.amount = *amount;
      QueueEvent("charge.captured", a, a.amount);
    } else {
      if ((a.status != "captured" && a.status != "refunded") || a.refunded + *amount > a.amount)
        return Response::Json(409, Json{{"error", "cannot refund"}});
      a.refunded += *amount;
      if (a.refunded == a.amount) a.status = "refunded";
      Json meta = dashboard ? Json::object() : body->value("metadata", Json::object());
      QueueEvent("charge.refunded", a, a.refunded,
                 Json{{"id", "re_" + core::NewPublicId()},
                      {"amount", *amount},
                      {"origin", dashboard ? "dashboard" : "api"},
                      {"metadata", meta}});
    }
    if (!key.empty()) done_keys_.insert({key, true});
    return Response::Json(200, ToJson(a));
  }

  SimulatedCardGatewayOptions o_;
  const core::Clock& clock_;
  core::HttpClient& http_;
  core::http::Router router_;
  std::unique_ptr<core::http::Server> server_;
  bool stopped_ = false;
  mutable std::mutex mu_;
  std::map<std::string, Auth> auths_;
  std::map<std::string, std::string> by_key_;
  std::map<std::string, bool> done_keys_;
  std::vector<Event> events_;
};

}  // namespace

core::Result<std::unique_ptr<SimulatedCardGateway>> SimulatedCardGateway::Create(
    SimulatedCardGatewayOptions options, const core::Clock& clock, core::HttpClient& http,
    core::MetricsRegistry& metrics) {
  auto sim = std::make_unique<SimImpl>(std::move(options), clock, http);
  HP_TRY(sim->Start(metrics));
  return std::unique_ptr<SimulatedCardGateway>(std::move(sim));
}

}  // namespace hp::billing
