// The ACME server in-process over real HTTP: full issuance with http-01 and dns-01, and the
// protocol-negative suite with the problem types a client sees.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "hp/acme/ca.h"
#include "hp/acme/jws.h"
#include "hp/acme/migrations.h"
#include "hp/acme/server.h"
#include "hp/core/encoding.h"
#include "hp/core/http_server.h"
#include "testing/acme_test_util.h"

namespace hp::acme {
namespace {

using core::Json;
using testing::AcmeClient;
using testing::HttpResult;

// The system clock plus an offset tests can advance (every other test leaves it at zero).
class ShiftedClock final : public core::Clock {
 public:
  core::TimePoint Now() const override {
    return core::SystemClock::Instance().Now() + std::chrono::microseconds(offset_us_.load());
  }
  void Advance(core::Duration d) {
    offset_us_ += std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  }

 private:
  std::atomic<int64_t> offset_us_{0};
};

class AcmeServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }
  void TearDown() override { Stop(); }

  // ctest runs this binary twice: as acme_wfe_test (default: request fibers) and as
  // acme_wfe_request_pool_test with HP_ACME_TEST_REQUEST_THREADS=64 (a pool of request threads).
  static void ApplyModeFromEnv(AcmeConfig& cfg) {
    if (const char* v = std::getenv("HP_ACME_TEST_REQUEST_THREADS"); v && *v) cfg.request_threads = std::atoi(v);
  }

  void Stop() {
    if (server_) server_->Shutdown(std::chrono::milliseconds(100));
    if (chall_server_) chall_server_->Shutdown(std::chrono::milliseconds(100));
  }

  void Start(std::function<void(AcmeConfig&)> tweak) {
    acme_.reset();  // it uses the previous database and its threads must stop first
    dir_ = testing::TempDir();
    auto db = core::Database::Open({.path = dir_ + "/db.sqlite", .synchronous_full = false});
    ASSERT_TRUE(db);
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Migrate({&core::CoreMigrations(), &AcmeMigrations()}));
    CaOptions co;
    co.dir = dir_ + "/ca";
    co.passphrase = core::Secret("pw");
    co.base_url = "http://ca.test";
    ca_ = std::move(*CertificateAuthority::Create(std::move(co), clock_));
    nonces_ = std::move(*CreateHmacNonceService(*db_, clock_));
    jobs_ = std::make_unique<core::JobQueue>(*db_, clock_);
    pool_ = std::make_unique<core::WorkerPool>(*jobs_, core::WorkerPoolOptions{});
    dns_ = std::make_unique<StaticDnsChecker>(std::vector<std::string>{"127.0.0.1"});

    // The challenge responder a client would run (real HTTP server on loopback).
    chall_router_.Add({"GET", "/.well-known/acme-challenge/{token}", "", "", "", false},
                      [this](core::http::Request&& req, core::http::Reply reply) {
                        std::lock_guard l(mu_);
                        auto it = tokens_.find(req.Param("token"));
                        reply(it == tokens_.end() ? core::http::Response::Text(404, "no")
                                                  : core::http::Response::Text(200, it->second));
                      });
    chall_server_ = std::move(*core::http::Server::Create({.port = 0, .access_log = false},
                                                          chall_router_, metrics_));
    ASSERT_TRUE(chall_server_->Start());

    server_ = std::move(*core::http::Server::Create({.port = 0, .access_log = false}, router_,
                                                    metrics_));
    // port() is known once listening; no request can arrive before routes exist (port is new).
    ASSERT_TRUE(server_->Start());
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
    AcmeConfig cfg;
    cfg.base_url = base_;
    cfg.terms_of_service_url = base_ + "/terms";
    cfg.caa_identities = {"ca.test"};
    cfg.validation.http_port = chall_server_->port();
    // Durable jobs, run by RunJobs() on this thread; InProcessTest covers the default.
    cfg.validation.in_process = in_process_;
    ApplyModeFromEnv(cfg);
    if (tweak) tweak(cfg);
    auto acme = AcmeServer::Create(cfg, {db_.get(), &clock_, jobs_.get(), nullptr, ca_.get(),
                                         dns_.get(), nonces_.get()});
    ASSERT_TRUE(acme);
    acme_ = std::move(*acme);
    acme_->RegisterRoutes(router_);
    acme_->RegisterJobs(*pool_);
  }

  std::string Dir() const { return base_ + "/acme/directory"; }

  // Runs queued validation/finalize jobs on this thread, then waits (with a deadline) until no
  // in-process validation is still processing.
  void RunJobs() {
    while (*pool_->RunOnce()) {
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline && Processing() > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  int64_t Processing() {
    auto n = db_->Read([](SQLite::Database& d) -> core::Result<int64_t> {
      return d.execAndGet("SELECT COUNT(*) FROM acme_authz WHERE chall_status = 'processing'")
          .getInt64();
    });
    return n ? *n : -1;
  }

  Json NewOrder(AcmeClient& c, const std::vector<std::string>& names, Json extra = Json::object(),
                HttpResult* raw = nullptr) {
    Json ids = Json::array();
    for (const auto& n : names) {
      const bool ip = n.find_first_not_of("0123456789.:") == std::string::npos;
      ids.push_back({{"type", ip ? "ip" : "dns"}, {"value", n}});
    }
    extra["identifiers"] = ids;
    auto r = c.Post(c.dir["newOrder"], extra.dump());
    if (raw) *raw = r;
    Json j = r.json();
    if (r.status == 201) j["url"] = r.header("location");
    return j;
  }

  // Completes every authorization of the order with http-01 (or dns-01 for wildcards).
  void Authorize(AcmeClient& c, const Json& order) {
    auto thumb = (*Jwk::Parse(c.key.jwk))->thumbprint();
    for (const auto& url : order["authorizations"]) {
      Json authz = c.Post(url, "").json();
      if (authz["status"] == "valid") continue;
      const bool wildcard = authz.value("wildcard", false);
      for (const auto& ch : authz["challenges"]) {
        const std::string type = ch["type"];
        if (type != (wildcard ? "dns-01" : "http-01")) continue;
        const std::string ka = ch["token"].get<std::string>() + "." + thumb;
        if (wildcard) {
          dns_->SetTxt("_acme-challenge." + authz["identifier"]["value"].get<std::string>(),
                       {core::Base64UrlEncode(core::ossl::Sha256(ka))});
        } else {
          std::lock_guard l(mu_);
          tokens_[ch["token"]] = ka;
        }
        auto r = c.Post(ch["url"], "{}");
        ASSERT_EQ(r.status, 200) << r.body;
      }
    }
    RunJobs();
  }

  // The whole flow; returns the PEM chain.
  std::string Issue(AcmeClient& c, const std::vector<std::string>& names, EVP_PKEY* cert_key,
                    Json* order_out = nullptr) {
    Json order = NewOrder(c, names);
    // "ready" at once when every authorization is reused from an earlier order.
    EXPECT_TRUE(order["status"] == "pending" || order["status"] == "ready") << order.dump();
    last_order_status_ = order["status"];
    Authorize(c, order);
    order = c.Post(order["url"], "").json();
    EXPECT_EQ(order["status"], "ready") << order.dump();
    std::string csr = testing::MakeCsr(cert_key, names);
    auto fin = c.Post(order["finalize"], Json{{"csr", core::Base64UrlEncode(csr)}}.dump());
    EXPECT_EQ(fin.status, 200) << fin.body;
    Json done = fin.json();
    EXPECT_EQ(done["status"], "valid") << fin.body;
    if (order_out) *order_out = done;
    auto cert = c.Post(done.value("certificate", ""), "");
    EXPECT_EQ(cert.header("content-type"), "application/pem-certificate-chain");
    return cert.body;
  }

  int VerifyChain(const std::string& chain, std::string* out) {
    testing::WriteFile(dir_ + "/root.pem", ca_->root_pem());
    testing::WriteFile(dir_ + "/chain.pem", chain);
    return testing::Run("openssl verify -x509_strict -CAfile " + dir_ + "/root.pem -untrusted " +
                            dir_ + "/chain.pem " + dir_ + "/chain.pem",
                        out);
  }

  bool in_process_ = false;
  std::string dir_, base_;
  ShiftedClock clock_;
  core::MetricsRegistry metrics_;
  std::unique_ptr<core::Database> db_;
  std::unique_ptr<CertificateAuthority> ca_;
  std::unique_ptr<NonceService> nonces_;
  std::unique_ptr<core::JobQueue> jobs_;
  std::unique_ptr<core::WorkerPool> pool_;
  std::unique_ptr<StaticDnsChecker> dns_;
  core::http::Router router_, chall_router_;
  std::unique_ptr<core::http::Server> server_, chall_server_;
  std::unique_ptr<AcmeServer> acme_;
  std::mutex mu_;
  std::map<std::string, std::string> tokens_;
  std::string last_order_status_;
};

TEST_F(AcmeServerTest, DirectoryAndNonces) {
  auto d = testing::Http("GET", Dir());
  ASSERT_EQ(d.status, 200) << d.body;
  Json j = d.json();
  EXPECT_EQ(j["newAccount"], base_ + "/acme/new-account");
  EXPECT_EQ(j["meta"]["termsOfService"], base_ + "/terms");
  EXPECT_TRUE(j["meta"]["profiles"].contains("shortlived"));
  EXPECT_EQ(j["meta"]["caaIdentities"][0], "ca.test");
  EXPECT_FALSE(d.header("replay-nonce").empty());
  EXPECT_NE(d.header("link").find("rel=\"index\""), std::string::npos);
  auto head = testing::Http("HEAD", j["newNonce"]);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("cache-control"), "no-store");
  auto get = testing::Http("GET", j["newNonce"]);
  EXPECT_EQ(get.status, 204);
  EXPECT_NE(head.header("replay-nonce"), get.header("replay-nonce"));
}

