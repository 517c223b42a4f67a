// Group commit: concurrent writers share commits, a failing writer is rolled back alone, and what
// Run() reported as committed is durable.
#include "sa/group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "hp/acme/migrations.h"
#include "hp/core/log.h"
#include "sa/fiber.h"
#include "sa/sa.h"
#include "testing/acme_test_util.h"

namespace hp::acme {
namespace {

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir();
    auto db = core::Database::Open({.path = dir_ + "/db.sqlite", .synchronous_full = true});
    ASSERT_TRUE(db);
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Migrate({&core::CoreMigrations(), &AcmeMigrations()}));
  }
  int64_t Count() {
    return *db_->Read([](SQLite::Database& d) -> core::Result<int64_t> {
      return d.execAndGet("SELECT COUNT(*) FROM acme_rate_limits").getInt64();
    });
  }
  std::string dir_;
  std::unique_ptr<core::Database> db_;
};

TEST_F(GroupCommitTest, ConcurrentWritersShareCommitsAndFailuresStayIsolated) {
  auto gc = GroupCommitter::For(*db_);
  EXPECT_EQ(gc.get(), GroupCommitter::For(*db_).get());  // one per database
  constexpr int kThreads = 32, kEach = 20;
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const bool fail = i % 5 == 4;  // every fifth writer inserts, then fails
        auto st = gc->Run([&](SQLite::Database& d) -> core::Status {
          SQLite::Statement q(d, "INSERT INTO acme_rate_limits(key, tat) VALUES(?, 1)");
          q.bind(1, "k" + std::to_string(t) + "-" + std::to_string(i));
          q.exec();
          if (fail) return core::Fail(core::ErrorCode::kConflict, "no");
          return core::Ok();
        });
        (st ? ok : failed).fetch_add(1);
        EXPECT_EQ(static_cast<bool>(st), !fail);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach * 4 / 5);
  EXPECT_EQ(failed.load(), kThreads * kEach / 5);
  EXPECT_EQ(Count(), ok.load());  // failed writers left nothing behind
  EXPECT_EQ(gc->writers(), static_cast<uint64_t>(kThreads * kEach));
  EXPECT_LT(gc->commits(), gc->writers());  // shared commits under concurrency
}

TEST_F(GroupCommitTest, ASqlErrorFailsOnlyItsWriter) {
  auto gc = GroupCommitter::For(*db_);
  std::atomic<int> go{0};
  std::thread a([&] {
    while (go.load() == 0) {
    }
    EXPECT_FALSE(gc->Run([](SQLite::Database& d) -> core::Status {
      d.exec("INSERT INTO no_such_table VALUES(1)");
      return core::Ok();
    }));
  });
  go = 1;
  EXPECT_TRUE(gc->Run([](SQLite::Database& d) -> core::Status {
    d.exec("INSERT INTO acme_rate_limits(key, tat) VALUES('x', 1)");
    return core::Ok();
  }));
  a.join();
  EXPECT_EQ(Count(), 1);
}

TEST_F(GroupCommitTest, SaWriteReturnsValuesAndErrors) {
  core::SystemClock clock;
  Sa sa(*db_, clock);
  auto v = sa.Write([](SaTx& tx) -> core::Result<int> {
    HP_TRY(tx.RateLimit("a", 10, std::chrono::hours(1), true));
    return 42;
  });
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 42);
  auto e = sa.Write([](SaTx&) -> core::Result<int> {
    return core::Fail(core::ErrorCode::kNotFound, "nope");
  });
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(Count(), 1);
}

