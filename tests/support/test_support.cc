#include "test_support.h"
#include "hp/core/ports.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace hp::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/hp-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* p = ::mkdtemp(buf.data());
  path_ = p ? p : "";
  ::chmod(path_.c_str(), 0755);
}
TempDir::~TempDir() {
  if (std::getenv("HP_KEEP_TEMP") || path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// Never from the kernel's ephemeral range: see core::PickUnusedPort.
int FreePort() {
  auto p = hp::core::PickUnusedPort("127.0.0.1");
  return p ? *p : 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

Process::Process(std::vector<std::string> argv, std::map<std::string, std::string> env, std::string log_dir) {
  static int counter = 0;
  if (log_dir.empty()) log_dir = std::filesystem::temp_directory_path().string();
  std::string base = log_dir + "/proc-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  out_path_ = base + ".out";
  err_path_ = base + ".err";
  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    // A crashed or killed test must not leave servers behind. (The signal follows the forking
    // thread: create Process objects on threads that outlive them.)
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s failed: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
}

Process::~Process() {
  if (Running()) {
    Signal(SIGKILL);
    Wait(std::chrono::seconds(5));
  }
}

void Process::Signal(int sig) {
  if (pid_ > 0 && !exit_code_) ::kill(pid_, sig);
}

bool Process::Running() {
  if (exit_code_ || pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_code_;
}

std::string Process::Stdout() const { return ReadFile(out_path_); }
std::string Process::Stderr() const { return ReadFile(err_path_); }

std::pair<int, std::string> Run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                std::map<std::string, std::string> env) {
  Process p(argv, std::move(env));
  auto rc = p.Wait(timeout);
  if (!rc) {
    p.Signal(SIGKILL);
    p.Wait(std::chrono::seconds(5));
    return {-1, "timeout\n" + p.Stdout() + p.Stderr()};
  }
  return {*rc, p.Stdout() + p.Stderr()};
}

namespace {
size_t OnBody(char* p, size_t s, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, s * n);
  return s * n;
}
size_t OnHeader(char* p, size_t s, size_t n, void* ud) {
  std::string line(p, s * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string k = line.substr(0, colon), v = line.substr(colon + 1);
    for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (!v.empty() && (v.front() == ' ')) v.erase(0, 1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.pop_back();
    (*static_cast<std::map<std::string, std::string>*>(ud))[k] = v;
  }
  return s * n;
}
}  // namespace

HttpResult HttpRequest(const std::string& url, const HttpOptions& o) {
  HttpResult r;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o.method.c_str());
  if (o.method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (!o.body.empty() || o.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, o.body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(o.body.size()));
  }
  curl_slist* hs = nullptr;
  for (const auto& h : o.headers) hs = curl_slist_append(hs, h.c_str());
  if (hs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
  curl_slist* res = nullptr;
  if (!o.resolve.empty()) {
    res = curl_slist_append(res, o.resolve.c_str());
    curl_easy_setopt(c, CURLOPT_RESOLVE, res);
  }
  if (!o.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
  if (!o.source_ip.empty()) curl_easy_setopt(c, CURLOPT_INTERFACE, o.source_ip.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o.timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  auto t0 = std::chrono::steady_clock::now();
  CURLcode rc = curl_easy_perform(c);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (rc == CURLE_OK) {
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    r.status = static_cast<int>(code);
  } else {
    r.error = curl_easy_strerror(rc);
  }
  curl_slist_free_all(hs);
  curl_slist_free_all(res);
  curl_easy_cleanup(c);
  return r;
}

bool PollUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout, std::chrono::milliseconds interval) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

std::string HostplaneBinary() { return std::string(HP_BINARY_DIR) + "/controlplane/hostplane"; }

DevServer::DevServer(std::map<std::string, std::string> env, std::vector<std::string> extra) {
  var_dir_ = dir_.path() + "/var";
  port_ = FreePort();
  std::vector<std::string> argv = {HostplaneBinary(), "serve", "--dev", "--var", var_dir_, "--listen",
                                   "127.0.0.1:" + std::to_string(port_)};
  for (auto& e : extra) argv.push_back(e);
  if (!env.count("HOSTPLANE_HTTP_FRONT_WORKERS")) env["HOSTPLANE_HTTP_FRONT_WORKERS"] = "1";
  // Parallel test servers must not fight over the dev DNS port.
  if (!env.count("HOSTPLANE_DNS_LISTEN")) env["HOSTPLANE_DNS_LISTEN"] = "127.0.0.1:0";
  proc_ = std::make_unique<Process>(argv, env, dir_.path());
}

DevServer::~DevServer() {
  if (proc_ && proc_->Running()) {
    proc_->Signal(SIGTERM);
    if (!proc_->Wait(std::chrono::seconds(15))) proc_->Signal(SIGKILL);
    proc_->Wait(std::chrono::seconds(5));
  }
}

bool DevServer::WaitReady(std::chrono::milliseconds timeout) {
  return PollUntil([&] {
    if (!proc_->Running()) return false;
    if (!std::filesystem::exists(CaFile())) return false;
    return Get("/healthz").status == 200;
  }, timeout, std::chrono::milliseconds(10));
}

std::string DevServer::Url(const std::string& path) const {
  return "https://localhost:" + std::to_string(port_) + path;
}

HttpResult DevServer::Get(const std::string& path) const {
  HttpOptions o;
  o.ca_file = CaFile();
  o.resolve = "localhost:" + std::to_string(port_) + ":127.0.0.1";
  o.timeout_ms = 2000;
  return HttpRequest(Url(path), o);
}

}  // namespace hp::testing
