#include "hp/billing/payment.h"

#include "hp/core/encoding.h"
#include "hp/core/json.h"
#include "hp/core/openssl.h"
#include "util.h"

namespace hp::billing {

using core::ErrorCode;
using core::Fail;
using core::FailField;
using core::Json;
using core::Money;
using core::Result;
using core::Status;

std::string SignWebhook(std::string_view secret, int64_t t, std::string_view body) {
  const std::string mac =
      core::ossl::HmacSha256(secret, std::to_string(t) + "." + std::string(body));
  return "t=" + std::to_string(t) + ",v1=" +
         core::HexEncode(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(mac.data()),
                                                  mac.size()));
}

namespace {

Result<GatewayCharge> ParseCharge(const std::string& body) {
  HP_ASSIGN_OR_RETURN(Json j, core::ParseJsonObject(body));
  GatewayCharge c;
  HP_ASSIGN_OR_RETURN(c.ref, core::GetString(j, "id"));
  HP_ASSIGN_OR_RETURN(c.status, core::GetString(j, "status"));
  HP_ASSIGN_OR_RETURN(int64_t amount, core::GetInt(j, "amount"));
  HP_ASSIGN_OR_RETURN(auto refunded, core::GetOptionalInt(j, "refunded"));
  HP_ASSIGN_OR_RETURN(auto reason, core::GetOptionalString(j, "decline_reason"));
  c.amount = Money::Yen(amount);
  c.refunded = Money::Yen(refunded.value_or(0));
  c.decline_reason = reason.value_or("");
  return c;
}

class HttpCardGatewayImpl final : public PaymentGateway {
 public:
  HttpCardGatewayImpl(HttpCardGatewayOptions o, core::HttpClient& http, const core::Clock& clock)
      : o_(std::move(o)), http_(http), clock_(clock) {}

  Result<GatewayCharge> Authorize(Money amount, const std::string& token, const std::string& key,
                                  const std::string& org, const std::string& invoice) override {
    Json body{{"amount", amount.yen()},
              {"currency", "JPY"},
              {"card_token", token},
              {"metadata", {{"organization_id", org}, {"invoice_id", invoice}}}};
    return Call("/v1/authorizations", body, key);
  }
  Result<GatewayCharge> Capture(const std::string& ref, Money amount,
                                const std::string& key) override {
    return Call("/v1/authorizations/" + ref + "/capture", Json{{"amount", amount.yen()}}, key);
  }
  Result<GatewayCharge> Refund(const std::string& ref, Money amount,
                               const std::string& key) override {
    // metadata.source tells our webhook handler that hostplane made this refund (it issues the
    // credit note itself); refunds made in the gateway's dashboard carry none.
    return Call("/v1/authorizations/" + ref + "/refund",
                Json{{"amount", amount.yen()}, {"metadata", {{"source", "hostplane"}}}}, key);
  }

