// Mounts the ACME server and CA (acme/) into `hostplane serve`: config keys acme.*, the acme
// migrations, the CA hierarchy under var_dir/ca/, routes under /acme/ and the validation jobs.
// The validator sees DNS through the dns module's resolver (ResolverDnsChecker below).
#include <sys/stat.h>

#include <cctype>
#include <filesystem>
#include <mutex>
#include <set>
#include <fstream>
#include <sstream>

#include "hp/acme/ca.h"
#include "hp/acme/dns_checker.h"
#include "hp/acme/migrations.h"
#include "hp/acme/nonce.h"
#include "hp/acme/server.h"
#include "hp/core/encoding.h"
#include "hp/core/log.h"
#include "hp/core/random.h"
#include "hp/dns/caa.h"
#include "hp/dns/resolver.h"
#include "hp/dns/zone.h"
#include "module.h"

namespace hp::cp {
namespace {

using core::ConfigType;

void AddConfig(core::ConfigSchema& s) {
  s.Add({.key = "acme.terms_of_service_url", .default_value = "", .doc = "Terms of service URL in the ACME directory; when set, new accounts must agree to it."});
  s.Add({.key = "acme.website", .default_value = "", .doc = "Website URL in the ACME directory meta."});
  s.Add({.key = "acme.caa_identities", .default_value = "hostplane.test", .doc = "Comma-separated CAA issuer domain names that authorize this CA (directory caaIdentities)."});
  s.Add({.key = "acme.eab_required", .type = ConfigType::kBool, .default_value = "false", .doc = "Require External Account Binding for new ACME accounts."});
  s.Add({.key = "acme.ca_passphrase_file", .default_value = "", .doc = "File holding the passphrase that encrypts the CA key files; empty means var_dir/keys/acme-ca.pass (created on first start)."});
  s.Add({.key = "acme.ca.pkcs11.module", .default_value = "", .doc = "PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so); when set, the key acme.ca.pkcs11.key_label on token acme.ca.pkcs11.token is the active intermediate of its kind (see hostplane ca use-pkcs11)."});
  s.Add({.key = "acme.ca.pkcs11.token", .default_value = "", .doc = "Label of the PKCS#11 token holding the intermediate key."});
  s.Add({.key = "acme.ca.pkcs11.key_label", .default_value = "", .doc = "CKA_LABEL of the intermediate's key pair on the token; the private key never leaves it."});
  s.Add({.key = "acme.ca.pkcs11.pin_file", .default_value = "", .doc = "File whose first line is the token's user PIN."});
  s.Add({.key = "acme.classic_validity_days", .type = ConfigType::kInt, .default_value = "90", .doc = "Validity of certificates of the classic profile.", .min = 1, .max = 90});
  s.Add({.key = "acme.va.http_port", .type = ConfigType::kInt, .default_value = "80", .doc = "Port the validator fetches http-01 from (tests only change it).", .min = 1, .max = 65535});
  s.Add({.key = "acme.va.https_port", .type = ConfigType::kInt, .default_value = "443", .doc = "The only https port an http-01 redirect may go to.", .min = 1, .max = 65535});
  s.Add({.key = "acme.va.tls_alpn_port", .type = ConfigType::kInt, .default_value = "443", .doc = "Port the validator connects to for tls-alpn-01.", .min = 1, .max = 65535});
  s.Add({.key = "acme.va.static_ips", .default_value = "", .doc = "Development only: comma-separated addresses every name resolves to for http-01/tls-alpn-01 instead of its A/AAAA records (TXT and CAA still come from DNS). Empty: DNS."});
  s.Add({.key = "acme.request_threads", .type = ConfigType::kInt, .default_value = "-1", .doc = "How authenticated ACME POST requests run. -1 (default): as fibers on the HTTP reactor threads, suspended while their writes commit and answered by the commit thread (no thread waits on a commit). N > 0: on N threads that wait for durable group commits. 0: run them on the HTTP reactor threads (no hand-off; then raise http.threads to the expected concurrency).", .min = -1, .max = 1024});
  s.Add({.key = "acme.limits.new_accounts_per_ip_3h", .type = ConfigType::kInt, .default_value = "20", .doc = "New ACME accounts per client IP per 3 hours (0: unlimited).", .min = 0});
  s.Add({.key = "acme.limits.new_orders_per_account_3h", .type = ConfigType::kInt, .default_value = "300", .doc = "New orders per account per 3 hours (0: unlimited).", .min = 0});
  s.Add({.key = "acme.limits.failed_validations_per_hour", .type = ConfigType::kInt, .default_value = "5", .doc = "Failed validations per account and name per hour (0: unlimited).", .min = 0});
  s.Add({.key = "acme.limits.certs_per_domain_week", .type = ConfigType::kInt, .default_value = "50", .doc = "Certificates per registered domain per 7 days (0: unlimited).", .min = 0});
  s.Add({.key = "acme.public_suffix_list", .default_value = "/usr/share/publicsuffix/public_suffix_list.dat", .doc = "Public Suffix List file (Debian package publicsuffix) that decides the registered domain of acme.limits.certs_per_domain_week."});
}

std::vector<const core::MigrationSet*> Migrations() { return {&acme::AcmeMigrations()}; }

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

core::Result<std::string> LoadOrCreatePassphrase(const std::string& path) {
  namespace fs = std::filesystem;
  if (!fs::exists(path)) {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    std::ofstream out(path, std::ios::trunc);
    if (!out) return core::Fail(core::ErrorCode::kUnavailable, "cannot create " + path);
    out << core::Base64UrlEncode(core::RandomBytes(32)) << "\n";
    out.close();
    ::chmod(path.c_str(), 0600);
  }
  std::ifstream in(path);
  std::string pass;
  std::getline(in, pass);
  if (pass.empty()) {
    return core::Fail(core::Error(core::ErrorCode::kInvalidArgument, path + " is empty")
                          .WithField("acme.ca_passphrase_file"));
  }
  return pass;
}

// With no dns.upstream the resolver asks the built-in authoritative server directly, which
// REFUSEs names outside the zones it hosts. In that set-up those zones are the whole DNS: a name
// under no hosted zone has no records (so the CAA climb past a zone apex ends quietly), while a
// failure for a hosted name stays a failure. Which zones are hosted is kept in memory (loaded at
// mount, then every zone creation/deletion through the ZoneService observer, the same feed the
// built-in server's snapshot follows), so a name under no hosted zone is answered without a
// network round trip or a zone-store read; names under a hosted zone always go through the
// resolver (DNSSEC validation when trust anchors are configured).
class HostedOnlyResolver final : public dns::Resolver {
 public:
  HostedOnlyResolver(dns::Resolver& inner, dns::ZoneService& zones) : inner_(inner), zones_(zones) {}

