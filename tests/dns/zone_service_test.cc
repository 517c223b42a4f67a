// Hosted zones: validation that names the field, SOA serials, CNAME exclusivity, tenancy,
// zone-file import/export and the JSON API routes.

#include <gtest/gtest.h>

#include "hp/core/http.h"
#include "server_fixture.h"
#include "test_zone.h"

namespace hp::dns::testing {
namespace {

using hp::core::ErrorCode;

class DnsZoneServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    f_.Init({.default_nameservers = {"ns1.hostplane.test.", "ns2.hostplane.test."}});
    auto z = f_.zones->CreateZone("org1", {.name = "Example.COM"});
    ASSERT_TRUE(z) << z.error().ToString();
    zone_ = *z;
  }
  hp::core::Result<Record> Add(std::string name, std::string type, std::string data,
                               std::optional<uint32_t> ttl = {}) {
    return f_.zones->AddRecord("org1", zone_.id, {name, type, ttl, data});
  }
  ServerFixture f_;
  Zone zone_;
};

TEST_F(DnsZoneServiceTest, NewZoneHasSoaAndApexNameservers) {
  EXPECT_EQ(zone_.name, "example.com.");
  EXPECT_EQ(zone_.soa.mname, "ns1.hostplane.test.");
  EXPECT_EQ(zone_.soa.rname, "hostmaster.example.com.");
  EXPECT_EQ(zone_.soa.serial, 1u);
  auto recs = f_.zones->ListRecords("org1", zone_.id);
  ASSERT_TRUE(recs);
  ASSERT_EQ(recs->size(), 2u);
  EXPECT_EQ((*recs)[0].type, RecordType::kNS);
  EXPECT_EQ((*recs)[0].data, "ns1.hostplane.test.");
}

TEST_F(DnsZoneServiceTest, CanonicalisesValidRecords) {
  struct Case {
    std::string name, type, data, want_name, want_data;
  };
  std::vector<Case> cases = {
      {"www", "A", "192.0.2.1", "www.example.com.", "192.0.2.1"},
      {"@", "AAAA", "2001:DB8:0:0::1", "example.com.", "2001:db8::1"},
      {"blog", "cname", "WWW.example.com", "blog.example.com.", "www.example.com."},
      {"example.com", "MX", "10 Mail.example.com.", "example.com.", "10 mail.example.com."},
      {"_acme-challenge", "TXT", "abc def", "_acme-challenge.example.com.", "\"abc def\""},
      {"t2", "TXT", "\"a\" \"b\\\"c\"", "t2.example.com.", "\"a\" \"b\\\"c\""},
      {"@", "CAA", "0 issue \"ca.example; accounturi=https://ca.example/acct/1\"",
       "example.com.",
       "0 issue \"ca.example; accounturi=https://ca.example/acct/1\""},
      {"_sip._tcp", "SRV", "10 5 5060 sip.example.com.", "_sip._tcp.example.com.",
       "10 5 5060 sip.example.com."},
      {"*.dev", "A", "192.0.2.9", "*.dev.example.com.", "192.0.2.9"},
      {"1.2", "PTR", "host.example.net", "1.2.example.com.", "host.example.net."},
      {"sub", "NS", "ns.other.net.", "sub.example.com.", "ns.other.net."},
      {"nullmx", "MX", "0 .", "nullmx.example.com.", "0 ."},
  };
  for (const auto& c : cases) {
    auto r = Add(c.name, c.type, c.data);
    ASSERT_TRUE(r) << c.type << " " << c.data << ": " << r.error().ToString();
    EXPECT_EQ(r->name, c.want_name);
    EXPECT_EQ(r->data, c.want_data) << c.type;
  }
  auto long_txt = Add("long", "TXT", std::string(600, 'x'));
  ASSERT_TRUE(long_txt);
  EXPECT_EQ(std::count(long_txt->data.begin(), long_txt->data.end(), '"'), 6);  // 3 strings
}

