// Issue 7 (AutoSSL), first slice: the control plane's internal ACME client (hp/acme/client.h)
// obtains a certificate from our own RA/VA/CA over HTTPS, like any other client, with http-01
// answered by the site's vhost on the local shared-web nginx (`/.well-known/acme-challenge/`
// served from the site's document root). The validator's http-01 port points at the web node and
// every domain resolves to 127.0.0.1 through a zone hosted on the built-in DNS.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "api_fixture.h"
#include "hp/acme/client.h"
#include "hp/core/http_client.h"
#include "hp/core/openssl.h"
#include <SQLiteCpp/SQLiteCpp.h>

namespace hp::testing {
namespace {

namespace fs = std::filesystem;
namespace ac = hp::acme::client;

class AutoSsl : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    web_port_ = FreePort();
    tls_port_ = FreePort();
    s_ = new ApiServer(
        {{"HOSTPLANE_PROVISIONING_WEB_LISTEN", "127.0.0.1:" + std::to_string(web_port_)},
         {"HOSTPLANE_PROVISIONING_WEB_TLS_LISTEN", "127.0.0.1:" + std::to_string(tls_port_)},
         {"HOSTPLANE_PROVISIONING_STOP_WAIT_MS", "2000"},
         // Retries of an issuance that met an old nginx worker come quickly in tests.
         {"HOSTPLANE_AUTOSSL_SCAN_INTERVAL_S", "2"},
         {"HOSTPLANE_AUTOSSL_RETRY_BASE_S", "1"},
         {"HOSTPLANE_AUTOSSL_SUPERSEDE_GRACE_S", "3600"},
         {"HOSTPLANE_ACME_VA_HTTP_PORT", std::to_string(web_port_)}});
  }
  static void TearDownTestSuite() { delete s_; }

  // A zone on the built-in DNS with A 127.0.0.1 at the apex and *.
  static void HostZone(const ApiServer::Account& a, const std::string& domain) {
    const std::string zones = "/api/v1/organizations/" + a.org_id + "/zones";
    auto zone = s_->Call("POST", zones, {{"name", domain}}, a.session);
    EXPECT_EQ(zone.status, 201) << zone.body;
    for (const char* owner : {"@", "*"}) {
      auto rec = s_->Call("POST", zones + "/" + zone.json.value("id", "") + "/records",
                          {{"name", owner}, {"type", "A"}, {"data", "127.0.0.1"}}, a.session);
      EXPECT_EQ(rec.status, 201) << rec.body;
    }
  }
  // The organization's certificate record for `domain` once `pred` holds (null on timeout).
  static Json WaitCertificate(const ApiServer::Account& a, const std::string& domain,
                              const std::function<bool(const Json&)>& pred,
                              std::chrono::seconds timeout = std::chrono::seconds(90)) {
    Json found;
    bool ok = PollUntil(
        [&] {
          auto list = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/certificates",
                               nullptr, a.session);
          for (const auto& c : list.json["items"])
            if (c.value("domain", "") == domain) {
              found = c;
              return pred(c);
            }
          return false;
        },
        timeout, std::chrono::milliseconds(200));
    return ok ? found : Json(nullptr);
  }

  // Hosts `domain` on the built-in DNS (A 127.0.0.1 at the apex and *), creates an active site
  // for it and returns its document root.
  static std::string CreateSite(const ApiServer::Account& a, const std::string& domain,
                                bool host_zone = true) {
    if (host_zone) HostZone(a, domain);
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
  static int tls_port_;
};
ApiServer* AutoSsl::s_ = nullptr;
int AutoSsl::web_port_ = 0;
int AutoSsl::tls_port_ = 0;

// One HTTPS GET over our own TLS client: verified against var/ca/root.pem for `host` at the time
// `at` (the server's dev clock: certificates issued after Advance start in the "future").
struct TlsGet {
  bool ok = false;
  std::string error;
  int status = 0;
  std::string body, serial, leaf_pem;
};
TlsGet HttpsGet(const std::string& ca, int port, const std::string& host, time_t at) {
  TlsGet out;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  X509_VERIFY_PARAM* vp = SSL_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_time(vp, at);
  X509_VERIFY_PARAM_set1_host(vp, host.c_str(), 0);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL* ssl = nullptr;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    out.error = "connect failed";
  } else {
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, host.c_str());
    if (SSL_connect(ssl) != 1) {
      out.error = "handshake failed: verify " +
                  std::string(X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
    } else {
      if (X509* leaf = SSL_get1_peer_certificate(ssl)) {
        BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), nullptr);
        char* hex = BN_bn2hex(bn);
        out.serial = hex;
        for (char& c : out.serial) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        OPENSSL_free(hex);
        BN_free(bn);
        BIO* b = BIO_new(BIO_s_mem());
        PEM_write_bio_X509(b, leaf);
        char* data = nullptr;
        long n = BIO_get_mem_data(b, &data);
        out.leaf_pem.assign(data, static_cast<size_t>(n));
        BIO_free(b);
        X509_free(leaf);
      }
      const std::string req = "GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
      SSL_write(ssl, req.data(), static_cast<int>(req.size()));
      std::string resp;
      char buf[4096];
      int n;
      while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
      if (resp.rfind("HTTP/1.1 ", 0) == 0) out.status = std::atoi(resp.c_str() + 9);
      auto body = resp.find("\r\n\r\n");
      if (body != std::string::npos) out.body = resp.substr(body + 4);
      out.ok = out.status != 0;
      if (!out.ok) out.error = "no HTTP answer";
    }
  }
  if (ssl) {
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  ::close(fd);
  SSL_CTX_free(ctx);
  return out;
}

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
  auto a = s_->SignUp("client@a.example", "Client Org");
  const std::string docroot = CreateSite(a, "client.example.test");
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
      ac::ObtainCertificate(*client, {"client.example.test"}, DocrootPresenter(docroot, &tokens),
                            cert_key->get(), std::chrono::seconds(30));
  ASSERT_TRUE(issued.has_value()) << issued.error().ToString();
  EXPECT_EQ(tokens.size(), 1u);
  for (const auto& t : tokens) {
    EXPECT_FALSE(fs::exists(docroot + "/.well-known/acme-challenge/" + t)) << "cleaned up";
  }
  EXPECT_EQ(SanNames(issued->chain_pem), std::vector<std::string>{"client.example.test"});
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
        for (const auto& c : list.json["items"])
          if (c.value("domain", "") == "api.example.test") item = c;
        const std::string st = item.is_null() ? "" : item.value("status", "");
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
  // Site activation requested a certificate by itself too, and its job (or a preflight probe of
  // the www name) may still be finishing when this one reads valid: the files go once all are done.
  const std::string challenges = docroot + "/.well-known/acme-challenge";
  EXPECT_TRUE(PollUntil(
      [&] {
        std::error_code ec;
        return !fs::exists(challenges, ec) || fs::is_empty(challenges, ec);
      },
      std::chrono::seconds(30), std::chrono::milliseconds(100)))
      << "challenge files are removed; left: " << [&] {
           std::string names;
           std::error_code ec;
           for (const auto& e : fs::directory_iterator(challenges, ec))
             names += e.path().filename().string() + " ";
           return names;
         }();
}

