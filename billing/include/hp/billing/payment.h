#pragma once
// Payments. A PaymentGateway speaks to a card processor (authorise, capture, refund, signed
// webhooks); HttpCardGateway is the adapter for our card gateway's HTTP API, and
// SimulatedCardGateway (sim_gateway.h) serves the same API on loopback for tests and --dev.
// Payments records money against invoices and posts the ledger; bank transfers are marked paid
// by an operator.
//
// Idempotency: a gateway webhook is processed at most once per event id (the id is stored in
// the same transaction as its effect), and a capture is applied once per gateway reference,
// whichever of the synchronous call and the webhook arrives first.
// Thread-safe.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "hp/billing/billing.h"
#include "hp/billing/invoice.h"
#include "hp/billing/ledger.h"
#include "hp/core/http.h"
#include "hp/core/http_client.h"
#include "hp/core/secret.h"

namespace hp::billing {

struct GatewayCharge {
  std::string ref;     // the gateway's authorization id
  std::string status;  // "authorized", "captured", "refunded", "declined"
  core::Money amount;  // authorised/captured amount
  core::Money refunded;
  std::string decline_reason;
};

struct GatewayEvent {
  std::string id;    // unique per event; retries of one delivery carry the same id
  std::string type;  // "charge.captured", "charge.refunded", "charge.failed"
  std::string ref;   // authorization id
  core::Money amount;
  std::string invoice_id;       // from the metadata we sent
  std::string organization_id;  // from the metadata we sent
  // charge.refunded: this refund (data.refund): its amount (0 when the gateway does not say)
  // and metadata.source ("hostplane" when we asked for it; empty for a dashboard refund).
  core::Money refund_amount;
  std::string refund_source;
};

class PaymentGateway {
 public:
  virtual ~PaymentGateway() = default;
  // A declined card is a GatewayCharge with status "declined" (not an error); transport
  // failures are kUnavailable. The idempotency key makes a retried call return the first result.
  virtual core::Result<GatewayCharge> Authorize(core::Money amount, const std::string& card_token,
                                                const std::string& idempotency_key,
                                                const std::string& organization_id,
                                                const std::string& invoice_id) = 0;
  virtual core::Result<GatewayCharge> Capture(const std::string& ref, core::Money amount,
                                              const std::string& idempotency_key) = 0;
  virtual core::Result<GatewayCharge> Refund(const std::string& ref, core::Money amount,
                                             const std::string& idempotency_key) = 0;
  // Verifies the signature header over the raw body (kUnauthenticated when wrong or too old)
  // and parses the event (kInvalidArgument naming the field).
  virtual core::Result<GatewayEvent> ParseWebhook(const std::string& body,
                                                  const std::string& signature_header) = 0;
};

// Signature header of the card gateway: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
// "<t>.<body>")>". Shared by the adapter (verify) and the simulator (sign).
std::string SignWebhook(std::string_view secret, int64_t unix_seconds, std::string_view body);

struct HttpCardGatewayOptions {
  std::string base_url;                      // billing.card_gateway.url
  core::Secret api_key;                // billing.card_gateway.api_key (Bearer)
  core::Secret webhook_secret;         // billing.card_gateway.webhook_secret
  int64_t webhook_tolerance_seconds = 300;   // billing.card_gateway.webhook_tolerance_s
  long timeout_ms = 10000;
  std::string ca_file;
};

class HttpCardGateway {
 public:
  // kInvalidArgument (field names the option) for a missing URL or secret.
  static core::Result<std::unique_ptr<PaymentGateway>> Create(HttpCardGatewayOptions options,
                                                              core::HttpClient& http,
                                                              const core::Clock& clock);
};

enum class PaymentState { kCaptured, kRefunded, kPartiallyRefunded, kDeclined };

struct Payment {
  std::string id;
  std::string organization_id;
  std::string invoice_id;
  std::string method;  // "card", "bank_transfer"
  std::string gateway_ref;
  core::Money amount;
  core::Money refunded;
  std::string state;  // "captured", "refunded", "declined"
  core::TimePoint created_at{};
};

// A refund of (part of) a paid invoice and the credit note it produced.
struct InvoiceRefund {
  std::string id;
  std::string organization_id;
  std::string invoice_id;
  std::string payment_id;
  std::string credit_note_id;
  core::Money amount;  // = the credit note's total (tax included)
  std::string reason;
};

struct WebhookOutcome {
  bool duplicate = false;  // this event id was processed before
  std::string effect;      // "captured", "already_captured", "refunded",
                           // "refunded_credit_note" (dashboard refund), "ignored"
};

// Called inside the paying transaction when an invoice becomes fully paid (dunning resolves).
using InvoicePaidHook = std::function<core::Status(SQLite::Database&, const Invoice&)>;

class Payments {
 public:
  Payments(const BillingDeps& deps, PaymentGateway& gateway, InvoiceStore& invoices,
           Ledger& ledger)
      : deps_(deps), gateway_(gateway), invoices_(invoices), ledger_(ledger) {}

