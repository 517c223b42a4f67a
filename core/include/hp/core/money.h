#pragma once
// Money is integer yen. Never floating point. Arithmetic is checked: overflow is an error, not a
// wrap-around.

#include <compare>
#include <cstdint>
#include <string>

#include "hp/core/error.h"

namespace hp::core {

class Money {
 public:
  constexpr Money() = default;
  static constexpr Money Yen(int64_t yen) { return Money(yen); }
  constexpr int64_t yen() const { return yen_; }

  Result<Money> Add(Money other) const;
  Result<Money> Sub(Money other) const;
  Result<Money> Mul(int64_t factor) const;
  // this * numerator / denominator, rounded down toward negative infinity (floor); exact in
  // 128-bit intermediate arithmetic. Used for tax (10/100) and proration (days/period).
  Result<Money> MulDivFloor(int64_t numerator, int64_t denominator) const;
  Result<Money> MulDivRound(int64_t numerator, int64_t denominator) const;  // half away from 0
  Result<Money> MulDivCeil(int64_t numerator, int64_t denominator) const;

  constexpr auto operator<=>(const Money&) const = default;
  // "¥1,234" / "-¥5"
  std::string Format() const;

 private:
  explicit constexpr Money(int64_t yen) : yen_(yen) {}
  int64_t yen_ = 0;
};

}  // namespace hp::core
