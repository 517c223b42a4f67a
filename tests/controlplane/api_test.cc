// Issue 5: the /api/v1 conventions (validation naming fields, Idempotency-Key, ETag/If-Match,
// cursor pagination, rate limits, OpenAPI completeness), the audit log's hash chain against edits
// with the sqlite3 CLI, secrets never stored in the clear, and staff operations.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>

#include "api_fixture.h"
#include "hp/core/totp.h"

namespace hp::testing {
namespace {

class Api : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { s_ = new ApiServer(); }
  static void TearDownTestSuite() { delete s_; }
  static ApiServer* s_;
};
ApiServer* Api::s_ = nullptr;

TEST_F(Api, SignupValidationNamesTheField) {
  struct Case {
    Json body;
    std::string field;
  } cases[] = {
      {{{"email", "not-an-email"}, {"password", "Good password 1"}, {"organization_name", "X"}}, "email"},
      {{{"email", "v1@x.example"}, {"password", "short1"}, {"organization_name", "X"}}, "password"},
      {{{"email", "v2@x.example"}, {"password", "alllowercaseletters"}, {"organization_name", "X"}}, "password"},
      {{{"email", "v3@x.example"}, {"password", "v3@x.example"}, {"organization_name", "X"}}, "password"},
      {{{"email", "v4@x.example"}, {"password", "Good password 1"}}, "organization_name"},
      {{{"email", "v5@x.example"}, {"password", "Good password 1"}, {"organization_name", ""}}, "organization_name"},
      {{{"email", 5}, {"password", "Good password 1"}, {"organization_name", "X"}}, "email"},
  };
  for (const auto& c : cases) {
    auto r = s_->Call("POST", "/api/v1/signup", c.body);
    EXPECT_EQ(r.status, 400) << c.body.dump() << " " << r.body;
    EXPECT_EQ(r.json["field"], c.field) << r.body;
    EXPECT_EQ(r.headers["content-type"], "application/problem+json");
  }
  auto bad_json = s_->Call("POST", "/api/v1/signup", nullptr, {}, {"Content-Type: application/json"});
  EXPECT_EQ(bad_json.status, 400);
  HttpOptions o;
  auto dup1 = s_->SignUp("dup@x.example", "D");
  auto dup2 = s_->Call("POST", "/api/v1/signup", {{"email", "DUP@x.example"}, {"password", "Good password 1"}, {"organization_name", "X"}});
  EXPECT_EQ(dup2.status, 409);
  EXPECT_EQ(dup2.json["field"], "email");
  auto text = s_->Call("POST", "/api/v1/organizations", nullptr, dup1.session, {"Content-Type: text/plain"});
  (void)text;
}

TEST_F(Api, IdempotencyKeyReplaysTheFirstResponse) {
  auto a = s_->SignUp("idem@x.example", "Idem");
  auto first = s_->Call("POST", "/api/v1/organizations", {{"name", "Second org"}}, a.session, {"Idempotency-Key: k-1"});
  ASSERT_EQ(first.status, 201) << first.body;
  auto again = s_->Call("POST", "/api/v1/organizations", {{"name", "Second org"}}, a.session, {"Idempotency-Key: k-1"});
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.json["id"], first.json["id"]);
  EXPECT_EQ(again.headers["idempotent-replayed"], "true");
  EXPECT_EQ(again.headers["location"], first.headers["location"]);
  auto other = s_->Call("POST", "/api/v1/organizations", {{"name", "Different"}}, a.session, {"Idempotency-Key: k-1"});
  EXPECT_EQ(other.status, 409);
  EXPECT_EQ(other.json["field"], "Idempotency-Key");
  auto list = s_->Call("GET", "/api/v1/organizations", nullptr, a.session);
  EXPECT_EQ(list.json["items"].size(), 2u);  // the replay created nothing
}

