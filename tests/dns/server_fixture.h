#pragma once
// A ZoneService on a temp SQLite file plus the built-in server on a free port.

#include <gtest/gtest.h>

#include "dns_test_util.h"
#include "hp/core/clock.h"
#include "hp/core/store.h"
#include "hp/dns/server.h"
#include "hp/dns/zone.h"

namespace hp::dns::testing {

struct ServerFixture {
  TempDir dir;
  std::unique_ptr<hp::core::Database> db;
  hp::core::FakeClock clock{hp::core::FromUnixSeconds(1700000000)};
  std::unique_ptr<ZoneService> zones;
  std::unique_ptr<AuthServer> server;

  void Init(ZoneServiceOptions zopts = {}) {
    auto d = hp::core::Database::Open({.path = dir.path() + "/hp.sqlite",
                                       .synchronous_full = false});
    ASSERT_TRUE(d) << d.error().ToString();
    db = std::move(*d);
    auto m = db->Migrate({&hp::core::CoreMigrations(), &DnsMigrations()});
    ASSERT_TRUE(m) << m.error().ToString();
    zones = std::make_unique<ZoneService>(*db, clock, zopts);
  }
  void StartServer(AuthServerOptions opts = {}) {
    opts.listen = "127.0.0.1:0";
    auto s = AuthServer::Create(*zones, opts);
    ASSERT_TRUE(s) << s.error().ToString();
    server = std::move(*s);
    auto st = server->Start();
    ASSERT_TRUE(st) << st.error().ToString();
  }
  int port() const { return server->port(); }
};

}  // namespace hp::dns::testing
