#include "hp/acme/csr.h"

#include <gtest/gtest.h>

#include "hp/core/encoding.h"
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

// ECDSA CSRs take a path without d2i_X509_REQ (CheckEcCsrFast); it must give the same key, the
// same SPKI bytes and hash as OpenSSL's own decoding, and refuse what the general path refuses.
TEST(Csr, EcdsaFastPathMatchesOpenSslDecoding) {
  for (const char* alg : {"ES256", "ES384", "RS256"}) {
    auto k = testing::MakeKey(alg);
    const std::string der = testing::MakeCsr(k.key.get(), {"a.test", "b.test"}, "a.test");
    auto r = CheckCsr(der, Ids({"b.test", "a.test"}));
    ASSERT_TRUE(r) << alg << ": " << r.error().detail;
    ASSERT_TRUE(r->key && r->spki);
    EXPECT_EQ(EVP_PKEY_eq(r->key.get(), k.key.get()), 1) << alg;
    EXPECT_EQ(r->rsa, std::string(alg) == "RS256");
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    core::ossl::X509Req req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
    ASSERT_TRUE(req);
    unsigned char *a = nullptr, *b = nullptr;
    const int la = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req.get()), &a);
    const int lb = i2d_X509_PUBKEY(r->spki.get(), &b);
    ASSERT_GT(la, 0);
    const std::string sa(reinterpret_cast<char*>(a), static_cast<size_t>(la));
    const std::string sb(reinterpret_cast<char*>(b), static_cast<size_t>(lb > 0 ? lb : 0));
    OPENSSL_free(a);
    OPENSSL_free(b);
    EXPECT_EQ(sa, sb) << alg;
    EXPECT_EQ(r->spki_sha256, core::HexEncode(core::AsBytes(core::ossl::Sha256(sa)))) << alg;
  }
  auto k = testing::MakeKey("ES384");
  std::string der = testing::MakeCsr(k.key.get(), {"a.test"});
  // Every single-byte change of the signed part is refused (signature, structure or names).
  for (size_t i = 4; i < der.size(); i += 7) {
    std::string bad = der;
    bad[i] ^= 0x10;
    EXPECT_FALSE(CheckCsr(bad, Ids({"a.test"}))) << "byte " << i;
  }
  // Trailing bytes and a truncated request.
  EXPECT_EQ(CheckCsr(der + std::string(1, '\0'), Ids({"a.test"})).error().code,
            ErrorCode::kAcmeBadCsr);
  EXPECT_EQ(CheckCsr(der.substr(0, der.size() - 1), Ids({"a.test"})).error().code,
            ErrorCode::kAcmeBadCsr);
  // The CN and SAN checks apply on this path too.
  auto extra = CheckCsr(testing::MakeCsr(k.key.get(), {"a.test", "evil.test"}), Ids({"a.test"}));
  ASSERT_FALSE(extra);
  EXPECT_NE(extra.error().detail.find("evil.test"), std::string::npos);
}

}  // namespace
}  // namespace hp::acme