TEST_F(AcmeServerTest, FullIssuanceHttp01EcdsaAndRsaChainsVerify) {
  AcmeClient c(Dir());
  auto reg = c.Register();
  ASSERT_EQ(reg.status, 201) << reg.body;
  EXPECT_EQ(reg.json()["status"], "valid");
  for (const char* alg : {"ES256", "RS256"}) {
    auto k = testing::MakeKey(alg);
    std::string chain = Issue(c, {"www.example.test", "example.test"}, k.key.get());
    // The second order reuses the valid authorizations of the first one.
    EXPECT_EQ(last_order_status_, std::string(alg) == "ES256" ? "pending" : "ready");
    std::string out;
    EXPECT_EQ(VerifyChain(chain, &out), 0) << out;
    testing::Run("openssl x509 -noout -ext subjectAltName -in " + dir_ + "/chain.pem", &out);
    EXPECT_NE(out.find("DNS:www.example.test, DNS:example.test"), std::string::npos) << out;
  }
  // Same key again: the existing account, 200.
  auto again = c.Register();
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.header("location"), c.kid);
}

TEST_F(AcmeServerTest, WildcardNeedsDns01AndIpIdentifiersWork) {
  AcmeClient c(Dir());
  c.Register();
  Json order = NewOrder(c, {"*.example.test"});
  Json authz = c.Post(order["authorizations"][0], "").json();
  EXPECT_EQ(authz["wildcard"], true);
  ASSERT_EQ(authz["challenges"].size(), 1u);
  EXPECT_EQ(authz["challenges"][0]["type"], "dns-01");
  // http-01 for a wildcard is refused.
  auto http01 = c.Post(authz["challenges"][0]["url"].get<std::string>().replace(
                           authz["challenges"][0]["url"].get<std::string>().size() - 6, 6, "http-01"),
                       "{}");
  EXPECT_EQ(http01.status, 404);
  auto k = testing::MakeKey("ES256");
  std::string chain = Issue(c, {"*.example.test"}, k.key.get());
  std::string out;
  EXPECT_EQ(VerifyChain(chain, &out), 0) << out;
  chain = Issue(c, {"127.0.0.1"}, k.key.get());
  EXPECT_EQ(VerifyChain(chain, &out), 0) << out;
}

