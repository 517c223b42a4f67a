// VPS create/delete as durable jobs against libvirt's test driver: acceptance 1 (200 parallel
// creates over 3 hosts, no oversubscription, nothing left after delete) and acceptance 2 (a
// failure injected at every libvirt call of create and delete is retried or rolled back, and the
// inventory matches libvirt afterwards).
#include "hp/provisioning/vps.h"

#include <gtest/gtest.h>

#include <map>

#include "vps_test_env.h"

namespace hp::provisioning {
namespace {

using testing::Env;

TEST(VpsTest, TwoHundredParallelCreatesNeverOversubscribeAndDeleteLeavesNothing) {
  core::RetryPolicy fast;
  fast.initial_backoff = std::chrono::milliseconds(1);
  fast.max_backoff = std::chrono::milliseconds(20);
  VpsOptions vo;
  vo.create_max_attempts = 2;
  Env env(nullptr, fast, vo, &core::SystemClock::Instance());
  core::WorkerPool pool(env.jobs, {.threads = 4, .idle_poll = std::chrono::milliseconds(5)});
  env.RegisterHandlers(pool);
  pool.Start();

  std::vector<Operation> ops(200);
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      for (int i = t; i < 200; i += 4) {
        auto op = env.vps->CreateVps(env.Request("vm" + std::to_string(i)));
        ASSERT_TRUE(op) << op.error().ToString();
        ops[i] = *op;
      }
    });
  for (auto& c : callers) c.join();
  pool.Notify();

  auto settled = [&] {
    auto q = env.jobs.List({.state = core::JobState::kQueued});
    auto r = env.jobs.List({.state = core::JobState::kRunning});
    return q && r && q->empty() && r->empty();
  };
  ASSERT_TRUE(hp::testing::PollUntil(settled, std::chrono::seconds(120)));

  auto all = env.vps->List("org-a");
  ASSERT_TRUE(all);
  std::map<std::string, int> states;
  for (const Vps& v : *all) {
    states[std::string(VpsStateName(v.state))]++;
    if (v.state == VpsState::kFailed) {
      EXPECT_NE(v.last_error.find("3 hosts: 3 out of vCPU"), std::string::npos) << v.last_error;
    }
  }
  EXPECT_EQ(states["running"], 192) << "3 hosts x 8 cores x ratio 8 at 1 vCPU each";
  EXPECT_EQ(states["failed"], 8);

  auto hosts = env.inv.ListHosts();
  ASSERT_TRUE(hosts);
  for (const Host& h : *hosts) {
    EXPECT_LE(h.used.vcpus, h.Effective().vcpus) << h.spec.name;
    EXPECT_LE(h.used.ram_mib, h.Effective().ram_mib) << h.spec.name;
    auto hv = env.hvs->Get(h.spec.uri);
    ASSERT_TRUE(hv);
    auto doms = (*hv)->ListDomains();
    ASSERT_TRUE(doms);
    EXPECT_EQ(static_cast<int64_t>(doms->size()), h.allocations) << h.spec.name;
    for (const DomainInfo& d : *doms) {
      EXPECT_EQ(d.vcpus, 1);
      EXPECT_EQ(d.memory_mib, 512);
      EXPECT_EQ(d.state, DomainState::kRunning);
    }
  }
  auto rep = env.vps->Reconcile();
  ASSERT_TRUE(rep);
  EXPECT_TRUE(rep->clean());
  EXPECT_EQ(*env.ips.CountAllocated(), 2 * 192) << "one IPv4 and one IPv6 each";
  EXPECT_EQ(*env.rdns.Count(), 2 * 192);
  // The operation shows where it got to.
  auto job = env.jobs.Get(ops[0].id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->progress.value("step", ""), "finish");

  for (const Vps& v : *all) {
    auto op = env.vps->DeleteVps("org-a", v.id);
    ASSERT_TRUE(op) << op.error().ToString();
  }
  pool.Notify();
  ASSERT_TRUE(hp::testing::PollUntil(settled, std::chrono::seconds(120)));
  pool.Stop(std::chrono::seconds(5));

