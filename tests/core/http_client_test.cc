#include "hp/core/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "hp/core/http_server.h"
#include "hp/core/log.h"
#include "test_support.h"

namespace hp::core {
namespace {

using hp::testing::FreePort;
using hp::testing::PollUntil;
using hp::testing::Process;
using hp::testing::TempDir;

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetLevel(log::Level::kError);
    for (const char* m : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
      router_.AddSync({.method = m, .pattern = "/echo"}, [](const http::Request& q) {
        http::Response r = http::Response::Json(200, {{"method", q.method},
                                                      {"body", q.body},
                                                      {"x_test", q.Header("x-test")},
                                                      {"host", q.Header("host")}});
        r.SetHeader("X-Custom", "yes");
        return r;
      });
    }
    router_.AddSync({.method = "GET", .pattern = "/big"}, [](const http::Request&) {
      return http::Response::Text(200, std::string(2 << 20, 'x'));
    });
    router_.AddSync({.method = "GET", .pattern = "/status/{code}"}, [](const http::Request& q) {
      return http::Response::Text(std::stoi(q.Param("code")), "status body");
    });
    router_.AddSync({.method = "GET", .pattern = "/redirect/{n}"}, [](const http::Request& q) {
      int n = std::stoi(q.Param("n"));
      if (n == 0) return http::Response::Text(200, "arrived");
      http::Response r = http::Response::Empty(302);
      r.SetHeader("Location", "/redirect/" + std::to_string(n - 1));
      return r;
    });
    router_.AddSync({.method = "GET", .pattern = "/to-plain-http"}, [this](const http::Request&) {
      http::Response r = http::Response::Empty(302);
      r.SetHeader("Location", base_ + "/redirect/0");
      return r;
    });
    // Holds the reply until the test ends: a server that accepted but never answers.
    router_.Add({.method = "GET", .pattern = "/hang"}, [this](http::Request&&, http::Reply reply) {
      std::lock_guard lock(mu_);
      held_.push_back(std::move(reply));
    });
    auto s =
        http::Server::Create({.port = 0, .threads = 2, .access_log = false}, router_, metrics_);
    ASSERT_TRUE(s);
    server_ = std::move(*s);
    ASSERT_TRUE(server_->Start());
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override {
    {
      std::lock_guard lock(mu_);
      for (auto& r : held_) r(http::Response::Empty(204));
    }
    server_->Shutdown(std::chrono::seconds(1));
  }

  HttpClientRequest Get(const std::string& path) {
    HttpClientRequest r;
    r.url = base_ + path;
    return r;
  }

