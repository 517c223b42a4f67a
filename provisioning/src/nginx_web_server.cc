// NginxWebServer: one server block file per site in a directory nginx includes; every change is
// checked with `nginx -t` before the reload, and undone when the check fails.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "hp/provisioning/shared_hosting.h"
#include "process.h"

namespace hp::provisioning {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Fail;
using core::Result;
using core::Status;

constexpr const char* kSuspendedPage =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Site suspended</title></head>\n"
    "<body><h1>This site is suspended</h1>\n<p>The owner of this site has been notified. "
    "If you are the owner, please sign in to your control panel.</p></body></html>\n";

bool SafeName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}
bool SafeDomain(const std::string& s_in) {
  // "*.example.com" (a wildcard server name) is fine; '*' anywhere else is not.
  const std::string s = s_in.rfind("*.", 0) == 0 ? s_in.substr(2) : s_in;
  if (s.empty() || s.size() > 253) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  return true;
}
bool SafePath(const std::string& s) {
  if (s.empty() || s[0] != '/') return false;
  for (char c : s)
    if (c == ';' || c == '{' || c == '}' || c == '"' || c == '\'' || c == '\n' || c == ' ' || c == '$')
      return false;
  return true;
}

class Nginx final : public WebServer {
 public:
  explicit Nginx(NginxOptions o) : o_(std::move(o)) {}

  Status ApplySite(const SiteConfig& site) override {
    if (!SafeName(site.name)) return core::FailField(ErrorCode::kInvalidArgument, "name", "bad site name");
    for (const auto& d : site.domains)
      if (!SafeDomain(d)) return core::FailField(ErrorCode::kInvalidArgument, "domain", "bad domain " + d);
    if (site.domains.empty()) return core::FailField(ErrorCode::kInvalidArgument, "domain", "no domain");
    if (!SafePath(site.document_root))
      return core::FailField(ErrorCode::kInvalidArgument, "document_root", "bad document root");
    if (!site.tls_certificate_file.empty() && !SafePath(site.tls_certificate_file))
      return core::FailField(ErrorCode::kInvalidArgument, "tls_certificate_file", "bad path");
    if (!site.tls_key_file.empty() && !SafePath(site.tls_key_file))
      return core::FailField(ErrorCode::kInvalidArgument, "tls_key_file", "bad path");
    for (const auto& t : site.tls) {
      if (t.server_names.empty()) return core::FailField(ErrorCode::kInvalidArgument, "tls", "no server name");
      for (const auto& d : t.server_names)
        if (!SafeDomain(d)) return core::FailField(ErrorCode::kInvalidArgument, "tls", "bad domain " + d);
      if (!SafePath(t.certificate_file) || !SafePath(t.key_file))
        return core::FailField(ErrorCode::kInvalidArgument, "tls", "bad certificate or key path");
    }
    std::lock_guard lock(mu_);
    const fs::path file = fs::path(o_.sites_dir) / (site.name + ".conf");
    std::optional<std::string> previous;
    if (fs::exists(file)) previous = Read(file);
    HP_TRY(Write(file, Render(site)));
    Status checked = CheckLocked();
    if (!checked) {
      if (previous) (void)Write(file, *previous);
      else fs::remove(file);
      return checked;
    }
    return Reload();
  }

  Status RemoveSite(const std::string& name) override {
    if (!SafeName(name)) return core::FailField(ErrorCode::kInvalidArgument, "name", "bad site name");
    std::lock_guard lock(mu_);
    std::error_code ec;
    fs::remove(fs::path(o_.sites_dir) / (name + ".conf"), ec);
    if (ec) return Fail(ErrorCode::kInternal, "cannot remove server block " + name + ": " + ec.message());
    HP_TRY(CheckLocked());
    return Reload();
  }

  Status Check() override {
    std::lock_guard lock(mu_);
    return CheckLocked();
  }

