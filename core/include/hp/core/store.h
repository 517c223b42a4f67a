#pragma once
// The embedded store: SQLite through SQLiteCpp in WAL mode. One writer connection (SQLite allows
// one writer at a time anyway) guarded by a mutex, plus a pool of reader connections. Modules keep
// their schema in numbered SQL files (src/sql/NNNN_name.sql, embedded with hp_embed_sql) and their
// own store classes on top of Database; handlers never talk to SQLite directly.
//
// Thread safety: Database is safe to use from any thread.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "hp/core/error.h"

namespace hp::core {

struct Migration {
  std::string module;  // "core", "acme", ...
  int version;         // 1, 2, ... per module
  std::string name;    // file name without extension
  std::string sql;
};
using MigrationSet = std::vector<Migration>;

struct DatabaseOptions {
  std::string path;  // a file path; ":memory:" gives one private connection (tests only)
  int busy_timeout_ms = 5000;
  int readers = 4;
  // Page cache of the writer connection in MiB (PRAGMA cache_size); readers get a quarter each.
  // The writer's cache holds the index pages that random keys (public ids, names) touch, so a
  // large database is not re-read from the file on every insert.
  int cache_mib = 64;
  // FULL makes every commit durable against power loss; NORMAL (WAL) only against a crash of the
  // process. Production default is FULL.
  bool synchronous_full = true;
};

struct MigrationStatus {
  std::string module;
  int applied = 0;  // highest version applied in the database
  int known = 0;    // highest version this binary knows
};

class Database {
 public:
  static Result<std::unique_ptr<Database>> Open(const DatabaseOptions& options);
  ~Database();

  // Applies every migration not yet applied, each in its own transaction, recording it in
  // `schema_migrations`. Refuses (kFailedPrecondition-like kConflict) when the database holds a
  // version newer than the binary knows, naming the module and versions.
  Status Migrate(const std::vector<const MigrationSet*>& sets);
  // Compares database and binary without changing anything.
  Result<std::vector<MigrationStatus>> CheckMigrations(const std::vector<const MigrationSet*>& sets);

  // Runs fn(db) inside BEGIN IMMEDIATE on the writer connection; commits when fn returns a value,
  // rolls back on an error or exception. SQLite exceptions become kInternal (kUnavailable when the
  // database is busy/locked).
  template <typename F>
  auto Write(F&& fn) -> decltype(fn(std::declval<SQLite::Database&>())) {
    using R = decltype(fn(std::declval<SQLite::Database&>()));
    R out = std::unexpected(Error(ErrorCode::kInternal, "not run"));
    bool ran = false;
    Status st = RunWrite([&](SQLite::Database& db) -> Status {
      out = fn(db);
      ran = true;
      if (!out) return std::unexpected(out.error());
      return {};
    });
    // fn threw (a SQLite error) or the commit failed: report that, not "not run".
    if (!st && (!ran || out)) return std::unexpected(st.error());
    return out;
  }
  // Runs fn(db) on a reader connection inside a read transaction (a consistent snapshot).
  template <typename F>
  auto Read(F&& fn) -> decltype(fn(std::declval<SQLite::Database&>())) {
    using R = decltype(fn(std::declval<SQLite::Database&>()));
    R out = std::unexpected(Error(ErrorCode::kInternal, "not run"));
    bool ran = false;
    Status st = RunRead([&](SQLite::Database& db) -> Status {
      out = fn(db);
      ran = true;
      if (!out) return std::unexpected(out.error());
      return {};
    });
    // fn threw (a SQLite error) or the commit failed: report that, not "not run".
    if (!st && (!ran || out)) return std::unexpected(st.error());
    return out;
  }

  // Copies the live database into `to_path` with SQLite's online backup API while writers keep
  // going; the copy is a consistent snapshot. Writes to a temporary file and renames it.
  Status Backup(const std::string& to_path);
  // Replaces the database at `db_path` with the backup at `from_path` after checking the backup
  // passes PRAGMA integrity_check. The server must not be running on db_path.
  static Status Restore(const std::string& from_path, const std::string& db_path);
  // PRAGMA integrity_check == "ok".
  Status IntegrityCheck();

  const std::string& path() const { return options_.path; }

 private:
  explicit Database(DatabaseOptions options);
  Status Init();
  Status RunWrite(const std::function<Status(SQLite::Database&)>& fn);
  Status RunRead(const std::function<Status(SQLite::Database&)>& fn);
  Result<std::unique_ptr<SQLite::Database>> OpenConnection(bool readonly);
  // BEGIN/COMMIT/ROLLBACK prepared once per connection (sqlite3_exec would parse them each time).
  struct TxStatements;
  TxStatements& Tx(const SQLite::Database& c);

  DatabaseOptions options_;
  std::mutex write_mu_;
  std::unique_ptr<SQLite::Database> writer_;
  std::mutex read_mu_;
  std::condition_variable read_cv_;
  std::vector<std::unique_ptr<SQLite::Database>> idle_readers_;
  std::map<const SQLite::Database*, std::unique_ptr<TxStatements>> tx_;  // fixed after Init
  bool memory_ = false;
};

// The migrations of the core module (schema_migrations is created by Database itself).
const MigrationSet& CoreMigrations();

}  // namespace hp::core
