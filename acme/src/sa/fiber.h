#pragma once
// Request fibers (acme.request_threads = -1): an authenticated ACME POST runs on a small stack of
// its own, started on the Pistache reactor thread that read it. When it needs a durable write,
// GroupCommitter::Run suspends the fiber (the reactor goes back to its event loop at once) and
// queues the write for the commit thread; once the batch is durable, the thread that committed
// it resumes the fiber, which builds and sends the reply from there. No thread ever sleeps on a
// commit, and a reply is never built before its transaction is durable.
//
// A fiber moves between threads only at Suspend/Resume. Thread-local state the request code
// relies on (t_pending_nonce, and the log's request id) is saved with the fiber and restored on the thread that resumes it;
// code on a fiber must not keep the address of a thread_local across a write.
//
// Thread safety: Start and Resume run the fiber on the calling thread; a suspended fiber must be
// resumed exactly once, by one thread.

#include <functional>
#include <string>
#include <ucontext.h>

namespace hp::acme {

struct PendingNonce;

class Fiber {
 public:
  // Runs fn on a new fiber on this thread until it finishes or first suspends.
  static void Start(std::function<void()> fn);
  // The fiber running on this thread, or nullptr.
  static Fiber* Current();

  // On the fiber: switch back to the thread that resumed it; `after_switch` then runs on that
  // thread once this fiber's context is saved (it may hand the fiber to another thread, which
  // may Resume it at once). Returns when the fiber is resumed, possibly on another thread.
  void Suspend(std::function<void()> after_switch);
  // Continues a suspended fiber on the calling thread until it suspends again or finishes (then
  // it is freed).
  void Resume();

  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

 private:
  explicit Fiber(std::function<void()> fn);
  ~Fiber();
  static void Entry(unsigned lo, unsigned hi);

  std::function<void()> fn_;
  std::function<void()> after_;
  ucontext_t ctx_{};
  ucontext_t host_{};
  void* stack_ = nullptr;
  bool finished_ = false;
  PendingNonce* nonce_ = nullptr;  // the fiber's t_pending_nonce while it is not running
  std::string request_id_;         // the log's request id for lines the fiber writes
};

}  // namespace hp::acme
