#include "hp/core/totp.h"

#include <gtest/gtest.h>

#include <set>

namespace hp::core {
namespace {

constexpr std::string_view kRfcSecret = "12345678901234567890";

TEST(Totp, MatchesRfc6238AppendixBSha1Vectors) {
  // RFC 6238 Appendix B (SHA1): time -> 8-digit TOTP; we show the last 6 digits.
  struct Vector {
    int64_t unix_seconds;
    std::string rfc_code;
  };
  const std::vector<Vector> vectors = {
      {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
      {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
  };
  for (const auto& v : vectors) {
    EXPECT_EQ(TotpCode(kRfcSecret, v.unix_seconds / 30), v.rfc_code.substr(2)) << v.unix_seconds;
    auto step = VerifyTotp(kRfcSecret, v.rfc_code.substr(2), FromUnixSeconds(v.unix_seconds));
    ASSERT_TRUE(step) << v.unix_seconds;
    EXPECT_EQ(*step, v.unix_seconds / 30);
  }
}

TEST(Totp, AcceptsOneStepOfClockSkewAndNoMore) {
  const TimePoint now = FromUnixSeconds(1234567890);
  const int64_t step = 1234567890 / 30;
  EXPECT_EQ(VerifyTotp(kRfcSecret, TotpCode(kRfcSecret, step - 1), now), step - 1);
  EXPECT_EQ(VerifyTotp(kRfcSecret, TotpCode(kRfcSecret, step + 1), now), step + 1);
  EXPECT_FALSE(VerifyTotp(kRfcSecret, TotpCode(kRfcSecret, step - 2), now));
  EXPECT_FALSE(VerifyTotp(kRfcSecret, TotpCode(kRfcSecret, step + 2), now));
  // What an app shows ("890 059") is accepted; junk is not.
  std::string code = TotpCode(kRfcSecret, step);
  EXPECT_TRUE(VerifyTotp(kRfcSecret, code.substr(0, 3) + " " + code.substr(3), now));
  EXPECT_FALSE(VerifyTotp(kRfcSecret, "", now));
  EXPECT_FALSE(VerifyTotp(kRfcSecret, "12345", now));
  EXPECT_FALSE(VerifyTotp(kRfcSecret, "1234567", now));
  EXPECT_FALSE(VerifyTotp(kRfcSecret, "12a456", now));
  EXPECT_FALSE(VerifyTotp("other secret 0123456", code, now));
}

TEST(Base32, RoundTripsAndMatchesRfc4648) {
  // RFC 4648 §10 without padding.
  EXPECT_EQ(Base32Encode(""), "");
  EXPECT_EQ(Base32Encode("f"), "MY");
  EXPECT_EQ(Base32Encode("fo"), "MZXQ");
  EXPECT_EQ(Base32Encode("foo"), "MZXW6");
  EXPECT_EQ(Base32Encode("foob"), "MZXW6YQ");
  EXPECT_EQ(Base32Encode("fooba"), "MZXW6YTB");
  EXPECT_EQ(Base32Encode("foobar"), "MZXW6YTBOI");
  EXPECT_EQ(Base32Encode(kRfcSecret), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  EXPECT_EQ(*Base32Decode("MZXW6YTBOI"), "foobar");
  EXPECT_EQ(*Base32Decode("mzxw 6ytb oi======"), "foobar");  // as typed by a person
  EXPECT_FALSE(Base32Decode("MZXW1"));
  EXPECT_FALSE(Base32Decode("MZ=XW"));
  const std::string secret = NewTotpSecret();
  EXPECT_EQ(secret.size(), 20u);
  EXPECT_EQ(*Base32Decode(Base32Encode(secret)), secret);
  EXPECT_NE(NewTotpSecret(), secret);
}

TEST(Totp, UriIsWhatAuthenticatorAppsScan) {
  EXPECT_EQ(TotpUri("hostplane", "hanako@example.jp", kRfcSecret),
            "otpauth://totp/hostplane:hanako%40example.jp?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            "&issuer=hostplane&algorithm=SHA1&digits=6&period=30");
  EXPECT_EQ(TotpUri("Acme Hosting", "a b", "x").substr(0, 40),
            "otpauth://totp/Acme%20Hosting:a%20b?secr");
}

TEST(RecoveryCodes, AreDistinctReadableAndNormalize) {
  auto codes = NewRecoveryCodes();
  ASSERT_EQ(codes.size(), 10u);
  std::set<std::string> unique(codes.begin(), codes.end());
  EXPECT_EQ(unique.size(), 10u);
  for (const auto& c : codes) {
    ASSERT_EQ(c.size(), 14u) << c;
    EXPECT_EQ(c[4], '-');
    EXPECT_EQ(c[9], '-');
    EXPECT_EQ(c.find_first_of("ilou"), std::string::npos) << c;
    std::string upper;
    for (char ch : c) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    EXPECT_EQ(NormalizeRecoveryCode(upper), NormalizeRecoveryCode(c));
  }
  EXPECT_EQ(NormalizeRecoveryCode("K3F9 X2M7-Q8W4"), "k3f9x2m7q8w4");
  EXPECT_EQ(NormalizeRecoveryCode("oIl0"), "0110");
  EXPECT_EQ(NewRecoveryCodes(3).size(), 3u);
}

}  // namespace
}  // namespace hp::core
