#include "hp/billing/price_list.h"

#include "util.h"

namespace hp::billing {

using core::ErrorCode;
using core::FailField;
using core::Money;
using core::Result;
using core::Status;

std::string_view ChannelName(Channel c) {
  switch (c) {
    case Channel::kDirect: return "direct";
    case Channel::kAgency: return "agency";
    case Channel::kReseller: return "reseller";
    case Channel::kOem: return "oem";
  }
  return "direct";
}
Result<Channel> ParseChannel(std::string_view s) {
  for (Channel c : {Channel::kDirect, Channel::kAgency, Channel::kReseller, Channel::kOem})
    if (ChannelName(c) == s) return c;
  return FailField(ErrorCode::kInvalidArgument, "channel",
                   "unknown channel '" + std::string(s) + "' (direct, agency, reseller, oem)");
}

namespace {
bool Sells(Channel c) { return c == Channel::kReseller || c == Channel::kOem; }
}  // namespace

Status PriceLists::UpsertPartner(const Partner& p, const Actor& actor) {
  if (p.partner_id.empty())
    return FailField(ErrorCode::kInvalidArgument, "partner_id", "empty partner id");
  if (p.channel == Channel::kDirect)
    return FailField(ErrorCode::kInvalidArgument, "channel", "a partner is not direct");
  if (p.commission_bp < 0 || p.commission_bp > 10000)
    return FailField(ErrorCode::kInvalidArgument, "commission_bp", "commission is 0..10000 bp");
  if (Sells(p.channel)) {
    if (p.issuer.name.empty())
      return FailField(ErrorCode::kInvalidArgument, "issuer.name", "resellers issue invoices");
    HP_TRY(ValidateRegistrationNumber(p.issuer.registration_number));
    if (p.invoice_prefix.empty() || p.invoice_prefix == config_.invoice_prefix)
      return FailField(ErrorCode::kInvalidArgument, "invoice_prefix",
                       "resellers need their own invoice number prefix");
    if (p.billing_organization_id.empty())
      return FailField(ErrorCode::kInvalidArgument, "billing_organization_id",
                       "resellers are invoiced wholesale through a billing organization");
  }
  return deps_.db->Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement q(db,
                        "INSERT INTO billing_partners (partner_id, channel, commission_bp, "
                        "issuer_name, issuer_registration, issuer_address, invoice_prefix, "
                        "billing_organization_id, updated_at) VALUES (?,?,?,?,?,?,?,?,?) ON "
                        "CONFLICT(partner_id) DO UPDATE SET channel = excluded.channel, "
                        "commission_bp = excluded.commission_bp, issuer_name = "
                        "excluded.issuer_name, issuer_registration = excluded.issuer_registration, "
                        "issuer_address = excluded.issuer_address, invoice_prefix = "
                        "excluded.invoice_prefix, billing_organization_id = "
                        "excluded.billing_organization_id, updated_at = excluded.updated_at");
    q.bind(1, p.partner_id);
    q.bind(2, std::string(ChannelName(p.channel)));
    q.bind(3, p.commission_bp);
    q.bind(4, p.issuer.name);
    q.bind(5, p.issuer.registration_number);
    q.bind(6, p.issuer.address);
    q.bind(7, p.invoice_prefix);
    q.bind(8, p.billing_organization_id);
    q.bind(9, internal::NowMicros(deps_));
    q.exec();
    return internal::Audit(deps_, db, actor, "", "billing.partner.upsert",
                           "partner:" + p.partner_id,
                           {{"channel", ChannelName(p.channel)},
                            {"commission_bp", p.commission_bp},
                            {"issuer_registration", p.issuer.registration_number}},
                           p.partner_id);
  });
}

Result<Partner> PriceLists::GetPartner(const std::string& id) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<Partner> {
    SQLite::Statement q(db,
                        "SELECT channel, commission_bp, issuer_name, issuer_registration, "
                        "issuer_address, invoice_prefix, billing_organization_id FROM "
                        "billing_partners WHERE partner_id = ?");
    q.bind(1, id);
    if (!q.executeStep()) return FailField(ErrorCode::kNotFound, "partner_id", "no partner " + id);
    Partner p;
    p.partner_id = id;
    HP_ASSIGN_OR_RETURN(p.channel, ParseChannel(q.getColumn(0).getString()));
    p.commission_bp = q.getColumn(1).getInt64();
    p.issuer = {q.getColumn(2).getString(), q.getColumn(3).getString(), q.getColumn(4).getString()};
    p.invoice_prefix = q.getColumn(5).getString();
    p.billing_organization_id = q.getColumn(6).getString();
    return p;
  });
}

