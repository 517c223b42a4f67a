// Shared hosting sites: API calls record the desired state; one apply job converges the web node.
#include "hp/provisioning/shared_hosting.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <regex>

#include "hp/core/encoding.h"
#include "hp/core/events.h"
#include "hp/core/json.h"
#include "hp/core/log.h"

namespace hp::provisioning {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Fail;
using core::FailField;
using core::Json;
using core::Result;
using core::Status;

std::string_view SiteStateName(SiteState s) {
  switch (s) {
    case SiteState::kProvisioning: return "provisioning";
    case SiteState::kActive: return "active";
    case SiteState::kSuspended: return "suspended";
    case SiteState::kTerminating: return "terminating";
    case SiteState::kTerminated: return "terminated";
    case SiteState::kFailed: return "failed";
  }
  return "failed";
}

std::vector<std::string> Site::Names() const {
  std::vector<std::string> out = {domain, "www." + domain};
  for (const auto& d : extra_domains)
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  return out;
}

namespace {

const std::regex& DomainPattern() {
  static const std::regex kDomain(
      "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$");
  return kDomain;
}

SiteState ParseSiteState(const std::string& s) {
  for (SiteState v : {SiteState::kProvisioning, SiteState::kActive, SiteState::kSuspended,
                      SiteState::kTerminating, SiteState::kTerminated, SiteState::kFailed})
    if (SiteStateName(v) == s) return v;
  return SiteState::kFailed;
}

std::string UserFor(const std::string& id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  char buf[24];
  std::snprintf(buf, sizeof buf, "hp%016llx", static_cast<unsigned long long>(h));
  return buf;
}

struct SiteRow {
  Site site;
  std::string zone;
  SiteState desired = SiteState::kActive;
};

const char* kSiteCols =
    "public_id, organization_id, domain, state, system_user, document_root, host_public_id,"
    " quota_mib, used_mib, last_error, zone, desired_state FROM prov_sites";

SiteRow SiteOf(SQLite::Statement& q) {
  SiteRow r;
  Site& s = r.site;
  s.id = q.getColumn(0).getString();
  s.organization_id = q.getColumn(1).getString();
  s.domain = q.getColumn(2).getString();
  s.state = ParseSiteState(q.getColumn(3).getString());
  s.system_user = q.getColumn(4).getString();
  s.document_root = q.getColumn(5).getString();
  s.host_id = q.getColumn(6).getString();
  s.quota_mib = q.getColumn(7).getInt64();
  s.used_mib = q.getColumn(8).getInt64();
  s.last_error = q.getColumn(9).getString();
  r.zone = q.getColumn(10).getString();
  r.desired = ParseSiteState(q.getColumn(11).getString());
  return r;
}

bool IsPermanent(ErrorCode c) {
  return c == ErrorCode::kInvalidArgument || c == ErrorCode::kNotFound ||
         c == ErrorCode::kPermissionDenied || c == ErrorCode::kAlreadyExists;
}

class Service final : public SharedHostingService {
 public:
  explicit Service(const SharedHostingDeps& d) : d_(d) {}

