#pragma once
// The audit trail every module writes to: who did what, to which target, from where, with which
// result. The production log (controlplane) is append-only and SHA-256 hash-chained. Append()
// takes the caller's open write transaction, so the audit row commits or rolls back together with
// the state change it describes. Never put secrets in `detail`.
//
// Thread-safety: Append() runs inside Database::Write (one writer at a time).

#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

#include "hp/core/error.h"
#include "hp/core/json.h"

namespace hp::core {

struct AuditEvent {
  std::string actor_type;       // "user", "token", "staff", "partner", "system", "anonymous"
  std::string actor_id;         // public id; for a failed sign-in, the e-mail that was tried
  std::string organization_id;  // public id, empty for events without a customer
  std::string partner_id;       // public id, empty when not partner-related
  std::string action;           // "session.create", "token.revoke", "organization.suspend"
  std::string target;           // "token:AbC..", "user:XyZ.."
  std::string source_ip;
  std::string result = "success";  // "success", "failure", "denied"
  Json detail = Json::object();    // extra facts, never secrets
  std::string request_id;
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  // Appends inside the caller's write transaction.
  virtual Status Append(SQLite::Database& tx, const AuditEvent& event) = 0;
};

}  // namespace hp::core
