#pragma once
// AutoSSL (issue 7): the control plane is an internal ACME client of our own RA/VA/CA. Hosted
// domains are validated like any other (http-01 through the site's vhost on the web node: the
// key authorization is written to <document_root>/.well-known/acme-challenge/<token>), never
// issued around the VA.
//
// One durable job "autossl.issue" per (site, domain): it registers (or finds) the control
// plane's account (ES256 key sealed at rest), orders, validates, finalizes with a fresh P-256
// key sealed at rest, and records the chain. Status and last error per certificate are kept in
// autossl_certificates. Deploying into the site's TLS server block comes next (docs/autossl.md).
//
// Thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/http_client.h"
#include "hp/core/jobs.h"
#include "hp/core/json.h"
#include "hp/core/sealer.h"
#include "hp/core/store.h"

namespace SQLite {
class Database;
}
namespace hp::acme::client {
class AcmeClient;
}
namespace hp::provisioning {
class SharedHostingService;
}
namespace hp::dns {
class ZoneService;
}

namespace hp::cp::autossl {

inline constexpr const char* kIssueJob = "autossl.issue";
inline constexpr const char* kRevokeJob = "autossl.revoke";
inline constexpr const char* kScanJob = "autossl.renew_scan";

struct Options {
  std::string directory_url;         // https://localhost:8443/acme/directory
  std::string ca_file;               // trust anchors for the directory (dev: var/tls/server.crt)
  std::vector<std::string> contact;  // account contact ("mailto:...")
  std::chrono::milliseconds issue_timeout = std::chrono::seconds(90);
  // The renewal scan runs this often (and after every dev-clock jump, when its run_at passed).
  std::chrono::seconds scan_interval = std::chrono::minutes(10);
  // Orders AutoSSL places per 3 hours at most (kept under the CA's new-orders-per-account limit);
  // due renewals beyond it wait for the next scan.
  int64_t max_orders_per_3h = 250;
  // Retry backoff after a failed attempt: base * 2^(failures-1), at most max.
  std::chrono::seconds retry_base = std::chrono::minutes(5);
  std::chrono::seconds retry_max = std::chrono::hours(12);
  // After a renewal is deployed, the certificate it replaced is revoked as superseded once this
  // has passed (clients and caches holding the old one have moved on).
  std::chrono::seconds supersede_grace = std::chrono::hours(24);
};

// Alerts and audit for automatic actions (set by the module; all optional).
struct Hooks {
  // A certificate failed (event "certificate.failed") or is within 14 days of expiry while
  // renewal keeps failing, or is an uploaded one within 14 days of expiry (data "source":
  // "upload"; never renewed by us) ("certificate.expiring"): e-mail and webhook.
  std::function<void(const std::string& event, const std::string& organization_id,
                     const core::Json& data)>
      alert;
  std::function<void(const std::string& action, const std::string& organization_id,
                     const std::string& target, const core::Json& detail, bool ok)>
      audit;
};

struct CertificateRecord {
  std::string organization_id, site_id, domain;
  std::string status;  // waiting (for the order budget), pending, issuing, valid, failed
  std::string last_error;
  std::string certificate_pem;
  int64_t not_after = 0;  // unix seconds, 0 when none
  int64_t issued_at = 0;
  int64_t updated_at = 0;
  std::string serial;     // hex, of the current certificate
  std::string ari_id;
  int64_t renew_at = 0;   // when the renewal is due (ARI window), 0 when none
  int64_t failures = 0;
  int64_t next_attempt_at = 0;
  int64_t deployed_at = 0;
  std::string source = "acme";  // acme (AutoSSL issues and renews) or upload (customer-supplied)
  // The last certificate the customer revoked for this name (empty / 0 when none).
  std::string revoked_serial, revoked_reason;
  int64_t revoked_at = 0;
  // For www.<name> bundled into <name>'s certificate: "<name>" (ordered, renewed and revoked
  // through that row); empty for a certificate of its own.
  std::string bundled_with;
  // Without the PEM; with the leaf's issuer, names (DNS SANs) and days until expiry at `now`.
  core::Json ToJson(int64_t now = 0) const;
};

class AutoSsl {
 public:
  AutoSsl(core::Database& db, core::Sealer& sealer, const core::Clock& clock, core::JobQueue& jobs,
          core::HttpClient& http, provisioning::SharedHostingService* sites, Options options);

