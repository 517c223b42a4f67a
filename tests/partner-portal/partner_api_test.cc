// The partner API through the real `hostplane serve --dev`: isolation between partners over every
// /partner/v1 route (enumerated from /partner/v1/openapi.json), agencies kept away from customer
// resources (acceptance 1), signing over HTTP (acceptance 2), OEM white-label by Host (acceptance
// 3, panel and ACME directory), EAB minting, and a webhook to a receiver that fails 3 times
// (acceptance 5).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "api_fixture.h"
#include "hp/core/encoding.h"
#include "hp/core/http_server.h"
#include "hp/core/log.h"
#include "hp/core/openssl.h"
#include "hp/partner/signing.h"
#include "hp/partner/webhooks.h"

namespace hp::testing {
namespace {

struct Key {
  std::string id, secret, partner_id;
};

struct Opts {
  double skew = 0;
  std::string sign_body;  // sign this instead of the body sent (tampering)
  std::vector<std::string> headers;
  std::string* signature_out = nullptr;
  std::string replay_signature, replay_timestamp;
};

class PartnerApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    core::log::SetLevel(core::log::Level::kError);
    s_ = new ApiServer(std::map<std::string, std::string>{
        {"HOSTPLANE_PARTNER_WEBHOOKS_ALLOW_HTTP", "true"},
        {"HOSTPLANE_PARTNER_WEBHOOKS_ALLOWED_PRIVATE_CIDRS", "127.0.0.0/8"}});
    TempDir d;
    WriteFile(d.path() + "/pw", "Staff password 77\n");
    auto [rc, out] =
        hp::testing::Run({HostplaneBinary(), "staff", "create", "--email", "ops@hostplane.example",
                          "--password-file", d.path() + "/pw", "--var", s_->var()});
    if (rc != 0) std::fprintf(stderr, "staff create: %s\n", out.c_str());
    staff_ = new Caller();
    reseller_a_ = new Key(NewPartner("Reseller A", "reseller"));
    reseller_b_ = new Key(NewPartner("Reseller B", "reseller"));
    agency_ = new Key(NewPartner("Agency C", "agency"));
    oem_ = new Key(NewPartner("Kumo OEM", "oem"));
  }
  static void TearDownTestSuite() {
    delete s_;
    delete staff_;
    delete reseller_a_;
    delete reseller_b_;
    delete agency_;
    delete oem_;
  }

  // Signs staff in again (tests move the clock past the session's idle timeout).
  static Caller& Staff() {
    *staff_ = s_->SignIn("ops@hostplane.example", "Staff password 77");
    return *staff_;
  }
  static Key NewPartner(const std::string& name, const std::string& channel) {
    Staff();
    auto p =
        s_->Call("POST", "/api/v1/admin/partners", {{"name", name}, {"channel", channel}}, *staff_);
    if (p.status != 201) std::fprintf(stderr, "partner: %d %s\n", p.status, p.body.c_str());
    auto k = s_->Call("POST", "/api/v1/admin/partners/" + p.json["id"].get<std::string>() + "/keys",
                      {{"name", "ci"}}, *staff_);
    if (k.status != 201) std::fprintf(stderr, "key: %d %s\n", k.status, k.body.c_str());
    return {k.json.value("id", ""), k.json.value("secret", ""), p.json["id"]};
  }

  static std::string Now(double skew = 0) {
    auto t = std::chrono::system_clock::now() + std::chrono::duration<double>(s_->offset() + skew);
    return std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
  }

  // A signed /partner/v1 call.
  static Reply P(const Key& k, const std::string& method, const std::string& path,
                 const Json& body = nullptr, Opts o = Opts()) {
    std::string p = path, q;
    if (auto qm = path.find('?'); qm != std::string::npos) {
      p = path.substr(0, qm);
      q = path.substr(qm + 1);
    }
    std::string ts = o.replay_timestamp.empty() ? Now(o.skew) : o.replay_timestamp;
    std::string sent = body.is_null() ? "" : body.dump();
    std::string sig = o.replay_signature.empty()
                          ? partner::SignRequest(k.secret, method, p, q, ts,
                                                 o.sign_body.empty() ? sent : o.sign_body)
                          : o.replay_signature;
    if (o.signature_out) *o.signature_out = sig;
    auto h = o.headers;
    h.push_back("X-Partner-Key-Id: " + k.id);
    h.push_back("X-Partner-Timestamp: " + ts);
    h.push_back("X-Partner-Signature: " + sig);
    return s_->Call(method, path, body, {}, h);
  }
  static std::string NewCustomer(const Key& k, const std::string& name) {
    auto r = P(k, "POST", "/partner/v1/customers", {{"name", name}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json.value("id", "");
  }
  static Reply ViaHost(const std::string& host, const std::string& path) {
    return s_->Call("GET", path, nullptr, {}, {"Host: " + host});
  }
  static bool MentionsUs(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), ::tolower);
    return s.find("hostplane") != std::string::npos;
  }

  static ApiServer* s_;
  static Caller* staff_;
  static Key *reseller_a_, *reseller_b_, *agency_, *oem_;
};
ApiServer* PartnerApi::s_ = nullptr;
Caller* PartnerApi::staff_ = nullptr;
Key* PartnerApi::reseller_a_ = nullptr;
Key* PartnerApi::reseller_b_ = nullptr;
Key* PartnerApi::agency_ = nullptr;
Key* PartnerApi::oem_ = nullptr;

std::string Fill(std::string pattern, const std::map<std::string, std::string>& values) {
  for (const auto& [k, v] : values) {
    auto pos = pattern.find("{" + k + "}");
    if (pos != std::string::npos) pattern.replace(pos, k.size() + 2, v);
  }
  return pattern;
}

TEST_F(PartnerApi, ResellerCannotReadListOrChangeAnotherResellersCustomersThroughAnyRoute) {
  const std::string a1 = NewCustomer(*reseller_a_, "A customer");
  const std::string b1 = NewCustomer(*reseller_b_, "B customer");
  auto b_hook = P(*reseller_b_, "POST", "/partner/v1/webhooks",
                  {{"url", "https://hooks.b.example/x"}, {"events", {"invoice.paid"}}});
  ASSERT_EQ(b_hook.status, 201) << b_hook.body;
  // B's ids for every path parameter: A must get 404 (never 403, never B's data).
  const std::map<std::string, std::string> b_ids = {{"customer", b1},
                                                    {"key", reseller_b_->id},
                                                    {"webhook", b_hook.json["id"]},
                                                    {"delivery", "nosuchdelivery00000000"}};

  auto doc = s_->Call("GET", "/partner/v1/openapi.json");
  ASSERT_EQ(doc.status, 200);
  int with_params = 0, total = 0;
  for (auto it = doc.json["paths"].begin(); it != doc.json["paths"].end(); ++it) {
    const std::string pattern = it.key();
    ASSERT_EQ(pattern.rfind("/partner/v1/", 0), 0u) << pattern;
    for (auto m = it.value().begin(); m != it.value().end(); ++m) {
      std::string method = m.key();
      std::transform(method.begin(), method.end(), method.begin(), ::toupper);
      ++total;
      if (pattern.find('{') == std::string::npos) continue;
      ++with_params;
      Json body = method == "GET" || method == "DELETE" ? Json(nullptr)
                                                        : Json{{"name", "x"}, {"reason", "x"}};
      auto r = P(*reseller_a_, method, Fill(pattern, b_ids), body);
      EXPECT_EQ(r.status, 404) << method << " " << pattern << ": " << r.body;
      EXPECT_EQ(r.body.find("B customer"), std::string::npos) << pattern;  // none of B's data
    }
  }
  EXPECT_GE(total, 15);
  EXPECT_GE(with_params, 9);
  // Listing shows only one's own customers.
  auto list_a = P(*reseller_a_, "GET", "/partner/v1/customers?limit=200");
  ASSERT_EQ(list_a.status, 200);
  EXPECT_NE(list_a.body.find(a1), std::string::npos);
  EXPECT_EQ(list_a.body.find(b1), std::string::npos);
  // B's customer, key and webhook are untouched.
  auto b = P(*reseller_b_, "GET", "/partner/v1/customers/" + b1);
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(b.json["status"], "active");
  EXPECT_EQ(P(*reseller_b_, "GET", "/partner/v1/webhooks").json["items"].size(), 1u);
  EXPECT_EQ(P(*reseller_b_, "GET", "/partner/v1/partner").status, 200);
}

TEST_F(PartnerApi, AgencyGets403OnEveryCustomerResourceRoute) {
  const std::string a1 = NewCustomer(*reseller_a_, "Referred elsewhere");
  auto doc = s_->Call("GET", "/partner/v1/openapi.json").json;
  int customer_routes = 0;
  for (auto it = doc["paths"].begin(); it != doc["paths"].end(); ++it) {
    if (it.key().rfind("/partner/v1/customers", 0) != 0) continue;
    for (auto m = it.value().begin(); m != it.value().end(); ++m) {
      std::string method = m.key();
      std::transform(method.begin(), method.end(), method.begin(), ::toupper);
      ++customer_routes;
      Json body = method == "GET" ? Json(nullptr) : Json{{"name", "x"}};
      auto r = P(*agency_, method, Fill(it.key(), {{"customer", a1}}), body);
      EXPECT_EQ(r.status, 403) << method << " " << it.key() << ": " << r.body;
    }
  }
  EXPECT_GE(customer_routes, 7);
  EXPECT_EQ(P(*agency_, "GET", "/partner/v1/partner").json["channel"], "agency");
}

TEST_F(PartnerApi, CustomerLifecycleIsAuditedAsThePartner) {
  const std::string c = NewCustomer(*reseller_a_, "Lifecycle KK");
  EXPECT_EQ(
      P(*reseller_a_, "POST", "/partner/v1/customers/" + c + "/suspend", {{"reason", "unpaid"}})
          .json["status"],
      "suspended");
  EXPECT_EQ(P(*reseller_a_, "POST", "/partner/v1/customers/" + c + "/unsuspend", Json::object())
                .json["status"],
            "active");
  EXPECT_EQ(P(*reseller_a_, "POST", "/partner/v1/customers/" + c + "/terminate", Json::object())
                .json["status"],
            "terminated");
  EXPECT_EQ(P(*reseller_a_, "POST", "/partner/v1/customers/" + c + "/unsuspend",
              Json{{"reason", "again"}})
                .status,
            409);
  auto audit = s_->Call("GET", "/api/v1/admin/audit-events?organization=" + c + "&limit=50",
                        nullptr, Staff());
  ASSERT_EQ(audit.status, 200);
  std::set<std::string> actions;
  for (const auto& e : audit.json["items"]) {
    EXPECT_EQ(e["actor_type"], "partner");
    EXPECT_EQ(e["actor_id"], reseller_a_->id);
    actions.insert(e["action"]);
  }
  EXPECT_EQ(actions,
            (std::set<std::string>{"partner.customer.create", "partner.customer.suspend",
                                   "partner.customer.unsuspend", "partner.customer.terminate"}));
}

TEST_F(PartnerApi, SigningOverHttp) {
  // Valid.
  EXPECT_EQ(P(*reseller_a_, "GET", "/partner/v1/partner").status, 200);
  // Unsigned.
  EXPECT_EQ(s_->Call("GET", "/partner/v1/partner").status, 401);
  // Body tampered.
  auto t = P(*reseller_a_, "POST", "/partner/v1/customers", {{"name", "Evil"}},
             {.sign_body = R"({"name":"Nice"})"});
  EXPECT_EQ(t.status, 401);
  EXPECT_EQ(t.json["detail"], "signature does not match");
  // Timestamp outside the 5-minute window.
  EXPECT_EQ(P(*reseller_a_, "GET", "/partner/v1/partner", nullptr, {.skew = -400}).status, 401);
  EXPECT_EQ(P(*reseller_a_, "GET", "/partner/v1/partner", nullptr, {.skew = 400}).status, 401);
  // Replay.
  std::string sig;
  std::string ts = Now();
  EXPECT_EQ(P(*reseller_a_, "GET", "/partner/v1/keys", nullptr,
              {.signature_out = &sig, .replay_timestamp = ts})
                .status,
            200);
  auto replay = P(*reseller_a_, "GET", "/partner/v1/keys", nullptr,
                  {.replay_signature = sig, .replay_timestamp = ts});
  EXPECT_EQ(replay.status, 401);
  EXPECT_NE(replay.json["detail"].get<std::string>().find("replayed"), std::string::npos);
}