// Acceptance 1: a name added to a site gets HTTPS with no further action: AutoSSL issues through
// the site's vhost (http-01 validated by our VA), deploys the chain and key into the site's TLS
// server block on the real nginx and curl verifies the site against our root.
TEST_F(AutoSsl, ADomainAddedToASiteIsServedOverHttpsWithItsOwnCertificate) {
  auto a = s_->SignUp("deploy@a.example", "Deploy Org");
  const std::string docroot = CreateSite(a, "deploy.example.test");
  ASSERT_FALSE(docroot.empty());
  WriteFile(docroot + "/index.html", "<h1>the shop of deploy org</h1>\n");
  auto sites = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/sites", nullptr, a.session);
  ASSERT_EQ(sites.json["items"].size(), 1u) << sites.body;
  const std::string site_id = sites.json["items"][0]["id"];
  HostZone(a, "shop.example.test");

  const std::string domains = "/api/v1/organizations/" + a.org_id + "/sites/" + site_id + "/domains";
  auto bad = s_->Call("POST", domains, {{"domain", "not a domain"}}, a.session);
  EXPECT_EQ(bad.status, 400) << bad.body;
  auto taken = s_->Call("POST", domains, {{"domain", "www.deploy.example.test"}}, a.session);
  EXPECT_EQ(taken.status, 409) << "already a name of the site: " << taken.body;
  auto b = s_->SignUp("other-deploy@b.example", "Other Deploy Org");
  auto foreign = s_->Call("POST", "/api/v1/organizations/" + b.org_id + "/sites/" + site_id + "/domains",
                          {{"domain", "shop.example.test"}}, b.session);
  EXPECT_EQ(foreign.status, 404) << foreign.body;

  const auto t0 = std::chrono::steady_clock::now();
  auto added = s_->Call("POST", domains, {{"domain", "shop.example.test"}}, a.session);
  ASSERT_EQ(added.status, 202) << added.body;
  EXPECT_NE(std::find(added.json["site"]["domains"].begin(), added.json["site"]["domains"].end(),
                      Json("shop.example.test")),
            added.json["site"]["domains"].end())
      << added.body;

  // Bounded: issued and deployed within 90 s of adding the name, no further call.
  Json cert = WaitCertificate(a, "shop.example.test", [](const Json& c) {
    return c.value("status", "") == "valid" && c.value("deployed", false);
  });
  ASSERT_FALSE(cert.is_null()) << s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/certificates", nullptr, a.session).body;
  EXPECT_TRUE(cert["serial"].is_string());
  EXPECT_TRUE(cert["renew_at"].is_number());
  EXPECT_LT(cert["renew_at"].get<int64_t>(), cert["not_after"].get<int64_t>());

  // The key is on disk only in the 0600 file the server block names.
  const std::string live = s_->var() + "/autossl/live/" + site_id + "/shop.example.test";
  struct stat st {};
  ASSERT_EQ(::stat((live + "/privkey.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(fs::exists(live + "/fullchain.pem"));

  // curl --cacert <our root> --resolve gets the site's content (polled: reloads are async).
  const std::string port = std::to_string(tls_port_);
  std::string out;
  EXPECT_TRUE(PollUntil(
      [&] {
        auto [rc, o] = hp::testing::Run({"curl", "-sS", "--max-time", "5", "--cacert", s_->var() + "/ca/root.pem",
                            "--resolve", "shop.example.test:" + port + ":127.0.0.1",
                            "https://shop.example.test:" + port + "/"});
        out = o;
        return rc == 0 && o.find("the shop of deploy org") != std::string::npos;
      },
      std::chrono::seconds(20), std::chrono::milliseconds(200)))
      << out;
  const auto took = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0);
  EXPECT_LT(took.count(), 110) << "from adding the name to HTTPS";
  // The served certificate's SAN is the domain.
  auto got = HttpsGet(s_->var() + "/ca/root.pem", tls_port_, "shop.example.test", std::time(nullptr));
  ASSERT_TRUE(got.ok) << got.error;
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.serial, cert.value("serial", ""));
  EXPECT_EQ(SanNames(got.leaf_pem), std::vector<std::string>{"shop.example.test"});

  // The site's own domain was issued automatically when the site became active.
  Json own = WaitCertificate(a, "deploy.example.test", [](const Json& c) {
    return c.value("status", "") == "valid" && c.value("deployed", false);
  });
  EXPECT_FALSE(own.is_null()) << "issuance on activation";

  // Removing the name revokes its certificate (cessationOfOperation) and removes the files.
  auto removed = s_->Call("DELETE", domains + "/shop.example.test", nullptr, a.session);
  ASSERT_EQ(removed.status, 202) << removed.body;
  EXPECT_TRUE(PollUntil([&] { return !fs::exists(live); }, std::chrono::seconds(30)));
  auto ari = ac::AriCertificateId(got.leaf_pem);
  ASSERT_TRUE(ari.has_value());
  Json window;
  EXPECT_TRUE(PollUntil(
      [&] {
        auto r = HttpRequest(s_->server().Url("/acme/renewal-info/" + *ari),
                             HttpOptions{.ca_file = s_->server().CaFile()});
        window = Json::parse(r.body, nullptr, false);
        // A revoked certificate's suggested window lies in the past (renew now).
        if (!window.is_object() || !window.contains("suggestedWindow")) return false;
        const std::string end = window["suggestedWindow"].value("end", "");
        struct tm tm {};
        strptime(end.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
        return timegm(&tm) <= std::time(nullptr) + static_cast<time_t>(s_->offset()) + 5;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(200)))
      << window.dump();
  auto remaining = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/certificates", nullptr, a.session);
  for (const auto& c : remaining.json["items"]) EXPECT_NE(c.value("domain", ""), "shop.example.test");
}

// Acceptance 2: with the dev clock moved into the certificate's ARI window the renewal scan
// orders a replacement (`replaces`), deploys it, and nginx serves the new serial while a client
// loop sees no failed request during the reload.
TEST_F(AutoSsl, InTheAriWindowTheCertificateIsRenewedWithoutDroppingARequest) {
  auto a = s_->SignUp("renew@a.example", "Renew Org");
  const std::string docroot = CreateSite(a, "renew.example.test");
  ASSERT_FALSE(docroot.empty());
  WriteFile(docroot + "/index.html", "renewed site\n");
  Json first = WaitCertificate(a, "renew.example.test", [](const Json& c) {
    return c.value("status", "") == "valid" && c.value("deployed", false);
  });
  ASSERT_FALSE(first.is_null());
  const std::string ca = s_->var() + "/ca/root.pem";
  const std::string serial1 = first.value("serial", "");
  std::string leaf1;
  EXPECT_TRUE(PollUntil(
      [&] {
        auto g = HttpsGet(ca, tls_port_, "renew.example.test", std::time(nullptr) + static_cast<time_t>(s_->offset()));
        leaf1 = g.leaf_pem;
        return g.ok && g.serial == serial1;
      },
      std::chrono::seconds(20), std::chrono::milliseconds(100)));

  // Into the window (renew_at is inside the ARI suggested window).
  const double dev_now = static_cast<double>(std::time(nullptr)) + s_->offset();
  const double jump = static_cast<double>(first["renew_at"].get<int64_t>()) - dev_now + 5;
  ASSERT_GT(jump, 0);
  s_->Advance(jump);
  const time_t at = std::time(nullptr) + static_cast<time_t>(s_->offset());
  a.session = s_->SignIn(a.email, a.password);  // the session expired with the jump

  std::atomic<bool> stop{false};
  std::atomic<int> requests{0}, failures{0};
  std::string first_failure;
  std::mutex mu;
  std::set<std::string> serials_seen;
  std::thread loop([&] {
    while (!stop) {
      auto g = HttpsGet(ca, tls_port_, "renew.example.test", at + 60);
      ++requests;
      std::lock_guard lock(mu);
      if (!g.ok || g.status != 200 || g.body != "renewed site\n") {
        if (failures++ == 0) first_failure = g.error + " status " + std::to_string(g.status);
      } else {
        serials_seen.insert(g.serial);
      }
    }
  });
  Json renewed = WaitCertificate(a, "renew.example.test", [&](const Json& c) {
    return c.value("status", "") == "valid" && c.value("serial", "") != serial1 && c.value("deployed", false);
  });
  // Keep the loop running until the new serial is served stably.
  std::string serial2 = renewed.is_null() ? "" : renewed.value("serial", "");
  int in_a_row = 0;
  EXPECT_TRUE(PollUntil(
      [&] {
        auto g = HttpsGet(ca, tls_port_, "renew.example.test", at + 60);
        in_a_row = (g.ok && g.serial == serial2) ? in_a_row + 1 : 0;
        return in_a_row >= 5;
      },
      std::chrono::seconds(20), std::chrono::milliseconds(100)));
  // The client loop keeps going for a few more requests after the switch before it stops.
  const int seen_so_far = requests.load();
  EXPECT_TRUE(PollUntil([&] { return requests.load() >= seen_so_far + 5; }, std::chrono::seconds(10)));
  stop = true;
  loop.join();
  ASSERT_FALSE(renewed.is_null()) << "renewal in the ARI window";
  EXPECT_NE(serial2, serial1);
  EXPECT_GT(renewed["not_after"].get<int64_t>(), first["not_after"].get<int64_t>());
  EXPECT_EQ(failures.load(), 0) << first_failure << " of " << requests.load();
  EXPECT_GT(requests.load(), 5);
  std::lock_guard lock(mu);
  EXPECT_TRUE(serials_seen.count(serial2)) << "the loop saw the new certificate";
  // The renewal was ordered as a replacement (RFC 9773 `replaces` names the old certificate).
  auto ari = ac::AriCertificateId(leaf1);
  ASSERT_TRUE(ari.has_value());
  SQLite::Database db(s_->var() + "/hostplane.db", SQLite::OPEN_READONLY, 5000);
  SQLite::Statement q(db, "SELECT count(*) FROM acme_orders WHERE replaces = ?");
  q.bind(1, *ari);
  ASSERT_TRUE(q.executeStep());
  EXPECT_GE(q.getColumn(0).getInt(), 1) << "an order with replaces=" << *ari;
}

// Acceptance 3a: a wildcard name is validated with dns-01 through the organization's zone hosted
// with us (the TXT record is published there and removed afterwards) and served for any label.
TEST_F(AutoSsl, AWildcardIsIssuedThroughTheHostedZoneWithDns01) {
  auto a = s_->SignUp("wild@a.example", "Wild Org");
  const std::string docroot = CreateSite(a, "wild.example.test");
  ASSERT_FALSE(docroot.empty());
  WriteFile(docroot + "/index.html", "wildcard site\n");
  auto sites = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/sites", nullptr, a.session);
  const std::string site_id = sites.json["items"][0]["id"];
  auto added = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/sites/" + site_id + "/domains",
                        {{"domain", "*.wild.example.test"}}, a.session);
  ASSERT_EQ(added.status, 202) << added.body;
  Json cert = WaitCertificate(a, "*.wild.example.test", [](const Json& c) {
    const std::string st = c.value("status", "");
    return (st == "valid" && c.value("deployed", false)) || (st == "failed" && c.value("failures", 0) > 1);
  });
  ASSERT_FALSE(cert.is_null());
  ASSERT_EQ(cert.value("status", ""), "valid") << cert.dump();
  TlsGet got;
  EXPECT_TRUE(PollUntil(
      [&] {
        got = HttpsGet(s_->var() + "/ca/root.pem", tls_port_, "anything.wild.example.test", std::time(nullptr));
        return got.ok && got.serial == cert.value("serial", "");
      },
      std::chrono::seconds(20), std::chrono::milliseconds(100)))
      << got.error;
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "wildcard site\n");
  EXPECT_EQ(SanNames(got.leaf_pem), std::vector<std::string>{"*.wild.example.test"});
  // The challenge TXT record is gone from the zone.
  auto zones = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/zones", nullptr, a.session);
  ASSERT_FALSE(zones.json["items"].empty()) << zones.body;
  auto records = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/zones/" +
                                     zones.json["items"][0].value("id", "") + "/records",
                          nullptr, a.session);
  ASSERT_EQ(records.status, 200) << records.body;
  for (const auto& r : records.json["items"])
    EXPECT_EQ(r.value("name", "").find("_acme-challenge"), std::string::npos) << r.dump();
}

