#include "sa/group_commit.h"

#include <map>

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

core::Status GroupCommitter::Run(const std::function<core::Status(SQLite::Database&)>& fn) {
  Pending me;
  me.fn = &fn;
  std::unique_lock lock(mu_);
  queue_.push_back(&me);
  while (!me.done) {
    if (!leader_) {
      // Lead one batch: everything queued so far (including writers that arrived while the
      // previous batch was being committed).
      leader_ = true;
      std::deque<Pending*> batch;
      batch.swap(queue_);
      lock.unlock();
      RunBatch(batch);
      lock.lock();
      leader_ = false;
      // Wake exactly the writers of this batch, and hand the lead to the next waiting one.
      for (Pending* p : batch) {
        p->done = true;
        if (p != &me) p->cv.notify_one();
      }
      if (!queue_.empty()) queue_.front()->cv.notify_one();
    } else {
      me.cv.wait(lock);
    }
  }
  return me.result;
}

void GroupCommitter::RunBatch(std::deque<Pending*>& batch) {
  auto st = db_.Write([&](SQLite::Database& db) -> core::Status {
    const bool savepoints = batch.size() > 1;
    for (Pending* p : batch) {
      if (savepoints) db.exec("SAVEPOINT hp_gc");
      core::Status s;
      try {
        s = (*p->fn)(db);
      } catch (const SQLite::Exception& e) {
        s = core::Fail(core::ErrorCode::kInternal, std::string("sqlite: ") + e.what());
      } catch (const std::exception& e) {
        s = core::Fail(core::ErrorCode::kInternal, std::string("exception in transaction: ") + e.what());
      }
      if (savepoints) {
        if (!s) db.exec("ROLLBACK TO hp_gc");
        db.exec("RELEASE hp_gc");
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
