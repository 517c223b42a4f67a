// ACME load driver: N concurrent full issuances (new-order, authz, http-01 answered by the
// driver's own responder on loopback, polling, finalize with a fresh P-256 CSR, certificate
// download) against any RFC 8555 server, over persistent TLS connections, with ES256 accounts
// created before the measurement and reused. Prints issuances/s, per-request latency percentiles
// and the CPU time of the server processes (from /proc) per issuance.
//
//   acme_bench --directory URL --cacert FILE --http01-port P [--concurrency 32] [--duration 60]
//              [--warmup 5] [--accounts 8] [--cpu NAME=PID[,PID...]]... [--label TEXT]
//              [--save-chain FILE] [--connect HOST:PORT]
//
// One thread per in-flight issuance (blocking I/O; the work is signing and waiting); the
// responder is one epoll thread. Everything is measured between the end of the warm-up and the
// deadline; issuances still running at the deadline are not counted.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "acme_bench: %s\n", msg.c_str());
  std::exit(1);
}

std::string B64Url(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += k[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = p[i] << 16;
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    const unsigned v = (p[i] << 16) | (p[i + 1] << 8);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
  }
  return out;
}

std::string Sha256(const std::string& s) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

// ---- URLs and HTTP over TLS ---------------------------------------------------------------

struct Url {
  std::string host;
  int port = 443;
  std::string path;
};

Url ParseUrl(const std::string& u) {
  const std::string pre = "https://";
  if (u.rfind(pre, 0) != 0) Die("only https URLs: " + u);
  Url out;
  const size_t slash = u.find('/', pre.size());
  std::string hp = u.substr(pre.size(), slash == std::string::npos ? std::string::npos
                                                                    : slash - pre.size());
  out.path = slash == std::string::npos ? "/" : u.substr(slash);
  const size_t colon = hp.rfind(':');
  if (colon != std::string::npos && hp.find(']') == std::string::npos) {
    out.host = hp.substr(0, colon);
    out.port = std::stoi(hp.substr(colon + 1));
  } else {
    out.host = hp;
  }
  return out;
}

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string Header(const std::string& n) const {
    auto it = headers.find(n);
    return it == headers.end() ? "" : it->second;
  }
};

SSL_CTX* g_ctx = nullptr;
std::string g_connect_host;  // --connect override (DNS name in URLs stays the same)
int g_connect_port = 0;

class Conn {
 public:
  explicit Conn(Url base) : base_(std::move(base)) {}
  ~Conn() { Close(); }

