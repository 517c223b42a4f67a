#pragma once
// White-label branding of a partner: what its customers see instead of ours (panel, e-mails,
// invoices, ACME directory meta). Values are validated on input so they can be put into HTML
// attributes, CSS and mail headers without surprises.

#include <optional>
#include <string>
#include <string_view>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/json.h"
#include "hp/core/store.h"

namespace hp::partner {

struct InvoiceIssuer {
  std::string name;  // legal name printed as the issuer
  std::string address;
  std::string registration_number;  // qualified-invoice issuer number: "T" + 13 digits, or empty
  std::string email;
  std::string phone;
};

struct Branding {
  std::string partner_id;
  std::string brand_name;     // 1..100 printable characters, no markup characters
  std::string logo_url;       // https URL or empty
  std::string primary_color;  // "#rrggbb" or "#rgb"
  std::string accent_color;
  std::string panel_host;  // lower-case DNS name the partner's panel is served on, or empty
  std::string mail_from_name;
  std::string mail_from_address;  // sender of e-mails to the partner's customers
  std::string support_email;
  std::string support_url;           // https URL or empty
  std::string website_url;           // ACME directory meta.website
  std::string terms_of_service_url;  // ACME directory meta.termsOfService
  InvoiceIssuer invoice_issuer;
};

bool IsValidColor(std::string_view s);
bool IsValidHostName(std::string_view s);  // LDH labels, at least two, no trailing dot
bool IsValidHttpsUrl(std::string_view s);  // https://host[:port][/path], no spaces/quotes/userinfo

// Parses and validates a branding document (kInvalidArgument naming the field).
core::Result<Branding> BrandingFromJson(const core::Json& j);
core::Json BrandingToJson(const Branding& b);
// A minimal landing page of the partner's panel (every value HTML-escaped).
std::string RenderPanelPage(const Branding& b);
std::string HtmlEscape(std::string_view s);

// Thread-safe.
class BrandingStore {
 public:
  // `db` with PartnerMigrations() applied.
  BrandingStore(core::Database& db, const core::Clock& clock);
  // Replaces the partner's branding; kAlreadyExists when another partner uses panel_host.
  core::Status Put(const Branding& b);
  core::Result<std::optional<Branding>> Get(const std::string& partner_id);
  // The branding whose panel_host is `host` (case-insensitive, port stripped by the caller).
  core::Result<std::optional<Branding>> FindByHost(std::string_view host);

 private:
  core::Database& db_;
  const core::Clock& clock_;
};

}  // namespace hp::partner
