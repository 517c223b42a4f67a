// Subscriptions, usage metering (acceptance 3, usage part), the billing run, reseller invoices
// and credit notes, on the real SQLite store with a fake clock.
#include <gtest/gtest.h>

#include "billing_test_util.h"

namespace hp::billing {
namespace {

using testing::BillingEnv;
using testing::D;
using testing::Y;

class SubscriptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.SeedCatalog();
    env_.DirectAccount("org-a");
  }
  Subscription OrderAndAccept(const std::string& org, const std::string& code,
                              BillingPeriod p = BillingPeriod::kMonthly) {
    auto s = env_.subs_->Order({org, code, p, ""});
    EXPECT_TRUE(s) << s.error().ToString();
    auto a = env_.subs_->Accept(org, s->id);
    EXPECT_TRUE(a) << a.error().ToString();
    return *a;
  }
  void SetDay(Date d) { env_.clock_.Set(StartOfDay(d) + std::chrono::hours(9)); }

  BillingEnv env_{D(2026, 1, 15)};
};

TEST_F(SubscriptionTest, OrderIsPendingUntilAcceptedThenFirstPeriodAndSetupAreInvoiced) {
  auto s = env_.subs_->Order({"org-a", "shared-s", BillingPeriod::kMonthly, "order-1"});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, SubscriptionState::kPending);  // provisioning must not start yet
  auto again = env_.subs_->Order({"org-a", "shared-s", BillingPeriod::kMonthly, "order-1"});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, s->id);
  auto a = env_.subs_->Accept("org-a", s->id);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->state, SubscriptionState::kActive);
  EXPECT_EQ(a->current.start, D(2026, 1, 15));
  EXPECT_EQ(a->current.end, D(2026, 2, 15));
  EXPECT_EQ(env_.subs_->Accept("org-a", s->id).error().code, core::ErrorCode::kConflict);

  auto run = env_.run_->Run(D(2026, 1, 15));
  ASSERT_TRUE(run) << run.error().ToString();
  EXPECT_EQ(run->invoices, 1);
  auto invs = env_.invoices_->List("org-a");
  ASSERT_TRUE(invs);
  ASSERT_EQ(invs->size(), 1u);
  const Invoice& inv = (*invs)[0];
  EXPECT_EQ(inv.number, "INV-00000001");
  EXPECT_EQ(inv.issuer.registration_number, "T1234567890123");
  ASSERT_EQ(inv.totals.lines.size(), 2u);  // period + setup fee
  EXPECT_EQ(inv.totals.subtotal.yen(), 1500);
  EXPECT_EQ(inv.totals.tax.yen(), 150);
  EXPECT_EQ(inv.totals.total.yen(), 1650);
  EXPECT_EQ(inv.due_date, D(2026, 1, 29));
  auto recv = env_.ledger_->Balance("org-a", accounts::kReceivable);
  EXPECT_EQ(recv->yen(), 1650);
  // A second run on the same day finds nothing to do.
  auto rerun = env_.run_->Run(D(2026, 1, 15));
  ASSERT_TRUE(rerun);
  EXPECT_EQ(rerun->invoices, 0);
  EXPECT_EQ(env_.AuditCount("billing.subscription.accept"), 1);
  EXPECT_EQ(env_.AuditCount("billing.invoice.issue"), 1);
}

TEST_F(SubscriptionTest, MidPeriodUpgradeIsProratedOnTheNextInvoice) {
  Subscription s = OrderAndAccept("org-a", "shared-s");  // Jan 15 - Feb 15 (31 days)
  ASSERT_TRUE(env_.run_->Run(D(2026, 1, 15)));
  SetDay(D(2026, 1, 30));  // 16 days left
  auto c = env_.subs_->ChangePlan("org-a", s.id, "shared-l", BillingPeriod::kMonthly);
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->proration.kind, ChangeKind::kUpgrade);
  EXPECT_EQ(c->proration.credit.yen(), 516);   // floor(1000*16/31)
  EXPECT_EQ(c->proration.charge.yen(), 1548);  // floor(3000*16/31)
  EXPECT_EQ(c->subscription.product_code, "shared-l");
  auto run = env_.run_->Run(D(2026, 1, 30));
  ASSERT_TRUE(run);
  EXPECT_EQ(run->invoices, 1);
  auto invs = env_.invoices_->List("org-a");
  ASSERT_EQ(invs->size(), 2u);
  EXPECT_EQ((*invs)[1].totals.subtotal.yen(), 1548 - 516);
  EXPECT_EQ((*invs)[1].number, "INV-00000002");
}

