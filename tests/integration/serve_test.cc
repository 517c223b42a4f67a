// Integration tests of `hostplane serve --dev` and the CLI, against the real binary with its real
// nginx TLS front on loopback.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <thread>

#include "test_support.h"

namespace hp::testing {
namespace {

int ConnectTcp(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// A raw TLS connection with a pinned protocol version; for protocol-level checks curl hides.
class TlsConn {
 public:
  TlsConn(int port, int version, bool weak_client = false) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (weak_client) SSL_CTX_set_security_level(ctx_, 0);  // let the client offer TLS 1.1
    SSL_CTX_set_min_proto_version(ctx_, version);
    SSL_CTX_set_max_proto_version(ctx_, version);
    if (weak_client) SSL_CTX_set_cipher_list(ctx_, "DEFAULT:@SECLEVEL=0");
    fd_ = ConnectTcp(port);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    ok_ = fd_ >= 0 && SSL_connect(ssl_) == 1;
    ERR_clear_error();
  }
  ~TlsConn() {
    SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  bool ok() const { return ok_; }
  std::string version() const { return SSL_get_version(ssl_); }
  bool Send(const std::string& s) { return SSL_write(ssl_, s.data(), static_cast<int>(s.size())) > 0; }
  // Reads one HTTP response (headers + Content-Length body).
  std::string ReadResponse() {
    std::string buf;
    char tmp[4096];
    while (true) {
      auto hdr_end = buf.find("\r\n\r\n");
      if (hdr_end != std::string::npos) {
        size_t len = 0;
        auto cl = buf.find("Content-Length: ");
        if (cl != std::string::npos && cl < hdr_end) len = std::stoul(buf.substr(cl + 16));
        if (buf.size() >= hdr_end + 4 + len) return buf.substr(0, hdr_end + 4 + len);
      }
      int n = SSL_read(ssl_, tmp, sizeof tmp);
      if (n <= 0) return buf;
      buf.append(tmp, static_cast<size_t>(n));
    }
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool ok_ = false;
};

// Start-up time is measured by tests/bench/startup.sh (docs/benchmarks.md), not asserted here.
TEST(Serve, StartsAndServesHealthzOverHttps) {
  DevServer s;
  ASSERT_TRUE(s.WaitReady(std::chrono::seconds(30))) << s.process().Stderr();
  auto r = s.Get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body)["status"], "ok");
  auto ready = s.Get("/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(nlohmann::json::parse(ready.body)["checks"]["migrations"], "ok");
  // The database, the dev certificate and the front's config live under the var dir.
  EXPECT_TRUE(std::filesystem::exists(s.var_dir() + "/hostplane.db"));
  EXPECT_TRUE(std::filesystem::exists(s.var_dir() + "/tls/server.key"));
  EXPECT_EQ(std::filesystem::status(s.var_dir() + "/tls/server.key").permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  // The request log is JSON lines with a request id, and never the query string.
  auto q = s.Get("/healthz?token=supersecret");
  EXPECT_EQ(q.status, 200);
  ASSERT_TRUE(PollUntil([&] { return s.process().Stderr().find("\"path\":\"/healthz\"") != std::string::npos; }, std::chrono::seconds(5)));
  EXPECT_EQ(s.process().Stderr().find("supersecret"), std::string::npos);
  EXPECT_NE(s.process().Stderr().find("\"request_id\""), std::string::npos);
}

TEST(Serve, RefusesTls11AndAcceptsTls12And13) {
  DevServer s;
  ASSERT_TRUE(s.WaitReady()) << s.process().Stderr();
  TlsConn old(s.port(), TLS1_1_VERSION, /*weak_client=*/true);
  EXPECT_FALSE(old.ok()) << "server accepted " << old.version();
  TlsConn v12(s.port(), TLS1_2_VERSION);
  ASSERT_TRUE(v12.ok());
  EXPECT_EQ(v12.version(), "TLSv1.2");
  TlsConn v13(s.port(), TLS1_3_VERSION);
  ASSERT_TRUE(v13.ok());
  EXPECT_EQ(v13.version(), "TLSv1.3");
}

TEST(Serve, SystemEndpointsMetricsAndOpenApi) {
  DevServer s;
  ASSERT_TRUE(s.WaitReady()) << s.process().Stderr();
  auto api = s.Get("/openapi.json");
  ASSERT_EQ(api.status, 200);
  auto doc = nlohmann::json::parse(api.body);
  EXPECT_EQ(doc["openapi"], "3.1.0");
  for (const char* p : {"/healthz", "/readyz", "/metrics", "/openapi.json"}) EXPECT_TRUE(doc["paths"].contains(p)) << p;
  auto m = s.Get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("# TYPE hostplane_http_requests_total counter"), std::string::npos);
  EXPECT_NE(m.body.find("hostplane_http_request_duration_seconds_bucket"), std::string::npos);
  auto nf = s.Get("/no/such/thing");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.headers["content-type"], "application/problem+json");
}

TEST(Serve, BadConfigStopsStartupNamingTheKey) {
  TempDir dir;
  struct Case {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string file;
    std::string expect;
  } cases[] = {
      {{"--listen", "127.0.0.1:70000"}, {}, "", "http.listen"},
      {{}, {{"HOSTPLANE_HTTP_THREADS", "0"}}, "", "http.threads"},
      {{}, {{"HOSTPLANE_NOT_A_KEY", "1"}}, "", "HOSTPLANE_NOT_A_KEY"},
      {{}, {}, R"({"http": {"listen": "127.0.0.1:8443", "colour": "blue"}})", "http.colour"},
      {{}, {}, R"({"store": {"synchronous": "sometimes"}})", "store.synchronous"},
      {{"--bogus-flag"}, {}, "", "--bogus-flag"},
  };
  for (auto& c : cases) {
    std::vector<std::string> argv = {HostplaneBinary(), "serve", "--dev", "--var", dir.path() + "/var"};
    for (auto& a : c.args) argv.push_back(a);
    if (!c.file.empty()) {
      WriteFile(dir.path() + "/cfg.json", c.file);
      argv.push_back("--config");
      argv.push_back(dir.path() + "/cfg.json");
    }
    auto [rc, out] = hp::testing::Run(argv, std::chrono::seconds(10), c.env);
    EXPECT_NE(rc, 0) << c.expect;
    EXPECT_NE(rc, -1) << "timed out instead of refusing: " << c.expect;
    EXPECT_NE(out.find(c.expect), std::string::npos) << out;
  }
  // Without --dev, TLS files are required.
  auto [rc, out] = hp::testing::Run({HostplaneBinary(), "serve", "--var", dir.path() + "/var"}, std::chrono::seconds(10));
  EXPECT_EQ(rc, 2);
  EXPECT_NE(out.find("http.tls_cert"), std::string::npos) << out;
}

TEST(Serve, NewerDatabaseIsRefusedByMigrateAndServe) {
  TempDir dir;
  const std::string var = dir.path() + "/var";
  auto [rc, out] = hp::testing::Run({HostplaneBinary(), "migrate", "--var", var});
  ASSERT_EQ(rc, 0) << out;
  auto [rc2, check] = hp::testing::Run({HostplaneBinary(), "migrate", "--check", "--var", var});
  EXPECT_EQ(rc2, 0) << check;
  {
    SQLite::Database db(var + "/hostplane.db", SQLite::OPEN_READWRITE, 5000);
    db.exec("INSERT INTO schema_migrations(module, version, name) VALUES ('core', 999, '0999_future')");
  }
  auto [rc3, refused] = hp::testing::Run({HostplaneBinary(), "migrate", "--var", var});
  EXPECT_NE(rc3, 0);
  EXPECT_NE(refused.find("version 999 of module 'core'"), std::string::npos) << refused;
  auto [rc4, serve] = hp::testing::Run({HostplaneBinary(), "serve", "--dev", "--var", var, "--listen", "127.0.0.1:" + std::to_string(FreePort())},
                          std::chrono::seconds(10));
  EXPECT_EQ(rc4, 2);
  EXPECT_NE(serve.find("refusing to start"), std::string::npos) << serve;
}

// Acceptance 7: silent clients do not stall new HTTPS connections; keep-alive without asking;
// malformed requests get a prompt 400.
TEST(Serve, SilentClientsDoNotStallNewHttpsConnections) {
  DevServer s;
  ASSERT_TRUE(s.WaitReady()) << s.process().Stderr();
  std::vector<int> silent;
  for (int i = 0; i < 20; ++i) {
    int fd = ConnectTcp(s.port());
    ASSERT_GE(fd, 0);
    silent.push_back(fd);
  }
  double worst = 0;
  int failures = 0;
  for (int i = 0; i < 100; ++i) {
    HttpOptions o;
    o.ca_file = s.CaFile();
    o.resolve = "localhost:" + std::to_string(s.port()) + ":127.0.0.1";
    o.timeout_ms = 1000;
    auto r = HttpRequest(s.Url("/healthz"), o);  // a new connection and handshake each time
    if (r.status != 200) ++failures;
    worst = std::max(worst, r.seconds);
  }
  for (int fd : silent) ::close(fd);
  EXPECT_EQ(failures, 0);
  EXPECT_LT(worst, 1.0) << "slowest fresh HTTPS request took " << worst << " s";
}

TEST(Serve, KeepAliveWithoutConnectionHeaderAndPrompt400) {
  DevServer s;
  ASSERT_TRUE(s.WaitReady()) << s.process().Stderr();
  TlsConn c(s.port(), TLS1_3_VERSION);
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    std::string resp = c.ReadResponse();
    EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << "request " << i << " on the same connection: " << resp;
    EXPECT_EQ(resp.find("Connection: close"), std::string::npos);
  }
  for (const std::string& bad : {std::string("GARBAGE\r\n\r\n"), std::string("GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Header Line\r\n\r\n"),
                                std::string("GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n")}) {
    TlsConn m(s.port(), TLS1_3_VERSION);
    ASSERT_TRUE(m.ok());
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(m.Send(bad));
    std::string resp = m.ReadResponse();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(resp.rfind("HTTP/1.1 400", 0) == 0 || resp.rfind("HTTP/1.1 505", 0) == 0) << resp;
    EXPECT_LT(secs, 1.0);
  }
}

TEST(Serve, SigtermStopsGracefullyWithExitZeroAndFreesThePort) {
  DevServer s;
  ASSERT_TRUE(s.WaitReady()) << s.process().Stderr();
  auto t0 = std::chrono::steady_clock::now();
  s.process().Signal(SIGTERM);
  auto rc = s.process().Wait(std::chrono::seconds(12));
  ASSERT_TRUE(rc) << "did not exit within the grace period";
  EXPECT_EQ(*rc, 0);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 11.0);
  EXPECT_NE(s.process().Stderr().find("\"msg\":\"stopped\""), std::string::npos);
  // The TLS front went with it: nothing listens on the port any more.
  EXPECT_LT(ConnectTcp(s.port()), 0);
}

