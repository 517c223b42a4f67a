#pragma once
// The product catalog: products with list prices (integer yen, tax-exclusive) per billing period,
// setup fees, and versioned price changes. A price version applies from its effective day on; a
// subscription locks the price valid on the first day of each period, so a change applies to new
// periods only. Usage products (VPS hours, bandwidth GB, certificates) carry a metric name and a
// per-unit price under the monthly period.
//
// Thread-safe. Products are platform data (no organization id).

#include <string>
#include <vector>

#include "hp/billing/billing.h"
#include "hp/core/money.h"

namespace hp::billing {

enum class ProductKind { kSharedPlan, kVpsPlan, kDedicated, kCertificate, kAddon, kUsage };
std::string_view ProductKindName(ProductKind k);  // "shared_plan", "vps_plan", ...
core::Result<ProductKind> ParseProductKind(std::string_view s);

struct Product {
  std::string code;  // stable key, "vps-2g"; [a-z0-9-]{1,64}
  ProductKind kind = ProductKind::kSharedPlan;
  std::string name;  // shown on invoices
  TaxRate tax_rate = TaxRate::kStandard10;
  std::string usage_metric;  // kUsage only: "vps_hours", "bandwidth_gb", "certificates"
};

struct Price {
  std::string product_code;
  BillingPeriod period = BillingPeriod::kMonthly;
  core::Money price;      // one full period (per unit for usage products)
  core::Money setup_fee;  // charged once when a subscription is accepted
  Date effective_from;    // first day this version applies
};

class Catalog {
 public:
  explicit Catalog(const BillingDeps& deps) : deps_(deps) {}

  // kAlreadyExists for a known code; kInvalidArgument names the bad field.
  core::Status AddProduct(const Product& product, const Actor& actor = {});
  core::Result<Product> GetProduct(const std::string& code);
  core::Result<std::vector<Product>> ListProducts();
  // Adds a price version. kConflict when a version with the same effective day exists or when
  // effective_from is in the past (history is never rewritten).
  core::Status SetListPrice(const Price& price, const Actor& actor = {});
  // The version in force on `day` (latest effective_from <= day); kNotFound when none.
  core::Result<Price> ListPriceAt(const std::string& code, BillingPeriod period, Date day);
  // The usage product for a metric (kNotFound when none).
  core::Result<Product> UsageProduct(const std::string& metric);

 private:
  BillingDeps deps_;
};

}  // namespace hp::billing
