#pragma once
// Structured logging: one JSON object per line on stderr (or a file), with level, time, message,
// the current request id and fields. Secrets never reach it: hp::core::Secret has no conversion
// to Json, and callers log ids, never tokens or keys.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace hp::core::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLevel(Level level);
Level GetLevel();
// Parses "debug", "info", "warn", "error".
bool ParseLevel(std::string_view text, Level* out);
// Redirects output to a file (append); empty path means stderr. Thread-safe.
bool SetOutputFile(const std::string& path);

void Write(Level level, std::string_view msg, const nlohmann::json& fields = nullptr);
inline void Debug(std::string_view m, const nlohmann::json& f = nullptr) { Write(Level::kDebug, m, f); }
inline void Info(std::string_view m, const nlohmann::json& f = nullptr) { Write(Level::kInfo, m, f); }
inline void Warn(std::string_view m, const nlohmann::json& f = nullptr) { Write(Level::kWarn, m, f); }
inline void Error(std::string_view m, const nlohmann::json& f = nullptr) { Write(Level::kError, m, f); }

// The access-log line of one HTTP request at info level: the same JSON object Info("request",
// {...}) would write (keys method, path, status, duration_ms, remote_ip, bytes, request_id),
// formatted without building a JSON value, as it is written for every request.
void Access(std::string_view method, std::string_view path, int status, int64_t duration_us,
            std::string_view remote_ip, size_t bytes, std::string_view request_id);

// Sets the request id attached to every line logged by this thread while it lives.
class ScopedRequestId {
 public:
  explicit ScopedRequestId(std::string id);
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  std::string previous_;
};
const std::string& CurrentRequestId();
// Replaces this thread's request id and returns the old one: for code that moves a request
// between threads (ACME request fibers) and carries its id along.
std::string SwapRequestId(std::string id);

}  // namespace hp::core::log