TEST_F(SubscriptionTest, DowngradeCreditIsCarriedUntilItIsUsedUp) {
  Subscription s = OrderAndAccept("org-a", "shared-l");
  ASSERT_TRUE(env_.run_->Run(D(2026, 1, 15)));
  SetDay(D(2026, 1, 30));
  auto c = env_.subs_->ChangePlan("org-a", s.id, "shared-s", BillingPeriod::kMonthly);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->proration.net.yen(), 516 - 1548);
  auto run = env_.run_->Run(D(2026, 1, 30));
  ASSERT_TRUE(run);
  EXPECT_EQ(run->invoices, 0);  // net negative: kept as credit
  // On renewal (Feb 15) the credit is deducted from the new period's ¥1,000.
  auto renew = env_.run_->Run(D(2026, 2, 15));
  ASSERT_TRUE(renew);
  EXPECT_EQ(renew->renewed, 1);
  EXPECT_EQ(renew->invoices, 0);  // 1000 - 1032 is still negative
  auto pend = env_.subs_->PendingCharges("org-a");
  ASSERT_TRUE(pend);
  int64_t net = 0;
  for (auto& p : *pend) net += p.line.unit_price.yen() * p.line.quantity;
  EXPECT_EQ(net, 1000 - 1032);
}

TEST_F(SubscriptionTest, RenewalUsesThePriceInForceOnThePeriodStart) {
  Subscription s = OrderAndAccept("org-a", "shared-s");
  ASSERT_TRUE(env_.run_->Run(D(2026, 1, 15)));
  SetDay(D(2026, 2, 1));
  // A price change effective Feb 20 does not touch the period starting Feb 15.
  ASSERT_TRUE(env_.catalog_->SetListPrice(
      {"shared-s", BillingPeriod::kMonthly, Y(1200), Y(500), D(2026, 2, 20)}));
  // The past cannot be rewritten.
  EXPECT_EQ(env_.catalog_->SetListPrice(
                {"shared-s", BillingPeriod::kMonthly, Y(1), Y(0), D(2026, 1, 20)}).error().code,
            core::ErrorCode::kConflict);
  ASSERT_TRUE(env_.run_->Run(D(2026, 2, 15)));
  ASSERT_TRUE(env_.run_->Run(D(2026, 3, 15)));
  auto invs = env_.invoices_->List("org-a");
  ASSERT_EQ(invs->size(), 3u);
  EXPECT_EQ((*invs)[1].totals.subtotal.yen(), 1000);
  EXPECT_EQ((*invs)[2].totals.subtotal.yen(), 1200);
  auto got = env_.subs_->Get("org-a", s.id);
  EXPECT_EQ(got->current.start, D(2026, 3, 15));
  EXPECT_EQ(got->period_price.yen(), 1200);
}

TEST_F(SubscriptionTest, CancellationAtPeriodEndAndImmediately) {
  Subscription a = OrderAndAccept("org-a", "shared-s");
  Subscription b = OrderAndAccept("org-a", "shared-l");
  ASSERT_TRUE(env_.run_->Run(D(2026, 1, 15)));
  SetDay(D(2026, 1, 25));  // 21 of 31 days unused
  auto ea = env_.subs_->Cancel("org-a", a.id, /*immediately=*/false);
  ASSERT_TRUE(ea);
  EXPECT_TRUE(ea->cancel_at_period_end);
  EXPECT_EQ(ea->state, SubscriptionState::kActive);
  auto eb = env_.subs_->Cancel("org-a", b.id, /*immediately=*/true);
  ASSERT_TRUE(eb);
  EXPECT_EQ(eb->state, SubscriptionState::kCancelled);
  auto pend = env_.subs_->PendingCharges("org-a");
  ASSERT_EQ(pend->size(), 1u);
  EXPECT_EQ((*pend)[0].line.unit_price.yen(), -2032);  // floor(3000*21/31)
  auto end = env_.run_->Run(D(2026, 2, 15));
  ASSERT_TRUE(end);
  EXPECT_EQ(end->ended, 1);
  EXPECT_EQ(end->renewed, 0);
  EXPECT_EQ(env_.subs_->Get("org-a", a.id)->state, SubscriptionState::kCancelled);
}