  Result<Operation> CreateSite(const CreateSiteRequest& r) override {
    const std::regex& kDomain = DomainPattern();
    if (r.organization_id.empty())
      return FailField(ErrorCode::kInvalidArgument, "organization_id", "organization is empty");
    if (r.domain.size() > 253 || !std::regex_match(r.domain, kDomain))
      return FailField(ErrorCode::kInvalidArgument, "domain", "a lower-case domain like example.com");
    if (r.quota_mib < 10 || r.quota_mib > (int64_t{1} << 22))
      return FailField(ErrorCode::kInvalidArgument, "quota_mib", "quota must be 10 MiB - 4 TiB");
    if (r.zone.empty()) return FailField(ErrorCode::kInvalidArgument, "zone", "zone is required");
    const std::string id = d_.ids->NewId();
    core::EnqueueOptions eo;
    eo.organization_id = r.organization_id;
    if (!r.idempotency_key.empty()) eo.idempotency_key = r.organization_id + ":" + r.idempotency_key;
    const int64_t now = core::ToUnixMicros(d_.clock->Now());
    // The row first (the domain must be free), then the job.
    if (!r.idempotency_key.empty()) {  // a retried call: the earlier operation
      auto prior = d_.jobs->List({.kind = kSiteApplyJob, .organization_id = r.organization_id, .limit = 10000});
      if (prior)
        for (const auto& j : *prior)
          if (j.idempotency_key == eo.idempotency_key) return Operation{j.id, j.payload.value("site_id", "")};
    }
    HP_TRY(d_.db->Write([&](SQLite::Database& db) -> Status {
      SQLite::Statement dup(db, "SELECT 1 FROM prov_sites WHERE domain=? AND state!='terminated'");
      dup.bind(1, r.domain);
      if (dup.executeStep())
        return FailField(ErrorCode::kAlreadyExists, "domain", r.domain + " is already hosted");
      if (NameTaken(db, r.domain))
        return FailField(ErrorCode::kAlreadyExists, "domain", r.domain + " is already hosted");
      SQLite::Statement ins(db,
          "INSERT INTO prov_sites(public_id, organization_id, domain, zone, state, desired_state,"
          " system_user, quota_mib, created_at, updated_at) VALUES (?,?,?,?,'provisioning','active',?,?,?,?)");
      ins.bind(1, id);
      ins.bind(2, r.organization_id);
      ins.bind(3, r.domain);
      ins.bind(4, r.zone);
      ins.bind(5, UserFor(id));
      ins.bind(6, r.quota_mib);
      ins.bind(7, now);
      ins.bind(8, now);
      ins.exec();
      return core::Ok();
    }));
    HP_ASSIGN_OR_RETURN(core::Job job, d_.jobs->Enqueue(kSiteApplyJob, Json{{"site_id", id}}, eo));
    return Operation{job.id, id};
  }

  Result<Operation> SuspendSite(const std::string& org, const std::string& id) override {
    return Desire(org, id, SiteState::kSuspended);
  }
  Result<Operation> UnsuspendSite(const std::string& org, const std::string& id) override {
    return Desire(org, id, SiteState::kActive);
  }
  Result<Operation> TerminateSite(const std::string& org, const std::string& id) override {
    return Desire(org, id, SiteState::kTerminated);
  }

  Result<Site> Get(const std::string& org, const std::string& id) override {
    HP_ASSIGN_OR_RETURN(SiteRow r, Load(org, id));
    if (r.site.state == SiteState::kTerminated) return Fail(ErrorCode::kNotFound, "site " + id + " not found");
    return r.site;
  }

  Result<std::vector<Site>> List(const std::string& org) override {
    return d_.db->Read([&](SQLite::Database& db) -> Result<std::vector<Site>> {
      SQLite::Statement q(db, std::string("SELECT ") + kSiteCols +
                                  " WHERE organization_id=? AND state!='terminated' ORDER BY created_at, id");
      q.bind(1, org);
      std::vector<Site> out;
      while (q.executeStep()) out.push_back(SiteOf(q).site);
      for (auto& site : out) site.extra_domains = ExtraDomains(db, site.id);
      return out;
    });
  }

  Result<std::string> ResetSftpPassword(const std::string& org, const std::string& id) override {
    HP_ASSIGN_OR_RETURN(Site s, Get(org, id));
    if (s.state != SiteState::kActive && s.state != SiteState::kSuspended)
      return Fail(ErrorCode::kConflict, "site " + id + " is " + std::string(SiteStateName(s.state)));
    std::string password = core::Base64UrlEncode(core::RandomBytes(18));
    HP_TRY(d_.accounts->SetPassword(s.system_user, password));
    return password;
  }

  Result<Site> RefreshUsage(const std::string& org, const std::string& id) override {
    HP_ASSIGN_OR_RETURN(Site s, Get(org, id));
    if (s.document_root.empty()) return s;
    uintmax_t bytes = 0;
    std::error_code ec;
    const fs::path home = fs::path(s.document_root).parent_path();
    for (auto it = fs::recursive_directory_iterator(home, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec) && !it->is_symlink(ec)) bytes += it->file_size(ec);
    }
    s.used_mib = static_cast<int64_t>((bytes + (1 << 20) - 1) >> 20);
    const int64_t now = core::ToUnixMicros(d_.clock->Now());
    HP_TRY(d_.db->Write([&](SQLite::Database& db) -> Status {
      SQLite::Statement u(db, "UPDATE prov_sites SET used_mib=?, updated_at=? WHERE public_id=? AND organization_id=?");
      u.bind(1, s.used_mib);
      u.bind(2, now);
      u.bind(3, id);
      u.bind(4, org);
      u.exec();
      return core::Ok();
    }));
    return s;
  }