  // Records the certificate as pending and enqueues its issuance. kNotFound when the site is not
  // the organization's; kInvalidArgument when the domain is not one of the site's names.
  core::Result<CertificateRecord> Request(const std::string& org, const std::string& site_id,
                                          const std::string& domain);
  // A customer-supplied certificate (chain, leaf first) and its key: checked (key matches the
  // leaf, each certificate issued by the next, leaf valid now, every DNS SAN a name of the site;
  // kInvalidArgument naming "certificate" or "private_key" otherwise), the key sealed, recorded
  // with source "upload" (never renewed automatically) and deployed per name like issued ones.
  core::Result<std::vector<CertificateRecord>> Upload(const std::string& org,
                                                      const std::string& site_id,
                                                      const std::string& certificate_pem,
                                                      const std::string& private_key_pem);
  core::Result<std::vector<CertificateRecord>> List(const std::string& org);
  core::Result<CertificateRecord> Get(const std::string& site_id, const std::string& domain);
  // The certificate chain (PEM, leaf first) of the organization's site name; never the key.
  // kNotFound when the site or name is not the organization's or nothing was issued yet.
  core::Result<std::string> ChainPem(const std::string& org, const std::string& site_id,
                                     const std::string& domain);
  // A customer's revocation (issue 10) with a BR reason name (unspecified, keyCompromise,
  // affiliationChanged, superseded, cessationOfOperation; kInvalidArgument naming "reason"):
  // marks the record "revoking" and enqueues autossl.revoke {reason, reissue}. The job revokes
  // through our CA; a revoked AutoSSL certificate whose name is still on the site is replaced at
  // once with a new key (the site stays on HTTPS). kConflict for an uploaded certificate (issued
  // by another CA: revoke it there) and for one not valid (nothing to revoke).
  core::Result<core::Job> RequestRevoke(const std::string& org, const std::string& site_id,
                                        const std::string& domain, const std::string& reason);
  // The PEM private key of an issued certificate (opened from its sealed form).
  core::Result<std::string> PrivateKeyPem(const std::string& site_id, const std::string& domain);

  // The job body of autossl.issue (payload {organization_id, site_id, domain, renewal}).
  core::Result<core::Json> RunIssue(core::JobContext& ctx);
  // autossl.revoke {organization_id, site_id, domain}: revokes (cessationOfOperation), removes the
  // deployed files and the record. With "reason" (a customer's revocation): revokes with it,
  // records it and, with "reissue", issues a replacement.
  core::Result<core::Json> RunRevoke(core::JobContext& ctx);
  core::Result<core::Json> RunCustomerRevoke(core::JobContext& ctx, const CertificateRecord& rec);
  // autossl.renew_scan: enqueues due renewals and retries (paced by max_orders_per_3h), raises
  // the expiry alerts, revokes superseded predecessors past their grace, schedules the next scan.
  core::Result<core::Json> RunScan(core::JobContext& ctx);
  // Enqueues the next scan (idempotent per interval slot).
  core::Status ScheduleScan(int64_t after_seconds);
  // Called by the site service (SiteEvent): issue on activation / domain added, revoke on
  // domain removed / site terminated.
  void OnSiteEvent(int kind, const std::string& org, const std::string& site_id,
                   const std::string& domain);
  void SetHooks(Hooks hooks) { hooks_ = std::move(hooks); }
  // Unix seconds on the service's clock (the dev clock under --dev).
  int64_t NowSeconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch())
        .count();
  }
  // Zones hosted with us: dns-01 TXT records (wildcards) and the preflight's CAA / address
  // checks. `caa_identities`: the issuer domains that authorize our CA.
  void SetZones(dns::ZoneService* zones, std::vector<std::string> caa_identities) {
    zones_ = zones;
    caa_identities_ = std::move(caa_identities);
  }
  // host:port of the web node's plain-HTTP listener (the preflight fetches a probe through it).
  void SetWebNode(std::string addr) { web_addr_ = std::move(addr); }
  // Checks before ordering, each failing with a reason a customer can act on: the name's zone
  // (when hosted with us) gives it an address and its CAA records allow our CA; the site's
  // /.well-known/acme-challenge/ answers on the web node (http-01 names).
  core::Status Preflight(const std::string& org, const std::string& document_root,
                         const std::string& domain);
  void RegisterHandlers(core::WorkerPool& workers);

 private:
  core::Status SetStatus(const std::string& site_id, const std::string& domain,
                         const std::string& status, const std::string& error);
  // The account key (created and sealed on first use) and account URL for the directory.
  struct Account {
    std::string key_pem;
    std::string url;
  };
  core::Result<Account> LoadOrCreateAccount();
  core::Status SaveAccountUrl(const std::string& url);
  core::Result<std::unique_ptr<acme::client::AcmeClient>> Client();
  // Writes <dir>/{fullchain.pem,privkey.pem} (key 0600), re-applies the site's server block;
  // puts the previous files back (and re-applies) when the check or reload fails.
  core::Status Deploy(const std::string& org, const std::string& site_id,
                      const std::string& domain, const std::string& chain_pem,
                      const std::string& key_pem);
  // Revokes (superseded) the predecessors of deployed renewals whose grace period has passed.
  int64_t RevokeSuperseded(int64_t now);
  core::Status RecordFailure(const std::string& org, const std::string& site_id,
                             const std::string& domain, const std::string& error);
  // Orders that may still be placed in the current 3-hour window.
  int64_t OrderBudget(SQLite::Database& tx);
  core::Status Enqueue(SQLite::Database& tx, const std::string& org, const std::string& site_id,
                       const std::string& domain, bool renewal);

  core::Database& db_;
  core::Sealer& sealer_;
  const core::Clock& clock_;
  core::JobQueue& jobs_;
  core::HttpClient& http_;
  provisioning::SharedHostingService* sites_;
  Options options_;
  Hooks hooks_;
  dns::ZoneService* zones_ = nullptr;
  std::vector<std::string> caa_identities_;
  std::string web_addr_;
  std::mutex scan_mu_;
  std::mutex deploy_mu_;
};

}  // namespace hp::cp::autossl