TEST_F(SubscriptionTest, SuspendAndReactivate) {
  Subscription s = OrderAndAccept("org-a", "shared-s");
  auto sus = env_.subs_->Suspend("org-a", s.id, "unpaid");
  ASSERT_TRUE(sus);
  EXPECT_EQ(sus->state, SubscriptionState::kSuspended);
  EXPECT_EQ(env_.subs_->ChangePlan("org-a", s.id, "shared-l", BillingPeriod::kMonthly)
                .error().code, core::ErrorCode::kConflict);
  auto re = env_.subs_->Reactivate("org-a", s.id);
  ASSERT_TRUE(re);
  EXPECT_EQ(re->state, SubscriptionState::kActive);
  EXPECT_EQ(env_.AuditCount("billing.subscription.suspend"), 1);
  EXPECT_EQ(env_.AuditCount("billing.subscription.reactivate"), 1);
  // Another organization does not see it.
  EXPECT_EQ(env_.subs_->Get("org-b", s.id).error().code, core::ErrorCode::kNotFound);
}

TEST_F(SubscriptionTest, RetriedUsageReportsAreBilledOnce) {
  Subscription s = OrderAndAccept("org-a", "shared-s");
  ASSERT_TRUE(env_.run_->Run(D(2026, 1, 15)));
  const core::TimePoint t = StartOfDay(D(2026, 1, 20));
  UsageRecord hours{"org-a", s.id, kMetricVpsHours, 24, t, "vps-1:2026-01-20"};
  auto first = env_.usage_->Record(hours);
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_FALSE(first->duplicate);
  for (int retry = 0; retry < 3; ++retry) {  // the reporter timed out and retried
    auto again = env_.usage_->Record(hours);
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->duplicate);
    EXPECT_EQ(again->id, first->id);
  }
  UsageRecord changed = hours;
  changed.quantity = 25;
  EXPECT_EQ(env_.usage_->Record(changed).error().code, core::ErrorCode::kConflict);
  ASSERT_TRUE(env_.usage_->Record({"org-a", s.id, kMetricBandwidthGb, 120, t, "bw-1"}));
  ASSERT_TRUE(env_.usage_->Record({"org-a", s.id, kMetricCertificates, 2, t, "cert-1"}));
  EXPECT_EQ(env_.usage_->Total("org-a", s.id, kMetricVpsHours, t, t + std::chrono::hours(24))
                .value(), 24);
  // Another organization cannot report against this subscription.
  EXPECT_EQ(env_.usage_->Record({"org-b", s.id, kMetricVpsHours, 1, t, "x"}).error().code,
            core::ErrorCode::kNotFound);

  auto run = env_.run_->Run(D(2026, 2, 15));
  ASSERT_TRUE(run) << run.error().ToString();
  EXPECT_EQ(run->usage_records_rated, 3);
  auto invs = env_.invoices_->List("org-a");
  ASSERT_EQ(invs->size(), 2u);
  // Next period ¥1,000 + 24 h x ¥7 + 120 GB x ¥3 + 2 certificates x ¥100.
  EXPECT_EQ((*invs)[1].totals.subtotal.yen(), 1000 + 168 + 360 + 200);
  // A report retried after rating is still not billed again.
  auto late = env_.usage_->Record(hours);
  ASSERT_TRUE(late);
  EXPECT_TRUE(late->duplicate);
  auto next = env_.run_->Run(D(2026, 3, 15));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->usage_records_rated, 0);
  EXPECT_EQ(env_.invoices_->List("org-a")->back().totals.subtotal.yen(), 1000);
}

