// Acceptance 1 and 2 of issue 5. Routes are enumerated from the running server's /openapi.json,
// so a new route without a fixture here fails the suite; the expected role matrix is read from
// `hostplane roles docs` (the written contract), not copied.
#include <gtest/gtest.h>

#include <regex>

#include <SQLiteCpp/SQLiteCpp.h>
#include <set>

#include "api_fixture.h"

namespace hp::testing {
namespace {

struct Route {
  std::string method, path, permission;
};

std::vector<Route> ApiRoutes(ApiServer& s) {
  auto doc = s.Call("GET", "/openapi.json").json;
  std::vector<Route> out;
  for (auto& [path, ops] : doc["paths"].items()) {
    if (path.rfind("/api/v1/", 0) != 0) continue;
    for (auto& [m, op] : ops.items()) {
      std::string method = m;
      std::transform(method.begin(), method.end(), method.begin(), ::toupper);
      out.push_back({method, path, op.value("x-permission", "")});
    }
  }
  return out;
}

std::vector<std::string> Params(const std::string& path) {
  std::vector<std::string> out;
  static const std::regex re("\\{([a-z_]+)\\}");
  for (auto it = std::sregex_iterator(path.begin(), path.end(), re); it != std::sregex_iterator(); ++it) out.push_back((*it)[1]);
  return out;
}

std::string Fill(std::string path, const std::map<std::string, std::string>& values) {
  for (const auto& [k, v] : values) {
    auto pos = path.find("{" + k + "}");
    if (pos != std::string::npos) path.replace(pos, k.size() + 2, v);
  }
  return path;
}

// A durable job owned by `org`, written straight into the store (until provisioning routes
// create them through the API).
std::string OperationOf(ApiServer& s, const std::string& org) {
  SQLite::Database db(s.var() + "/hostplane.db", SQLite::OPEN_READWRITE, 5000);
  SQLite::Statement q(db, "INSERT INTO jobs(public_id, kind, payload, organization_id, state, max_attempts, run_at, created_at, updated_at) "
                          "VALUES ('isolationop00000000000a', 'test.noop', '{}', ?, 'succeeded', 1, 0, 0, 0)");
  q.bind(1, org);
  q.exec();
  return "isolationop00000000000a";
}

// Billing fixtures of `a`: a subscription and an issued invoice (staff add a product and run
// billing), plus ids for the staff routes' parameters.
std::map<std::string, std::string> BillingIdsOf(ApiServer& s, const ApiServer::Account& a) {
  TempDir d;
  WriteFile(d.path() + "/pw", "Staff password 77\n");
  Run({HostplaneBinary(), "staff", "create", "--email", "iso-staff@hostplane.example", "--password-file", d.path() + "/pw", "--var", s.var()});
  Caller staff = s.SignIn("iso-staff@hostplane.example", "Staff password 77");
  EXPECT_EQ(s.Call("POST", "/api/v1/admin/billing/products", {{"code", "iso-plan"}, {"kind", "shared_plan"}, {"name", "Isolation plan"}}, staff).status, 201);
  EXPECT_EQ(s.Call("POST", "/api/v1/admin/billing/products/iso-plan/prices", {{"price", 1000}}, staff).status, 201);
  auto sub = s.Call("POST", "/api/v1/organizations/" + a.org_id + "/subscriptions", {{"product", "iso-plan"}}, a.session);
  EXPECT_EQ(sub.status, 201) << sub.body;
  auto run = s.Call("POST", "/api/v1/admin/billing/runs", Json::object(), staff);
  EXPECT_EQ(run.status, 202) << run.body;
  std::string invoice;
  EXPECT_TRUE(PollUntil([&] {
    auto list = s.Call("GET", "/api/v1/organizations/" + a.org_id + "/invoices", nullptr, a.session).json["items"];
    if (!list.empty()) invoice = list[0]["id"];
    return !invoice.empty();
  }, std::chrono::seconds(10)));
  return {{"subscription", sub.json.value("id", "")}, {"invoice", invoice}, {"product", "iso-plan"}, {"partner", "direct"},
          {"run", run.json.value("id", "")}};
}

// Provisioning fixtures of `a` on the dev inventory: a VPS with a snapshot, a site, a dedicated
// server, and a host id for the staff routes.
std::map<std::string, std::string> ProvisioningIdsOf(ApiServer& s, const std::string& org, const Caller& who) {
  const std::string base = "/api/v1/organizations/" + org;
  auto wait = [&](const Reply& r) {
    EXPECT_EQ(r.status, 202) << r.body;
    EXPECT_TRUE(PollUntil([&] { return s.Call("GET", r.json["operation"].value("url", ""), nullptr, who).json.value("state", "") == "succeeded"; },
                          std::chrono::seconds(20))) << r.body;
    return r;
  };
  auto vps = wait(s.Call("POST", base + "/vps", {{"hostname", "iso"}, {"template", "tiny"}, {"plan", {{"vcpus", 1}, {"ram_mib", 512}, {"disk_gib", 2}}}}, who));
  const std::string vps_id = vps.json["vps"].value("id", "");
  wait(s.Call("POST", base + "/vps/" + vps_id + "/snapshots", {{"name", "iso-snap"}}, who));
  auto site = wait(s.Call("POST", base + "/sites", {{"domain", "alice-isolation.example"}}, who));
  auto server = wait(s.Call("POST", base + "/dedicated", {{"hostname", "iso-metal"}, {"template", "tiny"}}, who));
  SQLite::Database db(s.var() + "/hostplane.db", SQLite::OPEN_READONLY, 5000);
  return {{"vps", vps_id}, {"snapshot", "iso-snap"}, {"site", site.json["site"].value("id", "")},
          {"server", server.json["server"].value("id", "")}, {"host", db.execAndGet("SELECT public_id FROM prov_hosts LIMIT 1").getString()}};
}

class Isolation : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { s_ = new ApiServer(); }
  static void TearDownTestSuite() { delete s_; }
  static ApiServer* s_;
};
ApiServer* Isolation::s_ = nullptr;

const std::vector<std::string> kAll = {"org.read", "org.update", "members.manage", "tokens.read", "tokens.manage", "audit.read",
                                       "billing.read", "billing.manage", "services.read", "services.manage"};

TEST_F(Isolation, AnotherOrganizationsTokenGets404OnEveryRouteWithAnId) {
  auto a = s_->SignUp("alice@a.example", "Alice Org");
  auto b = s_->SignUp("bob@b.example", "Bob Org");
  ASSERT_FALSE(a.org_id.empty());
  ASSERT_FALSE(b.org_id.empty());
  Caller ta = s_->Token(a.session, a.org_id, kAll);
  Caller tb = s_->Token(b.session, b.org_id, kAll);
  ASSERT_FALSE(ta.token.empty());
  ASSERT_FALSE(tb.token.empty());
  auto inv = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/invitations", {{"email", "carol@a.example"}, {"role", "viewer"}}, ta);
  ASSERT_EQ(inv.status, 201) << inv.body;
  auto zone = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/zones", {{"name", "alice-isolation.example"}}, ta);
  ASSERT_EQ(zone.status, 201) << zone.body;
  auto rec = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/zones/" + zone.json["id"].get<std::string>() + "/records",
                      {{"name", "www"}, {"type", "A"}, {"data", "192.0.2.10"}}, ta);
  ASSERT_EQ(rec.status, 201) << rec.body;
  const std::string token_a_id = ta.token.substr(3, 22);
  // A's webhook subscription and a delivery of it (a ping); partner routes take A's org as a
  // customer id and A's token id as a key id (B is no member of any partner: 404 before lookup).
  auto hook = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/webhooks", {{"url", "https://hooks.isolation-a.example/x"}, {"events", {"invoice.paid"}}}, ta);
  ASSERT_EQ(hook.status, 201) << hook.body;
  auto ping = s_->Call("POST", "/api/v1/organizations/" + a.org_id + "/webhooks/" + hook.json["id"].get<std::string>() + "/ping", Json::object(), ta);
  ASSERT_EQ(ping.status, 202) << ping.body;
  // Fixtures: one real resource of organization A for every kind of id a route can take.
  std::map<std::string, std::string> a_ids = BillingIdsOf(*s_, a);
  a_ids.merge(ProvisioningIdsOf(*s_, a.org_id, ta));
  a_ids.insert({
      {"org", a.org_id}, {"user", a.user_id}, {"token", token_a_id}, {"invitation", inv.json["id"]}, {"id", a.org_id},
      {"zone", zone.json["id"]}, {"record", rec.json["id"]}, {"operation", OperationOf(*s_, a.org_id)},
      {"webhook", hook.json["id"]}, {"delivery", ping.json["delivery_id"]}, {"customer", a.org_id}, {"key", token_a_id},
      {"domain", "alice-isolation.example"}});
  int checked = 0;
  for (const auto& r : ApiRoutes(*s_)) {
    auto params = Params(r.path);
    if (params.empty()) continue;
    for (const auto& p : params)
      if (!a_ids.count(p)) ADD_FAILURE() << "no isolation fixture for {" << p << "} in " << r.method << " " << r.path << ": add one to this test";
    const Json body = (r.method == "POST" || r.method == "PATCH" || r.method == "PUT") ? Json::object() : Json(nullptr);
    const bool admin = r.permission == "staff";
    // 1. B's token on A's resources.
    for (const Caller& who : {tb, b.session}) {
      auto reply = s_->Call(r.method, Fill(r.path, a_ids), body, who);
      if (admin) {
        EXPECT_EQ(reply.status, 403) << r.method << " " << r.path << ": " << reply.body;
      } else {
        EXPECT_EQ(reply.status, 404) << r.method << " " << r.path << ": " << reply.body;
      }
      EXPECT_EQ(reply.body.find("Alice Org"), std::string::npos) << r.path;
      EXPECT_EQ(reply.body.find("alice@a.example"), std::string::npos) << r.path;
      EXPECT_EQ(reply.body.find("alice-isolation.example"), std::string::npos) << r.path;
      ++checked;
    }
    // 2. B's own organization with A's resource ids: still not found.
    if (params.size() > 1 && params[0] == "org") {
      auto mixed = a_ids;
      mixed["org"] = b.org_id;
      auto reply = s_->Call(r.method, Fill(r.path, mixed), body, tb);
      EXPECT_EQ(reply.status, 404) << "B's org with A's id: " << r.method << " " << r.path << ": " << reply.body;
      ++checked;
    }
  }
  EXPECT_GT(checked, 20);
  // A's resources are untouched: A still sees its token, invitation and name.
  auto org = s_->Call("GET", "/api/v1/organizations/" + a.org_id, nullptr, ta);
  EXPECT_EQ(org.status, 200);
  EXPECT_EQ(org.json["name"], "Alice Org");
  auto invs = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/invitations", nullptr, ta);
  EXPECT_EQ(invs.json["items"][0]["state"], "pending");
  auto records = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/zones/" + zone.json["id"].get<std::string>() + "/records", nullptr, ta);
  EXPECT_EQ(records.status, 200);
  EXPECT_NE(records.body.find("192.0.2.10"), std::string::npos) << "A's record must survive B's attempts";
  // Listing shows only one's own organizations.
  auto op = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/operations/isolationop00000000000a", nullptr, ta);
  EXPECT_EQ(op.status, 200) << op.body;
  EXPECT_EQ(op.json["state"], "succeeded");
  auto list = s_->Call("GET", "/api/v1/organizations", nullptr, b.session);
  ASSERT_EQ(list.json["items"].size(), 1u);
  EXPECT_EQ(list.json["items"][0]["id"], b.org_id);
}