  Result<GatewayEvent> ParseWebhook(const std::string& body, const std::string& sig) override {
    // "t=<unix>,v1=<hex>"
    int64_t t = -1;
    std::string v1;
    size_t pos = 0;
    while (pos <= sig.size()) {
      size_t comma = sig.find(',', pos);
      if (comma == std::string::npos) comma = sig.size();
      std::string part = sig.substr(pos, comma - pos);
      if (part.rfind("t=", 0) == 0) {
        try {
          t = std::stoll(part.substr(2));
        } catch (...) {
          t = -1;
        }
      } else if (part.rfind("v1=", 0) == 0) {
        v1 = part.substr(3);
      }
      pos = comma + 1;
    }
    if (t < 0 || v1.empty())
      return Fail(ErrorCode::kUnauthenticated, "missing or malformed webhook signature");
    const int64_t now = core::ToUnixSeconds(clock_.Now());
    if (now - t > o_.webhook_tolerance_seconds || t - now > o_.webhook_tolerance_seconds)
      return Fail(ErrorCode::kUnauthenticated, "webhook signature timestamp out of tolerance");
    if (!core::ConstantTimeEquals(SignWebhook(o_.webhook_secret.Reveal(), t, body),
                                  "t=" + std::to_string(t) + ",v1=" + v1))
      return Fail(ErrorCode::kUnauthenticated, "bad webhook signature");
    HP_ASSIGN_OR_RETURN(Json j, core::ParseJsonObject(body));
    GatewayEvent e;
    HP_ASSIGN_OR_RETURN(e.id, core::GetString(j, "id"));
    HP_ASSIGN_OR_RETURN(e.type, core::GetString(j, "type"));
    if (!j.contains("data") || !j["data"].is_object())
      return FailField(ErrorCode::kInvalidArgument, "data", "missing data object");
    const Json& d = j["data"];
    HP_ASSIGN_OR_RETURN(e.ref, core::GetString(d, "id"));
    HP_ASSIGN_OR_RETURN(int64_t amount, core::GetInt(d, "amount"));
    e.amount = Money::Yen(amount);
    if (d.contains("metadata") && d["metadata"].is_object()) {
      e.invoice_id = d["metadata"].value("invoice_id", "");
      e.organization_id = d["metadata"].value("organization_id", "");
    }
    if (d.contains("refund") && d["refund"].is_object()) {
      const Json& rf = d["refund"];
      if (rf.contains("amount") && rf["amount"].is_number_integer())
        e.refund_amount = Money::Yen(rf["amount"].get<int64_t>());
      if (rf.contains("metadata") && rf["metadata"].is_object())
        e.refund_source = rf["metadata"].value("source", "");
    }
    return e;
  }

 private:
  Result<GatewayCharge> Call(const std::string& path, const Json& body, const std::string& key) {
    core::HttpClientRequest r;
    r.method = "POST";
    r.url = o_.base_url + path;
    r.body = body.dump();
    r.timeout_ms = o_.timeout_ms;
    r.ca_file = o_.ca_file;
    r.headers = {{"Content-Type", "application/json"},
                 {"Authorization", "Bearer " + std::string(o_.api_key.Reveal())},
                 {"Idempotency-Key", key}};
    HP_ASSIGN_OR_RETURN(core::HttpClientResponse resp, http_.Do(r));
    if (resp.status >= 500 || resp.status == 429)
      return Fail(ErrorCode::kUnavailable, "card gateway answered " + std::to_string(resp.status));
    if (resp.status == 401 || resp.status == 403)
      return Fail(ErrorCode::kInternal, "card gateway refused our credentials");
    if (resp.status == 404) return Fail(ErrorCode::kNotFound, "card gateway: unknown charge");
    if (resp.status == 402 || resp.status == 200 || resp.status == 201) return ParseCharge(resp.body);
    return Fail(ErrorCode::kInvalidArgument,
                "card gateway answered " + std::to_string(resp.status) + ": " + resp.body);
  }

  HttpCardGatewayOptions o_;
  core::HttpClient& http_;
  const core::Clock& clock_;
};

Money Neg(Money m) { return Money::Yen(-m.yen()); }

}  // namespace

Result<std::unique_ptr<PaymentGateway>> HttpCardGateway::Create(HttpCardGatewayOptions o,
                                                                core::HttpClient& http,
                                                                const core::Clock& clock) {
  if (o.base_url.rfind("http://", 0) != 0 && o.base_url.rfind("https://", 0) != 0)
    return FailField(ErrorCode::kInvalidArgument, "billing.card_gateway.url",
                     "an http(s) URL is required");
  if (o.api_key.empty())
    return FailField(ErrorCode::kInvalidArgument, "billing.card_gateway.api_key", "required");
  if (o.webhook_secret.empty())
    return FailField(ErrorCode::kInvalidArgument, "billing.card_gateway.webhook_secret",
                     "required");
  while (!o.base_url.empty() && o.base_url.back() == '/') o.base_url.pop_back();
  return std::unique_ptr<PaymentGateway>(new HttpCardGatewayImpl(std::move(o), http, clock));
}