TEST_F(DnsZoneServiceTest, RejectsInvalidInputNamingTheField) {
  struct Case {
    std::string name, type, data;
    std::optional<uint32_t> ttl;
    std::string field;
  };
  std::vector<Case> cases = {
      {"www", "A", "192.0.2.256", {}, "data"},
      {"www", "A", "192.0.2.1 extra", {}, "data"},
      {"www", "AAAA", "192.0.2.1", {}, "data"},
      {"www", "SOA", "x", {}, "type"},
      {"www", "HINFO", "x y", {}, "type"},
      {"bad name", "A", "192.0.2.1", {}, "name"},
      {"www.other.org.", "A", "192.0.2.1", {}, "name"},
      {std::string(64, 'a'), "A", "192.0.2.1", {}, "name"},
      {"a.*.b", "A", "192.0.2.1", {}, "name"},
      {"www", "MX", "70000 mail.example.com.", {}, "data.preference"},
      {"www", "MX", "10 -bad-.example.com.", {}, "data.exchange"},
      {"www", "SRV", "1 2 99999 t.example.com.", {}, "data.port"},
      {"www", "SRV", "1 2 3", {}, "data"},
      {"www", "CAA", "256 issue \"ca.example\"", {}, "data.flags"},
      {"www", "CAA", "0 is-sue \"ca.example\"", {}, "data.tag"},
      {"www", "CAA", "0 issue \"ca.example; bad\"", {}, "data.value"},
      {"www", "CAA", "0 iodef \"ftp://x\"", {}, "data.value"},
      {"www", "TXT", "\"unterminated", {}, "data"},
      {"www", "TXT", "\"" + std::string(256, 'a') + "\"", {}, "data"},
      {"www", "CNAME", "", {}, "data"},
      {"www", "A", "192.0.2.1", 4294967295u, "ttl"},
      {"*.w", "NS", "ns.example.net.", {}, "name"},
  };
  for (const auto& c : cases) {
    auto r = Add(c.name, c.type, c.data, c.ttl);
    ASSERT_FALSE(r) << c.name << " " << c.type << " " << c.data << " was accepted";
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << c.data;
    EXPECT_EQ(r.error().field, c.field) << c.type << " " << c.data << ": " << r.error().detail;
  }
  // Nothing was stored and the serial did not move.
  auto z = f_.zones->GetZone("org1", zone_.id);
  ASSERT_TRUE(z);
  EXPECT_EQ(z->soa.serial, 1u);
}

TEST_F(DnsZoneServiceTest, EveryChangeBumpsTheSerial) {
  auto a = Add("www", "A", "192.0.2.1");
  ASSERT_TRUE(a);
  auto b = f_.zones->UpdateRecord("org1", zone_.id, a->id, {"www", "A", 60, "192.0.2.2"});
  ASSERT_TRUE(b) << b.error().ToString();
  EXPECT_EQ(b->id, a->id);
  EXPECT_EQ(b->ttl, 60u);
  ASSERT_TRUE(f_.zones->DeleteRecord("org1", zone_.id, a->id));
  auto z = f_.zones->GetZone("org1", zone_.id);
  ASSERT_TRUE(z);
  EXPECT_EQ(z->soa.serial, 4u);
}

TEST_F(DnsZoneServiceTest, EnforcesCnameExclusivityAndDuplicates) {
  ASSERT_TRUE(Add("www", "A", "192.0.2.1"));
  auto c = Add("www", "CNAME", "other.example.net.");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kConflict);
  ASSERT_TRUE(Add("blog", "CNAME", "www.example.com."));
  auto second = Add("blog", "CNAME", "x.example.com.");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kConflict);
  auto txt = Add("blog", "TXT", "hello");
  ASSERT_FALSE(txt);
  EXPECT_EQ(txt.error().code, ErrorCode::kConflict);
  auto apex = Add("@", "CNAME", "x.example.net.");
  ASSERT_FALSE(apex);
  EXPECT_EQ(apex.error().code, ErrorCode::kConflict);
  auto dup = Add("www", "A", "192.0.2.1");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  auto ttl = Add("www", "A", "192.0.2.2", 60);
  ASSERT_FALSE(ttl);
  EXPECT_EQ(ttl.error().field, "ttl");
}

TEST_F(DnsZoneServiceTest, ZonesAreScopedByOrganization) {
  auto other = f_.zones->GetZone("org2", zone_.id);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kNotFound);
  auto add = f_.zones->AddRecord("org2", zone_.id, {"www", "A", {}, "192.0.2.1"});
  ASSERT_FALSE(add);
  EXPECT_EQ(add.error().code, ErrorCode::kNotFound);
  auto dup = f_.zones->CreateZone("org2", {.name = "example.com"});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  // A sub-zone would capture names of another organization's zone.
  auto sub = f_.zones->CreateZone("org2", {.name = "shop.example.com"});
  ASSERT_FALSE(sub);
  EXPECT_EQ(sub.error().code, ErrorCode::kConflict);
  auto list = f_.zones->ListZones("org2");
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
}