  auto left = env.vps->List("org-a");
  ASSERT_TRUE(left);
  for (const Vps& v : *left)
    ADD_FAILURE() << "VPS " << v.id << " left in state " << VpsStateName(v.state);
  auto seen = env.Libvirt();
  EXPECT_TRUE(seen.domains.empty()) << seen.domains.size() << " domains left";
  EXPECT_TRUE(seen.volumes.empty()) << seen.volumes.size() << " volumes left";
  EXPECT_EQ(*env.ips.CountAllocated(), 0);
  EXPECT_EQ(*env.rdns.Count(), 0);
  auto after = env.inv.ListHosts();
  ASSERT_TRUE(after);
  for (const Host& h : *after) {
    EXPECT_EQ(h.allocations, 0);
    EXPECT_EQ(h.used.vcpus, 0);
  }
  auto dead = env.jobs.List({.state = core::JobState::kDead});
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->size(), 8u) << "only the 8 creates that found no room";
}

TEST(VpsTest, OrganizationsCannotSeeEachOthersVps) {
  Env env;
  auto op = env.vps->CreateVps(env.Request("mine", "org-a"));
  ASSERT_TRUE(op);
  EXPECT_EQ(env.vps->Get("org-b", op->resource_id).error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(env.vps->DeleteVps("org-b", op->resource_id).error().code, core::ErrorCode::kNotFound);
  EXPECT_TRUE(env.vps->List("org-b")->empty());
  auto bad = env.Request("Bad_Name");
  auto e = env.vps->CreateVps(bad);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().field, "hostname");
  bad = env.Request("ok");
  bad.template_name = "nope";
  EXPECT_EQ(env.vps->CreateVps(bad).error().code, core::ErrorCode::kNotFound);
  // An idempotency key returns the same operation.
  auto req = env.Request("idem");
  req.idempotency_key = "k1";
  auto a = env.vps->CreateVps(req);
  auto b = env.vps->CreateVps(req);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->id, b->id);
  EXPECT_EQ(a->resource_id, b->resource_id);
  EXPECT_EQ(env.vps->List("org-a")->size(), 2u);
}

// One create and one delete; returns the number of hypervisor calls each made.
std::pair<int64_t, int64_t> CountCalls() {
  auto plan = FaultPlan::Create();
  Env env(plan);
  core::WorkerPool pool(env.jobs, {});
  env.RegisterHandlers(pool);
  auto op = env.vps->CreateVps(env.Request("count"));
  env.Drain(pool);
  const int64_t create = plan->calls();
  (void)env.vps->DeleteVps("org-a", op->resource_id);
  env.Drain(pool);
  return {create, plan->calls() - create};
}

TEST(VpsTest, AFaultAtEveryLibvirtCallIsRetriedAndLeavesInventoryMatchingLibvirt) {
  auto [create_calls, delete_calls] = CountCalls();
  std::printf("create makes %lld hypervisor calls, delete %lld\n", static_cast<long long>(create_calls),
              static_cast<long long>(delete_calls));
  ASSERT_GT(create_calls, 8);
  ASSERT_GT(delete_calls, 4);
  for (int64_t n = 1; n <= create_calls + delete_calls; ++n) {
    SCOPED_TRACE("fault at call " + std::to_string(n));
    auto plan = FaultPlan::Create();
    if (n <= create_calls) plan->FailCall(n);
    Env env(plan);
    core::WorkerPool pool(env.jobs, {});
    env.RegisterHandlers(pool);
    auto op = env.vps->CreateVps(env.Request("faulty"));
    ASSERT_TRUE(op);
    env.Drain(pool);
    if (n <= create_calls) {
      auto trace = plan->Trace();
      SCOPED_TRACE("failed call: " + trace[static_cast<size_t>(n - 1)]);
    }
    auto v = env.vps->Get("org-a", op->resource_id);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->state, VpsState::kRunning) << v->last_error;
    auto rep = env.vps->Reconcile();
    ASSERT_TRUE(rep);
    EXPECT_TRUE(rep->clean()) << "after create";
    auto seen = env.Libvirt();
    ASSERT_EQ(seen.domains.size(), 1u);
    EXPECT_EQ(seen.domains[0].name, "hp-" + op->resource_id);
    EXPECT_EQ(seen.domains[0].vcpus, 1);
    EXPECT_EQ(seen.domains[0].memory_mib, 512);
    EXPECT_EQ(seen.volumes.size(), 2u) << "disk and seed, no duplicates";
    EXPECT_EQ(*env.ips.CountAllocated(), 2);

    // Delete-phase faults count from here (inspection above made calls too).
    if (n > create_calls) plan->FailCall(plan->calls() + (n - create_calls));
    auto del = env.vps->DeleteVps("org-a", op->resource_id);
    ASSERT_TRUE(del);
    env.Drain(pool);
    EXPECT_EQ(env.vps->Get("org-a", op->resource_id).error().code, core::ErrorCode::kNotFound);
    seen = env.Libvirt();
    EXPECT_TRUE(seen.domains.empty());
    EXPECT_TRUE(seen.volumes.empty());
    EXPECT_EQ(*env.ips.CountAllocated(), 0);
    EXPECT_EQ(*env.rdns.Count(), 0);
    auto hosts = env.inv.ListHosts();
    ASSERT_TRUE(hosts);
    for (const Host& h : *hosts) EXPECT_EQ(h.allocations, 0);
  }
}

