#include "va/va.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "ca/names.h"
#include "hp/core/encoding.h"
#include "hp/core/openssl.h"

namespace hp::acme {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Json;
using core::Result;

struct CurlBody {
  std::string data;
  size_t max = 0;
  bool overflow = false;
};

size_t CurlWrite(char* p, size_t size, size_t n, void* user) {
  auto* b = static_cast<CurlBody*>(user);
  const size_t len = size * n;
  if (b->data.size() + len > b->max) {
    b->overflow = true;
    return 0;
  }
  b->data.append(p, len);
  return len;
}

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

// One easy handle per validation thread, reset before every fetch: curl_easy_init allocates and
// initialises ~100 KB of state per call, which showed in profiles. curl_easy_reset clears every
// option; the fetch forbids connection reuse and the DNS cache is off, so nothing from one
// validation (a kept-alive connection to another address, a CURLOPT_RESOLVE entry) can serve the
// next one.
CURL* ThreadCurl() {
  struct Handle {
    CURL* c = curl_easy_init();
    ~Handle() {
      if (c) curl_easy_cleanup(c);
    }
  };
  thread_local Handle h;
  if (h.c) curl_easy_reset(h.c);
  return h.c;
}

std::string UrlHost(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string ReverseName(const std::string& ip) {
  auto raw = IpTextToBytes(ip);
  if (!raw) return ip;
  std::string out;
  static const char* kHex = "0123456789abcdef";
  if (raw->size() == 4) {
    for (int i = 3; i >= 0; --i) out += std::to_string(static_cast<unsigned char>((*raw)[i])) + ".";
    return out + "in-addr.arpa";
  }
  for (int i = 15; i >= 0; --i) {
    unsigned char b = static_cast<unsigned char>((*raw)[static_cast<size_t>(i)]);
    out += std::string(1, kHex[b & 0xf]) + "." + std::string(1, kHex[b >> 4]) + ".";
  }
  return out + "ip6.arpa";
}

// A TCP connection with a deadline for connect and every read/write.
Result<int> Connect(const std::string& ip, int port, core::Duration timeout) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (ip.find(':') != std::string::npos) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr);
    len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, ip.c_str(), &a->sin_addr);
    len = sizeof(sockaddr_in);
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Fail(ErrorCode::kInternal, "socket failed");
  const int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return Fail(ErrorCode::kAcmeConnection, "connection to " + ip + " refused");
  }
  pollfd pfd{fd, POLLOUT, 0};
  int err = 0;
  socklen_t elen = sizeof err;
  if (::poll(&pfd, 1, ms) != 1 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 ||
      err != 0) {
    ::close(fd);
    return Fail(ErrorCode::kAcmeConnection,
                "could not connect to " + ip + ":" + std::to_string(port) +
                    (err ? std::string(": ") + std::strerror(err) : std::string(": timeout")));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

}  // namespace

Result<Json> Va::Validate(const core::Identifier& id, const std::string& type,
                          const std::string& token, const std::string& key_auth) {
  Result<Json> r = Fail(ErrorCode::kAcmeMalformed, "unknown challenge type " + type);
  if (type == "http-01") r = Http01(id, token, key_auth);
  if (type == "tls-alpn-01") r = TlsAlpn01(id, key_auth);
  if (type == "dns-01") r = Dns01(id, key_auth);
  if (!r) r.error().identifier = id;
  return r;
}

Result<std::string> Va::ResolveOne(const std::string& host) {
  if (LooksLikeIp(host)) return host;
  HP_ASSIGN_OR_RETURN(auto ips, dns_.LookupIps(host));
  // Prefer IPv6 like Let's Encrypt does; fall back handled by the client retrying.
  for (const auto& ip : ips) {
    if (ip.find(':') != std::string::npos) return ip;
  }
  return ips.front();
}