Result<WebhookOutcome> Payments::ApplyCapture(SQLite::Database& tx, const std::string& org,
                                              const std::string& invoice_id,
                                              const std::string& ref, Money amount,
                                              const std::string& source) {
  SQLite::Statement e(tx, "SELECT 1 FROM billing_payments WHERE gateway_ref = ?");
  e.bind(1, ref);
  if (e.executeStep()) return WebhookOutcome{false, "already_captured"};
  HP_ASSIGN_OR_RETURN(Invoice inv, invoices_.Get(tx, org, invoice_id));
  const std::string id = deps_.ids->NewId();
  const int64_t now = internal::NowMicros(deps_);
  SQLite::Statement q(tx,
                      "INSERT INTO billing_payments (public_id, organization_id, invoice_id, "
                      "method, gateway_ref, amount, state, created_at, updated_at) VALUES "
                      "(?,?,?,'card',?,?,'captured',?,?)");
  q.bind(1, id);
  q.bind(2, org);
  q.bind(3, invoice_id);
  q.bind(4, ref);
  q.bind(5, amount.yen());
  q.bind(6, now);
  q.bind(7, now);
  q.exec();
  HP_TRY(ledger_.Post(tx, {"payment", "payment:" + id,
                           {{accounts::kCash, org, amount},
                            {accounts::kReceivable, org, Neg(amount)}}}));
  const InvoiceStatus before = inv.status;
  HP_ASSIGN_OR_RETURN(Invoice after, invoices_.ApplyPayment(tx, org, invoice_id, amount));
  if (before != InvoiceStatus::kPaid && after.status == InvoiceStatus::kPaid && on_paid_)
    HP_TRY(on_paid_(tx, after));
  HP_TRY(internal::Audit(deps_, tx, Actor{"system", "card-gateway", "", ""}, org,
                         "billing.payment.capture", "payment:" + id,
                         {{"invoice", invoice_id}, {"amount", amount.yen()}, {"ref", ref},
                          {"source", source}}));
  return WebhookOutcome{false, "captured"};
}

Result<Payment> Payments::PayByCard(const std::string& org, const std::string& invoice_id,
                                    const std::string& token, const Actor& actor) {
  HP_ASSIGN_OR_RETURN(Invoice inv, invoices_.Get(org, invoice_id));
  if (inv.kind != InvoiceKind::kInvoice || inv.status != InvoiceStatus::kIssued)
    return FailField(ErrorCode::kConflict, "invoice_id", "invoice is not open");
  HP_ASSIGN_OR_RETURN(Money open, inv.totals.total.Sub(inv.amount_paid));
  if (open.yen() <= 0) return FailField(ErrorCode::kConflict, "invoice_id", "nothing to pay");
  // One gateway idempotency key per (invoice, amount already paid, card): a retried request with
  // the same card is de-duplicated by the gateway, while another card after a decline is a new
  // authorization instead of a replay of the decline. Only a digest of the token goes out.
  const std::string key = "inv:" + invoice_id + ":" + std::to_string(inv.amount_paid.yen()) +
                          ":" + core::Base64UrlEncode(core::ossl::Sha256(token)).substr(0, 16);
  HP_ASSIGN_OR_RETURN(GatewayCharge auth, gateway_.Authorize(open, token, key, org, invoice_id));
  if (auth.status == "declined") {
    HP_TRY(deps_.db->Write([&](SQLite::Database& db) -> Status {
      return internal::Audit(deps_, db, actor, org, "billing.payment.decline",
                             "invoice:" + invoice_id, {{"reason", auth.decline_reason}}, "");
    }));
    return FailField(ErrorCode::kPermissionDenied, "card_token",
                     "card declined: " + auth.decline_reason);
  }
  HP_ASSIGN_OR_RETURN(GatewayCharge cap, gateway_.Capture(auth.ref, open, key + ":capture"));
  if (cap.status != "captured")
    return Fail(ErrorCode::kUnavailable, "capture not confirmed: " + cap.status);
  HP_TRY(deps_.db->Write([&](SQLite::Database& db) -> Result<WebhookOutcome> {
    return ApplyCapture(db, org, invoice_id, cap.ref, cap.amount, "api");
  }));
  HP_ASSIGN_OR_RETURN(auto list, List(org));
  for (const Payment& p : list)
    if (p.gateway_ref == cap.ref) return p;
  return Fail(ErrorCode::kInternal, "payment row missing after capture");
}