  void RegisterHandlers(core::WorkerPool& workers) override {
    workers.Register(kSiteApplyJob, [this](core::JobContext& c) { return HandleApply(c); });
  }

  Result<Operation> AddDomain(const std::string& org, const std::string& id,
                              const std::string& domain_in) override {
    const std::string domain = Lower(domain_in);
    const bool wildcard = domain.rfind("*.", 0) == 0;
    const std::string base = wildcard ? domain.substr(2) : domain;
    if (base.size() > 253 || !std::regex_match(base, DomainPattern()))
      return FailField(ErrorCode::kInvalidArgument, "domain",
                       "a lower-case domain like shop.example.com or *.example.com");
    HP_ASSIGN_OR_RETURN(Site s, Get(org, id));
    if (s.state == SiteState::kTerminating)
      return Fail(ErrorCode::kConflict, "site " + id + " is being terminated");
    const auto names = s.Names();
    if (std::find(names.begin(), names.end(), domain) != names.end())
      return FailField(ErrorCode::kAlreadyExists, "domain", domain + " is already a name of this site");
    const int64_t now = core::ToUnixMicros(d_.clock->Now());
    core::EnqueueOptions eo;
    eo.organization_id = org;
    std::string job_id;
    HP_TRY(d_.db->Write([&](SQLite::Database& db) -> Status {
      if (NameTaken(db, domain))
        return FailField(ErrorCode::kAlreadyExists, "domain", domain + " is already hosted");
      SQLite::Statement ins(db, "INSERT INTO prov_site_domains(site_public_id, organization_id, domain,"
                                " created_at) VALUES (?,?,?,?)");
      ins.bind(1, id);
      ins.bind(2, org);
      ins.bind(3, domain);
      ins.bind(4, now);
      ins.exec();
      HP_ASSIGN_OR_RETURN(core::Job job, d_.jobs->EnqueueInTx(db, kSiteApplyJob,
                                                             Json{{"site_id", id}, {"domain_added", domain}}, eo));
      job_id = job.id;
      return core::Ok();
    }));
    return Operation{job_id, id};
  }

  Result<Operation> RemoveDomain(const std::string& org, const std::string& id,
                                 const std::string& domain_in) override {
    const std::string domain = Lower(domain_in);
    HP_ASSIGN_OR_RETURN(Site s, Get(org, id));
    if (domain == s.domain || domain == "www." + s.domain)
      return FailField(ErrorCode::kInvalidArgument, "domain",
                       "the site's own domain cannot be removed (terminate the site instead)");
    if (std::find(s.extra_domains.begin(), s.extra_domains.end(), domain) == s.extra_domains.end())
      return Fail(ErrorCode::kNotFound, domain + " is not a name of site " + id);
    core::EnqueueOptions eo;
    eo.organization_id = org;
    std::string job_id;
    HP_TRY(d_.db->Write([&](SQLite::Database& db) -> Status {
      SQLite::Statement del(db, "DELETE FROM prov_site_domains WHERE site_public_id=? AND organization_id=? AND domain=?");
      del.bind(1, id);
      del.bind(2, org);
      del.bind(3, domain);
      del.exec();
      HP_ASSIGN_OR_RETURN(core::Job job, d_.jobs->EnqueueInTx(db, kSiteApplyJob,
                                                             Json{{"site_id", id}, {"domain_removed", domain}}, eo));
      job_id = job.id;
      return core::Ok();
    }));
    return Operation{job_id, id};
  }