TEST_F(PartnerApi, RotatedKeyWorksDuringOverlapAndRevokedKeyNever) {
  Key k = NewPartner("Rotating Reseller", "reseller");
  auto rot = P(k, "POST", "/partner/v1/keys/" + k.id + "/rotate", {{"overlap_seconds", 3600}});
  ASSERT_EQ(rot.status, 201) << rot.body;
  Key fresh{rot.json["id"], rot.json["secret"], k.partner_id};
  EXPECT_EQ(P(k, "GET", "/partner/v1/partner").status, 200);
  EXPECT_EQ(P(fresh, "GET", "/partner/v1/partner").status, 200);
  s_->Advance(3601);
  auto old = P(k, "GET", "/partner/v1/partner");
  EXPECT_EQ(old.status, 401);
  EXPECT_NE(old.json["detail"].get<std::string>().find("expired"), std::string::npos);
  EXPECT_EQ(P(fresh, "GET", "/partner/v1/partner").status, 200);
  EXPECT_EQ(P(fresh, "DELETE", "/partner/v1/keys/" + fresh.id).status, 204);
  auto revoked = P(fresh, "GET", "/partner/v1/partner");
  EXPECT_EQ(revoked.status, 401);
  EXPECT_NE(revoked.json["detail"].get<std::string>().find("revoked"), std::string::npos);
}

TEST_F(PartnerApi, OemPanelAndAcmeDirectoryThroughItsHostShowOnlyItsBrand) {
  const Json brand = {
      {"brand_name", "Kumo Cloud"},
      {"primary_color", "#0a7cff"},
      {"logo_url", "https://cdn.kumo.example/logo.svg"},
      {"panel_host", "panel.kumo.example"},
      {"mail_from_address", "support@kumo.example"},
      {"website_url", "https://kumo.example"},
      {"terms_of_service_url", "https://kumo.example/acme-terms"},
      {"invoice_issuer", {{"name", "Kumo K.K."}, {"registration_number", "T1234567890123"}}}};
  auto put = P(*oem_, "PUT", "/partner/v1/branding", brand);
  ASSERT_EQ(put.status, 200) << put.body;
  // A reseller may not take a panel host name; bad colours are refused.
  Json r_brand = brand;
  r_brand["panel_host"] = "panel.reseller.example";
  EXPECT_EQ(P(*reseller_a_, "PUT", "/partner/v1/branding", r_brand).status, 403);
  Json bad = brand;
  bad["primary_color"] = "blue";
  EXPECT_EQ(P(*oem_, "PUT", "/partner/v1/branding", bad).json["field"], "primary_color");

  auto panel = ViaHost("panel.kumo.example", "/");
  ASSERT_EQ(panel.status, 200);
  EXPECT_NE(panel.body.find("Kumo Cloud"), std::string::npos);
  EXPECT_NE(panel.body.find("#0a7cff"), std::string::npos);
  EXPECT_FALSE(MentionsUs(panel.body)) << panel.body;
  // Our own host shows our panel.
  EXPECT_TRUE(MentionsUs(s_->Call("GET", "/").body));

  auto dir = ViaHost("panel.kumo.example", "/acme/p/" + oem_->partner_id + "/directory");
  ASSERT_EQ(dir.status, 200) << dir.body;
  EXPECT_EQ(dir.json["meta"]["website"], "https://kumo.example");
  EXPECT_EQ(dir.json["meta"]["termsOfService"], "https://kumo.example/acme-terms");
  EXPECT_EQ(dir.json["meta"]["externalAccountRequired"], true);
  EXPECT_TRUE(dir.json.contains("newAccount"));
  EXPECT_FALSE(MentionsUs(dir.body)) << dir.body;
  // Another partner's directory is not served on the OEM's host; agencies have none.
  EXPECT_EQ(
      ViaHost("panel.kumo.example", "/acme/p/" + reseller_a_->partner_id + "/directory").status,
      404);
  EXPECT_EQ(s_->Call("GET", "/acme/p/" + agency_->partner_id + "/directory").status, 404);
}

TEST_F(PartnerApi, EabCredentialsAreMintedForOwnCustomersOnly) {
  const std::string c = NewCustomer(*oem_, "Kumo customer");
  auto eab = P(*oem_, "POST", "/partner/v1/customers/" + c + "/eab-keys", {{"expires_in_days", 3}});
  ASSERT_EQ(eab.status, 201) << eab.body;
  EXPECT_FALSE(eab.json["kid"].get<std::string>().empty());
  EXPECT_GE(eab.json["hmac_key"].get<std::string>().size(), 43u);
  EXPECT_EQ(eab.json["organization_id"], c);
  EXPECT_EQ(eab.json["directory"].get<std::string>().find("/acme/p/" + oem_->partner_id +
                                                          "/directory") != std::string::npos,
            true);
  EXPECT_EQ(P(*oem_, "POST", "/partner/v1/customers/" + c + "/eab-keys", {{"expires_in_days", 400}})
                .json["field"],
            "expires_in_days");
  EXPECT_EQ(
      P(*reseller_a_, "POST", "/partner/v1/customers/" + c + "/eab-keys", Json::object()).status,
      404);
}

// A receiver that fails the first three requests.
class Receiver {
 public:
  // Answers 503 to the first `fail_first` deliveries, then 200.
  explicit Receiver(size_t fail_first = 3) : fail_first_(fail_first) {
    router_.AddSync({.method = "POST", .pattern = "/hook"}, [this](const core::http::Request& q) {
      std::lock_guard lock(mu_);
      seen_.push_back({q.Header("webhook-id"), q.Header("webhook-signature"), q.body});
      if (seen_.size() <= fail_first_) return core::http::Response::Text(503, "busy");
      accepted_.insert(q.Header("webhook-id"));
      return core::http::Response::Text(200, "ok");
    });
    server_ = std::move(*core::http::Server::Create({.port = 0, .threads = 1, .access_log = false},
                                                    router_, core::MetricsRegistry::Default()));
    (void)server_->Start();
  }
  ~Receiver() { server_->Shutdown(std::chrono::milliseconds(100)); }
  std::string Url() const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/hook";
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return seen_.size();
  }
  struct Seen {
    std::string id, sig, body;
  };
  std::vector<Seen> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  std::set<std::string> accepted() {
    std::lock_guard lock(mu_);
    return accepted_;
  }

 private:
  core::http::Router router_;
  std::unique_ptr<core::http::Server> server_;
  std::mutex mu_;
  std::vector<Seen> seen_;
  std::set<std::string> accepted_;
  size_t fail_first_;
};

TEST_F(PartnerApi, WebhookArrivesOnceAfterThreeFailuresWithFourLoggedAttempts) {
  Receiver rx;
  Key k = NewPartner("Hooked Reseller", "reseller");
  auto sub = P(k, "POST", "/partner/v1/webhooks",
               {{"url", rx.Url()}, {"events", {"organization.suspended"}}});
  ASSERT_EQ(sub.status, 201) << sub.body;
  const std::string secret = sub.json["secret"];
  const std::string c = NewCustomer(k, "Late payer");
  ASSERT_EQ(P(k, "POST", "/partner/v1/customers/" + c + "/suspend", Json::object()).status, 200);
  ASSERT_TRUE(PollUntil([&] { return rx.count() >= 1; }, std::chrono::seconds(10)));
  for (double wait : {60.0, 300.0, 900.0}) {
    size_t before = rx.count();
    s_->Advance(wait);
    ASSERT_TRUE(PollUntil([&] { return rx.count() > before; }, std::chrono::seconds(10)))
        << "after " << wait << " s";
  }
  auto seen = rx.seen();
  ASSERT_EQ(seen.size(), 4u);
  for (const auto& x : seen) EXPECT_EQ(x.id, seen[0].id);
  EXPECT_EQ(rx.accepted().size(), 1u);  // exactly once by event id
  auto body = Json::parse(seen[3].body);
  EXPECT_EQ(body["type"], "organization.suspended");
  EXPECT_EQ(body["organization_id"], c);
  auto now = core::FromUnixSeconds(std::stoll(Now()));
  EXPECT_TRUE(partner::VerifyWebhookSignature(seen[3].sig, secret, seen[3].body, now));

  auto deliveries =
      P(k, "GET", "/partner/v1/webhooks/" + sub.json["id"].get<std::string>() + "/deliveries");
  ASSERT_EQ(deliveries.json["items"].size(), 1u);
  EXPECT_EQ(deliveries.json["items"][0]["state"], "delivered");
  EXPECT_EQ(deliveries.json["items"][0]["attempts"], 4);
  const std::string did = deliveries.json["items"][0]["id"];
  auto log = P(k, "GET", "/partner/v1/deliveries/" + did + "/attempts");
  ASSERT_EQ(log.json["items"].size(), 4u);
  EXPECT_EQ(log.json["items"][0]["http_status"], 503);
  EXPECT_EQ(log.json["items"][3]["http_status"], 200);
  // Manual redelivery: a fifth, logged attempt with the same event id.
  EXPECT_EQ(P(k, "POST", "/partner/v1/deliveries/" + did + "/redeliver", Json::object()).status,
            202);
  ASSERT_TRUE(PollUntil([&] { return rx.count() >= 5; }, std::chrono::seconds(10)));
  EXPECT_EQ(rx.seen()[4].id, seen[0].id);
}