  http::Router router_;
  MetricsRegistry metrics_;
  std::unique_ptr<http::Server> server_;
  std::string base_;
  std::mutex mu_;
  std::vector<http::Reply> held_;
  std::unique_ptr<HttpClient> client_ = NewCurlHttpClient();
};

TEST_F(HttpClientTest, SendsMethodsHeadersAndBodies) {
  for (const char* m : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    HttpClientRequest req = Get("/echo");
    req.method = m;
    req.headers = {{"X-Test", "value 1"}, {"Content-Type", "application/json"}};
    req.body = std::string(m) == "GET" ? "" : "{\"n\":1}";
    auto r = client_->Do(req);
    ASSERT_TRUE(r) << m << ": " << r.error().ToString();
    EXPECT_EQ(r->status, 200);
    auto j = nlohmann::json::parse(r->body);
    EXPECT_EQ(j["method"], m);
    EXPECT_EQ(j["body"], req.body);
    EXPECT_EQ(j["x_test"], "value 1");
    EXPECT_EQ(r->headers["x-custom"], "yes");  // names lower-cased
    EXPECT_EQ(r->remote_ip, "127.0.0.1");
    EXPECT_EQ(r->effective_url, base_ + "/echo");
  }
  HttpClientRequest head = Get("/echo");
  head.method = "HEAD";
  auto h = client_->Do(head);
  ASSERT_TRUE(h) << h.error().ToString();
  EXPECT_EQ(h->status, 200);
  EXPECT_TRUE(h->body.empty());
}

TEST_F(HttpClientTest, ErrorStatusesAreResponsesNotErrors) {
  auto r = client_->Do(Get("/status/503"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "status body");
  auto nf = client_->Do(Get("/nothing-here"));
  ASSERT_TRUE(nf);
  EXPECT_EQ(nf->status, 404);
}

TEST_F(HttpClientTest, RefusesBadInputBeforeConnecting) {
  HttpClientRequest req = Get("/echo");
  req.headers = {{"X-Evil", "a\r\nInjected: 1"}};
  EXPECT_EQ(client_->Do(req).error().code, ErrorCode::kInvalidArgument);
  req = Get("/echo");
  req.method = "BREW";
  EXPECT_EQ(client_->Do(req).error().code, ErrorCode::kInvalidArgument);
  req = Get("");
  req.url = "file:///etc/passwd";
  auto file = client_->Do(req);
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().field, "url");
  req.url = "not a url";
  EXPECT_EQ(client_->Do(req).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(HttpClientTest, LargeBodiesFailWithPayloadTooLarge) {
  HttpClientRequest req = Get("/big");
  auto r = client_->Do(req);  // default limit 1 MiB, body 2 MiB with Content-Length
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_NE(r.error().detail.find("1048576 bytes"), std::string::npos) << r.error().detail;
  req.max_response_bytes = 3 << 20;
  auto ok = client_->Do(req);
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->body.size(), size_t{2} << 20);
}

TEST(HttpClientStreaming, LimitHoldsWithoutContentLength) {
  // A raw server that streams an endless body with no Content-Length until the client hangs up.
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(lfd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::atomic<size_t> sent{0};
  std::thread server([&] {
    int fd = ::accept(lfd, nullptr, nullptr);
    if (fd < 0) return;
    char buf[4096];
    (void)::recv(fd, buf, sizeof buf, 0);
    std::string head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
    (void)::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    std::string chunk(64 * 1024, 'y');
    while (sent < (size_t{64} << 20)) {
      ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    ::close(fd);
  });
  HttpClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/stream";
  req.max_response_bytes = 256 * 1024;
  auto r = NewCurlHttpClient()->Do(req);
  server.join();
  ::close(lfd);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_LT(sent.load(), size_t{64} << 20);  // the client stopped reading early
}

TEST_F(HttpClientTest, FollowsRedirectsOnlyWhenAskedAndWithinTheLimit) {
  auto no_follow = client_->Do(Get("/redirect/2"));
  ASSERT_TRUE(no_follow);
  EXPECT_EQ(no_follow->status, 302);
  EXPECT_EQ(no_follow->headers["location"], "/redirect/1");

  HttpClientRequest req = Get("/redirect/2");
  req.max_redirects = 2;
  auto followed = client_->Do(req);
  ASSERT_TRUE(followed) << followed.error().ToString();
  EXPECT_EQ(followed->status, 200);
  EXPECT_EQ(followed->body, "arrived");
  EXPECT_EQ(followed->effective_url, base_ + "/redirect/0");
  EXPECT_EQ(followed->headers.count("location"), 0u);  // headers of the final response only

  req = Get("/redirect/3");
  req.max_redirects = 2;
  auto too_many = client_->Do(req);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(too_many.error().detail.find("too many redirects"), std::string::npos);

  req = Get("/to-plain-http");
  req.max_redirects = 5;
  req.https_only_redirects = true;
  auto plain = client_->Do(req);
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().detail.find("redirect"), std::string::npos) << plain.error().detail;
}

TEST_F(HttpClientTest, TransportFailuresAreReadable) {
  HttpClientRequest req = Get("/hang");
  req.timeout_ms = 300;
  auto slow = client_->Do(req);
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(slow.error().detail.find("timeout after 300 ms"), std::string::npos)
      << slow.error().detail;

  req = Get("/echo");
  req.url = "http://127.0.0.1:" + std::to_string(FreePort()) + "/";
  auto refused = client_->Do(req);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(refused.error().detail.find("connection refused"), std::string::npos)
      << refused.error().detail;
}

TEST_F(HttpClientTest, ConnectToReachesTheAddressButKeepsTheHost) {
  HttpClientRequest req;
  req.url = "http://validation.example/echo";  // default port 80 is the one redirected
  req.connect_to = "127.0.0.1:" + std::to_string(server_->port());
  auto r = client_->Do(req);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->remote_ip, "127.0.0.1");
  // Pistache renders Host with the port; what matters is that it is not 127.0.0.1.
  EXPECT_TRUE(
      nlohmann::json::parse(r->body)["host"].get<std::string>().starts_with("validation.example"))
      << r->body;
}

TEST(HttpClientEnvironment, IgnoresProxyVariables) {
  // A proxy from the environment would be used by plain libcurl; ours must go direct.
  MetricsRegistry metrics;
  http::Router router;
  router.AddSync({.method = "GET", .pattern = "/direct"},
                 [](const http::Request&) { return http::Response::Text(200, "direct"); });
  auto s = *http::Server::Create({.port = 0, .threads = 1, .access_log = false}, router, metrics);
  ASSERT_TRUE(s->Start());
  const std::string dead_proxy = "http://127.0.0.1:" + std::to_string(FreePort());
  ::setenv("http_proxy", dead_proxy.c_str(), 1);
  ::setenv("HTTP_PROXY", dead_proxy.c_str(), 1);
  ::setenv("ALL_PROXY", dead_proxy.c_str(), 1);
  HttpClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(s->port()) + "/direct";
  auto r = NewCurlHttpClient()->Do(req);
  ::unsetenv("http_proxy");
  ::unsetenv("HTTP_PROXY");
  ::unsetenv("ALL_PROXY");
  s->Shutdown(std::chrono::seconds(1));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->body, "direct");
}

// HTTPS against a real TLS server (openssl s_server) with a throwaway certificate.
class HttpsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = dir_.path() + "/cert.pem";
    key_ = dir_.path() + "/key.pem";
    auto [rc, out] = hp::testing::Run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                       "ec_paramgen_curve:P-256", "-nodes", "-keyout", key_, "-out",
                                       cert_, "-days", "1", "-subj", "/CN=tls.test.example",
                                       "-addext", "subjectAltName=DNS:tls.test.example"});
    ASSERT_EQ(rc, 0) << out;
  }
  // Starts s_server with extra protocol flags; returns false if it did not come up.
  bool StartServer(std::vector<std::string> extra) {
    port_ = FreePort();
    std::vector<std::string> argv = {
        "openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port_),
        "-cert",   cert_,      "-key",    key_,
        "-www",    "-quiet"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    server_ = std::make_unique<Process>(argv, std::map<std::string, std::string>{}, dir_.path());
    return PollUntil(
        [&] {
          int fd = ::socket(AF_INET, SOCK_STREAM, 0);
          sockaddr_in a{};
          a.sin_family = AF_INET;
          a.sin_port = htons(static_cast<uint16_t>(port_));
          a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
          bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
          ::close(fd);
          return ok;
        },
        std::chrono::seconds(10));
  }
  HttpClientRequest Req() {
    HttpClientRequest r;
    r.url = "https://tls.test.example:" + std::to_string(port_) + "/";
    r.connect_to = "127.0.0.1:" + std::to_string(port_);
    r.ca_file = cert_;
    return r;
  }

  TempDir dir_;
  std::string cert_, key_;
  int port_ = 0;
  std::unique_ptr<Process> server_;
  std::unique_ptr<HttpClient> client_ = NewCurlHttpClient();
};

