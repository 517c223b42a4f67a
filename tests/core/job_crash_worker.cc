// A worker process for the crash test: runs the job queue against a database file. In "hang" mode
// the handler records its start and then blocks forever (the test SIGKILLs the process); in
// "finish" mode it completes. Effects are idempotent (INSERT OR IGNORE keyed by job id), as the
// job contract requires.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "hp/core/jobs.h"
#include "hp/core/log.h"

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  using namespace hp::core;
  log::SetLevel(log::Level::kError);
  const std::string path = argv[1], mode = argv[2];
  auto db = Database::Open({.path = path});
  if (!db) return 3;
  MigrationSet test = {{"crashtest", 1, "0001_effects",
                        "CREATE TABLE effects(job_id TEXT PRIMARY KEY, runs INTEGER NOT NULL);"
                        "CREATE TABLE starts(job_id TEXT, attempt INTEGER, mode TEXT);"}};
  if (!(*db)->Migrate({&CoreMigrations(), &test})) return 4;
  JobQueue q(**db, SystemClock::Instance());
  WorkerPool pool(q, {.threads = 1, .lease = std::chrono::seconds(1),
                      .heartbeat = std::chrono::milliseconds(300),
                      .idle_poll = std::chrono::milliseconds(50)});
  pool.Register("test.effect", [&](JobContext& ctx) -> Result<Json> {
    const std::string id = ctx.job().id;
    (void)(*db)->Write([&](SQLite::Database& c) -> Status {
      SQLite::Statement s(c, "INSERT INTO starts VALUES (?,?,?)");
      s.bind(1, id);
      s.bind(2, ctx.job().attempts);
      s.bind(3, mode);
      s.exec();
      return Ok();
    });
    if (mode == "hang") {
      while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    (void)(*db)->Write([&](SQLite::Database& c) -> Status {
      SQLite::Statement s(c, "INSERT INTO effects VALUES (?,1) ON CONFLICT(job_id) DO UPDATE SET runs=runs+1");
      s.bind(1, id);
      s.exec();
      return Ok();
    });
    return Json{{"done", true}};
  });
  pool.Start();
  while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
}
