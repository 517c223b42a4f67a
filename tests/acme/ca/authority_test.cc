#include "hp/acme/ca.h"

#include <gtest/gtest.h>

#include "hp/acme/csr.h"
#include "testing/acme_test_util.h"

namespace hp::acme {
namespace {

using RunCmd = int (*)(const std::string&, std::string*);
constexpr RunCmd Sh = &testing::Run;

class CaTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::TempDir(); }
  std::unique_ptr<CertificateAuthority> MakeCa(const std::string& pass = "correct horse") {
    CaOptions o;
    o.dir = dir_ + "/ca";
    o.passphrase = core::Secret(pass);
    o.base_url = "https://ca.test";
    auto ca = CertificateAuthority::Create(std::move(o), clock_);
    EXPECT_TRUE(ca) << (ca ? "" : ca.error().detail);
    return ca ? std::move(*ca) : nullptr;
  }
  // Writes leaf+issuer+root and runs `openssl verify`; returns its output.
  std::string Verify(CertificateAuthority& ca, const IssuedCertificate& c, int* rc) {
    testing::WriteFile(dir_ + "/root.pem", ca.root_pem());
    testing::WriteFile(dir_ + "/int.pem", ca.issuer(c.issuer_id)->cert_pem);
    testing::WriteFile(dir_ + "/leaf.pem", c.pem);
    std::string out;
    *rc = Sh("openssl verify -x509_strict -purpose sslserver -CAfile " + dir_ +
                  "/root.pem -untrusted " + dir_ + "/int.pem " + dir_ + "/leaf.pem",
              &out);
    return out;
  }
  std::string dir_;
  core::SystemClock clock_;
};

TEST_F(CaTest, CreatesHierarchyOnceAndReloadsIt) {
  auto ca = MakeCa();
  ASSERT_TRUE(ca);
  auto issuers = ca->issuers();
  ASSERT_EQ(issuers.size(), 2u);
  std::string root = ca->root_pem();
  ca.reset();
  auto again = MakeCa();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->root_pem(), root);
  EXPECT_EQ(again->issuers().size(), 2u);
  // Keys are encrypted at rest: the PEM says so and the wrong passphrase fails loudly.
  std::string out;
  Sh("head -1 " + dir_ + "/ca/root.key", &out);
  EXPECT_NE(out.find("ENCRYPTED"), std::string::npos);
  CaOptions o;
  o.dir = dir_ + "/ca";
  o.passphrase = core::Secret("wrong");
  auto bad = CertificateAuthority::Create(std::move(o), clock_);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().detail.find("root.key"), std::string::npos);
}