  Status RedeployTls(const std::string& org, const std::string& id) override {
    std::lock_guard site_lock(SiteLock(id));
    HP_ASSIGN_OR_RETURN(SiteRow row, Load(org, id));
    if (row.site.state != SiteState::kActive && row.site.state != SiteState::kSuspended)
      return Fail(ErrorCode::kConflict, "site " + id + " is " + std::string(SiteStateName(row.site.state)));
    if (row.site.document_root.empty()) return Fail(ErrorCode::kConflict, "site " + id + " has no document root");
    return d_.web->ApplySite(ConfigFor(row, row.site.document_root));
  }

  std::string TlsDir(const std::string& site_id, const std::string& name) const override {
    if (d_.tls_dir.empty()) return "";
    std::string n = name.rfind("*.", 0) == 0 ? "_wildcard." + name.substr(2) : name;
    return (fs::path(d_.tls_dir) / site_id / n).string();
  }

  void AddListener(std::function<void(const SiteEvent&)> listener) override {
    std::lock_guard lock(listeners_mu_);
    listeners_.push_back(std::move(listener));
  }

 private:
  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  // A name is taken when a live site has it as its domain (or www.) or as an added domain.
  static bool NameTaken(SQLite::Database& db, const std::string& domain) {
    SQLite::Statement q(db, "SELECT 1 FROM prov_sites WHERE state!='terminated' AND (domain=? OR 'www.'||domain=?)"
                            " UNION ALL SELECT 1 FROM prov_site_domains sd JOIN prov_sites s"
                            " ON s.public_id=sd.site_public_id WHERE s.state!='terminated' AND sd.domain=?");
    q.bind(1, domain);
    q.bind(2, domain);
    q.bind(3, domain);
    return q.executeStep();
  }
  static std::vector<std::string> ExtraDomains(SQLite::Database& db, const std::string& id) {
    SQLite::Statement q(db, "SELECT domain FROM prov_site_domains WHERE site_public_id=? ORDER BY created_at, domain");
    q.bind(1, id);
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
    return out;
  }
  void Notify(const SiteEvent& e) {
    std::vector<std::function<void(const SiteEvent&)>> ls;
    {
      std::lock_guard lock(listeners_mu_);
      ls = listeners_;
    }
    for (auto& l : ls) l(e);
  }
  // The server block of a site: its names, its document root and the certificates deployed
  // for its names under tls_dir (both files present).
  SiteConfig ConfigFor(const SiteRow& row, const std::string& docroot) const {
    SiteConfig cfg;
    cfg.name = row.site.id;
    cfg.domains = row.site.Names();
    cfg.document_root = docroot;
    cfg.suspended = row.desired == SiteState::kSuspended;
    for (const auto& n : cfg.domains) {
      const std::string dir = TlsDir(row.site.id, n);
      if (dir.empty()) break;
      std::error_code ec;
      if (fs::is_regular_file(dir + "/fullchain.pem", ec) && fs::is_regular_file(dir + "/privkey.pem", ec))
        cfg.tls.push_back({{n}, dir + "/fullchain.pem", dir + "/privkey.pem"});
    }
    return cfg;
  }
  Result<SiteRow> Load(const std::string& org, const std::string& id) {
    return d_.db->Read([&](SQLite::Database& db) -> Result<SiteRow> {
      SQLite::Statement q(db, std::string("SELECT ") + kSiteCols + " WHERE public_id=? AND organization_id=?");
      q.bind(1, id);
      q.bind(2, org);
      if (!q.executeStep()) return Fail(ErrorCode::kNotFound, "site " + id + " not found");
      SiteRow r = SiteOf(q);
      r.site.extra_domains = ExtraDomains(db, id);
      return r;
    });
  }

  Result<Operation> Desire(const std::string& org, const std::string& id, SiteState desired) {
    HP_ASSIGN_OR_RETURN(Site s, Get(org, id));
    if (s.state == SiteState::kTerminating)
      return Fail(ErrorCode::kConflict, "site " + id + " is being terminated");
    const int64_t now = core::ToUnixMicros(d_.clock->Now());
    HP_TRY(d_.db->Write([&](SQLite::Database& db) -> Status {
      SQLite::Statement u(db, "UPDATE prov_sites SET desired_state=?, state=CASE WHEN ?='terminated'"
                              " THEN 'terminating' ELSE state END, updated_at=? WHERE public_id=? AND organization_id=?");
      u.bind(1, std::string(SiteStateName(desired)));
      u.bind(2, std::string(SiteStateName(desired)));
      u.bind(3, now);
      u.bind(4, id);
      u.bind(5, org);
      u.exec();
      return core::Ok();
    }));
    core::EnqueueOptions eo;
    eo.organization_id = org;
    HP_ASSIGN_OR_RETURN(core::Job job, d_.jobs->Enqueue(kSiteApplyJob, Json{{"site_id", id}}, eo));
    return Operation{job.id, id};
  }