TEST_F(DnsZoneServiceTest, LastApexNsCannotBeDeleted) {
  auto recs = f_.zones->ListRecords("org1", zone_.id);
  ASSERT_TRUE(recs);
  ASSERT_TRUE(f_.zones->DeleteRecord("org1", zone_.id, (*recs)[0].id));
  auto last = f_.zones->DeleteRecord("org1", zone_.id, (*recs)[1].id);
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().code, ErrorCode::kConflict);
}

TEST_F(DnsZoneServiceTest, ImportsAndExportsZoneFiles) {
  auto z = f_.zones->ImportZoneFile("org1", "example.test", DiffZoneText());
  ASSERT_TRUE(z) << z.error().ToString();
  EXPECT_EQ(z->soa.serial, 2024010101u);
  EXPECT_EQ(z->soa.mname, "ns1.example.test.");
  auto text = f_.zones->ExportZoneFile("org1", z->id);
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("www.example.test. 3600 IN CNAME example.test."), std::string::npos);
  // The export imports again into an identical record set.
  auto recs = f_.zones->ListRecords("org1", z->id);
  ASSERT_TRUE(f_.zones->DeleteZone("org1", z->id));
  auto again = f_.zones->ImportZoneFile("org1", "example.test", *text);
  ASSERT_TRUE(again) << again.error().ToString();
  auto recs2 = f_.zones->ListRecords("org1", again->id);
  ASSERT_EQ(recs->size(), recs2->size());
  for (size_t i = 0; i < recs->size(); ++i) EXPECT_EQ((*recs)[i].data, (*recs2)[i].data);

  auto bad = f_.zones->ImportZoneFile("org1", "bad.test",
                                      "$ORIGIN bad.test.\n@ 3600 IN SOA a. b. 1 2 3 4 5\n"
                                      "@ 3600 IN HINFO \"a\" \"b\"\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "type");
  EXPECT_NE(bad.error().detail.find("HINFO"), std::string::npos);
}

TEST_F(DnsZoneServiceTest, JsonRoutesCreateListAndReportFieldErrors) {
  hp::core::http::Router router;
  RegisterZoneRoutes(router, *f_.zones, [](const hp::core::http::Request& r)
                                            -> hp::core::Result<std::string> {
    std::string org = r.Header("x-org");
    if (org.empty()) return hp::core::Fail(ErrorCode::kUnauthenticated, "no org");
    return org;
  });
  auto call = [&](std::string method, std::string path, std::string body, std::string org) {
    auto m = router.Find(method, path);
    hp::core::http::Request req;
    req.method = method;
    req.path = path;
    req.body = body;
    req.params = m.params;
    if (!org.empty()) req.headers.push_back({"x-org", org});
    hp::core::http::Response out;
    EXPECT_TRUE(m.handler) << method << " " << path;
    if (m.handler) (*m.handler)(std::move(req), [&](hp::core::http::Response r) { out = r; });
    return out;
  };
  auto created = call("POST", "/api/v1/zones", R"({"name":"api.test"})", "org9");
  ASSERT_EQ(created.status, 201) << created.body;
  auto zj = nlohmann::json::parse(created.body);
  std::string id = zj["id"];
  auto rec = call("POST", "/api/v1/zones/" + id + "/records",
                  R"({"name":"www","type":"A","data":"192.0.2.300"})", "org9");
  EXPECT_EQ(rec.status, 400);
  EXPECT_NE(rec.body.find("data"), std::string::npos);
  rec = call("POST", "/api/v1/zones/" + id + "/records",
             R"({"name":"www","type":"A","ttl":120,"data":"192.0.2.30"})", "org9");
  ASSERT_EQ(rec.status, 201) << rec.body;
  auto list = call("GET", "/api/v1/zones/" + id + "/records", "", "org9");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(nlohmann::json::parse(list.body)["records"].size(), 3u);  // 2 NS + A
  EXPECT_EQ(call("GET", "/api/v1/zones/" + id, "", "org8").status, 404);
  EXPECT_EQ(call("GET", "/api/v1/zones", "", "").status, 401);
  auto exported = call("GET", "/api/v1/zones/" + id + "/export", "", "org9");
  EXPECT_NE(exported.body.find("www.api.test. 120 IN A 192.0.2.30"), std::string::npos);
}

}  // namespace
}  // namespace hp::dns::testing
