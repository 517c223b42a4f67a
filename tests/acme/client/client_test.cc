// The ACME client the control plane's AutoSSL uses (hp/acme/client.h) against our ACME server
// in-process over real HTTP: account registration (and finding it again), the whole http-01
// issuance, and a failed validation surfacing the validator's problem.
#include "hp/acme/client.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "hp/acme/ca.h"
#include "hp/acme/migrations.h"
#include "hp/acme/server.h"
#include "hp/core/http_client.h"
#include "hp/core/http_server.h"
#include "testing/acme_test_util.h"

namespace hp::acme {
namespace {

namespace ac = hp::acme::client;

class AcmeClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
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
    // The web node's role: serves /.well-known/acme-challenge/<token> from what was "written".
    chall_router_.Add({"GET", "/.well-known/acme-challenge/{token}", "", "", "", false},
                      [this](core::http::Request&& req, core::http::Reply reply) {
                        std::lock_guard l(mu_);
                        auto it = files_.find(req.Param("token"));
                        reply(it == files_.end() ? core::http::Response::Text(404, "no")
                                                 : core::http::Response::Text(200, it->second));
                      });
    chall_server_ = std::move(
        *core::http::Server::Create({.port = 0, .access_log = false}, chall_router_, metrics_));
    ASSERT_TRUE(chall_server_->Start());
    server_ =
        std::move(*core::http::Server::Create({.port = 0, .access_log = false}, router_, metrics_));
    ASSERT_TRUE(server_->Start());
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
    AcmeConfig cfg;
    cfg.base_url = base_;
    cfg.terms_of_service_url = base_ + "/terms";
    cfg.caa_identities = {"ca.test"};
    cfg.validation.http_port = chall_server_->port();
    cfg.validation.in_process = true;
    auto acme = AcmeServer::Create(
        cfg, {db_.get(), &clock_, jobs_.get(), nullptr, ca_.get(), dns_.get(), nonces_.get()});
    ASSERT_TRUE(acme);
    acme_ = std::move(*acme);
    acme_->RegisterRoutes(router_);
    acme_->RegisterJobs(*pool_);
    pool_->Start();
    http_ = core::NewCurlHttpClient();
  }
  void TearDown() override {
    if (pool_) pool_->Stop(std::chrono::seconds(2));
    if (server_) server_->Shutdown(std::chrono::milliseconds(100));
    if (chall_server_) chall_server_->Shutdown(std::chrono::milliseconds(100));
    acme_.reset();
  }

  std::unique_ptr<ac::AcmeClient> NewClient(core::ossl::PKey key = {}) {
    if (!key) key = std::move(*core::ossl::GenerateEcKey("P-256"));
    auto c = ac::AcmeClient::Create(*http_, {.directory_url = base_ + "/acme/directory"},
                                    std::move(key));
    EXPECT_TRUE(c.has_value()) << c.error().ToString();
    return std::move(*c);
  }
  ac::Http01Presenter Files() {
    return {.present = [this](const std::string& token, const std::string& ka) -> core::Status {
              std::lock_guard l(mu_);
              files_[token] = ka;
              ++presented_;
              return core::Ok();
            },
            .cleanup =
                [this](const std::string& token) {
                  std::lock_guard l(mu_);
                  files_.erase(token);
                }};
  }

  std::string dir_, base_;
  core::SystemClock clock_;
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
  std::unique_ptr<core::HttpClient> http_;
  std::mutex mu_;
  std::map<std::string, std::string> files_;
  int presented_ = 0;
};

std::vector<std::string> SanNames(const std::string& chain_pem) {
  std::vector<std::string> out;
  auto cert = core::ossl::ReadCertificatePem(chain_pem);
  if (!cert) return out;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert->get(), NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_DNS) {
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                       ASN1_STRING_length(n->d.dNSName));
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

TEST_F(AcmeClientTest, RejectsNonP256AccountKeys) {
  auto rsa = core::ossl::GenerateRsaKey(2048);
  ASSERT_TRUE(rsa);
  auto c =
      ac::AcmeClient::Create(*http_, {.directory_url = base_ + "/acme/directory"}, std::move(*rsa));
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, core::ErrorCode::kInvalidArgument);
}

