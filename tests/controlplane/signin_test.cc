// Acceptance 3 of issue 5: every sign-in failure gets the right status and a clear message, and is
// audited. Time moves through the dev clock file, never by sleeping.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdio>
#include <cstdlib>
#include <regex>

#include "api_fixture.h"
#include "hp/core/clock.h"
#include "hp/core/totp.h"

namespace hp::testing {
namespace {

class SignIn : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { s_ = new ApiServer(); }
  static void TearDownTestSuite() { delete s_; }
  // Audit rows for an action, newest last: (result, detail.reason).
  static std::vector<std::pair<std::string, std::string>> Audited(const std::string& action, const std::string& actor) {
    SQLite::Database db(s_->var() + "/hostplane.db", SQLite::OPEN_READONLY, 5000);
    SQLite::Statement q(db, "SELECT result, detail FROM audit_events WHERE action=? AND (actor_id=? OR target LIKE ?) ORDER BY seq");
    q.bind(1, action);
    q.bind(2, actor);
    q.bind(3, "%" + actor);
    std::vector<std::pair<std::string, std::string>> out;
    while (q.executeStep()) {
      auto d = Json::parse(q.getColumn(1).getString(), nullptr, false);
      out.emplace_back(q.getColumn(0).getString(), d.is_object() ? d.value("reason", "") : "");
    }
    return out;
  }
  static std::string CodeAt(const std::string& base32, double offset_s) {
    auto secret = core::Base32Decode(base32);
    int64_t now = core::ToUnixSeconds(core::SystemClock::Instance().Now()) + static_cast<int64_t>(offset_s);
    return core::TotpCode(*secret, now / 30);
  }
  static ApiServer* s_;
};
ApiServer* SignIn::s_ = nullptr;

TEST_F(SignIn, WrongPasswordAndUnknownAccountAreTheSameClearAnswerAndAudited) {
  auto a = s_->SignUp("wrong@x.example", "X");
  auto r = s_->Call("POST", "/api/v1/sessions", {{"email", "wrong@x.example"}, {"password", "not it at all 1"}});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.json["detail"], "wrong e-mail address or password");
  EXPECT_EQ(r.headers["content-type"], "application/problem+json");
  auto u = s_->Call("POST", "/api/v1/sessions", {{"email", "nobody@x.example"}, {"password", "not it at all 1"}});
  EXPECT_EQ(u.status, 401);
  EXPECT_EQ(u.json["detail"], r.json["detail"]);
  auto audited = Audited("session.create", a.user_id);
  ASSERT_GE(audited.size(), 2u);  // the successful sign-in of SignUp and the failure
  EXPECT_EQ(audited.back(), std::make_pair(std::string("failure"), std::string("wrong password")));
  EXPECT_EQ(Audited("session.create", "nobody@x.example").back().second, "unknown e-mail");
}

TEST_F(SignIn, LockoutAfterFiveFailuresWithClearMessageThenUnlocksLater) {
  auto a = s_->SignUp("lock@x.example", "X");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s_->Call("POST", "/api/v1/sessions", {{"email", a.email}, {"password", "bad password 1"}}).status, 401);
  auto locked = s_->Call("POST", "/api/v1/sessions", {{"email", a.email}, {"password", a.password}});
  EXPECT_EQ(locked.status, 403);
  EXPECT_NE(locked.json["detail"].get<std::string>().find("account locked"), std::string::npos) << locked.body;
  EXPECT_NE(locked.json["detail"].get<std::string>().find("reset your password"), std::string::npos);
  EXPECT_EQ(Audited("session.create", a.user_id).back().second, "locked");
  EXPECT_FALSE(Audited("user.lock", a.user_id).empty());
  s_->Advance(16 * 60);
  EXPECT_EQ(s_->Call("POST", "/api/v1/sessions", {{"email", a.email}, {"password", a.password}}).status, 201);
}

TEST_F(SignIn, UnverifiedEmailIsRefusedWithWhatToDo) {
  auto r = s_->Call("POST", "/api/v1/signup", {{"email", "unverified@x.example"}, {"password", "Good password 9"}, {"organization_name", "U"}});
  ASSERT_EQ(r.status, 201);
  auto s = s_->Call("POST", "/api/v1/sessions", {{"email", "unverified@x.example"}, {"password", "Good password 9"}});
  EXPECT_EQ(s.status, 403);
  EXPECT_NE(s.json["detail"].get<std::string>().find("confirm your e-mail"), std::string::npos);
  // The verification link works once.
  std::string token = ApiServer::TokenIn(s_->WaitMail("unverified@x.example", "Confirm"));
  EXPECT_EQ(s_->Call("POST", "/api/v1/email/verify", {{"token", token}}).status, 200);
  auto again = s_->Call("POST", "/api/v1/email/verify", {{"token", token}});
  EXPECT_EQ(again.status, 400);
  EXPECT_EQ(again.json["field"], "token");
}

