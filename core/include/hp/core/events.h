#pragma once
// Domain events for outside subscribers (webhooks): "invoice.issued", "invoice.paid",
// "organization.suspended", ... A module records an event inside the write transaction that makes
// it true, as a durable job of kind kEventJobKind, so the event goes out if and only if that
// transaction commits (a transactional outbox built on the job queue). The module that delivers
// events (the partners module's webhooks) registers the handler for that kind; the payload is
// {"type", "organization_id", "data"}.

#include <string>
#include <string_view>

#include "hp/core/error.h"
#include "hp/core/jobs.h"
#include "hp/core/json.h"

namespace hp::core {

inline constexpr std::string_view kEventJobKind = "event.publish";

// Records `type` for `organization_id` in `tx`. `dedupe_key` (optional) makes a repeat of the
// same event (e.g. a retried step) record nothing new.
Status RecordEventInTx(JobQueue& jobs, SQLite::Database& tx, std::string_view type,
                       const std::string& organization_id, const Json& data,
                       const std::string& dedupe_key = "");

}  // namespace hp::core
