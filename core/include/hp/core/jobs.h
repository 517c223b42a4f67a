#pragma once
// Durable jobs: a row per job in the store, leased by workers with an expiry and heartbeat,
// retried with exponential backoff up to a maximum number of attempts, then dead-lettered.
// A job whose worker died is leased again once its lease expires; only the worker holding the
// current lease can complete it, so a job completes exactly once. Handlers must be idempotent
// (they may run more than once when a worker dies mid-job).

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/json.h"
#include "hp/core/store.h"

namespace hp::core {

enum class JobState { kQueued, kRunning, kSucceeded, kDead, kCancelled };
std::string_view JobStateName(JobState s);
Result<JobState> ParseJobState(std::string_view s);

struct Job {
  std::string id;  // public id (random)
  std::string kind;
  Json payload;
  std::string idempotency_key;
  std::string organization_id;  // empty for system jobs
  JobState state = JobState::kQueued;
  int attempts = 0;  // attempts started so far
  int max_attempts = 0;
  TimePoint run_at;
  std::string lease_owner;
  TimePoint lease_expires_at;
  std::string last_error;
  Json result;
  Json progress;  // handler-reported progress, e.g. {"step":"define","done":2,"total":5}
  TimePoint created_at;
  TimePoint updated_at;
  TimePoint finished_at;
};

struct RetryPolicy {
  Duration initial_backoff = std::chrono::seconds(5);
  Duration max_backoff = std::chrono::hours(1);
  double multiplier = 2.0;
  int default_max_attempts = 8;
  // Backoff before attempt n+1 after n failed attempts (n >= 1), without jitter.
  Duration BackoffAfter(int failed_attempts) const;
};

struct EnqueueOptions {
  std::string idempotency_key;  // same (kind, key) returns the existing job
  std::string organization_id;
  std::optional<TimePoint> run_at;
  int max_attempts = 0;  // 0: the policy's default
};

struct JobFilter {
  std::optional<JobState> state;
  std::string kind;
  std::string organization_id;
  int limit = 100;
};

// Thread-safe.
class JobQueue {
 public:
  JobQueue(Database& db, const Clock& clock, RetryPolicy policy = {});

  Result<Job> Enqueue(const std::string& kind, const Json& payload, const EnqueueOptions& opts);
  // The same inside the caller's write transaction, so the job exists exactly when the change
  // that needs it commits (Enqueue() would deadlock inside Database::Write).
  Result<Job> EnqueueInTx(SQLite::Database& tx, const std::string& kind, const Json& payload,
                          const EnqueueOptions& opts);
  // Takes the oldest due job of one of `kinds` (all kinds when empty) that is queued, or running
  // with an expired lease; increments attempts. nullopt when nothing is due.
  Result<std::optional<Job>> Lease(const std::string& worker, Duration lease,
                                   const std::vector<std::string>& kinds = {});
  // Extends the lease; kConflict when `worker` no longer holds it.
  Status Heartbeat(const std::string& job_id, const std::string& worker, Duration lease);
  Status ReportProgress(const std::string& job_id, const std::string& worker, const Json& progress);
  // Marks succeeded; kConflict when the lease was lost (someone else will finish the job).
  Status Complete(const std::string& job_id, const std::string& worker, const Json& result);
  // Records a failure: requeued with backoff, or dead when `permanent` or out of attempts.
  Status Fail(const std::string& job_id, const std::string& worker, const std::string& error,
              bool permanent);
  // Operator actions.
  Status Retry(const std::string& job_id);   // dead -> queued, attempts reset
  Status Cancel(const std::string& job_id);  // queued/dead -> cancelled

  Result<Job> Get(const std::string& job_id);
  Result<std::vector<Job>> List(const JobFilter& filter);
  // Earliest run_at / lease expiry of any pending job, for the worker's sleep.
  Result<std::optional<TimePoint>> NextDue();

  const Clock& clock() const { return clock_; }

 private:
  Database& db_;
  const Clock& clock_;
  RetryPolicy policy_;
};

// What a handler sees of its job.
class JobContext {
 public:
  virtual ~JobContext() = default;
  virtual const Job& job() const = 0;
  virtual void Progress(const Json& progress) = 0;
  // True once the pool is stopping: long handlers should return a retryable failure soon.
  virtual bool Stopping() const = 0;
};

struct JobOutcome {
  Json result;  // on success
};
// A handler returns a result, or an Error: kInvalidArgument/kNotFound/kPermissionDenied/
// kAlreadyExists are permanent (dead-lettered at once), everything else is retried.
using JobHandler = std::function<Result<Json>(JobContext&)>;

struct WorkerPoolOptions {
  int threads = 2;
  Duration lease = std::chrono::seconds(60);
  Duration heartbeat = std::chrono::seconds(20);
  Duration idle_poll = std::chrono::milliseconds(500);  // real time between polls when idle
  std::string worker_prefix = "worker";
};

class WorkerPool {
 public:
  WorkerPool(JobQueue& queue, WorkerPoolOptions options);
  ~WorkerPool();

  void Register(const std::string& kind, JobHandler handler);
  void Start();
  // Stops leasing, waits up to `grace` for running handlers, then returns. Jobs still running
  // when it returns keep their lease and are re-run after it expires.
  void Stop(Duration grace);
  // Wakes idle workers (after an enqueue).
  void Notify();
  // Leases and runs one due job on the calling thread (tests with a FakeClock). True if one ran.
  Result<bool> RunOnce(const std::string& worker = "inline");

  uint64_t succeeded() const { return succeeded_.load(); }
  uint64_t failed() const { return failed_.load(); }

 private:
  void Loop(std::string worker);
  Result<bool> RunOne(const std::string& worker);

  JobQueue& queue_;
  WorkerPoolOptions options_;
  std::map<std::string, JobHandler> handlers_;
  std::vector<std::string> kinds_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t notify_gen_ = 0;  // bumped by Notify(); guarded by mu_
  std::atomic<bool> stopping_{false};
  std::atomic<int> running_{0};
  std::atomic<uint64_t> succeeded_{0};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace hp::core
