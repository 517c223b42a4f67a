#include "hp/core/money.h"

#include <limits>

namespace hp::core {
namespace {
__extension__ using i128 = __int128;
Result<Money> FromWide(i128 v) {
  if (v > std::numeric_limits<int64_t>::max() || v < std::numeric_limits<int64_t>::min())
    return Fail(ErrorCode::kInvalidArgument, "amount out of range");
  return Money::Yen(static_cast<int64_t>(v));
}
i128 FloorDiv(i128 a, i128 b) {
  i128 q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
}  // namespace

Result<Money> Money::Add(Money o) const { return FromWide(i128(yen_) + o.yen_); }
Result<Money> Money::Sub(Money o) const { return FromWide(i128(yen_) - o.yen_); }
Result<Money> Money::Mul(int64_t f) const { return FromWide(i128(yen_) * f); }

Result<Money> Money::MulDivFloor(int64_t n, int64_t d) const {
  if (d == 0) return Fail(ErrorCode::kInvalidArgument, "division by zero");
  return FromWide(FloorDiv(i128(yen_) * n, d));
}
Result<Money> Money::MulDivCeil(int64_t n, int64_t d) const {
  if (d == 0) return Fail(ErrorCode::kInvalidArgument, "division by zero");
  return FromWide(-FloorDiv(-(i128(yen_) * n), d));
}
Result<Money> Money::MulDivRound(int64_t n, int64_t d) const {
  if (d == 0) return Fail(ErrorCode::kInvalidArgument, "division by zero");
  i128 num = i128(yen_) * n;
  i128 den = d;
  if (den < 0) {
    num = -num;
    den = -den;
  }
  i128 q = (num >= 0) ? (num * 2 + den) / (2 * den) : -((-num * 2 + den) / (2 * den));
  return FromWide(q);
}

std::string Money::Format() const {
  bool neg = yen_ < 0;
  unsigned long long v = neg ? 0ULL - static_cast<unsigned long long>(yen_) : static_cast<unsigned long long>(yen_);
  std::string digits = std::to_string(v);
  std::string grouped;
  int n = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (n && n % 3 == 0) grouped.insert(grouped.begin(), ',');
    grouped.insert(grouped.begin(), *it);
    ++n;
  }
  return std::string(neg ? "-" : "") + "\xC2\xA5" + grouped;
}

}  // namespace hp::core