TEST_F(Api, EtagAndIfMatchPreventLostUpdates) {
  auto a = s_->SignUp("etag@x.example", "Etag");
  auto get = s_->Call("GET", "/api/v1/organizations/" + a.org_id, nullptr, a.session);
  const std::string etag = get.headers["etag"];
  ASSERT_FALSE(etag.empty());
  auto first = s_->Call("PATCH", "/api/v1/organizations/" + a.org_id, {{"name", "One"}}, a.session, {"If-Match: " + etag});
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_NE(first.headers["etag"], etag);
  auto stale = s_->Call("PATCH", "/api/v1/organizations/" + a.org_id, {{"name", "Two"}}, a.session, {"If-Match: " + etag});
  EXPECT_EQ(stale.status, 412);
  EXPECT_EQ(stale.json["field"], "If-Match");
  EXPECT_EQ(s_->Call("GET", "/api/v1/organizations/" + a.org_id, nullptr, a.session).json["name"], "One");
  auto unknown = s_->Call("PATCH", "/api/v1/organizations/" + a.org_id, {{"colour", "red"}}, a.session);
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.json["field"], "colour");
}

TEST_F(Api, CursorPaginationWithLinkHeader) {
  auto a = s_->SignUp("page@x.example", "Page");
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(s_->Token(a.session, a.org_id, {"org.read"}).token.empty());
  auto p1 = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/tokens?limit=2", nullptr, a.session);
  ASSERT_EQ(p1.status, 200);
  ASSERT_EQ(p1.json["items"].size(), 2u);
  ASSERT_TRUE(p1.json["next_cursor"].is_string());
  EXPECT_NE(p1.headers["link"].find("rel=\"next\""), std::string::npos);
  std::set<std::string> seen;
  std::string cursor = p1.json["next_cursor"];
  for (auto& t : p1.json["items"]) seen.insert(t["id"]);
  while (!cursor.empty()) {
    auto p = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/tokens?limit=2&cursor=" + cursor, nullptr, a.session);
    ASSERT_EQ(p.status, 200);
    for (auto& t : p.json["items"]) EXPECT_TRUE(seen.insert(t["id"]).second) << "duplicate across pages";
    cursor = p.json["next_cursor"].is_string() ? p.json["next_cursor"].get<std::string>() : "";
  }
  EXPECT_EQ(seen.size(), 5u);
  for (auto& t : p1.json["items"]) EXPECT_FALSE(t.contains("token")) << "a listing must never show token secrets";
  EXPECT_EQ(s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/tokens?limit=500", nullptr, a.session).json["field"], "limit");
  EXPECT_EQ(s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/tokens?cursor=garbage", nullptr, a.session).json["field"], "cursor");
}

TEST_F(Api, TokensRevokeExpireAndRespectTheirIpList) {
  auto a = s_->SignUp("tok@x.example", "Tok");
  Caller t = s_->Token(a.session, a.org_id, {"org.read", "tokens.manage"});
  EXPECT_EQ(s_->Call("GET", "/api/v1/organizations/" + a.org_id, nullptr, t).status, 200);
  const std::string id = t.token.substr(3, 22);
  EXPECT_EQ(s_->Call("DELETE", "/api/v1/organizations/" + a.org_id + "/tokens/" + id, nullptr, a.session).status, 204);
  auto revoked = s_->Call("GET", "/api/v1/organizations/" + a.org_id, nullptr, t);
  EXPECT_EQ(revoked.status, 401);
  EXPECT_NE(revoked.json["detail"].get<std::string>().find("revoked"), std::string::npos);
  Caller forged = t;
  forged.token[30] = forged.token[30] == 'A' ? 'B' : 'A';
  EXPECT_EQ(s_->Call("GET", "/api/v1/me", nullptr, forged).status, 401);
  // Expiry, judged by the server's clock.
  auto exp = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/tokens",
                      {{"name", "short"}, {"scopes", {"org.read"}}, {"expires_at", "2099-01-01T00:00:00Z"}}, a.session);
  ASSERT_EQ(exp.status, 201);
  Caller shortlived{.token = exp.json["token"]};
  EXPECT_EQ(s_->Call("GET", "/api/v1/organizations/" + a.org_id, nullptr, shortlived).status, 200);
  auto past = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/tokens", {{"name", "x"}, {"scopes", {"org.read"}}, {"expires_at", "2001-01-01T00:00:00Z"}}, a.session);
  EXPECT_EQ(past.json["field"], "expires_at");
  auto iplimited = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/tokens",
                            {{"name", "ci"}, {"scopes", {"org.read"}}, {"ip_allowlist", {"127.0.0.3/32"}}}, a.session);
  ASSERT_EQ(iplimited.status, 201);
  Caller ci{.token = iplimited.json["token"]};
  EXPECT_EQ(s_->Call("GET", "/api/v1/organizations/" + a.org_id, nullptr, ci).status, 403);
  ci.source_ip = "127.0.0.3";
  EXPECT_EQ(s_->Call("GET", "/api/v1/organizations/" + a.org_id, nullptr, ci).status, 200);
  auto listed = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/tokens", nullptr, a.session);
  bool saw_last_used = false;
  for (auto& tk : listed.json["items"])
    if (tk["id"] == iplimited.json["id"]) saw_last_used = tk["last_used_at"].is_string();
  EXPECT_TRUE(saw_last_used);
}

