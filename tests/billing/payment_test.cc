// Card payments through the HTTP adapter against the simulated gateway on loopback, signed
// webhooks delivered over HTTP to the billing webhook route (acceptance 3, webhook part), bank
// transfers and refunds.
#include <gtest/gtest.h>

#include "billing_test_util.h"
#include "hp/billing/payment.h"
#include "hp/billing/sim_gateway.h"
#include "hp/core/http_server.h"

namespace hp::billing {
namespace {

using testing::BillingEnv;
using testing::D;
using testing::Y;

class PaymentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.SeedCatalog();
    env_.DirectAccount("org-a");
    http_ = core::NewCurlHttpClient();
    auto sim = SimulatedCardGateway::Create({"sk_test", "whsec_test", ""}, env_.clock_, *http_,
                                            metrics_);
    ASSERT_TRUE(sim) << sim.error().ToString();
    sim_ = std::move(*sim);
    HttpCardGatewayOptions o;
    o.base_url = sim_->url();
    o.api_key = core::Secret("sk_test");
    o.webhook_secret = core::Secret("whsec_test");
    auto gw = HttpCardGateway::Create(std::move(o), *http_, env_.clock_);
    ASSERT_TRUE(gw) << gw.error().ToString();
    gateway_ = std::move(*gw);
    payments_ = std::make_unique<Payments>(env_.deps_, *gateway_, *env_.invoices_, *env_.ledger_);
    payments_->OnInvoicePaid([this](SQLite::Database&, const Invoice& inv) -> core::Status {
      paid_.push_back(inv.id);
      return core::Ok();
    });
    payments_->MountRoutes(router_);
    auto srv = core::http::Server::Create({.port = 0, .threads = 1, .access_log = false}, router_,
                                          metrics_);
    ASSERT_TRUE(srv);
    server_ = std::move(*srv);
    ASSERT_TRUE(server_->Start());
    sim_->SetWebhookUrl("http://127.0.0.1:" + std::to_string(server_->port()) +
                        "/api/v1/billing/webhooks/card");
    auto s = env_.subs_->Order({"org-a", "shared-s", BillingPeriod::kMonthly, ""});
    ASSERT_TRUE(env_.subs_->Accept("org-a", s->id));
    ASSERT_TRUE(env_.run_->Run(D(2026, 1, 15)));
    invoice_ = env_.invoices_->List("org-a")->front();  // ¥1,650
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(500));
    if (sim_) sim_->Shutdown();
  }
  int64_t Receivable() { return env_.ledger_->Balance("org-a", accounts::kReceivable)->yen(); }
  int64_t Cash() { return env_.ledger_->Balance("org-a", accounts::kCash)->yen(); }

  BillingEnv env_;
  core::MetricsRegistry metrics_;
  std::unique_ptr<core::HttpClient> http_;
  std::unique_ptr<SimulatedCardGateway> sim_;
  std::unique_ptr<PaymentGateway> gateway_;
  std::unique_ptr<Payments> payments_;
  core::http::Router router_;
  std::unique_ptr<core::http::Server> server_;
  Invoice invoice_;
  std::vector<std::string> paid_;
};

TEST_F(PaymentTest, CardPaymentAndRetriedWebhooksAreCountedOnce) {
  auto p = payments_->PayByCard("org-a", invoice_.id, "tok_visa");
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->amount.yen(), 1650);
  EXPECT_EQ(Receivable(), 0);
  EXPECT_EQ(Cash(), 1650);
  // The gateway's capture webhook arrives after the synchronous capture, then is retried.
  auto delivered = sim_->DeliverPending();
  ASSERT_TRUE(delivered) << delivered.error().ToString();
  EXPECT_EQ(*delivered, 1);
  for (const std::string& id : sim_->EventIds()) {
    auto status = sim_->Redeliver(id);
    ASSERT_TRUE(status);
    EXPECT_EQ(*status, 200);
  }
  EXPECT_EQ(Cash(), 1650);
  EXPECT_EQ(payments_->List("org-a")->size(), 1u);
  EXPECT_EQ(env_.invoices_->Get("org-a", invoice_.id)->status, InvoiceStatus::kPaid);
  EXPECT_EQ(paid_.size(), 1u);
  EXPECT_EQ(env_.AuditCount("billing.payment.capture"), 1);
  EXPECT_TRUE(env_.ledger_->Check()->balanced);
}