  Response Do(const std::string& method, const std::string& path, const std::string& body,
              const std::string& content_type) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (!ssl_) Open();
      std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + base_.host + ":" +
                        std::to_string(base_.port) +
                        "\r\nUser-Agent: hostplane-acme-bench\r\nConnection: keep-alive\r\n";
      if (!content_type.empty()) req += "Content-Type: " + content_type + "\r\n";
      if (method == "POST") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
      req += "\r\n" + body;
      Response r;
      if (Write(req) && Read(r, method == "HEAD")) {
        if (r.Header("connection") == "close") Close();
        return r;
      }
      Close();  // the server closed an idle keep-alive connection: reconnect once more
    }
    Die("request " + method + " " + path + " failed 3 times");
  }

 private:
  void Open() {
    const std::string host = g_connect_host.empty() ? base_.host : g_connect_host;
    const int port = g_connect_port ? g_connect_port : base_.port;
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) {
      Die("cannot resolve " + host);
    }
    int fd = -1;
    for (addrinfo* a = res; a; a = a->ai_next) {
      fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
      if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) Die("cannot connect to " + host + ":" + std::to_string(port));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{30, 0};  // a server that stops answering ends the run instead of hanging it
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssl_ = SSL_new(g_ctx);
    SSL_set_fd(ssl_, fd);
    SSL_set_tlsext_host_name(ssl_, base_.host.c_str());
    SSL_set1_host(ssl_, base_.host.c_str());
    if (SSL_connect(ssl_) != 1) {
      ERR_print_errors_fp(stderr);
      Die("TLS handshake with " + host + " failed");
    }
    fd_ = fd;
    buf_.clear();
  }
  void Close() {
    if (ssl_) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool Write(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      int n = SSL_write(ssl_, s.data() + off, static_cast<int>(s.size() - off));
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  bool Fill() {
    char tmp[16384];
    int n = SSL_read(ssl_, tmp, sizeof tmp);
    if (n <= 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      Die("no response from the server in 30 s (is it stuck?)");
    }
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  bool ReadLine(std::string& line) {
    for (;;) {
      size_t eol = buf_.find("\r\n");
      if (eol != std::string::npos) {
        line = buf_.substr(0, eol);
        buf_.erase(0, eol + 2);
        return true;
      }
      if (!Fill()) return false;
    }
  }
  bool ReadN(size_t n, std::string& out) {
    while (buf_.size() < n) {
      if (!Fill()) return false;
    }
    out.append(buf_, 0, n);
    buf_.erase(0, n);
    return true;
  }
  bool Read(Response& r, bool head) {
    std::string line;
    if (!ReadLine(line)) return false;
    if (line.size() < 12) return false;
    r.status = std::stoi(line.substr(9, 3));
    for (;;) {
      if (!ReadLine(line)) return false;
      if (line.empty()) break;
      size_t c = line.find(':');
      if (c == std::string::npos) continue;
      std::string k = line.substr(0, c);
      for (auto& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::string v = line.substr(c + 1);
      v.erase(0, v.find_first_not_of(' '));
      r.headers[k] = v;
    }
    if (head || r.status == 204 || r.status == 304) return true;
    if (r.Header("transfer-encoding").find("chunked") != std::string::npos) {
      for (;;) {
        if (!ReadLine(line)) return false;
        const size_t n = std::stoul(line, nullptr, 16);
        if (n == 0) {
          ReadLine(line);
          return true;
        }
        if (!ReadN(n, r.body) || !ReadLine(line)) return false;
      }
    }
    const std::string cl = r.Header("content-length");
    if (!cl.empty()) return ReadN(std::stoul(cl), r.body);
    return true;
  }

  Url base_;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  std::string buf_;
};

// ---- Keys, JWS, CSR -------------------------------------------------------------------------

struct Key {
  EVP_PKEY* pkey = nullptr;
  Json jwk;
  std::string thumbprint;
};

std::string Coord(const BIGNUM* bn) {
  std::string out(32, '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), 32);
  return out;
}

Key NewKey() {
  Key k;
  k.pkey = EVP_EC_gen("P-256");
  if (!k.pkey) Die("EC keygen failed");
  BIGNUM *x = nullptr, *y = nullptr;
  EVP_PKEY_get_bn_param(k.pkey, "qx", &x);
  EVP_PKEY_get_bn_param(k.pkey, "qy", &y);
  k.jwk = {{"crv", "P-256"}, {"kty", "EC"}, {"x", B64Url(Coord(x))}, {"y", B64Url(Coord(y))}};
  BN_free(x);
  BN_free(y);
  k.thumbprint = B64Url(Sha256(k.jwk.dump()));  // nlohmann orders keys: RFC 7638 form
  return k;
}

std::string SignEs256(EVP_PKEY* key, const std::string& input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string der(len, '\0');
  if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    Die("sign failed");
  }
  EVP_MD_CTX_free(ctx);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  const BIGNUM *r = nullptr, *s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  std::string out = Coord(r) + Coord(s);
  ECDSA_SIG_free(sig);
  return out;
}

std::string Csr(const std::string& name, std::string* key_pem = nullptr) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_version(req, 0);
  X509_REQ_set_pubkey(req, key);
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  GENERAL_NAMES* gens = sk_GENERAL_NAME_new_null();
  GENERAL_NAME* gn = GENERAL_NAME_new();
  ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
  ASN1_STRING_set(ia5, name.data(), static_cast<int>(name.size()));
  GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
  sk_GENERAL_NAME_push(gens, gn);
  sk_X509_EXTENSION_push(exts, X509V3_EXT_i2d(NID_subject_alt_name, 0, gens));
  X509_REQ_add_extensions(req, exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  GENERAL_NAMES_free(gens);
  X509_REQ_sign(req, key, EVP_sha256());
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  (void)key_pem;
  X509_REQ_free(req);
  EVP_PKEY_free(key);
  return out;
}

// ---- http-01 responder ----------------------------------------------------------------------

class Responder {
 public:
  void Start(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 1024) != 0) {
      Die("http-01 responder cannot listen on 127.0.0.1:" + std::to_string(port));
    }
    listen_fd_ = fd;
    thread_ = std::thread([this] { Loop(); });
  }
  void Put(const std::string& token, const std::string& key_auth) {
    std::lock_guard lock(mu_);
    tokens_[token] = {key_auth, false};
  }
  // Waits until the validator fetched `token` (or the timeout passed).
  bool WaitFetched(const std::string& token, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      auto it = tokens_.find(token);
      return it != tokens_.end() && it->second.fetched;
    });
  }
  void Remove(const std::string& token) {
    std::lock_guard lock(mu_);
    tokens_.erase(token);
  }
  uint64_t served() const { return served_.load(); }

 private:
  struct Entry {
    std::string key_auth;
    bool fetched = false;
  };
  void Loop() {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd_;
    epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd_, &ev);
    std::unordered_map<int, std::string> bufs;
    epoll_event events[256];
    for (;;) {
      int n = epoll_wait(ep, events, 256, -1);
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == listen_fd_) {
          for (;;) {
            int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c < 0) break;
            epoll_event ce{};
            ce.events = EPOLLIN;
            ce.data.fd = c;
            epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
            bufs[c];
          }
          continue;
        }
        char tmp[4096];
        ssize_t r = ::read(fd, tmp, sizeof tmp);
        if (r <= 0) {
          bufs.erase(fd);
          ::close(fd);
          continue;
        }
        std::string& b = bufs[fd];
        b.append(tmp, static_cast<size_t>(r));
        if (b.find("\r\n\r\n") == std::string::npos) continue;
        std::string reply = Answer(b);
        (void)!::write(fd, reply.data(), reply.size());
        bufs.erase(fd);
        ::close(fd);
      }
    }
  }
  std::string Answer(const std::string& req) {
    const std::string prefix = "GET /.well-known/acme-challenge/";
    std::string body;
    int status = 404;
    if (req.rfind(prefix, 0) == 0) {
      const size_t end = req.find(' ', prefix.size());
      const std::string token = req.substr(prefix.size(), end - prefix.size());
      std::lock_guard lock(mu_);
      auto it = tokens_.find(token);
      if (it != tokens_.end()) {
        body = it->second.key_auth;
        status = 200;
        it->second.fetched = true;
        cv_.notify_all();
      }
    }
    served_.fetch_add(1);
    return "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Not Found") +
           "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
  }

  int listen_fd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Entry> tokens_;
  std::atomic<uint64_t> served_{0};
};

