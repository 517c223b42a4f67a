#include "cli_admin.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "audit_log.h"
#include "hp/core/log.h"
#include "hp/core/mailer.h"
#include "hp/core/password.h"
#include "hp/core/sealer.h"
#include "rbac.h"
#include "serve.h"
#include "tenancy_store.h"

namespace hp::cp {
namespace {

int Fail(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "hostplane: %s\n", msg.c_str());
  return code;
}

std::string Opt(const std::map<std::string, std::string>& o, const std::string& k) {
  auto it = o.find(k);
  return it == o.end() ? "" : it->second;
}

core::AuditEvent CliEvent(const std::string& action, const std::string& target) {
  core::AuditEvent e;
  e.actor_type = "staff";
  const char* user = std::getenv("SUDO_USER");
  if (!user) user = std::getenv("USER");
  e.actor_id = std::string("cli:") + (user ? user : std::to_string(::getuid()));
  e.action = action;
  e.target = target;
  e.source_ip = "local";
  return e;
}

}  // namespace

int RunAdminCommand(const std::vector<std::string>& pos, const std::map<std::string, std::string>& opts, const CommonFlags& flags) {
  const std::string cmd = pos.empty() ? "" : pos[0];
  const std::string sub = pos.size() > 1 ? pos[1] : "";
  if (cmd == "roles" && sub == "docs") {
    std::fputs(RolesMarkdown().c_str(), stdout);
    return 0;
  }
  CommonFlags f = flags;
  f.dev = true;  // database commands need no TLS settings
  auto cfg = LoadSettings(f);
  if (!cfg) return Fail(cfg.error().ToString(), 2);
  auto dbr = core::Database::Open({.path = DatabasePath(*cfg), .readers = 1});
  if (!dbr) return Fail(dbr.error().ToString());
  core::Database& db = **dbr;
  core::log::SetLevel(core::log::Level::kWarn);
  if (auto st = db.Migrate(AllMigrations()); !st) return Fail(st.error().ToString());
  const core::Clock& clock = core::SystemClock::Instance();
  ChainedAuditLog audit(clock);
  const int64_t now = store::Now(clock);

  if (cmd == "audit" && sub == "verify") {
    auto r = ChainedAuditLog::Verify(db);
    if (!r) return Fail(r.error().ToString());
    if (!r->ok) {
      std::printf("audit log BROKEN at row %lld: %s (%lld rows checked)\n", static_cast<long long>(r->bad_seq), r->reason.c_str(),
                  static_cast<long long>(r->rows));
      return 1;
    }
    std::printf("audit log intact: %lld rows, hash chain verified\n", static_cast<long long>(r->rows));
    return 0;
  }
  if (cmd == "audit" && sub == "export") {
    AuditQuery q;
    for (const char* k : {"--from", "--to"}) {
      auto t = core::ParseRfc3339(Opt(opts, k));
      if (!t) return Fail(std::string(k) + ": must be an RFC 3339 time such as 2026-11-01T00:00:00Z", 2);
      (std::string(k) == "--from" ? q.from : q.to) = *t;
    }
    q.organization_id = Opt(opts, "--organization");
    q.limit = 100000000;
    auto rows = ChainedAuditLog::Query(db, q);
    if (!rows) return Fail(rows.error().ToString());
    std::fputs(ChainedAuditLog::ToCsv(*rows).c_str(), stdout);
    return 0;
  }
  if (cmd == "secrets" && sub == "rotate-master-key") {
    // Safe while `serve` runs: the server holds its data keys unwrapped in memory and never wraps
    // new ones on its own; after a restart it reads the new master key file.
    std::string key_file = cfg->GetString("secrets.master_key_file");
    if (key_file.empty()) key_file = cfg->GetString("var_dir") + "/keys/master.key";
    auto sealer = core::StoreSealer::Create(db, key_file);
    if (!sealer) return Fail(sealer.error().ToString());
    if (auto st = (*sealer)->RotateMasterKey(); !st) return Fail(st.error().ToString());
    auto st = db.Write([&](SQLite::Database& tx) { return audit.Append(tx, CliEvent("secrets.rotate_master_key", "file:" + key_file)); });
    if (!st) return Fail(st.error().ToString());
    std::printf("master key rotated: data keys re-wrapped, new key in %s, old key kept as %s.previous\n", key_file.c_str(),
                key_file.c_str());
    return 0;
  }
  if (cmd == "staff" && sub == "create") {
    std::string email = Opt(opts, "--email");
    if (!core::IsValidEmail(email)) return Fail("--email: is not a valid e-mail address", 2);
    std::string password;
    if (auto file = Opt(opts, "--password-file"); !file.empty()) {
      std::ifstream in(file);
      if (!in) return Fail("--password-file: cannot read " + file, 2);
      std::getline(in, password);
    } else {
      std::getline(std::cin, password);
    }
    if (auto st = core::CheckPasswordPolicy(password, email); !st) return Fail("password: " + st.error().detail, 2);
    auto hash = core::HashPassword(password);
    if (!hash) return Fail(hash.error().ToString());
    auto r = db.Write([&](SQLite::Database& tx) -> core::Result<store::User> {
      HP_ASSIGN_OR_RETURN(store::User u, store::CreateUser(tx, email, "", *hash, /*staff=*/true, now));
      HP_TRY(audit.Append(tx, CliEvent("staff.create", "user:" + u.id)));
      return u;
    });
    if (!r) return Fail(r.error().ToString());
    std::printf("staff user %s created (id %s)\n", email.c_str(), r->id.c_str());
    return 0;
  }
  if (cmd == "partners" && sub == "create") {
    std::string name = Opt(opts, "--name"), channel = Opt(opts, "--channel");
    if (name.empty()) return Fail("--name: is required", 2);
    if (channel != "agency" && channel != "reseller" && channel != "oem") return Fail("--channel: must be agency, reseller or oem", 2);
    auto r = db.Write([&](SQLite::Database& tx) -> core::Result<store::Partner> {
      HP_ASSIGN_OR_RETURN(store::Partner p, store::CreatePartner(tx, name, channel, now));
      auto ev = CliEvent("partner.create", "partner:" + p.id);
      ev.partner_id = p.id;
      HP_TRY(audit.Append(tx, ev));
      return p;
    });
    if (!r) return Fail(r.error().ToString());
    std::printf("%s\n", r->id.c_str());
    return 0;
  }
  if (cmd == "partners" && sub == "list") {
    auto r = db.Read([&](SQLite::Database& tx) { return store::ListPartners(tx, 0, 100000); });
    if (!r) return Fail(r.error().ToString());
    for (const auto& p : *r) std::printf("%-24s %-9s %-9s %s\n", p.id.c_str(), p.channel.c_str(), p.status.c_str(), p.name.c_str());
    return 0;
  }
  if (cmd == "orgs" && sub == "list") {
    auto r = db.Read([&](SQLite::Database& tx) { return store::ListOrganizations(tx, Opt(opts, "--partner"), 0, 100000); });
    if (!r) return Fail(r.error().ToString());
    for (const auto& o : *r) std::printf("%-24s %-10s %-24s %s\n", o.id.c_str(), o.status.c_str(), o.partner_id.c_str(), o.name.c_str());
    return 0;
  }
  if (cmd == "orgs" && (sub == "suspend" || sub == "unsuspend")) {
    if (pos.size() < 3) return Fail("orgs " + sub + " needs an organization id", 2);
    const std::string id = pos[2];
    auto r = db.Write([&](SQLite::Database& tx) -> core::Status {
      HP_ASSIGN_OR_RETURN(store::Organization o, store::GetOrganization(tx, id));
      HP_TRY(store::SetOrganizationStatus(tx, o.row, sub == "suspend" ? "suspended" : "active", now));
      auto ev = CliEvent("organization." + sub, "organization:" + o.id);
      ev.organization_id = o.id;
      ev.partner_id = o.partner_id;
      if (!Opt(opts, "--reason").empty()) ev.detail["reason"] = Opt(opts, "--reason");
      return audit.Append(tx, ev);
    });
    if (!r) return Fail(r.error().ToString());
    std::printf("organization %s %s\n", id.c_str(), sub == "suspend" ? "suspended" : "active again");
    return 0;
  }
  return Fail("unknown command: " + cmd + " " + sub + " (see hostplane --help)", 2);
}

}  // namespace hp::cp
