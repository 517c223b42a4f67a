#include "hp/acme/lint.h"

#include <gtest/gtest.h>

#include "hp/acme/ca.h"
#include "testing/acme_test_util.h"

namespace hp::acme {
namespace {

// Good/bad pairs: a certificate the CA issued lints clean; each mutation of it is caught.
class LintTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CaOptions o;
    o.dir = testing::TempDir() + "/ca";
    o.passphrase = core::Secret("pw");
    o.base_url = "https://ca.test";
    ca_ = std::move(*CertificateAuthority::Create(std::move(o), clock_));
    key_ = testing::MakeKey("ES256");
    auto c = ca_->Issue({testing::MakeCsr(key_.key.get(), {"a.test", "b.test"}),
                         ids_, "classic", {}});
    ASSERT_TRUE(c);
    issued_ = *c;
    auto info = *ca_->issuer(c->issuer_id);
    issuer_ = std::move(*core::ossl::ReadCertificatePem(info.cert_pem));
    policy_ = {issuer_.get(), ids_, std::chrono::hours(24 * 90), clock_.Now(), info.crl_url,
               info.ca_issuers_url};
  }
  core::ossl::X509Ptr Leaf() { return std::move(*core::ossl::ReadCertificatePem(issued_.pem)); }
  bool Has(const std::vector<std::string>& v, const std::string& needle) {
    for (const auto& s : v) {
      if (s.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  void ReplaceExt(X509* c, int nid, const char* value) {
    X509_delete_ext(c, X509_get_ext_by_NID(c, nid, -1));
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer_.get(), c, nullptr, nullptr, 0);
    X509_EXTENSION* e = X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value);
    ASSERT_NE(e, nullptr);
    X509_add_ext(c, e, -1);
    X509_EXTENSION_free(e);
  }

  core::SystemClock clock_;
  std::unique_ptr<CertificateAuthority> ca_;
  testing::TestKey key_;
  std::vector<core::Identifier> ids_ = {{"dns", "a.test"}, {"dns", "b.test"}};
  IssuedCertificate issued_;
  core::ossl::X509Ptr issuer_;
  LintPolicy policy_;
};

TEST_F(LintTest, IssuedCertificateIsClean) {
  auto leaf = Leaf();
  auto v = LintLeaf(leaf.get(), policy_);
  EXPECT_TRUE(v.empty()) << v.front();
}

TEST_F(LintTest, ExtraSanIsCaught) {
  auto leaf = Leaf();
  ReplaceExt(leaf.get(), NID_subject_alt_name, "DNS:a.test,DNS:b.test,DNS:evil.test");
  EXPECT_TRUE(Has(LintLeaf(leaf.get(), policy_), "subjectAltName differs"));
}

TEST_F(LintTest, CaTrueIsCaught) {
  auto leaf = Leaf();
  ReplaceExt(leaf.get(), NID_basic_constraints, "critical,CA:TRUE");
  EXPECT_TRUE(Has(LintLeaf(leaf.get(), policy_), "CA:TRUE"));
}

TEST_F(LintTest, MissingPolicyAndWrongEkuAreCaught) {
  auto leaf = Leaf();
  ReplaceExt(leaf.get(), NID_ext_key_usage, "serverAuth,codeSigning");
  X509_delete_ext(leaf.get(), X509_get_ext_by_NID(leaf.get(), NID_certificate_policies, -1));
  auto v = LintLeaf(leaf.get(), policy_);
  EXPECT_TRUE(Has(v, "2.23.140.1.2.1"));
  EXPECT_TRUE(Has(v, "extKeyUsage"));
}

TEST_F(LintTest, KeyEnciphermentOnEcKeyIsCaught) {
  auto leaf = Leaf();
  ReplaceExt(leaf.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
  EXPECT_TRUE(Has(LintLeaf(leaf.get(), policy_), "keyEncipherment"));
}

TEST_F(LintTest, ValidityBeyondProfileIsCaught) {
  auto leaf = Leaf();
  ASN1_TIME_set(X509_getm_notAfter(leaf.get()),
                static_cast<time_t>(core::ToUnixSeconds(clock_.Now() + std::chrono::hours(24 * 400))));
  EXPECT_TRUE(Has(LintLeaf(leaf.get(), policy_), "validity exceeds"));
}

TEST_F(LintTest, ForeignIssuerAndShortSerialAreCaught) {
  auto leaf = Leaf();
  ASN1_INTEGER_set(X509_get_serialNumber(leaf.get()), 12345);
  X509_NAME* n = X509_NAME_new();
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("x"),
                             -1, -1, 0);
  X509_set_issuer_name(leaf.get(), n);
  X509_NAME_free(n);
  auto v = LintLeaf(leaf.get(), policy_);
  EXPECT_TRUE(Has(v, "fewer than 64 bits"));
  EXPECT_TRUE(Has(v, "issuer name"));
}

TEST_F(LintTest, WrongCrlUrlAndCnOutsideSansAreCaught) {
  auto leaf = Leaf();
  ReplaceExt(leaf.get(), NID_crl_distribution_points, "URI:http://elsewhere/crl");
  X509_NAME* n = X509_NAME_new();
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("other.test"), -1, -1, 0);
  X509_set_subject_name(leaf.get(), n);
  X509_NAME_free(n);
  auto v = LintLeaf(leaf.get(), policy_);
  EXPECT_TRUE(Has(v, "cRLDistributionPoints"));
  EXPECT_TRUE(Has(v, "CN is not among"));
}

}  // namespace
}  // namespace hp::acme
