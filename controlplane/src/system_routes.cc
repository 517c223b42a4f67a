#include "system_routes.h"

#include "hp/core/clock.h"
#include "version.h"

namespace hp::cp {

void RegisterSystemRoutes(core::http::Router& router, const core::Clock& clock, core::Database& db,
                          std::vector<const core::MigrationSet*> migrations,
                          core::MetricsRegistry& metrics, std::function<bool()> draining) {
  using core::http::Request;
  using core::http::Response;
  router.AddSync({.method = "GET", .pattern = "/healthz", .summary = "Liveness: the process answers.", .tag = "system",
                  .response_schema = {{"type", "object"}, {"properties", {{"status", {{"type", "string"}}}}}}},
                 [&clock](const Request&) {
                   Response r = Response::Json(200, {{"status", "ok"}, {"version", kVersion}, {"time", core::FormatRfc3339(clock.Now())}});
                   r.SetHeader("Cache-Control", "no-store");
                   return r;
                 });
  router.AddSync({.method = "GET", .pattern = "/readyz", .summary = "Readiness: store reachable, schema current, not shutting down.", .tag = "system"},
                 [&db, migrations, draining](const Request&) {
                   nlohmann::json checks = nlohmann::json::object();
                   bool ok = true;
                   auto st = db.CheckMigrations(migrations);
                   if (!st) {
                     ok = false;
                     checks["store"] = "unreachable";
                   } else {
                     checks["store"] = "ok";
                     bool current = true;
                     for (const auto& m : *st) current = current && m.applied == m.known;
                     checks["migrations"] = current ? "ok" : "pending";
                     ok = ok && current;
                   }
                   if (draining()) {
                     ok = false;
                     checks["shutdown"] = "draining";
                   }
                   Response r = Response::Json(ok ? 200 : 503, {{"status", ok ? "ready" : "not ready"}, {"checks", checks}});
                   r.SetHeader("Cache-Control", "no-store");
                   return r;
                 });
  router.AddSync({.method = "GET", .pattern = "/metrics", .summary = "Prometheus metrics.", .tag = "system",
                  .response_type = "text/plain; version=0.0.4"},
                 [&metrics](const Request&) {
                   return Response(200, "text/plain; version=0.0.4; charset=utf-8", metrics.RenderPrometheus());
                 });
  router.AddSync({.method = "GET", .pattern = "/openapi.json", .summary = "This API's OpenAPI 3.1 document.", .tag = "system"},
                 [&router](const Request&) {
                   return Response::Json(200, router.OpenApi("hostplane API", kVersion));
                 });
}

}  // namespace hp::cp
