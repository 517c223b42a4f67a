#pragma once
// Shared vocabulary of the billing module: dates, billing periods, the issuer of an invoice, the
// dependencies every billing service takes, and the schema (BillingMigrations()).
//
// Conventions of every billing service: money is core::Money (integer yen, tax-exclusive unless a
// name says otherwise); dates are UTC calendar days (std::chrono::year_month_day); every row that
// belongs to a customer carries its organization id and every query is scoped by it (a row of
// another organization is kNotFound); every state change appends a core::AuditEvent inside the
// same write transaction. All services are thread-safe (state lives in the Database only).

#include <chrono>
#include <string>
#include <string_view>

#include "hp/core/audit.h"
#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/random.h"
#include "hp/core/store.h"
#include "hp/billing/tax.h"

namespace hp::billing {

using Date = std::chrono::year_month_day;

// "2026-01-31"; ParseDate rejects anything else (field "date").
std::string FormatDate(Date d);
core::Result<Date> ParseDate(std::string_view s, std::string_view field = "date");
// The UTC calendar day of a time point, and midnight UTC of a day.
Date ToDate(core::TimePoint t);
core::TimePoint StartOfDay(Date d);
// b - a in days (negative when b is earlier).
int64_t DaysBetween(Date a, Date b);
Date AddDays(Date d, int64_t days);
// Last day of the month `months` after d's month (0: d's own month).
Date EndOfMonthAfter(Date d, int months);

enum class BillingPeriod { kMonthly, kYearly };
std::string_view BillingPeriodName(BillingPeriod p);  // "monthly", "yearly"
core::Result<BillingPeriod> ParseBillingPeriod(std::string_view s, std::string_view field = "period");

// Who issues an invoice (適格請求書発行事業者): the platform, or a reseller/OEM partner for its own
// customers. registration_number is "T" followed by 13 digits.
struct Issuer {
  std::string name;
  std::string registration_number;
  std::string address;
};
// kInvalidArgument (field "registration_number") unless "T" + 13 ASCII digits.
core::Status ValidateRegistrationNumber(std::string_view number);

// Module configuration (config keys in docs/billing.md).
struct BillingConfig {
  Issuer platform_issuer;                   // billing.issuer.name / .registration_number / .address
  TaxRounding rounding = TaxRounding::kFloor;  // billing.tax_rounding: floor | round | ceil
  std::string invoice_prefix = "INV";       // billing.invoice_prefix: numbers are PREFIX-00000001
  int payment_terms_days = 14;              // billing.payment_terms_days: due date = issue + N
  int batch_size = 500;                     // billing.run_batch_size: organisations per transaction
};

// Who caused a state change, for the audit log.
struct Actor {
  std::string type = "system";  // "user", "staff", "partner", "system"
  std::string id;
  std::string source_ip;
  std::string request_id;
};

struct BillingDeps {
  core::Database* db = nullptr;
  const core::Clock* clock = nullptr;
  core::IdSource* ids = nullptr;
  core::AuditLog* audit = nullptr;
};

const core::MigrationSet& BillingMigrations();

}  // namespace hp::billing