TEST(VpsTest, APermanentFailureRollsBackEverythingTheCreateMade) {
  Env env;
  // The template's base volume is missing on every host: the create fails after placement,
  // addresses and PTRs were taken.
  ASSERT_TRUE(env.inv.AddTemplate({.name = "ghost", .pool = "default", .volume = "ghost.qcow2"}));
  core::WorkerPool pool(env.jobs, {});
  env.RegisterHandlers(pool);
  auto req = env.Request("ghost");
  req.template_name = "ghost";
  auto op = env.vps->CreateVps(req);
  ASSERT_TRUE(op);
  env.Drain(pool);
  auto v = env.vps->Get("org-a", op->resource_id);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->state, VpsState::kFailed);
  EXPECT_NE(v->last_error.find("template volume default/ghost.qcow2 is missing"), std::string::npos)
      << v->last_error;
  auto seen = env.Libvirt();
  EXPECT_TRUE(seen.domains.empty());
  EXPECT_TRUE(seen.volumes.empty());
  EXPECT_EQ(*env.ips.CountAllocated(), 0);
  EXPECT_EQ(*env.rdns.Count(), 0);
  auto hosts = env.inv.ListHosts();
  ASSERT_TRUE(hosts);
  for (const Host& h : *hosts) EXPECT_EQ(h.allocations, 0);
  // One service.failed event with the reason, no service.provisioned.
  auto failed = env.Events("service.failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0]["organization_id"], "org-a");
  EXPECT_EQ(failed[0]["data"]["id"], op->resource_id);
  EXPECT_NE(failed[0]["data"]["error"].get<std::string>().find("ghost.qcow2"), std::string::npos);
  EXPECT_TRUE(env.Events("service.provisioned").empty());
  // A failed VPS can still be deleted by its owner.
  ASSERT_TRUE(env.vps->DeleteVps("org-a", op->resource_id));
  env.Drain(pool);
  EXPECT_TRUE(env.vps->List("org-a")->empty());
}

TEST(NoCloudSeedTest, IsAnIso9660VolumeLabelledCidata) {
  std::string iso = BuildNoCloudSeed("i-1", "vm1.example.net", "ssh-ed25519 AAAA x",
                                     {.mac = "52:54:00:01:02:03", .ipv4 = "192.0.2.10/24",
                                      .gateway4 = "192.0.2.1"});
  ASSERT_EQ(iso.size() % 2048, 0u);
  EXPECT_EQ(iso.substr(16 * 2048 + 1, 5), "CD001");
  EXPECT_EQ(iso.substr(16 * 2048 + 40, 6), "cidata");
  EXPECT_NE(iso.find("USER-DATA;1"), std::string::npos);
  EXPECT_NE(iso.find("local-hostname: \"vm1.example.net\""), std::string::npos);
  EXPECT_NE(iso.find("ssh_authorized_keys:\n  - \"ssh-ed25519 AAAA x\""), std::string::npos);
  hp::testing::TempDir dir;
  hp::testing::WriteFile(dir.path() + "/seed.iso", iso);
  auto [rc, out] = hp::testing::Run({"blkid", "-p", "-o", "export", dir.path() + "/seed.iso"});
  if (rc == 0) {
    EXPECT_NE(out.find("TYPE=iso9660"), std::string::npos) << out;
    EXPECT_NE(out.find("LABEL=cidata"), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace hp::provisioning
