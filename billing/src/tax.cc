#include "hp/billing/tax.h"

#include <array>

namespace hp::billing {

using core::ErrorCode;
using core::FailField;
using core::Money;
using core::Result;

int TaxRatePercent(TaxRate r) { return r == TaxRate::kReduced8 ? 8 : 10; }
Result<TaxRate> TaxRateFromPercent(int64_t p, std::string_view field) {
  if (p == 10) return TaxRate::kStandard10;
  if (p == 8) return TaxRate::kReduced8;
  return FailField(ErrorCode::kInvalidArgument, std::string(field),
                   "unsupported tax rate " + std::to_string(p) + "% (10, 8)");
}

std::string_view TaxRoundingName(TaxRounding r) {
  switch (r) {
    case TaxRounding::kFloor: return "floor";
    case TaxRounding::kRound: return "round";
    case TaxRounding::kCeil: return "ceil";
  }
  return "floor";
}
Result<TaxRounding> ParseTaxRounding(std::string_view s) {
  for (TaxRounding r : {TaxRounding::kFloor, TaxRounding::kRound, TaxRounding::kCeil})
    if (TaxRoundingName(r) == s) return r;
  return FailField(ErrorCode::kInvalidArgument, "billing.tax_rounding",
                   "unknown rounding '" + std::string(s) + "' (floor, round, ceil)");
}

Result<Money> TaxOf(Money subtotal, TaxRate rate, TaxRounding rounding) {
  const int64_t pct = TaxRatePercent(rate);
  const bool negative = subtotal.yen() < 0;
  if (subtotal.yen() == INT64_MIN)
    return FailField(ErrorCode::kInvalidArgument, "subtotal", "amount out of range");
  Money magnitude = Money::Yen(negative ? -subtotal.yen() : subtotal.yen());
  Result<Money> tax = rounding == TaxRounding::kFloor  ? magnitude.MulDivFloor(pct, 100)
                      : rounding == TaxRounding::kCeil ? magnitude.MulDivCeil(pct, 100)
                                                       : magnitude.MulDivRound(pct, 100);
  if (!tax) return tax;
  return negative ? Money::Yen(-tax->yen()) : *tax;
}

Result<InvoiceTotals> ComputeInvoice(const std::vector<LineInput>& lines, TaxRounding rounding) {
  InvoiceTotals out;
  std::array<Money, 2> sub{};  // index 0: 10%, 1: 8%
  std::array<bool, 2> used{false, false};
  for (size_t i = 0; i < lines.size(); ++i) {
    const LineInput& l = lines[i];
    const std::string field = "lines/" + std::to_string(i);
    if (l.description.empty())
      return FailField(ErrorCode::kInvalidArgument, field + "/description", "empty description");
    auto amount = l.unit_price.Mul(l.quantity);
    if (!amount) return FailField(ErrorCode::kInvalidArgument, field, "amount out of range");
    size_t k = l.rate == TaxRate::kStandard10 ? 0 : 1;
    auto s = sub[k].Add(*amount);
    if (!s) return FailField(ErrorCode::kInvalidArgument, field, "subtotal out of range");
    sub[k] = *s;
    used[k] = true;
    out.lines.push_back({l, *amount});
  }
  for (size_t k = 0; k < 2; ++k) {
    if (!used[k]) continue;
    TaxRate rate = k == 0 ? TaxRate::kStandard10 : TaxRate::kReduced8;
    HP_ASSIGN_OR_RETURN(Money tax, TaxOf(sub[k], rate, rounding));
    out.by_rate.push_back({rate, sub[k], tax});
    HP_ASSIGN_OR_RETURN(out.subtotal, out.subtotal.Add(sub[k]));
    HP_ASSIGN_OR_RETURN(out.tax, out.tax.Add(tax));
  }
  HP_ASSIGN_OR_RETURN(out.total, out.subtotal.Add(out.tax));
  return out;
}

}  // namespace hp::billing
