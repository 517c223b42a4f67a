// Billing-run benchmark (issue 8, acceptance 6): N monthly subscriptions over N/2 organizations
// (10% of them with three usage records each, 5% reseller customers), all due on the same day;
// times one BillingRun::Run (renew, rate usage, invoice every organization) on the real SQLite
// store (WAL, synchronous=FULL unless --normal) and prints wall time, rows and peak RSS.
// Usage: billing_bench [subscriptions] [batch_size] [--normal]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "hp/billing/billing_run.h"
#include "hp/billing/catalog.h"
#include "hp/billing/invoice.h"
#include "hp/billing/ledger.h"
#include "hp/billing/price_list.h"
#include "hp/core/clock.h"
#include "hp/core/store.h"

using namespace hp;
using namespace hp::billing;
using namespace std::chrono;

namespace {

class TableAudit final : public core::AuditLog {
 public:
  core::Status Append(SQLite::Database& tx, const core::AuditEvent& e) override {
    SQLite::Statement q(tx, "INSERT INTO bench_audit (action, target, detail) VALUES (?,?,?)");
    q.bind(1, e.action);
    q.bind(2, e.target);
    q.bind(3, e.detail.dump());
    q.exec();
    return core::Ok();
  }
};

void Die(const core::Error& e) {
  std::fprintf(stderr, "error: %s\n", e.ToString().c_str());
  std::exit(1);
}
#define CHECK_OK(expr)             \
  do {                             \
    auto r_ = (expr);              \
    if (!r_) Die(r_.error());      \
  } while (0)

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 100000;
  const int batch = argc > 2 ? std::atoi(argv[2]) : 500;
  const bool normal = argc > 3 && std::string(argv[3]) == "--normal";
  const std::string dir = std::filesystem::temp_directory_path() / ("hp-billing-bench-" +
                                                                    std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  core::DatabaseOptions o;
  o.path = dir + "/hp.db";
  o.synchronous_full = !normal;
  auto db = core::Database::Open(o);
  if (!db) Die(db.error());
  CHECK_OK((*db)->Migrate({&core::CoreMigrations(), &BillingMigrations()}));
  CHECK_OK((*db)->Write([](SQLite::Database& tx) -> core::Status {
    tx.exec("CREATE TABLE bench_audit (id INTEGER PRIMARY KEY, action TEXT, target TEXT, "
            "detail TEXT)");
    return core::Ok();
  }));
  const Date run_day{year{2026}, month{2}, day{1}};
  core::FakeClock clock(StartOfDay(run_day) + hours(3));
  core::RandomIdSource ids;
  TableAudit audit;
  BillingDeps deps{db->get(), &clock, &ids, &audit};
  BillingConfig config;
  config.platform_issuer = {"ホストプレーン株式会社", "T1234567890123", "東京都"};
  config.batch_size = batch;
  Catalog catalog(deps);
  PriceLists prices(deps, config, catalog);
  Ledger ledger(deps);
  InvoiceStore invoices(deps, config, ledger);
  BillingRun run(deps, config, catalog, prices, invoices);

  // Set-up (not timed): catalog, one reseller, accounts and subscriptions in bulk SQL.
  const Date start{year{2026}, month{1}, day{1}};
  CHECK_OK(catalog.AddProduct({"shared-s", ProductKind::kSharedPlan, "Shared S"}));
  CHECK_OK(catalog.AddProduct({"vps-2g", ProductKind::kVpsPlan, "VPS 2G"}));
  CHECK_OK(catalog.AddProduct({"vps-hour", ProductKind::kUsage, "VPS hours", TaxRate::kStandard10,
                               "vps_hours"}));
  CHECK_OK(catalog.AddProduct({"bw-gb", ProductKind::kUsage, "Bandwidth", TaxRate::kStandard10,
                               "bandwidth_gb"}));
  CHECK_OK(catalog.SetListPrice({"shared-s", BillingPeriod::kMonthly, core::Money::Yen(990),
                                 core::Money(), start}));
  CHECK_OK(catalog.SetListPrice({"vps-2g", BillingPeriod::kMonthly, core::Money::Yen(1628),
                                 core::Money(), start}));
  CHECK_OK(catalog.SetListPrice({"vps-hour", BillingPeriod::kMonthly, core::Money::Yen(3),
                                 core::Money(), start}));
  CHECK_OK(catalog.SetListPrice({"bw-gb", BillingPeriod::kMonthly, core::Money::Yen(2),
                                 core::Money(), start}));
  CHECK_OK(prices.UpsertAccount({"org-reseller", "Reseller", Channel::kDirect, ""}));
  Partner p{"partner-1", Channel::kReseller, 0, {"リセラー", "T9876543210987", "大阪"}, "RS",
            "org-reseller"};
  CHECK_OK(prices.UpsertPartner(p));
  for (const char* code : {"shared-s", "vps-2g"}) {
    CHECK_OK(prices.SetPartnerPrice("partner-1", PartnerPriceKind::kSell,
                                    {code, BillingPeriod::kMonthly, core::Money::Yen(1980),
                                     core::Money(), start}));
    CHECK_OK(prices.SetPartnerPrice("", PartnerPriceKind::kWholesale,
                                    {code, BillingPeriod::kMonthly, core::Money::Yen(700),
                                     core::Money(), start}));
  }
  for (const char* code : {"vps-hour", "bw-gb"})
    CHECK_OK(prices.SetPartnerPrice("partner-1", PartnerPriceKind::kSell,
                                    {code, BillingPeriod::kMonthly, core::Money::Yen(5),
                                     core::Money(), start}));
  const int orgs = std::max(1, n / 2);
  CHECK_OK((*db)->Write([&](SQLite::Database& tx) -> core::Status {
    SQLite::Statement a(tx,
                        "INSERT INTO billing_accounts (organization_id, name, channel, partner_id, "
                        "updated_at) VALUES (?,?,?,?,0)");
    SQLite::Statement s(tx,
                        "INSERT INTO billing_subscriptions (public_id, organization_id, "
                        "product_code, period, state, anchor_date, period_start, period_end, "
                        "period_price, channel, partner_id, created_at, updated_at) VALUES "
                        "(?,?,?,'monthly','active','2026-01-01','2026-01-01','2026-02-01',?,?,?,0,0)");
    SQLite::Statement u(tx,
                        "INSERT INTO billing_usage (public_id, organization_id, subscription_id, "
                        "metric, quantity, occurred_at, idempotency_key, created_at) VALUES "
                        "(?,?,?,?,?,?,?,0)");
    for (int i = 0; i < n; ++i) {
      const int org_n = i % orgs;
      const std::string org = "org-" + std::to_string(org_n);
      const bool resold = org_n % 20 == 0;
      if (i < orgs) {
        a.bind(1, org);
        a.bind(2, "Customer " + std::to_string(org_n));
        a.bind(3, resold ? "reseller" : "direct");
        a.bind(4, resold ? "partner-1" : "");
        a.exec();
        a.reset();
      }
      const std::string sid = "sub-" + std::to_string(i);
      const bool vps = i % 3 == 0;
      s.bind(1, sid);
      s.bind(2, org);
      s.bind(3, vps ? "vps-2g" : "shared-s");
      s.bind(4, resold ? 1980 : vps ? 1628 : 990);
      s.bind(5, resold ? "reseller" : "direct");
      s.bind(6, resold ? "partner-1" : "");
      s.exec();
      s.reset();
      if (i % 10 == 0) {
        for (int k = 0; k < 3; ++k) {
          u.bind(1, sid + "-u" + std::to_string(k));
          u.bind(2, org);
          u.bind(3, sid);
          u.bind(4, k == 2 ? "bandwidth_gb" : "vps_hours");
          u.bind(5, 24 + k);
          u.bind(6, core::ToUnixMicros(StartOfDay(start) + hours(24 * (k + 1))));
          u.bind(7, sid + "-k" + std::to_string(k));
          u.exec();
          u.reset();
        }
      }
    }
    return core::Ok();
  }));

  const auto t0 = steady_clock::now();
  auto result = run.Run(run_day);
  const double secs = duration<double>(steady_clock::now() - t0).count();
  if (!result) Die(result.error());
  auto check = ledger.Check();
  if (!check) Die(check.error());
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  const auto db_bytes = std::filesystem::file_size(o.path);
  std::printf(
      "subscriptions=%d organizations=%d batch=%d synchronous=%s\n"
      "run_seconds=%.2f renewed=%lld usage_records_rated=%lld invoices=%lld invoiced_total=%lld\n"
      "subscriptions_per_second=%.0f peak_rss_mib=%.1f db_mib=%.1f ledger_balanced=%s "
      "ledger_rows=%lld\n",
      n, orgs, batch, normal ? "normal" : "full", secs,
      static_cast<long long>(result->renewed), static_cast<long long>(result->usage_records_rated),
      static_cast<long long>(result->invoices),
      static_cast<long long>(result->invoiced_total.yen()), n / secs, ru.ru_maxrss / 1024.0,
      db_bytes / 1048576.0, check->balanced ? "yes" : "no", static_cast<long long>(check->rows));
  db->reset();
  std::filesystem::remove_all(dir);
  return check->balanced ? 0 : 1;
}
