// The CA with intermediate keys on a PKCS#11 token: SoftHSM2 in a temporary directory
// (SOFTHSM2_CONF), keys made by pkcs11-tool, signing through libp11's OpenSSL engine.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "hp/acme/ca.h"
#include "hp/acme/csr.h"
#include "testing/acme_test_util.h"

namespace hp::acme {
namespace {

constexpr char kModule[] = "/usr/lib/softhsm/libsofthsm2.so";

// Tokens are created once, before any test opens the module: SoftHSM reads its token
// directory when the module is initialised, and every test in a process shares that.
struct Hsm {
  std::string dir;
  std::string error;
  Hsm() {
    dir = testing::TempDir();
    std::filesystem::create_directories(dir + "/tokens");
    testing::WriteFile(dir + "/softhsm2.conf", "directories.tokendir = " + dir +
                                                   "/tokens\nobjectstore.backend = file\n"
                                                   "log.level = ERROR\n");
    ::setenv("SOFTHSM2_CONF", (dir + "/softhsm2.conf").c_str(), 1);
    Token("hp-main", "1234", {{"issuer-ec", "EC:prime256v1"}, {"issuer-rsa", "rsa:2048"},
                               {"issuer-p384", "EC:secp384r1"}});
    Token("hp-other", "2468", {{"k", "EC:prime256v1"}});
    testing::WriteFile(dir + "/pin", "1234\n");
    testing::WriteFile(dir + "/pin-other", "2468\n");
    testing::WriteFile(dir + "/wrong-pin", "9999\n");
  }
  void Token(const std::string& label, const std::string& pin,
             const std::vector<std::pair<std::string, std::string>>& keys) {
    std::string out;
    if (testing::Run("softhsm2-util --init-token --free --label " + label + " --pin " + pin +
                         " --so-pin 87654321",
                     &out) != 0) {
      error += out;
      return;
    }
    int id = 1;
    for (const auto& [name, type] : keys) {
      if (testing::Run(std::string("pkcs11-tool --module ") + kModule + " --token-label " +
                           label + " --login --pin " + pin + " --keypairgen --key-type " + type +
                           " --label " + name + " --id 0" + std::to_string(id++),
                       &out) != 0) {
        error += out;
      }
    }
  }
};

Hsm& TheHsm() {
  static Hsm* hsm = new Hsm();
  return *hsm;
}

class Pkcs11Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kModule)) GTEST_SKIP() << "softhsm2 is not installed";
    ASSERT_TRUE(TheHsm().error.empty()) << TheHsm().error;
    dir_ = testing::TempDir();
  }
  Pkcs11KeyConfig Key(const std::string& label, const std::string& token = "hp-main",
                      const std::string& pin = "pin") {
    return {kModule, token, label, TheHsm().dir + "/" + pin};
  }
  core::Result<std::unique_ptr<CertificateAuthority>> Open(Pkcs11KeyConfig p11 = {},
                                                           bool inspect = false) {
    CaOptions o;
    o.dir = dir_ + "/ca";
    o.passphrase = core::Secret(inspect ? "" : "pass phrase");
    o.base_url = "https://ca.test";
    o.pkcs11 = std::move(p11);
    o.inspect_only = inspect;
    return CertificateAuthority::Create(std::move(o), clock_);
  }
  // Issues a leaf for a new key of `alg` and runs `openssl verify` on leaf, issuer and root.
  void IssueAndVerify(CertificateAuthority& ca, const std::string& alg,
                      const std::string& want_issuer) {
    auto key = testing::MakeKey(alg);
    std::vector<core::Identifier> ids = {{"dns", "hsm.example.test"}};
    auto csr = CheckCsr(testing::MakeCsr(key.key.get(), {"hsm.example.test"}), ids);
    ASSERT_TRUE(csr) << csr.error().detail;
    auto cert = ca.Issue({csr->der, ids, "classic", {}});
    ASSERT_TRUE(cert) << cert.error().detail;
    EXPECT_EQ(cert->issuer_id, want_issuer);
    testing::WriteFile(dir_ + "/root.pem", ca.root_pem());
    testing::WriteFile(dir_ + "/int.pem", ca.issuer(cert->issuer_id)->cert_pem);
    testing::WriteFile(dir_ + "/leaf.pem", cert->pem);
    std::string out;
    EXPECT_EQ(testing::Run("openssl verify -x509_strict -purpose sslserver -CAfile " + dir_ +
                               "/root.pem -untrusted " + dir_ + "/int.pem " + dir_ + "/leaf.pem",
                           &out),
              0)
        << out;
  }
  std::string dir_;
  core::SystemClock clock_;
};

