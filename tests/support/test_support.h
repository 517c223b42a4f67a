#pragma once
// Helpers shared by integration and end-to-end tests: child processes, free ports, temp dirs,
// HTTPS requests through libcurl. Tests only ever talk to loopback.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hp::testing {

// A fresh directory under $TMPDIR, removed by the destructor unless HP_KEEP_TEMP is set.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& data);

// A child process with stdout/stderr captured to files.
class Process {
 public:
  Process(std::vector<std::string> argv, std::map<std::string, std::string> env = {},
          std::string log_dir = "");
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits up to `timeout` for exit; returns the exit code (128+signal if killed), or nullopt.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool Running();
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string out_path_, err_path_;
};

// Runs a command to completion (with a timeout) and returns {exit code, stdout+stderr}.
std::pair<int, std::string> Run(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(60),
                                 std::map<std::string, std::string> env = {});

struct HttpResult {
  int status = 0;  // 0 when the request failed
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;
  double seconds = 0;
};
struct HttpOptions {
  std::string method = "GET";
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  std::string ca_file;               // trust anchor for https
  long timeout_ms = 5000;
  std::string resolve;  // "host:port:127.0.0.1"
  std::string source_ip;  // bind the client to this local address (e.g. 127.0.0.2)
};
HttpResult HttpRequest(const std::string& url, const HttpOptions& options = {});

// Polls `pred` until true or the deadline; returns the last value of pred.
bool PollUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
               std::chrono::milliseconds interval = std::chrono::milliseconds(20));

// The built hostplane binary.
std::string HostplaneBinary();

// A `hostplane serve --dev` on a free port in its own temp var dir; stops it in the destructor.
class DevServer {
 public:
  explicit DevServer(std::map<std::string, std::string> env = {}, std::vector<std::string> extra = {});
  ~DevServer();
  // Generous: a first start makes an RSA 4096 root and starts nginx, slow on a loaded CI host.
  bool WaitReady(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  std::string Url(const std::string& path = "") const;
  int port() const { return port_; }
  const std::string& var_dir() const { return var_dir_; }
  std::string CaFile() const { return var_dir_ + "/tls/server.crt"; }
  Process& process() { return *proc_; }
  HttpResult Get(const std::string& path) const;

 private:
  TempDir dir_;
  std::string var_dir_;
  int port_;
  std::unique_ptr<Process> proc_;
};

}  // namespace hp::testing
