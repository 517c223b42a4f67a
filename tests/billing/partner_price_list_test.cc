// PriceLists::PartnerPriceList: the partner portal's price list (list, wholesale with its
// fallbacks, sell price in force and the next scheduled one).
#include <algorithm>

#include "billing_test_util.h"

namespace hp::billing::testing {
namespace {

const PartnerPriceRow* Find(const std::vector<PartnerPriceRow>& rows, const std::string& code,
                            BillingPeriod period) {
  auto it = std::find_if(rows.begin(), rows.end(), [&](const PartnerPriceRow& r) {
    return r.product.code == code && r.period == period;
  });
  return it == rows.end() ? nullptr : &*it;
}

TEST(PartnerPriceList, WholesaleFallsBackAndSellShowsTheVersionInForceAndTheNextOne) {
  BillingEnv env;
  env.SeedCatalog();
  Partner p;
  p.partner_id = "partner-r";
  p.channel = Channel::kReseller;
  p.issuer = {"リセラー合同会社", "T9876543210987", "大阪府"};
  p.invoice_prefix = "RS";
  p.billing_organization_id = "org-reseller";
  ASSERT_TRUE(env.prices_->UpsertPartner(p));
  // Default wholesale for shared-s monthly, a partner override for shared-l monthly.
  ASSERT_TRUE(env.prices_->SetPartnerPrice(
      "", PartnerPriceKind::kWholesale,
      {"shared-s", BillingPeriod::kMonthly, Y(800), Y(0), D(2020, 1, 1)}));
  ASSERT_TRUE(env.prices_->SetPartnerPrice(
      "partner-r", PartnerPriceKind::kWholesale,
      {"shared-l", BillingPeriod::kMonthly, Y(2000), Y(0), D(2020, 1, 1)}));
  ASSERT_TRUE(env.prices_->SetPartnerPrice(
      "partner-r", PartnerPriceKind::kSell,
      {"shared-s", BillingPeriod::kMonthly, Y(1200), Y(0), D(2026, 1, 1)}));
  ASSERT_TRUE(env.prices_->SetPartnerPrice(
      "partner-r", PartnerPriceKind::kSell,
      {"shared-s", BillingPeriod::kMonthly, Y(1300), Y(0), D(2026, 3, 1)}));
  ASSERT_TRUE(env.prices_->SetPartnerPrice(
      "partner-r", PartnerPriceKind::kSell,
      {"shared-s", BillingPeriod::kMonthly, Y(1400), Y(0), D(2026, 6, 1)}));

  auto rows = env.prices_->PartnerPriceList("partner-r", D(2026, 1, 15));
  ASSERT_TRUE(rows) << rows.error().ToString();
  // Seven list prices in the catalog: every one is a row.
  EXPECT_EQ(rows->size(), 7u);
  const auto* s = Find(*rows, "shared-s", BillingPeriod::kMonthly);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->list.price.yen(), 1000);
  EXPECT_EQ(s->wholesale.price.yen(), 800);  // the default wholesale list
  ASSERT_TRUE(s->sell);
  EXPECT_EQ(s->sell->price.yen(), 1200);
  EXPECT_EQ(FormatDate(s->sell->effective_from), "2026-01-01");
  ASSERT_TRUE(s->next_sell);
  EXPECT_EQ(s->next_sell->price.yen(), 1300);  // the first after the day, not the last
  EXPECT_EQ(FormatDate(s->next_sell->effective_from), "2026-03-01");
  const auto* l = Find(*rows, "shared-l", BillingPeriod::kMonthly);
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->wholesale.price.yen(), 2000);  // the partner's override
  EXPECT_FALSE(l->sell);
  const auto* ly = Find(*rows, "shared-l", BillingPeriod::kYearly);
  ASSERT_NE(ly, nullptr);
  EXPECT_EQ(ly->wholesale.price.yen(), 30000);  // no wholesale at all: the list price

  // On 2026-03-01 the second version is in force and the third is next.
  auto later = env.prices_->PartnerPriceList("partner-r", D(2026, 3, 1));
  ASSERT_TRUE(later);
  const auto* s2 = Find(*later, "shared-s", BillingPeriod::kMonthly);
  ASSERT_NE(s2, nullptr);
  EXPECT_EQ(s2->sell->price.yen(), 1300);
  EXPECT_EQ(s2->next_sell->price.yen(), 1400);
  // Another partner sees no sell prices of this one.
  auto other = env.prices_->PartnerPriceList("partner-x", D(2026, 3, 1));
  ASSERT_TRUE(other);
  for (const auto& r : *other) EXPECT_FALSE(r.sell || r.next_sell) << r.product.code;
}

}  // namespace
}  // namespace hp::billing::testing
