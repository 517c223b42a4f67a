// VPS lifecycle operations through VpsService against libvirt's test driver: start, stop
// (graceful, and forced after the timeout when the guest ignores ACPI), reboot, offline resize,
// snapshot/revert/delete, rebuild; one operation at a time per VPS; and, for every operation, a
// fault injected at each of its libvirt calls still ends in the same state as without faults.
#include <gtest/gtest.h>

#include <functional>

#include "hp/provisioning/vps.h"
#include "vps_test_env.h"

namespace hp::provisioning {
namespace {

using core::ErrorCode;
using testing::Env;

VpsOptions Fast() {
  VpsOptions vo;
  vo.stop_wait = std::chrono::milliseconds(0);  // the fake clock drives the stop timeout
  return vo;
}

struct Fixture {
  explicit Fixture(std::shared_ptr<FaultPlan> plan = nullptr) : env(plan, {}, Fast()) {
    env.RegisterHandlers(pool);
    EXPECT_TRUE(env.inv.AddTemplate(
        {.name = "debian-12-min", .pool = "default", .volume = "debian-12.qcow2"}));
    auto op = env.vps->CreateVps(env.Request("life"));
    EXPECT_TRUE(op);
    id = op->resource_id;
    env.Drain(pool);
  }
  Vps Get() {
    auto v = env.vps->Get("org-a", id);
    EXPECT_TRUE(v) << v.error().ToString();
    return v ? *v : Vps{};
  }
  // The operation's job after running everything due.
  core::Job Run(const core::Result<Operation>& op) {
    EXPECT_TRUE(op) << op.error().ToString();
    if (!op) return {};
    env.Drain(pool);
    auto job = env.jobs.Get(op->id);
    EXPECT_TRUE(job);
    return job ? *job : core::Job{};
  }
  std::shared_ptr<Hypervisor> Hv() {
    auto h = env.hvs->Get(Get().host_id.empty() ? "" : HostUri());
    EXPECT_TRUE(h);
    return h ? *h : nullptr;
  }
  std::string HostUri() {
    auto host = env.inv.GetHost(Get().host_id);
    return host ? host->spec.uri : "";
  }
  DomainInfo Domain() {
    auto d = Hv()->LookupDomain("hp-" + id);
    EXPECT_TRUE(d && *d);
    return d && *d ? **d : DomainInfo{};
  }
  int64_t DiskBytes() {
    auto v = Hv()->LookupVolume("default", "hp-" + id + "-disk.qcow2");
    EXPECT_TRUE(v && *v);
    return v && *v ? (*v)->capacity_bytes : -1;
  }
  std::vector<std::string> LibvirtSnapshots() {
    std::vector<std::string> out;
    auto s = Hv()->ListSnapshots("hp-" + id);
    EXPECT_TRUE(s);
    if (s)
      for (auto& i : *s) out.push_back(i.name);
    return out;
  }
  Env env;
  core::WorkerPool pool{env.jobs, {}};
  std::string id;
};

TEST(VpsLifecycleTest, StopStartRebootResizeSnapshotRevertRebuild) {
  Fixture f;
  ASSERT_EQ(f.Get().state, VpsState::kRunning);

  auto stop = f.Run(f.env.vps->StopVps("org-a", f.id));
  EXPECT_EQ(stop.state, core::JobState::kSucceeded) << stop.last_error;
  EXPECT_EQ(stop.result.value("graceful", false), true) << "the guest powered off on ACPI";
  EXPECT_EQ(f.Get().state, VpsState::kStopped);
  EXPECT_EQ(f.Domain().state, DomainState::kShutoff);
  EXPECT_EQ(f.Get().operation_id, stop.id);

  auto start = f.Run(f.env.vps->StartVps("org-a", f.id));
  EXPECT_EQ(start.state, core::JobState::kSucceeded) << start.last_error;
  EXPECT_EQ(f.Get().state, VpsState::kRunning);
  EXPECT_EQ(f.Domain().state, DomainState::kRunning);
  EXPECT_EQ(f.env.vps->StartVps("org-a", f.id).error().code, ErrorCode::kConflict)
      << "starting a running VPS";

  auto reboot = f.Run(f.env.vps->RebootVps("org-a", f.id));
  EXPECT_EQ(reboot.state, core::JobState::kSucceeded) << reboot.last_error;
  EXPECT_EQ(f.Domain().state, DomainState::kRunning);

  // Offline resize of a running VPS: it is stopped, resized and running again.
  auto shrink = f.env.vps->ResizeVps("org-a", f.id, {.vcpus = 1, .ram_mib = 512, .disk_gib = 0});
  ASSERT_FALSE(shrink);
  EXPECT_EQ(shrink.error().code, ErrorCode::kInvalidArgument);
  auto resize = f.Run(f.env.vps->ResizeVps("org-a", f.id, {.vcpus = 2, .ram_mib = 1024, .disk_gib = 3}));
  EXPECT_EQ(resize.state, core::JobState::kSucceeded) << resize.last_error;
  EXPECT_EQ(f.Get().state, VpsState::kRunning);
  EXPECT_EQ(f.Get().plan.vcpus, 2);
  EXPECT_EQ(f.Domain().vcpus, 2);
  EXPECT_EQ(f.Domain().memory_mib, 1024);
  EXPECT_EQ(f.DiskBytes(), int64_t{3} << 30);
  auto host = f.env.inv.GetHost(f.Get().host_id);
  ASSERT_TRUE(host);
  EXPECT_EQ(host->used.vcpus, 2);
  EXPECT_EQ(host->used.ram_mib, 1024);
  EXPECT_EQ(host->used.disk_gib, 3);

  // Snapshot while running, stop, revert: running again, as at the snapshot.
  auto snap = f.Run(f.env.vps->SnapshotVps("org-a", f.id, "before-upgrade"));
  EXPECT_EQ(snap.state, core::JobState::kSucceeded) << snap.last_error;
  auto list = f.env.vps->ListSnapshots("org-a", f.id);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].state, "ready");
  EXPECT_EQ(f.LibvirtSnapshots(), std::vector<std::string>{"before-upgrade"});
  EXPECT_EQ(f.env.vps->SnapshotVps("org-a", f.id, "before-upgrade").error().code,
            ErrorCode::kAlreadyExists);
  EXPECT_EQ(f.env.vps->SnapshotVps("org-a", f.id, "Bad Name").error().field, "name");
  EXPECT_EQ(f.env.vps->ListSnapshots("org-b", f.id).error().code, ErrorCode::kNotFound);
  f.Run(f.env.vps->StopVps("org-a", f.id));
  ASSERT_EQ(f.Get().state, VpsState::kStopped);
  auto revert = f.Run(f.env.vps->RevertVps("org-a", f.id, "before-upgrade"));
  EXPECT_EQ(revert.state, core::JobState::kSucceeded) << revert.last_error;
  EXPECT_EQ(f.Get().state, VpsState::kRunning);
  EXPECT_EQ(f.Domain().state, DomainState::kRunning);
  EXPECT_EQ(f.env.vps->RevertVps("org-a", f.id, "nope").error().code, ErrorCode::kNotFound);
  auto del = f.Run(f.env.vps->DeleteSnapshot("org-a", f.id, "before-upgrade"));
  EXPECT_EQ(del.state, core::JobState::kSucceeded) << del.last_error;
  EXPECT_TRUE(f.env.vps->ListSnapshots("org-a", f.id)->empty());
  EXPECT_TRUE(f.LibvirtSnapshots().empty());

