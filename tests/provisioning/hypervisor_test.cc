// LibvirtHypervisors against libvirt's own test driver (private state per host file), and the
// fault-injecting wrapper.
#include "hp/provisioning/hypervisor.h"

#include <gtest/gtest.h>

#include "prov_test_util.h"

namespace hp::provisioning {
namespace {

using testing::MakeTestHost;

DomainSpec Small(const std::string& name, const std::string& disk) {
  DomainSpec s;
  s.name = name;
  s.vcpus = 2;
  s.memory_mib = 1024;
  s.disks.push_back({.path = disk});
  s.nics.push_back({.mac = "52:54:00:12:34:56"});
  return s;
}

TEST(LibvirtHypervisorTest, DomainAndVolumeLifecycleOnTestDriver) {
  hp::testing::TempDir dir;
  auto hvs = LibvirtHypervisors::Create();
  ASSERT_TRUE(hvs) << hvs.error().ToString();
  auto hv = (*hvs)->Get(MakeTestHost(dir.path(), "h1"));
  ASSERT_TRUE(hv) << hv.error().ToString();
  Hypervisor& h = **hv;

  auto base = h.LookupVolume("default", "debian-12.qcow2");
  ASSERT_TRUE(base && *base) << "template volume is visible";
  auto vol = h.CreateVolume({.pool = "default", .name = "vm1-disk.qcow2",
                             .capacity_bytes = int64_t{10} << 30, .backing_path = (*base)->path});
  ASSERT_TRUE(vol) << vol.error().ToString();
  EXPECT_EQ(vol->capacity_bytes, int64_t{10} << 30);
  auto again = h.CreateVolume({.pool = "default", .name = "vm1-disk.qcow2", .capacity_bytes = 1});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, core::ErrorCode::kAlreadyExists);

  ASSERT_TRUE(h.DefineDomain(Small("hp-vm1", vol->path)));
  auto dup = h.DefineDomain(Small("hp-vm1", vol->path));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, core::ErrorCode::kAlreadyExists);
  ASSERT_TRUE(h.StartDomain("hp-vm1"));
  auto info = h.LookupDomain("hp-vm1");
  ASSERT_TRUE(info && *info);
  EXPECT_EQ((*info)->state, DomainState::kRunning);
  EXPECT_EQ((*info)->vcpus, 2);
  EXPECT_EQ((*info)->memory_mib, 1024);
  auto xml = h.DomainXml("hp-vm1");
  ASSERT_TRUE(xml);
  EXPECT_NE(xml->find("vm1-disk.qcow2"), std::string::npos);
  EXPECT_NE(xml->find("52:54:00:12:34:56"), std::string::npos);

  auto start_twice = h.StartDomain("hp-vm1");
  ASSERT_FALSE(start_twice);
  EXPECT_NE(start_twice.error().detail.find("already running"), std::string::npos);

  ASSERT_TRUE(h.CreateSnapshot("hp-vm1", "before"));
  auto snaps = h.ListSnapshots("hp-vm1");
  ASSERT_TRUE(snaps);
  ASSERT_EQ(snaps->size(), 1u);
  EXPECT_EQ((*snaps)[0].name, "before");
  ASSERT_TRUE(h.RevertSnapshot("hp-vm1", "before"));

  ASSERT_TRUE(h.DestroyDomain("hp-vm1"));
  auto resized = h.SetDomainSize("hp-vm1", 4, 2048);
  ASSERT_TRUE(resized) << resized.error().detail;
  info = h.LookupDomain("hp-vm1");
  ASSERT_TRUE(info && *info);
  EXPECT_EQ((*info)->state, DomainState::kShutoff);
  EXPECT_EQ((*info)->vcpus, 4);
  EXPECT_EQ((*info)->memory_mib, 2048);

  auto undefined = h.UndefineDomain("hp-vm1");
  ASSERT_TRUE(undefined) << undefined.error().detail;
  auto gone = h.LookupDomain("hp-vm1");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
  auto undef = h.UndefineDomain("hp-vm1");
  ASSERT_FALSE(undef);
  EXPECT_EQ(undef.error().code, core::ErrorCode::kNotFound);

  ASSERT_TRUE(h.DeleteVolume("default", "vm1-disk.qcow2"));
  auto vols = h.ListVolumes("default");
  ASSERT_TRUE(vols);
  EXPECT_EQ(vols->size(), 1u) << "only the template is left";
}

TEST(LibvirtHypervisorTest, HostsArePrivateAndEventsArrive) {
  hp::testing::TempDir dir;
  auto hvs = LibvirtHypervisors::Create();
  ASSERT_TRUE(hvs);
  std::mutex mu;
  std::vector<DomainEvent> events;
  (*hvs)->SetEventListener([&](const DomainEvent& e) {
    std::lock_guard lock(mu);
    events.push_back(e);
  });
  auto a = (*hvs)->Get(MakeTestHost(dir.path(), "a"));
  auto b = (*hvs)->Get(MakeTestHost(dir.path(), "b"));
  ASSERT_TRUE(a && b);
  ASSERT_TRUE((*a)->DefineDomain(Small("hp-x", "/nonexistent/x.qcow2")));
  ASSERT_TRUE((*a)->StartDomain("hp-x"));
  EXPECT_TRUE((*b)->ListDomains()->empty()) << "host b does not see host a's domain";
  bool seen = hp::testing::PollUntil(
      [&] {
        std::lock_guard lock(mu);
        for (auto& e : events)
          if (e.domain == "hp-x" && e.state == DomainState::kRunning && e.uri == (*a)->uri())
            return true;
        return false;
      },
      std::chrono::seconds(5));
  EXPECT_TRUE(seen) << "a lifecycle event for the started domain reached the listener";
}

TEST(LibvirtHypervisorTest, UnreachableHostIsUnavailable) {
  auto hvs = LibvirtHypervisors::Create();
  ASSERT_TRUE(hvs);
  auto h = (*hvs)->Get("test:///nonexistent/dir/host.xml");
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, core::ErrorCode::kUnavailable);
}

TEST(FaultInjectionTest, FailsExactlyTheNthCall) {
  hp::testing::TempDir dir;
  auto plan = FaultPlan::Create();
  auto hvs = WithFaults(*LibvirtHypervisors::Create(), plan);
  const std::string uri = MakeTestHost(dir.path(), "h");
  plan->FailCall(3);
  auto h = hvs->Get(uri);                                    // call 1
  ASSERT_TRUE(h);
  ASSERT_TRUE((*h)->ListDomains());                          // call 2
  auto failed = (*h)->DefineDomain(Small("hp-y", "/x"));     // call 3: injected
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, core::ErrorCode::kUnavailable);
  EXPECT_TRUE((*h)->ListDomains()->empty()) << "the failed call never reached libvirt";
  ASSERT_TRUE((*h)->DefineDomain(Small("hp-y", "/x")));      // call 5
  EXPECT_EQ(plan->calls(), 5);
  EXPECT_EQ(plan->Trace()[2], "DefineDomain");
}

}  // namespace
}  // namespace hp::provisioning
