#include "hp/core/jobs.h"

#include <algorithm>
#include <cmath>

#include "hp/core/log.h"
#include "hp/core/metrics.h"
#include "hp/core/random.h"

namespace hp::generated {
const std::vector<hp::core::Migration>& core_migrations();
}

namespace hp::core {

const MigrationSet& CoreMigrations() { return hp::generated::core_migrations(); }

std::string_view JobStateName(JobState s) {
  switch (s) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kDead: return "dead";
    case JobState::kCancelled: return "cancelled";
  }
  return "queued";
}

Result<JobState> ParseJobState(std::string_view s) {
  for (auto st : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kDead, JobState::kCancelled})
    if (JobStateName(st) == s) return st;
  return FailField(ErrorCode::kInvalidArgument, "state", "unknown job state '" + std::string(s) + "'");
}

Duration RetryPolicy::BackoffAfter(int failed_attempts) const {
  double f = std::pow(multiplier, std::max(0, failed_attempts - 1));
  double us = static_cast<double>(initial_backoff.count()) * f;
  if (us > static_cast<double>(max_backoff.count())) return max_backoff;
  return Duration(static_cast<int64_t>(us));
}

namespace {
constexpr const char* kCols =
    "public_id, kind, payload, COALESCE(idempotency_key,''), organization_id, state, attempts, max_attempts, "
    "run_at, lease_owner, lease_expires, last_error, result, progress, created_at, updated_at, finished_at";

Job RowToJob(SQLite::Statement& q) {
  Job j;
  j.id = q.getColumn(0).getString();
  j.kind = q.getColumn(1).getString();
  j.payload = Json::parse(q.getColumn(2).getString(), nullptr, false);
  j.idempotency_key = q.getColumn(3).getString();
  j.organization_id = q.getColumn(4).getString();
  j.state = ParseJobState(q.getColumn(5).getString()).value_or(JobState::kQueued);
  j.attempts = q.getColumn(6).getInt();
  j.max_attempts = q.getColumn(7).getInt();
  j.run_at = FromUnixMicros(q.getColumn(8).getInt64());
  j.lease_owner = q.getColumn(9).getString();
  j.lease_expires_at = FromUnixMicros(q.getColumn(10).getInt64());
  j.last_error = q.getColumn(11).getString();
  j.result = Json::parse(q.getColumn(12).getString(), nullptr, false);
  j.progress = Json::parse(q.getColumn(13).getString(), nullptr, false);
  j.created_at = FromUnixMicros(q.getColumn(14).getInt64());
  j.updated_at = FromUnixMicros(q.getColumn(15).getInt64());
  j.finished_at = FromUnixMicros(q.getColumn(16).getInt64());
  return j;
}

Result<Job> LoadJob(SQLite::Database& db, const std::string& id) {
  SQLite::Statement q(db, std::string("SELECT ") + kCols + " FROM jobs WHERE public_id=?");
  q.bind(1, id);
  if (!q.executeStep()) return Fail(ErrorCode::kNotFound, "job " + id + " not found");
  return RowToJob(q);
}

bool IsPermanent(ErrorCode c) {
  return c == ErrorCode::kInvalidArgument || c == ErrorCode::kNotFound ||
         c == ErrorCode::kPermissionDenied || c == ErrorCode::kAlreadyExists;
}
}  // namespace

JobQueue::JobQueue(Database& db, const Clock& clock, RetryPolicy policy)
    : db_(db), clock_(clock), policy_(policy) {}

Result<Job> JobQueue::Enqueue(const std::string& kind, const Json& payload, const EnqueueOptions& opts) {
  return db_.Write([&](SQLite::Database& db) { return EnqueueInTx(db, kind, payload, opts); });
}