  core::Status Start() {
    // The observer holds the set, not this resolver (the ZoneService outlives the acme module).
    zones_.AddObserver([st = state_](const dns::ZoneChange& c) {
      std::lock_guard lk(st->mu);
      if (c.kind == dns::ChangeKind::kZoneCreated) st->hosted.insert(Lower(c.zone_name));
      if (c.kind == dns::ChangeKind::kZoneDeleted) st->hosted.erase(Lower(c.zone_name));
    });
    HP_ASSIGN_OR_RETURN(auto all, zones_.LoadAll());
    std::lock_guard lk(state_->mu);
    for (const auto& z : all) state_->hosted.insert(Lower(z.zone.name));
    return core::Ok();
  }

  core::Result<dns::Answer> Lookup(std::string_view name, dns::QType type) override {
    if (!UnderHostedZone(name)) return NoSuchName(name, type);
    auto r = inner_.Lookup(name, type);
    if (r || r.error().code != core::ErrorCode::kUnavailable) return r;
    // Refused for a name we believed hosted: the zone may have been deleted meanwhile.
    if (!UnderHostedZone(name)) return NoSuchName(name, type);
    return r;
  }

 private:
  static std::string Lower(std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (s.empty() || s.back() != '.') s += '.';
    return s;
  }
  bool UnderHostedZone(std::string_view name) {
    std::string cur = Lower(std::string(name));
    std::lock_guard lk(state_->mu);
    while (!cur.empty() && cur != ".") {
      if (state_->hosted.contains(cur)) return true;
      auto dot = cur.find('.');
      cur.erase(0, dot + 1);
    }
    return false;
  }
  static dns::Answer NoSuchName(std::string_view name, dns::QType type) {
    dns::Answer a;
    a.qname = std::string(name);
    a.qtype = type;
    a.nxdomain = true;
    return a;
  }

