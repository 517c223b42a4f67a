// Acceptance 5 (library level): signed webhook deliveries as durable jobs against a real local
// receiver that fails the first three attempts; exponential backoff over more than 24 hours;
// delivery log and manual redelivery. Time moves through a FakeClock; jobs run with RunOnce().
#include "hp/partner/webhooks.h"

#include <gtest/gtest.h>

#include <mutex>
#include <numeric>
#include <set>

#include "fixture.h"
#include "hp/core/http_server.h"
#include "hp/core/log.h"

namespace hp::partner {
namespace {

using namespace std::chrono_literals;

// A webhook receiver on 127.0.0.1 that answers 500 to the first `fail_first` requests.
class Receiver {
 public:
  explicit Receiver(int fail_first) : fail_first_(fail_first) {
    router_.AddSync({.method = "POST", .pattern = "/hook"}, [this](const core::http::Request& q) {
      std::lock_guard lock(mu_);
      seen_.push_back({q.Header("webhook-id"), q.Header("webhook-signature"), q.body});
      if (static_cast<int>(seen_.size()) <= fail_first_)
        return core::http::Response::Text(500, "not yet");
      accepted_ids_.insert(q.Header("webhook-id"));
      return core::http::Response::Text(200, "ok");
    });
    server_ = std::move(*core::http::Server::Create({.port = 0, .threads = 1, .access_log = false},
                                                    router_, core::MetricsRegistry::Default()));
    if (!server_->Start()) std::abort();
  }
  ~Receiver() { server_->Shutdown(std::chrono::milliseconds(100)); }
  std::string Url() const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/hook";
  }

  struct Seen {
    std::string id, signature, body;
  };
  std::vector<Seen> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  std::set<std::string> accepted() {
    std::lock_guard lock(mu_);
    return accepted_ids_;
  }

 private:
  int fail_first_;
  core::http::Router router_;
  std::unique_ptr<core::http::Server> server_;
  std::mutex mu_;
  std::vector<Seen> seen_;
  std::set<std::string> accepted_ids_;
};

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override { core::log::SetLevel(core::log::Level::kError); }

  testing::StoreFixture f;
  core::JobQueue jobs{*f.db, f.clock};
  core::WorkerPool pool{jobs, {.threads = 1}};
  std::unique_ptr<core::HttpClient> http = core::NewCurlHttpClient();
  WebhookService hooks{
      *f.db,
      *f.sealer,
      jobs,
      *http,
      f.clock,
      WebhookOptions{
          .timeout_ms = 5000, .allow_http = true, .allowed_private_cidrs = {"127.0.0.0/8"}}};

  void SetUpPool() { hooks.RegisterJobs(pool); }
  // Runs every job due now; returns how many ran.
  int RunDue() {
    int n = 0;
    while (true) {
      auto r = pool.RunOnce();
      if (!r || !*r) return n;
      ++n;
    }
  }
};