Result<Fetched> Va::CurlGet(const std::string& ip, int port, const std::string& host,
                            const std::string& url) {
  static CurlGlobal global;
  CURL* c = ThreadCurl();
  if (!c) return Fail(ErrorCode::kInternal, "curl_easy_init failed");
  CurlBody body;
  body.max = config_.max_response_bytes;
  const std::string resolve = host + ":" + std::to_string(port) + ":" + UrlHost(ip);
  curl_slist* res_list = LooksLikeIp(host) ? nullptr : curl_slist_append(nullptr, resolve.c_str());
  const long ms = static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.timeout).count());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  if (res_list) curl_easy_setopt(c, CURLOPT_RESOLVE, res_list);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);      // a fresh connection per fetch
  curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);     // to the address resolved now
  curl_easy_setopt(c, CURLOPT_DNS_CACHE_TIMEOUT, 0L);  // no name cached across fetches
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");  // never through an environment proxy
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);  // like Boulder: https redirect targets
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);  // need not have a valid cert yet
  curl_easy_setopt(c, CURLOPT_USERAGENT, "hostplane-va/1 (ACME validation)");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, CurlWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(res_list);
  curl_easy_setopt(c, CURLOPT_RESOLVE, nullptr);
  Fetched out;
  out.overflow = body.overflow;
  if (body.overflow) return out;
  if (rc != CURLE_OK) {
    return Fail(ErrorCode::kAcmeConnection, "fetching " + url + ": " + curl_easy_strerror(rc));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.status);
  char* loc = nullptr;
  curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
  if (loc) out.location = loc;
  out.body = std::move(body.data);
  return out;
}

Result<Fetched> Va::PlainHttpGet(const std::string& ip, int port, const std::string& host,
                                 const std::string& path, const std::string& url) {
  const auto deadline = std::chrono::steady_clock::now() + config_.timeout;
  HP_ASSIGN_OR_RETURN(int fd, Connect(ip, port, config_.timeout));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + UrlHost(host) +
                          (port == 80 ? "" : ":" + std::to_string(port)) +
                          "\r\nUser-Agent: hostplane-va/1 (ACME validation)\r\nAccept: */*\r\n"
                          "Connection: close\r\n\r\n";
  for (size_t sent = 0; sent < req.size();) {
    ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      return Fail(ErrorCode::kAcmeConnection, "fetching " + url + ": " +
                                                  (n < 0 ? std::strerror(errno) : "send failed"));
    }
    sent += static_cast<size_t>(n);
  }
  constexpr size_t kMaxHeader = 16 * 1024;
  const size_t max_body = config_.max_response_bytes;
  std::string raw;
  size_t header_end = std::string::npos;
  long content_length = -1;
  Fetched out;
  char buf[8192];
  auto parse_head = [&]() -> core::Status {
    const std::string_view head(raw.data(), header_end);
    // Status line: HTTP/1.x SSS reason
    if (head.size() < 12 || head.substr(0, 7) != "HTTP/1." || head[8] != ' ') {
      return Fail(ErrorCode::kAcmeConnection, "fetching " + url + ": malformed HTTP response");
    }
    const std::string code(head.substr(9, 3));
    if (code.find_first_not_of("0123456789") != std::string::npos) {
      return Fail(ErrorCode::kAcmeConnection, "fetching " + url + ": malformed HTTP status");
    }
    out.status = std::atol(code.c_str());
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < head.size()) {
      size_t next = head.find("\r\n", pos + 2);
      std::string_view line = head.substr(pos + 2, (next == std::string_view::npos ? head.size() : next) - pos - 2);
      pos = next;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string name(line.substr(0, colon));
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      if (name == "location") out.location = std::string(value);
      if (name == "content-length") content_length = std::atol(std::string(value).c_str());
      if (name == "transfer-encoding") {
        return Fail(ErrorCode::kAcmeConnection,
                    "fetching " + url + ": Transfer-Encoding in an HTTP/1.0 response");
      }
    }
    return core::Ok();
  };
  while (true) {
    if (std::chrono::steady_clock::now() > deadline) {
      return Fail(ErrorCode::kAcmeConnection, "fetching " + url + ": timeout");
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      return Fail(ErrorCode::kAcmeConnection,
                  "fetching " + url + ": " +
                      (errno == EAGAIN || errno == EWOULDBLOCK ? "timeout" : std::strerror(errno)));
    }
    if (n > 0) raw.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos) {
      size_t e = raw.find("\r\n\r\n");
      if (e != std::string::npos) {
        header_end = e;
        HP_TRY(parse_head());
      } else if (raw.size() > kMaxHeader) {
        return Fail(ErrorCode::kAcmeConnection, "fetching " + url + ": response headers too large");
      }
    }
    if (header_end != std::string::npos) {
      const size_t body_len = raw.size() - header_end - 4;
      if (body_len > max_body) {
        out.overflow = true;
        return out;
      }
      if (content_length >= 0 && body_len >= static_cast<size_t>(content_length)) break;
    }
    if (n == 0) break;  // the server closed the connection
  }
  if (header_end == std::string::npos) {
    return Fail(ErrorCode::kAcmeConnection, "fetching " + url + ": connection closed before the response");
  }
  out.body = raw.substr(header_end + 4);
  if (content_length >= 0) out.body.resize(std::min(out.body.size(), static_cast<size_t>(content_length)));
  return out;
}

