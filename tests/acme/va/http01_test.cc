// The validator's http-01 fetch against a raw HTTP server on loopback whose every byte the test
// controls: redirects (relative, absolute, at most 10, only http/https on the configured ports),
// the size and time limits, status and content checks, HTTP/1.0 and 1.1 replies.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "hp/acme/dns_checker.h"
#include "va/va.h"

namespace hp::acme {
namespace {

// Answers each connection with what `reply(path, request)` returns; "" means never answer (the
// connection stays open until the server stops).
class RawHttpServer {
 public:
  using Reply = std::function<std::string(const std::string& path, const std::string& request)>;
  explicit RawHttpServer(Reply reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 64);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~RawHttpServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    std::lock_guard l(mu_);
    for (int c : hanging_) ::close(c);
  }
  int port() const { return port_; }
  int requests() const { return requests_; }
  std::string last_request() {
    std::lock_guard l(mu_);
    return last_;
  }

 private:
  void Loop() {
    while (!stop_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      ++requests_;
      std::string path;
      if (auto sp = req.find(' '); sp != std::string::npos) {
        path = req.substr(sp + 1, req.find(' ', sp + 1) - sp - 1);
      }
      {
        std::lock_guard l(mu_);
        last_ = req;
      }
      std::string out = reply_(path, req);
      if (out.empty()) {
        std::lock_guard l(mu_);
        hanging_.push_back(c);
        continue;
      }
      for (size_t sent = 0; sent < out.size();) {
        ssize_t n = ::send(c, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      ::close(c);
    }
  }
  Reply reply_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
  std::mutex mu_;
  std::vector<int> hanging_;
  std::string last_;
};

std::string Ok(const std::string& body, const std::string& version = "HTTP/1.1") {
  return version + " 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}
std::string Redirect(const std::string& location, int code = 302) {
  return "HTTP/1.1 " + std::to_string(code) + " Found\r\nLocation: " + location +
         "\r\nContent-Length: 0\r\n\r\n";
}

constexpr char kToken[] = "tok123";
constexpr char kKeyAuth[] = "tok123.thumbprint";

class Http01Test : public ::testing::Test {
 protected:
  core::Result<core::Json> Validate(RawHttpServer& srv, std::string name = "a.example.test") {
    ValidationConfig vc;
    vc.http_port = srv.port();
    vc.https_port = 1;  // nothing listens there: an https redirect fails to connect
    vc.timeout = std::chrono::milliseconds(700);
    Va va(vc, dns_);
    return va.Validate({"dns", name}, "http-01", kToken, kKeyAuth);
  }
  StaticDnsChecker dns_{{"127.0.0.1"}};
};

TEST_F(Http01Test, FetchesTheKeyAuthorizationWithHostHeaderOverHttp10And11) {
  for (const char* version : {"HTTP/1.1", "HTTP/1.0"}) {
    RawHttpServer srv([&](const std::string& path, const std::string&) {
      return path == std::string("/.well-known/acme-challenge/") + kToken
                 ? Ok(std::string(kKeyAuth) + "\n", version)
                 : "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    });
    auto r = Validate(srv);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ((*r)["records"].size(), 1u);
    EXPECT_EQ((*r)["records"][0]["addressUsed"], "127.0.0.1");
    EXPECT_NE(srv.last_request().find("Host: a.example.test:" + std::to_string(srv.port()) + "\r\n"),
              std::string::npos)
        << srv.last_request();
    EXPECT_NE(srv.last_request().find("User-Agent: hostplane-va/1"), std::string::npos);
  }
  // A reply without Content-Length ends when the server closes the connection.
  RawHttpServer close_delimited([](const std::string&, const std::string&) {
    return std::string("HTTP/1.0 200 OK\r\n\r\n") + kKeyAuth;
  });
  EXPECT_TRUE(Validate(close_delimited));
}

TEST_F(Http01Test, FollowsRelativeAndAbsoluteRedirectsUpToTen) {
  RawHttpServer srv([](const std::string& path, const std::string&) -> std::string {
    if (path.starts_with("/.well-known/")) return Redirect("/hop/1", 301);
    if (path.starts_with("/hop/")) {
      int n = std::stoi(path.substr(5));
      if (n < 5) return Redirect("../hop2?n=" + std::to_string(n + 1));  // relative to /hop/n
      return Ok(kKeyAuth);
    }
    if (path.starts_with("/hop2?n=")) {
      int n = std::stoi(path.substr(8));
      return Redirect("/hop/" + std::to_string(n), 307);
    }
    return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  });
  auto r = Validate(srv);
  ASSERT_TRUE(r) << r.error().ToString();
  // challenge, /hop/1, then hop2/hop pairs up to /hop/5.
  EXPECT_EQ((*r)["records"].size(), 10u) << r->dump();

  // An absolute redirect to another name (resolved again) works too.
  RawHttpServer abs([](const std::string& path, const std::string& req) -> std::string {
    if (req.find("Host: other.example.test") != std::string::npos) return Ok(kKeyAuth);
    return Redirect("http://other.example.test" + path);
  });
  // No port in the URL means the standard one, i.e. the configured http port in tests.
  auto other = Validate(abs);
  ASSERT_TRUE(other) << other.error().ToString();
  EXPECT_EQ((*other)["records"][1]["hostname"], "other.example.test");

  // Eleven redirects are too many.
  RawHttpServer loop([](const std::string& path, const std::string&) {
    return Redirect(path + "x");
  });
  auto too_many = Validate(loop);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code, core::ErrorCode::kAcmeConnection);
  EXPECT_NE(too_many.error().detail.find("too many redirects"), std::string::npos);
  EXPECT_EQ(loop.requests(), 11);
}

TEST_F(Http01Test, RedirectsOnlyToHttpOrHttpsOnTheConfiguredPorts) {
  int port = 0;
  RawHttpServer srv([&](const std::string& path, const std::string& req) -> std::string {
    if (req.find("Host: b.example.test") != std::string::npos) return Ok(kKeyAuth);
    if (path.ends_with("ftp")) return Redirect("ftp://a.example.test/x");
    if (path.ends_with("port")) return Redirect("http://a.example.test:8081/x");
    if (path.ends_with("https")) return Redirect("https://a.example.test/x");
    return Redirect("http://b.example.test:" + std::to_string(port) + "/ok");
  });
  port = srv.port();
  auto ok = Validate(srv);
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ((*ok)["records"][1]["hostname"], "b.example.test");

  auto fail_with = [&](const std::string& suffix) {
    RawHttpServer s([&](const std::string& path, const std::string&) -> std::string {
      if (path.starts_with("/.well-known/")) return Redirect("/next-" + suffix);
      if (suffix == "ftp") return Redirect("ftp://a.example.test/x");
      if (suffix == "port") return Redirect("http://a.example.test:8081/x");
      return Redirect("https://a.example.test/x");
    });
    auto r = Validate(s);
    EXPECT_FALSE(r) << suffix;
    return r ? core::Error(core::ErrorCode::kInternal, "unexpected success") : r.error();
  };
  auto ftp = fail_with("ftp");
  EXPECT_EQ(ftp.code, core::ErrorCode::kAcmeConnection);
  EXPECT_NE(ftp.detail.find("non-HTTP(S)"), std::string::npos) << ftp.detail;
  auto other_port = fail_with("port");
  EXPECT_NE(other_port.detail.find("non-standard port"), std::string::npos) << other_port.detail;
  // https goes to the configured https port (here 1, where nothing listens): a connection error.
  auto https = fail_with("https");
  EXPECT_EQ(https.code, core::ErrorCode::kAcmeConnection);
  EXPECT_NE(https.detail.find(":1/x"), std::string::npos) << https.detail;
}

TEST_F(Http01Test, SizeTimeStatusAndContentLimits) {
  RawHttpServer big([](const std::string&, const std::string&) {
    return Ok(std::string(kKeyAuth) + std::string(20 * 1024, ' '));
  });
  auto too_big = Validate(big);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, core::ErrorCode::kAcmeUnauthorized);
  EXPECT_NE(too_big.error().detail.find("larger than 16384 bytes"), std::string::npos);

  RawHttpServer silent([](const std::string&, const std::string&) { return std::string(); });
  const auto t0 = std::chrono::steady_clock::now();
  auto timeout = Validate(silent);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(timeout);
  EXPECT_EQ(timeout.error().code, core::ErrorCode::kAcmeConnection);
  EXPECT_NE(timeout.error().detail.find("timeout"), std::string::npos) << timeout.error().detail;
  EXPECT_LT(took, std::chrono::seconds(3));

  RawHttpServer not_found([](const std::string&, const std::string&) {
    return std::string("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n");
  });
  auto nf = Validate(not_found);
  ASSERT_FALSE(nf);
  EXPECT_EQ(nf.error().code, core::ErrorCode::kAcmeUnauthorized);
  EXPECT_NE(nf.error().detail.find("HTTP 404"), std::string::npos);

  RawHttpServer wrong([](const std::string&, const std::string&) { return Ok("tok123.other"); });
  auto w = Validate(wrong);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, core::ErrorCode::kAcmeIncorrectResponse);

  RawHttpServer garbage([](const std::string&, const std::string&) {
    return std::string("SSH-2.0-OpenSSH_9.2\r\n\r\n");
  });
  auto g = Validate(garbage);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, core::ErrorCode::kAcmeConnection);

  RawHttpServer chunked([](const std::string&, const std::string&) {
    return std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11\r\ntok123.thumbprint\r\n0\r\n\r\n");
  });
  EXPECT_FALSE(Validate(chunked));  // chunked is not HTTP/1.0 (what we ask for)

  // Nobody listening: a connection problem naming the address.
  ValidationConfig vc;
  vc.http_port = 1;
  Va va(vc, dns_);
  auto refused = va.Validate({"dns", "a.example.test"}, "http-01", kToken, kKeyAuth);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, core::ErrorCode::kAcmeConnection);
}

}  // namespace
}  // namespace hp::acme
