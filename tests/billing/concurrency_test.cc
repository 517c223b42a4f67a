// Acceptance 5: 1,000 parallel charges to one account leave the exact balance; invoices issued
// in parallel get numbers without gaps or duplicates; issued invoices and ledger rows cannot be
// changed.
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "billing_test_util.h"

namespace hp::billing {
namespace {

using testing::BillingEnv;
using testing::D;
using testing::Y;

TEST(Concurrency, ThousandParallelChargesLeaveTheExactBalance) {
  BillingEnv env;
  constexpr int kThreads = 8, kPerThread = 125;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int64_t yen = 100 + (t * kPerThread + i) % 7;  // 100..106
        LedgerTxn txn{"charge", "test:" + std::to_string(t) + ":" + std::to_string(i),
                      {{accounts::kReceivable, "org-1", Y(yen)},
                       {accounts::kRevenue, "org-1", Y(-yen)}}};
        for (;;) {  // a busy database is retryable; anything else is a failure
          auto r = env.ledger_->Record(txn);
          if (r) break;
          if (r.error().code != core::ErrorCode::kUnavailable) {
            ++failures;
            break;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  int64_t expected = 0;
  for (int n = 0; n < kThreads * kPerThread; ++n) expected += 100 + n % 7;
  auto bal = env.ledger_->Balance("org-1", accounts::kReceivable);
  ASSERT_TRUE(bal);
  EXPECT_EQ(bal->yen(), expected);
  auto check = env.ledger_->Check();
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->balanced);
  EXPECT_EQ(check->transactions, 1000);
  EXPECT_EQ(env.AuditCount("billing.ledger.post"), 1000);
}

TEST(Concurrency, ParallelInvoicesGetGaplessUniqueNumbers) {
  BillingEnv env;
  constexpr int kThreads = 8, kPerThread = 50;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<std::string> numbers;
  std::atomic<int> rejected{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        InvoiceDraft d;
        d.organization_id = "org-" + std::to_string(t);
        d.issuer = env.config_.platform_issuer;
        d.series = "INV";
        d.recipient_name = "Customer";
        d.issue_date = d.period_start = D(2026, 1, 15);
        d.period_end = D(2026, 2, 15);
        d.lines = {{"Shared S", 1, Y(1000 + i), TaxRate::kStandard10}};
        // Every fifth issue fails validation inside the transaction: its number must not be
        // consumed.
        if (i % 5 == 4) d.issuer.registration_number = "T123";
        auto r = env.invoices_->Issue(d);
        std::lock_guard lock(mu);
        if (r)
          numbers.push_back(r->number);
        else
          ++rejected;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(rejected.load(), kThreads * kPerThread / 5);
  std::set<std::string> unique(numbers.begin(), numbers.end());
  EXPECT_EQ(unique.size(), numbers.size());
  auto seqs = env.invoices_->SeriesSequences("INV");
  ASSERT_TRUE(seqs);
  ASSERT_EQ(seqs->size(), numbers.size());
  for (size_t i = 0; i < seqs->size(); ++i) EXPECT_EQ((*seqs)[i], static_cast<int64_t>(i + 1));
  EXPECT_TRUE(unique.contains("INV-00000001"));
  EXPECT_TRUE(unique.contains("INV-00000320"));
}

TEST(Concurrency, IssuedInvoicesAndLedgerRowsAreImmutable) {
  BillingEnv env;
  InvoiceDraft d;
  d.organization_id = "org-1";
  d.issuer = env.config_.platform_issuer;
  d.series = "INV";
  d.recipient_name = "Customer";
  d.issue_date = d.period_start = D(2026, 1, 15);
  d.period_end = D(2026, 2, 15);
  d.lines = {{"Shared S", 1, Y(1000), TaxRate::kStandard10}};
  auto inv = env.invoices_->Issue(d);
  ASSERT_TRUE(inv);
  for (const char* sql : {"UPDATE billing_invoices SET total = 1", "DELETE FROM billing_invoices",
                          "UPDATE billing_invoice_lines SET amount = 1",
                          "UPDATE billing_ledger SET amount = 0", "DELETE FROM billing_ledger"}) {
    auto st = env.db_->Write([&](SQLite::Database& db) -> core::Status {
      db.exec(sql);
      return core::Ok();
    });
    EXPECT_FALSE(st) << sql;
  }
  auto again = env.invoices_->Get("org-1", inv->id);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->totals.total.yen(), 1100);
  // Another organization cannot see it.
  EXPECT_EQ(env.invoices_->Get("org-2", inv->id).error().code, core::ErrorCode::kNotFound);
}

}  // namespace
}  // namespace hp::billing
