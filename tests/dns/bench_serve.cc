// Serves the differential-test zone from the built-in server for tests/bench/dns.sh.
//   dns_bench_serve --write-zone PATH       writes the zone file and exits
//   dns_bench_serve PORT UDP_THREADS        serves example.test. on 127.0.0.1:PORT until killed

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "dns_test_util.h"
#include "hp/core/clock.h"
#include "hp/core/log.h"
#include "hp/core/store.h"
#include "hp/dns/server.h"
#include "hp/dns/zone.h"
#include "test_zone.h"

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--write-zone") {
    hp::dns::testing::WriteFile(argv[2], hp::dns::testing::DiffZoneText());
    return 0;
  }
  if (argc != 3) {
    fprintf(stderr, "usage: %s PORT UDP_THREADS | --write-zone PATH\n", argv[0]);
    return 2;
  }
  hp::core::log::SetLevel(hp::core::log::Level::kWarn);
  hp::dns::testing::TempDir dir;
  auto db = hp::core::Database::Open({.path = dir.path() + "/db.sqlite"});
  if (!db || !(*db)->Migrate({&hp::core::CoreMigrations(), &hp::dns::DnsMigrations()})) return 1;
  hp::dns::ZoneService zones(**db, hp::core::SystemClock::Instance());
  auto z = zones.ImportZoneFile("bench", "example.test", hp::dns::testing::DiffZoneText());
  if (!z) {
    fprintf(stderr, "%s\n", z.error().ToString().c_str());
    return 1;
  }
  hp::dns::AuthServerOptions o;
  o.listen = std::string("127.0.0.1:") + argv[1];
  o.udp_threads = atoi(argv[2]);
  auto server = hp::dns::AuthServer::Create(zones, o);
  if (!server || !(*server)->Start()) return 1;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  (*server)->Stop();
  return 0;
}
