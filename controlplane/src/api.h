#pragma once
// The /api/v1 framework: every route goes through Api::Register, which authenticates the caller
// (API token or session cookie + CSRF token), scopes {org} routes to the caller's memberships
// (another organization's id is 404, never 403), checks the route's declared permission against
// the member's role and the token's scopes (403), applies the organization's IP allow-list, rate
// limits per caller (429 + Retry-After), replays Idempotency-Key responses, and turns every Error
// into an RFC 9457 problem. Denied state-changing calls are audited.

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "audit_log.h"
#include "hp/core/http.h"
#include "hp/core/jobs.h"
#include "hp/core/sealer.h"
#include "hp/core/store.h"
#include "tenancy_store.h"

namespace hp::cp {

struct ApiSettings {
  int64_t session_idle_us = 30LL * 60 * 1000000;
  int64_t session_absolute_us = 12LL * 3600 * 1000000;
  int max_failed_logins = 5;
  int64_t lockout_us = 15LL * 60 * 1000000;
  int rate_limit_per_minute = 1200;
  bool public_signup = true;
  std::string public_url;
  std::string mail_from_name = "hostplane";
  std::string mail_from_address = "noreply@hostplane.localhost";
};

struct Principal {
  enum class Kind { kAnonymous, kSession, kToken };
  Kind kind = Kind::kAnonymous;
  store::User user;
  std::optional<store::Token> token;
  std::optional<store::Session> session;
  std::string ActorType() const;
  std::string ActorId() const;
  std::string Key() const;  // rate-limit and idempotency scope
};

struct ApiContext {
  const core::http::Request& http;
  Principal who;
  std::optional<store::Organization> org;
  std::string role;  // the caller's role in `org`
  core::Json body = core::Json::object();
  std::string via_partner;  // a partner member acting on its customer: the partner id (audited)

  // An audit event pre-filled with actor, organization, source IP and request id.
  core::AuditEvent Event(const std::string& action, const std::string& target, const std::string& result = "success") const;
};

using ApiHandler = std::function<core::Result<core::http::Response>(ApiContext&)>;

// A small fixed pool for CPU-heavy handlers (argon2id) so reactor threads stay responsive.
class CpuPool {
 public:
  explicit CpuPool(int threads);
  ~CpuPool();
  void Submit(std::function<void()> task);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
};

class Api {
 public:
  Api(core::Database& db, const core::Clock& clock, core::JobQueue& jobs, core::Sealer& sealer,
      ChainedAuditLog& audit, ApiSettings settings);

  // `info.permission` is required: a role permission, kPublic, kAuthenticated or kStaff.
  // `cpu_heavy` runs the handler on the CPU pool instead of the reactor thread.
  // `allowed_while_suspended`: writes to a suspended organization are refused (403) except on
  // routes that must keep working then, such as paying the invoice that caused the suspension.
  void Register(core::http::Router& router, core::http::RouteInfo info, ApiHandler handler, bool cpu_heavy = false,
                bool allowed_while_suspended = false);

  core::Database& db() { return db_; }
  core::JobQueue* jobs() { return &jobs_; }
  const core::Clock& clock() const { return clock_; }
  core::Sealer& sealer() { return sealer_; }
  ChainedAuditLog& audit() { return audit_; }
  const ApiSettings& settings() const { return settings_; }
  int64_t Now() const { return store::Now(clock_); }

  // Queues an e-mail (job "mail.send"); the body is sealed in the job row (it may carry a token).
  // `organization_id` (optional) names the customer the mail is about; the mail brand resolver
  // (if one is set) picks the sender and brand from it or from the recipient.
  core::Status QueueMail(const std::string& to, const std::string& subject, const std::string& body,
                         const std::string& organization_id = "");
  // White-label mail (issue 9): who a mail appears to come from. QueueMail replaces our sender
  // with it, our public URL in subject and body with `base_url` (when set) and the word
  // "hostplane" with `brand_name`. Set once at start-up, before serving.
  struct MailBrand {
    std::string from_name, from_address, brand_name, base_url;
  };
  using MailBrandResolver =
      std::function<std::optional<MailBrand>(const std::string& organization_id, const std::string& to)>;
  void SetMailBrandResolver(MailBrandResolver resolver) { mail_brand_ = std::move(resolver); }
  // Partner operators (issue 9): a user who is not a member of an {org} may still get a role in
  // it through its partner (a signed-in session only; tokens stay bound to their organization).
  // The resolver runs inside the access lookup's read transaction. Set once, before serving.
  struct PartnerAccess {
    std::string role;        // the organization role granted ("admin", "viewer" ...)
    std::string partner_id;  // audit events: actor_type "partner_operator", detail.via_partner
  };
  using PartnerAccessResolver = std::function<std::optional<PartnerAccess>(
      SQLite::Database& tx, const store::Organization& org, int64_t user_row)>;
  void SetPartnerAccessResolver(PartnerAccessResolver r) { partner_access_ = std::move(r); }
  // Audits in its own transaction (for failures where no state changed).
  void AuditAlone(const core::AuditEvent& e);

 private:
  void Handle(const core::http::RouteInfo& info, const ApiHandler& handler, bool allowed_while_suspended,
              core::http::Request&& req, core::http::Reply reply);
  core::Result<core::http::Response> Run(const core::http::RouteInfo& info, const ApiHandler& handler,
                                         bool allowed_while_suspended, const core::http::Request& req);
  // The caller's organization access, looked up in the same read transaction as the credentials
  // when the route has an {org} parameter (one snapshot, one round trip to the store).
  struct OrgAccess {
    bool looked_up = false;
    std::optional<store::Organization> org;
    std::optional<std::string> role;
    std::string via_partner;
  };
  core::Result<Principal> Authenticate(const core::http::Request& req, const std::string& org_id, OrgAccess* access);
  bool RateLimit(const std::string& key, int* retry_after);

  core::Database& db_;
  const core::Clock& clock_;
  core::JobQueue& jobs_;
  core::Sealer& sealer_;
  ChainedAuditLog& audit_;
  ApiSettings settings_;
  MailBrandResolver mail_brand_;
  PartnerAccessResolver partner_access_;
  CpuPool cpu_;
  std::mutex rl_mu_;
  struct Bucket {
    double tokens;
    int64_t at;
  };
  std::map<std::string, Bucket> buckets_;
};

// Helpers shared by route files.
std::string Sha256Hex(std::string_view s);
std::string RandomToken(size_t bytes = 32);  // base64url
bool IpInAllowlist(const std::string& ip, const std::vector<std::string>& cidrs);
core::Result<std::vector<std::string>> ParseAllowlist(const core::Json& v, const std::string& field);
// Cursor pagination: `?limit=` (1..200, default 50) and `?cursor=` (opaque).
struct Page {
  int limit = 50;
  int64_t after = 0;
};
core::Result<Page> ParsePage(const core::http::Request& req);
// {"items": items, "next_cursor": ...} and a Link rel="next" header when the page is full.
core::http::Response PageResponse(const core::http::Request& req, core::Json items, size_t count, int limit, int64_t last);
std::string Iso(int64_t micros);  // RFC 3339, "" for 0

}  // namespace hp::cp