// Acceptance 3b: a CAA record that forbids our CA: the preflight refuses before ordering with a
// reason in plain words in the API, the owner gets an e-mail and the organization's webhook a
// certificate.failed event, and no certificate exists.
TEST_F(AutoSsl, ACaaRecordForbiddingUsFailsWithAClearErrorAnAlertAndNoCertificate) {
  auto a = s_->SignUp("caa@a.example", "CAA Org");
  auto hook = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/webhooks",
                       {{"url", "https://hooks.caa-org.example/tls"},
                        {"events", {"certificate.failed", "certificate.expiring"}}},
                       a.session);
  ASSERT_EQ(hook.status, 201) << hook.body;
  HostZone(a, "caa.example.test");
  auto zones = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/zones", nullptr, a.session);
  auto caa = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/zones/" +
                                  zones.json["items"][0].value("id", "") + "/records",
                      {{"name", "@"}, {"type", "CAA"}, {"data", "0 issue \"letsencrypt.org\""}}, a.session);
  ASSERT_EQ(caa.status, 201) << caa.body;
  const std::string docroot = CreateSite(a, "caa.example.test", false);
  ASSERT_FALSE(docroot.empty());

  Json cert = WaitCertificate(a, "caa.example.test", [](const Json& c) { return c.value("status", "") == "failed"; });
  ASSERT_FALSE(cert.is_null());
  const std::string why = cert.value("last_error", "");
  EXPECT_NE(why.find("CAA"), std::string::npos) << why;
  EXPECT_NE(why.find("letsencrypt.org"), std::string::npos) << why;
  EXPECT_NE(why.find("not us"), std::string::npos) << why;
  EXPECT_TRUE(cert["serial"].is_null()) << cert.dump();
  EXPECT_TRUE(cert["not_after"].is_null()) << cert.dump();
  EXPECT_FALSE(cert.value("deployed", true));
  EXPECT_GE(cert["next_attempt_at"].get<int64_t>(), cert["updated_at"].get<int64_t>()) << "retried later, with backoff";

  const std::string mail = s_->WaitMail("caa@a.example", "could not be issued");
  EXPECT_NE(mail.find("caa.example.test"), std::string::npos) << mail;
  EXPECT_NE(mail.find("CAA"), std::string::npos) << mail;
  Json deliveries;
  EXPECT_TRUE(PollUntil(
      [&] {
        deliveries = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/webhooks/" +
                                         hook.json.value("id", "") + "/deliveries",
                              nullptr, a.session)
                         .json;
        for (const auto& d : deliveries["items"])
          if (d.value("event_type", "") == "certificate.failed") return true;
        return false;
      },
      std::chrono::seconds(20), std::chrono::milliseconds(200)))
      << deliveries.dump();
  // No certificate anywhere: nothing deployed for the site.
  auto sites = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/sites", nullptr, a.session);
  const std::string site_id = sites.json["items"][0]["id"];
  EXPECT_FALSE(fs::exists(s_->var() + "/autossl/live/" + site_id + "/caa.example.test/fullchain.pem"));
}

