#pragma once
// The TLS front: an nginx master process that `serve` generates a config for, starts, supervises
// and stops. It terminates TLS 1.2/1.3 on the public address and proxies to the application
// listener on loopback with keep-alive. Why: Pistache 0.0.5 runs TLS handshakes in its single
// accept thread (one silent client stalls every new HTTPS connection), only keeps connections
// alive when the client asks, and answers malformed headers only after a 60 s timeout. nginx
// handles all three, and slow clients, with event-driven workers.

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include <sys/types.h>

#include "hp/core/error.h"
#include "managed_nginx.h"

namespace hp::cp {

struct TlsFrontOptions {
  std::string nginx_binary = "/usr/sbin/nginx";
  std::string dir;             // working directory for config, pid, logs, temp files
  std::string listen;          // "127.0.0.1:8443" or "[::1]:8443"
  std::string upstream;        // "127.0.0.1:PORT" of the application listener
  std::string cert_file;
  std::string key_file;
  std::string front_token;     // sent to the upstream in X-HP-Front
  int workers = 0;             // 0: auto
  size_t max_body_bytes = 1 << 20;
};

class TlsFront {
 public:
  static core::Result<std::unique_ptr<TlsFront>> Start(TlsFrontOptions options);
  // Graceful stop: nginx stops accepting and finishes in-flight requests (SIGQUIT), bounded by
  // `grace`, then is killed.
  void Stop(std::chrono::milliseconds grace);
  pid_t pid() const { return nginx_ ? nginx_->pid() : -1; }

 private:
  explicit TlsFront(TlsFrontOptions o) : options_(std::move(o)) {}
  core::Status WriteConfig();

  TlsFrontOptions options_;
  std::string conf_path_;
  std::unique_ptr<ManagedNginx> nginx_;
};

}  // namespace hp::cp
