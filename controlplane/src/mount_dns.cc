// DNS in `hostplane serve`: hosted zones under /api/v1/organizations/{org}/zones, the built-in
// authoritative server, the validating resolver and CAA checker (used by the ACME validator),
// and optional RFC 2136 publishing to an external primary.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api.h"
#include "hp/core/log.h"
#include "hp/dns/caa.h"
#include "hp/dns/publisher.h"
#include "hp/dns/resolver.h"
#include "hp/dns/server.h"
#include "hp/dns/zone.h"
#include "module.h"
#include "rbac.h"

namespace hp::cp {
namespace {

using core::ErrorCode;
using core::Json;
using core::http::Response;

std::vector<std::string> List(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

void AddConfig(core::ConfigSchema& s) {
  using core::ConfigType;
  s.Add({.key = "dns.enabled", .type = ConfigType::kBool, .default_value = "true", .doc = "Run the built-in authoritative DNS server."});
  s.Add({.key = "dns.listen", .default_value = "127.0.0.1:5353", .doc = "Address of the built-in DNS server (UDP and TCP); port 0 picks a free one (written to var_dir/run/dns.addr).", .validate = core::ValidateHostPort});
  s.Add({.key = "dns.udp_threads", .type = ConfigType::kInt, .default_value = "2", .doc = "UDP worker threads of the built-in server.", .min = 1, .max = 64});
  s.Add({.key = "dns.transfer_allow", .default_value = "", .doc = "Comma-separated IP addresses allowed to AXFR hosted zones."});
  s.Add({.key = "dns.notify", .default_value = "", .doc = "Comma-separated secondaries (host:port) notified after each change."});
  s.Add({.key = "dns.nameservers", .default_value = "ns1.hostplane.localhost.", .doc = "Comma-separated apex NS names of new hosted zones (the first is the SOA MNAME)."});
  s.Add({.key = "dns.hostmaster", .default_value = "", .doc = "SOA RNAME of new zones; empty means hostmaster.<zone>."});
  s.Add({.key = "dns.upstream", .default_value = "", .doc = "Comma-separated resolvers (host:port) the CA validates through; empty means the built-in server (development)."});
  s.Add({.key = "dns.recursion_desired", .type = ConfigType::kBool, .default_value = "true", .doc = "Set RD on upstream queries (false when dns.upstream is an authoritative server)."});
  s.Add({.key = "dns.timeout_ms", .type = ConfigType::kInt, .default_value = "2000", .doc = "Per-query timeout of the resolver.", .min = 50, .max = 30000});
  s.Add({.key = "dns.trust_anchors", .default_value = "", .doc = "Semicolon-separated DS or DNSKEY records (presentation form) that DNSSEC validation starts from; empty disables validation."});
  s.Add({.key = "dns.publish.server", .default_value = "", .doc = "External primary (host:port) that receives RFC 2136 updates of _acme-challenge records; empty disables."});
  s.Add({.key = "dns.publish.tsig_key_name", .default_value = "", .doc = "TSIG key name for dns.publish.server (hmac-sha256)."});
  s.Add({.key = "dns.publish.tsig_secret", .default_value = "", .doc = "TSIG secret (base64) for dns.publish.server; prefer the environment variable."});
}

std::vector<const core::MigrationSet*> Migrations() { return {&dns::DnsMigrations()}; }

class Mounted final : public ServedModule {
 public:
  std::unique_ptr<dns::ZoneService> zones;
  std::unique_ptr<dns::AuthServer> server;
  std::unique_ptr<dns::Resolver> resolver;
  std::unique_ptr<dns::CaaChecker> caa;
  std::unique_ptr<dns::Publisher> publisher;
  void Stop() override {
    if (server) server->Stop();
  }
};

core::Result<dns::RecordSpec> Spec(const Json& body) { return dns::RecordSpecFromJson(body); }

void RegisterRoutes(Api& api, core::http::Router& router, dns::ZoneService& zones) {
  const std::string base = "/api/v1/organizations/{org}/zones";
  auto audit = [&api](ApiContext& c, const std::string& action, const std::string& target, Json detail) {
    auto ev = c.Event(action, target);
    ev.detail = std::move(detail);
    api.AuditAlone(ev);
  };
  api.Register(router, {.method = "GET", .pattern = base, .summary = "Hosted DNS zones.", .tag = "dns", .permission = "services.read"},
               [&zones](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(auto list, zones.ListZones(c.org->id));
                 Json items = Json::array();
                 for (const auto& z : list) items.push_back(dns::ZoneToJson(z));
                 return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
               });
  api.Register(router, {.method = "POST", .pattern = base, .summary = "Host a zone (name, default_ttl, nameservers).", .tag = "dns", .permission = "services.manage",
                        .request_schema = {{"type", "object"}, {"required", {"name"}}}},
               [&zones, audit](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(dns::ZoneSpec spec, dns::ZoneSpecFromJson(c.body));
                 HP_ASSIGN_OR_RETURN(dns::Zone z, zones.CreateZone(c.org->id, spec));
                 audit(c, "dns.zone.create", "zone:" + z.id, {{"name", z.name}});
                 Response r = Response::Json(201, dns::ZoneToJson(z));
                 r.SetHeader("Location", "/api/v1/organizations/" + c.org->id + "/zones/" + z.id);
                 return r;
               });
  api.Register(router, {.method = "GET", .pattern = base + "/{zone}", .summary = "One hosted zone.", .tag = "dns", .permission = "services.read"},
               [&zones](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(dns::Zone z, zones.GetZone(c.org->id, c.http.Param("zone")));
                 return Response::Json(200, dns::ZoneToJson(z));
               });
  api.Register(router, {.method = "DELETE", .pattern = base + "/{zone}", .summary = "Stop hosting a zone.", .tag = "dns", .permission = "services.manage"},
               [&zones, audit](ApiContext& c) -> core::Result<Response> {
                 HP_TRY(zones.DeleteZone(c.org->id, c.http.Param("zone")));
                 audit(c, "dns.zone.delete", "zone:" + c.http.Param("zone"), Json::object());
                 return Response::Empty(204);
               });
  api.Register(router, {.method = "GET", .pattern = base + "/{zone}/records", .summary = "Records of a zone.", .tag = "dns", .permission = "services.read"},
               [&zones](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(auto list, zones.ListRecords(c.org->id, c.http.Param("zone")));
                 Json items = Json::array();
                 for (const auto& r : list) items.push_back(dns::RecordToJson(r));
                 return Response::Json(200, {{"items", items}, {"next_cursor", nullptr}});
               });
  api.Register(router, {.method = "POST", .pattern = base + "/{zone}/records", .summary = "Add a record (name, type, ttl, data).", .tag = "dns", .permission = "services.manage",
                        .request_schema = {{"type", "object"}, {"required", {"name", "type", "data"}}}},
               [&zones, audit](ApiContext& c) -> core::Result<Response> {
                 // Zone first: another organization's zone is 404 whatever the body says.
                 HP_TRY(zones.GetZone(c.org->id, c.http.Param("zone")));
                 HP_ASSIGN_OR_RETURN(dns::RecordSpec spec, Spec(c.body));
                 HP_ASSIGN_OR_RETURN(dns::Record rec, zones.AddRecord(c.org->id, c.http.Param("zone"), spec));
                 audit(c, "dns.record.create", "record:" + rec.id, dns::RecordToJson(rec));
                 return Response::Json(201, dns::RecordToJson(rec));
               });
  api.Register(router, {.method = "PUT", .pattern = base + "/{zone}/records/{record}", .summary = "Replace a record.", .tag = "dns", .permission = "services.manage",
                        .request_schema = {{"type", "object"}, {"required", {"name", "type", "data"}}}},
               [&zones, audit](ApiContext& c) -> core::Result<Response> {
                 HP_TRY(zones.GetZone(c.org->id, c.http.Param("zone")));
                 HP_ASSIGN_OR_RETURN(auto existing, zones.ListRecords(c.org->id, c.http.Param("zone")));
                 if (std::none_of(existing.begin(), existing.end(), [&](const auto& r) { return r.id == c.http.Param("record"); }))
                   return core::Fail(ErrorCode::kNotFound, "record " + c.http.Param("record") + " not found");
                 HP_ASSIGN_OR_RETURN(dns::RecordSpec spec, Spec(c.body));
                 HP_ASSIGN_OR_RETURN(dns::Record rec, zones.UpdateRecord(c.org->id, c.http.Param("zone"), c.http.Param("record"), spec));
                 audit(c, "dns.record.update", "record:" + rec.id, dns::RecordToJson(rec));
                 return Response::Json(200, dns::RecordToJson(rec));
               });
  api.Register(router, {.method = "DELETE", .pattern = base + "/{zone}/records/{record}", .summary = "Delete a record.", .tag = "dns", .permission = "services.manage"},
               [&zones, audit](ApiContext& c) -> core::Result<Response> {
                 HP_TRY(zones.DeleteRecord(c.org->id, c.http.Param("zone"), c.http.Param("record")));
                 audit(c, "dns.record.delete", "record:" + c.http.Param("record"), Json::object());
                 return Response::Empty(204);
               });
  api.Register(router, {.method = "GET", .pattern = base + "/{zone}/export", .summary = "The zone as an RFC 1035 zone file.", .tag = "dns", .permission = "services.read",
                        .response_type = "text/dns"},
               [&zones](ApiContext& c) -> core::Result<Response> {
                 HP_ASSIGN_OR_RETURN(std::string text, zones.ExportZoneFile(c.org->id, c.http.Param("zone")));
                 return Response(200, "text/dns; charset=utf-8", text);
               });
}

core::Result<std::unique_ptr<ServedModule>> Mount(ServeContext& ctx) {
  auto m = std::make_unique<Mounted>();
  const auto& cfg = ctx.config;
  m->zones = std::make_unique<dns::ZoneService>(
      ctx.db, ctx.clock, dns::ZoneServiceOptions{.default_nameservers = List(cfg.GetString("dns.nameservers")), .hostmaster = cfg.GetString("dns.hostmaster")});
  std::string dns_addr;
  if (cfg.GetBool("dns.enabled")) {
    HP_ASSIGN_OR_RETURN(m->server, dns::AuthServer::Create(*m->zones, {.listen = cfg.GetString("dns.listen"),
                                                                       .udp_threads = static_cast<int>(cfg.GetInt("dns.udp_threads")),
                                                                       .transfer_allow = List(cfg.GetString("dns.transfer_allow")),
                                                                       .notify = List(cfg.GetString("dns.notify"))}));
    HP_TRY(m->server->Start());
    dns_addr = "127.0.0.1:" + std::to_string(m->server->port());
    std::error_code ec;
    std::filesystem::create_directories(ctx.var_dir + "/run", ec);
    std::ofstream(ctx.var_dir + "/run/dns.addr") << dns_addr << "\n";
    core::log::Info("dns server ready", {{"listen", cfg.GetString("dns.listen")}, {"port", m->server->port()}});
  }
  auto upstreams = List(cfg.GetString("dns.upstream"));
  bool rd = cfg.GetBool("dns.recursion_desired");
  if (upstreams.empty()) {
    if (dns_addr.empty())
      return core::FailField(ErrorCode::kInvalidArgument, "dns.upstream", "config key 'dns.upstream' is required when dns.enabled is false");
    upstreams.push_back(dns_addr);
    rd = false;  // the built-in server is authoritative
  }
  HP_ASSIGN_OR_RETURN(m->resolver, dns::CreateLdnsResolver({.upstreams = upstreams,
                                                            .timeout = std::chrono::milliseconds(cfg.GetInt("dns.timeout_ms")),
                                                            .recursion_desired = rd,
                                                            .trust_anchors = List(cfg.GetString("dns.trust_anchors"), ';')},
                                                           ctx.clock));
  if (!cfg.GetString("dns.publish.server").empty()) {
    HP_ASSIGN_OR_RETURN(m->publisher, dns::CreateRfc2136Publisher({.server = cfg.GetString("dns.publish.server"),
                                                                   .tsig_key_name = cfg.GetString("dns.publish.tsig_key_name"),
                                                                   .tsig_secret_base64 = core::Secret(cfg.GetString("dns.publish.tsig_secret"))}));
    dns::RegisterPublishJobs(ctx.workers, *m->publisher);
    m->zones->AddObserver(dns::MakePublishingObserver(ctx.jobs, dns::OnlyAcmeChallenges));
  }
  ctx.services->Put<dns::ZoneService>(m->zones.get());
  ctx.services->Put<dns::Resolver>(m->resolver.get());
  if (Api* api = ctx.services->Get<Api>()) RegisterRoutes(*api, ctx.router, *m->zones);
  return std::unique_ptr<ServedModule>(std::move(m));
}

}  // namespace

ModuleSpec DnsModuleSpec() { return {"dns", AddConfig, Migrations, Mount}; }

}  // namespace hp::cp
