#include "hp/billing/subscription.h"

#include "charges.h"
#include "util.h"

namespace hp::billing {

using core::ErrorCode;
using core::FailField;
using core::Money;
using core::Result;
using core::Status;

std::string_view SubscriptionStateName(SubscriptionState s) {
  switch (s) {
    case SubscriptionState::kPending: return "pending";
    case SubscriptionState::kActive: return "active";
    case SubscriptionState::kSuspended: return "suspended";
    case SubscriptionState::kCancelled: return "cancelled";
  }
  return "pending";
}

namespace {

SubscriptionState ParseState(const std::string& s) {
  if (s == "active") return SubscriptionState::kActive;
  if (s == "suspended") return SubscriptionState::kSuspended;
  if (s == "cancelled") return SubscriptionState::kCancelled;
  return SubscriptionState::kPending;
}

constexpr const char* kCols =
    "public_id, organization_id, product_code, period, state, anchor_date, period_start, "
    "period_end, period_price, cancel_at_period_end, channel, partner_id";

Result<Subscription> ReadSub(SQLite::Statement& q) {
  Subscription s;
  s.id = q.getColumn(0).getString();
  s.organization_id = q.getColumn(1).getString();
  s.product_code = q.getColumn(2).getString();
  HP_ASSIGN_OR_RETURN(s.period, ParseBillingPeriod(q.getColumn(3).getString()));
  s.state = ParseState(q.getColumn(4).getString());
  if (s.state != SubscriptionState::kPending) {
    HP_ASSIGN_OR_RETURN(s.anchor, ParseDate(q.getColumn(5).getString()));
    HP_ASSIGN_OR_RETURN(s.current.start, ParseDate(q.getColumn(6).getString()));
    HP_ASSIGN_OR_RETURN(s.current.end, ParseDate(q.getColumn(7).getString()));
  }
  s.period_price = Money::Yen(q.getColumn(8).getInt64());
  s.cancel_at_period_end = q.getColumn(9).getInt() != 0;
  s.channel = q.getColumn(10).getString();
  s.partner_id = q.getColumn(11).getString();
  return s;
}

Result<Subscription> Load(SQLite::Database& db, const std::string& org, const std::string& id) {
  SQLite::Statement q(db, std::string("SELECT ") + kCols +
                              " FROM billing_subscriptions WHERE organization_id = ? AND "
                              "public_id = ?");
  q.bind(1, org);
  q.bind(2, id);
  if (!q.executeStep())
    return FailField(ErrorCode::kNotFound, "subscription_id", "no such subscription");
  return ReadSub(q);
}

void Save(SQLite::Database& db, const Subscription& s, int64_t now) {
  SQLite::Statement q(db,
                      "UPDATE billing_subscriptions SET product_code = ?, period = ?, state = ?, "
                      "anchor_date = ?, period_start = ?, period_end = ?, period_price = ?, "
                      "cancel_at_period_end = ?, updated_at = ? WHERE public_id = ? AND "
                      "organization_id = ?");
  q.bind(1, s.product_code);
  q.bind(2, std::string(BillingPeriodName(s.period)));
  q.bind(3, std::string(SubscriptionStateName(s.state)));
  q.bind(4, FormatDate(s.anchor));
  q.bind(5, FormatDate(s.current.start));
  q.bind(6, FormatDate(s.current.end));
  q.bind(7, s.period_price.yen());
  q.bind(8, s.cancel_at_period_end ? 1 : 0);
  q.bind(9, now);
  q.bind(10, s.id);
  q.bind(11, s.organization_id);
  q.exec();
}

std::string PeriodText(PeriodSpan p) {
  return FormatDate(p.start) + " – " + FormatDate(AddDays(p.end, -1));
}

}  // namespace

Result<Subscription> Subscriptions::Order(const OrderRequest& r, const Actor& actor) {
  if (r.organization_id.empty())
    return FailField(ErrorCode::kInvalidArgument, "organization_id", "empty organization id");
  const Date today = ToDate(deps_.clock->Now());
  HP_ASSIGN_OR_RETURN(Account account, prices_.GetAccount(r.organization_id));
  HP_ASSIGN_OR_RETURN(Product product, catalog_.GetProduct(r.product_code));
  if (product.kind == ProductKind::kUsage)
    return FailField(ErrorCode::kInvalidArgument, "product_code", "usage products are metered");
  HP_TRY(prices_.PriceFor(r.organization_id, r.product_code, r.period, today));
  return deps_.db->Write([&](SQLite::Database& db) -> Result<Subscription> {
    if (!r.idempotency_key.empty()) {
      SQLite::Statement e(db, std::string("SELECT ") + kCols +
                                  " FROM billing_subscriptions WHERE organization_id = ? AND "
                                  "idempotency_key = ?");
      e.bind(1, r.organization_id);
      e.bind(2, r.idempotency_key);
      if (e.executeStep()) return ReadSub(e);
    }
    Subscription s;
    s.id = deps_.ids->NewId();
    s.organization_id = r.organization_id;
    s.product_code = r.product_code;
    s.period = r.period;
    s.channel = std::string(ChannelName(account.channel));
    s.partner_id = account.partner_id;
    const int64_t now = internal::NowMicros(deps_);
    SQLite::Statement q(db,
                        "INSERT INTO billing_subscriptions (public_id, organization_id, "
                        "product_code, period, state, channel, partner_id, idempotency_key, "
                        "created_at, updated_at) VALUES (?,?,?,?,'pending',?,?,?,?,?)");
    q.bind(1, s.id);
    q.bind(2, s.organization_id);
    q.bind(3, s.product_code);
    q.bind(4, std::string(BillingPeriodName(s.period)));
    q.bind(5, s.channel);
    q.bind(6, s.partner_id);
    q.bind(7, r.idempotency_key);
    q.bind(8, now);
    q.bind(9, now);
    q.exec();
    HP_TRY(internal::Audit(deps_, db, actor, s.organization_id, "billing.subscription.order",
                           "subscription:" + s.id,
                           {{"product", s.product_code}, {"period", BillingPeriodName(s.period)}},
                           s.partner_id));
    return s;
  });
}

Result<Subscription> Subscriptions::Accept(const std::string& org, const std::string& id,
                                           const Actor& actor) {
  const Date today = ToDate(deps_.clock->Now());
  HP_ASSIGN_OR_RETURN(Subscription pre, Get(org, id));
  HP_ASSIGN_OR_RETURN(CustomerPrice price,
                      prices_.PriceFor(org, pre.product_code, pre.period, today));
  HP_ASSIGN_OR_RETURN(Product product, catalog_.GetProduct(pre.product_code));
  std::string wholesale_org;
  if (price.wholesale_price) {
    HP_ASSIGN_OR_RETURN(Partner p, prices_.GetPartner(price.partner_id));
    wholesale_org = p.billing_organization_id;
  }
  return deps_.db->Write([&](SQLite::Database& db) -> Result<Subscription> {
    HP_ASSIGN_OR_RETURN(Subscription s, Load(db, org, id));
    if (s.state != SubscriptionState::kPending)
      return FailField(ErrorCode::kConflict, "state",
                       "subscription is " + std::string(SubscriptionStateName(s.state)));
    s.state = SubscriptionState::kActive;
    s.anchor = today;
    s.current = {today, AddPeriods(today, s.period, 1)};
    s.period_price = price.price;
    Save(db, s, internal::NowMicros(deps_));
    const std::string text = product.name + " (" + std::string(BillingPeriodName(s.period)) +
                             ") " + PeriodText(s.current);
    internal::AddCharge(deps_, db, org, s.id, "recurring", {text, 1, price.price, price.tax_rate},
                        s.current.start, s.current.end);
    if (price.setup_fee.yen() > 0)
      internal::AddCharge(deps_, db, org, s.id, "setup",
                          {product.name + " setup fee", 1, price.setup_fee, price.tax_rate},
                          today, AddDays(today, 1));
    if (!wholesale_org.empty()) {
      internal::AddCharge(deps_, db, wholesale_org, s.id, "wholesale",
                          {"Wholesale " + text + " for " + org, 1, *price.wholesale_price,
                           price.tax_rate},
                          s.current.start, s.current.end);
      if (price.wholesale_setup_fee->yen() > 0)
        internal::AddCharge(deps_, db, wholesale_org, s.id, "wholesale",
                            {"Wholesale " + product.name + " setup fee for " + org, 1,
                             *price.wholesale_setup_fee, price.tax_rate},
                            today, AddDays(today, 1));
    }
    HP_TRY(internal::Audit(deps_, db, actor, org, "billing.subscription.accept",
                           "subscription:" + s.id,
                           {{"price", price.price.yen()},
                            {"setup_fee", price.setup_fee.yen()},
                            {"period_start", FormatDate(s.current.start)},
                            {"period_end", FormatDate(s.current.end)}},
                           s.partner_id));
    return s;
  });
}

Result<PlanChange> Subscriptions::ChangePlan(const std::string& org, const std::string& id,
                                             const std::string& new_code, BillingPeriod new_period,
                                             const Actor& actor) {
  const Date today = ToDate(deps_.clock->Now());
  HP_ASSIGN_OR_RETURN(Subscription pre, Get(org, id));
  HP_ASSIGN_OR_RETURN(CustomerPrice np, prices_.PriceFor(org, new_code, new_period, today));
  HP_ASSIGN_OR_RETURN(Product product, catalog_.GetProduct(new_code));
  if (product.kind == ProductKind::kUsage)
    return FailField(ErrorCode::kInvalidArgument, "product_code", "usage products are metered");
  std::optional<CustomerPrice> old_wholesale;
  std::string wholesale_org;
  if (np.wholesale_price) {
    HP_ASSIGN_OR_RETURN(Partner p, prices_.GetPartner(np.partner_id));
    wholesale_org = p.billing_organization_id;
    // The partner's old wholesale price for the period, at its start (what it was charged).
    HP_ASSIGN_OR_RETURN(old_wholesale,
                        prices_.PriceFor(org, pre.product_code, pre.period, pre.current.start));
  }
  return deps_.db->Write([&](SQLite::Database& db) -> Result<PlanChange> {
    HP_ASSIGN_OR_RETURN(Subscription s, Load(db, org, id));
    if (s.state != SubscriptionState::kActive)
      return FailField(ErrorCode::kConflict, "state", "only active subscriptions change plan");
    if (s.product_code == new_code && s.period == new_period)
      return FailField(ErrorCode::kInvalidArgument, "product_code", "that is the current plan");
    ProrationRequest req{{s.period_price, s.period}, {np.price, new_period}, s.current, today};
    HP_ASSIGN_OR_RETURN(Proration p, ProrateChange(req));
    const std::string old_code = s.product_code;
    if (p.credit.yen() > 0)
      internal::AddCharge(deps_, db, org, s.id, "proration",
                          {"Credit " + old_code + ": " + std::to_string(p.unused_days) + "/" +
                               std::to_string(p.period_days) + " days unused",
                           1, core::Money::Yen(-p.credit.yen()), np.tax_rate},
                          today, s.current.end);
    if (p.charge.yen() > 0)
      internal::AddCharge(deps_, db, org, s.id, "proration",
                          {product.name + " " + PeriodText(p.new_period) +
                               (p.kind == ChangeKind::kPeriodChange
                                    ? std::string()
                                    : " (" + std::to_string(p.unused_days) + "/" +
                                          std::to_string(p.period_days) + " days)"),
                           1, p.charge, np.tax_rate},
                          today, p.new_period.end);
    if (!wholesale_org.empty()) {
      ProrationRequest wr{{*old_wholesale->wholesale_price, s.period},
                          {*np.wholesale_price, new_period}, s.current, today};
      HP_ASSIGN_OR_RETURN(Proration w, ProrateChange(wr));
      if (w.net.yen() != 0)
        internal::AddCharge(deps_, db, wholesale_org, s.id, "wholesale",
                            {"Wholesale plan change " + old_code + " -> " + new_code + " for " +
                                 org + ": " + w.explanation,
                             1, w.net, np.tax_rate},
                            today, w.new_period.end);
    }
    if (p.kind == ChangeKind::kPeriodChange) s.anchor = p.anchor;
    s.current = p.new_period;
    s.product_code = new_code;
    s.period = new_period;
    s.period_price = np.price;
    Save(db, s, internal::NowMicros(deps_));
    HP_TRY(internal::Audit(deps_, db, actor, org, "billing.subscription.change_plan",
                           "subscription:" + s.id,
                           {{"from", old_code},
                            {"to", new_code},
                            {"kind", ChangeKindName(p.kind)},
                            {"credit", p.credit.yen()},
                            {"charge", p.charge.yen()},
                            {"explanation", p.explanation}},
                           s.partner_id));
    return PlanChange{s, p};
  });
}

Result<Subscription> Subscriptions::Cancel(const std::string& org, const std::string& id,
                                           bool immediately, const Actor& actor) {
  const Date today = ToDate(deps_.clock->Now());
  return deps_.db->Write([&](SQLite::Database& db) -> Result<Subscription> {
    HP_ASSIGN_OR_RETURN(Subscription s, Load(db, org, id));
    if (s.state == SubscriptionState::kCancelled)
      return FailField(ErrorCode::kConflict, "state", "already cancelled");
    core::Json detail{{"immediately", immediately}};
    if (s.state == SubscriptionState::kPending) {
      s.state = SubscriptionState::kCancelled;
      s.anchor = s.current.start = s.current.end = today;
    } else if (immediately) {
      HP_ASSIGN_OR_RETURN(Proration p,
                          ProrateCancellation({s.period_price, s.period}, s.current, today));
      HP_ASSIGN_OR_RETURN(Product product, catalog_.GetProduct(s.product_code));
      if (p.credit.yen() > 0)
        internal::AddCharge(deps_, db, org, s.id, "proration",
                            {"Credit " + product.name + ": " + std::to_string(p.unused_days) +
                                 "/" + std::to_string(p.period_days) + " days unused",
                             1, core::Money::Yen(-p.credit.yen()), product.tax_rate},
                            today, s.current.end);
      s.state = SubscriptionState::kCancelled;
      s.current.end = today;
      detail["credit"] = p.credit.yen();
    } else {
      s.cancel_at_period_end = true;
      detail["ends"] = FormatDate(s.current.end);
    }
    Save(db, s, internal::NowMicros(deps_));
    HP_TRY(internal::Audit(deps_, db, actor, org, "billing.subscription.cancel",
                           "subscription:" + s.id, detail, s.partner_id));
    return s;
  });
}

Result<Subscription> Subscriptions::Suspend(const std::string& org, const std::string& id,
                                            const std::string& reason, const Actor& actor) {
  return deps_.db->Write([&](SQLite::Database& db) -> Result<Subscription> {
    HP_ASSIGN_OR_RETURN(Subscription s, Load(db, org, id));
    if (s.state != SubscriptionState::kActive)
      return FailField(ErrorCode::kConflict, "state", "only active subscriptions are suspended");
    s.state = SubscriptionState::kSuspended;
    Save(db, s, internal::NowMicros(deps_));
    HP_TRY(internal::Audit(deps_, db, actor, org, "billing.subscription.suspend",
                           "subscription:" + s.id, {{"reason", reason}}, s.partner_id));
    return s;
  });
}

Result<Subscription> Subscriptions::Reactivate(const std::string& org, const std::string& id,
                                               const Actor& actor) {
  return deps_.db->Write([&](SQLite::Database& db) -> Result<Subscription> {
    HP_ASSIGN_OR_RETURN(Subscription s, Load(db, org, id));
    if (s.state != SubscriptionState::kSuspended)
      return FailField(ErrorCode::kConflict, "state", "only suspended subscriptions reactivate");
    s.state = SubscriptionState::kActive;
    Save(db, s, internal::NowMicros(deps_));
    HP_TRY(internal::Audit(deps_, db, actor, org, "billing.subscription.reactivate",
                           "subscription:" + s.id, core::Json::object(), s.partner_id));
    return s;
  });
}

Result<Subscription> Subscriptions::Get(const std::string& org, const std::string& id) {
  return deps_.db->Read([&](SQLite::Database& db) { return Load(db, org, id); });
}

Result<std::vector<Subscription>> Subscriptions::List(const std::string& org) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<std::vector<Subscription>> {
    SQLite::Statement q(db, std::string("SELECT ") + kCols +
                                " FROM billing_subscriptions WHERE organization_id = ? ORDER BY id");
    q.bind(1, org);
    std::vector<Subscription> out;
    while (q.executeStep()) {
      HP_ASSIGN_OR_RETURN(Subscription s, ReadSub(q));
      out.push_back(std::move(s));
    }
    return out;
  });
}

Result<std::vector<PendingCharge>> Subscriptions::PendingCharges(const std::string& org) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<std::vector<PendingCharge>> {
    SQLite::Statement q(db,
                        "SELECT public_id, subscription_id, kind, description, quantity, "
                        "unit_price, tax_percent FROM billing_charges WHERE organization_id = ? "
                        "AND invoice_id IS NULL ORDER BY id");
    q.bind(1, org);
    std::vector<PendingCharge> out;
    while (q.executeStep()) {
      PendingCharge c;
      c.id = q.getColumn(0).getString();
      c.organization_id = org;
      c.subscription_id = q.getColumn(1).getString();
      c.kind = q.getColumn(2).getString();
      c.line.description = q.getColumn(3).getString();
      c.line.quantity = q.getColumn(4).getInt64();
      c.line.unit_price = Money::Yen(q.getColumn(5).getInt64());
      HP_ASSIGN_OR_RETURN(c.line.rate, TaxRateFromPercent(q.getColumn(6).getInt64()));
      out.push_back(std::move(c));
    }
    return out;
  });
}

}  // namespace hp::billing
