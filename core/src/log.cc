#include "hp/core/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "hp/core/clock.h"

namespace hp::core::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_mu;
FILE* g_out = nullptr;  // nullptr: stderr
thread_local std::string t_request_id;

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}
}  // namespace

void SetLevel(Level level) { g_level.store(static_cast<int>(level)); }
Level GetLevel() { return static_cast<Level>(g_level.load()); }

bool ParseLevel(std::string_view text, Level* out) {
  if (text == "debug") *out = Level::kDebug;
  else if (text == "info") *out = Level::kInfo;
  else if (text == "warn") *out = Level::kWarn;
  else if (text == "error") *out = Level::kError;
  else return false;
  return true;
}

bool SetOutputFile(const std::string& path) {
  std::lock_guard lock(g_mu);
  if (g_out) {
    std::fclose(g_out);
    g_out = nullptr;
  }
  if (path.empty()) return true;
  g_out = std::fopen(path.c_str(), "a");
  return g_out != nullptr;
}

void Write(Level level, std::string_view msg, const nlohmann::json& fields) {
  if (static_cast<int>(level) < g_level.load()) return;
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = FormatRfc3339(SystemClock::Instance().Now());
  line["level"] = LevelName(level);
  line["msg"] = msg;
  if (!t_request_id.empty()) line["request_id"] = t_request_id;
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text += '\n';
  std::lock_guard lock(g_mu);
  FILE* out = g_out ? g_out : stderr;
  std::fwrite(text.data(), 1, text.size(), out);
  std::fflush(out);
}

namespace {
// A JSON string literal of `s`; text that is not plain printable ASCII goes through nlohmann
// (escapes, invalid UTF-8 replaced) like every other log line.
void AppendJsonString(std::string& out, std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f) {
      out += nlohmann::json(std::string(s)).dump(-1, ' ', false,
                                                 nlohmann::json::error_handler_t::replace);
      return;
    }
  }
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}
}  // namespace

void Access(std::string_view method, std::string_view path, int status, int64_t duration_us,
            std::string_view remote_ip, size_t bytes, std::string_view request_id) {
  if (static_cast<int>(Level::kInfo) < g_level.load()) return;
  // Keys in the order nlohmann's sorted objects give every other line.
  std::string line;
  line.reserve(256 + path.size());
  line += "{\"bytes\":";
  line += std::to_string(bytes);
  char ms[48];
  std::snprintf(ms, sizeof ms, ",\"duration_ms\":%lld.%03lld", static_cast<long long>(duration_us / 1000),
                static_cast<long long>(duration_us % 1000));
  line += ms;
  line += ",\"level\":\"info\",\"method\":";
  AppendJsonString(line, method);
  line += ",\"msg\":\"request\",\"path\":";
  AppendJsonString(line, path);
  line += ",\"remote_ip\":";
  AppendJsonString(line, remote_ip);
  if (!request_id.empty()) {
    line += ",\"request_id\":";
    AppendJsonString(line, request_id);
  }
  line += ",\"status\":";
  line += std::to_string(status);
  line += ",\"ts\":\"";
  line += FormatRfc3339(SystemClock::Instance().Now());
  line += "\"}\n";
  std::lock_guard lock(g_mu);
  FILE* out = g_out ? g_out : stderr;
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

ScopedRequestId::ScopedRequestId(std::string id) : previous_(std::move(t_request_id)) {
  t_request_id = std::move(id);
}
ScopedRequestId::~ScopedRequestId() { t_request_id = std::move(previous_); }
const std::string& CurrentRequestId() { return t_request_id; }
std::string SwapRequestId(std::string id) {
  std::swap(id, t_request_id);
  return id;
}

}  // namespace hp::core::log
