// Issue 6 through the control plane: `hostplane serve --dev` seeds a dev inventory (libvirt
// test:/// hosts, a local nginx shared-web node, documentation IP ranges) and customers create
// VPS, sites and dedicated servers through /api/v1 as asynchronous operations (202 + operation
// URL with progress). Staff manage hosts through /api/v1/admin and `hostplane hosts`.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "api_fixture.h"

namespace hp::testing {
namespace {

namespace fs = std::filesystem;

class ProvisioningApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    web_port_ = FreePort();
    s_ = new ApiServer(
        {{"HOSTPLANE_PROVISIONING_WEB_LISTEN", "127.0.0.1:" + std::to_string(web_port_)},
         {"HOSTPLANE_PROVISIONING_STOP_WAIT_MS", "2000"}});
  }
  static void TearDownTestSuite() { delete s_; }

  // Polls the operation until it ends; returns its last document.
  static Json WaitOperation(const Reply& accepted, const Caller& who) {
    EXPECT_EQ(accepted.status, 202) << accepted.body;
    const std::string url = accepted.json["operation"].value("url", "");
    EXPECT_EQ(accepted.headers.count("location") ? accepted.headers.at("location") : "", url)
        << "Location names the operation";
    Json last;
    EXPECT_TRUE(PollUntil(
        [&] {
          last = s_->Call("GET", url, nullptr, who).json;
          const std::string st = last.value("state", "");
          return st == "succeeded" || st == "failed" || st == "cancelled";
        },
        std::chrono::seconds(20), std::chrono::milliseconds(100)))
        << last.dump();
    return last;
  }
  static HttpResult Web(const std::string& host, const std::string& path = "/") {
    HttpOptions o;
    o.headers = {"Host: " + host};
    return HttpRequest("http://127.0.0.1:" + std::to_string(web_port_) + path, o);
  }
  static Caller Staff() {
    static Caller staff;
    if (!staff.cookie.empty()) return staff;
    TempDir d;
    WriteFile(d.path() + "/pw", "Staff password 77\n");
    auto [rc, out] =
        hp::testing::Run({HostplaneBinary(), "staff", "create", "--email", "ops@hostplane.example",
                          "--password-file", d.path() + "/pw", "--var", s_->var()});
    EXPECT_EQ(rc, 0) << out;
    staff = s_->SignIn("ops@hostplane.example", "Staff password 77");
    return staff;
  }

  static ApiServer* s_;
  static int web_port_;
};
ApiServer* ProvisioningApi::s_ = nullptr;
int ProvisioningApi::web_port_ = 0;

