#pragma once
// Shared hosting: a site on a shared-web host = a system user, a document root, a server block
// in the web server, a disk quota (accounted), SFTP credentials; suspend (a suspension page is
// served), unsuspend, terminate (user, files and server block removed).
//
// Seams: WebServer (NginxWebServer in production and in tests, against a real nginx) and
// SystemAccounts (LinuxSystemAccounts: useradd/userdel/chpasswd, needs root).
//
// Every site operation records the desired state and enqueues one durable "apply" job that
// converges the host to it with idempotent steps; operations on one site are serialized.
// Every read and write is scoped by organization id. Thread safety: safe from any thread.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/jobs.h"
#include "hp/core/random.h"
#include "hp/core/store.h"
#include "hp/provisioning/inventory.h"
#include "hp/provisioning/placement.h"
#include "hp/provisioning/vps.h"

namespace hp::provisioning {

inline constexpr const char* kSiteApplyJob = "provisioning.site.apply";

struct SiteConfig {
  std::string name;                  // file name of the server block (the site id)
  std::vector<std::string> domains;  // server_name
  std::string document_root;
  bool suspended = false;            // serve the suspension page (503) instead of the files
  // TLS (AutoSSL): when both are set and the web server has tls_listen addresses, the server
  // block also listens there with this chain (leaf first) and key, TLS 1.2 and 1.3 only.
  std::string tls_certificate_file;
  std::string tls_key_file;
  // Per-name certificates (AutoSSL): one extra server block per entry on the tls_listen
  // addresses, serving the same content for `server_names` with that chain and key.
  struct Tls {
    std::vector<std::string> server_names;
    std::string certificate_file, key_file;
  };
  std::vector<Tls> tls;
};

// The web server of a shared-web host. Thread-safe.
class WebServer {
 public:
  virtual ~WebServer() = default;
  // Writes the server block, checks the whole configuration and reloads. When the check fails
  // the previous server block is put back and the error names the check's output. The reload
  // is asynchronous in nginx: old workers may answer for a moment after this returns.
  virtual core::Status ApplySite(const SiteConfig& site) = 0;
  // Removes the server block (nothing to remove is fine), checks and reloads.
  virtual core::Status RemoveSite(const std::string& name) = 0;
  // `nginx -t` on the current configuration.
  virtual core::Status Check() = 0;
};

struct NginxOptions {
  std::string binary = "/usr/sbin/nginx";
  std::string main_config;   // nginx.conf that includes <sites_dir>/*.conf inside http {}
  std::string sites_dir;     // where server blocks are written (owned by hostplane)
  std::string error_log;     // passed as -e; empty: nginx's default
  std::vector<std::string> listen = {"80", "[::]:80"};
  std::string suspended_page_dir;  // holds suspended.html
  // Where sites with a certificate also listen, e.g. {"443 ssl", "[::]:443 ssl"}; empty: no TLS.
  std::vector<std::string> tls_listen;
};

class NginxWebServer {
 public:
  // Checks the binary and directories exist and writes the default suspension page if missing.
  static core::Result<std::unique_ptr<WebServer>> Create(const NginxOptions& options);
};

// Operating-system accounts for site owners. All calls are idempotent. Thread-safe.
class SystemAccounts {
 public:
  virtual ~SystemAccounts() = default;
  virtual core::Status EnsureUser(const std::string& name, const std::string& home) = 0;
  virtual core::Status SetPassword(const std::string& name, const std::string& password) = 0;
  virtual core::Status RemoveUser(const std::string& name) = 0;
  virtual core::Result<bool> Exists(const std::string& name) = 0;
};

class LinuxSystemAccounts {
 public:
  // kPermissionDenied when not running as root (tests skip visibly on that).
  static core::Result<std::unique_ptr<SystemAccounts>> Create();
};

enum class SiteState { kProvisioning, kActive, kSuspended, kTerminating, kTerminated, kFailed };
std::string_view SiteStateName(SiteState s);

struct CreateSiteRequest {
  std::string organization_id;
  std::string domain;      // "example.com"; also served as www.<domain>
  int64_t quota_mib = 1024;
  std::string zone;        // shared-web hosts of this zone
  std::string idempotency_key;
};

struct Site {
  std::string id;
  std::string organization_id;
  std::string domain;
  SiteState state = SiteState::kProvisioning;
  std::string system_user;    // also the SFTP login
  std::string document_root;
  std::string host_id;
  int64_t quota_mib = 0;
  int64_t used_mib = 0;       // as of the last RefreshUsage
  std::string last_error;
  std::vector<std::string> extra_domains;  // added with AddDomain (besides domain, www.domain)
  // Every name the site serves: domain, www.domain, then the extra domains.
  std::vector<std::string> Names() const;
};

// What happened to a site, for listeners such as AutoSSL (called from the worker thread after
// the change committed; a listener must not block for long).
struct SiteEvent {
  enum class Kind { kActivated, kDomainAdded, kDomainRemoved, kTerminated };
  Kind kind;
  std::string organization_id, site_id, domain;  // domain: the site's own for kActivated
};

struct SharedHostingDeps {
  core::Database* db = nullptr;
  const core::Clock* clock = nullptr;
  core::JobQueue* jobs = nullptr;
  core::IdSource* ids = nullptr;
  Inventory* inventory = nullptr;
  Placer* placer = nullptr;
  // The web node's seams. One local web node for now (its inventory host gives web_root).
  WebServer* web = nullptr;
  SystemAccounts* accounts = nullptr;
  // Where deployed certificates live: <tls_dir>/<site id>/<name>/{fullchain.pem,privkey.pem}
  // ("*.example.com" is stored as "_wildcard.example.com"). Empty: sites get no TLS blocks.
  std::string tls_dir;
};

class SharedHostingService {
 public:
  static core::Result<std::unique_ptr<SharedHostingService>> Create(const SharedHostingDeps& deps);
  virtual ~SharedHostingService() = default;

