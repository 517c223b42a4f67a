#pragma once
// Private helpers shared by the billing sources.

#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

#include "hp/billing/billing.h"
#include "hp/core/audit.h"
#include "hp/core/json.h"

namespace hp::billing::internal {

inline core::Status Audit(const BillingDeps& deps, SQLite::Database& tx, const Actor& actor,
                          const std::string& organization_id, const std::string& action,
                          const std::string& target, core::Json detail = core::Json::object(),
                          const std::string& partner_id = "") {
  if (deps.audit == nullptr) return core::Ok();
  core::AuditEvent e;
  e.actor_type = actor.type;
  e.actor_id = actor.id;
  e.organization_id = organization_id;
  e.partner_id = partner_id;
  e.action = action;
  e.target = target;
  e.source_ip = actor.source_ip;
  e.request_id = actor.request_id;
  e.detail = std::move(detail);
  return deps.audit->Append(tx, e);
}

inline int64_t NowMicros(const BillingDeps& deps) { return core::ToUnixMicros(deps.clock->Now()); }

inline core::Status CheckDeps(const BillingDeps& deps) {
  if (!deps.db || !deps.clock || !deps.ids || !deps.audit)
    return core::Fail(core::ErrorCode::kInternal, "billing deps incomplete");
  return core::Ok();
}

}  // namespace hp::billing::internal
