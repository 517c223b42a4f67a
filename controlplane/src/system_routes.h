#pragma once
#include <functional>
#include <string>

#include "hp/core/clock.h"
#include "hp/core/http.h"
#include "hp/core/metrics.h"
#include "hp/core/store.h"

namespace hp::cp {

// GET /healthz (process is up), GET /readyz (store reachable, migrations applied, not draining),
// GET /metrics (Prometheus), GET /openapi.json.
// /healthz reports the server's clock ("time"), so tests that move a dev clock can wait for it.
void RegisterSystemRoutes(core::http::Router& router, const core::Clock& clock, core::Database& db,
                          std::vector<const core::MigrationSet*> migrations,
                          core::MetricsRegistry& metrics, std::function<bool()> draining);

}  // namespace hp::cp