Result<Payment> Payments::MarkBankTransferPaid(const std::string& org,
                                               const std::string& invoice_id, Money amount,
                                               const std::string& reference, const Actor& actor) {
  if (amount.yen() <= 0)
    return FailField(ErrorCode::kInvalidArgument, "amount", "amount must be positive");
  if (reference.empty())
    return FailField(ErrorCode::kInvalidArgument, "reference", "the transfer's reference");
  return deps_.db->Write([&](SQLite::Database& db) -> Result<Payment> {
    HP_ASSIGN_OR_RETURN(Invoice inv, invoices_.Get(db, org, invoice_id));
    if (inv.kind != InvoiceKind::kInvoice || inv.status != InvoiceStatus::kIssued)
      return FailField(ErrorCode::kConflict, "invoice_id", "invoice is not open");
    Payment p{deps_.ids->NewId(), org, invoice_id, "bank_transfer", "", amount, Money(),
              "captured", deps_.clock->Now()};
    const int64_t now = internal::NowMicros(deps_);
    SQLite::Statement q(db,
                        "INSERT INTO billing_payments (public_id, organization_id, invoice_id, "
                        "method, amount, state, reference, created_at, updated_at) VALUES "
                        "(?,?,?,'bank_transfer',?,'captured',?,?,?)");
    q.bind(1, p.id);
    q.bind(2, org);
    q.bind(3, invoice_id);
    q.bind(4, amount.yen());
    q.bind(5, reference);
    q.bind(6, now);
    q.bind(7, now);
    q.exec();
    HP_TRY(ledger_.Post(db, {"payment", "payment:" + p.id,
                             {{accounts::kCash, org, amount},
                              {accounts::kReceivable, org, Neg(amount)}}}));
    HP_ASSIGN_OR_RETURN(Invoice after, invoices_.ApplyPayment(db, org, invoice_id, amount));
    if (after.status == InvoiceStatus::kPaid && on_paid_) HP_TRY(on_paid_(db, after));
    HP_TRY(internal::Audit(deps_, db, actor, org, "billing.payment.bank_transfer",
                           "payment:" + p.id,
                           {{"invoice", invoice_id}, {"amount", amount.yen()},
                            {"reference", reference}}));
    return p;
  });
}

