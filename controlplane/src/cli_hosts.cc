// `hostplane hosts ...`: the operator's inventory commands, run against the database directly
// (the server may be running; placement reads the same rows). Every change is audited.
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "audit_log.h"
#include "hp/core/json.h"
#include "hp/core/log.h"
#include "hp/core/random.h"
#include "hp/provisioning/inventory.h"
#include "provisioning_routes.h"
#include "serve.h"
#include "settings.h"

namespace hp::cp {
namespace {

namespace prov = provisioning;
using core::Json;

constexpr const char* kHostsUsage = R"(usage: hostplane hosts <command> [--config FILE] [--var DIR]

  list [--json]                       hosts with state, capacity and use
  add --name N --uri URI --zone Z --kind vps|dedicated|shared-web
      --vcpus N --ram-mib N --disk-gib N
      [--reserved-vcpus N --reserved-ram-mib N --reserved-disk-gib N]
      [--cpu-ratio R --ram-ratio R --disk-ratio R] [--storage-pool P] [--bridge BR] [--web-root DIR]
  drain HOST                          keep its guests, place nothing new on it
  activate HOST                       put it back into placement
  remove HOST                         remove a host that holds no allocations

HOST is a host id or name.
)";

const std::vector<std::string> kValueOptions = {"--config",
                                                "--var",
                                                "--name",
                                                "--uri",
                                                "--zone",
                                                "--kind",
                                                "--vcpus",
                                                "--ram-mib",
                                                "--disk-gib",
                                                "--reserved-vcpus",
                                                "--reserved-ram-mib",
                                                "--reserved-disk-gib",
                                                "--cpu-ratio",
                                                "--ram-ratio",
                                                "--disk-ratio",
                                                "--storage-pool",
                                                "--bridge",
                                                "--web-root"};

int Usage(const std::string& err) {
  if (!err.empty()) std::fprintf(stderr, "hostplane: %s\n\n", err.c_str());
  std::fputs(kHostsUsage, err.empty() ? stdout : stderr);
  return err.empty() ? 0 : 2;
}

int CliFail(const core::Error& e, int code = 1) {
  std::string msg = e.detail;
  if (!e.field.empty()) msg = e.field + ": " + msg;
  std::fprintf(stderr, "hostplane: %s\n", msg.c_str());
  return code;
}

core::AuditEvent CliEvent(const std::string& action, const std::string& target, Json detail) {
  core::AuditEvent e;
  e.actor_type = "staff";
  const char* user = std::getenv("SUDO_USER");
  if (!user) user = std::getenv("USER");
  e.actor_id = std::string("cli:") + (user ? user : std::to_string(::getuid()));
  e.action = action;
  e.target = target;
  e.source_ip = "local";
  e.detail = std::move(detail);
  return e;
}

// "--ram-mib 4096" -> {"capacity": {"ram_mib": 4096}} (numbers must parse; the names of a
// problem are the API's field names, e.g. capacity.ram_mib).
core::Result<Json> AddBody(const std::map<std::string, std::string>& o) {
  Json body = Json::object();
  auto str = [&](const char* opt, const char* key) {
    if (auto it = o.find(opt); it != o.end()) body[key] = it->second;
  };
  auto num = [&](const char* opt, Json& into, const char* key, const std::string& field,
                 bool real) -> core::Status {
    auto it = o.find(opt);
    if (it == o.end()) return core::Ok();
    try {
      size_t used = 0;
      if (real) {
        double v = std::stod(it->second, &used);
        if (used == it->second.size()) into[key] = v;
      } else {
        long long v = std::stoll(it->second, &used);
        if (used == it->second.size()) into[key] = v;
      }
      if (used == it->second.size()) return core::Ok();
    } catch (...) {
    }
    return core::FailField(core::ErrorCode::kInvalidArgument, field,
                           std::string(opt) + " must be a number, got '" + it->second + "'");
  };
  str("--name", "name");
  str("--uri", "uri");
  str("--zone", "zone");
  str("--kind", "kind");
  str("--storage-pool", "storage_pool");
  str("--bridge", "bridge");
  str("--web-root", "web_root");
  Json cap = Json::object(), res = Json::object();
  HP_TRY(num("--vcpus", cap, "vcpus", "capacity.vcpus", false));
  HP_TRY(num("--ram-mib", cap, "ram_mib", "capacity.ram_mib", false));
  HP_TRY(num("--disk-gib", cap, "disk_gib", "capacity.disk_gib", false));
  HP_TRY(num("--reserved-vcpus", res, "vcpus", "reserved.vcpus", false));
  HP_TRY(num("--reserved-ram-mib", res, "ram_mib", "reserved.ram_mib", false));
  HP_TRY(num("--reserved-disk-gib", res, "disk_gib", "reserved.disk_gib", false));
  HP_TRY(num("--cpu-ratio", body, "cpu_ratio", "cpu_ratio", true));
  HP_TRY(num("--ram-ratio", body, "ram_ratio", "ram_ratio", true));
  HP_TRY(num("--disk-ratio", body, "disk_ratio", "disk_ratio", true));
  if (!cap.empty()) body["capacity"] = cap;
  if (!res.empty()) body["reserved"] = res;
  return body;
}

void PrintHosts(const std::vector<prov::Host>& hosts) {
  std::printf("%-24s %-22s %-10s %-10s %-11s %-17s %-17s %s\n", "ID", "NAME", "KIND", "ZONE",
              "STATE", "VCPU used/eff", "RAM MiB used/eff", "ALLOC");
  for (const auto& h : hosts) {
    auto eff = h.Effective();
    std::string cpu = std::to_string(h.used.vcpus) + "/" + std::to_string(eff.vcpus);
    std::string ram = std::to_string(h.used.ram_mib) + "/" + std::to_string(eff.ram_mib);
    std::printf("%-24s %-22s %-10s %-10s %-11s %-17s %-17s %lld\n", h.id.c_str(),
                h.spec.name.c_str(), std::string(prov::HostKindName(h.spec.kind)).c_str(),
                h.spec.zone.c_str(), std::string(prov::HostStateName(h.state)).c_str(), cpu.c_str(),
                ram.c_str(), static_cast<long long>(h.allocations));
  }
}

}  // namespace

