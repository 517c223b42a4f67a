#include "hp/billing/catalog.h"

#include "util.h"

namespace hp::billing {

using core::ErrorCode;
using core::Fail;
using core::FailField;
using core::Money;
using core::Result;
using core::Status;

std::string_view ProductKindName(ProductKind k) {
  switch (k) {
    case ProductKind::kSharedPlan: return "shared_plan";
    case ProductKind::kVpsPlan: return "vps_plan";
    case ProductKind::kDedicated: return "dedicated";
    case ProductKind::kCertificate: return "certificate";
    case ProductKind::kAddon: return "addon";
    case ProductKind::kUsage: return "usage";
  }
  return "addon";
}
Result<ProductKind> ParseProductKind(std::string_view s) {
  for (ProductKind k : {ProductKind::kSharedPlan, ProductKind::kVpsPlan, ProductKind::kDedicated,
                        ProductKind::kCertificate, ProductKind::kAddon, ProductKind::kUsage})
    if (ProductKindName(k) == s) return k;
  return FailField(ErrorCode::kInvalidArgument, "kind", "unknown product kind '" + std::string(s) + "'");
}

namespace {
bool ValidCode(const std::string& c) {
  if (c.empty() || c.size() > 64) return false;
  for (char ch : c)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')) return false;
  return true;
}

Product ReadProduct(SQLite::Statement& q) {
  Product p;
  p.code = q.getColumn(0).getString();
  p.kind = ParseProductKind(q.getColumn(1).getString()).value_or(ProductKind::kAddon);
  p.name = q.getColumn(2).getString();
  p.tax_rate = TaxRateFromPercent(q.getColumn(3).getInt64()).value_or(TaxRate::kStandard10);
  p.usage_metric = q.getColumn(4).getString();
  return p;
}
constexpr const char* kProductCols = "code, kind, name, tax_percent, usage_metric";
}  // namespace

Status Catalog::AddProduct(const Product& p, const Actor& actor) {
  if (!ValidCode(p.code))
    return FailField(ErrorCode::kInvalidArgument, "code", "product code must match [a-z0-9-]{1,64}");
  if (p.name.empty()) return FailField(ErrorCode::kInvalidArgument, "name", "empty product name");
  if ((p.kind == ProductKind::kUsage) != !p.usage_metric.empty())
    return FailField(ErrorCode::kInvalidArgument, "usage_metric",
                     "usage products, and only they, name a usage metric");
  return deps_.db->Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement c(db, "SELECT 1 FROM billing_products WHERE code = ?");
    c.bind(1, p.code);
    if (c.executeStep())
      return FailField(ErrorCode::kAlreadyExists, "code", "product " + p.code + " exists");
    SQLite::Statement q(db,
                        "INSERT INTO billing_products (code, kind, name, tax_percent, usage_metric, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?)");
    q.bind(1, p.code);
    q.bind(2, std::string(ProductKindName(p.kind)));
    q.bind(3, p.name);
    q.bind(4, TaxRatePercent(p.tax_rate));
    q.bind(5, p.usage_metric);
    q.bind(6, internal::NowMicros(deps_));
    q.exec();
    return internal::Audit(deps_, db, actor, "", "billing.product.create", "product:" + p.code,
                           {{"name", p.name}, {"kind", ProductKindName(p.kind)}});
  });
}

Result<Product> Catalog::GetProduct(const std::string& code) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<Product> {
    SQLite::Statement q(db, std::string("SELECT ") + kProductCols +
                                " FROM billing_products WHERE code = ?");
    q.bind(1, code);
    if (!q.executeStep())
      return FailField(ErrorCode::kNotFound, "product_code", "no product " + code);
    return ReadProduct(q);
  });
}

Result<std::vector<Product>> Catalog::ListProducts() {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<std::vector<Product>> {
    SQLite::Statement q(db, std::string("SELECT ") + kProductCols +
                                " FROM billing_products ORDER BY code");
    std::vector<Product> out;
    while (q.executeStep()) out.push_back(ReadProduct(q));
    return out;
  });
}

