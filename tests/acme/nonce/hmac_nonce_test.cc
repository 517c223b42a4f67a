#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "hp/acme/migrations.h"
#include "hp/acme/nonce.h"
#include "testing/acme_test_util.h"

namespace hp::acme {
namespace {

using core::ErrorCode;

class NonceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = testing::TempDir() + "/db.sqlite";
    db_ = Open();
  }
  std::unique_ptr<core::Database> Open() {
    auto db = core::Database::Open({.path = path_, .synchronous_full = false});
    EXPECT_TRUE(db);
    EXPECT_TRUE((*db)->Migrate({&core::CoreMigrations(), &AcmeMigrations()}));
    return std::move(*db);
  }
  std::string path_;
  core::FakeClock clock_{core::FromUnixSeconds(1'800'000'000)};
  std::unique_ptr<core::Database> db_;
};

TEST_F(NonceTest, NonceIsAcceptedExactlyOnce) {
  auto svc = *CreateHmacNonceService(*db_, clock_);
  std::string n = svc->Issue();
  EXPECT_EQ(n.size(), 43u);
  EXPECT_TRUE(svc->Redeem(n));
  auto again = svc->Redeem(n);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAcmeBadNonce);
}

TEST_F(NonceTest, ForgedAndMalformedNoncesAreBadNonce) {
  auto svc = *CreateHmacNonceService(*db_, clock_);
  std::string n = svc->Issue();
  std::string forged = n;
  forged[20] = forged[20] == 'A' ? 'B' : 'A';
  EXPECT_EQ(svc->Redeem(forged).error().code, ErrorCode::kAcmeBadNonce);
  EXPECT_EQ(svc->Redeem("").error().code, ErrorCode::kAcmeBadNonce);
  EXPECT_EQ(svc->Redeem("!!!").error().code, ErrorCode::kAcmeBadNonce);
  EXPECT_TRUE(svc->Redeem(n));  // the genuine one still works
}

TEST_F(NonceTest, ExpiredNonceIsRejected) {
  auto svc = *CreateHmacNonceService(*db_, clock_, {.lifetime = std::chrono::minutes(10)});
  std::string n = svc->Issue();
  clock_.Advance(std::chrono::minutes(11));
  EXPECT_EQ(svc->Redeem(n).error().code, ErrorCode::kAcmeBadNonce);
}

TEST_F(NonceTest, NoncesSurviveARestartAndReplayIsStillCaught) {
  std::string a, b;
  {
    auto svc = *CreateHmacNonceService(*db_, clock_);
    a = svc->Issue();
    b = svc->Issue();
    EXPECT_TRUE(svc->Redeem(a));
  }
  db_.reset();
  db_ = Open();
  auto svc2 = *CreateHmacNonceService(*db_, clock_);  // "another replica / after restart"
  EXPECT_TRUE(svc2->Redeem(b));
  EXPECT_EQ(svc2->Redeem(a).error().code, ErrorCode::kAcmeBadNonce);
}

TEST_F(NonceTest, ConcurrentRedemptionsAcceptEachNonceOnce) {
  auto svc = *CreateHmacNonceService(*db_, clock_);
  std::vector<std::string> nonces;
  for (int i = 0; i < 200; ++i) nonces.push_back(svc->Issue());
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (const auto& n : nonces) {
        if (svc->Redeem(n)) ok++; else bad++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_EQ(bad.load(), 200 * 7);
}

int UsedNonceRows(core::Database& db) {
  auto n = db.Read([](SQLite::Database& d) -> core::Result<int> {
    return d.execAndGet("SELECT COUNT(*) FROM acme_used_nonces").getInt();
  });
  return n ? *n : -1;
}

TEST_F(NonceTest, PruningRemovesEveryExpiredRowAndKeepsTheLiveWindow) {
  auto svc = *CreateHmacNonceService(*db_, clock_, {.lifetime = std::chrono::minutes(10)});
  // More redemptions than the old pruner (500 rows a second) could ever catch up with.
  std::vector<std::string> old;
  for (int i = 0; i < 3000; ++i) {
    std::string n = svc->Issue();
    ASSERT_TRUE(svc->Redeem(n));
    old.push_back(n);
    clock_.Advance(std::chrono::microseconds(137));  // distinct, increasing issue times
  }
  EXPECT_EQ(UsedNonceRows(*db_), 3000);
  clock_.Advance(std::chrono::minutes(5));
  std::string live = svc->Issue();
  ASSERT_TRUE(svc->Redeem(live));
  EXPECT_EQ(UsedNonceRows(*db_), 3001);  // nothing expired yet
  clock_.Advance(std::chrono::minutes(6) + std::chrono::seconds(2));  // old ones: 11 min + 0.4 s
  std::string fresh = svc->Issue();
  ASSERT_TRUE(svc->Redeem(fresh));
  EXPECT_EQ(UsedNonceRows(*db_), 2);  // every old row pruned in one pass; `live` kept
  EXPECT_EQ(svc->Redeem(live).error().code, ErrorCode::kAcmeBadNonce);   // still remembered
  EXPECT_EQ(svc->Redeem(old[0]).error().code, ErrorCode::kAcmeBadNonce);  // expired
}

TEST_F(NonceTest, ReplayWindowKeysAreOrderedByIssueTime) {
  auto svc = *CreateHmacNonceService(*db_, clock_);
  std::string prev;
  for (int i = 0; i < 50; ++i) {
    auto checked = svc->Check(svc->Issue());
    ASSERT_TRUE(checked);
    EXPECT_EQ(checked->issued, core::ToUnixMicros(clock_.Now()));
    EXPECT_EQ(IssuedMicros(checked->id), checked->issued);
    EXPECT_LT(prev, checked->id);  // byte order is issue order
    prev = checked->id;
    clock_.Advance(std::chrono::microseconds(1));
  }
}

}  // namespace
}  // namespace hp::acme
