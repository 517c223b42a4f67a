#include "hp/core/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "test_support.h"

namespace hp::core {
namespace {

MigrationSet V1() {
  return {{"demo", 1, "0001_items", "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL);"}};
}
MigrationSet V2() {
  auto s = V1();
  s.push_back({"demo", 2, "0002_price", "ALTER TABLE items ADD COLUMN price INTEGER NOT NULL DEFAULT 0;"});
  return s;
}

int AppliedVersion(Database& db, const std::string& module) {
  return *db.Read([&](SQLite::Database& c) -> Result<int> {
    SQLite::Statement q(c, "SELECT COALESCE(MAX(version),0) FROM schema_migrations WHERE module=?");
    q.bind(1, module);
    q.executeStep();
    return q.getColumn(0).getInt();
  });
}

TEST(Migrations, FreshAndOlderDatabasesEndAtLatest) {
  hp::testing::TempDir dir;
  const std::string path = dir.path() + "/a.db";
  auto v1 = V1(), v2 = V2();
  {
    auto db = *Database::Open({.path = path});
    ASSERT_TRUE(db->Migrate({&v1}));
    EXPECT_EQ(AppliedVersion(*db, "demo"), 1);
    ASSERT_TRUE(db->Write([](SQLite::Database& c) -> Status {
      c.exec("INSERT INTO items(name) VALUES ('kept')");
      return Ok();
    }));
  }
  {
    auto db = *Database::Open({.path = path});
    ASSERT_TRUE(db->Migrate({&v2}));
    EXPECT_EQ(AppliedVersion(*db, "demo"), 2);
    // Data written at version 1 survives, and the new column exists.
    auto price = db->Read([](SQLite::Database& c) -> Result<int> {
      return c.execAndGet("SELECT price FROM items WHERE name='kept'").getInt();
    });
    ASSERT_TRUE(price);
    EXPECT_EQ(*price, 0);
    // Running again is a no-op.
    ASSERT_TRUE(db->Migrate({&v2}));
  }
  const std::string fresh = dir.path() + "/fresh.db";
  auto db = *Database::Open({.path = fresh});
  ASSERT_TRUE(db->Migrate({&v2}));
  EXPECT_EQ(AppliedVersion(*db, "demo"), 2);
  auto status = db->CheckMigrations({&v2});
  ASSERT_TRUE(status);
  ASSERT_EQ(status->size(), 1u);
  EXPECT_EQ((*status)[0].applied, (*status)[0].known);
}

TEST(Migrations, NewerDatabaseIsRefusedWithClearMessage) {
  hp::testing::TempDir dir;
  const std::string path = dir.path() + "/new.db";
  auto v1 = V1(), v2 = V2();
  {
    auto db = *Database::Open({.path = path});
    ASSERT_TRUE(db->Migrate({&v2}));
  }
  auto db = *Database::Open({.path = path});
  auto st = db->Migrate({&v1});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kConflict);
  EXPECT_NE(st.error().detail.find("version 2 of module 'demo'"), std::string::npos) << st.error().detail;
  EXPECT_NE(st.error().detail.find("only up to version 1"), std::string::npos);
}

TEST(Migrations, FailedMigrationRollsBackAndIsNotRecorded) {
  hp::testing::TempDir dir;
  auto db = *Database::Open({.path = dir.path() + "/x.db"});
  MigrationSet bad = {{"bad", 1, "0001_bad", "CREATE TABLE t(a); INSERT INTO nope VALUES (1);"}};
  ASSERT_FALSE(db->Migrate({&bad}));
  EXPECT_EQ(AppliedVersion(*db, "bad"), 0);
  auto exists = db->Read([](SQLite::Database& c) -> Result<bool> { return c.tableExists("t"); });
  EXPECT_FALSE(*exists);
}

TEST(Store, WriteRollsBackOnErrorAndUsesWal) {
  hp::testing::TempDir dir;
  auto db = *Database::Open({.path = dir.path() + "/w.db"});
  auto v1 = V1();
  ASSERT_TRUE(db->Migrate({&v1}));
  auto r = db->Write([](SQLite::Database& c) -> Result<int> {
    c.exec("INSERT INTO items(name) VALUES ('gone')");
    return Fail(ErrorCode::kConflict, "changed my mind");
  });
  EXPECT_FALSE(r);
  auto n = db->Read([](SQLite::Database& c) -> Result<int> { return c.execAndGet("SELECT COUNT(*) FROM items").getInt(); });
  EXPECT_EQ(*n, 0);
  auto mode = db->Read([](SQLite::Database& c) -> Result<std::string> { return c.execAndGet("PRAGMA journal_mode").getString(); });
  EXPECT_EQ(*mode, "wal");
  // SQL errors become Errors, not exceptions.
  auto bad = db->Write([](SQLite::Database& c) -> Status {
    c.exec("INSERT INTO no_such_table VALUES (1)");
    return Ok();
  });
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInternal);
}