int RunHostsCommand(int argc, char** argv) {
  std::vector<std::string> pos;
  std::map<std::string, std::string> opts;
  bool json = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") return Usage("");
    if (a == "--json") {
      json = true;
    } else if (std::find(kValueOptions.begin(), kValueOptions.end(), a) != kValueOptions.end()) {
      if (i + 1 >= argc) return Usage("option " + a + " needs a value");
      opts[a] = argv[++i];
    } else if (a.rfind("--", 0) == 0) {
      return Usage("unknown option " + a);
    } else {
      pos.push_back(a);
    }
  }
  const std::string cmd = pos.empty() ? "" : pos[0];
  if (cmd != "list" && cmd != "add" && cmd != "drain" && cmd != "activate" && cmd != "remove")
    return Usage("unknown hosts command '" + cmd + "'");
  if ((cmd == "drain" || cmd == "activate" || cmd == "remove") && pos.size() != 2)
    return Usage(cmd + " needs one HOST (id or name)");

  CommonFlags flags;
  flags.dev = true;  // database commands need no TLS settings
  if (opts.count("--config")) flags.config_file = opts["--config"];
  if (opts.count("--var")) flags.var_dir = opts["--var"];
  auto cfg = LoadSettings(flags);
  if (!cfg) return CliFail(cfg.error(), 2);
  core::log::SetLevel(core::log::Level::kWarn);
  auto dbr = core::Database::Open({.path = DatabasePath(*cfg), .readers = 1});
  if (!dbr) return CliFail(dbr.error());
  core::Database& db = **dbr;
  if (auto st = db.Migrate(AllMigrations()); !st) return CliFail(st.error());
  const core::Clock& clock = core::SystemClock::Instance();
  core::RandomIdSource ids;
  prov::Inventory inv(db, clock, ids);
  ChainedAuditLog audit(clock);
  auto record = [&](const std::string& action, const std::string& target,
                    Json detail) -> core::Status {
    return db.Write([&](SQLite::Database& tx) {
      return audit.Append(tx, CliEvent(action, target, std::move(detail)));
    });
  };

  if (cmd == "list") {
    auto hosts = inv.ListHosts();
    if (!hosts) return CliFail(hosts.error());
    if (json) {
      Json items = Json::array();
      for (const auto& h : *hosts) items.push_back(HostJson(h));
      std::printf("%s\n", items.dump(2).c_str());
    } else {
      PrintHosts(*hosts);
    }
    return 0;
  }
  if (cmd == "add") {
    auto body = AddBody(opts);
    if (!body) return CliFail(body.error(), 2);
    auto spec = HostSpecFromJson(*body);
    if (!spec) return CliFail(spec.error(), 2);
    auto h = inv.AddHost(*spec);
    if (!h) return CliFail(h.error(), h.error().code == core::ErrorCode::kInvalidArgument ? 2 : 1);
    if (auto st =
            record("host.add", "host:" + h->id, {{"name", h->spec.name}, {"uri", h->spec.uri}});
        !st)
      return CliFail(st.error());
    if (json)
      std::printf("%s\n", HostJson(*h).dump(2).c_str());
    else
      std::printf("host %s added (id %s)\n", h->spec.name.c_str(), h->id.c_str());
    return 0;
  }
  auto h = inv.GetHost(pos[1]);
  if (!h) h = inv.GetHostByName(pos[1]);
  if (!h) return CliFail(h.error());
  core::Status st;
  if (cmd == "remove") {
    st = inv.RemoveHost(h->id);
  } else {
    st = inv.SetHostState(h->id,
                          cmd == "drain" ? prov::HostState::kDraining : prov::HostState::kActive);
  }
  if (!st) return CliFail(st.error());
  if (auto a = record("host." + cmd, "host:" + h->id, {{"name", h->spec.name}}); !a)
    return CliFail(a.error());
  if (cmd == "remove")
    std::printf("host %s removed\n", h->spec.name.c_str());
  else
    std::printf("host %s is %s\n", h->spec.name.c_str(), cmd == "drain" ? "draining" : "active");
  return 0;
}

}  // namespace hp::cp
