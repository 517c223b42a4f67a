// `hostplane acme ...`: operator commands of the ACME CA, run against the database directly (the
// server may be running).
//   acme eab create [--owner NAME] [--json]   mint an External Account Binding key (RFC 8555
//                                             §7.3.4) for one new ACME account
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "hp/acme/server.h"
#include "hp/core/json.h"
#include "hp/core/log.h"
#include "serve.h"
#include "settings.h"

namespace hp::cp {

// mount_acme.cc: the server's CA and store, without routes or jobs.
core::Result<acme::EabCredentials> CreateAcmeEabKey(const core::Config& cfg, core::Database& db,
                                                    const std::string& owner);

namespace {

constexpr const char* kAcmeUsage =
    R"(usage: hostplane acme eab create [--owner NAME] [--json] [--config FILE] [--var DIR]

  Mints an External Account Binding key: an ACME client passes the kid and the base64url HMAC
  key when it registers (certbot --eab-kid/--eab-hmac-key, lego --eab --kid/--hmac). Each key
  binds exactly one account. --owner records who it was made for (default "operator").
)";

int Usage(const std::string& err) {
  if (!err.empty()) std::fprintf(stderr, "hostplane: %s\n\n", err.c_str());
  std::fputs(kAcmeUsage, err.empty() ? stdout : stderr);
  return err.empty() ? 0 : 2;
}

}  // namespace

int RunAcmeCommand(int argc, char** argv) {
  std::vector<std::string> pos;
  std::map<std::string, std::string> opts;
  bool json = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") return Usage("");
    if (a == "--json") {
      json = true;
    } else if (a == "--owner" || a == "--config" || a == "--var") {
      if (i + 1 >= argc) return Usage("option " + a + " needs a value");
      opts[a] = argv[++i];
    } else if (a.rfind("--", 0) == 0) {
      return Usage("unknown option " + a);
    } else {
      pos.push_back(a);
    }
  }
  if (pos != std::vector<std::string>{"eab", "create"}) return Usage("unknown acme command");

  CommonFlags flags;
  flags.dev = true;  // database commands need no TLS settings
  if (opts.count("--config")) flags.config_file = opts["--config"];
  if (opts.count("--var")) flags.var_dir = opts["--var"];
  auto cfg = LoadSettings(flags);
  if (!cfg) {
    std::fprintf(stderr, "hostplane: %s\n", cfg.error().ToString().c_str());
    return 2;
  }
  core::log::SetLevel(core::log::Level::kWarn);
  auto db = core::Database::Open({.path = DatabasePath(*cfg), .readers = 1});
  core::Status st =
      db ? (*db)->Migrate(AllMigrations()) : core::Status(std::unexpected(db.error()));
  if (!st) {
    std::fprintf(stderr, "hostplane: %s\n", st.error().ToString().c_str());
    return 1;
  }
  const std::string owner = opts.count("--owner") ? opts["--owner"] : "operator";
  auto eab = CreateAcmeEabKey(*cfg, **db, owner);
  if (!eab) {
    std::fprintf(stderr, "hostplane: %s\n", eab.error().ToString().c_str());
    return 1;
  }
  if (json) {
    std::printf("%s\n",
                core::Json{{"kid", eab->kid}, {"hmac_key", eab->hmac_key_b64url}, {"owner", owner}}
                    .dump()
                    .c_str());
  } else {
    std::printf("kid: %s\nhmac_key: %s\n", eab->kid.c_str(), eab->hmac_key_b64url.c_str());
  }
  return 0;
}

}  // namespace hp::cp