TEST_F(SubscriptionTest, ResellerCustomersGetTheResellersInvoiceAndTheResellerPaysWholesale) {
  Partner p;
  p.partner_id = "partner-r";
  p.channel = Channel::kReseller;
  p.issuer = {"リセラー合同会社", "T9876543210987", "大阪府"};
  p.invoice_prefix = "RS";
  p.billing_organization_id = "org-reseller";
  ASSERT_TRUE(env_.prices_->UpsertPartner(p));
  env_.DirectAccount("org-reseller");
  ASSERT_TRUE(env_.prices_->UpsertAccount({"org-c", "End customer", Channel::kReseller,
                                           "partner-r"}));
  // Without a sell price the reseller's customer cannot order.
  EXPECT_EQ(env_.subs_->Order({"org-c", "shared-s", BillingPeriod::kMonthly, ""}).error().code,
            core::ErrorCode::kNotFound);
  ASSERT_TRUE(env_.prices_->SetPartnerPrice(
      "", PartnerPriceKind::kWholesale,
      {"shared-s", BillingPeriod::kMonthly, Y(800), Y(0), D(2020, 1, 1)}));
  ASSERT_TRUE(env_.prices_->SetPartnerPrice(
      "partner-r", PartnerPriceKind::kWholesale,
      {"shared-s", BillingPeriod::kMonthly, Y(700), Y(0), D(2020, 1, 1)}));
  ASSERT_TRUE(env_.prices_->SetPartnerPrice(
      "partner-r", PartnerPriceKind::kSell,
      {"shared-s", BillingPeriod::kMonthly, Y(1500), Y(0), D(2020, 1, 1)}));
  OrderAndAccept("org-c", "shared-s");
  ASSERT_TRUE(env_.run_->Run(D(2026, 1, 15)));
  auto cust = env_.invoices_->List("org-c");
  ASSERT_EQ(cust->size(), 1u);
  EXPECT_EQ((*cust)[0].issuer.name, "リセラー合同会社");
  EXPECT_EQ((*cust)[0].issuer.registration_number, "T9876543210987");
  EXPECT_EQ((*cust)[0].number, "RS-00000001");
  EXPECT_EQ((*cust)[0].totals.subtotal.yen(), 1500);
  auto whole = env_.invoices_->List("org-reseller");
  ASSERT_EQ(whole->size(), 1u);
  EXPECT_EQ(whole->front().issuer.registration_number, "T1234567890123");
  EXPECT_EQ(whole->front().totals.subtotal.yen(), 700);  // the partner's override
  EXPECT_EQ(whole->front().number, "INV-00000001");
}

TEST_F(SubscriptionTest, CreditNoteCorrectsAnIssuedInvoiceAndRendersAsHtmlAndCsv) {
  OrderAndAccept("org-a", "shared-s");
  ASSERT_TRUE(env_.run_->Run(D(2026, 1, 15)));
  Invoice inv = env_.invoices_->List("org-a")->front();
  auto note = env_.invoices_->IssueCreditNote(
      "org-a", inv.id, {{"Setup fee waived", 1, Y(500), TaxRate::kStandard10}}, "goodwill");
  ASSERT_TRUE(note) << note.error().ToString();
  EXPECT_EQ(note->kind, InvoiceKind::kCreditNote);
  EXPECT_EQ(note->number, "INV-CN-00000001");  // credit notes: own series
  EXPECT_EQ(note->totals.total.yen(), 550);
  EXPECT_EQ(env_.ledger_->Balance("org-a", accounts::kReceivable)->yen(), 1650 - 550);
  EXPECT_EQ(env_.invoices_->IssueCreditNote("org-a", inv.id,
                                            {{"Too much", 1, Y(1001), TaxRate::kStandard10}},
                                            "x").error().field, "lines");
  const std::string html = RenderInvoiceHtml(inv);
  EXPECT_NE(html.find("T1234567890123"), std::string::npos);
  EXPECT_NE(html.find("INV-00000001"), std::string::npos);
  EXPECT_NE(html.find("10%対象"), std::string::npos);
  EXPECT_NE(html.find("¥1,650"), std::string::npos);
  const std::string csv = InvoicesToCsv(*env_.invoices_->List("org-a"));
  EXPECT_NE(csv.find("INV-CN-00000001,credit_note,"), std::string::npos);
  EXPECT_NE(csv.find(",INV-00000001\r\n"), std::string::npos) << "the note names the invoice it corrects";
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);  // header + 2 lines + 1 note line
  auto check = env_.ledger_->Check();
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->balanced);
}

}  // namespace
}  // namespace hp::billing
