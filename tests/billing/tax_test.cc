// Acceptance 2: consumption tax once per rate per invoice with the configured rounding, and a
// property test over 10,000 random invoices that no yen is lost or made.
#include <random>

#include <gtest/gtest.h>

#include "billing_test_util.h"
#include "hp/billing/tax.h"

namespace hp::billing {
namespace {

using testing::Y;

std::vector<LineInput> MixedLines() {
  return {{"Shared L (monthly)", 3, Y(1234), TaxRate::kStandard10},
          {"Coffee beans (reduced rate)", 1, Y(999), TaxRate::kReduced8}};
}

TEST(Tax, TenAndEightPercentLinesAreTaxedOncePerRateWithFloorByDefault) {
  // 10%: 3 x 1,234 = 3,702 -> 370.2 -> 370. 8%: 999 -> 79.92 -> 79.
  auto t = ComputeInvoice(MixedLines(), TaxRounding::kFloor);
  ASSERT_TRUE(t) << t.error().ToString();
  ASSERT_EQ(t->by_rate.size(), 2u);
  EXPECT_EQ(t->by_rate[0].rate, TaxRate::kStandard10);
  EXPECT_EQ(t->by_rate[0].subtotal.yen(), 3702);
  EXPECT_EQ(t->by_rate[0].tax.yen(), 370);
  EXPECT_EQ(t->by_rate[1].rate, TaxRate::kReduced8);
  EXPECT_EQ(t->by_rate[1].subtotal.yen(), 999);
  EXPECT_EQ(t->by_rate[1].tax.yen(), 79);
  EXPECT_EQ(t->subtotal.yen(), 4701);
  EXPECT_EQ(t->tax.yen(), 449);
  EXPECT_EQ(t->total.yen(), 5150);
}

TEST(Tax, ConfiguredRoundingRoundsOrCeils) {
  auto r = ComputeInvoice(MixedLines(), TaxRounding::kRound);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->by_rate[0].tax.yen(), 370);  // 370.2
  EXPECT_EQ(r->by_rate[1].tax.yen(), 80);   // 79.92
  auto c = ComputeInvoice(MixedLines(), TaxRounding::kCeil);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->by_rate[0].tax.yen(), 371);
  EXPECT_EQ(c->by_rate[1].tax.yen(), 80);
  EXPECT_EQ(c->total.yen(), 4701 + 451);
}

TEST(Tax, TaxIsNotSummedPerLine) {
  // Three lines of ¥105: per line floor(10.5) x 3 = 30, per invoice floor(31.5) = 31.
  std::vector<LineInput> lines(3, {"Extra IP", 1, Y(105), TaxRate::kStandard10});
  auto t = ComputeInvoice(lines, TaxRounding::kFloor);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->tax.yen(), 31);
  EXPECT_EQ(t->total.yen(), 346);
}

TEST(Tax, CreditsAreTaxedSymmetrically) {
  auto c = TaxOf(Y(-1005), TaxRate::kStandard10, TaxRounding::kFloor);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->yen(), -100);  // the reverse of the ¥100 charged on ¥1,005
}

TEST(Tax, BadLinesNameTheField) {
  auto e = ComputeInvoice({{"", 1, Y(1), TaxRate::kStandard10}}, TaxRounding::kFloor);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().field, "lines/0/description");
  auto o = ComputeInvoice({{"x", INT64_MAX, Y(2), TaxRate::kStandard10}}, TaxRounding::kFloor);
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().field, "lines/0");
  auto r = TaxRateFromPercent(5);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "tax_rate");
}

// |sub| x pct compared with tax x 100 by the rounding rule's definition.
bool TaxMatchesRule(int64_t sub, int64_t tax, int pct, TaxRounding rounding) {
  int64_t exact = (sub < 0 ? -sub : sub) * pct;  // x100; |sub| < 1e12 here
  int64_t t = (sub < 0 ? -tax : tax) * 100;
  switch (rounding) {
    case TaxRounding::kFloor: return t <= exact && exact - t < 100;
    case TaxRounding::kCeil: return t >= exact && t - exact < 100;
    case TaxRounding::kRound: return t - exact <= 50 && exact - t < 50;  // half away from 0
  }
  return false;
}

TEST(TaxProperty, TenThousandRandomInvoicesLoseAndMakeNoYen) {
  std::mt19937_64 rng(20261124);
  std::uniform_int_distribution<int> nlines(1, 25), pick(0, 9), round_pick(0, 2);
  std::uniform_int_distribution<int64_t> qty(1, 2000), price(0, 2'000'000), credit(-500'000, -1);
  for (int n = 0; n < 10000; ++n) {
    std::vector<LineInput> lines;
    const int count = nlines(rng);
    for (int i = 0; i < count; ++i) {
      LineInput l;
      l.description = "line " + std::to_string(i);
      l.quantity = qty(rng);
      l.unit_price = Y(pick(rng) == 0 ? credit(rng) : price(rng));  // some credits
      l.rate = pick(rng) < 3 ? TaxRate::kReduced8 : TaxRate::kStandard10;
      lines.push_back(l);
    }
    const TaxRounding rounding = static_cast<TaxRounding>(round_pick(rng));
    auto t = ComputeInvoice(lines, rounding);
    ASSERT_TRUE(t) << t.error().ToString();
    // Lines -> per-rate subtotals: every yen of every line lands in exactly one subtotal.
    int64_t by_rate_line_sum[2] = {0, 0};
    for (const LineInput& l : lines)
      by_rate_line_sum[l.rate == TaxRate::kReduced8] += l.quantity * l.unit_price.yen();
    int64_t subtotal = 0, tax = 0;
    for (const RateTotal& r : t->by_rate) {
      const int k = r.rate == TaxRate::kReduced8;
      ASSERT_EQ(r.subtotal.yen(), by_rate_line_sum[k]) << "invoice " << n;
      ASSERT_TRUE(TaxMatchesRule(r.subtotal.yen(), r.tax.yen(), TaxRatePercent(r.rate), rounding))
          << "invoice " << n << " rate " << TaxRatePercent(r.rate) << " sub "
          << r.subtotal.yen() << " tax " << r.tax.yen();
      subtotal += r.subtotal.yen();
      tax += r.tax.yen();
    }
    // Total = subtotal + tax per rate, nothing else.
    ASSERT_EQ(t->subtotal.yen(), subtotal);
    ASSERT_EQ(t->tax.yen(), tax);
    ASSERT_EQ(t->total.yen(), subtotal + tax);
    ASSERT_EQ(t->lines.size(), lines.size());
  }
}

}  // namespace
}  // namespace hp::billing