// Partner users: staff add an owner; members act through /api/v1/partners/{partner}/... with a
// session (the browser panel), by role; non-members (staff included) get 404 (acceptance 1 for
// the browser API too).
TEST_F(PartnerApi, PartnerMembersActThroughTheBrowserApiByRole) {
  Key k = NewPartner("Member Reseller", "reseller");
  auto owner = s_->SignUp("owner@member-reseller.example", "Owner own org");
  auto viewer = s_->SignUp("viewer@member-reseller.example", "Viewer own org");
  auto outsider = s_->SignUp("outsider@elsewhere.example", "Outsider org");
  const std::string base = "/api/v1/partners/" + k.partner_id;
  // Staff add the first owner; only staff may (an ordinary user gets 403).
  EXPECT_EQ(s_->Call("POST", "/api/v1/admin/partners/" + k.partner_id + "/members",
                     {{"email", owner.email}, {"role", "owner"}}, outsider.session)
                .status,
            403);
  auto add = s_->Call("POST", "/api/v1/admin/partners/" + k.partner_id + "/members",
                      {{"email", owner.email}, {"role", "owner"}}, Staff());
  ASSERT_EQ(add.status, 201) << add.body;
  // The owner adds a viewer; bad roles name the field.
  EXPECT_EQ(
      s_->Call("POST", base + "/members", {{"email", viewer.email}, {"role", "god"}}, owner.session)
          .json["field"],
      "role");
  ASSERT_EQ(s_->Call("POST", base + "/members", {{"email", viewer.email}, {"role", "viewer"}},
                     owner.session)
                .status,
            201);
  auto mine = s_->Call("GET", "/api/v1/partners", nullptr, owner.session);
  ASSERT_EQ(mine.status, 200);
  ASSERT_EQ(mine.json["items"].size(), 1u);
  EXPECT_EQ(mine.json["items"][0]["role"], "owner");
  EXPECT_EQ(s_->Call("GET", base, nullptr, viewer.session).json["role"], "viewer");

  // Owner creates a customer through the browser API; it is the same customer over /partner/v1.
  auto c = s_->Call("POST", base + "/customers", {{"name", "Browser customer"}}, owner.session);
  ASSERT_EQ(c.status, 201) << c.body;
  const std::string cid = c.json["id"];
  EXPECT_EQ(P(k, "GET", "/partner/v1/customers/" + cid).json["name"], "Browser customer");
  // The viewer reads but cannot change.
  EXPECT_EQ(s_->Call("GET", base + "/customers/" + cid, nullptr, viewer.session).status, 200);
  auto denied =
      s_->Call("POST", base + "/customers/" + cid + "/suspend", Json::object(), viewer.session);
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_EQ(s_->Call("POST", base + "/members", {{"email", outsider.email}, {"role", "admin"}},
                     viewer.session)
                .status,
            403);
  // Outsiders and staff who are not members: the partner does not exist (404), on every route.
  for (const Caller* who : {&outsider.session, &Staff()}) {
    EXPECT_EQ(s_->Call("GET", base, nullptr, *who).status, 404);
    EXPECT_EQ(s_->Call("GET", base + "/customers", nullptr, *who).status, 404);
    EXPECT_EQ(s_->Call("GET", base + "/customers/" + cid, nullptr, *who).status, 404);
    EXPECT_EQ(s_->Call("POST", base + "/customers", {{"name", "x"}}, *who).status, 404);
  }
  // A member of reseller A's partner cannot reach reseller B's customer through its own partner.
  const std::string b1 = NewCustomer(*reseller_b_, "B customer for members");
  EXPECT_EQ(s_->Call("GET", base + "/customers/" + b1, nullptr, owner.session).status, 404);
  // Partner operators act on the customer's own /api/v1 routes: owner/admin as the
  // organization's admin, viewer as viewer; audited with via_partner; nobody else.
  const std::string org_base = "/api/v1/organizations/" + cid;
  EXPECT_EQ(s_->Call("GET", org_base, nullptr, owner.session).json["name"], "Browser customer");
  auto zone = s_->Call("POST", org_base + "/zones", {{"name", "operated.example"}}, owner.session);
  ASSERT_EQ(zone.status, 201) << zone.body;
  EXPECT_EQ(s_->Call("GET", org_base + "/zones", nullptr, viewer.session).status, 200);
  auto vz = s_->Call("POST", org_base + "/zones", {{"name", "viewer.example"}}, viewer.session);
  EXPECT_EQ(vz.status, 403) << vz.body;
  EXPECT_EQ(s_->Call("GET", org_base, nullptr, outsider.session).status, 404);
  EXPECT_EQ(s_->Call("GET", "/api/v1/organizations/" + b1, nullptr, owner.session).status, 404);
  auto op_audit = s_->Call("GET", "/api/v1/admin/audit-events?organization=" + cid + "&limit=50",
                           nullptr, Staff());
  bool via = false;
  for (const auto& e : op_audit.json["items"])
    if (e["action"] == "dns.zone.create") {
      EXPECT_EQ(e["actor_type"], "partner_operator") << e.dump();
      EXPECT_EQ(e["actor_id"], owner.user_id);
      via = true;
    }
  EXPECT_TRUE(via) << op_audit.body;
  // Changes are audited as the user, with the partner and the customer.
  ASSERT_EQ(
      s_->Call("POST", base + "/customers/" + cid + "/suspend", {{"reason", "test"}}, owner.session)
          .status,
      200);
  auto audit = s_->Call("GET", "/api/v1/admin/audit-events?organization=" + cid + "&limit=50",
                        nullptr, Staff());
  bool seen = false;
  for (const auto& e : audit.json["items"])
    if (e["action"] == "partner.customer.suspend") {
      seen = true;
      EXPECT_EQ(e["actor_type"], "user");
      EXPECT_EQ(e["actor_id"], owner.user_id);
    }
  EXPECT_TRUE(seen) << audit.body;
  // An agency's member gets 403 on customer routes, like its API key.
  auto agency_owner = s_->SignUp("owner@agency-c.example", "Agency owner org");
  ASSERT_EQ(s_->Call("POST", "/api/v1/admin/partners/" + agency_->partner_id + "/members",
                     {{"email", agency_owner.email}, {"role", "owner"}}, Staff())
                .status,
            201);
  EXPECT_EQ(s_->Call("GET", "/api/v1/partners/" + agency_->partner_id + "/customers", nullptr,
                     agency_owner.session)
                .status,
            403);
}

// Acceptance 3 (e-mail): the invitation to an OEM customer's first owner and that person's
// verification e-mail carry the OEM's sender, brand and panel host, and nothing of ours.
TEST_F(PartnerApi, MailToAnOemCustomerCarriesTheOemSenderAndBrandOnly) {
  Key oem = NewPartner("Sora OEM", "oem");
  ASSERT_EQ(P(oem, "PUT", "/partner/v1/branding",
              {{"brand_name", "Sora Hosting"},
               {"panel_host", "panel.sora.example"},
               {"mail_from_name", "Sora Hosting Support"},
               {"mail_from_address", "support@sora.example"}})
                .status,
            200);
  // The invitation needs a partner user to come from (an API key is not a person).
  EXPECT_EQ(P(oem, "POST", "/partner/v1/customers",
              {{"name", "Too early"}, {"owner_email", "early@sora-customer.example"}})
                .json["field"],
            "owner_email");
  auto boss = s_->SignUp("boss@sora.example", "Sora staff org");
  ASSERT_EQ(s_->Call("POST", "/api/v1/admin/partners/" + oem.partner_id + "/members",
                     {{"email", boss.email}, {"role", "owner"}}, Staff())
                .status,
            201);
  auto c = P(oem, "POST", "/partner/v1/customers",
             {{"name", "Sora customer"}, {"owner_email", "first@sora-customer.example"}});
  ASSERT_EQ(c.status, 201) << c.body;
  EXPECT_FALSE(c.json.value("invitation_id", "").empty());
  const std::string invite = s_->WaitMail("first@sora-customer.example", "invited");
  ASSERT_FALSE(invite.empty());
  EXPECT_NE(invite.find("support@sora.example"), std::string::npos) << invite;
  EXPECT_NE(invite.find("Sora Hosting"), std::string::npos) << invite;
  EXPECT_NE(invite.find("https://panel.sora.example/accept-invitation?token="), std::string::npos)
      << invite;
  EXPECT_FALSE(MentionsUs(invite)) << invite;
  // The invitee signs up: the verification mail is the OEM's too.
  ASSERT_EQ(s_->Call("POST", "/api/v1/signup",
                     {{"email", "first@sora-customer.example"},
                      {"password", "Correct horse 42"},
                      {"organization_name", "first own"},
                      {"name", "First"}})
                .status,
            201);
  const std::string verify = s_->WaitMail("first@sora-customer.example", "Confirm your e-mail");
  ASSERT_FALSE(verify.empty());
  EXPECT_NE(verify.find("support@sora.example"), std::string::npos) << verify;
  EXPECT_FALSE(MentionsUs(verify)) << verify;
  // A password reset for them: the OEM's too.
  EXPECT_EQ(
      s_->Call("POST", "/api/v1/password-reset", {{"email", "first@sora-customer.example"}}).status,
      202);
  const std::string reset = s_->WaitMail("first@sora-customer.example", "Reset your password");
  ASSERT_FALSE(reset.empty());
  EXPECT_NE(reset.find("support@sora.example"), std::string::npos) << reset;
  EXPECT_NE(reset.find("https://panel.sora.example/"), std::string::npos) << reset;
  EXPECT_FALSE(MentionsUs(reset)) << reset;
  // A direct customer's mail is still ours.
  s_->SignUp("direct@direct.example", "Direct KK");
  EXPECT_TRUE(MentionsUs(s_->WaitMail("direct@direct.example", "Confirm your e-mail")));
}

TEST_F(PartnerApi, EabKeysAreListedWithStateAndExpireOnTheServerClock) {
  const std::string c = NewCustomer(*oem_, "Expiring customer");
  auto eab = P(*oem_, "POST", "/partner/v1/customers/" + c + "/eab-keys", {{"expires_in_days", 1}});
  ASSERT_EQ(eab.status, 201) << eab.body;
  auto list = P(*oem_, "GET", "/partner/v1/customers/" + c + "/eab-keys");
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.json["items"].size(), 1u);
  EXPECT_EQ(list.json["items"][0]["kid"], eab.json["kid"]);
  EXPECT_EQ(list.json["items"][0]["state"], "unused");
  EXPECT_EQ(list.body.find(eab.json["hmac_key"].get<std::string>()), std::string::npos);
  EXPECT_EQ(P(*oem_, "GET", "/partner/v1/customers/" + c + "/certificates").json["items"],
            Json::array());
  s_->Advance(86400 + 60);
  EXPECT_EQ(P(*oem_, "GET", "/partner/v1/customers/" + c + "/eab-keys").json["items"][0]["state"],
            "expired");
  EXPECT_EQ(P(*reseller_a_, "GET", "/partner/v1/customers/" + c + "/eab-keys").status, 404);
}

// Acceptance 5 for customers: an organization's own subscription, its ping delivered signed to a
// local receiver (allowed by partner.webhooks.allowed_private_cidrs), other private addresses
// refused.
TEST_F(PartnerApi, OrganizationWebhooksDeliverAndRefusePrivateAddresses) {
  Receiver rx;
  auto a = s_->SignUp("hooks@org.example", "Hooked org");
  const std::string base = "/api/v1/organizations/" + a.org_id;
  auto bad =
      s_->Call("POST", base + "/webhooks",
               {{"url", "http://169.254.169.254/latest"}, {"events", {"invoice.paid"}}}, a.session);
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(bad.json["field"], "url");
  EXPECT_EQ(s_->Call("POST", base + "/webhooks",
                     {{"url", "http://10.0.0.8/hook"}, {"events", {"invoice.paid"}}}, a.session)
                .json["field"],
            "url");
  auto sub = s_->Call("POST", base + "/webhooks", {{"url", rx.Url()}, {"events", {"invoice.paid"}}},
                      a.session);
  ASSERT_EQ(sub.status, 201) << sub.body;
  const std::string wid = sub.json["id"];
  auto ping = s_->Call("POST", base + "/webhooks/" + wid + "/ping", Json::object(), a.session);
  ASSERT_EQ(ping.status, 202) << ping.body;
  // The receiver fails 3 times; the ping arrives after the retries, signed.
  ASSERT_TRUE(PollUntil([&] { return rx.count() >= 1; }, std::chrono::seconds(10)));
  for (double wait : {60.0, 300.0, 900.0}) {
    size_t before = rx.count();
    s_->Advance(wait);
    ASSERT_TRUE(PollUntil([&] { return rx.count() > before; }, std::chrono::seconds(10)));
  }
  auto seen = rx.seen();
  ASSERT_EQ(seen.size(), 4u);
  auto body = Json::parse(seen[3].body);
  EXPECT_EQ(body["type"], "webhook.ping");
  EXPECT_EQ(body["organization_id"], a.org_id);
  EXPECT_TRUE(partner::VerifyWebhookSignature(seen[3].sig, sub.json["secret"].get<std::string>(),
                                              seen[3].body,
                                              core::FromUnixSeconds(std::stoll(Now()))));
  auto attempts = s_->Call(
      "GET",
      base + "/webhook-deliveries/" + ping.json["delivery_id"].get<std::string>() + "/attempts",
      nullptr, a.session);
  ASSERT_EQ(attempts.status, 200) << attempts.body;
  EXPECT_EQ(attempts.json["items"].size(), 4u);
  // Another organization sees none of it.
  auto b = s_->SignUp("nohooks@org.example", "Other org");
  EXPECT_EQ(s_->Call("GET", base + "/webhooks", nullptr, b.session).status, 404);
  EXPECT_EQ(
      s_->Call("GET", "/api/v1/organizations/" + b.org_id + "/webhooks/" + wid + "/deliveries",
               nullptr, b.session)
          .status,
      404);
}

