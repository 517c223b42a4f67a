// Billing through `hostplane serve --dev` (issue 8): a customer orders, staff run billing, the
// qualified invoice (T-number, tax once per rate, gapless numbers) is paid by card through the
// simulated gateway and its signed webhook; an unpaid invoice walks through reminders (e-mails in
// var/mail) and suspension of the organization as the dev clock moves, and payment lifts it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <tuple>

#include "api_fixture.h"

namespace hp::testing {
namespace {

constexpr double kDay = 86400;

Caller CreateStaff(ApiServer& s) {
  TempDir d;
  WriteFile(d.path() + "/pw", "Staff password 77\n");
  auto [rc, out] = Run({HostplaneBinary(), "staff", "create", "--email", "billing-ops@hostplane.example", "--password-file", d.path() + "/pw", "--var", s.var()});
  EXPECT_EQ(rc, 0) << out;
  return s.SignIn("billing-ops@hostplane.example", "Staff password 77");
}

// A 10% hosting plan with a setup fee, a bigger plan, and an 8% (reduced rate) item.
void CreateCatalog(ApiServer& s, const Caller& staff) {
  const std::string base = "/api/v1/admin/billing/products";
  for (const auto& [code, kind, name, rate, price, setup] : std::vector<std::tuple<std::string, std::string, std::string, int, int, int>>{
           {"shared-s", "shared_plan", "Shared hosting S", 10, 1000, 500},
           {"shared-m", "shared_plan", "Shared hosting M", 10, 2000, 0},
           {"newsletter", "addon", "Printed newsletter", 8, 300, 0}}) {
    auto p = s.Call("POST", base, {{"code", code}, {"kind", kind}, {"name", name}, {"tax_rate", rate}}, staff);
    ASSERT_EQ(p.status, 201) << p.body;
    auto pr = s.Call("POST", base + "/" + code + "/prices", {{"period", "monthly"}, {"price", price}, {"setup_fee", setup}}, staff);
    ASSERT_EQ(pr.status, 201) << pr.body;
  }
}

// Staff run billing for the server's today and wait for the run to finish.
Json RunBilling(ApiServer& s, const Caller& staff) {
  auto run = s.Call("POST", "/api/v1/admin/billing/runs", Json::object(), staff);
  EXPECT_EQ(run.status, 202) << run.body;
  Json out;
  EXPECT_TRUE(PollUntil([&] {
    out = s.Call("GET", "/api/v1/admin/billing/runs/" + run.json.value("id", ""), nullptr, staff).json;
    return out.value("state", "") == "succeeded";
  }, std::chrono::seconds(10))) << out.dump();
  return out;
}

Json Invoices(ApiServer& s, const ApiServer::Account& a) {
  return s.Call("GET", "/api/v1/organizations/" + a.org_id + "/invoices", nullptr, a.session).json["items"];
}

TEST(BillingApi, OrderRunInvoiceAndPayByCardThroughTheSimulatedGateway) {
  ApiServer s({{"HOSTPLANE_BILLING_ISSUER_NAME", "Example Hosting K.K."},
               {"HOSTPLANE_BILLING_ISSUER_REGISTRATION_NUMBER", "T1234567890123"}});
  Caller staff = CreateStaff(s);
  ASSERT_FALSE(staff.cookie.empty());
  CreateCatalog(s, staff);
  auto a = s.SignUp("buyer@shop.example", "Buyer K.K.");
  auto b = s.SignUp("other@shop.example", "Other K.K.");
  const std::string org = "/api/v1/organizations/" + a.org_id;

  // The catalog shows the direct channel's list price.
  auto cat = s.Call("GET", org + "/catalog", nullptr, a.session);
  ASSERT_EQ(cat.status, 200) << cat.body;
  EXPECT_EQ(cat.json["channel"], "direct");
  bool found = false;
  for (const auto& p : cat.json["items"])
    if (p["code"] == "shared-s") {
      found = true;
      EXPECT_EQ(p["prices"][0]["price"], 1000);
      EXPECT_EQ(p["prices"][0]["setup_fee"], 500);
    }
  EXPECT_TRUE(found) << cat.body;

  auto sub = s.Call("POST", org + "/subscriptions", {{"product", "shared-s"}, {"period", "monthly"}}, a.session);
  ASSERT_EQ(sub.status, 201) << sub.body;
  EXPECT_EQ(sub.json["state"], "active");
  EXPECT_EQ(sub.headers["location"], org + "/subscriptions/" + sub.json["id"].get<std::string>());
  ASSERT_EQ(s.Call("POST", org + "/subscriptions", {{"product", "newsletter"}}, a.session).status, 201);
  auto bad = s.Call("POST", org + "/subscriptions", {{"product", "no-such-plan"}}, a.session);
  EXPECT_EQ(bad.status, 404) << bad.body;
  ASSERT_EQ(s.Call("POST", "/api/v1/organizations/" + b.org_id + "/subscriptions", {{"product", "shared-m"}}, b.session).status, 201);

  Json run = RunBilling(s, staff);
  EXPECT_EQ(run["result"]["date"], sub.json["current_period"]["start"]) << "staff run billing for the server's today: " << run.dump();

  // A's qualified invoice: T-number, 10% and 8% lines, tax once per rate.
  Json inv_a = Invoices(s, a);
  ASSERT_EQ(inv_a.size(), 1u) << inv_a.dump();
  Json inv = inv_a[0];
  EXPECT_EQ(inv["issuer"]["registration_number"], "T1234567890123");
  EXPECT_EQ(inv["issuer"]["name"], "Example Hosting K.K.");
  EXPECT_EQ(inv["status"], "issued");
  ASSERT_EQ(inv["tax_by_rate"].size(), 2u) << inv.dump();
  EXPECT_EQ(inv["tax_by_rate"][0]["tax_rate"], 10);
  EXPECT_EQ(inv["tax_by_rate"][0]["subtotal"], 1500);  // plan + setup fee
  EXPECT_EQ(inv["tax_by_rate"][0]["tax"], 150);
  EXPECT_EQ(inv["tax_by_rate"][1]["tax_rate"], 8);
  EXPECT_EQ(inv["tax_by_rate"][1]["subtotal"], 300);
  EXPECT_EQ(inv["tax_by_rate"][1]["tax"], 24);
  EXPECT_EQ(inv["total"], 1974);
  // Gapless numbers across organizations in the platform's series.
  Json inv_b = Invoices(s, b);
  ASSERT_EQ(inv_b.size(), 1u);
  std::set<std::string> numbers = {inv["number"], inv_b[0]["number"]};
  EXPECT_EQ(numbers, (std::set<std::string>{"INV-00000001", "INV-00000002"}));
  const std::string id = inv["id"];

  // The printable document and the CSV export.
  auto html = s.Call("GET", org + "/invoices/" + id + ".html", nullptr, a.session);
  ASSERT_EQ(html.status, 200) << html.body;
  EXPECT_EQ(html.headers["content-type"].rfind("text/html", 0), 0u);
  EXPECT_NE(html.body.find("T1234567890123"), std::string::npos);
  EXPECT_NE(html.body.find(inv["number"].get<std::string>()), std::string::npos);
  auto csv = s.Call("GET", org + "/invoices.csv", nullptr, a.session);
  ASSERT_EQ(csv.status, 200);
  EXPECT_NE(csv.body.find(inv["number"].get<std::string>()), std::string::npos);
  // Cursor pagination: one per page.
  auto page = s.Call("GET", org + "/invoices?limit=1", nullptr, a.session);
  EXPECT_EQ(page.json["items"].size(), 1u);
  ASSERT_TRUE(page.json["next_cursor"].is_string());
  auto page2 = s.Call("GET", org + "/invoices?limit=1&cursor=" + page.json["next_cursor"].get<std::string>(), nullptr, a.session);
  EXPECT_EQ(page2.json["items"].size(), 0u) << page2.body;

  // Pay by card: 202, then the invoice turns paid; the gateway's webhook does not pay twice.
  auto pay = s.Call("POST", org + "/invoices/" + id + "/payments", {{"card_token", "tok_visa"}}, a.session);
  ASSERT_EQ(pay.status, 202) << pay.body;
  EXPECT_NE(pay.headers["location"].find("/operations/"), std::string::npos);
  Json now;
  ASSERT_TRUE(PollUntil([&] {
    now = s.Call("GET", org + "/invoices/" + id, nullptr, a.session).json;
    return now.value("status", "") == "paid";
  }, std::chrono::seconds(10))) << now.dump();
  EXPECT_EQ(now["amount_paid"], 1974);
  Json hooks;
  ASSERT_TRUE(PollUntil([&] {
    hooks = s.Call("GET", "/api/v1/admin/jobs?kind=billing.dev.gateway_webhooks", nullptr, staff).json;
    return hooks["items"].size() == 1 && hooks["items"][0]["state"] == "succeeded";
  }, std::chrono::seconds(10))) << hooks.dump();
  auto payments = s.Call("GET", org + "/payments", nullptr, a.session);
  ASSERT_EQ(payments.json["items"].size(), 1u) << payments.body;
  EXPECT_EQ(payments.json["items"][0]["amount"], 1974);
  EXPECT_EQ(payments.json["items"][0]["state"], "captured");
  // A forged webhook is refused.
  Json event = {{"id", "evt_forged"}, {"type", "charge.captured"}};
  event["data"] = {{"id", "auth_x"}, {"amount", 1}, {"metadata", {{"organization_id", b.org_id}, {"invoice_id", inv_b[0]["id"]}}}};
  auto forged = s.Call("POST", "/api/v1/billing/webhooks/card", event, {}, {"X-Gateway-Signature: t=1,v1=00"});
  EXPECT_EQ(forged.status, 401) << forged.body;
  EXPECT_EQ(Invoices(s, b)[0]["status"], "issued");
  // Paying again is a conflict.
  EXPECT_EQ(s.Call("POST", org + "/invoices/" + id + "/payments", {{"card_token", "tok_visa"}}, a.session).status, 409);

  // A declined card leaves B's invoice open and is audited.
  const std::string org_b = "/api/v1/organizations/" + b.org_id;
  ASSERT_EQ(s.Call("POST", org_b + "/invoices/" + inv_b[0]["id"].get<std::string>() + "/payments", {{"card_token", "tok_decline"}}, b.session).status, 202);
  EXPECT_TRUE(PollUntil([&] {
    return s.Call("GET", org_b + "/audit-events?action=billing.payment.decline", nullptr, b.session).json["items"].size() == 1;
  }, std::chrono::seconds(10)));
  EXPECT_EQ(Invoices(s, b)[0]["status"], "issued");

  // A credit note takes the next number of the credit notes' own series and names the invoice.
  auto note = s.Call("POST", "/api/v1/admin/billing/organizations/" + a.org_id + "/invoices/" + id + "/credit-notes",
                     {{"reason", "goodwill"}, {"lines", Json::array({{{"description", "Goodwill credit"}, {"unit_price", 100}, {"tax_rate", 10}}})}}, staff);
  ASSERT_EQ(note.status, 201) << note.body;
  EXPECT_EQ(note.json["number"], "INV-CN-00000001");
  EXPECT_EQ(note.json["corrects_invoice_number"], inv["number"]);
  EXPECT_EQ(note.json["kind"], "credit_note");
  EXPECT_EQ(note.json["total"], 110);  // a credit note states the amount credited

  // Plan change: preview first (change on the period's first day: whole prices), then change.
  const std::string sub_url = org + "/subscriptions/" + sub.json["id"].get<std::string>();
  auto preview = s.Call("GET", sub_url + "/change-plan?product=shared-m", nullptr, a.session);
  ASSERT_EQ(preview.status, 200) << preview.body;
  EXPECT_EQ(preview.json["proration"]["kind"], "upgrade");
  EXPECT_EQ(preview.json["proration"]["credit"], 1000);
  EXPECT_EQ(preview.json["proration"]["charge"], 2000);
  EXPECT_EQ(preview.json["proration"]["net"], 1000);
  EXPECT_EQ(s.Call("GET", sub_url, nullptr, a.session).json["product"], "shared-s") << "a preview changes nothing";
  auto change = s.Call("POST", sub_url + "/change-plan", {{"product", "shared-m"}}, a.session);
  ASSERT_EQ(change.status, 200) << change.body;
  EXPECT_EQ(change.json["subscription"]["product"], "shared-m");
  EXPECT_EQ(change.json["proration"]["net"], 1000);
  auto cancel = s.Call("POST", sub_url + "/cancel", Json::object(), a.session);
  ASSERT_EQ(cancel.status, 200) << cancel.body;
  EXPECT_EQ(cancel.json["cancel_at_period_end"], true);
  EXPECT_EQ(cancel.json["state"], "active");
  // B cannot see A's invoice.
  EXPECT_EQ(s.Call("GET", org_b + "/invoices/" + id, nullptr, b.session).status, 404);
}

TEST(BillingApi, UnpaidInvoiceRemindsThenSuspendsAndPaymentReactivates) {
  ApiServer s({{"HOSTPLANE_BILLING_DUNNING_REMINDER_DAYS", "1,3"},
               {"HOSTPLANE_BILLING_DUNNING_SUSPEND_DAY", "5"},
               {"HOSTPLANE_BILLING_DUNNING_TERMINATE_DAY", "30"}});
  Caller staff = CreateStaff(s);
  ASSERT_FALSE(staff.cookie.empty());
  CreateCatalog(s, staff);
  auto a = s.SignUp("late@payer.example", "Late Payer");
  const std::string org = "/api/v1/organizations/" + a.org_id;
  ASSERT_EQ(s.Call("POST", org + "/subscriptions", {{"product", "shared-s"}}, a.session).status, 201);
  RunBilling(s, staff);
  Json inv = Invoices(s, a)[0];
  const std::string number = inv["number"];
  // Sessions expire while the clock moves by days: the customer uses an API token, staff sign in again.
  Caller token = s.Token(a.session, a.org_id, {"org.read", "billing.read", "billing.manage", "audit.read"});
  ASSERT_FALSE(token.token.empty());
  auto status = [&] {
    auto r = s.Call("GET", org, nullptr, token);
    return r.json["status"].is_string() ? r.json["status"].get<std::string>() : r.body;
  };

  s.Advance(15 * kDay);  // one day past the due date (issue + 14)
  std::string r1 = s.WaitMail(a.email, "Payment reminder 1");
  ASSERT_FALSE(r1.empty()) << "first reminder not sent";
  EXPECT_NE(r1.find(number), std::string::npos) << r1;
  EXPECT_EQ(status(), "active");

  s.Advance(2 * kDay);
  EXPECT_FALSE(s.WaitMail(a.email, "Payment reminder 2").empty()) << "second reminder not sent";
  EXPECT_EQ(status(), "active");

  s.Advance(2 * kDay);  // day 5 after the due date: suspension
  EXPECT_TRUE(PollUntil([&] { return status() == "suspended"; }, std::chrono::seconds(10)));
  EXPECT_FALSE(s.WaitMail(a.email, "suspended").empty());
  auto denied = s.Call("POST", org + "/subscriptions", {{"product", "shared-m"}}, token);
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_EQ(s.Call("GET", org + "/invoices", nullptr, token).status, 200) << "a suspended customer still sees invoices";
  auto subs = s.Call("GET", org + "/subscriptions", nullptr, token);
  EXPECT_EQ(subs.json["items"][0]["state"], "suspended");
  // Paying is the one write a suspended customer must still be able to make (this card declines,
  // so the bank transfer below is what settles the invoice).
  auto try_card = s.Call("POST", org + "/invoices/" + inv["id"].get<std::string>() + "/payments", {{"card_token", "tok_decline"}}, token);
  EXPECT_EQ(try_card.status, 202) << "a suspended customer must be able to pay: " << try_card.body;

  // Money arrives by bank transfer; the next sweep lifts the suspension.
  staff = s.SignIn("billing-ops@hostplane.example", "Staff password 77");
  auto paid = s.Call("POST", "/api/v1/admin/billing/organizations/" + a.org_id + "/invoices/" + inv["id"].get<std::string>() + "/bank-transfers",
                     {{"amount", inv["total"]}, {"reference", "MUFG 20260101-0001"}}, staff);
  ASSERT_EQ(paid.status, 201) << paid.body;
  EXPECT_EQ(paid.json["invoice"]["status"], "paid");
  s.Advance(3601);
  EXPECT_TRUE(PollUntil([&] { return status() == "active"; }, std::chrono::seconds(10)));
  EXPECT_FALSE(s.WaitMail(a.email, "active again").empty());
  EXPECT_EQ(s.Call("GET", org + "/subscriptions", nullptr, token).json["items"][0]["state"], "active");
  auto audit = s.Call("GET", org + "/audit-events?action=organization.", nullptr, token);
  std::vector<std::string> actions;
  for (const auto& e : audit.json["items"])
    if (e["action"] == "organization.suspend" || e["action"] == "organization.unsuspend") actions.push_back(e["action"]);
  EXPECT_EQ(actions, (std::vector<std::string>{"organization.suspend", "organization.unsuspend"})) << audit.body;
}

// Acceptance 4 of issue 8: dunning reaches provisioning. The site of an unpaid customer serves the
// suspension page (503 through the local web nginx) once the dev clock reaches the suspension
// day; a card payment (allowed while suspended) and the next sweep bring back exactly the site
// dunning suspended, not the one the customer had suspended themselves.
TEST(BillingApi, DunningSuspendsTheSitesAndPaymentBringsBackOnlyThoseItSuspended) {
  ApiServer s({{"HOSTPLANE_BILLING_DUNNING_REMINDER_DAYS", "1,3"},
               {"HOSTPLANE_BILLING_DUNNING_SUSPEND_DAY", "5"},
               {"HOSTPLANE_BILLING_DUNNING_TERMINATE_DAY", "30"}});
  Caller staff = CreateStaff(s);
  ASSERT_FALSE(staff.cookie.empty());
  CreateCatalog(s, staff);
  auto a = s.SignUp("webshop@late.example", "Late Web Shop");
  const std::string org = "/api/v1/organizations/" + a.org_id;

  std::string web_addr = ReadFile(s.var() + "/run/web.addr");
  while (!web_addr.empty() && std::isspace(static_cast<unsigned char>(web_addr.back()))) web_addr.pop_back();
  ASSERT_FALSE(web_addr.empty()) << "the local web node is not running";
  auto web = [&](const std::string& host) {
    HttpOptions o;
    o.headers = {"Host: " + host};
    return HttpRequest("http://" + web_addr + "/", o);
  };
  auto wait_operation = [&](const Reply& accepted, const Caller& who) {
    EXPECT_EQ(accepted.status, 202) << accepted.body;
    const std::string url = accepted.json["operation"].value("url", "");
    Json last;
    EXPECT_TRUE(PollUntil([&] {
      last = s.Call("GET", url, nullptr, who).json;
      const std::string st = last.value("state", "");
      return st == "succeeded" || st == "failed" || st == "cancelled";
    }, std::chrono::seconds(20))) << last.dump();
    return last.value("state", "");
  };
  // Two sites with their own index page; the customer suspends the second one themselves.
  std::vector<std::string> site_ids;
  for (const std::string domain : {"late-shop.example", "late-blog.example"}) {
    auto created = s.Call("POST", org + "/sites", {{"domain", domain}, {"quota_mib", 100}}, a.session);
    ASSERT_EQ(created.status, 202) << created.body;
    ASSERT_EQ(wait_operation(created, a.session), "succeeded");
    const std::string id = created.json["site"]["id"];
    site_ids.push_back(id);
    auto site = s.Call("GET", org + "/sites/" + id, nullptr, a.session);
    ASSERT_EQ(site.json["state"], "active") << site.body;
    WriteFile(site.json["document_root"].get<std::string>() + "/index.html", "<h1>Welcome to " + domain + "</h1>\n");
    ASSERT_TRUE(PollUntil([&] { return web(domain).body.find("Welcome to " + domain) != std::string::npos; }, std::chrono::seconds(10)))
        << domain << ": " << web(domain).status;
  }
  ASSERT_EQ(wait_operation(s.Call("POST", org + "/sites/" + site_ids[1] + "/actions/suspend", Json::object(), a.session), a.session), "succeeded");
  ASSERT_TRUE(PollUntil([&] { return web("late-blog.example").status == 503; }, std::chrono::seconds(10)));
  // A running VPS and a powered-on dedicated server (dev inventory, libvirt test driver).
  auto vps = s.Call("POST", org + "/vps", {{"hostname", "late-vm"}, {"template", "tiny"}, {"plan", {{"vcpus", 1}, {"ram_mib", 512}, {"disk_gib", 2}}}}, a.session);
  ASSERT_EQ(wait_operation(vps, a.session), "succeeded") << vps.body;
  const std::string vps_url = org + "/vps/" + vps.json["vps"].value("id", "");
  auto metal = s.Call("POST", org + "/dedicated", {{"hostname", "late-metal"}, {"template", "tiny"}}, a.session);
  ASSERT_EQ(wait_operation(metal, a.session), "succeeded") << metal.body;
  const std::string metal_url = org + "/dedicated/" + metal.json["server"].value("id", "");
  ASSERT_EQ(s.Call("GET", vps_url, nullptr, a.session).json["state"], "running");
  ASSERT_EQ(s.Call("GET", metal_url, nullptr, a.session).json["powered_on"], true);

  ASSERT_EQ(s.Call("POST", org + "/subscriptions", {{"product", "shared-s"}}, a.session).status, 201);
  RunBilling(s, staff);
  Json inv = Invoices(s, a)[0];
  const std::string invoice = org + "/invoices/" + inv["id"].get<std::string>();
  // Sessions expire while the clock moves by days: the customer uses an API token.
  Caller token = s.Token(a.session, a.org_id, {"org.read", "billing.read", "billing.manage", "audit.read", "services.read"});
  ASSERT_FALSE(token.token.empty());
  auto status = [&] {
    auto r = s.Call("GET", org, nullptr, token);
    return r.json["status"].is_string() ? r.json["status"].get<std::string>() : r.body;
  };

  s.Advance(15 * kDay);  // one day past the due date (issue + 14)
  ASSERT_FALSE(s.WaitMail(a.email, "Payment reminder 1").empty()) << "first reminder not sent";
  s.Advance(2 * kDay);
  ASSERT_FALSE(s.WaitMail(a.email, "Payment reminder 2").empty()) << "second reminder not sent";
  EXPECT_EQ(web("late-shop.example").body.find("Welcome to late-shop.example") != std::string::npos, true)
      << "reminders do not touch the site";

  s.Advance(2 * kDay);  // day 5 after the due date: suspension
  EXPECT_TRUE(PollUntil([&] { return status() == "suspended"; }, std::chrono::seconds(10)));
  HttpResult page;
  EXPECT_TRUE(PollUntil([&] {
    page = web("late-shop.example");
    return page.status == 503 && page.body.find("suspended") != std::string::npos;
  }, std::chrono::seconds(15))) << "the site serves the suspension page: " << page.status << " " << page.body;
  EXPECT_TRUE(PollUntil([&] { return s.Call("GET", org + "/sites/" + site_ids[0], nullptr, token).json.value("state", "") == "suspended"; },
                        std::chrono::seconds(10)));
  // Suspension reaches the VPS (stopped) and the dedicated server (powered off).
  EXPECT_TRUE(PollUntil([&] { return s.Call("GET", vps_url, nullptr, token).json.value("state", "") == "stopped"; }, std::chrono::seconds(20)))
      << s.Call("GET", vps_url, nullptr, token).body;
  EXPECT_TRUE(PollUntil([&] { return s.Call("GET", metal_url, nullptr, token).json.value("powered_on", true) == false; }, std::chrono::seconds(20)))
      << s.Call("GET", metal_url, nullptr, token).body;

  // The customer pays by card while suspended; the next sweep brings the site back.
  auto pay = s.Call("POST", invoice + "/payments", {{"card_token", "tok_visa"}}, token);
  ASSERT_EQ(pay.status, 202) << "a suspended customer must be able to pay: " << pay.body;
  Json now;
  ASSERT_TRUE(PollUntil([&] {
    now = s.Call("GET", invoice, nullptr, token).json;
    return now.value("status", "") == "paid";
  }, std::chrono::seconds(10))) << now.dump();
  s.Advance(3601);
  EXPECT_TRUE(PollUntil([&] { return status() == "active"; }, std::chrono::seconds(10)));
  EXPECT_TRUE(PollUntil([&] { return web("late-shop.example").body.find("Welcome to late-shop.example") != std::string::npos; },
                        std::chrono::seconds(15)))
      << "the site serves its files again: " << web("late-shop.example").status;
  EXPECT_FALSE(s.WaitMail(a.email, "active again").empty());
  EXPECT_EQ(web("late-blog.example").status, 503) << "the site the customer suspended stays suspended";
  EXPECT_TRUE(PollUntil([&] { return s.Call("GET", vps_url, nullptr, token).json.value("state", "") == "running"; }, std::chrono::seconds(20)))
      << "the VPS dunning stopped runs again: " << s.Call("GET", vps_url, nullptr, token).body;
  EXPECT_TRUE(PollUntil([&] { return s.Call("GET", metal_url, nullptr, token).json.value("powered_on", false) == true; }, std::chrono::seconds(20)))
      << "the server dunning powered off is on again: " << s.Call("GET", metal_url, nullptr, token).body;
  std::set<std::string> billing_ops;
  for (const char* prefix : {"vps.", "dedicated."}) {
    const Json items = s.Call("GET", org + "/audit-events?action=" + prefix, nullptr, token).json["items"];
    for (const auto& e : items)
      if (e["actor_id"] == "billing-dunning" && e["result"] == "success") billing_ops.insert(e["action"].get<std::string>());
  }
  EXPECT_EQ(billing_ops, (std::set<std::string>{"dedicated.power_off", "dedicated.power_on", "vps.start", "vps.stop"}));
  EXPECT_EQ(s.Call("GET", org + "/sites/" + site_ids[1], nullptr, token).json["state"], "suspended");

  // Every step is in the audit log, attributed to billing.
  auto audit = s.Call("GET", org + "/audit-events?action=site.", nullptr, token);
  std::vector<std::string> site_actions;
  for (const auto& e : audit.json["items"])
    if (e["actor_id"] == "billing-dunning") {
      site_actions.push_back(e["action"].get<std::string>() + " " + e["target"].get<std::string>());
      EXPECT_EQ(e["result"], "success") << e.dump();
    }
  EXPECT_EQ(site_actions, (std::vector<std::string>{"site.suspend site:" + site_ids[0], "site.unsuspend site:" + site_ids[0]}))
      << audit.body;
}

// Termination keeps the site on the suspension page with its files; on the content deletion date
// (last day of the month after next) the durable deletion job terminates it.
TEST(BillingApi, TerminationKeepsTheSiteSuspendedAndTheDeletionDateRemovesIt) {
  ApiServer s({{"HOSTPLANE_BILLING_DUNNING_REMINDER_DAYS", "1"},
               {"HOSTPLANE_BILLING_DUNNING_SUSPEND_DAY", "2"},
               {"HOSTPLANE_BILLING_DUNNING_TERMINATE_DAY", "4"}});
  Caller staff = CreateStaff(s);
  ASSERT_FALSE(staff.cookie.empty());
  CreateCatalog(s, staff);
  auto a = s.SignUp("gone@never.example", "Never Pays");
  const std::string org = "/api/v1/organizations/" + a.org_id;
  std::string web_addr = ReadFile(s.var() + "/run/web.addr");
  while (!web_addr.empty() && std::isspace(static_cast<unsigned char>(web_addr.back()))) web_addr.pop_back();
  ASSERT_FALSE(web_addr.empty());
  auto web = [&](const std::string& host) {
    HttpOptions o;
    o.headers = {"Host: " + host};
    return HttpRequest("http://" + web_addr + "/", o);
  };
  auto created = s.Call("POST", org + "/sites", {{"domain", "never-pays.example"}, {"quota_mib", 100}}, a.session);
  ASSERT_EQ(created.status, 202) << created.body;
  const std::string id = created.json["site"]["id"];
  std::string docroot;
  ASSERT_TRUE(PollUntil([&] {
    auto site = s.Call("GET", org + "/sites/" + id, nullptr, a.session);
    docroot = site.json.value("document_root", "");
    return site.json.value("state", "") == "active" && !docroot.empty();
  }, std::chrono::seconds(20)));
  WriteFile(docroot + "/index.html", "<h1>Never pays</h1>\n");
  ASSERT_TRUE(PollUntil([&] { return web("never-pays.example").body.find("Never pays") != std::string::npos; }, std::chrono::seconds(10)));
  ASSERT_EQ(s.Call("POST", org + "/subscriptions", {{"product", "shared-s"}}, a.session).status, 201);
  RunBilling(s, staff);

  s.Advance(16 * kDay);  // due + 2: reminder and suspension
  EXPECT_TRUE(PollUntil([&] { return web("never-pays.example").status == 503; }, std::chrono::seconds(15)));
  s.Advance(2 * kDay);  // due + 4: termination
  EXPECT_FALSE(s.WaitMail(a.email, "suspended").empty());
  Json jobs;
  ASSERT_TRUE(PollUntil([&] {
    staff = s.SignIn("billing-ops@hostplane.example", "Staff password 77");
    jobs = s.Call("GET", "/api/v1/admin/jobs?kind=billing.dunning.content_deletion", nullptr, staff).json;
    return jobs["items"].size() == 1;
  }, std::chrono::seconds(15))) << jobs.dump();
  EXPECT_EQ(web("never-pays.example").status, 503) << "terminated: still the suspension page";
  EXPECT_TRUE(std::filesystem::exists(docroot + "/index.html")) << "content is kept until the deletion date";

  s.Advance(100 * kDay);  // past the last day of the month after next
  EXPECT_TRUE(PollUntil([&] { return web("never-pays.example").status == 404; }, std::chrono::seconds(20)))
      << "the server block is gone: " << web("never-pays.example").status;
  EXPECT_TRUE(PollUntil([&] { return !std::filesystem::exists(docroot); }, std::chrono::seconds(10))) << "the files are gone";
  staff = s.SignIn("billing-ops@hostplane.example", "Staff password 77");  // the session expired with the clock
  ASSERT_TRUE(PollUntil([&] {
    jobs = s.Call("GET", "/api/v1/admin/jobs?kind=billing.dunning.content_deletion", nullptr, staff).json;
    return jobs["items"].size() == 1 && jobs["items"][0]["state"] == "succeeded";
  }, std::chrono::seconds(10))) << jobs.dump();
}


// pdftotext of a PDF served by the API.
std::string PdfText(const std::string& pdf) {
  TempDir d;
  WriteFile(d.path() + "/doc.pdf", pdf);
  auto [rc, out] = Run({"pdftotext", "-layout", d.path() + "/doc.pdf", "-"});
  EXPECT_EQ(rc, 0) << out;
  return out;
}

bool MentionsUs(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s.find("hostplane") != std::string::npos;
}

// A partner (staff create it) with `owner` as its first member.
std::string NewPartner(ApiServer& s, const Caller& staff, const std::string& name, const std::string& channel,
                       const ApiServer::Account& owner) {
  auto p = s.Call("POST", "/api/v1/admin/partners", {{"name", name}, {"channel", channel}}, staff);
  EXPECT_EQ(p.status, 201) << p.body;
  const std::string id = p.json.value("id", "");
  auto m = s.Call("POST", "/api/v1/admin/partners/" + id + "/members", {{"email", owner.email}, {"role", "owner"}}, staff);
  EXPECT_EQ(m.status, 201) << m.body;
  return id;
}

// A customer organization the partner creates, whose invited owner signs up and accepts.
ApiServer::Account PartnerCustomer(ApiServer& s, const std::string& partner_id, const ApiServer::Account& partner_owner,
                                   const std::string& email, const std::string& name) {
  auto c = s.Call("POST", "/api/v1/partners/" + partner_id + "/customers", {{"name", name}, {"owner_email", email}}, partner_owner.session);
  EXPECT_EQ(c.status, 201) << c.body;
  const std::string token = ApiServer::TokenIn(s.WaitMail(email, "invited"));
  ApiServer::Account user = s.SignUp(email, name + " (own)");
  auto acc = s.Call("POST", "/api/v1/invitations/accept", {{"token", token}}, user.session);
  EXPECT_EQ(acc.status, 200) << acc.body;
  user.org_id = c.json.value("id", "");
  return user;
}

// Issue 8 "What to build": an agency's commission on its referred customer's paid invoice, a
// refund producing a credit note in its own series that reverses the commission's share, the
// monthly commission statement (staff), the customer's balance from the ledger, usage reports
// counted once, and the PDF invoice parsed back with pdftotext.
TEST(BillingApi, AgencyCommissionRefundCreditNoteBalanceUsageAndPdf) {
  ApiServer s({{"HOSTPLANE_BILLING_ISSUER_NAME", "Example Hosting K.K."},
               {"HOSTPLANE_BILLING_ISSUER_REGISTRATION_NUMBER", "T1234567890123"}});
  Caller staff = CreateStaff(s);
  ASSERT_FALSE(staff.cookie.empty());
  CreateCatalog(s, staff);
  auto agency_owner = s.SignUp("owner@agency.example", "Agency staff");
  const std::string agency = NewPartner(s, staff, "Agency C", "agency", agency_owner);
  auto terms = s.Call("PUT", "/api/v1/admin/billing/partners/" + agency, {{"commission_bp", 1000}}, staff);
  ASSERT_EQ(terms.status, 200) << terms.body;
  // The agency referred this customer (agencies have no access to their customers' resources).
  auto c = s.SignUp("buyer@referred.example", "Referred K.K.");
  const std::string referral = "/api/v1/admin/billing/organizations/" + c.org_id + "/referral";
  EXPECT_EQ(s.Call("PUT", referral, {{"partner", "no-such-agency"}}, staff).json["field"], "partner");
  auto ref = s.Call("PUT", referral, {{"partner", agency}}, staff);
  ASSERT_EQ(ref.status, 200) << ref.body;
  EXPECT_EQ(ref.json["channel"], "agency");
  EXPECT_EQ(s.Call("PUT", referral, {{"partner", agency}}, c.session).status, 403);
  const std::string org = "/api/v1/organizations/" + c.org_id;
  auto sub = s.Call("POST", org + "/subscriptions", {{"product", "shared-s"}}, c.session);
  ASSERT_EQ(sub.status, 201) << sub.body;
  const std::string sub_id = sub.json["id"];

  // Usage reports (staff/service route): idempotent by key; customers cannot meter themselves.
  const std::string usage_url = "/api/v1/admin/billing/organizations/" + c.org_id + "/usage";
  auto u1 = s.Call("POST", usage_url, {{"subscription", sub_id}, {"metric", "certificates"}, {"quantity", 3}}, staff, {"Idempotency-Key: issuance-42"});
  ASSERT_EQ(u1.status, 201) << u1.body;
  // A retry with the header gets the first answer replayed.
  auto u2 = s.Call("POST", usage_url, {{"subscription", sub_id}, {"metric", "certificates"}, {"quantity", 3}}, staff, {"Idempotency-Key: issuance-42"});
  EXPECT_EQ(u2.status, 201) << u2.body;
  EXPECT_EQ(u2.headers["idempotent-replayed"], "true");
  EXPECT_EQ(u2.json["id"], u1.json["id"]);
  EXPECT_EQ(s.Call("POST", usage_url, {{"subscription", sub_id}, {"metric", "certificates"}, {"quantity", 4}}, staff, {"Idempotency-Key: issuance-42"}).status, 409);
  // The key in the body (a reporter that cannot set headers, or another reporter process): the
  // meter itself records it once per organization and key.
  const Json keyed = {{"subscription", sub_id}, {"metric", "certificates"}, {"quantity", 2}, {"idempotency_key", "bw-2026-11-24"},
                      {"occurred_at", "2026-01-01T00:00:00Z"}};
  auto k1 = s.Call("POST", usage_url, keyed, staff);
  ASSERT_EQ(k1.status, 201) << k1.body;
  auto k2 = s.Call("POST", usage_url, keyed, staff);
  ASSERT_EQ(k2.status, 200) << k2.body;
  EXPECT_EQ(k2.json["duplicate"], true);
  EXPECT_EQ(k2.json["id"], k1.json["id"]);
  Json changed = keyed;
  changed["quantity"] = 5;
  EXPECT_EQ(s.Call("POST", usage_url, changed, staff).json["field"], "idempotency_key");
  EXPECT_EQ(s.Call("POST", usage_url, {{"subscription", sub_id}, {"metric", "certificates"}, {"quantity", 1}}, staff).json["field"], "idempotency_key");
  EXPECT_EQ(s.Call("POST", usage_url, {{"subscription", sub_id}, {"metric", "certificates"}, {"quantity", 1}, {"idempotency_key", "x"}}, c.session).status, 403);
  auto usage = s.Call("GET", org + "/usage", nullptr, c.session);
  ASSERT_EQ(usage.status, 200) << usage.body;
  ASSERT_EQ(usage.json["items"].size(), 1u) << usage.body;
  EXPECT_EQ(usage.json["items"][0]["metric"], "certificates");
  EXPECT_EQ(usage.json["items"][0]["quantity"], 3) << "the retried report is counted once";

  RunBilling(s, staff);
  Json inv = Invoices(s, c)[0];
  EXPECT_EQ(inv["subtotal"], 1500);
  EXPECT_EQ(inv["total"], 1650);
  const std::string inv_id = inv["id"];
  auto bal = s.Call("GET", org + "/balance", nullptr, c.session);
  ASSERT_EQ(bal.status, 200) << bal.body;
  EXPECT_EQ(bal.json["receivable"], 1650);
  EXPECT_EQ(bal.json["open_invoices"], 1650);
  EXPECT_EQ(bal.json["account_credit"], 0);

  // The PDF: parses, carries the registration number, tax per rate and totals.
  auto pdf = s.Call("GET", org + "/invoices/" + inv_id + ".pdf", nullptr, c.session);
  ASSERT_EQ(pdf.status, 200) << pdf.body;
  EXPECT_EQ(pdf.headers["content-type"], "application/pdf");
  ASSERT_EQ(pdf.body.rfind("%PDF-", 0), 0u);
  std::string text = PdfText(pdf.body);
  EXPECT_NE(text.find("T1234567890123"), std::string::npos) << text;
  EXPECT_NE(text.find(inv["number"].get<std::string>()), std::string::npos) << text;
  EXPECT_NE(text.find("1,500 JPY"), std::string::npos) << text;
  EXPECT_NE(text.find("150 JPY"), std::string::npos) << text;
  EXPECT_NE(text.find("1,650 JPY"), std::string::npos) << text;
  EXPECT_NE(text.find("10%"), std::string::npos) << text;
  EXPECT_EQ(s.Call("GET", org + "/invoices/" + inv_id + "?format=pdf", nullptr, c.session).body, pdf.body);
  EXPECT_EQ(s.Call("GET", org + "/invoices/" + inv_id + "?format=doc", nullptr, c.session).json["field"], "format");

  // Paid by bank transfer: 10% of the tax-exclusive ¥1,500 goes to the agency.
  auto paid = s.Call("POST", "/api/v1/admin/billing/organizations/" + c.org_id + "/invoices/" + inv_id + "/bank-transfers",
                     {{"amount", 1650}, {"reference", "MUFG 77"}}, staff);
  ASSERT_EQ(paid.status, 201) << paid.body;
  EXPECT_EQ(s.Call("GET", org + "/balance", nullptr, c.session).json["receivable"], 0);
  const std::string month = inv["issue_date"].get<std::string>().substr(0, 7);
  const std::string stmt_url = "/api/v1/admin/billing/partners/" + agency + "/commission-statement?month=" + month;
  auto stmt = s.Call("GET", stmt_url, nullptr, staff);
  ASSERT_EQ(stmt.status, 200) << stmt.body;
  ASSERT_EQ(stmt.json["lines"].size(), 1u) << stmt.body;
  EXPECT_EQ(stmt.json["lines"][0]["kind"], "commission");
  EXPECT_EQ(stmt.json["lines"][0]["organization_id"], c.org_id);
  EXPECT_EQ(stmt.json["lines"][0]["customer_name"], "Referred K.K.");
  EXPECT_EQ(stmt.json["lines"][0]["invoice_number"], inv["number"]);
  EXPECT_EQ(stmt.json["lines"][0]["base"], 1500);
  EXPECT_EQ(stmt.json["lines"][0]["rate_bp"], 1000);
  EXPECT_EQ(stmt.json["lines"][0]["amount"], 150);
  EXPECT_EQ(stmt.json["net"], 150);
  EXPECT_EQ(stmt.json["ledger_net"], 150);
  EXPECT_EQ(s.Call("GET", stmt_url, nullptr, c.session).status, 403) << "staff only";
  EXPECT_EQ(s.Call("GET", "/api/v1/admin/billing/partners/" + agency + "/commission-statement?month=2026-13", nullptr, staff).json["field"], "month");

  // Refund of the setup fee: credit note INV-CN-00000001 (tax recomputed per rate), commission
  // share reversed (10% of ¥500).
  auto refund = s.Call("POST", "/api/v1/admin/billing/organizations/" + c.org_id + "/invoices/" + inv_id + "/refunds",
                       {{"reason", "setup fee waived"}, {"lines", Json::array({{{"description", "Setup fee refund"}, {"unit_price", 500}}})}}, staff);
  ASSERT_EQ(refund.status, 201) << refund.body;
  EXPECT_EQ(refund.json["refund"]["amount"], 550);
  Json note = refund.json["credit_note"];
  EXPECT_EQ(note["number"], "INV-CN-00000001");
  EXPECT_EQ(note["kind"], "credit_note");
  EXPECT_EQ(note["corrects_invoice_number"], inv["number"]);
  EXPECT_EQ(note["tax_by_rate"][0]["tax"], 50);
  EXPECT_EQ(note["total"], 550);
  EXPECT_EQ(s.Call("GET", org + "/payments", nullptr, c.session).json["items"][0]["refunded"], 550);
  auto corrected = s.Call("GET", org + "/invoices/" + inv_id, nullptr, c.session);
  ASSERT_EQ(corrected.json["credit_notes"].size(), 1u) << corrected.body;
  EXPECT_EQ(corrected.json["credit_notes"][0]["number"], "INV-CN-00000001");
  EXPECT_EQ(corrected.json["credit_notes"][0]["total"], 550);
  EXPECT_EQ(corrected.json["total"], 1650) << "the issued invoice itself never changes";
  stmt = s.Call("GET", stmt_url, nullptr, staff);
  ASSERT_EQ(stmt.json["lines"].size(), 2u) << stmt.body;
  EXPECT_EQ(stmt.json["lines"][1]["kind"], "reversal");
  EXPECT_EQ(stmt.json["lines"][1]["document_number"], "INV-CN-00000001");
  EXPECT_EQ(stmt.json["lines"][1]["amount"], -50);
  EXPECT_EQ(stmt.json["net"], 100);
  EXPECT_EQ(stmt.json["ledger_net"], 100);
  auto csv = s.Call("GET", stmt_url + "&format=csv", nullptr, staff);
  EXPECT_EQ(csv.headers["content-type"].rfind("text/csv", 0), 0u);
  EXPECT_NE(csv.body.find(",commission," + c.org_id + ",Referred K.K.," + inv["number"].get<std::string>()), std::string::npos) << csv.body;
  EXPECT_NE(csv.body.find(",reversal,"), std::string::npos) << csv.body;
  // The credit note as HTML, PDF and in the CSV export; the customer sees it, immutable.
  const std::string note_url = org + "/invoices/" + note["id"].get<std::string>();
  auto html = s.Call("GET", note_url + ".html", nullptr, c.session);
  ASSERT_EQ(html.status, 200);
  EXPECT_NE(html.body.find("適格返還請求書"), std::string::npos);
  EXPECT_NE(html.body.find("INV-CN-00000001"), std::string::npos);
  EXPECT_NE(html.body.find(inv["number"].get<std::string>()), std::string::npos) << "names the invoice it corrects";
  text = PdfText(s.Call("GET", note_url + ".pdf", nullptr, c.session).body);
  EXPECT_NE(text.find("INV-CN-00000001"), std::string::npos) << text;
  EXPECT_NE(text.find("550 JPY"), std::string::npos) << text;
  EXPECT_NE(s.Call("GET", org + "/invoices.csv", nullptr, c.session).body.find("INV-CN-00000001,credit_note,"), std::string::npos);
  // Credited after payment without a refund: the customer has account credit.
  auto goodwill = s.Call("POST", "/api/v1/admin/billing/organizations/" + c.org_id + "/invoices/" + inv_id + "/credit-notes",
                         {{"reason", "goodwill"}, {"lines", Json::array({{{"description", "Goodwill"}, {"unit_price", 100}}})}}, staff);
  ASSERT_EQ(goodwill.status, 201) << goodwill.body;
  EXPECT_EQ(goodwill.json["number"], "INV-CN-00000002");
  bal = s.Call("GET", org + "/balance", nullptr, c.session);
  EXPECT_EQ(bal.json["receivable"], -110) << bal.body;
  EXPECT_EQ(bal.json["account_credit"], 110) << bal.body;
  ASSERT_EQ(bal.json["postings"].size(), 5u) << bal.body;  // charge, payment, credit, refund, credit
  EXPECT_EQ(bal.json["postings"][0]["kind"], "charge");
  EXPECT_EQ(bal.json["postings"][4]["balance"], -110);
  EXPECT_EQ(s.Call("GET", stmt_url, nullptr, staff).json["net"], 90);
  // Refunding more than is left is refused; other tenants see nothing.
  EXPECT_EQ(s.Call("POST", "/api/v1/admin/billing/organizations/" + c.org_id + "/invoices/" + inv_id + "/refunds",
                   {{"reason", "again"}, {"lines", Json::array({{{"description", "All"}, {"unit_price", 1500}}})}}, staff).status, 409)
      << "no payment covers more than the ¥1,100 left";
  auto other = s.SignUp("other@else.example", "Else K.K.");
  EXPECT_EQ(s.Call("GET", "/api/v1/organizations/" + other.org_id + "/invoices/" + inv_id + ".pdf", nullptr, other.session).status, 404);
  auto audit = s.Call("GET", "/api/v1/admin/audit-events?organization=" + c.org_id + "&action=billing.", nullptr, staff);
  std::set<std::string> acts;
  for (const auto& e : audit.json["items"]) acts.insert(e["action"]);
  for (const char* a : {"billing.commission.post", "billing.commission.reverse", "billing.invoice.refund", "billing.credit_note.issue", "billing.usage.record"})
    EXPECT_TRUE(acts.count(a)) << a << " not audited: " << audit.body;
}

// Issue 8 ("a reseller's customers' invoices carry the reseller's issuer details") and issue 9
// acceptance 3: an OEM's customer's invoice carries the issuer details the OEM keeps in its
// branding (name, registration number, address) and its brand, never ours, in JSON, HTML and PDF.
TEST(BillingApi, OemCustomersInvoicesCarryThePartnersIssuerAndBrandNeverOurs) {
  ApiServer s({{"HOSTPLANE_BILLING_ISSUER_NAME", "Hostplane Platform K.K."},
               {"HOSTPLANE_BILLING_ISSUER_REGISTRATION_NUMBER", "T1234567890123"}});
  Caller staff = CreateStaff(s);
  ASSERT_FALSE(staff.cookie.empty());
  CreateCatalog(s, staff);
  auto oem_owner = s.SignUp("owner@kumo.example", "Kumo operations");
  const std::string oem = NewPartner(s, staff, "Kumo OEM", "oem", oem_owner);
  // Staff's billing terms (prefix, where the wholesale is billed, a fallback issuer) ...
  auto terms = s.Call("PUT", "/api/v1/admin/billing/partners/" + oem,
                      {{"invoice_prefix", "KUMO"}, {"billing_organization_id", oem_owner.org_id},
                       {"issuer", {{"name", "Kumo (terms on file)"}, {"registration_number", "T5555555555555"}, {"address", "on file"}}}},
                      staff);
  ASSERT_EQ(terms.status, 200) << terms.body;
  ASSERT_EQ(s.Call("POST", "/api/v1/admin/billing/partners/" + oem + "/prices", {{"kind", "sell"}, {"product", "shared-s"}, {"price", 1800}, {"setup_fee", 0}}, staff).status, 201);
  // ... and the OEM's own branding with its issuer details, which its invoices carry.
  auto brand = s.Call("PUT", "/api/v1/partners/" + oem + "/branding",
                      {{"brand_name", "Kumo Cloud"},
                       {"primary_color", "#0a7cff"},
                       {"invoice_issuer", {{"name", "Kumo K.K."}, {"registration_number", "T9876543210987"}, {"address", "大阪府大阪市北区1-2-3"}}}},
                      oem_owner.session);
  ASSERT_EQ(brand.status, 200) << brand.body;
  auto c = PartnerCustomer(s, oem, oem_owner, "shop@kumo-customer.example", "Kumo Customer");
  ASSERT_FALSE(c.org_id.empty());
  const std::string org = "/api/v1/organizations/" + c.org_id;
  auto cat = s.Call("GET", org + "/catalog", nullptr, c.session);
  EXPECT_EQ(cat.json["channel"], "oem") << cat.body;
  ASSERT_EQ(s.Call("POST", org + "/subscriptions", {{"product", "shared-s"}}, c.session).status, 201);
  RunBilling(s, staff);
  Json invs = Invoices(s, c);
  ASSERT_EQ(invs.size(), 1u) << invs.dump();
  Json inv = invs[0];
  EXPECT_EQ(inv["number"], "KUMO-00000001");
  EXPECT_EQ(inv["issuer"]["name"], "Kumo K.K.");
  EXPECT_EQ(inv["issuer"]["registration_number"], "T9876543210987");
  EXPECT_EQ(inv["issuer"]["address"], "大阪府大阪市北区1-2-3");
  EXPECT_EQ(inv["subtotal"], 1800) << "the OEM's sell price";
  const std::string url = org + "/invoices/" + inv["id"].get<std::string>();
  auto json = s.Call("GET", url, nullptr, c.session);
  EXPECT_EQ(json.json["brand"], "Kumo Cloud");
  EXPECT_FALSE(MentionsUs(json.body)) << json.body;
  auto html = s.Call("GET", url + ".html", nullptr, c.session);
  ASSERT_EQ(html.status, 200);
  EXPECT_NE(html.body.find("Kumo Cloud"), std::string::npos);
  EXPECT_NE(html.body.find("T9876543210987"), std::string::npos);
  EXPECT_FALSE(MentionsUs(html.body)) << html.body;
  EXPECT_EQ(html.body.find("T1234567890123"), std::string::npos) << "our registration number is not on the OEM's invoice";
  auto pdf = s.Call("GET", url + ".pdf", nullptr, c.session);
  ASSERT_EQ(pdf.status, 200);
  const std::string text = PdfText(pdf.body);
  EXPECT_NE(text.find("Kumo Cloud"), std::string::npos) << text;
  EXPECT_NE(text.find("Kumo K.K."), std::string::npos) << text;
  EXPECT_NE(text.find("T9876543210987"), std::string::npos) << text;
  EXPECT_NE(text.find("KUMO-00000001"), std::string::npos) << text;
  EXPECT_FALSE(MentionsUs(text)) << text;
  EXPECT_FALSE(MentionsUs(pdf.body)) << "nothing of ours in the PDF's metadata either";
  auto csv = s.Call("GET", org + "/invoices.csv", nullptr, c.session);
  EXPECT_FALSE(MentionsUs(csv.body)) << csv.body;
  // The wholesale side is ours: the OEM's billing organization is invoiced on the platform series.
  RunBilling(s, staff);
  Json wholesale = Invoices(s, oem_owner);
  ASSERT_EQ(wholesale.size(), 1u) << wholesale.dump();
  EXPECT_EQ(wholesale[0]["issuer"]["registration_number"], "T1234567890123");
}

}  // namespace
}  // namespace hp::testing