// The written matrix, parsed from `hostplane roles docs`.
std::map<std::string, std::set<std::string>> WrittenMatrix() {
  auto [rc, out] = hp::testing::Run({HostplaneBinary(), "roles", "docs"});
  std::map<std::string, std::set<std::string>> m;
  std::vector<std::string> roles;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, '|')) {
      while (!cell.empty() && cell.front() == ' ') cell.erase(0, 1);
      while (!cell.empty() && cell.back() == ' ') cell.pop_back();
      cells.push_back(cell);
    }
    if (cells.size() < 4) continue;
    if (cells[1] == "permission") {
      roles.assign(cells.begin() + 3, cells.end());
      continue;
    }
    if (cells[1].size() < 3 || cells[1][0] != '`') continue;
    std::string perm = cells[1].substr(1, cells[1].size() - 2);
    for (size_t i = 0; i < roles.size() && i + 3 < cells.size(); ++i)
      if (cells[i + 3] == "yes") m[roles[i]].insert(perm);
  }
  return m;
}

TEST_F(Isolation, EachOfTheSevenRolesIsAllowedExactlyItsPermissions) {
  auto matrix = WrittenMatrix();
  ASSERT_EQ(matrix.size(), 7u) << "expected seven roles in `hostplane roles docs`";
  auto owner = s_->SignUp("owner@roles.example", "Roles Org");
  std::map<std::string, Caller> tokens;
  for (const auto& [role, perms] : matrix) {
    Caller session = owner.session;
    if (role != "owner") {
      std::string email = role + "@roles.example";
      auto inv = s_->Call("POST", "/api/v1/organizations/" + owner.org_id + "/invitations", {{"email", email}, {"role", role}}, owner.session);
      ASSERT_EQ(inv.status, 201) << inv.body;
      std::string token = ApiServer::TokenIn(s_->WaitMail(email, "invited"));
      auto member = s_->SignUp(email, role + "'s own org");
      auto acc = s_->Call("POST", "/api/v1/invitations/accept", {{"token", token}}, member.session);
      ASSERT_EQ(acc.status, 200) << acc.body;
      session = member.session;
    }
    // A token may carry only permissions of its creator's role.
    std::vector<std::string> scopes(perms.begin(), perms.end());
    std::set<std::string> missing;
    for (const auto& p : kAll)
      if (!perms.count(p)) missing.insert(p);
    if (!missing.empty()) {
      auto too_much = s_->Call("POST", "/api/v1/organizations/" + owner.org_id + "/tokens", {{"name", "x"}, {"scopes", {*missing.begin()}}}, session);
      EXPECT_EQ(too_much.status, 403) << role << " created a token beyond its role: " << too_much.body;
    }
    if (!perms.count("tokens.manage")) {
      // Roles that cannot create tokens are tested through their session.
      tokens[role] = session;
    } else {
      tokens[role] = s_->Token(session, owner.org_id, scopes);
      ASSERT_FALSE(tokens[role].token.empty()) << role;
    }
  }
  int allowed = 0, denied = 0;
  for (const auto& r : ApiRoutes(*s_)) {
    if (r.permission.empty() || r.permission == "public" || r.permission == "authenticated" || r.permission == "staff") continue;
    std::map<std::string, std::string> ids = {{"org", owner.org_id}, {"user", "nosuchuser0000000000000"}, {"token", "nosuchtoken000000000000"},
                                              {"invitation", "nosuchinvite00000000000"}, {"zone", "nosuchzone0000000000000"},
                                              {"record", "nosuchrecord00000000000"}, {"operation", "nosuchoperation00000000"},
                                              {"subscription", "nosuchsubscription00000"}, {"invoice", "nosuchinvoice0000000000"},
                                              {"vps", "nosuchvps00000000000000"}, {"site", "nosuchsite0000000000000"}, {"server", "nosuchserver00000000000"}, {"snapshot", "nosuch"},
                                              {"webhook", "nosuchwebhook0000000000"}, {"delivery", "nosuchdelivery000000000"},
                                              {"domain", "nosuch.example"}};
    for (const auto& [role, who] : tokens) {
      const Json body = (r.method == "POST" || r.method == "PATCH") ? Json::object() : Json(nullptr);
      auto reply = s_->Call(r.method, Fill(r.path, ids), body, who);
      const bool expect = matrix[role].count(r.permission) > 0;
      if (expect) {
        EXPECT_NE(reply.status, 403) << role << " should be allowed " << r.method << " " << r.path << ": " << reply.body;
        EXPECT_NE(reply.status, 401) << role << " " << r.path;
        ++allowed;
      } else {
        EXPECT_EQ(reply.status, 403) << role << " should be denied " << r.method << " " << r.path << ": " << reply.body;
        EXPECT_NE(reply.body.find(r.permission), std::string::npos) << "the denial should name " << r.permission << ": " << reply.body;
        ++denied;
      }
    }
  }
  EXPECT_GT(allowed, 20);
  EXPECT_GT(denied, 20);
}

}  // namespace
}  // namespace hp::testing
