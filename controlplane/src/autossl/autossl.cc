// AutoSSL service (see autossl.h).
#include "autossl/autossl.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <cctype>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "hp/acme/client.h"
#include "hp/core/openssl.h"
#include "hp/provisioning/shared_hosting.h"

namespace hp::cp::autossl {

namespace {

namespace fs = std::filesystem;
namespace ac = hp::acme::client;
namespace prov = hp::provisioning;
using core::ErrorCode;
using core::Fail;
using core::Json;
using core::Result;
using core::Status;

int64_t UnixSeconds(const core::Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
}

std::string CertAd(const std::string& site_id, const std::string& domain) {
  return "autossl:cert:" + site_id + ":" + domain;
}

int64_t NotAfter(const std::string& chain_pem) {
  auto cert = core::ossl::ReadCertificatePem(chain_pem);
  if (!cert) return 0;
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert->get()), &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

CertificateRecord FromRow(SQLite::Statement& q) {
  CertificateRecord r;
  r.organization_id = q.getColumn(0).getString();
  r.site_id = q.getColumn(1).getString();
  r.domain = q.getColumn(2).getString();
  r.status = q.getColumn(3).getString();
  r.last_error = q.getColumn(4).getString();
  r.certificate_pem = q.getColumn(5).getString();
  r.not_after = q.getColumn(6).isNull() ? 0 : q.getColumn(6).getInt64();
  r.issued_at = q.getColumn(7).isNull() ? 0 : q.getColumn(7).getInt64();
  r.updated_at = q.getColumn(8).getInt64();
  return r;
}
constexpr const char* kColumns =
    "organization_id, site_id, domain, status, last_error, certificate_pem, not_after, "
    "issued_at, updated_at";

bool SiteHasDomain(const prov::Site& site, const std::string& domain) {
  return domain == site.domain || domain == "www." + site.domain;
}

}  // namespace

Json CertificateRecord::ToJson() const {
  auto ts = [](int64_t s) -> Json { return s == 0 ? Json(nullptr) : Json(s); };
  return {{"site_id", site_id},
          {"domain", domain},
          {"status", status},
          {"last_error", last_error.empty() ? Json(nullptr) : Json(last_error)},
          {"not_after", ts(not_after)},
          {"issued_at", ts(issued_at)},
          {"updated_at", updated_at}};
}

AutoSsl::AutoSsl(core::Database& db, core::Sealer& sealer, const core::Clock& clock,
                 core::JobQueue& jobs, core::HttpClient& http, prov::SharedHostingService* sites,
                 Options options)
    : db_(db),
      sealer_(sealer),
      clock_(clock),
      jobs_(jobs),
      http_(http),
      sites_(sites),
      options_(std::move(options)) {}

Result<CertificateRecord> AutoSsl::Request(const std::string& org, const std::string& site_id,
                                           const std::string& domain_in) {
  if (sites_ == nullptr) return Fail(ErrorCode::kUnavailable, "shared hosting is not mounted");
  std::string domain = domain_in;
  for (char& c : domain) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  HP_ASSIGN_OR_RETURN(prov::Site site, sites_->Get(org, site_id));
  if (!SiteHasDomain(site, domain)) {
    return core::FailField(ErrorCode::kInvalidArgument, "domain",
                           domain + " is not a name of site " + site_id);
  }
  const int64_t now = UnixSeconds(clock_);
  HP_TRY(db_.Write([&](SQLite::Database& tx) -> Status {
    SQLite::Statement q(tx,
                        "INSERT INTO autossl_certificates (organization_id, site_id, domain, "
                        "status, updated_at) VALUES (?, ?, ?, 'pending', ?) "
                        "ON CONFLICT (site_id, domain) DO UPDATE SET status = 'pending', "
                        "last_error = '', updated_at = excluded.updated_at");
    q.bind(1, org);
    q.bind(2, site_id);
    q.bind(3, domain);
    q.bind(4, now);
    q.exec();
    core::EnqueueOptions eo;
    eo.organization_id = org;
    HP_TRY(jobs_.EnqueueInTx(
        tx, kIssueJob, {{"organization_id", org}, {"site_id", site_id}, {"domain", domain}}, eo));
    return core::Ok();
  }));
  return Get(site_id, domain);
}

Result<std::vector<CertificateRecord>> AutoSsl::List(const std::string& org) {
  return db_.Read([&](SQLite::Database& d) -> Result<std::vector<CertificateRecord>> {
    SQLite::Statement q(d, std::string("SELECT ") + kColumns +
                               " FROM autossl_certificates WHERE organization_id = ? "
                               "ORDER BY domain, site_id");
    q.bind(1, org);
    std::vector<CertificateRecord> out;
    while (q.executeStep()) out.push_back(FromRow(q));
    return out;
  });
}

Result<CertificateRecord> AutoSsl::Get(const std::string& site_id, const std::string& domain) {
  return db_.Read([&](SQLite::Database& d) -> Result<CertificateRecord> {
    SQLite::Statement q(d, std::string("SELECT ") + kColumns +
                               " FROM autossl_certificates WHERE site_id = ? AND domain = ?");
    q.bind(1, site_id);
    q.bind(2, domain);
    if (!q.executeStep()) return Fail(ErrorCode::kNotFound, "no certificate for " + domain);
    return FromRow(q);
  });
}

Result<std::string> AutoSsl::PrivateKeyPem(const std::string& site_id, const std::string& domain) {
  HP_ASSIGN_OR_RETURN(std::string sealed, db_.Read([&](SQLite::Database& d) -> Result<std::string> {
    SQLite::Statement q(d,
                        "SELECT key_sealed FROM autossl_certificates "
                        "WHERE site_id = ? AND domain = ?");
    q.bind(1, site_id);
    q.bind(2, domain);
    if (!q.executeStep() || q.getColumn(0).getString().empty()) {
      return Fail(ErrorCode::kNotFound, "no key for " + domain);
    }
    return q.getColumn(0).getString();
  }));
  HP_ASSIGN_OR_RETURN(core::Secret key, sealer_.Open(sealed, CertAd(site_id, domain)));
  return std::string(key.Reveal());
}

Status AutoSsl::SetStatus(const std::string& site_id, const std::string& domain,
                          const std::string& status, const std::string& error) {
  const int64_t now = UnixSeconds(clock_);
  return db_.Write([&](SQLite::Database& tx) -> Status {
    SQLite::Statement q(tx,
                        "UPDATE autossl_certificates SET status = ?, last_error = ?, "
                        "updated_at = ? WHERE site_id = ? AND domain = ?");
    q.bind(1, status);
    q.bind(2, error);
    q.bind(3, now);
    q.bind(4, site_id);
    q.bind(5, domain);
    q.exec();
    return core::Ok();
  });
}

Result<AutoSsl::Account> AutoSsl::LoadOrCreateAccount() {
  const std::string ad = "autossl:account:" + options_.directory_url;
  // Generate outside the write lock; the INSERT keeps the first key when two jobs race.
  HP_ASSIGN_OR_RETURN(core::ossl::PKey fresh, core::ossl::GenerateEcKey("P-256"));
  HP_ASSIGN_OR_RETURN(std::string fresh_pem, core::ossl::PrivateKeyToPem(fresh.get()));
  HP_ASSIGN_OR_RETURN(std::string fresh_sealed, sealer_.Seal(fresh_pem, ad));
  const int64_t now = UnixSeconds(clock_);
  struct Row {
    std::string sealed, url;
  };
  HP_ASSIGN_OR_RETURN(Row row, db_.Write([&](SQLite::Database& tx) -> Result<Row> {
    SQLite::Statement ins(tx,
                          "INSERT OR IGNORE INTO autossl_accounts (directory_url, key_sealed, "
                          "created_at) VALUES (?, ?, ?)");
    ins.bind(1, options_.directory_url);
    ins.bind(2, fresh_sealed);
    ins.bind(3, now);
    ins.exec();
    SQLite::Statement q(tx,
                        "SELECT key_sealed, account_url FROM autossl_accounts "
                        "WHERE directory_url = ?");
    q.bind(1, options_.directory_url);
    if (!q.executeStep()) return Fail(ErrorCode::kInternal, "autossl account row vanished");
    return Row{q.getColumn(0).getString(), q.getColumn(1).getString()};
  }));
  HP_ASSIGN_OR_RETURN(core::Secret pem, sealer_.Open(row.sealed, ad));
  return Account{std::string(pem.Reveal()), row.url};
}

Status AutoSsl::SaveAccountUrl(const std::string& url) {
  return db_.Write([&](SQLite::Database& tx) -> Status {
    SQLite::Statement q(tx, "UPDATE autossl_accounts SET account_url = ? WHERE directory_url = ?");
    q.bind(1, url);
    q.bind(2, options_.directory_url);
    q.exec();
    return core::Ok();
  });
}

Result<Json> AutoSsl::RunIssue(core::JobContext& ctx) {
  const Json& p = ctx.job().payload;
  const std::string org = p.value("organization_id", "");
  const std::string site_id = p.value("site_id", "");
  const std::string domain = p.value("domain", "");
  if (sites_ == nullptr) return Fail(ErrorCode::kUnavailable, "shared hosting is not mounted");
  auto site = sites_->Get(org, site_id);
  if (!site) {
    (void)SetStatus(site_id, domain, "failed", site.error().ToString());
    return Fail(site.error());
  }
  if (site->state != prov::SiteState::kActive || site->document_root.empty()) {
    const std::string why =
        "site " + site_id + " is " + std::string(prov::SiteStateName(site->state)) + ", not active";
    (void)SetStatus(site_id, domain, "failed", why);
    return Fail(ErrorCode::kUnavailable, why);
  }
  HP_TRY(SetStatus(site_id, domain, "issuing", ""));
  ctx.Progress({{"step", "account"}});

  auto issue = [&]() -> Result<Json> {
    HP_ASSIGN_OR_RETURN(Account account, LoadOrCreateAccount());
    HP_ASSIGN_OR_RETURN(core::ossl::PKey account_key,
                        core::ossl::ReadPrivateKeyPem(account.key_pem));
    HP_ASSIGN_OR_RETURN(
        auto client,
        ac::AcmeClient::Create(
            http_, {.directory_url = options_.directory_url, .ca_file = options_.ca_file},
            std::move(account_key)));
    // new-account with an existing key answers the same account, so registering each time is
    // idempotent; it also notices an account deactivated on the server.
    HP_ASSIGN_OR_RETURN(std::string kid, client->Register(options_.contact));
    if (kid != account.url) HP_TRY(SaveAccountUrl(kid));

    ctx.Progress({{"step", "order"}});
    const std::string challenge_dir = site->document_root + "/.well-known/acme-challenge";
    ac::Http01Presenter presenter{
        .present = [&](const std::string& token, const std::string& ka) -> Status {
          std::error_code ec;
          fs::create_directories(challenge_dir, ec);
          if (ec)
            return Fail(ErrorCode::kInternal,
                        "cannot create " + challenge_dir + ": " + ec.message());
          const std::string path = challenge_dir + "/" + token;
          std::ofstream f(path, std::ios::binary | std::ios::trunc);
          f << ka;
          if (!f) return Fail(ErrorCode::kInternal, "cannot write " + path);
          fs::permissions(path,
                          fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                              fs::perms::others_read,
                          ec);
          return core::Ok();
        },
        .cleanup =
            [&](const std::string& token) {
              std::error_code ec;
              fs::remove(challenge_dir + "/" + token, ec);
            }};
    HP_ASSIGN_OR_RETURN(core::ossl::PKey cert_key, core::ossl::GenerateEcKey("P-256"));
    HP_ASSIGN_OR_RETURN(ac::IssuedCertificate issued,
                        ac::ObtainCertificate(*client, {domain}, presenter, cert_key.get(),
                                              options_.issue_timeout));
    HP_ASSIGN_OR_RETURN(std::string key_pem, core::ossl::PrivateKeyToPem(cert_key.get()));
    HP_ASSIGN_OR_RETURN(std::string key_sealed, sealer_.Seal(key_pem, CertAd(site_id, domain)));
    const int64_t now = UnixSeconds(clock_);
    const int64_t not_after = NotAfter(issued.chain_pem);
    HP_TRY(db_.Write([&](SQLite::Database& tx) -> Status {
      SQLite::Statement q(tx,
                          "UPDATE autossl_certificates SET status = 'valid', last_error = '', "
                          "certificate_pem = ?, key_sealed = ?, not_after = ?, issued_at = ?, "
                          "updated_at = ? WHERE site_id = ? AND domain = ?");
      q.bind(1, issued.chain_pem);
      q.bind(2, key_sealed);
      q.bind(3, not_after);
      q.bind(4, now);
      q.bind(5, now);
      q.bind(6, site_id);
      q.bind(7, domain);
      q.exec();
      return core::Ok();
    }));
    return Json{{"domain", domain},
                {"order_url", issued.order_url},
                {"certificate_url", issued.certificate_url},
                {"not_after", not_after}};
  };
  auto out = issue();
  if (!out) (void)SetStatus(site_id, domain, "failed", out.error().ToString());
  return out;
}

void AutoSsl::RegisterHandlers(core::WorkerPool& workers) {
  workers.Register(kIssueJob, [this](core::JobContext& ctx) { return RunIssue(ctx); });
}

}  // namespace hp::cp::autossl
