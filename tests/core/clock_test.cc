#include "hp/core/clock.h"

#include <gtest/gtest.h>

namespace hp::core {
namespace {

TEST(Rfc3339, FormatsUtcWithOptionalFraction) {
  EXPECT_EQ(FormatRfc3339(FromUnixSeconds(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(FromUnixSeconds(1795478400)), "2026-11-24T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(FromUnixMicros(1500000)), "1970-01-01T00:00:01.5Z");
}

TEST(Rfc3339, ParsesOffsetsAndRejectsGarbage) {
  EXPECT_EQ(ToUnixSeconds(*ParseRfc3339("2026-11-24T09:00:00+09:00")), 1795478400);
  EXPECT_EQ(ToUnixMicros(*ParseRfc3339("1970-01-01T00:00:01.25Z")), 1250000);
  for (const char* bad : {"", "2026-11-24", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                          "2026-11-24T00:00:00", "2026-11-24T25:00:00Z", "2026-11-24T00:00:00Zjunk"}) {
    EXPECT_FALSE(ParseRfc3339(bad)) << bad;
  }
  auto t = FromUnixMicros(1795478400123456);
  EXPECT_EQ(*ParseRfc3339(FormatRfc3339(t)), t);
}

TEST(FakeClock, MovesOnlyWhenTold) {
  FakeClock c(FromUnixSeconds(1000));
  EXPECT_EQ(ToUnixSeconds(c.Now()), 1000);
  c.Advance(std::chrono::hours(1));
  EXPECT_EQ(ToUnixSeconds(c.Now()), 4600);
  c.Set(FromUnixSeconds(5));
  EXPECT_EQ(ToUnixSeconds(c.Now()), 5);
}

}  // namespace
}  // namespace hp::core