TEST(Store, PageCacheSizeIsConfiguredAndPreparedTransactionStatementsAreReused) {
  hp::testing::TempDir dir;
  auto db = *Database::Open({.path = dir.path() + "/c.db", .readers = 2, .cache_mib = 8});
  auto v1 = V1();
  ASSERT_TRUE(db->Migrate({&v1}));
  auto w = db->Write([](SQLite::Database& c) -> Result<int> {
    return c.execAndGet("PRAGMA cache_size").getInt();
  });
  EXPECT_EQ(*w, -8 * 1024);  // KiB
  auto r = db->Read([](SQLite::Database& c) -> Result<int> {
    return c.execAndGet("PRAGMA cache_size").getInt();
  });
  EXPECT_EQ(*r, -2 * 1024);
  // Many transactions on the same cached BEGIN/COMMIT/ROLLBACK statements, failures included.
  for (int i = 0; i < 200; ++i) {
    auto st = db->Write([&](SQLite::Database& c) -> Status {
      c.exec("INSERT INTO items(name) VALUES ('n" + std::to_string(i) + "')");
      if (i % 3 == 0) return Fail(ErrorCode::kConflict, "rolled back");
      return Ok();
    });
    EXPECT_EQ(static_cast<bool>(st), i % 3 != 0);
  }
  auto n = db->Read([](SQLite::Database& c) -> Result<int> {
    return c.execAndGet("SELECT COUNT(*) FROM items").getInt();
  });
  EXPECT_EQ(*n, 133);  // 200 minus the 67 multiples of 3
}

TEST(Store, ThrowingCallbackReportsTheSqliteErrorNotAPlaceholder) {
  hp::testing::TempDir dir;
  auto db = *Database::Open({.path = dir.path() + "/t.db"});
  auto w = db->Write([](SQLite::Database& c) -> Result<int> {
    c.exec("INSERT INTO no_such_table VALUES (1)");
    return 1;
  });
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().detail.find("no_such_table"), std::string::npos) << w.error().detail;
  auto r = db->Read([](SQLite::Database& c) -> Result<int> { return c.execAndGet("SELECT * FROM missing_table").getInt(); });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("missing_table"), std::string::npos) << r.error().detail;
}

// Acceptance 6: a backup taken while writers commit holds every row committed before it began,
// passes integrity_check, and restores to a working database.
TEST(Backup, OnlineBackupUnderWritesIsConsistentAndRestorable) {
  hp::testing::TempDir dir;
  const std::string path = dir.path() + "/live.db";
  auto db = *Database::Open({.path = path, .synchronous_full = false});
  auto v1 = V1();
  ASSERT_TRUE(db->Migrate({&v1}));
  std::atomic<bool> stop{false};
  std::atomic<int64_t> committed{0};
  std::thread writer([&] {
    int i = 0;
    while (!stop.load()) {
      auto r = db->Write([&](SQLite::Database& c) -> Result<int64_t> {
        SQLite::Statement ins(c, "INSERT INTO items(name) VALUES (?)");
        ins.bind(1, "row-" + std::to_string(++i));
        ins.exec();
        return c.getLastInsertRowid();
      });
      if (r) committed.store(*r);
    }
  });
  ASSERT_TRUE(hp::testing::PollUntil([&] { return committed.load() > 2000; }, std::chrono::seconds(20)));
  const int64_t before = committed.load();
  const std::string backup = dir.path() + "/backup.db";
  ASSERT_TRUE(db->Backup(backup));
  ASSERT_TRUE(hp::testing::PollUntil([&] { return committed.load() > before + 500; }, std::chrono::seconds(20)));
  stop = true;
  writer.join();

  const std::string restored = dir.path() + "/restored.db";
  ASSERT_TRUE(Database::Restore(backup, restored));
  auto rdb = *Database::Open({.path = restored});
  ASSERT_TRUE(rdb->IntegrityCheck());
  auto counts = rdb->Read([&](SQLite::Database& c) -> Result<std::pair<int64_t, int64_t>> {
    SQLite::Statement q(c, "SELECT COUNT(*), MAX(id) FROM items WHERE id <= ?");
    q.bind(1, before);
    q.executeStep();
    return std::make_pair(q.getColumn(0).getInt64(), q.getColumn(1).getInt64());
  });
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->first, before);  // every row committed before the backup, none missing
  EXPECT_EQ(counts->second, before);
  // The restored database is usable and still knows its schema version.
  EXPECT_EQ(AppliedVersion(*rdb, "demo"), 1);
}

TEST(Backup, RestoreRefusesCorruptOrForeignFiles) {
  hp::testing::TempDir dir;
  hp::testing::WriteFile(dir.path() + "/junk.db", std::string(8192, 'x'));
  EXPECT_FALSE(Database::Restore(dir.path() + "/junk.db", dir.path() + "/target.db"));
  EXPECT_FALSE(Database::Restore(dir.path() + "/missing.db", dir.path() + "/target.db"));
  {
    SQLite::Database other(dir.path() + "/other.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    other.exec("CREATE TABLE x(a)");
  }
  auto st = Database::Restore(dir.path() + "/other.db", dir.path() + "/target.db");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().detail.find("not a hostplane database"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/target.db"));
}

}  // namespace
}  // namespace hp::core