Status PriceLists::SetPartnerPrice(const std::string& partner_id, PartnerPriceKind kind,
                                   const Price& p, const Actor& actor) {
  if (p.price.yen() < 0 || p.setup_fee.yen() < 0)
    return FailField(ErrorCode::kInvalidArgument, "price", "negative price");
  if (kind == PartnerPriceKind::kSell && partner_id.empty())
    return FailField(ErrorCode::kInvalidArgument, "partner_id", "sell prices belong to a partner");
  HP_TRY(catalog_.GetProduct(p.product_code));
  if (!partner_id.empty()) HP_TRY(GetPartner(partner_id));
  const std::string k = kind == PartnerPriceKind::kSell ? "sell" : "wholesale";
  return deps_.db->Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement q(db,
                        "INSERT OR IGNORE INTO billing_prices (partner_id, kind, product_code, "
                        "period, price, setup_fee, effective_from, created_at) VALUES "
                        "(?,?,?,?,?,?,?,?)");
    q.bind(1, partner_id);
    q.bind(2, k);
    q.bind(3, p.product_code);
    q.bind(4, std::string(BillingPeriodName(p.period)));
    q.bind(5, p.price.yen());
    q.bind(6, p.setup_fee.yen());
    q.bind(7, FormatDate(p.effective_from));
    q.bind(8, internal::NowMicros(deps_));
    if (q.exec() == 0)
      return FailField(ErrorCode::kConflict, "effective_from", "a price version for that day exists");
    return internal::Audit(deps_, db, actor, "", "billing.partner_price.set",
                           "product:" + p.product_code,
                           {{"kind", k},
                            {"period", BillingPeriodName(p.period)},
                            {"price", p.price.yen()},
                            {"effective_from", FormatDate(p.effective_from)}},
                           partner_id);
  });
}

Status PriceLists::UpsertAccount(const Account& a, const Actor& actor) {
  if (a.organization_id.empty())
    return FailField(ErrorCode::kInvalidArgument, "organization_id", "empty organization id");
  if (a.name.empty()) return FailField(ErrorCode::kInvalidArgument, "name", "empty account name");
  if (a.channel == Channel::kDirect && !a.partner_id.empty())
    return FailField(ErrorCode::kInvalidArgument, "partner_id", "direct accounts have no partner");
  if (a.channel != Channel::kDirect) {
    HP_ASSIGN_OR_RETURN(Partner p, GetPartner(a.partner_id));
    if (p.channel != a.channel)
      return FailField(ErrorCode::kInvalidArgument, "channel",
                       "partner " + a.partner_id + " is " + std::string(ChannelName(p.channel)));
  }
  return deps_.db->Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement q(db,
                        "INSERT INTO billing_accounts (organization_id, name, channel, partner_id, "
                        "updated_at) VALUES (?,?,?,?,?) ON CONFLICT(organization_id) DO UPDATE SET "
                        "name = excluded.name, channel = excluded.channel, partner_id = "
                        "excluded.partner_id, updated_at = excluded.updated_at");
    q.bind(1, a.organization_id);
    q.bind(2, a.name);
    q.bind(3, std::string(ChannelName(a.channel)));
    q.bind(4, a.partner_id);
    q.bind(5, internal::NowMicros(deps_));
    q.exec();
    return internal::Audit(deps_, db, actor, a.organization_id, "billing.account.upsert",
                           "organization:" + a.organization_id,
                           {{"channel", ChannelName(a.channel)}}, a.partner_id);
  });
}

Result<Account> PriceLists::GetAccount(const std::string& org) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<Account> {
    SQLite::Statement q(db,
                        "SELECT name, channel, partner_id FROM billing_accounts WHERE "
                        "organization_id = ?");
    q.bind(1, org);
    if (!q.executeStep())
      return FailField(ErrorCode::kNotFound, "organization_id", "no billing account for " + org);
    Account a;
    a.organization_id = org;
    a.name = q.getColumn(0).getString();
    HP_ASSIGN_OR_RETURN(a.channel, ParseChannel(q.getColumn(1).getString()));
    a.partner_id = q.getColumn(2).getString();
    return a;
  });
}

Result<std::optional<Price>> PriceLists::PartnerPriceAt(const std::string& partner_id,
                                                        PartnerPriceKind kind,
                                                        const std::string& code,
                                                        BillingPeriod period, Date day) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<std::optional<Price>> {
    SQLite::Statement q(db,
                        "SELECT price, setup_fee FROM billing_prices WHERE partner_id = ? AND kind "
                        "= ? AND product_code = ? AND period = ? AND effective_from <= ? ORDER BY "
                        "effective_from DESC LIMIT 1");
    q.bind(1, partner_id);
    q.bind(2, kind == PartnerPriceKind::kSell ? "sell" : "wholesale");
    q.bind(3, code);
    q.bind(4, std::string(BillingPeriodName(period)));
    q.bind(5, FormatDate(day));
    if (!q.executeStep()) return std::optional<Price>();
    Price p;
    p.product_code = code;
    p.period = period;
    p.price = Money::Yen(q.getColumn(0).getInt64());
    p.setup_fee = Money::Yen(q.getColumn(1).getInt64());
    p.effective_from = day;
    return std::optional<Price>(p);
  });
}

