// Acceptance 4: shared hosting against a real nginx on loopback, started by the test with its own
// configuration in a temp dir (never the system nginx). Real system users are created (root).
#include "hp/provisioning/shared_hosting.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <gtest/gtest.h>

#include "prov_test_util.h"

namespace hp::provisioning {
namespace {

namespace fs = std::filesystem;
using testing::OpenDb;

class SharedHostingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto acc = LinuxSystemAccounts::Create();
    if (!acc) GTEST_SKIP() << "SKIP: " << acc.error().detail;
    accounts_ = std::move(*acc);
    if (!fs::exists("/usr/sbin/nginx")) GTEST_SKIP() << "SKIP: /usr/sbin/nginx not installed";
    // nginx workers run as nobody: they must be able to walk into the temp dir.
    chmod(dir_.path().c_str(), 0755);
    for (const char* d : {"sites", "www", "tmp", "suspended"}) fs::create_directories(dir_.path() + "/" + d);
    port_ = hp::testing::FreePort();
    conf_ = dir_.path() + "/nginx.conf";
    hp::testing::WriteFile(conf_,
        "worker_processes 1;\n"
        "pid " + dir_.path() + "/nginx.pid;\n"
        "error_log " + dir_.path() + "/error.log;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        "  access_log off;\n"
        "  client_body_temp_path " + dir_.path() + "/tmp/body;\n"
        "  proxy_temp_path " + dir_.path() + "/tmp/proxy;\n"
        "  fastcgi_temp_path " + dir_.path() + "/tmp/fastcgi;\n"
        "  uwsgi_temp_path " + dir_.path() + "/tmp/uwsgi;\n"
        "  scgi_temp_path " + dir_.path() + "/tmp/scgi;\n"
        "  server { listen 127.0.0.1:" + std::to_string(port_) + " default_server; return 404; }\n"
        "  include " + dir_.path() + "/sites/*.conf;\n"
        "}\n");
    nginx_ = std::make_unique<hp::testing::Process>(std::vector<std::string>{
        "/usr/sbin/nginx", "-c", conf_, "-e", dir_.path() + "/error.log", "-g", "daemon off;"});
    ASSERT_TRUE(hp::testing::PollUntil([&] { return Get("nothing.test", "/").status == 404; },
                                       std::chrono::seconds(10)))
        << "nginx did not come up: " << nginx_->Stderr();
    NginxOptions o;
    o.main_config = conf_;
    o.sites_dir = dir_.path() + "/sites";
    o.error_log = dir_.path() + "/error.log";
    o.listen = {"127.0.0.1:" + std::to_string(port_)};
    o.suspended_page_dir = dir_.path() + "/suspended";
    auto web = NginxWebServer::Create(o);
    ASSERT_TRUE(web) << web.error().ToString();
    web_ = std::move(*web);

    HostSpec h;
    h.name = "web-01";
    h.uri = "test:///web-01";
    h.zone = "tokyo-1";
    h.kind = HostKind::kSharedWeb;
    h.capacity = {8, 16384, 100};
    h.web_root = dir_.path() + "/www";
    ASSERT_TRUE(inv_.AddHost(h));
    auto svc = SharedHostingService::Create(
        {db_.get(), &clock_, &jobs_, &ids_, &inv_, &placer_, web_.get(), accounts_.get()});
    ASSERT_TRUE(svc);
    svc_ = std::move(*svc);
    svc_->RegisterHandlers(pool_);
  }
  void TearDown() override {
    if (nginx_) {
      nginx_->Signal(SIGQUIT);
      nginx_->Wait(std::chrono::seconds(10));
    }
  }

  hp::testing::HttpResult Get(const std::string& host, const std::string& path) {
    hp::testing::HttpOptions o;
    o.headers = {"Host: " + host};
    o.timeout_ms = 2000;
    return hp::testing::HttpRequest("http://127.0.0.1:" + std::to_string(port_) + path, o);
  }
  // nginx reloads asynchronously (old workers finish first): poll until the answer is the new one.
  bool Eventually(const std::string& host, const std::string& path, int status,
                  const std::string& body_part) {
    hp::testing::HttpResult last;
    bool ok = hp::testing::PollUntil(
        [&] {
          last = Get(host, path);
          return last.status == status && last.body.find(body_part) != std::string::npos;
        },
        std::chrono::seconds(10));
    if (!ok) ADD_FAILURE() << host << path << " answered " << last.status << ": " << last.body;
    return ok;
  }
  void Drain() {
    for (int i = 0; i < 100; ++i) {
      auto ran = pool_.RunOnce();
      ASSERT_TRUE(ran);
      if (!*ran) return;
    }
  }
  void ExpectNginxTestPasses() {
    auto st = web_->Check();
    EXPECT_TRUE(st) << st.error().detail;
  }

