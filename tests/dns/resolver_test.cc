// LdnsResolver against a real Knot on loopback: records, CNAME chains, TCP fallback, upstream
// failures, and DNSSEC validation of zones signed in the test with ldns-signzone.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "dns_test_util.h"
#include "hp/dns/resolver.h"

namespace hp::dns::testing {
namespace {

using hp::core::ErrorCode;

std::string ZoneText(const std::string& origin) {
  return "$ORIGIN " + origin + ".\n$TTL 300\n"
         "@ SOA ns." + origin + ". h." + origin + ". 1 3600 900 1209600 300\n"
         "@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.2\nwww AAAA 2001:db8::2\n"
         "@ TXT \"signed\"\nalias CNAME www\n";
}

struct Signed {
  std::string zone_text;
  std::string ds;  // trust anchor
};

// Signs ZoneText(origin) with a fresh ECDSA key; extra ldns-signzone arguments (validity).
Signed Sign(const std::string& dir, const std::string& origin,
            std::vector<std::string> extra = {}) {
  WriteFile(dir + "/" + origin + ".unsigned", ZoneText(origin));
  auto [rc, out] = Run({"sh", "-c", "cd '" + dir + "' && ldns-keygen -a ECDSAP256SHA256 -k " +
                                        origin});
  EXPECT_EQ(rc, 0) << out;
  std::string base = out.substr(0, out.find('\n'));
  std::vector<std::string> argv = {"ldns-signzone", "-o", origin, "-f",
                                    dir + "/" + origin + ".signed"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(dir + "/" + origin + ".unsigned");
  argv.push_back(dir + "/" + base);
  auto [rc2, out2] = Run(argv);
  EXPECT_EQ(rc2, 0) << out2;
  return {ReadFile(dir + "/" + origin + ".signed"), ReadFile(dir + "/" + base + ".ds")};
}

// Flips one character of the signature of the RRSIG over www's A record.
std::string Tamper(std::string text, const std::string& origin) {
  std::string needle = "www." + origin + ".\t300\tIN\tRRSIG\tA ";
  size_t at = text.find(needle);
  EXPECT_NE(at, std::string::npos);
  size_t eol = text.find('\n', at);
  size_t pos = eol - 10;
  text[pos] = text[pos] == 'A' ? 'B' : 'A';
  return text;
}

class DnsResolverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string& d = dir_->path();
    secure_ = new Signed(Sign(d, "secure.test"));
    Signed expired = Sign(d, "expired.test", {"-i", "20190101000000", "-e", "20200101000000"});
    expired_ds_ = new std::string(expired.ds);
    Signed tampered = Sign(d, "tampered.test");
    tampered_ds_ = new std::string(tampered.ds);
    Signed stripped = Sign(d, "stripped.test");
    stripped_ds_ = new std::string(stripped.ds);
    std::string big = "$ORIGIN plain.test.\n$TTL 300\n"
                      "@ SOA ns.plain.test. h.plain.test. 1 3600 900 1209600 300\n@ NS ns\n"
                      "ns A 192.0.2.1\nwww A 192.0.2.9\nto-secure CNAME www.secure.test.\n"
                      "loop1 CNAME loop2\nloop2 CNAME loop1\nbig TXT";
    for (int i = 0; i < 10; ++i) big += " \"" + std::string(200, static_cast<char>('a' + i)) + "\"";
    big += "\n";
    knot_ = new Knot({{.name = "secure.test", .file_text = secure_->zone_text},
                      {.name = "expired.test", .file_text = expired.zone_text},
                      {.name = "tampered.test",
                       .file_text = Tamper(tampered.zone_text, "tampered.test")},
                      {.name = "stripped.test", .file_text = ZoneText("stripped.test")},
                      {.name = "plain.test", .file_text = big},
                      {.name = "broken.test",
                       .file_text = "this is not a zone file\n",
                       .must_load = false}});
    start_error_ = new std::string(knot_->Start());
  }
  static void TearDownTestSuite() {
    delete knot_;
    delete dir_;
  }
  void SetUp() override { ASSERT_EQ(*start_error_, ""); }