TEST_F(CaTest, IssuedChainsVerifyWithOpenssl) {
  auto ca = MakeCa();
  for (const char* alg : {"ES256", "ES384", "RS256"}) {
    auto key = testing::MakeKey(alg);
    std::vector<core::Identifier> ids = {{"dns", "www.example.test"}, {"dns", "example.test"},
                                         {"ip", "192.0.2.7"}};
    auto csr = CheckCsr(testing::MakeCsr(key.key.get(), {"www.example.test", "example.test",
                                                         "192.0.2.7"}),
                        ids);
    ASSERT_TRUE(csr) << csr.error().detail;
    auto cert = ca->Issue({csr->der, ids, "classic", {}});
    ASSERT_TRUE(cert) << cert.error().detail;
    EXPECT_EQ(cert->issuer_id[0], std::string(alg) == "RS256" ? 'r' : 'e');
    int rc = -1;
    std::string out = Verify(*ca, *cert, &rc);
    EXPECT_EQ(rc, 0) << out;
    // SANs are exactly the requested names; 90-day validity; DV policy.
    std::string text;
    Sh("openssl x509 -noout -text -in " + dir_ + "/leaf.pem", &text);
    EXPECT_NE(text.find("DNS:www.example.test, DNS:example.test, IP Address:192.0.2.7"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("2.23.140.1.2.1"), std::string::npos);
    EXPECT_NE(text.find("https://ca.test/acme/crl/" + cert->issuer_id), std::string::npos);
    EXPECT_NE(text.find("CA:FALSE"), std::string::npos);
    EXPECT_EQ(cert->not_after - cert->not_before + std::chrono::seconds(1),
              std::chrono::hours(24 * 90));
    EXPECT_GE(cert->serial_hex.size(), 30u);
  }
}

TEST_F(CaTest, ShortlivedProfileAndUnknownProfile) {
  auto ca = MakeCa();
  auto key = testing::MakeKey("ES256");
  std::vector<core::Identifier> ids = {{"dns", "a.test"}};
  std::string csr = testing::MakeCsr(key.key.get(), {"a.test"});
  auto cert = ca->Issue({csr, ids, "shortlived", {}});
  ASSERT_TRUE(cert);
  EXPECT_LE(cert->not_after - cert->not_before, std::chrono::hours(24 * 7));
  auto bad = ca->Issue({csr, ids, "forever", {}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, core::ErrorCode::kAcmeInvalidProfile);
}

TEST_F(CaTest, LintStopsAMisissuanceBeforeSigning) {
  auto ca = MakeCa();
  auto key = testing::MakeKey("ES256");
  // Identifier list deliberately different from what would be linted: an IP that is not valid
  // text makes the builder fail; a wildcard + long name still passes; a mismatch between what
  // we put in the SAN and the policy is impossible by construction, so feed a bad key instead.
  auto weak = core::ossl::GenerateRsaKey(1024);
  std::string csr = testing::MakeCsr(weak->get(), {"a.test"});
  auto r = ca->Issue({csr, {{"dns", "a.test"}}, "classic", {}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::ErrorCode::kInternal);
  EXPECT_NE(r.error().detail.find("pre-issuance lint"), std::string::npos);
}

TEST_F(CaTest, RotationKeepsOldIssuerAndNewLeavesChainToNewOne) {
  auto ca = MakeCa();
  auto id = ca->RotateIssuer(LeafKeyKind::kEcdsa);
  ASSERT_TRUE(id);
  EXPECT_EQ(ca->issuers().size(), 3u);
  auto key = testing::MakeKey("ES256");
  auto cert = ca->Issue({testing::MakeCsr(key.key.get(), {"a.test"}), {{"dns", "a.test"}},
                         "classic", {}});
  ASSERT_TRUE(cert);
  EXPECT_EQ(cert->issuer_id, *id);
  int rc = -1;
  std::string out = Verify(*ca, *cert, &rc);
  EXPECT_EQ(rc, 0) << out;
  ca.reset();
  auto again = MakeCa();
  EXPECT_TRUE(again->issuer(*id)->active);
}

TEST_F(CaTest, CrlListsRevokedSerials) {
  auto ca = MakeCa();
  auto key = testing::MakeKey("ES256");
  auto cert = ca->Issue({testing::MakeCsr(key.key.get(), {"a.test"}), {{"dns", "a.test"}},
                         "classic", {}});
  ASSERT_TRUE(cert);
  auto crl = ca->SignCrl(cert->issuer_id, 7, {{cert->serial_hex, clock_.Now(), 1}},
                         std::chrono::hours(24 * 7));
  ASSERT_TRUE(crl) << crl.error().detail;
  testing::WriteFile(dir_ + "/crl.der", *crl);
  testing::WriteFile(dir_ + "/int.pem", ca->issuer(cert->issuer_id)->cert_pem);
  std::string out;
  ASSERT_EQ(Sh("openssl crl -inform DER -in " + dir_ + "/crl.der -noout -text -CAfile " + dir_ +
                    "/int.pem",
                &out),
            0)
      << out;
  EXPECT_NE(out.find("verify OK"), std::string::npos) << out;
  std::string upper = cert->serial_hex;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_NE(out.find(upper), std::string::npos) << out;
  EXPECT_NE(out.find("Key Compromise"), std::string::npos);
  EXPECT_NE(out.find("X509v3 CRL Number: \n                7"), std::string::npos) << out;
}

TEST_F(CaTest, ACheckedCsrIsIssuedWithoutReparsingAndKeepsItsExactKey) {
  auto ca = MakeCa();
  for (const char* alg : {"ES256", "ES384", "RS256"}) {
    auto key = testing::MakeKey(alg);
    std::vector<core::Identifier> ids = {{"dns", "fast.example.test"}};
    auto csr = CheckCsr(testing::MakeCsr(key.key.get(), {"fast.example.test"}), ids);
    ASSERT_TRUE(csr) << csr.error().detail;
    IssueRequest req{csr->der, ids, "classic", {}};
    req.csr_key = csr->key.get();
    req.csr_spki = csr->spki.get();
    req.spki_sha256 = csr->spki_sha256;
    auto cert = ca->Issue(req);
    ASSERT_TRUE(cert) << cert.error().detail;
    EXPECT_EQ(cert->spki_sha256, csr->spki_sha256);
    int rc = -1;
    std::string out = Verify(*ca, *cert, &rc);
    EXPECT_EQ(rc, 0) << out;
    // The leaf's key is the CSR's, byte for byte (openssl prints the same public key).
    std::string leaf_key, csr_key;
    Sh("openssl x509 -noout -pubkey -in " + dir_ + "/leaf.pem", &leaf_key);
    testing::WriteFile(dir_ + "/req.der", csr->der);
    Sh("openssl req -inform DER -noout -pubkey -in " + dir_ + "/req.der", &csr_key);
    EXPECT_EQ(leaf_key, csr_key);
    EXPECT_NE(leaf_key.find("BEGIN PUBLIC KEY"), std::string::npos);
  }
}

}  // namespace
}  // namespace hp::acme
