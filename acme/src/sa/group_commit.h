#pragma once
// Group commit for the ACME store: concurrent write transactions (requests, nonce redemptions,
// validation results) run one after the other inside ONE SQLite transaction, each in its own
// savepoint, and share its commit, so N concurrent writers cost one fsync instead of N. The first
// waiter becomes the leader, runs the whole batch and wakes the others once it is durable; a
// writer whose function fails is rolled back to its savepoint without touching the others.
//
// Thread safety: Run may be called from any thread; it blocks until the batch that ran `fn` is
// committed (or failed). `fn` must not call Run itself.
//
// On a request fiber (sa/fiber.h) Run blocks no thread: the fiber is suspended, its write is
// queued, and the commit thread (or whichever thread leads the batch) resumes it once the batch
// is durable or has failed; Run then returns there with the same result.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "hp/core/error.h"
#include "hp/core/store.h"

namespace hp::acme {

class Fiber;

class GroupCommitter {
 public:
  // The committer of `db`, shared by every user of that database in the process (Sa, nonces).
  static std::shared_ptr<GroupCommitter> For(core::Database& db);
  explicit GroupCommitter(core::Database& db) : db_(db) {}
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Runs fn inside a savepoint of a shared write transaction. Returns fn's status, or the
  // commit's error when the batch could not be committed (then nothing of fn persisted).
  core::Status Run(const std::function<core::Status(SQLite::Database&)>& fn);

  // Transactions committed and writers served, for tests and benchmarks.
  uint64_t commits() const;
  uint64_t writers() const;

 private:
  struct Pending {
    const std::function<core::Status(SQLite::Database&)>* fn;
    core::Status result;
    bool done = false;
    std::condition_variable cv;  // woken only for this writer: done, or its turn to lead
    Fiber* fiber = nullptr;  // set: a suspended fiber to resume instead of waking cv
  };
  void RunBatch(std::deque<Pending*>& batch);
  // Leads one batch (mu_ held on entry and exit, leader_ false on entry): runs and commits it,
  // wakes its blocked writers and resumes its fibers (without mu_).
  void LeadBatch(std::unique_lock<std::mutex>& lock);
  void Enqueue(Pending* p);  // a fiber's write, after the fiber switched out
  void CommitLoop();
  // SAVEPOINT / ROLLBACK TO / RELEASE prepared once (used only by the batch leader, under the
  // database's write lock).
  struct SavepointStatements {
    explicit SavepointStatements(SQLite::Database& db)
        : open(db, "SAVEPOINT hp_gc"), rollback_to(db, "ROLLBACK TO hp_gc"), release(db, "RELEASE hp_gc") {}
    SQLite::Statement open, rollback_to, release;
  };
  SavepointStatements& Savepoints(SQLite::Database& db);
  std::unique_ptr<SavepointStatements> savepoints_;
  const SQLite::Database* savepoints_db_ = nullptr;

  core::Database& db_;
  mutable std::mutex mu_;
  std::deque<Pending*> queue_;
  bool leader_ = false;
  std::condition_variable commit_cv_;  // the commit thread: fiber writes queued and no leader
  std::thread commit_thread_;          // started by the first fiber write
  bool stopping_ = false;
  uint64_t commits_ = 0;
  uint64_t writers_ = 0;
};

}  // namespace hp::acme
