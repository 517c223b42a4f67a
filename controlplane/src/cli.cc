#include "cli.h"

#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hp/core/jobs.h"
#include "hp/core/log.h"
#include "cli_admin.h"
#include "serve.h"
#include "settings.h"
#include "version.h"

namespace hp::cp {
namespace {

constexpr const char* kUsage = R"(usage: hostplane <command> [options]

commands:
  serve [--dev] [--config FILE] [--var DIR] [--listen HOST:PORT]
                              run the server (HTTPS API, ACME, DNS, jobs)
  migrate [--config FILE] [--var DIR] [--check]
                              apply database migrations (or only report with --check)
  backup --to FILE            online backup of the database (safe while serve runs)
  restore --from FILE         replace the database with a backup (serve must be stopped)
  jobs list [--state S] [--kind K] [--limit N] [--json]
  jobs show ID | jobs retry ID | jobs cancel ID
  config docs                 print every configuration key as a Markdown table
  roles docs                  print the role/permission matrix as a Markdown table
  staff create --email E [--password-file F]
                              create a platform staff user (password from F or stdin)
  audit verify                check the audit log's hash chain; names the first bad row
  audit export --from T --to T [--organization ID]
                              audit events of a period as CSV
  partners create --name N --channel agency|reseller|oem | partners list
  orgs list [--partner ID] | orgs suspend ID [--reason R] | orgs unsuspend ID
  secrets rotate-master-key   re-wrap every data key under a new master key (safe while serving)
  version                     print the version

common options: --config FILE (JSON), --var DIR (default ./var); environment variables
HOSTPLANE_<KEY> override the file (e.g. HOSTPLANE_HTTP_LISTEN=127.0.0.1:9443).
)";

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // --key value
  std::map<std::string, bool> switches;        // --flag
};

const std::vector<std::string> kSwitches = {"--dev", "--json", "--check", "--help"};

std::optional<Args> Parse(int argc, char** argv, int start, std::string* err) {
  Args a;
  for (int i = start; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) == 0) {
      std::string value;
      auto eq = s.find('=');
      if (eq != std::string::npos) {
        value = s.substr(eq + 1);
        s = s.substr(0, eq);
        a.options[s] = value;
        continue;
      }
      if (std::find(kSwitches.begin(), kSwitches.end(), s) != kSwitches.end()) {
        a.switches[s] = true;
        continue;
      }
      if (i + 1 >= argc) {
        *err = "option " + s + " needs a value";
        return std::nullopt;
      }
      a.options[s] = argv[++i];
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

int Usage(const std::string& err) {
  if (!err.empty()) std::fprintf(stderr, "hostplane: %s\n\n", err.c_str());
  std::fputs(kUsage, err.empty() ? stdout : stderr);
  return err.empty() ? 0 : 2;
}

int CheckOptions(const Args& a, const std::vector<std::string>& allowed) {
  for (const auto& [k, _] : a.options)
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) return Usage("unknown option " + k);
  for (const auto& [k, _] : a.switches)
    if (k != "--help" && std::find(allowed.begin(), allowed.end(), k) == allowed.end()) return Usage("unknown option " + k);
  return 0;
}

CommonFlags Common(const Args& a) {
  CommonFlags f;
  f.dev = a.switches.count("--dev") > 0;
  if (a.options.count("--config")) f.config_file = a.options.at("--config");
  if (a.options.count("--var")) f.var_dir = a.options.at("--var");
  if (a.options.count("--listen")) f.listen = a.options.at("--listen");
  return f;
}

int Error(const core::Error& e, int code = 1) {
  std::fprintf(stderr, "hostplane: %s\n", e.ToString().c_str());
  return code;
}

// Commands that only touch the database do not need TLS settings.
core::Result<core::Config> LoadForDb(const Args& a) {
  CommonFlags f = Common(a);
  f.dev = true;
  return LoadSettings(f);
}