namespace hp::testing {
namespace {

// Issue 8 leftovers through the real binary: an agency's referral code redeemed by a new
// customer right after sign-up attributes it to the agency (commission accrues on its card
// payment), staff pay the closed month's commission out once (statement shows it paid), and a
// refund made in the (simulated) gateway's own dashboard arrives by webhook and gets exactly one
// credit note in the -CN series.
TEST(BillingApi, ReferralCodeCommissionPayoutAndDashboardRefund) {
  ApiServer s({{"HOSTPLANE_BILLING_ISSUER_NAME", "Example Hosting K.K."},
               {"HOSTPLANE_BILLING_ISSUER_REGISTRATION_NUMBER", "T1234567890123"}});
  Caller staff = CreateStaff(s);
  ASSERT_FALSE(staff.cookie.empty());
  CreateCatalog(s, staff);
  auto agency_owner = s.SignUp("owner@agency-r.example", "Agency R staff");
  const std::string agency = NewPartner(s, staff, "Agency R", "agency", agency_owner);
  ASSERT_EQ(s.Call("PUT", "/api/v1/admin/billing/partners/" + agency, {{"commission_bp", 1000}}, staff).status, 200);

  const std::string codes = "/api/v1/admin/billing/partners/" + agency + "/referral-codes";
  auto code = s.Call("POST", codes, Json::object(), staff);
  ASSERT_EQ(code.status, 201) << code.body;
  const std::string ref_code = code.json["code"];
  EXPECT_EQ(ref_code.rfind("REF-", 0), 0u);
  EXPECT_EQ(s.Call("POST", codes, Json::object(), agency_owner.session).status, 403) << "staff only";

  // The customer signs up, then redeems the code once.
  auto c = s.SignUp("buyer@referred-r.example", "Referred R K.K.");
  const std::string org = "/api/v1/organizations/" + c.org_id;
  auto unknown = s.Call("POST", org + "/referral", {{"code", "REF-NOPE"}}, c.session);
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  EXPECT_EQ(unknown.json["field"], "code");
  auto redeemed = s.Call("POST", org + "/referral", {{"code", ref_code}}, c.session);
  ASSERT_EQ(redeemed.status, 201) << redeemed.body;
  EXPECT_EQ(redeemed.json["partner"], agency);
  auto twice = s.Call("POST", org + "/referral", {{"code", ref_code}}, c.session);
  EXPECT_EQ(twice.status, 409) << twice.body;
  EXPECT_EQ(twice.json["field"], "code");
  EXPECT_EQ(s.Call("GET", org + "/audit-events?action=billing.referral.redeem", nullptr, c.session).json["items"].size(), 1u);
  EXPECT_EQ(s.Call("GET", codes, nullptr, staff).json["items"][0]["redemptions"], 1);

  // A ¥1,500 (+ tax) invoice paid by card: 10% of ¥1,500 accrues to the agency.
  ASSERT_EQ(s.Call("POST", org + "/subscriptions", {{"product", "shared-s"}}, c.session).status, 201);
  RunBilling(s, staff);
  Json inv = Invoices(s, c)[0];
  const std::string inv_id = inv["id"];
  ASSERT_EQ(inv["total"], 1650);
  ASSERT_EQ(s.Call("POST", org + "/invoices/" + inv_id + "/payments", {{"card_token", "tok_visa"}}, c.session).status, 202);
  ASSERT_TRUE(PollUntil([&] { return s.Call("GET", org + "/invoices/" + inv_id, nullptr, c.session).json.value("status", "") == "paid"; },
                        std::chrono::seconds(10)));
  const std::string month = inv["issue_date"].get<std::string>().substr(0, 7);
  const std::string stmt_url = "/api/v1/admin/billing/partners/" + agency + "/commission-statement?month=" + month;
  Json stmt = s.Call("GET", stmt_url, nullptr, staff).json;
  EXPECT_EQ(stmt["net"], 150) << stmt.dump();
  EXPECT_EQ(stmt["status"], "open");
  const std::string payouts = "/api/v1/admin/billing/partners/" + agency + "/commission-payouts";
  auto early = s.Call("POST", payouts, {{"month", month}, {"reference", "PAYOUT-1"}}, staff);
  EXPECT_EQ(early.status, 400) << early.body;
  EXPECT_EQ(early.json["field"], "month");

  // The month closes: staff pay it out once.
  s.Advance(32 * kDay);
  // Sessions do not outlive a month: sign in again.
  staff = s.SignIn("billing-ops@hostplane.example", "Staff password 77");
  agency_owner.session = s.SignIn(agency_owner.email, agency_owner.password);
  c.session = s.SignIn(c.email, c.password);
  EXPECT_EQ(s.Call("GET", stmt_url, nullptr, staff).json["status"], "unpaid");
  EXPECT_EQ(s.Call("POST", payouts, {{"month", month}}, staff).json["field"], "reference");
  EXPECT_EQ(s.Call("POST", payouts, {{"month", month}, {"reference", "PAYOUT-1"}}, agency_owner.session).status, 403);
  auto paid = s.Call("POST", payouts, {{"month", month}, {"reference", "PAYOUT-1"}}, staff);
  ASSERT_EQ(paid.status, 201) << paid.body;
  EXPECT_EQ(paid.json["amount"], 150);
  EXPECT_EQ(paid.json["month"], month);
  auto again = s.Call("POST", payouts, {{"month", month}, {"reference", "PAYOUT-1"}}, staff);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json["id"], paid.json["id"]);
  stmt = s.Call("GET", stmt_url, nullptr, staff).json;
  EXPECT_EQ(stmt["status"], "paid") << stmt.dump();
  EXPECT_EQ(stmt["payout"]["amount"], 150);
  EXPECT_EQ(stmt["payout"]["reference"], "PAYOUT-1");
  EXPECT_EQ(stmt["payable_balance"], 0);
  EXPECT_EQ(s.Call("GET", payouts, nullptr, staff).json["items"].size(), 1u);