TEST_F(SignIn, TotpRequiredWrongReplayedAndRecoveryCodes) {
  auto a = s_->SignUp("totp@x.example", "X");
  auto enroll = s_->Call("POST", "/api/v1/me/totp", Json::object(), a.session);
  ASSERT_EQ(enroll.status, 201) << enroll.body;
  const std::string secret = enroll.json["secret"];
  EXPECT_NE(enroll.json["otpauth_uri"].get<std::string>().find("otpauth://totp/"), std::string::npos);
  auto bad_confirm = s_->Call("POST", "/api/v1/me/totp/confirm", {{"code", "000000"}}, a.session);
  EXPECT_EQ(bad_confirm.status, 400);
  EXPECT_EQ(bad_confirm.json["field"], "code");
  auto confirm = s_->Call("POST", "/api/v1/me/totp/confirm", {{"code", CodeAt(secret, s_->offset())}}, a.session);
  ASSERT_EQ(confirm.status, 200) << confirm.body;
  std::vector<std::string> recovery = confirm.json["recovery_codes"];
  ASSERT_EQ(recovery.size(), 10u);

  s_->Advance(60);  // the enrollment code's step is used; move to fresh steps
  auto need = s_->Call("POST", "/api/v1/sessions", {{"email", a.email}, {"password", a.password}});
  EXPECT_EQ(need.status, 401);
  EXPECT_EQ(need.json["field"], "totp_code");
  EXPECT_NE(need.json["detail"].get<std::string>().find("authenticator"), std::string::npos);
  auto wrong = s_->Call("POST", "/api/v1/sessions", {{"email", a.email}, {"password", a.password}, {"totp_code", "123456"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.json["detail"], "the authenticator code is wrong");
  const std::string code = CodeAt(secret, s_->offset());
  auto ok = s_->Call("POST", "/api/v1/sessions", {{"email", a.email}, {"password", a.password}, {"totp_code", code}});
  EXPECT_EQ(ok.status, 201) << ok.body;
  auto replay = s_->Call("POST", "/api/v1/sessions", {{"email", a.email}, {"password", a.password}, {"totp_code", code}});
  EXPECT_EQ(replay.status, 401);
  EXPECT_NE(replay.json["detail"].get<std::string>().find("already used"), std::string::npos);
  auto rec = s_->Call("POST", "/api/v1/sessions", {{"email", a.email}, {"password", a.password}, {"recovery_code", recovery[0]}});
  EXPECT_EQ(rec.status, 201) << rec.body;
  auto rec_again = s_->Call("POST", "/api/v1/sessions", {{"email", a.email}, {"password", a.password}, {"recovery_code", recovery[0]}});
  EXPECT_EQ(rec_again.status, 401);
  EXPECT_EQ(rec_again.json["field"], "recovery_code");
  auto audited = Audited("session.create", a.user_id);
  std::set<std::string> reasons;
  for (const auto& [result, reason] : audited) reasons.insert(reason);
  for (const char* r : {"totp required", "wrong totp", "totp replayed", "wrong recovery code"}) EXPECT_TRUE(reasons.count(r)) << r;
}

// The enrollment's otpauth URI as a QR code: SVG, not cached, only while enrolling; decoded back
// to the same URI with zbarimg (Debian zbar-tools, installed by scripts/bootstrap).
TEST_F(SignIn, TotpEnrollmentQrCodeIsTheUriAsSvg) {
  auto a = s_->SignUp("qr@x.example", "X");
  auto none = s_->Call("GET", "/api/v1/me/totp/qr", nullptr, a.session);
  EXPECT_EQ(none.status, 404) << none.body;
  EXPECT_EQ(s_->Call("GET", "/api/v1/me/totp/qr").status, 401);
  auto enroll = s_->Call("POST", "/api/v1/me/totp", Json::object(), a.session);
  ASSERT_EQ(enroll.status, 201) << enroll.body;
  const std::string uri = enroll.json["otpauth_uri"];
  auto qr = s_->Call("GET", "/api/v1/me/totp/qr", nullptr, a.session);
  ASSERT_EQ(qr.status, 200) << qr.body;
  EXPECT_EQ(qr.headers["content-type"].rfind("image/svg+xml", 0), 0u) << qr.headers["content-type"];
  EXPECT_NE(qr.headers["cache-control"].find("no-store"), std::string::npos);
  EXPECT_EQ(qr.body.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_EQ(qr.body.find(uri), std::string::npos) << "the SVG carries the URI only as modules";
  EXPECT_EQ(qr.body.find(enroll.json["secret"].get<std::string>()), std::string::npos);
  ASSERT_EQ(std::system("command -v zbarimg >/dev/null 2>&1"), 0) << "zbarimg missing: run scripts/bootstrap (zbar-tools)";
  {
    TempDir dir;
    // Debian's ImageMagick (zbarimg's reader) has no SVG renderer: the test draws the SVG's
    // squares ("M<x> <y>h1v1h-1z" in a viewBox of n×n modules) into a PGM, 4 pixels a module.
    std::smatch vb;
    ASSERT_TRUE(std::regex_search(qr.body, vb, std::regex("viewBox=\"0 0 (\\d+) (\\d+)\"")));
    const int n = std::stoi(vb[1].str()), scale = 4, px = n * scale;
    std::string pixels(static_cast<size_t>(px) * px, '\xff');
    const std::regex square("M(\\d+) (\\d+)h1v1h-1z");
    int dark = 0;
    for (std::sregex_iterator it(qr.body.begin(), qr.body.end(), square), end; it != end; ++it, ++dark) {
      const int x = std::stoi((*it)[1].str()), y = std::stoi((*it)[2].str());
      ASSERT_LT(x, n);
      ASSERT_LT(y, n);
      for (int dy = 0; dy < scale; ++dy)
        for (int dx = 0; dx < scale; ++dx) pixels[static_cast<size_t>((y * scale + dy) * px + x * scale + dx)] = '\0';
    }
    EXPECT_GT(dark, n);
    const std::string file = dir.path() + "/qr.pgm";
    WriteFile(file, "P5\n" + std::to_string(px) + " " + std::to_string(px) + "\n255\n" + pixels);
    std::string decoded;
    FILE* p = ::popen(("zbarimg --raw -q " + file + " 2>/dev/null").c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[512];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) decoded.append(buf, n);
    ::pclose(p);
    while (!decoded.empty() && (decoded.back() == '\n' || decoded.back() == '\r')) decoded.pop_back();
    EXPECT_EQ(decoded, uri);
  }
  auto confirm = s_->Call("POST", "/api/v1/me/totp/confirm", {{"code", CodeAt(enroll.json["secret"], s_->offset())}}, a.session);
  ASSERT_EQ(confirm.status, 200) << confirm.body;
  EXPECT_EQ(s_->Call("GET", "/api/v1/me/totp/qr", nullptr, a.session).status, 409);
}

TEST_F(SignIn, SessionsExpireWhenIdleAndAtTheAbsoluteLimitAndOnSignOut) {
  auto a = s_->SignUp("session@x.example", "X");
  EXPECT_EQ(s_->Call("GET", "/api/v1/me", nullptr, a.session).status, 200);
  s_->Advance(31 * 60);
  auto idle = s_->Call("GET", "/api/v1/me", nullptr, a.session);
  EXPECT_EQ(idle.status, 401);
  EXPECT_EQ(idle.json["detail"], "your session expired; sign in again");
  // Absolute limit: active every 20 minutes, still ends after 12 hours.
  Caller c = s_->SignIn(a.email, a.password);
  int ok = 0;
  for (int i = 0; i < 40; ++i) {
    if (s_->Call("GET", "/api/v1/me", nullptr, c).status == 200) ++ok;
    s_->Advance(20 * 60);
  }
  EXPECT_GE(ok, 35);
  EXPECT_LE(ok, 37);
  EXPECT_EQ(s_->Call("GET", "/api/v1/me", nullptr, c).status, 401);
  Caller d = s_->SignIn(a.email, a.password);
  EXPECT_EQ(s_->Call("DELETE", "/api/v1/sessions/current", nullptr, d).status, 204);
  auto after = s_->Call("GET", "/api/v1/me", nullptr, d);
  EXPECT_EQ(after.status, 401);
  EXPECT_NE(after.json["detail"].get<std::string>().find("signed out"), std::string::npos);
}

TEST_F(SignIn, CsrfTokenIsRequiredForCookieWrites) {
  auto a = s_->SignUp("csrf@x.example", "X");
  Caller no_csrf = a.session;
  no_csrf.csrf.clear();
  auto r = s_->Call("PATCH", "/api/v1/organizations/" + a.org_id, {{"name", "Hijacked"}}, no_csrf);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.json["field"], "X-CSRF-Token");
  Caller forged = a.session;
  forged.csrf = "forged";
  EXPECT_EQ(s_->Call("PATCH", "/api/v1/organizations/" + a.org_id, {{"name", "Hijacked"}}, forged).status, 403);
  EXPECT_EQ(s_->Call("GET", "/api/v1/organizations/" + a.org_id, nullptr, no_csrf).json["name"], "X");  // reads need none
  EXPECT_EQ(s_->Call("PATCH", "/api/v1/organizations/" + a.org_id, {{"name", "Renamed"}}, a.session).status, 200);
}

TEST_F(SignIn, IpAllowListRefusesOtherAddressesForSignInAndApi) {
  auto a = s_->SignUp("ip@x.example", "IP Org");
  Caller tok = s_->Token(a.session, a.org_id, {"org.read", "org.update"});
  auto set = s_->Call("PATCH", "/api/v1/organizations/" + a.org_id, {{"ip_allowlist", {"127.0.0.1/32", "::1"}}}, a.session);
  ASSERT_EQ(set.status, 200) << set.body;
  auto lockout = s_->Call("PATCH", "/api/v1/organizations/" + a.org_id, {{"ip_allowlist", {"10.0.0.0/8"}}}, a.session);
  EXPECT_EQ(lockout.status, 400);  // would lock the caller out
  EXPECT_EQ(lockout.json["field"], "ip_allowlist");
  EXPECT_EQ(s_->Call("PATCH", "/api/v1/organizations/" + a.org_id, {{"ip_allowlist", {"300.1.1.1"}}}, a.session).json["field"], "ip_allowlist[0]");
  Caller from2 = tok;
  from2.source_ip = "127.0.0.2";
  auto api = s_->Call("GET", "/api/v1/organizations/" + a.org_id, nullptr, from2);
  EXPECT_EQ(api.status, 403);
  EXPECT_NE(api.json["detail"].get<std::string>().find("127.0.0.2"), std::string::npos);
  EXPECT_EQ(s_->Call("GET", "/api/v1/organizations/" + a.org_id, nullptr, tok).status, 200);
  HttpOptions o;
  auto signin2 = s_->Call("POST", "/api/v1/sessions", {{"email", a.email}, {"password", a.password}}, Caller{.source_ip = "127.0.0.2"});
  EXPECT_EQ(signin2.status, 403);
  EXPECT_NE(signin2.json["detail"].get<std::string>().find("allow-list"), std::string::npos);
  EXPECT_EQ(Audited("session.create", a.user_id).back().second, "ip not allowed");
}

TEST_F(SignIn, PasswordResetByEmailSignsOutOtherSessions) {
  auto a = s_->SignUp("reset@x.example", "X");
  EXPECT_EQ(s_->Call("POST", "/api/v1/password-reset", {{"email", a.email}}).status, 202);
  EXPECT_EQ(s_->Call("POST", "/api/v1/password-reset", {{"email", "ghost@x.example"}}).status, 202);  // no enumeration
  std::string token = ApiServer::TokenIn(s_->WaitMail(a.email, "Reset your password"));
  ASSERT_FALSE(token.empty());
  auto weak = s_->Call("POST", "/api/v1/password-reset/confirm", {{"token", token}, {"password", "password"}});
  EXPECT_EQ(weak.status, 400);
  EXPECT_EQ(weak.json["field"], "password");
  // The weak attempt rolled back, so the token still works.
  EXPECT_EQ(s_->Call("POST", "/api/v1/password-reset/confirm", {{"token", token}, {"password", "Brand new pass 7"}}).status, 200);
  EXPECT_EQ(s_->Call("GET", "/api/v1/me", nullptr, a.session).status, 401);
  EXPECT_EQ(s_->Call("POST", "/api/v1/sessions", {{"email", a.email}, {"password", a.password}}).status, 401);
  EXPECT_EQ(s_->Call("POST", "/api/v1/sessions", {{"email", a.email}, {"password", "Brand new pass 7"}}).status, 201);
  EXPECT_EQ(s_->Call("POST", "/api/v1/password-reset/confirm", {{"token", token}, {"password", "Another pass 8"}}).status, 400);
}

}  // namespace
}  // namespace hp::testing
