#include "dev_clock.h"

#include <fstream>

namespace hp::cp {

core::TimePoint FileOffsetClock::Now() const {
  const core::TimePoint real = core::SystemClock::Instance().Now();
  const int64_t real_us = core::ToUnixMicros(real);
  if (real_us - checked_at_us_.load(std::memory_order_relaxed) > 50000) {
    checked_at_us_.store(real_us, std::memory_order_relaxed);
    std::ifstream in(path_);
    double seconds = 0;
    if (in >> seconds) offset_us_.store(static_cast<int64_t>(seconds * 1e6), std::memory_order_relaxed);
  }
  return real + core::Duration(offset_us_.load(std::memory_order_relaxed));
}

}  // namespace hp::cp