  dns::Resolver& inner_;
  dns::ZoneService& zones_;
  struct State {
    std::mutex mu;
    std::set<std::string> hosted;  // absolute, lower case
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// acme::DnsChecker over hp::dns: A/AAAA and TXT through the resolver, CAA through CaaChecker.
// Resolver failures become kAcmeDns ("dns" problems): a lookup failure never permits anything.
class ResolverDnsChecker final : public acme::DnsChecker {
 public:
  ResolverDnsChecker(dns::Resolver& resolver, std::vector<std::string> static_ips)
      : resolver_(resolver), static_ips_(std::move(static_ips)) {}

  core::Result<std::vector<std::string>> LookupIps(const std::string& name) override {
    if (!static_ips_.empty()) return static_ips_;
    std::vector<std::string> ips;
    std::string errors;
    for (dns::QType t : {dns::QType::kAAAA, dns::QType::kA}) {
      auto a = resolver_.Lookup(name, t);
      if (!a) {
        errors += (errors.empty() ? "" : "; ") + a.error().detail;
        continue;
      }
      for (const auto& rr : a->records) {
        if (rr.type == static_cast<uint16_t>(t)) ips.push_back(rr.data);
      }
    }
    if (!ips.empty()) return ips;
    if (!errors.empty()) return core::Fail(core::ErrorCode::kAcmeDns, errors);
    return core::Fail(core::ErrorCode::kAcmeDns, "no A or AAAA records found for " + name);
  }

  core::Result<std::vector<std::string>> LookupTxt(const std::string& name) override {
    auto a = resolver_.Lookup(name, dns::QType::kTXT);
    if (!a) return core::Fail(core::ErrorCode::kAcmeDns, a.error().detail);
    return a->TxtStrings();
  }

  core::Status CheckCaa(const acme::CaaQuery& q) override {
    dns::CaaChecker checker(resolver_, {.issuer_domains = q.issuer_domains});
    auto d = checker.Check({.name = q.domain, .wildcard = q.wildcard, .account_uri = q.account_uri,
                            .method = q.method});
    if (!d) {
      return core::Fail(core::ErrorCode::kAcmeDns,
                        "CAA lookup for " + q.domain + " failed: " + d.error().detail);
    }
    if (!d->permitted) {
      return core::Fail(core::ErrorCode::kAcmeCaa,
                        "CAA record for " + q.domain + " prevents issuance (" + d->reason + ")");
    }
    return core::Ok();
  }