TEST_F(Pkcs11Test, TokenKeyBecomesTheActiveIntermediateAndIssuesVerifiableLeaves) {
  auto ca = Open();
  ASSERT_TRUE(ca) << ca.error().detail;
  auto id = (*ca)->UsePkcs11Issuer(Key("issuer-ec"));
  ASSERT_TRUE(id) << id.error().detail;
  auto info = (*ca)->issuer(*id);
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->active);
  EXPECT_EQ(info->kind, LeafKeyKind::kEcdsa);
  EXPECT_EQ(info->key_type, "ECDSA P-256");
  EXPECT_NE(info->signer.find("pkcs11"), std::string::npos) << info->signer;
  EXPECT_NE(info->signer.find("token=hp-main"), std::string::npos) << info->signer;
  IssueAndVerify(**ca, "ES256", *id);
  // No private key file for it: the key never left the token, which keeps it sensitive.
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ca/issuers/" + *id + ".key"));
  std::string out;
  testing::Run(std::string("pkcs11-tool --module ") + kModule +
                   " --token-label hp-main --login --pin 1234 -O --type privkey --label issuer-ec",
               &out);
  EXPECT_NE(out.find("never extractable"), std::string::npos) << out;
  EXPECT_NE(out.find("sensitive"), std::string::npos) << out;

  // A restart loads the token key from issuers/<id>.pkcs11.json (no config needed) ...
  ca->reset();
  auto again = Open();
  ASSERT_TRUE(again) << again.error().detail;
  EXPECT_TRUE((*again)->issuer(*id)->active);
  IssueAndVerify(**again, "ES256", *id);
  // ... and using the same key again reuses its intermediate.
  auto same = (*again)->UsePkcs11Issuer(Key("issuer-ec"));
  ASSERT_TRUE(same);
  EXPECT_EQ(*same, *id);
  // Its CRL is signed on the token too.
  auto crl = (*again)->SignCrl(*id, 1, {}, std::chrono::hours(24));
  ASSERT_TRUE(crl) << crl.error().detail;
  testing::WriteFile(dir_ + "/crl.der", *crl);
  EXPECT_EQ(testing::Run("openssl crl -inform DER -in " + dir_ + "/crl.der -noout -CAfile " +
                             dir_ + "/int.pem",
                         &out),
            0)
      << out;
  // Rotating back to a file key works and leaves the token intermediate in the hierarchy.
  auto rotated = (*again)->RotateIssuer(LeafKeyKind::kEcdsa);
  ASSERT_TRUE(rotated);
  EXPECT_FALSE((*again)->issuer(*id)->active);
  IssueAndVerify(**again, "ES256", *rotated);
}

TEST_F(Pkcs11Test, ConfigKeysSelectTheTokenKeyAtStartUp) {
  auto ca = Open(Key("issuer-rsa"));
  ASSERT_TRUE(ca) << ca.error().detail;
  std::string rsa_id;
  for (const auto& i : (*ca)->issuers()) {
    if (i.active && i.kind == LeafKeyKind::kRsa) rsa_id = i.id;
  }
  ASSERT_FALSE(rsa_id.empty());
  EXPECT_NE((*ca)->issuer(rsa_id)->signer.find("issuer-rsa"), std::string::npos);
  EXPECT_EQ((*ca)->issuer(rsa_id)->key_type, "RSA 2048");
  IssueAndVerify(**ca, "RS256", rsa_id);
  // ECDSA leaves still come from a file-backed intermediate.
  for (const auto& i : (*ca)->issuers()) {
    if (i.active && i.kind == LeafKeyKind::kEcdsa) {
      EXPECT_NE(i.signer.find("file"), std::string::npos);
    }
  }
}

