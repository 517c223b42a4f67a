#include "hp/billing/dunning.h"

#include "util.h"

namespace hp::billing {

using core::ErrorCode;
using core::FailField;
using core::Result;
using core::Status;

std::string_view DunningStageName(DunningStage s) {
  switch (s) {
    case DunningStage::kOpen: return "open";
    case DunningStage::kReminded: return "reminded";
    case DunningStage::kSuspended: return "suspended";
    case DunningStage::kTerminated: return "terminated";
    case DunningStage::kResolving: return "resolving";
    case DunningStage::kResolved: return "resolved";
  }
  return "open";
}

namespace {

DunningStage ParseStage(const std::string& s) {
  for (DunningStage st : {DunningStage::kOpen, DunningStage::kReminded, DunningStage::kSuspended,
                          DunningStage::kTerminated, DunningStage::kResolving,
                          DunningStage::kResolved})
    if (DunningStageName(st) == s) return st;
  return DunningStage::kOpen;
}

Result<DunningCase> ReadCase(SQLite::Statement& q) {
  DunningCase c;
  c.invoice_id = q.getColumn(0).getString();
  c.organization_id = q.getColumn(1).getString();
  HP_ASSIGN_OR_RETURN(c.due_date, ParseDate(q.getColumn(2).getString()));
  c.stage = ParseStage(q.getColumn(3).getString());
  c.reminders_sent = q.getColumn(4).getInt();
  c.deletion_date = q.getColumn(5).getString();
  return c;
}
constexpr const char* kCols =
    "invoice_id, organization_id, due_date, stage, reminders_sent, deletion_date";

void SetStage(SQLite::Database& tx, const std::string& invoice_id, DunningStage s, int reminders,
              const std::string& deletion, int64_t now) {
  SQLite::Statement u(tx,
                      "UPDATE billing_dunning SET stage = ?, reminders_sent = ?, deletion_date = ?, "
                      "updated_at = ? WHERE invoice_id = ?");
  u.bind(1, std::string(DunningStageName(s)));
  u.bind(2, reminders);
  u.bind(3, deletion);
  u.bind(4, now);
  u.bind(5, invoice_id);
  u.exec();
}

void SetSubscriptions(SQLite::Database& tx, const std::string& org, const char* from,
                      const char* to, int64_t now) {
  SQLite::Statement u(tx,
                      "UPDATE billing_subscriptions SET state = ?, updated_at = ? WHERE "
                      "organization_id = ? AND state = ?");
  u.bind(1, to);
  u.bind(2, now);
  u.bind(3, org);
  u.bind(4, from);
  u.exec();
}

}  // namespace

Status ValidateDunningPolicy(const DunningPolicy& p) {
  int last = 0;
  for (int d : p.reminder_days) {
    if (d <= last)
      return FailField(ErrorCode::kInvalidArgument, "billing.dunning.reminder_days",
                       "reminder days must be positive and increasing");
    last = d;
  }
  if (p.suspend_day <= last)
    return FailField(ErrorCode::kInvalidArgument, "billing.dunning.suspend_day",
                     "suspension comes after the last reminder");
  if (p.terminate_day <= p.suspend_day)
    return FailField(ErrorCode::kInvalidArgument, "billing.dunning.terminate_day",
                     "termination comes after suspension");
  return core::Ok();
}

Status Dunning::Open(SQLite::Database& tx, const Invoice& inv) {
  if (inv.kind != InvoiceKind::kInvoice || inv.totals.total.yen() <= 0) return core::Ok();
  SQLite::Statement q(tx,
                      "INSERT OR IGNORE INTO billing_dunning (invoice_id, organization_id, "
                      "due_date, stage, updated_at) VALUES (?,?,?,'open',?)");
  q.bind(1, inv.id);
  q.bind(2, inv.organization_id);
  q.bind(3, FormatDate(inv.due_date));
  q.bind(4, internal::NowMicros(deps_));
  q.exec();
  return core::Ok();
}

Status Dunning::OnPaid(SQLite::Database& tx, const Invoice& inv) {
  SQLite::Statement q(tx, std::string("SELECT ") + kCols +
                              " FROM billing_dunning WHERE invoice_id = ? AND organization_id = ?");
  q.bind(1, inv.id);
  q.bind(2, inv.organization_id);
  if (!q.executeStep()) return core::Ok();
  HP_ASSIGN_OR_RETURN(DunningCase c, ReadCase(q));
  if (c.stage == DunningStage::kTerminated || c.stage == DunningStage::kResolved ||
      c.stage == DunningStage::kResolving)
    return core::Ok();
  const DunningStage next =
      c.stage == DunningStage::kSuspended ? DunningStage::kResolving : DunningStage::kResolved;
  SetStage(tx, c.invoice_id, next, c.reminders_sent, "", internal::NowMicros(deps_));
  return internal::Audit(deps_, tx, Actor{}, c.organization_id, "billing.dunning.paid",
                         "invoice:" + c.invoice_id,
                         {{"from", DunningStageName(c.stage)}, {"to", DunningStageName(next)}});
}

Status Dunning::Waive(const std::string& org, const std::string& invoice_id, const Actor& actor) {
  HP_TRY(deps_.db->Write([&](SQLite::Database& tx) -> Status {
    SQLite::Statement q(tx, std::string("SELECT ") + kCols +
                                " FROM billing_dunning WHERE invoice_id = ? AND organization_id = ?");
    q.bind(1, invoice_id);
    q.bind(2, org);
    if (!q.executeStep()) return FailField(ErrorCode::kNotFound, "invoice_id", "no dunning case");
    HP_ASSIGN_OR_RETURN(DunningCase c, ReadCase(q));
    if (c.stage == DunningStage::kTerminated)
      return FailField(ErrorCode::kConflict, "invoice_id", "services were already terminated");
    const DunningStage next =
        c.stage == DunningStage::kSuspended ? DunningStage::kResolving : DunningStage::kResolved;
    SetStage(tx, invoice_id, next, c.reminders_sent, "", internal::NowMicros(deps_));
    return internal::Audit(deps_, tx, actor, org, "billing.dunning.waive", "invoice:" + invoice_id,
                           {{"from", DunningStageName(c.stage)}});
  }));
  return core::Ok();
}

Status Dunning::Step(const DunningCase& c, Date today, SweepResult& out) {
  const int64_t overdue = DaysBetween(c.due_date, today);
  const int64_t now = internal::NowMicros(deps_);
  const Actor system{};
  const std::string target = "invoice:" + c.invoice_id;
  switch (c.stage) {
    case DunningStage::kResolving: {
      // Stay suspended while another case of the organization is suspended.
      HP_ASSIGN_OR_RETURN(bool others, deps_.db->Read([&](SQLite::Database& db) -> Result<bool> {
        SQLite::Statement q(db,
                            "SELECT 1 FROM billing_dunning WHERE organization_id = ? AND stage = "
                            "'suspended' AND invoice_id != ?");
        q.bind(1, c.organization_id);
        q.bind(2, c.invoice_id);
        return q.executeStep();
      }));
      if (!others) HP_TRY(suspender_.ResumeServices(c.organization_id));
      HP_TRY(deps_.db->Write([&](SQLite::Database& tx) -> Status {
        SetStage(tx, c.invoice_id, DunningStage::kResolved, c.reminders_sent, "", now);
        if (!others) SetSubscriptions(tx, c.organization_id, "suspended", "active", now);
        return internal::Audit(deps_, tx, system, c.organization_id, "billing.dunning.resume",
                               target, {{"services_resumed", !others}});
      }));
      ++out.resumptions;
      return core::Ok();
    }
    case DunningStage::kOpen:
    case DunningStage::kReminded: {
      // Never suspend before at least one reminder went out (a sweep that missed days sends
      // the reminder first and suspends in the next round).
      const bool reminded = c.reminders_sent > 0 || policy_.reminder_days.empty();
      if (overdue >= policy_.suspend_day && reminded) {
        HP_TRY(suspender_.SuspendServices(c.organization_id,
                                          "invoice " + c.invoice_id + " unpaid"));
        HP_TRY(deps_.db->Write([&](SQLite::Database& tx) -> Status {
          SetStage(tx, c.invoice_id, DunningStage::kSuspended, c.reminders_sent, "", now);
          SetSubscriptions(tx, c.organization_id, "active", "suspended", now);
          return internal::Audit(deps_, tx, system, c.organization_id, "billing.dunning.suspend",
                                 target, {{"days_overdue", overdue}});
        }));
        ++out.suspensions;
        return core::Ok();
      }
      const size_t n = static_cast<size_t>(c.reminders_sent);
      if (n < policy_.reminder_days.size() && overdue >= policy_.reminder_days[n]) {
        HP_TRY(suspender_.SendReminder(c.organization_id, c.invoice_id, c.reminders_sent + 1));
        HP_TRY(deps_.db->Write([&](SQLite::Database& tx) -> Status {
          SetStage(tx, c.invoice_id, DunningStage::kReminded, c.reminders_sent + 1, "", now);
          return internal::Audit(deps_, tx, system, c.organization_id, "billing.dunning.remind",
                                 target, {{"reminder", c.reminders_sent + 1},
                                          {"days_overdue", overdue}});
        }));
        ++out.reminders;
      }
      return core::Ok();
    }
    case DunningStage::kSuspended: {
      if (overdue < policy_.terminate_day) return core::Ok();
      const Date deletion = EndOfMonthAfter(today, 2);
      HP_TRY(suspender_.TerminateServices(c.organization_id));
      HP_TRY(suspender_.ScheduleContentDeletion(c.organization_id, deletion));
      HP_TRY(deps_.db->Write([&](SQLite::Database& tx) -> Status {
        SetStage(tx, c.invoice_id, DunningStage::kTerminated, c.reminders_sent,
                 FormatDate(deletion), now);
        SetSubscriptions(tx, c.organization_id, "suspended", "cancelled", now);
        return internal::Audit(deps_, tx, system, c.organization_id, "billing.dunning.terminate",
                               target, {{"content_deletion", FormatDate(deletion)},
                                        {"days_overdue", overdue}});
      }));
      ++out.terminations;
      return core::Ok();
    }
    case DunningStage::kTerminated:
    case DunningStage::kResolved:
      return core::Ok();
  }
  return core::Ok();
}

Result<SweepResult> Dunning::Sweep() {
  const Date today = ToDate(deps_.clock->Now());
  SweepResult out;
  // Several steps may be due at once (a sweep missed for days): repeat until nothing moves.
  for (int round = 0; round < 16; ++round) {
    HP_ASSIGN_OR_RETURN(auto cases, deps_.db->Read([&](SQLite::Database& db)
                                                       -> Result<std::vector<DunningCase>> {
      SQLite::Statement q(db, std::string("SELECT ") + kCols +
                                  " FROM billing_dunning WHERE stage NOT IN ('resolved', "
                                  "'terminated') AND due_date < ? ORDER BY invoice_id");
      q.bind(1, FormatDate(today));
      std::vector<DunningCase> v;
      while (q.executeStep()) {
        HP_ASSIGN_OR_RETURN(DunningCase c, ReadCase(q));
        v.push_back(std::move(c));
      }
      // Resolving cases may have a due date in the future.
      SQLite::Statement r(db, std::string("SELECT ") + kCols +
                                  " FROM billing_dunning WHERE stage = 'resolving' AND due_date >= ?");
      r.bind(1, FormatDate(today));
      while (r.executeStep()) {
        HP_ASSIGN_OR_RETURN(DunningCase c, ReadCase(r));
        v.push_back(std::move(c));
      }
      return v;
    }));
    const SweepResult before = out;
    for (const DunningCase& c : cases) HP_TRY(Step(c, today, out));
    if (before.reminders == out.reminders && before.suspensions == out.suspensions &&
        before.terminations == out.terminations && before.resumptions == out.resumptions)
      break;
  }
  return out;
}

Result<DunningCase> Dunning::Get(const std::string& org, const std::string& invoice_id) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<DunningCase> {
    SQLite::Statement q(db, std::string("SELECT ") + kCols +
                                " FROM billing_dunning WHERE invoice_id = ? AND organization_id = ?");
    q.bind(1, invoice_id);
    q.bind(2, org);
    if (!q.executeStep()) return FailField(ErrorCode::kNotFound, "invoice_id", "no dunning case");
    return ReadCase(q);
  });
}

Status Dunning::Start(core::JobQueue& jobs) {
  core::EnqueueOptions o;
  o.idempotency_key = "dunning-sweep:" + std::to_string(core::ToUnixSeconds(deps_.clock->Now()) /
                                                        3600);
  HP_TRY(jobs.Enqueue(kDunningSweepJob, core::Json::object(), o));
  return core::Ok();
}

void Dunning::RegisterHandlers(core::WorkerPool& workers, core::JobQueue& jobs) {
  workers.Register(kDunningSweepJob, [this, &jobs](core::JobContext&) -> Result<core::Json> {
    HP_ASSIGN_OR_RETURN(SweepResult r, Sweep());
    const core::TimePoint next = deps_.clock->Now() + policy_.sweep_interval;
    core::EnqueueOptions o;
    o.idempotency_key = "dunning-sweep:" + std::to_string(core::ToUnixMicros(next));
    o.run_at = next;
    HP_TRY(jobs.Enqueue(kDunningSweepJob, core::Json::object(), o));
    return core::Json{{"reminders", r.reminders}, {"suspensions", r.suspensions},
                      {"terminations", r.terminations}, {"resumptions", r.resumptions}};
  });
}

}  // namespace hp::billing
