#include "managed_nginx.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "hp/core/log.h"

namespace hp::cp {
namespace {

std::string ReadTail(const std::string& path, size_t max) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max ? s.substr(s.size() - max) : s;
}

bool SplitHostPort(const std::string& hp, std::string* host, std::string* port) {
  if (!hp.empty() && hp[0] == '[') {
    auto close = hp.find(']');
    if (close == std::string::npos) return false;
    *host = hp.substr(1, close - 1);
    *port = hp.substr(close + 2);
    return true;
  }
  auto c = hp.rfind(':');
  if (c == std::string::npos) return false;
  *host = hp.substr(0, c);
  *port = hp.substr(c + 1);
  return true;
}

bool CanConnectImpl(const std::string& hostport) {
  std::string host, port;
  if (!SplitHostPort(hostport, &host, &port)) return false;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return false;
  bool ok = false;
  for (addrinfo* a = res; a && !ok; a = a->ai_next) {
    int fd = ::socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    ok = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    ::close(fd);
  }
  freeaddrinfo(res);
  return ok;
}

}  // namespace

bool CanConnect(const std::string& hostport) { return CanConnectImpl(hostport); }

core::Result<std::unique_ptr<ManagedNginx>> ManagedNginx::Start(ManagedNginxOptions options) {
  if (::access(options.binary.c_str(), X_OK) != 0)
    return core::FailField(core::ErrorCode::kInvalidArgument, options.config_key,
                           "nginx not found at " + options.binary + " (scripts/bootstrap installs it)");
  std::unique_ptr<ManagedNginx> n(new ManagedNginx(std::move(options)));
  HP_TRY(n->Check());
  HP_TRY(n->Spawn());
  auto st = n->WaitListening(std::chrono::seconds(10));
  if (!st) {
    n->Stop(std::chrono::milliseconds(0));
    return std::unexpected(st.error());
  }
  n->supervisor_ = std::thread([p = n.get()] { p->Supervise(); });
  return n;
}

ManagedNginx::~ManagedNginx() { Stop(std::chrono::milliseconds(0)); }

core::Status ManagedNginx::Check() {
  const std::string err = options_.prefix_dir + "/error.log";
  std::string cmd = options_.binary + " -q -t -p " + options_.prefix_dir + " -e " + err + " -c " + options_.config_file + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  int rc = p ? ::pclose(p) : -1;
  if (rc != 0)
    return core::FailField(core::ErrorCode::kInvalidArgument, options_.config_key, "nginx rejected its configuration: " + out);
  return core::Ok();
}

core::Status ManagedNginx::Reload() {
  HP_TRY(Check());
  pid_t p = pid_.load();
  if (p <= 0 || ::kill(p, SIGHUP) != 0) return core::Fail(core::ErrorCode::kUnavailable, "nginx is not running");
  return core::Ok();
}

core::Status ManagedNginx::Spawn() {
  const std::string err = options_.prefix_dir + "/error.log";
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return core::Fail(core::ErrorCode::kInternal, "fork failed");
  if (pid == 0) {
    // If hostplane dies (even SIGKILL), take nginx down with it so the port is freed.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::setpgid(0, 0);
    execl(options_.binary.c_str(), "nginx", "-p", options_.prefix_dir.c_str(), "-e", err.c_str(), "-c",
          options_.config_file.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_ = pid;
  return core::Ok();
}

core::Status ManagedNginx::WaitListening(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t p = pid_.load();
    if (p > 0 && ::waitpid(p, &status, WNOHANG) == p) {
      pid_ = -1;
      return core::FailField(core::ErrorCode::kUnavailable, options_.config_key,
                             "nginx exited at start: " + ReadTail(options_.prefix_dir + "/error.log", 800));
    }
    if (CanConnect(options_.wait_for)) return core::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return core::FailField(core::ErrorCode::kUnavailable, options_.config_key,
                         "nginx did not start listening on " + options_.wait_for);
}

void ManagedNginx::Supervise() {
  int restarts = 0;
  while (!stopping_.load()) {
    pid_t p = pid_.load();
    if (p <= 0) break;
    int status = 0;
    pid_t r = ::waitpid(p, &status, WNOHANG);
    if (r == p) {
      pid_ = -1;
      if (stopping_.load()) break;
      core::log::Error("managed nginx exited; restarting", {{"status", status}, {"restarts", restarts}});
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(5000, 100 << std::min(restarts, 6))));
      ++restarts;
      std::lock_guard lock(mu_);
      if (stopping_.load() || !Spawn()) break;
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void ManagedNginx::Stop(std::chrono::milliseconds grace) {
  stopping_.store(true);
  {
    // The supervisor takes mu_ before a restart, so never join it while holding mu_.
    std::lock_guard lock(mu_);
    pid_t p = pid_.load();
    if (p > 0) {
      ::kill(p, grace.count() > 0 ? SIGQUIT : SIGTERM);
      auto deadline = std::chrono::steady_clock::now() + grace + std::chrono::milliseconds(500);
      int status = 0;
      while (true) {
        pid_t r = ::waitpid(p, &status, WNOHANG);
        if (r == p || r < 0) break;
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(-p, SIGKILL);
          ::kill(p, SIGKILL);
          ::waitpid(p, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      pid_ = -1;
    }
  }
  if (supervisor_.joinable() && supervisor_.get_id() != std::this_thread::get_id()) supervisor_.join();
}

}  // namespace hp::cp
