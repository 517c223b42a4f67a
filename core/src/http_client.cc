#include "hp/core/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace hp::core {
namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;
using UrlPtr = std::unique_ptr<CURLU, UrlDeleter>;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  size_t max_bytes = 0;
  bool too_large = false;
  std::string body;
  std::map<std::string, std::string> headers;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  // Enforced while streaming: a body without Content-Length cannot grow past the limit.
  if (t->body.size() + len > t->max_bytes) {
    t->too_large = true;
    return 0;
  }
  t->body.append(data, len);
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  std::string_view line(data, len);
  // A new status line starts a new response (redirect hop, 100 Continue): keep only the last.
  if (line.starts_with("HTTP/")) {
    t->headers.clear();
    return len;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  t->headers[name] = std::string(value);
  return len;
}

bool HasCrLf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

class CurlHttpClient final : public HttpClient {
 public:
  Result<HttpClientResponse> Do(const HttpClientRequest& req) override {
    GlobalInit();
    static const std::vector<std::string> kMethods = {"GET",   "HEAD",   "POST",   "PUT",
                                                      "PATCH", "DELETE", "OPTIONS"};
    if (std::find(kMethods.begin(), kMethods.end(), req.method) == kMethods.end())
      return FailField(ErrorCode::kInvalidArgument, "method",
                       "unsupported HTTP method '" + req.method + "'");

    // Parse the URL ourselves: only http(s), and the host/port feed CONNECT_TO.
    UrlPtr url(curl_url());
    if (!url || curl_url_set(url.get(), CURLUPART_URL, req.url.c_str(), 0) != CURLUE_OK)
      return FailField(ErrorCode::kInvalidArgument, "url", "invalid URL '" + req.url + "'");
    std::string scheme, host, port;
    {
      char* part = nullptr;
      if (curl_url_get(url.get(), CURLUPART_SCHEME, &part, 0) == CURLUE_OK) scheme = part;
      curl_free(part);
      part = nullptr;
      if (curl_url_get(url.get(), CURLUPART_HOST, &part, 0) == CURLUE_OK) host = part;
      curl_free(part);
      part = nullptr;
      if (curl_url_get(url.get(), CURLUPART_PORT, &part, CURLU_DEFAULT_PORT) == CURLUE_OK)
        port = part;
      curl_free(part);
    }
    if (scheme != "http" && scheme != "https")
      return FailField(ErrorCode::kInvalidArgument, "url", "only http and https URLs are allowed");

    CurlPtr curl(curl_easy_init());
    if (!curl) return Fail(ErrorCode::kInternal, "curl_easy_init failed");
    CURL* c = curl.get();
    char errbuf[CURL_ERROR_SIZE] = {0};
    Transfer t;
    t.max_bytes = req.max_response_bytes;

    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    // Never a proxy from the environment: VA fetches must leave from this host.
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, req.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(req.max_response_bytes));
    if (req.max_redirects > 0) {
      curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
      curl_easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(req.max_redirects));
      curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR,
                       req.https_only_redirects ? "https" : "http,https");
    }
    if (!req.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, req.ca_file.c_str());
    if (!req.verify_tls) {
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    SlistPtr connect_to;
    if (!req.connect_to.empty()) {
      if (HasCrLf(req.connect_to) || req.connect_to.find(':') == std::string::npos)
        return FailField(ErrorCode::kInvalidArgument, "connect_to",
                         "connect_to must be address:port");
      // Only the URL's own host:port is redirected; a redirect elsewhere resolves normally.
      std::string entry = host + ":" + port + ":" + req.connect_to;
      connect_to.reset(curl_slist_append(nullptr, entry.c_str()));
      curl_easy_setopt(c, CURLOPT_CONNECT_TO, connect_to.get());
    }

    SlistPtr headers(curl_slist_append(nullptr, "Expect:"));
    for (const auto& [name, value] : req.headers) {
      if (name.empty() || HasCrLf(name) || HasCrLf(value) || name.find(':') != std::string::npos)
        return FailField(ErrorCode::kInvalidArgument, "headers", "invalid header '" + name + "'");
      std::string line = value.empty() ? name + ";" : name + ": " + value;
      headers.reset(curl_slist_append(headers.release(), line.c_str()));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

    if (req.method == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (req.method == "POST") {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
    } else if (req.method != "GET" || !req.body.empty()) {
      // POSTFIELDS alone would turn a GET with a body into a POST.
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    if (req.method != "HEAD" && (!req.body.empty() || req.method == "POST" || req.method == "PUT" ||
                                 req.method == "PATCH")) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    }

    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) return std::unexpected(TransportError(rc, errbuf, req, t));

    HttpClientResponse resp;
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    resp.status = static_cast<int>(status);
    char* effective = nullptr;
    if (curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective)
      resp.effective_url = effective;
    char* ip = nullptr;
    if (curl_easy_getinfo(c, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip) resp.remote_ip = ip;
    resp.headers = std::move(t.headers);
    resp.body = std::move(t.body);
    return resp;
  }

 private:
  static Error TransportError(CURLcode rc, const char* errbuf, const HttpClientRequest& req,
                              const Transfer& t) {
    std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    std::string prefix = req.method + " " + req.url + ": ";
    switch (rc) {
      case CURLE_WRITE_ERROR:
      case CURLE_FILESIZE_EXCEEDED:
        if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED)
          return Error(ErrorCode::kPayloadTooLarge, prefix + "response body larger than " +
                                                        std::to_string(req.max_response_bytes) +
                                                        " bytes");
        break;
      case CURLE_COULDNT_CONNECT:
        return Error(ErrorCode::kUnavailable, prefix + "connection refused (" + why + ")");
      case CURLE_COULDNT_RESOLVE_HOST:
        return Error(ErrorCode::kUnavailable, prefix + "cannot resolve host (" + why + ")");
      case CURLE_OPERATION_TIMEDOUT:
        return Error(
            ErrorCode::kUnavailable,
            prefix + "timeout after " + std::to_string(req.timeout_ms) + " ms (" + why + ")");
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CIPHER:
        return Error(ErrorCode::kUnavailable, prefix + "TLS handshake failed: " + why);
      case CURLE_TOO_MANY_REDIRECTS:
        return Error(ErrorCode::kUnavailable, prefix + "too many redirects (limit " +
                                                  std::to_string(req.max_redirects) + ")");
      case CURLE_UNSUPPORTED_PROTOCOL:
        return Error(ErrorCode::kUnavailable,
                     prefix + "redirect to a refused scheme (" + why + ")");
      case CURLE_GOT_NOTHING:
      case CURLE_RECV_ERROR:
      case CURLE_SEND_ERROR:
      case CURLE_PARTIAL_FILE:
        return Error(ErrorCode::kUnavailable, prefix + "connection closed (" + why + ")");
      default:
        break;
    }
    return Error(ErrorCode::kUnavailable, prefix + why);
  }
};

}  // namespace

std::unique_ptr<HttpClient> NewCurlHttpClient() { return std::make_unique<CurlHttpClient>(); }

}  // namespace hp::core