TEST(Serve, SigkillAlsoTakesTheTlsFrontDown) {
  DevServer s;
  ASSERT_TRUE(s.WaitReady()) << s.process().Stderr();
  s.process().Signal(SIGKILL);
  ASSERT_TRUE(s.process().Wait(std::chrono::seconds(5)));
  EXPECT_TRUE(PollUntil([&] {
    int fd = ConnectTcp(s.port());
    if (fd >= 0) ::close(fd);
    return fd < 0;
  }, std::chrono::seconds(5)));
}

// Acceptance 6 through the CLI: `hostplane backup` while the server runs and the database takes
// writes; `hostplane restore` gives a database with every row committed before the backup.
TEST(Serve, BackupCliWhileServingAndRestore) {
  DevServer s;
  ASSERT_TRUE(s.WaitReady()) << s.process().Stderr();
  const std::string dbpath = s.var_dir() + "/hostplane.db";
  {
    SQLite::Database db(dbpath, SQLite::OPEN_READWRITE, 5000);
    // BEGIN IMMEDIATE: a read that upgrades to a write fails at once (SQLITE_BUSY_SNAPSHOT) when
    // the server commits in between; taking the write lock first makes the busy timeout apply.
    db.exec("BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS backup_probe(id INTEGER PRIMARY KEY, v TEXT); COMMIT");
  }
  std::atomic<bool> stop{false};
  std::atomic<int64_t> committed{0};
  std::thread writer([&] {
    SQLite::Database db(dbpath, SQLite::OPEN_READWRITE, 5000);
    db.exec("PRAGMA synchronous=NORMAL");
    while (!stop.load()) {
      db.exec("INSERT INTO backup_probe(v) VALUES ('x')");
      committed.store(db.getLastInsertRowid());
    }
  });
  ASSERT_TRUE(PollUntil([&] { return committed.load() > 500; }, std::chrono::seconds(20)));
  const int64_t before = committed.load();
  TempDir out;
  auto [rc, text] = hp::testing::Run({HostplaneBinary(), "backup", "--var", s.var_dir(), "--to", out.path() + "/b.db"});
  const int64_t after = committed.load();
  stop = true;
  writer.join();
  ASSERT_EQ(rc, 0) << text;
  EXPECT_GT(after, before);  // writes really went on
  const std::string var2 = out.path() + "/var2";
  auto [rc2, text2] = hp::testing::Run({HostplaneBinary(), "restore", "--var", var2, "--from", out.path() + "/b.db"});
  ASSERT_EQ(rc2, 0) << text2;
  {
    SQLite::Database r(var2 + "/hostplane.db", SQLite::OPEN_READONLY, 5000);
    EXPECT_EQ(r.execAndGet("PRAGMA integrity_check").getString(), "ok");
    SQLite::Statement q(r, "SELECT COUNT(*) FROM backup_probe WHERE id <= ?");
    q.bind(1, before);
    q.executeStep();
    EXPECT_EQ(q.getColumn(0).getInt64(), before);  // every row committed before the backup
  }
  auto [rc3, text3] = hp::testing::Run({HostplaneBinary(), "migrate", "--check", "--var", var2});
  EXPECT_EQ(rc3, 0) << text3;
  auto [rc4, text4] = hp::testing::Run({HostplaneBinary(), "restore", "--var", var2, "--from", out.path() + "/missing.db"});
  EXPECT_NE(rc4, 0);
  EXPECT_NE(text4.find("--from"), std::string::npos) << text4;
}

