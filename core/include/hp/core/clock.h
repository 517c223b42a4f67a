#pragma once
// Time is injected: production code asks a Clock, tests move a FakeClock instead of sleeping.

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

#include "hp/core/error.h"

namespace hp::core {

using TimePoint = std::chrono::sys_time<std::chrono::microseconds>;
using Duration = std::chrono::microseconds;

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override;
  static SystemClock& Instance();
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start);
  TimePoint Now() const override;
  void Advance(Duration d);
  void Set(TimePoint t);

 private:
  std::atomic<int64_t> micros_;
};

// RFC 3339 in UTC with 'Z' ("2026-11-24T05:56:00Z"; fractional seconds only when non-zero).
std::string FormatRfc3339(TimePoint t);
Result<TimePoint> ParseRfc3339(std::string_view s);
// Seconds since the Unix epoch.
int64_t ToUnixSeconds(TimePoint t);
TimePoint FromUnixSeconds(int64_t s);
int64_t ToUnixMicros(TimePoint t);
TimePoint FromUnixMicros(int64_t us);

}  // namespace hp::core