 private:
  std::vector<std::string> Base() const {
    std::vector<std::string> a = {o_.binary, "-c", o_.main_config};
    if (!o_.error_log.empty()) {
      a.push_back("-e");
      a.push_back(o_.error_log);
    }
    return a;
  }
  Status CheckLocked() {
    auto a = Base();
    a.push_back("-t");
    a.push_back("-q");
    HP_ASSIGN_OR_RETURN(CommandResult r, RunCommand(a));
    if (r.exit_code != 0) return Fail(ErrorCode::kInternal, "nginx -t failed: " + r.output);
    return core::Ok();
  }
  Status Reload() {
    auto a = Base();
    a.push_back("-s");
    a.push_back("reload");
    HP_ASSIGN_OR_RETURN(CommandResult r, RunCommand(a));
    if (r.exit_code != 0) return Fail(ErrorCode::kUnavailable, "nginx reload failed: " + r.output);
    return core::Ok();
  }
  std::string Render(const SiteConfig& s) const {
    std::ostringstream o;
    o << "# Managed by hostplane (site " << s.name << "); changes are overwritten.\nserver {\n";
    for (const auto& l : o_.listen) o << "    listen " << l << ";\n";
    if (!s.tls_certificate_file.empty() && !s.tls_key_file.empty() && !o_.tls_listen.empty()) {
      for (const auto& l : o_.tls_listen) o << "    listen " << l << ";\n";
      o << "    ssl_certificate " << s.tls_certificate_file << ";\n"
        << "    ssl_certificate_key " << s.tls_key_file << ";\n"
        << "    ssl_protocols TLSv1.2 TLSv1.3;\n";
    }
    o << "    server_name";
    for (const auto& d : s.domains) o << " " << d;
    o << ";\n";
    RenderBody(o, s);
    o << "}\n";
    // One TLS server block per deployed certificate (AutoSSL): same content, its own chain.
    if (!o_.tls_listen.empty()) {
      for (const auto& t : s.tls) {
        o << "server {\n";
        for (const auto& l : o_.tls_listen) o << "    listen " << l << ";\n";
        o << "    server_name";
        for (const auto& d : t.server_names) o << " " << d;
        o << ";\n"
          << "    ssl_certificate " << t.certificate_file << ";\n"
          << "    ssl_certificate_key " << t.key_file << ";\n"
          << "    ssl_protocols TLSv1.2 TLSv1.3;\n";
        RenderBody(o, s);
        o << "}\n";
      }
    }
    return o.str();
  }
  void RenderBody(std::ostringstream& o, const SiteConfig& s) const {
    // ACME http-01 (AutoSSL): key authorizations are written under the document root and served
    // even while suspended; ^~ keeps the dot-file rule below from denying them.
    o << "    location ^~ /.well-known/acme-challenge/ {\n"
      << "        root " << s.document_root << ";\n"
      << "        default_type text/plain;\n"
      << "        try_files $uri =404;\n"
      << "    }\n";
    if (s.suspended) {
      o << "    root " << o_.suspended_page_dir << ";\n"
        << "    error_page 503 /suspended.html;\n"
        << "    location = /suspended.html { internal; }\n"
        << "    location / { return 503; }\n";
    } else {
      o << "    root " << s.document_root << ";\n"
        << "    index index.html index.htm;\n"
        << "    location / { try_files $uri $uri/ =404; }\n"
        << "    location ~ /\\. { deny all; }\n";
    }
  }
  static std::string Read(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  static Status Write(const fs::path& p, const std::string& data) {
    const fs::path tmp = p.string() + ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      f << data;
      if (!f) return Fail(ErrorCode::kInternal, "cannot write " + tmp.string());
    }
    std::error_code ec;
    fs::rename(tmp, p, ec);
    if (ec) return Fail(ErrorCode::kInternal, "cannot rename " + tmp.string() + ": " + ec.message());
    return core::Ok();
  }

  NginxOptions o_;
  std::mutex mu_;
};

}  // namespace

Result<std::unique_ptr<WebServer>> NginxWebServer::Create(const NginxOptions& o) {
  if (!fs::exists(o.binary)) return core::FailField(ErrorCode::kInvalidArgument, "nginx.binary", o.binary + " not found");
  if (!fs::exists(o.main_config))
    return core::FailField(ErrorCode::kInvalidArgument, "nginx.main_config", o.main_config + " not found");
  if (!fs::is_directory(o.sites_dir))
    return core::FailField(ErrorCode::kInvalidArgument, "nginx.sites_dir", o.sites_dir + " is not a directory");
  if (o.listen.empty()) return core::FailField(ErrorCode::kInvalidArgument, "nginx.listen", "no listen address");
  if (!SafePath(o.suspended_page_dir))
    return core::FailField(ErrorCode::kInvalidArgument, "nginx.suspended_page_dir", "absolute path required");
  std::error_code ec;
  fs::create_directories(o.suspended_page_dir, ec);
  const fs::path page = fs::path(o.suspended_page_dir) / "suspended.html";
  if (!fs::exists(page)) {
    std::ofstream f(page);
    f << kSuspendedPage;
    if (!f) return core::FailField(ErrorCode::kInvalidArgument, "nginx.suspended_page_dir", "cannot write " + page.string());
  }
  return std::unique_ptr<WebServer>(new Nginx(o));
}

// --- Linux accounts ---------------------------------------------------------------------------

namespace {
class LinuxAccounts final : public SystemAccounts {
 public:
  Status EnsureUser(const std::string& name, const std::string& home) override {
    HP_ASSIGN_OR_RETURN(bool exists, Exists(name));
    if (exists) return core::Ok();
    HP_ASSIGN_OR_RETURN(CommandResult r, RunCommand({"/usr/sbin/useradd", "--home-dir", home,
                                                     "--no-create-home", "--shell",
                                                     "/usr/sbin/nologin", "--user-group", name}));
    if (r.exit_code != 0) return Fail(ErrorCode::kInternal, "useradd " + name + ": " + r.output);
    return core::Ok();
  }
  Status SetPassword(const std::string& name, const std::string& password) override {
    if (password.find_first_of(":\n") != std::string::npos)
      return Fail(ErrorCode::kInvalidArgument, "password contains ':' or a newline");
    HP_ASSIGN_OR_RETURN(CommandResult r, RunCommand({"/usr/sbin/chpasswd"}, name + ":" + password + "\n"));
    if (r.exit_code != 0) return Fail(ErrorCode::kInternal, "chpasswd " + name + ": " + r.output);
    return core::Ok();
  }
  Status RemoveUser(const std::string& name) override {
    HP_ASSIGN_OR_RETURN(bool exists, Exists(name));
    if (!exists) return core::Ok();
    HP_ASSIGN_OR_RETURN(CommandResult r, RunCommand({"/usr/sbin/userdel", name}));
    if (r.exit_code != 0) return Fail(ErrorCode::kInternal, "userdel " + name + ": " + r.output);
    return core::Ok();
  }
  Result<bool> Exists(const std::string& name) override {
    HP_ASSIGN_OR_RETURN(CommandResult r, RunCommand({"/usr/bin/getent", "passwd", name}));
    return r.exit_code == 0;
  }
};
}  // namespace

Result<std::unique_ptr<SystemAccounts>> LinuxSystemAccounts::Create() {
  if (geteuid() != 0)
    return Fail(ErrorCode::kPermissionDenied, "creating system users needs root (euid " +
                                                  std::to_string(geteuid()) + ")");
  return std::unique_ptr<SystemAccounts>(new LinuxAccounts());
}

}  // namespace hp::provisioning