TEST_F(AcmeServerTest, RevocationCrlAriAndReplaces) {
  AcmeClient c(Dir());
  c.Register();
  auto k = testing::MakeKey("ES256");
  Json order;
  std::string chain = Issue(c, {"a.example.test"}, k.key.get(), &order);
  auto leaf = core::ossl::ReadCertificatePem(chain);
  ASSERT_TRUE(leaf);
  // ARI id per RFC 9773: base64url(AKI keyIdentifier) "." base64url(serial bytes).
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(leaf->get());
  const ASN1_INTEGER* sn = X509_get0_serialNumber(leaf->get());
  std::string ari = core::Base64UrlEncode(std::string(
                        reinterpret_cast<const char*>(ASN1_STRING_get0_data(aki)), ASN1_STRING_length(aki))) +
                    "." +
                    core::Base64UrlEncode(std::string(
                        reinterpret_cast<const char*>(ASN1_STRING_get0_data(sn)), ASN1_STRING_length(sn)));
  auto info = testing::Http("GET", c.dir["renewalInfo"].get<std::string>() + "/" + ari);
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_TRUE(info.json()["suggestedWindow"].contains("start"));
  EXPECT_FALSE(info.header("retry-after").empty());

  HttpResult raw;
  Json repl = NewOrder(c, {"a.example.test"}, {{"replaces", ari}}, &raw);
  EXPECT_EQ(raw.status, 201) << raw.body;
  EXPECT_EQ(repl["replaces"], ari);
  NewOrder(c, {"a.example.test"}, {{"replaces", ari}}, &raw);
  EXPECT_EQ(raw.status, 409);
  EXPECT_EQ(raw.json()["type"], "urn:ietf:params:acme:error:alreadyReplaced");

  std::string der = *core::ossl::CertificateToDer(leaf->get());
  auto bad_reason = c.Post(c.dir["revokeCert"], Json{{"certificate", core::Base64UrlEncode(der)},
                                                     {"reason", 7}}.dump());
  EXPECT_EQ(bad_reason.json()["type"], "urn:ietf:params:acme:error:badRevocationReason");
  auto rev = c.Post(c.dir["revokeCert"],
                    Json{{"certificate", core::Base64UrlEncode(der)}, {"reason", 4}}.dump());
  EXPECT_EQ(rev.status, 200) << rev.body;
  auto twice = c.Post(c.dir["revokeCert"], Json{{"certificate", core::Base64UrlEncode(der)}}.dump());
  EXPECT_EQ(twice.json()["type"], "urn:ietf:params:acme:error:alreadyRevoked");

  // The CRL at the URL in the certificate lists the serial.
  CRL_DIST_POINTS* dps = static_cast<CRL_DIST_POINTS*>(
      X509_get_ext_d2i(leaf->get(), NID_crl_distribution_points, nullptr, nullptr));
  ASN1_IA5STRING* uri = sk_GENERAL_NAME_value(sk_DIST_POINT_value(dps, 0)->distpoint->name.fullname, 0)
                            ->d.uniformResourceIdentifier;
  std::string crl_url(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)), ASN1_STRING_length(uri));
  CRL_DIST_POINTS_free(dps);
  auto crl = testing::Http("GET", base_ + crl_url.substr(crl_url.find("/acme/crl/")));
  ASSERT_EQ(crl.status, 200);
  testing::WriteFile(dir_ + "/crl.der", crl.body);
  std::string out;
  testing::Run("openssl crl -inform DER -noout -text -in " + dir_ + "/crl.der", &out);
  std::string serial = c.Post(order["certificate"], "").body.empty() ? "" : "";
  core::ossl::BigNum bn(ASN1_INTEGER_to_BN(sn, nullptr));
  char* hex = BN_bn2hex(bn.get());
  EXPECT_NE(out.find(hex), std::string::npos) << out;
  OPENSSL_free(hex);
}

// Link rel="alternate" on the certificate download: the chain through Root X1 cross-signed by
// the RSA Root R1. Only R1 trusted: the default chain fails, the alternate one verifies; only X1
// trusted: the default chain verifies.
TEST_F(AcmeServerTest, AlternateChainLeadsToTheRsaRoot) {
  AcmeClient c(Dir());
  ASSERT_EQ(c.Register().status, 201);
  auto k = testing::MakeKey("ES256");
  Json order;
  std::string chain = Issue(c, {"alt.example.test"}, k.key.get(), &order);
  auto dl = c.Post(order["certificate"], "");
  ASSERT_EQ(dl.status, 200) << dl.body;
  const std::string alt_url = order["certificate"].get<std::string>() + "/1";
  EXPECT_NE(dl.header("link").find("<" + alt_url + ">;rel=\"alternate\""), std::string::npos)
      << dl.header("link");
  auto alt = c.Post(alt_url, "");
  ASSERT_EQ(alt.status, 200) << alt.body;
  EXPECT_EQ(alt.header("content-type"), "application/pem-certificate-chain");
  EXPECT_NE(alt.header("link").find("<" + order["certificate"].get<std::string>() +
                                    ">;rel=\"alternate\""),
            std::string::npos)
      << alt.header("link");
  EXPECT_EQ(alt.body.substr(0, chain.size()), chain);  // same leaf and issuer, one more cert
  EXPECT_GT(alt.body.size(), chain.size());
  EXPECT_EQ(c.Post(order["certificate"].get<std::string>() + "/2", "").status, 404);
  EXPECT_EQ(c.Post(order["certificate"].get<std::string>() + "/x", "").status, 404);

  ASSERT_FALSE(ca_->alternate_root_pem().empty());
  testing::WriteFile(dir_ + "/r1.pem", ca_->alternate_root_pem());
  testing::WriteFile(dir_ + "/x1.pem", ca_->root_pem());
  testing::WriteFile(dir_ + "/default.pem", chain);
  testing::WriteFile(dir_ + "/alt.pem", alt.body);
  auto verify = [&](const std::string& root, const std::string& file) {
    std::string out;
    int rc = testing::Run("openssl verify -x509_strict -CAfile " + dir_ + "/" + root +
                              " -untrusted " + dir_ + "/" + file + " " + dir_ + "/" + file,
                          &out);
    return std::pair{rc, out};
  };
  auto [rc1, out1] = verify("r1.pem", "alt.pem");
  EXPECT_EQ(rc1, 0) << out1;
  EXPECT_NE(verify("r1.pem", "default.pem").first, 0);
  auto [rc3, out3] = verify("x1.pem", "default.pem");
  EXPECT_EQ(rc3, 0) << out3;
  std::string subj;
  testing::Run("openssl x509 -noout -subject -in " + dir_ + "/r1.pem", &subj);
  EXPECT_NE(subj.find("Root R1"), std::string::npos) << subj;
  // Another account cannot download it, like the default chain.
  AcmeClient other(Dir());
  ASSERT_EQ(other.Register().status, 201);
  EXPECT_EQ(other.Post(order["certificate"], "").status, 403);
  auto denied = other.Post(alt_url, "");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.json()["type"], "urn:ietf:params:acme:error:unauthorized");
}

struct StoredCrl {
  int64_t number = 0;
  std::string der;
  core::TimePoint this_update, next_update;
  int64_t dirty_since = 0;
};

