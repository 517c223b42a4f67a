// Group commit: concurrent writers share commits, a failing writer is rolled back alone, and what
// Run() reported as committed is durable.
#include "sa/group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "hp/acme/migrations.h"
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

}  // namespace
}  // namespace hp::acme
