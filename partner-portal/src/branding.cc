#include "hp/partner/branding.h"

#include <algorithm>
#include <cctype>

#include "hp/core/mailer.h"

namespace hp::partner {

using core::ErrorCode;
using core::Json;

namespace {

bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// Printable text without characters that mean something in HTML, CSS or mail headers.
bool IsPlainText(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
    if (c == '<' || c == '>' || c == '"' || c == '\'' || c == '`' || c == '\\' || c == '{' ||
        c == '}')
      return false;
  }
  return true;
}

core::Result<std::string> Field(const Json& j, const char* key, size_t max, bool required = false) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) return core::FailField(ErrorCode::kInvalidArgument, key, "is required");
    return std::string();
  }
  if (!j[key].is_string())
    return core::FailField(ErrorCode::kInvalidArgument, key, "must be a string");
  std::string v = j[key].get<std::string>();
  if (required && v.empty())
    return core::FailField(ErrorCode::kInvalidArgument, key, "must not be empty");
  if (v.size() > max)
    return core::FailField(ErrorCode::kInvalidArgument, key,
                           "must be at most " + std::to_string(max) + " characters");
  if (!IsPlainText(v))
    return core::FailField(ErrorCode::kInvalidArgument, key,
                           "must not contain control characters or < > \" ' ` \\ { }");
  return v;
}

core::Status CheckUrl(const std::string& v, const std::string& field) {
  if (!v.empty() && !IsValidHttpsUrl(v))
    return core::FailField(ErrorCode::kInvalidArgument, field,
                           "must be an https:// URL such as https://example.com/logo.svg");
  return core::Ok();
}
core::Status CheckColor(const std::string& v, const std::string& field) {
  if (!v.empty() && !IsValidColor(v))
    return core::FailField(ErrorCode::kInvalidArgument, field,
                           "must be a colour like #1a73e8 or #fff");
  return core::Ok();
}
core::Status CheckEmail(const std::string& v, const std::string& field) {
  if (!v.empty() && !core::IsValidEmail(v))
    return core::FailField(ErrorCode::kInvalidArgument, field, "must be an e-mail address");
  return core::Ok();
}

}  // namespace

bool IsValidColor(std::string_view s) {
  if (s.size() != 4 && s.size() != 7) return false;
  if (s[0] != '#') return false;
  return std::all_of(s.begin() + 1, s.end(), IsHex);
}

bool IsValidHostName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  int labels = 0;
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    std::string_view label =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (unsigned char c : label)
      if (!(std::islower(c) || std::isdigit(c) || c == '-')) return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  // The last label (TLD) is not all digits: "10.0.0.1" is not a host name here.
  std::string_view tld = s.substr(s.rfind('.') == std::string_view::npos ? 0 : s.rfind('.') + 1);
  if (std::all_of(tld.begin(), tld.end(), [](unsigned char c) { return std::isdigit(c); }))
    return false;
  return labels >= 2;
}

bool IsValidHttpsUrl(std::string_view s) {
  constexpr std::string_view kScheme = "https://";
  if (s.size() > 2000 || s.substr(0, kScheme.size()) != kScheme) return false;
  std::string_view rest = s.substr(kScheme.size());
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos) return false;
  std::string_view host = authority;
  if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    std::string_view port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }))
      return false;
    host = authority.substr(0, colon);
  }
  std::string lower(host);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower != "localhost" && !IsValidHostName(lower)) return false;
  for (unsigned char c : s)
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' ||
        c == '`')
      return false;
  return true;
}