  hp::testing::TempDir dir_;
  std::unique_ptr<core::Database> db_ = OpenDb(dir_.path());
  core::FakeClock clock_{core::FromUnixSeconds(1'800'000'000)};
  core::RandomIdSource ids_;
  Inventory inv_{*db_, clock_, ids_};
  Placer placer_{*db_, clock_};
  core::JobQueue jobs_{*db_, clock_};
  core::WorkerPool pool_{jobs_, {}};
  std::unique_ptr<SystemAccounts> accounts_;
  std::unique_ptr<WebServer> web_;
  std::unique_ptr<SharedHostingService> svc_;
  std::unique_ptr<hp::testing::Process> nginx_;
  std::string conf_;
  int port_ = 0;
};

TEST_F(SharedHostingTest, CreateServeSuspendUnsuspendTerminate) {
  auto op = svc_->CreateSite({.organization_id = "org-a", .domain = "shop.example",
                              .quota_mib = 100, .zone = "tokyo-1"});
  ASSERT_TRUE(op) << op.error().ToString();
  Drain();
  auto site = svc_->Get("org-a", op->resource_id);
  ASSERT_TRUE(site);
  ASSERT_EQ(site->state, SiteState::kActive) << site->last_error;
  EXPECT_TRUE(*accounts_->Exists(site->system_user)) << "the system user exists";
  ExpectNginxTestPasses();
  struct stat st;
  ASSERT_EQ(stat(site->document_root.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, getpwnam(site->system_user.c_str())->pw_uid) << "the user owns the docroot";

  hp::testing::WriteFile(site->document_root + "/index.html", "hello from shop\n");
  ASSERT_TRUE(hp::testing::PollUntil([&] { return Get("shop.example", "/").body == "hello from shop\n"; },
                                     std::chrono::seconds(10)));
  EXPECT_TRUE(Eventually("www.shop.example", "/index.html", 200, "hello from shop\n"));
  EXPECT_EQ(Get("other.example", "/").status, 404) << "other hosts do not see the site";

  // Another organization cannot touch it; the domain cannot be taken twice.
  EXPECT_EQ(svc_->SuspendSite("org-b", site->id).error().code, core::ErrorCode::kNotFound);
  auto dup = svc_->CreateSite({.organization_id = "org-b", .domain = "shop.example", .zone = "tokyo-1"});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, core::ErrorCode::kAlreadyExists);

  auto password = svc_->ResetSftpPassword("org-a", site->id);
  ASSERT_TRUE(password) << password.error().ToString();
  EXPECT_GE(password->size(), 24u);
  hp::testing::WriteFile(site->document_root + "/big.bin", std::string(3 << 20, 'x'));
  auto usage = svc_->RefreshUsage("org-a", site->id);
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->used_mib, 4) << "3 MiB + the index, rounded up";

  ASSERT_TRUE(svc_->SuspendSite("org-a", site->id));
  Drain();
  EXPECT_EQ(svc_->Get("org-a", site->id)->state, SiteState::kSuspended);
  ExpectNginxTestPasses();
  EXPECT_TRUE(Eventually("shop.example", "/index.html", 503, "This site is suspended"));
  EXPECT_TRUE(Eventually("www.shop.example", "/", 503, "This site is suspended"));

  ASSERT_TRUE(svc_->UnsuspendSite("org-a", site->id));
  Drain();
  ExpectNginxTestPasses();
  ASSERT_TRUE(hp::testing::PollUntil([&] { return Get("shop.example", "/").body == "hello from shop\n"; },
                                     std::chrono::seconds(10)));

  ASSERT_TRUE(svc_->TerminateSite("org-a", site->id));
  Drain();
  ExpectNginxTestPasses();
  EXPECT_EQ(svc_->Get("org-a", site->id).error().code, core::ErrorCode::kNotFound);
  EXPECT_FALSE(*accounts_->Exists(site->system_user)) << "the user is gone";
  EXPECT_FALSE(fs::exists(fs::path(site->document_root).parent_path())) << "the files are gone";
  EXPECT_FALSE(fs::exists(dir_.path() + "/sites/" + site->id + ".conf")) << "the server block is gone";
  ASSERT_TRUE(hp::testing::PollUntil([&] { return Get("shop.example", "/").status == 404; },
                                     std::chrono::seconds(10)));
  EXPECT_EQ(inv_.GetHostByName("web-01")->allocations, 0);
  // The domain is free again.
  EXPECT_TRUE(svc_->CreateSite({.organization_id = "org-b", .domain = "shop.example", .zone = "tokyo-1"}));
}

TEST_F(SharedHostingTest, ABrokenServerBlockIsRejectedAndRolledBack) {
  // A server block that nginx -t refuses (duplicate listen options on one address) is undone.
  hp::testing::WriteFile(dir_.path() + "/sites/zz-existing.conf",
                         "server { listen 127.0.0.1:" + std::to_string(port_) +
                             "; server_name keep.example; return 200 'kept'; }\n");
  ExpectNginxTestPasses();
  SiteConfig bad;
  bad.name = "broken";
  bad.domains = {"broken.example"};
  bad.document_root = "/nonexistent";
  NginxOptions o;
  o.main_config = conf_;
  o.sites_dir = dir_.path() + "/sites";
  o.error_log = dir_.path() + "/error.log";
  o.listen = {"127.0.0.1:" + std::to_string(port_) + " bogus_option"};
  o.suspended_page_dir = dir_.path() + "/suspended";
  auto web = NginxWebServer::Create(o);
  ASSERT_TRUE(web);
  auto st = (*web)->ApplySite(bad);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().detail.find("nginx -t failed"), std::string::npos) << st.error().detail;
  EXPECT_FALSE(fs::exists(dir_.path() + "/sites/broken.conf")) << "the bad block was removed";
  ExpectNginxTestPasses();
}

