#pragma once
// Billing periods and proration by the day, pure functions. docs/billing.md has the same rules
// with worked examples; tests/billing/proration_test.cc is the table.
//
// Rules:
//  P1 Periods. A subscription has an anchor day A. Its k-th period is [A + k periods,
//     A + (k+1) periods): a month/year is added to A's year and month and the day is A's day
//     clamped to the last day of the target month. Anchor Jan 31 gives Jan 31 - Feb 28 (29 in a
//     leap year) - Mar 31 - Apr 30 ...; anchor Feb 29 gives yearly periods ending Feb 28 in common
//     years. Period ends are exclusive; every period is at least 28 days.
//  P2 Days. Proration counts whole UTC days. The change day belongs to the NEW plan:
//     unused_days = period end - change day, period_days = period end - period start.
//  P3 Credit of the unused part of the old plan = floor(old price x unused_days / period_days).
//  P4 Same billing period (upgrade, downgrade, same-price switch): charge of the new part =
//     floor(new price x unused_days / period_days); the period and the anchor do not move.
//  P5 Change of billing period (monthly <-> yearly): the old period ends on the change day (credit
//     per P3); a full new period starts on the change day, charged at the full new price, and the
//     change day becomes the anchor.
//  P6 net = charge - credit. A positive net is charged on the next invoice; a negative net is an
//     account credit deducted from later invoices (never paid out automatically).
//  P7 Cancellation at period end: no credit, service until the period end. Immediate
//     cancellation: credit per P3, no charge.
//  P8 Both roundings go down to the yen, so the customer is never charged a fraction and never
//     credited one; a change on the first day of a period credits and charges whole prices.
// Errors: change day outside [start, end) is kInvalidArgument (field "change_date"); negative
// prices are kInvalidArgument (field "price").

#include <cstdint>
#include <string>

#include "hp/billing/billing.h"
#include "hp/core/money.h"

namespace hp::billing {

struct PeriodSpan {
  Date start;  // inclusive
  Date end;    // exclusive
  int64_t days() const { return DaysBetween(start, end); }
};

// Anchor + n periods with the day clamped (P1).
Date AddPeriods(Date anchor, BillingPeriod period, int n);
// The period (P1) that contains `day`; `day` must not be before `anchor`.
PeriodSpan PeriodContaining(Date anchor, BillingPeriod period, Date day);

struct PlanPrice {
  core::Money price;  // price of one full period
  BillingPeriod period = BillingPeriod::kMonthly;
};

enum class ChangeKind { kUpgrade, kDowngrade, kSamePrice, kPeriodChange, kCancellation };
std::string_view ChangeKindName(ChangeKind k);

struct ProrationRequest {
  PlanPrice old_plan;
  PlanPrice new_plan;
  PeriodSpan current;  // the period already charged at old_plan.price
  Date change_date;    // first day on the new plan
};

struct Proration {
  ChangeKind kind = ChangeKind::kSamePrice;
  int64_t period_days = 0;
  int64_t unused_days = 0;
  core::Money credit;     // >= 0, P3
  core::Money charge;     // >= 0, P4/P5
  core::Money net;        // charge - credit, P6
  PeriodSpan new_period;  // the period the subscription is in after the change
  Date anchor;            // anchor for later periods
  std::string explanation;  // one line a customer can read: "credit 15/31 days of ¥1,000 ..."
};

core::Result<Proration> ProrateChange(const ProrationRequest& request);
// Immediate cancellation (P7): credit of the unused part, nothing charged.
core::Result<Proration> ProrateCancellation(PlanPrice plan, PeriodSpan current, Date cancel_date);

}  // namespace hp::billing
