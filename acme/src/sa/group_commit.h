#pragma once
// Group commit for the ACME store: concurrent write transactions (requests, nonce redemptions,
// validation results) run one after the other inside ONE SQLite transaction, each in its own
// savepoint, and share its commit, so N concurrent writers cost one fsync instead of N. The first
// waiter becomes the leader, runs the whole batch and wakes the others once it is durable; a
// writer whose function fails is rolled back to its savepoint without touching the others.
//
// Thread safety: Run may be called from any thread; it blocks until the batch that ran `fn` is
// committed (or failed). `fn` must not call Run itself.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "hp/core/error.h"
#include "hp/core/store.h"

namespace hp::acme {

class GroupCommitter {
 public:
  // The committer of `db`, shared by every user of that database in the process (Sa, nonces).
  static std::shared_ptr<GroupCommitter> For(core::Database& db);
  explicit GroupCommitter(core::Database& db) : db_(db) {}

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
  };
  void RunBatch(std::deque<Pending*>& batch);

  core::Database& db_;
  mutable std::mutex mu_;
  std::deque<Pending*> queue_;
  bool leader_ = false;
  uint64_t commits_ = 0;
  uint64_t writers_ = 0;
};

}  // namespace hp::acme