// Pending invitations: resend mails a new link (the old one stops working), withdraw ends it;
// both audited, both only for the organization's managers.
TEST_F(Api, InvitationResendReplacesTheLinkAndWithdrawEndsIt) {
  auto owner = s_->SignUp("inv-owner@x.example", "Inv Org");
  const std::string base = "/api/v1/organizations/" + owner.org_id + "/invitations";
  auto inv = s_->Call("POST", base, {{"email", "inv-guest@x.example"}, {"role", "operator"}}, owner.session);
  ASSERT_EQ(inv.status, 201) << inv.body;
  const std::string old_token = ApiServer::TokenIn(s_->WaitMail("inv-guest@x.example", "invited"));
  ASSERT_FALSE(old_token.empty());
  auto again = s_->Call("POST", base + "/" + inv.json["id"].get<std::string>() + "/resend", Json::object(), owner.session);
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_NE(again.json["id"], inv.json["id"]);
  EXPECT_EQ(again.json["role"], "operator");
  EXPECT_EQ(again.json["state"], "pending");
  const std::string new_token = ApiServer::TokenIn(s_->WaitMail("inv-guest@x.example", "invited", 1));
  ASSERT_FALSE(new_token.empty());
  EXPECT_NE(new_token, old_token);
  auto list = s_->Call("GET", base, nullptr, owner.session);
  int pending = 0;
  for (const auto& v : list.json["items"]) pending += v["state"] == "pending";
  EXPECT_EQ(pending, 1) << list.body;
  // The replaced invitation cannot be sent again; another organization sees neither.
  EXPECT_EQ(s_->Call("POST", base + "/" + inv.json["id"].get<std::string>() + "/resend", Json::object(), owner.session).status, 409);
  auto other = s_->SignUp("inv-other@x.example", "Other Org");
  EXPECT_EQ(s_->Call("POST", "/api/v1/organizations/" + other.org_id + "/invitations/" + again.json["id"].get<std::string>() + "/resend",
                     Json::object(), other.session).status, 404);
  // The guest signs up: the old link is refused, the new one works.
  auto guest = s_->SignUp("inv-guest@x.example", "Guest Org");
  auto stale = s_->Call("POST", "/api/v1/invitations/accept", {{"token", old_token}}, guest.session);
  EXPECT_EQ(stale.status, 400) << stale.body;
  EXPECT_EQ(stale.json["field"], "token");
  auto ok = s_->Call("POST", "/api/v1/invitations/accept", {{"token", new_token}}, guest.session);
  EXPECT_EQ(ok.status, 200) << ok.body;
  // Withdraw: a second invitation withdrawn cannot be resent.
  auto inv2 = s_->Call("POST", base, {{"email", "inv-late@x.example"}, {"role", "viewer"}}, owner.session);
  ASSERT_EQ(inv2.status, 201);
  EXPECT_EQ(s_->Call("DELETE", base + "/" + inv2.json["id"].get<std::string>(), nullptr, owner.session).status, 204);
  EXPECT_EQ(s_->Call("POST", base + "/" + inv2.json["id"].get<std::string>() + "/resend", Json::object(), owner.session).status, 409);
  SQLite::Database db(s_->var() + "/hostplane.db", SQLite::OPEN_READONLY, 5000);
  SQLite::Statement q(db, "SELECT count(*) FROM audit_events WHERE action='invitation.resend' AND organization_id=?");
  q.bind(1, owner.org_id);
  ASSERT_TRUE(q.executeStep());
  EXPECT_EQ(q.getColumn(0).getInt(), 1);
}