// Rate-limit rows whose theoretical arrival time has passed mean the same as no row; a pass over
// the table in small chunks removes them and keeps every row still limiting someone, and a limit
// after the prune behaves as before it.
TEST_F(GroupCommitTest, RateLimitRowsThatRanOutArePrunedInChunks) {
  core::FakeClock clock(core::FromUnixSeconds(1'800'000'000));
  Sa sa(*db_, clock);
  // 25 keys spent once on a 1-hour limit, then 10 more on a 1-day limit.
  ASSERT_TRUE(sa.Write([](SaTx& tx) -> core::Status {
    for (int i = 0; i < 25; ++i)
      HP_TRY(tx.RateLimit("hour:" + std::to_string(i), 10, std::chrono::hours(1), true));
    for (int i = 0; i < 10; ++i)
      HP_TRY(tx.RateLimit("day:" + std::to_string(i), 10, std::chrono::hours(24), true));
    return core::Ok();
  }));
  ASSERT_EQ(Count(), 35);
  auto none = sa.PruneRateLimits(4);
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0) << "nothing has run out yet";
  EXPECT_EQ(Count(), 35);

  // One spend of 10 per hour holds for 6 minutes; at 3 hours the hourly rows are spent out, the
  // daily ones (2.4 hours each) too; a fresh spend at 3 h keeps its row.
  clock.Advance(std::chrono::hours(3));
  ASSERT_TRUE(sa.Write([](SaTx& tx) -> core::Status {
    HP_TRY(tx.RateLimit("day:fresh", 1, std::chrono::hours(24), true));
    return core::Ok();
  }));
  int passes = 0;
  auto pruned = sa.PruneRateLimits(4, [&] { return ++passes > 100; });
  ASSERT_TRUE(pruned) << pruned.error().ToString();
  EXPECT_EQ(*pruned, 35);
  EXPECT_EQ(Count(), 1);
  EXPECT_EQ(passes, 9) << "36 keys in chunks of 4: 10 writes, `stop` asked after each full one";

  // The surviving row still limits: count 1 per day is spent.
  auto again = sa.Write([](SaTx& tx) { return tx.RateLimit("day:fresh", 1, std::chrono::hours(24), true); });
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->allowed);
  // A pruned key starts over with its whole burst.
  auto fresh = sa.Write([](SaTx& tx) { return tx.RateLimit("hour:3", 10, std::chrono::hours(1), false); });
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->used, 0);

  // `stop` ends a pass early.
  clock.Advance(std::chrono::hours(48));
  ASSERT_TRUE(sa.Write([](SaTx& tx) -> core::Status {
    for (int i = 0; i < 20; ++i)
      HP_TRY(tx.RateLimit("ip:" + std::to_string(i), 1, std::chrono::seconds(1), true));
    return core::Ok();
  }));
  clock.Advance(std::chrono::seconds(2));
  auto partial = sa.PruneRateLimits(4, [] { return true; });
  ASSERT_TRUE(partial);
  EXPECT_EQ(*partial, 4) << "one chunk";
}