Result<Payment> Payments::Refund(const std::string& org, const std::string& payment_id,
                                 Money amount, const Actor& actor) {
  if (amount.yen() <= 0)
    return FailField(ErrorCode::kInvalidArgument, "amount", "amount must be positive");
  HP_ASSIGN_OR_RETURN(auto list, List(org));
  const Payment* found = nullptr;
  for (const Payment& p : list)
    if (p.id == payment_id) found = &p;
  if (!found) return FailField(ErrorCode::kNotFound, "payment_id", "no such payment");
  if (found->method != "card")
    return FailField(ErrorCode::kInvalidArgument, "payment_id", "only card payments refund here");
  if (found->refunded.yen() + amount.yen() > found->amount.yen())
    return FailField(ErrorCode::kInvalidArgument, "amount", "more than was paid");
  HP_ASSIGN_OR_RETURN(GatewayCharge r,
                      gateway_.Refund(found->gateway_ref, amount,
                                      "refund:" + payment_id + ":" +
                                          std::to_string(found->refunded.yen())));
  return deps_.db->Write([&](SQLite::Database& db) -> Result<Payment> {
    SQLite::Statement s(db,
                        "SELECT refunded FROM billing_payments WHERE public_id = ? AND "
                        "organization_id = ?");
    s.bind(1, payment_id);
    s.bind(2, org);
    if (!s.executeStep()) return FailField(ErrorCode::kNotFound, "payment_id", "no such payment");
    const int64_t before = s.getColumn(0).getInt64();
    Payment p = *found;
    p.refunded = r.refunded;
    p.state = r.refunded >= p.amount ? "refunded" : "partially_refunded";
    const int64_t delta = r.refunded.yen() - before;  // the webhook may have applied it already
    if (delta > 0) {
      SQLite::Statement u(db,
                          "UPDATE billing_payments SET refunded = ?, state = ?, updated_at = ? "
                          "WHERE public_id = ?");
      u.bind(1, r.refunded.yen());
      u.bind(2, p.state);
      u.bind(3, internal::NowMicros(deps_));
      u.bind(4, payment_id);
      u.exec();
      HP_TRY(ledger_.Post(db, {"refund", "payment:" + payment_id,
                               {{accounts::kReceivable, org, Money::Yen(delta)},
                                {accounts::kCash, org, Money::Yen(-delta)}}}));
    }
    HP_TRY(internal::Audit(deps_, db, actor, org, "billing.payment.refund",
                           "payment:" + payment_id, {{"amount", amount.yen()}}));
    return p;
  });
}

Result<std::pair<InvoiceRefund, Invoice>> Payments::RefundInvoice(
    const std::string& org, const std::string& invoice_id, std::vector<LineInput> lines,
    const std::string& reason, const Actor& actor) {
  if (reason.empty())
    return FailField(ErrorCode::kInvalidArgument, "reason", "a refund states its reason");
  HP_ASSIGN_OR_RETURN(Invoice inv, invoices_.Get(org, invoice_id));
  if (inv.kind != InvoiceKind::kInvoice)
    return FailField(ErrorCode::kInvalidArgument, "invoice_id", "only invoices are refunded");
  if (lines.empty()) {
    HP_ASSIGN_OR_RETURN(auto credited, deps_.db->Read([&](SQLite::Database& db) {
      return invoices_.CreditedTotal(db, org, invoice_id);
    }));
    if (credited.yen() != 0)
      return FailField(ErrorCode::kInvalidArgument, "lines",
                       "the invoice was partly credited already; name the lines to refund");
    for (const ComputedLine& l : inv.totals.lines) {
      if (l.amount.yen() <= 0) continue;  // credits on the invoice are not paid back
      lines.push_back(l.input);
    }
  }
  HP_ASSIGN_OR_RETURN(InvoiceTotals t, invoices_.Totals(lines));
  const Money amount = t.total;
  if (amount.yen() <= 0)
    return FailField(ErrorCode::kInvalidArgument, "lines", "nothing to refund");
  HP_ASSIGN_OR_RETURN(auto list, List(org));
  const Payment* pay = nullptr;
  for (const Payment& p : list) {
    if (p.invoice_id != invoice_id || p.state == "declined") continue;
    if (p.amount.yen() - p.refunded.yen() < amount.yen()) continue;
    if (!pay || (pay->method != "card" && p.method == "card")) pay = &p;
  }
  if (!pay)
    return FailField(ErrorCode::kConflict, "lines",
                     "no payment of invoice " + inv.number + " covers a refund of " +
                         amount.Format());
  std::optional<GatewayCharge> gw;
  if (pay->method == "card") {
    HP_ASSIGN_OR_RETURN(GatewayCharge r,
                        gateway_.Refund(pay->gateway_ref, amount,
                                        "refund:" + pay->id + ":" +
                                            std::to_string(pay->refunded.yen())));
    gw = r;
  }
  const Payment chosen = *pay;
  return deps_.db->Write([&](SQLite::Database& db) -> Result<std::pair<InvoiceRefund, Invoice>> {
    SQLite::Statement s(db,
                        "SELECT refunded, amount FROM billing_payments WHERE public_id = ? AND "
                        "organization_id = ?");
    s.bind(1, chosen.id);
    s.bind(2, org);
    if (!s.executeStep()) return FailField(ErrorCode::kNotFound, "payment_id", "no such payment");
    const int64_t before = s.getColumn(0).getInt64(), paid = s.getColumn(1).getInt64();
    // Card: the gateway's cumulative refunded amount (a webhook may have applied it already).
    const int64_t after = gw ? gw->refunded.yen() : before + amount.yen();
    if (after > paid) return FailField(ErrorCode::kConflict, "lines", "more than was paid");
    const int64_t delta = after - before;
    if (delta > 0) {
      SQLite::Statement u(db,
                          "UPDATE billing_payments SET refunded = ?, state = ?, updated_at = ? "
                          "WHERE public_id = ?");
      u.bind(1, after);
      u.bind(2, after >= paid ? "refunded" : "partially_refunded");
      u.bind(3, internal::NowMicros(deps_));
      u.bind(4, chosen.id);
      u.exec();
      HP_TRY(ledger_.Post(db, {"refund", "payment:" + chosen.id,
                               {{accounts::kReceivable, org, Money::Yen(delta)},
                                {accounts::kCash, org, Money::Yen(-delta)}}}));
    }
    HP_ASSIGN_OR_RETURN(Invoice note,
                        invoices_.IssueCreditNote(db, org, invoice_id, lines, reason, actor));
    InvoiceRefund r{deps_.ids->NewId(), org, invoice_id, chosen.id, note.id, amount, reason};
    SQLite::Statement ins(db,
                          "INSERT INTO billing_refunds (public_id, organization_id, invoice_id, "
                          "payment_id, credit_note_id, amount, reason, created_at) VALUES "
                          "(?,?,?,?,?,?,?,?)");
    ins.bind(1, r.id);
    ins.bind(2, org);
    ins.bind(3, invoice_id);
    ins.bind(4, chosen.id);
    ins.bind(5, note.id);
    ins.bind(6, amount.yen());
    ins.bind(7, reason);
    ins.bind(8, internal::NowMicros(deps_));
    ins.exec();
    HP_TRY(internal::Audit(deps_, db, actor, org, "billing.invoice.refund", "invoice:" + invoice_id,
                           {{"refund", r.id},
                            {"payment", chosen.id},
                            {"method", chosen.method},
                            {"amount", amount.yen()},
                            {"credit_note", note.number},
                            {"reason", reason}}));
    return std::make_pair(r, note);
  });
}