TEST_F(Api, EveryDocumentedOperationExists) {
  auto doc = s_->Call("GET", "/openapi.json").json;
  int ops = 0;
  for (auto& [path, methods] : doc["paths"].items()) {
    for (auto& [m, op] : methods.items()) {
      std::string method = m;
      std::transform(method.begin(), method.end(), method.begin(), ::toupper);
      std::string p = path;
      for (size_t pos; (pos = p.find('{')) != std::string::npos;) p.replace(pos, p.find('}', pos) - pos + 1, "x");
      auto r = s_->Call(method, p, method == "GET" || method == "DELETE" ? Json(nullptr) : Json::object());
      EXPECT_NE(r.status, 405) << method << " " << path;
      EXPECT_EQ(r.body.find("no resource at"), std::string::npos) << method << " " << path << " is documented but not routed";
      EXPECT_TRUE(op.contains("summary") && !op["summary"].get<std::string>().empty()) << path;
      if (path.rfind("/api/v1/", 0) == 0) {
        EXPECT_TRUE(op.contains("x-permission")) << path << " declares no permission";
      }
      ++ops;
    }
  }
  EXPECT_GT(ops, 25);
}

TEST_F(Api, AuditVerifyDetectsEditedAndDeletedRowsNamingTheRow) {
  auto a = s_->SignUp("audit@x.example", "Audit Org");
  for (int i = 0; i < 3; ++i) s_->Token(a.session, a.org_id, {"org.read"});
  auto events = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/audit-events", nullptr, a.session);
  ASSERT_EQ(events.status, 200);
  std::set<std::string> actions;
  for (auto& e : events.json["items"]) actions.insert(e["action"]);
  for (const char* act : {"user.signup", "token.create"}) EXPECT_TRUE(actions.count(act)) << act;
  EXPECT_EQ(events.json["items"][0]["source_ip"], "127.0.0.1");
  auto csv = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/audit-events.csv?from=2020-01-01T00:00:00Z&to=2020-06-01T00:00:00Z", nullptr, a.session);
  EXPECT_EQ(csv.status, 400);
  EXPECT_EQ(csv.json["field"], "to");
  EXPECT_NE(csv.json["detail"].get<std::string>().find("3 months"), std::string::npos);
  auto now = std::chrono::system_clock::now();
  auto fmt = [](std::chrono::system_clock::time_point t) {
    time_t tt = std::chrono::system_clock::to_time_t(t);
    char b[32];
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", gmtime(&tt));
    return std::string(b);
  };
  auto good = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/audit-events.csv?from=" + fmt(now - std::chrono::hours(24)) +
                                  "&to=" + fmt(now + std::chrono::hours(24 * 30)), nullptr, a.session);
  ASSERT_EQ(good.status, 200) << good.body;
  EXPECT_EQ(good.headers["content-type"].rfind("text/csv", 0), 0u);
  EXPECT_NE(good.body.find("\"token.create\""), std::string::npos);

  const std::string db = s_->var() + "/hostplane.db";
  auto verify = [&] { return hp::testing::Run({HostplaneBinary(), "audit", "verify", "--var", s_->var()}); };
  auto [rc, out] = verify();
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("intact"), std::string::npos);
  // The application refuses to change the log.
  auto [rc_upd, out_upd] = hp::testing::Run({"sqlite3", db, "UPDATE audit_events SET result='success' WHERE seq=2"});
  EXPECT_NE(rc_upd, 0);
  EXPECT_NE(out_upd.find("append-only"), std::string::npos) << out_upd;
  // Someone with the sqlite3 CLI drops the trigger and edits row 2: verify names row 2.
  auto [rc_e, out_e] = hp::testing::Run({"sqlite3", db, "DROP TRIGGER audit_events_no_update; UPDATE audit_events SET source_ip='10.9.9.9' WHERE seq=2"});
  ASSERT_EQ(rc_e, 0) << out_e;
  auto [rc2, out2] = verify();
  EXPECT_EQ(rc2, 1);
  EXPECT_NE(out2.find("row 2"), std::string::npos) << out2;
  EXPECT_NE(out2.find("modified"), std::string::npos) << out2;
  // Put it back, then delete a middle row: verify names where the gap is.
  ASSERT_EQ(hp::testing::Run({"sqlite3", db, "UPDATE audit_events SET source_ip='127.0.0.1' WHERE seq=2"}).first, 0);
  EXPECT_EQ(verify().first, 0) << "restoring the original value must make the chain valid again";
  ASSERT_EQ(hp::testing::Run({"sqlite3", db, "DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE seq=3"}).first, 0);
  auto [rc3, out3] = verify();
  EXPECT_EQ(rc3, 1);
  EXPECT_NE(out3.find("row 4"), std::string::npos) << out3;
  EXPECT_NE(out3.find("missing"), std::string::npos) << out3;
}

