// Inventory and IP address management on a real SQLite store.
#include "hp/provisioning/inventory.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "hp/provisioning/ipam.h"
#include "hp/provisioning/placement.h"
#include "prov_test_util.h"

namespace hp::provisioning {
namespace {

using testing::OpenDb;
using testing::VpsHost;

class InventoryTest : public ::testing::Test {
 protected:
  hp::testing::TempDir dir_;
  std::unique_ptr<core::Database> db_ = OpenDb(dir_.path());
  core::FakeClock clock_{core::FromUnixSeconds(1'800'000'000)};
  core::RandomIdSource ids_;
  Inventory inv_{*db_, clock_, ids_};
};

TEST_F(InventoryTest, AddsValidatesDrainsAndRemovesHosts) {
  HostSpec s = VpsHost("kvm-01", "test:///tmp/a.xml", "tokyo-1", 16, 65536, 1000);
  s.cpu_ratio = 4.0;
  s.reserved = {2, 4096, 100};
  auto h = inv_.AddHost(s);
  ASSERT_TRUE(h) << h.error().ToString();
  EXPECT_EQ(h->id.size(), 22u) << "public ids are random 128-bit ids";
  EXPECT_EQ(h->state, HostState::kActive);
  EXPECT_EQ(h->Effective().vcpus, 56) << "(16 - 2) * 4";
  EXPECT_EQ(h->Effective().ram_mib, 61440);

  auto dup = inv_.AddHost(VpsHost("kvm-02", "test:///tmp/a.xml", "tokyo-1", 1, 1, 1));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, core::ErrorCode::kAlreadyExists);
  EXPECT_EQ(dup.error().field, "uri");

  HostSpec bad = VpsHost("kvm-03", "test:///tmp/c.xml", "tokyo-1", 8, 1024, 10);
  bad.ram_ratio = 0;
  auto e = inv_.AddHost(bad);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().field, "ram_ratio");
  bad = VpsHost("kvm-03", "test:///tmp/c.xml", "tokyo-1", 8, 1024, 10);
  bad.reserved.ram_mib = 1024;
  e = inv_.AddHost(bad);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().field, "reserved.ram_mib");

  ASSERT_TRUE(inv_.SetHostState(h->id, HostState::kDraining));
  EXPECT_EQ(inv_.GetHost(h->id)->state, HostState::kDraining);

  // A host with guests cannot be removed.
  Placer placer(*db_, clock_);
  ASSERT_TRUE(inv_.SetHostState(h->id, HostState::kActive));
  ASSERT_TRUE(placer.Place({.consumer_id = "vps1", .organization_id = "org1",
                            .resources = {1, 1024, 10}}));
  auto rm = inv_.RemoveHost(h->id);
  ASSERT_FALSE(rm);
  EXPECT_EQ(rm.error().code, core::ErrorCode::kConflict);
  EXPECT_NE(rm.error().detail.find("1 allocations"), std::string::npos) << rm.error().detail;
  ASSERT_TRUE(placer.Release("vps1"));
  ASSERT_TRUE(inv_.RemoveHost(h->id));
  EXPECT_TRUE(inv_.ListHosts()->empty());
}

TEST_F(InventoryTest, IpPoolsHandOutEachAddressOnceAndReuseReleasedOnes) {
  ASSERT_TRUE(inv_.AddIpPool({.name = "tokyo-1-v4", .zone = "tokyo-1", .family = 4,
                              .first = "192.0.2.10", .last = "192.0.2.13", .prefix_length = 24,
                              .gateway = "192.0.2.1"}));
  ASSERT_TRUE(inv_.AddIpPool({.name = "tokyo-1-v6", .zone = "tokyo-1", .family = 6,
                              .first = "2001:db8::100", .last = "2001:db8::ffff:ffff:ffff",
                              .prefix_length = 64, .gateway = "2001:db8::1"}));
  auto overlap = inv_.AddIpPool({.name = "other", .zone = "osaka-1", .family = 4,
                                 .first = "192.0.2.13", .last = "192.0.2.20", .prefix_length = 24});
  ASSERT_FALSE(overlap);
  EXPECT_EQ(overlap.error().code, core::ErrorCode::kConflict);

  IpAllocator ips(*db_, clock_);
  // Concurrent allocations never share an address.
  std::vector<std::string> got(4);
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&, i] {
      auto a = ips.Allocate("tokyo-1", 4, "org1", "vps" + std::to_string(i));
      if (a) got[i] = a->address;
    });
  for (auto& t : ts) t.join();
  std::set<std::string> unique(got.begin(), got.end());
  EXPECT_EQ(unique, (std::set<std::string>{"192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13"}));

  auto full = ips.Allocate("tokyo-1", 4, "org1", "vps9");
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().detail, "no free IPv4 address in zone tokyo-1");

  // Idempotent per consumer and family.
  auto again = ips.Allocate("tokyo-1", 4, "org1", "vps2");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->address, got[2]);
  auto v6 = ips.Allocate("tokyo-1", 6, "org1", "vps2");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->address, "2001:db8::100");
  EXPECT_EQ(v6->prefix_length, 64);

  ASSERT_TRUE(ips.ReleaseConsumer("vps1"));
  auto reused = ips.Allocate("tokyo-1", 4, "org2", "vps9");
  ASSERT_TRUE(reused);
  EXPECT_EQ(reused->address, got[1]) << "the released address is handed out again";
  EXPECT_EQ(reused->gateway, "192.0.2.1");
  auto pools = inv_.ListIpPools();
  ASSERT_TRUE(pools);
  EXPECT_EQ((*pools)[0].used, 4);
  EXPECT_EQ((*pools)[0].size, 4);
}

TEST(ReverseDnsTest, NamesAndRecords) {
  EXPECT_EQ(*ReverseName("192.0.2.10"), "10.2.0.192.in-addr.arpa.");
  EXPECT_EQ(*ReverseName("2001:db8::1"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
  EXPECT_FALSE(ReverseName("300.1.1.1"));
  hp::testing::TempDir dir;
  auto db = OpenDb(dir.path());
  core::FakeClock clock(core::FromUnixSeconds(0));
  StoreReverseDns rdns(*db, clock);
  ASSERT_TRUE(rdns.SetPtr("org1", "192.0.2.10", "vps1.example.net."));
  ASSERT_TRUE(rdns.SetPtr("org1", "192.0.2.10", "www.example.com."));
  EXPECT_EQ(*rdns.GetPtr("192.0.2.10"), "www.example.com.");
  ASSERT_TRUE(rdns.RemovePtr("192.0.2.10"));
  EXPECT_EQ(rdns.GetPtr("192.0.2.10").error().code, core::ErrorCode::kNotFound);
}

}  // namespace
}  // namespace hp::provisioning