TEST_F(ProvisioningApi, VpsIsCreatedStoppedStartedSnapshottedAndDeletedThroughOperations) {
  auto a = s_->SignUp("vps-owner@a.example", "VPS Org");
  const std::string base = "/api/v1/organizations/" + a.org_id + "/vps";
  // Bad input names the field; a plan no host can take is refused with the per-filter reason.
  auto bad = s_->Call("POST", base, {{"template", "tiny"}, {"plan", {{"vcpus", 1}}}}, a.session);
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(bad.json.value("field", ""), "hostname") << bad.body;
  auto bad_plan = s_->Call(
      "POST", base, {{"hostname", "web1"}, {"template", "tiny"}, {"plan", {{"vcpus", "two"}}}},
      a.session);
  EXPECT_EQ(bad_plan.json.value("field", ""), "plan.vcpus") << bad_plan.body;
  auto huge = s_->Call("POST", base,
                       {{"hostname", "huge"},
                        {"template", "tiny"},
                        {"plan", {{"vcpus", 200}, {"ram_mib", 1024}, {"disk_gib", 5}}}},
                       a.session);
  EXPECT_EQ(huge.status, 409) << huge.body;
  EXPECT_NE(huge.body.find("out of vCPU"), std::string::npos)
      << "the explanation per filter: " << huge.body;

  auto created = s_->Call(
      "POST", base,
      {{"hostname", "web1.a.example"},
       {"template", "tiny"},
       {"plan", {{"vcpus", 2}, {"ram_mib", 1024}, {"disk_gib", 5}}},
       {"ssh_authorized_key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDevKeyForTests user@a"}},
      a.session);
  ASSERT_EQ(created.status, 202) << created.body;
  EXPECT_EQ(created.json["vps"]["state"], "provisioning");
  const std::string id = created.json["vps"]["id"];
  Json op = WaitOperation(created, a.session);
  EXPECT_EQ(op["state"], "succeeded") << op.dump();
  EXPECT_EQ(op["progress"].value("done", 0), op["progress"].value("total", -1))
      << "progress reached its end: " << op.dump();

  auto vps = s_->Call("GET", base + "/" + id, nullptr, a.session);
  ASSERT_EQ(vps.status, 200) << vps.body;
  EXPECT_EQ(vps.json["state"], "running");
  EXPECT_EQ(vps.json["ipv4"].get<std::string>().rfind("192.0.2.", 0), 0u) << vps.body;
  EXPECT_EQ(vps.json["ipv6"].get<std::string>().rfind("2001:db8::", 0), 0u) << vps.body;
  EXPECT_EQ(vps.json["plan"]["vcpus"], 2);
  auto list = s_->Call("GET", base, nullptr, a.session);
  ASSERT_EQ(list.json["items"].size(), 1u);

  // Stop (graceful) and start again.
  Json stop = WaitOperation(
      s_->Call("POST", base + "/" + id + "/actions/stop", Json::object(), a.session), a.session);
  EXPECT_EQ(stop["state"], "succeeded") << stop.dump();
  EXPECT_EQ(s_->Call("GET", base + "/" + id, nullptr, a.session).json["state"], "stopped");
  Json start = WaitOperation(
      s_->Call("POST", base + "/" + id + "/actions/start", Json::object(), a.session), a.session);
  EXPECT_EQ(start["state"], "succeeded") << start.dump();
  EXPECT_EQ(s_->Call("GET", base + "/" + id, nullptr, a.session).json["state"], "running");
  // Starting a running VPS is refused plainly.
  auto again = s_->Call("POST", base + "/" + id + "/actions/start", Json::object(), a.session);
  EXPECT_EQ(again.status, 409) << again.body;

  // Snapshot and list it.
  auto bad_snap = s_->Call("POST", base + "/" + id + "/snapshots", Json::object(), a.session);
  EXPECT_EQ(bad_snap.json.value("field", ""), "name") << bad_snap.body;
  Json snap = WaitOperation(
      s_->Call("POST", base + "/" + id + "/snapshots", {{"name", "before-upgrade"}}, a.session),
      a.session);
  EXPECT_EQ(snap["state"], "succeeded") << snap.dump();
  auto snaps = s_->Call("GET", base + "/" + id + "/snapshots", nullptr, a.session);
  ASSERT_EQ(snaps.json["items"].size(), 1u) << snaps.body;
  EXPECT_EQ(snaps.json["items"][0]["name"], "before-upgrade");
  EXPECT_EQ(snaps.json["items"][0]["state"], "ready");

  // The serial console log (virtlogd writes it on a real host) is readable through the API.
  WriteFile(s_->var() + "/provisioning/console/hp-" + id + ".log",
            "early boot\nhostplane-tiny: ready\n");
  auto console = s_->Call("GET", base + "/" + id + "/console", nullptr, a.session);
  EXPECT_EQ(console.status, 200);
  EXPECT_NE(console.body.find("hostplane-tiny: ready"), std::string::npos) << console.body;

  // Delete: gone from the API, its addresses back in the pool.
  Json del = WaitOperation(s_->Call("DELETE", base + "/" + id, nullptr, a.session), a.session);
  EXPECT_EQ(del["state"], "succeeded") << del.dump();
  EXPECT_EQ(s_->Call("GET", base + "/" + id, nullptr, a.session).status, 404);
  EXPECT_TRUE(s_->Call("GET", base, nullptr, a.session).json["items"].empty());
  auto pools = s_->Call("GET", "/api/v1/admin/ip-pools", nullptr, Staff());
  ASSERT_EQ(pools.status, 200) << pools.body;
  for (const auto& p : pools.json["items"]) EXPECT_EQ(p["used"], 0) << p.dump();

  // Every state change is in the organization's audit log.
  auto audit = s_->Call("GET", "/api/v1/organizations/" + a.org_id + "/audit-events?action=vps.",
                        nullptr, a.session);
  ASSERT_EQ(audit.status, 200) << audit.body;
  std::set<std::string> actions;
  for (const auto& e : audit.json["items"]) actions.insert(e.value("action", ""));
  for (const char* want :
       {"vps.create", "vps.stop", "vps.start", "vps.snapshot.create", "vps.delete"})
    EXPECT_TRUE(actions.count(want)) << want << " not audited: " << audit.body;
}