// Events other modules record in their own transactions (core/events.h) reach the organization's
// webhook subscriptions: invoice.issued from the billing run, invoice.paid from a payment,
// organization.suspended from an operator's suspension; each signed, each once.
TEST_F(PartnerApi, BillingAndSuspensionEventsReachOrganizationWebhooks) {
  Receiver rx(0);
  auto a = s_->SignUp("events@org.example", "Evented org");
  const std::string base = "/api/v1/organizations/" + a.org_id;
  auto sub = s_->Call("POST", base + "/webhooks",
                      {{"url", rx.Url()},
                       {"events", {"invoice.issued", "invoice.paid", "organization.suspended"}}},
                      a.session);
  ASSERT_EQ(sub.status, 201) << sub.body;
  const std::string secret = sub.json["secret"];
  ASSERT_EQ(s_->Call("POST", "/api/v1/admin/billing/products",
                     {{"code", "ev-plan"}, {"kind", "shared_plan"}, {"name", "Event plan"}}, Staff())
                .status,
            201);
  ASSERT_EQ(
      s_->Call("POST", "/api/v1/admin/billing/products/ev-plan/prices", {{"price", 1000}}, Staff())
          .status,
      201);
  ASSERT_EQ(s_->Call("POST", base + "/subscriptions", {{"product", "ev-plan"}}, a.session).status,
            201);
  ASSERT_EQ(s_->Call("POST", "/api/v1/admin/billing/runs", Json::object(), Staff()).status, 202);
  auto of_type = [&](const std::string& type) {
    std::vector<Json> out;
    for (const auto& seen : rx.seen()) {
      Json b = Json::parse(seen.body);
      if (b["type"] == type) {
        EXPECT_TRUE(partner::VerifyWebhookSignature(seen.sig, secret, seen.body,
                                                    core::FromUnixSeconds(std::stoll(Now()))))
            << type;
        out.push_back(b);
      }
    }
    return out;
  };
  ASSERT_TRUE(PollUntil([&] { return of_type("invoice.issued").size() == 1; },
                        std::chrono::seconds(15)));
  const Json issued = of_type("invoice.issued")[0];
  EXPECT_EQ(issued["organization_id"], a.org_id);
  const std::string invoice = issued["data"]["invoice_id"];
  const int64_t total = issued["data"]["total"];
  EXPECT_GE(total, 1100);  // at least a month of ¥1,000 + 10% consumption tax
  EXPECT_FALSE(issued["data"]["number"].get<std::string>().empty());
  auto paid = s_->Call("POST",
                       "/api/v1/admin/billing/organizations/" + a.org_id + "/invoices/" + invoice +
                           "/bank-transfers",
                       {{"amount", total}, {"reference", "MUFG 0001"}}, Staff());
  ASSERT_EQ(paid.status, 201) << paid.body;
  ASSERT_TRUE(
      PollUntil([&] { return of_type("invoice.paid").size() == 1; }, std::chrono::seconds(15)));
  EXPECT_EQ(of_type("invoice.paid")[0]["data"]["invoice_id"], invoice);
  EXPECT_EQ(of_type("invoice.paid")[0]["data"]["amount_paid"], total);
  ASSERT_EQ(s_->Call("POST", "/api/v1/admin/organizations/" + a.org_id + "/suspend",
                     {{"reason", "abuse report"}}, Staff())
                .status,
            200);
  ASSERT_TRUE(PollUntil([&] { return of_type("organization.suspended").size() == 1; },
                        std::chrono::seconds(15)));
  EXPECT_EQ(of_type("organization.suspended")[0]["organization_id"], a.org_id);
  // A second suspension of a suspended organization is not a new event.
  ASSERT_EQ(s_->Call("POST", "/api/v1/admin/organizations/" + a.org_id + "/suspend",
                     Json::object(), Staff())
                .status,
            200);
  auto deliveries =
      s_->Call("GET", base + "/webhooks/" + sub.json["id"].get<std::string>() + "/deliveries",
               nullptr, a.session);
  ASSERT_EQ(deliveries.status, 200) << deliveries.body;
  EXPECT_EQ(deliveries.json["items"].size(), 3u) << deliveries.body;
}

// Provisioning outcomes reach the organization's webhooks: a VPS that comes up sends
// service.provisioned, one whose template volume the host lacks sends service.failed.
TEST_F(PartnerApi, ServiceProvisionedAndFailedEventsReachOrganizationWebhooks) {
  Receiver rx(0);
  auto a = s_->SignUp("svc-events@org.example", "Service evented org");
  const std::string base = "/api/v1/organizations/" + a.org_id;
  auto sub = s_->Call("POST", base + "/webhooks",
                      {{"url", rx.Url()}, {"events", {"service.provisioned", "service.failed"}}},
                      a.session);
  ASSERT_EQ(sub.status, 201) << sub.body;
  const std::string secret = sub.json["secret"];
  ASSERT_EQ(s_->Call("POST", "/api/v1/admin/templates",
                     {{"name", "no-volume"}, {"volume", "absent-image.qcow2"}, {"min_disk_gib", 1}},
                     Staff())
                .status,
            201);
  const Json plan = {{"vcpus", 1}, {"ram_mib", 512}, {"disk_gib", 5}};
  auto ok = s_->Call("POST", base + "/vps",
                     {{"hostname", "up.svc.example"}, {"template", "tiny"}, {"plan", plan}},
                     a.session);
  ASSERT_EQ(ok.status, 202) << ok.body;
  const std::string ok_id = ok.json["vps"]["id"];
  auto bad = s_->Call("POST", base + "/vps",
                      {{"hostname", "down.svc.example"}, {"template", "no-volume"}, {"plan", plan}},
                      a.session);
  ASSERT_EQ(bad.status, 202) << bad.body;
  const std::string bad_id = bad.json["vps"]["id"];
  auto of_type = [&](const std::string& type) {
    std::vector<Json> out;
    for (const auto& seen : rx.seen()) {
      Json b = Json::parse(seen.body);
      if (b["type"] == type) {
        EXPECT_TRUE(partner::VerifyWebhookSignature(seen.sig, secret, seen.body,
                                                    core::FromUnixSeconds(std::stoll(Now()))))
            << type;
        out.push_back(b);
      }
    }
    return out;
  };
  ASSERT_TRUE(PollUntil([&] { return of_type("service.provisioned").size() == 1; },
                        std::chrono::seconds(30)));
  const Json up = of_type("service.provisioned")[0];
  EXPECT_EQ(up["organization_id"], a.org_id);
  EXPECT_EQ(up["data"]["service"], "vps");
  EXPECT_EQ(up["data"]["id"], ok_id);
  EXPECT_EQ(up["data"]["hostname"], "up.svc.example");
  EXPECT_EQ(s_->Call("GET", base + "/vps/" + ok_id, nullptr, a.session).json["state"], "running");
  ASSERT_TRUE(PollUntil([&] { return of_type("service.failed").size() == 1; },
                        std::chrono::seconds(30)));
  const Json down = of_type("service.failed")[0];
  EXPECT_EQ(down["organization_id"], a.org_id);
  EXPECT_EQ(down["data"]["service"], "vps");
  EXPECT_EQ(down["data"]["id"], bad_id);
  EXPECT_NE(down["data"]["error"].get<std::string>().find("absent-image.qcow2"), std::string::npos)
      << down.dump();
  EXPECT_EQ(s_->Call("GET", base + "/vps/" + bad_id, nullptr, a.session).json["state"], "failed");
  // Each outcome once: the successful VPS never sends service.failed and vice versa.
  EXPECT_EQ(of_type("service.provisioned").size(), 1u);
  EXPECT_EQ(of_type("service.failed").size(), 1u);

  // A site and a dedicated server send service.provisioned when they come up.
  auto site = s_->Call("POST", base + "/sites", {{"domain", "svc-events.example"}}, a.session);
  ASSERT_EQ(site.status, 202) << site.body;
  const std::string site_id = site.json["site"]["id"];
  auto metal = s_->Call("POST", base + "/dedicated", {{"hostname", "metal-ev"}, {"template", "tiny"}},
                        a.session);
  ASSERT_EQ(metal.status, 202) << metal.body;
  const std::string metal_id = metal.json["server"]["id"];
  ASSERT_TRUE(PollUntil([&] { return of_type("service.provisioned").size() == 3; },
                        std::chrono::seconds(30)));
  std::map<std::string, Json> by_service;
  for (const Json& e : of_type("service.provisioned")) by_service[e["data"]["service"]] = e["data"];
  EXPECT_EQ(by_service["site"]["id"], site_id);
  EXPECT_EQ(by_service["site"]["domain"], "svc-events.example");
  EXPECT_EQ(by_service["dedicated"]["id"], metal_id);
  EXPECT_EQ(by_service["dedicated"]["hostname"], "metal-ev");
  EXPECT_EQ(s_->Call("GET", base + "/sites/" + site_id, nullptr, a.session).json["state"], "active");
  EXPECT_EQ(s_->Call("GET", base + "/dedicated/" + metal_id, nullptr, a.session).json["state"],
            "active");
  EXPECT_EQ(of_type("service.failed").size(), 1u);
}

// /partner/v1 writes honour Idempotency-Key (the same answer again, another request with the
// key refused) and each partner is rate limited (429 + Retry-After).
TEST_F(PartnerApi, IdempotencyKeyReplaysAndRateLimitAnswers429) {
  Key k = NewPartner("Idempotent Reseller", "reseller");
  auto first = P(k, "POST", "/partner/v1/customers", {{"name", "Once KK"}},
                 {.headers = {"Idempotency-Key: order-42"}});
  ASSERT_EQ(first.status, 201) << first.body;
  // A retry is signed again (a later timestamp: the same signature would be a replay).
  auto again = P(k, "POST", "/partner/v1/customers", {{"name", "Once KK"}},
                 {.skew = 1, .headers = {"Idempotency-Key: order-42"}});
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.json["id"], first.json["id"]);
  EXPECT_EQ(again.headers["idempotent-replayed"], "true");
  auto other = P(k, "POST", "/partner/v1/customers", {{"name", "Twice KK"}},
                 {.headers = {"Idempotency-Key: order-42"}});
  EXPECT_EQ(other.status, 409) << other.body;
  EXPECT_EQ(other.json["field"], "Idempotency-Key");
  auto list = P(k, "GET", "/partner/v1/customers");
  EXPECT_EQ(list.json["items"].size(), 1u) << list.body;  // one customer, not two

  int status = 0;
  Reply last;
  for (int i = 0; i < 600 && status != 429; ++i) {
    last = P(k, "GET", "/partner/v1/partner?n=" + std::to_string(i));  // distinct signatures
    status = last.status;
  }
  ASSERT_EQ(status, 429) << "no rate limit within 600 requests";
  EXPECT_GE(std::stoi(last.headers["retry-after"]), 1);
  // Another partner is not affected.
  EXPECT_EQ(P(*reseller_b_, "GET", "/partner/v1/partner").status, 200);
}