Result<Job> JobQueue::EnqueueInTx(SQLite::Database& db, const std::string& kind, const Json& payload,
                                  const EnqueueOptions& opts) {
  if (kind.empty()) return FailField(ErrorCode::kInvalidArgument, "kind", "job kind is empty");
  const int64_t now = ToUnixMicros(clock_.Now());
  const int64_t run_at = opts.run_at ? ToUnixMicros(*opts.run_at) : now;
  const int max_attempts = opts.max_attempts > 0 ? opts.max_attempts : policy_.default_max_attempts;
  if (!opts.idempotency_key.empty()) {
    SQLite::Statement q(db, "SELECT public_id FROM jobs WHERE kind=? AND idempotency_key=?");
    q.bind(1, kind);
    q.bind(2, opts.idempotency_key);
    if (q.executeStep()) return LoadJob(db, q.getColumn(0).getString());
  }
  std::string id = NewPublicId();
  SQLite::Statement ins(db,
                        "INSERT INTO jobs(public_id, kind, payload, idempotency_key, organization_id, state,"
                        " max_attempts, run_at, created_at, updated_at) VALUES (?,?,?,?,?,'queued',?,?,?,?)");
  ins.bind(1, id);
  ins.bind(2, kind);
  ins.bind(3, payload.dump());
  if (opts.idempotency_key.empty()) ins.bind(4); else ins.bind(4, opts.idempotency_key);
  ins.bind(5, opts.organization_id);
  ins.bind(6, max_attempts);
  ins.bind(7, static_cast<int64_t>(run_at));
  ins.bind(8, static_cast<int64_t>(now));
  ins.bind(9, static_cast<int64_t>(now));
  ins.exec();
  return LoadJob(db, id);
}

Result<std::optional<Job>> JobQueue::Lease(const std::string& worker, Duration lease,
                                           const std::vector<std::string>& kinds) {
  const int64_t now = ToUnixMicros(clock_.Now());
  // Idle workers poll often: look for due work on a reader first, and take the single write lock
  // only when there is something to lease.
  HP_ASSIGN_OR_RETURN(bool any_due, db_.Read([&](SQLite::Database& db) -> Result<bool> {
    SQLite::Statement q(db, "SELECT EXISTS(SELECT 1 FROM jobs WHERE state='queued' AND run_at<=?1) OR "
                            "EXISTS(SELECT 1 FROM jobs WHERE state='running' AND lease_expires<=?1)");
    q.bind(1, static_cast<int64_t>(now));
    q.executeStep();
    return q.getColumn(0).getInt() != 0;
  }));
  if (!any_due) return std::optional<Job>();
  return db_.Write([&](SQLite::Database& db) -> Result<std::optional<Job>> {
    std::string sql =
        "SELECT public_id, attempts, max_attempts, state FROM jobs WHERE "
        "((state='queued' AND run_at<=?1) OR (state='running' AND lease_expires<=?1))";
    if (!kinds.empty()) {
      sql += " AND kind IN (";
      for (size_t i = 0; i < kinds.size(); ++i) sql += (i ? ",?" : "?") + std::to_string(i + 2);
      sql += ")";
    }
    sql += " ORDER BY run_at, id LIMIT 8";
    SQLite::Statement q(db, sql);
    q.bind(1, static_cast<int64_t>(now));
    for (size_t i = 0; i < kinds.size(); ++i) q.bind(static_cast<int>(i + 2), kinds[i]);
    while (q.executeStep()) {
      std::string id = q.getColumn(0).getString();
      int attempts = q.getColumn(1).getInt();
      int max_attempts = q.getColumn(2).getInt();
      std::string state = q.getColumn(3).getString();
      if (state == "running" && attempts >= max_attempts) {
        // Its last worker died on the final attempt: dead-letter instead of running again.
        SQLite::Statement d(db, "UPDATE jobs SET state='dead', lease_owner='', updated_at=?, finished_at=?,"
                                " last_error=CASE WHEN last_error='' THEN 'lease expired on final attempt' ELSE last_error END"
                                " WHERE public_id=?");
        d.bind(1, static_cast<int64_t>(now));
        d.bind(2, static_cast<int64_t>(now));
        d.bind(3, id);
        d.exec();
        continue;
      }
      SQLite::Statement u(db, "UPDATE jobs SET state='running', attempts=attempts+1, lease_owner=?,"
                              " lease_expires=?, updated_at=? WHERE public_id=?");
      u.bind(1, worker);
      u.bind(2, static_cast<int64_t>(now + lease.count()));
      u.bind(3, static_cast<int64_t>(now));
      u.bind(4, id);
      u.exec();
      q.reset();
      HP_ASSIGN_OR_RETURN(Job j, LoadJob(db, id));
      return std::optional<Job>(std::move(j));
    }
    return std::optional<Job>();
  });
}

