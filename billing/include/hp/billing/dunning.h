#pragma once
// Dunning: an unpaid invoice goes through reminders on configured days after its due date, then
// suspension of the organization's services, then termination, which schedules content deletion
// for the last day of the month after next. Every step is audited in the transaction that
// records it. Suspension never comes before at least one reminder was sent; payment (or an operator's waiver) before termination reverses a suspension.
//
// Durability: each case is a row (billing_dunning). The durable job kDunningSweepJob processes
// every case with a step due at the clock's current day, one transaction per step, and
// re-enqueues itself for the next hour. The ServiceSuspender is called before the step is
// recorded, so a crash in between repeats the call: implementations must be idempotent.
// Thread-safe.

#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "hp/billing/billing.h"
#include "hp/billing/invoice.h"
#include "hp/core/jobs.h"

namespace hp::billing {

inline constexpr const char* kDunningSweepJob = "billing.dunning.sweep";

// The seam to the rest of the system; the control plane wires it to provisioning (suspension
// page, VPS stop, termination) and to the mailer (reminders). Every call must be idempotent.
class ServiceSuspender {
 public:
  virtual ~ServiceSuspender() = default;
  virtual core::Status SendReminder(const std::string& organization_id,
                                    const std::string& invoice_id, int reminder_number) = 0;
  virtual core::Status SuspendServices(const std::string& organization_id,
                                       const std::string& reason) = 0;
  virtual core::Status ResumeServices(const std::string& organization_id) = 0;
  virtual core::Status TerminateServices(const std::string& organization_id) = 0;
  virtual core::Status ScheduleContentDeletion(const std::string& organization_id, Date on) = 0;
};

struct DunningPolicy {
  std::vector<int> reminder_days = {1, 7, 14};  // billing.dunning.reminder_days (after due date)
  int suspend_day = 21;                         // billing.dunning.suspend_day
  int terminate_day = 45;                       // billing.dunning.terminate_day
  core::Duration sweep_interval = std::chrono::hours(1);  // billing.dunning.sweep_interval_s
};
// kInvalidArgument naming the key unless reminders < suspend_day < terminate_day, all > 0.
core::Status ValidateDunningPolicy(const DunningPolicy& policy);

enum class DunningStage { kOpen, kReminded, kSuspended, kTerminated, kResolving, kResolved };
std::string_view DunningStageName(DunningStage s);

struct DunningCase {
  std::string invoice_id;
  std::string organization_id;
  Date due_date;
  DunningStage stage = DunningStage::kOpen;
  int reminders_sent = 0;
  std::string deletion_date;  // set once terminated
};

struct SweepResult {
  int reminders = 0;
  int suspensions = 0;
  int terminations = 0;
  int resumptions = 0;
};

class Dunning {
 public:
  Dunning(const BillingDeps& deps, DunningPolicy policy, ServiceSuspender& suspender)
      : deps_(deps), policy_(std::move(policy)), suspender_(suspender) {}

  // Inside the issuing transaction (wire to BillingRun::OnInvoiceIssued): opens a case.
  core::Status Open(SQLite::Database& tx, const Invoice& invoice);
  // Inside the paying transaction (wire to Payments::OnInvoicePaid): closes the case; a
  // suspended organization is resumed by the next sweep (unless other cases keep it suspended).
  core::Status OnPaid(SQLite::Database& tx, const Invoice& invoice);
  // Operator: stops dunning of one invoice and undoes its suspension. kConflict once terminated.
  core::Status Waive(const std::string& organization_id, const std::string& invoice_id,
                     const Actor& actor);

  // Runs every due step now. Called by the job handler; tests call it directly too.
  core::Result<SweepResult> Sweep();
  core::Result<DunningCase> Get(const std::string& organization_id, const std::string& invoice_id);

  void RegisterHandlers(core::WorkerPool& workers, core::JobQueue& jobs);
  // Enqueues the first sweep (idempotent).
  core::Status Start(core::JobQueue& jobs);

 private:
  core::Status Step(const DunningCase& c, Date today, SweepResult& out);
  BillingDeps deps_;
  DunningPolicy policy_;
  ServiceSuspender& suspender_;
};

}  // namespace hp::billing
