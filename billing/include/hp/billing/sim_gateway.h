#pragma once
// A simulated card gateway speaking the same HTTP API as HttpCardGateway expects, on loopback
// (port 0 by default). For tests and `serve --dev`: no money moves.
//
// Cards: "tok_visa" succeeds; "tok_decline" is declined ("card_declined"). Authorisations are
// idempotent by Idempotency-Key. Every capture and refund queues a signed webhook event
// (header X-Gateway-Signature, see SignWebhook) for `webhook_url`; DeliverPending() sends the
// queue synchronously and Redeliver() sends one event again, as a real gateway's retry would.
// Thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/http_client.h"
#include "hp/core/metrics.h"

namespace hp::billing {

struct SimulatedCardGatewayOptions {
  std::string api_key;         // expected Bearer token
  std::string webhook_secret;  // HMAC key of the webhook signatures
  std::string webhook_url;     // where events are POSTed; empty: kept queued
};

class SimulatedCardGateway {
 public:
  static core::Result<std::unique_ptr<SimulatedCardGateway>> Create(
      SimulatedCardGatewayOptions options, const core::Clock& clock, core::HttpClient& http,
      core::MetricsRegistry& metrics);
  virtual ~SimulatedCardGateway() = default;

  virtual std::string url() const = 0;  // "http://127.0.0.1:<port>"
  virtual void SetWebhookUrl(const std::string& url) = 0;
  // POSTs every undelivered event; returns how many got a 2xx answer.
  virtual core::Result<int> DeliverPending() = 0;
  // POSTs one event again (same id, fresh signature); returns the HTTP status.
  virtual core::Result<int> Redeliver(const std::string& event_id) = 0;
  virtual std::vector<std::string> EventIds() const = 0;
  virtual void Shutdown() = 0;
};

}  // namespace hp::billing
