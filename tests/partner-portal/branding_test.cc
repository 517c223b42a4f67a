#include "hp/partner/branding.h"

#include <gtest/gtest.h>

#include "fixture.h"

namespace hp::partner {
namespace {

core::Json Good() {
  return {
      {"brand_name", "Kumo Hosting"},
      {"logo_url", "https://cdn.kumo.example/logo.svg"},
      {"primary_color", "#0a7cff"},
      {"accent_color", "#fff"},
      {"panel_host", "Panel.Kumo.Example"},
      {"mail_from_name", "Kumo Support"},
      {"mail_from_address", "support@kumo.example"},
      {"support_email", "help@kumo.example"},
      {"website_url", "https://kumo.example"},
      {"terms_of_service_url", "https://kumo.example/tos"},
      {"invoice_issuer",
       {{"name", "Kumo K.K."}, {"address", "Tokyo"}, {"registration_number", "T1234567890123"}}}};
}

TEST(BrandingTest, ValidDocumentRoundTripsWithLowerCasedHost) {
  auto b = BrandingFromJson(Good());
  ASSERT_TRUE(b) << b.error().detail;
  EXPECT_EQ(b->panel_host, "panel.kumo.example");
  EXPECT_EQ(b->invoice_issuer.registration_number, "T1234567890123");
  auto again = BrandingFromJson(BrandingToJson(*b));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->brand_name, "Kumo Hosting");
}

TEST(BrandingTest, BadValuesAreRefusedNamingTheField) {
  struct Case {
    const char* field;
    core::Json value;
  };
  for (const auto& c : std::vector<Case>{{"primary_color", "red"},
                                         {"primary_color", "#12345"},
                                         {"accent_color", "#gggggg"},
                                         {"logo_url", "http://cdn.kumo.example/logo.svg"},
                                         {"logo_url", "javascript:alert(1)"},
                                         {"logo_url", "https://user@evil.example/x"},
                                         {"website_url", "https://kumo.example/\"onload=x"},
                                         {"panel_host", "panel..kumo.example"},
                                         {"panel_host", "-panel.kumo.example"},
                                         {"panel_host", "localhost"},
                                         {"panel_host", "10.0.0.1"},
                                         {"panel_host", "panel_kumo.example"},
                                         {"brand_name", "<script>x</script>"},
                                         {"brand_name", ""},
                                         {"mail_from_address", "not an address"},
                                         {"mail_from_name", "Kumo\r\nBcc: x@evil.example"}}) {
    core::Json j = Good();
    j[c.field] = c.value;
    auto b = BrandingFromJson(j);
    ASSERT_FALSE(b) << c.field << " = " << c.value.dump();
    EXPECT_EQ(b.error().field, c.field) << c.value.dump();
  }
  core::Json j = Good();
  j["invoice_issuer"]["registration_number"] = "1234567890123";
  EXPECT_EQ(BrandingFromJson(j).error().field, "invoice_issuer.registration_number");
}

TEST(BrandingTest, ValidatorsAcceptTheUsualForms) {
  EXPECT_TRUE(IsValidColor("#ABCDEF"));
  EXPECT_TRUE(IsValidColor("#abc"));
  EXPECT_TRUE(IsValidHostName("a.b"));
  EXPECT_TRUE(IsValidHostName("xn--bcher-kva.example"));
  EXPECT_FALSE(IsValidHostName("example.com."));
  EXPECT_TRUE(IsValidHttpsUrl("https://kumo.example:8443/path?q=1"));
  EXPECT_FALSE(IsValidHttpsUrl("https://kumo.example:99999x/"));
  EXPECT_FALSE(IsValidHttpsUrl("https://kumo example/"));
}

TEST(BrandingTest, PanelPageShowsTheBrandEscaped) {
  Branding b = *BrandingFromJson(Good());
  b.brand_name = "Kumo & Sons";
  std::string html = RenderPanelPage(b);
  EXPECT_NE(html.find("Kumo &amp; Sons control panel"), std::string::npos);
  EXPECT_NE(html.find("#0a7cff"), std::string::npos);
  EXPECT_NE(html.find("https://cdn.kumo.example/logo.svg"), std::string::npos);
  EXPECT_EQ(html.find("hostplane"), std::string::npos);
}

TEST(BrandingStoreTest, HostNamesAreUniqueAcrossPartnersAndFoundCaseInsensitively) {
  testing::StoreFixture f;
  BrandingStore store(*f.db, f.clock);
  Branding a = *BrandingFromJson(Good());
  a.partner_id = "oemA";
  ASSERT_TRUE(store.Put(a));
  Branding b = a;
  b.partner_id = "oemB";
  auto clash = store.Put(b);
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code, core::ErrorCode::kAlreadyExists);
  b.panel_host = "panel.other.example";
  ASSERT_TRUE(store.Put(b));
  auto found = *store.FindByHost("PANEL.kumo.example");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->partner_id, "oemA");
  EXPECT_FALSE(*store.FindByHost("unknown.example"));
  // Re-putting replaces (and frees the old host name).
  a.panel_host = "panel2.kumo.example";
  ASSERT_TRUE(store.Put(a));
  EXPECT_FALSE(*store.FindByHost("panel.kumo.example"));
  EXPECT_EQ((*store.Get("oemA"))->panel_host, "panel2.kumo.example");
}

}  // namespace
}  // namespace hp::partner
