#include "settings.h"

#include <filesystem>

#include "module.h"

namespace hp::cp {

core::ConfigSchema BuildSchema() {
  using core::ConfigKey;
  using core::ConfigType;
  core::ConfigSchema s;
  s.Add({.key = "var_dir", .default_value = "./var", .doc = "Directory for the database, keys, certificates and generated configs."});
  s.Add({.key = "log.level", .default_value = "info", .doc = "Minimum log level.", .allowed = {"debug", "info", "warn", "error"}});
  s.Add({.key = "log.file", .default_value = "", .doc = "Log file (JSON lines); empty means standard error."});
  s.Add({.key = "http.listen", .default_value = "127.0.0.1:8443", .doc = "Public HTTPS address (served by the TLS front).", .validate = core::ValidateHostPort});
  s.Add({.key = "http.internal_listen", .default_value = "127.0.0.1:0", .doc = "Loopback address of the application listener behind the TLS front; port 0 picks a free one.", .validate = core::ValidateHostPort});
  s.Add({.key = "http.public_url", .default_value = "", .doc = "Base URL clients use (e.g. https://hostplane.example); empty derives it from http.listen."});
  s.Add({.key = "http.threads", .type = ConfigType::kInt, .default_value = "2", .doc = "Application listener reactor threads.", .min = 1, .max = 64});
  s.Add({.key = "http.max_body_bytes", .type = ConfigType::kInt, .default_value = "1048576", .doc = "Largest accepted request body.", .min = 1024, .max = 64 << 20});
  s.Add({.key = "http.tls_cert", .default_value = "", .doc = "PEM certificate chain of the public listener; --dev generates a self-signed one under var_dir/tls/."});
  s.Add({.key = "http.tls_key", .default_value = "", .doc = "PEM private key of the public listener."});
  s.Add({.key = "http.front_binary", .default_value = "/usr/sbin/nginx", .doc = "nginx binary used as the TLS front."});
  s.Add({.key = "http.front_workers", .type = ConfigType::kInt, .default_value = "0", .doc = "nginx worker processes; 0 means one per core.", .min = 0, .max = 64});
  s.Add({.key = "store.path", .default_value = "", .doc = "SQLite database file; empty means var_dir/hostplane.db."});
  s.Add({.key = "store.synchronous", .default_value = "full", .doc = "SQLite synchronous mode: full survives power loss, normal only process crashes.", .allowed = {"full", "normal"}});
  s.Add({.key = "store.readers", .type = ConfigType::kInt, .default_value = "4", .doc = "Reader connections in the pool.", .min = 1, .max = 64});
  s.Add({.key = "store.cache_mib", .type = ConfigType::kInt, .default_value = "64", .doc = "SQLite page cache of the writer connection in MiB (each reader gets a quarter): keeps the index pages that random keys touch in memory on a large database.", .min = 1, .max = 65536});
  s.Add({.key = "jobs.workers", .type = ConfigType::kInt, .default_value = "2", .doc = "Worker threads running durable jobs.", .min = 0, .max = 64});
  s.Add({.key = "jobs.lease_seconds", .type = ConfigType::kInt, .default_value = "60", .doc = "Job lease; a job whose worker died is taken again after this.", .min = 1, .max = 86400});
  s.Add({.key = "jobs.heartbeat_seconds", .type = ConfigType::kInt, .default_value = "20", .doc = "Lease renewal interval while a job runs.", .min = 1, .max = 3600});
  s.Add({.key = "shutdown.grace_seconds", .type = ConfigType::kInt, .default_value = "10", .doc = "On SIGTERM, how long in-flight requests and jobs may take before exit.", .min = 0, .max = 600});
  s.Add({.key = "dev.clock_file", .default_value = "", .doc = "Tests only, with --dev: a file holding seconds to add to the server's clock."});
  for (const auto& m : AllModules())
    if (m.add_config) m.add_config(s);
  return s;
}

core::Result<core::Config> LoadSettings(const CommonFlags& flags) {
  std::map<std::string, std::string> overrides;
  if (flags.var_dir) overrides["var_dir"] = *flags.var_dir;
  if (flags.listen) overrides["http.listen"] = *flags.listen;
  auto schema = BuildSchema();
  HP_ASSIGN_OR_RETURN(core::Config cfg, core::LoadConfig(schema, flags.config_file, core::ProcessEnvironment(), overrides));
  std::error_code ec;
  auto var = std::filesystem::absolute(cfg.GetString("var_dir"), ec);
  cfg.Set("var_dir", var.lexically_normal().string());
  if (cfg.GetString("store.path").empty()) cfg.Set("store.path", (var / "hostplane.db").string());
  if (!flags.dev && !cfg.GetString("dev.clock_file").empty())
    return core::FailField(core::ErrorCode::kInvalidArgument, "dev.clock_file", "config key 'dev.clock_file' is only allowed with --dev");
  if (!flags.dev && (cfg.GetString("http.tls_cert").empty() || cfg.GetString("http.tls_key").empty()))
    return core::FailField(core::ErrorCode::kInvalidArgument, "http.tls_cert",
                           "config key 'http.tls_cert' and 'http.tls_key' are required without --dev");
  return cfg;
}

std::string DatabasePath(const core::Config& cfg) { return cfg.GetString("store.path"); }

}  // namespace hp::cp
