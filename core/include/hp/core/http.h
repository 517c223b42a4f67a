#pragma once
// A small HTTP abstraction so that modules register routes without including Pistache: requests,
// responses, a router with path parameters, and route metadata that feeds /openapi.json.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hp/core/json.h"
#include "hp/core/problem.h"

namespace hp::core::http {

struct Request {
  std::string method;  // "GET"
  std::string path;    // "/acme/order/abc" (no query)
  std::string query;   // raw query without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string remote_ip;   // client address (from the trusted TLS front when present)
  std::string request_id;  // set by the server
  std::map<std::string, std::string> params;  // path parameters from the route pattern
  std::string scheme = "https";
  std::string host;  // Host header without port

  // First header value with this name (case-insensitive), or empty.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  // Decoded query parameter, or nullopt.
  std::optional<std::string> QueryParam(std::string_view name) const;
  std::string Param(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  Response() = default;
  Response(int s, std::string content_type, std::string b);
  static Response Json(int status, const nlohmann::json& body);
  static Response Text(int status, std::string body);
  static Response Empty(int status);
  // RFC 9457 document; adds Retry-After for rate limits.
  static Response FromProblem(const Problem& p);
  static Response FromError(const Error& e, ProblemNamespace ns = ProblemNamespace::kApi);

  // Replaces a header. Several values of one header must be joined by the caller (", ").
  Response& SetHeader(std::string name, std::string value);
  // Appends a value to a header, joining with ", " (Pistache sends one header per name).
  Response& AppendHeader(const std::string& name, const std::string& value);
  std::string GetHeader(std::string_view name) const;
};

// Sends the response; call exactly once, from any thread.
using Reply = std::function<void(Response)>;
using Handler = std::function<void(Request&&, Reply)>;
using SyncHandler = std::function<Response(const Request&)>;

struct RouteInfo {
  std::string method;   // GET, POST, HEAD, PUT, PATCH, DELETE
  std::string pattern;  // "/api/v1/organizations/{id}"
  std::string summary;
  std::string tag;          // OpenAPI tag: "system", "acme", ...
  std::string permission;   // required permission, "" for public routes
  bool documented = true;   // appears in /openapi.json
  nlohmann::json request_schema;   // optional JSON Schema of the body
  nlohmann::json response_schema;  // optional JSON Schema of the 2xx body
  std::string response_type = "application/json";
};

class Router {
 public:
  // Registering the same method + pattern twice is a programming error (aborts).
  void Add(RouteInfo info, Handler handler);
  void AddSync(RouteInfo info, SyncHandler handler);

  struct Match {
    const RouteInfo* route = nullptr;
    const Handler* handler = nullptr;
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed;  // when the path matched but not the method
  };
  Match Find(std::string_view method, std::string_view path) const;

  std::vector<RouteInfo> Routes() const;
  // OpenAPI 3.1 document of every documented route.
  nlohmann::json OpenApi(const std::string& title, const std::string& version) const;

 private:
  struct Entry {
    RouteInfo info;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Entry> entries_;
};

// Percent-decodes a URL component ('+' is a space only when form = true).
std::string UrlDecode(std::string_view s, bool form = true);
std::string UrlEncode(std::string_view s);

}  // namespace hp::core::http
