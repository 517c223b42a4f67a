// Dedicated servers against libvirt's test driver: a whole host for one organization, never
// shared; power on/off/reset through libvirt; release wipes the disk before deleting it and
// returns the host to the pool; faults at every libvirt call of release are retried.
#include "hp/provisioning/dedicated.h"

#include <gtest/gtest.h>

#include "hp/core/events.h"
#include "prov_test_util.h"

namespace hp::provisioning {
namespace {

using core::ErrorCode;
using testing::MakeTestHost;
using testing::OpenDb;

struct DedicatedEnv {
  explicit DedicatedEnv(std::shared_ptr<FaultPlan> faults = nullptr) {
    auto real = LibvirtHypervisors::Create();
    EXPECT_TRUE(real);
    hvs = faults ? WithFaults(std::move(*real), faults) : std::move(*real);
    for (int i = 0; i < 2; ++i) {
      HostSpec s;
      s.name = "metal-" + std::to_string(i);
      s.uri = MakeTestHost(dir.path(), s.name);
      s.zone = "osaka-1";
      s.kind = HostKind::kDedicated;
      s.capacity = {16, 65536, 50};
      s.cpu_ratio = 1.0;
      EXPECT_TRUE(inv.AddHost(s));
      uris.push_back(s.uri);
    }
    EXPECT_TRUE(inv.AddTemplate({.name = "debian-12", .pool = "default", .volume = "debian-12.qcow2"}));
    auto s = DedicatedService::Create({db.get(), &clock, &jobs, &ids, hvs.get(), &inv, &placer});
    EXPECT_TRUE(s);
    svc = std::move(*s);
    svc->RegisterHandlers(pool);
    // Domain events (service.provisioned/failed) are delivered by the partners module in the
    // server; here they are collected.
    pool.Register(std::string(core::kEventJobKind), [this](core::JobContext& ctx) -> core::Result<core::Json> {
      events.push_back(ctx.job().payload);
      return core::Json::object();
    });
  }
  std::vector<core::Json> events;
  void Drain() {
    for (int guard = 0; guard < 1000; ++guard) {
      auto ran = pool.RunOnce();
      ASSERT_TRUE(ran);
      if (*ran) continue;
      auto due = jobs.NextDue();
      ASSERT_TRUE(due);
      if (!*due) return;
      clock.Set(std::max(clock.Now(), **due));
    }
    FAIL() << "jobs never settled";
  }
  core::Result<Operation> Allocate(const std::string& org, const std::string& name) {
    return svc->Allocate({.organization_id = org, .hostname = name + ".example.jp",
                          .zone = "osaka-1", .template_name = "debian-12"});
  }
  std::optional<DomainInfo> Domain(const DedicatedServer& s) {
    auto host = inv.GetHost(s.host_id);
    EXPECT_TRUE(host);
    auto hv = hvs->Get(host->spec.uri);
    EXPECT_TRUE(hv);
    auto d = (*hv)->LookupDomain(s.domain_name);
    EXPECT_TRUE(d);
    return d ? *d : std::nullopt;
  }