Status Payments::CreditGatewayRefund(SQLite::Database& db, const std::string& event_id,
                                     const std::string& org, const std::string& payment_id,
                                     Money amount) {
  SQLite::Statement p(db, "SELECT invoice_id FROM billing_payments WHERE public_id = ?");
  p.bind(1, payment_id);
  if (!p.executeStep()) return core::Fail(ErrorCode::kNotFound, "no payment " + payment_id);
  const std::string invoice_id = p.getColumn(0).getString();
  HP_ASSIGN_OR_RETURN(Invoice inv, invoices_.Get(db, org, invoice_id));
  HP_ASSIGN_OR_RETURN(Money credited, invoices_.CreditedTotal(db, org, invoice_id));
  std::vector<LineInput> lines;
  if (credited.yen() == 0 && amount.yen() == inv.totals.total.yen()) {
    // The whole invoice: credit every line, as a refund through hostplane would.
    for (const ComputedLine& l : inv.totals.lines)
      if (l.amount.yen() > 0) lines.push_back(l.input);
  } else {
    HP_ASSIGN_OR_RETURN(lines, RefundLines(inv, amount));
  }
  const Actor actor{"system", "billing-gateway", "", ""};
  const std::string reason = "Refund made in the card gateway's dashboard (" + event_id + ")";
  HP_ASSIGN_OR_RETURN(Invoice note,
                      invoices_.IssueCreditNote(db, org, invoice_id, lines, reason, actor));
  SQLite::Statement ins(db,
                        "INSERT INTO billing_gateway_refunds (event_id, organization_id, "
                        "invoice_id, payment_id, credit_note_id, amount, created_at) VALUES "
                        "(?,?,?,?,?,?,?)");
  ins.bind(1, event_id);
  ins.bind(2, org);
  ins.bind(3, invoice_id);
  ins.bind(4, payment_id);
  ins.bind(5, note.id);
  ins.bind(6, amount.yen());
  ins.bind(7, internal::NowMicros(deps_));
  ins.exec();
  return internal::Audit(deps_, db, actor, org, "billing.payment.gateway_refund",
                         "invoice:" + invoice_id,
                         {{"event", event_id},
                          {"payment", payment_id},
                          {"amount", amount.yen()},
                          {"credit_note", note.number},
                          {"credit_note_total", note.totals.total.yen()}});
}

