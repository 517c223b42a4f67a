// Provisioning in `hostplane serve`: libvirt hosts, inventory, placement, IP addresses, VPS,
// dedicated servers and shared hosting on a local web node (an nginx we start and supervise),
// their durable jobs, and the /api/v1 routes (provisioning_routes.cc). Composition as described
// in docs/provisioning.md "Composition root". With --dev and an empty inventory a working dev
// inventory is seeded (libvirt test:/// hosts under var/provisioning/, documentation address
// ranges), so creating a VPS, a site or a dedicated server works out of the box.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

#include "api.h"
#include "hp/core/log.h"
#include "hp/core/ports.h"
#include "hp/core/random.h"
#include "hp/provisioning/dedicated.h"
#include "hp/provisioning/hypervisor.h"
#include "hp/provisioning/inventory.h"
#include "hp/provisioning/ipam.h"
#include "hp/provisioning/placement.h"
#include "hp/provisioning/shared_hosting.h"
#include "hp/provisioning/vps.h"
#include "managed_nginx.h"
#include "module.h"
#include "provisioning_routes.h"
#include "reverse_dns_zones.h"

namespace hp::cp {
namespace {

namespace fs = std::filesystem;
namespace prov = provisioning;
using core::ErrorCode;

constexpr const char* kDevZone = "dev-1";
constexpr const char* kDevTemplate = "tiny";

void AddConfig(core::ConfigSchema& s) {
  using core::ConfigType;
  s.Add({.key = "provisioning.enabled",
         .type = ConfigType::kBool,
         .default_value = "true",
         .doc = "Serve VPS, shared hosting and dedicated servers (routes and jobs)."});
  s.Add({.key = "provisioning.domain_type",
         .default_value = "auto",
         .doc = "libvirt domain type of guests: kvm, qemu (TCG, no hardware virtualisation) or "
                "auto (qemu under --dev, else kvm).",
         .allowed = {"auto", "kvm", "qemu"}});
  s.Add({.key = "provisioning.console_log_dir",
         .default_value = "",
         .doc = "Directory of serial console logs (<dir>/hp-<id>.log, written by virtlogd on the "
                "host); empty means var_dir/provisioning/console."});
  s.Add({.key = "provisioning.weigher",
         .default_value = "spread",
         .doc = "Placement among hosts that fit: spread (most free RAM first) or pack (least free "
                "RAM first).",
         .allowed = {"spread", "pack"}});
  s.Add({.key = "provisioning.default_zone",
         .default_value = "",
         .doc = "Zone used when a request names none; empty means requests must name one (dev-1 "
                "under --dev)."});
  s.Add({.key = "provisioning.keepalive_interval_s",
         .type = ConfigType::kInt,
         .default_value = "5",
         .doc = "libvirt keepalive interval for remote hosts.",
         .min = 1,
         .max = 600});
  s.Add({.key = "provisioning.keepalive_count",
         .type = ConfigType::kInt,
         .default_value = "3",
         .doc = "Missed keepalives before a remote host connection is dead.",
         .min = 1,
         .max = 100});
  s.Add({.key = "provisioning.create_max_attempts",
         .type = ConfigType::kInt,
         .default_value = "5",
         .doc = "Attempts of a VPS create job before it rolls back.",
         .min = 1,
         .max = 100});
  s.Add({.key = "provisioning.delete_max_attempts",
         .type = ConfigType::kInt,
         .default_value = "10",
         .doc = "Attempts of a VPS delete job.",
         .min = 1,
         .max = 100});
  s.Add({.key = "provisioning.lifecycle_max_attempts",
         .type = ConfigType::kInt,
         .default_value = "10",
         .doc = "Attempts of a VPS lifecycle operation (start, stop, resize ...).",
         .min = 1,
         .max = 100});
  s.Add({.key = "provisioning.stop_timeout_s",
         .type = ConfigType::kInt,
         .default_value = "60",
         .doc = "Graceful stop: seconds after the ACPI press before the guest is destroyed.",
         .min = 0,
         .max = 3600});
  s.Add({.key = "provisioning.stop_wait_ms",
         .type = ConfigType::kInt,
         .default_value = "10000",
         .doc = "Graceful stop: how long one job attempt waits in-process before retrying.",
         .min = 0,
         .max = 600000});
  s.Add({.key = "provisioning.max_snapshots",
         .type = ConfigType::kInt,
         .default_value = "5",
         .doc = "Snapshots per VPS.",
         .min = 0,
         .max = 100});
  s.Add({.key = "provisioning.dedicated.max_attempts",
         .type = ConfigType::kInt,
         .default_value = "10",
         .doc = "Attempts of a dedicated-server job.",
         .min = 1,
         .max = 100});
  s.Add({.key = "provisioning.web.enabled",
         .type = ConfigType::kBool,
         .default_value = "true",
         .doc = "Run the local shared-web node (an nginx that hostplane starts, supervises and "
                "reloads)."});
  s.Add({.key = "provisioning.web.listen",
         .default_value = "127.0.0.1:0",
         .doc = "Address the local shared-web node's nginx serves sites on (80 in production); "
                "port 0 picks a free port, written to var_dir/run/web.addr.",
         .validate = core::ValidateHostPort});
  s.Add({.key = "provisioning.web.tls_listen",
         .default_value = "127.0.0.1:0",
         .doc = "Address sites with a deployed certificate (AutoSSL) are also served on over TLS "
                "(443 in production); port 0 picks a free port, written to "
                "var_dir/run/web_tls.addr; empty means no TLS.",
         .validate = [](const std::string& v) -> std::string {
           return v.empty() ? std::string() : core::ValidateHostPort(v);
         }});
  s.Add({.key = "provisioning.web.nginx_binary",
         .default_value = "/usr/sbin/nginx",
         .doc = "nginx binary of the local shared-web node."});
  s.Add({.key = "provisioning.web.user",
         .default_value = "",
         .doc = "User the web node's nginx workers run as when started as root; empty means "
                "nginx's default (nobody), or root under --dev (var_dir is often private)."});
  s.Add({.key = "provisioning.web.root",
         .default_value = "",
         .doc = "Where site files of the seeded dev web host live; empty means var_dir/web/www."});
  s.Add({.key = "provisioning.web.accounts",
         .default_value = "auto",
         .doc = "Site owners' accounts: linux (real users, needs root), directory (--dev only: "
                "directories but no OS users) or auto (directory under --dev, else linux).",
         .allowed = {"auto", "linux", "directory"}});
  s.Add({.key = "provisioning.dev_inventory",
         .default_value = "auto",
         .doc = "Seed a working inventory (test:/// hosts, documentation IP ranges) into an empty "
                "one: true, false or auto (only under --dev).",
         .allowed = {"auto", "true", "false"}});
}

std::vector<const core::MigrationSet*> Migrations() { return {&prov::ProvisioningMigrations()}; }

// --dev only: site owners get a home directory but no operating-system user, so `serve --dev`
// never adds users to a developer's machine. Passwords are not kept (SFTP does not work).
class DirectoryAccounts final : public prov::SystemAccounts {
 public:
  core::Status EnsureUser(const std::string& name, const std::string& home) override {
    std::error_code ec;
    fs::create_directories(home, ec);
    if (ec) return core::Fail(ErrorCode::kInternal, "cannot create " + home + ": " + ec.message());
    std::lock_guard lock(mu_);
    users_.insert(name);
    return core::Ok();
  }
  core::Status SetPassword(const std::string& name, const std::string&) override {
    std::lock_guard lock(mu_);
    if (!users_.count(name)) return core::Fail(ErrorCode::kNotFound, "no account " + name);
    return core::Ok();
  }
  core::Status RemoveUser(const std::string& name) override {
    std::lock_guard lock(mu_);
    users_.erase(name);
    return core::Ok();
  }
  core::Result<bool> Exists(const std::string& name) override {
    std::lock_guard lock(mu_);
    return users_.count(name) > 0;
  }

