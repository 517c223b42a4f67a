#pragma once
// Private: queueing uninvoiced charges (shared by subscriptions and the billing run).

#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

#include "hp/billing/billing.h"
#include "hp/billing/tax.h"

namespace hp::billing::internal {

inline std::string AddCharge(const BillingDeps& deps, SQLite::Database& tx,
                             const std::string& org, const std::string& subscription_id,
                             const std::string& kind, const LineInput& line, Date start,
                             Date end) {
  const std::string id = deps.ids->NewId();
  SQLite::Statement q(tx,
                      "INSERT INTO billing_charges (public_id, organization_id, subscription_id, "
                      "kind, description, quantity, unit_price, tax_percent, period_start, "
                      "period_end, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, id);
  q.bind(2, org);
  q.bind(3, subscription_id);
  q.bind(4, kind);
  q.bind(5, line.description);
  q.bind(6, line.quantity);
  q.bind(7, line.unit_price.yen());
  q.bind(8, TaxRatePercent(line.rate));
  q.bind(9, FormatDate(start));
  q.bind(10, FormatDate(end));
  q.bind(11, core::ToUnixMicros(deps.clock->Now()));
  q.exec();
  return id;
}

}  // namespace hp::billing::internal
