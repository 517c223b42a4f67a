// Billing routes. Customer routes live under /api/v1/organizations/{org}/ (the framework scopes
// {org} to the caller's memberships and checks billing.read / billing.manage); every billing
// service call takes the organization id, so another organization's subscription or invoice id
// is 404. Staff routes live under /api/v1/admin/billing/ (kStaff); they name an organization
// with {id}, never {org}, because staff are not members.
#include "billing_routes.h"

#include <algorithm>
#include <cstdio>

#include "hp/core/log.h"
#include "rbac.h"

namespace hp::cp {

using billing::Date;
using core::ErrorCode;
using core::Json;
using core::http::Response;

namespace {

billing::Actor ActorOf(const ApiContext& c) {
  return {c.who.user.is_staff && c.who.kind == Principal::Kind::kSession ? "staff" : c.who.ActorType(), c.who.ActorId(),
          c.http.remote_ip, c.http.request_id};
}

Date Today(Api& api) { return billing::ToDate(api.clock().Now()); }

Json Span(const billing::PeriodSpan& p) { return {{"start", billing::FormatDate(p.start)}, {"end", billing::FormatDate(p.end)}}; }

Json SubscriptionJson(const billing::Subscription& s) {
  Json j = {{"id", s.id},
            {"product", s.product_code},
            {"period", billing::BillingPeriodName(s.period)},
            {"state", billing::SubscriptionStateName(s.state)},
            {"period_price", s.period_price.yen()},
            {"currency", "JPY"},
            {"cancel_at_period_end", s.cancel_at_period_end},
            {"channel", s.channel},
            {"current_period", nullptr}};
  if (s.state != billing::SubscriptionState::kPending) {
    j["anchor"] = billing::FormatDate(s.anchor);
    j["current_period"] = Span(s.current);
  }
  return j;
}

Json ProrationJson(const billing::Proration& p) {
  return {{"kind", billing::ChangeKindName(p.kind)}, {"period_days", p.period_days}, {"unused_days", p.unused_days},
          {"credit", p.credit.yen()},           {"charge", p.charge.yen()},           {"net", p.net.yen()},
          {"new_period", Span(p.new_period)},   {"explanation", p.explanation},      {"currency", "JPY"}};
}

Json InvoiceJson(const billing::Invoice& i) {
  Json lines = Json::array();
  for (const auto& l : i.totals.lines)
    lines.push_back({{"description", l.input.description},
                     {"quantity", l.input.quantity},
                     {"unit_price", l.input.unit_price.yen()},
                     {"amount", l.amount.yen()},
                     {"tax_rate", billing::TaxRatePercent(l.input.rate)},
                     {"reduced_rate", l.input.rate == billing::TaxRate::kReduced8}});
  Json rates = Json::array();
  for (const auto& r : i.totals.by_rate)
    rates.push_back({{"tax_rate", billing::TaxRatePercent(r.rate)}, {"subtotal", r.subtotal.yen()}, {"tax", r.tax.yen()}});
  Json j = {{"id", i.id},
            {"number", i.number},
            {"kind", i.kind == billing::InvoiceKind::kInvoice ? "invoice" : "credit_note"},
            {"status", billing::InvoiceStatusName(i.status)},
            {"issuer", {{"name", i.issuer.name}, {"registration_number", i.issuer.registration_number}, {"address", i.issuer.address}}},
            {"recipient_name", i.recipient_name},
            {"issue_date", billing::FormatDate(i.issue_date)},
            {"period", {{"start", billing::FormatDate(i.period_start)}, {"end", billing::FormatDate(i.period_end)}}},
            {"due_date", billing::FormatDate(i.due_date)},
            {"tax_rounding", billing::TaxRoundingName(i.rounding)},
            {"lines", lines},
            {"tax_by_rate", rates},
            {"subtotal", i.totals.subtotal.yen()},
            {"tax", i.totals.tax.yen()},
            {"total", i.totals.total.yen()},
            {"amount_paid", i.amount_paid.yen()},
            {"currency", "JPY"},
            {"document_url", "/api/v1/organizations/" + i.organization_id + "/invoices/" + i.id + ".html"},
            {"pdf_url", "/api/v1/organizations/" + i.organization_id + "/invoices/" + i.id + ".pdf"}};
  if (!i.corrects_invoice_id.empty()) {
    j["corrects_invoice_id"] = i.corrects_invoice_id;
    j["corrects_invoice_number"] = i.corrects_invoice_number;
  }
  if (!i.note.empty()) j["note"] = i.note;
  return j;
}

Json PaymentJson(const billing::Payment& p) {
  return {{"id", p.id},          {"invoice_id", p.invoice_id},   {"method", p.method}, {"amount", p.amount.yen()},
          {"refunded", p.refunded.yen()}, {"state", p.state}, {"currency", "JPY"}, {"created_at", core::FormatRfc3339(p.created_at)}};
}

Json ProductJson(const billing::Product& p) {
  Json j = {{"code", p.code}, {"kind", billing::ProductKindName(p.kind)}, {"name", p.name}, {"tax_rate", billing::TaxRatePercent(p.tax_rate)}};
  if (!p.usage_metric.empty()) j["usage_metric"] = p.usage_metric;
  return j;
}

// Optional "period" (monthly | yearly), default `def`.
core::Result<billing::BillingPeriod> PeriodOf(const Json& body, billing::BillingPeriod def) {
  HP_ASSIGN_OR_RETURN(auto s, core::GetOptionalString(body, "period"));
  if (!s) return def;
  return billing::ParseBillingPeriod(*s);
}

core::Result<Date> DateOf(const Json& body, const std::string& key, Date def) {
  HP_ASSIGN_OR_RETURN(auto s, core::GetOptionalString(body, key));
  if (!s) return def;
  return billing::ParseDate(*s, key);
}

core::Result<core::Money> YenOf(const Json& body, const std::string& key, std::optional<int64_t> def = std::nullopt) {
  HP_ASSIGN_OR_RETURN(auto v, core::GetOptionalInt(body, key));
  if (!v && !def) return core::FailField(ErrorCode::kInvalidArgument, key, "is required (integer yen)");
  const int64_t yen = v.value_or(def.value_or(0));
  if (yen < 0) return core::FailField(ErrorCode::kInvalidArgument, key, "must not be negative");
  return core::Money::Yen(yen);
}

enum class DocFormat { kJson, kHtml, kPdf };

// "{invoice}.html" / "{invoice}.pdf" arrive as the {invoice} parameter (the router matches whole
// segments); ?format=html|pdf|json works too.
core::Result<std::pair<std::string, DocFormat>> InvoiceParam(const ApiContext& c) {
  std::string id = c.http.Param("invoice");
  DocFormat f = DocFormat::kJson;
  for (auto [ext, fmt] : {std::pair{std::string_view(".html"), DocFormat::kHtml}, std::pair{std::string_view(".pdf"), DocFormat::kPdf}})
    if (id.size() > ext.size() && id.ends_with(ext)) {
      id = id.substr(0, id.size() - ext.size());
      f = fmt;
    }
  if (auto q = c.http.QueryParam("format")) {
    if (*q == "pdf") f = DocFormat::kPdf;
    else if (*q == "html") f = DocFormat::kHtml;
    else if (*q == "json") f = DocFormat::kJson;
    else return core::FailField(ErrorCode::kInvalidArgument, "format", "must be json, html or pdf");
  }
  return std::make_pair(id, f);
}

core::Result<Response> InvoiceResponse(BillingServices& b, const ApiContext& c) {
  HP_ASSIGN_OR_RETURN(auto param, InvoiceParam(c));
  HP_ASSIGN_OR_RETURN(billing::Invoice inv, b.invoices->Get(c.org->id, param.first));
  const std::string brand = b.brand_of ? b.brand_of(inv.organization_id) : "";
  if (param.second == DocFormat::kHtml) return Response(200, "text/html; charset=utf-8", billing::RenderInvoiceHtml(inv, brand));
  if (param.second == DocFormat::kPdf) {
    HP_ASSIGN_OR_RETURN(std::string pdf, billing::RenderInvoicePdf(inv, brand));
    Response r(200, "application/pdf", std::move(pdf));
    r.SetHeader("Content-Disposition", "inline; filename=\"" + inv.number + ".pdf\"");
    return r;
  }
  Json j = InvoiceJson(inv);
  if (!brand.empty()) j["brand"] = brand;
  if (inv.kind == billing::InvoiceKind::kInvoice) {
    // What was credited (and refunded) against this invoice.
    HP_ASSIGN_OR_RETURN(auto notes, b.invoices->CreditNotesOf(inv.organization_id, inv.id));
    j["credit_notes"] = Json::array();
    for (const auto& n : notes)
      j["credit_notes"].push_back({{"id", n.id}, {"number", n.number}, {"issue_date", billing::FormatDate(n.issue_date)},
                                   {"subtotal", n.totals.subtotal.yen()}, {"tax", n.totals.tax.yen()}, {"total", n.totals.total.yen()}, {"note", n.note}});
  }
  return Response::Json(200, j);
}

core::Result<std::vector<billing::LineInput>> LinesOf(const Json& body, bool required) {
  std::vector<billing::LineInput> lines;
  if (!body.contains("lines") || body["lines"].is_null()) {
    if (required) return core::FailField(ErrorCode::kInvalidArgument, "lines", "a non-empty array of lines");
    return lines;
  }
  if (!body["lines"].is_array() || (required && body["lines"].empty()))
    return core::FailField(ErrorCode::kInvalidArgument, "lines", "a non-empty array of lines");
  for (size_t i = 0; i < body["lines"].size(); ++i) {
    const Json& l = body["lines"][i];
    const std::string f = "lines/" + std::to_string(i);
    if (!l.is_object()) return core::FailField(ErrorCode::kInvalidArgument, f, "must be an object");
    billing::LineInput in;
    HP_ASSIGN_OR_RETURN(in.description, core::GetString(l, "description"));
    HP_ASSIGN_OR_RETURN(auto q, core::GetOptionalInt(l, "quantity"));
    in.quantity = q.value_or(1);
    HP_ASSIGN_OR_RETURN(auto up, core::GetOptionalInt(l, "unit_price"));
    if (!up || *up <= 0 || in.quantity <= 0) return core::FailField(ErrorCode::kInvalidArgument, f, "quantity and unit_price must be positive");
    in.unit_price = core::Money::Yen(*up);
    HP_ASSIGN_OR_RETURN(auto rate, core::GetOptionalInt(l, "tax_rate"));
    HP_ASSIGN_OR_RETURN(in.rate, billing::TaxRateFromPercent(rate.value_or(10), f + "/tax_rate"));
    lines.push_back(std::move(in));
  }
  return lines;
}


core::Result<store::Organization> StaffOrg(Api& api, const ApiContext& c) {
  return api.db().Read([&](SQLite::Database& tx) { return store::GetOrganization(tx, c.http.Param("id")); });
}

}  // namespace

namespace {
Json PayoutJson(const billing::CommissionPayout& p) {
  char month[16];
  std::snprintf(month, sizeof(month), "%04d-%02u", p.year, p.month);
  return {{"id", p.id}, {"partner", p.partner_id}, {"month", month}, {"amount", p.amount.yen()}, {"currency", "JPY"},
          {"reference", p.reference}, {"paid_at", core::FormatRfc3339(p.paid_at)}, {"ledger_txn_id", p.ledger_txn_id}};
}
}  // namespace

core::Result<billing::Account> EnsureBillingAccount(Api& api, BillingServices& b, const std::string& org_id) {
  auto existing = b.prices->GetAccount(org_id);
  if (existing || existing.error().code != ErrorCode::kNotFound) return existing;
  HP_ASSIGN_OR_RETURN(auto op, api.db().Read([&](SQLite::Database& tx) -> core::Result<std::pair<store::Organization, store::Partner>> {
    HP_ASSIGN_OR_RETURN(store::Organization o, store::GetOrganization(tx, org_id));
    HP_ASSIGN_OR_RETURN(store::Partner p, store::GetPartner(tx, o.partner_id));
    return std::make_pair(o, p);
  }));
  billing::Account a;
  a.organization_id = op.first.id;
  a.name = op.first.name;
  HP_ASSIGN_OR_RETURN(a.channel, billing::ParseChannel(op.second.channel));
  if (a.channel != billing::Channel::kDirect) {
    a.partner_id = op.second.id;
    if (!b.prices->GetPartner(a.partner_id))
      return core::Fail(ErrorCode::kConflict, "billing terms of your partner are not set up yet; contact your partner");
  }
  HP_TRY(b.prices->UpsertAccount(a, billing::Actor{"system", "billing", "", ""}));
  return a;
}

void RegisterBillingRoutes(Api& api, core::http::Router& router, BillingServices& b) {
  const std::string base = "/api/v1/organizations/{org}";
  auto reg = [&](core::http::RouteInfo info, ApiHandler h) {
    info.tag = "billing";
    api.Register(router, std::move(info), std::move(h));
  };

  // --- catalog -------------------------------------------------------------------------------
  reg({.method = "GET", .pattern = base + "/catalog", .summary = "Products on sale with this organization's price per period (tax-exclusive yen; list, or the partner's sell price).",
       .permission = "billing.read"},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(billing::Account acc, EnsureBillingAccount(api, b, c.org->id));
        HP_ASSIGN_OR_RETURN(auto products, b.catalog->ListProducts());
        const Date today = Today(api);
        Json items = Json::array();
        for (const auto& p : products) {
          Json prices = Json::array();
          for (auto period : {billing::BillingPeriod::kMonthly, billing::BillingPeriod::kYearly}) {
            auto price = b.prices->PriceFor(c.org->id, p.code, period, today);
            if (!price) {
              if (price.error().code == ErrorCode::kNotFound) continue;
              return std::unexpected(price.error());
            }
            prices.push_back({{"period", billing::BillingPeriodName(period)}, {"price", price->price.yen()},
                              {"setup_fee", price->setup_fee.yen()}, {"currency", "JPY"}});
          }
          if (prices.empty()) continue;
          Json j = ProductJson(p);
          j["prices"] = prices;
          items.push_back(j);
        }
        return Response::Json(200, {{"items", items}, {"channel", billing::ChannelName(acc.channel)}, {"next_cursor", nullptr}});
      });

