#include <cstdio>

#include "hp/billing/billing.h"

namespace hp::generated {
const std::vector<hp::core::Migration>& billing_migrations();
}

namespace hp::billing {

using core::ErrorCode;
using core::FailField;
using namespace std::chrono;

const core::MigrationSet& BillingMigrations() { return hp::generated::billing_migrations(); }

std::string FormatDate(Date d) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02u", static_cast<int>(d.year()),
                static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
  return buf;
}

core::Result<Date> ParseDate(std::string_view s, std::string_view field) {
  auto bad = [&] {
    return FailField(ErrorCode::kInvalidArgument, std::string(field),
                     "expected a date YYYY-MM-DD, got '" + std::string(s) + "'");
  };
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return bad();
  int v[3] = {0, 0, 0};
  size_t pos[3][2] = {{0, 4}, {5, 2}, {8, 2}};
  for (int i = 0; i < 3; ++i) {
    for (size_t j = pos[i][0]; j < pos[i][0] + pos[i][1]; ++j) {
      if (s[j] < '0' || s[j] > '9') return bad();
      v[i] = v[i] * 10 + (s[j] - '0');
    }
  }
  Date d{year{v[0]}, month{static_cast<unsigned>(v[1])}, day{static_cast<unsigned>(v[2])}};
  if (!d.ok()) return bad();
  return d;
}

Date ToDate(core::TimePoint t) { return Date{floor<days>(t)}; }
core::TimePoint StartOfDay(Date d) { return core::TimePoint(sys_days(d).time_since_epoch()); }
int64_t DaysBetween(Date a, Date b) { return (sys_days(b) - sys_days(a)).count(); }
Date AddDays(Date d, int64_t n) { return Date{sys_days(d) + days(n)}; }
Date EndOfMonthAfter(Date d, int n) {
  year_month ym = year_month(d.year(), d.month()) + months(n);
  return Date{ym / last};
}

std::string_view BillingPeriodName(BillingPeriod p) {
  return p == BillingPeriod::kYearly ? "yearly" : "monthly";
}
core::Result<BillingPeriod> ParseBillingPeriod(std::string_view s, std::string_view field) {
  if (s == "monthly") return BillingPeriod::kMonthly;
  if (s == "yearly") return BillingPeriod::kYearly;
  return FailField(ErrorCode::kInvalidArgument, std::string(field),
                   "unknown billing period '" + std::string(s) + "' (monthly, yearly)");
}

core::Status ValidateRegistrationNumber(std::string_view n) {
  bool ok = n.size() == 14 && n[0] == 'T';
  for (size_t i = 1; ok && i < n.size(); ++i) ok = n[i] >= '0' && n[i] <= '9';
  if (!ok)
    return FailField(ErrorCode::kInvalidArgument, "registration_number",
                     "a qualified-invoice registration number is 'T' followed by 13 digits");
  return core::Ok();
}

}  // namespace hp::billing
