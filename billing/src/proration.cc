#include "hp/billing/proration.h"

namespace hp::billing {

using core::ErrorCode;
using core::FailField;
using core::Money;
using core::Result;
using namespace std::chrono;

Date AddPeriods(Date anchor, BillingPeriod period, int n) {
  year_month ym(anchor.year(), anchor.month());
  ym = period == BillingPeriod::kYearly ? ym + years(n) : ym + months(n);
  Date last_day{ym / last};
  day d = anchor.day() > last_day.day() ? last_day.day() : anchor.day();
  return Date{ym / d};
}

PeriodSpan PeriodContaining(Date anchor, BillingPeriod period, Date d) {
  // Estimate k from the month difference, then correct by stepping.
  int months_diff = (static_cast<int>(d.year()) - static_cast<int>(anchor.year())) * 12 +
                    (static_cast<int>(static_cast<unsigned>(d.month())) -
                     static_cast<int>(static_cast<unsigned>(anchor.month())));
  int k = period == BillingPeriod::kYearly ? months_diff / 12 : months_diff;
  if (k < 0) k = 0;
  while (k > 0 && sys_days(AddPeriods(anchor, period, k)) > sys_days(d)) --k;
  while (sys_days(AddPeriods(anchor, period, k + 1)) <= sys_days(d)) ++k;
  return {AddPeriods(anchor, period, k), AddPeriods(anchor, period, k + 1)};
}

std::string_view ChangeKindName(ChangeKind k) {
  switch (k) {
    case ChangeKind::kUpgrade: return "upgrade";
    case ChangeKind::kDowngrade: return "downgrade";
    case ChangeKind::kSamePrice: return "same_price";
    case ChangeKind::kPeriodChange: return "period_change";
    case ChangeKind::kCancellation: return "cancellation";
  }
  return "upgrade";
}

namespace {

Result<Money> Credit(Money price, int64_t unused, int64_t period_days) {
  return price.MulDivFloor(unused, period_days);  // P3
}

core::Status CheckSpan(const PeriodSpan& cur, Date change) {
  if (sys_days(cur.end) <= sys_days(cur.start))
    return FailField(ErrorCode::kInvalidArgument, "current", "period end must be after its start");
  if (sys_days(change) < sys_days(cur.start) || sys_days(change) >= sys_days(cur.end))
    return FailField(ErrorCode::kInvalidArgument, "change_date",
                     "change date " + FormatDate(change) + " is outside the current period " +
                         FormatDate(cur.start) + " .. " + FormatDate(cur.end));
  return core::Ok();
}

std::string Fraction(int64_t num, int64_t den, Money price) {
  return std::to_string(num) + "/" + std::to_string(den) + " days of " + price.Format();
}

}  // namespace

Result<Proration> ProrateChange(const ProrationRequest& r) {
  HP_TRY(CheckSpan(r.current, r.change_date));
  if (r.old_plan.price.yen() < 0 || r.new_plan.price.yen() < 0)
    return FailField(ErrorCode::kInvalidArgument, "price", "prices must not be negative");
  Proration p;
  p.period_days = r.current.days();
  p.unused_days = DaysBetween(r.change_date, r.current.end);
  HP_ASSIGN_OR_RETURN(p.credit, Credit(r.old_plan.price, p.unused_days, p.period_days));
  if (r.old_plan.period != r.new_plan.period) {  // P5
    p.kind = ChangeKind::kPeriodChange;
    p.charge = r.new_plan.price;
    p.anchor = r.change_date;
    p.new_period = {r.change_date, AddPeriods(r.change_date, r.new_plan.period, 1)};
    p.explanation = "credit " + Fraction(p.unused_days, p.period_days, r.old_plan.price) +
                    " = " + p.credit.Format() + "; new " +
                    std::string(BillingPeriodName(r.new_plan.period)) + " period " +
                    FormatDate(p.new_period.start) + " .. " + FormatDate(p.new_period.end) +
                    " = " + p.charge.Format();
  } else {  // P4
    p.kind = r.new_plan.price > r.old_plan.price   ? ChangeKind::kUpgrade
             : r.new_plan.price < r.old_plan.price ? ChangeKind::kDowngrade
                                                   : ChangeKind::kSamePrice;
    HP_ASSIGN_OR_RETURN(p.charge, r.new_plan.price.MulDivFloor(p.unused_days, p.period_days));
    p.new_period = r.current;
    p.anchor = r.current.start;  // callers keep their own anchor; the period does not move
    p.explanation = "credit " + Fraction(p.unused_days, p.period_days, r.old_plan.price) +
                    " = " + p.credit.Format() + "; charge " +
                    Fraction(p.unused_days, p.period_days, r.new_plan.price) + " = " +
                    p.charge.Format();
  }
  HP_ASSIGN_OR_RETURN(p.net, p.charge.Sub(p.credit));
  return p;
}

Result<Proration> ProrateCancellation(PlanPrice plan, PeriodSpan current, Date cancel_date) {
  HP_TRY(CheckSpan(current, cancel_date));
  if (plan.price.yen() < 0)
    return FailField(ErrorCode::kInvalidArgument, "price", "prices must not be negative");
  Proration p;
  p.kind = ChangeKind::kCancellation;
  p.period_days = current.days();
  p.unused_days = DaysBetween(cancel_date, current.end);
  HP_ASSIGN_OR_RETURN(p.credit, Credit(plan.price, p.unused_days, p.period_days));
  p.net = Money::Yen(-p.credit.yen());
  p.new_period = {current.start, cancel_date};
  p.anchor = current.start;
  p.explanation = "credit " + Fraction(p.unused_days, p.period_days, plan.price) + " = " +
                  p.credit.Format();
  return p;
}

}  // namespace hp::billing