// ---- ACME client ----------------------------------------------------------------------------

struct Directory {
  std::string new_nonce, new_account, new_order;
};

struct Account {
  Key key;
  std::string kid;
};

// Request kinds for the latency table.
enum Kind { kNonce, kNewAccount, kNewOrder, kAuthz, kChallenge, kPoll, kFinalize, kOrderPoll,
            kCert, kKinds };
const char* kKindNames[] = {"new-nonce", "new-account", "new-order", "authz",    "challenge",
                            "authz-poll", "finalize", "order-poll", "certificate"};

struct Stats {
  std::vector<std::vector<double>> lat = std::vector<std::vector<double>>(kKinds);  // ms
  uint64_t issued = 0;
  uint64_t bad_nonce = 0;
  uint64_t errors = 0;
  std::vector<double> issuance_ms;
  std::vector<Clock::time_point> completed_at;
};

std::atomic<bool> g_measuring{false};
std::atomic<bool> g_stop{false};

class Client {
 public:
  Client(const Url& base, const Directory& dir, Responder& responder)
      : conn_(base), dir_(dir), responder_(responder) {}

  Response Post(Kind kind, const std::string& url, const Account& acct, const std::string& payload,
                bool use_jwk, Stats& st) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (nonce_.empty()) {
        auto t0 = Clock::now();
        Response r = conn_.Do("HEAD", ParseUrl(dir_.new_nonce).path, "", "");
        Record(kNonce, t0, st);
        nonce_ = r.Header("replay-nonce");
      }
      Json prot = {{"alg", "ES256"}, {"nonce", nonce_}, {"url", url}};
      if (use_jwk) {
        prot["jwk"] = acct.key.jwk;
      } else {
        prot["kid"] = acct.kid;
      }
      const std::string p64 = B64Url(prot.dump());
      const std::string pl64 = B64Url(payload);
      const std::string sig = B64Url(SignEs256(acct.key.pkey, p64 + "." + pl64));
      const std::string body =
          "{\"protected\":\"" + p64 + "\",\"payload\":\"" + pl64 + "\",\"signature\":\"" + sig +
          "\"}";
      auto t0 = Clock::now();
      Response r = conn_.Do("POST", ParseUrl(url).path, body, "application/jose+json");
      Record(kind, t0, st);
      nonce_ = r.Header("replay-nonce");
      if (r.status == 400 && r.body.find("badNonce") != std::string::npos) {
        if (g_measuring) st.bad_nonce++;
        continue;
      }
      return r;
    }
    Die("5 badNonce in a row");
  }

  Account Register(Stats& st) {
    Account a;
    a.key = NewKey();
    Response r = Post(kNewAccount, dir_.new_account, a,
                      R"({"termsOfServiceAgreed":true,"contact":["mailto:bench@example.test"]})",
                      true, st);
    if (r.status != 201 && r.status != 200) Die("new-account: " + std::to_string(r.status) + " " + r.body);
    a.kid = r.Header("location");
    return a;
  }

  // One full issuance for `name`; false on a protocol failure (counted, then continued).
  bool Issue(const Account& acct, const std::string& name, Stats& st, std::string* chain_out) {
    const auto start = Clock::now();
    Json order_req = {{"identifiers", Json::array({{{"type", "dns"}, {"value", name}}})}};
    Response r = Post(kNewOrder, dir_.new_order, acct, order_req.dump(), false, st);
    if (r.status != 201) return Fail("new-order", r, st);
    const std::string order_url = r.Header("location");
    Json order = Json::parse(r.body, nullptr, false);
    const std::string authz_url = order["authorizations"][0];
    const std::string finalize_url = order["finalize"];

    r = Post(kAuthz, authz_url, acct, "", false, st);
    if (r.status != 200) return Fail("authz", r, st);
    Json authz = Json::parse(r.body, nullptr, false);
    std::string chall_url, token;
    for (const auto& c : authz["challenges"]) {
      if (c["type"] == "http-01") {
        chall_url = c["url"];
        token = c["token"];
      }
    }
    if (token.empty()) return Fail("no http-01 challenge", r, st);
    responder_.Put(token, token + "." + acct.key.thumbprint);
    r = Post(kChallenge, chall_url, acct, "{}", false, st);
    if (r.status != 200) return Fail("challenge", r, st);
    // Poll only once the validator has fetched the token, then back off from 2 ms.
    responder_.WaitFetched(token, std::chrono::seconds(10));
    std::string status;
    for (int i = 0, delay_us = 2000; i < 200; ++i, delay_us = std::min(delay_us * 2, 100000)) {
      std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
      r = Post(kPoll, authz_url, acct, "", false, st);
      status = Json::parse(r.body, nullptr, false).value("status", "");
      if (status != "pending") break;
    }
    responder_.Remove(token);
    if (status != "valid") return Fail("authorization " + status, r, st);

    const std::string csr = Csr(name);
    r = Post(kFinalize, finalize_url, acct, Json{{"csr", B64Url(csr)}}.dump(), false, st);
    if (r.status != 200) return Fail("finalize", r, st);
    order = Json::parse(r.body, nullptr, false);
    for (int i = 0, delay_us = 2000; order.value("status", "") == "processing" && i < 200;
         ++i, delay_us = std::min(delay_us * 2, 100000)) {
      std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
      r = Post(kOrderPoll, order_url, acct, "", false, st);
      order = Json::parse(r.body, nullptr, false);
    }
    if (order.value("status", "") != "valid") return Fail("order " + order.value("status", ""), r, st);
    r = Post(kCert, order.value("certificate", ""), acct, "", false, st);
    if (r.status != 200 || r.body.find("BEGIN CERTIFICATE") == std::string::npos) {
      return Fail("certificate", r, st);
    }
    if (chain_out) *chain_out = r.body;
    const auto end = Clock::now();
    if (g_measuring && !g_stop) {
      st.issued++;
      st.issuance_ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
      st.completed_at.push_back(end);
    }
    return true;
  }

 private:
  void Record(Kind k, Clock::time_point t0, Stats& st) {
    if (!g_measuring || g_stop) return;
    st.lat[k].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  bool Fail(const std::string& what, const Response& r, Stats& st) {
    st.errors++;
    static std::atomic<int> shown{0};
    if (shown.fetch_add(1) < 5) {
      std::fprintf(stderr, "acme_bench: %s failed: HTTP %d %s\n", what.c_str(), r.status,
                   r.body.substr(0, 300).c_str());
    }
    return false;
  }

  Conn conn_;
  const Directory& dir_;
  Responder& responder_;
  std::string nonce_;
};