Result<std::vector<PartnerPriceRow>> PriceLists::PartnerPriceList(const std::string& partner_id,
                                                                  Date day) {
  HP_ASSIGN_OR_RETURN(std::vector<Product> products, catalog_.ListProducts());
  std::vector<PartnerPriceRow> out;
  for (const Product& product : products) {
    for (BillingPeriod period : {BillingPeriod::kMonthly, BillingPeriod::kYearly}) {
      auto list = catalog_.ListPriceAt(product.code, period, day);
      if (!list) {
        if (list.error().code == ErrorCode::kNotFound) continue;  // not sold for this period
        return std::unexpected(list.error());
      }
      PartnerPriceRow row{product, period, *list, *list, std::nullopt, std::nullopt};
      HP_ASSIGN_OR_RETURN(auto wholesale, PartnerPriceAt(partner_id, PartnerPriceKind::kWholesale,
                                                         product.code, period, day));
      if (!wholesale) {
        HP_ASSIGN_OR_RETURN(wholesale, PartnerPriceAt("", PartnerPriceKind::kWholesale,
                                                      product.code, period, day));
      }
      if (wholesale) row.wholesale = *wholesale;
      HP_TRY(deps_.db->Read([&](SQLite::Database& db) -> Status {
        // The version in force (latest effective_from <= day) and the first one after the day.
        SQLite::Statement q(db,
                            "SELECT price, setup_fee, effective_from FROM billing_prices WHERE "
                            "partner_id = ?1 AND kind = 'sell' AND product_code = ?2 AND period = ?3 "
                            "AND (effective_from = (SELECT MAX(effective_from) FROM billing_prices "
                            "WHERE partner_id = ?1 AND kind = 'sell' AND product_code = ?2 AND "
                            "period = ?3 AND effective_from <= ?4) OR effective_from = (SELECT "
                            "MIN(effective_from) FROM billing_prices WHERE partner_id = ?1 AND "
                            "kind = 'sell' AND product_code = ?2 AND period = ?3 AND "
                            "effective_from > ?4)) ORDER BY effective_from");
        q.bind(1, partner_id);
        q.bind(2, product.code);
        q.bind(3, std::string(BillingPeriodName(period)));
        q.bind(4, FormatDate(day));
        while (q.executeStep()) {
          HP_ASSIGN_OR_RETURN(Date from, ParseDate(q.getColumn(2).getString(), "effective_from"));
          Price p{product.code, period, Money::Yen(q.getColumn(0).getInt64()),
                  Money::Yen(q.getColumn(1).getInt64()), from};
          (from <= day ? row.sell : row.next_sell) = p;
        }
        return core::Ok();
      }));
      out.push_back(std::move(row));
    }
  }
  return out;
}

Result<CustomerPrice> PriceLists::PriceFor(const std::string& org, const std::string& code,
                                           BillingPeriod period, Date day) {
  HP_ASSIGN_OR_RETURN(Account a, GetAccount(org));
  HP_ASSIGN_OR_RETURN(Product product, catalog_.GetProduct(code));
  HP_ASSIGN_OR_RETURN(Price list, catalog_.ListPriceAt(code, period, day));
  CustomerPrice out;
  out.tax_rate = product.tax_rate;
  out.channel = a.channel;
  out.partner_id = a.partner_id;
  out.price = list.price;
  out.setup_fee = list.setup_fee;
  if (!Sells(a.channel)) return out;
  HP_ASSIGN_OR_RETURN(auto sell, PartnerPriceAt(a.partner_id, PartnerPriceKind::kSell, code,
                                                period, day));
  if (!sell)
    return FailField(ErrorCode::kNotFound, "product_code",
                     "partner " + a.partner_id + " sells no " + code + " " +
                         std::string(BillingPeriodName(period)));
  out.price = sell->price;
  out.setup_fee = sell->setup_fee;
  HP_ASSIGN_OR_RETURN(auto wholesale, PartnerPriceAt(a.partner_id, PartnerPriceKind::kWholesale,
                                                     code, period, day));
  if (!wholesale) {
    HP_ASSIGN_OR_RETURN(wholesale,
                        PartnerPriceAt("", PartnerPriceKind::kWholesale, code, period, day));
  }
  out.wholesale_price = wholesale ? wholesale->price : list.price;
  out.wholesale_setup_fee = wholesale ? wholesale->setup_fee : list.setup_fee;
  return out;
}

Result<std::pair<Issuer, std::string>> PriceLists::IssuerFor(const std::string& org) {
  HP_ASSIGN_OR_RETURN(Account a, GetAccount(org));
  if (!Sells(a.channel)) return std::make_pair(config_.platform_issuer, config_.invoice_prefix);
  HP_ASSIGN_OR_RETURN(Partner p, GetPartner(a.partner_id));
  if (issuer_source_) {
    HP_ASSIGN_OR_RETURN(std::optional<Issuer> own, issuer_source_(p.partner_id));
    if (own && !own->name.empty() && ValidateRegistrationNumber(own->registration_number))
      return std::make_pair(*own, p.invoice_prefix);
  }
  return std::make_pair(p.issuer, p.invoice_prefix);
}

}  // namespace hp::billing
