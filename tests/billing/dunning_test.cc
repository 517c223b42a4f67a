// Dunning with the fake clock through the durable sweep job, against a recording
// ServiceSuspender (the control plane wires the real one to provisioning; the end-to-end
// "site serves the suspension page" test belongs there). Reminders on days 1/7/14 after the due
// date, suspension on day 21, termination on day 45 with content deletion at the end of the
// month after next; payment before termination reactivates.
#include <gtest/gtest.h>

#include "billing_test_util.h"
#include "hp/billing/dunning.h"
#include "hp/billing/payment.h"
#include "hp/billing/sim_gateway.h"
#include "hp/core/jobs.h"

namespace hp::billing {
namespace {

using testing::BillingEnv;
using testing::D;
using testing::Y;

class RecordingSuspender final : public ServiceSuspender {
 public:
  core::Status SendReminder(const std::string& org, const std::string&, int n) override {
    calls.push_back("remind " + org + " " + std::to_string(n));
    return core::Ok();
  }
  core::Status SuspendServices(const std::string& org, const std::string&) override {
    calls.push_back("suspend " + org);
    return core::Ok();
  }
  core::Status ResumeServices(const std::string& org) override {
    calls.push_back("resume " + org);
    return core::Ok();
  }
  core::Status TerminateServices(const std::string& org) override {
    calls.push_back("terminate " + org);
    return core::Ok();
  }
  core::Status ScheduleContentDeletion(const std::string& org, Date on) override {
    calls.push_back("delete " + org + " " + FormatDate(on));
    return core::Ok();
  }
  std::vector<std::string> calls;
};

class DunningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.SeedCatalog();
    env_.DirectAccount("org-a");
    ASSERT_TRUE(ValidateDunningPolicy(policy_));
    dunning_ = std::make_unique<Dunning>(env_.deps_, policy_, suspender_);
    env_.run_->OnInvoiceIssued(
        [this](SQLite::Database& tx, const Invoice& inv) { return dunning_->Open(tx, inv); });
    http_ = core::NewCurlHttpClient();
    sim_ = *SimulatedCardGateway::Create({"k", "s", ""}, env_.clock_, *http_, metrics_);
    HttpCardGatewayOptions o;
    o.base_url = sim_->url();
    o.api_key = core::Secret("k");
    o.webhook_secret = core::Secret("s");
    gateway_ = *HttpCardGateway::Create(std::move(o), *http_, env_.clock_);
    payments_ = std::make_unique<Payments>(env_.deps_, *gateway_, *env_.invoices_, *env_.ledger_);
    payments_->OnInvoicePaid(
        [this](SQLite::Database& tx, const Invoice& inv) { return dunning_->OnPaid(tx, inv); });
    jobs_ = std::make_unique<core::JobQueue>(*env_.db_, env_.clock_);
    workers_ = std::make_unique<core::WorkerPool>(*jobs_, core::WorkerPoolOptions{});
    dunning_->RegisterHandlers(*workers_, *jobs_);
    ASSERT_TRUE(dunning_->Start(*jobs_));

    auto s = env_.subs_->Order({"org-a", "shared-s", BillingPeriod::kMonthly, ""});
    sub_ = env_.subs_->Accept("org-a", s->id)->id;
    ASSERT_TRUE(env_.run_->Run(D(2026, 1, 15)));
    invoice_ = env_.invoices_->List("org-a")->front();
    ASSERT_EQ(invoice_.due_date, D(2026, 1, 29));
  }
  void TearDown() override { sim_->Shutdown(); }

  // Moves the fake clock to 09:00 UTC of `day` and runs every due job.
  void AdvanceTo(Date day) {
    env_.clock_.Set(StartOfDay(day) + std::chrono::hours(9));
    for (int i = 0; i < 10; ++i) {
      auto ran = workers_->RunOnce();
      ASSERT_TRUE(ran) << ran.error().ToString();
      if (!*ran) break;
    }
  }
  DunningStage Stage() { return dunning_->Get("org-a", invoice_.id)->stage; }
  SubscriptionState SubState() { return env_.subs_->Get("org-a", sub_)->state; }

  BillingEnv env_{D(2026, 1, 15)};
  DunningPolicy policy_;
  RecordingSuspender suspender_;
  std::unique_ptr<Dunning> dunning_;
  core::MetricsRegistry metrics_;
  std::unique_ptr<core::HttpClient> http_;
  std::unique_ptr<SimulatedCardGateway> sim_;
  std::unique_ptr<PaymentGateway> gateway_;
  std::unique_ptr<Payments> payments_;
  std::unique_ptr<core::JobQueue> jobs_;
  std::unique_ptr<core::WorkerPool> workers_;
  std::string sub_;
  Invoice invoice_;
};