// ---- CPU accounting from /proc ----------------------------------------------------------------

double ProcCpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (s.empty()) return 0;
  std::istringstream rest(s.substr(s.rfind(')') + 2));
  std::string field;
  std::vector<std::string> f;
  while (rest >> field) f.push_back(field);
  // After ")": state(3) ... utime is field 14, stime 15 (1-based over the whole line).
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(f[11]) + std::stod(f[12])) / ticks;
}

// Bytes the process caused to be written to storage (write_bytes of /proc/<pid>/io: the WAL and
// the database file, after the page cache) and context switches of all its threads.
struct ProcIo {
  double storage_bytes = 0;
  double switches = 0;
};

ProcIo ReadProcIo(int pid) {
  ProcIo r;
  const std::string base = "/proc/" + std::to_string(pid);
  std::ifstream io(base + "/io");
  std::string key;
  double v = 0;
  while (io >> key >> v) {
    if (key == "write_bytes:") r.storage_bytes = v;
  }
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(base + "/task", ec)) {
    std::ifstream st(task.path() / "status");
    std::string line;
    while (std::getline(st, line)) {
      if (line.starts_with("voluntary_ctxt_switches:") ||
          line.starts_with("nonvoluntary_ctxt_switches:")) {
        r.switches += std::stod(line.substr(line.find(':') + 1));
      }
    }
  }
  return r;
}

