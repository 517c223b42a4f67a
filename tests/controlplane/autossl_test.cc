// Issue 7 (AutoSSL), first slice: the control plane's internal ACME client (hp/acme/client.h)
// obtains a certificate from our own RA/VA/CA over HTTPS, like any other client, with http-01
// answered by the site's vhost on the local shared-web nginx (`/.well-known/acme-challenge/`
// served from the site's document root). The validator's http-01 port points at the web node and
// every domain resolves to 127.0.0.1 through a zone hosted on the built-in DNS.
#include <gtest/gtest.h>

#include <functional>
#include <openssl/x509v3.h>

#include <filesystem>

#include "api_fixture.h"
#include "hp/acme/client.h"
#include "hp/core/http_client.h"
#include "hp/core/openssl.h"

namespace hp::testing {
namespace {

namespace fs = std::filesystem;
namespace ac = hp::acme::client;

class AutoSsl : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    web_port_ = FreePort();
    s_ = new ApiServer(
        {{"HOSTPLANE_PROVISIONING_WEB_LISTEN", "127.0.0.1:" + std::to_string(web_port_)},
         {"HOSTPLANE_PROVISIONING_STOP_WAIT_MS", "2000"},
         {"HOSTPLANE_ACME_VA_HTTP_PORT", std::to_string(web_port_)}});
  }
  static void TearDownTestSuite() { delete s_; }

  // Hosts `domain` on the built-in DNS (A 127.0.0.1 at the apex and *), creates an active site
  // for it and returns its document root.
  static std::string CreateSite(const ApiServer::Account& a, const std::string& domain) {
    const std::string zones = "/api/v1/organizations/" + a.org_id + "/zones";
    auto zone = s_->Call("POST", zones, {{"name", domain}}, a.session);
    EXPECT_EQ(zone.status, 201) << zone.body;
    for (const char* owner : {"@", "*"}) {
      auto rec = s_->Call("POST", zones + "/" + zone.json.value("id", "") + "/records",
                          {{"name", owner}, {"type", "A"}, {"data", "127.0.0.1"}}, a.session);
      EXPECT_EQ(rec.status, 201) << rec.body;
    }
    const std::string base = "/api/v1/organizations/" + a.org_id + "/sites";
    auto created = s_->Call("POST", base, {{"domain", domain}, {"quota_mib", 100}}, a.session);
    EXPECT_EQ(created.status, 202) << created.body;
    const std::string id = created.json["site"].value("id", "");
    const std::string op = created.json["operation"].value("url", "");
    Json site;
    EXPECT_TRUE(PollUntil(
        [&] {
          site = s_->Call("GET", base + "/" + id, nullptr, a.session).json;
          return site.value("state", "") == "active";
        },
        std::chrono::seconds(20), std::chrono::milliseconds(100)))
        << site.dump() << s_->Call("GET", op, nullptr, a.session).body;
    // nginx reloads asynchronously: wait until every worker serves the new site (three answers
    // in a row), so the validator's fetch does not meet an old worker that answers 404.
    const std::string root = site.value("document_root", "");
    const std::string domain = site.value("domain", "");
    if (!root.empty() && !domain.empty()) {
      fs::create_directories(root + "/.well-known/acme-challenge");
      WriteFile(root + "/.well-known/acme-challenge/ready-probe", "ready");
      int in_a_row = 0;
      EXPECT_TRUE(PollUntil([&] {
        auto r = HttpRequest("http://127.0.0.1:" + std::to_string(web_port_) + "/.well-known/acme-challenge/ready-probe",
                             HttpOptions{.headers = {"Host: " + domain}});
        in_a_row = (r.status == 200 && r.body == "ready") ? in_a_row + 1 : 0;
        return in_a_row >= 3;
      }, std::chrono::seconds(10)));
      fs::remove(root + "/.well-known/acme-challenge/ready-probe");
    }
    return root;
  }
  static HttpResult Web(const std::string& host, const std::string& path) {
    HttpOptions o;
    o.headers = {"Host: " + host};
    return HttpRequest("http://127.0.0.1:" + std::to_string(web_port_) + path, o);
  }
  static std::unique_ptr<ac::AcmeClient> NewClient(core::HttpClient& http) {
    auto key = core::ossl::GenerateEcKey("P-256");
    EXPECT_TRUE(key.has_value());
    auto c = ac::AcmeClient::Create(
        http,
        {.directory_url = s_->server().Url("/acme/directory"), .ca_file = s_->server().CaFile()},
        std::move(*key));
    EXPECT_TRUE(c.has_value()) << c.error().ToString();
    return std::move(*c);
  }
  // Writes key authorizations into <docroot>/.well-known/acme-challenge/<token>.
  static ac::Http01Presenter DocrootPresenter(const std::string& docroot,
                                              std::vector<std::string>* seen = nullptr) {
    const std::string dir = docroot + "/.well-known/acme-challenge";
    return {
        .present = [dir, seen](const std::string& token, const std::string& ka) -> core::Status {
          fs::create_directories(dir);
          WriteFile(dir + "/" + token, ka);
          if (seen) seen->push_back(token);
          return core::Ok();
        },
        .cleanup = [dir](const std::string& token) { fs::remove(dir + "/" + token); }};
  }

