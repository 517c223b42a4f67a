#pragma once
// The HTTP listener (Pistache 0.0.5, plain HTTP on loopback). TLS, slow clients, keep-alive and
// malformed requests are handled by the TLS front (nginx) in front of it; see ARCHITECTURE.md.
// Handlers run on reactor threads and must not block: long work goes to jobs or a worker pool
// and replies through the Reply callable later.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "hp/core/error.h"
#include "hp/core/http.h"
#include "hp/core/metrics.h"

namespace hp::core::http {

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: pick a free port
  int threads = 2;
  size_t max_request_bytes = 1 << 20;
  // When non-empty, requests carrying header X-HP-Front equal to this token (constant-time) come
  // from our own TLS front, and their X-Forwarded-For / X-Forwarded-Proto / Host are trusted.
  std::string front_token;
  bool access_log = true;
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> Create(ServerOptions options, const Router& router,
                                                MetricsRegistry& metrics);
  virtual ~Server() = default;
  virtual uint16_t port() const = 0;
  virtual Status Start() = 0;  // returns once listening
  // Waits (up to `drain`) for in-flight requests, then stops the listener.
  virtual void Shutdown(std::chrono::milliseconds drain) = 0;
  virtual int InFlight() const = 0;
};

}  // namespace hp::core::http
