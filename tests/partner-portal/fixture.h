#pragma once
// A temp-file store with the core and partner schemas, a sealer and a fake clock.
#include <memory>

#include "hp/core/clock.h"
#include "hp/core/sealer.h"
#include "hp/core/store.h"
#include "hp/partner/migrations.h"
#include "test_support.h"

namespace hp::partner::testing {

struct StoreFixture {
  hp::testing::TempDir dir;
  std::unique_ptr<core::Database> db;
  std::unique_ptr<core::StoreSealer> sealer;
  core::FakeClock clock{core::FromUnixSeconds(1'800'000'000)};

  StoreFixture() {
    db = std::move(
        *core::Database::Open({.path = dir.path() + "/partner.db", .synchronous_full = false}));
    auto st = db->Migrate({&core::CoreMigrations(), &PartnerMigrations()});
    if (!st) std::abort();
    sealer = std::move(*core::StoreSealer::Create(*db, dir.path() + "/master.key"));
  }
};

}  // namespace hp::partner::testing