TEST_F(Pkcs11Test, P384TokenKeyWorks) {
  auto ca = Open();
  ASSERT_TRUE(ca) << ca.error().detail;
  auto id = (*ca)->UsePkcs11Issuer(Key("issuer-p384"));
  ASSERT_TRUE(id) << id.error().detail;
  EXPECT_EQ((*ca)->issuer(*id)->key_type, "ECDSA P-384");
  IssueAndVerify(**ca, "ES256", *id);
}

TEST_F(Pkcs11Test, WrongPinIsAClearErrorNamingTheConfigKey) {
  auto ca = Open();
  ASSERT_TRUE(ca);
  auto r = (*ca)->UsePkcs11Issuer(Key("k", "hp-other", "wrong-pin"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("wrong PIN"), std::string::npos) << r.error().detail;
  EXPECT_NE(r.error().detail.find("acme.ca.pkcs11.pin_file"), std::string::npos)
      << r.error().detail;
  EXPECT_EQ(r.error().field, "acme.ca.pkcs11.pin_file");
  // At start-up the same mistake stops the CA from opening.
  ca->reset();
  auto bad = Open(Key("k", "hp-other", "wrong-pin"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().detail.find("acme.ca.pkcs11.pin_file"), std::string::npos);
}

TEST_F(Pkcs11Test, MissingKeyTokenModuleOrPinFileNameTheirConfigKeys) {
  auto ca = Open();
  ASSERT_TRUE(ca);
  auto missing = (*ca)->UsePkcs11Issuer(Key("no-such-key"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().detail.find("acme.ca.pkcs11.key_label"), std::string::npos)
      << missing.error().detail;
  EXPECT_NE(missing.error().detail.find("no-such-key"), std::string::npos);

  auto no_token = (*ca)->UsePkcs11Issuer(Key("issuer-ec", "no-such-token"));
  ASSERT_FALSE(no_token);
  EXPECT_NE(no_token.error().detail.find("acme.ca.pkcs11.token"), std::string::npos);

  Pkcs11KeyConfig bad_module = Key("issuer-ec");
  bad_module.module = "/nonexistent/libpkcs11.so";
  auto m = (*ca)->UsePkcs11Issuer(bad_module);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().detail.find("acme.ca.pkcs11.module"), std::string::npos);

  auto no_pin = (*ca)->UsePkcs11Issuer(Key("issuer-ec", "hp-main", "no-such-pin-file"));
  ASSERT_FALSE(no_pin);
  EXPECT_EQ(no_pin.error().field, "acme.ca.pkcs11.pin_file");
  // Nothing changed: ECDSA leaves still come from the file intermediate.
  for (const auto& i : (*ca)->issuers()) {
    if (i.active) {
      EXPECT_NE(i.signer.find("file"), std::string::npos);
    }
  }
}

TEST_F(Pkcs11Test, InspectOnlyNeedsNeitherPassphraseNorPin) {
  {
    auto ca = Open();
    ASSERT_TRUE(ca);
    ASSERT_TRUE((*ca)->UsePkcs11Issuer(Key("issuer-ec")));
  }
  auto ro = Open({}, true);
  ASSERT_TRUE(ro) << ro.error().detail;
  EXPECT_EQ((*ro)->root().key_type, "ECDSA P-384");
  EXPECT_EQ((*ro)->root().sha256_fingerprint.size(), 32u * 3 - 1);
  int pkcs11 = 0;
  for (const auto& i : (*ro)->issuers()) pkcs11 += i.signer.find("pkcs11") != std::string::npos;
  EXPECT_EQ(pkcs11, 1);
  auto key = testing::MakeKey("ES256");
  auto r = (*ro)->Issue({testing::MakeCsr(key.key.get(), {"a.test"}), {{"dns", "a.test"}},
                         "classic", {}});
  EXPECT_FALSE(r);
  EXPECT_FALSE((*ro)->RotateIssuer(LeafKeyKind::kEcdsa));
  // Inspecting a directory without a CA says so instead of creating one.
  dir_ = testing::TempDir();
  auto none = Open({}, true);
  ASSERT_FALSE(none);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ca/root.key"));
}

}  // namespace
}  // namespace hp::acme