core::Result<std::unique_ptr<core::Database>> OpenDb(const core::Config& cfg) {
  return core::Database::Open({.path = DatabasePath(cfg),
                               .readers = 1,
                               .synchronous_full = cfg.GetString("store.synchronous") == "full"});
}

int CmdMigrate(const Args& a) {
  if (int rc = CheckOptions(a, {"--config", "--var", "--check"})) return rc;
  auto cfg = LoadForDb(a);
  if (!cfg) return Error(cfg.error(), 2);
  auto db = OpenDb(*cfg);
  if (!db) return Error(db.error());
  auto sets = AllMigrations();
  if (a.switches.count("--check")) {
    auto st = (*db)->CheckMigrations(sets);
    if (!st) return Error(st.error());
    bool current = true;
    for (const auto& m : *st) {
      std::printf("%-16s applied %3d  known %3d%s\n", m.module.c_str(), m.applied, m.known,
                  m.applied == m.known ? "" : m.applied > m.known ? "  (database is NEWER than this binary)" : "  (pending)");
      current = current && m.applied == m.known;
    }
    return current ? 0 : 1;
  }
  core::log::SetLevel(core::log::Level::kWarn);
  if (auto st = (*db)->Migrate(sets); !st) return Error(st.error());
  std::printf("database %s is at the latest schema\n", (*db)->path().c_str());
  return 0;
}

int CmdBackup(const Args& a) {
  if (int rc = CheckOptions(a, {"--config", "--var", "--to"})) return rc;
  if (!a.options.count("--to")) return Usage("backup needs --to FILE");
  auto cfg = LoadForDb(a);
  if (!cfg) return Error(cfg.error(), 2);
  auto db = OpenDb(*cfg);
  if (!db) return Error(db.error());
  if (auto st = (*db)->Backup(a.options.at("--to")); !st) return Error(st.error());
  std::printf("backup of %s written to %s\n", (*db)->path().c_str(), a.options.at("--to").c_str());
  return 0;
}

int CmdRestore(const Args& a) {
  if (int rc = CheckOptions(a, {"--config", "--var", "--from"})) return rc;
  if (!a.options.count("--from")) return Usage("restore needs --from FILE");
  auto cfg = LoadForDb(a);
  if (!cfg) return Error(cfg.error(), 2);
  if (auto st = core::Database::Restore(a.options.at("--from"), DatabasePath(*cfg)); !st) return Error(st.error());
  std::printf("database %s restored from %s\n", DatabasePath(*cfg).c_str(), a.options.at("--from").c_str());
  return 0;
}

core::Json JobJson(const core::Job& j) {
  return {{"id", j.id}, {"kind", j.kind}, {"state", std::string(core::JobStateName(j.state))},
          {"attempts", j.attempts}, {"max_attempts", j.max_attempts}, {"run_at", core::FormatRfc3339(j.run_at)},
          {"created_at", core::FormatRfc3339(j.created_at)}, {"last_error", j.last_error},
          {"organization_id", j.organization_id}, {"payload", j.payload}, {"result", j.result},
          {"progress", j.progress}};
}