// Request fibers: a write suspends the fiber instead of blocking its thread; the fiber continues
// (on the committing thread) only once its batch is durable, with its own result, and its
// thread-local pending nonce follows it while the host thread keeps its own.
TEST_F(GroupCommitTest, FiberWritesSuspendUntilDurableAndKeepTheirNonceScope) {
  auto gc = GroupCommitter::For(*db_);
  std::mutex mu;
  std::condition_variable cv;
  bool leader_inside = false, release = false;
  int finished = 0;
  // A blocking writer leads a batch and holds it open until released.
  std::thread holder([&] {
    auto st = gc->Run([&](SQLite::Database& d) -> core::Status {
      d.exec("INSERT INTO acme_rate_limits(key, tat) VALUES('holder', 1)");
      std::unique_lock l(mu);
      leader_inside = true;
      cv.notify_all();
      cv.wait(l, [&] { return release; });
      return core::Ok();
    });
    EXPECT_TRUE(st);
  });
  {
    std::unique_lock l(mu);
    cv.wait(l, [&] { return leader_inside; });
  }
  constexpr int kFibers = 16;
  std::atomic<int> ok{0}, failed{0}, not_visible{0}, wrong_nonce{0};
  std::vector<PendingNonce> nonces(kFibers);
  PendingNonce host_nonce;
  Sa::NonceScope host_scope(&host_nonce);
  for (int f = 0; f < kFibers; ++f) {
    Fiber::Start([&, f] {
      Sa::NonceScope scope(&nonces[f]);
      for (int i = 0; i < 3; ++i) {
        const std::string key = "f" + std::to_string(f) + "-" + std::to_string(i);
        const bool fail = i == 1;
        auto st = gc->Run([&](SQLite::Database& d) -> core::Status {
          SQLite::Statement q(d, "INSERT INTO acme_rate_limits(key, tat) VALUES(?, 1)");
          q.bind(1, key);
          q.exec();
          if (fail) return core::Fail(core::ErrorCode::kConflict, "no");
          return core::Ok();
        });
        if (CurrentPendingNonce() != &nonces[f]) wrong_nonce.fetch_add(1);
        (st ? ok : failed).fetch_add(1);
        // Resumed only after the commit: a read connection already sees the row.
        auto n = db_->Read([&](SQLite::Database& d) -> core::Result<int64_t> {
          SQLite::Statement q(d, "SELECT COUNT(*) FROM acme_rate_limits WHERE key = ?");
          q.bind(1, key);
          q.executeStep();
          return q.getColumn(0).getInt64();
        });
        if (!n || *n != (fail ? 0 : 1)) not_visible.fetch_add(1);
      }
      std::lock_guard l(mu);
      ++finished;
      cv.notify_all();
    });
    // Start returned while the fiber's write waits behind the held batch: this thread was not
    // blocked, and it still sees its own nonce scope.
    EXPECT_EQ(CurrentPendingNonce(), &host_nonce);
  }
  {
    std::lock_guard l(mu);
    EXPECT_EQ(finished, 0);
    EXPECT_EQ(ok.load() + failed.load(), 0);
    release = true;
  }
  cv.notify_all();
  {
    std::unique_lock l(mu);
    cv.wait(l, [&] { return finished == kFibers; });
  }
  holder.join();
  EXPECT_EQ(ok.load(), 2 * kFibers);
  EXPECT_EQ(failed.load(), kFibers);
  EXPECT_EQ(not_visible.load(), 0);
  EXPECT_EQ(wrong_nonce.load(), 0);
  EXPECT_EQ(Count(), 1 + 2 * kFibers);
  EXPECT_EQ(CurrentPendingNonce(), &host_nonce);
}

// A request fiber's stack is as deep as a thread's: the deepest JSON a 64 KB request body can
// hold parses, copies, serializes and is destroyed on it (nlohmann's copy and dump recurse).
TEST(FiberStackTest, HoldsTheDeepestJsonA64KbBodyCanCarry) {
  bool done = false;
  size_t size = 0;
  Fiber::Start([&] {
    const std::string text = std::string(32 * 1024, '[') + std::string(32 * 1024, ']');
    core::Json j = core::Json::parse(text);
    core::Json copy = j;
    size = copy.dump().size();
    done = true;
  });
  EXPECT_TRUE(done);  // never suspended: ran to the end inside Start
  EXPECT_EQ(size, 64u * 1024u);
}

// A fiber resumed on another thread logs with its own request's id, and each thread gets its own
// id back when the fiber suspends or ends (log lines are never misattributed).
TEST(FiberLogTest, TheRequestIdTravelsWithTheFiberAcrossThreads) {
  Fiber* suspended = nullptr;
  std::string on_start, after_resume, starter_after, resumer_after;
  {
    core::log::ScopedRequestId a("request-a");
    Fiber::Start([&] {
      on_start = core::log::CurrentRequestId();
      Fiber* self = Fiber::Current();
      self->Suspend([&suspended, self] { suspended = self; });
      after_resume = core::log::CurrentRequestId();
    });
    starter_after = core::log::CurrentRequestId();
  }
  ASSERT_NE(suspended, nullptr);
  std::thread other([&] {
    core::log::ScopedRequestId b("request-b");
    suspended->Resume();  // runs to the end on this thread
    resumer_after = core::log::CurrentRequestId();
  });
  other.join();
  EXPECT_EQ(on_start, "request-a");
  EXPECT_EQ(starter_after, "request-a");
  EXPECT_EQ(after_resume, "request-a");  // not request-b: the id moved with the fiber
  EXPECT_EQ(resumer_after, "request-b");
}

}  // namespace
}  // namespace hp::acme