// CRLs are re-issued by the scheduled job "acme.crl" alone (nobody fetches them here): within
// an hour of a revocation, and at least every 4 days without any, on a clock moved forward.
TEST_F(AcmeServerTest, CrlsAreReissuedByTheScheduledJobAfterARevocationAndEveryFewDays) {
  auto stored = [&](const std::string& issuer) {
    auto r = db_->Read([&](SQLite::Database& d) -> core::Result<StoredCrl> {
      SQLite::Statement q(d, "SELECT number, der, this_update, next_update, dirty_since "
                             "FROM acme_crls WHERE issuer_id = ?");
      q.bind(1, issuer);
      StoredCrl c;
      if (!q.executeStep()) return c;
      c.number = q.getColumn(0).getInt64();
      c.der = q.getColumn(1).getString();
      c.this_update = core::FromUnixMicros(q.getColumn(2).getInt64());
      c.next_update = core::FromUnixMicros(q.getColumn(3).getInt64());
      c.dirty_since = q.getColumn(4).getInt64();
      return c;
    });
    EXPECT_TRUE(r);
    return r ? *r : StoredCrl{};
  };
  AcmeClient c(Dir());
  ASSERT_EQ(c.Register().status, 201);
  auto k = testing::MakeKey("ES256");
  std::string chain = Issue(c, {"crl.example.test"}, k.key.get());
  auto leaf = core::ossl::ReadCertificatePem(chain);
  ASSERT_TRUE(leaf);
  // The current slot's job ran with the others in Issue(): every issuer has a CRL already.
  std::string issuer;
  for (const auto& info : ca_->issuers()) {
    EXPECT_GT(stored(info.id).number, 0) << info.id;
    if (info.active && info.kind == LeafKeyKind::kEcdsa) issuer = info.id;
  }
  const StoredCrl before = stored(issuer);
  ASSERT_GT(before.number, 0);

  std::string der = *core::ossl::CertificateToDer(leaf->get());
  auto rev = c.Post(c.dir["revokeCert"],
                    Json{{"certificate", core::Base64UrlEncode(der)}, {"reason", 4}}.dump());
  ASSERT_EQ(rev.status, 200) << rev.body;
  EXPECT_GT(stored(issuer).dirty_since, 0);  // not in the CRL yet
  const auto revoked_at = clock_.Now();

  // Step the clock by 10 minutes until the job has put the revocation into the CRL.
  StoredCrl after;
  for (int i = 0; i < 12; ++i) {
    clock_.Advance(std::chrono::minutes(10));
    RunJobs();
    after = stored(issuer);
    if (after.dirty_since == 0) break;
  }
  EXPECT_EQ(after.dirty_since, 0);
  EXPECT_GT(after.number, before.number);
  EXPECT_LE(clock_.Now() - revoked_at, std::chrono::hours(1));
  EXPECT_LE(after.this_update - revoked_at, std::chrono::hours(1));
  testing::WriteFile(dir_ + "/sched.crl", after.der);
  std::string out;
  ASSERT_EQ(testing::Run("openssl crl -inform DER -noout -text -in " + dir_ + "/sched.crl", &out), 0)
      << out;
  core::ossl::BigNum bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf->get()), nullptr));
  char* hex = BN_bn2hex(bn.get());
  EXPECT_NE(out.find(hex), std::string::npos) << out;
  EXPECT_NE(out.find("Superseded"), std::string::npos) << out;
  OPENSSL_free(hex);

  // Ten days without a revocation, in half-hour steps: no CRL of any issuer is ever older than
  // 4 days or past its nextUpdate, and each was re-issued more than once.
  std::map<std::string, int64_t> first;
  for (const auto& info : ca_->issuers()) first[info.id] = stored(info.id).number;
  for (int step = 0; step < 10 * 48; ++step) {
    clock_.Advance(std::chrono::minutes(30));
    while (*pool_->RunOnce()) {
    }
    const auto now = clock_.Now();
    for (const auto& info : ca_->issuers()) {
      StoredCrl crl = stored(info.id);
      ASSERT_LE(now - crl.this_update, std::chrono::hours(24 * 4)) << info.id << " step " << step;
      ASSERT_GT(crl.next_update, now) << info.id;
    }
  }
  for (const auto& info : ca_->issuers()) EXPECT_GE(stored(info.id).number, first[info.id] + 2);
  // The schedule is one job per slot: 480 slots ran, and exactly one is waiting.
  auto queued = jobs_->List({.state = core::JobState::kQueued, .kind = "acme.crl"});
  ASSERT_TRUE(queued);
  EXPECT_EQ(queued->size(), 1u);
}

TEST_F(AcmeServerTest, KeyRolloverAndDeactivation) {
  AcmeClient c(Dir());
  c.Register();
  auto new_key = testing::MakeKey("EdDSA");
  const std::string url = c.dir["keyChange"];
  Json inner_payload = {{"account", c.kid}, {"oldKey", c.key.jwk}};
  std::string inner = testing::SignJws(new_key, Json{{"url", url}, {"jwk", new_key.jwk}},
                                       inner_payload.dump());
  auto r = c.Post(url, inner);
  ASSERT_EQ(r.status, 200) << r.body;
  auto old_key = std::move(c.key);
  c.key = std::move(new_key);
  EXPECT_EQ(c.Post(c.kid, "").status, 200);  // the new key works
  std::swap(c.key, old_key);
  EXPECT_EQ(c.Post(c.kid, "").status, 400);  // the old one does not
  std::swap(c.key, old_key);

  // Rolling over to a key another account uses: 409 with that account's URL.
  AcmeClient other(Dir());
  other.Register();
  inner = testing::SignJws(other.key, Json{{"url", url}, {"jwk", other.key.jwk}},
                           Json{{"account", c.kid}, {"oldKey", c.key.jwk}}.dump());
  r = c.Post(url, inner);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(r.header("location"), other.kid);

  auto d = c.Post(c.kid, Json{{"status", "deactivated"}}.dump());
  EXPECT_EQ(d.json()["status"], "deactivated");
  auto after = c.Post(c.dir["newOrder"], Json{{"identifiers", {{{"type", "dns"}, {"value", "x.test"}}}}}.dump());
  EXPECT_EQ(after.json()["type"], "urn:ietf:params:acme:error:unauthorized");
}

// ---- Protocol-negative suite: each case names the problem type a client must get. ----------

struct Case {
  std::string name;
  std::function<HttpResult(AcmeServerTest&, AcmeClient&)> run;
  int status;
  std::string type;  // suffix after urn:ietf:params:acme:error:
};

class NegativeTest : public AcmeServerTest {};

