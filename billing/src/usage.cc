#include "hp/billing/usage.h"

#include "util.h"

namespace hp::billing {

using core::ErrorCode;
using core::FailField;
using core::Result;

Result<UsageReceipt> UsageMeter::Record(const UsageRecord& r, const Actor& actor) {
  if (r.organization_id.empty())
    return FailField(ErrorCode::kInvalidArgument, "organization_id", "empty organization id");
  if (r.subscription_id.empty())
    return FailField(ErrorCode::kInvalidArgument, "subscription_id", "empty subscription id");
  if (r.metric != kMetricVpsHours && r.metric != kMetricBandwidthGb &&
      r.metric != kMetricCertificates)
    return FailField(ErrorCode::kInvalidArgument, "metric",
                     "unknown metric '" + r.metric + "' (vps_hours, bandwidth_gb, certificates)");
  if (r.quantity <= 0)
    return FailField(ErrorCode::kInvalidArgument, "quantity", "quantity must be positive");
  if (r.idempotency_key.empty() || r.idempotency_key.size() > 200)
    return FailField(ErrorCode::kInvalidArgument, "idempotency_key", "1..200 characters required");
  return deps_.db->Write([&](SQLite::Database& db) -> Result<UsageReceipt> {
    SQLite::Statement s(db,
                        "SELECT public_id, subscription_id, metric, quantity, occurred_at FROM "
                        "billing_usage WHERE organization_id = ? AND idempotency_key = ?");
    s.bind(1, r.organization_id);
    s.bind(2, r.idempotency_key);
    if (s.executeStep()) {
      if (s.getColumn(1).getString() != r.subscription_id || s.getColumn(2).getString() != r.metric ||
          s.getColumn(3).getInt64() != r.quantity ||
          s.getColumn(4).getInt64() != core::ToUnixMicros(r.occurred_at))
        return FailField(ErrorCode::kConflict, "idempotency_key",
                         "this key was used for a different usage record");
      return UsageReceipt{s.getColumn(0).getString(), true};
    }
    SQLite::Statement sub(db,
                          "SELECT 1 FROM billing_subscriptions WHERE organization_id = ? AND "
                          "public_id = ?");
    sub.bind(1, r.organization_id);
    sub.bind(2, r.subscription_id);
    if (!sub.executeStep())
      return FailField(ErrorCode::kNotFound, "subscription_id", "no such subscription");
    UsageReceipt out{deps_.ids->NewId(), false};
    SQLite::Statement q(db,
                        "INSERT INTO billing_usage (public_id, organization_id, subscription_id, "
                        "metric, quantity, occurred_at, idempotency_key, created_at) VALUES "
                        "(?,?,?,?,?,?,?,?)");
    q.bind(1, out.id);
    q.bind(2, r.organization_id);
    q.bind(3, r.subscription_id);
    q.bind(4, r.metric);
    q.bind(5, r.quantity);
    q.bind(6, core::ToUnixMicros(r.occurred_at));
    q.bind(7, r.idempotency_key);
    q.bind(8, internal::NowMicros(deps_));
    q.exec();
    HP_TRY(internal::Audit(deps_, db, actor, r.organization_id, "billing.usage.record",
                           "subscription:" + r.subscription_id,
                           {{"metric", r.metric}, {"quantity", r.quantity},
                            {"idempotency_key", r.idempotency_key}}));
    return out;
  });
}

Result<int64_t> UsageMeter::Total(const std::string& org, const std::string& sub,
                                  const std::string& metric, core::TimePoint from,
                                  core::TimePoint to) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<int64_t> {
    SQLite::Statement q(db,
                        "SELECT COALESCE(SUM(quantity), 0) FROM billing_usage WHERE "
                        "organization_id = ? AND subscription_id = ? AND metric = ? AND "
                        "occurred_at >= ? AND occurred_at < ?");
    q.bind(1, org);
    q.bind(2, sub);
    q.bind(3, metric);
    q.bind(4, core::ToUnixMicros(from));
    q.bind(5, core::ToUnixMicros(to));
    q.executeStep();
    return q.getColumn(0).getInt64();
  });
}

}  // namespace hp::billing
