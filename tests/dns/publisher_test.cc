// RFC 2136 UPDATE + TSIG against a real Knot: add/delete a TXT record, a wrong key rejected and
// reported as such, and the durable-job path from a hosted zone change.

#include <gtest/gtest.h>

#include "dns_test_util.h"
#include "hp/core/encoding.h"
#include "hp/core/jobs.h"
#include "hp/core/random.h"
#include "hp/dns/publisher.h"
#include "server_fixture.h"

namespace hp::dns::testing {
namespace {

using hp::core::ErrorCode;

constexpr char kZone[] = R"($ORIGIN pub.test.
$TTL 300
@ SOA ns.pub.test. h.pub.test. 1 3600 900 1209600 300
@ NS ns
ns A 192.0.2.1
)";

class DnsPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    secret_ = hp::core::Base64Encode(hp::core::RandomBytes(32));
    knot_ = std::make_unique<Knot>(
        std::vector<Knot::ZoneConf>{{.name = "pub.test", .file_text = kZone,
                                     .allow_update = true}},
        "hp-update", secret_);
    ASSERT_EQ(knot_->Start(), "");
  }
  std::unique_ptr<Publisher> Make(const std::string& secret, const std::string& key = "hp-update") {
    auto p = CreateRfc2136Publisher({.server = "127.0.0.1:" + std::to_string(knot_->port()),
                                     .tsig_key_name = key,
                                     .tsig_secret_base64 = hp::core::Secret(secret),
                                     .timeout = std::chrono::milliseconds(2000)});
    EXPECT_TRUE(p) << p.error().ToString();
    return std::move(*p);
  }
  std::vector<std::string> Txt(const std::string& name) {
    std::vector<std::string> out;
    Packet p = Query(knot_->port(), name, LDNS_RR_TYPE_TXT);
    if (!p) return {"(no answer)"};
    for (size_t i = 0; i < ldns_pkt_ancount(p.get()); ++i) {
      char* s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p.get()), i), 0));
      out.push_back(s);
      free(s);
    }
    return out;
  }
  std::string secret_;
  std::unique_ptr<Knot> knot_;
};

TEST_F(DnsPublisherTest, AddsAndDeletesATxtRecordWithTsig) {
  auto pub = Make(secret_);
  const std::string name = "_acme-challenge.www.pub.test.";
  auto add = pub->Apply("pub.test", {{RecordChange::Op::kAdd, name, "TXT", 60, "token-123"}});
  ASSERT_TRUE(add) << add.error().ToString();
  EXPECT_EQ(Txt(name), std::vector<std::string>{"\"token-123\""});
  // Applying the same add again is harmless (a retried job).
  ASSERT_TRUE(pub->Apply("pub.test", {{RecordChange::Op::kAdd, name, "TXT", 60, "token-123"}}));
  EXPECT_EQ(Txt(name).size(), 1u);
  auto del = pub->Apply("pub.test", {{RecordChange::Op::kDelete, name, "TXT", 0, "token-123"}});
  ASSERT_TRUE(del) << del.error().ToString();
  EXPECT_TRUE(Txt(name).empty());
}

TEST_F(DnsPublisherTest, WrongTsigKeyIsRejectedAndReported) {
  auto wrong = Make(hp::core::Base64Encode(hp::core::RandomBytes(32)));
  const std::string name = "_acme-challenge.evil.pub.test.";
  auto r = wrong->Apply("pub.test", {{RecordChange::Op::kAdd, name, "TXT", 60, "nope"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(r.error().detail.find("TSIG key 'hp-update' rejected"), std::string::npos)
      << r.error().detail;
  EXPECT_TRUE(Txt(name).empty());
  auto unknown = Make(secret_, "no-such-key");
  auto r2 = unknown->Apply("pub.test", {{RecordChange::Op::kAdd, name, "TXT", 60, "nope"}});
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, ErrorCode::kPermissionDenied);
  EXPECT_TRUE(Txt(name).empty());
}

TEST_F(DnsPublisherTest, HostedChallengeRecordsArePublishedThroughDurableJobs) {
  ServerFixture f;
  f.Init();
  hp::core::JobQueue queue(*f.db, f.clock);
  f.zones->AddObserver(MakePublishingObserver(queue, OnlyAcmeChallenges));
  auto pub = Make(secret_);
  hp::core::WorkerPool pool(queue, {});
  RegisterPublishJobs(pool, *pub);
  auto zone = f.zones->CreateZone("org1", {.name = "pub.test", .nameservers = {"ns.pub.test"}});
  ASSERT_TRUE(zone);
  ASSERT_TRUE(f.zones->AddRecord("org1", zone->id, {"www", "A", {}, "192.0.2.7"}));  // not sent
  auto rec = f.zones->AddRecord("org1", zone->id, {"_acme-challenge.www", "TXT", 60, "tok-9"});
  ASSERT_TRUE(rec);
  auto ran = pool.RunOnce();
  ASSERT_TRUE(ran && *ran);
  EXPECT_EQ(Txt("_acme-challenge.www.pub.test."), std::vector<std::string>{"\"tok-9\""});
  Packet a = Query(knot_->port(), "www.pub.test.", LDNS_RR_TYPE_A);
  ASSERT_TRUE(a);
  EXPECT_EQ(ldns_pkt_ancount(a.get()), 0u);  // the filter kept the A record local
  ASSERT_TRUE(f.zones->DeleteRecord("org1", zone->id, rec->id));
  ran = pool.RunOnce();
  ASSERT_TRUE(ran && *ran);
  EXPECT_TRUE(Txt("_acme-challenge.www.pub.test.").empty());

  // With a wrong key the job is dead-lettered at once and says why.
  auto wrong = Make(hp::core::Base64Encode(hp::core::RandomBytes(32)));
  hp::core::WorkerPool bad_pool(queue, {});
  RegisterPublishJobs(bad_pool, *wrong);
  auto job = EnqueuePublish(queue, "pub.test",
                            {{RecordChange::Op::kAdd, "_acme-challenge.x.pub.test.", "TXT", 60,
                              "z"}});
  ASSERT_TRUE(job);
  ran = bad_pool.RunOnce();
  ASSERT_TRUE(ran && *ran);
  auto after = queue.Get(job->id);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->state, hp::core::JobState::kDead);
  EXPECT_NE(after->last_error.find("TSIG"), std::string::npos) << after->last_error;
}

}  // namespace
}  // namespace hp::dns::testing
