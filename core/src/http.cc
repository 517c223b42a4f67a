#include "hp/core/http.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <set>

namespace hp::core::http {
namespace {
bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}
std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}
}  // namespace

std::string Request::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (IEquals(k, name)) return v;
  return "";
}
bool Request::HasHeader(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (IEquals(k, name)) return true;
  return false;
}
std::optional<std::string> Request::QueryParam(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    size_t eq = part.find('=');
    std::string key = UrlDecode(part.substr(0, eq));
    if (key == name) return eq == std::string_view::npos ? std::string() : UrlDecode(part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}
std::string Request::Param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? "" : it->second;
}

Response::Response(int s, std::string content_type, std::string b) : status(s), body(std::move(b)) {
  if (!content_type.empty()) headers.emplace_back("Content-Type", std::move(content_type));
}
Response Response::Json(int status, const nlohmann::json& body) {
  return Response(status, "application/json", body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}
Response Response::Text(int status, std::string body) { return Response(status, "text/plain; charset=utf-8", std::move(body)); }
Response Response::Empty(int status) { return Response(status, "", ""); }
Response Response::FromProblem(const Problem& p) {
  Response r(p.status, "application/problem+json", p.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (p.retry_after_seconds > 0) r.SetHeader("Retry-After", std::to_string(p.retry_after_seconds));
  return r;
}
Response Response::FromError(const Error& e, ProblemNamespace ns) { return FromProblem(ToProblem(e, ns)); }

Response& Response::SetHeader(std::string name, std::string value) {
  for (auto& [k, v] : headers) {
    if (IEquals(k, name)) {
      v = std::move(value);
      return *this;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
  return *this;
}
Response& Response::AppendHeader(const std::string& name, const std::string& value) {
  for (auto& [k, v] : headers) {
    if (IEquals(k, name)) {
      v += ", " + value;
      return *this;
    }
  }
  headers.emplace_back(name, value);
  return *this;
}
std::string Response::GetHeader(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (IEquals(k, name)) return v;
  return "";
}

void Router::Add(RouteInfo info, Handler handler) {
  for (const auto& e : entries_) {
    if (e.info.method == info.method && e.info.pattern == info.pattern) {
      std::fprintf(stderr, "fatal: route %s %s registered twice\n", info.method.c_str(), info.pattern.c_str());
      std::abort();
    }
  }
  Entry e{std::move(info), {}, std::move(handler)};
  e.segments = Split(e.info.pattern);
  entries_.push_back(std::move(e));
}

void Router::AddSync(RouteInfo info, SyncHandler handler) {
  Add(std::move(info), [h = std::move(handler)](Request&& req, Reply reply) { reply(h(req)); });
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match m;
  auto segs = Split(path);
  std::set<std::string> allowed;
  for (const auto& e : entries_) {
    if (e.segments.size() != segs.size()) continue;
    std::map<std::string, std::string> params;
    bool ok = true;
    for (size_t i = 0; i < segs.size() && ok; ++i) {
      const auto& p = e.segments[i];
      if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
        if (segs[i].empty()) ok = false;
        else params[p.substr(1, p.size() - 2)] = UrlDecode(segs[i], false);
      } else if (p != segs[i]) {
        ok = false;
      }
    }
    if (!ok) continue;
    // A trailing slash is a different resource, as in most routers.
    if ((path.size() > 1 && path.back() == '/') != (e.info.pattern.size() > 1 && e.info.pattern.back() == '/')) continue;
    if (e.info.method == method || (method == "HEAD" && e.info.method == "GET" && !m.route)) {
      if (e.info.method == method || !m.route) {
        m.route = &e.info;
        m.handler = &e.handler;
        m.params = std::move(params);
        if (e.info.method == method) return m;
      }
    } else {
      allowed.insert(e.info.method);
    }
  }
  if (!m.route) m.allowed.assign(allowed.begin(), allowed.end());
  return m;
}

std::vector<RouteInfo> Router::Routes() const {
  std::vector<RouteInfo> out;
  for (const auto& e : entries_) out.push_back(e.info);
  return out;
}

nlohmann::json Router::OpenApi(const std::string& title, const std::string& version) const {
  nlohmann::json doc = {
      {"openapi", "3.1.0"},
      {"info", {{"title", title}, {"version", version}}},
      {"paths", nlohmann::json::object()},
      {"components",
       {{"schemas",
         {{"Problem",
           {{"type", "object"},
            {"description", "RFC 9457 problem details"},
            {"properties",
             {{"type", {{"type", "string"}}},
              {"title", {{"type", "string"}}},
              {"status", {{"type", "integer"}}},
              {"detail", {{"type", "string"}}},
              {"field", {{"type", "string"}}}}}}}}}}}};
  for (const auto& e : entries_) {
    if (!e.info.documented) continue;
    std::string m = e.info.method;
    std::transform(m.begin(), m.end(), m.begin(), ::tolower);
    nlohmann::json op = {{"summary", e.info.summary}, {"operationId", m + e.info.pattern}};
    if (!e.info.tag.empty()) op["tags"] = {e.info.tag};
    if (!e.info.permission.empty()) op["x-permission"] = e.info.permission;
    nlohmann::json params = nlohmann::json::array();
    for (const auto& s : e.segments) {
      if (s.size() > 2 && s.front() == '{')
        params.push_back({{"name", s.substr(1, s.size() - 2)}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
    }
    if (!params.empty()) op["parameters"] = params;
    if (!e.info.request_schema.is_null())
      op["requestBody"] = {{"required", true}, {"content", {{"application/json", {{"schema", e.info.request_schema}}}}}};
    nlohmann::json ok = {{"description", "success"}};
    if (!e.info.response_schema.is_null())
      ok["content"] = {{e.info.response_type, {{"schema", e.info.response_schema}}}};
    else if (!e.info.response_type.empty())
      ok["content"] = {{e.info.response_type, nlohmann::json::object()}};
    op["responses"] = {{"200", ok},
                       {"default", {{"description", "error"}, {"content", {{"application/problem+json", {{"schema", {{"$ref", "#/components/schemas/Problem"}}}}}}}}}};
    doc["paths"][e.info.pattern][m] = op;
  }
  return doc;
}

std::string UrlDecode(std::string_view s, bool form) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+' && form) {
      out += ' ';
    } else if (c == '%' && i + 2 < s.size() + 0 && i + 2 <= s.size() - 1 + 1 && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::strtol(std::string(s.substr(i + 1, 2)).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace hp::core::http