// Renewal that keeps failing: within 14 days of expiry the owner gets "expires soon" by e-mail
// and the webhook a certificate.expiring event; the current certificate stays deployed.
TEST_F(AutoSsl, WhenRenewalKeepsFailingNearExpiryTheOwnerIsAlerted) {
  auto a = s_->SignUp("expiry@a.example", "Expiry Org");
  auto hook = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/webhooks",
                       {{"url", "https://hooks.expiry-org.example/tls"}, {"events", {"certificate.expiring"}}},
                       a.session);
  ASSERT_EQ(hook.status, 201) << hook.body;
  const std::string docroot = CreateSite(a, "expiry.example.test");
  ASSERT_FALSE(docroot.empty());
  Json first = WaitCertificate(a, "expiry.example.test", [](const Json& c) {
    return c.value("status", "") == "valid" && c.value("deployed", false);
  });
  ASSERT_FALSE(first.is_null());
  // From now on our CA is not allowed: every renewal attempt fails in the preflight.
  auto zones = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/zones", nullptr, a.session);
  auto caa = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/zones/" +
                                  zones.json["items"][0].value("id", "") + "/records",
                      {{"name", "@"}, {"type", "CAA"}, {"data", "0 issue \"other-ca.example\""}}, a.session);
  ASSERT_EQ(caa.status, 201) << caa.body;
  const double dev_now = static_cast<double>(std::time(nullptr)) + s_->offset();
  s_->Advance(static_cast<double>(first["not_after"].get<int64_t>()) - 13 * 86400 - dev_now);
  a.session = s_->SignIn(a.email, a.password);

  const std::string mail = s_->WaitMail("expiry@a.example", "expires soon");
  EXPECT_NE(mail.find("expiry.example.test"), std::string::npos) << mail;
  EXPECT_NE(mail.find("other-ca.example"), std::string::npos) << "the last error: " << mail;
  Json deliveries;
  EXPECT_TRUE(PollUntil(
      [&] {
        deliveries = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/webhooks/" +
                                         hook.json.value("id", "") + "/deliveries",
                              nullptr, a.session)
                         .json;
        for (const auto& d : deliveries["items"])
          if (d.value("event_type", "") == "certificate.expiring") return true;
        return false;
      },
      std::chrono::seconds(20), std::chrono::milliseconds(200)))
      << deliveries.dump();
  Json now = WaitCertificate(a, "expiry.example.test", [](const Json& c) { return c.value("failures", 0) > 0; });
  ASSERT_FALSE(now.is_null());
  EXPECT_EQ(now.value("serial", ""), first.value("serial", "")) << "the current certificate stays";
  EXPECT_TRUE(now.value("deployed", false));
  EXPECT_NE(now.value("last_error", "").find("CAA"), std::string::npos) << now.dump();
}


// --- Customer-supplied certificates -------------------------------------------------------------

struct MadeCert {
  core::ossl::PKey key;
  core::ossl::X509Ptr cert;
  std::string pem, key_pem;
};
// A certificate made here with OpenSSL: a CA when `issuer` is null (self-signed), else a leaf for
// `sans` signed by `issuer`, valid from `not_before` to `not_after` (unix seconds).
MadeCert MakeCert(const std::string& cn, const std::vector<std::string>& sans,
                  const MadeCert* issuer, time_t not_before, time_t not_after) {
  MadeCert m;
  auto key = core::ossl::GenerateEcKey("P-256");
  EXPECT_TRUE(key.has_value());
  m.key = std::move(*key);
  X509* x = X509_new();
  X509_set_version(x, 2);
  static std::atomic<long> serial{1000};
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  ASN1_TIME_set(X509_getm_notBefore(x), not_before);
  ASN1_TIME_set(X509_getm_notAfter(x), not_after);
  X509_NAME* name = X509_NAME_new();
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_subject_name(x, name);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert.get()) : name);
  X509_NAME_free(name);
  X509_set_pubkey(x, m.key.get());
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer ? issuer->cert.get() : x, x, nullptr, nullptr, 0);
  auto add = [&](int nid, const std::string& value) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
    EXPECT_NE(e, nullptr) << value;
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  };
  if (issuer == nullptr) {
    add(NID_basic_constraints, "critical,CA:TRUE");
    add(NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add(NID_basic_constraints, "critical,CA:FALSE");
    add(NID_ext_key_usage, "serverAuth");
    std::string alt;
    for (const auto& s : sans) alt += (alt.empty() ? "DNS:" : ",DNS:") + s;
    add(NID_subject_alt_name, alt);
  }
  EXPECT_GT(X509_sign(x, issuer ? issuer->key.get() : m.key.get(), EVP_sha256()), 0);
  m.cert.reset(x);
  m.pem = *core::ossl::CertificateToPem(x);
  m.key_pem = *core::ossl::PrivateKeyToPem(m.key.get());
  return m;
}

