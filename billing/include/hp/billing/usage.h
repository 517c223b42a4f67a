#pragma once
// Usage metering: VPS running hours, bandwidth (GB), certificates issued. Reporters send records
// with an idempotency key; a retried report with the same key is recorded once (the same key
// with a different content is kConflict). Records are rated at period end by the billing run:
// every unrated record that occurred before the period end becomes a charge at the usage
// product's unit price in force on the period's first day, and is marked rated in the same
// transaction, so nothing is billed twice or skipped. Thread-safe.

#include <string>

#include "hp/billing/billing.h"

namespace hp::billing {

inline constexpr const char* kMetricVpsHours = "vps_hours";
inline constexpr const char* kMetricBandwidthGb = "bandwidth_gb";
inline constexpr const char* kMetricCertificates = "certificates";

struct UsageRecord {
  std::string organization_id;
  std::string subscription_id;
  std::string metric;  // one of the kMetric* names
  int64_t quantity = 0;  // > 0
  core::TimePoint occurred_at;
  std::string idempotency_key;  // required
};

struct UsageReceipt {
  std::string id;
  bool duplicate = false;  // true when this key was already recorded
};

class UsageMeter {
 public:
  explicit UsageMeter(const BillingDeps& deps) : deps_(deps) {}
  core::Result<UsageReceipt> Record(const UsageRecord& record, const Actor& actor = {});
  // Sum of recorded quantities of a metric for a subscription in [from, to).
  core::Result<int64_t> Total(const std::string& organization_id,
                              const std::string& subscription_id, const std::string& metric,
                              core::TimePoint from, core::TimePoint to);

 private:
  BillingDeps deps_;
};

}  // namespace hp::billing