TEST_F(Api, DatabaseHoldsNoSecretsInTheClear) {
  auto a = s_->SignUp("secret@x.example", "Secrets");
  auto enroll = s_->Call("POST", "/api/v1/me/totp", Json::object(), a.session);
  ASSERT_EQ(enroll.status, 201);
  Caller t = s_->Token(a.session, a.org_id, {"org.read"});
  const std::string token_secret = t.token.substr(26);
  const std::string totp_b32 = enroll.json["secret"];
  // Raw bytes of the database and its WAL, as `strings` would see them.
  std::string raw;
  for (const char* suffix : {"", "-wal"}) raw += ReadFile(s_->var() + "/hostplane.db" + suffix);
  ASSERT_GT(raw.size(), 10000u);
  EXPECT_NE(raw.find("secret@x.example"), std::string::npos) << "sanity: the file is readable";
  for (const auto& [what, value] : std::vector<std::pair<std::string, std::string>>{
           {"API token secret", token_secret}, {"full API token", t.token}, {"TOTP secret (base32)", totp_b32},
           {"session cookie", a.session.cookie}, {"CSRF token", a.session.csrf}, {"password", a.password}}) {
    EXPECT_EQ(raw.find(value), std::string::npos) << what << " is stored in the clear";
  }
  // The raw TOTP secret bytes are not there either.
  auto mail = s_->WaitMail(a.email, "Confirm");
  std::string verify_token = ApiServer::TokenIn(mail);
  EXPECT_EQ(raw.find(verify_token), std::string::npos) << "e-mail verification token stored in the clear";
}

TEST_F(Api, MasterKeyRotationWhileServingKeepsSecretsReadable) {
  auto a = s_->SignUp("rotate@x.example", "Rotate");
  auto enroll = s_->Call("POST", "/api/v1/me/totp", Json::object(), a.session);
  ASSERT_EQ(enroll.status, 201);
  const std::string key_file = s_->var() + "/keys/master.key";
  const std::string before = ReadFile(key_file);
  auto [rc, out] = hp::testing::Run({HostplaneBinary(), "secrets", "rotate-master-key", "--var", s_->var()});
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(ReadFile(key_file), before);
  EXPECT_EQ(ReadFile(key_file + ".previous"), before);
  // The running server still opens the TOTP secret sealed before the rotation.
  auto secret = core::Base32Decode(enroll.json["secret"].get<std::string>());
  ASSERT_TRUE(secret);
  const int64_t step = (static_cast<int64_t>(std::time(nullptr)) + static_cast<int64_t>(s_->offset())) / 30;
  auto confirm = s_->Call("POST", "/api/v1/me/totp/confirm", {{"code", core::TotpCode(*secret, step)}}, a.session);
  EXPECT_EQ(confirm.status, 200) << confirm.body;
  // The data keys are wrapped by the new file: a second rotation must open them all with it.
  auto [rc2, out2] = hp::testing::Run({HostplaneBinary(), "secrets", "rotate-master-key", "--var", s_->var()});
  EXPECT_EQ(rc2, 0) << out2;
  auto [rc3, out3] = hp::testing::Run({HostplaneBinary(), "audit", "export", "--from", "2020-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z", "--var", s_->var()});
  EXPECT_NE(out3.find("secrets.rotate_master_key"), std::string::npos);
}