TEST_F(ProvisioningApi, SiteIsServedByTheLocalWebNodeSuspendedAndTerminated) {
  auto a = s_->SignUp("site-owner@a.example", "Site Org");
  const std::string base = "/api/v1/organizations/" + a.org_id + "/sites";
  auto bad = s_->Call("POST", base, {{"domain", "Not A Domain"}}, a.session);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json.value("field", ""), "domain") << bad.body;

  auto created =
      s_->Call("POST", base, {{"domain", "shop-a.example"}, {"quota_mib", 100}}, a.session);
  ASSERT_EQ(created.status, 202) << created.body;
  const std::string id = created.json["site"]["id"];
  EXPECT_EQ(WaitOperation(created, a.session)["state"], "succeeded");
  auto site = s_->Call("GET", base + "/" + id, nullptr, a.session);
  ASSERT_EQ(site.json["state"], "active") << site.body;
  const std::string docroot = site.json["document_root"];
  ASSERT_TRUE(fs::is_directory(docroot)) << docroot;
  WriteFile(docroot + "/index.html", "<h1>Shop A</h1>\n");
  ASSERT_TRUE(
      PollUntil([&] { return Web("shop-a.example").body.find("Shop A") != std::string::npos; },
                std::chrono::seconds(10)))
      << Web("shop-a.example").status;
  EXPECT_TRUE(
      PollUntil([&] { return Web("www.shop-a.example").status == 200; }, std::chrono::seconds(10)))
      << "www. is served too";
  EXPECT_EQ(Web("other.example").status, 404) << "unknown hosts get the default server";

  auto pw =
      s_->Call("POST", base + "/" + id + "/actions/reset-sftp-password", Json::object(), a.session);
  EXPECT_EQ(pw.status, 200) << pw.body;
  EXPECT_GE(pw.json.value("password", "").size(), 12u);
  EXPECT_EQ(pw.json["sftp_user"], site.json["sftp_user"]);

  EXPECT_EQ(WaitOperation(
                s_->Call("POST", base + "/" + id + "/actions/suspend", Json::object(), a.session),
                a.session)["state"],
            "succeeded");
  EXPECT_TRUE(PollUntil(
      [&] {
        auto r = Web("shop-a.example");
        return r.status == 503 && r.body.find("suspended") != std::string::npos;
      },
      std::chrono::seconds(10)))
      << "the suspension page is served";
  EXPECT_EQ(s_->Call("GET", base + "/" + id, nullptr, a.session).json["state"], "suspended");
  EXPECT_EQ(WaitOperation(
                s_->Call("POST", base + "/" + id + "/actions/unsuspend", Json::object(), a.session),
                a.session)["state"],
            "succeeded");
  EXPECT_TRUE(
      PollUntil([&] { return Web("shop-a.example").body.find("Shop A") != std::string::npos; },
                std::chrono::seconds(10)));

  EXPECT_EQ(
      WaitOperation(s_->Call("DELETE", base + "/" + id, nullptr, a.session), a.session)["state"],
      "succeeded");
  EXPECT_TRUE(
      PollUntil([&] { return Web("shop-a.example").status == 404; }, std::chrono::seconds(10)))
      << "the server block is gone";
  EXPECT_FALSE(fs::exists(docroot)) << "the files are gone";
  EXPECT_EQ(s_->Call("GET", base + "/" + id, nullptr, a.session).status, 404);
}