  // A refund of ¥550 made in the gateway's dashboard: its webhook issues one credit note.
  auto pays = s.Call("GET", org + "/payments", nullptr, c.session).json["items"];
  ASSERT_EQ(pays.size(), 1u);
  auto dash = s.Call("POST", "/api/v1/admin/billing/dev/gateway-dashboard/refunds",
                     {{"organization", c.org_id}, {"payment", pays[0]["id"]}, {"amount", 550}}, staff);
  ASSERT_EQ(dash.status, 202) << dash.body;
  Json notes;
  ASSERT_TRUE(PollUntil([&] {
    notes = Json::array();
    for (const auto& i : Invoices(s, c))
      if (i["kind"] == "credit_note") notes.push_back(i);
    return notes.size() >= 1;
  }, std::chrono::seconds(10)));
  ASSERT_EQ(notes.size(), 1u) << notes.dump();
  EXPECT_EQ(notes[0]["number"], "INV-CN-00000001");
  EXPECT_EQ(notes[0]["total"], 550);
  EXPECT_EQ(notes[0]["corrects_invoice_id"], inv_id);
  EXPECT_EQ(s.Call("GET", org + "/payments", nullptr, c.session).json["items"][0]["refunded"], 550);
  EXPECT_EQ(s.Call("GET", org + "/audit-events?action=billing.payment.gateway_refund", nullptr, c.session).json["items"].size(), 1u);
}

}  // namespace
}  // namespace hp::testing