TEST_F(PaymentTest, WebhookAloneCapturesWhenTheSynchronousAnswerWasLost) {
  // Simulate a lost answer: authorise and capture straight at the gateway.
  auto auth = gateway_->Authorize(Y(1650), "tok_visa", "k1", "org-a", invoice_.id);
  ASSERT_TRUE(auth);
  ASSERT_TRUE(gateway_->Capture(auth->ref, Y(1650), "k1c"));
  EXPECT_EQ(Cash(), 0);
  ASSERT_EQ(*sim_->DeliverPending(), 1);
  ASSERT_EQ(*sim_->Redeliver(sim_->EventIds().front()), 200);
  EXPECT_EQ(Cash(), 1650);
  EXPECT_EQ(env_.invoices_->Get("org-a", invoice_.id)->status, InvoiceStatus::kPaid);
}

TEST_F(PaymentTest, BadSignaturesAndStaleWebhooksAreRejected) {
  auto auth = gateway_->Authorize(Y(1650), "tok_visa", "k1", "org-a", invoice_.id);
  ASSERT_TRUE(gateway_->Capture(auth->ref, Y(1650), "k1c"));
  const std::string body =
      R"({"id":"evt_forged","type":"charge.captured","data":{"id":")" + auth->ref +
      R"(","amount":1650,"metadata":{"organization_id":"org-a","invoice_id":")" + invoice_.id +
      R"("}}})";
  const int64_t now = core::ToUnixSeconds(env_.clock_.Now());
  EXPECT_EQ(payments_->HandleWebhook(body, SignWebhook("wrong", now, body)).error().code,
            core::ErrorCode::kUnauthenticated);
  EXPECT_EQ(payments_->HandleWebhook(body, SignWebhook("whsec_test", now - 3600, body))
                .error().code,
            core::ErrorCode::kUnauthenticated);
  EXPECT_EQ(payments_->HandleWebhook(body, "").error().code, core::ErrorCode::kUnauthenticated);
  EXPECT_EQ(Cash(), 0);
  auto ok = payments_->HandleWebhook(body, SignWebhook("whsec_test", now, body));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->effect, "captured");
}

TEST_F(PaymentTest, DeclinedCardLeavesTheInvoiceOpen) {
  auto p = payments_->PayByCard("org-a", invoice_.id, "tok_decline");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, core::ErrorCode::kPermissionDenied);
  EXPECT_NE(p.error().detail.find("card_declined"), std::string::npos);
  EXPECT_EQ(Receivable(), 1650);
  EXPECT_EQ(env_.invoices_->Get("org-a", invoice_.id)->status, InvoiceStatus::kIssued);
  // Another card after the decline is a new authorization, not a replay of the declined one.
  auto second = payments_->PayByCard("org-a", invoice_.id, "tok_visa");
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_EQ(second->amount.yen(), 1650);
  EXPECT_EQ(Receivable(), 0);
  EXPECT_EQ(env_.invoices_->Get("org-a", invoice_.id)->status, InvoiceStatus::kPaid);
}

TEST_F(PaymentTest, RefundIsPostedOnceEvenWhenItsWebhookFollows) {
  auto p = payments_->PayByCard("org-a", invoice_.id, "tok_visa");
  ASSERT_TRUE(p);
  auto r = payments_->Refund("org-a", p->id, Y(650));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->refunded.yen(), 650);
  ASSERT_TRUE(sim_->DeliverPending());
  for (const std::string& id : sim_->EventIds()) ASSERT_EQ(*sim_->Redeliver(id), 200);
  EXPECT_EQ(Cash(), 1000);
  // A refund alone reopens the receivable; the operator pairs it with a credit note.
  EXPECT_EQ(Receivable(), 650);
  EXPECT_EQ(payments_->Refund("org-a", p->id, Y(1001)).error().field, "amount");
  EXPECT_TRUE(env_.ledger_->Check()->balanced);
}

