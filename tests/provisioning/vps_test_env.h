#pragma once
// A VpsService over three libvirt test-driver hosts with a migrated store, a fake clock and an
// optional fault plan; shared by the VPS tests.
#include <map>
#include <mutex>
#include <vector>

#include "hp/core/events.h"

#include "hp/provisioning/vps.h"
#include "prov_test_util.h"

namespace hp::provisioning::testing {

constexpr int kHosts = 3;

struct Env {
  explicit Env(std::shared_ptr<FaultPlan> faults = nullptr, core::RetryPolicy policy = {},
               VpsOptions vo = {}, const core::Clock* clock = nullptr)
      : clock_(clock ? clock : &fake_clock),
        inv(*db, *clock_, ids),
        placer(*db, *clock_),
        ips(*db, *clock_),
        rdns(*db, *clock_),
        jobs(*db, *clock_, policy) {
    auto real = LibvirtHypervisors::Create();
    EXPECT_TRUE(real);
    hvs = faults ? WithFaults(std::move(*real), faults) : std::move(*real);
    for (int i = 0; i < kHosts; ++i) {
      HostSpec s;
      s.name = "kvm-" + std::to_string(i);
      s.uri = MakeTestHost(dir.path(), s.name);
      s.zone = "tokyo-1";
      s.capacity = {8, 65536, 4000};
      s.cpu_ratio = 8.0;  // 64 vCPU sellable per host
      s.ram_ratio = 1.5;
      auto h = inv.AddHost(s);
      EXPECT_TRUE(h) << h.error().ToString();
      uris.push_back(s.uri);
    }
    EXPECT_TRUE(inv.AddTemplate({.name = "debian-12", .pool = "default", .volume = "debian-12.qcow2"}));
    EXPECT_TRUE(inv.AddIpPool({.name = "tokyo-1-v4", .zone = "tokyo-1", .family = 4,
                               .first = "198.18.0.10", .last = "198.18.3.250",
                               .prefix_length = 22, .gateway = "198.18.0.1"}));
    EXPECT_TRUE(inv.AddIpPool({.name = "tokyo-1-v6", .zone = "tokyo-1", .family = 6,
                               .first = "2001:db8::10", .last = "2001:db8::ffff",
                               .prefix_length = 64, .gateway = "2001:db8::1"}));
    VpsServiceDeps d{db.get(), clock_, &jobs, &ids, hvs.get(), &inv, &placer, &ips, &rdns};
    auto s = VpsService::Create(d, vo);
    EXPECT_TRUE(s);
    vps = std::move(*s);
  }

  // The VPS job handlers plus a sink for the domain events they record (service.provisioned,
  // service.failed): in the server the partners module delivers those.
  void RegisterHandlers(core::WorkerPool& pool) {
    vps->RegisterHandlers(pool);
    pool.Register(std::string(core::kEventJobKind), [this](core::JobContext& ctx) -> core::Result<core::Json> {
      std::lock_guard lock(events_mu);
      events.push_back(ctx.job().payload);
      return core::Json::object();
    });
  }
  std::vector<core::Json> Events(const std::string& type) {
    std::lock_guard lock(events_mu);
    std::vector<core::Json> out;
    for (const core::Json& e : events)
      if (e.value("type", "") == type) out.push_back(e);
    return out;
  }
  std::mutex events_mu;
  std::vector<core::Json> events;

  CreateVpsRequest Request(const std::string& name, const std::string& org = "org-a") {
    return {.organization_id = org, .hostname = name + ".example.net",
            .template_name = "debian-12", .zone = "tokyo-1",
            .plan = {.vcpus = 1, .ram_mib = 512, .disk_gib = 1},  // the test driver pool holds 100 GiB
            .ssh_authorized_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test"};
  }

  // Runs jobs inline, moving the fake clock past backoffs, until none is pending.
  void Drain(core::WorkerPool& pool) {
    for (int guard = 0; guard < 10000; ++guard) {
      auto ran = pool.RunOnce();
      ASSERT_TRUE(ran) << ran.error().ToString();
      if (*ran) continue;
      auto due = jobs.NextDue();
      ASSERT_TRUE(due);
      if (!*due) return;
      fake_clock.Set(std::max(fake_clock.Now(), **due));
    }
    FAIL() << "jobs never settled";
  }

  // Everything libvirt has on every host, through an unfaulted connection.
  struct Seen {
    std::vector<DomainInfo> domains;
    std::vector<std::string> volumes;  // non-template
  };
  Seen Libvirt() {
    Seen out;
    for (const std::string& uri : uris) {
      // Through the same connections: the test driver keeps state per connection.
      auto h = hvs->Get(uri);
      EXPECT_TRUE(h);
      if (!h) continue;
      auto d = (*h)->ListDomains();
      auto vols = (*h)->ListVolumes("default");
      EXPECT_TRUE(d && vols);
      if (!d || !vols) continue;
      out.domains.insert(out.domains.end(), d->begin(), d->end());
      for (const VolumeInfo& v : *vols)
        if (v.name != "debian-12.qcow2") out.volumes.push_back(v.name);
    }
    return out;
  }

  hp::testing::TempDir dir;
  std::unique_ptr<core::Database> db = OpenDb(dir.path());
  core::FakeClock fake_clock{core::FromUnixSeconds(1'800'000'000)};
  const core::Clock* clock_;
  core::RandomIdSource ids;
  Inventory inv;
  Placer placer;
  IpAllocator ips;
  StoreReverseDns rdns;
  core::JobQueue jobs;
  std::unique_ptr<Hypervisors> hvs;
  std::unique_ptr<VpsService> vps;
  std::vector<std::string> uris;
};

}  // namespace hp::provisioning::testing
