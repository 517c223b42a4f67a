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
#include <string>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/http_client.h"
#include "hp/core/jobs.h"
#include "hp/core/json.h"
#include "hp/core/sealer.h"
#include "hp/core/store.h"

namespace hp::provisioning {
class SharedHostingService;
}

namespace hp::cp::autossl {

inline constexpr const char* kIssueJob = "autossl.issue";

struct Options {
  std::string directory_url;         // https://localhost:8443/acme/directory
  std::string ca_file;               // trust anchors for the directory (dev: var/tls/server.crt)
  std::vector<std::string> contact;  // account contact ("mailto:...")
  std::chrono::milliseconds issue_timeout = std::chrono::seconds(90);
};

struct CertificateRecord {
  std::string organization_id, site_id, domain;
  std::string status;  // pending, issuing, valid, failed
  std::string last_error;
  std::string certificate_pem;
  int64_t not_after = 0;  // unix seconds, 0 when none
  int64_t issued_at = 0;
  int64_t updated_at = 0;
  core::Json ToJson() const;  // without the PEM
};

class AutoSsl {
 public:
  AutoSsl(core::Database& db, core::Sealer& sealer, const core::Clock& clock, core::JobQueue& jobs,
          core::HttpClient& http, provisioning::SharedHostingService* sites, Options options);

  // Records the certificate as pending and enqueues its issuance. kNotFound when the site is not
  // the organization's; kInvalidArgument when the domain is not one of the site's names.
  core::Result<CertificateRecord> Request(const std::string& org, const std::string& site_id,
                                          const std::string& domain);
  core::Result<std::vector<CertificateRecord>> List(const std::string& org);
  core::Result<CertificateRecord> Get(const std::string& site_id, const std::string& domain);
  // The PEM private key of an issued certificate (opened from its sealed form).
  core::Result<std::string> PrivateKeyPem(const std::string& site_id, const std::string& domain);

  // The job body of autossl.issue (payload {organization_id, site_id, domain}).
  core::Result<core::Json> RunIssue(core::JobContext& ctx);
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

  core::Database& db_;
  core::Sealer& sealer_;
  const core::Clock& clock_;
  core::JobQueue& jobs_;
  core::HttpClient& http_;
  provisioning::SharedHostingService* sites_;
  Options options_;
};

}  // namespace hp::cp::autossl