struct CpuGroup {
  std::string name;
  std::vector<int> pids;
  double Sum() const {
    double t = 0;
    for (int p : pids) t += ProcCpuSeconds(p);
    return t;
  }
  ProcIo Io() const {
    ProcIo t;
    for (int p : pids) {
      ProcIo one = ReadProcIo(p);
      t.storage_bytes += one.storage_bytes;
      t.switches += one.switches;
    }
    return t;
  }
};

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  std::string directory, cacert, label = "server", save_chain;
  int http01_port = 0, concurrency = 32, accounts_n = 8;
  double duration = 60, warmup = 5;
  std::vector<CpuGroup> cpu;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--directory") directory = next();
    else if (a == "--cacert") cacert = next();
    else if (a == "--http01-port") http01_port = std::stoi(next());
    else if (a == "--concurrency") concurrency = std::stoi(next());
    else if (a == "--accounts") accounts_n = std::stoi(next());
    else if (a == "--duration") duration = std::stod(next());
    else if (a == "--warmup") warmup = std::stod(next());
    else if (a == "--label") label = next();
    else if (a == "--save-chain") save_chain = next();
    else if (a == "--connect") {
      std::string hp = next();
      g_connect_host = hp.substr(0, hp.rfind(':'));
      g_connect_port = std::stoi(hp.substr(hp.rfind(':') + 1));
    } else if (a == "--cpu") {
      std::string v = next();
      CpuGroup g;
      g.name = v.substr(0, v.find('='));
      std::stringstream ss(v.substr(v.find('=') + 1));
      std::string pid;
      while (std::getline(ss, pid, ',')) {
        if (!pid.empty()) g.pids.push_back(std::stoi(pid));
      }
      cpu.push_back(g);
    } else {
      Die("unknown option " + a);
    }
  }
  if (directory.empty() || http01_port == 0) {
    Die("usage: acme_bench --directory URL --cacert FILE --http01-port P [--concurrency N] "
        "[--duration S] [--warmup S] [--accounts K] [--cpu NAME=PID,...] [--label L]");
  }
  g_ctx = SSL_CTX_new(TLS_client_method());
  if (!cacert.empty()) {
    if (SSL_CTX_load_verify_locations(g_ctx, cacert.c_str(), nullptr) != 1) Die("bad --cacert");
    SSL_CTX_set_verify(g_ctx, SSL_VERIFY_PEER, nullptr);
  }

  Responder responder;
  responder.Start(http01_port);

  const Url base = ParseUrl(directory);
  Directory dir;
  {
    Conn c(base);
    Response r = c.Do("GET", base.path, "", "");
    if (r.status != 200) Die("directory: HTTP " + std::to_string(r.status));
    Json d = Json::parse(r.body);
    dir.new_nonce = d["newNonce"];
    dir.new_account = d["newAccount"];
    dir.new_order = d["newOrder"];
  }
  // Accounts first (not measured), reused by every issuance.
  std::vector<Account> accounts;
  {
    Client c(base, dir, responder);
    Stats st;
    for (int i = 0; i < accounts_n; ++i) accounts.push_back(c.Register(st));
  }
  unsigned char rnd[4];
  RAND_bytes(rnd, sizeof rnd);
  char run[16];
  std::snprintf(run, sizeof run, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);

  std::vector<Stats> stats(static_cast<size_t>(concurrency));
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  std::string first_chain;
  std::mutex chain_mu;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      Client c(base, dir, responder);
      const Account& acct = accounts[static_cast<size_t>(t % accounts_n)];
      ready.fetch_add(1);
      for (uint64_t seq = 0; !g_stop; ++seq) {
        // A distinct registered domain per issuance: no authorization reuse, no shared limit row.
        const std::string name = "w" + std::to_string(t) + "-" + std::to_string(seq) + "-" + run +
                                 ".test";
        std::string chain;
        bool ok = c.Issue(acct, name, stats[static_cast<size_t>(t)],
                          save_chain.empty() ? nullptr : &chain);
        if (ok && !chain.empty()) {
          std::lock_guard lock(chain_mu);
          if (first_chain.empty()) first_chain = chain;
        }
      }
    });
  }
  while (ready.load() < concurrency) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  std::vector<double> cpu0;
  std::vector<ProcIo> io0;
  for (auto& g : cpu) cpu0.push_back(g.Sum());
  for (auto& g : cpu) io0.push_back(g.Io());
  const double self0 = SelfCpuSeconds();
  const auto t0 = Clock::now();
  g_measuring = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(duration));
  g_stop = true;
  const auto t1 = Clock::now();
  std::vector<double> cpu1;
  std::vector<ProcIo> io1;
  for (auto& g : cpu) cpu1.push_back(g.Sum());
  for (auto& g : cpu) io1.push_back(g.Io());
  const double self1 = SelfCpuSeconds();
  for (auto& th : threads) th.join();

  Stats all;
  std::vector<double> every;
  for (auto& s : stats) {
    for (int k = 0; k < kKinds; ++k) {
      all.lat[static_cast<size_t>(k)].insert(all.lat[static_cast<size_t>(k)].end(),
                                             s.lat[static_cast<size_t>(k)].begin(),
                                             s.lat[static_cast<size_t>(k)].end());
      every.insert(every.end(), s.lat[static_cast<size_t>(k)].begin(),
                   s.lat[static_cast<size_t>(k)].end());
    }
    all.issued += s.issued;
    all.errors += s.errors;
    all.bad_nonce += s.bad_nonce;
    all.issuance_ms.insert(all.issuance_ms.end(), s.issuance_ms.begin(), s.issuance_ms.end());
    all.completed_at.insert(all.completed_at.end(), s.completed_at.begin(), s.completed_at.end());
  }
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  const double rate = static_cast<double>(all.issued) / secs;
  std::printf("# %s: concurrency %d, accounts %d, %.0f s (after %.0f s warm-up)\n", label.c_str(),
              concurrency, accounts_n, secs, warmup);
  std::printf("issuances %llu in %.1f s = %.1f/s, errors %llu, badNonce retries %llu\n",
              static_cast<unsigned long long>(all.issued), secs, rate,
              static_cast<unsigned long long>(all.errors),
              static_cast<unsigned long long>(all.bad_nonce));
  // Sustained: issuances per 10 s slice.
  std::vector<int> slices(static_cast<size_t>(secs / 10.0 + 1), 0);
  for (auto t : all.completed_at) {
    size_t i = static_cast<size_t>(std::chrono::duration<double>(t - t0).count() / 10.0);
    if (i < slices.size()) slices[i]++;
  }
  std::printf("per 10 s:");
  for (size_t i = 0; i + 1 < slices.size() || (i < slices.size() && secs >= 10.0 * (i + 1)); ++i) {
    std::printf(" %.0f/s", slices[i] / 10.0);
  }
  std::printf("\n");
  const size_t requests = every.size();
  std::printf("requests %zu (%.1f per issuance), all: p50 %.2f ms p99 %.2f ms\n", requests,
              all.issued ? static_cast<double>(requests) / static_cast<double>(all.issued) : 0.0,
              Percentile(every, 0.5), Percentile(every, 0.99));
  for (int k = 0; k < kKinds; ++k) {
    auto& v = all.lat[static_cast<size_t>(k)];
    if (v.empty()) continue;
    std::printf("  %-12s n=%-7zu p50 %7.2f ms  p99 %7.2f ms\n", kKindNames[k], v.size(),
                Percentile(v, 0.5), Percentile(v, 0.99));
  }
  std::printf("issuance (wall): p50 %.1f ms p99 %.1f ms\n", Percentile(all.issuance_ms, 0.5),
              Percentile(all.issuance_ms, 0.99));
  double total_cpu = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double d = cpu1[i] - cpu0[i];
    total_cpu += d;
    std::printf("cpu %-10s %.2f s = %.3f ms/issuance (%.0f%% of one core)\n", cpu[i].name.c_str(),
                d, all.issued ? d * 1000 / static_cast<double>(all.issued) : 0.0,
                100 * d / secs);
  }
  for (size_t i = 0; i < cpu.size() && all.issued; ++i) {
    const double n = static_cast<double>(all.issued);
    std::printf("io  %-10s %.1f KiB written to storage and %.1f context switches per issuance\n",
                cpu[i].name.c_str(), (io1[i].storage_bytes - io0[i].storage_bytes) / 1024 / n,
                (io1[i].switches - io0[i].switches) / n);
  }
  if (cpu.size() > 1) {
    std::printf("cpu %-10s %.2f s = %.3f ms/issuance\n", "server", total_cpu,
                all.issued ? total_cpu * 1000 / static_cast<double>(all.issued) : 0.0);
  }
  std::printf("cpu %-10s %.2f s = %.3f ms/issuance (%.0f%% of one core)\n", "driver",
              self1 - self0,
              all.issued ? (self1 - self0) * 1000 / static_cast<double>(all.issued) : 0.0,
              100 * (self1 - self0) / secs);
  std::printf("RESULT %s issuances_per_s=%.1f p50_ms=%.2f p99_ms=%.2f server_cpu_ms=%.3f\n",
              label.c_str(), rate, Percentile(every, 0.5), Percentile(every, 0.99),
              all.issued ? total_cpu * 1000 / static_cast<double>(all.issued) : 0.0);
  if (!save_chain.empty() && !first_chain.empty()) {
    std::ofstream(save_chain) << first_chain;
  }
  std::fflush(stdout);
  std::_Exit(all.issued > 0 ? 0 : 1);  // the responder thread never returns
}
