#pragma once
// Qualified-invoice arithmetic (適格請求書), pure functions.
//
// Rules:
//  - A line's amount is quantity x unit price (integer yen, tax-exclusive); lines may be negative
//    (credits, discounts).
//  - Lines are summed per tax rate (10% standard, 8% reduced). Consumption tax is computed ONCE
//    per rate per invoice from that rate's subtotal, never per line:
//        tax(rate) = Round(subtotal(rate) x percent / 100)
//    Round is the configured rule applied to the magnitude: kFloor (切り捨て, the default) drops
//    the fraction, kRound rounds half away from zero (四捨五入), kCeil (切り上げ) raises it. A
//    negative subtotal gets the negated tax of its magnitude, so a credit never differs from the
//    charge it reverses.
//  - total = sum of subtotals + sum of taxes. Nothing else changes the total: no yen is lost or
//    made between lines, per-rate subtotals and the total.
// Overflow anywhere is kInvalidArgument naming the line.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hp/core/error.h"
#include "hp/core/money.h"

namespace hp::billing {

enum class TaxRate { kStandard10, kReduced8 };
int TaxRatePercent(TaxRate r);  // 10, 8
core::Result<TaxRate> TaxRateFromPercent(int64_t percent, std::string_view field = "tax_rate");

enum class TaxRounding { kFloor, kRound, kCeil };
std::string_view TaxRoundingName(TaxRounding r);  // "floor", "round", "ceil"
core::Result<TaxRounding> ParseTaxRounding(std::string_view s);

struct LineInput {
  std::string description;
  int64_t quantity = 1;
  core::Money unit_price;
  TaxRate rate = TaxRate::kStandard10;
};

struct ComputedLine {
  LineInput input;
  core::Money amount;  // quantity x unit_price
};

struct RateTotal {
  TaxRate rate;
  core::Money subtotal;  // tax-exclusive sum of this rate's lines
  core::Money tax;       // consumption tax of this rate, rounded once
};

struct InvoiceTotals {
  std::vector<ComputedLine> lines;
  std::vector<RateTotal> by_rate;  // 10% first, then 8%; only rates that have lines
  core::Money subtotal;
  core::Money tax;
  core::Money total;
};

// Tax of one rate's subtotal with the rounding rule above.
core::Result<core::Money> TaxOf(core::Money subtotal, TaxRate rate, TaxRounding rounding);
core::Result<InvoiceTotals> ComputeInvoice(const std::vector<LineInput>& lines,
                                           TaxRounding rounding);

}  // namespace hp::billing