// Issue 7, customer-supplied certificates: a chain made with our own test CA is checked, sealed,
// recorded as uploaded (no automatic renewal) and deployed through the same path as issued ones:
// curl trusting only the test CA gets the site over its TLS port. Bad uploads are 400 naming the
// field; another organization's site is 404.
TEST_F(AutoSsl, AnUploadedCertificateIsCheckedRecordedAndServed) {
  auto a = s_->SignUp("upload@a.example", "Upload Org");
  const std::string domain = "upload.example.test";
  const std::string docroot = CreateSite(a, domain);
  ASSERT_FALSE(docroot.empty());
  WriteFile(docroot + "/index.html", "<h1>served with the customer's own certificate</h1>\n");
  auto sites = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/sites", nullptr, a.session);
  ASSERT_EQ(sites.json["items"].size(), 1u) << sites.body;
  const std::string site_id = sites.json["items"][0]["id"];
  // AutoSSL issues on activation; let that settle first so it is the uploaded one that replaces it.
  Json issued = WaitCertificate(a, domain, [](const Json& c) {
    const std::string st = c.value("status", "");
    return (st == "valid" && c.value("deployed", false)) || st == "failed";
  });
  ASSERT_FALSE(issued.is_null());

  const time_t real_now = std::time(nullptr);
  const time_t server_now = real_now + static_cast<time_t>(s_->offset());
  // Valid for both the server's dev clock and curl's real clock.
  const time_t from = std::min(real_now, server_now) - 86400;
  const time_t until = std::max(real_now, server_now) + 90 * 86400;
  MadeCert ca = MakeCert("Upload Test CA", {}, nullptr, from, until + 86400);
  MadeCert leaf = MakeCert(domain, {domain}, &ca, from, until);
  const std::string ca_file = s_->var() + "/upload-test-ca.pem";
  WriteFile(ca_file, ca.pem);

  const std::string upload =
      "/api/v1/organizations/" + a.org_id + "/sites/" + site_id + "/certificates/upload";
  // A key that is not the leaf's.
  MadeCert other = MakeCert(domain, {domain}, &ca, from, until);
  auto mismatch = s_->Call("POST", upload, {{"certificate", leaf.pem + ca.pem}, {"private_key", other.key_pem}}, a.session);
  EXPECT_EQ(mismatch.status, 400) << mismatch.body;
  EXPECT_EQ(mismatch.json["field"], "private_key") << mismatch.body;
  // An expired leaf (by the server's clock).
  MadeCert expired = MakeCert(domain, {domain}, &ca, server_now - 90 * 86400, server_now - 86400);
  auto old = s_->Call("POST", upload, {{"certificate", expired.pem + ca.pem}, {"private_key", expired.key_pem}}, a.session);
  EXPECT_EQ(old.status, 400) << old.body;
  EXPECT_EQ(old.json["field"], "certificate") << old.body;
  EXPECT_NE(old.body.find("expired"), std::string::npos) << old.body;
  // A name that is not the site's.
  MadeCert foreign_name = MakeCert("elsewhere.example.test", {domain, "elsewhere.example.test"}, &ca, from, until);
  auto notours = s_->Call("POST", upload, {{"certificate", foreign_name.pem + ca.pem}, {"private_key", foreign_name.key_pem}}, a.session);
  EXPECT_EQ(notours.status, 400) << notours.body;
  EXPECT_EQ(notours.json["field"], "certificate") << notours.body;
  EXPECT_NE(notours.body.find("elsewhere.example.test"), std::string::npos) << notours.body;
  // A chain out of order: the leaf followed by a CA that did not issue it.
  MadeCert stranger = MakeCert("Stranger CA", {}, nullptr, from, until);
  auto broken = s_->Call("POST", upload, {{"certificate", leaf.pem + stranger.pem}, {"private_key", leaf.key_pem}}, a.session);
  EXPECT_EQ(broken.status, 400) << broken.body;
  EXPECT_EQ(broken.json["field"], "certificate") << broken.body;
  // Another organization's site.
  auto b = s_->SignUp("upload@b.example", "Upload Other Org");
  auto foreign = s_->Call("POST", "/api/v1/organizations/" + b.org_id + "/sites/" + site_id + "/certificates/upload",
                          {{"certificate", leaf.pem + ca.pem}, {"private_key", leaf.key_pem}}, b.session);
  EXPECT_EQ(foreign.status, 404) << foreign.body;

  auto ok = s_->Call("POST", upload, {{"certificate", leaf.pem + ca.pem}, {"private_key", leaf.key_pem}}, a.session);
  ASSERT_EQ(ok.status, 201) << ok.body;
  ASSERT_EQ(ok.json["items"].size(), 1u) << ok.body;
  EXPECT_EQ(ok.json["items"][0].value("source", ""), "upload");
  EXPECT_EQ(ok.json["items"][0].value("auto_renew", true), false);
  EXPECT_TRUE(ok.json["items"][0].value("deployed", false)) << ok.body;
  Json listed = WaitCertificate(a, domain, [](const Json& c) { return c.value("source", "") == "upload"; },
                                std::chrono::seconds(5));
  ASSERT_FALSE(listed.is_null());
  EXPECT_EQ(listed.value("status", ""), "valid");
  EXPECT_TRUE(listed["renew_at"].is_null()) << "no automatic renewal: " << listed.dump();

  // The key is sealed at rest (not stored in clear).
  {
    SQLite::Database db(s_->var() + "/hostplane.db", SQLite::OPEN_READONLY, 5000);
    SQLite::Statement q(db, "SELECT key_sealed FROM autossl_certificates WHERE site_id = ? AND domain = ?");
    q.bind(1, site_id);
    q.bind(2, domain);
    ASSERT_TRUE(q.executeStep());
    const std::string sealed = q.getColumn(0).getString();
    EXPECT_FALSE(sealed.empty());
    EXPECT_EQ(sealed.find("PRIVATE KEY"), std::string::npos);
  }

  // curl trusting only the test CA gets the site (polled: reloads are async).
  const std::string port = std::to_string(tls_port_);
  std::string out;
  EXPECT_TRUE(PollUntil(
      [&] {
        auto [rc, o] = hp::testing::Run({"curl", "-sS", "--max-time", "5", "--cacert", ca_file,
                                         "--resolve", domain + ":" + port + ":127.0.0.1",
                                         "https://" + domain + ":" + port + "/"});
        out = o;
        return rc == 0 && o.find("served with the customer's own certificate") != std::string::npos;
      },
      std::chrono::seconds(20), std::chrono::milliseconds(200)))
      << out;

  // Audited.
  auto audit = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/audit-events?action=autossl.upload", nullptr, a.session);
  EXPECT_NE(audit.body.find("autossl.upload"), std::string::npos) << audit.body.substr(0, 2000);

  // Issue 10: an uploaded certificate was issued by another CA; revoking it here is refused with
  // what to do instead, and the customer can still download its chain.
  const std::string one = "/api/v1/organizations/" + a.org_id + "/sites/" + site_id + "/certificates/" + domain;
  auto refused = s_->Call("POST", one + "/revoke", {{"reason", "keyCompromise"}}, a.session);
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_NE(refused.body.find("Upload Test CA"), std::string::npos) << refused.body;
  EXPECT_NE(refused.body.find("revoke it with that certificate authority"), std::string::npos) << refused.body;
  auto pem = s_->Call("GET", one + "/pem", nullptr, a.session);
  EXPECT_EQ(pem.status, 200) << pem.body;
  EXPECT_NE(pem.body.find(leaf.pem.substr(0, 200)), std::string::npos);
  EXPECT_EQ(pem.body.find("PRIVATE KEY"), std::string::npos);
}

