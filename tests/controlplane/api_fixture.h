#pragma once
// A `hostplane serve --dev` with helpers to sign up users, read their e-mails (var/mail), sign in,
// create tokens and call /api/v1 as them. Time is moved through the dev clock file.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace hp::testing {

using Json = nlohmann::json;

struct Caller {
  std::string token;                // "hp_..." or empty
  std::string cookie, csrf;         // session
  std::string source_ip;            // client address (127.0.0.x)
};

struct Reply {
  int status = 0;
  Json json;  // parsed body (null when not JSON)
  std::string body;
  std::map<std::string, std::string> headers;
};

class ApiServer {
 public:
  explicit ApiServer(std::map<std::string, std::string> env = {});
  DevServer& server() { return *server_; }
  const std::string& var() const { return server_->var_dir(); }

  Reply Call(const std::string& method, const std::string& path, const Json& body = nullptr, const Caller& who = {},
             std::vector<std::string> headers = {});

  // Moves the server's clock forward.
  void Advance(double seconds);
  double offset() const { return offset_; }

  // The newest e-mail to `to`, waiting for it; empty after the timeout.
  std::string WaitMail(const std::string& to, const std::string& subject_part, size_t skip = 0);
  static std::string TokenIn(const std::string& mail);

  // Sign up, verify, sign in. Returns the session caller; fills org id and user id.
  struct Account {
    Caller session;
    std::string user_id, org_id, email, password;
  };
  Account SignUp(const std::string& email, const std::string& org_name, const std::string& password = "Correct horse 42");
  Caller SignIn(const std::string& email, const std::string& password, Json extra = Json::object());
  // An API token in `org` with `scopes` created by `as` (a session caller).
  Caller Token(const Caller& as, const std::string& org, const std::vector<std::string>& scopes);

 private:
  TempDir clock_dir_;
  std::string clock_file_;
  double offset_ = 0;
  std::unique_ptr<DevServer> server_;
};

}  // namespace hp::testing
