// Placement benchmark: N hosts in 4 zones, M VPS of mixed plans placed through Placer (the real
// SQLite store on a temp file, synchronous=FULL as in production), from T threads.
// Prints placements/s, latency percentiles, peak RSS and the database size.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/random.h"
#include "hp/core/store.h"
#include "hp/provisioning/inventory.h"
#include "hp/provisioning/placement.h"

using namespace hp;
using namespace hp::provisioning;

int main(int argc, char** argv) {
  const int hosts = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int placements = argc > 2 ? std::atoi(argv[2]) : 10000;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 1;
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("hp-placement-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  core::DatabaseOptions o;
  o.path = dir + "/bench.db";
  auto db = core::Database::Open(o);
  if (!db) return std::fprintf(stderr, "%s\n", db.error().ToString().c_str()), 1;
  if (auto st = (*db)->Migrate({&core::CoreMigrations(), &ProvisioningMigrations()}); !st)
    return std::fprintf(stderr, "%s\n", st.error().ToString().c_str()), 1;
  core::SystemClock& clock = core::SystemClock::Instance();
  core::RandomIdSource ids;
  Inventory inv(**db, clock, ids);
  std::mt19937 rng(42);
  const char* zones[] = {"tokyo-1", "tokyo-2", "osaka-1", "osaka-2"};
  for (int i = 0; i < hosts; ++i) {
    HostSpec s;
    s.name = "kvm-" + std::to_string(i);
    s.uri = "qemu+ssh://kvm-" + std::to_string(i) + "/system";
    s.zone = zones[i % 4];
    s.capacity = {32 + 32 * (i % 2), 131072 + 131072 * (i % 3), 4000};
    s.reserved = {2, 8192, 100};
    s.cpu_ratio = 4.0;
    s.ram_ratio = 1.0;
    if (auto h = inv.AddHost(s); !h) return std::fprintf(stderr, "%s\n", h.error().ToString().c_str()), 1;
  }
  const Resources plans[] = {{1, 1024, 25}, {2, 2048, 50}, {2, 4096, 80}, {4, 8192, 160}, {8, 16384, 320}};
  std::vector<PlacementRequest> reqs;
  for (int i = 0; i < placements; ++i) {
    PlacementRequest r;
    r.consumer_id = core::NewPublicId();
    r.organization_id = "org-" + std::to_string(rng() % 500);
    r.zone = zones[rng() % 4];
    r.resources = plans[rng() % 5];
    if (rng() % 10 == 0) r.anti_affinity_group = "g" + std::to_string(rng() % 20);
    reqs.push_back(r);
  }
  for (Weigher w : {Weigher::kSpread, Weigher::kPack}) {
    // Fresh claims per weigher.
    (void)(*db)->Write([](SQLite::Database& d) -> core::Status {
      d.exec("DELETE FROM prov_allocations; UPDATE prov_hosts SET used_vcpus=0, used_ram_mib=0,"
             " used_disk_gib=0, allocations=0");
      return core::Ok();
    });
    Placer placer(**db, clock, {.weigher = w});
    std::atomic<int> next{0}, ok{0}, refused{0};
    std::vector<std::vector<double>> lat(threads);
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        for (int i; (i = next.fetch_add(1)) < placements;) {
          auto a = std::chrono::steady_clock::now();
          auto c = placer.Place(reqs[i]);
          lat[t].push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a).count());
          (c ? ok : refused)++;
        }
      });
    for (auto& t : ts) t.join();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) { return all[static_cast<size_t>(p * (all.size() - 1))]; };
    std::printf("weigher=%s hosts=%d placements=%d threads=%d placed=%d refused=%d seconds=%.2f "
                "placements_per_s=%.0f p50_us=%.0f p99_us=%.0f\n",
                w == Weigher::kSpread ? "spread" : "pack", hosts, placements, threads, ok.load(),
                refused.load(), secs, placements / secs, pct(0.5), pct(0.99));
  }
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak_rss_mib=%.1f db_mib=%.1f\n", ru.ru_maxrss / 1024.0,
              std::filesystem::file_size(o.path) / 1048576.0);
  db->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