TEST_F(WebhookTest, ReceiverFailingThreeTimesGetsTheEventOnceWithFourLoggedAttempts) {
  SetUpPool();
  Receiver rx(3);
  Owner partner{OwnerType::kPartner, "resellerA"};
  auto sub = hooks.Subscribe(partner, rx.Url(), {"certificate.issued", "organization.suspended"});
  ASSERT_TRUE(sub) << sub.error().detail;
  auto event_id =
      hooks.Publish({"certificate.issued", "orgX", "resellerA", {{"certificate_id", "c1"}}});
  ASSERT_TRUE(event_id);

  EXPECT_EQ(RunDue(), 1);
  ASSERT_EQ(rx.seen().size(), 1u);
  // Nothing is due until the backoff has passed: no retry storm.
  f.clock.Advance(59s);
  EXPECT_EQ(RunDue(), 0);
  f.clock.Advance(1s);  // 1 min after attempt 1
  EXPECT_EQ(RunDue(), 1);
  f.clock.Advance(4min);
  EXPECT_EQ(RunDue(), 0);
  f.clock.Advance(1min);  // 5 min after attempt 2
  EXPECT_EQ(RunDue(), 1);
  f.clock.Advance(15min);
  EXPECT_EQ(RunDue(), 1);  // attempt 4 succeeds
  const core::TimePoint at4 = f.clock.Now();
  f.clock.Advance(48h);
  EXPECT_EQ(RunDue(), 0);  // and nothing more is sent

  auto seen = rx.seen();
  ASSERT_EQ(seen.size(), 4u);
  for (const auto& s : seen) {
    EXPECT_EQ(s.id, *event_id);  // the same event id every time: receivers de-duplicate by it
    EXPECT_EQ(s.body, seen[0].body);
  }
  EXPECT_EQ(rx.accepted(), std::set<std::string>{*event_id});  // arrived exactly once
  auto body = core::Json::parse(seen[3].body);
  EXPECT_EQ(body["id"], *event_id);
  EXPECT_EQ(body["type"], "certificate.issued");
  EXPECT_EQ(body["data"]["certificate_id"], "c1");
  // The signature verifies with the subscription secret, and not with another.
  EXPECT_TRUE(VerifyWebhookSignature(seen[3].signature, sub->secret.Reveal(), seen[3].body, at4));
  EXPECT_FALSE(VerifyWebhookSignature(seen[3].signature, "whsec_other", seen[3].body, at4));
  EXPECT_FALSE(
      VerifyWebhookSignature(seen[3].signature, sub->secret.Reveal(), seen[3].body + " ", at4));

  auto deliveries = *hooks.ListDeliveries(partner, sub->subscription.id);
  ASSERT_EQ(deliveries.size(), 1u);
  EXPECT_EQ(deliveries[0].state, "delivered");
  EXPECT_EQ(deliveries[0].attempts, 4);
  auto log = *hooks.ListAttempts(partner, deliveries[0].id);
  ASSERT_EQ(log.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(log[i].number, i + 1);
    EXPECT_EQ(log[i].http_status, 500);
    EXPECT_EQ(log[i].error, "HTTP 500");
  }
  EXPECT_EQ(log[3].http_status, 200);
  EXPECT_EQ(log[1].at - log[0].at, 1min);
  EXPECT_EQ(log[2].at - log[1].at, 5min);
  EXPECT_EQ(log[3].at - log[2].at, 15min);
}

TEST_F(WebhookTest, ScheduleRetriesForMoreThanADayThenGivesUp) {
  SetUpPool();
  Receiver rx(1000);
  const auto& schedule = hooks.options().schedule;
  auto total = std::accumulate(schedule.begin(), schedule.end(), core::Duration::zero());
  EXPECT_GE(total, 24h);
  for (size_t i = 1; i < schedule.size(); ++i)
    EXPECT_GE(schedule[i], schedule[i - 1]);  // backs off

  Owner org{OwnerType::kOrganization, "orgX"};
  auto sub = *hooks.Subscribe(org, rx.Url(), {"invoice.issued"});
  ASSERT_TRUE(hooks.Publish({"invoice.issued", "orgX", "resellerA", {}}));
  const core::TimePoint start = f.clock.Now();
  core::TimePoint last_attempt = start;
  for (int guard = 0; guard < 100; ++guard) {
    if (RunDue() > 0) last_attempt = f.clock.Now();
    f.clock.Advance(1min);
  }
  for (int guard = 0; guard < 48 * 6; ++guard) {
    if (RunDue() > 0) last_attempt = f.clock.Now();
    f.clock.Advance(10min);
  }
  EXPECT_EQ(rx.seen().size(), schedule.size() + 1);
  EXPECT_GE(last_attempt - start, 24h);  // still trying a day later
  auto d = (*hooks.ListDeliveries(org, sub.subscription.id))[0];
  EXPECT_EQ(d.state, "failed");
  EXPECT_EQ(d.attempts, static_cast<int>(schedule.size() + 1));
}

