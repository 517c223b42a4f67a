#pragma once
// A clock for end-to-end tests of the real binary: system time plus an offset in seconds read from
// a file (re-read at most every 50 ms). Only `serve --dev` with `dev.clock_file` set uses it, so
// tests can move time (session expiry, lockouts, renewals) without sleeping.

#include <atomic>
#include <string>

#include "hp/core/clock.h"

namespace hp::cp {

class FileOffsetClock final : public core::Clock {
 public:
  explicit FileOffsetClock(std::string path) : path_(std::move(path)) {}
  core::TimePoint Now() const override;

 private:
  std::string path_;
  mutable std::atomic<int64_t> offset_us_{0};
  mutable std::atomic<int64_t> checked_at_us_{0};
};

}  // namespace hp::cp
