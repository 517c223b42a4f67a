// Acceptance 1: the proration table. Every row is a rule of proration.h applied to dates a
// customer would recognise; the expected yen are worked out by hand in the comment.
#include <gtest/gtest.h>

#include "billing_test_util.h"
#include "hp/billing/proration.h"

namespace hp::billing {
namespace {

using testing::D;
using testing::Y;
constexpr auto M = BillingPeriod::kMonthly;
constexpr auto YR = BillingPeriod::kYearly;

struct Case {
  const char* name;
  PlanPrice old_plan, new_plan;
  PeriodSpan current;
  Date change;
  ChangeKind kind;
  int64_t unused_days, period_days, credit, charge, net;
  PeriodSpan new_period;
};

class ProrationTable : public ::testing::TestWithParam<Case> {};

TEST_P(ProrationTable, ChargesAndCreditsTheExpectedYen) {
  const Case& c = GetParam();
  auto p = ProrateChange({c.old_plan, c.new_plan, c.current, c.change});
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->kind, c.kind);
  EXPECT_EQ(p->unused_days, c.unused_days);
  EXPECT_EQ(p->period_days, c.period_days);
  EXPECT_EQ(p->credit.yen(), c.credit);
  EXPECT_EQ(p->charge.yen(), c.charge);
  EXPECT_EQ(p->net.yen(), c.net);
  EXPECT_EQ(p->new_period.start, c.new_period.start);
  EXPECT_EQ(p->new_period.end, c.new_period.end);
  EXPECT_FALSE(p->explanation.empty());
}

const PeriodSpan kJan{D(2026, 1, 1), D(2026, 2, 1)};
const PeriodSpan kYear26{D(2026, 1, 1), D(2027, 1, 1)};

INSTANTIATE_TEST_SUITE_P(
    Rules, ProrationTable,
    ::testing::Values(
        // 16 of 31 days left: credit floor(1000*16/31)=516, charge floor(2000*16/31)=1032.
        Case{"MidMonthUpgrade", {Y(1000), M}, {Y(2000), M}, kJan, D(2026, 1, 16),
             ChangeKind::kUpgrade, 16, 31, 516, 1032, 516, kJan},
        Case{"MidMonthDowngrade", {Y(2000), M}, {Y(1000), M}, kJan, D(2026, 1, 16),
             ChangeKind::kDowngrade, 16, 31, 1032, 516, -516, kJan},
        // The first day of the period: whole prices both ways.
        Case{"UpgradeOnFirstDay", {Y(1000), M}, {Y(2000), M}, kJan, D(2026, 1, 1),
             ChangeKind::kUpgrade, 31, 31, 1000, 2000, 1000, kJan},
        // The last day: 1/31 of each price, rounded down.
        Case{"UpgradeOnLastDay", {Y(1000), M}, {Y(2000), M}, kJan, D(2026, 1, 31),
             ChangeKind::kUpgrade, 1, 31, 32, 64, 32, kJan},
        // February 2026 has 28 days: 14/28 is exactly half.
        Case{"FebruaryCommonYear", {Y(1000), M}, {Y(2000), M}, {D(2026, 2, 1), D(2026, 3, 1)},
             D(2026, 2, 15), ChangeKind::kUpgrade, 14, 28, 500, 1000, 500,
             {D(2026, 2, 1), D(2026, 3, 1)}},
        // February 2028 has 29 days: 15/29 -> 517 and 1034.
        Case{"FebruaryLeapYear", {Y(1000), M}, {Y(2000), M}, {D(2028, 2, 1), D(2028, 3, 1)},
             D(2028, 2, 15), ChangeKind::kUpgrade, 15, 29, 517, 1034, 517,
             {D(2028, 2, 1), D(2028, 3, 1)}},
        // Anchor Jan 31: the period is Jan 31 - Feb 28 (28 days); 14 left.
        Case{"Jan31AnchorInFebruary", {Y(1000), M}, {Y(3000), M}, {D(2026, 1, 31), D(2026, 2, 28)},
             D(2026, 2, 14), ChangeKind::kUpgrade, 14, 28, 500, 1500, 1000,
             {D(2026, 1, 31), D(2026, 2, 28)}},
        // Yearly -> monthly on Jul 1: 184 of 365 days unused: floor(12000*184/365)=6049; a
        // full month from Jul 1 is charged and Jul 1 becomes the anchor.
        Case{"YearlyToMonthly", {Y(12000), YR}, {Y(1200), M}, kYear26, D(2026, 7, 1),
             ChangeKind::kPeriodChange, 184, 365, 6049, 1200, -4849,
             {D(2026, 7, 1), D(2026, 8, 1)}},
        Case{"YearlyToMonthlyOnFirstDay", {Y(12000), YR}, {Y(1200), M}, kYear26, D(2026, 1, 1),
             ChangeKind::kPeriodChange, 365, 365, 12000, 1200, -10800,
             {D(2026, 1, 1), D(2026, 2, 1)}},
        // Monthly -> yearly: 21 of 31 days unused -> 677; a full year from Mar 20.
        Case{"MonthlyToYearly", {Y(1000), M}, {Y(10000), YR}, {D(2026, 3, 10), D(2026, 4, 10)},
             D(2026, 3, 20), ChangeKind::kPeriodChange, 21, 31, 677, 10000, 9323,
             {D(2026, 3, 20), D(2027, 3, 20)}},
        // 2028 has 366 days: one day left -> floor(12000/366)=32, floor(24000/366)=65.
        Case{"LeapYearYearlyLastDay", {Y(12000), YR}, {Y(24000), YR},
             {D(2028, 1, 1), D(2029, 1, 1)}, D(2028, 12, 31), ChangeKind::kUpgrade, 1, 366, 32,
             65, 33, {D(2028, 1, 1), D(2029, 1, 1)}},
        // Monthly -> yearly on Jan 31: the new year runs Jan 31 2026 - Jan 31 2027.
        Case{"MonthlyToYearlyOnJan31", {Y(1000), M}, {Y(10000), YR}, kJan, D(2026, 1, 31),
             ChangeKind::kPeriodChange, 1, 31, 32, 10000, 9968,
             {D(2026, 1, 31), D(2027, 1, 31)}},
        // Same price, other product: credit and charge cancel out.
        Case{"SamePriceSwitch", {Y(1000), M}, {Y(1000), M}, kJan, D(2026, 1, 11),
             ChangeKind::kSamePrice, 21, 31, 677, 677, 0, kJan},
        // From a free plan: nothing to credit.
        Case{"UpgradeFromFreePlan", {Y(0), M}, {Y(3000), M}, {D(2026, 4, 1), D(2026, 5, 1)},
             D(2026, 4, 21), ChangeKind::kUpgrade, 10, 30, 0, 1000, 1000,
             {D(2026, 4, 1), D(2026, 5, 1)}}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(Proration, PeriodsAnchoredAtMonthEndClampAndComeBack) {
  // Jan 31 -> Feb 28 -> Mar 31 -> Apr 30: the anchor day returns when the month allows it.
  EXPECT_EQ(AddPeriods(D(2026, 1, 31), M, 1), D(2026, 2, 28));
  EXPECT_EQ(AddPeriods(D(2026, 1, 31), M, 2), D(2026, 3, 31));
  EXPECT_EQ(AddPeriods(D(2026, 1, 31), M, 3), D(2026, 4, 30));
  EXPECT_EQ(AddPeriods(D(2028, 1, 31), M, 1), D(2028, 2, 29));
  // Feb 29 anchors yearly periods that end Feb 28 in common years.
  EXPECT_EQ(AddPeriods(D(2028, 2, 29), YR, 1), D(2029, 2, 28));
  EXPECT_EQ(AddPeriods(D(2028, 2, 29), YR, 4), D(2032, 2, 29));
  auto p = PeriodContaining(D(2026, 1, 31), M, D(2026, 3, 5));
  EXPECT_EQ(p.start, D(2026, 2, 28));
  EXPECT_EQ(p.end, D(2026, 3, 31));
  auto q = PeriodContaining(D(2026, 1, 31), M, D(2026, 2, 27));
  EXPECT_EQ(q.start, D(2026, 1, 31));
  EXPECT_EQ(q.end, D(2026, 2, 28));
}

TEST(Proration, ImmediateCancellationCreditsTheUnusedDays) {
  // April has 30 days; cancelled on the 11th: 20 unused -> floor(1000*20/30) = 666.
  auto p = ProrateCancellation({Y(1000), M}, {D(2026, 4, 1), D(2026, 5, 1)}, D(2026, 4, 11));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, ChangeKind::kCancellation);
  EXPECT_EQ(p->credit.yen(), 666);
  EXPECT_EQ(p->charge.yen(), 0);
  EXPECT_EQ(p->net.yen(), -666);
  // Cancelled on the first day: the whole period back.
  auto f = ProrateCancellation({Y(1000), M}, {D(2026, 4, 1), D(2026, 5, 1)}, D(2026, 4, 1));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->credit.yen(), 1000);
}

TEST(Proration, ChangeOutsideThePeriodNamesTheField) {
  auto p = ProrateChange({{Y(1000), M}, {Y(2000), M}, kJan, D(2026, 2, 1)});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(p.error().field, "change_date");
  auto n = ProrateChange({{Y(-1), M}, {Y(2000), M}, kJan, D(2026, 1, 2)});
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().field, "price");
}

}  // namespace
}  // namespace hp::billing