core::Result<Branding> BrandingFromJson(const Json& j) {
  if (!j.is_object())
    return core::Fail(ErrorCode::kInvalidArgument, "branding must be a JSON object");
  Branding b;
  HP_ASSIGN_OR_RETURN(b.brand_name, Field(j, "brand_name", 100, true));
  HP_ASSIGN_OR_RETURN(b.logo_url, Field(j, "logo_url", 2000));
  HP_TRY(CheckUrl(b.logo_url, "logo_url"));
  HP_ASSIGN_OR_RETURN(b.primary_color, Field(j, "primary_color", 7));
  HP_TRY(CheckColor(b.primary_color, "primary_color"));
  HP_ASSIGN_OR_RETURN(b.accent_color, Field(j, "accent_color", 7));
  HP_TRY(CheckColor(b.accent_color, "accent_color"));
  HP_ASSIGN_OR_RETURN(b.panel_host, Field(j, "panel_host", 253));
  std::transform(b.panel_host.begin(), b.panel_host.end(), b.panel_host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!b.panel_host.empty() && !IsValidHostName(b.panel_host))
    return core::FailField(ErrorCode::kInvalidArgument, "panel_host",
                           "must be a DNS host name such as panel.example.com");
  HP_ASSIGN_OR_RETURN(b.mail_from_name, Field(j, "mail_from_name", 100));
  HP_ASSIGN_OR_RETURN(b.mail_from_address, Field(j, "mail_from_address", 254));
  HP_TRY(CheckEmail(b.mail_from_address, "mail_from_address"));
  HP_ASSIGN_OR_RETURN(b.support_email, Field(j, "support_email", 254));
  HP_TRY(CheckEmail(b.support_email, "support_email"));
  HP_ASSIGN_OR_RETURN(b.support_url, Field(j, "support_url", 2000));
  HP_TRY(CheckUrl(b.support_url, "support_url"));
  HP_ASSIGN_OR_RETURN(b.website_url, Field(j, "website_url", 2000));
  HP_TRY(CheckUrl(b.website_url, "website_url"));
  HP_ASSIGN_OR_RETURN(b.terms_of_service_url, Field(j, "terms_of_service_url", 2000));
  HP_TRY(CheckUrl(b.terms_of_service_url, "terms_of_service_url"));
  if (j.contains("invoice_issuer") && !j["invoice_issuer"].is_null()) {
    const Json& i = j["invoice_issuer"];
    if (!i.is_object())
      return core::FailField(ErrorCode::kInvalidArgument, "invoice_issuer", "must be an object");
    auto sub = [&](const char* k, size_t max) -> core::Result<std::string> {
      auto r = Field(i, k, max);
      if (!r)
        return core::FailField(ErrorCode::kInvalidArgument, std::string("invoice_issuer.") + k,
                               r.error().detail);
      return r;
    };
    HP_ASSIGN_OR_RETURN(b.invoice_issuer.name, sub("name", 200));
    HP_ASSIGN_OR_RETURN(b.invoice_issuer.address, sub("address", 500));
    HP_ASSIGN_OR_RETURN(b.invoice_issuer.registration_number, sub("registration_number", 14));
    HP_ASSIGN_OR_RETURN(b.invoice_issuer.email, sub("email", 254));
    HP_ASSIGN_OR_RETURN(b.invoice_issuer.phone, sub("phone", 40));
    const auto& reg = b.invoice_issuer.registration_number;
    if (!reg.empty() &&
        (reg.size() != 14 || reg[0] != 'T' ||
         !std::all_of(reg.begin() + 1, reg.end(), [](unsigned char c) { return std::isdigit(c); })))
      return core::FailField(ErrorCode::kInvalidArgument, "invoice_issuer.registration_number",
                             "must be T followed by 13 digits (qualified invoice issuer number)");
    HP_TRY(CheckEmail(b.invoice_issuer.email, "invoice_issuer.email"));
  }
  if (!b.mail_from_address.empty() && b.mail_from_name.empty()) b.mail_from_name = b.brand_name;
  return b;
}