// The serials (lower-case hex) a DER CRL lists, with their reason codes (-1 without one).
std::map<std::string, int> CrlEntries(const std::string& der) {
  std::map<std::string, int> out;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509_CRL* crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()));
  if (crl == nullptr) return out;
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    X509_REVOKED* rv = sk_X509_REVOKED_value(revoked, i);
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(rv), nullptr);
    char* hex = BN_bn2hex(bn);
    std::string s = hex;
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto* reason = static_cast<ASN1_ENUMERATED*>(X509_REVOKED_get_ext_d2i(rv, NID_crl_reason, nullptr, nullptr));
    out[s] = reason ? static_cast<int>(ASN1_ENUMERATED_get(reason)) : -1;
    ASN1_ENUMERATED_free(reason);
    OPENSSL_free(hex);
    BN_free(bn);
  }
  X509_CRL_free(crl);
  return out;
}
std::set<std::string> CrlSerials(const std::string& der) {
  std::set<std::string> out;
  for (const auto& [serial, reason] : CrlEntries(der)) out.insert(serial);
  return out;
}

// The leaf's CRL distribution point URL.
std::string CrlUrl(const std::string& chain_pem) {
  auto leaf = core::ossl::ReadCertificatePem(chain_pem);
  if (!leaf) return "";
  auto* dps = static_cast<CRL_DIST_POINTS*>(X509_get_ext_d2i(leaf->get(), NID_crl_distribution_points, nullptr, nullptr));
  std::string url;
  for (int i = 0; dps && i < sk_DIST_POINT_num(dps) && url.empty(); ++i) {
    DIST_POINT* dp = sk_DIST_POINT_value(dps, i);
    if (dp->distpoint == nullptr || dp->distpoint->type != 0) continue;
    GENERAL_NAMES* names = dp->distpoint->name.fullname;
    for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
      GENERAL_NAME* n = sk_GENERAL_NAME_value(names, j);
      if (n->type != GEN_URI) continue;
      url.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.uniformResourceIdentifier)),
                 static_cast<size_t>(ASN1_STRING_length(n->d.uniformResourceIdentifier)));
    }
  }
  CRL_DIST_POINTS_free(dps);
  return url;
}

// Issue 10, customer certificates: the chain downloads as application/pem-certificate-chain
// (never the key) and names the site; revoking with a BR reason goes through our CA (the serial
// shows up in the CA's CRL with that reason), the record says what was revoked, and because the
// name is still on the site a replacement with a new key is issued and served at once. Another
// organization gets 404; a reason outside the BR list is 400 naming "reason"; all audited.
TEST_F(AutoSsl, ACustomerDownloadsTheChainAndRevokesItAndAReplacementIsIssued) {
  auto a = s_->SignUp("revoke@a.example", "Revoke Org");
  const std::string domain = "revoke.example.test";
  ASSERT_FALSE(CreateSite(a, domain).empty());
  auto sites = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/sites", nullptr, a.session);
  ASSERT_EQ(sites.json["items"].size(), 1u) << sites.body;
  const std::string site_id = sites.json["items"][0]["id"];
  Json issued = WaitCertificate(a, domain, [](const Json& c) {
    const std::string st = c.value("status", "");
    return (st == "valid" && c.value("deployed", false)) || st == "failed";
  });
  ASSERT_FALSE(issued.is_null());
  ASSERT_EQ(issued.value("status", ""), "valid") << issued.dump();
  EXPECT_EQ(issued.value("source", ""), "acme");
  EXPECT_TRUE(issued["issuer"].is_string()) << issued.dump();
  // www.<domain> is a name of every site: bundled into the same certificate.
  EXPECT_EQ(issued["names"], Json::array({domain, "www." + domain})) << issued.dump();
  EXPECT_TRUE(issued["expires_in_days"].is_number_integer()) << issued.dump();
  EXPECT_GT(issued.value("expires_in_days", 0), 0) << issued.dump();
  const std::string old_serial = issued.value("serial", "");

  const std::string one = "/api/v1/organizations/" + a.org_id + "/sites/" + site_id + "/certificates/" + domain;
  auto pem = s_->Call("GET", one + "/pem", nullptr, a.session);
  ASSERT_EQ(pem.status, 200) << pem.body;
  EXPECT_EQ(pem.headers["content-type"].rfind("application/pem-certificate-chain", 0), 0u) << pem.headers["content-type"];
  EXPECT_NE(pem.headers["content-disposition"].find(domain + ".pem"), std::string::npos);
  EXPECT_EQ(pem.body.find("PRIVATE KEY"), std::string::npos) << "never the key";
  EXPECT_EQ(SanNames(pem.body), std::vector<std::string>({domain, "www." + domain}));
  EXPECT_GE(std::count(pem.body.begin(), pem.body.end(), '\n'), 10);
  const std::string crl_url = CrlUrl(pem.body);
  ASSERT_NE(crl_url.find("/acme/crl/"), std::string::npos) << crl_url;

  auto b = s_->SignUp("revoke@b.example", "Revoke Other Org");
  const std::string b_one = "/api/v1/organizations/" + b.org_id + "/sites/" + site_id + "/certificates/" + domain;
  EXPECT_EQ(s_->Call("GET", b_one + "/pem", nullptr, b.session).status, 404);
  EXPECT_EQ(s_->Call("GET", one + "/pem", nullptr, b.session).status, 404);
  EXPECT_EQ(s_->Call("POST", b_one + "/revoke", {{"reason", "keyCompromise"}}, b.session).status, 404);
  EXPECT_EQ(s_->Call("POST", one + "/revoke", {{"reason", "keyCompromise"}}, b.session).status, 404);
  auto bad = s_->Call("POST", one + "/revoke", {{"reason", "certificateHold"}}, a.session);
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(bad.json["field"], "reason") << bad.body;
  auto missing = s_->Call("POST", one + "/revoke", Json::object(), a.session);
  EXPECT_EQ(missing.status, 400) << missing.body;
  EXPECT_EQ(missing.json["field"], "reason") << missing.body;

  auto revoke = s_->Call("POST", one + "/revoke", {{"reason", "keyCompromise"}}, a.session);
  ASSERT_EQ(revoke.status, 202) << revoke.body;
  EXPECT_EQ(revoke.json["certificate"].value("status", ""), "revoking") << revoke.body;
  const std::string op = revoke.json["operation"].value("url", "");
  Json opj;
  EXPECT_TRUE(PollUntil([&] {
    opj = s_->Call("GET", op, nullptr, a.session).json;
    return opj.value("state", "") == "succeeded" || opj.value("state", "") == "failed";
  }, std::chrono::seconds(30), std::chrono::milliseconds(100))) << opj.dump();
  EXPECT_EQ(opj.value("state", ""), "succeeded") << opj.dump();
  auto again = s_->Call("POST", one + "/revoke", {{"reason", "keyCompromise"}}, a.session);
  EXPECT_EQ(again.status, 409) << "already revoked: " << again.body;

  // The CA lists the serial in its CRL with reason keyCompromise.
  const std::string crl_path = crl_url.substr(crl_url.find("/acme/crl/"));
  HttpOptions ho;
  ho.ca_file = s_->server().CaFile();
  auto crl = HttpRequest(s_->server().Url(crl_path), ho);
  ASSERT_EQ(crl.status, 200) << crl.error;
  EXPECT_TRUE(CrlSerials(crl.body).count(old_serial)) << old_serial;
  EXPECT_EQ(CrlEntries(crl.body)[old_serial], 1) << "reason keyCompromise";

  // A replacement with a new serial is issued and deployed; the record keeps what was revoked.
  Json replaced = WaitCertificate(a, domain, [&](const Json& c) {
    const std::string st = c.value("status", "");
    return (st == "valid" && c.value("serial", "") != old_serial && c.value("deployed", false)) || st == "failed";
  });
  ASSERT_FALSE(replaced.is_null());
  EXPECT_EQ(replaced.value("status", ""), "valid") << replaced.dump();
  EXPECT_EQ(replaced["revoked"].value("serial", ""), old_serial) << replaced.dump();
  EXPECT_EQ(replaced["revoked"].value("reason", ""), "keyCompromise") << replaced.dump();
  auto pem2 = s_->Call("GET", one + "/pem", nullptr, a.session);
  EXPECT_EQ(pem2.status, 200);
  EXPECT_NE(pem2.body, pem.body);
  EXPECT_FALSE(CrlSerials(HttpRequest(s_->server().Url(crl_path), ho).body).count(replaced.value("serial", "")));

  // Audited: the customer's request and the revocation itself.
  auto audit = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/audit-events?action=autossl.revoke.request", nullptr, a.session);
  EXPECT_NE(audit.body.find("keyCompromise"), std::string::npos) << audit.body.substr(0, 2000);
  auto done = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/audit-events?action=autossl.revoke", nullptr, a.session);
  EXPECT_NE(done.body.find(old_serial), std::string::npos) << done.body.substr(0, 2000);
}

