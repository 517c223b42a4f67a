#pragma once
// Outbound HTTP (libcurl): ACME http-01 fetches, webhooks, payment gateways. Blocking: call from
// worker threads only. Thread-safe (one curl handle per call).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hp/core/error.h"

namespace hp::core {

struct HttpClientRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  long timeout_ms = 10000;
  long connect_timeout_ms = 5000;
  size_t max_response_bytes = 1 << 20;  // larger bodies fail with kPayloadTooLarge
  int max_redirects = 0;                // 0: do not follow
  bool https_only_redirects = false;
  // PEM trust anchors used *instead of* the system store when set (tests, private CAs).
  std::string ca_file;
  bool verify_tls = true;
  // Connect to this address instead of resolving the URL's host (e.g. "127.0.0.1:8080",
  // "[::1]:443"). Applies to the URL's own host and port only; redirects elsewhere resolve
  // normally. The Host header and TLS name checks still use the URL's host.
  std::string connect_to;
};

struct HttpClientResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names; last value wins
  std::string body;
  std::string effective_url;  // after redirects
  std::string remote_ip;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Transport failures are kUnavailable with a readable detail ("connection refused",
  // "timeout after 10000 ms", "TLS handshake failed: ...", "too many redirects"); a body over
  // max_response_bytes is kPayloadTooLarge; a bad method, URL (only http/https), header or
  // connect_to is kInvalidArgument. HTTP error statuses are responses. Never uses a proxy, and
  // negotiates TLS 1.2 or newer only.
  virtual Result<HttpClientResponse> Do(const HttpClientRequest& request) = 0;
};

std::unique_ptr<HttpClient> NewCurlHttpClient();

}  // namespace hp::core
