// RFC 8659 / RFC 8657 CAA decisions, table-driven, against a real Knot serving the records.

#include <gtest/gtest.h>

#include "dns_test_util.h"
#include "hp/dns/caa.h"

namespace hp::dns::testing {
namespace {

constexpr char kZone[] = R"($ORIGIN test.
$TTL 300
@            SOA   ns.test. h.test. 1 3600 900 1209600 300
@            NS    ns
ns           A     192.0.2.1
www.nocaa    A     192.0.2.2
allow        CAA   0 issue "ca.example"
deny         CAA   0 issue "other.example"
www.deny     A     192.0.2.3
ok.deny      CAA   0 issue "ca.example"
none         CAA   0 issue ";"
iodef        CAA   0 iodef "mailto:security@iodef.test"
crit         CAA   128 tbs "x"
crit         CAA   0 issue "ca.example"
noncrit      CAA   0 tbs "x"
noncrit      CAA   0 issue "ca.example"
wild         CAA   0 issue "other.example"
wild         CAA   0 issuewild "ca.example"
nowild       CAA   0 issue "ca.example"
nowild       CAA   0 issuewild ";"
onlywild     CAA   0 issuewild "other.example"
acct         CAA   0 issue "ca.example; accounturi=https://ca.example/acct/123"
vm           CAA   0 issue "ca.example; validationmethods=dns-01,tls-alpn-01"
multi        CAA   0 issue "other.example"
multi        CAA   0 issue "ca.example; accounturi=https://ca.example/acct/123"
alias        CNAME deny.test.
alias3.allow CNAME www.deny.test.
case         CAA   0 IsSuE "CA.Example"
bad          CAA   0 issue "ca.example; accounturi"
param        CAA   0 issue "ca.example; foo=bar"
spaced       CAA   0 issue "  ca.example  ;  accounturi=https://ca.example/acct/123  "
critknown    CAA   128 issue "ca.example"
twoacct      CAA   0 issue "ca.example; accounturi=https://ca.example/acct/1; accounturi=https://ca.example/acct/123"
)";

class DnsCaaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    knot_ = new Knot(std::vector<Knot::ZoneConf>{{.name = "test", .file_text = kZone}});
    ASSERT_EQ(knot_->Start(), "");
    auto r = CreateLdnsResolver({.upstreams = {"127.0.0.1:" + std::to_string(knot_->port())},
                                 .timeout = std::chrono::milliseconds(1000),
                                 .recursion_desired = false});
    ASSERT_TRUE(r);
    resolver_ = r->release();
  }
  static void TearDownTestSuite() {
    delete resolver_;
    delete knot_;
  }
  static Knot* knot_;
  static Resolver* resolver_;
};
Knot* DnsCaaTest::knot_ = nullptr;
Resolver* DnsCaaTest::resolver_ = nullptr;

struct Case {
  std::string what;
  std::string name;
  bool wildcard;
  std::string account;
  std::string method;
  bool permitted;
  std::string relevant;  // expected relevant_name ("" = none found)
};