// Renewal scans finished so far (the fixture's scheduler runs one every 2 s): a check that
// something did NOT happen waits for scans to have run instead of sleeping.
static int FinishedRenewScans(const std::string& var) {
  auto [rc, out] = hp::testing::Run({hp::testing::HostplaneBinary(), "jobs", "list", "--var", var, "--kind",
                                     "autossl.renew_scan", "--state", "succeeded", "--limit", "500", "--json"});
  if (rc != 0) return -1;
  const auto open = out.find('[');
  if (open == std::string::npos) return -1;
  Json j = Json::parse(out.substr(open), nullptr, false);
  return j.is_array() ? static_cast<int>(j.size()) : -1;
}

static bool WaitForMoreRenewScans(const std::string& var, int more) {
  const int start = FinishedRenewScans(var);
  return start >= 0 && PollUntil([&] { return FinishedRenewScans(var) >= start + more; },
                                 std::chrono::seconds(30), std::chrono::milliseconds(200));
}

// Issue 7: after a renewal has been deployed and the grace period (autossl.supersede_grace_s,
// 3600 s here) has passed, the renewal scan revokes the certificate it replaced with reason
// superseded: the CA's CRL lists it with reason 4, not before the grace, and it is audited.
TEST_F(AutoSsl, AfterARenewalIsDeployedAndTheGracePassedThePredecessorIsRevokedAsSuperseded) {
  auto a = s_->SignUp("supersede@a.example", "Supersede Org");
  const std::string domain = "supersede.example.test";
  ASSERT_FALSE(CreateSite(a, domain).empty());
  auto sites = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/sites", nullptr, a.session);
  const std::string site_id = sites.json["items"][0]["id"];
  Json first = WaitCertificate(a, domain, [](const Json& c) {
    return c.value("status", "") == "valid" && c.value("deployed", false);
  });
  ASSERT_FALSE(first.is_null());
  const std::string serial1 = first.value("serial", "");
  auto pem = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/sites/" + site_id + "/certificates/" + domain + "/pem", nullptr, a.session);
  ASSERT_EQ(pem.status, 200) << pem.body;
  const std::string crl_url = CrlUrl(pem.body);
  ASSERT_NE(crl_url.find("/acme/crl/"), std::string::npos);
  const std::string crl_path = crl_url.substr(crl_url.find("/acme/crl/"));
  HttpOptions ho;
  ho.ca_file = s_->server().CaFile();

  const double dev_now = static_cast<double>(std::time(nullptr)) + s_->offset();
  s_->Advance(static_cast<double>(first["renew_at"].get<int64_t>()) - dev_now + 5);
  a.session = s_->SignIn(a.email, a.password);
  Json renewed = WaitCertificate(a, domain, [&](const Json& c) {
    return c.value("status", "") == "valid" && c.value("serial", "") != serial1 && c.value("deployed", false);
  });
  ASSERT_FALSE(renewed.is_null());
  // Within the grace period the predecessor stays good (a few scans have run meanwhile).
  ASSERT_TRUE(WaitForMoreRenewScans(s_->var(), 2)) << "renewal scans did not run";
  auto before = HttpRequest(s_->server().Url(crl_path), ho);
  ASSERT_EQ(before.status, 200) << before.error;
  EXPECT_FALSE(CrlSerials(before.body).count(serial1)) << "revoked before the grace period passed";

  s_->Advance(3600 + 10);
  a.session = s_->SignIn(a.email, a.password);
  std::map<std::string, int> entries;
  EXPECT_TRUE(PollUntil([&] {
    entries = CrlEntries(HttpRequest(s_->server().Url(crl_path), ho).body);
    return entries.count(serial1) > 0;
  }, std::chrono::seconds(30), std::chrono::milliseconds(300))) << serial1;
  EXPECT_EQ(entries[serial1], 4) << "reason superseded";
  EXPECT_FALSE(entries.count(renewed.value("serial", ""))) << "the renewal stays good";
  auto audit = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/audit-events?action=autossl.revoke", nullptr, a.session);
  EXPECT_NE(audit.body.find("superseded"), std::string::npos) << audit.body.substr(0, 2000);
  EXPECT_NE(audit.body.find(serial1), std::string::npos) << audit.body.substr(0, 2000);
}

