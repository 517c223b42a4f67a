// Placement: filters explain failures, claims are atomic under concurrency, dedicated hosts are
// never shared.
#include "hp/provisioning/placement.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "prov_test_util.h"

namespace hp::provisioning {
namespace {

using testing::OpenDb;
using testing::VpsHost;

class PlacementTest : public ::testing::Test {
 protected:
  Host Add(HostSpec s) {
    auto h = inv_.AddHost(s);
    EXPECT_TRUE(h) << h.error().ToString();
    return *h;
  }
  PlacementRequest Vps(const std::string& consumer, Resources r, std::string zone = "tokyo-1") {
    return {.consumer_id = consumer, .organization_id = "org1", .kind = HostKind::kVps,
            .zone = std::move(zone), .resources = r};
  }
  hp::testing::TempDir dir_;
  std::unique_ptr<core::Database> db_ = OpenDb(dir_.path());
  core::FakeClock clock_{core::FromUnixSeconds(1'800'000'000)};
  core::RandomIdSource ids_;
  Inventory inv_{*db_, clock_, ids_};
};

TEST_F(PlacementTest, FailureSaysWhyPerFilter) {
  Host a = Add(VpsHost("a", "test:///a", "tokyo-1", 8, 4096, 100));
  Add(VpsHost("b", "test:///b", "tokyo-1", 8, 2048, 100));
  Host c = Add(VpsHost("c", "test:///c", "tokyo-1", 8, 65536, 100));
  ASSERT_TRUE(inv_.SetHostState(c.id, HostState::kDraining));
  Placer placer(*db_, clock_);
  auto r = placer.Place(Vps("v1", {2, 8192, 20}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::ErrorCode::kUnavailable);
  EXPECT_EQ(r.error().detail,
            "no vps host can take 2 vCPU/8192 MiB/20 GiB in zone tokyo-1: 3 hosts: 2 out of RAM, "
            "1 draining");
  auto other_zone = placer.Place(Vps("v1", {1, 512, 10}, "osaka-1"));
  ASSERT_FALSE(other_zone);
  EXPECT_NE(other_zone.error().detail.find("3 hosts: 3 in another zone"), std::string::npos)
      << other_zone.error().detail;
  auto ded = placer.Place({.consumer_id = "d1", .organization_id = "org1",
                           .kind = HostKind::kDedicated});
  ASSERT_FALSE(ded);
  EXPECT_NE(ded.error().detail.find("no dedicated hosts in inventory"), std::string::npos);
  // The same request fits once the draining host is active again: nothing was claimed before.
  ASSERT_TRUE(inv_.SetHostState(c.id, HostState::kActive));
  auto ok = placer.Place(Vps("v1", {2, 8192, 20}));
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->host_name, "c");
  EXPECT_EQ(inv_.GetHost(a.id)->allocations, 0);
}

TEST_F(PlacementTest, OvercommitAndReservedAreHonouredAndPlacementIsIdempotent) {
  HostSpec s = VpsHost("a", "test:///a", "tokyo-1", 4, 8192, 100);
  s.cpu_ratio = 2.0;            // 8 vCPU sellable
  s.reserved.ram_mib = 1024;    // 7168 MiB sellable
  Add(s);
  Placer placer(*db_, clock_);
  int placed = 0;
  for (int i = 0; i < 20; ++i)
    if (placer.Place(Vps("v" + std::to_string(i), {1, 1024, 5}))) ++placed;
  EXPECT_EQ(placed, 7) << "RAM ((8192 - 1024) * 1.0) runs out before vCPU (4 * 2.0)";
  auto again = placer.Place(Vps("v0", {1, 1024, 5}));
  ASSERT_TRUE(again) << "re-placing a consumer returns its claim";
  EXPECT_EQ(inv_.GetHostByName("a")->allocations, 7);
  ASSERT_TRUE(placer.Resize("v0", {2, 1024, 5}));
  EXPECT_EQ(inv_.GetHostByName("a")->used.vcpus, 8);
  auto too_big = placer.Resize("v1", {2, 1024, 5});
  ASSERT_FALSE(too_big);
  EXPECT_EQ(inv_.GetHostByName("a")->used.vcpus, 8) << "a refused resize changes nothing";
}

TEST_F(PlacementTest, ConcurrentPlacementsNeverOversubscribe) {
  for (int i = 0; i < 3; ++i)
    Add(VpsHost("h" + std::to_string(i), "test:///h" + std::to_string(i), "tokyo-1", 16, 16384, 400));
  Placer placer(*db_, clock_);
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto r = placer.Place(Vps("c" + std::to_string(t) + "-" + std::to_string(i), {1, 1024, 10}));
        (r ? ok : refused)++;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 48) << "3 hosts x 16 GiB / 1 GiB";
  EXPECT_EQ(refused.load(), 200 - 48);
  auto hosts = inv_.ListHosts();
  ASSERT_TRUE(hosts);
  for (const Host& h : *hosts) {
    EXPECT_LE(h.used.ram_mib, h.Effective().ram_mib) << h.spec.name;
    EXPECT_EQ(h.used.ram_mib, h.allocations * 1024) << "accounting matches the claims";
  }
}

TEST_F(PlacementTest, SpreadAndPackWeighers) {
  Add(VpsHost("a", "test:///a", "tokyo-1", 64, 8192, 1000));
  Add(VpsHost("b", "test:///b", "tokyo-1", 64, 8192, 1000));
  Placer spread(*db_, clock_, {.weigher = Weigher::kSpread});
  std::map<std::string, int> per_host;
  for (int i = 0; i < 4; ++i) per_host[spread.Place(Vps("s" + std::to_string(i), {1, 512, 1}))->host_name]++;
  EXPECT_EQ(per_host["a"], 2);
  EXPECT_EQ(per_host["b"], 2);
  Placer pack(*db_, clock_, {.weigher = Weigher::kPack});
  per_host.clear();
  for (int i = 0; i < 4; ++i) per_host[pack.Place(Vps("p" + std::to_string(i), {1, 512, 1}))->host_name]++;
  EXPECT_EQ(per_host.size(), 1u) << "pack fills one host first";
}

TEST_F(PlacementTest, AntiAffinityKeepsGroupMembersApart) {
  Add(VpsHost("a", "test:///a", "tokyo-1", 64, 65536, 1000));
  Add(VpsHost("b", "test:///b", "tokyo-1", 64, 65536, 1000));
  Placer placer(*db_, clock_, {.weigher = Weigher::kPack});
  auto req = [&](const std::string& id) {
    PlacementRequest r = Vps(id, {1, 512, 1});
    r.anti_affinity_group = "db";
    return r;
  };
  auto x = placer.Place(req("db1"));
  auto y = placer.Place(req("db2"));
  ASSERT_TRUE(x && y);
  EXPECT_NE(x->host_id, y->host_id);
  auto z = placer.Place(req("db3"));
  ASSERT_FALSE(z);
  EXPECT_NE(z.error().detail.find("2 holding a member of anti-affinity group"), std::string::npos)
      << z.error().detail;
  // Another organization's group of the same name is independent.
  PlacementRequest other = req("db4");
  other.organization_id = "org2";
  EXPECT_TRUE(placer.Place(other));
}

TEST_F(PlacementTest, DedicatedHostsAreNeverShared) {
  HostSpec d = VpsHost("metal-1", "test:///m1", "tokyo-1", 32, 131072, 2000);
  d.kind = HostKind::kDedicated;
  Add(d);
  d.name = "metal-2";
  d.uri = "test:///m2";
  Add(d);
  Placer placer(*db_, clock_);
  // VPS never land on dedicated hosts.
  auto v = placer.Place(Vps("v1", {1, 512, 1}));
  ASSERT_FALSE(v);
  PlacementRequest r{.consumer_id = "srv1", .organization_id = "org1", .kind = HostKind::kDedicated};
  auto a = placer.Place(r);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->resources.ram_mib, 131072) << "the whole host is claimed";
  r.consumer_id = "srv2";
  r.organization_id = "org2";
  auto b = placer.Place(r);
  ASSERT_TRUE(b);
  EXPECT_NE(a->host_id, b->host_id);
  r.consumer_id = "srv3";
  r.organization_id = "org1";
  auto c = placer.Place(r);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().detail.find("2 hosts: 2 already dedicated"), std::string::npos) << c.error().detail;
  EXPECT_EQ(inv_.GetHost(a->host_id)->dedicated_organization_id, "org1");
  ASSERT_TRUE(placer.Release("srv1"));
  EXPECT_EQ(inv_.GetHost(a->host_id)->dedicated_organization_id, "");
  auto d2 = placer.Place(r);
  ASSERT_TRUE(d2);
  EXPECT_EQ(d2->host_id, a->host_id) << "a released host returns to the pool";
}

}  // namespace
}  // namespace hp::provisioning