  std::mutex& SiteLock(const std::string& id) {
    std::lock_guard lock(locks_mu_);
    auto& m = locks_[id];
    if (!m) m = std::make_unique<std::mutex>();
    return *m;
  }

  // `also` runs in the same write transaction (e.g. to record a domain event with the change).
  Status SetState(const std::string& id, SiteState s, const std::string& error,
                  const std::string& host = "", const std::string& docroot = "",
                  const std::function<Status(SQLite::Database&)>& also = {}) {
    const int64_t now = core::ToUnixMicros(d_.clock->Now());
    return d_.db->Write([&](SQLite::Database& db) -> Status {
      SQLite::Statement u(db, "UPDATE prov_sites SET state=?, last_error=?, host_public_id=CASE WHEN ?='' THEN"
                              " host_public_id ELSE ? END, document_root=CASE WHEN ?='' THEN document_root"
                              " ELSE ? END, updated_at=? WHERE public_id=?");
      u.bind(1, std::string(SiteStateName(s)));
      u.bind(2, error);
      u.bind(3, host);
      u.bind(4, host);
      u.bind(5, docroot);
      u.bind(6, docroot);
      u.bind(7, now);
      u.bind(8, id);
      u.exec();
      return also ? also(db) : core::Ok();
    });
  }

  // service.provisioned / service.failed for `row`'s site, recorded in the caller's transaction.
  std::function<Status(SQLite::Database&)> ServiceEvent(const SiteRow& row, std::string type,
                                                        const std::string& error = "") {
    return [this, &row, type = std::move(type), error](SQLite::Database& db) -> Status {
      Json data{{"service", "site"}, {"id", row.site.id}, {"domain", row.site.domain}};
      if (!error.empty()) data["error"] = error;
      return core::RecordEventInTx(*d_.jobs, db, type, row.site.organization_id, data,
                                   type + ":" + row.site.id);
    };
  }

  Result<Json> HandleApply(core::JobContext& ctx) {
    const core::Job& job = ctx.job();
    HP_ASSIGN_OR_RETURN(std::string id, core::GetString(job.payload, "site_id"));
    std::lock_guard site_lock(SiteLock(id));  // one apply per site at a time in this process
    HP_ASSIGN_OR_RETURN(SiteRow row, Load(job.organization_id, id));
    if (row.site.state == SiteState::kTerminated) return Json{{"site_id", id}, {"state", "terminated"}};
    const SiteState before = row.site.state;
    Status st = row.desired == SiteState::kTerminated ? Terminate(ctx, row) : Converge(ctx, row);
    if (st) {
      const std::string& org = row.site.organization_id;
      if (row.desired == SiteState::kTerminated) {
        Notify({SiteEvent::Kind::kTerminated, org, id, row.site.domain});
      } else {
        if (row.desired == SiteState::kActive &&
            (before == SiteState::kProvisioning || before == SiteState::kFailed))
          Notify({SiteEvent::Kind::kActivated, org, id, row.site.domain});
        if (job.payload.contains("domain_added"))
          Notify({SiteEvent::Kind::kDomainAdded, org, id, job.payload.value("domain_added", "")});
        if (job.payload.contains("domain_removed"))
          Notify({SiteEvent::Kind::kDomainRemoved, org, id, job.payload.value("domain_removed", "")});
      }
      return Json{{"site_id", id}, {"state", SiteStateName(row.desired)}};
    }
    if (job.attempts >= job.max_attempts || IsPermanent(st.error().code))
      (void)SetState(id, SiteState::kFailed, st.error().detail, "", "",
                     before == SiteState::kProvisioning
                         ? ServiceEvent(row, "service.failed", st.error().detail)
                         : std::function<Status(SQLite::Database&)>{});
    return Fail(st.error());
  }