  // Rebuild from another template with a new key: same addresses, fresh disk, running.
  ASSERT_TRUE(f.Run(f.env.vps->SnapshotVps("org-a", f.id, "old")).state == core::JobState::kSucceeded);
  const Vps before = f.Get();
  auto rebuild = f.Run(f.env.vps->RebuildVps(
      "org-a", f.id, {.template_name = "debian-12-min",
                      .ssh_authorized_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINEW new"}));
  EXPECT_EQ(rebuild.state, core::JobState::kSucceeded) << rebuild.last_error;
  const Vps after = f.Get();
  EXPECT_EQ(after.template_name, "debian-12-min");
  EXPECT_EQ(after.state, VpsState::kRunning);
  EXPECT_EQ(after.ipv4, before.ipv4);
  EXPECT_EQ(after.ipv6, before.ipv6);
  EXPECT_EQ(f.Domain().state, DomainState::kRunning);
  EXPECT_EQ(f.Domain().vcpus, 2) << "the plan survives a rebuild";
  EXPECT_EQ(f.DiskBytes(), int64_t{3} << 30);
  EXPECT_TRUE(f.LibvirtSnapshots().empty()) << "snapshots of the old system are gone";
  EXPECT_TRUE(f.env.vps->ListSnapshots("org-a", f.id)->empty());
  auto rep = f.env.vps->Reconcile();
  ASSERT_TRUE(rep);
  EXPECT_TRUE(rep->clean());
}

TEST(VpsLifecycleTest, OneOperationAtATimeAndOnlyForTheOwner) {
  Fixture f;
  auto first = f.env.vps->StopVps("org-a", f.id);
  ASSERT_TRUE(first);
  auto second = f.env.vps->RebootVps("org-a", f.id);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kConflict);
  EXPECT_NE(second.error().detail.find(first->id), std::string::npos) << second.error().detail;
  EXPECT_EQ(f.env.vps->StopVps("org-b", f.id).error().code, ErrorCode::kNotFound);
  f.env.Drain(f.pool);
  EXPECT_EQ(f.Get().state, VpsState::kStopped);
  EXPECT_EQ(f.env.vps->RebootVps("org-a", f.id).error().code, ErrorCode::kConflict)
      << "a stopped VPS is started, not rebooted";
  // Deleting waits for nothing left running and removes snapshots with the domain.
  ASSERT_TRUE(f.Run(f.env.vps->SnapshotVps("org-a", f.id, "s1")).state == core::JobState::kSucceeded);
  ASSERT_TRUE(f.env.vps->DeleteVps("org-a", f.id));
  f.env.Drain(f.pool);
  EXPECT_EQ(f.env.vps->Get("org-a", f.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(f.env.vps->StartVps("org-a", f.id).error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(f.env.Libvirt().domains.empty());
}

TEST(VpsLifecycleTest, AGuestIgnoringAcpiIsForcedOffAfterTheTimeout) {
  auto plan = FaultPlan::Create();
  Fixture f(plan);
  plan->Ignore("ShutdownDomain");  // the guest never reacts to the power button
  const core::TimePoint t0 = f.env.fake_clock.Now();
  auto op = f.env.vps->StopVps("org-a", f.id, {.timeout = std::chrono::seconds(30)});
  auto job = f.Run(op);
  EXPECT_EQ(job.state, core::JobState::kSucceeded) << job.last_error;
  EXPECT_EQ(job.result.value("graceful", true), false);
  EXPECT_GT(job.attempts, 1) << "it waited (by retrying) before pulling the plug";
  EXPECT_GE(f.env.fake_clock.Now() - t0, std::chrono::seconds(30));
  EXPECT_EQ(f.Get().state, VpsState::kStopped);
  EXPECT_EQ(f.Domain().state, DomainState::kShutoff);
  // force: destroyed at once, in one attempt.
  plan->Clear();
  f.Run(f.env.vps->StartVps("org-a", f.id));
  plan->Ignore("ShutdownDomain");
  auto forced = f.Run(f.env.vps->StopVps("org-a", f.id, {.force = true}));
  EXPECT_EQ(forced.attempts, 1);
  EXPECT_EQ(forced.result.value("graceful", true), false);
  EXPECT_EQ(f.Domain().state, DomainState::kShutoff);
}

// Each operation: how to bring the VPS to its starting point, how to ask for it, and what a
// user sees once it is done.
struct OpCase {
  const char* name;
  std::function<void(Fixture&)> setup;
  std::function<core::Result<Operation>(Fixture&)> run;
  std::function<void(Fixture&)> check;
};

std::vector<OpCase> Cases() {
  auto stop = [](Fixture& f) { f.Run(f.env.vps->StopVps("org-a", f.id)); };
  auto snap = [](Fixture& f) { f.Run(f.env.vps->SnapshotVps("org-a", f.id, "s1")); };
  auto running = [](Fixture& f) {
    EXPECT_EQ(f.Get().state, VpsState::kRunning);
    EXPECT_EQ(f.Domain().state, DomainState::kRunning);
  };
  return {
      {"start", stop, [](Fixture& f) { return f.env.vps->StartVps("org-a", f.id); }, running},
      {"stop", [](Fixture&) {}, [](Fixture& f) { return f.env.vps->StopVps("org-a", f.id); },
       [](Fixture& f) {
         EXPECT_EQ(f.Get().state, VpsState::kStopped);
         EXPECT_EQ(f.Domain().state, DomainState::kShutoff);
       }},
      {"reboot", [](Fixture&) {}, [](Fixture& f) { return f.env.vps->RebootVps("org-a", f.id); },
       running},
      {"resize", [](Fixture&) {},
       [](Fixture& f) {
         return f.env.vps->ResizeVps("org-a", f.id, {.vcpus = 2, .ram_mib = 768, .disk_gib = 2});
       },
       [=](Fixture& f) {
         running(f);
         EXPECT_EQ(f.Domain().vcpus, 2);
         EXPECT_EQ(f.Domain().memory_mib, 768);
         EXPECT_EQ(f.DiskBytes(), int64_t{2} << 30);
         EXPECT_EQ(f.env.inv.GetHost(f.Get().host_id)->used.ram_mib, 768);
       }},
      {"snapshot", [](Fixture&) {},
       [](Fixture& f) { return f.env.vps->SnapshotVps("org-a", f.id, "s1"); },
       [](Fixture& f) {
         EXPECT_EQ(f.LibvirtSnapshots(), std::vector<std::string>{"s1"});
         auto l = f.env.vps->ListSnapshots("org-a", f.id);
         ASSERT_TRUE(l && l->size() == 1u);
         EXPECT_EQ((*l)[0].state, "ready");
       }},
      {"revert", [=](Fixture& f) { snap(f); stop(f); },
       [](Fixture& f) { return f.env.vps->RevertVps("org-a", f.id, "s1"); }, running},
      {"delete_snapshot", snap,
       [](Fixture& f) { return f.env.vps->DeleteSnapshot("org-a", f.id, "s1"); },
       [](Fixture& f) {
         EXPECT_TRUE(f.LibvirtSnapshots().empty());
         EXPECT_TRUE(f.env.vps->ListSnapshots("org-a", f.id)->empty());
       }},
      {"rebuild", snap,
       [](Fixture& f) {
         return f.env.vps->RebuildVps("org-a", f.id, {.template_name = "debian-12-min"});
       },
       [=](Fixture& f) {
         running(f);
         EXPECT_EQ(f.Get().template_name, "debian-12-min");
         EXPECT_TRUE(f.LibvirtSnapshots().empty());
         EXPECT_EQ(f.env.Libvirt().volumes.size(), 2u) << "one disk and one seed, no leftovers";
       }},
  };
}

TEST(VpsLifecycleTest, AFaultAtEveryLibvirtCallOfEveryOperationStillEndsWhereItShould) {
  int64_t total = 0;
  for (const OpCase& c : Cases()) {
    SCOPED_TRACE(c.name);
    // Calls the operation makes without faults.
    int64_t calls = 0;
    {
      auto plan = FaultPlan::Create();
      Fixture f(plan);
      c.setup(f);
      const int64_t before = plan->calls();
      auto job = f.Run(c.run(f));
      ASSERT_EQ(job.state, core::JobState::kSucceeded) << job.last_error;
      calls = plan->calls() - before;
      c.check(f);
    }
    ASSERT_GT(calls, 0);
    for (int64_t n = 1; n <= calls; ++n) {
      auto plan = FaultPlan::Create();
      Fixture f(plan);
      c.setup(f);
      plan->FailCall(plan->calls() + n);
      auto job = f.Run(c.run(f));
      SCOPED_TRACE("fault at call " + std::to_string(n) + " of " + std::to_string(calls));
      EXPECT_EQ(job.state, core::JobState::kSucceeded) << job.last_error;
      EXPECT_EQ(job.attempts, 2) << "one failed attempt, one that finished the work";
      c.check(f);
      auto rep = f.env.vps->Reconcile();
      ASSERT_TRUE(rep);
      EXPECT_TRUE(rep->clean());
    }
    total += calls;
  }
  std::printf("faults injected at %lld lifecycle calls\n", static_cast<long long>(total));
}

}  // namespace
}  // namespace hp::provisioning

namespace hp::provisioning {
namespace {

// State sync from libvirt lifecycle events: what happens to a domain behind our back (an
// operator's virsh, a guest powering itself off, a crash) shows up in the VPS state.
TEST(VpsEventSyncTest, ADomainDestroyedOrStartedBehindOurBackShowsUp) {
  Fixture f;
  ASSERT_EQ(f.Get().state, VpsState::kRunning);
  auto hv = f.Hv();  // the same connection the service uses (test-driver state is per connection)
  ASSERT_TRUE(hv->DestroyDomain("hp-" + f.id));
  EXPECT_TRUE(hp::testing::PollUntil([&] { return f.Get().state == VpsState::kStopped; },
                                     std::chrono::seconds(10)))
      << "state is still " << VpsStateName(f.Get().state);
  ASSERT_TRUE(hv->StartDomain("hp-" + f.id));
  EXPECT_TRUE(hp::testing::PollUntil([&] { return f.Get().state == VpsState::kRunning; },
                                     std::chrono::seconds(10)));
  // The customer can act on what they see: start works after an outside destroy.
  ASSERT_TRUE(hv->DestroyDomain("hp-" + f.id));
  ASSERT_TRUE(hp::testing::PollUntil([&] { return f.Get().state == VpsState::kStopped; },
                                     std::chrono::seconds(10)));
  auto start = f.Run(f.env.vps->StartVps("org-a", f.id));
  EXPECT_EQ(start.state, core::JobState::kSucceeded) << start.last_error;
  EXPECT_EQ(f.Domain().state, DomainState::kRunning);
}

}  // namespace
}  // namespace hp::provisioning
