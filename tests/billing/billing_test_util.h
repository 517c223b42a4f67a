#pragma once
// Billing test helpers: a migrated SQLite store in a temp dir, a recording audit log (rows in a
// test table, so they roll back with the transaction they belong to), a fake clock, and a small
// catalog.
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "hp/billing/billing.h"
#include "hp/billing/billing_run.h"
#include "hp/billing/catalog.h"
#include "hp/billing/invoice.h"
#include "hp/billing/ledger.h"
#include "hp/billing/price_list.h"
#include "hp/billing/subscription.h"
#include "hp/billing/usage.h"
#include "hp/core/clock.h"
#include "hp/core/store.h"
#include "test_support.h"

namespace hp::billing::testing {

using core::Money;
using namespace std::chrono;

inline Date D(int y, unsigned m, unsigned d) { return Date{year{y}, month{m}, day{d}}; }
inline Money Y(int64_t v) { return Money::Yen(v); }

class RecordingAudit final : public core::AuditLog {
 public:
  core::Status Append(SQLite::Database& tx, const core::AuditEvent& e) override {
    SQLite::Statement q(tx,
                        "INSERT INTO test_audit (organization_id, action, target, detail) VALUES "
                        "(?,?,?,?)");
    q.bind(1, e.organization_id);
    q.bind(2, e.action);
    q.bind(3, e.target);
    q.bind(4, e.detail.dump());
    q.exec();
    return core::Ok();
  }
};

class BillingEnv {
 public:
  explicit BillingEnv(Date start = D(2026, 1, 15))
      : clock_(StartOfDay(start) + hours(9)) {
    core::DatabaseOptions o;
    o.path = dir_.path() + "/hp.db";
    o.synchronous_full = false;
    auto db = core::Database::Open(o);
    EXPECT_TRUE(db) << db.error().ToString();
    db_ = std::move(*db);
    auto st = db_->Migrate({&core::CoreMigrations(), &BillingMigrations()});
    EXPECT_TRUE(st) << st.error().ToString();
    auto t = db_->Write([](SQLite::Database& d) -> core::Status {
      d.exec("CREATE TABLE test_audit (id INTEGER PRIMARY KEY, organization_id TEXT, action TEXT,"
             " target TEXT, detail TEXT)");
      return core::Ok();
    });
    EXPECT_TRUE(t);
    config_.platform_issuer = {"ホストプレーン株式会社", "T1234567890123", "東京都千代田区1-1"};
    deps_ = {db_.get(), &clock_, &ids_, &audit_};
    catalog_ = std::make_unique<Catalog>(deps_);
    prices_ = std::make_unique<PriceLists>(deps_, config_, *catalog_);
    ledger_ = std::make_unique<Ledger>(deps_);
    invoices_ = std::make_unique<InvoiceStore>(deps_, config_, *ledger_);
    subs_ = std::make_unique<Subscriptions>(deps_, *prices_, *catalog_);
    usage_ = std::make_unique<UsageMeter>(deps_);
    run_ = std::make_unique<BillingRun>(deps_, config_, *catalog_, *prices_, *invoices_);
  }

  // shared-s ¥1,000/month ¥10,000/year (setup ¥500); shared-l ¥3,000/month ¥30,000/year;
  // usage products for the three metrics.
  void SeedCatalog() {
    auto add = [&](std::string code, ProductKind k, std::string name, std::string metric = "") {
      auto st = catalog_->AddProduct({code, k, name, TaxRate::kStandard10, metric});
      ASSERT_TRUE(st) << st.error().ToString();
    };
    auto price = [&](std::string code, BillingPeriod p, int64_t v, int64_t setup = 0) {
      auto st = catalog_->SetListPrice({code, p, Y(v), Y(setup), D(2020, 1, 1)});
      ASSERT_TRUE(st) << st.error().ToString();
    };
    add("shared-s", ProductKind::kSharedPlan, "Shared S");
    add("shared-l", ProductKind::kSharedPlan, "Shared L");
    add("vps-hour", ProductKind::kUsage, "VPS hours", kMetricVpsHours);
    add("bw-gb", ProductKind::kUsage, "Bandwidth GB", kMetricBandwidthGb);
    add("cert", ProductKind::kUsage, "Certificates", kMetricCertificates);
    price("shared-s", BillingPeriod::kMonthly, 1000, 500);
    price("shared-s", BillingPeriod::kYearly, 10000, 500);
    price("shared-l", BillingPeriod::kMonthly, 3000);
    price("shared-l", BillingPeriod::kYearly, 30000);
    price("vps-hour", BillingPeriod::kMonthly, 7);
    price("bw-gb", BillingPeriod::kMonthly, 3);
    price("cert", BillingPeriod::kMonthly, 100);
  }

  void DirectAccount(const std::string& org) {
    auto st = prices_->UpsertAccount({org, "Customer " + org, Channel::kDirect, ""});
    ASSERT_TRUE(st) << st.error().ToString();
  }

  int64_t AuditCount(const std::string& action) {
    auto n = db_->Read([&](SQLite::Database& d) -> core::Result<int64_t> {
      SQLite::Statement q(d, "SELECT COUNT(*) FROM test_audit WHERE action = ?");
      q.bind(1, action);
      q.executeStep();
      return q.getColumn(0).getInt64();
    });
    return n.value_or(-1);
  }

  hp::testing::TempDir dir_;
  core::FakeClock clock_;
  core::RandomIdSource ids_;
  RecordingAudit audit_;
  std::unique_ptr<core::Database> db_;
  BillingConfig config_;
  BillingDeps deps_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<PriceLists> prices_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<InvoiceStore> invoices_;
  std::unique_ptr<Subscriptions> subs_;
  std::unique_ptr<UsageMeter> usage_;
  std::unique_ptr<BillingRun> run_;
};

}  // namespace hp::billing::testing