// Two simultaneous first requests with the same Idempotency-Key run the write once: the key is
// reserved before the write, so the other request is answered with the original (replayed) or
// with 409 "still in progress", never with a second customer.
TEST_F(PartnerApi, ConcurrentFirstRequestsWithOneIdempotencyKeyCreateOneCustomer) {
  Key k = NewPartner("Racing Reseller", "reseller");
  constexpr int kRounds = 8;
  int in_progress = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string key = "race-" + std::to_string(round);
    const Json body = {{"name", "Race KK " + std::to_string(round)}};
    std::atomic<int> ready{0};
    Reply replies[2];
    // Different timestamps from one reading of the clock: the same signature twice would be
    // refused as a replay (two readings, one each side of a second's boundary, could coincide).
    const int64_t base = std::stoll(Now());
    auto send = [&](int i) {
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }  // start both requests together
      replies[i] = P(k, "POST", "/partner/v1/customers", body,
                     {.headers = {"Idempotency-Key: " + key},
                      .replay_timestamp = std::to_string(base + i)});
    };
    std::thread a(send, 0), b(send, 1);
    a.join();
    b.join();
    std::set<std::string> ids;
    for (const Reply& r : replies) {
      if (r.status == 201) {
        ids.insert(r.json.value("id", ""));
      } else {
        EXPECT_EQ(r.status, 409) << r.body;
        EXPECT_EQ(r.json.value("field", ""), "Idempotency-Key") << r.body;
        EXPECT_NE(r.body.find("still in progress"), std::string::npos) << r.body;
        ++in_progress;
      }
    }
    EXPECT_EQ(ids.size(), 1u) << "round " << round << ": " << replies[0].body << " / "
                              << replies[1].body;
    // A retry after both answered replays the original.
    auto again = P(k, "POST", "/partner/v1/customers", body,
                   {.skew = 2, .headers = {"Idempotency-Key: " + key}});
    EXPECT_EQ(again.status, 201) << again.body;
    EXPECT_EQ(again.headers["idempotent-replayed"], "true");
    if (!ids.empty()) {
      EXPECT_EQ(again.json.value("id", ""), *ids.begin());
    }
  }
  auto list = P(k, "GET", "/partner/v1/customers?limit=200");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.json["items"].size(), static_cast<size_t>(kRounds)) << list.body;
  std::fprintf(stderr, "idempotency race: %d of %d rounds answered 409 in progress\n",
               in_progress, kRounds);
}

// A key reserved by a request still running is answered 409 "still in progress" (naming the
// field); a reservation older than 5 minutes (its request crashed) is taken over.
TEST_F(PartnerApi, PendingIdempotencyKeyIs409UntilItsReservationTimesOut) {
  Key k = NewPartner("Pending Reseller", "reseller");
  const Json body = {{"name", "Pending KK"}};
  const auto server_now = std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(
                              std::chrono::duration<double>(s_->offset()));
  {
    SQLite::Database db(s_->var() + "/hostplane.db", SQLite::OPEN_READWRITE, 5000);
    SQLite::Statement q(db,
                        "INSERT INTO partner_idempotency(partner_id, idem_key, method, path, "
                        "body_sha256, status, content_type, location, body, created_at) "
                        "VALUES (?, 'held-1', 'POST', '/partner/v1/customers', ?, 0, '', '', '', "
                        "?)");
    q.bind(1, k.partner_id);
    q.bind(2, core::HexEncode(core::AsBytes(core::ossl::Sha256(body.dump()))));
    q.bind(3, static_cast<int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       server_now.time_since_epoch())
                                       .count()));
    q.exec();
  }
  auto busy = P(k, "POST", "/partner/v1/customers", body,
                {.headers = {"Idempotency-Key: held-1"}});
  EXPECT_EQ(busy.status, 409) << busy.body;
  EXPECT_EQ(busy.json.value("field", ""), "Idempotency-Key") << busy.body;
  EXPECT_NE(busy.body.find("still in progress"), std::string::npos) << busy.body;
  // Another request under the reserved key is the usual conflict.
  auto other = P(k, "POST", "/partner/v1/customers", {{"name", "Other KK"}},
                 {.headers = {"Idempotency-Key: held-1"}});
  EXPECT_EQ(other.status, 409) << other.body;
  EXPECT_NE(other.body.find("another request"), std::string::npos) << other.body;
  EXPECT_EQ(P(k, "GET", "/partner/v1/customers").json["items"].size(), 0u);

  s_->Advance(6 * 60);  // past the 5-minute reservation timeout
  auto taken = P(k, "POST", "/partner/v1/customers", body,
                 {.headers = {"Idempotency-Key: held-1"}});
  ASSERT_EQ(taken.status, 201) << taken.body;
  EXPECT_EQ(taken.headers.count("idempotent-replayed"), 0u);
  auto again = P(k, "POST", "/partner/v1/customers", body,
                 {.skew = 1, .headers = {"Idempotency-Key: held-1"}});
  EXPECT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(again.headers["idempotent-replayed"], "true");
  EXPECT_EQ(again.json["id"], taken.json["id"]);
  EXPECT_EQ(P(k, "GET", "/partner/v1/customers").json["items"].size(), 1u);
}

// Subscriptions, invoices and usage of a reseller's customer through the billing library, and an
// agency's commission statement from the billing module.
TEST_F(PartnerApi, SubscriptionsInvoicesUsageAndCommissionStatements) {
  Key k = NewPartner("Billing Reseller", "reseller");
  auto staff_org = s_->SignUp("billing-owner@reseller.example", "Reseller own org");
  ASSERT_EQ(s_->Call("POST", "/api/v1/admin/billing/products",
                     {{"code", "pv1-plan"}, {"kind", "shared_plan"}, {"name", "PV1 plan"}}, Staff())
                .status,
            201);
  ASSERT_EQ(
      s_->Call("POST", "/api/v1/admin/billing/products/pv1-plan/prices", {{"price", 1000}}, Staff())
          .status,
      201);
  ASSERT_EQ(s_->Call("PUT", "/api/v1/admin/billing/partners/" + k.partner_id,
                     {{"billing_organization_id", staff_org.org_id},
                      {"invoice_prefix", "BR"},
                      {"issuer",
                       {{"name", "Billing Reseller KK"},
                        {"registration_number", "T1111111111111"},
                        {"address", "Osaka"}}}},
                     Staff())
                .status,
            200);
  const std::string c = NewCustomer(k, "Subscribed KK");
  const std::string base = "/partner/v1/customers/" + c;
  // The reseller sets its own sell price (a new version today) and sees its customer's price.
  auto sp = P(k, "POST", "/partner/v1/sell-prices", {{"product", "pv1-plan"}, {"price", 2000}});
  ASSERT_EQ(sp.status, 201) << sp.body;
  EXPECT_EQ(P(k, "POST", "/partner/v1/sell-prices", {{"product", "pv1-plan"}, {"price", -1}})
                .json["field"],
            "price");
  auto price = P(k, "GET", base + "/prices?product=pv1-plan");
  ASSERT_EQ(price.status, 200) << price.body;
  EXPECT_EQ(price.json["price"], 2000);
  EXPECT_EQ(price.json["wholesale_price"], 1000);
  EXPECT_EQ(P(*agency_, "POST", "/partner/v1/sell-prices", {{"product", "pv1-plan"}, {"price", 5}})
                .status,
            403);
  auto sub = P(k, "POST", base + "/subscriptions", {{"product", "pv1-plan"}},
               {.headers = {"Idempotency-Key: sub-1"}});
  ASSERT_EQ(sub.status, 201) << sub.body;
  EXPECT_EQ(sub.json["product"], "pv1-plan");
  EXPECT_EQ(sub.json["period_price"], 2000);  // the reseller's sell price
  EXPECT_EQ(P(k, "POST", base + "/subscriptions", {{"product", "no-such"}}).status, 404);
  auto list = P(k, "GET", base + "/subscriptions");
  ASSERT_EQ(list.json["items"].size(), 1u) << list.body;
  EXPECT_EQ(P(k, "GET", base + "/invoices").status, 200);
  EXPECT_EQ(P(k, "GET", base + "/usage").status, 200);
  auto cancel =
      P(k, "POST", base + "/subscriptions/" + sub.json["id"].get<std::string>() + "/cancel",
        Json::object());
  ASSERT_EQ(cancel.status, 200) << cancel.body;
  EXPECT_EQ(cancel.json["cancel_at_period_end"], true);
  // Another reseller cannot see or change them.
  EXPECT_EQ(P(*reseller_a_, "GET", base + "/subscriptions").status, 404);
  EXPECT_EQ(P(*agency_, "GET", base + "/invoices").status, 403);

  ASSERT_EQ(s_->Call("PUT", "/api/v1/admin/billing/partners/" + agency_->partner_id,
                     {{"commission_bp", 1000}}, Staff())
                .status,
            200);
  auto st = P(*agency_, "GET", "/partner/v1/commission-statements?month=2026-11");
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_EQ(st.json["month"], "2026-11");
  EXPECT_EQ(st.json["net"], 0);
  auto csv = P(*agency_, "GET", "/partner/v1/commission-statements?format=csv&month=2026-11");
  EXPECT_EQ(csv.status, 200);
  EXPECT_NE(csv.headers["content-type"].find("text/csv"), std::string::npos);
  EXPECT_EQ(P(*agency_, "GET", "/partner/v1/commission-statements?month=2026-13").json["field"],
            "month");
  EXPECT_EQ(P(k, "GET", "/partner/v1/commission-statements?month=2026-11").status, 403);
}

// A reseller hosts a zone for its customer and sees the customer's services through the same
// services /api/v1 uses; the customer's own user sees the zone too; another reseller sees nothing.
TEST_F(PartnerApi, CustomerServicesThroughThePartnerApi) {
  Key k = NewPartner("Services Reseller", "reseller");
  const std::string c = NewCustomer(k, "Zoned KK");
  auto z = P(k, "POST", "/partner/v1/customers/" + c + "/zones", {{"name", "zoned-kk.example"}});
  ASSERT_EQ(z.status, 201) << z.body;
  auto svc = P(k, "GET", "/partner/v1/customers/" + c + "/services");
  ASSERT_EQ(svc.status, 200) << svc.body;
  ASSERT_EQ(svc.json["zones"].size(), 1u) << svc.body;
  EXPECT_EQ(svc.json["zones"][0]["name"], "zoned-kk.example.");
  EXPECT_EQ(svc.json["sites"], Json::array());
  EXPECT_EQ(svc.json["vps"], Json::array());
  EXPECT_EQ(svc.json["certificates"], Json::array());
  EXPECT_EQ(P(*reseller_a_, "GET", "/partner/v1/customers/" + c + "/services").status, 404);
  EXPECT_EQ(P(*agency_, "GET", "/partner/v1/customers/" + c + "/services").status, 403);
  auto audit = s_->Call("GET", "/api/v1/admin/audit-events?organization=" + c + "&limit=50",
                        nullptr, Staff());
  EXPECT_NE(audit.body.find("partner.zone.create"), std::string::npos);
}