Json BrandingToJson(const Branding& b) {
  return {{"partner_id", b.partner_id},
          {"brand_name", b.brand_name},
          {"logo_url", b.logo_url},
          {"primary_color", b.primary_color},
          {"accent_color", b.accent_color},
          {"panel_host", b.panel_host},
          {"mail_from_name", b.mail_from_name},
          {"mail_from_address", b.mail_from_address},
          {"support_email", b.support_email},
          {"support_url", b.support_url},
          {"website_url", b.website_url},
          {"terms_of_service_url", b.terms_of_service_url},
          {"invoice_issuer",
           {{"name", b.invoice_issuer.name},
            {"address", b.invoice_issuer.address},
            {"registration_number", b.invoice_issuer.registration_number},
            {"email", b.invoice_issuer.email},
            {"phone", b.invoice_issuer.phone}}}};
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string RenderPanelPage(const Branding& b) {
  const std::string name = HtmlEscape(b.brand_name);
  const std::string primary = b.primary_color.empty() ? "#333333" : b.primary_color;
  const std::string accent = b.accent_color.empty() ? primary : b.accent_color;
  std::string html = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" +
                     name + " control panel</title>\n<style>:root{--brand-primary:" + primary +
                     ";--brand-accent:" + accent +
                     "}header{background:var(--brand-primary);color:#fff;padding:1em}a{color:var(--"
                     "brand-accent)}</style>\n"
                     "</head><body>\n<header>";
  if (!b.logo_url.empty())
    html += "<img src=\"" + HtmlEscape(b.logo_url) + "\" alt=\"" + name + "\" height=\"40\"> ";
  html += "<span class=\"brand\">" + name + "</span></header>\n<main><h1>" + name +
          " control panel</h1>\n<p>Sign in to manage your sites, servers, domains and "
          "certificates.</p>\n"
          "<form method=\"post\" action=\"/api/v1/sessions\"><label>E-mail <input type=\"email\" "
          "name=\"email\"></label> "
          "<label>Password <input type=\"password\" name=\"password\"></label> <button>Sign "
          "in</button></form>\n</main>\n<footer>";
  if (!b.support_email.empty())
    html += "Support: <a href=\"mailto:" + HtmlEscape(b.support_email) + "\">" +
            HtmlEscape(b.support_email) + "</a> ";
  if (!b.support_url.empty()) html += "<a href=\"" + HtmlEscape(b.support_url) + "\">Help</a> ";
  html += "&copy; " + name + "</footer>\n</body></html>\n";
  return html;
}

BrandingStore::BrandingStore(core::Database& db, const core::Clock& clock)
    : db_(db), clock_(clock) {}

core::Status BrandingStore::Put(const Branding& b) {
  if (b.partner_id.empty())
    return core::FailField(ErrorCode::kInvalidArgument, "partner_id", "is required");
  const int64_t now = core::ToUnixMicros(clock_.Now());
  return db_.Write([&](SQLite::Database& tx) -> core::Status {
    if (!b.panel_host.empty()) {
      SQLite::Statement q(
          tx, "SELECT partner_id FROM partner_branding WHERE panel_host = ? AND partner_id <> ?");
      q.bind(1, b.panel_host);
      q.bind(2, b.partner_id);
      if (q.executeStep())
        return core::FailField(ErrorCode::kAlreadyExists, "panel_host",
                               "host name " + b.panel_host + " is used by another partner");
    }
    SQLite::Statement q(
        tx,
        "INSERT INTO partner_branding(partner_id, panel_host, doc, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(partner_id) DO UPDATE SET panel_host = excluded.panel_host, doc = "
        "excluded.doc, "
        "updated_at = excluded.updated_at");
    q.bind(1, b.partner_id);
    if (b.panel_host.empty())
      q.bind(2);
    else
      q.bind(2, b.panel_host);
    q.bind(3, BrandingToJson(b).dump());
    q.bind(4, now);
    q.exec();
    return core::Ok();
  });
}

namespace {
core::Result<std::optional<Branding>> Load(SQLite::Statement& q) {
  if (!q.executeStep()) return std::optional<Branding>();
  HP_ASSIGN_OR_RETURN(Json doc, core::ParseJson(q.getColumn(0).getString()));
  HP_ASSIGN_OR_RETURN(Branding b, BrandingFromJson(doc));
  b.partner_id = doc.value("partner_id", "");
  return std::optional<Branding>(std::move(b));
}
}  // namespace

core::Result<std::optional<Branding>> BrandingStore::Get(const std::string& partner_id) {
  return db_.Read([&](SQLite::Database& tx) {
    SQLite::Statement q(tx, "SELECT doc FROM partner_branding WHERE partner_id = ?");
    q.bind(1, partner_id);
    return Load(q);
  });
}

core::Result<std::optional<Branding>> BrandingStore::FindByHost(std::string_view host) {
  std::string h(host);
  std::transform(h.begin(), h.end(), h.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (h.empty()) return std::optional<Branding>();
  return db_.Read([&](SQLite::Database& tx) {
    SQLite::Statement q(tx, "SELECT doc FROM partner_branding WHERE panel_host = ?");
    q.bind(1, h);
    return Load(q);
  });
}

}  // namespace hp::partner