TEST_F(ProvisioningApi, DedicatedServerIsExclusiveAndASecondOrganizationIsToldWhy) {
  auto a = s_->SignUp("ded-a@a.example", "Dedicated A");
  auto b = s_->SignUp("ded-b@b.example", "Dedicated B");
  const std::string base_a = "/api/v1/organizations/" + a.org_id + "/dedicated";
  const std::string base_b = "/api/v1/organizations/" + b.org_id + "/dedicated";
  auto created =
      s_->Call("POST", base_a, {{"hostname", "metal1"}, {"template", "tiny"}}, a.session);
  ASSERT_EQ(created.status, 202) << created.body;
  const std::string id = created.json["server"]["id"];
  EXPECT_EQ(WaitOperation(created, a.session)["state"], "succeeded");
  auto server = s_->Call("GET", base_a + "/" + id, nullptr, a.session);
  EXPECT_EQ(server.json["state"], "active") << server.body;
  EXPECT_EQ(server.json["powered_on"], true);

  auto refused =
      s_->Call("POST", base_b, {{"hostname", "metal2"}, {"template", "tiny"}}, b.session);
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_NE(refused.body.find("1 host: 1 already dedicated"), std::string::npos) << refused.body;
  EXPECT_TRUE(s_->Call("GET", base_b, nullptr, b.session).json["items"].empty());

  EXPECT_EQ(WaitOperation(s_->Call("POST", base_a + "/" + id + "/actions/power-off", Json::object(),
                                   a.session),
                          a.session)["state"],
            "succeeded");
  EXPECT_EQ(s_->Call("GET", base_a + "/" + id, nullptr, a.session).json["powered_on"], false);
  EXPECT_EQ(WaitOperation(s_->Call("POST", base_a + "/" + id + "/actions/power-on", Json::object(),
                                   a.session),
                          a.session)["state"],
            "succeeded");
  EXPECT_EQ(s_->Call("GET", base_a + "/" + id, nullptr, a.session).json["powered_on"], true);

  // Released: the host is B's to take.
  EXPECT_EQ(
      WaitOperation(s_->Call("DELETE", base_a + "/" + id, nullptr, a.session), a.session)["state"],
      "succeeded");
  EXPECT_EQ(s_->Call("GET", base_a + "/" + id, nullptr, a.session).status, 404);
  auto taken = s_->Call("POST", base_b, {{"hostname", "metal2"}, {"template", "tiny"}}, b.session);
  ASSERT_EQ(taken.status, 202) << taken.body;
  EXPECT_EQ(WaitOperation(taken, b.session)["state"], "succeeded");
  EXPECT_EQ(
      WaitOperation(s_->Call("DELETE", base_b + "/" + taken.json["server"]["id"].get<std::string>(),
                             nullptr, b.session),
                    b.session)["state"],
      "succeeded");
}