// A reseller orders a site and a VPS for its customer over /partner/v1 (202 + an operation it can
// read), sees them in the customer's services and in the customer's own /api/v1 listing; another
// reseller gets 404, an agency 403; the orders are audited as the partner for the customer.
TEST_F(PartnerApi, ResellerOrdersSiteVpsForItsCustomerThroughSignedApi) {
  Key k = NewPartner("Ordering Reseller", "reseller");
  const std::string c = NewCustomer(k, "Orders KK");
  const std::string cb = "/partner/v1/customers/" + c;
  auto wait = [&](const Reply& r) {
    const std::string url = r.json["operation"].value("url", "");
    EXPECT_EQ(url.rfind(cb + "/operations/", 0), 0u) << r.body;
    std::string state;
    EXPECT_TRUE(PollUntil(
        [&] {
          state = P(k, "GET", url).json.value("state", "");
          return state == "succeeded" || state == "failed";
        },
        std::chrono::seconds(30)))
        << r.body;
    EXPECT_EQ(state, "succeeded") << url;
  };

  // A site, with an Idempotency-Key: the retry is answered once (same site, replayed).
  auto site = P(k, "POST", cb + "/sites", {{"domain", "orders-kk.example"}},
                {.headers = {"Idempotency-Key: site-order-1"}});
  ASSERT_EQ(site.status, 202) << site.body;
  EXPECT_EQ(site.headers["location"], site.json["operation"]["url"]);
  const std::string site_id = site.json["site"].value("id", "");
  auto again = P(k, "POST", cb + "/sites", {{"domain", "orders-kk.example"}},
                 {.skew = 1, .headers = {"Idempotency-Key: site-order-1"}});
  EXPECT_EQ(again.status, 202) << again.body;
  EXPECT_EQ(again.headers["idempotent-replayed"], "true");
  EXPECT_EQ(again.json["site"]["id"], site_id);
  wait(site);

  // A VPS by plan and image; bad input names the field, as on /api/v1.
  auto bad = P(k, "POST", cb + "/vps", {{"hostname", "orders-vm"}, {"template", "tiny"}});
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(bad.json["field"], "plan");
  auto vps = P(k, "POST", cb + "/vps",
               {{"hostname", "orders-vm"},
                {"template", "tiny"},
                {"plan", {{"vcpus", 1}, {"ram_mib", 512}, {"disk_gib", 2}}}});
  ASSERT_EQ(vps.status, 202) << vps.body;
  const std::string vps_id = vps.json["vps"].value("id", "");
  wait(vps);

  // A second name on the site (AutoSSL takes it from there).
  auto dom =
      P(k, "POST", cb + "/sites/" + site_id + "/domains", {{"domain", "shop.orders-kk.example"}});
  ASSERT_EQ(dom.status, 202) << dom.body;
  wait(dom);

  // The partner's view of the customer's services.
  auto svc = P(k, "GET", cb + "/services");
  ASSERT_EQ(svc.status, 200) << svc.body;
  ASSERT_EQ(svc.json["sites"].size(), 1u) << svc.body;
  EXPECT_EQ(svc.json["sites"][0]["id"], site_id);
  EXPECT_EQ(svc.json["sites"][0]["state"], "active") << svc.body;
  ASSERT_EQ(svc.json["vps"].size(), 1u) << svc.body;
  EXPECT_EQ(svc.json["vps"][0]["id"], vps_id);
  EXPECT_EQ(svc.json["vps"][0]["state"], "running") << svc.body;

  // The customer's own /api/v1 listing shows the same (read by the partner's owner acting as a
  // partner operator of the customer organization).
  auto owner = s_->SignUp("owner@ordering-reseller.example", "Ordering owner org");
  ASSERT_EQ(s_->Call("POST", "/api/v1/admin/partners/" + k.partner_id + "/members",
                     {{"email", owner.email}, {"role", "owner"}}, Staff())
                .status,
            201);
  auto own_sites = s_->Call("GET", "/api/v1/organizations/" + c + "/sites", nullptr, owner.session);
  ASSERT_EQ(own_sites.status, 200) << own_sites.body;
  ASSERT_EQ(own_sites.json["items"].size(), 1u);
  EXPECT_EQ(own_sites.json["items"][0]["id"], site_id);
  EXPECT_NE(own_sites.body.find("shop.orders-kk.example"), std::string::npos);
  auto own_vps = s_->Call("GET", "/api/v1/organizations/" + c + "/vps", nullptr, owner.session);
  ASSERT_EQ(own_vps.json["items"].size(), 1u) << own_vps.body;
  EXPECT_EQ(own_vps.json["items"][0]["id"], vps_id);
  // The operation is the customer's too.
  EXPECT_EQ(s_->Call("GET", vps.json["operation"].value("customer_url", ""), nullptr, owner.session)
                .json["state"],
            "succeeded");

  // The browser twin: the owner reboots the VPS; its operation URL is under /api/v1/partners.
  const std::string mb = "/api/v1/partners/" + k.partner_id + "/customers/" + c;
  auto reboot =
      s_->Call("POST", mb + "/vps/" + vps_id + "/actions/reboot", Json::object(), owner.session);
  ASSERT_EQ(reboot.status, 202) << reboot.body;
  const std::string rurl = reboot.json["operation"].value("url", "");
  EXPECT_EQ(rurl.rfind(mb + "/operations/", 0), 0u) << rurl;
  EXPECT_TRUE(PollUntil(
      [&] {
        return s_->Call("GET", rurl, nullptr, owner.session).json.value("state", "") == "succeeded";
      },
      std::chrono::seconds(30)));

  // Another reseller: the customer, its site and its operation do not exist (404).
  EXPECT_EQ(P(*reseller_b_, "POST", cb + "/sites", {{"domain", "stolen.example"}}).status, 404);
  EXPECT_EQ(P(*reseller_b_, "DELETE", cb + "/vps/" + vps_id).status, 404);
  EXPECT_EQ(P(*reseller_b_, "GET", site.json["operation"].value("url", "")).status, 404);
  // ... nor through its own customer with this customer's ids.
  const std::string b_cust = NewCustomer(*reseller_b_, "B orders KK");
  const std::string bb = "/partner/v1/customers/" + b_cust;
  EXPECT_EQ(P(*reseller_b_, "DELETE", bb + "/sites/" + site_id).status, 404);
  EXPECT_EQ(P(*reseller_b_, "POST", bb + "/vps/" + vps_id + "/actions/stop", Json::object()).status,
            404);
  EXPECT_EQ(
      P(*reseller_b_, "GET", bb + "/operations/" + vps.json["operation"].value("id", "")).status,
      404);
  // An agency has no API to customers' resources.
  EXPECT_EQ(P(*agency_, "POST", cb + "/vps",
              {{"hostname", "x"}, {"template", "tiny"}, {"plan", {{"vcpus", 1}}}})
                .status,
            403);

  // Delete the VPS over the signed API; it leaves the services list.
  auto del = P(k, "DELETE", cb + "/vps/" + vps_id);
  ASSERT_EQ(del.status, 202) << del.body;
  wait(del);
  svc = P(k, "GET", cb + "/services");
  for (const auto& v : svc.json["vps"]) EXPECT_NE(v["state"], "running") << svc.body;

  // Audited with the /api/v1 actions, as the partner's key, for the customer's organization.
  auto audit = s_->Call("GET", "/api/v1/admin/audit-events?organization=" + c + "&limit=100",
                        nullptr, Staff());
  ASSERT_EQ(audit.status, 200) << audit.body;
  std::set<std::string> actions;
  for (const auto& e : audit.json["items"])
    if (e.value("actor_type", "") == "partner" && e.value("actor_id", "") == k.id &&
        e.value("result", "") == "success")
      actions.insert(e.value("action", ""));
  for (const char* a : {"site.create", "vps.create", "site.domain.add", "vps.delete"})
    EXPECT_TRUE(actions.count(a)) << a << " not audited as the partner: " << audit.body;
}