 private:
  dns::Resolver& resolver_;
  std::vector<std::string> static_ips_;
};

class AcmeModule final : public ServedModule {
 public:
  std::unique_ptr<acme::CertificateAuthority> ca;
  std::unique_ptr<acme::NonceService> nonces;
  std::unique_ptr<dns::Resolver> hosted_only;
  std::unique_ptr<acme::DnsChecker> dns;
  std::unique_ptr<acme::AcmeServer> server;
};

// The CA hierarchy under var_dir/ca (created on first start).
core::Result<std::unique_ptr<acme::CertificateAuthority>> LoadCa(const core::Config& cfg,
                                                                 const std::string& var_dir,
                                                                 const std::string& base_url,
                                                                 const core::Clock& clock) {
  std::string pass_file = cfg.GetString("acme.ca_passphrase_file");
  if (pass_file.empty()) pass_file = var_dir + "/keys/acme-ca.pass";
  HP_ASSIGN_OR_RETURN(std::string pass, LoadOrCreatePassphrase(pass_file));
  acme::CaOptions co;
  co.dir = var_dir + "/ca";
  co.passphrase = core::Secret(std::move(pass));
  co.base_url = base_url;
  co.profiles[0].validity = std::chrono::hours(24 * cfg.GetInt("acme.classic_validity_days"));
  co.pkcs11 = {cfg.GetString("acme.ca.pkcs11.module"), cfg.GetString("acme.ca.pkcs11.token"),
               cfg.GetString("acme.ca.pkcs11.key_label"), cfg.GetString("acme.ca.pkcs11.pin_file")};
  return acme::CertificateAuthority::Create(std::move(co), clock);
}

acme::AcmeConfig AcmeConfigFrom(const core::Config& cfg, const std::string& base_url) {
  acme::AcmeConfig ac;
  ac.base_url = base_url;
  ac.terms_of_service_url = cfg.GetString("acme.terms_of_service_url");
  ac.website = cfg.GetString("acme.website");
  ac.caa_identities = SplitList(cfg.GetString("acme.caa_identities"));
  ac.external_account_required = cfg.GetBool("acme.eab_required");
  ac.validation.http_port = static_cast<int>(cfg.GetInt("acme.va.http_port"));
  ac.validation.https_port = static_cast<int>(cfg.GetInt("acme.va.https_port"));
  ac.validation.tls_alpn_port = static_cast<int>(cfg.GetInt("acme.va.tls_alpn_port"));
  ac.limits.new_accounts_per_ip.count = cfg.GetInt("acme.limits.new_accounts_per_ip_3h");
  ac.limits.new_orders_per_account.count = cfg.GetInt("acme.limits.new_orders_per_account_3h");
  ac.limits.failed_validations_per_account_and_name.count =
      cfg.GetInt("acme.limits.failed_validations_per_hour");
  ac.limits.certificates_per_registered_domain.count = cfg.GetInt("acme.limits.certs_per_domain_week");
  ac.public_suffix_list = cfg.GetString("acme.public_suffix_list");
  ac.request_threads = static_cast<int>(cfg.GetInt("acme.request_threads"));
  return ac;
}

core::Result<std::unique_ptr<ServedModule>> Mount(ServeContext& ctx) {
  const auto& cfg = ctx.config;
  auto m = std::make_unique<AcmeModule>();
  HP_ASSIGN_OR_RETURN(m->ca, LoadCa(cfg, ctx.var_dir, ctx.public_base_url, ctx.clock));
  HP_ASSIGN_OR_RETURN(m->nonces, acme::CreateHmacNonceService(ctx.db, ctx.clock));

  auto* resolver = ctx.services->Get<dns::Resolver>();
  auto* zones = ctx.services->Get<dns::ZoneService>();
  if (!resolver || !zones) {
    return core::Fail(core::ErrorCode::kInternal, "the acme module needs the dns module mounted first");
  }
  if (cfg.GetString("dns.upstream").empty()) {
    auto hosted_only = std::make_unique<HostedOnlyResolver>(*resolver, *zones);
    HP_TRY(hosted_only->Start());
    resolver = hosted_only.get();
    m->hosted_only = std::move(hosted_only);
  }
  m->dns = std::make_unique<ResolverDnsChecker>(*resolver, SplitList(cfg.GetString("acme.va.static_ips")));

  acme::AcmeConfig ac = AcmeConfigFrom(cfg, ctx.public_base_url);
  auto server = acme::AcmeServer::Create(
      std::move(ac), {&ctx.db, &ctx.clock, &ctx.jobs, &ctx.workers, m->ca.get(), m->dns.get(),
                      m->nonces.get()});
  if (!server) return std::unexpected(server.error());
  m->server = std::move(*server);
  m->server->RegisterRoutes(ctx.router);
  m->server->RegisterJobs(ctx.workers);
  ctx.services->Put<acme::AcmeServer>(m->server.get());  // partner EAB minting
  core::log::Info("acme mounted", {{"directory", ctx.public_base_url + "/acme/directory"},
                                   {"ca_dir", ctx.var_dir + "/ca"}});
  return std::unique_ptr<ServedModule>(std::move(m));
}

}  // namespace

ModuleSpec AcmeModuleSpec() { return {"acme", AddConfig, Migrations, Mount}; }

core::Result<acme::EabCredentials> CreateAcmeEabKey(const core::Config& cfg, core::Database& db,
                                                    const std::string& owner) {
  // The same CA and store the server uses; no routes, jobs or DNS (EAB minting needs none).
  std::string base_url = cfg.GetString("http.public_url");
  if (base_url.empty()) base_url = "https://localhost";
  while (base_url.size() > 1 && base_url.back() == '/') base_url.pop_back();
  const core::Clock& clock = core::SystemClock::Instance();
  HP_ASSIGN_OR_RETURN(auto ca, LoadCa(cfg, cfg.GetString("var_dir"), base_url, clock));
  HP_ASSIGN_OR_RETURN(auto nonces, acme::CreateHmacNonceService(db, clock));
  acme::StaticDnsChecker no_dns({});
  core::JobQueue jobs(db, clock);
  HP_ASSIGN_OR_RETURN(auto server,
                      acme::AcmeServer::Create(AcmeConfigFrom(cfg, base_url),
                                               {&db, &clock, &jobs, nullptr, ca.get(), &no_dns,
                                                nonces.get()}));
  return server->CreateEabKey(owner);
}

}  // namespace hp::cp