Status JobQueue::Heartbeat(const std::string& job_id, const std::string& worker, Duration lease) {
  const int64_t now = ToUnixMicros(clock_.Now());
  return db_.Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement u(db, "UPDATE jobs SET lease_expires=?, updated_at=? WHERE public_id=? AND state='running' AND lease_owner=?");
    u.bind(1, static_cast<int64_t>(now + lease.count()));
    u.bind(2, static_cast<int64_t>(now));
    u.bind(3, job_id);
    u.bind(4, worker);
    if (u.exec() != 1) return core::Fail(ErrorCode::kConflict, "lease on job " + job_id + " lost");
    return Ok();
  });
}

Status JobQueue::ReportProgress(const std::string& job_id, const std::string& worker, const Json& progress) {
  return db_.Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement u(db, "UPDATE jobs SET progress=? WHERE public_id=? AND state='running' AND lease_owner=?");
    u.bind(1, progress.dump());
    u.bind(2, job_id);
    u.bind(3, worker);
    if (u.exec() != 1) return core::Fail(ErrorCode::kConflict, "lease on job " + job_id + " lost");
    return Ok();
  });
}

Status JobQueue::Complete(const std::string& job_id, const std::string& worker, const Json& result) {
  const int64_t now = ToUnixMicros(clock_.Now());
  return db_.Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement u(db, "UPDATE jobs SET state='succeeded', result=?, lease_owner='', updated_at=?,"
                            " finished_at=?, last_error='' WHERE public_id=? AND state='running' AND lease_owner=?");
    u.bind(1, result.dump());
    u.bind(2, static_cast<int64_t>(now));
    u.bind(3, static_cast<int64_t>(now));
    u.bind(4, job_id);
    u.bind(5, worker);
    if (u.exec() != 1) return core::Fail(ErrorCode::kConflict, "lease on job " + job_id + " lost before completion");
    return Ok();
  });
}

Status JobQueue::Fail(const std::string& job_id, const std::string& worker, const std::string& error, bool permanent) {
  const int64_t now = ToUnixMicros(clock_.Now());
  return db_.Write([&](SQLite::Database& db) -> Status {
    HP_ASSIGN_OR_RETURN(Job j, LoadJob(db, job_id));
    if (j.state != JobState::kRunning || j.lease_owner != worker)
      return core::Fail(ErrorCode::kConflict, "lease on job " + job_id + " lost before failure was recorded");
    const bool dead = permanent || j.attempts >= j.max_attempts;
    SQLite::Statement u(db, "UPDATE jobs SET state=?, last_error=?, lease_owner='', run_at=?, updated_at=?,"
                            " finished_at=? WHERE public_id=?");
    u.bind(1, dead ? "dead" : "queued");
    u.bind(2, error.substr(0, 2000));
    u.bind(3, static_cast<int64_t>(dead ? ToUnixMicros(j.run_at) : now + policy_.BackoffAfter(j.attempts).count()));
    u.bind(4, static_cast<int64_t>(now));
    u.bind(5, static_cast<int64_t>(dead ? now : 0));
    u.bind(6, job_id);
    u.exec();
    return Ok();
  });
}

Status JobQueue::Retry(const std::string& job_id) {
  const int64_t now = ToUnixMicros(clock_.Now());
  return db_.Write([&](SQLite::Database& db) -> Status {
    HP_ASSIGN_OR_RETURN(Job j, LoadJob(db, job_id));
    if (j.state != JobState::kDead && j.state != JobState::kCancelled)
      return core::Fail(ErrorCode::kConflict, "job " + job_id + " is " + std::string(JobStateName(j.state)) + "; only dead or cancelled jobs can be retried");
    SQLite::Statement u(db, "UPDATE jobs SET state='queued', attempts=0, run_at=?, updated_at=?, finished_at=0 WHERE public_id=?");
    u.bind(1, static_cast<int64_t>(now));
    u.bind(2, static_cast<int64_t>(now));
    u.bind(3, job_id);
    u.exec();
    return Ok();
  });
}