// The portal's price list, sell prices, API keys, members and orders through the browser twin
// (/api/v1/partners/{partner}/...): owner/admin change, viewers read, every change audited.
TEST_F(PartnerApi, PortalPriceListSellPricesKeysMembersAndOrdersByRole) {
  Key k = NewPartner("Portal Reseller", "reseller");
  auto owner = s_->SignUp("owner@portal-reseller.example", "Portal owner org");
  auto viewer = s_->SignUp("viewer@portal-reseller.example", "Portal viewer org");
  const std::string base = "/api/v1/partners/" + k.partner_id;
  ASSERT_EQ(s_->Call("POST", "/api/v1/admin/partners/" + k.partner_id + "/members",
                     {{"email", owner.email}, {"role", "owner"}}, Staff())
                .status,
            201);
  ASSERT_EQ(s_->Call("POST", base + "/members", {{"email", viewer.email}, {"role", "viewer"}},
                     owner.session)
                .status,
            201);
  // Staff: a product at list ¥3,000/month, this partner's billing terms and wholesale ¥2,000.
  ASSERT_EQ(s_->Call("POST", "/api/v1/admin/billing/products",
                     {{"code", "pp-plan"}, {"kind", "shared_plan"}, {"name", "Portal plan"}},
                     Staff())
                .status,
            201);
  ASSERT_EQ(
      s_->Call("POST", "/api/v1/admin/billing/products/pp-plan/prices", {{"price", 3000}}, Staff())
          .status,
      201);
  ASSERT_EQ(s_->Call("PUT", "/api/v1/admin/billing/partners/" + k.partner_id,
                     {{"billing_organization_id", owner.org_id},
                      {"invoice_prefix", "PR"},
                      {"issuer",
                       {{"name", "Portal Reseller KK"},
                        {"registration_number", "T2222222222222"},
                        {"address", "Nagoya"}}}},
                     Staff())
                .status,
            200);
  auto wp = s_->Call("POST", "/api/v1/admin/billing/partners/" + k.partner_id + "/prices",
                     {{"kind", "wholesale"}, {"product", "pp-plan"}, {"price", 2000}}, Staff());
  ASSERT_EQ(wp.status, 201) << wp.body;
  auto item = [&](const Caller& who) {
    auto r = s_->Call("GET", base + "/price-list", nullptr, who);
    EXPECT_EQ(r.status, 200) << r.body;
    for (const auto& i : r.json["items"])
      if (i["product"] == "pp-plan" && i["period"] == "monthly") return i;
    ADD_FAILURE() << "pp-plan monthly not in " << r.body;
    return Json();
  };
  Json row = item(viewer.session);  // viewers read the price list
  EXPECT_EQ(row["list_price"], 3000);
  EXPECT_EQ(row["wholesale_price"], 2000);
  EXPECT_TRUE(row["sell"].is_null());
  EXPECT_TRUE(row["margin"].is_null());
  // Viewers may not set prices; below wholesale, past dates and unknown products name the field.
  EXPECT_EQ(s_->Call("POST", base + "/sell-prices", {{"product", "pp-plan"}, {"price", 2500}},
                     viewer.session)
                .status,
            403);
  auto low = s_->Call("POST", base + "/sell-prices", {{"product", "pp-plan"}, {"price", 1999}},
                      owner.session);
  EXPECT_EQ(low.status, 400) << low.body;
  EXPECT_EQ(low.json["field"], "price");
  EXPECT_NE(low.json["detail"].get<std::string>().find("2000"), std::string::npos) << low.body;
  EXPECT_EQ(s_->Call("POST", base + "/sell-prices",
                     {{"product", "pp-plan"}, {"price", 2500}, {"effective_from", "2001-01-01"}},
                     owner.session)
                .json["field"],
            "effective_from");
  EXPECT_EQ(s_->Call("POST", base + "/sell-prices", {{"product", "pp-plan"}, {"price", "2500"}},
                     owner.session)
                .json["field"],
            "price");
  auto set = s_->Call("POST", base + "/sell-prices", {{"product", "pp-plan"}, {"price", 2600}},
                      owner.session);
  ASSERT_EQ(set.status, 201) << set.body;
  auto later = s_->Call(
      "POST", base + "/sell-prices",
      {{"product", "pp-plan"}, {"price", 2800}, {"effective_from", "2099-04-01"}}, owner.session);
  ASSERT_EQ(later.status, 201) << later.body;
  row = item(owner.session);
  EXPECT_EQ(row["sell"]["price"], 2600);
  EXPECT_EQ(row["margin"], 600);
  EXPECT_EQ(row["next_sell"]["price"], 2800);
  EXPECT_EQ(row["next_sell"]["effective_from"], "2099-04-01");
  // The sell price is what the customer pays; the order shows up in the partner's orders.
  auto c = s_->Call("POST", base + "/customers", {{"name", "Orders KK"}}, owner.session);
  ASSERT_EQ(c.status, 201) << c.body;
  auto sub = s_->Call("POST", base + "/customers/" + c.json["id"].get<std::string>() +
                                  "/subscriptions",
                      {{"product", "pp-plan"}}, owner.session);
  ASSERT_EQ(sub.status, 201) << sub.body;
  EXPECT_EQ(sub.json["period_price"], 2600);
  auto orders = s_->Call("GET", base + "/orders", nullptr, viewer.session);
  ASSERT_EQ(orders.status, 200) << orders.body;
  ASSERT_EQ(orders.json["items"].size(), 1u) << orders.body;
  EXPECT_EQ(orders.json["items"][0]["customer"]["name"], "Orders KK");
  EXPECT_EQ(orders.json["items"][0]["product"], "pp-plan");
  EXPECT_EQ(P(*reseller_a_, "GET", "/partner/v1/orders").json["items"].size(), 0u);
  EXPECT_EQ(P(*agency_, "GET", "/partner/v1/orders").status, 403);
  // Agencies see list prices and their commission rate only.
  ASSERT_EQ(s_->Call("PUT", "/api/v1/admin/billing/partners/" + agency_->partner_id,
                     {{"commission_bp", 1000}}, Staff())
                .status,
            200);
  auto ag = P(*agency_, "GET", "/partner/v1/price-list");
  ASSERT_EQ(ag.status, 200) << ag.body;
  EXPECT_EQ(ag.json["commission_bp"], 1000);
  ASSERT_FALSE(ag.json["items"].empty());
  for (const auto& i : ag.json["items"]) {
    EXPECT_TRUE(i.contains("list_price"));
    EXPECT_FALSE(i.contains("wholesale_price") || i.contains("sell") || i.contains("margin"))
        << i.dump();
  }

  // API keys: an admin creates one (secret once), it signs /partner/v1 calls, rotates, revokes.
  EXPECT_EQ(s_->Call("POST", base + "/keys", {{"name", "viewer key"}}, viewer.session).status, 403);
  auto nk = s_->Call("POST", base + "/keys", {{"name", "portal key"}}, owner.session);
  ASSERT_EQ(nk.status, 201) << nk.body;
  Key pk{nk.json["id"], nk.json["secret"], k.partner_id};
  EXPECT_FALSE(pk.secret.empty());
  EXPECT_EQ(P(pk, "GET", "/partner/v1/partner").json["id"], k.partner_id);
  auto keys = s_->Call("GET", base + "/keys", nullptr, viewer.session);
  ASSERT_EQ(keys.status, 200);
  bool listed = false;
  for (const auto& x : keys.json["items"]) {
    EXPECT_FALSE(x.contains("secret")) << x.dump();
    listed = listed || (x["id"] == pk.id && x["name"] == "portal key");
  }
  EXPECT_TRUE(listed) << keys.body;
  auto rot = s_->Call("POST", base + "/keys/" + pk.id + "/rotate", {{"overlap_seconds", 60}},
                      owner.session);
  ASSERT_EQ(rot.status, 201) << rot.body;
  Key rk{rot.json["id"], rot.json["secret"], k.partner_id};
  EXPECT_EQ(P(rk, "GET", "/partner/v1/partner").status, 200);
  EXPECT_EQ(s_->Call("DELETE", base + "/keys/" + rk.id, nullptr, viewer.session).status, 403);
  ASSERT_EQ(s_->Call("DELETE", base + "/keys/" + rk.id, nullptr, owner.session).status, 204);
  EXPECT_EQ(P(rk, "GET", "/partner/v1/partner").status, 401);
  // Another partner's key is not found through this partner.
  EXPECT_EQ(s_->Call("DELETE", base + "/keys/" + reseller_a_->id, nullptr, owner.session).status,
            404);

  // An address without an account gets an invitation (owner only); the invited person signs up,
  // accepts once with the mailed token, and is a member with the invited role.
  EXPECT_EQ(s_->Call("POST", base + "/members",
                     {{"email", "new-hire@portal-reseller.example"}, {"role", "admin"}},
                     viewer.session)
                .status,
            403);
  EXPECT_EQ(s_->Call("POST", base + "/members", {{"email", "not-an-address"}, {"role", "admin"}},
                     owner.session)
                .json["field"],
            "email");
  auto inv = s_->Call("POST", base + "/members",
                      {{"email", "new-hire@portal-reseller.example"}, {"role", "admin"}},
                      owner.session);
  ASSERT_EQ(inv.status, 202) << inv.body;
  EXPECT_EQ(inv.json["invitation"]["role"], "admin");
  auto pending = s_->Call("GET", base + "/members", nullptr, owner.session);
  ASSERT_EQ(pending.json["invitations"].size(), 1u) << pending.body;
  EXPECT_EQ(pending.json["invitations"][0]["email"], "new-hire@portal-reseller.example");
  const std::string itoken = ApiServer::TokenIn(
      s_->WaitMail("new-hire@portal-reseller.example", "invited to the partner Portal Reseller"));
  ASSERT_FALSE(itoken.empty());
  auto hire = s_->SignUp("new-hire@portal-reseller.example", "New hire own org");
  // Someone else signed in cannot use it; a wrong token names the field.
  auto wrong = s_->Call("POST", "/api/v1/partner-invitations/accept", {{"token", itoken}},
                        viewer.session);
  EXPECT_EQ(wrong.status, 403) << wrong.body;
  EXPECT_EQ(s_->Call("POST", "/api/v1/partner-invitations/accept", {{"token", "nope"}},
                     hire.session)
                .json["field"],
            "token");
  auto acc = s_->Call("POST", "/api/v1/partner-invitations/accept", {{"token", itoken}},
                      hire.session);
  ASSERT_EQ(acc.status, 200) << acc.body;
  EXPECT_EQ(acc.json["partner"]["id"], k.partner_id);
  EXPECT_EQ(s_->Call("GET", base, nullptr, hire.session).json["role"], "admin");
  EXPECT_EQ(
      s_->Call("POST", "/api/v1/partner-invitations/accept", {{"token", itoken}}, hire.session)
          .status,
      409);
  EXPECT_EQ(s_->Call("GET", base + "/members", nullptr, owner.session).json["invitations"].size(),
            0u);
  ASSERT_EQ(s_->Call("DELETE", base + "/members/" + hire.user_id, nullptr, owner.session).status,
            204);

  // Members: listed with roles, removed by the owner; a removed member no longer sees the partner.
  auto members = s_->Call("GET", base + "/members", nullptr, owner.session);
  ASSERT_EQ(members.status, 200);
  EXPECT_EQ(members.json["items"].size(), 2u) << members.body;
  ASSERT_EQ(
      s_->Call("DELETE", base + "/members/" + viewer.user_id, nullptr, owner.session).status, 204);
  EXPECT_EQ(s_->Call("GET", base, nullptr, viewer.session).status, 404);

  // Audited as the member who did it.
  for (const std::string a : {"partner.sell_price.set", "partner.key.create", "partner.key.rotate",
                               "partner.key.revoke", "partner.member.delete",
                               "partner.member.invite"}) {
    auto audit =
        s_->Call("GET", "/api/v1/admin/audit-events?limit=200&action=" + a, nullptr, Staff());
    bool seen = false;
    for (const auto& e : audit.json["items"])
      seen = seen || (e.value("actor_id", "") == owner.user_id && e.value("action", "") == a &&
                      e.value("partner_id", k.partner_id) == k.partner_id);
    EXPECT_TRUE(seen) << a << " not audited: " << audit.body.substr(0, 2000);
  }
}

// Issue 9 leftovers over /partner/v1: VPS snapshots (take, list, revert, delete), resize and
// rebuild; site suspend/unsuspend and an SFTP password reset; the same services and audit actions
// as the customer's own routes; another reseller gets 404 on each.
TEST_F(PartnerApi, VpsSnapshotsResizeRebuildAndSiteSuspendSftpResetThroughSignedApi) {
  Key k = NewPartner("Operating Reseller", "reseller");
  const std::string c = NewCustomer(k, "Operated KK");
  const std::string cb = "/partner/v1/customers/" + c;
  auto wait = [&](const Reply& r) {
    const std::string url = r.json["operation"].value("url", "");
    std::string state;
    EXPECT_TRUE(PollUntil(
        [&] {
          state = P(k, "GET", url).json.value("state", "");
          return state == "succeeded" || state == "failed";
        },
        std::chrono::seconds(60)))
        << r.body;
    EXPECT_EQ(state, "succeeded") << url << " " << P(k, "GET", url).body;
  };
  auto vps = P(k, "POST", cb + "/vps",
               {{"hostname", "operated-vm"},
                {"template", "tiny"},
                {"plan", {{"vcpus", 1}, {"ram_mib", 512}, {"disk_gib", 2}}}});
  ASSERT_EQ(vps.status, 202) << vps.body;
  const std::string vid = vps.json["vps"].value("id", "");
  wait(vps);
  const std::string vb = cb + "/vps/" + vid;

  // Snapshots: bad input names the field; take, list, revert, delete.
  EXPECT_EQ(P(k, "POST", vb + "/snapshots", Json::object()).json["field"], "name");
  auto snap = P(k, "POST", vb + "/snapshots", {{"name", "before-upgrade"}});
  ASSERT_EQ(snap.status, 202) << snap.body;
  wait(snap);
  auto list = P(k, "GET", vb + "/snapshots");
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.json["items"].size(), 1u) << list.body;
  EXPECT_EQ(list.json["items"][0]["name"], "before-upgrade");
  EXPECT_EQ(P(*reseller_b_, "GET", vb + "/snapshots").status, 404);
  auto revert = P(k, "POST", vb + "/snapshots/before-upgrade/revert", Json::object());
  ASSERT_EQ(revert.status, 202) << revert.body;
  wait(revert);
  auto sdel = P(k, "DELETE", vb + "/snapshots/before-upgrade");
  ASSERT_EQ(sdel.status, 202) << sdel.body;
  wait(sdel);
  EXPECT_EQ(P(k, "GET", vb + "/snapshots").json["items"].size(), 0u);

  // Resize (offline; the service stops and starts it) and rebuild.
  EXPECT_EQ(P(k, "POST", vb + "/actions/resize", Json::object()).json["field"], "plan");
  auto resize = P(k, "POST", vb + "/actions/resize",
                  {{"plan", {{"vcpus", 2}, {"ram_mib", 1024}, {"disk_gib", 3}}}});
  ASSERT_EQ(resize.status, 202) << resize.body;
  wait(resize);
  auto one = P(k, "GET", vb);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.json["plan"]["vcpus"], 2) << one.body;
  EXPECT_EQ(one.json["plan"]["ram_mib"], 1024) << one.body;
  EXPECT_EQ(one.json["plan"]["disk_gib"], 3) << one.body;
  EXPECT_EQ(P(*reseller_b_, "GET", vb).status, 404);
  EXPECT_EQ(P(k, "POST", vb + "/actions/rebuild", Json::object()).json["field"], "template");
  auto rebuild = P(k, "POST", vb + "/actions/rebuild", {{"template", "tiny"}});
  ASSERT_EQ(rebuild.status, 202) << rebuild.body;
  wait(rebuild);
  EXPECT_EQ(P(*reseller_b_, "POST", vb + "/actions/rebuild", {{"template", "tiny"}}).status, 404);

  // A site: suspend, unsuspend, SFTP password reset (shown once, not stored in the audit log).
  auto site = P(k, "POST", cb + "/sites", {{"domain", "operated-kk.example"}});
  ASSERT_EQ(site.status, 202) << site.body;
  const std::string sid = site.json["site"].value("id", "");
  wait(site);
  const std::string sb = cb + "/sites/" + sid;
  auto sus = P(k, "POST", sb + "/actions/suspend", Json::object());
  ASSERT_EQ(sus.status, 202) << sus.body;
  wait(sus);
  auto svc = P(k, "GET", cb + "/services");
  ASSERT_EQ(svc.json["sites"].size(), 1u) << svc.body;
  EXPECT_EQ(svc.json["sites"][0]["state"], "suspended") << svc.body;
  auto uns = P(k, "POST", sb + "/actions/unsuspend", Json::object());
  ASSERT_EQ(uns.status, 202) << uns.body;
  wait(uns);
  EXPECT_EQ(P(k, "GET", cb + "/services").json["sites"][0]["state"], "active");
  auto pw = P(k, "POST", sb + "/actions/reset-sftp-password", Json::object());
  ASSERT_EQ(pw.status, 200) << pw.body;
  const std::string password = pw.json.value("password", "");
  EXPECT_GE(password.size(), 16u) << pw.body;
  EXPECT_EQ(pw.json["sftp_user"], site.json["site"]["sftp_user"]);
  EXPECT_EQ(pw.headers["cache-control"], "no-store");
  EXPECT_EQ(P(*reseller_b_, "POST", sb + "/actions/suspend", Json::object()).status, 404);
  EXPECT_EQ(P(*agency_, "POST", sb + "/actions/reset-sftp-password", Json::object()).status, 403);

  // Audited with the customer routes' actions, as the partner's key, for the customer.
  auto audit = s_->Call("GET", "/api/v1/admin/audit-events?organization=" + c + "&limit=200",
                        nullptr, Staff());
  ASSERT_EQ(audit.status, 200) << audit.body;
  EXPECT_EQ(audit.body.find(password), std::string::npos) << "the SFTP password is in the log";
  std::set<std::string> actions;
  for (const auto& e : audit.json["items"])
    if (e.value("actor_type", "") == "partner" && e.value("actor_id", "") == k.id &&
        e.value("result", "") == "success")
      actions.insert(e.value("action", ""));
  for (const char* a : {"vps.snapshot.create", "vps.snapshot.revert", "vps.snapshot.delete",
                        "vps.resize", "vps.rebuild", "site.suspend", "site.unsuspend",
                        "site.sftp_password.reset"})
    EXPECT_TRUE(actions.count(a)) << a << " not audited as the partner: " << audit.body;
}