Result<std::vector<LineInput>> Payments::RefundLines(const Invoice& inv, Money amount) const {
  // One line "Refund" at the invoice's rate (8% only when every line is 8%) whose total with
  // tax (once per rate, configured rounding) is the refunded amount. Some totals cannot be
  // reached (floor at 10%: 11k + 10); then the largest total below it (the yen left stays
  // with the customer's receivable and shows in the balance).
  TaxRate rate = TaxRate::kReduced8;
  for (const ComputedLine& l : inv.totals.lines)
    if (l.input.rate != TaxRate::kReduced8) rate = TaxRate::kStandard10;
  const int64_t pct = TaxRatePercent(rate);
  const int64_t guess = amount.yen() * 100 / (100 + pct);
  std::optional<LineInput> best;
  int64_t best_total = -1;
  for (int64_t s = std::max<int64_t>(1, guess - 3); s <= guess + 3; ++s) {
    LineInput l;
    l.description = "Refund made in the card gateway";
    l.quantity = 1;
    l.unit_price = Money::Yen(s);
    l.rate = rate;
    HP_ASSIGN_OR_RETURN(InvoiceTotals t, invoices_.Totals({l}));
    if (t.total.yen() <= amount.yen() && t.total.yen() > best_total) {
      best = l;
      best_total = t.total.yen();
    }
  }
  if (!best) return FailField(ErrorCode::kInvalidArgument, "amount", "refund too small to credit");
  return std::vector<LineInput>{*best};
}

Result<std::vector<InvoiceRefund>> Payments::ListRefunds(const std::string& org) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<std::vector<InvoiceRefund>> {
    SQLite::Statement q(db,
                        "SELECT public_id, invoice_id, payment_id, credit_note_id, amount, reason "
                        "FROM billing_refunds WHERE organization_id = ? ORDER BY id");
    q.bind(1, org);
    std::vector<InvoiceRefund> out;
    while (q.executeStep())
      out.push_back({q.getColumn(0).getString(), org, q.getColumn(1).getString(),
                     q.getColumn(2).getString(), q.getColumn(3).getString(),
                     Money::Yen(q.getColumn(4).getInt64()), q.getColumn(5).getString()});
    return out;
  });
}