Result<Json> Va::Http01(const core::Identifier& id, const std::string& token,
                        const std::string& key_auth) {
  static CurlGlobal global;
  std::string scheme = "http";
  std::string host = id.value;
  int port = config_.http_port;
  std::string path = "/.well-known/acme-challenge/" + token;
  Json records = Json::array();
  for (int hop = 0; hop <= config_.max_redirects; ++hop) {
    HP_ASSIGN_OR_RETURN(std::string ip, ResolveOne(host));
    const std::string url = scheme + "://" + UrlHost(host) + ":" + std::to_string(port) + path;
    records.push_back({{"url", url}, {"hostname", host}, {"port", std::to_string(port)},
                       {"addressUsed", ip}});
    HP_ASSIGN_OR_RETURN(Fetched got_resp, scheme == "http" ? PlainHttpGet(ip, port, host, path, url)
                                                           : CurlGet(ip, port, host, url));
    if (got_resp.overflow) {
      return Fail(ErrorCode::kAcmeUnauthorized,
                  "response from " + url + " is larger than " +
                      std::to_string(config_.max_response_bytes) + " bytes");
    }
    const long status = got_resp.status;
    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
      if (got_resp.location.empty()) {
        return Fail(ErrorCode::kAcmeConnection, "redirect from " + url + " without Location");
      }
      // Relative references resolve against the URL fetched (RFC 3986 §5).
      std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
      curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0);
      const char* loc = got_resp.location.c_str();
      if (curl_url_set(u.get(), CURLUPART_URL, loc, 0) != CURLUE_OK) {
        return Fail(ErrorCode::kAcmeConnection, "invalid redirect target " + std::string(loc));
      }
      auto part = [&](CURLUPart p, unsigned flags = 0) {
        char* v = nullptr;
        std::string out;
        if (curl_url_get(u.get(), p, &v, flags) == CURLUE_OK && v) out = v;
        curl_free(v);
        return out;
      };
      std::string new_scheme = part(CURLUPART_SCHEME);
      if (new_scheme != "http" && new_scheme != "https") {
        return Fail(ErrorCode::kAcmeConnection, "redirect to a non-HTTP(S) URL: " + std::string(loc));
      }
      std::string port_s = part(CURLUPART_PORT, CURLU_DEFAULT_PORT);
      const int want = new_scheme == "http" ? config_.http_port : config_.https_port;
      const int explicit_port = port_s.empty() ? -1 : std::atoi(port_s.c_str());
      const std::string given = part(CURLUPART_PORT);
      int effective = given.empty() ? (new_scheme == "http" ? want : want) : explicit_port;
      if (effective != want) {
        return Fail(ErrorCode::kAcmeConnection,
                    "redirect to a non-standard port: " + std::string(loc));
      }
      std::string new_host = part(CURLUPART_HOST);
      if (!new_host.empty() && new_host.front() == '[') new_host = new_host.substr(1, new_host.size() - 2);
      if (new_host.empty()) return Fail(ErrorCode::kAcmeConnection, "redirect without a host");
      scheme = new_scheme;
      host = NormalizeName(LooksLikeIp(new_host) ? "ip" : "dns", new_host);
      port = effective;
      path = part(CURLUPART_PATH);
      std::string q = part(CURLUPART_QUERY);
      if (!q.empty()) path += "?" + q;
      continue;
    }
    if (status != 200) {
      return Fail(ErrorCode::kAcmeUnauthorized,
                  "invalid response from " + url + ": HTTP " + std::to_string(status));
    }
    std::string got = std::move(got_resp.body);
    while (!got.empty() && (got.back() == '\n' || got.back() == '\r' || got.back() == ' ' ||
                            got.back() == '\t')) {
      got.pop_back();
    }
    if (got != key_auth) {
      return Fail(ErrorCode::kAcmeIncorrectResponse,
                  "the key authorization at " + url + " does not match (got \"" +
                      got.substr(0, 100) + "\")");
    }
    return Json{{"type", "http-01"}, {"records", records}};
  }
  return Fail(ErrorCode::kAcmeConnection,
              "too many redirects (more than " + std::to_string(config_.max_redirects) + ")");
}