// A refund made in the gateway's own dashboard reaches hostplane only as a charge.refunded
// webhook without our metadata: the credit note (-CN series) is issued for it exactly once,
// however often the event is delivered; refunds hostplane made itself get none from the webhook.
TEST_F(PaymentTest, DashboardRefundGetsExactlyOneCreditNote) {
  auto p = payments_->PayByCard("org-a", invoice_.id, "tok_visa");
  ASSERT_TRUE(p) << p.error().ToString();
  ASSERT_TRUE(sim_->DeliverPending());
  auto dashboard_refund = [&](int64_t amount) {
    core::HttpClientRequest r;
    r.method = "POST";
    r.url = sim_->url() + "/dashboard/authorizations/" + p->gateway_ref + "/refund";
    r.body = core::Json{{"amount", amount}}.dump();
    r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer sk_test"}};
    auto resp = http_->Do(r);
    ASSERT_TRUE(resp) << resp.error().ToString();
    ASSERT_EQ(resp->status, 200) << resp->body;
  };
  dashboard_refund(550);  // the setup fee with its tax: 500 + 50
  ASSERT_EQ(*sim_->DeliverPending(), 1);
  for (const std::string& id : sim_->EventIds()) ASSERT_EQ(*sim_->Redeliver(id), 200);
  auto notes = env_.invoices_->CreditNotesOf("org-a", invoice_.id);
  ASSERT_TRUE(notes) << notes.error().ToString();
  ASSERT_EQ(notes->size(), 1u);
  const Invoice& n1 = notes->front();
  EXPECT_EQ(n1.number, "INV-CN-00000001");
  EXPECT_EQ(n1.corrects_invoice_id, invoice_.id);
  EXPECT_EQ(n1.totals.subtotal.yen(), 500);
  EXPECT_EQ(n1.totals.by_rate.at(0).tax.yen(), 50);
  EXPECT_EQ(n1.totals.total.yen(), 550);
  EXPECT_EQ(Cash(), 1100);
  EXPECT_EQ(Receivable(), 0) << "the credit note and the refund cancel out";
  EXPECT_EQ(env_.AuditCount("billing.payment.gateway_refund"), 1);

  // An odd amount: one line at 10% whose total with tax (floor) is exactly ¥100: 91 + 9.
  dashboard_refund(100);
  ASSERT_EQ(*sim_->DeliverPending(), 1);
  notes = env_.invoices_->CreditNotesOf("org-a", invoice_.id);
  ASSERT_EQ(notes->size(), 2u);
  EXPECT_EQ(notes->back().number, "INV-CN-00000002");
  EXPECT_EQ(notes->back().totals.subtotal.yen(), 91);
  EXPECT_EQ(notes->back().totals.total.yen(), 100);
  EXPECT_EQ(Cash(), 1000);
  EXPECT_EQ(Receivable(), 0);

  // A refund hostplane makes (with its own credit note) is not credited again by its webhook.
  auto r = payments_->RefundInvoice("org-a", invoice_.id,
                                    {{"Shared S refund", 1, Y(900), TaxRate::kStandard10}},
                                    "cancelled");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->second.number, "INV-CN-00000003");
  EXPECT_EQ(r->second.totals.total.yen(), 990);
  ASSERT_EQ(*sim_->DeliverPending(), 1);
  for (const std::string& id : sim_->EventIds()) ASSERT_EQ(*sim_->Redeliver(id), 200);
  EXPECT_EQ(env_.invoices_->CreditNotesOf("org-a", invoice_.id)->size(), 3u);
  EXPECT_EQ(env_.AuditCount("billing.payment.gateway_refund"), 2);
  EXPECT_EQ(Cash(), 10);
  EXPECT_EQ(Receivable(), 0);
  EXPECT_EQ(*env_.invoices_->SeriesSequences("INV-CN"), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_TRUE(env_.ledger_->Check()->balanced);
}

TEST_F(PaymentTest, BankTransferMarkedPaidByAnOperator) {
  auto p = payments_->MarkBankTransferPaid("org-a", invoice_.id, Y(1650), "MUFG 2026-01-20",
                                           {"staff", "op-1", "127.0.0.1", ""});
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(env_.invoices_->Get("org-a", invoice_.id)->status, InvoiceStatus::kPaid);
  EXPECT_EQ(Receivable(), 0);
  EXPECT_EQ(paid_.size(), 1u);
  EXPECT_EQ(payments_->MarkBankTransferPaid("org-a", invoice_.id, Y(1), "again").error().code,
            core::ErrorCode::kConflict);
  EXPECT_EQ(payments_->MarkBankTransferPaid("org-b", invoice_.id, Y(1), "x").error().code,
            core::ErrorCode::kNotFound);
}

}  // namespace
}  // namespace hp::billing
