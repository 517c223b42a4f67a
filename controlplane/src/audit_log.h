#pragma once
// The production audit log: append-only table audit_events, each row's hash = SHA-256 over the
// previous row's hash and the row's canonical form; audit_head keeps the last (seq, hash) so a
// removed tail is detected. Triggers refuse UPDATE/DELETE from the application.

#include <optional>
#include <string>
#include <vector>

#include "hp/core/audit.h"
#include "hp/core/clock.h"
#include "hp/core/store.h"

namespace hp::cp {

struct AuditRow {
  int64_t seq = 0;
  core::TimePoint ts;
  core::AuditEvent event;
  std::string prev_hash;
  std::string hash;
};

struct AuditVerifyResult {
  bool ok = true;
  int64_t rows = 0;
  int64_t bad_seq = 0;  // first row that fails, 0 when ok
  std::string reason;
};

struct AuditQuery {
  std::string organization_id;  // empty: all (staff only)
  std::optional<core::TimePoint> from;  // inclusive
  std::optional<core::TimePoint> to;    // exclusive
  int64_t after_seq = 0;                // cursor
  int limit = 100;
  std::string action_prefix;
};

class ChainedAuditLog final : public core::AuditLog {
 public:
  explicit ChainedAuditLog(const core::Clock& clock) : clock_(clock) {}
  core::Status Append(SQLite::Database& tx, const core::AuditEvent& event) override;

  static core::Result<AuditVerifyResult> Verify(core::Database& db);
  static core::Result<std::vector<AuditRow>> Query(core::Database& db, const AuditQuery& q);
  // RFC 4180 CSV with a header line.
  static std::string ToCsv(const std::vector<AuditRow>& rows);

 private:
  const core::Clock& clock_;
};

}  // namespace hp::cp
