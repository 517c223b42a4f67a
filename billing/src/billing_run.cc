#include "hp/billing/billing_run.h"

#include <algorithm>
#include <map>
#include <set>

#include "charges.h"
#include "hp/billing/proration.h"
#include "hp/billing/usage.h"
#include "util.h"

namespace hp::billing {

using core::ErrorCode;
using core::FailField;
using core::Money;
using core::Result;
using core::Status;

namespace {

struct DueSub {
  int64_t row;
  std::string id;
  std::string product_code;
  BillingPeriod period;
  Date anchor;
  PeriodSpan current;
  bool cancel_at_period_end;
};

}  // namespace

Result<BillingRunResult> BillingRun::Run(Date today, const Actor& actor) {
  BillingRunResult out;
  // 1. Who has work: due subscriptions and organizations with uninvoiced charges.
  std::map<std::string, std::vector<DueSub>> due;
  std::set<std::string> orgs;
  HP_TRY(deps_.db->Read([&](SQLite::Database& db) -> Status {
    SQLite::Statement q(db,
                        "SELECT id, public_id, organization_id, product_code, period, anchor_date, "
                        "period_start, period_end, cancel_at_period_end FROM billing_subscriptions "
                        "WHERE state IN ('active', 'suspended') AND period_end <= ?");
    q.bind(1, FormatDate(today));
    while (q.executeStep()) {
      DueSub d;
      d.row = q.getColumn(0).getInt64();
      d.id = q.getColumn(1).getString();
      d.product_code = q.getColumn(3).getString();
      HP_ASSIGN_OR_RETURN(d.period, ParseBillingPeriod(q.getColumn(4).getString()));
      HP_ASSIGN_OR_RETURN(d.anchor, ParseDate(q.getColumn(5).getString()));
      HP_ASSIGN_OR_RETURN(d.current.start, ParseDate(q.getColumn(6).getString()));
      HP_ASSIGN_OR_RETURN(d.current.end, ParseDate(q.getColumn(7).getString()));
      d.cancel_at_period_end = q.getColumn(8).getInt() != 0;
      const std::string org = q.getColumn(2).getString();
      orgs.insert(org);
      due[org].push_back(std::move(d));
    }
    SQLite::Statement c(db,
                        "SELECT DISTINCT organization_id FROM billing_charges WHERE invoice_id IS NULL");
    while (c.executeStep()) orgs.insert(c.getColumn(0).getString());
    return core::Ok();
  }));

  // Price look-ups repeat across subscriptions; cache them for the run.
  std::map<std::string, CustomerPrice> price_cache;
  std::map<std::string, Product> product_cache;
  std::map<std::string, std::string> usage_product;  // metric -> code
  auto product_of = [&](const std::string& code) -> Result<Product> {
    auto it = product_cache.find(code);
    if (it != product_cache.end()) return it->second;
    HP_ASSIGN_OR_RETURN(Product p, catalog_.GetProduct(code));
    product_cache.emplace(code, p);
    return p;
  };
  auto price_of = [&](const std::string& org, const Account& a, const std::string& code,
                      BillingPeriod period, Date day) -> Result<CustomerPrice> {
    const std::string key = std::string(ChannelName(a.channel)) + "|" + a.partner_id + "|" +
                            code + "|" + std::string(BillingPeriodName(period)) + "|" +
                            FormatDate(day);
    auto it = price_cache.find(key);
    if (it != price_cache.end()) return it->second;
    HP_ASSIGN_OR_RETURN(CustomerPrice p, prices_.PriceFor(org, code, period, day));
    price_cache.emplace(key, p);
    return p;
  };
  std::map<std::string, std::pair<Issuer, std::string>> issuer_cache;  // by partner id

  // 2. Batches of organizations, one write transaction each.
  std::vector<std::string> order(orgs.begin(), orgs.end());
  const size_t batch = static_cast<size_t>(std::max(1, config_.batch_size));
  for (size_t from = 0; from < order.size(); from += batch) {
    const size_t to = std::min(order.size(), from + batch);
    // Reads that may hit the reader pool happen before the write transaction.
    std::map<std::string, Account> account_of;
    for (size_t i = from; i < to; ++i) {
      HP_ASSIGN_OR_RETURN(Account a, prices_.GetAccount(order[i]));
      const std::string ikey = a.channel == Channel::kReseller || a.channel == Channel::kOem
                                   ? a.partner_id
                                   : std::string();
      if (!issuer_cache.contains(ikey)) {
        HP_ASSIGN_OR_RETURN(auto iss, prices_.IssuerFor(order[i]));
        issuer_cache.emplace(ikey, iss);
      }
      // Pre-resolve renewal and usage prices.
      for (const DueSub& d : due[order[i]]) {
        Date start = d.current.end;
        while (DaysBetween(start, today) >= 0) {
          HP_TRY(price_of(order[i], a, d.product_code, d.period, start));
          HP_TRY(product_of(d.product_code));
          start = PeriodContaining(d.anchor, d.period, start).end;
        }
      }
      account_of.emplace(order[i], std::move(a));
    }
    HP_TRY(deps_.db->Write([&](SQLite::Database& db) -> Status {
      const int64_t now = internal::NowMicros(deps_);
      for (size_t i = from; i < to; ++i) {
        const std::string& org = order[i];
        const Account& a = account_of.at(org);
        std::string wholesale_org;
        if (a.channel == Channel::kReseller || a.channel == Channel::kOem) {
          SQLite::Statement w(db,
                              "SELECT billing_organization_id FROM billing_partners WHERE "
                              "partner_id = ?");
          w.bind(1, a.partner_id);
          if (w.executeStep()) wholesale_org = w.getColumn(0).getString();
        }
        for (DueSub& d : due[org]) {
          while (DaysBetween(d.current.end, today) >= 0) {
            // Usage that occurred before the period end, not yet rated.
            SQLite::Statement u(db,
                                "SELECT metric, SUM(quantity), COUNT(*) FROM billing_usage WHERE "
                                "organization_id = ? AND subscription_id = ? AND charge_id IS "
                                "NULL AND occurred_at < ? GROUP BY metric ORDER BY metric");
            u.bind(1, org);
            u.bind(2, d.id);
            u.bind(3, core::ToUnixMicros(StartOfDay(d.current.end)));
            std::vector<std::tuple<std::string, int64_t, int64_t>> usage;
            while (u.executeStep())
              usage.emplace_back(u.getColumn(0).getString(), u.getColumn(1).getInt64(),
                                 u.getColumn(2).getInt64());
            for (const auto& [metric, qty, n] : usage) {
              auto code_it = usage_product.find(metric);
              if (code_it == usage_product.end()) {
                SQLite::Statement up(db,
                                     "SELECT code FROM billing_products WHERE usage_metric = ? "
                                     "ORDER BY id LIMIT 1");
                up.bind(1, metric);
                if (!up.executeStep())
                  return FailField(ErrorCode::kNotFound, "metric", "no usage product for " + metric);
                code_it = usage_product.emplace(metric, up.getColumn(0).getString()).first;
              }
              // Priced from the price list in force on the period's first day.
              SQLite::Statement pr(db,
                                   "SELECT price FROM billing_prices WHERE partner_id = ? AND "
                                   "kind = ? AND product_code = ? AND period = 'monthly' AND "
                                   "effective_from <= ? ORDER BY effective_from DESC LIMIT 1");
              const bool sells = !wholesale_org.empty();
              pr.bind(1, sells ? a.partner_id : std::string());
              pr.bind(2, sells ? "sell" : "list");
              pr.bind(3, code_it->second);
              pr.bind(4, FormatDate(d.current.start));
              if (!pr.executeStep())
                return FailField(ErrorCode::kNotFound, "product_code",
                                 "no price for usage product " + code_it->second);
              const Money unit = Money::Yen(pr.getColumn(0).getInt64());
              SQLite::Statement tp(db, "SELECT name, tax_percent FROM billing_products WHERE code = ?");
              tp.bind(1, code_it->second);
              tp.executeStep();
              HP_ASSIGN_OR_RETURN(TaxRate rate, TaxRateFromPercent(tp.getColumn(1).getInt64()));
              const std::string cid = internal::AddCharge(
                  deps_, db, org, d.id, "usage",
                  {tp.getColumn(0).getString() + " " + FormatDate(d.current.start) + " – " +
                       FormatDate(AddDays(d.current.end, -1)),
                   qty, unit, rate},
                  d.current.start, d.current.end);
              SQLite::Statement mark(db,
                                     "UPDATE billing_usage SET charge_id = ? WHERE "
                                     "organization_id = ? AND subscription_id = ? AND metric = ? "
                                     "AND charge_id IS NULL AND occurred_at < ?");
              mark.bind(1, cid);
              mark.bind(2, org);
              mark.bind(3, d.id);
              mark.bind(4, metric);
              mark.bind(5, core::ToUnixMicros(StartOfDay(d.current.end)));
              mark.exec();
              out.usage_records_rated += n;
            }
            if (d.cancel_at_period_end) {
              SQLite::Statement c(db,
                                  "UPDATE billing_subscriptions SET state = 'cancelled', "
                                  "updated_at = ? WHERE id = ?");
              c.bind(1, now);
              c.bind(2, d.row);
              c.exec();
              HP_TRY(internal::Audit(deps_, db, actor, org, "billing.subscription.end",
                                     "subscription:" + d.id,
                                     {{"ended", FormatDate(d.current.end)}}));
              ++out.ended;
              break;
            }
            const PeriodSpan next = PeriodContaining(d.anchor, d.period, d.current.end);
            HP_ASSIGN_OR_RETURN(CustomerPrice p,
                                price_of(org, a, d.product_code, d.period, next.start));
            HP_ASSIGN_OR_RETURN(Product prod, product_of(d.product_code));
            const std::string text = prod.name + " (" + std::string(BillingPeriodName(d.period)) +
                                     ") " + FormatDate(next.start) + " – " +
                                     FormatDate(AddDays(next.end, -1));
            internal::AddCharge(deps_, db, org, d.id, "recurring", {text, 1, p.price, p.tax_rate},
                                next.start, next.end);
            if (!wholesale_org.empty() && p.wholesale_price)
              internal::AddCharge(deps_, db, wholesale_org, d.id, "wholesale",
                                  {"Wholesale " + text + " for " + org, 1, *p.wholesale_price,
                                   p.tax_rate},
                                  next.start, next.end);
            SQLite::Statement s(db,
                                "UPDATE billing_subscriptions SET period_start = ?, period_end = "
                                "?, period_price = ?, updated_at = ? WHERE id = ?");
            s.bind(1, FormatDate(next.start));
            s.bind(2, FormatDate(next.end));
            s.bind(3, p.price.yen());
            s.bind(4, now);
            s.bind(5, d.row);
            s.exec();
            d.current = next;
            ++out.renewed;
          }
        }
      }
      // 3. Invoice each organization of the batch (and partners' wholesale organizations,
      // which were added to `orgs` only if they had charges before the run; new wholesale
      // charges are invoiced by the next run).
      for (size_t i = from; i < to; ++i) {
        const std::string& org = order[i];
        const Account& a = account_of.at(org);
        SQLite::Statement q(db,
                            "SELECT id, description, quantity, unit_price, tax_percent, "
                            "period_start, period_end FROM billing_charges WHERE "
                            "organization_id = ? AND invoice_id IS NULL ORDER BY id");
        q.bind(1, org);
        std::vector<int64_t> rows;
        InvoiceDraft draft;
        std::string min_start, max_end;
        int64_t net = 0;
        while (q.executeStep()) {
          rows.push_back(q.getColumn(0).getInt64());
          LineInput l;
          l.description = q.getColumn(1).getString();
          l.quantity = q.getColumn(2).getInt64();
          l.unit_price = Money::Yen(q.getColumn(3).getInt64());
          HP_ASSIGN_OR_RETURN(l.rate, TaxRateFromPercent(q.getColumn(4).getInt64()));
          net += l.quantity * l.unit_price.yen();
          const std::string s = q.getColumn(5).getString(), e = q.getColumn(6).getString();
          if (min_start.empty() || s < min_start) min_start = s;
          if (max_end.empty() || e > max_end) max_end = e;
          draft.lines.push_back(std::move(l));
        }
        if (rows.empty() || net < 0) continue;  // nothing to bill, or account credit carried
        const std::string ikey = a.channel == Channel::kReseller || a.channel == Channel::kOem
                                     ? a.partner_id
                                     : std::string();
        const auto& iss = issuer_cache.at(ikey);
        draft.organization_id = org;
        draft.issuer = iss.first;
        draft.series = iss.second;
        draft.recipient_name = a.name;
        draft.issue_date = today;
        HP_ASSIGN_OR_RETURN(draft.period_start, ParseDate(min_start));
        HP_ASSIGN_OR_RETURN(draft.period_end, ParseDate(max_end));
        HP_ASSIGN_OR_RETURN(Invoice inv, invoices_.Issue(db, draft, actor));
        SQLite::Statement m(db, "UPDATE billing_charges SET invoice_id = ? WHERE id = ?");
        for (int64_t r : rows) {
          m.bind(1, inv.id);
          m.bind(2, r);
          m.exec();
          m.reset();
        }
        if (on_issued_) HP_TRY(on_issued_(db, inv));
        ++out.invoices;
        HP_ASSIGN_OR_RETURN(out.invoiced_total, out.invoiced_total.Add(inv.totals.total));
      }
      return core::Ok();
    }));
  }
  return out;
}

}  // namespace hp::billing
