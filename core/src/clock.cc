#include "hp/core/clock.h"

#include <cstdio>
#include <ctime>

namespace hp::core {

TimePoint SystemClock::Now() const {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}
SystemClock& SystemClock::Instance() {
  static SystemClock c;
  return c;
}

FakeClock::FakeClock(TimePoint start) : micros_(ToUnixMicros(start)) {}
TimePoint FakeClock::Now() const { return FromUnixMicros(micros_.load()); }
void FakeClock::Advance(Duration d) { micros_.fetch_add(d.count()); }
void FakeClock::Set(TimePoint t) { micros_.store(ToUnixMicros(t)); }

int64_t ToUnixSeconds(TimePoint t) {
  return std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
}
TimePoint FromUnixSeconds(int64_t s) { return TimePoint(std::chrono::seconds(s)); }
int64_t ToUnixMicros(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint FromUnixMicros(int64_t us) { return TimePoint(std::chrono::microseconds(us)); }

std::string FormatRfc3339(TimePoint t) {
  int64_t us = ToUnixMicros(t);
  int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
  int64_t frac = us - secs * 1000000;
  time_t tt = static_cast<time_t>(secs);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out(buf);
  if (frac != 0) {
    char fb[16];
    std::snprintf(fb, sizeof fb, ".%06lld", static_cast<long long>(frac));
    std::string f(fb);
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  out += "Z";
  return out;
}

Result<TimePoint> ParseRfc3339(std::string_view s) {
  auto bad = [&] { return Fail(ErrorCode::kInvalidArgument, "not an RFC 3339 timestamp: " + std::string(s.substr(0, 40))); };
  if (s.size() < 20) return bad();
  auto num = [&](size_t pos, size_t len, int* out) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
  };
  int Y, M, D, h, m, sec;
  if (!num(0, 4, &Y) || s[4] != '-' || !num(5, 2, &M) || s[7] != '-' || !num(8, 2, &D) ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !num(11, 2, &h) || s[13] != ':' ||
      !num(14, 2, &m) || s[16] != ':' || !num(17, 2, &sec))
    return bad();
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return bad();
  size_t i = 19;
  int64_t frac_us = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (digits < 6) frac_us = frac_us * 10 + (s[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return bad();
    for (int k = digits; k < 6; ++k) frac_us *= 10;
  }
  int64_t offset = 0;
  if (i >= s.size()) return bad();
  if (s[i] == 'Z' || s[i] == 'z') {
    ++i;
  } else if (s[i] == '+' || s[i] == '-') {
    int oh, om;
    if (i + 6 > s.size() || !num(i + 1, 2, &oh) || s[i + 3] != ':' || !num(i + 4, 2, &om))
      return bad();
    offset = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return bad();
  }
  if (i != s.size()) return bad();
  std::chrono::year_month_day ymd{std::chrono::year(Y), std::chrono::month(M), std::chrono::day(D)};
  if (!ymd.ok()) return bad();
  auto days = std::chrono::sys_days(ymd);
  int64_t secs = days.time_since_epoch().count() * 86400LL + h * 3600 + m * 60 + sec - offset;
  return FromUnixMicros(secs * 1000000 + frac_us);
}

}  // namespace hp::core
