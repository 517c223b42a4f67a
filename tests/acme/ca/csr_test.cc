#include "hp/acme/csr.h"

#include <gtest/gtest.h>

#include "testing/acme_test_util.h"

namespace hp::acme {
namespace {

using core::ErrorCode;

std::vector<core::Identifier> Ids(std::initializer_list<const char*> names) {
  std::vector<core::Identifier> out;
  for (const char* n : names) out.push_back({"dns", n});
  return out;
}

TEST(Csr, ExactNamesAreAcceptedInAnyOrderAndCase) {
  for (const char* alg : {"ES256", "ES384", "RS256"}) {
    auto k = testing::MakeKey(alg);
    auto r = CheckCsr(testing::MakeCsr(k.key.get(), {"B.test", "a.test"}, "a.test"),
                      Ids({"a.test", "b.test"}));
    EXPECT_TRUE(r) << alg << ": " << r.error().detail;
    EXPECT_EQ(r->spki_sha256.size(), 64u);
  }
}

TEST(Csr, ExtraNameIsBadCsr) {
  auto k = testing::MakeKey("ES256");
  auto r = CheckCsr(testing::MakeCsr(k.key.get(), {"a.test", "evil.test"}), Ids({"a.test"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kAcmeBadCsr);
  EXPECT_NE(r.error().detail.find("evil.test"), std::string::npos);
}

TEST(Csr, MissingNameIsBadCsr) {
  auto k = testing::MakeKey("ES256");
  auto r = CheckCsr(testing::MakeCsr(k.key.get(), {"a.test"}), Ids({"a.test", "b.test"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kAcmeBadCsr);
}

TEST(Csr, CnOutsideIdentifiersIsBadCsr) {
  auto k = testing::MakeKey("ES256");
  auto r = CheckCsr(testing::MakeCsr(k.key.get(), {"a.test"}, "other.test"), Ids({"a.test"}));
  EXPECT_EQ(r.error().code, ErrorCode::kAcmeBadCsr);
}

TEST(Csr, CnOnlyCsrIsAccepted) {
  auto k = testing::MakeKey("ES256");
  EXPECT_TRUE(CheckCsr(testing::MakeCsr(k.key.get(), {}, "a.test"), Ids({"a.test"})));
}

TEST(Csr, IpIdentifiers) {
  auto k = testing::MakeKey("ES256");
  EXPECT_TRUE(CheckCsr(testing::MakeCsr(k.key.get(), {"192.0.2.1", "2001:db8::1"}),
                       {{"ip", "192.0.2.1"}, {"ip", "2001:0db8::0001"}}));
}

TEST(Csr, WeakKeysAreRefused) {
  auto rsa1024 = core::ossl::GenerateRsaKey(1024);
  auto r = CheckCsr(testing::MakeCsr(rsa1024->get(), {"a.test"}), Ids({"a.test"}));
  EXPECT_EQ(r.error().code, ErrorCode::kAcmeBadPublicKey);
  auto ed = core::ossl::GenerateEd25519Key();
  r = CheckCsr(testing::MakeCsr(ed->get(), {"a.test"}), Ids({"a.test"}));
  EXPECT_EQ(r.error().code, ErrorCode::kAcmeBadPublicKey);
}

TEST(Csr, BrokenSignatureAndGarbageAreBadCsr) {
  auto k = testing::MakeKey("ES256");
  std::string der = testing::MakeCsr(k.key.get(), {"a.test"});
  der[der.size() - 5] ^= 0x01;
  EXPECT_EQ(CheckCsr(der, Ids({"a.test"})).error().code, ErrorCode::kAcmeBadCsr);
  EXPECT_EQ(CheckCsr("garbage", Ids({"a.test"})).error().code, ErrorCode::kAcmeBadCsr);
}

}  // namespace
}  // namespace hp::acme