  hp::testing::TempDir dir;
  std::unique_ptr<core::Database> db = OpenDb(dir.path());
  core::FakeClock clock{core::FromUnixSeconds(1'800'000'000)};
  core::RandomIdSource ids;
  Inventory inv{*db, clock, ids};
  Placer placer{*db, clock};
  core::JobQueue jobs{*db, clock};
  core::WorkerPool pool{jobs, {}};
  std::unique_ptr<Hypervisors> hvs;
  std::unique_ptr<DedicatedService> svc;
  std::vector<std::string> uris;
};

TEST(DedicatedTest, AWholeHostPerOrganizationWithPowerControlAndAWipedRelease) {
  DedicatedEnv env;
  auto a = env.Allocate("org-a", "db1");
  auto b = env.Allocate("org-b", "web1");
  auto c = env.Allocate("org-c", "late");
  ASSERT_TRUE(a && b && c);
  env.Drain();

  auto sa = env.svc->Get("org-a", a->resource_id);
  auto sb = env.svc->Get("org-b", b->resource_id);
  ASSERT_TRUE(sa && sb);
  EXPECT_EQ(sa->state, DedicatedState::kActive) << sa->last_error;
  EXPECT_EQ(sb->state, DedicatedState::kActive) << sb->last_error;
  EXPECT_NE(sa->host_id, sb->host_id) << "never two organizations on one dedicated host";
  EXPECT_TRUE(sa->powered_on);
  auto dom = env.Domain(*sa);
  ASSERT_TRUE(dom);
  EXPECT_EQ(dom->state, DomainState::kRunning);
  EXPECT_EQ(dom->vcpus, 16) << "the server gets the whole host";
  EXPECT_EQ(dom->memory_mib, 65536);
  auto host = env.inv.GetHost(sa->host_id);
  ASSERT_TRUE(host);
  EXPECT_EQ(host->allocations, 1);

  // The third organization finds no free host, and is told why.
  auto sc = env.svc->Get("org-c", c->resource_id);
  ASSERT_TRUE(sc);
  EXPECT_EQ(sc->state, DedicatedState::kFailed);
  EXPECT_NE(sc->last_error.find("2 hosts"), std::string::npos) << sc->last_error;

  // Power, only by the owner, one operation at a time.
  EXPECT_EQ(env.svc->Power("org-b", a->resource_id, PowerAction::kOff).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(env.svc->Power("org-a", a->resource_id, PowerAction::kOff));
  EXPECT_EQ(env.svc->Power("org-a", a->resource_id, PowerAction::kOn).error().code, ErrorCode::kConflict);
  env.Drain();
  EXPECT_EQ(env.Domain(*sa)->state, DomainState::kShutoff);
  EXPECT_FALSE(env.svc->Get("org-a", a->resource_id)->powered_on);
  ASSERT_TRUE(env.svc->Power("org-a", a->resource_id, PowerAction::kOn));
  env.Drain();
  EXPECT_EQ(env.Domain(*sa)->state, DomainState::kRunning);
  auto reset = env.svc->Power("org-a", a->resource_id, PowerAction::kReset);
  ASSERT_TRUE(reset);
  env.Drain();
  EXPECT_EQ(env.jobs.Get(reset->id)->state, core::JobState::kSucceeded);
  EXPECT_EQ(env.Domain(*sa)->state, DomainState::kRunning);

  // The customer's data on the disk, then release: zeros first, then the disk goes.
  auto hv = env.hvs->Get(host->spec.uri);
  ASSERT_TRUE(hv);
  const std::string disk = "hp-" + a->resource_id + "-disk.qcow2";
  auto vol = (*hv)->LookupVolume("default", disk);
  ASSERT_TRUE(vol && *vol);
  const std::string path = (*vol)->path;
  ASSERT_TRUE((*hv)->UploadVolume("default", disk, std::string(8192, 'S')));
  auto rel = env.svc->Release("org-a", a->resource_id);
  ASSERT_TRUE(rel);
  ASSERT_EQ(env.svc->Get("org-a", a->resource_id)->state, DedicatedState::kReleasing);
  env.Drain();
  EXPECT_EQ(env.svc->Get("org-a", a->resource_id).error().code, ErrorCode::kNotFound);
  auto gone = (*hv)->LookupDomain(sa->domain_name);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
  auto vols = (*hv)->ListVolumes("default");
  ASSERT_TRUE(vols);
  EXPECT_EQ(vols->size(), 1u) << "only the template";
  // The test driver forgets the volume but leaves its file: what the customer wrote is zeros.
  ASSERT_TRUE(std::filesystem::exists(path));
  const std::string left = hp::testing::ReadFile(path);
  EXPECT_EQ(left, std::string(left.size(), '\0')) << "disk not wiped";
  host = env.inv.GetHost(sa->host_id);
  EXPECT_EQ(host->allocations, 0) << "the host is back in the pool";

  // ... where the next organization gets it (the failed one releases first, then retries).
  ASSERT_TRUE(env.svc->Release("org-c", c->resource_id));
  env.Drain();
  auto again = env.Allocate("org-c", "late2");
  ASSERT_TRUE(again);
  env.Drain();
  auto s2 = env.svc->Get("org-c", again->resource_id);
  ASSERT_TRUE(s2);
  EXPECT_EQ(s2->state, DedicatedState::kActive) << s2->last_error;
  EXPECT_EQ(s2->host_id, sa->host_id);
  EXPECT_EQ(env.svc->List("org-c")->size(), 1u) << "the released failed server is not listed";
}

TEST(DedicatedTest, ReleaseWipesBeforeDeletingAndSurvivesAFaultAtEveryCall) {
  // Count the calls of one release.
  int64_t calls = 0;
  {
    auto plan = FaultPlan::Create();
    DedicatedEnv env(plan);
    auto a = env.Allocate("org-a", "x");
    env.Drain();
    const int64_t before = plan->calls();
    ASSERT_TRUE(env.svc->Release("org-a", a->resource_id));
    env.Drain();
    calls = plan->calls() - before;
    auto trace = plan->Trace();
    std::vector<std::string> rel(trace.begin() + before, trace.end());
    auto wipe = std::find(rel.begin(), rel.end(), "WipeVolume");
    auto del = std::find(rel.begin(), rel.end(), "DeleteVolume");
    ASSERT_NE(wipe, rel.end());
    EXPECT_LT(wipe, del) << "zeros before the disk is deleted";
  }
  ASSERT_GT(calls, 4);
  for (int64_t n = 1; n <= calls; ++n) {
    SCOPED_TRACE("fault at release call " + std::to_string(n));
    auto plan = FaultPlan::Create();
    DedicatedEnv env(plan);
    auto a = env.Allocate("org-a", "x");
    env.Drain();
    auto s = env.svc->Get("org-a", a->resource_id);
    ASSERT_TRUE(s);
    auto host = env.inv.GetHost(s->host_id);
    auto hv = env.hvs->Get(host->spec.uri);
    const std::string disk = "hp-" + a->resource_id + "-disk.qcow2";
    auto vol = (*hv)->LookupVolume("default", disk);
    ASSERT_TRUE(vol && *vol);
    const std::string path = (*vol)->path;
    ASSERT_TRUE((*hv)->UploadVolume("default", disk, std::string(4096, 'S')));
    plan->FailCall(plan->calls() + n);
    ASSERT_TRUE(env.svc->Release("org-a", a->resource_id));
    env.Drain();
    const std::string left = hp::testing::ReadFile(path);
    EXPECT_EQ(left, std::string(left.size(), '\0')) << "the retried release still wiped the disk";
    EXPECT_EQ(env.svc->Get("org-a", a->resource_id).error().code, ErrorCode::kNotFound);
    auto vols = (*hv)->ListVolumes("default");
    ASSERT_TRUE(vols);
    EXPECT_EQ(vols->size(), 1u);
    auto d = (*hv)->LookupDomain(s->domain_name);
    ASSERT_TRUE(d);
    EXPECT_FALSE(d->has_value());
    EXPECT_EQ(env.inv.GetHost(s->host_id)->allocations, 0);
  }
}

}  // namespace
}  // namespace hp::provisioning
