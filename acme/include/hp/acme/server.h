#pragma once
// The ACME server (RFC 8555 + RFC 8737, RFC 8738, RFC 9773 ARI, profiles): builds the RA, VA and
// WFE over the given CA, DNS checker, nonce service and store, and registers its HTTP routes
// (under /acme/) and its job handlers (validation and deferred finalization run on the worker
// pool, never on an HTTP thread).
//
// Thread safety: every method may be called from any thread once Create() returned.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hp/acme/ca.h"
#include "hp/acme/dns_checker.h"
#include "hp/acme/nonce.h"
#include "hp/core/clock.h"
#include "hp/core/http.h"
#include "hp/core/jobs.h"
#include "hp/core/store.h"

namespace hp::acme {

struct RateLimit {
  int64_t count = 0;  // events allowed per period; 0 disables
  core::Duration period = std::chrono::hours(1);
};

struct RateLimitConfig {
  RateLimit new_accounts_per_ip{20, std::chrono::hours(3)};
  RateLimit new_orders_per_account{300, std::chrono::hours(3)};
  RateLimit failed_validations_per_account_and_name{5, std::chrono::hours(1)};
  RateLimit certificates_per_registered_domain{50, std::chrono::hours(24 * 7)};
};

struct ValidationConfig {
  // Ports the validator connects to; only tests change them. Redirects may go only to these.
  int http_port = 80;
  int https_port = 443;
  int tls_alpn_port = 443;
  core::Duration timeout = std::chrono::seconds(10);
  int max_redirects = 10;
  size_t max_response_bytes = 16 * 1024;
  // true: validations run at once on the acme module's own threads; the authorization row
  // (status processing, since when) is the durable record, and a sweeper re-runs a validation
  // a crash interrupted once it is older than `stale_after`. false: each validation is a
  // durable job on the core worker pool (a job row and three more write transactions).
  bool in_process = true;
  int threads = 32;  // concurrent in-process validations (blocking network I/O)
  core::Duration stale_after = std::chrono::minutes(2);
};

struct AcmeConfig {
  std::string base_url;  // public, no trailing slash: "https://ca.example"
  std::string terms_of_service_url;
  std::string website;
  std::vector<std::string> caa_identities = {"hostplane.test"};
  bool external_account_required = false;
  std::string default_profile = "classic";
  core::Duration pending_authz_lifetime = std::chrono::hours(24 * 7);
  core::Duration valid_authz_lifetime = std::chrono::hours(24 * 30);  // the reuse period
  core::Duration order_lifetime = std::chrono::hours(24 * 7);
  core::Duration caa_recheck_after = std::chrono::hours(8);
  // CRLs: a scheduled job (every crl_check_every) re-signs an issuer's CRL when a revocation is
  // not in it yet or when it is older than crl_max_age; each CRL's nextUpdate is thisUpdate +
  // crl_validity. Defaults: a revocation is in the CRL within 30 minutes (the BR allow 24 h; the
  // issue asks for an hour), a CRL is never older than 3 days + 30 minutes (at most 4 days).
  core::Duration crl_check_every = std::chrono::minutes(30);
  core::Duration crl_max_age = std::chrono::hours(24 * 3);
  core::Duration crl_validity = std::chrono::hours(24 * 7);
  size_t max_body_bytes = 64 * 1024;
  int max_identifiers = 100;
  bool allow_ip_identifiers = true;
  int orders_page_size = 100;
  RateLimitConfig limits;
  // The Public Suffix List the certificates-per-registered-domain limit counts by.
  std::string public_suffix_list = "/usr/share/publicsuffix/public_suffix_list.dat";
  ValidationConfig validation;
  // How authenticated POST requests run. -1 (default): each on a fiber started on the HTTP
  // reactor thread that read it; a write suspends the fiber (the reactor goes on at once) and the
  // thread that commits the batch resumes it to reply, so no thread waits on a commit and the
  // reply follows the commit. N > 0: on a pool of N threads that wait for the group commits (the
  // reactor hands requests over). 0: on the reactor thread itself, blocking it during the group
  // commit (the listener then needs about as many reactor threads, http.threads, as clients).
  int request_threads = -1;
  // How long an account (status, key) may be answered from memory. Changes made through this
  // process are seen at once; the TTL bounds staleness for changes made by another replica.
  core::Duration account_cache_ttl = std::chrono::seconds(10);
};

struct AcmeDeps {
  core::Database* db = nullptr;  // with AcmeMigrations() applied
  const core::Clock* clock = nullptr;
  core::JobQueue* jobs = nullptr;
  core::WorkerPool* workers = nullptr;  // Notify()'d after enqueueing; may be null in tests
  CertificateAuthority* ca = nullptr;
  DnsChecker* dns = nullptr;
  NonceService* nonces = nullptr;
};

struct EabCredentials {
  std::string kid;
  std::string hmac_key_b64url;  // what the client passes as --eab-hmac-key
};

// What an EAB key's owner may see of it (never the MAC key).
struct EabKeyInfo {
  std::string kid;
  core::TimePoint created_at;
  std::optional<core::TimePoint> expires_at;
  std::optional<core::TimePoint> bound_at;
  std::string account_id;  // public id of the bound account, "" while unused
};

// A certificate issued to an account bound with one of an owner's EAB keys.
struct EabCertificate {
  int64_t cursor = 0;      // opaque paging position (the order's row)
  std::string id;          // certificate public id
  std::string serial;      // lower-case hex
  std::vector<std::string> names;
  core::TimePoint not_before, not_after, issued_at;
  bool revoked = false;
  std::string eab_kid;
  std::string account_id;  // ACME account public id
  std::string owner;       // the EAB key's owner
};

class AcmeServer {
 public:
  static core::Result<std::unique_ptr<AcmeServer>> Create(AcmeConfig config, AcmeDeps deps);
  virtual ~AcmeServer() = default;

  // Routes of RFC 8555 under /acme/ (directory, new-nonce, new-account, ...), plus CRLs
  // (/acme/crl/{issuer}) and issuer certificates (/acme/issuer/{issuer}).
  virtual void RegisterRoutes(core::http::Router& router) = 0;
  // Job kinds "acme.validate" (validation.in_process = false, or jobs left by an older version)
  // and "acme.finalize" (issuance deferred for a CAA recheck).
  virtual void RegisterJobs(core::WorkerPool& pool) = 0;
  // A new EAB MAC key for `owner` ("operator", "organization:<id>"); it binds to one account
  // only, and not at or after `expires_at` when given (new-account answers unauthorized).
  virtual core::Result<EabCredentials> CreateEabKey(
      const std::string& owner, std::optional<core::TimePoint> expires_at = std::nullopt) = 0;
  // The owner's EAB keys, oldest first.
  virtual core::Result<std::vector<EabKeyInfo>> EabKeysOf(const std::string& owner) = 0;
  // Certificates issued through accounts bound with the owner's EAB keys, oldest first, after
  // `after` (an EabCertificate::cursor, 0 for the start), at most `limit`.
  virtual core::Result<std::vector<EabCertificate>> CertificatesOfEabOwner(const std::string& owner,
                                                                           int64_t after,
                                                                           int limit) = 0;
  // Certificates of every account bound with an EAB key whose owner starts with `owner_prefix`,
  // in issuance order after `after` (an EabCertificate::cursor, here the certificate's row), at
  // most `limit`: for usage metering and certificate.issued events.
  virtual core::Result<std::vector<EabCertificate>> EabCertificatesSince(
      const std::string& owner_prefix, int64_t after, int limit) = 0;
};

}  // namespace hp::acme