  void OnInvoicePaid(InvoicePaidHook hook) { on_paid_ = std::move(hook); }

  // Authorises and captures the open amount of an invoice. A decline is kPermissionDenied with
  // the gateway's reason. Calls the gateway outside any transaction (worker threads only).
  core::Result<Payment> PayByCard(const std::string& organization_id,
                                  const std::string& invoice_id, const std::string& card_token,
                                  const Actor& actor = {});
  // Operator: money arrived by bank transfer.
  core::Result<Payment> MarkBankTransferPaid(const std::string& organization_id,
                                             const std::string& invoice_id, core::Money amount,
                                             const std::string& reference,
                                             const Actor& actor = {});
  // Refunds (part of) a card payment through the gateway and posts the ledger.
  core::Result<Payment> Refund(const std::string& organization_id, const std::string& payment_id,
                               core::Money amount, const Actor& actor = {});
  // Refunds an invoice: the credit note for `lines` (empty: every line of the invoice, only
  // when nothing was credited yet) is issued in its own series, and its total is paid back on
  // one payment of the invoice that still covers it (card: through the gateway first; bank
  // transfer: the operator pays it back and this records it). One write transaction issues the
  // credit note, posts the refund (receivable +, cash -), records the refund row and audits
  // "billing.invoice.refund"; the credit note hook (agency commission reversal) runs in it.
  core::Result<std::pair<InvoiceRefund, Invoice>> RefundInvoice(
      const std::string& organization_id, const std::string& invoice_id,
      std::vector<LineInput> lines, const std::string& reason, const Actor& actor = {});
  core::Result<std::vector<InvoiceRefund>> ListRefunds(const std::string& organization_id);
  // Verifies and applies a gateway webhook; safe to call any number of times per event.
  core::Result<WebhookOutcome> HandleWebhook(const std::string& body,
                                             const std::string& signature_header);
  core::Result<std::vector<Payment>> List(const std::string& organization_id);

  // POST /api/v1/billing/webhooks/card (public: authenticated by the signature). Answers 200
  // for processed and duplicate events, 401 for a bad signature, 400 for a bad body.
  void MountRoutes(core::http::Router& router);

 private:
  // A refund made in the gateway's dashboard (charge.refunded without our metadata): issues the
  // credit note (-CN series) for `amount` in the webhook's transaction, once per event.
  core::Status CreditGatewayRefund(SQLite::Database& tx, const std::string& event_id,
                                   const std::string& org, const std::string& payment_id,
                                   core::Money amount);
  core::Result<std::vector<LineInput>> RefundLines(const Invoice& invoice,
                                                   core::Money amount) const;
  core::Result<WebhookOutcome> ApplyCapture(SQLite::Database& tx, const std::string& org,
                                            const std::string& invoice_id, const std::string& ref,
                                            core::Money amount, const std::string& source);
  BillingDeps deps_;
  PaymentGateway& gateway_;
  InvoiceStore& invoices_;
  Ledger& ledger_;
  InvoicePaidHook on_paid_;
};

}  // namespace hp::billing