  static ApiServer* s_;
  static int web_port_;
};
ApiServer* AutoSsl::s_ = nullptr;
int AutoSsl::web_port_ = 0;

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

TEST_F(AutoSsl, WebNodeServesAcmeChallengesFromTheDocumentRootDespiteTheDotFileRule) {
  auto a = s_->SignUp("challenge@a.example", "Challenge Org");
  const std::string docroot = CreateSite(a, "challenge.example.test");
  ASSERT_FALSE(docroot.empty());
  fs::create_directories(docroot + "/.well-known/acme-challenge");
  WriteFile(docroot + "/.well-known/acme-challenge/tok123", "tok123.thumb");
  WriteFile(docroot + "/.well-known/secret", "no");
  // nginx reloads asynchronously: old workers may answer for a moment, so each check polls until
  // three answers in a row are the expected one.
  auto stable = [&](const std::function<bool()>& ok) {
    int in_a_row = 0;
    return PollUntil([&] { in_a_row = ok() ? in_a_row + 1 : 0; return in_a_row >= 3; }, std::chrono::seconds(10));
  };
  EXPECT_TRUE(stable([&] {
    auto r = Web("challenge.example.test", "/.well-known/acme-challenge/tok123");
    return r.status == 200 && r.body == "tok123.thumb" && r.headers["content-type"].rfind("text/plain", 0) == 0;
  })) << "the challenge file is served as text/plain";
  EXPECT_TRUE(stable([&] { return Web("challenge.example.test", "/.well-known/acme-challenge/missing").status == 404; }));
  EXPECT_TRUE(stable([&] { return Web("challenge.example.test", "/.well-known/secret").status == 403; }))
      << "other dot files stay denied";
}

TEST_F(AutoSsl, InternalClientObtainsACertificateThroughTheSiteVhost) {
  auto a = s_->SignUp("shop@a.example", "Shop Org");
  const std::string docroot = CreateSite(a, "shop.example.test");
  ASSERT_FALSE(docroot.empty());
  auto http = core::NewCurlHttpClient();
  auto client = NewClient(*http);
  auto kid = client->Register({"mailto:autossl@hostplane.example"});
  ASSERT_TRUE(kid.has_value()) << kid.error().ToString();
  EXPECT_NE(kid->find("/acme/"), std::string::npos) << *kid;
  // Registering the same key again finds the same account.
  auto again = client->Register();
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_EQ(*again, *kid);

  auto cert_key = core::ossl::GenerateEcKey("P-256");
  ASSERT_TRUE(cert_key.has_value());
  std::vector<std::string> tokens;
  auto issued =
      ac::ObtainCertificate(*client, {"shop.example.test"}, DocrootPresenter(docroot, &tokens),
                            cert_key->get(), std::chrono::seconds(30));
  ASSERT_TRUE(issued.has_value()) << issued.error().ToString();
  EXPECT_EQ(tokens.size(), 1u);
  for (const auto& t : tokens) {
    EXPECT_FALSE(fs::exists(docroot + "/.well-known/acme-challenge/" + t)) << "cleaned up";
  }
  EXPECT_EQ(SanNames(issued->chain_pem), std::vector<std::string>{"shop.example.test"});
  // The chain verifies against our root.
  TempDir d;
  WriteFile(d.path() + "/chain.pem", issued->chain_pem);
  auto [rc, out] =
      hp::testing::Run({"openssl", "verify", "-CAfile", s_->var() + "/ca/root.pem", "-untrusted",
                        d.path() + "/chain.pem", d.path() + "/chain.pem"});
  EXPECT_EQ(rc, 0) << out;
}

