#include "sa/group_commit.h"

#include <map>
#include <vector>

#include "hp/core/log.h"
#include "sa/fiber.h"

namespace hp::acme {

std::shared_ptr<GroupCommitter> GroupCommitter::For(core::Database& db) {
  static std::mutex mu;
  static std::map<core::Database*, std::weak_ptr<GroupCommitter>> all;
  std::lock_guard lock(mu);
  auto& weak = all[&db];
  auto c = weak.lock();
  if (!c) {
    c = std::make_shared<GroupCommitter>(db);
    weak = c;
  }
  return c;
}

GroupCommitter::~GroupCommitter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  commit_cv_.notify_all();
  if (commit_thread_.joinable()) commit_thread_.join();  // after it committed what was queued
  if (commits_ > 0) {
    core::log::Info("acme group commit", {{"commits", commits_},
                                          {"writers", writers_},
                                          {"writers_per_commit",
                                           static_cast<double>(writers_) / static_cast<double>(commits_)}});
  }
}

core::Status GroupCommitter::Run(const std::function<core::Status(SQLite::Database&)>& fn) {
  if (Fiber* fiber = Fiber::Current()) {
    Pending me;
    me.fn = &fn;
    me.fiber = fiber;
    // Queued only once the fiber's context is saved: the committer may resume it at once.
    fiber->Suspend([this, &me] { Enqueue(&me); });
    return me.result;  // resumed by the thread that committed (or failed) the batch
  }
  Pending me;
  me.fn = &fn;
  std::unique_lock lock(mu_);
  queue_.push_back(&me);
  while (!me.done) {
    if (!leader_) {
      // Lead one batch: everything queued so far (including writers that arrived while the
      // previous batch was being committed).
      LeadBatch(lock);
    } else {
      me.cv.wait(lock);
    }
  }
  return me.result;
}

void GroupCommitter::LeadBatch(std::unique_lock<std::mutex>& lock) {
  leader_ = true;
  std::deque<Pending*> batch;
  batch.swap(queue_);
  lock.unlock();
  RunBatch(batch);
  lock.lock();
  leader_ = false;
  // Wake exactly the writers of this batch, and hand the lead to the next waiting one.
  std::vector<Fiber*> fibers;
  for (Pending* p : batch) {
    if (p->fiber) {
      fibers.push_back(p->fiber);  // p lives on that fiber's stack: not touched after resuming
      continue;
    }
    p->done = true;
    p->cv.notify_one();  // no-op for the leader itself (it is not waiting)
  }
  if (!queue_.empty()) {
    if (!queue_.front()->fiber) queue_.front()->cv.notify_one();
    commit_cv_.notify_one();
  }
  if (fibers.empty()) return;
  lock.unlock();
  for (Fiber* f : fibers) f->Resume();  // durable (or failed): they build and send their replies
  lock.lock();
}

void GroupCommitter::Enqueue(Pending* p) {
  std::lock_guard lock(mu_);
  queue_.push_back(p);
  if (!commit_thread_.joinable()) commit_thread_ = std::thread([this] { CommitLoop(); });
  if (!leader_) commit_cv_.notify_one();
}

void GroupCommitter::CommitLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    commit_cv_.wait(lock, [&] { return !leader_ && (!queue_.empty() || stopping_); });
    if (queue_.empty()) return;  // stopping, nothing left
    LeadBatch(lock);
  }
}

namespace {
void Step(SQLite::Statement& s) {
  s.reset();
  s.exec();
  s.reset();
}
}  // namespace

GroupCommitter::SavepointStatements& GroupCommitter::Savepoints(SQLite::Database& db) {
  if (!savepoints_ || savepoints_db_ != &db) {
    savepoints_ = std::make_unique<SavepointStatements>(db);
    savepoints_db_ = &db;
  }
  return *savepoints_;
}

void GroupCommitter::RunBatch(std::deque<Pending*>& batch) {
  auto st = db_.Write([&](SQLite::Database& db) -> core::Status {
    const bool savepoints = batch.size() > 1;
    for (Pending* p : batch) {
      if (savepoints) Step(Savepoints(db).open);
      core::Status s;
      try {
        s = (*p->fn)(db);
      } catch (const SQLite::Exception& e) {
        s = core::Fail(core::ErrorCode::kInternal, std::string("sqlite: ") + e.what());
      } catch (const std::exception& e) {
        s = core::Fail(core::ErrorCode::kInternal, std::string("exception in transaction: ") + e.what());
      }
      if (savepoints) {
        if (!s) Step(Savepoints(db).rollback_to);
        Step(Savepoints(db).release);
      } else if (!s) {
        return s;  // alone in the batch: let Database::Write roll the transaction back
      }
      p->result = std::move(s);
    }
    return core::Ok();
  });
  if (!st) {
    for (Pending* p : batch) {
      if (p->result || batch.size() == 1) p->result = st;
    }
  }
  std::lock_guard lock(mu_);
  ++commits_;
  writers_ += batch.size();
}

uint64_t GroupCommitter::commits() const {
  std::lock_guard lock(mu_);
  return commits_;
}

uint64_t GroupCommitter::writers() const {
  std::lock_guard lock(mu_);
  return writers_;
}

}  // namespace hp::acme
