#include "api_fixture.h"

#include <filesystem>
#include <ctime>
#include <thread>
#include <regex>

namespace hp::testing {

ApiServer::ApiServer(std::map<std::string, std::string> env) {
  clock_file_ = clock_dir_.path() + "/clock";
  WriteFile(clock_file_, "0");
  env["HOSTPLANE_DEV_CLOCK_FILE"] = clock_file_;
  if (!env.count("HOSTPLANE_JOBS_WORKERS")) env["HOSTPLANE_JOBS_WORKERS"] = "2";
  server_ = std::make_unique<DevServer>(env);
  if (!server_->WaitReady(std::chrono::seconds(30))) {
    std::fprintf(stderr, "server did not start:\n%s\n", server_->process().Stderr().c_str());
    std::abort();
  }
}

void ApiServer::Advance(double seconds) {
  offset_ += seconds;
  WriteFile(clock_file_, std::to_string(offset_));
  // Wait until the server's clock (reported by /healthz) has taken the new offset.
  const double target = static_cast<double>(std::time(nullptr)) + offset_ - 1;
  bool moved = PollUntil([&] {
    auto r = Call("GET", "/healthz");
    if (!r.json.is_object() || !r.json.contains("time")) return false;
    std::tm tm{};
    std::string t = r.json["time"];
    if (!strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return false;
    return static_cast<double>(timegm(&tm)) >= target;
  }, std::chrono::seconds(5), std::chrono::milliseconds(10));
  if (!moved) std::fprintf(stderr, "the server's clock did not move by %.0f s\n", seconds);
}

Reply ApiServer::Call(const std::string& method, const std::string& path, const Json& body, const Caller& who,
                      std::vector<std::string> headers) {
  HttpOptions o;
  o.method = method;
  o.ca_file = server_->CaFile();
  o.resolve = "localhost:" + std::to_string(server_->port()) + ":127.0.0.1";
  o.source_ip = who.source_ip;
  o.timeout_ms = 10000;
  if (!body.is_null()) {
    o.body = body.dump();
    headers.push_back("Content-Type: application/json");
  }
  if (!who.token.empty()) headers.push_back("Authorization: Bearer " + who.token);
  if (!who.cookie.empty()) headers.push_back("Cookie: hp_session=" + who.cookie);
  if (!who.csrf.empty()) headers.push_back("X-CSRF-Token: " + who.csrf);
  o.headers = headers;
  auto r = HttpRequest(server_->Url(path), o);
  Reply out{r.status, Json::parse(r.body, nullptr, false), r.body, r.headers};
  if (out.json.is_discarded()) out.json = nullptr;
  return out;
}

std::string ApiServer::WaitMail(const std::string& to, const std::string& subject_part, size_t skip) {
  std::string found;
  PollUntil([&] {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(var() + "/mail", ec)) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    std::vector<std::string> matches;
    for (const auto& f : files) {
      std::string m = ReadFile(f);
      if (m.find("To: " + to + "\r\n") != std::string::npos && m.find(subject_part) != std::string::npos) matches.push_back(m);
    }
    if (matches.size() > skip) found = matches.back();
    return matches.size() > skip;
  }, std::chrono::seconds(10));
  return found;
}

std::string ApiServer::TokenIn(const std::string& mail) {
  std::smatch m;
  static const std::regex re("token=([A-Za-z0-9_-]+)");
  return std::regex_search(mail, m, re) ? m[1].str() : "";
}

Caller ApiServer::SignIn(const std::string& email, const std::string& password, Json extra) {
  extra["email"] = email;
  extra["password"] = password;
  auto r = Call("POST", "/api/v1/sessions", extra);
  Caller c;
  if (r.status != 201) {
    std::fprintf(stderr, "sign-in of %s failed: %d %s\n", email.c_str(), r.status, r.body.c_str());
    return c;
  }
  std::string cookie = r.headers["set-cookie"];
  auto eq = cookie.find('='), semi = cookie.find(';');
  c.cookie = cookie.substr(eq + 1, semi - eq - 1);
  c.csrf = r.json["csrf_token"];
  return c;
}

ApiServer::Account ApiServer::SignUp(const std::string& email, const std::string& org_name, const std::string& password) {
  Account a;
  a.email = email;
  a.password = password;
  auto r = Call("POST", "/api/v1/signup", {{"email", email}, {"password", password}, {"organization_name", org_name}, {"name", "Test"}});
  if (r.status != 201) {
    std::fprintf(stderr, "sign-up of %s failed: %d %s\n", email.c_str(), r.status, r.body.c_str());
    return a;
  }
  a.user_id = r.json["user"]["id"];
  a.org_id = r.json["organization"]["id"];
  std::string token = TokenIn(WaitMail(email, "Confirm your e-mail"));
  auto v = Call("POST", "/api/v1/email/verify", {{"token", token}});
  if (v.status != 200) std::fprintf(stderr, "verify failed: %d %s\n", v.status, v.body.c_str());
  a.session = SignIn(email, password);
  return a;
}

Caller ApiServer::Token(const Caller& as, const std::string& org, const std::vector<std::string>& scopes) {
  auto r = Call("POST", "/api/v1/organizations/" + org + "/tokens", {{"name", "test"}, {"scopes", scopes}}, as);
  Caller c;
  if (r.status != 201) {
    std::fprintf(stderr, "token creation failed: %d %s\n", r.status, r.body.c_str());
    return c;
  }
  c.token = r.json["token"];
  return c;
}

}  // namespace hp::testing
