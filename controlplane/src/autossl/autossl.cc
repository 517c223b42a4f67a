// AutoSSL service (see autossl.h).
#include "autossl/autossl.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <fcntl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "hp/acme/client.h"
#include "hp/core/encoding.h"
#include "hp/core/log.h"
#include "hp/core/random.h"
#include "hp/dns/zone.h"
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

int64_t NotBefore(const std::string& chain_pem) {
  auto cert = core::ossl::ReadCertificatePem(chain_pem);
  if (!cert) return 0;
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notBefore(cert->get()), &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::string SerialHex(const std::string& chain_pem) {
  auto cert = core::ossl::ReadCertificatePem(chain_pem);
  if (!cert) return "";
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert->get()), nullptr);
  if (bn == nullptr) return "";
  char* hex = BN_bn2hex(bn);
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Writes `data` to `path` atomically with `mode` (the file never exists with wider permissions).
Status WriteFileMode(const fs::path& path, const std::string& data, mode_t mode) {
  const std::string tmp = path.string() + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Fail(ErrorCode::kInternal, "cannot create " + tmp);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return Fail(ErrorCode::kInternal, "cannot write " + tmp);
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Fail(ErrorCode::kInternal, "cannot rename " + tmp);
  }
  return core::Ok();
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
  r.serial = q.getColumn(9).getString();
  r.ari_id = q.getColumn(10).getString();
  r.renew_at = q.getColumn(11).getInt64();
  r.failures = q.getColumn(12).getInt64();
  r.next_attempt_at = q.getColumn(13).getInt64();
  r.deployed_at = q.getColumn(14).getInt64();
  r.source = q.getColumn(15).getString();
  r.revoked_serial = q.getColumn(16).getString();
  r.revoked_reason = q.getColumn(17).getString();
  r.revoked_at = q.getColumn(18).getInt64();
  r.bundled_with = q.getColumn(19).getString();
  return r;
}
constexpr const char* kColumns =
    "organization_id, site_id, domain, status, last_error, certificate_pem, not_after, "
    "issued_at, updated_at, serial, ari_id, renew_at, failures, next_attempt_at, deployed_at, source, "
    "revoked_serial, revoked_reason, revoked_at, bundled_with";

bool SiteHasDomain(const prov::Site& site, const std::string& domain) {
  const auto names = site.Names();
  return std::find(names.begin(), names.end(), domain) != names.end();
}

// The name whose certificate also covers `domain`: "example.com" for "www.example.com" when the
// site has both; empty otherwise.
std::string BundleParent(const prov::Site& site, const std::string& domain) {
  if (domain.rfind("www.", 0) != 0 || domain.size() <= 4) return "";
  const std::string parent = domain.substr(4);
  return SiteHasDomain(site, parent) ? parent : "";
}

}  // namespace

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
  // www.<name> with <name> on the site: one certificate for both, ordered through <name> (unless
  // <name> carries a certificate the customer uploaded).
  const std::string requested = domain;
  if (const std::string parent = BundleParent(site, domain); !parent.empty()) {
    auto p = Get(site_id, parent);
    if (!p || p->source != "upload") domain = parent;
  }
  HP_TRY(db_.Write([&](SQLite::Database& tx) -> Status {
    // Paced like renewals: beyond the order budget the request waits for the renewal scan.
    if (OrderBudget(tx) <= 0) {
      SQLite::Statement q(tx,
                          "INSERT INTO autossl_certificates (organization_id, site_id, domain, "
                          "status, updated_at) VALUES (?, ?, ?, 'waiting', ?) "
                          "ON CONFLICT (site_id, domain) DO UPDATE SET status = 'waiting', "
                          "source = 'acme', updated_at = excluded.updated_at");
      q.bind(1, org);
      q.bind(2, site_id);
      q.bind(3, domain);
      q.bind(4, UnixSeconds(clock_));
      q.exec();
      return core::Ok();
    }
    return Enqueue(tx, org, site_id, domain, false);
  }));
  if (requested != domain) {
    // The www row shows the bundle's progress until the issuance records it.
    HP_TRY(db_.Write([&](SQLite::Database& tx) -> Status {
      SQLite::Statement q(tx,
                          "INSERT INTO autossl_certificates (organization_id, site_id, domain, "
                          "status, updated_at, bundled_with) VALUES (?, ?, ?, 'pending', ?, ?) "
                          "ON CONFLICT (site_id, domain) DO UPDATE SET status = 'pending', "
                          "source = 'acme', bundled_with = excluded.bundled_with, "
                          "updated_at = excluded.updated_at");
      q.bind(1, org);
      q.bind(2, site_id);
      q.bind(3, requested);
      q.bind(4, UnixSeconds(clock_));
      q.bind(5, domain);
      q.exec();
      return core::Ok();
    }));
  }
  return Get(site_id, requested);
}

int64_t AutoSsl::OrderBudget(SQLite::Database& tx) {
  const int64_t now = UnixSeconds(clock_);
  // Orders placed in the last 3 hours plus the ones queued now stay under the limit.
  SQLite::Statement c(tx, "SELECT count(*) FROM autossl_orders WHERE created_at > ?");
  c.bind(1, now - 3 * 3600);
  c.executeStep();
  int64_t used = c.getColumn(0).getInt64();
  SQLite::Statement inflight(tx, "SELECT count(*) FROM autossl_certificates WHERE status IN "
                                 "('pending', 'issuing')");
  inflight.executeStep();
  used += inflight.getColumn(0).getInt64();
  return std::max<int64_t>(0, options_.max_orders_per_3h - used);
}

Status AutoSsl::Enqueue(SQLite::Database& tx, const std::string& org, const std::string& site_id,
                        const std::string& domain, bool renewal) {
  const int64_t now = UnixSeconds(clock_);
  SQLite::Statement q(tx,
                      "INSERT INTO autossl_certificates (organization_id, site_id, domain, "
                      "status, updated_at) VALUES (?, ?, ?, 'pending', ?) "
                      "ON CONFLICT (site_id, domain) DO UPDATE SET status = 'pending', "
                      "source = 'acme', updated_at = excluded.updated_at");
  q.bind(1, org);
  q.bind(2, site_id);
  q.bind(3, domain);
  q.bind(4, now);
  q.exec();
  core::EnqueueOptions eo;
  eo.organization_id = org;
  eo.max_attempts = 1;  // retries come from the renewal scan, with backoff
  HP_TRY(jobs_.EnqueueInTx(tx, kIssueJob,
                           {{"organization_id", org},
                            {"site_id", site_id},
                            {"domain", domain},
                            {"renewal", renewal}},
                           eo));
  return core::Ok();
}