TEST_F(NegativeTest, EveryRuleHasItsProblemType) {
  AcmeClient c(Dir());
  ASSERT_EQ(c.Register().status, 201);
  AcmeClient victim(Dir());
  victim.Register();
  Json ready_order = NewOrder(c, {"ready.example.test"});
  Authorize(c, ready_order);
  Json pending_order = NewOrder(c, {"pending.example.test"});
  const std::string new_order = c.dir["newOrder"];
  auto order_payload = Json{{"identifiers", {{{"type", "dns"}, {"value", "n.example.test"}}}}}.dump();
  auto csr_for = [](std::vector<std::string> names, EVP_PKEY* k = nullptr) {
    static auto key = testing::MakeKey("ES256");
    return Json{{"csr", core::Base64UrlEncode(testing::MakeCsr(k ? k : key.key.get(), names))}}
        .dump();
  };
  auto with_header = [](AcmeClient& cl, const std::string& url, Json h, const std::string& payload,
                        const std::string& sign_alg = "") {
    h["nonce"] = cl.Nonce();
    std::string prot = core::Base64UrlEncode(h.dump());
    std::string pay = core::Base64UrlEncode(payload);
    std::string sig = sign_alg == "HS256" ? core::ossl::HmacSha256("k", prot + "." + pay)
                      : sign_alg == "none" ? std::string()
                                           : testing::SignRaw(cl.key, prot + "." + pay);
    return cl.PostRaw(url, Json{{"protected", prot}, {"payload", pay},
                                {"signature", core::Base64UrlEncode(sig.empty() ? "x" : sig)}}
                               .dump());
  };
  auto rsa1024 = core::ossl::GenerateRsaKey(1024);

  std::vector<Case> cases = {
      {"replayed nonce", [&](auto&, AcmeClient& cl) {
         std::string n = cl.Nonce();
         cl.PostRaw(new_order, cl.SignedBody(new_order, order_payload, false, n));
         return cl.PostRaw(new_order, cl.SignedBody(new_order, order_payload, false, n));
       }, 400, "badNonce"},
      {"forged nonce", [&](auto&, AcmeClient& cl) {
         return cl.PostRaw(new_order, cl.SignedBody(new_order, order_payload, false,
                                                    core::Base64UrlEncode(std::string(32, 'x'))));
       }, 400, "badNonce"},
      {"missing nonce", [&](auto&, AcmeClient& cl) {
         return cl.PostRaw(new_order, testing::SignJws(cl.key, {{"url", new_order}, {"kid", cl.kid}},
                                                       order_payload));
       }, 400, "badNonce"},
      {"bad signature", [&](auto&, AcmeClient& cl) {
         Json b = Json::parse(cl.SignedBody(new_order, order_payload, false, cl.Nonce()));
         std::string sig = *core::Base64UrlDecodeToString(b["signature"].get<std::string>());
         sig[5] ^= 1;
         b["signature"] = core::Base64UrlEncode(sig);
         return cl.PostRaw(new_order, b.dump());
       }, 400, "malformed"},
      {"alg none", [&](auto&, AcmeClient& cl) {
         return with_header(cl, new_order, {{"alg", "none"}, {"url", new_order}, {"kid", cl.kid}},
                            order_payload, "none");
       }, 400, "badSignatureAlgorithm"},
      {"alg HS256", [&](auto&, AcmeClient& cl) {
         return with_header(cl, new_order, {{"alg", "HS256"}, {"url", new_order}, {"kid", cl.kid}},
                            order_payload, "HS256");
       }, 400, "badSignatureAlgorithm"},
      {"alg RS256 with an EC key", [&](auto&, AcmeClient& cl) {
         return with_header(cl, new_order, {{"alg", "RS256"}, {"url", new_order}, {"kid", cl.kid}},
                            order_payload);
       }, 400, "badSignatureAlgorithm"},
      {"url mismatch", [&](auto&, AcmeClient& cl) {
         return cl.PostRaw(new_order, cl.SignedBody(base_ + "/acme/elsewhere", order_payload, false,
                                                    cl.Nonce()));
       }, 403, "unauthorized"},
      {"jwk and kid together", [&](auto&, AcmeClient& cl) {
         return with_header(cl, new_order, {{"alg", "ES256"}, {"url", new_order}, {"kid", cl.kid},
                                            {"jwk", cl.key.jwk}}, order_payload);
       }, 400, "malformed"},
      {"kid of someone else's account", [&](auto&, AcmeClient& cl) {
         return with_header(cl, new_order, {{"alg", "ES256"}, {"url", new_order},
                                            {"kid", victim.kid}}, order_payload);
       }, 400, "malformed"},
      {"kid that is not an account", [&](auto&, AcmeClient& cl) {
         return with_header(cl, new_order, {{"alg", "ES256"}, {"url", new_order},
                                            {"kid", base_ + "/acme/acct/nope"}}, order_payload);
       }, 400, "accountDoesNotExist"},
      {"jwk where a kid is required", [&](auto&, AcmeClient& cl) {
         return cl.Post(new_order, order_payload, true);
       }, 400, "malformed"},
      {"wrong content type", [&](auto&, AcmeClient& cl) {
         return cl.PostRaw(new_order, cl.SignedBody(new_order, order_payload, false, cl.Nonce()),
                           "application/json");
       }, 415, "malformed"},
      {"oversized body", [&](auto&, AcmeClient& cl) {
         return cl.Post(new_order, std::string(70 * 1024, ' ') + order_payload);
       }, 413, "malformed"},
      {"malformed JSON body", [&](auto&, AcmeClient& cl) {
         return cl.PostRaw(new_order, "{not json");
       }, 400, "malformed"},
      {"malformed JSON payload", [&](auto&, AcmeClient& cl) {
         return cl.Post(new_order, "{\"identifiers\": [");
       }, 400, "malformed"},
      {"POST-as-GET to new-order", [&](auto&, AcmeClient& cl) { return cl.Post(new_order, ""); },
       400, "malformed"},
      {"unknown profile", [&](auto&, AcmeClient& cl) {
         return cl.Post(new_order, Json{{"identifiers", {{{"type", "dns"}, {"value", "p.test"}}}},
                                        {"profile", "forever"}}.dump());
       }, 400, "invalidProfile"},
      {"unsupported identifier type", [&](auto&, AcmeClient& cl) {
         return cl.Post(new_order, Json{{"identifiers", {{{"type", "email"}, {"value", "a@b.test"}}}}}.dump());
       }, 400, "unsupportedIdentifier"},
      {"invalid DNS names give subproblems", [&](auto&, AcmeClient& cl) {
         return cl.Post(new_order, Json{{"identifiers", {{{"type", "dns"}, {"value", "bad_name.test"}},
                                                         {{"type", "dns"}, {"value", "a.*.test"}},
                                                         {{"type", "dns"}, {"value", "ok.test"}}}}}.dump());
       }, 400, "rejectedIdentifier"},
      {"notBefore is not supported", [&](auto&, AcmeClient& cl) {
         return cl.Post(new_order, Json{{"identifiers", {{{"type", "dns"}, {"value", "n.test"}}}},
                                        {"notBefore", "2030-01-01T00:00:00Z"}}.dump());
       }, 400, "malformed"},
      {"finalize before ready", [&](auto&, AcmeClient& cl) {
         return cl.Post(pending_order["finalize"], csr_for({"pending.example.test"}));
       }, 403, "orderNotReady"},
      {"CSR with an extra name", [&](auto&, AcmeClient& cl) {
         return cl.Post(ready_order["finalize"], csr_for({"ready.example.test", "evil.test"}));
       }, 400, "badCSR"},
      {"CSR with an RSA 1024 key", [&](auto&, AcmeClient& cl) {
         return cl.Post(ready_order["finalize"], csr_for({"ready.example.test"}, rsa1024->get()));
       }, 400, "badPublicKey"},
      {"CSR with the account key", [&](auto&, AcmeClient& cl) {
         return cl.Post(ready_order["finalize"], csr_for({"ready.example.test"}, cl.key.key.get()));
       }, 400, "badCSR"},
      {"someone else's order", [&](auto&, AcmeClient&) {
         return victim.Post(pending_order["url"], "");
       }, 403, "unauthorized"},
      {"unknown order", [&](auto&, AcmeClient& cl) {
         return cl.Post(base_ + "/acme/order/doesnotexist", "");
       }, 404, "malformed"},
      {"onlyReturnExisting for a new key", [&](auto&, AcmeClient&) {
         AcmeClient fresh(Dir());
         return fresh.Post(fresh.dir["newAccount"], Json{{"onlyReturnExisting", true}}.dump(), true);
       }, 400, "accountDoesNotExist"},
      {"terms not agreed", [&](auto&, AcmeClient&) {
         AcmeClient fresh(Dir());
         return fresh.Post(fresh.dir["newAccount"], Json::object().dump(), true);
       }, 400, "malformed"},
      {"unsupported contact", [&](auto&, AcmeClient&) {
         AcmeClient fresh(Dir());
         return fresh.Register({{"contact", {"tel:+81312345678"}}});
       }, 400, "unsupportedContact"},
      {"invalid contact", [&](auto&, AcmeClient&) {
         AcmeClient fresh(Dir());
         return fresh.Register({{"contact", {"mailto:not-an-address"}}});
       }, 400, "invalidContact"},
      {"account URL of another account", [&](auto&, AcmeClient& cl) {
         return cl.Post(victim.kid, "");
       }, 403, "unauthorized"},
      {"revoke a certificate we did not issue", [&](auto&, AcmeClient& cl) {
         return cl.Post(cl.dir["revokeCert"], Json{{"certificate", core::Base64UrlEncode(std::string("junk"))}}.dump());
       }, 400, "malformed"},
      {"deactivate with another status", [&](auto&, AcmeClient& cl) {
         return cl.Post(cl.kid, Json{{"status", "valid"}}.dump());
       }, 400, "malformed"},
  };
  ASSERT_GE(cases.size(), 30u);
  for (auto& tc : cases) {
    HttpResult r = tc.run(*this, c);
    EXPECT_EQ(r.status, tc.status) << tc.name << ": " << r.body;
    EXPECT_EQ(r.json().value("type", ""), "urn:ietf:params:acme:error:" + tc.type)
        << tc.name << ": " << r.body;
    EXPECT_FALSE(r.header("replay-nonce").empty()) << tc.name << ": errors carry a fresh nonce";
    EXPECT_EQ(r.header("content-type"), "application/problem+json") << tc.name;
    if (tc.name == "invalid DNS names give subproblems") {
      EXPECT_EQ(r.json()["subproblems"].size(), 2u) << r.body;
      EXPECT_EQ(r.json()["subproblems"][0]["identifier"]["value"], "bad_name.test") << r.body;
    }
  }
}