  std::unique_ptr<Resolver> Make(bool anchors) {
    ResolverOptions o{.upstreams = {"127.0.0.1:" + std::to_string(knot_->port())},
                      .timeout = std::chrono::milliseconds(1000),
                      .recursion_desired = false};
    if (anchors) {
      o.trust_anchors = {secure_->ds, *expired_ds_, *tampered_ds_, *stripped_ds_};
    }
    auto r = CreateLdnsResolver(o);
    EXPECT_TRUE(r) << r.error().ToString();
    return std::move(*r);
  }

  static TempDir* dir_;
  static Signed* secure_;
  static std::string* expired_ds_;
  static std::string* tampered_ds_;
  static std::string* stripped_ds_;
  static Knot* knot_;
  static std::string* start_error_;
};
TempDir* DnsResolverTest::dir_ = nullptr;
Signed* DnsResolverTest::secure_ = nullptr;
std::string* DnsResolverTest::expired_ds_ = nullptr;
std::string* DnsResolverTest::tampered_ds_ = nullptr;
std::string* DnsResolverTest::stripped_ds_ = nullptr;
Knot* DnsResolverTest::knot_ = nullptr;
std::string* DnsResolverTest::start_error_ = nullptr;

TEST_F(DnsResolverTest, LooksUpRecordsAndFollowsCnameChainsAcrossZones) {
  auto r = Make(false);
  auto a = r->Lookup("www.plain.test", QType::kA);
  ASSERT_TRUE(a) << a.error().ToString();
  ASSERT_EQ(a->records.size(), 1u);
  EXPECT_EQ(a->records[0].data, "192.0.2.9");
  auto chain = r->Lookup("to-secure.plain.test", QType::kAAAA);
  ASSERT_TRUE(chain) << chain.error().ToString();
  ASSERT_EQ(chain->records.size(), 1u);
  EXPECT_EQ(chain->records[0].name, "www.secure.test.");
  EXPECT_EQ(chain->records[0].data, "2001:db8::2");
  EXPECT_EQ(chain->cname_chain, std::vector<std::string>{"to-secure.plain.test."});
  auto nx = r->Lookup("nope.plain.test", QType::kA);
  ASSERT_TRUE(nx);
  EXPECT_TRUE(nx->nxdomain);
  EXPECT_TRUE(nx->records.empty());
  auto loop = r->Lookup("loop1.plain.test", QType::kA);
  ASSERT_FALSE(loop);
  EXPECT_EQ(loop.error().code, ErrorCode::kAcmeDns);
}

TEST_F(DnsResolverTest, LargeAnswersComeOverTcpAfterTruncation) {
  auto r = Make(false);
  auto t = r->Lookup("big.plain.test", QType::kTXT);
  ASSERT_TRUE(t) << t.error().ToString();
  auto txt = t->TxtStrings();
  ASSERT_EQ(txt.size(), 1u);
  EXPECT_EQ(txt[0].size(), 2000u);  // 10 strings of 200, over the 1232-byte UDP limit
}

TEST_F(DnsResolverTest, ServfailRefusedAndTimeoutsAreErrorsNotEmptyAnswers) {
  auto r = Make(false);
  auto broken = r->Lookup("www.broken.test", QType::kA);  // the zone failed to load: SERVFAIL
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, ErrorCode::kUnavailable);
  auto refused = r->Lookup("www.notserved.example", QType::kA);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  // An upstream that never answers, then a working one.
  int silent = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(silent, reinterpret_cast<sockaddr*>(&a), &len);
  std::string silent_addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  auto only_silent = CreateLdnsResolver({.upstreams = {silent_addr},
                                         .timeout = std::chrono::milliseconds(200),
                                         .retries = 1,
                                         .recursion_desired = false});
  ASSERT_TRUE(only_silent);
  auto start = std::chrono::steady_clock::now();
  auto timed_out = (*only_silent)->Lookup("www.plain.test", QType::kA);
  ASSERT_FALSE(timed_out);
  EXPECT_EQ(timed_out.error().code, ErrorCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  auto failover = CreateLdnsResolver(
      {.upstreams = {silent_addr, "127.0.0.1:" + std::to_string(knot_->port())},
       .timeout = std::chrono::milliseconds(200),
       .retries = 1,
       .recursion_desired = false});
  ASSERT_TRUE(failover);
  auto ok = (*failover)->Lookup("www.plain.test", QType::kA);
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->records.size(), 1u);
  close(silent);
}