Status JobQueue::Cancel(const std::string& job_id) {
  const int64_t now = ToUnixMicros(clock_.Now());
  return db_.Write([&](SQLite::Database& db) -> Status {
    HP_ASSIGN_OR_RETURN(Job j, LoadJob(db, job_id));
    if (j.state != JobState::kQueued && j.state != JobState::kDead)
      return core::Fail(ErrorCode::kConflict, "job " + job_id + " is " + std::string(JobStateName(j.state)) + "; only queued or dead jobs can be cancelled");
    SQLite::Statement u(db, "UPDATE jobs SET state='cancelled', updated_at=?, finished_at=? WHERE public_id=?");
    u.bind(1, static_cast<int64_t>(now));
    u.bind(2, static_cast<int64_t>(now));
    u.bind(3, job_id);
    u.exec();
    return Ok();
  });
}

Result<Job> JobQueue::Get(const std::string& job_id) {
  return db_.Read([&](SQLite::Database& db) { return LoadJob(db, job_id); });
}

Result<std::vector<Job>> JobQueue::List(const JobFilter& f) {
  return db_.Read([&](SQLite::Database& db) -> Result<std::vector<Job>> {
    std::string sql = std::string("SELECT ") + kCols + " FROM jobs WHERE 1=1";
    if (f.state) sql += " AND state=:state";
    if (!f.kind.empty()) sql += " AND kind=:kind";
    if (!f.organization_id.empty()) sql += " AND organization_id=:org";
    sql += " ORDER BY id DESC LIMIT :limit";
    SQLite::Statement q(db, sql);
    if (f.state) q.bind(":state", std::string(JobStateName(*f.state)));
    if (!f.kind.empty()) q.bind(":kind", f.kind);
    if (!f.organization_id.empty()) q.bind(":org", f.organization_id);
    q.bind(":limit", std::clamp(f.limit, 1, 10000));
    std::vector<Job> out;
    while (q.executeStep()) out.push_back(RowToJob(q));
    return out;
  });
}

Result<std::optional<TimePoint>> JobQueue::NextDue() {
  return db_.Read([&](SQLite::Database& db) -> Result<std::optional<TimePoint>> {
    SQLite::Statement q(db, "SELECT MIN(t) FROM (SELECT MIN(run_at) t FROM jobs WHERE state='queued'"
                            " UNION ALL SELECT MIN(lease_expires) FROM jobs WHERE state='running')");
    if (q.executeStep() && !q.getColumn(0).isNull()) return std::optional<TimePoint>(FromUnixMicros(q.getColumn(0).getInt64()));
    return std::optional<TimePoint>();
  });
}

// ---------------------------------------------------------------------------------------------

namespace {
class Ctx final : public JobContext {
 public:
  Ctx(JobQueue& q, Job job, std::string worker, const std::atomic<bool>& stopping)
      : q_(q), job_(std::move(job)), worker_(std::move(worker)), stopping_(stopping) {}
  const Job& job() const override { return job_; }
  void Progress(const Json& p) override { (void)q_.ReportProgress(job_.id, worker_, p); }
  bool Stopping() const override { return stopping_.load(); }

 private:
  JobQueue& q_;
  Job job_;
  std::string worker_;
  const std::atomic<bool>& stopping_;
};
}  // namespace

WorkerPool::WorkerPool(JobQueue& queue, WorkerPoolOptions options) : queue_(queue), options_(std::move(options)) {}
WorkerPool::~WorkerPool() { Stop(std::chrono::seconds(0)); }

void WorkerPool::Register(const std::string& kind, JobHandler handler) {
  handlers_[kind] = std::move(handler);
  kinds_.push_back(kind);
}

