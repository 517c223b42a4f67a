#include "hp/core/money.h"

#include <gtest/gtest.h>

#include <limits>

namespace hp::core {
namespace {

TEST(Money, CheckedArithmeticRefusesOverflow) {
  Money big = Money::Yen(std::numeric_limits<int64_t>::max());
  EXPECT_FALSE(big.Add(Money::Yen(1)));
  EXPECT_FALSE(Money::Yen(std::numeric_limits<int64_t>::min()).Sub(Money::Yen(1)));
  EXPECT_FALSE(big.Mul(2));
  EXPECT_EQ(Money::Yen(1000).Add(Money::Yen(234))->yen(), 1234);
  EXPECT_EQ(Money::Yen(1000).Sub(Money::Yen(1234))->yen(), -234);
}

TEST(Money, MulDivRoundsAsDocumented) {
  // 10% consumption tax on 1,999 yen: 199.9
  EXPECT_EQ(Money::Yen(1999).MulDivFloor(10, 100)->yen(), 199);
  EXPECT_EQ(Money::Yen(1999).MulDivCeil(10, 100)->yen(), 200);
  EXPECT_EQ(Money::Yen(1995).MulDivRound(10, 100)->yen(), 200);  // 199.5 -> 200
  EXPECT_EQ(Money::Yen(1994).MulDivRound(10, 100)->yen(), 199);
  // Negative amounts (credits) floor toward negative infinity.
  EXPECT_EQ(Money::Yen(-1999).MulDivFloor(10, 100)->yen(), -200);
  EXPECT_EQ(Money::Yen(-1995).MulDivRound(10, 100)->yen(), -200);
  // Proration: 3,000 yen for 17 of 30 days.
  EXPECT_EQ(Money::Yen(3000).MulDivFloor(17, 30)->yen(), 1700);
  EXPECT_FALSE(Money::Yen(1).MulDivFloor(1, 0));
  // The 128-bit intermediate does not overflow where a 64-bit one would.
  EXPECT_EQ(Money::Yen(4'000'000'000'000'000'000LL).MulDivFloor(2, 4)->yen(), 2'000'000'000'000'000'000LL);
}

TEST(Money, FormatsWithYenSignAndGrouping) {
  EXPECT_EQ(Money::Yen(1234567).Format(), "\xC2\xA5" "1,234,567");
  EXPECT_EQ(Money::Yen(-5).Format(), "-\xC2\xA5" "5");
  EXPECT_EQ(Money::Yen(0).Format(), "\xC2\xA5" "0");
  EXPECT_LT(Money::Yen(1), Money::Yen(2));
}

}  // namespace
}  // namespace hp::core