namespace {

// The certificates of a PEM bundle, in order.
std::vector<core::ossl::X509Ptr> ReadChain(const std::string& pem) {
  std::vector<core::ossl::X509Ptr> out;
  const std::string begin = "-----BEGIN CERTIFICATE-----", end = "-----END CERTIFICATE-----";
  size_t pos = 0;
  while ((pos = pem.find(begin, pos)) != std::string::npos) {
    const size_t e = pem.find(end, pos);
    if (e == std::string::npos) break;
    auto c = core::ossl::ReadCertificatePem(std::string_view(pem).substr(pos, e + end.size() - pos));
    if (!c) return {};
    out.push_back(std::move(*c));
    pos = e + end.size();
  }
  return out;
}

std::vector<std::string> DnsSans(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_DNS) continue;
    std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                  static_cast<size_t>(ASN1_STRING_length(n->d.dNSName)));
    for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.push_back(std::move(v));
  }
  GENERAL_NAMES_free(names);
  return out;
}

// The leaf's issuer in a few words: its CN, else its O.
std::string IssuerName(X509* cert) {
  X509_NAME* n = X509_get_issuer_name(cert);
  for (int nid : {NID_commonName, NID_organizationName}) {
    const int i = X509_NAME_get_index_by_NID(n, nid, -1);
    if (i < 0) continue;
    ASN1_STRING* v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)),
                       static_cast<size_t>(ASN1_STRING_length(v)));
  }
  return "";
}

// BR 7.2.2 reason names a subscriber may give, with their RFC 5280 codes.
const std::map<std::string, int>& RevocationReasons() {
  static const std::map<std::string, int> k = {{"unspecified", 0},
                                               {"keyCompromise", 1},
                                               {"affiliationChanged", 3},
                                               {"superseded", 4},
                                               {"cessationOfOperation", 5}};
  return k;
}

}  // namespace

Json CertificateRecord::ToJson(int64_t now) const {
  auto ts = [](int64_t s) -> Json { return s == 0 ? Json(nullptr) : Json(s); };
  Json names = Json::array();
  Json issuer = nullptr;
  if (!certificate_pem.empty()) {
    if (auto leaf = core::ossl::ReadCertificatePem(certificate_pem)) {
      for (auto& n : DnsSans(leaf->get())) names.push_back(std::move(n));
      issuer = IssuerName(leaf->get());
    }
  }
  Json days = nullptr;
  if (not_after != 0 && now != 0) {
    // Whole days left, rounded down; negative once expired.
    const int64_t left = not_after - now;
    days = left >= 0 ? left / 86400 : -((-left + 86399) / 86400);
  }
  Json revoked = nullptr;
  if (!revoked_serial.empty())
    revoked = {{"serial", revoked_serial}, {"reason", revoked_reason}, {"revoked_at", ts(revoked_at)}};
  return {{"site_id", site_id},
          {"domain", domain},
          {"status", status},
          {"last_error", last_error.empty() ? Json(nullptr) : Json(last_error)},
          {"not_after", ts(not_after)},
          {"expires_in_days", days},
          {"issued_at", ts(issued_at)},
          {"updated_at", updated_at},
          {"serial", serial.empty() ? Json(nullptr) : Json(serial)},
          {"issuer", issuer},
          {"names", names},
          {"renew_at", ts(renew_at)},
          {"failures", failures},
          {"next_attempt_at", ts(next_attempt_at)},
          {"deployed", deployed_at != 0},
          {"source", source},
          {"auto_renew", source != "upload"},
          {"revoked", revoked},
          {"bundled_with", bundled_with.empty() ? Json(nullptr) : Json(bundled_with)}};
}

Result<std::string> AutoSsl::ChainPem(const std::string& org, const std::string& site_id,
                                      const std::string& domain) {
  auto rec = Get(site_id, domain);
  if (!rec || rec->organization_id != org)
    return Fail(ErrorCode::kNotFound, "no certificate for " + domain + " on site " + site_id);
  if (rec->certificate_pem.empty())
    return Fail(ErrorCode::kNotFound, "no certificate has been issued for " + domain + " yet (" +
                                          rec->status + ")");
  return rec->certificate_pem;
}

Result<core::Job> AutoSsl::RequestRevoke(const std::string& org, const std::string& site_id,
                                         const std::string& domain, const std::string& reason) {
  auto rec = Get(site_id, domain);
  if (!rec || rec->organization_id != org)
    return Fail(ErrorCode::kNotFound, "no certificate for " + domain + " on site " + site_id);
  // www.<name> bundled into <name>'s certificate: that certificate is the one revoked.
  if (!rec->bundled_with.empty() && rec->bundled_with != domain)
    return RequestRevoke(org, site_id, rec->bundled_with, reason);
  if (!RevocationReasons().contains(reason)) {
    return core::FailField(ErrorCode::kInvalidArgument, "reason",
                           "must be one of unspecified, keyCompromise, affiliationChanged, "
                           "superseded, cessationOfOperation");
  }
  if (rec->source == "upload") {
    std::string issuer = "its issuer";
    if (auto leaf = core::ossl::ReadCertificatePem(rec->certificate_pem))
      issuer = IssuerName(leaf->get());
    return Fail(ErrorCode::kConflict,
                "this certificate was uploaded and was issued by " + issuer +
                    ", not by us: revoke it with that certificate authority, then upload its "
                    "replacement or request an AutoSSL certificate for " + domain);
  }
  if (rec->certificate_pem.empty() || rec->status == "revoking")
    return Fail(ErrorCode::kConflict, "the certificate of " + domain + " is " + rec->status +
                                          ": there is no issued certificate to revoke");
  if (rec->not_after <= UnixSeconds(clock_))
    return Fail(ErrorCode::kConflict, "the certificate of " + domain + " has expired; an expired "
                                      "certificate cannot be revoked");
  if (rec->serial == rec->revoked_serial)
    return Fail(ErrorCode::kConflict, "the certificate of " + domain + " (serial " + rec->serial +
                                          ") is already revoked; its replacement is " + rec->status);
  core::Job job;
  HP_TRY(db_.Write([&](SQLite::Database& tx) -> Status {
    SQLite::Statement q(tx, "UPDATE autossl_certificates SET status = 'revoking', updated_at = ? "
                            "WHERE site_id = ? AND domain = ? AND organization_id = ?");
    q.bind(1, UnixSeconds(clock_));
    q.bind(2, site_id);
    q.bind(3, domain);
    q.bind(4, org);
    q.exec();
    core::EnqueueOptions eo;
    eo.organization_id = org;
    eo.max_attempts = 5;
    HP_ASSIGN_OR_RETURN(job, jobs_.EnqueueInTx(tx, kRevokeJob,
                                               {{"organization_id", org},
                                                {"site_id", site_id},
                                                {"domain", domain},
                                                {"serial", rec->serial},
                                                {"reason", reason},
                                                {"reissue", true}},
                                               eo));
    return core::Ok();
  }));
  return job;
}