TEST_F(ProvisioningApi, StaffAddAndDrainHostsThroughTheApiAndTheCli) {
  Caller staff = Staff();
  auto customer = s_->SignUp("not-staff@c.example", "Customer C");
  EXPECT_EQ(s_->Call("GET", "/api/v1/admin/hosts", nullptr, customer.session).status, 403);

  auto hosts = s_->Call("GET", "/api/v1/admin/hosts", nullptr, staff);
  ASSERT_EQ(hosts.status, 200) << hosts.body;
  std::set<std::string> names;
  for (const auto& h : hosts.json["items"]) names.insert(h["name"]);
  EXPECT_EQ(names, (std::set<std::string>{"dev-vps-01", "dev-dedicated-01", "dev-web-01"}));
  EXPECT_EQ(s_->Call("GET", "/api/v1/admin/templates", nullptr, staff).json["items"][0]["name"],
            "tiny");

  auto bad = s_->Call("POST", "/api/v1/admin/hosts",
                      {{"name", "vps-02"},
                       {"uri", "test:///nowhere.xml"},
                       {"zone", "dev-1"},
                       {"kind", "vps"},
                       {"capacity", {{"vcpus", 0}, {"ram_mib", 1024}, {"disk_gib", 10}}}},
                      staff);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json.value("field", ""), "capacity.vcpus") << bad.body;
  auto added = s_->Call("POST", "/api/v1/admin/hosts",
                        {{"name", "vps-02"},
                         {"uri", "test:///nowhere.xml"},
                         {"zone", "dev-2"},
                         {"kind", "vps"},
                         {"capacity", {{"vcpus", 4}, {"ram_mib", 8192}, {"disk_gib", 100}}}},
                        staff);
  ASSERT_EQ(added.status, 201) << added.body;
  EXPECT_EQ(added.json["state"], "active");
  EXPECT_EQ(added.json["effective"]["vcpus"], 16) << "default CPU overcommit 4";

  // Draining the only dev-1 VPS host: a customer's create is refused, saying why.
  auto drained = s_->Call("POST", "/api/v1/admin/hosts/dev-vps-01/drain", Json::object(), staff);
  ASSERT_EQ(drained.status, 200) << drained.body;
  EXPECT_EQ(drained.json["state"], "draining");
  auto refused = s_->Call("POST", "/api/v1/organizations/" + customer.org_id + "/vps",
                          {{"hostname", "x1"},
                           {"template", "tiny"},
                           {"plan", {{"vcpus", 1}, {"ram_mib", 512}, {"disk_gib", 2}}}},
                          customer.session);
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_NE(refused.body.find("draining"), std::string::npos) << refused.body;
  EXPECT_EQ(s_->Call("POST", "/api/v1/admin/hosts/dev-vps-01/activate", Json::object(), staff)
                .json["state"],
            "active");

  // The CLI sees and changes the same inventory; every change is audited.
  auto [rc, out] = hp::testing::Run({HostplaneBinary(), "hosts", "list", "--var", s_->var()});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("vps-02"), std::string::npos) << out;
  auto [rc2, out2] =
      hp::testing::Run({HostplaneBinary(), "hosts", "drain", "vps-02", "--var", s_->var()});
  EXPECT_EQ(rc2, 0) << out2;
  EXPECT_EQ(s_->Call("GET", "/api/v1/admin/hosts/vps-02", nullptr, staff).json["state"],
            "draining");
  auto [rc3, out3] =
      hp::testing::Run({HostplaneBinary(), "hosts", "add", "--name", "web-02", "--uri",
                        "local:///web-02", "--zone", "dev-2", "--kind", "shared-web", "--vcpus",
                        "4", "--ram-mib", "4096", "--disk-gib", "many", "--var", s_->var()});
  EXPECT_EQ(rc3, 2) << out3;
  EXPECT_NE(out3.find("capacity.disk_gib"), std::string::npos) << out3;
  auto [rc4, out4] =
      hp::testing::Run({HostplaneBinary(), "hosts", "remove", "vps-02", "--var", s_->var()});
  EXPECT_EQ(rc4, 0) << out4;
  EXPECT_EQ(s_->Call("GET", "/api/v1/admin/hosts/vps-02", nullptr, staff).status, 404);
  auto audit = s_->Call("GET", "/api/v1/admin/audit-events?action=host.", nullptr, staff);
  ASSERT_EQ(audit.status, 200) << audit.body;
  std::set<std::string> actions;
  for (const auto& e : audit.json["items"]) actions.insert(e.value("action", ""));
  for (const char* want : {"host.add", "host.drain", "host.activate", "host.remove"})
    EXPECT_TRUE(actions.count(want)) << want << " not audited: " << audit.body;
}