TEST(Cli, JobsListShowsQueuedJobsAndUsageErrorsAreClear) {
  TempDir dir;
  const std::string var = dir.path() + "/var";
  ASSERT_EQ(hp::testing::Run({HostplaneBinary(), "migrate", "--var", var}).first, 0);
  {
    SQLite::Database db(var + "/hostplane.db", SQLite::OPEN_READWRITE, 5000);
    db.exec("INSERT INTO jobs(public_id, kind, payload, state, max_attempts, run_at, created_at, updated_at, last_error) "
            "VALUES ('job-aaaa', 'dns.publish', '{}', 'dead', 8, 0, 0, 0, 'primary refused TSIG')");
  }
  auto [rc, out] = hp::testing::Run({HostplaneBinary(), "jobs", "list", "--var", var, "--state", "dead"});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("dns.publish"), std::string::npos);
  EXPECT_NE(out.find("primary refused TSIG"), std::string::npos);
  auto [rc2, out2] = hp::testing::Run({HostplaneBinary(), "jobs", "retry", "job-aaaa", "--var", var});
  EXPECT_EQ(rc2, 0) << out2;
  auto [rc3, out3] = hp::testing::Run({HostplaneBinary(), "jobs", "list", "--json", "--var", var});
  EXPECT_EQ(nlohmann::json::parse(out3)[0]["state"], "queued");
  auto [rc4, out4] = hp::testing::Run({HostplaneBinary(), "jobs", "list", "--state", "bogus", "--var", var});
  EXPECT_EQ(rc4, 2);
  EXPECT_NE(out4.find("--state"), std::string::npos);
  auto [rc5, out5] = hp::testing::Run({HostplaneBinary(), "frobnicate"});
  EXPECT_EQ(rc5, 2);
  EXPECT_NE(out5.find("unknown command frobnicate"), std::string::npos);
  auto [rc6, out6] = hp::testing::Run({HostplaneBinary(), "version"});
  EXPECT_EQ(rc6, 0);
  EXPECT_NE(out6.find("hostplane 0."), std::string::npos);
}

}  // namespace
}  // namespace hp::testing