void WorkerPool::Start() {
  stopping_ = false;
  std::string prefix = options_.worker_prefix + "-" + NewPublicId().substr(0, 8);
  for (int i = 0; i < options_.threads; ++i)
    threads_.emplace_back([this, w = prefix + "-" + std::to_string(i)] { Loop(w); });
}

void WorkerPool::Notify() {
  {
    std::lock_guard lock(mu_);
    ++notify_gen_;
  }
  cv_.notify_all();
}

void WorkerPool::Stop(Duration grace) {
  stopping_ = true;
  cv_.notify_all();
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (running_.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (auto& t : threads_) {
    if (running_.load() == 0 || t.joinable()) {
      // Threads finish their current handler before exiting; a handler that overruns the grace
      // period is detached so shutdown stays bounded (its lease expires and it is re-run).
      if (running_.load() > 0) t.detach(); else t.join();
    }
  }
  threads_.clear();
}

Result<bool> WorkerPool::RunOnce(const std::string& worker) { return RunOne(worker); }

Result<bool> WorkerPool::RunOne(const std::string& worker) {
  HP_ASSIGN_OR_RETURN(auto leased, queue_.Lease(worker, options_.lease, kinds_));
  if (!leased) return false;
  Job job = std::move(*leased);
  auto it = handlers_.find(job.kind);
  if (it == handlers_.end()) {
    (void)queue_.Fail(job.id, worker, "no handler for job kind " + job.kind, true);
    return true;
  }
  running_.fetch_add(1);
  // Heartbeat from a side thread while the handler runs.
  std::mutex hb_mu;
  std::condition_variable hb_cv;
  bool done = false;
  std::thread hb([&] {
    std::unique_lock lock(hb_mu);
    while (!hb_cv.wait_for(lock, options_.heartbeat, [&] { return done; })) {
      (void)queue_.Heartbeat(job.id, worker, options_.lease);
    }
  });
  Ctx ctx(queue_, job, worker, stopping_);
  Result<Json> r = std::unexpected(Error(ErrorCode::kInternal, "handler did not run"));
  try {
    r = it->second(ctx);
  } catch (const std::exception& e) {
    r = core::Fail(ErrorCode::kInternal, std::string("handler threw: ") + e.what());
  }
  {
    std::lock_guard lock(hb_mu);
    done = true;
  }
  hb_cv.notify_all();
  hb.join();
  static Counter& ok = MetricsRegistry::Default().GetCounter("hostplane_jobs_succeeded_total", "Jobs completed");
  static Counter& bad = MetricsRegistry::Default().GetCounter("hostplane_jobs_failed_attempts_total", "Job attempts that failed");
  if (r) {
    auto st = queue_.Complete(job.id, worker, *r);
    if (st) {
      succeeded_.fetch_add(1);
      ok.Inc();
    } else {
      log::Warn("job completion rejected", {{"job", job.id}, {"kind", job.kind}, {"error", st.error().detail}});
    }
  } else {
    failed_.fetch_add(1);
    bad.Inc();
    bool permanent = IsPermanent(r.error().code);
    log::Warn("job attempt failed", {{"job", job.id}, {"kind", job.kind}, {"attempt", job.attempts},
                                     {"permanent", permanent}, {"error", r.error().ToString()}});
    (void)queue_.Fail(job.id, worker, r.error().ToString(), permanent);
  }
  running_.fetch_sub(1);
  return true;
}

void WorkerPool::Loop(std::string worker) {
  while (!stopping_.load()) {
    // Note the generation before looking for work, so a Notify() that races with an empty lease
    // still wakes us instead of waiting out the idle poll.
    uint64_t seen;
    {
      std::lock_guard lock(mu_);
      seen = notify_gen_;
    }
    auto r = RunOne(worker);
    if (r && *r) continue;
    if (!r) log::Warn("job lease failed", {{"error", r.error().ToString()}});
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, options_.idle_poll, [&] { return stopping_.load() || notify_gen_ != seen; });
  }
}

}  // namespace hp::core