Result<Json> Va::TlsAlpn01(const core::Identifier& id, const std::string& key_auth) {
  HP_ASSIGN_OR_RETURN(std::string ip, ResolveOne(id.value));
  HP_ASSIGN_OR_RETURN(int fd, Connect(ip, config_.tls_alpn_port, config_.timeout));
  core::ossl::SslCtx ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  static const unsigned char kAlpn[] = "\x0a" "acme-tls/1";
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof kAlpn - 1);
  core::ossl::Ssl ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  const bool is_ip = id.type == "ip";
  const std::string sni = is_ip ? ReverseName(id.value) : id.value;
  SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
  const std::string where = ip + ":" + std::to_string(config_.tls_alpn_port);
  auto done = [&](Result<Json> r) {
    SSL_shutdown(ssl.get());
    ::close(fd);
    core::ossl::DrainErrors();
    return r;
  };
  if (SSL_connect(ssl.get()) != 1) {
    return done(Fail(ErrorCode::kAcmeTls, "TLS handshake with " + where + " failed"));
  }
  const unsigned char* proto = nullptr;
  unsigned int plen = 0;
  SSL_get0_alpn_selected(ssl.get(), &proto, &plen);
  if (std::string(reinterpret_cast<const char*>(proto ? proto : reinterpret_cast<const unsigned char*>("")), plen) != "acme-tls/1") {
    return done(Fail(ErrorCode::kAcmeTls, where + " did not negotiate acme-tls/1"));
  }
  core::ossl::X509Ptr cert(SSL_get1_peer_certificate(ssl.get()));
  if (!cert) return done(Fail(ErrorCode::kAcmeTls, where + " sent no certificate"));
  core::ossl::GeneralNames san(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  auto names = san ? GeneralNamesToIdentifiers(san.get())
                   : Result<std::vector<core::Identifier>>(std::vector<core::Identifier>{});
  if (!names || names->size() != 1 || (*names)[0].type != id.type ||
      NormalizeName(id.type, (*names)[0].value) != NormalizeName(id.type, id.value)) {
    return done(Fail(ErrorCode::kAcmeUnauthorized,
                     "the certificate from " + where + " must have exactly one SAN, " + id.value));
  }
  core::ossl::Asn1Object oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
  const int idx = X509_get_ext_by_OBJ(cert.get(), oid.get(), -1);
  if (idx < 0) {
    return done(Fail(ErrorCode::kAcmeUnauthorized,
                     "the certificate from " + where + " has no acmeIdentifier extension"));
  }
  X509_EXTENSION* ext = X509_get_ext(cert.get(), idx);
  if (!X509_EXTENSION_get_critical(ext)) {
    return done(Fail(ErrorCode::kAcmeUnauthorized, "the acmeIdentifier extension is not critical"));
  }
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(ext);
  const std::string got(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                        static_cast<size_t>(ASN1_STRING_length(data)));
  const std::string want = std::string("\x04\x20", 2) + core::ossl::Sha256(key_auth);
  if (got != want) {
    return done(Fail(ErrorCode::kAcmeIncorrectResponse,
                     "the acmeIdentifier from " + where + " does not match the key authorization"));
  }
  return done(Json{{"type", "tls-alpn-01"},
                   {"records", Json::array({{{"hostname", id.value}, {"addressUsed", ip},
                                             {"port", std::to_string(config_.tls_alpn_port)}}})}});
}

Result<Json> Va::Dns01(const core::Identifier& id, const std::string& key_auth) {
  const std::string name = "_acme-challenge." + id.value;
  HP_ASSIGN_OR_RETURN(auto txts, dns_.LookupTxt(name));
  const std::string want = core::Base64UrlEncode(core::ossl::Sha256(key_auth));
  for (const auto& t : txts) {
    if (t == want) return Json{{"type", "dns-01"}, {"records", Json::array({{{"hostname", name}}})}};
  }
  if (txts.empty()) {
    return Fail(ErrorCode::kAcmeUnauthorized, "no TXT record found at " + name);
  }
  return Fail(ErrorCode::kAcmeIncorrectResponse,
              "no TXT record at " + name + " matches the key authorization (" +
                  std::to_string(txts.size()) + " found)");
}

}  // namespace hp::acme