TEST_F(HttpsClientTest, TrustsTheGivenCaAndRefusesUnknownOnes) {
  ASSERT_TRUE(StartServer({}));
  auto ok = client_->Do(Req());
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->status, 200);
  EXPECT_NE(ok->body.find("TLSv1.3"), std::string::npos);  // s_server -www reports the session

  HttpClientRequest untrusted = Req();
  untrusted.ca_file.clear();  // system store does not know our throwaway certificate
  auto bad = client_->Do(untrusted);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(bad.error().detail.find("TLS handshake failed"), std::string::npos)
      << bad.error().detail;

  HttpClientRequest wrong_name = Req();
  wrong_name.url = "https://other.example:" + std::to_string(port_) + "/";
  auto mismatch = client_->Do(wrong_name);
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().detail.find("TLS handshake failed"), std::string::npos);

  wrong_name.verify_tls = false;  // explicitly opted out (e.g. tls-alpn-01 probes)
  EXPECT_TRUE(client_->Do(wrong_name));
}

TEST_F(HttpsClientTest, RefusesTls11) {
  if (!StartServer({"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"}))
    GTEST_SKIP() << "no TLS 1.1 server";
  auto r = client_->Do(Req());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().detail.find("TLS handshake failed"), std::string::npos) << r.error().detail;
  // The same server is reachable by a client that allows TLS 1.1, so the refusal is ours.
  auto [rc, out] =
      hp::testing::Run({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port_),
                        "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"},
                       std::chrono::seconds(10));
  EXPECT_NE(out.find("Protocol  : TLSv1.1"), std::string::npos) << out;
}

}  // namespace
}  // namespace hp::core