  virtual core::Result<Operation> CreateSite(const CreateSiteRequest& request) = 0;
  virtual core::Result<Operation> SuspendSite(const std::string& org, const std::string& id) = 0;
  virtual core::Result<Operation> UnsuspendSite(const std::string& org, const std::string& id) = 0;
  virtual core::Result<Operation> TerminateSite(const std::string& org, const std::string& id) = 0;
  virtual core::Result<Site> Get(const std::string& org, const std::string& id) = 0;
  virtual core::Result<std::vector<Site>> List(const std::string& org) = 0;
  // Sets a fresh random SFTP password and returns it (shown once, never stored).
  virtual core::Result<std::string> ResetSftpPassword(const std::string& org,
                                                      const std::string& id) = 0;
  // Measures the document root and records used_mib.
  virtual core::Result<Site> RefreshUsage(const std::string& org, const std::string& id) = 0;

  // Adds a name to the site (not hosted by any other live site), re-applies the server block;
  // 202-style operation. kAlreadyExists when the name is taken.
  virtual core::Result<Operation> AddDomain(const std::string& org, const std::string& id,
                                            const std::string& domain) = 0;
  // Removes an added name (the site's own domain and www. cannot be removed).
  virtual core::Result<Operation> RemoveDomain(const std::string& org, const std::string& id,
                                               const std::string& domain) = 0;
  // Re-renders the site's server block now (with the certificates currently in tls_dir),
  // checks and reloads; the error of `nginx -t` or the reload otherwise.
  virtual core::Status RedeployTls(const std::string& org, const std::string& id) = 0;
  // The directory of the deployed certificate of one name of a site (see tls_dir).
  virtual std::string TlsDir(const std::string& site_id, const std::string& name) const = 0;
  virtual void AddListener(std::function<void(const SiteEvent&)> listener) = 0;

  virtual void RegisterHandlers(core::WorkerPool& workers) = 0;
};

}  // namespace hp::provisioning
