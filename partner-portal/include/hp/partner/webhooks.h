#pragma once
// Signed webhooks for partners and their customers. A subscription (owner: a partner or an
// organization) names an URL and the event types it wants. Publish() records the event and one
// delivery per matching subscription; each delivery is a chain of durable jobs (kind
// "partner.webhook.deliver"), one per attempt, retried on the backoff schedule (by default over
// more than 24 hours) until the receiver answers 2xx. Delivery is at least once: receivers
// de-duplicate by the event id ("id" in the body and the Webhook-Id header). Every attempt is
// logged; a delivery can be sent again by hand (Redeliver).
//
// Each request carries
//   Webhook-Id: <event id>
//   Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
// (Stripe-style; brand-neutral so white-label customers never see our name).
//
// Thread-safety: WebhookService may be used from any thread.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/http_client.h"
#include "hp/core/jobs.h"
#include "hp/core/json.h"
#include "hp/core/sealer.h"
#include "hp/core/secret.h"
#include "hp/core/store.h"

namespace hp::partner {

inline constexpr std::string_view kWebhookJobKind = "partner.webhook.deliver";
inline constexpr std::string_view kWebhookIdHeader = "Webhook-Id";
inline constexpr std::string_view kWebhookSignatureHeader = "Webhook-Signature";

// service.provisioned, service.failed, certificate.issued, certificate.expiring,
// certificate.failed, invoice.issued, invoice.paid, organization.suspended
const std::vector<std::string>& WebhookEventTypes();
bool IsWebhookEventType(std::string_view type);

// "t=<ts>,v1=<hex>"
std::string SignWebhook(std::string_view secret, int64_t unix_seconds, std::string_view body);
// For receivers (and tests): checks the header against the body and that t is within
// `tolerance` of `now`. kUnauthenticated on any mismatch.
core::Status VerifyWebhookSignature(std::string_view header, std::string_view secret,
                                    std::string_view body, core::TimePoint now,
                                    core::Duration tolerance = std::chrono::minutes(5));

enum class OwnerType { kPartner, kOrganization };
struct Owner {
  OwnerType type = OwnerType::kPartner;
  std::string id;  // partner or organization public id
};

struct Subscription {
  std::string id;
  Owner owner;
  std::string url;
  std::vector<std::string> events;
  core::TimePoint created_at;
};
struct NewSubscription {
  Subscription subscription;
  core::Secret secret;  // the signing secret, shown once
};

struct Event {
  std::string type;             // one of WebhookEventTypes()
  std::string organization_id;  // the customer concerned (its subscriptions receive it)
  std::string partner_id;       // the customer's partner (its subscriptions receive it too)
  core::Json data = core::Json::object();
  // Optional dedupe key naming what the event comes from (e.g. the outbox job that publishes it),
  // for callers that may publish again after a crash or a retry. The same source_id always yields
  // the same event: a second Publish with it returns the first event's id and creates no
  // deliveries. Empty: every Publish is a new event.
  std::string source_id;
};

struct Delivery {
  std::string id;
  std::string event_id;
  std::string event_type;
  std::string subscription_id;
  std::string state;  // pending, retrying, delivered, failed
  int attempts = 0;
  std::optional<core::TimePoint> next_attempt_at;
  int last_status = 0;
  std::string last_error;
  core::TimePoint created_at;
};

struct Attempt {
  int number = 0;
  core::TimePoint at;
  int http_status = 0;  // 0 when no HTTP answer
  std::string error;
  int64_t duration_ms = 0;
  bool manual = false;
};

struct WebhookOptions {
  // Wait before attempt n+1 after n failed attempts; the last entry ends the chain. The default
  // spans 31 h 51 min over 11 attempts.
  std::vector<core::Duration> schedule = {std::chrono::minutes(1),  std::chrono::minutes(5),
                                          std::chrono::minutes(15), std::chrono::minutes(30),
                                          std::chrono::hours(1),    std::chrono::hours(2),
                                          std::chrono::hours(4),    std::chrono::hours(8),
                                          std::chrono::hours(8),    std::chrono::hours(8)};
  long timeout_ms = 10000;
  bool allow_http = false;  // plain http:// receivers (development and tests only)
  std::string ca_file;      // trust anchors for https receivers instead of the system store
  size_t max_subscriptions_per_owner = 20;
  // Receivers must have public addresses: loopback, private (RFC 1918, fc00::/7), shared,
  // link-local and multicast addresses are refused at subscription and at every attempt, unless
  // inside one of these CIDRs (tests and trusted internal receivers, e.g. "127.0.0.0/8").
  std::vector<std::string> allowed_private_cidrs;
};

// `ip` when a webhook may be sent to it (public, or inside `allowed`), else kInvalidArgument.
core::Result<std::string> CheckWebhookAddress(const std::string& ip,
                                              const std::vector<std::string>& allowed);

class WebhookService {
 public:
  // `db` with CoreMigrations() and PartnerMigrations(); `http` used from worker threads only.
  WebhookService(core::Database& db, core::Sealer& sealer, core::JobQueue& jobs,
                 core::HttpClient& http, const core::Clock& clock, WebhookOptions options = {});

  core::Result<NewSubscription> Subscribe(const Owner& owner, const std::string& url,
                                          const std::vector<std::string>& events);
  core::Result<std::vector<Subscription>> ListSubscriptions(const Owner& owner);
  // kNotFound unless `owner` owns it.
  core::Status Unsubscribe(const Owner& owner, const std::string& subscription_id);

  // Records the event and enqueues one delivery per matching live subscription; returns the
  // event id. Cheap (store writes only); never calls out. With `event.source_id` set, the event id
  // is derived from it and a repeat returns the existing event's id without recording anything.
  core::Result<std::string> Publish(const Event& event);
  // A "webhook.ping" event to one subscription of `owner` only (to test a receiver); returns the
  // delivery id. kNotFound unless `owner` owns the subscription.
  core::Result<std::string> Ping(const Owner& owner, const std::string& subscription_id);

  core::Result<std::vector<Delivery>> ListDeliveries(const Owner& owner,
                                                     const std::string& subscription_id);
  core::Result<Delivery> GetDelivery(const Owner& owner, const std::string& delivery_id);
  core::Result<std::vector<Attempt>> ListAttempts(const Owner& owner,
                                                  const std::string& delivery_id);
  // Sends the delivery again now (whatever its state), as a new logged attempt.
  core::Status Redeliver(const Owner& owner, const std::string& delivery_id);

  // Registers the "partner.webhook.deliver" handler.
  void RegisterJobs(core::WorkerPool& pool);
  // The job handler itself (exposed for tests that drive one attempt).
  core::Result<core::Json> RunDelivery(const core::Json& payload);

  const WebhookOptions& options() const { return options_; }

 private:
  core::Status EnqueueAttempt(const std::string& delivery_id, int attempt,
                              std::optional<core::TimePoint> run_at, bool manual,
                              const std::string& key_suffix);

  core::Database& db_;
  core::Sealer& sealer_;
  core::JobQueue& jobs_;
  core::HttpClient& http_;
  const core::Clock& clock_;
  WebhookOptions options_;
  core::WorkerPool* pool_ = nullptr;  // woken after enqueueing, once RegisterJobs() ran
};

}  // namespace hp::partner