Result<Product> Catalog::UsageProduct(const std::string& metric) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<Product> {
    SQLite::Statement q(db, std::string("SELECT ") + kProductCols +
                                " FROM billing_products WHERE usage_metric = ? ORDER BY id LIMIT 1");
    q.bind(1, metric);
    if (!q.executeStep())
      return FailField(ErrorCode::kNotFound, "metric", "no usage product for " + metric);
    return ReadProduct(q);
  });
}

Status Catalog::SetListPrice(const Price& p, const Actor& actor) {
  if (p.price.yen() < 0) return FailField(ErrorCode::kInvalidArgument, "price", "negative price");
  if (p.setup_fee.yen() < 0)
    return FailField(ErrorCode::kInvalidArgument, "setup_fee", "negative setup fee");
  if (!p.effective_from.ok())
    return FailField(ErrorCode::kInvalidArgument, "effective_from", "invalid date");
  const Date today = ToDate(deps_.clock->Now());
  return deps_.db->Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement c(db, "SELECT 1 FROM billing_products WHERE code = ?");
    c.bind(1, p.product_code);
    if (!c.executeStep())
      return FailField(ErrorCode::kNotFound, "product_code", "no product " + p.product_code);
    SQLite::Statement any(db,
                          "SELECT 1 FROM billing_prices WHERE partner_id = '' AND kind = 'list' "
                          "AND product_code = ? AND period = ?");
    any.bind(1, p.product_code);
    any.bind(2, std::string(BillingPeriodName(p.period)));
    // The first version may be back-dated (catalog set-up); later ones only from today on.
    if (any.executeStep() && DaysBetween(today, p.effective_from) < 0)
      return FailField(ErrorCode::kConflict, "effective_from",
                       "price changes apply from today on, not to the past");
    SQLite::Statement q(db,
                        "INSERT OR IGNORE INTO billing_prices (partner_id, kind, product_code, period, "
                        "price, setup_fee, effective_from, created_at) VALUES ('', 'list', ?, ?, ?, "
                        "?, ?, ?)");
    q.bind(1, p.product_code);
    q.bind(2, std::string(BillingPeriodName(p.period)));
    q.bind(3, p.price.yen());
    q.bind(4, p.setup_fee.yen());
    q.bind(5, FormatDate(p.effective_from));
    q.bind(6, internal::NowMicros(deps_));
    if (q.exec() == 0)
      return FailField(ErrorCode::kConflict, "effective_from",
                       "a price version for that day exists");
    return internal::Audit(deps_, db, actor, "", "billing.price.set", "product:" + p.product_code,
                           {{"period", BillingPeriodName(p.period)},
                            {"price", p.price.yen()},
                            {"setup_fee", p.setup_fee.yen()},
                            {"effective_from", FormatDate(p.effective_from)}});
  });
}

Result<Price> Catalog::ListPriceAt(const std::string& code, BillingPeriod period, Date day) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<Price> {
    SQLite::Statement q(db,
                        "SELECT price, setup_fee, effective_from FROM billing_prices WHERE "
                        "partner_id = '' AND kind = 'list' AND product_code = ? AND period = ? AND "
                        "effective_from <= ? ORDER BY effective_from DESC LIMIT 1");
    q.bind(1, code);
    q.bind(2, std::string(BillingPeriodName(period)));
    q.bind(3, FormatDate(day));
    if (!q.executeStep())
      return FailField(ErrorCode::kNotFound, "product_code",
                       "no " + std::string(BillingPeriodName(period)) + " price for " + code +
                           " on " + FormatDate(day));
    Price p;
    p.product_code = code;
    p.period = period;
    p.price = Money::Yen(q.getColumn(0).getInt64());
    p.setup_fee = Money::Yen(q.getColumn(1).getInt64());
    HP_ASSIGN_OR_RETURN(p.effective_from, ParseDate(q.getColumn(2).getString()));
    return p;
  });
}

}  // namespace hp::billing
