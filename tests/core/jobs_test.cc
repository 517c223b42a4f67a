#include "hp/core/jobs.h"

#include <gtest/gtest.h>
#include <signal.h>

#include "hp/core/log.h"
#include "test_support.h"

namespace hp::core {
namespace {

class JobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetLevel(log::Level::kError);
    db_ = *Database::Open({.path = dir_.path() + "/jobs.db", .synchronous_full = false});
    ASSERT_TRUE(db_->Migrate({&CoreMigrations()}));
  }
  hp::testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  FakeClock clock_{FromUnixSeconds(1'800'000'000)};
};

TEST_F(JobsTest, IdempotencyKeyReturnsTheSameJob) {
  JobQueue q(*db_, clock_);
  auto a = q.Enqueue("vps.create", {{"plan", "s"}}, {.idempotency_key = "order-1"});
  auto b = q.Enqueue("vps.create", {{"plan", "other"}}, {.idempotency_key = "order-1"});
  auto c = q.Enqueue("vps.create", {{"plan", "s"}}, {.idempotency_key = "order-2"});
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->id, b->id);
  EXPECT_EQ(b->payload["plan"], "s");  // the first request wins
  EXPECT_NE(a->id, c->id);
  EXPECT_EQ(q.List({})->size(), 2u);
  EXPECT_FALSE(q.Enqueue("", {}, {}));
}

TEST_F(JobsTest, EnqueueInTxCommitsOrRollsBackWithTheCallersChange) {
  JobQueue q(*db_, clock_);
  auto rolled = db_->Write([&](SQLite::Database& tx) -> Result<Job> {
    HP_ASSIGN_OR_RETURN(Job j, q.EnqueueInTx(tx, "site.apply", {{"site", "a"}}, {}));
    (void)j;
    return Fail(ErrorCode::kConflict, "the change failed");
  });
  EXPECT_FALSE(rolled);
  EXPECT_TRUE(q.List({})->empty());
  auto kept = db_->Write([&](SQLite::Database& tx) { return q.EnqueueInTx(tx, "site.apply", {{"site", "b"}}, {.organization_id = "org1"}); });
  ASSERT_TRUE(kept);
  auto listed = *q.List({});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].payload["site"], "b");
  EXPECT_EQ(listed[0].organization_id, "org1");
}

TEST_F(JobsTest, RetriesWithExponentialBackoffThenDeadLetters) {
  JobQueue q(*db_, clock_, RetryPolicy{.initial_backoff = std::chrono::seconds(10), .max_backoff = std::chrono::seconds(35)});
  WorkerPool pool(q, {});
  int calls = 0;
  pool.Register("flaky", [&](JobContext&) -> Result<Json> {
    ++calls;
    return Fail(ErrorCode::kUnavailable, "upstream down");
  });
  auto job = *q.Enqueue("flaky", {}, {.max_attempts = 4});
  ASSERT_TRUE(*pool.RunOnce());
  EXPECT_EQ(calls, 1);
  auto j = *q.Get(job.id);
  EXPECT_EQ(j.state, JobState::kQueued);
  EXPECT_EQ(j.last_error, "upstream down");
  // Not due before the backoff: 10 s, then 20 s, then 35 s (capped from 40).
  const int waits[] = {10, 20, 35};
  for (int w : waits) {
    clock_.Advance(std::chrono::seconds(w) - std::chrono::microseconds(1));
    EXPECT_FALSE(*pool.RunOnce()) << "ran before the " << w << " s backoff";
    clock_.Advance(std::chrono::microseconds(1));
    EXPECT_TRUE(*pool.RunOnce());
  }
  EXPECT_EQ(calls, 4);
  j = *q.Get(job.id);
  EXPECT_EQ(j.state, JobState::kDead);
  EXPECT_EQ(j.attempts, 4);
  clock_.Advance(std::chrono::hours(24));
  EXPECT_FALSE(*pool.RunOnce());  // dead letters stay dead
  // An operator can requeue it.
  ASSERT_TRUE(q.Retry(job.id));
  EXPECT_TRUE(*pool.RunOnce());
  EXPECT_EQ(calls, 5);
  EXPECT_FALSE(q.Retry(job.id));  // queued again, not dead
}

TEST_F(JobsTest, PermanentErrorsDeadLetterAtOnce) {
  JobQueue q(*db_, clock_);
  WorkerPool pool(q, {});
  pool.Register("bad", [](JobContext&) -> Result<Json> { return FailField(ErrorCode::kInvalidArgument, "plan", "unknown plan"); });
  auto job = *q.Enqueue("bad", {}, {});
  ASSERT_TRUE(*pool.RunOnce());
  auto j = *q.Get(job.id);
  EXPECT_EQ(j.state, JobState::kDead);
  EXPECT_EQ(j.attempts, 1);
  EXPECT_EQ(j.last_error, "plan: unknown plan");
}