TEST_F(WebhookTest, ManualRedeliverySendsAgainAndIsLogged) {
  SetUpPool();
  Receiver rx(0);
  Owner partner{OwnerType::kPartner, "resellerA"};
  auto sub = *hooks.Subscribe(partner, rx.Url(), {"invoice.paid"});
  auto event_id = *hooks.Publish({"invoice.paid", "orgX", "resellerA", {{"invoice_id", "i1"}}});
  EXPECT_EQ(RunDue(), 1);
  auto d = (*hooks.ListDeliveries(partner, sub.subscription.id))[0];
  EXPECT_EQ(d.state, "delivered");
  // Another owner cannot see or redeliver it.
  Owner other{OwnerType::kPartner, "resellerB"};
  EXPECT_EQ(hooks.Redeliver(other, d.id).error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(hooks.ListAttempts(other, d.id).error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(hooks.ListDeliveries(other, sub.subscription.id).error().code,
            core::ErrorCode::kNotFound);
  ASSERT_TRUE(hooks.Redeliver(partner, d.id));
  EXPECT_EQ(RunDue(), 1);
  ASSERT_EQ(rx.seen().size(), 2u);
  EXPECT_EQ(rx.seen()[1].id, event_id);
  auto log = *hooks.ListAttempts(partner, d.id);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_FALSE(log[0].manual);
  EXPECT_TRUE(log[1].manual);
}

TEST_F(WebhookTest, OnlyMatchingSubscriptionsOfTheCustomerAndItsPartnerReceive) {
  SetUpPool();
  Receiver rx(0);
  auto partner_sub =
      *hooks.Subscribe({OwnerType::kPartner, "resellerA"}, rx.Url(), {"service.provisioned"});
  auto org_sub =
      *hooks.Subscribe({OwnerType::kOrganization, "orgX"}, rx.Url(), {"service.provisioned"});
  auto other_partner =
      *hooks.Subscribe({OwnerType::kPartner, "resellerB"}, rx.Url(), {"service.provisioned"});
  auto other_type =
      *hooks.Subscribe({OwnerType::kPartner, "resellerA"}, rx.Url(), {"invoice.paid"});
  ASSERT_TRUE(hooks.Publish({"service.provisioned", "orgX", "resellerA", {}}));
  EXPECT_EQ(RunDue(), 2);
  EXPECT_EQ(
      hooks.ListDeliveries({OwnerType::kPartner, "resellerA"}, partner_sub.subscription.id)->size(),
      1u);
  EXPECT_EQ(
      hooks.ListDeliveries({OwnerType::kOrganization, "orgX"}, org_sub.subscription.id)->size(),
      1u);
  EXPECT_EQ(hooks.ListDeliveries({OwnerType::kPartner, "resellerB"}, other_partner.subscription.id)
                ->size(),
            0u);
  EXPECT_EQ(
      hooks.ListDeliveries({OwnerType::kPartner, "resellerA"}, other_type.subscription.id)->size(),
      0u);
}

TEST_F(WebhookTest, PublishWithTheSameSourceIdIsOneEventDeliveredOnce) {
  SetUpPool();
  Receiver rx(0);
  Owner partner{OwnerType::kPartner, "resellerA"};
  auto sub = *hooks.Subscribe(partner, rx.Url(), {"invoice.issued"});
  Event ev{"invoice.issued", "orgX", "resellerA", {{"invoice_id", "i1"}}, "job_1"};
  auto first = hooks.Publish(ev);
  ASSERT_TRUE(first) << first.error().ToString();
  f.clock.Advance(1s);
  auto again = hooks.Publish(ev);  // e.g. the publishing job retried after a crash
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(*again, *first);
  EXPECT_EQ(first->rfind("evt_", 0), 0u);

  EXPECT_EQ(RunDue(), 1);
  EXPECT_EQ(hooks.Publish(ev).value_or(""), *first);  // after delivery too
  f.clock.Advance(48h);
  EXPECT_EQ(RunDue(), 0);
  ASSERT_EQ(rx.seen().size(), 1u);
  EXPECT_EQ(rx.seen()[0].id, *first);
  EXPECT_EQ(core::Json::parse(rx.seen()[0].body)["id"], *first);
  EXPECT_EQ(hooks.ListDeliveries(partner, sub.subscription.id)->size(), 1u);
}

TEST_F(WebhookTest, ARepeatedPublishFindsItsDeliveriesThroughAnIndex) {
  // The lookup a repeated Publish makes (webhooks.cc) must not scan every delivery ever made.
  auto plan = f.db->Read([](SQLite::Database& db) -> core::Result<std::string> {
    SQLite::Statement q(db,
                        "EXPLAIN QUERY PLAN SELECT public_id FROM webhook_deliveries WHERE "
                        "event_id = ? AND attempts = 0 ORDER BY id");
    std::string out;
    while (q.executeStep()) out += q.getColumn(3).getString() + "\n";
    return out;
  });
  ASSERT_TRUE(plan) << plan.error().ToString();
  EXPECT_NE(plan->find("USING INDEX webhook_deliveries_event"), std::string::npos) << *plan;
  EXPECT_EQ(plan->find("SCAN webhook_deliveries"), std::string::npos) << *plan;
}

TEST_F(WebhookTest, DifferentOrNoSourceIdsAreSeparateEvents) {
  SetUpPool();
  Receiver rx(0);
  Owner partner{OwnerType::kPartner, "resellerA"};
  auto sub = *hooks.Subscribe(partner, rx.Url(), {"invoice.paid"});
  auto a = hooks.Publish({"invoice.paid", "orgX", "resellerA", {}, "job_a"});
  auto b = hooks.Publish({"invoice.paid", "orgX", "resellerA", {}, "job_b"});
  auto c = hooks.Publish({"invoice.paid", "orgX", "resellerA", {}});
  auto d = hooks.Publish({"invoice.paid", "orgX", "resellerA", {}});
  ASSERT_TRUE(a && b && c && d);
  EXPECT_EQ((std::set<std::string>{*a, *b, *c, *d}).size(), 4u);
  EXPECT_EQ(RunDue(), 4);
  EXPECT_EQ(rx.accepted(), (std::set<std::string>{*a, *b, *c, *d}));
  EXPECT_EQ(hooks.ListDeliveries(partner, sub.subscription.id)->size(), 4u);
}

TEST_F(WebhookTest, AnEventJobThatFailsAfterPublishingIsRetriedWithoutASecondEvent) {
  // The shape of the controlplane's event job: publish with the job's own id as the source, then
  // fail before the job is marked done (here: the first run returns a retryable error).
  SetUpPool();
  Receiver rx(0);
  Owner org{OwnerType::kOrganization, "orgX"};
  auto sub = *hooks.Subscribe(org, rx.Url(), {"invoice.paid"});
  std::vector<std::string> published;
  pool.Register("test.event", [&](core::JobContext& jc) -> core::Result<core::Json> {
    HP_ASSIGN_OR_RETURN(std::string id,
                        hooks.Publish({"invoice.paid", "orgX", "resellerA", {}, jc.job().id}));
    published.push_back(id);
    if (published.size() == 1) return core::Fail(core::ErrorCode::kUnavailable, "crash");
    return core::Json{{"event_id", id}};
  });
  ASSERT_TRUE(jobs.Enqueue("test.event", core::Json::object(), {}));
  for (int guard = 0; guard < 20 && published.size() < 2; ++guard) {
    RunDue();
    f.clock.Advance(1min);
  }
  RunDue();
  ASSERT_EQ(published.size(), 2u);
  EXPECT_EQ(published[0], published[1]);
  ASSERT_EQ(rx.seen().size(), 1u);
  EXPECT_EQ(rx.seen()[0].id, published[0]);
  EXPECT_EQ(hooks.ListDeliveries(org, sub.subscription.id)->size(), 1u);
}

TEST_F(WebhookTest, SubscriptionsAreValidated) {
  Owner p{OwnerType::kPartner, "resellerA"};
  WebhookService strict{*f.db, *f.sealer, jobs, *http, f.clock};
  EXPECT_EQ(strict.Subscribe(p, "http://127.0.0.1:1/hook", {"invoice.paid"}).error().field, "url");
  EXPECT_EQ(strict.Subscribe(p, "https://hooks.example/x", {"invoice.exploded"}).error().field,
            "events[0]");
  EXPECT_EQ(strict.Subscribe(p, "https://hooks.example/x", {}).error().field, "events");
  EXPECT_TRUE(strict.Subscribe(p, "https://hooks.example/x", {"invoice.paid"}));
  EXPECT_FALSE(strict.Publish({"no.such.event", "o", "p", {}}));
}

TEST_F(WebhookTest, PrivateLoopbackAndLinkLocalReceiversAreRefusedUnlessAllowed) {
  Owner p{OwnerType::kPartner, "resellerA"};
  WebhookService open{*f.db, *f.sealer, jobs, *http, f.clock, WebhookOptions{.allow_http = true}};
  for (const char* url :
       // (https:// URLs must name a host; IP literals get through only as http:// in dev.)
       {"http://127.0.0.1:8080/hook", "http://10.1.2.3/hook", "http://192.168.0.10/x",
        "http://172.20.0.1/x", "http://169.254.169.254/latest/meta-data", "http://[::1]/x",
        "http://[fe80::1]/x", "http://[fd00::5]/x", "http://100.64.0.1/x", "http://0.0.0.0/x",
        "http://localhost:9/hook", "https://localhost/hook"}) {
    auto r = open.Subscribe(p, url, {"invoice.paid"});
    ASSERT_FALSE(r) << url;
    EXPECT_EQ(r.error().field, "url") << url;
    EXPECT_NE(r.error().detail.find("private"), std::string::npos)
        << url << ": " << r.error().detail;
  }
  // Public addresses pass; an allow-list admits exactly its ranges.
  EXPECT_TRUE(CheckWebhookAddress("192.0.2.1", {}));
  EXPECT_TRUE(CheckWebhookAddress("2001:db8::1", {}));
  EXPECT_TRUE(CheckWebhookAddress("127.0.0.1", {"127.0.0.0/8"}));
  EXPECT_FALSE(CheckWebhookAddress("10.0.0.1", {"127.0.0.0/8"}));
  EXPECT_TRUE(CheckWebhookAddress("10.9.8.7", {"10.9.0.0/16"}));
  EXPECT_FALSE(CheckWebhookAddress("10.10.8.7", {"10.9.0.0/16"}));
  EXPECT_FALSE(CheckWebhookAddress("::ffff:127.0.0.1", {}));  // IPv4-mapped loopback
}

TEST_F(WebhookTest, AttemptToAReceiverThatTurnedPrivateIsRefusedAndLogged) {
  // Allowed when subscribed (the allow-list of `hooks`), refused at delivery by a service
  // without the allow-list: the attempt is logged with the reason, nothing is sent.
  Receiver rx(0);
  Owner p{OwnerType::kPartner, "resellerR"};
  auto sub = hooks.Subscribe(p, rx.Url(), {"invoice.paid"});
  ASSERT_TRUE(sub) << sub.error().ToString();
  WebhookService strict{*f.db, *f.sealer, jobs, *http, f.clock, WebhookOptions{.allow_http = true}};
  strict.RegisterJobs(pool);
  ASSERT_TRUE(strict.Publish({"invoice.paid", "org1", "resellerR", {}}));
  RunDue();
  EXPECT_EQ(rx.seen().size(), 0u);
  auto d = strict.ListDeliveries(p, sub->subscription.id);
  ASSERT_TRUE(d);
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].state, "retrying");
  EXPECT_NE((*d)[0].last_error.find("private"), std::string::npos) << (*d)[0].last_error;
}

TEST(WebhookSignatureTest, StripeStyleHeaderAndTolerance) {
  const core::TimePoint now = core::FromUnixSeconds(1'800'000'000);
  std::string h = SignWebhook("whsec_x", 1'800'000'000, "{}");
  EXPECT_EQ(h.rfind("t=1800000000,v1=", 0), 0u);
  EXPECT_TRUE(VerifyWebhookSignature(h, "whsec_x", "{}", now));
  EXPECT_TRUE(VerifyWebhookSignature("v1=00, " + h, "whsec_x", "{}",
                                     now));  // several v1 values: any may match
  EXPECT_FALSE(VerifyWebhookSignature(h, "whsec_x", "{}", now + std::chrono::minutes(6)));
  EXPECT_FALSE(VerifyWebhookSignature("garbage", "whsec_x", "{}", now));
}

}  // namespace
}  // namespace hp::partner