TEST_F(DnsCaaTest, Rfc8659AndRfc8657Table) {
  const std::string me = "https://ca.example/acct/123";
  const std::string other = "https://ca.example/acct/999";
  std::vector<Case> cases = {
      {"no CAA anywhere up the tree", "www.nocaa.test", false, me, "http-01", true, ""},
      {"issue names us", "allow.test", false, me, "http-01", true, "allow.test."},
      {"climbing finds the parent's set", "a.b.allow.test", false, me, "http-01", true,
       "allow.test."},
      {"issue names another CA", "deny.test", false, me, "http-01", false, "deny.test."},
      {"climbing to a denying parent", "www.deny.test", false, me, "http-01", false,
       "deny.test."},
      {"the closest set wins over a denying parent", "x.ok.deny.test", false, me, "http-01",
       true, "ok.deny.test."},
      {"issue \";\" forbids everyone", "none.test", false, me, "http-01", false, "none.test."},
      {"iodef only does not restrict", "iodef.test", false, me, "http-01", true, "iodef.test."},
      {"unknown critical tag forbids", "crit.test", false, me, "http-01", false, "crit.test."},
      {"unknown non-critical tag is ignored", "noncrit.test", false, me, "http-01", true,
       "noncrit.test."},
      {"critical flag on a known tag is fine", "critknown.test", false, me, "http-01", true,
       "critknown.test."},
      {"issuewild names us for a wildcard", "*.wild.test", true, me, "dns-01", true,
       "wild.test."},
      {"issue (not issuewild) decides a non-wildcard", "wild.test", false, me, "dns-01", false,
       "wild.test."},
      {"issuewild \";\" forbids wildcards", "*.nowild.test", true, me, "dns-01", false,
       "nowild.test."},
      {"issuewild does not affect non-wildcards", "nowild.test", false, me, "dns-01", true,
       "nowild.test."},
      {"wildcard falls back to issue", "*.allow.test", true, me, "dns-01", true, "allow.test."},
      {"wildcard falls back to a denying issue", "*.deny.test", true, me, "dns-01", false,
       "deny.test."},
      {"issuewild only: non-wildcard unrestricted", "onlywild.test", false, me, "http-01", true,
       "onlywild.test."},
      {"issuewild only: wildcard of another CA", "*.onlywild.test", true, me, "dns-01", false,
       "onlywild.test."},
      {"accounturi matches", "acct.test", false, me, "http-01", true, "acct.test."},
      {"accounturi mismatch", "acct.test", false, other, "http-01", false, "acct.test."},
      {"validationmethods lists the method", "vm.test", false, me, "dns-01", true, "vm.test."},
      {"validationmethods lacks the method", "vm.test", false, me, "http-01", false,
       "vm.test."},
      {"one of several issue records authorises", "multi.test", false, me, "http-01", true,
       "multi.test."},
      {"none of several issue records authorises", "multi.test", false, other, "http-01",
       false, "multi.test."},
      {"CNAME target's CAA applies at the alias", "alias.test", false, me, "http-01", false,
       "alias.test."},
      {"climbing continues from the alias, not the target", "alias3.allow.test", false, me,
       "http-01", true, "allow.test."},
      {"tag and issuer are case-insensitive", "case.test", false, me, "http-01", true,
       "case.test."},
      {"malformed parameter authorises nobody", "bad.test", false, me, "http-01", false,
       "bad.test."},
      {"unknown parameter is ignored", "param.test", false, me, "http-01", true, "param.test."},
      {"whitespace around issuer and parameters", "spaced.test", false, me, "http-01", true,
       "spaced.test."},
      {"a repeated accounturi is ambiguous", "twoacct.test", false, me, "http-01", false,
       "twoacct.test."},
  };
  ASSERT_GE(cases.size(), 20u);
  CaaChecker checker(*resolver_, {.issuer_domains = {"ca.example"}});
  for (const auto& c : cases) {
    auto d = checker.Check({c.name, c.wildcard, c.account, c.method});
    ASSERT_TRUE(d) << c.what << ": " << d.error().ToString();
    EXPECT_EQ(d->permitted, c.permitted) << c.what << " (" << d->reason << ")";
    EXPECT_EQ(d->relevant_name, c.relevant) << c.what;
    EXPECT_EQ(d->records.empty(), c.relevant.empty()) << c.what;
  }
}

TEST_F(DnsCaaTest, DecisionCarriesTheRecordsForTheAuditTrail) {
  CaaChecker checker(*resolver_, {.issuer_domains = {"ca.example"}});
  auto d = checker.Check({"www.crit.test", false, "", "http-01"});
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->permitted);
  ASSERT_EQ(d->records.size(), 2u);
  bool saw_critical = false;
  for (const auto& r : d->records) {
    if (r.tag == "tbs") {
      saw_critical = true;
      EXPECT_EQ(r.flags, 128);
      EXPECT_EQ(r.value, "x");
      EXPECT_EQ(r.owner, "crit.test.");
    }
  }
  EXPECT_TRUE(saw_critical);
  EXPECT_NE(d->reason.find("critical"), std::string::npos);
}

TEST_F(DnsCaaTest, LookupFailureIsAnErrorNotPermission) {
  CaaChecker checker(*resolver_, {.issuer_domains = {"ca.example"}});
  // Knot does not serve "invalid.": REFUSED must not read as "no CAA".
  auto d = checker.Check({"www.example.invalid", false, "", "http-01"});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, hp::core::ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace hp::dns::testing
