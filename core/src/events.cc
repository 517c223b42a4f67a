#include "hp/core/events.h"

namespace hp::core {

Status RecordEventInTx(JobQueue& jobs, SQLite::Database& tx, std::string_view type,
                       const std::string& organization_id, const Json& data,
                       const std::string& dedupe_key) {
  EnqueueOptions o;
  o.organization_id = organization_id;
  if (!dedupe_key.empty()) o.idempotency_key = std::string(type) + ":" + dedupe_key;
  auto job = jobs.EnqueueInTx(
      tx, std::string(kEventJobKind),
      Json{{"type", std::string(type)}, {"organization_id", organization_id}, {"data", data}}, o);
  if (!job) return std::unexpected(job.error());
  return Ok();
}

}  // namespace hp::core