// AutoSSL http-01: /.well-known/acme-challenge/ is served from the document root (text/plain),
// also while suspended, while other dot files stay denied.
TEST_F(SharedHostingTest, AcmeChallengesAreServedFromTheDocumentRootEvenWhileSuspended) {
  const std::string root = dir_.path() + "/www/acme-site";
  fs::create_directories(root + "/.well-known/acme-challenge");
  hp::testing::WriteFile(root + "/.well-known/acme-challenge/tok1", "tok1.thumbprint");
  hp::testing::WriteFile(root + "/.well-known/other", "secret");
  SiteConfig site{.name = "acme-site", .domains = {"acme.test"}, .document_root = root};
  ASSERT_TRUE(web_->ApplySite(site));
  hp::testing::HttpResult r;
  EXPECT_TRUE(hp::testing::PollUntil(
      [&] {
        r = Get("acme.test", "/.well-known/acme-challenge/tok1");
        return r.status == 200;
      },
      std::chrono::seconds(10)))
      << r.status;
  EXPECT_EQ(r.body, "tok1.thumbprint");
  EXPECT_EQ(r.headers["content-type"].rfind("text/plain", 0), 0u) << r.headers["content-type"];
  EXPECT_EQ(Get("acme.test", "/.well-known/acme-challenge/missing").status, 404);
  // Polled: an old worker (before the reload) still answers 404 for a moment.
  EXPECT_TRUE(Eventually("acme.test", "/.well-known/other", 403, "")) << "other dot files denied";
  site.suspended = true;
  ASSERT_TRUE(web_->ApplySite(site));
  EXPECT_TRUE(Eventually("acme.test", "/", 503, ""));
  EXPECT_EQ(Get("acme.test", "/.well-known/acme-challenge/tok1").status, 200);
  ExpectNginxTestPasses();
}

// AutoSSL deploy: a site with a certificate also listens on the TLS addresses (TLS 1.2+).
TEST_F(SharedHostingTest, ASiteWithACertificateIsServedOverTls) {
  const std::string root = dir_.path() + "/www/tls-site";
  fs::create_directories(root);
  hp::testing::WriteFile(root + "/index.html", "hello over tls\n");
  const std::string crt = dir_.path() + "/tls.crt", key = dir_.path() + "/tls.key";
  auto [rc, out] = hp::testing::Run(
      {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=tls.test", "-addext",
       "subjectAltName=DNS:tls.test"});
  ASSERT_EQ(rc, 0) << out;
  const int tls_port = hp::testing::FreePort();
  NginxOptions o;
  o.main_config = conf_;
  o.sites_dir = dir_.path() + "/sites";
  o.error_log = dir_.path() + "/error.log";
  o.listen = {"127.0.0.1:" + std::to_string(port_)};
  o.tls_listen = {"127.0.0.1:" + std::to_string(tls_port) + " ssl"};
  o.suspended_page_dir = dir_.path() + "/suspended";
  auto web = NginxWebServer::Create(o);
  ASSERT_TRUE(web) << web.error().ToString();
  SiteConfig site{.name = "tls-site", .domains = {"tls.test"}, .document_root = root};
  site.tls_certificate_file = crt;
  site.tls_key_file = key;
  ASSERT_TRUE((*web)->ApplySite(site));
  hp::testing::HttpOptions h;
  h.ca_file = crt;
  h.resolve = "tls.test:" + std::to_string(tls_port) + ":127.0.0.1";
  const std::string url = "https://tls.test:" + std::to_string(tls_port) + "/";
  hp::testing::HttpResult last;
  EXPECT_TRUE(hp::testing::PollUntil(
      [&] {
        last = hp::testing::HttpRequest(url, h);
        return last.status == 200;
      },
      std::chrono::seconds(10)))
      << last.status << " " << last.error;
  EXPECT_NE(last.body.find("hello over tls"), std::string::npos) << last.body;
  EXPECT_TRUE(Eventually("tls.test", "/", 200, "hello over tls")) << "plain http still served";
  // A TLS 1.1-only client is refused.
  auto [rc11, out11] = hp::testing::Run(
      {"sh", "-c",
       "openssl s_client -connect 127.0.0.1:" + std::to_string(tls_port) +
           " -servername tls.test -tls1_1 < /dev/null"},
      std::chrono::seconds(10));
  EXPECT_NE(rc11, 0) << out11;
  ExpectNginxTestPasses();
}

}  // namespace
}  // namespace hp::provisioning
