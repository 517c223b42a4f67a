#include "hp/core/secret.h"

#include <gtest/gtest.h>

#include "hp/core/openssl.h"
#include "hp/core/encoding.h"

namespace hp::core {
namespace {

TEST(Secret, MovesAndWipes) {
  Secret a(std::string("hunter2-long-secret"));
  Secret b(std::move(a));
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(b.Reveal(), "hunter2-long-secret");
  b.Clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(Redacted("abcdef"), "<redacted:6>");
}

TEST(Secret, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(OpenSsl, HmacAndShaMatchRfcVectors) {
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(AsBytes(ossl::HmacSha256("Jefe", "what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HexEncode(AsBytes(ossl::Sha256("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(OpenSsl, KeysRoundTripThroughPemWithPassphrase) {
  auto k = ossl::GenerateEcKey("P-256");
  ASSERT_TRUE(k);
  auto pem = ossl::PrivateKeyToPem(k->get(), "pass phrase");
  ASSERT_TRUE(pem);
  EXPECT_NE(pem->find("ENCRYPTED"), std::string::npos);
  EXPECT_TRUE(ossl::ReadPrivateKeyPem(*pem, "pass phrase"));
  auto wrong = ossl::ReadPrivateKeyPem(*pem, "wrong");
  EXPECT_FALSE(wrong);
  EXPECT_FALSE(ossl::GenerateEcKey("P-192"));
  EXPECT_TRUE(ossl::GenerateEd25519Key());
}

}  // namespace
}  // namespace hp::core