TEST_F(NegativeTest, CaaForbiddingUsInvalidatesTheAuthorization) {
  dns_->SetCaa("example.test", {"0 issue \"other-ca.test\""});
  AcmeClient c(Dir());
  c.Register();
  Json order = NewOrder(c, {"caa.example.test"});
  Authorize(c, order);
  Json authz = c.Post(order["authorizations"][0], "").json();
  EXPECT_EQ(authz["status"], "invalid");
  Json ch = authz["challenges"][0];
  EXPECT_EQ(ch["error"]["type"], "urn:ietf:params:acme:error:caa") << authz.dump();
  order = c.Post(order["url"], "").json();
  EXPECT_EQ(order["status"], "invalid");
}

TEST_F(NegativeTest, WrongKeyAuthorizationIsIncorrectResponse) {
  AcmeClient c(Dir());
  c.Register();
  Json order = NewOrder(c, {"wrong.example.test"});
  Json authz = c.Post(order["authorizations"][0], "").json();
  for (const auto& ch : authz["challenges"]) {
    if (ch["type"] != "http-01") continue;
    {
      std::lock_guard l(mu_);
      tokens_[ch["token"]] = "not-the-key-authorization";
    }
    c.Post(ch["url"], "{}");
  }
  RunJobs();
  authz = c.Post(order["authorizations"][0], "").json();
  EXPECT_EQ(authz["status"], "invalid");
  bool found = false;
  for (const auto& ch : authz["challenges"]) {
    if (ch["type"] == "http-01") {
      EXPECT_EQ(ch["error"]["type"], "urn:ietf:params:acme:error:incorrectResponse");
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

class EabTest : public AcmeServerTest {
  void SetUp() override {
    Start([](AcmeConfig& c) { c.external_account_required = true; });
  }
};

TEST_F(EabTest, RequiredBindsOnceAndRejectsBadMac) {
  EXPECT_EQ(testing::Http("GET", Dir()).json()["meta"]["externalAccountRequired"], true);
  AcmeClient c(Dir());
  auto none = c.Register();
  EXPECT_EQ(none.json()["type"], "urn:ietf:params:acme:error:externalAccountRequired");
  auto creds = *acme_->CreateEabKey("operator");
  auto eab_for = [&](AcmeClient& cl, const std::string& key) {
    Json h = {{"alg", "HS256"}, {"kid", creds.kid}, {"url", cl.dir["newAccount"]}};
    std::string prot = core::Base64UrlEncode(h.dump());
    std::string pay = core::Base64UrlEncode(cl.key.jwk.dump());
    return Json{{"protected", prot}, {"payload", pay},
                {"signature", core::Base64UrlEncode(core::ossl::HmacSha256(key, prot + "." + pay))}};
  };
  auto bad = c.Register({{"externalAccountBinding", eab_for(c, "wrong key")}});
  EXPECT_EQ(bad.json()["type"], "urn:ietf:params:acme:error:unauthorized");
  std::string mac = *core::Base64UrlDecodeToString(creds.hmac_key_b64url);
  auto ok = c.Register({{"externalAccountBinding", eab_for(c, mac)}});
  EXPECT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(ok.json()["externalAccountBinding"]["kid"], creds.kid);
  AcmeClient second(Dir());
  auto reuse = second.Register({{"externalAccountBinding", eab_for(second, mac)}});
  EXPECT_EQ(reuse.json()["type"], "urn:ietf:params:acme:error:unauthorized") << reuse.body;
}

TEST_F(AcmeServerTest, OrdersListIsPaginatedAndLimitsAreReadable) {
  AcmeClient c(Dir());
  c.Register();
  for (int i = 0; i < 3; ++i) NewOrder(c, {"o" + std::to_string(i) + ".example.test"});
  Json acct = c.Post(c.kid, "").json();
  auto page = c.Post(acct["orders"], "");
  EXPECT_EQ(page.json()["orders"].size(), 3u);
  auto limits = c.Post(c.kid + "/limits", "");
  ASSERT_EQ(limits.status, 200) << limits.body;
  EXPECT_EQ(limits.json()["newOrdersPerAccount"]["used"], 3);
}

// Certificates per registered domain count by the Public Suffix List: customers under a shared
// suffix (co.uk, github.io) have separate budgets, names under one registered domain share one.
class DomainLimitTest : public AcmeServerTest {
  void SetUp() override {
    Start([](AcmeConfig& c) {
      c.limits.certificates_per_registered_domain = {2, std::chrono::hours(24 * 7)};
    });
  }
};

TEST_F(DomainLimitTest, CertificatesPerRegisteredDomainFollowThePublicSuffixList) {
  AcmeClient c(Dir());
  ASSERT_EQ(c.Register().status, 201);
  auto k = testing::MakeKey("ES256");
  std::string out;
  EXPECT_EQ(VerifyChain(Issue(c, {"www.shop.example.co.uk"}, k.key.get()), &out), 0) << out;
  EXPECT_EQ(VerifyChain(Issue(c, {"mail.example.co.uk"}, k.key.get()), &out), 0) << out;
  // A third certificate under example.co.uk is refused at new-order, with Retry-After.
  HttpResult raw;
  NewOrder(c, {"api.example.co.uk"}, Json::object(), &raw);
  EXPECT_EQ(raw.status, 429) << raw.body;
  EXPECT_EQ(raw.json()["type"], "urn:ietf:params:acme:error:rateLimited");
  EXPECT_NE(raw.json()["detail"].get<std::string>().find("example.co.uk"), std::string::npos);
  EXPECT_FALSE(raw.header("retry-after").empty());
  // Another customer under co.uk, and github.io users (private section), are not affected
  // (the last-two-labels approximation counted all of co.uk as one domain).
  EXPECT_EQ(VerifyChain(Issue(c, {"www.other.co.uk"}, k.key.get()), &out), 0) << out;
  EXPECT_EQ(VerifyChain(Issue(c, {"alice.github.io"}, k.key.get()), &out), 0) << out;
  EXPECT_EQ(VerifyChain(Issue(c, {"bob.github.io"}, k.key.get()), &out), 0) << out;
  EXPECT_EQ(VerifyChain(Issue(c, {"carol.github.io"}, k.key.get()), &out), 0) << out;
}

// The default set-up of `hostplane serve`: validations on the server's own threads, no job rows.
class InProcessTest : public AcmeServerTest {
 protected:
  void SetUp() override {
    in_process_ = true;
    Start({});
  }
  int64_t ValidateJobs() {
    auto jobs = jobs_->List({.kind = "acme.validate"});
    return jobs ? static_cast<int64_t>(jobs->size()) : -1;
  }
};

TEST_F(InProcessTest, IssuesWithoutDurableJobsAndFailuresStillReachTheClient) {
  AcmeClient c(Dir());
  ASSERT_EQ(c.Register().status, 201);
  auto k = testing::MakeKey("ES256");
  std::string chain = Issue(c, {"www.example.test", "example.test"}, k.key.get());
  std::string out;
  EXPECT_EQ(VerifyChain(chain, &out), 0) << out;
  Json order = NewOrder(c, {"*.wild.test"});
  Authorize(c, order);  // dns-01 through the static DNS checker
  EXPECT_EQ(c.Post(order["url"], "").json()["status"], "ready");
  // A wrong key authorization: invalid, with the problem on the challenge.
  Json bad = NewOrder(c, {"bad.example.test"});
  Json authz = c.Post(bad["authorizations"][0], "").json();
  for (const auto& ch : authz["challenges"]) {
    if (ch["type"] != "http-01") continue;
    {
      std::lock_guard l(mu_);
      tokens_[ch["token"]] = "wrong";
    }
    ASSERT_EQ(c.Post(ch["url"], "{}").status, 200);
  }
  RunJobs();
  authz = c.Post(bad["authorizations"][0], "").json();
  EXPECT_EQ(authz["status"], "invalid") << authz.dump();
  EXPECT_EQ(ValidateJobs(), 0);
}

TEST_F(InProcessTest, AValidationInterruptedByACrashIsRunAgainAtStartUp) {
  AcmeClient c(Dir());
  ASSERT_EQ(c.Register().status, 201);
  Json order = NewOrder(c, {"crash.example.test"});
  Json authz = c.Post(order["authorizations"][0], "").json();
  std::string token;
  for (const auto& ch : authz["challenges"]) {
    if (ch["type"] == "http-01") token = ch["token"];
  }
  {
    std::lock_guard l(mu_);
    tokens_[token] = token + "." + (*Jwk::Parse(c.key.jwk))->thumbprint();
  }
  // What a crash right after the challenge response leaves behind: processing, long ago, and no
  // validation running.
  ASSERT_TRUE(db_->Write([](SQLite::Database& d) -> core::Status {
    d.exec("UPDATE acme_authz SET chall_type = 'http-01', chall_status = 'processing', "
           "processing_since = 1 WHERE status = 'pending'");
    return core::Ok();
  }));
  // The restarted server's sweeper finds it and validates it.
  AcmeConfig cfg;
  cfg.base_url = base_;
  cfg.terms_of_service_url = base_ + "/terms";
  cfg.caa_identities = {"ca.test"};
  cfg.validation.http_port = chall_server_->port();
  ApplyModeFromEnv(cfg);
  acme_.reset();
  auto again = AcmeServer::Create(cfg, {db_.get(), &clock_, jobs_.get(), nullptr, ca_.get(),
                                        dns_.get(), nonces_.get()});
  ASSERT_TRUE(again);
  acme_ = std::move(*again);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline && Processing() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(Processing(), 0);
  auto status = db_->Read([](SQLite::Database& d) -> core::Result<std::string> {
    return d.execAndGet("SELECT status FROM acme_authz").getString();
  });
  EXPECT_EQ(*status, "valid");
}

TEST_F(InProcessTest, AReplayedWriteIsRejectedAndChangesNothing) {
  AcmeClient c(Dir());
  ASSERT_EQ(c.Register().status, 201);
  const std::string payload =
      Json{{"identifiers", Json::array({{{"type", "dns"}, {"value", "replay.example.test"}}})}}
          .dump();
  const std::string body = c.SignedBody(c.dir["newOrder"], payload, false, c.Nonce());
  auto first = c.PostRaw(c.dir["newOrder"], body);
  ASSERT_EQ(first.status, 201) << first.body;
  auto replay = c.PostRaw(c.dir["newOrder"], body);
  EXPECT_EQ(replay.status, 400);
  EXPECT_NE(replay.body.find("badNonce"), std::string::npos) << replay.body;
  auto orders = db_->Read([](SQLite::Database& d) -> core::Result<int64_t> {
    return d.execAndGet("SELECT COUNT(*) FROM acme_orders").getInt64();
  });
  EXPECT_EQ(*orders, 1);
  // A read-only request consumes its nonce too.
  const std::string get = c.SignedBody(first.header("location"), "", false, c.Nonce());
  EXPECT_EQ(c.PostRaw(first.header("location"), get).status, 200);
  EXPECT_EQ(c.PostRaw(first.header("location"), get).status, 400);
}

// acme.request_threads = 0: authenticated POSTs run on the HTTP reactor threads themselves
// (no hand-off), blocking there during the group commit.
class OnReactorTest : public InProcessTest {
 protected:
  void SetUp() override {
    in_process_ = true;
    Start([](AcmeConfig& c) { c.request_threads = 0; });
  }
};

TEST_F(OnReactorTest, IssuesAndConcurrentOrdersAreEachCreatedOnce) {
  AcmeClient c(Dir());
  ASSERT_EQ(c.Register().status, 201);
  auto k = testing::MakeKey("ES256");
  std::string chain = Issue(c, {"reactor.example.test"}, k.key.get());
  std::string out;
  EXPECT_EQ(VerifyChain(chain, &out), 0) << out;
  // Concurrent clients on the server's reactor threads: every order is created exactly once
  // and every nonce is consumed (a replay is badNonce).
  constexpr int kClients = 4, kOrders = 5;
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      AcmeClient cl(Dir());
      if (cl.Register().status != 201) return;
      for (int i = 0; i < kOrders; ++i) {
        Json o = NewOrder(cl, {"r" + std::to_string(t) + "-" + std::to_string(i) + ".example.test"});
        if (o.value("status", "") == "pending") created.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(created.load(), kClients * kOrders);
  auto orders = db_->Read([](SQLite::Database& d) -> core::Result<int64_t> {
    return d.execAndGet("SELECT COUNT(*) FROM acme_orders").getInt64();
  });
  ASSERT_TRUE(orders);
  EXPECT_EQ(*orders, 1 + kClients * kOrders);
  const std::string body = c.SignedBody(c.dir["newOrder"], Json{{"identifiers", Json::array({{{"type", "dns"}, {"value", "again.example.test"}}})}}.dump(), false, c.Nonce());
  EXPECT_EQ(c.PostRaw(c.dir["newOrder"], body).status, 201);
  EXPECT_EQ(c.PostRaw(c.dir["newOrder"], body).status, 400);
}

// acme.request_threads = -1: every authenticated POST runs on a fiber started on the reactor
// thread; a write suspends it and the thread that commits the batch resumes it to reply. Two
// reactor threads (the server default) serve more concurrent clients than that, since no
// reactor ever waits for a commit.
class FiberTest : public InProcessTest {
 protected:
  void SetUp() override {
    in_process_ = true;
    Start([](AcmeConfig& c) { c.request_threads = -1; });
  }
};

TEST_F(FiberTest, IssuesConcurrentlyAndEveryWriteIsDurableBeforeItsReply) {
  AcmeClient c(Dir());
  ASSERT_EQ(c.Register().status, 201);
  auto k = testing::MakeKey("ES256");
  std::string chain = Issue(c, {"fiber.example.test"}, k.key.get());
  std::string out;
  EXPECT_EQ(VerifyChain(chain, &out), 0) << out;
  // More concurrent clients than reactor threads, each issuing: every reply that says an order
  // exists is backed by a committed row (the reply is sent only after the commit).
  constexpr int kClients = 8, kOrders = 4;
  std::atomic<int> created{0}, issued{0}, missing{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      AcmeClient cl(Dir());
      if (cl.Register().status != 201) return;
      for (int i = 0; i < kOrders; ++i) {
        Json o = NewOrder(cl, {"f" + std::to_string(t) + "-" + std::to_string(i) + ".example.test"});
        if (o.value("status", "") != "pending") continue;
        created.fetch_add(1);
        // Seen through a read connection right after the reply: already committed.
        const std::string url = o.value("finalize", "");
        const size_t from = url.find("/order/") + 7, to = url.rfind("/finalize");
        const std::string id = url.substr(from, to - from);
        auto n = db_->Read([&](SQLite::Database& d) -> core::Result<int64_t> {
          SQLite::Statement q(d, "SELECT COUNT(*) FROM acme_orders WHERE public_id = ?");
          q.bind(1, id);
          q.executeStep();
          return q.getColumn(0).getInt64();
        });
        if (!n || *n != 1) missing.fetch_add(1);
      }
      auto key = testing::MakeKey("ES256");
      if (!Issue(cl, {"g" + std::to_string(t) + ".example.test"}, key.key.get()).empty()) issued.fetch_add(1);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(created.load(), kClients * kOrders);
  EXPECT_EQ(missing.load(), 0);
  EXPECT_EQ(issued.load(), kClients);
  // A replayed request is badNonce and creates nothing; the problem document comes back through
  // the fiber like any other reply.
  const std::string body = c.SignedBody(c.dir["newOrder"], Json{{"identifiers", Json::array({{{"type", "dns"}, {"value", "again.example.test"}}})}}.dump(), false, c.Nonce());
  EXPECT_EQ(c.PostRaw(c.dir["newOrder"], body).status, 201);
  auto replay = c.PostRaw(c.dir["newOrder"], body);
  EXPECT_EQ(replay.status, 400);
  EXPECT_NE(replay.body.find("badNonce"), std::string::npos) << replay.body;
  auto orders = db_->Read([](SQLite::Database& d) -> core::Result<int64_t> {
    return d.execAndGet("SELECT COUNT(*) FROM acme_orders").getInt64();
  });
  ASSERT_TRUE(orders);
  EXPECT_EQ(*orders, 1 + kClients * kOrders + kClients + 1);
}

}  // namespace
}  // namespace hp::acme