int CmdJobs(const Args& a) {
  if (int rc = CheckOptions(a, {"--config", "--var", "--state", "--kind", "--limit", "--json"})) return rc;
  if (a.positional.size() < 2) return Usage("jobs needs a subcommand: list, show, retry, cancel");
  auto cfg = LoadForDb(a);
  if (!cfg) return Error(cfg.error(), 2);
  auto db = OpenDb(*cfg);
  if (!db) return Error(db.error());
  core::log::SetLevel(core::log::Level::kWarn);
  if (auto st = (*db)->Migrate(AllMigrations()); !st) return Error(st.error());
  core::JobQueue q(**db, core::SystemClock::Instance());
  const std::string& sub = a.positional[1];
  if (sub == "list") {
    core::JobFilter f;
    if (a.options.count("--state")) {
      auto s = core::ParseJobState(a.options.at("--state"));
      if (!s) return Error(core::Error(core::ErrorCode::kInvalidArgument, "--state: must be queued, running, succeeded, dead or cancelled"), 2);
      f.state = *s;
    }
    if (a.options.count("--kind")) f.kind = a.options.at("--kind");
    if (a.options.count("--limit")) {
      try {
        f.limit = std::stoi(a.options.at("--limit"));
      } catch (...) {
        return Error(core::Error(core::ErrorCode::kInvalidArgument, "--limit: must be a number"), 2);
      }
    }
    auto jobs = q.List(f);
    if (!jobs) return Error(jobs.error());
    if (a.switches.count("--json")) {
      core::Json arr = core::Json::array();
      for (const auto& j : *jobs) arr.push_back(JobJson(j));
      std::cout << arr.dump(2) << "\n";
      return 0;
    }
    std::printf("%-22s %-24s %-10s %-8s %-20s %s\n", "ID", "KIND", "STATE", "ATTEMPT", "CREATED", "LAST ERROR");
    for (const auto& j : *jobs)
      std::printf("%-22s %-24s %-10s %3d/%-4d %-20s %s\n", j.id.c_str(), j.kind.c_str(),
                  std::string(core::JobStateName(j.state)).c_str(), j.attempts, j.max_attempts,
                  core::FormatRfc3339(j.created_at).substr(0, 19).c_str(), j.last_error.substr(0, 60).c_str());
    return 0;
  }
  if (a.positional.size() < 3) return Usage("jobs " + sub + " needs a job id");
  const std::string& id = a.positional[2];
  if (sub == "show") {
    auto j = q.Get(id);
    if (!j) return Error(j.error());
    std::cout << JobJson(*j).dump(2) << "\n";
    return 0;
  }
  if (sub == "retry" || sub == "cancel") {
    auto st = sub == "retry" ? q.Retry(id) : q.Cancel(id);
    if (!st) return Error(st.error());
    std::printf("job %s %s\n", id.c_str(), sub == "retry" ? "queued again" : "cancelled");
    return 0;
  }
  return Usage("unknown jobs subcommand " + sub);
}

}  // namespace

int RunAcmeCommand(int argc, char** argv);  // cli_acme.cc
int RunCaCommand(int argc, char** argv);  // cli_ca.cc
int RunHostsCommand(int argc, char** argv);  // cli_hosts.cc
int Main(int argc, char** argv) {
  if (argc < 2) return Usage("missing command");
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") return Usage("");
  std::string err;
  auto args = Parse(argc, argv, 1, &err);
  if (!args) return Usage(err);
  if (args->switches.count("--help")) return Usage("");
  if (cmd == "version" || cmd == "--version") {
    std::printf("hostplane %s\n", kVersion);
    return 0;
  }
  if (cmd == "serve") {
    if (int rc = CheckOptions(*args, {"--dev", "--config", "--var", "--listen"})) return rc;
    return Serve(Common(*args));
  }
  if (cmd == "migrate") return CmdMigrate(*args);
  if (cmd == "backup") return CmdBackup(*args);
  if (cmd == "restore") return CmdRestore(*args);
  if (cmd == "jobs") return CmdJobs(*args);
  if (cmd == "ca") return RunCaCommand(argc, argv);
  if (cmd == "hosts") return RunHostsCommand(argc, argv);
  if (cmd == "acme") return RunAcmeCommand(argc, argv);
  if (cmd == "roles" || cmd == "staff" || cmd == "audit" || cmd == "partners" || cmd == "orgs" || cmd == "secrets") {
    if (int rc = CheckOptions(*args, {"--config", "--var", "--email", "--password-file", "--from", "--to",
                                      "--organization", "--name", "--channel", "--partner", "--reason"}))
      return rc;
    return RunAdminCommand(args->positional, args->options, Common(*args));
  }
  if (cmd == "config") {
    if (args->positional.size() >= 2 && args->positional[1] == "docs") {
      std::fputs(BuildSchema().Markdown().c_str(), stdout);
      return 0;
    }
    return Usage("config needs a subcommand: docs");
  }
  return Usage("unknown command " + cmd);
}

}  // namespace hp::cp