TEST_F(Api, StaffCreatePartnersAndSuspendOrganizations) {
  auto a = s_->SignUp("member@x.example", "Suspend Me");
  TempDir d;
  WriteFile(d.path() + "/pw", "Staff password 77\n");
  auto [rc, out] = hp::testing::Run({HostplaneBinary(), "staff", "create", "--email", "ops@hostplane.example", "--password-file", d.path() + "/pw", "--var", s_->var()});
  ASSERT_EQ(rc, 0) << out;
  Caller staff = s_->SignIn("ops@hostplane.example", "Staff password 77");
  ASSERT_FALSE(staff.cookie.empty());
  EXPECT_EQ(s_->Call("GET", "/api/v1/admin/organizations", nullptr, a.session).status, 403);  // customers are not staff
  auto partner = s_->Call("POST", "/api/v1/admin/partners", {{"name", "Reseller One"}, {"channel", "reseller"}}, staff);
  ASSERT_EQ(partner.status, 201) << partner.body;
  EXPECT_EQ(s_->Call("POST", "/api/v1/admin/partners", {{"name", "X"}, {"channel", "pirate"}}, staff).json["field"], "channel");
  auto orgs = s_->Call("GET", "/api/v1/admin/organizations?limit=200", nullptr, staff);
  ASSERT_EQ(orgs.status, 200);
  bool found = false;
  for (auto& o : orgs.json["items"]) found = found || o["id"] == a.org_id;
  EXPECT_TRUE(found);
  auto sus = s_->Call("POST", "/api/v1/admin/organizations/" + a.org_id + "/suspend", {{"reason", "unpaid invoice"}}, staff);
  ASSERT_EQ(sus.status, 200) << sus.body;
  EXPECT_EQ(sus.json["status"], "suspended");
  auto blocked = s_->Call("PATCH", "/api/v1/organizations/" + a.org_id, {{"name", "New"}}, a.session);
  EXPECT_EQ(blocked.status, 403);
  EXPECT_NE(blocked.json["detail"].get<std::string>().find("suspended"), std::string::npos);
  EXPECT_EQ(s_->Call("GET", "/api/v1/organizations/" + a.org_id, nullptr, a.session).status, 200);  // still readable
  EXPECT_EQ(s_->Call("POST", "/api/v1/admin/organizations/" + a.org_id + "/unsuspend", Json::object(), staff).status, 200);
  EXPECT_EQ(s_->Call("PATCH", "/api/v1/organizations/" + a.org_id, {{"name", "New"}}, a.session).status, 200);
  auto log = s_->Call("GET", "/api/v1/admin/audit-events?organization=" + a.org_id, nullptr, staff);
  std::set<std::string> acts;
  for (auto& e : log.json["items"]) acts.insert(e["action"]);
  EXPECT_TRUE(acts.count("organization.suspend"));
  EXPECT_TRUE(acts.count("organization.unsuspend"));
  // The denied write was audited too.
  EXPECT_TRUE(acts.count("PATCH /api/v1/organizations/{org}"));
  auto jobs = s_->Call("GET", "/api/v1/admin/jobs?kind=mail.send", nullptr, staff);
  ASSERT_EQ(jobs.status, 200);
  EXPECT_GT(jobs.json["items"].size(), 0u);
  // CLI side of the operator tools.
  auto [rc2, list] = hp::testing::Run({HostplaneBinary(), "orgs", "list", "--var", s_->var()});
  EXPECT_NE(list.find(a.org_id), std::string::npos);
  auto [rc3, csv] = hp::testing::Run({HostplaneBinary(), "audit", "export", "--from", "2020-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z", "--var", s_->var()});
  EXPECT_EQ(rc3, 0);
  EXPECT_NE(csv.find("organization.suspend"), std::string::npos);
}

TEST(ApiRateLimit, ExcessRequestsGet429WithRetryAfter) {
  ApiServer s(std::map<std::string, std::string>{{"HOSTPLANE_API_RATE_LIMIT_PER_MINUTE", "60"}});
  auto a = s.SignUp("rl@x.example", "RL");
  Caller t = s.Token(a.session, a.org_id, {"org.read"});
  int limited = 0;
  std::string retry;
  for (int i = 0; i < 30; ++i) {
    auto r = s.Call("GET", "/api/v1/organizations/" + a.org_id, nullptr, t);
    if (r.status == 429) {
      ++limited;
      retry = r.headers["retry-after"];
      EXPECT_NE(r.json["detail"].get<std::string>().find("too many requests"), std::string::npos);
    }
  }
  EXPECT_GT(limited, 0);
  EXPECT_FALSE(retry.empty());
  EXPECT_GE(std::stoi(retry), 1);
  // Another caller is not affected by this token's limit.
  EXPECT_EQ(s.Call("GET", "/api/v1/me", nullptr, a.session).status, 200);
}

}  // namespace
}  // namespace hp::testing