 private:
  std::mutex mu_;
  std::set<std::string> users_;
};

class Mounted final : public ServedModule {
 public:
  // Declaration order is construction order; destruction runs backwards, so the services go
  // before the hypervisors (VpsService owns the lifecycle-event listener of `hvs`).
  std::unique_ptr<prov::Hypervisors> hvs;
  core::RandomIdSource ids;
  std::unique_ptr<prov::Inventory> inventory;
  std::unique_ptr<prov::Placer> placer;
  std::unique_ptr<prov::IpAllocator> ips;
  std::unique_ptr<prov::ReverseDns> rdns;
  std::unique_ptr<ManagedNginx> nginx;
  std::unique_ptr<prov::WebServer> web;
  std::string tls_dir;  // var_dir/autossl/live when the web node listens for TLS
  std::unique_ptr<prov::SystemAccounts> accounts;
  std::unique_ptr<prov::SharedHostingService> sites;
  std::unique_ptr<prov::DedicatedService> dedicated;
  std::unique_ptr<prov::VpsService> vps;
  // What the /api/v1 routes were given; published so /partner/v1 orders validate the same way.
  ProvisioningRouteDeps route_deps;

  ~Mounted() override {
    vps.reset();
    dedicated.reset();
    sites.reset();
  }
  void Stop() override {
    if (nginx) nginx->Stop(std::chrono::milliseconds(2000));
  }
};

bool WriteText(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
  return static_cast<bool>(f);
}

int PortOf(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) return 0;
  try {
    return std::stoi(host_port.substr(colon + 1));
  } catch (...) {
    return 0;
  }
}

// A port on the listen address that is free now (nginx cannot report a port it picked), never
// one of `avoid` (the front's own port, which its nginx binds only after this one starts).
core::Result<std::string> ResolveListen(const std::string& key, const std::string& listen,
                                        const std::vector<int>& avoid) {
  auto colon = listen.rfind(':');
  std::string host = listen.substr(0, colon), port = listen.substr(colon + 1);
  if (port != "0") return listen;
  auto picked = core::PickUnusedPort(host, avoid);
  if (!picked)
    return core::FailField(ErrorCode::kInvalidArgument, key,
                           "cannot pick a free port on " + host + ": " + picked.error().detail);
  return host + ":" + std::to_string(*picked);
}

// The local shared-web node: var_dir/web/{nginx.conf, sites/, suspended/, www/, tmp/}.
core::Status StartWebNode(ServeContext& ctx, Mounted& m) {
  const auto& cfg = ctx.config;
  const fs::path dir = fs::absolute(fs::path(ctx.var_dir) / "web");
  std::error_code ec;
  for (const char* sub : {"sites", "suspended", "www", "tmp"})
    fs::create_directories(dir / sub, ec);
  if (ec)
    return core::FailField(ErrorCode::kInvalidArgument, "var_dir",
                           "cannot create " + dir.string() + ": " + ec.message());
  std::vector<int> avoid = {PortOf(cfg.GetString("http.listen")),
                            PortOf(cfg.GetString("http.internal_listen"))};
  HP_ASSIGN_OR_RETURN(std::string listen, ResolveListen("provisioning.web.listen",
                                                        cfg.GetString("provisioning.web.listen"),
                                                        avoid));
  avoid.push_back(PortOf(listen));
  std::string tls_listen = cfg.GetString("provisioning.web.tls_listen");
  if (!tls_listen.empty()) {
    HP_ASSIGN_OR_RETURN(tls_listen,
                        ResolveListen("provisioning.web.tls_listen", tls_listen, avoid));
    if (tls_listen == listen)
      return core::FailField(ErrorCode::kInvalidArgument, "provisioning.web.tls_listen",
                             "must differ from provisioning.web.listen");
  }
  std::string user = cfg.GetString("provisioning.web.user");
  if (user.empty() && ctx.dev && ::geteuid() == 0) user = "root";  // workers must read var_dir
  std::string conf =
      "# Generated by hostplane (local shared-web node); changes are overwritten.\n"
      "daemon off;\nmaster_process on;\nworker_processes 1;\n";
  if (!user.empty() && ::geteuid() == 0) conf += "user " + user + ";\n";
  const std::string d = dir.string();
  conf += "pid " + d + "/nginx.pid;\nerror_log " + d +
          "/error.log warn;\n"
          "events { worker_connections 512; }\n"
          "http {\n"
          "  access_log " +
          d +
          "/access.log;\n"
          "  types { text/html html htm; text/css css; application/javascript js; image/png png; "
          "image/jpeg jpg jpeg;"
          " image/svg+xml svg; text/plain txt; application/json json; }\n"
          "  default_type application/octet-stream;\n"
          "  server_tokens off;\n"
          "  client_body_temp_path " +
          d + "/tmp/body;\n  proxy_temp_path " + d +
          "/tmp/proxy;\n"
          "  fastcgi_temp_path " +
          d + "/tmp/fastcgi;\n  uwsgi_temp_path " + d +
          "/tmp/uwsgi;\n"
          "  scgi_temp_path " +
          d +
          "/tmp/scgi;\n"
          "  server { listen " +
          listen +
          " default_server; return 404; }\n"
          "  include " +
          d +
          "/sites/*.conf;\n"
          "}\n";
  if (!WriteText(dir / "nginx.conf", conf))
    return core::FailField(ErrorCode::kInvalidArgument, "var_dir",
                           "cannot write " + d + "/nginx.conf");
  const std::string binary = cfg.GetString("provisioning.web.nginx_binary");
  HP_ASSIGN_OR_RETURN(m.nginx, ManagedNginx::Start({.binary = binary,
                                                    .prefix_dir = d,
                                                    .config_file = d + "/nginx.conf",
                                                    .wait_for = listen,
                                                    .config_key = "provisioning.web.listen"}));
  HP_ASSIGN_OR_RETURN(m.web,
                      prov::NginxWebServer::Create({.binary = binary,
                                                    .main_config = d + "/nginx.conf",
                                                    .sites_dir = d + "/sites",
                                                    .error_log = d + "/error.log",
                                                    .listen = {listen},
                                                    .suspended_page_dir = d + "/suspended",
                                                    .tls_listen = tls_listen.empty()
                                                                      ? std::vector<std::string>{}
                                                                      : std::vector<std::string>{
                                                                            tls_listen + " ssl"}}));
  fs::create_directories(fs::path(ctx.var_dir) / "run", ec);
  WriteText(fs::path(ctx.var_dir) / "run" / "web.addr", listen + "\n");
  if (!tls_listen.empty()) {
    WriteText(fs::path(ctx.var_dir) / "run" / "web_tls.addr", tls_listen + "\n");
    // AutoSSL deploys certificates here (directories 0700, keys 0600).
    m.tls_dir = fs::absolute(fs::path(ctx.var_dir) / "autossl" / "live").string();
    fs::create_directories(m.tls_dir, ec);
    fs::permissions(fs::path(m.tls_dir).parent_path(), fs::perms::owner_all, ec);
  }
  core::log::Info("shared-web node ready", {{"listen", listen}, {"tls_listen", tls_listen}});
  return core::Ok();
}

// A libvirt test-driver node file (private state per connection) with a "default" dir pool that
// holds the template volume.
std::string WriteTestHost(const fs::path& dir, const std::string& name, int cores,
                          int64_t mem_kib) {
  const fs::path pool = dir / (name + "-pool");
  std::error_code ec;
  fs::create_directories(pool, ec);
  const fs::path file = dir / (name + ".xml");
  WriteText(file, "<node>\n  <cpu><nodes>1</nodes><sockets>1</sockets><cores>" +
                      std::to_string(cores) + "</cores><threads>1</threads><active>" +
                      std::to_string(cores) +
                      "</active><mhz>2000</mhz><model>x86_64</model></cpu>\n  <memory>" +
                      std::to_string(mem_kib) +
                      "</memory>\n  <pool type='dir'><name>default</name><target><path>" +
                      pool.string() + "</path></target>\n    <volume><name>" + kDevTemplate +
                      ".qcow2</name><capacity unit='GiB'>1</capacity><target><format "
                      "type='qcow2'/></target></volume>\n  </pool>\n</node>\n");
  return "test://" + file.string();
}

// Disk capacities stay below 100 GiB: libvirt's test driver reports every pool as 100 GiB and
// refuses volumes beyond its free space.
core::Status SeedDevInventory(ServeContext& ctx, Mounted& m) {
  HP_ASSIGN_OR_RETURN(auto hosts, m.inventory->ListHosts());
  if (!hosts.empty()) return core::Ok();
  const fs::path dir = fs::absolute(fs::path(ctx.var_dir) / "provisioning");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return core::FailField(ErrorCode::kInvalidArgument, "var_dir", "cannot create " + dir.string());
  prov::HostSpec vps{.name = "dev-vps-01",
                     .uri = WriteTestHost(dir, "dev-vps-01", 8, 16777216),
                     .zone = kDevZone,
                     .kind = prov::HostKind::kVps,
                     .capacity = {8, 16384, 90},
                     .cpu_ratio = 4.0};
  HP_TRY(m.inventory->AddHost(vps));
  prov::HostSpec ded{.name = "dev-dedicated-01",
                     .uri = WriteTestHost(dir, "dev-dedicated-01", 4, 8388608),
                     .zone = kDevZone,
                     .kind = prov::HostKind::kDedicated,
                     .capacity = {4, 8192, 40},
                     .cpu_ratio = 1.0};
  HP_TRY(m.inventory->AddHost(ded));
  if (m.web) {
    std::string root = ctx.config.GetString("provisioning.web.root");
    if (root.empty()) root = fs::absolute(fs::path(ctx.var_dir) / "web" / "www").string();
    prov::HostSpec web{.name = "dev-web-01",
                       .uri = "local:///dev-web-01",
                       .zone = kDevZone,
                       .kind = prov::HostKind::kSharedWeb,
                       .capacity = {8, 16384, 500},
                       .web_root = root};
    HP_TRY(m.inventory->AddHost(web));
  }
  auto t = m.inventory->GetTemplateByName(kDevTemplate);
  if (!t)
    HP_TRY(m.inventory->AddTemplate(
        {.name = kDevTemplate, .pool = "default", .volume = std::string(kDevTemplate) + ".qcow2"}));
  HP_ASSIGN_OR_RETURN(auto pools, m.inventory->ListIpPools());
  if (pools.empty()) {
    HP_TRY(m.inventory->AddIpPool({.name = "dev-v4",
                                   .zone = kDevZone,
                                   .family = 4,
                                   .first = "192.0.2.10",
                                   .last = "192.0.2.250",
                                   .prefix_length = 24,
                                   .gateway = "192.0.2.1"}));
    HP_TRY(m.inventory->AddIpPool({.name = "dev-v6",
                                   .zone = kDevZone,
                                   .family = 6,
                                   .first = "2001:db8::10",
                                   .last = "2001:db8::ffff",
                                   .prefix_length = 64,
                                   .gateway = "2001:db8::1"}));
  }
  core::log::Info("dev inventory seeded", {{"zone", kDevZone}, {"dir", dir.string()}});
  return core::Ok();
}

core::Result<std::unique_ptr<ServedModule>> Mount(ServeContext& ctx) {
  auto m = std::make_unique<Mounted>();
  const auto& cfg = ctx.config;
  if (!cfg.GetBool("provisioning.enabled")) return std::unique_ptr<ServedModule>(std::move(m));
  HP_ASSIGN_OR_RETURN(
      m->hvs,
      prov::LibvirtHypervisors::Create(
          {.keepalive_interval_s =
               static_cast<int>(cfg.GetInt("provisioning.keepalive_interval_s")),
           .keepalive_count = static_cast<int>(cfg.GetInt("provisioning.keepalive_count"))}));
  m->inventory = std::make_unique<prov::Inventory>(ctx.db, ctx.clock, m->ids);
  m->placer = std::make_unique<prov::Placer>(
      ctx.db, ctx.clock,
      prov::PlacementOptions{.weigher = cfg.GetString("provisioning.weigher") == "pack"
                                            ? prov::Weigher::kPack
                                            : prov::Weigher::kSpread});
  m->ips = std::make_unique<prov::IpAllocator>(ctx.db, ctx.clock);
  // PTRs go into platform-owned reverse zones served by dns/ (our own table when dns/ is absent).
  if (auto* zones = ctx.services->Get<dns::ZoneService>())
    m->rdns = std::make_unique<ZoneReverseDns>(*zones, *m->inventory);
  else
    m->rdns = std::make_unique<prov::StoreReverseDns>(ctx.db, ctx.clock);

  std::string domain_type = cfg.GetString("provisioning.domain_type");
  if (domain_type == "auto") domain_type = ctx.dev ? "qemu" : "kvm";
  std::string console_dir = cfg.GetString("provisioning.console_log_dir");
  if (console_dir.empty())
    console_dir = fs::absolute(fs::path(ctx.var_dir) / "provisioning" / "console").string();
  std::error_code ec;
  fs::create_directories(console_dir, ec);
  HP_ASSIGN_OR_RETURN(
      m->vps,
      prov::VpsService::Create(
          {&ctx.db, &ctx.clock, &ctx.jobs, &m->ids, m->hvs.get(), m->inventory.get(),
           m->placer.get(), m->ips.get(), m->rdns.get()},
          {.domain_type = domain_type,
           .console_log_dir = console_dir,
           .create_max_attempts = static_cast<int>(cfg.GetInt("provisioning.create_max_attempts")),
           .delete_max_attempts = static_cast<int>(cfg.GetInt("provisioning.delete_max_attempts")),
           .lifecycle_max_attempts =
               static_cast<int>(cfg.GetInt("provisioning.lifecycle_max_attempts")),
           .stop_timeout = std::chrono::seconds(cfg.GetInt("provisioning.stop_timeout_s")),
           .stop_wait = std::chrono::milliseconds(cfg.GetInt("provisioning.stop_wait_ms")),
           .max_snapshots = static_cast<int>(cfg.GetInt("provisioning.max_snapshots"))}));
  HP_ASSIGN_OR_RETURN(
      m->dedicated,
      prov::DedicatedService::Create(
          {&ctx.db, &ctx.clock, &ctx.jobs, &m->ids, m->hvs.get(), m->inventory.get(),
           m->placer.get()},
          {.domain_type = domain_type,
           .max_attempts = static_cast<int>(cfg.GetInt("provisioning.dedicated.max_attempts"))}));

  // Shared hosting needs the web node and accounts; without them the site routes say why (503).
  std::string sites_unavailable;
  std::string accounts = cfg.GetString("provisioning.web.accounts");
  if (accounts == "auto") accounts = ctx.dev ? "directory" : "linux";
  if (accounts == "directory" && !ctx.dev)
    return core::FailField(ErrorCode::kInvalidArgument, "provisioning.web.accounts",
                           "config key 'provisioning.web.accounts': directory is for --dev only "
                           "(site owners would get no OS user)");
  if (!cfg.GetBool("provisioning.web.enabled")) {
    sites_unavailable = "the local shared-web node is disabled (provisioning.web.enabled)";
  } else {
    HP_TRY(StartWebNode(ctx, *m));
    if (accounts == "directory") {
      m->accounts = std::make_unique<DirectoryAccounts>();
    } else if (auto a = prov::LinuxSystemAccounts::Create()) {
      m->accounts = std::move(*a);
    } else {
      sites_unavailable = "provisioning.web.accounts=linux: " + a.error().detail;
      core::log::Warn("shared hosting disabled", {{"reason", sites_unavailable}});
    }
  }
  if (m->web && m->accounts) {
    HP_ASSIGN_OR_RETURN(m->sites, prov::SharedHostingService::Create(
                                      {&ctx.db, &ctx.clock, &ctx.jobs, &m->ids, m->inventory.get(),
                                       m->placer.get(), m->web.get(), m->accounts.get(),
                                       m->tls_dir}));
  }

  const std::string dev_inventory = cfg.GetString("provisioning.dev_inventory");
  if (dev_inventory == "true" || (dev_inventory == "auto" && ctx.dev)) {
    HP_TRY(SeedDevInventory(ctx, *m));
  }

  m->vps->RegisterHandlers(ctx.workers);
  m->dedicated->RegisterHandlers(ctx.workers);
  if (m->sites) m->sites->RegisterHandlers(ctx.workers);

  std::string default_zone = cfg.GetString("provisioning.default_zone");
  if (default_zone.empty() && ctx.dev) default_zone = kDevZone;
  m->route_deps = {.inventory = m->inventory.get(),
                   .placer = m->placer.get(),
                   .ips = m->ips.get(),
                   .vps = m->vps.get(),
                   .dedicated = m->dedicated.get(),
                   .sites = m->sites.get(),
                   .sites_unavailable = sites_unavailable,
                   .default_zone = default_zone,
                   .console_log_dir = console_dir};
  if (Api* api = ctx.services->Get<Api>()) RegisterProvisioningRoutes(*api, ctx.router, m->route_deps);
  ctx.services->Put<ProvisioningRouteDeps>(&m->route_deps);
  ctx.services->Put<prov::VpsService>(m->vps.get());
  ctx.services->Put<prov::DedicatedService>(m->dedicated.get());
  if (m->sites) ctx.services->Put<prov::SharedHostingService>(m->sites.get());
  return std::unique_ptr<ServedModule>(std::move(m));
}

}  // namespace

ModuleSpec ProvisioningModuleSpec() { return {"provisioning", AddConfig, Migrations, Mount}; }

}  // namespace hp::cp