  // --- subscriptions -------------------------------------------------------------------------
  reg({.method = "GET", .pattern = base + "/subscriptions", .summary = "Subscriptions of the organization.", .permission = "billing.read"},
      [&b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto list, b.subscriptions->List(c.org->id));
        Json items = Json::array();
        for (const auto& s : list) items.push_back(SubscriptionJson(s));
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  reg({.method = "POST", .pattern = base + "/subscriptions",
       .summary = "Order a product (product, period: monthly|yearly). 201 with the active subscription; the first period and the setup fee are billed by the next billing run.",
       .permission = "billing.manage",
       .request_schema = {{"type", "object"}, {"properties", {{"product", {{"type", "string"}}}, {"period", {{"type", "string"}, {"enum", {"monthly", "yearly"}}}}}}, {"required", {"product"}}}},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(std::string product, core::GetString(c.body, "product"));
        HP_ASSIGN_OR_RETURN(auto period, PeriodOf(c.body, billing::BillingPeriod::kMonthly));
        HP_ASSIGN_OR_RETURN(auto acc, EnsureBillingAccount(api, b, c.org->id));
        (void)acc;
        const std::string key = c.http.Header("idempotency-key");
        HP_ASSIGN_OR_RETURN(billing::Subscription s, b.subscriptions->Order({c.org->id, product, period, key.empty() ? "" : c.who.Key() + ":" + key}, ActorOf(c)));
        // No provisioning hook yet: an order is accepted at once (TODO: accept when the service exists).
        if (s.state == billing::SubscriptionState::kPending) {
          HP_ASSIGN_OR_RETURN(s, b.subscriptions->Accept(c.org->id, s.id, ActorOf(c)));
        }
        Response r = Response::Json(201, SubscriptionJson(s));
        r.SetHeader("Location", "/api/v1/organizations/" + c.org->id + "/subscriptions/" + s.id);
        return r;
      });
  reg({.method = "GET", .pattern = base + "/subscriptions/{subscription}", .summary = "One subscription.", .permission = "billing.read"},
      [&b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto s, b.subscriptions->Get(c.org->id, c.http.Param("subscription")));
        return Response::Json(200, SubscriptionJson(s));
      });
  reg({.method = "GET", .pattern = base + "/subscriptions/{subscription}/change-plan",
       .summary = "Preview of a plan change today (?product=&period=): prorated credit, charge and net, nothing changed.", .permission = "billing.read"},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto s, b.subscriptions->Get(c.org->id, c.http.Param("subscription")));
        auto product = c.http.QueryParam("product");
        if (!product || product->empty()) return core::FailField(ErrorCode::kInvalidArgument, "product", "is required (?product=<code>)");
        billing::BillingPeriod period = s.period;
        if (auto p = c.http.QueryParam("period")) {
          HP_ASSIGN_OR_RETURN(period, billing::ParseBillingPeriod(*p));
        }
        if (s.state != billing::SubscriptionState::kActive)
          return core::FailField(ErrorCode::kConflict, "state", "only active subscriptions change plan");
        const Date today = Today(api);
        HP_ASSIGN_OR_RETURN(billing::CustomerPrice np, b.prices->PriceFor(c.org->id, *product, period, today));
        HP_ASSIGN_OR_RETURN(billing::Proration p, billing::ProrateChange({{s.period_price, s.period}, {np.price, period}, s.current, today}));
        return Response::Json(200, {{"subscription", SubscriptionJson(s)}, {"product", *product},
                                    {"period", billing::BillingPeriodName(period)}, {"new_price", np.price.yen()}, {"proration", ProrationJson(p)}});
      });
  reg({.method = "POST", .pattern = base + "/subscriptions/{subscription}/change-plan",
       .summary = "Change plan today (product, period); the prorated net is billed (or credited) by the next billing run.", .permission = "billing.manage",
       .request_schema = {{"type", "object"}, {"required", {"product"}}}},
      [&b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto s, b.subscriptions->Get(c.org->id, c.http.Param("subscription")));
        HP_ASSIGN_OR_RETURN(std::string product, core::GetString(c.body, "product"));
        HP_ASSIGN_OR_RETURN(auto period, PeriodOf(c.body, s.period));
        HP_ASSIGN_OR_RETURN(billing::PlanChange ch, b.subscriptions->ChangePlan(c.org->id, s.id, product, period, ActorOf(c)));
        return Response::Json(200, {{"subscription", SubscriptionJson(ch.subscription)}, {"proration", ProrationJson(ch.proration)}});
      });
  reg({.method = "POST", .pattern = base + "/subscriptions/{subscription}/cancel",
       .summary = "Cancel at the period end, or immediately with a prorated credit (immediately: true).", .permission = "billing.manage"},
      [&b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto s, b.subscriptions->Get(c.org->id, c.http.Param("subscription")));
        HP_ASSIGN_OR_RETURN(auto now, core::GetOptionalBool(c.body, "immediately"));
        HP_ASSIGN_OR_RETURN(s, b.subscriptions->Cancel(c.org->id, s.id, now.value_or(false), ActorOf(c)));
        return Response::Json(200, SubscriptionJson(s));
      });

  // --- invoices ------------------------------------------------------------------------------
  reg({.method = "GET", .pattern = base + "/invoices", .summary = "Invoices and credit notes, oldest first (cursor pagination).", .permission = "billing.read"},
      [&b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(Page page, ParsePage(c.http));
        HP_ASSIGN_OR_RETURN(auto list, b.invoices->List(c.org->id));
        // Invoices are append-only, so a position is a stable cursor.
        Json items = Json::array();
        size_t count = 0;
        for (size_t i = static_cast<size_t>(std::max<int64_t>(page.after, 0)); i < list.size() && count < static_cast<size_t>(page.limit); ++i, ++count)
          items.push_back(InvoiceJson(list[i]));
        return PageResponse(c.http, items, count, page.limit, page.after + static_cast<int64_t>(count));
      });
  reg({.method = "GET", .pattern = base + "/invoices.csv", .summary = "All invoices and credit notes as CSV (one row per line).", .permission = "billing.read",
       .response_type = "text/csv"},
      [&b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto list, b.invoices->List(c.org->id));
        Response r(200, "text/csv; charset=utf-8", billing::InvoicesToCsv(list));
        r.SetHeader("Content-Disposition", "attachment; filename=\"invoices.csv\"");
        return r;
      });
  reg({.method = "GET", .pattern = base + "/invoices/{invoice}", .summary = "One invoice or credit note (JSON; append .html for the printable qualified invoice).",
       .permission = "billing.read"},
      [&b](ApiContext& c) { return InvoiceResponse(b, c); });
  // Documents the printable form. Requests reach the {invoice} route above, which strips ".html"
  // (core's router matches whole path segments only).
  reg({.method = "GET", .pattern = base + "/invoices/{invoice}.html", .summary = "The printable qualified invoice (HTML) with issuer registration number and tax per rate.",
       .permission = "billing.read", .response_type = "text/html"},
      [&b](ApiContext& c) { return InvoiceResponse(b, c); });
  reg({.method = "GET", .pattern = base + "/invoices/{invoice}.pdf",
       .summary = "The qualified invoice or credit note as PDF (issuer and registration number, lines, subtotal and tax per rate, totals; Japanese text). Also ?format=pdf.",
       .permission = "billing.read", .response_type = "application/pdf"},
      [&b](ApiContext& c) { return InvoiceResponse(b, c); });
  // Paying must work while the organization is suspended for non-payment.
  auto reg_payable = [&](core::http::RouteInfo info, ApiHandler h) {
    info.tag = "billing";
    api.Register(router, std::move(info), std::move(h), /*cpu_heavy=*/false, /*allowed_while_suspended=*/true);
  };
  reg_payable({.method = "POST", .pattern = base + "/invoices/{invoice}/payments",
       .summary = "Pay the open amount by card (card_token from the gateway's card form). 202 with the operation; the invoice turns paid when the capture is confirmed.",
       .permission = "billing.manage", .request_schema = {{"type", "object"}, {"required", {"card_token"}}}},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(billing::Invoice inv, b.invoices->Get(c.org->id, c.http.Param("invoice")));
        if (inv.kind != billing::InvoiceKind::kInvoice || inv.status != billing::InvoiceStatus::kIssued)
          return core::FailField(ErrorCode::kConflict, "invoice", "invoice " + inv.number + " is not open");
        HP_ASSIGN_OR_RETURN(std::string token, core::GetString(c.body, "card_token"));
        if (token.empty() || token.size() > 255) return core::FailField(ErrorCode::kInvalidArgument, "card_token", "must be 1 to 255 characters");
        if (!b.card_payments) return core::Fail(ErrorCode::kUnavailable, "card payments are not available; pay by bank transfer");
        const auto actor = ActorOf(c);
        core::EnqueueOptions o;
        o.organization_id = c.org->id;
        o.max_attempts = 5;
        HP_ASSIGN_OR_RETURN(core::Job job, b.jobs->Enqueue(kCardPaymentJob,
                                                           Json{{"organization_id", c.org->id}, {"invoice_id", inv.id}, {"card_token", token},
                                                                {"actor_type", actor.type}, {"actor_id", actor.id},
                                                                {"source_ip", actor.source_ip}, {"request_id", actor.request_id}},
                                                           o));
        b.workers->Notify();
        auto ev = c.Event("billing.payment.start", "invoice:" + inv.id);
        ev.detail = {{"operation", job.id}, {"amount", (inv.totals.total.yen() - inv.amount_paid.yen())}};
        api.AuditAlone(ev);
        const std::string url = "/api/v1/organizations/" + c.org->id + "/operations/" + job.id;
        Response r = Response::Json(202, {{"operation", {{"id", job.id}, {"url", url}}}, {"invoice_id", inv.id}, {"state", "processing"}});
        r.SetHeader("Location", url);
        return r;
      });

  // --- payments and usage --------------------------------------------------------------------
  reg({.method = "GET", .pattern = base + "/payments", .summary = "Payments received (card, bank transfer) and refunds.", .permission = "billing.read"},
      [&b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto list, b.payments->List(c.org->id));
        Json items = Json::array();
        for (const auto& p : list) items.push_back(PaymentJson(p));
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  reg({.method = "GET", .pattern = base + "/balance",
       .summary = "Account balance from the ledger: receivable (owed, or credit when negative), open invoices, uninvoiced charges and credits, available account credit, and the receivable's postings with running balances.",
       .permission = "billing.read"},
      [&b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto entries, b.ledger->Entries(c.org->id, billing::accounts::kReceivable));
        HP_ASSIGN_OR_RETURN(auto pending, b.subscriptions->PendingCharges(c.org->id));
        HP_ASSIGN_OR_RETURN(auto invoices, b.invoices->List(c.org->id));
        int64_t receivable = entries.empty() ? 0 : entries.back().balance.yen();
        int64_t pending_charges = 0, pending_credits = 0, open = 0;
        for (const auto& p : pending) {
          const int64_t amount = p.line.unit_price.yen() * p.line.quantity;
          (amount >= 0 ? pending_charges : pending_credits) += amount;
        }
        Json open_items = Json::array();
        for (const auto& i : invoices)
          if (i.kind == billing::InvoiceKind::kInvoice && i.status == billing::InvoiceStatus::kIssued) {
            const int64_t left = i.totals.total.yen() - i.amount_paid.yen();
            open += left;
            open_items.push_back({{"id", i.id}, {"number", i.number}, {"due_date", billing::FormatDate(i.due_date)}, {"open", left}});
          }
        Json postings = Json::array();
        for (const auto& e : entries)
          postings.push_back({{"kind", e.kind}, {"reference", e.reference}, {"amount", e.amount.yen()}, {"balance", e.balance.yen()},
                              {"at", core::FormatRfc3339(e.at)}, {"ledger_txn_id", e.txn_id}});
        // Credit the customer has with us: a negative receivable (overpaid, credited after
        // payment) and uninvoiced credits (prorated downgrades) beyond the uninvoiced charges.
        const int64_t credit = std::max<int64_t>(0, -receivable) + std::max<int64_t>(0, -(pending_charges + pending_credits));
        return Response::Json(200, {{"currency", "JPY"},
                                    {"receivable", receivable},
                                    {"open_invoices", open},
                                    {"open_invoice_items", open_items},
                                    {"uninvoiced_charges", pending_charges},
                                    {"uninvoiced_credits", pending_credits},
                                    {"account_credit", credit},
                                    {"postings", postings},
                                    {"explanation", "receivable = sum of the postings below (invoices +, credit notes -, payments -, refunds +); "
                                                    "uninvoiced amounts (tax-exclusive) are billed or credited by the next billing run"}});
      });
  reg({.method = "POST", .pattern = base + "/referral",
       .summary = "Redeem an agency's referral code (code), once per organization and within 30 days of sign-up: the agency earns its commission on this organization's invoices paid from now on.",
       .permission = "billing.manage",
       .request_schema = {{"type", "object"}, {"required", {"code"}}}},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(std::string code, core::GetString(c.body, "code"));
        HP_TRY(EnsureBillingAccount(api, b, c.org->id));
        HP_ASSIGN_OR_RETURN(std::string partner, b.commissions->RedeemReferralCode(c.org->id, code, core::FromUnixMicros(c.org->created_at), ActorOf(c)));
        return Response::Json(201, {{"organization_id", c.org->id}, {"channel", "agency"}, {"partner", partner}});
      });
  reg({.method = "GET", .pattern = base + "/usage", .summary = "Metered usage of each subscription in its current period (VPS hours, bandwidth GB, certificates).",
       .permission = "billing.read"},
      [&b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto subs, b.subscriptions->List(c.org->id));
        Json items = Json::array();
        for (const auto& s : subs) {
          if (s.state != billing::SubscriptionState::kActive && s.state != billing::SubscriptionState::kSuspended) continue;
          for (const char* metric : {billing::kMetricVpsHours, billing::kMetricBandwidthGb, billing::kMetricCertificates}) {
            HP_ASSIGN_OR_RETURN(int64_t q, b.usage->Total(c.org->id, s.id, metric, billing::StartOfDay(s.current.start), billing::StartOfDay(s.current.end)));
            if (q == 0) continue;
            items.push_back({{"subscription_id", s.id}, {"product", s.product_code}, {"metric", metric}, {"quantity", q}, {"period", Span(s.current)}});
          }
        }
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
}