TEST_F(JobsTest, ExpiredLeaseIsTakenOverAndOnlyTheNewHolderCompletes) {
  JobQueue q(*db_, clock_);
  auto job = *q.Enqueue("k", {}, {});
  auto a = *q.Lease("worker-a", std::chrono::seconds(30));
  ASSERT_TRUE(a);
  EXPECT_FALSE(*q.Lease("worker-b", std::chrono::seconds(30)));  // held
  clock_.Advance(std::chrono::seconds(31));
  auto b = *q.Lease("worker-b", std::chrono::seconds(30));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->id, job.id);
  EXPECT_EQ(b->attempts, 2);
  auto late = q.Complete(job.id, "worker-a", {{"from", "a"}});
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::kConflict);
  EXPECT_FALSE(q.Heartbeat(job.id, "worker-a", std::chrono::seconds(30)));
  ASSERT_TRUE(q.Complete(job.id, "worker-b", {{"from", "b"}}));
  auto j = *q.Get(job.id);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.result["from"], "b");
  EXPECT_FALSE(q.Complete(job.id, "worker-b", {}));  // exactly once
}

TEST_F(JobsTest, HeartbeatKeepsTheLease) {
  JobQueue q(*db_, clock_);
  auto job = *q.Enqueue("k", {}, {});
  ASSERT_TRUE(*q.Lease("a", std::chrono::seconds(30)));
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(std::chrono::seconds(20));
    ASSERT_TRUE(q.Heartbeat(job.id, "a", std::chrono::seconds(30)));
    EXPECT_FALSE(*q.Lease("b", std::chrono::seconds(30)));
  }
}

TEST_F(JobsTest, NotifyWakesIdleWorkersWithoutWaitingForThePoll) {
  JobQueue q(*db_, SystemClock::Instance());
  WorkerPool pool(q, {.threads = 1, .idle_poll = std::chrono::seconds(30)});
  std::atomic<int> ran{0};
  pool.Register("wake", [&](JobContext&) -> Result<Json> {
    ran.fetch_add(1);
    return Json(nullptr);
  });
  pool.Start();
  // Give the worker time to find nothing and start its 30 s idle wait (without the fix, the job
  // below would then wait out that poll).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(q.Enqueue("wake", {}, {}));
  pool.Notify();
  ASSERT_TRUE(hp::testing::PollUntil([&] { return ran.load() == 1; }, std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
  pool.Stop(std::chrono::seconds(1));
}

TEST_F(JobsTest, ThreadedPoolRunsManyJobsExactlyOnce) {
  JobQueue q(*db_, SystemClock::Instance());
  WorkerPool pool(q, {.threads = 4, .idle_poll = std::chrono::milliseconds(5)});
  std::mutex mu;
  std::map<std::string, int> runs;
  pool.Register("count", [&](JobContext& ctx) -> Result<Json> {
    std::lock_guard lock(mu);
    ++runs[ctx.job().id];
    return Json(nullptr);
  });
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(q.Enqueue("count", {{"i", i}}, {}));
  pool.Start();
  ASSERT_TRUE(hp::testing::PollUntil([&] { return pool.succeeded() == 200; }, std::chrono::seconds(30)));
  pool.Stop(std::chrono::seconds(5));
  EXPECT_EQ(runs.size(), 200u);
  for (const auto& [id, n] : runs) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(q.List({.state = JobState::kSucceeded, .limit = 1000})->size(), 200u);
}

// Acceptance 5: kill -9 the worker process while the job runs; after restart the job is taken
// again once its lease expires and completes exactly once.
TEST_F(JobsTest, SigkilledWorkerJobCompletesExactlyOnceAfterRestart) {
  const std::string path = dir_.path() + "/crash.db";
  {
    auto db = *Database::Open({.path = path});
    ASSERT_TRUE(db->Migrate({&CoreMigrations()}));
    JobQueue q(*db, SystemClock::Instance());
    ASSERT_TRUE(q.Enqueue("test.effect", {{"x", 1}}, {.idempotency_key = "crash-1"}));
  }
  auto db = *Database::Open({.path = path});
  JobQueue q(*db, SystemClock::Instance());
  auto state = [&] { return q.List({})->at(0); };
  auto query = [&](const std::string& sql) {
    return *db->Read([&](SQLite::Database& c) -> Result<int> {
      if (!c.tableExists("starts")) return 0;
      return c.execAndGet(sql).getInt();
    });
  };
  {
    hp::testing::Process hang({HP_JOB_CRASH_WORKER, path, "hang"}, {}, dir_.path());
    ASSERT_TRUE(hp::testing::PollUntil([&] { return query("SELECT COUNT(*) FROM starts") == 1; }, std::chrono::seconds(20)));
    EXPECT_EQ(state().state, JobState::kRunning);
    hang.Signal(SIGKILL);
    ASSERT_TRUE(hang.Wait(std::chrono::seconds(5)));
  }
  EXPECT_EQ(query("SELECT COUNT(*) FROM effects"), 0);
  hp::testing::Process finish({HP_JOB_CRASH_WORKER, path, "finish"}, {}, dir_.path());
  ASSERT_TRUE(hp::testing::PollUntil([&] { return state().state == JobState::kSucceeded; }, std::chrono::seconds(20)));
  Job j = state();
  EXPECT_EQ(j.attempts, 2);
  EXPECT_EQ(j.result["done"], true);
  EXPECT_EQ(query("SELECT COUNT(*) FROM effects"), 1);
  EXPECT_EQ(query("SELECT runs FROM effects"), 1);
  EXPECT_EQ(query("SELECT COUNT(*) FROM starts WHERE mode='finish'"), 1);
  // It stays done: the restarted worker does not run it again.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(query("SELECT COUNT(*) FROM starts"), 2);
  EXPECT_EQ(state().state, JobState::kSucceeded);
}

}  // namespace
}  // namespace hp::core
