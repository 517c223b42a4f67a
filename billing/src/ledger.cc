#include "hp/billing/ledger.h"

#include "hp/core/log.h"
#include "util.h"

namespace hp::billing {

using core::ErrorCode;
using core::FailField;
using core::Money;
using core::Result;
using core::Status;

Result<std::string> Ledger::Post(SQLite::Database& tx, const LedgerTxn& txn) {
  if (txn.postings.size() < 2)
    return FailField(ErrorCode::kInvalidArgument, "postings", "a transaction has two sides");
  Money sum;
  for (const Posting& p : txn.postings) {
    if (p.account.empty())
      return FailField(ErrorCode::kInvalidArgument, "postings/account", "empty account");
    auto s = sum.Add(p.amount);
    if (!s) return FailField(ErrorCode::kInvalidArgument, "postings", "amount out of range");
    sum = *s;
  }
  if (sum.yen() != 0)
    return FailField(ErrorCode::kInvalidArgument, "postings",
                     "postings sum to " + sum.Format() + ", not zero");
  const std::string id = deps_.ids->NewId();
  const int64_t now = internal::NowMicros(deps_);
  SQLite::Statement q(tx,
                      "INSERT INTO billing_ledger (txn_id, kind, reference, account, "
                      "organization_id, amount, created_at) VALUES (?,?,?,?,?,?,?)");
  for (const Posting& p : txn.postings) {
    q.bind(1, id);
    q.bind(2, txn.kind);
    q.bind(3, txn.reference);
    q.bind(4, p.account);
    q.bind(5, p.organization_id);
    q.bind(6, p.amount.yen());
    q.bind(7, now);
    q.exec();
    q.reset();
  }
  return id;
}

Result<std::string> Ledger::Record(const LedgerTxn& txn, const Actor& actor) {
  return deps_.db->Write([&](SQLite::Database& db) -> Result<std::string> {
    HP_ASSIGN_OR_RETURN(std::string id, Post(db, txn));
    std::string org;
    core::Json postings = core::Json::array();
    for (const Posting& p : txn.postings) {
      if (org.empty()) org = p.organization_id;
      postings.push_back({{"account", p.account}, {"org", p.organization_id},
                          {"amount", p.amount.yen()}});
    }
    HP_TRY(internal::Audit(deps_, db, actor, org, "billing.ledger.post", "ledger:" + id,
                           {{"kind", txn.kind}, {"reference", txn.reference},
                            {"postings", postings}}));
    return id;
  });
}

Result<Money> Ledger::Balance(const std::string& org, const std::string& account) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<Money> {
    SQLite::Statement q(db,
                        "SELECT COALESCE(SUM(amount), 0) FROM billing_ledger WHERE "
                        "organization_id = ? AND account = ?");
    q.bind(1, org);
    q.bind(2, account);
    q.executeStep();
    return Money::Yen(q.getColumn(0).getInt64());
  });
}

Result<std::vector<LedgerEntry>> Ledger::Entries(const std::string& org,
                                                 const std::string& account) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<std::vector<LedgerEntry>> {
    SQLite::Statement q(db,
                        "SELECT txn_id, kind, reference, amount, created_at FROM billing_ledger "
                        "WHERE organization_id = ? AND account = ? ORDER BY id");
    q.bind(1, org);
    q.bind(2, account);
    std::vector<LedgerEntry> out;
    int64_t running = 0;
    while (q.executeStep()) {
      LedgerEntry e;
      e.txn_id = q.getColumn(0).getString();
      e.kind = q.getColumn(1).getString();
      e.reference = q.getColumn(2).getString();
      e.amount = Money::Yen(q.getColumn(3).getInt64());
      e.at = core::FromUnixMicros(q.getColumn(4).getInt64());
      running += e.amount.yen();
      e.balance = Money::Yen(running);
      out.push_back(std::move(e));
    }
    return out;
  });
}

Result<LedgerCheck> Ledger::Check() {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<LedgerCheck> {
    LedgerCheck c;
    SQLite::Statement t(db,
                        "SELECT COUNT(*), COUNT(DISTINCT txn_id), COALESCE(SUM(amount), 0) FROM "
                        "billing_ledger");
    t.executeStep();
    c.rows = t.getColumn(0).getInt64();
    c.transactions = t.getColumn(1).getInt64();
    c.sum = Money::Yen(t.getColumn(2).getInt64());
    SQLite::Statement u(db,
                        "SELECT txn_id FROM billing_ledger GROUP BY txn_id HAVING SUM(amount) != 0 "
                        "LIMIT 100");
    while (u.executeStep()) c.unbalanced_txns.push_back(u.getColumn(0).getString());
    c.balanced = c.sum.yen() == 0 && c.unbalanced_txns.empty();
    return c;
  });
}

Status Ledger::ScheduleDailyCheck(core::JobQueue& jobs) {
  const Date today = ToDate(deps_.clock->Now());
  core::EnqueueOptions o;
  o.idempotency_key = "ledger-check:" + FormatDate(today);
  o.run_at = StartOfDay(today);
  HP_TRY(jobs.Enqueue(kLedgerCheckJob, core::Json{{"date", FormatDate(today)}}, o));
  return core::Ok();
}

void Ledger::RegisterHandlers(core::WorkerPool& workers, core::JobQueue& jobs) {
  workers.Register(kLedgerCheckJob, [this, &jobs](core::JobContext& ctx) -> Result<core::Json> {
    HP_ASSIGN_OR_RETURN(Date day, ParseDate(ctx.job().payload.value("date", "")));
    HP_ASSIGN_OR_RETURN(LedgerCheck c, Check());
    core::EnqueueOptions o;
    const Date next = AddDays(day, 1);
    o.idempotency_key = "ledger-check:" + FormatDate(next);
    o.run_at = StartOfDay(next);
    HP_TRY(jobs.Enqueue(kLedgerCheckJob, core::Json{{"date", FormatDate(next)}}, o));
    core::Json result{{"balanced", c.balanced}, {"rows", c.rows},
                      {"transactions", c.transactions}, {"sum", c.sum.yen()},
                      {"unbalanced", c.unbalanced_txns}};
    if (!c.balanced)
      return core::Fail(ErrorCode::kInvalidArgument, "ledger does not balance: " + result.dump());
    return result;
  });
}

}  // namespace hp::billing
