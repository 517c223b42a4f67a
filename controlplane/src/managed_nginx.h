#pragma once
// An nginx master process that hostplane owns: started from a config file we wrote (checked with
// `nginx -t` first, so a bad config is a readable error), supervised (restarted with backoff if it
// dies), taken down with us even on SIGKILL (PR_SET_PDEATHSIG), and stopped gracefully (SIGQUIT
// lets in-flight requests finish). Used by the TLS front and by the local shared-web node.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "hp/core/error.h"

namespace hp::cp {

struct ManagedNginxOptions {
  std::string binary = "/usr/sbin/nginx";
  std::string prefix_dir;   // -p; also where error.log goes
  std::string config_file;  // -c; must say `daemon off; master_process on;`
  std::string wait_for;     // "host:port" that accepts TCP once nginx is up
  std::string config_key;   // named in errors ("http.listen", "provisioning.web.listen")
};

class ManagedNginx {
 public:
  static core::Result<std::unique_ptr<ManagedNginx>> Start(ManagedNginxOptions options);
  ~ManagedNginx();
  // SIGQUIT (graceful) when grace > 0, SIGTERM otherwise; SIGKILL after grace.
  void Stop(std::chrono::milliseconds grace);
  // `nginx -s reload` equivalent: SIGHUP to the master (after checking the config).
  core::Status Reload();
  pid_t pid() const { return pid_.load(); }

 private:
  explicit ManagedNginx(ManagedNginxOptions o) : options_(std::move(o)) {}
  core::Status Check();
  core::Status Spawn();
  core::Status WaitListening(std::chrono::milliseconds timeout);
  void Supervise();

  ManagedNginxOptions options_;
  std::atomic<pid_t> pid_{-1};
  std::atomic<bool> stopping_{false};
  std::thread supervisor_;
  std::mutex mu_;
};

// True when a TCP connection to host:port succeeds.
bool CanConnect(const std::string& hostport);

}  // namespace hp::cp