TEST_F(DunningTest, RemindersThenSuspensionThenPaymentReactivates) {
  AdvanceTo(D(2026, 1, 29));  // due today: nothing yet
  EXPECT_TRUE(suspender_.calls.empty());
  AdvanceTo(D(2026, 1, 30));
  AdvanceTo(D(2026, 2, 5));
  AdvanceTo(D(2026, 2, 12));
  EXPECT_EQ(suspender_.calls, (std::vector<std::string>{"remind org-a 1", "remind org-a 2",
                                                         "remind org-a 3"}));
  EXPECT_EQ(Stage(), DunningStage::kReminded);
  AdvanceTo(D(2026, 2, 18));  // day 20: not yet
  EXPECT_EQ(SubState(), SubscriptionState::kActive);
  AdvanceTo(D(2026, 2, 19));  // day 21
  EXPECT_EQ(suspender_.calls.back(), "suspend org-a");
  EXPECT_EQ(Stage(), DunningStage::kSuspended);
  EXPECT_EQ(SubState(), SubscriptionState::kSuspended);

  auto paid = payments_->MarkBankTransferPaid("org-a", invoice_.id, Y(1650), "furikomi-1",
                                              {"staff", "op-1", "", ""});
  ASSERT_TRUE(paid) << paid.error().ToString();
  EXPECT_EQ(Stage(), DunningStage::kResolving);
  AdvanceTo(D(2026, 2, 20));
  EXPECT_EQ(suspender_.calls.back(), "resume org-a");
  EXPECT_EQ(Stage(), DunningStage::kResolved);
  EXPECT_EQ(SubState(), SubscriptionState::kActive);
  AdvanceTo(D(2026, 3, 20));  // nothing else happens to a paid invoice
  EXPECT_EQ(suspender_.calls.size(), 5u);
  EXPECT_EQ(env_.AuditCount("billing.dunning.remind"), 3);
  EXPECT_EQ(env_.AuditCount("billing.dunning.suspend"), 1);
  EXPECT_EQ(env_.AuditCount("billing.dunning.resume"), 1);
}

TEST_F(DunningTest, UnpaidInvoiceEndsInTerminationAndScheduledDeletion) {
  AdvanceTo(D(2026, 3, 15));  // 45 days overdue at once: every step in order
  EXPECT_EQ(suspender_.calls,
            (std::vector<std::string>{"remind org-a 1", "suspend org-a", "terminate org-a",
                                      "delete org-a 2026-05-31"}));
  auto c = dunning_->Get("org-a", invoice_.id);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->stage, DunningStage::kTerminated);
  EXPECT_EQ(c->deletion_date, "2026-05-31");  // end of the month after next
  EXPECT_EQ(SubState(), SubscriptionState::kCancelled);
  // Too late: a payment is recorded but nothing is resumed, and waiving is refused.
  ASSERT_TRUE(payments_->MarkBankTransferPaid("org-a", invoice_.id, Y(1650), "late"));
  AdvanceTo(D(2026, 3, 16));
  EXPECT_EQ(suspender_.calls.back(), "delete org-a 2026-05-31");
  EXPECT_EQ(dunning_->Waive("org-a", invoice_.id, {}).error().code, core::ErrorCode::kConflict);
  EXPECT_EQ(env_.AuditCount("billing.dunning.terminate"), 1);
}

TEST_F(DunningTest, OperatorWaiverUndoesASuspension) {
  AdvanceTo(D(2026, 2, 19));
  EXPECT_EQ(Stage(), DunningStage::kSuspended);
  ASSERT_TRUE(dunning_->Waive("org-a", invoice_.id, {"staff", "op-1", "", ""}));
  AdvanceTo(D(2026, 2, 20));
  EXPECT_EQ(suspender_.calls.back(), "resume org-a");
  EXPECT_EQ(SubState(), SubscriptionState::kActive);
  EXPECT_EQ(env_.AuditCount("billing.dunning.waive"), 1);
  EXPECT_EQ(dunning_->Waive("org-b", invoice_.id, {}).error().code, core::ErrorCode::kNotFound);
}

TEST(DunningPolicyTest, BadPoliciesNameTheKey) {
  DunningPolicy p;
  p.suspend_day = 10;  // before the day-14 reminder
  EXPECT_EQ(ValidateDunningPolicy(p).error().field, "billing.dunning.suspend_day");
  p = {};
  p.terminate_day = 21;
  EXPECT_EQ(ValidateDunningPolicy(p).error().field, "billing.dunning.terminate_day");
}

}  // namespace
}  // namespace hp::billing