// Issue 7: an uploaded certificate is never renewed by us, so within 14 days of its expiry the
// owner gets an e-mail saying what to do and the webhook event certificate.expiring (once).
TEST_F(AutoSsl, AnUploadedCertificateNearExpiryAlertsTheOwnerByMailAndWebhook) {
  auto a = s_->SignUp("upload-expiry@a.example", "Upload Expiry Org");
  auto hook = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/webhooks",
                       {{"url", "https://hooks.upload-expiry.example/tls"}, {"events", {"certificate.expiring"}}},
                       a.session);
  ASSERT_EQ(hook.status, 201) << hook.body;
  const std::string domain = "upload-expiry.example.test";
  ASSERT_FALSE(CreateSite(a, domain).empty());
  auto sites = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/sites", nullptr, a.session);
  const std::string site_id = sites.json["items"][0]["id"];
  ASSERT_FALSE(WaitCertificate(a, domain, [](const Json& c) {
    const std::string st = c.value("status", "");
    return st == "valid" || st == "failed";
  }).is_null());
  const time_t server_now = std::time(nullptr) + static_cast<time_t>(s_->offset());
  MadeCert ca = MakeCert("Expiry Test CA", {}, nullptr, server_now - 86400, server_now + 90 * 86400);
  MadeCert leaf = MakeCert(domain, {domain}, &ca, server_now - 86400, server_now + 10 * 86400);
  auto ok = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/sites/" + site_id + "/certificates/upload",
                     {{"certificate", leaf.pem + ca.pem}, {"private_key", leaf.key_pem}}, a.session);
  ASSERT_EQ(ok.status, 201) << ok.body;
  const std::string mail = s_->WaitMail("upload-expiry@a.example", "expires soon");
  EXPECT_NE(mail.find(domain), std::string::npos) << mail;
  EXPECT_NE(mail.find("We do not renew uploaded certificates"), std::string::npos) << mail;
  EXPECT_NE(mail.find("Upload its"), std::string::npos) << mail;
  Json deliveries;
  EXPECT_TRUE(PollUntil(
      [&] {
        deliveries = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/webhooks/" +
                                         hook.json.value("id", "") + "/deliveries",
                              nullptr, a.session)
                         .json;
        for (const auto& d : deliveries["items"])
          if (d.value("event_type", "") == "certificate.expiring") return true;
        return false;
      },
      std::chrono::seconds(20), std::chrono::milliseconds(200)))
      << deliveries.dump();
  // Once: later scans do not alert again.
  ASSERT_TRUE(WaitForMoreRenewScans(s_->var(), 2)) << "renewal scans did not run";
  auto again = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/webhooks/" + hook.json.value("id", "") + "/deliveries", nullptr, a.session);
  int n = 0;
  for (const auto& d : again.json["items"]) n += d.value("event_type", "") == "certificate.expiring";
  EXPECT_EQ(n, 1) << again.body;
}

// Issue 7: www.<name> is bundled into <name>'s certificate when the site has both (every site
// has www.<domain>): one order names both, the www row carries the same serial and points at its
// bundle, nginx serves the same certificate for both names, and revoking through the www row
// revokes (and replaces) the bundle.
TEST_F(AutoSsl, WwwIsBundledIntoTheSameCertificateAsTheSitesName) {
  auto a = s_->SignUp("bundle@a.example", "Bundle Org");
  const std::string domain = "bundle.example.test", www = "www.bundle.example.test";
  const std::string docroot = CreateSite(a, domain);
  ASSERT_FALSE(docroot.empty());
  WriteFile(docroot + "/index.html", "bundled\n");
  auto sites = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/sites", nullptr, a.session);
  const std::string site_id = sites.json["items"][0]["id"];
  Json main = WaitCertificate(a, domain, [](const Json& c) {
    return (c.value("status", "") == "valid" && c.value("deployed", false)) || c.value("status", "") == "failed";
  });
  ASSERT_FALSE(main.is_null());
  ASSERT_EQ(main.value("status", ""), "valid") << main.dump();
  Json w = WaitCertificate(a, www, [](const Json& c) { return c.value("status", "") == "valid" && c.value("deployed", false); },
                           std::chrono::seconds(10));
  ASSERT_FALSE(w.is_null()) << "the www name has its row";
  EXPECT_EQ(w.value("serial", ""), main.value("serial", "")) << "one certificate";
  EXPECT_EQ(w.value("bundled_with", ""), domain);
  EXPECT_EQ(main["names"], Json::array({domain, www}));
  EXPECT_TRUE(main["bundled_with"].is_null());
  // The automatic request on activation is audited (actor system/autossl).
  auto requested = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/audit-events?action=autossl.request", nullptr, a.session);
  EXPECT_NE(requested.body.find("site activated"), std::string::npos) << requested.body.substr(0, 2000);
  EXPECT_NE(requested.body.find("autossl"), std::string::npos);
  // One order for both names.
  {
    SQLite::Database db(s_->var() + "/hostplane.db", SQLite::OPEN_READONLY, 5000);
    SQLite::Statement q(db, "SELECT count(*) FROM autossl_orders WHERE site_id = ? AND domain = ?");
    q.bind(1, site_id);
    q.bind(2, www);
    ASSERT_TRUE(q.executeStep());
    EXPECT_EQ(q.getColumn(0).getInt(), 0) << "no order of its own for the www name";
  }
  // nginx serves it for both names.
  const std::string ca = s_->var() + "/ca/root.pem";
  for (const std::string& host : {domain, www}) {
    TlsGet got;
    EXPECT_TRUE(PollUntil([&] {
      got = HttpsGet(ca, tls_port_, host, std::time(nullptr) + static_cast<time_t>(s_->offset()));
      return got.ok && got.serial == main.value("serial", "");
    }, std::chrono::seconds(20), std::chrono::milliseconds(100))) << host << ": " << got.error;
    EXPECT_EQ(got.body, "bundled\n");
    EXPECT_EQ(SanNames(got.leaf_pem), std::vector<std::string>({domain, www}));
  }
  // Revoking through the www row revokes the bundle and both rows get the replacement.
  const std::string one = "/api/v1/organizations/" + a.org_id + "/sites/" + site_id + "/certificates/" + www;
  auto revoke = s_->Call("POST", one + "/revoke", {{"reason", "superseded"}}, a.session);
  ASSERT_EQ(revoke.status, 202) << revoke.body;
  Json replaced = WaitCertificate(a, www, [&](const Json& c) {
    return c.value("status", "") == "valid" && c.value("serial", "") != main.value("serial", "");
  });
  ASSERT_FALSE(replaced.is_null());
  EXPECT_EQ(replaced["revoked"].value("serial", ""), main.value("serial", "")) << replaced.dump();
  Json main2 = WaitCertificate(a, domain, [](const Json&) { return true; }, std::chrono::seconds(5));
  EXPECT_EQ(main2.value("serial", ""), replaced.value("serial", ""));
  EXPECT_EQ(main2["revoked"].value("reason", ""), "superseded") << main2.dump();
}

}  // namespace
}  // namespace hp::testing