void RegisterBillingAdminRoutes(Api& api, core::http::Router& router, BillingServices& b) {
  const std::string base = "/api/v1/admin/billing";
  auto reg = [&](core::http::RouteInfo info, ApiHandler h) {
    info.tag = "admin";
    info.permission = kStaff;
    api.Register(router, std::move(info), std::move(h));
  };

  reg({.method = "GET", .pattern = base + "/products", .summary = "The catalog with today's list prices."},
      [&api, &b](ApiContext&) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto products, b.catalog->ListProducts());
        Json items = Json::array();
        for (const auto& p : products) {
          Json j = ProductJson(p);
          j["prices"] = Json::array();
          for (auto period : {billing::BillingPeriod::kMonthly, billing::BillingPeriod::kYearly})
            if (auto price = b.catalog->ListPriceAt(p.code, period, Today(api)))
              j["prices"].push_back({{"period", billing::BillingPeriodName(period)}, {"price", price->price.yen()},
                                     {"setup_fee", price->setup_fee.yen()}, {"effective_from", billing::FormatDate(price->effective_from)}});
          items.push_back(j);
        }
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  reg({.method = "POST", .pattern = base + "/products",
       .summary = "Add a product (code, kind, name, tax_rate: 10|8, usage_metric for usage products).",
       .request_schema = {{"type", "object"}, {"required", {"code", "kind", "name"}}}},
      [&b](ApiContext& c) -> core::Result<Response> {
        billing::Product p;
        HP_ASSIGN_OR_RETURN(p.code, core::GetString(c.body, "code"));
        HP_ASSIGN_OR_RETURN(std::string kind, core::GetString(c.body, "kind"));
        HP_ASSIGN_OR_RETURN(p.kind, billing::ParseProductKind(kind));
        HP_ASSIGN_OR_RETURN(p.name, core::GetString(c.body, "name"));
        HP_ASSIGN_OR_RETURN(auto rate, core::GetOptionalInt(c.body, "tax_rate"));
        HP_ASSIGN_OR_RETURN(p.tax_rate, billing::TaxRateFromPercent(rate.value_or(10)));
        HP_ASSIGN_OR_RETURN(auto metric, core::GetOptionalString(c.body, "usage_metric"));
        p.usage_metric = metric.value_or("");
        HP_TRY(b.catalog->AddProduct(p, ActorOf(c)));
        return Response::Json(201, ProductJson(p));
      });
  reg({.method = "POST", .pattern = base + "/products/{product}/prices",
       .summary = "A new list price version (period, price, setup_fee, effective_from: today or later).",
       .request_schema = {{"type", "object"}, {"required", {"price"}}}},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(billing::Product product, b.catalog->GetProduct(c.http.Param("product")));
        billing::Price p;
        p.product_code = product.code;
        HP_ASSIGN_OR_RETURN(p.period, PeriodOf(c.body, billing::BillingPeriod::kMonthly));
        HP_ASSIGN_OR_RETURN(p.price, YenOf(c.body, "price"));
        HP_ASSIGN_OR_RETURN(p.setup_fee, YenOf(c.body, "setup_fee", 0));
        HP_ASSIGN_OR_RETURN(p.effective_from, DateOf(c.body, "effective_from", Today(api)));
        HP_TRY(b.catalog->SetListPrice(p, ActorOf(c)));
        return Response::Json(201, {{"product", p.product_code}, {"period", billing::BillingPeriodName(p.period)}, {"price", p.price.yen()},
                                    {"setup_fee", p.setup_fee.yen()}, {"effective_from", billing::FormatDate(p.effective_from)}});
      });
  reg({.method = "PUT", .pattern = base + "/partners/{partner}",
       .summary = "Billing terms of a partner: commission_bp (agencies), issuer {name, registration_number, address}, invoice_prefix and billing_organization_id (resellers, OEM).",
       .request_schema = {{"type", "object"}}},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(store::Partner tp, api.db().Read([&](SQLite::Database& tx) { return store::GetPartner(tx, c.http.Param("partner")); }));
        billing::Partner p;
        p.partner_id = tp.id;
        HP_ASSIGN_OR_RETURN(p.channel, billing::ParseChannel(tp.channel));
        if (p.channel == billing::Channel::kDirect) return core::FailField(ErrorCode::kInvalidArgument, "partner", "the direct channel has no partner terms");
        HP_ASSIGN_OR_RETURN(auto bp, core::GetOptionalInt(c.body, "commission_bp"));
        p.commission_bp = bp.value_or(0);
        if (c.body.contains("issuer")) {
          const Json& is = c.body["issuer"];
          if (!is.is_object()) return core::FailField(ErrorCode::kInvalidArgument, "issuer", "must be an object");
          HP_ASSIGN_OR_RETURN(p.issuer.name, core::GetString(is, "name"));
          HP_ASSIGN_OR_RETURN(p.issuer.registration_number, core::GetString(is, "registration_number"));
          HP_ASSIGN_OR_RETURN(p.issuer.address, core::GetString(is, "address"));
        }
        HP_ASSIGN_OR_RETURN(auto prefix, core::GetOptionalString(c.body, "invoice_prefix"));
        p.invoice_prefix = prefix.value_or("");
        HP_ASSIGN_OR_RETURN(auto bill_org, core::GetOptionalString(c.body, "billing_organization_id"));
        p.billing_organization_id = bill_org.value_or("");
        // The billing run invoices the wholesale to this organization: it must exist and have a
        // billing account.
        if (!p.billing_organization_id.empty()) {
          auto acc = EnsureBillingAccount(api, b, p.billing_organization_id);
          if (!acc) return core::FailField(acc.error().code, "billing_organization_id", acc.error().detail);
        }
        HP_TRY(b.prices->UpsertPartner(p, ActorOf(c)));
        return Response::Json(200, {{"partner", p.partner_id}, {"channel", billing::ChannelName(p.channel)}, {"commission_bp", p.commission_bp},
                                    {"invoice_prefix", p.invoice_prefix}, {"billing_organization_id", p.billing_organization_id},
                                    {"issuer", {{"name", p.issuer.name}, {"registration_number", p.issuer.registration_number}, {"address", p.issuer.address}}}});
      });
  auto partner_price = [&b, &api](ApiContext& c, const std::string& partner_id, billing::PartnerPriceKind kind) -> core::Result<Response> {
    billing::Price p;
    HP_ASSIGN_OR_RETURN(p.product_code, core::GetString(c.body, "product"));
    HP_ASSIGN_OR_RETURN(p.period, PeriodOf(c.body, billing::BillingPeriod::kMonthly));
    HP_ASSIGN_OR_RETURN(p.price, YenOf(c.body, "price"));
    HP_ASSIGN_OR_RETURN(p.setup_fee, YenOf(c.body, "setup_fee", 0));
    HP_ASSIGN_OR_RETURN(p.effective_from, DateOf(c.body, "effective_from", Today(api)));
    HP_TRY(b.prices->SetPartnerPrice(partner_id, kind, p, ActorOf(c)));
    return Response::Json(201, {{"partner", partner_id}, {"kind", kind == billing::PartnerPriceKind::kSell ? "sell" : "wholesale"},
                                {"product", p.product_code}, {"period", billing::BillingPeriodName(p.period)}, {"price", p.price.yen()},
                                {"setup_fee", p.setup_fee.yen()}, {"effective_from", billing::FormatDate(p.effective_from)}});
  };
  reg({.method = "POST", .pattern = base + "/partners/{partner}/prices",
       .summary = "A partner price version (kind: wholesale override | sell price to its customers; product, period, price, setup_fee, effective_from).",
       .request_schema = {{"type", "object"}, {"required", {"kind", "product", "price"}}}},
      [&b, partner_price](ApiContext& c) -> core::Result<Response> {
        HP_TRY(b.prices->GetPartner(c.http.Param("partner")));
        HP_ASSIGN_OR_RETURN(std::string kind, core::GetString(c.body, "kind"));
        if (kind != "wholesale" && kind != "sell") return core::FailField(ErrorCode::kInvalidArgument, "kind", "must be wholesale or sell");
        return partner_price(c, c.http.Param("partner"), kind == "sell" ? billing::PartnerPriceKind::kSell : billing::PartnerPriceKind::kWholesale);
      });
  reg({.method = "POST", .pattern = base + "/wholesale-prices",
       .summary = "A version of the default wholesale price list (product, period, price, setup_fee, effective_from).",
       .request_schema = {{"type", "object"}, {"required", {"product", "price"}}}},
      [partner_price](ApiContext& c) { return partner_price(c, "", billing::PartnerPriceKind::kWholesale); });

  reg({.method = "GET", .pattern = base + "/organizations/{id}/invoices", .summary = "Invoices of one organization."},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(store::Organization o, StaffOrg(api, c));
        HP_ASSIGN_OR_RETURN(auto list, b.invoices->List(o.id));
        Json items = Json::array();
        for (const auto& i : list) items.push_back(InvoiceJson(i));
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  reg({.method = "POST", .pattern = base + "/organizations/{id}/invoices/{invoice}/bank-transfers",
       .summary = "Record money received by bank transfer (amount, reference); the invoice is paid once fully covered.",
       .request_schema = {{"type", "object"}, {"required", {"amount", "reference"}}}},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(store::Organization o, StaffOrg(api, c));
        HP_ASSIGN_OR_RETURN(core::Money amount, YenOf(c.body, "amount"));
        HP_ASSIGN_OR_RETURN(std::string reference, core::GetString(c.body, "reference"));
        HP_ASSIGN_OR_RETURN(billing::Payment p, b.payments->MarkBankTransferPaid(o.id, c.http.Param("invoice"), amount, reference, ActorOf(c)));
        HP_ASSIGN_OR_RETURN(billing::Invoice inv, b.invoices->Get(o.id, p.invoice_id));
        return Response::Json(201, {{"payment", PaymentJson(p)}, {"invoice", InvoiceJson(inv)}});
      });
  reg({.method = "POST", .pattern = base + "/organizations/{id}/invoices/{invoice}/credit-notes",
       .summary = "Issue a credit note against an invoice (lines: [{description, quantity, unit_price, tax_rate}], reason).",
       .request_schema = {{"type", "object"}, {"required", {"lines", "reason"}}}},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(store::Organization o, StaffOrg(api, c));
        HP_TRY(b.invoices->Get(o.id, c.http.Param("invoice")));
        HP_ASSIGN_OR_RETURN(std::string reason, core::GetString(c.body, "reason"));
        HP_ASSIGN_OR_RETURN(auto lines, LinesOf(c.body, /*required=*/true));
        HP_ASSIGN_OR_RETURN(billing::Invoice note, b.invoices->IssueCreditNote(o.id, c.http.Param("invoice"), lines, reason, ActorOf(c)));
        return Response::Json(201, InvoiceJson(note));
      });

  reg({.method = "PUT", .pattern = base + "/organizations/{id}/referral",
       .summary = "Record which agency referred a direct customer (partner: agency id, or null to clear); the agency earns its commission_bp on the customer's invoices paid from now on.",
       .request_schema = {{"type", "object"}, {"required", {"partner"}}}},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(store::Organization o, StaffOrg(api, c));
        HP_ASSIGN_OR_RETURN(billing::Account acc, EnsureBillingAccount(api, b, o.id));
        if (acc.channel == billing::Channel::kReseller || acc.channel == billing::Channel::kOem)
          return core::FailField(ErrorCode::kConflict, "partner", "a reseller's or OEM's customer is not referred by an agency");
        if (!c.body.contains("partner")) return core::FailField(ErrorCode::kInvalidArgument, "partner", "is required (an agency id, or null)");
        if (c.body["partner"].is_null()) {
          acc.channel = billing::Channel::kDirect;
          acc.partner_id.clear();
        } else {
          HP_ASSIGN_OR_RETURN(std::string pid, core::GetString(c.body, "partner"));
          auto p = b.prices->GetPartner(pid);
          if (!p) return core::FailField(p.error().code, "partner", p.error().code == ErrorCode::kNotFound ? "no billing terms for this partner (PUT partners/{partner} first)" : p.error().detail);
          if (p->channel != billing::Channel::kAgency) return core::FailField(ErrorCode::kInvalidArgument, "partner", "must be an agency");
          acc.channel = billing::Channel::kAgency;
          acc.partner_id = pid;
        }
        HP_TRY(b.prices->UpsertAccount(acc, ActorOf(c)));
        return Response::Json(200, {{"organization_id", acc.organization_id}, {"channel", billing::ChannelName(acc.channel)},
                                    {"partner", acc.partner_id.empty() ? Json(nullptr) : Json(acc.partner_id)}});
      });
  reg({.method = "POST", .pattern = base + "/organizations/{id}/invoices/{invoice}/refunds",
       .summary = "Refund a paid invoice (reason; lines to refund, default every line): issues the credit note (own gapless series, tax per rate), pays its total back (card: through the gateway; bank transfer: recorded as paid back) and reverses an agency's commission share.",
       .request_schema = {{"type", "object"}, {"required", {"reason"}}}},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(store::Organization o, StaffOrg(api, c));
        HP_ASSIGN_OR_RETURN(std::string reason, core::GetString(c.body, "reason"));
        HP_ASSIGN_OR_RETURN(auto lines, LinesOf(c.body, /*required=*/false));
        HP_ASSIGN_OR_RETURN(auto r, b.payments->RefundInvoice(o.id, c.http.Param("invoice"), lines, reason, ActorOf(c)));
        Response resp = Response::Json(201, {{"refund", {{"id", r.first.id}, {"invoice_id", r.first.invoice_id}, {"payment_id", r.first.payment_id},
                                                         {"amount", r.first.amount.yen()}, {"currency", "JPY"}, {"reason", r.first.reason}}},
                                             {"credit_note", InvoiceJson(r.second)}});
        resp.SetHeader("Location", "/api/v1/admin/billing/organizations/" + o.id + "/invoices");
        return resp;
      });
  reg({.method = "POST", .pattern = base + "/organizations/{id}/usage",
       .summary = "Report metered usage (subscription, metric: vps_hours|bandwidth_gb|certificates, quantity, occurred_at RFC 3339, default now). Idempotent by the Idempotency-Key header or idempotency_key: a retried report is recorded once (200 duplicate), the same key with other content is 409. Rated by the billing run at period end.",
       .request_schema = {{"type", "object"}, {"required", {"subscription", "metric", "quantity"}}}},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(store::Organization o, StaffOrg(api, c));
        billing::UsageRecord rec;
        rec.organization_id = o.id;
        HP_ASSIGN_OR_RETURN(rec.subscription_id, core::GetString(c.body, "subscription"));
        HP_TRY(b.subscriptions->Get(o.id, rec.subscription_id));
        HP_ASSIGN_OR_RETURN(rec.metric, core::GetString(c.body, "metric"));
        HP_ASSIGN_OR_RETURN(rec.quantity, core::GetInt(c.body, "quantity"));
        HP_ASSIGN_OR_RETURN(auto at, core::GetOptionalString(c.body, "occurred_at"));
        rec.occurred_at = api.clock().Now();
        if (at) {
          auto t = core::ParseRfc3339(*at);
          if (!t) return core::FailField(ErrorCode::kInvalidArgument, "occurred_at", "must be an RFC 3339 time");
          rec.occurred_at = *t;
        }
        HP_ASSIGN_OR_RETURN(auto key, core::GetOptionalString(c.body, "idempotency_key"));
        rec.idempotency_key = key.value_or(c.http.Header("idempotency-key"));
        if (rec.idempotency_key.empty())
          return core::FailField(ErrorCode::kInvalidArgument, "idempotency_key", "required (body or Idempotency-Key header): retried reports must not be billed twice");
        HP_ASSIGN_OR_RETURN(billing::UsageReceipt r, b.usage->Record(rec, ActorOf(c)));
        return Response::Json(r.duplicate ? 200 : 201, {{"id", r.id}, {"duplicate", r.duplicate}, {"subscription", rec.subscription_id},
                                                         {"metric", rec.metric}, {"quantity", rec.quantity}, {"occurred_at", core::FormatRfc3339(rec.occurred_at)}});
      });
  reg({.method = "GET", .pattern = base + "/partners/{partner}/commission-statement",
       .summary = "Monthly commission statement of an agency (?month=YYYY-MM, default this month; ?format=csv): one line per commission or reversal (customer, invoice, base, rate, amount, ledger transaction) and totals that match the ledger.",
       .response_type = "application/json"},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        const Date today = Today(api);
        int year = static_cast<int>(today.year());
        unsigned month = static_cast<unsigned>(today.month());
        if (auto m = c.http.QueryParam("month")) {
          auto d = billing::ParseDate(*m + "-01", "month");
          if (m->size() != 7 || !d) return core::FailField(ErrorCode::kInvalidArgument, "month", "must be YYYY-MM");
          year = static_cast<int>(d->year());
          month = static_cast<unsigned>(d->month());
        }
        HP_ASSIGN_OR_RETURN(billing::CommissionStatement st, b.commissions->Statement(c.http.Param("partner"), year, month));
        if (auto f = c.http.QueryParam("format"); f && *f == "csv") {
          Response r(200, "text/csv; charset=utf-8", billing::CommissionStatementToCsv(st));
          r.SetHeader("Content-Disposition", "attachment; filename=\"commission-" + st.partner_id + ".csv\"");
          return r;
        }
        return Response::Json(200, billing::CommissionStatementToJson(st));
      });

  reg({.method = "POST", .pattern = base + "/partners/{partner}/referral-codes",
       .summary = "Create a referral code for an agency; a customer redeems it once within 30 days of sign-up (POST /api/v1/organizations/{org}/referral) and is attributed to the agency.",
       .request_schema = {{"type", "object"}}},
      [&b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(billing::ReferralCode rc, b.commissions->CreateReferralCode(c.http.Param("partner"), ActorOf(c)));
        return Response::Json(201, {{"code", rc.code}, {"partner", rc.partner_id}, {"created_at", core::FormatRfc3339(rc.created_at)}, {"redemptions", 0}});
      });
  reg({.method = "GET", .pattern = base + "/partners/{partner}/referral-codes", .summary = "Referral codes of an agency with their redemption counts."},
      [&b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto list, b.commissions->ReferralCodes(c.http.Param("partner")));
        Json items = Json::array();
        for (const auto& rc : list)
          items.push_back({{"code", rc.code}, {"partner", rc.partner_id}, {"created_at", core::FormatRfc3339(rc.created_at)}, {"redemptions", rc.redemptions}});
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });
  reg({.method = "POST", .pattern = base + "/partners/{partner}/commission-payouts",
       .summary = "Pay out an agency's net commission of a closed month (month YYYY-MM, reference of the bank transfer): commission_payable -> cash in the ledger, once per agency and month (201 new, 200 the existing payout); the month's statement then shows it paid.",
       .request_schema = {{"type", "object"}, {"required", {"month", "reference"}}}},
      [&b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(std::string m, core::GetString(c.body, "month"));
        auto d = billing::ParseDate(m + "-01", "month");
        if (m.size() != 7 || !d) return core::FailField(ErrorCode::kInvalidArgument, "month", "must be YYYY-MM");
        HP_ASSIGN_OR_RETURN(std::string reference, core::GetString(c.body, "reference"));
        HP_ASSIGN_OR_RETURN(auto r, b.commissions->PayOut(c.http.Param("partner"), static_cast<int>(d->year()), static_cast<unsigned>(d->month()), reference, ActorOf(c)));
        return Response::Json(r.second ? 201 : 200, PayoutJson(r.first));
      });
  reg({.method = "GET", .pattern = base + "/partners/{partner}/commission-payouts", .summary = "Commission payouts of an agency, by month."},
      [&b](ApiContext& c) -> core::Result<Response> {
        HP_ASSIGN_OR_RETURN(auto list, b.commissions->Payouts(c.http.Param("partner")));
        Json items = Json::array();
        for (const auto& p : list) items.push_back(PayoutJson(p));
        return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
      });

  reg({.method = "POST", .pattern = base + "/runs",
       .summary = "Run billing for a day (date, default today): renewals, usage rating, one invoice per organization. 202 with the run; GET it for the outcome.",
       .request_schema = {{"type", "object"}}},
      [&api, &b](ApiContext& c) -> core::Result<Response> {
        const Date today = Today(api);
        HP_ASSIGN_OR_RETURN(Date day, DateOf(c.body, "date", today));
        if (billing::DaysBetween(today, day) > 0) return core::FailField(ErrorCode::kInvalidArgument, "date", "cannot bill a day in the future");
        const auto actor = ActorOf(c);
        HP_ASSIGN_OR_RETURN(core::Job job, b.jobs->Enqueue(billing::kBillingRunJob,
                                                           Json{{"date", billing::FormatDate(day)}, {"actor_type", actor.type}, {"actor_id", actor.id},
                                                                {"source_ip", actor.source_ip}, {"request_id", actor.request_id}},
                                                           {.max_attempts = 3}));
        b.workers->Notify();
        auto ev = c.Event("billing.run.start", "job:" + job.id);
        ev.detail = {{"date", billing::FormatDate(day)}};
        api.AuditAlone(ev);
        Response r = Response::Json(202, {{"id", job.id}, {"date", billing::FormatDate(day)}, {"state", "queued"}});
        r.SetHeader("Location", "/api/v1/admin/billing/runs/" + job.id);
        return r;
      });
  reg({.method = "GET", .pattern = base + "/runs/{run}", .summary = "State and outcome of a billing run (renewed, invoices, invoiced_total)."},
      [&b](ApiContext& c) -> core::Result<Response> {
        auto job = b.jobs->Get(c.http.Param("run"));
        if (!job || job->kind != billing::kBillingRunJob) return core::Fail(ErrorCode::kNotFound, "billing run " + c.http.Param("run") + " not found");
        Json j = {{"id", job->id}, {"state", core::JobStateName(job->state)}, {"date", job->payload.value("date", "")},
                  {"attempts", job->attempts}, {"result", job->result}};
        if (!job->last_error.empty()) j["error"] = job->last_error;
        return Response::Json(200, j);
      });
}

}  // namespace hp::cp