TEST_F(AcmeClientTest, RegistersOnceAndFindsTheAccountAgainWithTheSameKey) {
  auto key = core::ossl::GenerateEcKey("P-256");
  ASSERT_TRUE(key);
  auto pem = core::ossl::PrivateKeyToPem(key->get());
  ASSERT_TRUE(pem);
  auto c = NewClient(std::move(*key));
  auto kid = c->Register({"mailto:autossl@hostplane.example"});
  ASSERT_TRUE(kid.has_value()) << kid.error().ToString();
  EXPECT_EQ(kid->rfind(base_ + "/acme/", 0), 0u) << *kid;
  // A new client with the key read back (as AutoSSL does after opening it) finds the account.
  auto again = NewClient(std::move(*core::ossl::ReadPrivateKeyPem(*pem)));
  auto kid2 = again->Register();
  ASSERT_TRUE(kid2.has_value()) << kid2.error().ToString();
  EXPECT_EQ(*kid2, *kid);
  EXPECT_EQ(again->thumbprint(), c->thumbprint());
  EXPECT_EQ(c->KeyAuthorization("tok"), "tok." + c->thumbprint());
}

TEST_F(AcmeClientTest, ObtainsACertificateWithHttp01) {
  auto c = NewClient();
  ASSERT_TRUE(c->Register().has_value());
  auto cert_key = core::ossl::GenerateEcKey("P-256");
  ASSERT_TRUE(cert_key);
  auto issued = ac::ObtainCertificate(*c, {"shop.example.test", "www.shop.example.test"}, Files(),
                                      cert_key->get(), std::chrono::seconds(30),
                                      std::chrono::milliseconds(20));
  ASSERT_TRUE(issued.has_value()) << issued.error().ToString();
  EXPECT_EQ(presented_, 2);
  EXPECT_TRUE(files_.empty()) << "every presented token is cleaned up";
  auto sans = SanNames(issued->chain_pem);
  std::sort(sans.begin(), sans.end());
  EXPECT_EQ(sans, (std::vector<std::string>{"shop.example.test", "www.shop.example.test"}));
  EXPECT_NE(issued->chain_pem.find("-----BEGIN CERTIFICATE-----", 10), std::string::npos)
      << "leaf and intermediate";
  // The leaf carries the key we generated.
  auto leaf = core::ossl::ReadCertificatePem(issued->chain_pem);
  ASSERT_TRUE(leaf);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(leaf->get()), cert_key->get()), 1);
  // The order is valid on the server too.
  auto order = c->GetOrder(issued->order_url);
  ASSERT_TRUE(order.has_value()) << order.error().ToString();
  EXPECT_EQ(order->status, "valid");
  EXPECT_EQ(order->certificate, issued->certificate_url);
}

TEST_F(AcmeClientTest, AMissingKeyAuthorizationFailsWithTheValidatorsProblem) {
  auto c = NewClient();
  ASSERT_TRUE(c->Register().has_value());
  auto cert_key = core::ossl::GenerateEcKey("P-256");
  ac::Http01Presenter nothing{
      .present = [](const std::string&, const std::string&) { return core::Ok(); }};
  auto issued = ac::ObtainCertificate(*c, {"broken.example.test"}, nothing, cert_key->get(),
                                      std::chrono::seconds(30), std::chrono::milliseconds(20));
  ASSERT_FALSE(issued.has_value());
  EXPECT_NE(issued.error().detail.find("broken.example.test"), std::string::npos)
      << issued.error().ToString();
  EXPECT_NE(issued.error().detail.find("urn:ietf:params:acme:error:"), std::string::npos)
      << issued.error().ToString();
}

TEST_F(AcmeClientTest, OrdersNeedAnAccountAndProblemsMapToAcmeCodes) {
  auto c = NewClient();
  auto no_account = c->NewOrder({"a.example.test"});
  ASSERT_FALSE(no_account.has_value());
  EXPECT_EQ(no_account.error().code, core::ErrorCode::kConflict);
  ASSERT_TRUE(c->Register().has_value());
  auto bad = c->NewOrder({"not a name"});
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().code, core::ErrorCode::kInternal) << bad.error().ToString();
  EXPECT_EQ(bad.error().detail.rfind("urn:ietf:params:acme:error:", 0), 0u)
      << bad.error().ToString();
}

}  // namespace
}  // namespace hp::acme