TEST_F(PartnerApi, CertificateRequestForACustomersSiteNameThroughSignedApiAndBrowserTwin) {
  Key k = NewPartner("Certificate Reseller", "reseller");
  const std::string c = NewCustomer(k, "Certified KK");
  const std::string cb = "/partner/v1/customers/" + c;
  auto site = P(k, "POST", cb + "/sites", {{"domain", "certified-kk.example"}});
  ASSERT_EQ(site.status, 202) << site.body;
  const std::string sid = site.json["site"].value("id", "");
  EXPECT_TRUE(PollUntil(
      [&] { return P(k, "GET", site.json["operation"].value("url", "")).json.value("state", "") ==
                   "succeeded"; },
      std::chrono::seconds(60)));
  const std::string req = cb + "/sites/" + sid + "/certificates";

  // Bad input names the field; only the site's own names.
  EXPECT_EQ(P(k, "POST", req, Json::object()).json["field"], "domain");
  auto other = P(k, "POST", req, {{"domain", "elsewhere.example"}});
  EXPECT_EQ(other.status, 400) << other.body;
  EXPECT_EQ(other.json["field"], "domain") << other.body;

  auto accepted = P(k, "POST", req, {{"domain", "certified-kk.example"}});
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  EXPECT_EQ(accepted.json["certificate"]["domain"], "certified-kk.example") << accepted.body;
  EXPECT_EQ(accepted.json["certificate"]["site_id"], sid) << accepted.body;
  EXPECT_EQ(accepted.json["certificate"]["status"], "pending") << accepted.body;
  EXPECT_EQ(accepted.headers["location"], cb + "/site-certificates");
  EXPECT_EQ(accepted.json["customer_url"], "/api/v1/organizations/" + c + "/certificates");

  // The customer's certificate list (status, expiry) over the signed API and the browser twin.
  auto list = P(k, "GET", cb + "/site-certificates");
  ASSERT_EQ(list.status, 200) << list.body;
  Json item;
  for (const auto& i : list.json["items"])
    if (i.value("domain", "") == "certified-kk.example") item = i;
  ASSERT_FALSE(item.is_null()) << list.body;
  EXPECT_EQ(item["site_id"], sid);
  EXPECT_TRUE(item.contains("status") && item.contains("not_after")) << item.dump();
  const std::set<std::string> states{"waiting", "pending", "issuing", "valid", "failed"};
  EXPECT_TRUE(states.count(item.value("status", ""))) << item.dump();

  // Tenancy: another reseller (also through its own customer) 404; an agency 403.
  EXPECT_EQ(P(*reseller_b_, "POST", req, {{"domain", "certified-kk.example"}}).status, 404);
  EXPECT_EQ(P(*reseller_b_, "GET", cb + "/site-certificates").status, 404);
  const std::string b_customer = NewCustomer(*reseller_b_, "B's own KK");
  auto through_own = P(*reseller_b_, "POST",
                       "/partner/v1/customers/" + b_customer + "/sites/" + sid + "/certificates",
                       {{"domain", "certified-kk.example"}});
  EXPECT_EQ(through_own.status, 404) << through_own.body;
  EXPECT_EQ(P(*agency_, "POST", req, {{"domain", "certified-kk.example"}}).status, 403);
  EXPECT_EQ(P(*agency_, "GET", cb + "/site-certificates").status, 403);

  // The browser twin for a partner admin.
  Staff();
  auto owner = s_->SignUp("cert-owner@reseller.example", "Cert Reseller Staff");
  auto add = s_->Call("POST", "/api/v1/admin/partners/" + k.partner_id + "/members",
                      {{"email", "cert-owner@reseller.example"}, {"role", "admin"}}, Staff());
  ASSERT_TRUE(add.status == 201 || add.status == 200) << add.body;
  const std::string twin = "/api/v1/partners/" + k.partner_id + "/customers/" + c;
  auto by_member = s_->Call("POST", twin + "/sites/" + sid + "/certificates",
                            {{"domain", "certified-kk.example"}}, owner.session);
  ASSERT_EQ(by_member.status, 202) << by_member.body;
  EXPECT_EQ(by_member.headers["location"], twin + "/site-certificates");
  auto twin_list = s_->Call("GET", twin + "/site-certificates", nullptr, owner.session);
  ASSERT_EQ(twin_list.status, 200) << twin_list.body;
  EXPECT_EQ(twin_list.json["items"].size(), list.json["items"].size()) << twin_list.body;

  // Audited with the customer route's action, as the partner's key and as the member.
  auto audit = s_->Call("GET", "/api/v1/admin/audit-events?organization=" + c + "&limit=200",
                        nullptr, Staff());
  ASSERT_EQ(audit.status, 200) << audit.body;
  bool by_key = false, by_user = false, failure = false;
  for (const auto& e : audit.json["items"]) {
    if (e.value("action", "") != "autossl.request") continue;
    if (e.value("result", "") == "failure") failure = true;
    if (e.value("result", "") != "success") continue;
    EXPECT_EQ(e.value("target", ""), "site:" + sid) << e.dump();
    if (e.value("actor_type", "") == "partner" && e.value("actor_id", "") == k.id) by_key = true;
    if (e.value("actor_type", "") == "user" && e.value("actor_id", "") == owner.user_id)
      by_user = true;
  }
  EXPECT_TRUE(by_key) << audit.body;
  EXPECT_TRUE(by_user) << audit.body;
  EXPECT_TRUE(failure) << "the refused name is audited as a failure: " << audit.body;
}

TEST_F(PartnerApi, AgencyMintsReferralCodesWithASignUpLink) {
  Key k = NewPartner("Referring Agency", "agency");
  auto none = P(k, "GET", "/partner/v1/referral-codes");
  ASSERT_EQ(none.status, 200) << none.body;
  EXPECT_EQ(none.json["items"].size(), 0u);
  auto early = P(k, "POST", "/partner/v1/referral-codes", Json::object());
  EXPECT_EQ(early.status, 409) << "no billing terms yet: " << early.body;
  ASSERT_EQ(s_->Call("PUT", "/api/v1/admin/billing/partners/" + k.partner_id,
                     {{"commission_bp", 500}}, Staff())
                .status,
            200);
  // (another body than the refused request's: the same signature within a second is a replay)
  auto minted = P(k, "POST", "/partner/v1/referral-codes", {{"for", "first customer"}});
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string code = minted.json.value("code", "");
  EXPECT_TRUE(std::regex_match(code, std::regex("REF-[A-Z2-7]{12}"))) << minted.body;
  EXPECT_EQ(minted.json["partner"], k.partner_id);
  const std::string link = minted.json.value("signup_url", "");
  EXPECT_NE(link.find("/app/#/signup?referral=" + code), std::string::npos) << link;

  // The staff route sees the same code (the same billing function).
  auto staff = s_->Call("GET", "/api/v1/admin/billing/partners/" + k.partner_id + "/referral-codes",
                        nullptr, Staff());
  ASSERT_EQ(staff.status, 200) << staff.body;
  ASSERT_EQ(staff.json["items"].size(), 1u) << staff.body;
  EXPECT_EQ(staff.json["items"][0]["code"], code);

  // A customer redeems it and is attributed to the agency; the list counts the redemption.
  auto cust = s_->SignUp("referred@customer.example", "Referred KK");
  auto redeem = s_->Call("POST", "/api/v1/organizations/" + cust.org_id + "/referral",
                         {{"code", code}}, cust.session);
  ASSERT_EQ(redeem.status, 201) << redeem.body;
  EXPECT_EQ(redeem.json["partner"], k.partner_id);

  // Browser twin: an admin member mints, a viewer only reads; not a member: 404.
  auto admin = s_->SignUp("ref-admin@agency.example", "Agency Staff");
  auto viewer = s_->SignUp("ref-viewer@agency.example", "Agency Viewer");
  for (const auto& [email, role] : std::vector<std::pair<std::string, std::string>>{
           {"ref-admin@agency.example", "admin"}, {"ref-viewer@agency.example", "viewer"}}) {
    auto add = s_->Call("POST", "/api/v1/admin/partners/" + k.partner_id + "/members",
                        {{"email", email}, {"role", role}}, Staff());
    ASSERT_TRUE(add.status == 201 || add.status == 200) << add.body;
  }
  const std::string twin = "/api/v1/partners/" + k.partner_id + "/referral-codes";
  auto by_admin = s_->Call("POST", twin, Json::object(), admin.session);
  ASSERT_EQ(by_admin.status, 201) << by_admin.body;
  EXPECT_NE(by_admin.json.value("code", ""), code);
  EXPECT_EQ(s_->Call("POST", twin, Json::object(), viewer.session).status, 403);
  auto seen = s_->Call("GET", twin, nullptr, viewer.session);
  ASSERT_EQ(seen.status, 200) << seen.body;
  ASSERT_EQ(seen.json["items"].size(), 2u) << seen.body;
  int64_t redemptions = 0;
  for (const auto& i : seen.json["items"]) {
    EXPECT_FALSE(i.value("signup_url", "").empty()) << i.dump();
    if (i.value("code", "") == code) redemptions = i.value("redemptions", int64_t{0});
  }
  EXPECT_EQ(redemptions, 1) << seen.body;
  EXPECT_EQ(s_->Call("GET", twin, nullptr, cust.session).status, 404);

  // Only agencies: resellers 403 over both ways in.
  EXPECT_EQ(P(*reseller_a_, "POST", "/partner/v1/referral-codes", Json::object()).status, 403);
  EXPECT_EQ(P(*reseller_a_, "GET", "/partner/v1/referral-codes").status, 403);

  // Audited as the key and as the member.
  auto audit = s_->Call("GET",
                        "/api/v1/admin/audit-events?action=partner.referral_code.create&limit=200",
                        nullptr, Staff());
  ASSERT_EQ(audit.status, 200) << audit.body;
  bool by_key = false, by_user = false;
  for (const auto& e : audit.json["items"]) {
    if (e.value("action", "") != "partner.referral_code.create" ||
        e.value("result", "") != "success")
      continue;
    if (e.value("target", "") == "referral_code:" + code && e.value("actor_id", "") == k.id)
      by_key = true;
    if (e.value("actor_type", "") == "user" && e.value("actor_id", "") == admin.user_id)
      by_user = true;
  }
  EXPECT_TRUE(by_key) << audit.body;
  EXPECT_TRUE(by_user) << audit.body;
}

}  // namespace
}  // namespace hp::testing
