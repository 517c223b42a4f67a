// The Public Suffix List behind the certificates-per-registered-domain limit: the algorithm on a
// small list, Punycode against RFC 3492's sample, and the real list Debian ships.
#include "ra/public_suffix.h"

#include <gtest/gtest.h>

namespace hp::acme {
namespace {

TEST(PublicSuffixTest, PunycodeMatchesRfc3492) {
  EXPECT_EQ(ToALabel("example"), "example");
  EXPECT_EQ(ToALabel("bücher"), "xn--bcher-kva");
  EXPECT_EQ(ToALabel("公司"), "xn--55qx5d");
  EXPECT_EQ(ToALabel("香港"), "xn--j6w193g");
  // RFC 3492 7.1 (B) Chinese (simplified).
  EXPECT_EQ(ToALabel("他们为什么不说中文"), "xn--ihqwcrb4cv8a8dqg056pqjye");
}

TEST(PublicSuffixTest, RulesWildcardsAndExceptionsOnASmallList) {
  auto psl = PublicSuffixList::Parse(
      "// comment\n"
      "com\n"
      "uk\n"
      "co.uk\n"
      "*.ck\n"
      "!www.ck\n"
      "jp\n"
      "*.kawasaki.jp\n"
      "!city.kawasaki.jp\n"
      "公司.cn\n"
      "github.io   trailing text is ignored\n");
  EXPECT_EQ(psl.RegisteredDomain("www.example.com"), "example.com");
  EXPECT_EQ(psl.RegisteredDomain("example.com"), "example.com");
  EXPECT_EQ(psl.RegisteredDomain("a.b.example.co.uk"), "example.co.uk");
  EXPECT_EQ(psl.RegisteredDomain("example.uk"), "example.uk");
  EXPECT_EQ(psl.PublicSuffix("a.b.example.co.uk"), "co.uk");
  // *.ck: every second-level name is a suffix, except www.ck.
  EXPECT_EQ(psl.RegisteredDomain("a.b.foo.ck"), "b.foo.ck");
  EXPECT_EQ(psl.RegisteredDomain("a.www.ck"), "www.ck");
  EXPECT_EQ(psl.PublicSuffix("a.www.ck"), "ck");
  EXPECT_EQ(psl.RegisteredDomain("x.y.kawasaki.jp"), "x.y.kawasaki.jp");
  EXPECT_EQ(psl.RegisteredDomain("shop.city.kawasaki.jp"), "city.kawasaki.jp");
  // Unicode rules match identifiers in A-label form.
  EXPECT_EQ(psl.RegisteredDomain("www.example.xn--55qx5d.cn"), "example.xn--55qx5d.cn");
  // No rule matches: the implicit "*".
  EXPECT_EQ(psl.RegisteredDomain("a.b.example.test"), "example.test");
  // A public suffix itself (or a single label) counts as its own registered domain.
  EXPECT_EQ(psl.RegisteredDomain("co.uk"), "co.uk");
  EXPECT_EQ(psl.RegisteredDomain("localhost"), "localhost");
  EXPECT_EQ(psl.RegisteredDomain("alice.github.io"), "alice.github.io");
}

TEST(PublicSuffixTest, TheDebianListSeparatesCustomersOfSharedSuffixes) {
  auto psl = PublicSuffixList::Load("/usr/share/publicsuffix/public_suffix_list.dat", "f");
  ASSERT_TRUE(psl) << psl.error().ToString();
  EXPECT_GT((*psl)->size(), 5000u);
  EXPECT_EQ((*psl)->RegisteredDomain("www.example.co.uk"), "example.co.uk");
  EXPECT_EQ((*psl)->RegisteredDomain("www.example.co.jp"), "example.co.jp");
  EXPECT_EQ((*psl)->RegisteredDomain("blog.alice.github.io"), "alice.github.io");
  EXPECT_EQ((*psl)->RegisteredDomain("a.b.example.com"), "example.com");
  EXPECT_EQ((*psl)->RegisteredDomain("www.example.xn--55qx5d.cn"), "example.xn--55qx5d.cn");
  // Loaded once per path.
  auto again = PublicSuffixList::Load("/usr/share/publicsuffix/public_suffix_list.dat", "f");
  EXPECT_EQ(psl->get(), again->get());
  auto missing = PublicSuffixList::Load("/nonexistent/psl.dat", "acme.public_suffix_list");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().field, "acme.public_suffix_list");
}

}  // namespace
}  // namespace hp::acme