// Reverse DNS through dns/: the PTRs of a VPS's addresses are answered by the built-in
// authoritative server (platform-owned reverse zones) and disappear when the VPS is deleted.
TEST_F(ProvisioningApi, VpsAddressesHavePtrRecordsServedByTheBuiltInDnsServer) {
  std::string addr = ReadFile(s_->var() + "/run/dns.addr");
  while (!addr.empty() && (addr.back() == '\n' || addr.back() == ' ')) addr.pop_back();
  const size_t colon = addr.rfind(':');
  ASSERT_NE(colon, std::string::npos) << addr;
  const std::string host = addr.substr(0, colon), port = addr.substr(colon + 1);
  // kdig's whole answer (status line and answer section) for the PTR of `ip`.
  auto dig = [&](const std::string& ip) {
    return hp::testing::Run(
               {"kdig", "@" + host, "-p", port, "-x", ip, "+norecurse", "+timeout=2", "+retry=0"})
        .second;
  };
  auto ptr = [&](const std::string& ip) {
    return hp::testing::Run({"kdig", "@" + host, "-p", port, "-x", ip, "+norecurse", "+timeout=2",
                             "+retry=0", "+short"})
        .second;
  };

  auto b = s_->SignUp("ptr-owner@b.example", "PTR Org");
  const std::string base = "/api/v1/organizations/" + b.org_id + "/vps";
  auto created = s_->Call("POST", base,
                          {{"hostname", "mail.b.example"},
                           {"template", "tiny"},
                           {"plan", {{"vcpus", 1}, {"ram_mib", 512}, {"disk_gib", 5}}}},
                          b.session);
  ASSERT_EQ(created.status, 202) << created.body;
  const std::string id = created.json["vps"]["id"];
  Json op = WaitOperation(created, b.session);
  ASSERT_EQ(op["state"], "succeeded") << op.dump();
  auto vps = s_->Call("GET", base + "/" + id, nullptr, b.session);
  ASSERT_EQ(vps.status, 200) << vps.body;
  const std::string v4 = vps.json.value("ipv4", ""), v6 = vps.json.value("ipv6", "");
  ASSERT_FALSE(v4.empty()) << vps.body;
  ASSERT_FALSE(v6.empty()) << vps.body;

  for (const std::string& ip : {v4, v6}) {
    std::string out;
    EXPECT_TRUE(PollUntil([&] { return (out = ptr(ip)) == "mail.b.example.\n"; },
                          std::chrono::seconds(5), std::chrono::milliseconds(50)))
        << "PTR of " << ip << ": " << out << dig(ip);
  }
  // The reverse zones belong to the platform: not listed to the customer, and the customer
  // cannot take the name over.
  const std::string zones = "/api/v1/organizations/" + b.org_id + "/zones";
  auto listed = s_->Call("GET", zones, nullptr, b.session);
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_TRUE(listed.json["items"].empty()) << listed.body;
  auto grab = s_->Call("POST", zones, {{"name", "2.0.192.in-addr.arpa"}}, b.session);
  EXPECT_EQ(grab.status, 409) << grab.body;

  Json del = WaitOperation(s_->Call("DELETE", base + "/" + id, nullptr, b.session), b.session);
  ASSERT_EQ(del["state"], "succeeded") << del.dump();
  for (const std::string& ip : {v4, v6}) {
    std::string out;
    EXPECT_TRUE(PollUntil(
        [&] {
          out = dig(ip);
          return out.find("status: NXDOMAIN") != std::string::npos ||
                 (out.find("status: NOERROR") != std::string::npos && ptr(ip).empty());
        },
        std::chrono::seconds(5), std::chrono::milliseconds(50)))
        << "PTR of " << ip << " after delete: " << out;
    EXPECT_EQ(out.find("mail.b.example."), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace hp::testing