Result<WebhookOutcome> Payments::HandleWebhook(const std::string& body, const std::string& sig) {
  HP_ASSIGN_OR_RETURN(GatewayEvent e, gateway_.ParseWebhook(body, sig));
  return deps_.db->Write([&](SQLite::Database& db) -> Result<WebhookOutcome> {
    SQLite::Statement seen(db, "SELECT outcome FROM billing_gateway_events WHERE event_id = ?");
    seen.bind(1, e.id);
    if (seen.executeStep()) return WebhookOutcome{true, seen.getColumn(0).getString()};
    WebhookOutcome out{false, "ignored"};
    if (e.type == "charge.captured") {
      if (e.organization_id.empty() || e.invoice_id.empty())
        return FailField(ErrorCode::kInvalidArgument, "data/metadata", "no invoice metadata");
      HP_ASSIGN_OR_RETURN(out, ApplyCapture(db, e.organization_id, e.invoice_id, e.ref, e.amount,
                                            "webhook"));
    } else if (e.type == "charge.refunded") {
      SQLite::Statement p(db,
                          "SELECT public_id, organization_id, amount, refunded FROM "
                          "billing_payments WHERE gateway_ref = ?");
      p.bind(1, e.ref);
      if (p.executeStep()) {
        const std::string pid = p.getColumn(0).getString(), org = p.getColumn(1).getString();
        const int64_t paid = p.getColumn(2).getInt64(), before = p.getColumn(3).getInt64();
        const int64_t delta = e.amount.yen() - before;  // e.amount: cumulative refunded
        if (delta > 0 && e.amount.yen() <= paid) {
          SQLite::Statement u(db,
                              "UPDATE billing_payments SET refunded = ?, state = ?, updated_at = "
                              "? WHERE public_id = ?");
          u.bind(1, e.amount.yen());
          u.bind(2, e.amount.yen() >= paid ? "refunded" : "partially_refunded");
          u.bind(3, internal::NowMicros(deps_));
          u.bind(4, pid);
          u.exec();
          HP_TRY(ledger_.Post(db, {"refund", "payment:" + pid,
                                   {{accounts::kReceivable, org, Money::Yen(delta)},
                                    {accounts::kCash, org, Money::Yen(-delta)}}}));
          out.effect = "refunded";
          if (e.refund_source != "hostplane") {
            // Made in the gateway's dashboard: nobody issued its credit note; issue it now, in
            // this transaction, once per event (this refund's amount, or the delta when the
            // event does not say).
            const int64_t refund = e.refund_amount.yen() > 0
                                       ? std::min(e.refund_amount.yen(), delta)
                                       : delta;
            HP_TRY(CreditGatewayRefund(db, e.id, org, pid, Money::Yen(refund)));
            out.effect = "refunded_credit_note";
          }
        } else {
          out.effect = "already_refunded";
        }
      }
    }
    SQLite::Statement ins(db,
                          "INSERT INTO billing_gateway_events (event_id, type, gateway_ref, "
                          "outcome, received_at) VALUES (?,?,?,?,?)");
    ins.bind(1, e.id);
    ins.bind(2, e.type);
    ins.bind(3, e.ref);
    ins.bind(4, out.effect);
    ins.bind(5, internal::NowMicros(deps_));
    ins.exec();
    return out;
  });
}

Result<std::vector<Payment>> Payments::List(const std::string& org) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<std::vector<Payment>> {
    SQLite::Statement q(db,
                        "SELECT public_id, invoice_id, method, gateway_ref, amount, refunded, state, "
                        "created_at FROM billing_payments WHERE organization_id = ? ORDER BY id");
    q.bind(1, org);
    std::vector<Payment> out;
    while (q.executeStep())
      out.push_back({q.getColumn(0).getString(), org, q.getColumn(1).getString(),
                     q.getColumn(2).getString(), q.getColumn(3).getString(),
                     Money::Yen(q.getColumn(4).getInt64()), Money::Yen(q.getColumn(5).getInt64()),
                     q.getColumn(6).getString(), core::FromUnixMicros(q.getColumn(7).getInt64())});
    return out;
  });
}

void Payments::MountRoutes(core::http::Router& router) {
  core::http::RouteInfo info;
  info.method = "POST";
  info.pattern = "/api/v1/billing/webhooks/card";
  info.summary = "Card gateway webhook (HMAC-signed)";
  info.tag = "billing";
  router.AddSync(info, [this](const core::http::Request& req) {
    auto r = HandleWebhook(req.body, req.Header("x-gateway-signature"));
    if (!r) return core::http::Response::FromError(r.error());
    return core::http::Response::Json(200, Json{{"duplicate", r->duplicate},
                                                {"effect", r->effect}});
  });
}

}  // namespace hp::billing
