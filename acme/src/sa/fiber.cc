#include "sa/fiber.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "hp/core/log.h"
#include "sa/sa.h"

namespace hp::acme {
namespace {

// As large as a thread's default stack (recursive JSON copies of a 64 KB body may go deep); only
// the pages touched are backed (MAP_NORESERVE), and stacks are pooled.
constexpr size_t kStackSize = 8 * 1024 * 1024;
constexpr size_t kGuard = 4096;            // PROT_NONE below the stack: overflow faults
constexpr size_t kPoolMax = 512;

thread_local Fiber* t_fiber = nullptr;

std::mutex g_pool_mu;
std::vector<void*> g_pool;  // stacks (their base, guard page included)

void* AllocStack() {
  {
    std::lock_guard lock(g_pool_mu);
    if (!g_pool.empty()) {
      void* s = g_pool.back();
      g_pool.pop_back();
      return s;
    }
  }
  void* p = mmap(nullptr, kStackSize + kGuard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    core::log::Error("acme: fiber stack mmap failed");
    std::abort();
  }
  mprotect(p, kGuard, PROT_NONE);
  return p;
}

void FreeStack(void* s) {
  {
    std::lock_guard lock(g_pool_mu);
    if (g_pool.size() < kPoolMax) {
      g_pool.push_back(s);
      return;
    }
  }
  munmap(s, kStackSize + kGuard);
}

}  // namespace

Fiber::Fiber(std::function<void()> fn)
    : fn_(std::move(fn)), stack_(AllocStack()), request_id_(core::log::CurrentRequestId()) {
  getcontext(&ctx_);
  ctx_.uc_stack.ss_sp = static_cast<char*>(stack_) + kGuard;
  ctx_.uc_stack.ss_size = kStackSize;
  ctx_.uc_link = nullptr;
  const auto bits = reinterpret_cast<uintptr_t>(this);
  makecontext(&ctx_, reinterpret_cast<void (*)()>(&Fiber::Entry), 2,
              static_cast<unsigned>(bits & 0xffffffffu), static_cast<unsigned>(bits >> 32));
}

Fiber::~Fiber() { FreeStack(stack_); }

void Fiber::Entry(unsigned lo, unsigned hi) {
  Fiber* self = reinterpret_cast<Fiber*>((static_cast<uintptr_t>(hi) << 32) | lo);
  try {
    self->fn_();
  } catch (const std::exception& e) {
    core::log::Error("acme: exception escaped a request fiber", {{"error", e.what()}});
  } catch (...) {
    core::log::Error("acme: exception escaped a request fiber");
  }
  self->fn_ = nullptr;  // its captures go on this thread, while the fiber still runs
  self->finished_ = true;
  swapcontext(&self->ctx_, &self->host_);  // never resumed again
  std::abort();
}

void Fiber::Start(std::function<void()> fn) { (new Fiber(std::move(fn)))->Resume(); }

Fiber* Fiber::Current() { return t_fiber; }

void Fiber::Suspend(std::function<void()> after_switch) {
  after_ = std::move(after_switch);
  swapcontext(&ctx_, &host_);
}

void Fiber::Resume() {
  // Everything below runs on this (the host) thread, before and after the switch.
  Fiber* outer = t_fiber;
  PendingNonce* host_nonce = t_pending_nonce;
  t_fiber = this;
  t_pending_nonce = nonce_;
  std::string host_request_id = core::log::SwapRequestId(std::move(request_id_));
  swapcontext(&host_, &ctx_);
  request_id_ = core::log::SwapRequestId(std::move(host_request_id));
  nonce_ = t_pending_nonce;
  t_pending_nonce = host_nonce;
  t_fiber = outer;
  if (finished_) {
    delete this;
    return;
  }
  auto after = std::move(after_);
  after_ = nullptr;
  after();  // may hand this fiber to another thread: `this` is not touched after it
}

}  // namespace hp::acme