TEST_F(DnsResolverTest, DnssecValidAnswersAreSecure) {
  auto r = Make(true);
  auto a = r->Lookup("www.secure.test", QType::kA);
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->dnssec, DnssecStatus::kSecure);
  ASSERT_EQ(a->records.size(), 1u);
  auto alias = r->Lookup("alias.secure.test", QType::kAAAA);
  ASSERT_TRUE(alias) << alias.error().ToString();
  EXPECT_EQ(alias->dnssec, DnssecStatus::kSecure);
  EXPECT_EQ(alias->records.size(), 1u);
  auto nx = r->Lookup("nope.secure.test", QType::kA);
  ASSERT_TRUE(nx) << nx.error().ToString();
  EXPECT_TRUE(nx->nxdomain);
  EXPECT_EQ(nx->dnssec, DnssecStatus::kSecure);
  auto nodata = r->Lookup("www.secure.test", QType::kTXT);
  ASSERT_TRUE(nodata) << nodata.error().ToString();
  EXPECT_TRUE(nodata->records.empty());
  EXPECT_EQ(nodata->dnssec, DnssecStatus::kSecure);
}

TEST_F(DnsResolverTest, DnssecBogusAnswersAreRejected) {
  auto r = Make(true);
  auto tampered = r->Lookup("www.tampered.test", QType::kA);
  ASSERT_FALSE(tampered) << "a tampered signature was accepted";
  EXPECT_EQ(tampered.error().code, ErrorCode::kAcmeDns);
  EXPECT_NE(tampered.error().detail.find("bogus"), std::string::npos) << tampered.error().detail;
  auto expired = r->Lookup("www.expired.test", QType::kA);
  ASSERT_FALSE(expired) << "an expired RRSIG was accepted";
  EXPECT_EQ(expired.error().code, ErrorCode::kAcmeDns);
  EXPECT_NE(expired.error().detail.find("expired"), std::string::npos) << expired.error().detail;
  // Anchored zone served without signatures (a downgrade): bogus, not insecure.
  auto stripped = r->Lookup("www.stripped.test", QType::kA);
  ASSERT_FALSE(stripped);
  EXPECT_EQ(stripped.error().code, ErrorCode::kAcmeDns);
  // The same data is fine when nothing claims the zone is signed.
  auto no_anchor = Make(false)->Lookup("www.tampered.test", QType::kA);
  ASSERT_TRUE(no_anchor);
  EXPECT_EQ(no_anchor->dnssec, DnssecStatus::kInsecure);
}

TEST_F(DnsResolverTest, UnsignedZonesWithoutAnchorAreInsecure) {
  auto r = Make(true);
  auto a = r->Lookup("www.plain.test", QType::kA);
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->dnssec, DnssecStatus::kInsecure);
  EXPECT_EQ(a->records.size(), 1u);
  // A chain from an insecure zone into a secure one is insecure as a whole.
  auto chain = r->Lookup("to-secure.plain.test", QType::kA);
  ASSERT_TRUE(chain) << chain.error().ToString();
  EXPECT_EQ(chain->dnssec, DnssecStatus::kInsecure);
}

TEST_F(DnsResolverTest, BadOptionsNameTheKey) {
  auto none = CreateLdnsResolver({});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().field, "dns.upstream");
  auto bad = CreateLdnsResolver({.upstreams = {"dns.example:53"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "dns.upstream");
  auto anchor = CreateLdnsResolver({.upstreams = {"127.0.0.1"}, .trust_anchors = {"x. IN A 1.2.3.4"}});
  ASSERT_FALSE(anchor);
  EXPECT_EQ(anchor.error().field, "dns.trust_anchors");
}

}  // namespace
}  // namespace hp::dns::testing
