#pragma once
// The double-entry ledger. Every charge (invoice issued), credit (credit note, account credit),
// payment, refund and commission is one ledger transaction of postings whose amounts sum to zero
// (debit positive, credit negative). Balances are sums of rows, never stored counters. Rows are
// append-only (triggers refuse UPDATE and DELETE).
//
// Accounts (per organization where it applies):
//   receivable       what the organization owes (positive) or is owed (negative)
//   revenue          platform sales, tax-exclusive (credit side, negative)
//   tax_payable      consumption tax collected
//   cash             money received through the gateway or bank transfer
//   commission_payable / commission_expense   agency commissions
//
// Thread-safe.

#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "hp/billing/billing.h"
#include "hp/core/jobs.h"
#include "hp/core/money.h"

namespace hp::billing {

namespace accounts {
inline constexpr const char* kReceivable = "receivable";
inline constexpr const char* kRevenue = "revenue";
inline constexpr const char* kTaxPayable = "tax_payable";
inline constexpr const char* kCash = "cash";
inline constexpr const char* kCommissionPayable = "commission_payable";
inline constexpr const char* kCommissionExpense = "commission_expense";
}  // namespace accounts

inline constexpr const char* kLedgerCheckJob = "billing.ledger.check";

struct Posting {
  std::string account;
  std::string organization_id;  // "" for platform-wide accounts
  core::Money amount;           // debit > 0, credit < 0
};

struct LedgerTxn {
  std::string kind;       // "charge", "credit", "payment", "refund", "commission", "adjustment"
  std::string reference;  // "invoice:<id>", "payment:<id>"
  std::vector<Posting> postings;
};

// One posting of an account with the balance after it (statement of account).
struct LedgerEntry {
  std::string txn_id;
  std::string kind;       // "charge", "credit", "payment", "refund", ...
  std::string reference;  // "invoice:<id>", "payment:<id>"
  core::Money amount;
  core::TimePoint at;
  core::Money balance;  // running sum up to and including this posting
};

struct LedgerCheck {
  bool balanced = true;
  int64_t rows = 0;
  int64_t transactions = 0;
  core::Money sum;  // of every posting; zero when balanced
  std::vector<std::string> unbalanced_txns;  // at most 100
};

class Ledger {
 public:
  explicit Ledger(const BillingDeps& deps) : deps_(deps) {}

  // Appends inside the caller's write transaction; returns the ledger transaction id.
  // kInvalidArgument (field "postings") when empty or not summing to zero.
  core::Result<std::string> Post(SQLite::Database& tx, const LedgerTxn& txn);
  // Posts in its own transaction with an audit event "billing.ledger.post".
  core::Result<std::string> Record(const LedgerTxn& txn, const Actor& actor = {});
  // Sum of an organization's postings to `account`.
  core::Result<core::Money> Balance(const std::string& organization_id, const std::string& account);
  // Every posting of an organization's account, oldest first, with running balances.
  core::Result<std::vector<LedgerEntry>> Entries(const std::string& organization_id,
                                                 const std::string& account);
  // Every transaction sums to zero and so does the whole ledger.
  core::Result<LedgerCheck> Check();
  // Handler of kLedgerCheckJob: runs Check(), fails the job (and logs) when unbalanced, and
  // enqueues the next day's run (idempotency key "ledger-check:<date>").
  void RegisterHandlers(core::WorkerPool& workers, core::JobQueue& jobs);
  // Enqueues today's check if not yet enqueued.
  core::Status ScheduleDailyCheck(core::JobQueue& jobs);

 private:
  BillingDeps deps_;
};

}  // namespace hp::billing
