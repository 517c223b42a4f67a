#pragma once
// Channel price lists. Direct and agency customers pay list price and are invoiced by the
// platform; agencies earn commission_bp (1/100 %) of the tax-exclusive subtotal of their referred
// customers' paid invoices. Resellers and OEM partners buy at wholesale (the default wholesale
// list, partner_id "", overridden per partner) and invoice their own customers at their own sell
// prices under their own issuer details (name, registration number).
//
// Thread-safe. Billing accounts are keyed by the control plane's organization id.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hp/billing/billing.h"
#include "hp/billing/catalog.h"

namespace hp::billing {

enum class Channel { kDirect, kAgency, kReseller, kOem };
std::string_view ChannelName(Channel c);  // "direct", "agency", "reseller", "oem"
core::Result<Channel> ParseChannel(std::string_view s);

struct Partner {
  std::string partner_id;  // public id owned by the control plane
  Channel channel = Channel::kAgency;
  int64_t commission_bp = 0;  // agencies: 1000 = 10%
  Issuer issuer;              // resellers/OEM: printed on their customers' invoices
  std::string invoice_prefix;  // resellers/OEM: own gapless number series
  std::string billing_organization_id;  // where the platform invoices the partner's wholesale
};

// A customer's billing account.
struct Account {
  std::string organization_id;
  std::string name;  // recipient name on invoices
  Channel channel = Channel::kDirect;
  std::string partner_id;  // the referring agency or the selling reseller/OEM; "" for direct
};

enum class PartnerPriceKind { kWholesale, kSell };

// Where a reseller's/OEM's own issuer details live outside billing (the partner portal's
// branding, maintained by the partner itself). Returns nullopt when the partner has none.
using PartnerIssuerSource =
    std::function<core::Result<std::optional<Issuer>>(const std::string& partner_id)>;

// What one period of a product costs one customer, and who is paid.
struct CustomerPrice {
  core::Money price;
  core::Money setup_fee;
  TaxRate tax_rate = TaxRate::kStandard10;
  Channel channel = Channel::kDirect;
  std::string partner_id;
  // Resellers/OEM: what the platform charges the partner for the same period.
  std::optional<core::Money> wholesale_price;
  std::optional<core::Money> wholesale_setup_fee;
};

// One product and period of the catalog as a partner sees it on a day (the partner portal's
// price list): the list price, what the platform charges the partner (wholesale: the partner's
// override, else the default wholesale list, else the list price) and the partner's own sell
// price in force and the next scheduled one, if any.
struct PartnerPriceRow {
  Product product;
  BillingPeriod period = BillingPeriod::kMonthly;
  Price list;
  Price wholesale;
  std::optional<Price> sell;       // effective_from is the version's first day
  std::optional<Price> next_sell;  // a version that starts after the day
};

class PriceLists {
 public:
  PriceLists(const BillingDeps& deps, const BillingConfig& config, Catalog& catalog)
      : deps_(deps), config_(config), catalog_(catalog) {}

  // Creates or replaces a partner. Resellers/OEM need a valid issuer, a prefix and a billing
  // organization.
  core::Status UpsertPartner(const Partner& partner, const Actor& actor = {});
  core::Result<Partner> GetPartner(const std::string& partner_id);
  // partner_id "" with kWholesale is the default wholesale list. Versioned like list prices.
  core::Status SetPartnerPrice(const std::string& partner_id, PartnerPriceKind kind,
                               const Price& price, const Actor& actor = {});
  // Every product/period with a list price in force on `day`, with the partner's wholesale and
  // sell prices (see PartnerPriceRow); the caller decides what a channel may see.
  core::Result<std::vector<PartnerPriceRow>> PartnerPriceList(const std::string& partner_id,
                                                              Date day);
  core::Status UpsertAccount(const Account& account, const Actor& actor = {});
  core::Result<Account> GetAccount(const std::string& organization_id);

  // The price on `day` for this organization's channel. Reseller/OEM customers need a sell
  // price from their partner (kNotFound otherwise); the wholesale price falls back from the
  // partner's override to the default wholesale list to the list price.
  core::Result<CustomerPrice> PriceFor(const std::string& organization_id,
                                       const std::string& product_code, BillingPeriod period,
                                       Date day);
  // The issuer of this organization's invoices and its number series prefix. Reseller/OEM
  // customers: the partner's own issuer details from the PartnerIssuerSource when complete (name
  // and a valid registration number), else the issuer of the partner's billing terms; the
  // series is always the partner's invoice_prefix. Call outside write transactions.
  core::Result<std::pair<Issuer, std::string>> IssuerFor(const std::string& organization_id);
  // Set once at start-up, before any IssuerFor call.
  void SetPartnerIssuerSource(PartnerIssuerSource source) { issuer_source_ = std::move(source); }

  const BillingConfig& config() const { return config_; }

 private:
  core::Result<std::optional<Price>> PartnerPriceAt(const std::string& partner_id,
                                                    PartnerPriceKind kind,
                                                    const std::string& code,
                                                    BillingPeriod period, Date day);
  BillingDeps deps_;
  BillingConfig config_;
  Catalog& catalog_;
  PartnerIssuerSource issuer_source_;
};

}  // namespace hp::billing
