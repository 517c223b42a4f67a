#include "hp/core/store.h"

#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "hp/core/log.h"

namespace hp::core {
namespace {

Error FromSqlite(const SQLite::Exception& e) {
  int code = e.getErrorCode() & 0xff;
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
    return Error(ErrorCode::kUnavailable, std::string("database busy: ") + e.what());
  return Error(ErrorCode::kInternal, std::string("sqlite: ") + e.what());
}

}  // namespace

struct Database::TxStatements {
  TxStatements(SQLite::Database& c, bool writer)
      : begin(c, writer ? "BEGIN IMMEDIATE" : "BEGIN"), commit(c, "COMMIT"), rollback(c, "ROLLBACK") {}
  static void Run(SQLite::Statement& s) {
    s.reset();
    s.exec();
    s.reset();
  }
  SQLite::Statement begin, commit, rollback;
};

Database::TxStatements& Database::Tx(const SQLite::Database& c) { return *tx_.at(&c); }

Database::Database(DatabaseOptions options) : options_(std::move(options)) {}
Database::~Database() = default;

Result<std::unique_ptr<Database>> Database::Open(const DatabaseOptions& options) {
  if (options.path.empty()) return FailField(ErrorCode::kInvalidArgument, "store.path", "database path is empty");
  std::unique_ptr<Database> db(new Database(options));
  HP_TRY(db->Init());
  return db;
}

Result<std::unique_ptr<SQLite::Database>> Database::OpenConnection(bool readonly) {
  try {
    int flags = readonly ? SQLite::OPEN_READONLY : (SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    flags |= SQLITE_OPEN_NOMUTEX;  // each connection is used by one thread at a time
    auto c = std::make_unique<SQLite::Database>(options_.path, flags, options_.busy_timeout_ms);
    c->exec("PRAGMA foreign_keys=ON");
    if (!memory_) {
      if (!readonly) {
        std::string mode = c->execAndGet("PRAGMA journal_mode=WAL").getString();
        if (mode != "wal")
          return Fail(ErrorCode::kInternal, "cannot enable WAL on " + options_.path + " (journal_mode=" + mode + ")");
      }
      c->exec(options_.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    }
    const int kib = std::max(1, options_.cache_mib) * 1024 / (readonly ? 4 : 1);
    c->exec("PRAGMA cache_size=-" + std::to_string(kib));
    return c;
  } catch (const SQLite::Exception& e) {
    return Fail(ErrorCode::kUnavailable, "cannot open database " + options_.path + ": " + e.what());
  }
}

Status Database::Init() {
  memory_ = options_.path == ":memory:";
  if (!memory_) {
    auto parent = std::filesystem::path(options_.path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  }
  HP_ASSIGN_OR_RETURN(writer_, OpenConnection(false));
  try {
    writer_->exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " module TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),"
        " PRIMARY KEY (module, version))");
  } catch (const SQLite::Exception& e) {
    return Fail(FromSqlite(e));
  }
  if (!memory_) {
    for (int i = 0; i < std::max(1, options_.readers); ++i) {
      HP_ASSIGN_OR_RETURN(auto r, OpenConnection(true));
      idle_readers_.push_back(std::move(r));
    }
  }
  try {
    tx_[writer_.get()] = std::make_unique<TxStatements>(*writer_, true);
    for (auto& r : idle_readers_) tx_[r.get()] = std::make_unique<TxStatements>(*r, false);
  } catch (const SQLite::Exception& e) {
    return Fail(FromSqlite(e));
  }
  return Ok();
}

Status Database::RunWrite(const std::function<Status(SQLite::Database&)>& fn) {
  std::lock_guard lock(write_mu_);
  TxStatements& tx = Tx(*writer_);
  try {
    TxStatements::Run(tx.begin);
  } catch (const SQLite::Exception& e) {
    return Fail(FromSqlite(e));
  }
  Status st;
  try {
    st = fn(*writer_);
  } catch (const SQLite::Exception& e) {
    st = Fail(FromSqlite(e));
  } catch (const std::exception& e) {
    st = Fail(ErrorCode::kInternal, std::string("exception in transaction: ") + e.what());
  }
  try {
    if (st) {
      TxStatements::Run(tx.commit);
    } else {
      TxStatements::Run(tx.rollback);
    }
  } catch (const SQLite::Exception& e) {
    try {
      tx.commit.reset();
      TxStatements::Run(tx.rollback);
    } catch (...) {
    }
    return Fail(FromSqlite(e));
  }
  return st;
}

Status Database::RunRead(const std::function<Status(SQLite::Database&)>& fn) {
  if (memory_) {
    // One private connection: reads share the writer's lock.
    std::lock_guard lock(write_mu_);
    try {
      return fn(*writer_);
    } catch (const SQLite::Exception& e) {
      return Fail(FromSqlite(e));
    }
  }
  std::unique_ptr<SQLite::Database> conn;
  {
    std::unique_lock lock(read_mu_);
    read_cv_.wait(lock, [&] { return !idle_readers_.empty(); });
    conn = std::move(idle_readers_.back());
    idle_readers_.pop_back();
  }
  Status st;
  TxStatements& tx = Tx(*conn);
  try {
    TxStatements::Run(tx.begin);
    st = fn(*conn);
    TxStatements::Run(tx.commit);
  } catch (const SQLite::Exception& e) {
    try {
      tx.commit.reset();
      TxStatements::Run(tx.rollback);
    } catch (...) {
    }
    st = Fail(FromSqlite(e));
  } catch (const std::exception& e) {
    try {
      tx.commit.reset();
      TxStatements::Run(tx.rollback);
    } catch (...) {
    }
    st = Fail(ErrorCode::kInternal, std::string("exception in read: ") + e.what());
  }
  {
    std::lock_guard lock(read_mu_);
    idle_readers_.push_back(std::move(conn));
  }
  read_cv_.notify_one();
  return st;
}

Result<std::vector<MigrationStatus>> Database::CheckMigrations(const std::vector<const MigrationSet*>& sets) {
  std::map<std::string, MigrationStatus> status;
  for (const auto* set : sets) {
    for (const auto& m : *set) {
      auto& s = status[m.module];
      s.module = m.module;
      s.known = std::max(s.known, m.version);
    }
  }
  HP_TRY(Read([&](SQLite::Database& db) -> Status {
    SQLite::Statement q(db, "SELECT module, MAX(version) FROM schema_migrations GROUP BY module");
    while (q.executeStep()) {
      auto& s = status[q.getColumn(0).getString()];
      s.module = q.getColumn(0).getString();
      s.applied = q.getColumn(1).getInt();
    }
    return Ok();
  }));
  std::vector<MigrationStatus> out;
  for (auto& [_, s] : status) out.push_back(s);
  return out;
}

Status Database::Migrate(const std::vector<const MigrationSet*>& sets) {
  HP_ASSIGN_OR_RETURN(auto statuses, CheckMigrations(sets));
  for (const auto& s : statuses) {
    if (s.applied > s.known) {
      return Fail(ErrorCode::kConflict,
                  "database " + options_.path + " has schema version " + std::to_string(s.applied) +
                      " of module '" + s.module + "' but this binary knows only up to version " +
                      std::to_string(s.known) + "; refusing to start (upgrade hostplane or restore an older backup)");
    }
  }
  for (const auto* set : sets) {
    for (const auto& m : *set) {
      int applied = 0;
      for (const auto& s : statuses)
        if (s.module == m.module) applied = s.applied;
      if (m.version <= applied) continue;
      HP_TRY(Write([&](SQLite::Database& db) -> Status {
        SQLite::Statement check(db, "SELECT 1 FROM schema_migrations WHERE module=? AND version=?");
        check.bind(1, m.module);
        check.bind(2, m.version);
        if (check.executeStep()) return Ok();
        db.exec(m.sql);
        SQLite::Statement ins(db, "INSERT INTO schema_migrations(module, version, name) VALUES (?,?,?)");
        ins.bind(1, m.module);
        ins.bind(2, m.version);
        ins.bind(3, m.name);
        ins.exec();
        return Ok();
      }));
      log::Info("migration applied", {{"module", m.module}, {"version", m.version}, {"name", m.name}});
    }
  }
  return Ok();
}

Status Database::Backup(const std::string& to_path) {
  if (memory_) return Fail(ErrorCode::kInvalidArgument, "cannot back up an in-memory database");
  std::string tmp = to_path + ".partial";
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  try {
    // A dedicated source connection: the backup takes consistent pages while writers continue
    // (WAL readers do not block the writer).
    SQLite::Database src(options_.path, SQLite::OPEN_READONLY, options_.busy_timeout_ms);
    sqlite3* dest = nullptr;
    if (sqlite3_open(tmp.c_str(), &dest) != SQLITE_OK) {
      std::string msg = dest ? sqlite3_errmsg(dest) : "out of memory";
      sqlite3_close(dest);
      return Fail(ErrorCode::kInvalidArgument, "cannot create backup file " + tmp + ": " + msg);
    }
    src.exec("BEGIN");  // one snapshot for the whole copy
    sqlite3_backup* b = sqlite3_backup_init(dest, "main", src.getHandle(), "main");
    if (!b) {
      std::string msg = sqlite3_errmsg(dest);
      sqlite3_close(dest);
      return Fail(ErrorCode::kInternal, "backup init failed: " + msg);
    }
    int rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    src.exec("COMMIT");
    if (rc != SQLITE_DONE) {
      sqlite3_close(dest);
      return Fail(ErrorCode::kInternal, "backup failed: " + std::string(sqlite3_errstr(rc)));
    }
    // A backup is a standalone file: no WAL beside it.
    sqlite3_exec(dest, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr);
    sqlite3_close(dest);
  } catch (const SQLite::Exception& e) {
    return Fail(FromSqlite(e));
  }
  std::filesystem::rename(tmp, to_path, ec);
  if (ec) return Fail(ErrorCode::kInternal, "cannot rename backup into place: " + ec.message());
  return Ok();
}

Status Database::IntegrityCheck() {
  return Read([&](SQLite::Database& db) -> Status {
    std::string r = db.execAndGet("PRAGMA integrity_check").getString();
    if (r != "ok") return Fail(ErrorCode::kInternal, "integrity_check: " + r);
    return Ok();
  });
}

Status Database::Restore(const std::string& from_path, const std::string& db_path) {
  std::error_code ec;
  if (!std::filesystem::exists(from_path, ec))
    return FailField(ErrorCode::kInvalidArgument, "--from", "backup file " + from_path + " does not exist");
  try {
    SQLite::Database src(from_path, SQLite::OPEN_READONLY);
    std::string r = src.execAndGet("PRAGMA integrity_check").getString();
    if (r != "ok") return FailField(ErrorCode::kInvalidArgument, "--from", "backup fails integrity_check: " + r);
    if (!src.tableExists("schema_migrations"))
      return FailField(ErrorCode::kInvalidArgument, "--from", "not a hostplane database (no schema_migrations)");
    auto parent = std::filesystem::path(db_path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    std::string tmp = db_path + ".restoring";
    std::filesystem::remove(tmp, ec);
    {
      SQLite::Database dst(tmp, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      sqlite3_backup* b = sqlite3_backup_init(dst.getHandle(), "main", src.getHandle(), "main");
      if (!b) return Fail(ErrorCode::kInternal, "restore init failed");
      int rc = sqlite3_backup_step(b, -1);
      sqlite3_backup_finish(b);
      if (rc != SQLITE_DONE) return Fail(ErrorCode::kInternal, "restore failed: " + std::string(sqlite3_errstr(rc)));
    }
    std::filesystem::remove(db_path + "-wal", ec);
    std::filesystem::remove(db_path + "-shm", ec);
    std::filesystem::rename(tmp, db_path, ec);
    if (ec) return Fail(ErrorCode::kInternal, "cannot move restored database into place: " + ec.message());
  } catch (const SQLite::Exception& e) {
    return Fail(ErrorCode::kInvalidArgument, std::string("cannot read backup: ") + e.what());
  }
  return Ok();
}

}  // namespace hp::core