TEST_F(AutoSsl, AMissingKeyAuthorizationFailsWithTheValidatorsProblem) {
  auto a = s_->SignUp("broken@a.example", "Broken Org");
  const std::string docroot = CreateSite(a, "broken.example.test");
  ASSERT_FALSE(docroot.empty());
  auto http = core::NewCurlHttpClient();
  auto client = NewClient(*http);
  ASSERT_TRUE(client->Register().has_value());
  auto cert_key = core::ossl::GenerateEcKey("P-256");
  ac::Http01Presenter nothing{
      .present = [](const std::string&, const std::string&) { return core::Ok(); }};
  auto issued = ac::ObtainCertificate(*client, {"broken.example.test"}, nothing, cert_key->get(),
                                      std::chrono::seconds(30));
  ASSERT_FALSE(issued.has_value());
  EXPECT_NE(issued.error().detail.find("broken.example.test"), std::string::npos)
      << issued.error().ToString();
  EXPECT_NE(issued.error().detail.find("urn:ietf:params:acme:error:"), std::string::npos)
      << issued.error().ToString();
}

TEST_F(AutoSsl, RequestedThroughTheApiTheJobIssuesAndTheStatusIsVisible) {
  auto a = s_->SignUp("api@a.example", "API Org");
  const std::string docroot = CreateSite(a, "api.example.test");
  ASSERT_FALSE(docroot.empty());
  // The site's id from the list.
  auto sites = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/sites", nullptr, a.session);
  ASSERT_EQ(sites.json["items"].size(), 1u) << sites.body;
  const std::string site_id = sites.json["items"][0]["id"];
  const std::string certs = "/api/v1/organizations/" + a.org_id + "/certificates";
  const std::string req =
      "/api/v1/organizations/" + a.org_id + "/sites/" + site_id + "/certificates";

  auto other = s_->Call("POST", req, {{"domain", "elsewhere.example.test"}}, a.session);
  EXPECT_EQ(other.status, 400) << "only the site's own names: " << other.body;
  auto b = s_->SignUp("intruder@b.example", "Other Org");
  auto foreign =
      s_->Call("POST", "/api/v1/organizations/" + b.org_id + "/sites/" + site_id + "/certificates",
               {{"domain", "api.example.test"}}, b.session);
  EXPECT_EQ(foreign.status, 404) << foreign.body;

  auto accepted = s_->Call("POST", req, {{"domain", "api.example.test"}}, a.session);
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  EXPECT_EQ(accepted.json["certificate"]["status"], "pending") << accepted.body;
  Json item;
  EXPECT_TRUE(PollUntil(
      [&] {
        auto list = s_->Call("GET", certs, nullptr, a.session);
        if (list.json["items"].size() != 1) return false;
        item = list.json["items"][0];
        const std::string st = item.value("status", "");
        return st == "valid" || st == "failed";
      },
      std::chrono::seconds(60), std::chrono::milliseconds(200)))
      << item.dump();
  EXPECT_EQ(item["status"], "valid") << item.dump();
  EXPECT_EQ(item["domain"], "api.example.test");
  EXPECT_EQ(item["site_id"], site_id);
  EXPECT_TRUE(item["last_error"].is_null()) << item.dump();
  EXPECT_TRUE(item["not_after"].is_number()) << item.dump();
  EXPECT_TRUE(
      s_->Call("GET", "/api/v1/organizations/" + b.org_id + "/certificates", nullptr, b.session)
          .json["items"]
          .empty())
      << "scoped by organization";
  EXPECT_FALSE(fs::exists(docroot + "/.well-known/acme-challenge") &&
               !fs::is_empty(docroot + "/.well-known/acme-challenge"))
      << "challenge files are removed";
}

}  // namespace
}  // namespace hp::testing
