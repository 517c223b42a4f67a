#include "serve.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "dev_cert.h"
#include "dev_clock.h"
#include "hp/core/http_server.h"
#include "hp/core/jobs.h"
#include "hp/core/log.h"
#include "hp/core/random.h"
#include "module.h"
#include "system_routes.h"
#include "tls_front.h"
#include "version.h"

namespace hp::cp {

std::vector<const core::MigrationSet*> AllMigrations() {
  std::vector<const core::MigrationSet*> sets = {&core::CoreMigrations()};
  for (const auto& m : AllModules())
    if (m.migrations)
      for (const auto* s : m.migrations()) sets.push_back(s);
  return sets;
}

namespace {

int Fatal(const core::Error& e) {
  std::fprintf(stderr, "hostplane: %s\n", e.ToString().c_str());
  core::log::Error("start-up failed", {{"error", e.ToString()}});
  return 2;
}

std::string PublicUrl(const core::Config& cfg) {
  std::string u = cfg.GetString("http.public_url");
  if (!u.empty()) {
    while (!u.empty() && u.back() == '/') u.pop_back();
    return u;
  }
  std::string listen = cfg.GetString("http.listen");
  std::string host, port;
  if (listen[0] == '[') {
    auto close = listen.find(']');
    host = listen.substr(0, close + 1);
    port = listen.substr(close + 2);
  } else {
    auto c = listen.rfind(':');
    host = listen.substr(0, c);
    port = listen.substr(c + 1);
  }
  if (host == "127.0.0.1" || host == "0.0.0.0" || host == "[::]" || host == "[::1]") host = "localhost";
  return "https://" + host + (port == "443" ? "" : ":" + port);
}

}  // namespace

int Serve(const CommonFlags& flags) {
  const auto t0 = std::chrono::steady_clock::now();
  // Block termination signals in every thread; the main thread waits for them with sigwait.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto cfg_r = LoadSettings(flags);
  if (!cfg_r) return Fatal(cfg_r.error());
  const core::Config& cfg = *cfg_r;
  core::log::Level level;
  core::log::ParseLevel(cfg.GetString("log.level"), &level);
  core::log::SetLevel(level);
  if (!cfg.GetString("log.file").empty() && !core::log::SetOutputFile(cfg.GetString("log.file")))
    return Fatal(core::Error(core::ErrorCode::kInvalidArgument, "config key 'log.file': cannot open " + cfg.GetString("log.file")).WithField("log.file"));

  const std::string var = cfg.GetString("var_dir");
  std::error_code ec;
  std::filesystem::create_directories(var, ec);
  if (ec) return Fatal(core::Error(core::ErrorCode::kInvalidArgument, "config key 'var_dir': cannot create " + var + ": " + ec.message()));
  std::string cert = cfg.GetString("http.tls_cert"), key = cfg.GetString("http.tls_key");
  if (flags.dev && (cert.empty() || key.empty())) {
    auto st = EnsureDevCertificate(var + "/tls");
    if (!st) return Fatal(st.error());
    cert = var + "/tls/server.crt";
    key = var + "/tls/server.key";
  }

  auto db_r = core::Database::Open({.path = DatabasePath(cfg),
                                    .readers = static_cast<int>(cfg.GetInt("store.readers")),
                                    .cache_mib = static_cast<int>(cfg.GetInt("store.cache_mib")),
                                    .synchronous_full = cfg.GetString("store.synchronous") == "full"});
  if (!db_r) return Fatal(db_r.error());
  core::Database& db = **db_r;
  const auto migrations = AllMigrations();
  if (auto st = db.Migrate(migrations); !st) return Fatal(st.error());

  core::MetricsRegistry& metrics = core::MetricsRegistry::Default();
  std::unique_ptr<FileOffsetClock> test_clock;
  if (!cfg.GetString("dev.clock_file").empty()) test_clock = std::make_unique<FileOffsetClock>(cfg.GetString("dev.clock_file"));
  const core::Clock& clock = test_clock ? static_cast<const core::Clock&>(*test_clock) : core::SystemClock::Instance();
  core::http::Router router;
  core::JobQueue jobs(db, clock);
  core::WorkerPool workers(jobs, {.threads = static_cast<int>(cfg.GetInt("jobs.workers")),
                                  .lease = std::chrono::seconds(cfg.GetInt("jobs.lease_seconds")),
                                  .heartbeat = std::chrono::seconds(cfg.GetInt("jobs.heartbeat_seconds"))});
  std::atomic<bool> draining{false};

  ServiceRegistry services;
  ServeContext ctx{cfg, db, clock, router, jobs, workers, metrics, var, PublicUrl(cfg), flags.dev, &services};
  std::vector<std::unique_ptr<ServedModule>> mounted;
  for (const auto& m : AllModules()) {
    if (!m.mount) continue;
    auto r = m.mount(ctx);
    if (!r) return Fatal(r.error());
    mounted.push_back(std::move(*r));
  }
  RegisterSystemRoutes(router, clock, db, migrations, metrics, [&] { return draining.load(); });

  const std::string internal = cfg.GetString("http.internal_listen");
  const auto colon = internal.rfind(':');
  std::string ihost = internal.substr(0, colon);
  if (!ihost.empty() && ihost[0] == '[') ihost = ihost.substr(1, ihost.size() - 2);
  const std::string front_token = core::NewPublicId() + core::NewPublicId();
  auto server_r = core::http::Server::Create(
      {.address = ihost,
       .port = static_cast<uint16_t>(std::stoi(internal.substr(colon + 1))),
       .threads = static_cast<int>(cfg.GetInt("http.threads")),
       .max_request_bytes = static_cast<size_t>(cfg.GetInt("http.max_body_bytes")),
       .front_token = front_token},
      router, metrics);
  if (!server_r) return Fatal(server_r.error());
  auto& server = **server_r;
  if (auto st = server.Start(); !st) return Fatal(st.error().WithField("http.internal_listen"));

  const std::string upstream = (ihost.find(':') != std::string::npos ? "[" + ihost + "]" : ihost) + ":" + std::to_string(server.port());
  auto front_r = TlsFront::Start({.nginx_binary = cfg.GetString("http.front_binary"),
                                  .dir = var + "/front",
                                  .listen = cfg.GetString("http.listen"),
                                  .upstream = upstream,
                                  .cert_file = cert,
                                  .key_file = key,
                                  .front_token = front_token,
                                  .workers = static_cast<int>(cfg.GetInt("http.front_workers")),
                                  .max_body_bytes = static_cast<size_t>(cfg.GetInt("http.max_body_bytes"))});
  if (!front_r) {
    server.Shutdown(std::chrono::milliseconds(0));
    return Fatal(front_r.error());
  }
  if (cfg.GetInt("jobs.workers") > 0) workers.Start();

  const double startup_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  core::log::Info("hostplane ready", {{"version", kVersion},
                                      {"url", ctx.public_base_url},
                                      {"listen", cfg.GetString("http.listen")},
                                      {"internal", upstream},
                                      {"database", db.path()},
                                      {"dev", flags.dev},
                                      {"startup_ms", startup_ms}});

  int sig = 0;
  sigwait(&sigs, &sig);
  const auto grace = std::chrono::seconds(cfg.GetInt("shutdown.grace_seconds"));
  core::log::Info("shutting down", {{"signal", sig}, {"grace_seconds", grace.count()}});
  draining = true;
  // Order: stop accepting and let in-flight requests finish through the front, then stop the
  // application listener, then the job workers, then the modules.
  (*front_r)->Stop(std::chrono::duration_cast<std::chrono::milliseconds>(grace));
  server.Shutdown(std::chrono::duration_cast<std::chrono::milliseconds>(grace));
  workers.Stop(grace);
  for (auto it = mounted.rbegin(); it != mounted.rend(); ++it) (*it)->Stop();
  core::log::Info("stopped", {});
  return 0;
}

}  // namespace hp::cp