Result<std::vector<CertificateRecord>> AutoSsl::Upload(const std::string& org,
                                                       const std::string& site_id,
                                                       const std::string& certificate_pem,
                                                       const std::string& private_key_pem) {
  if (sites_ == nullptr) return Fail(ErrorCode::kUnavailable, "shared hosting is not mounted");
  HP_ASSIGN_OR_RETURN(prov::Site site, sites_->Get(org, site_id));
  auto bad_cert = [](const std::string& why) {
    return core::FailField(ErrorCode::kInvalidArgument, "certificate", why);
  };
  auto chain = ReadChain(certificate_pem);
  if (chain.empty()) return bad_cert("is not a PEM certificate chain (leaf first)");
  auto key = core::ossl::ReadPrivateKeyPem(private_key_pem);
  if (!key) {
    return core::FailField(ErrorCode::kInvalidArgument, "private_key",
                           "is not an unencrypted PEM private key");
  }
  X509* leaf = chain.front().get();
  if (X509_check_private_key(leaf, key->get()) != 1) {
    (void)core::ossl::DrainErrors();
    return core::FailField(ErrorCode::kInvalidArgument, "private_key",
                           "does not belong to the first (leaf) certificate");
  }
  for (size_t i = 0; i + 1 < chain.size(); ++i) {
    X509* child = chain[i].get();
    X509* parent = chain[i + 1].get();
    if (X509_check_issued(parent, child) != X509_V_OK ||
        X509_verify(child, X509_get0_pubkey(parent)) != 1) {
      (void)core::ossl::DrainErrors();
      return bad_cert("certificate " + std::to_string(i + 1) + " of the chain is not issued by "
                      "certificate " + std::to_string(i + 2) + " (give the chain in order, leaf "
                      "first, with every intermediate)");
    }
  }
  time_t now = static_cast<time_t>(UnixSeconds(clock_));
  if (X509_cmp_time(X509_get0_notAfter(leaf), &now) <= 0)
    return bad_cert("the leaf certificate has expired");
  if (X509_cmp_time(X509_get0_notBefore(leaf), &now) > 0)
    return bad_cert("the leaf certificate is not valid yet");
  const auto names = DnsSans(leaf);
  if (names.empty()) return bad_cert("the leaf certificate names no DNS name (subjectAltName)");
  for (const auto& n : names) {
    if (!SiteHasDomain(site, n))
      return bad_cert(n + " is named by the certificate but is not a name of site " + site_id);
  }
  std::string chain_pem;
  for (const auto& c : chain) {
    HP_ASSIGN_OR_RETURN(std::string p, core::ossl::CertificateToPem(c.get()));
    chain_pem += p;
  }
  HP_ASSIGN_OR_RETURN(std::string key_pem, core::ossl::PrivateKeyToPem(key->get()));
  const int64_t not_after = NotAfter(chain_pem);
  const std::string serial = SerialHex(chain_pem);
  std::vector<CertificateRecord> out;
  for (const auto& domain : names) {
    HP_ASSIGN_OR_RETURN(std::string key_sealed, sealer_.Seal(key_pem, CertAd(site_id, domain)));
    HP_TRY(Deploy(org, site_id, domain, chain_pem, key_pem));
    const bool deployed = !sites_->TlsDir(site_id, domain).empty();
    const int64_t at = UnixSeconds(clock_);
    HP_TRY(db_.Write([&](SQLite::Database& tx) -> Status {
      SQLite::Statement q(
          tx,
          "INSERT INTO autossl_certificates (organization_id, site_id, domain, status, "
          "last_error, certificate_pem, key_sealed, not_after, issued_at, updated_at, serial, "
          "ari_id, renew_at, failures, next_attempt_at, expiring_alerted_at, deployed_at, source) "
          "VALUES (?, ?, ?, 'valid', '', ?, ?, ?, ?, ?, ?, '', 0, 0, 0, 0, ?, 'upload') "
          "ON CONFLICT (site_id, domain) DO UPDATE SET status = 'valid', last_error = '', "
          "certificate_pem = excluded.certificate_pem, key_sealed = excluded.key_sealed, "
          "not_after = excluded.not_after, issued_at = excluded.issued_at, "
          "updated_at = excluded.updated_at, serial = excluded.serial, ari_id = '', "
          "renew_at = 0, failures = 0, next_attempt_at = 0, expiring_alerted_at = 0, "
          "deployed_at = excluded.deployed_at, source = 'upload'");
      q.bind(1, org);
      q.bind(2, site_id);
      q.bind(3, domain);
      q.bind(4, chain_pem);
      q.bind(5, key_sealed);
      q.bind(6, not_after);
      q.bind(7, at);
      q.bind(8, at);
      q.bind(9, serial);
      q.bind(10, deployed ? at : 0);
      q.exec();
      return core::Ok();
    }));
    HP_ASSIGN_OR_RETURN(CertificateRecord rec, Get(site_id, domain));
    out.push_back(std::move(rec));
  }
  return out;
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

namespace {

// The hosted zone that holds `name` (the closest enclosing zone), if any.
std::optional<hp::dns::ZoneContents> ZoneOf(hp::dns::ZoneService& zones, const std::string& name) {
  std::string n = name;
  while (!n.empty()) {
    auto z = zones.LoadByName(n);
    if (z && *z) return std::move(**z);
    auto dot = n.find('.');
    if (dot == std::string::npos) break;
    n = n.substr(dot + 1);
  }
  return std::nullopt;
}

std::string Absolute(const std::string& n) { return n.empty() || n.back() == '.' ? n : n + "."; }

// "0 issue \"ca.example\"" -> {tag, value}.
std::pair<std::string, std::string> ParseCaa(const std::string& data) {
  std::istringstream in(data);
  std::string flags, tag;
  in >> flags >> tag;
  std::string rest;
  std::getline(in, rest);
  auto b = rest.find('"'), e = rest.rfind('"');
  std::string value = (b != std::string::npos && e > b) ? rest.substr(b + 1, e - b - 1) : rest;
  while (!value.empty() && value.front() == ' ') value.erase(0, 1);
  // issuer domain name only (parameters after ';' do not matter here)
  auto semi = value.find(';');
  if (semi != std::string::npos) value = value.substr(0, semi);
  while (!value.empty() && value.back() == ' ') value.pop_back();
  for (char& c : tag) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return {tag, value};
}

}  // namespace

Status AutoSsl::Preflight(const std::string& org, const std::string& document_root,
                          const std::string& domain) {
  const bool wildcard = domain.rfind("*.", 0) == 0;
  const std::string base = wildcard ? domain.substr(2) : domain;
  std::optional<hp::dns::ZoneContents> zone;
  if (zones_ != nullptr) zone = ZoneOf(*zones_, base);
  if (wildcard && (!zone || zone->zone.organization_id != org)) {
    return Fail(ErrorCode::kConflict,
                "a wildcard certificate for " + domain + " needs its DNS zone hosted with us in "
                "this organization (it is validated with a TXT record we publish there)");
  }
  if (zone) {
    // CAA (RFC 8659): the closest name at or above the domain, within the zone, with CAA records.
    std::string n = Absolute(base);
    const std::string apex = Absolute(zone->zone.name);
    for (;;) {
      std::vector<std::pair<std::string, std::string>> caa;
      for (const auto& r : zone->records)
        if (r.type == hp::dns::RecordType::kCAA && Absolute(r.name) == n) caa.push_back(ParseCaa(r.data));
      if (!caa.empty()) {
        const std::string want = wildcard ? "issuewild" : "issue";
        bool has_tag = false, allowed = false;
        std::vector<std::string> named;
        for (const auto& [tag, value] : caa) {
          if (tag != want) continue;
          has_tag = true;
          if (!value.empty()) named.push_back(value);
          for (const auto& id : caa_identities_) allowed |= value == id;
        }
        if (!has_tag && wildcard) {  // issuewild absent: issue applies
          for (const auto& [tag, value] : caa) {
            if (tag != "issue") continue;
            has_tag = true;
            if (!value.empty()) named.push_back(value);
            for (const auto& id : caa_identities_) allowed |= value == id;
          }
        }
        if (has_tag && !allowed) {
          std::string who;
          for (const auto& v : named) who += (who.empty() ? "" : ", ") + v;
          if (who.empty()) who = "no certificate authority";
          const std::string ours = caa_identities_.empty() ? "our CA" : caa_identities_.front();
          return Fail(ErrorCode::kAcmeCaa,
                      "the CAA records of " + n.substr(0, n.size() - 1) + " allow only " + who +
                          " to issue certificates, not us (" + ours + "); add the record 0 " +
                          want + " \"" + ours + "\" or remove the CAA records");
        }
        break;
      }
      if (n == apex) break;
      n = n.substr(n.find('.') + 1);
    }
    // An address: the name itself, a CNAME, or a wildcard covering it.
    if (!wildcard) {
      const std::string abs = Absolute(base);
      const std::string star = "*." + abs.substr(abs.find('.') + 1);
      bool resolves = false;
      for (const auto& r : zone->records) {
        const bool addr = r.type == hp::dns::RecordType::kA || r.type == hp::dns::RecordType::kAAAA ||
                          r.type == hp::dns::RecordType::kCNAME;
        resolves |= addr && (Absolute(r.name) == abs || Absolute(r.name) == star);
      }
      if (!resolves) {
        return Fail(ErrorCode::kAcmeDns,
                    base + " does not resolve: its zone " + zone->zone.name +
                        " has no A, AAAA or CNAME record for it; point it at your site first");
      }
    }
  }
  // /.well-known/acme-challenge/ reachable through the site's vhost on the web node (old nginx
  // workers may answer 404 for a moment after a reload: a few tries).
  if (!wildcard && !web_addr_.empty()) {
    const std::string dir = document_root + "/.well-known/acme-challenge";
    const std::string probe = "preflight-" + core::Base64UrlEncode(core::RandomBytes(9));
    std::error_code ec;
    fs::create_directories(dir, ec);
    {
      std::ofstream f(dir + "/" + probe);
      f << probe;
    }
    fs::permissions(dir + "/" + probe, fs::perms::owner_read | fs::perms::owner_write |
                                           fs::perms::group_read | fs::perms::others_read, ec);
    std::string last;
    bool ok = false;
    int in_a_row = 0;
    for (int i = 0; i < 50 && !ok; ++i) {
      core::HttpClientRequest req;
      req.url = "http://" + base + "/.well-known/acme-challenge/" + probe;
      req.connect_to = web_addr_;
      req.timeout_ms = 3000;
      auto r = http_.Do(req);
      if (r && r->status == 200 && r->body == probe) {
        ok = ++in_a_row >= 3;
      } else {
        in_a_row = 0;
        last = r ? "HTTP " + std::to_string(r->status) : r.error().detail;
      }
      if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    fs::remove(dir + "/" + probe, ec);
    if (!ok) {
      return Fail(ErrorCode::kAcmeConnection,
                  "http://" + base + "/.well-known/acme-challenge/ is not served by the site on "
                  "the web node (" + last + ")");
    }
  }
  return core::Ok();
}

Result<std::unique_ptr<ac::AcmeClient>> AutoSsl::Client() {
  HP_ASSIGN_OR_RETURN(Account account, LoadOrCreateAccount());
  HP_ASSIGN_OR_RETURN(core::ossl::PKey account_key, core::ossl::ReadPrivateKeyPem(account.key_pem));
  HP_ASSIGN_OR_RETURN(
      auto client,
      ac::AcmeClient::Create(http_,
                             {.directory_url = options_.directory_url, .ca_file = options_.ca_file},
                             std::move(account_key)));
  // new-account with an existing key answers the same account, so registering each time is
  // idempotent; it also notices an account deactivated on the server.
  HP_ASSIGN_OR_RETURN(std::string kid, client->Register(options_.contact));
  if (kid != account.url) HP_TRY(SaveAccountUrl(kid));
  return client;
}

Status AutoSsl::Deploy(const std::string& org, const std::string& site_id,
                       const std::string& domain, const std::string& chain_pem,
                       const std::string& key_pem) {
  const std::string dir_s = sites_->TlsDir(site_id, domain);
  if (dir_s.empty()) return core::Ok();  // the web node serves no TLS: nothing to deploy
  // One deploy at a time: `nginx -t` reads every deployed pair, so another name's half-written
  // pair (new key, old chain) must never be visible to it (nginx is serialized anyway).
  std::lock_guard deploy_lock(deploy_mu_);
  const fs::path dir(dir_s);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail(ErrorCode::kInternal, "cannot create " + dir_s + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  fs::permissions(dir.parent_path(), fs::perms::owner_all, ec);
  const fs::path chain = dir / "fullchain.pem", key = dir / "privkey.pem";
  const fs::path chain_prev = dir / "fullchain.pem.prev", key_prev = dir / "privkey.pem.prev";
  const bool had = fs::exists(chain, ec) && fs::exists(key, ec);
  if (had) {
    fs::copy_file(chain, chain_prev, fs::copy_options::overwrite_existing, ec);
    if (!ec) fs::copy_file(key, key_prev, fs::copy_options::overwrite_existing, ec);
    if (ec) return Fail(ErrorCode::kInternal, "cannot keep the previous certificate: " + ec.message());
    fs::permissions(key_prev, fs::perms::owner_read | fs::perms::owner_write, ec);
  }
  // The key is unsealed only to be written to this 0600 file.
  HP_TRY(WriteFileMode(key, key_pem, 0600));
  HP_TRY(WriteFileMode(chain, chain_pem, 0644));
  Status applied = sites_->RedeployTls(org, site_id);
  if (applied) {
    fs::remove(chain_prev, ec);
    fs::remove(key_prev, ec);
    return core::Ok();
  }
  // Roll back to the previous files (or none) and re-apply that.
  if (had) {
    fs::rename(chain_prev, chain, ec);
    fs::rename(key_prev, key, ec);
  } else {
    fs::remove(chain, ec);
    fs::remove(key, ec);
  }
  Status restored = sites_->RedeployTls(org, site_id);
  core::log::Warn("autossl deploy rolled back",
                  {{"site", site_id},
                   {"domain", domain},
                   {"error", applied.error().detail},
                   {"restored", static_cast<bool>(restored)}});
  return Fail(applied.error().code, "deploying the certificate failed (previous one kept): " +
                                        applied.error().detail);
}

Status AutoSsl::RecordFailure(const std::string& org, const std::string& site_id,
                              const std::string& domain, const std::string& error) {
  const int64_t now = UnixSeconds(clock_);
  int64_t failures = 0;
  HP_TRY(db_.Write([&](SQLite::Database& tx) -> Status {
    SQLite::Statement f(tx, "SELECT failures FROM autossl_certificates WHERE site_id = ? AND domain = ?");
    f.bind(1, site_id);
    f.bind(2, domain);
    if (f.executeStep()) failures = f.getColumn(0).getInt64();
    ++failures;
    int64_t backoff = options_.retry_base.count();
    for (int64_t i = 1; i < failures && backoff < options_.retry_max.count(); ++i) backoff *= 2;
    backoff = std::min<int64_t>(backoff, options_.retry_max.count());
    SQLite::Statement q(tx,
                        "UPDATE autossl_certificates SET status = 'failed', last_error = ?, "
                        "failures = ?, next_attempt_at = ?, updated_at = ? "
                        "WHERE site_id = ? AND domain = ?");
    q.bind(1, error);
    q.bind(2, failures);
    q.bind(3, now + backoff);
    q.bind(4, now);
    q.bind(5, site_id);
    q.bind(6, domain);
    q.exec();
    return core::Ok();
  }));
  if (hooks_.alert && failures == 1)
    hooks_.alert("certificate.failed", org,
                 {{"site_id", site_id}, {"domain", domain}, {"error", error}, {"failures", failures}});
  if (hooks_.audit)
    hooks_.audit("autossl.issue", org, "site:" + site_id, {{"domain", domain}, {"error", error}},
                 false);
  return core::Ok();
}

Result<Json> AutoSsl::RunIssue(core::JobContext& ctx) {
  const Json& p = ctx.job().payload;
  const std::string org = p.value("organization_id", "");
  const std::string site_id = p.value("site_id", "");
  const std::string domain = p.value("domain", "");
  const bool renewal = p.value("renewal", false);
  if (sites_ == nullptr) return Fail(ErrorCode::kUnavailable, "shared hosting is not mounted");
  auto site = sites_->Get(org, site_id);
  if (!site) {
    (void)RecordFailure(org, site_id, domain, site.error().detail);
    return Fail(site.error());
  }
  if (site->state != prov::SiteState::kActive || site->document_root.empty()) {
    const std::string why = "the site " + site->domain + " is " +
                            std::string(prov::SiteStateName(site->state)) + ", not active";
    (void)RecordFailure(org, site_id, domain, why);
    return Fail(ErrorCode::kUnavailable, why);
  }
  if (!SiteHasDomain(*site, domain)) {
    const std::string why = domain + " is no longer a name of the site";
    (void)RecordFailure(org, site_id, domain, why);
    return Fail(ErrorCode::kInvalidArgument, why);
  }
  auto current = Get(site_id, domain);
  // A customer-supplied certificate replaced this name's since the job was queued: keep it.
  if (current && current->source == "upload")
    return Json{{"domain", domain}, {"skipped", "the certificate was uploaded by the customer"}};
  HP_TRY(SetStatus(site_id, domain, "issuing", current ? current->last_error : ""));
  ctx.Progress({{"step", "account"}});

  auto issue = [&]() -> Result<Json> {
    ctx.Progress({{"step", "preflight"}});
    HP_TRY(Preflight(org, site->document_root, domain));
    // www.<name> on the site too (and not uploaded): in the same certificate.
    std::vector<std::string> names = {domain};
    const std::string www = "www." + domain;
    if (domain.rfind("*.", 0) != 0 && SiteHasDomain(*site, www)) {
      auto w = Get(site_id, www);
      if (!w || w->source != "upload") {
        // A www name that fails its own checks does not hold up the certificate of <name>.
        if (Status pf = Preflight(org, site->document_root, www); pf) {
          names.push_back(www);
        } else if (w) {
          (void)RecordFailure(org, site_id, www, pf.error().detail);
        } else {
          core::log::Info("autossl: www name left out of the certificate",
                          {{"domain", www}, {"reason", pf.error().detail}});
        }
      }
    }
    HP_ASSIGN_OR_RETURN(auto client, Client());
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
    // dns-01 (wildcards): the TXT record goes into the organization's zone hosted with us.
    std::map<std::string, std::pair<std::string, std::string>> txt_records;  // value -> zone, id
    if (zones_ != nullptr) {
      presenter.dns01_present = [&](const std::string& name, const std::string& txt) -> Status {
        auto zone = ZoneOf(*zones_, name);
        if (!zone || zone->zone.organization_id != org)
          return Fail(ErrorCode::kConflict,
                      "the zone of " + name + " is not hosted with us in this organization");
        HP_ASSIGN_OR_RETURN(hp::dns::Record rec,
                            zones_->AddRecord(org, zone->zone.id,
                                              {.name = "_acme-challenge." + Absolute(name),
                                               .type = "TXT",
                                               .ttl = 60,
                                               .data = "\"" + txt + "\""}));
        txt_records[txt] = {zone->zone.id, rec.id};
        return core::Ok();
      };
      presenter.dns01_cleanup = [&](const std::string&, const std::string& txt) {
        auto it = txt_records.find(txt);
        if (it != txt_records.end()) (void)zones_->DeleteRecord(org, it->second.first, it->second.second);
      };
    }
    HP_ASSIGN_OR_RETURN(core::ossl::PKey cert_key, core::ossl::GenerateEcKey("P-256"));
    // A renewal names the certificate it replaces (ARI); when the CA says it has already been
    // replaced (an earlier attempt's order), order without.
    std::string replaces = renewal && current ? current->ari_id : "";
    HP_TRY(db_.Write([&](SQLite::Database& tx) -> Status {
      SQLite::Statement q(tx, "INSERT INTO autossl_orders (site_id, domain, created_at) VALUES (?, ?, ?)");
      q.bind(1, site_id);
      q.bind(2, domain);
      q.bind(3, UnixSeconds(clock_));
      q.exec();
      return core::Ok();
    }));
    auto issued = ac::ObtainCertificate(*client, names, presenter, cert_key.get(),
                                        options_.issue_timeout, std::chrono::milliseconds(200),
                                        replaces);
    if (!issued && !replaces.empty() &&
        (issued.error().code == ErrorCode::kAcmeAlreadyReplaced ||
         issued.error().code == ErrorCode::kAcmeMalformed)) {
      issued = ac::ObtainCertificate(*client, names, presenter, cert_key.get(),
                                     options_.issue_timeout);
    }
    if (!issued) return Fail(issued.error());
    HP_ASSIGN_OR_RETURN(std::string key_pem, core::ossl::PrivateKeyToPem(cert_key.get()));
    HP_ASSIGN_OR_RETURN(std::string key_sealed, sealer_.Seal(key_pem, CertAd(site_id, domain)));
    ctx.Progress({{"step", "deploy"}});
    HP_TRY(Deploy(org, site_id, domain, issued->chain_pem, key_pem));
    const bool deployed = !sites_->TlsDir(site_id, domain).empty();
    const int64_t now = UnixSeconds(clock_);
    const int64_t not_after = NotAfter(issued->chain_pem);
    const int64_t not_before = NotBefore(issued->chain_pem);
    // ARI window from our CA; fallback two thirds of the lifetime.
    int64_t renew_at = not_before + (not_after - not_before) * 2 / 3;
    auto window = client->GetRenewalInfo(issued->chain_pem);
    if (window) {
      const int64_t start = std::chrono::duration_cast<std::chrono::seconds>(
                                window->start.time_since_epoch()).count();
      const int64_t end = std::chrono::duration_cast<std::chrono::seconds>(
                              window->end.time_since_epoch()).count();
      std::mt19937_64 rng(std::random_device{}());
      renew_at = start + (end > start ? static_cast<int64_t>(rng() % static_cast<uint64_t>(end - start)) : 0);
    } else {
      core::log::Warn("autossl: no ARI window, renewing at 2/3 of the lifetime",
                      {{"domain", domain}, {"error", window.error().detail}});
    }
    auto ari = ac::AriCertificateId(issued->chain_pem);
    const std::string serial = SerialHex(issued->chain_pem);
    // The predecessor of a deployed renewal is revoked as superseded after the grace period
    // (not when it is already revoked, expired or was uploaded).
    const bool supersede = deployed && current && current->source != "upload" &&
                           !current->certificate_pem.empty() && current->serial != serial &&
                           current->serial != current->revoked_serial && current->not_after > now;
    HP_TRY(db_.Write([&](SQLite::Database& tx) -> Status {
      if (supersede) {
        SQLite::Statement sq(tx, "UPDATE autossl_certificates SET superseded_pem = ?, "
                                 "supersede_at = ? WHERE site_id = ? AND domain = ?");
        sq.bind(1, current->certificate_pem);
        sq.bind(2, now + static_cast<int64_t>(options_.supersede_grace.count()));
        sq.bind(3, site_id);
        sq.bind(4, domain);
        sq.exec();
      }
      SQLite::Statement q(tx,
                          "UPDATE autossl_certificates SET status = 'valid', last_error = '', "
                          "certificate_pem = ?, key_sealed = ?, not_after = ?, issued_at = ?, "
                          "updated_at = ?, serial = ?, ari_id = ?, renew_at = ?, failures = 0, "
                          "next_attempt_at = 0, expiring_alerted_at = 0, deployed_at = ? "
                          "WHERE site_id = ? AND domain = ?");
      q.bind(1, issued->chain_pem);
      q.bind(2, key_sealed);
      q.bind(3, not_after);
      q.bind(4, now);
      q.bind(5, now);
      q.bind(6, serial);
      q.bind(7, ari ? *ari : std::string());
      q.bind(8, renew_at);
      q.bind(9, deployed ? now : 0);
      q.bind(10, site_id);
      q.bind(11, domain);
      q.exec();
      return core::Ok();
    }));
    // The bundled www name: the same chain and key, deployed and recorded for its name.
    for (size_t i = 1; i < names.size(); ++i) {
      const std::string& extra = names[i];
      HP_ASSIGN_OR_RETURN(std::string extra_sealed, sealer_.Seal(key_pem, CertAd(site_id, extra)));
      HP_TRY(Deploy(org, site_id, extra, issued->chain_pem, key_pem));
      const bool extra_deployed = !sites_->TlsDir(site_id, extra).empty();
      HP_TRY(db_.Write([&](SQLite::Database& tx) -> Status {
        SQLite::Statement q(
            tx,
            "INSERT INTO autossl_certificates (organization_id, site_id, domain, status, "
            "last_error, certificate_pem, key_sealed, not_after, issued_at, updated_at, serial, "
            "ari_id, renew_at, failures, next_attempt_at, expiring_alerted_at, deployed_at, "
            "source, bundled_with) VALUES (?, ?, ?, 'valid', '', ?, ?, ?, ?, ?, ?, '', 0, 0, 0, 0, "
            "?, 'acme', ?) ON CONFLICT (site_id, domain) DO UPDATE SET status = 'valid', "
            "last_error = '', certificate_pem = excluded.certificate_pem, "
            "key_sealed = excluded.key_sealed, not_after = excluded.not_after, "
            "issued_at = excluded.issued_at, updated_at = excluded.updated_at, "
            "serial = excluded.serial, ari_id = '', renew_at = 0, failures = 0, "
            "next_attempt_at = 0, expiring_alerted_at = 0, deployed_at = excluded.deployed_at, "
            "source = 'acme', bundled_with = excluded.bundled_with");
        q.bind(1, org);
        q.bind(2, site_id);
        q.bind(3, extra);
        q.bind(4, issued->chain_pem);
        q.bind(5, extra_sealed);
        q.bind(6, not_after);
        q.bind(7, now);
        q.bind(8, now);
        q.bind(9, serial);
        q.bind(10, extra_deployed ? now : 0);
        q.bind(11, domain);
        q.exec();
        return core::Ok();
      }));
    }
    if (hooks_.audit)
      hooks_.audit(renewal ? "autossl.renew" : "autossl.issue", org, "site:" + site_id,
                   {{"domain", domain}, {"names", names}, {"serial", serial}, {"replaces", replaces}},
                   true);
    return Json{{"domain", domain},
                {"order_url", issued->order_url},
                {"certificate_url", issued->certificate_url},
                {"serial", serial},
                {"not_after", not_after},
                {"renew_at", renew_at},
                {"deployed", deployed}};
  };
  auto out = issue();
  if (!out) {
    (void)RecordFailure(org, site_id, domain, out.error().detail);
    // A www name waiting for this bundle shows the same outcome.
    (void)db_.Write([&](SQLite::Database& tx) -> Status {
      SQLite::Statement q(tx, "UPDATE autossl_certificates SET status = 'failed', last_error = ?, "
                              "updated_at = ? WHERE site_id = ? AND bundled_with = ? AND "
                              "status = 'pending'");
      q.bind(1, out.error().detail);
      q.bind(2, UnixSeconds(clock_));
      q.bind(3, site_id);
      q.bind(4, domain);
      q.exec();
      return core::Ok();
    });
  }
  return out;
}

Result<Json> AutoSsl::RunRevoke(core::JobContext& ctx) {
  const Json& p = ctx.job().payload;
  const std::string org = p.value("organization_id", "");
  const std::string site_id = p.value("site_id", "");
  const std::string domain = p.value("domain", "");
  auto rec = Get(site_id, domain);
  if (!rec) return Json{{"domain", domain}, {"revoked", false}};
  if (rec->organization_id != org) return Fail(ErrorCode::kNotFound, "no certificate for " + domain);
  if (p.contains("reason")) return RunCustomerRevoke(ctx, *rec);
  bool revoked = false;
  // A bundled www name leaves: its certificate still serves <name>; only its files go.
  if (rec->bundled_with.empty() && rec->source != "upload" && !rec->certificate_pem.empty() &&
      rec->not_after > UnixSeconds(clock_)) {
    HP_ASSIGN_OR_RETURN(auto client, Client());
    Status st = client->Revoke(rec->certificate_pem, 5 /* cessationOfOperation */);
    if (!st && st.error().code != ErrorCode::kAcmeAlreadyRevoked) return Fail(st.error());
    revoked = true;
  }
  if (sites_ != nullptr) {
    const std::string dir = sites_->TlsDir(site_id, domain);
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
  HP_TRY(db_.Write([&](SQLite::Database& tx) -> Status {
    SQLite::Statement q(tx, "DELETE FROM autossl_certificates WHERE site_id = ? AND domain = ?");
    q.bind(1, site_id);
    q.bind(2, domain);
    q.exec();
    return core::Ok();
  }));
  if (hooks_.audit)
    hooks_.audit("autossl.revoke", org, "site:" + site_id,
                 {{"domain", domain}, {"serial", rec->serial}, {"reason", "cessationOfOperation"},
                  {"revoked_at_ca", revoked}},
                 true);
  // Names that were bundled into this certificate and are still on the site get their own.
  if (revoked && sites_ != nullptr) {
    auto bundled = db_.Read([&](SQLite::Database& d) -> Result<std::vector<std::string>> {
      SQLite::Statement q(d, "SELECT domain FROM autossl_certificates WHERE site_id = ? AND "
                             "bundled_with = ?");
      q.bind(1, site_id);
      q.bind(2, domain);
      std::vector<std::string> out;
      while (q.executeStep()) out.push_back(q.getColumn(0).getString());
      return out;
    });
    for (const auto& name : bundled ? *bundled : std::vector<std::string>{}) {
      (void)db_.Write([&](SQLite::Database& tx) -> Status {
        SQLite::Statement q(tx, "UPDATE autossl_certificates SET bundled_with = '' WHERE "
                                "site_id = ? AND domain = ?");
        q.bind(1, site_id);
        q.bind(2, name);
        q.exec();
        return core::Ok();
      });
      auto site = sites_->Get(org, site_id);
      if (site && SiteHasDomain(*site, name)) (void)Request(org, site_id, name);
    }
  }
  return Json{{"domain", domain}, {"revoked", revoked}, {"serial", rec->serial}};
}

Result<Json> AutoSsl::RunCustomerRevoke(core::JobContext& ctx, const CertificateRecord& rec) {
  const Json& p = ctx.job().payload;
  const std::string reason = p.value("reason", "unspecified");
  const std::string serial = p.value("serial", "");
  const auto code = RevocationReasons().find(reason);
  if (code == RevocationReasons().end())
    return Fail(ErrorCode::kInvalidArgument, "unknown revocation reason " + reason);
  // The certificate asked for was already replaced (e.g. renewed meanwhile): revoke the one asked
  // for only when it is still the current one; a renewal already made it obsolete otherwise.
  if (rec.serial != serial) {
    if (rec.status == "revoking") (void)SetStatus(rec.site_id, rec.domain, "valid", rec.last_error);
    return Json{{"domain", rec.domain}, {"revoked", false}, {"reason", "replaced meanwhile"}};
  }
  ctx.Progress({{"step", "revoke"}});
  HP_ASSIGN_OR_RETURN(auto client, Client());
  Status st = client->Revoke(rec.certificate_pem, code->second);
  if (!st && st.error().code != ErrorCode::kAcmeAlreadyRevoked) {
    if (ctx.job().attempts >= ctx.job().max_attempts)
      (void)SetStatus(rec.site_id, rec.domain, "valid", "revocation failed: " + st.error().detail);
    return Fail(st.error());
  }
  const int64_t now = UnixSeconds(clock_);
  bool reissue = p.value("reissue", false) && sites_ != nullptr;
  if (reissue) {
    auto site = sites_->Get(rec.organization_id, rec.site_id);
    reissue = site && site->state == prov::SiteState::kActive && SiteHasDomain(*site, rec.domain);
  }
  HP_TRY(db_.Write([&](SQLite::Database& tx) -> Status {
    // The row and any name bundled into the same certificate.
    SQLite::Statement q(tx, "UPDATE autossl_certificates SET status = 'revoked', "
                            "revoked_serial = ?, revoked_reason = ?, revoked_at = ?, "
                            "updated_at = ?, renew_at = 0 WHERE site_id = ? AND (domain = ? OR "
                            "(bundled_with = ? AND serial = ?))");
    q.bind(1, rec.serial);
    q.bind(2, reason);
    q.bind(3, now);
    q.bind(4, now);
    q.bind(5, rec.site_id);
    q.bind(6, rec.domain);
    q.bind(7, rec.domain);
    q.bind(8, rec.serial);
    q.exec();
    // Still on the site: a replacement with a new key right away (not paced by the budget: the
    // site would otherwise serve a revoked certificate).
    if (reissue) HP_TRY(Enqueue(tx, rec.organization_id, rec.site_id, rec.domain, false));
    return core::Ok();
  }));
  if (hooks_.audit)
    hooks_.audit("autossl.revoke", rec.organization_id, "site:" + rec.site_id,
                 {{"domain", rec.domain}, {"serial", rec.serial}, {"reason", reason},
                  {"reissue", reissue}, {"requested_by", "customer"}},
                 true);
  return Json{{"domain", rec.domain}, {"revoked", true}, {"serial", rec.serial},
              {"reason", reason}, {"reissue", reissue}};
}

Status AutoSsl::ScheduleScan(int64_t after_seconds) {
  const int64_t interval = std::max<int64_t>(1, options_.scan_interval.count());
  const int64_t at = UnixSeconds(clock_) + after_seconds;
  core::EnqueueOptions eo;
  eo.idempotency_key = "autossl.scan:" + std::to_string(at / interval);
  eo.run_at = core::TimePoint(std::chrono::seconds(at));
  eo.max_attempts = 3;
  HP_TRY(jobs_.Enqueue(kScanJob, Json::object(), eo));
  return core::Ok();
}

Result<Json> AutoSsl::RunScan(core::JobContext&) {
  std::lock_guard lock(scan_mu_);
  const int64_t now = UnixSeconds(clock_);
  struct Due {
    std::string org, site, domain;
  };
  int64_t enqueued = 0, waiting = 0, alerted = 0;
  std::vector<std::pair<std::string, Json>> alerts;
  HP_TRY(db_.Write([&](SQLite::Database& tx) -> Status {
    int64_t budget = OrderBudget(tx);
    // Due: a certificate past its renewal time, or a failed one whose backoff has passed;
    // soonest expiry first.
    SQLite::Statement q(tx,
                        "SELECT organization_id, site_id, domain, certificate_pem != '' FROM "
                        "autossl_certificates WHERE source != 'upload' AND bundled_with = '' AND (status = 'waiting' OR (status IN ('valid', "
                        "'failed') AND next_attempt_at <= ? AND ((certificate_pem != '' AND "
                        "renew_at <= ?) OR status = 'failed'))) "
                        "ORDER BY COALESCE(not_after, 0), site_id, domain");
    q.bind(1, now);
    q.bind(2, now);
    std::vector<std::pair<Due, bool>> due;
    while (q.executeStep())
      due.push_back({{q.getColumn(0).getString(), q.getColumn(1).getString(),
                      q.getColumn(2).getString()},
                     q.getColumn(3).getInt() != 0});
    for (const auto& [d, has_cert] : due) {
      if (budget <= 0) {
        ++waiting;
        continue;
      }
      HP_TRY(Enqueue(tx, d.org, d.site, d.domain, has_cert));
      --budget;
      ++enqueued;
    }
    // Expiring within 14 days while renewal keeps failing, or an uploaded certificate (never
    // renewed by us) expiring within 14 days: alert once per certificate.
    SQLite::Statement e(tx,
                        "SELECT organization_id, site_id, domain, not_after, last_error, source "
                        "FROM autossl_certificates WHERE certificate_pem != '' AND "
                        "expiring_alerted_at = 0 AND not_after <= ? AND "
                        "(source = 'upload' OR failures > 0) AND status != 'revoked' AND "
                        "bundled_with = ''");
    e.bind(1, now + 14 * 86400);
    std::vector<Due> mark;
    while (e.executeStep()) {
      alerts.push_back({e.getColumn(0).getString(),
                        {{"site_id", e.getColumn(1).getString()},
                         {"domain", e.getColumn(2).getString()},
                         {"not_after", e.getColumn(3).getInt64()},
                         {"error", e.getColumn(4).getString()},
                         {"source", e.getColumn(5).getString()}}});
      mark.push_back({"", e.getColumn(1).getString(), e.getColumn(2).getString()});
    }
    for (const auto& m : mark) {
      SQLite::Statement u(tx, "UPDATE autossl_certificates SET expiring_alerted_at = ? WHERE "
                              "site_id = ? AND domain = ?");
      u.bind(1, now);
      u.bind(2, m.site);
      u.bind(3, m.domain);
      u.exec();
    }
    return core::Ok();
  }));
  for (const auto& [org, data] : alerts) {
    if (hooks_.alert) hooks_.alert("certificate.expiring", org, data);
    ++alerted;
  }
  const int64_t superseded = RevokeSuperseded(now);
  HP_TRY(ScheduleScan(options_.scan_interval.count()));
  return Json{{"enqueued", enqueued},
              {"waiting_for_rate_limit", waiting},
              {"expiring_alerts", alerted},
              {"superseded_revoked", superseded}};
}

int64_t AutoSsl::RevokeSuperseded(int64_t now) {
  struct Old {
    std::string org, site, domain, pem;
  };
  auto due = db_.Read([&](SQLite::Database& d) -> Result<std::vector<Old>> {
    SQLite::Statement q(d, "SELECT organization_id, site_id, domain, superseded_pem FROM "
                           "autossl_certificates WHERE superseded_pem != '' AND supersede_at <= ? "
                           "ORDER BY supersede_at LIMIT 100");
    q.bind(1, now);
    std::vector<Old> out;
    while (q.executeStep())
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                     q.getColumn(2).getString(), q.getColumn(3).getString()});
    return out;
  });
  if (!due || due->empty()) return 0;
  auto client = Client();
  if (!client) {
    core::log::Warn("autossl: superseded certificates not revoked", {{"error", client.error().detail}});
    return 0;
  }
  int64_t revoked = 0;
  for (const auto& o : *due) {
    const std::string serial = SerialHex(o.pem);
    bool done = NotAfter(o.pem) <= now;  // expired meanwhile: nothing to revoke
    if (!done) {
      Status st = (*client)->Revoke(o.pem, 4 /* superseded */);
      done = st || st.error().code == ErrorCode::kAcmeAlreadyRevoked;
      if (!done) {
        core::log::Warn("autossl: superseded certificate not revoked (retried at the next scan)",
                        {{"domain", o.domain}, {"serial", serial}, {"error", st.error().detail}});
        continue;
      }
      ++revoked;
      if (hooks_.audit)
        hooks_.audit("autossl.revoke", o.org, "site:" + o.site,
                     {{"domain", o.domain}, {"serial", serial}, {"reason", "superseded"}}, true);
    }
    (void)db_.Write([&](SQLite::Database& tx) -> Status {
      SQLite::Statement q(tx, "UPDATE autossl_certificates SET superseded_pem = '', supersede_at = 0 "
                              "WHERE site_id = ? AND domain = ? AND superseded_pem = ?");
      q.bind(1, o.site);
      q.bind(2, o.domain);
      q.bind(3, o.pem);
      q.exec();
      return core::Ok();
    });
  }
  return revoked;
}

void AutoSsl::OnSiteEvent(int kind, const std::string& org, const std::string& site_id,
                          const std::string& domain) {
  using K = prov::SiteEvent::Kind;
  const K k = static_cast<K>(kind);
  Status st = core::Ok();
  if (k == K::kActivated || k == K::kDomainAdded) {
    auto r = Request(org, site_id, domain);
    if (!r) st = Fail(r.error());
    // The automatic request is a state change like a customer's (who asks through the API).
    if (hooks_.audit) {
      Json detail = {{"domain", domain},
                     {"trigger", k == K::kActivated ? "site activated" : "name added"}};
      if (r && !r->bundled_with.empty()) detail["bundled_with"] = r->bundled_with;
      if (!r) detail["error"] = r.error().detail;
      hooks_.audit("autossl.request", org, "site:" + site_id, detail, r.has_value());
    }
  } else {
    // Revoke the removed name's certificate, or every certificate of a terminated site.
    std::vector<std::string> domains;
    if (k == K::kDomainRemoved) {
      domains.push_back(domain);
    } else if (auto list = List(org)) {
      for (const auto& c : *list)
        if (c.site_id == site_id) domains.push_back(c.domain);
    }
    st = db_.Write([&](SQLite::Database& tx) -> Status {
      for (const auto& d : domains) {
        core::EnqueueOptions eo;
        eo.organization_id = org;
        HP_TRY(jobs_.EnqueueInTx(
            tx, kRevokeJob, {{"organization_id", org}, {"site_id", site_id}, {"domain", d}}, eo));
      }
      return core::Ok();
    });
  }
  if (!st)
    core::log::Warn("autossl: site event not handled",
                    {{"site", site_id}, {"domain", domain}, {"error", st.error().detail}});
}

void AutoSsl::RegisterHandlers(core::WorkerPool& workers) {
  workers.Register(kIssueJob, [this](core::JobContext& ctx) { return RunIssue(ctx); });
  workers.Register(kRevokeJob, [this](core::JobContext& ctx) { return RunRevoke(ctx); });
  workers.Register(kScanJob, [this](core::JobContext& ctx) { return RunScan(ctx); });
}

}  // namespace hp::cp::autossl