  Status Converge(core::JobContext& ctx, SiteRow& row) {
    Site& s = row.site;
    ctx.Progress(Json{{"step", "place"}, {"done", 1}, {"total", 4}});
    PlacementRequest pr;
    pr.consumer_id = s.id;
    pr.organization_id = s.organization_id;
    pr.kind = HostKind::kSharedWeb;
    pr.zone = row.zone;
    pr.resources = {0, 0, (s.quota_mib + 1023) / 1024};
    HP_ASSIGN_OR_RETURN(Claim claim, d_.placer->Place(pr));
    HP_ASSIGN_OR_RETURN(Host host, d_.inventory->GetHost(claim.host_id));
    if (host.spec.web_root.empty())
      return Fail(ErrorCode::kInvalidArgument, "shared-web host " + host.spec.name + " has no web_root");
    const fs::path home = fs::path(host.spec.web_root) / s.system_user;
    const fs::path docroot = home / "public_html";

    ctx.Progress(Json{{"step", "user"}, {"done", 2}, {"total", 4}});
    HP_TRY(d_.accounts->EnsureUser(s.system_user, home.string()));
    std::error_code ec;
    fs::create_directories(docroot, ec);
    if (ec) return Fail(ErrorCode::kInternal, "cannot create " + docroot.string() + ": " + ec.message());
    if (passwd* pw = getpwnam(s.system_user.c_str())) {
      for (const fs::path& p : {home, docroot}) {
        if (chown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0)
          return Fail(ErrorCode::kInternal, "cannot chown " + p.string());
        fs::permissions(p, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec, ec);
      }
    }

    ctx.Progress(Json{{"step", "web"}, {"done", 3}, {"total", 4}});
    HP_TRY(d_.web->ApplySite(ConfigFor(row, docroot.string())));

    ctx.Progress(Json{{"step", "finish"}, {"done", 4}, {"total", 4}});
    // The first time the site comes up (also after an earlier failed attempt) it is provisioned.
    const bool first_up = row.desired == SiteState::kActive &&
                          (s.state == SiteState::kProvisioning || s.state == SiteState::kFailed);
    return SetState(s.id, row.desired, "", host.id, docroot.string(),
                    first_up ? ServiceEvent(row, "service.provisioned")
                             : std::function<Status(SQLite::Database&)>{});
  }

  Status Terminate(core::JobContext& ctx, SiteRow& row) {
    Site& s = row.site;
    ctx.Progress(Json{{"step", "web"}, {"done", 1}, {"total", 3}});
    HP_TRY(d_.web->RemoveSite(s.id));
    ctx.Progress(Json{{"step", "user"}, {"done", 2}, {"total", 3}});
    HP_TRY(d_.accounts->RemoveUser(s.system_user));
    if (!s.document_root.empty()) {
      std::error_code ec;
      fs::remove_all(fs::path(s.document_root).parent_path(), ec);
      if (ec) return Fail(ErrorCode::kInternal, "cannot remove files of " + s.id + ": " + ec.message());
    }
    ctx.Progress(Json{{"step", "release"}, {"done", 3}, {"total", 3}});
    HP_TRY(d_.placer->Release(s.id));
    return SetState(s.id, SiteState::kTerminated, "");
  }

  SharedHostingDeps d_;
  std::mutex listeners_mu_;
  std::vector<std::function<void(const SiteEvent&)>> listeners_;
  std::mutex locks_mu_;
  std::map<std::string, std::unique_ptr<std::mutex>> locks_;
};

}  // namespace

Result<std::unique_ptr<SharedHostingService>> SharedHostingService::Create(const SharedHostingDeps& d) {
  if (!d.db || !d.clock || !d.jobs || !d.ids || !d.inventory || !d.placer || !d.web || !d.accounts)
    return Fail(ErrorCode::kInvalidArgument, "SharedHostingService needs every dependency");
  return std::unique_ptr<SharedHostingService>(new Service(d));
}

}  // namespace hp::provisioning
