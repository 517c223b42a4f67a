// The CA: hierarchy on disk, BR DV leaf issuance with pre-issuance lint, CRL signing.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <mutex>
#include <shared_mutex>
#include <sstream>

#include "ca/names.h"
#include "hp/acme/ca.h"
#include "hp/acme/lint.h"
#include "hp/core/encoding.h"
#include "hp/core/json.h"
#include "hp/core/log.h"
#include "hp/core/random.h"

namespace hp::acme {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Fail;
using core::Result;
using core::Status;

class OpenSslSigner final : public Signer {
 public:
  explicit OpenSslSigner(core::ossl::PKey key) : key_(std::move(key)) {}
  Status SignCertificate(X509* cert) override {
    if (X509_sign(cert, key_.get(), Digest()) <= 0) {
      return Fail(core::ossl::LastError(ErrorCode::kInternal, "X509_sign"));
    }
    return core::Ok();
  }
  Status SignCrl(X509_CRL* crl) override {
    if (X509_CRL_sign(crl, key_.get(), Digest()) <= 0) {
      return Fail(core::ossl::LastError(ErrorCode::kInternal, "X509_CRL_sign"));
    }
    return core::Ok();
  }
  EVP_PKEY* public_key() const override { return key_.get(); }

 private:
  const EVP_MD* Digest() const {
    return EVP_PKEY_get_bits(key_.get()) == 384 ? EVP_sha384() : EVP_sha256();
  }
  core::ossl::PKey key_;
};

Result<std::string> ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Fail(ErrorCode::kUnavailable, "cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status WriteFileAtomic(const fs::path& p, const std::string& data, bool secret) {
  fs::path tmp = p;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Fail(ErrorCode::kUnavailable, "cannot write " + tmp.string());
    out << data;
    if (!out.flush()) return Fail(ErrorCode::kUnavailable, "cannot write " + tmp.string());
  }
  if (secret) ::chmod(tmp.c_str(), 0600);
  std::error_code ec;
  fs::rename(tmp, p, ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "cannot rename " + tmp.string() + ": " + ec.message());
  return core::Ok();
}

Result<core::ossl::X509Ext> MakeExt(X509V3_CTX* ctx, int nid, const std::string& value) {
  core::ossl::X509Ext ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext) return Fail(core::ossl::LastError(ErrorCode::kInternal, "extension " + value));
  return ext;
}

// certificatePolicies with the single DV policy OID (nconf cannot do it without a config db).
Result<core::ossl::X509Ext> DvPolicyExt() {
  CERTIFICATEPOLICIES* pols = CERTIFICATEPOLICIES_new();
  POLICYINFO* pi = POLICYINFO_new();
  ASN1_OBJECT_free(pi->policyid);
  pi->policyid = OBJ_txt2obj("2.23.140.1.2.1", 1);
  sk_POLICYINFO_push(pols, pi);
  core::ossl::X509Ext ext(X509V3_EXT_i2d(NID_certificate_policies, 0, pols));
  CERTIFICATEPOLICIES_free(pols);
  if (!ext) return Fail(core::ossl::LastError(ErrorCode::kInternal, "certificatePolicies"));
  return ext;
}

Status AddExt(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  core::ossl::X509Ext ext;
  if (nid == NID_certificate_policies) {
    HP_ASSIGN_OR_RETURN(ext, DvPolicyExt());
  } else {
    HP_ASSIGN_OR_RETURN(ext, MakeExt(ctx, nid, value));
  }
  if (X509_add_ext(cert, ext.get(), -1) != 1) {
    return Fail(core::ossl::LastError(ErrorCode::kInternal, "X509_add_ext"));
  }
  return core::Ok();
}

Status SetRandomSerial(X509* cert) {
  // 128 bits from the CSPRNG (BR 7.1: >= 64); DER adds a zero octet when the top bit is set.
  auto bytes = core::RandomBytes(16);
  core::ossl::BigNum bn(BN_bin2bn(bytes.data(), 16, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) {
    return Fail(core::ossl::LastError(ErrorCode::kInternal, "serial"));
  }
  return core::Ok();
}

Status SetValidity(X509* cert, core::TimePoint nb, core::TimePoint na) {
  if (!ASN1_TIME_set(X509_getm_notBefore(cert), static_cast<time_t>(core::ToUnixSeconds(nb))) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert), static_cast<time_t>(core::ToUnixSeconds(na)))) {
    return Fail(core::ossl::LastError(ErrorCode::kInternal, "validity"));
  }
  return core::Ok();
}

core::ossl::X509Name MakeName(const std::string& cn, const std::string& org) {
  core::ossl::X509Name name(X509_NAME_new());
  X509_NAME_add_entry_by_txt(name.get(), "C", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("JP"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name.get(), "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return name;
}

std::string SerialHex(const ASN1_INTEGER* serial) {
  core::ossl::BigNum bn(ASN1_INTEGER_to_BN(serial, nullptr));
  char* hex = BN_bn2hex(bn.get());
  std::string s(hex);
  OPENSSL_free(hex);
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Gives `cert` the CSR's SubjectPublicKeyInfo (`spki`, as CheckCsr kept it) by copying its algorithm and key bits.
// X509_set_pubkey would encode the key and decode it again (two slow provider round trips in
// OpenSSL 3); the bytes are the same. The certificate then has no decoded key object
// (X509_get0_pubkey is null): callers use `key`.
Status CopySpki(X509_PUBKEY* spki, EVP_PKEY* key, X509* cert) {
  ASN1_OBJECT* alg = nullptr;
  const unsigned char* bits = nullptr;
  int len = 0;
  X509_ALGOR* algor = nullptr;
  if (X509_PUBKEY_get0_param(&alg, &bits, &len, &algor, spki) == 1 &&
      algor && len > 0) {
    const ASN1_OBJECT* obj = nullptr;
    int ptype = 0;
    const void* pval = nullptr;
    X509_ALGOR_get0(&obj, &ptype, &pval, algor);
    void* param = nullptr;
    bool ok = true;
    if (ptype == V_ASN1_OBJECT) {
      param = OBJ_dup(static_cast<const ASN1_OBJECT*>(pval));
    } else if (ptype == V_ASN1_SEQUENCE) {
      param = ASN1_STRING_dup(static_cast<const ASN1_STRING*>(pval));
    } else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) {
      ok = false;
    }
    if (ok) {
      auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(bits, static_cast<size_t>(len)));
      if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), OBJ_dup(alg), ptype, param, copy,
                                 len) == 1) {
        return core::Ok();
      }
      OPENSSL_free(copy);
    }
    core::ossl::DrainErrors();
  }
  if (X509_set_pubkey(cert, key) != 1) {
    return Fail(core::ossl::LastError(ErrorCode::kInternal, "X509_set_pubkey"));
  }
  return core::Ok();
}

std::string KeyType(EVP_PKEY* key) {
  if (!key) return "?";
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
    return "RSA " + std::to_string(EVP_PKEY_get_bits(key));
  }
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
    char group[64] = {0};
    size_t len = 0;
    EVP_PKEY_get_group_name(key, group, sizeof group, &len);
    const std::string g(group);
    if (g == "prime256v1") return "ECDSA P-256";
    if (g == "secp384r1") return "ECDSA P-384";
    return "ECDSA " + g;
  }
  return OBJ_nid2sn(EVP_PKEY_get_base_id(key));
}

// Fills the descriptive fields of `info` from the certificate.
void Describe(X509* cert, IssuerInfo& info) {
  struct tm tm {};
  ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm);
  info.not_before = core::FromUnixSeconds(static_cast<int64_t>(timegm(&tm)));
  tm = {};
  ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm);
  info.not_after = core::FromUnixSeconds(static_cast<int64_t>(timegm(&tm)));
  core::ossl::Bio bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* p = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &p);
  info.subject.assign(p, static_cast<size_t>(n));
  info.key_type = KeyType(X509_get0_pubkey(cert));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  static const char* kHex = "0123456789ABCDEF";
  info.sha256_fingerprint.clear();
  for (unsigned int i = 0; i < len; ++i) {
    if (i) info.sha256_fingerprint += ':';
    info.sha256_fingerprint += kHex[md[i] >> 4];
    info.sha256_fingerprint += kHex[md[i] & 0xf];
  }
}

Result<Pkcs11KeyConfig> ReadPkcs11Json(const fs::path& p) {
  HP_ASSIGN_OR_RETURN(std::string text, ReadFile(p));
  auto j = core::ParseJsonObject(text);
  if (!j) return Fail(ErrorCode::kUnavailable, p.string() + " is damaged");
  Pkcs11KeyConfig c;
  c.module = j->value("module", "");
  c.token = j->value("token", "");
  c.key_label = j->value("key_label", "");
  c.pin_file = j->value("pin_file", "");
  return c;
}

std::string Pkcs11Json(const Pkcs11KeyConfig& c) {
  core::Json j = {{"module", c.module}, {"token", c.token}, {"key_label", c.key_label},
                  {"pin_file", c.pin_file}};
  return j.dump(2) + "\n";
}

struct Issuer {
  IssuerInfo info;
  core::ossl::X509Ptr cert;
  std::unique_ptr<Signer> signer;  // null in inspect-only mode or when its token is unusable
  std::string signer_error;        // why signer is null
  // Extensions every leaf of this issuer carries, encoded once.
  std::vector<core::ossl::X509Ext> static_exts;
  core::ossl::X509Ext ku_ecdsa, ku_rsa;
};

class OpenSslAuthority final : public CertificateAuthority {
 public:
  OpenSslAuthority(CaOptions options, const core::Clock& clock)
      : options_(std::move(options)), clock_(clock) {}

  Status Init() {
    std::error_code ec;
    fs::create_directories(fs::path(options_.dir) / "issuers", ec);
    if (ec) return Fail(ErrorCode::kUnavailable, "cannot create " + options_.dir);
    ::chmod(options_.dir.c_str(), 0700);
    const fs::path root_key = fs::path(options_.dir) / "root.key";
    const fs::path root_pem = fs::path(options_.dir) / "root.pem";
    if (!fs::exists(root_key)) {
      if (options_.inspect_only) {
        return Fail(ErrorCode::kNotFound, "no CA hierarchy under " + options_.dir +
                                              " (hostplane serve creates it on first start)");
      }
      HP_TRY(CreateRoot(root_key, root_pem));
    }
    if (!options_.inspect_only) {
      HP_ASSIGN_OR_RETURN(std::string rk, ReadFile(root_key));
      auto key = core::ossl::ReadPrivateKeyPem(rk, options_.passphrase.Reveal());
      if (!key) {
        return Fail(ErrorCode::kUnavailable,
                    "cannot decrypt " + root_key.string() + " (wrong passphrase?)");
      }
      root_signer_ = NewOpenSslSigner(std::move(*key));
    }
    HP_ASSIGN_OR_RETURN(root_pem_, ReadFile(root_pem));
    HP_ASSIGN_OR_RETURN(root_, core::ossl::ReadCertificatePem(root_pem_));
    root_info_.id = "root";
    root_info_.kind = LeafKeyKind::kEcdsa;
    root_info_.cert_pem = root_pem_;
    Describe(root_.get(), root_info_);
    root_info_.signer = "file root.key (AES-256 encrypted PKCS#8)";
    HP_TRY(LoadAlternateRoot());
    HP_TRY(LoadState());
    if (options_.inspect_only) return core::Ok();
    if (!options_.pkcs11.empty()) HP_TRY(UsePkcs11IssuerLocked(options_.pkcs11));
    for (LeafKeyKind kind : {LeafKeyKind::kEcdsa, LeafKeyKind::kRsa}) {
      if (!active_.count(kind)) HP_TRY(RotateIssuerLocked(kind));
    }
    return core::Ok();
  }

  Result<IssuedCertificate> Issue(const IssueRequest& req) override {
    const CertProfile* profile = FindProfile(req.profile);
    if (!profile) {
      return Fail(ErrorCode::kAcmeInvalidProfile, "unknown profile \"" + req.profile + "\"");
    }
    if (req.identifiers.empty()) return Fail(ErrorCode::kInternal, "no identifiers");
    core::ossl::X509Req parsed;
    const bool checked = req.csr_key && req.csr_spki;
    EVP_PKEY* key = checked ? req.csr_key : nullptr;
    if (!checked) {
      const unsigned char* p = reinterpret_cast<const unsigned char*>(req.csr_der.data());
      parsed.reset(d2i_X509_REQ(nullptr, &p, static_cast<long>(req.csr_der.size())));
      if (!parsed) return Fail(ErrorCode::kAcmeBadCsr, "CSR is not DER");
      key = X509_REQ_get0_pubkey(parsed.get());
    }
    if (!key) return Fail(ErrorCode::kAcmeBadCsr, "CSR has no key");
    const bool rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;

    std::shared_lock lock(mu_);
    const Issuer& iss = *issuers_.at(active_.at(rsa ? LeafKeyKind::kRsa : LeafKeyKind::kEcdsa));
    const core::TimePoint now = clock_.Now();
    const core::TimePoint nb = std::chrono::time_point_cast<std::chrono::seconds>(
        req.not_before.time_since_epoch().count() != 0 ? req.not_before : now - options_.backdate);
    const core::TimePoint na = nb + profile->validity - std::chrono::seconds(1);

    core::ossl::X509Ptr cert(X509_new());
    X509_set_version(cert.get(), X509_VERSION_3);
    HP_TRY(SetRandomSerial(cert.get()));
    X509_set_issuer_name(cert.get(), X509_get_subject_name(iss.cert.get()));
    HP_TRY(SetValidity(cert.get(), nb, na));
    if (checked) {
      HP_TRY(CopySpki(req.csr_spki, key, cert.get()));  // lint then checks it against the CSR's bytes
    } else if (X509_set_pubkey(cert.get(), key) != 1) {
      return Fail(core::ossl::LastError(ErrorCode::kInternal, "X509_set_pubkey"));
    }

    // Subject: CN = the first DNS name when it fits, else empty (SAN then critical).
    std::string cn;
    for (const auto& id : req.identifiers) {
      if (id.type == "dns" && id.value.size() <= 64) {
        cn = id.value;
        break;
      }
    }
    if (!cn.empty()) {
      X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    }
    // SAN built from GENERAL_NAMEs, never from a config string.
    core::ossl::GeneralNames gens(sk_GENERAL_NAME_new_null());
    for (const auto& id : req.identifiers) {
      GENERAL_NAME* gn = GENERAL_NAME_new();
      if (id.type == "dns") {
        ASN1_IA5STRING* s = ASN1_IA5STRING_new();
        ASN1_STRING_set(s, id.value.data(), static_cast<int>(id.value.size()));
        GENERAL_NAME_set0_value(gn, GEN_DNS, s);
      } else {
        auto bytes = IpTextToBytes(id.value);
        if (!bytes) {
          GENERAL_NAME_free(gn);
          return Fail(ErrorCode::kInternal, "bad IP identifier " + id.value);
        }
        ASN1_OCTET_STRING* s = ASN1_OCTET_STRING_new();
        ASN1_OCTET_STRING_set(s, reinterpret_cast<const unsigned char*>(bytes->data()),
                              static_cast<int>(bytes->size()));
        GENERAL_NAME_set0_value(gn, GEN_IPADD, s);
      }
      sk_GENERAL_NAME_push(gens.get(), gn);
    }
    if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, gens.get(), cn.empty() ? 1 : 0,
                          X509V3_ADD_DEFAULT) != 1) {
      return Fail(core::ossl::LastError(ErrorCode::kInternal, "SAN"));
    }
    X509_add_ext(cert.get(), rsa ? iss.ku_rsa.get() : iss.ku_ecdsa.get(), -1);
    for (const auto& ext : iss.static_exts) X509_add_ext(cert.get(), ext.get(), -1);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, iss.cert.get(), cert.get(), nullptr, nullptr, 0);
    HP_TRY(AddExt(cert.get(), &ctx, NID_subject_key_identifier, "hash"));

    LintPolicy policy{iss.cert.get(), req.identifiers, profile->validity, now,
                      iss.info.crl_url, iss.info.ca_issuers_url};
    if (checked) {  // by CheckCsr: lint compares bytes instead of decoding the key again
      policy.subject_key = key;
      policy.subject_spki = req.csr_spki;
    }
    auto violations = LintLeaf(cert.get(), policy);
    if (!violations.empty()) {
      std::string all;
      for (const auto& v : violations) all += (all.empty() ? "" : "; ") + v;
      core::log::Error("pre-issuance lint refused a certificate", {{"violations", all}});
      return Fail(ErrorCode::kInternal, "pre-issuance lint: " + all);
    }
    if (!iss.signer) return Fail(NoSigner(iss));
    HP_TRY(iss.signer->SignCertificate(cert.get()));

    IssuedCertificate out;
    out.serial_hex = SerialHex(X509_get0_serialNumber(cert.get()));
    HP_ASSIGN_OR_RETURN(out.der, core::ossl::CertificateToDer(cert.get()));
    HP_ASSIGN_OR_RETURN(out.pem, core::ossl::CertificateToPem(cert.get()));
    out.issuer_id = iss.info.id;
    out.aki = iss.info.ski;
    const ASN1_INTEGER* sn = X509_get0_serialNumber(cert.get());
    out.serial_der = std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(sn)),
                                 static_cast<size_t>(ASN1_STRING_length(sn)));
    if (!req.spki_sha256.empty()) {
      out.spki_sha256 = req.spki_sha256;
    } else {
      HP_ASSIGN_OR_RETURN(out.spki_sha256, SpkiSha256Hex(key));
    }
    out.not_before = nb;
    out.not_after = na;
    return out;
  }

  Result<std::string> SignCrl(const std::string& issuer_id, int64_t number,
                              const std::vector<RevokedEntry>& revoked,
                              core::Duration validity) override {
    std::shared_lock lock(mu_);
    auto it = issuers_.find(issuer_id);
    if (it == issuers_.end()) return Fail(ErrorCode::kNotFound, "unknown issuer " + issuer_id);
    const Issuer& iss = *it->second;
    core::ossl::X509Crl crl(X509_CRL_new());
    X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2);
    X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(iss.cert.get()));
    const core::TimePoint now = clock_.Now();
    core::ossl::Asn1Time tu(ASN1_TIME_set(nullptr, static_cast<time_t>(core::ToUnixSeconds(now))));
    core::ossl::Asn1Time nu(ASN1_TIME_set(
        nullptr, static_cast<time_t>(core::ToUnixSeconds(now + validity))));
    X509_CRL_set1_lastUpdate(crl.get(), tu.get());
    X509_CRL_set1_nextUpdate(crl.get(), nu.get());
    for (const auto& r : revoked) {
      X509_REVOKED* rv = X509_REVOKED_new();
      BIGNUM* bn = nullptr;
      if (!BN_hex2bn(&bn, r.serial_hex.c_str())) {
        X509_REVOKED_free(rv);
        return Fail(ErrorCode::kInternal, "bad serial " + r.serial_hex);
      }
      core::ossl::BigNum owned(bn);
      core::ossl::Asn1Integer ai(BN_to_ASN1_INTEGER(bn, nullptr));
      X509_REVOKED_set_serialNumber(rv, ai.get());
      core::ossl::Asn1Time rt(
          ASN1_TIME_set(nullptr, static_cast<time_t>(core::ToUnixSeconds(r.revoked_at))));
      X509_REVOKED_set_revocationDate(rv, rt.get());
      if (r.reason != 0) {
        ASN1_ENUMERATED* e = ASN1_ENUMERATED_new();
        ASN1_ENUMERATED_set(e, r.reason);
        X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, e, 0, 0);
        ASN1_ENUMERATED_free(e);
      }
      X509_CRL_add0_revoked(crl.get(), rv);
    }
    X509_CRL_sort(crl.get());
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, iss.cert.get(), nullptr, nullptr, crl.get(), 0);
    HP_ASSIGN_OR_RETURN(auto aki, MakeExt(&ctx, NID_authority_key_identifier, "keyid:always"));
    X509_CRL_add_ext(crl.get(), aki.get(), -1);
    core::ossl::Asn1Integer num(ASN1_INTEGER_new());
    ASN1_INTEGER_set_int64(num.get(), number);
    X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, num.get(), 0, 0);
    if (!iss.signer) return Fail(NoSigner(iss));
    HP_TRY(iss.signer->SignCrl(crl.get()));
    unsigned char* der = nullptr;
    int len = i2d_X509_CRL(crl.get(), &der);
    if (len <= 0) return Fail(core::ossl::LastError(ErrorCode::kInternal, "i2d_X509_CRL"));
    std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
    return out;
  }

  std::string root_pem() const override { return root_pem_; }

  Result<std::string> AlternateChainTail(const std::string& issuer_id, size_t n) const override {
    HP_TRY(issuer(issuer_id));
    if (n >= alternate_chain_count(issuer_id)) {
      return Fail(ErrorCode::kNotFound, "no alternate chain " + std::to_string(n));
    }
    return cross_x1_pem_;
  }
  size_t alternate_chain_count(const std::string&) const override {
    return cross_x1_pem_.empty() ? 0 : 1;
  }
  std::string alternate_root_pem() const override { return alt_root_pem_; }
  IssuerInfo root() const override { return root_info_; }

  std::vector<IssuerInfo> issuers() const override {
    std::shared_lock lock(mu_);
    std::vector<IssuerInfo> out;
    for (const auto& [id, iss] : issuers_) out.push_back(iss->info);
    return out;
  }

  Result<IssuerInfo> issuer(const std::string& id) const override {
    std::shared_lock lock(mu_);
    auto it = issuers_.find(id);
    if (it == issuers_.end()) return Fail(ErrorCode::kNotFound, "unknown issuer " + id);
    return it->second->info;
  }

  const std::vector<CertProfile>& profiles() const override { return options_.profiles; }

  Result<std::string> RotateIssuer(LeafKeyKind kind) override {
    std::unique_lock lock(mu_);
    HP_TRY(Writable());
    HP_TRY(RotateIssuerLocked(kind));
    return active_.at(kind);
  }

  Result<std::string> UsePkcs11Issuer(const Pkcs11KeyConfig& config) override {
    std::unique_lock lock(mu_);
    HP_TRY(Writable());
    HP_TRY(UsePkcs11IssuerLocked(config));
    return last_pkcs11_id_;
  }

 private:
  Status Writable() const {
    if (options_.inspect_only || !root_signer_) {
      return Fail(ErrorCode::kConflict, "the CA was opened for inspection only");
    }
    return core::Ok();
  }

  static core::Error NoSigner(const Issuer& iss) {
    return core::Error(ErrorCode::kUnavailable,
                       "the key of issuer " + iss.info.id + " is not available" +
                           (iss.signer_error.empty() ? "" : ": " + iss.signer_error));
  }

  Status UsePkcs11IssuerLocked(const Pkcs11KeyConfig& config) {
    HP_ASSIGN_OR_RETURN(auto signer, NewPkcs11Signer(config));
    EVP_PKEY* pub = signer->public_key();
    const bool rsa = EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA;
    if (rsa ? EVP_PKEY_get_bits(pub) < 2048
            : (KeyType(pub) != "ECDSA P-256" && KeyType(pub) != "ECDSA P-384")) {
      return Fail(core::Error(ErrorCode::kInvalidArgument,
                              "the token key '" + config.key_label + "' is " + KeyType(pub) +
                                  "; an intermediate needs ECDSA P-256/P-384 or RSA >= 2048 "
                                  "(config key 'acme.ca.pkcs11.key_label')")
                      .WithField("acme.ca.pkcs11.key_label"));
    }
    const LeafKeyKind kind = rsa ? LeafKeyKind::kRsa : LeafKeyKind::kEcdsa;
    const fs::path dir = fs::path(options_.dir) / "issuers";
    std::string id;
    for (auto& [iid, iss] : issuers_) {
      if (EVP_PKEY_eq(X509_get0_pubkey(iss->cert.get()), pub) == 1) id = iid;
    }
    if (id.empty()) {
      id = (rsa ? "r" : "e") + std::to_string(next_serial_++);
      HP_ASSIGN_OR_RETURN(std::string cp, CertifyIntermediate(id, rsa, pub));
      HP_TRY(WriteFileAtomic(dir / (id + ".pem"), cp, false));
      core::log::Info("created CA intermediate on a PKCS#11 token",
                      {{"id", id}, {"token", config.token}, {"key", config.key_label}});
    }
    // Remember where the key is (module, token, label, PIN file: never the PIN itself).
    HP_TRY(WriteFileAtomic(dir / (id + ".pkcs11.json"), Pkcs11Json(config), false));
    issuers_.erase(id);
    HP_TRY(LoadIssuer(id, std::move(signer)));
    if (active_.count(kind)) issuers_[active_[kind]]->info.active = false;
    active_[kind] = id;
    issuers_[id]->info.active = true;
    last_pkcs11_id_ = id;
    return SaveState();
  }
  const CertProfile* FindProfile(const std::string& name) const {
    for (const auto& p : options_.profiles) {
      if (p.name == name) return &p;
    }
    return nullptr;
  }

  fs::path StatePath() const { return fs::path(options_.dir) / "state.json"; }

  Status LoadState() {
    if (!fs::exists(StatePath())) return core::Ok();
    HP_ASSIGN_OR_RETURN(std::string text, ReadFile(StatePath()));
    auto j = core::ParseJsonObject(text);
    if (!j) return Fail(ErrorCode::kUnavailable, StatePath().string() + " is damaged");
    next_serial_ = j->value("next", 1);
    std::set<std::string> active_ids;
    for (const char* name : {"ecdsa", "rsa"}) {
      active_ids.insert((*j)["active"].value(name, std::string()));
    }
    for (const auto& id : j->value("issuers", core::Json::array())) {
      const std::string sid = id.get<std::string>();
      HP_TRY(LoadIssuer(sid, nullptr, active_ids.count(sid) > 0));
    }
    for (auto [kind, name] : {std::pair{LeafKeyKind::kEcdsa, "ecdsa"},
                              std::pair{LeafKeyKind::kRsa, "rsa"}}) {
      auto a = (*j)["active"].value(name, std::string());
      if (!a.empty() && issuers_.count(a)) {
        active_[kind] = a;
        issuers_[a]->info.active = true;
      }
    }
    return core::Ok();
  }

  Status SaveState() {
    core::Json j = {{"next", next_serial_}, {"issuers", core::Json::array()},
                    {"active", core::Json::object()}};
    for (const auto& [id, iss] : issuers_) j["issuers"].push_back(id);
    if (active_.count(LeafKeyKind::kEcdsa)) j["active"]["ecdsa"] = active_[LeafKeyKind::kEcdsa];
    if (active_.count(LeafKeyKind::kRsa)) j["active"]["rsa"] = active_[LeafKeyKind::kRsa];
    return WriteFileAtomic(StatePath(), j.dump(2) + "\n", false);
  }

  Status CreateRoot(const fs::path& key_path, const fs::path& pem_path) {
    HP_ASSIGN_OR_RETURN(auto key, core::ossl::GenerateEcKey("P-384"));
    core::ossl::X509Ptr cert(X509_new());
    X509_set_version(cert.get(), X509_VERSION_3);
    HP_TRY(SetRandomSerial(cert.get()));
    auto name = MakeName(options_.organization + " Root X1", options_.organization);
    X509_set_subject_name(cert.get(), name.get());
    X509_set_issuer_name(cert.get(), name.get());
    const auto now = clock_.Now();
    HP_TRY(SetValidity(cert.get(), now - std::chrono::hours(1),
                       now + std::chrono::hours(24 * 365 * 20)));
    X509_set_pubkey(cert.get(), key.get());
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    HP_TRY(AddExt(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE"));
    HP_TRY(AddExt(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
    HP_TRY(AddExt(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
    if (X509_sign(cert.get(), key.get(), EVP_sha384()) <= 0) {
      return Fail(core::ossl::LastError(ErrorCode::kInternal, "root sign"));
    }
    HP_ASSIGN_OR_RETURN(std::string kp, core::ossl::PrivateKeyToPem(key.get(),
                                                                    options_.passphrase.Reveal()));
    HP_ASSIGN_OR_RETURN(std::string cp, core::ossl::CertificateToPem(cert.get()));
    HP_TRY(WriteFileAtomic(pem_path, cp, false));
    HP_TRY(WriteFileAtomic(key_path, kp, true));
    core::log::Info("created CA root", {{"path", pem_path.string()}});
    return core::Ok();
  }

  // Root R1 (RSA 4096, self-signed) and Root X1 certified by it, created once next to root.pem
  // (also for hierarchies created before alternate chains existed).
  Status LoadAlternateRoot() {
    const fs::path dir(options_.dir);
    if (!fs::exists(dir / "cross-x1.pem")) {
      if (options_.inspect_only) return core::Ok();
      HP_ASSIGN_OR_RETURN(auto key, core::ossl::GenerateRsaKey(4096));
      core::ossl::X509Ptr r1(X509_new());
      X509_set_version(r1.get(), X509_VERSION_3);
      HP_TRY(SetRandomSerial(r1.get()));
      auto name = MakeName(options_.organization + " Root R1", options_.organization);
      X509_set_subject_name(r1.get(), name.get());
      X509_set_issuer_name(r1.get(), name.get());
      const auto now = clock_.Now();
      HP_TRY(SetValidity(r1.get(), now - std::chrono::hours(1),
                         now + std::chrono::hours(24 * 365 * 20)));
      X509_set_pubkey(r1.get(), key.get());
      X509V3_CTX ctx;
      X509V3_set_ctx(&ctx, r1.get(), r1.get(), nullptr, nullptr, 0);
      HP_TRY(AddExt(r1.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE"));
      HP_TRY(AddExt(r1.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
      HP_TRY(AddExt(r1.get(), &ctx, NID_subject_key_identifier, "hash"));
      if (X509_sign(r1.get(), key.get(), EVP_sha256()) <= 0) {
        return Fail(core::ossl::LastError(ErrorCode::kInternal, "alternate root sign"));
      }
      // Root X1's subject and key, issued by R1: the link from X1's intermediates to R1.
      core::ossl::X509Ptr cross(X509_new());
      X509_set_version(cross.get(), X509_VERSION_3);
      HP_TRY(SetRandomSerial(cross.get()));
      X509_set_subject_name(cross.get(), X509_get_subject_name(root_.get()));
      X509_set_issuer_name(cross.get(), name.get());
      HP_TRY(SetValidity(cross.get(), now - std::chrono::hours(1),
                         now + std::chrono::hours(24 * 365 * 10)));
      X509_set_pubkey(cross.get(), X509_get0_pubkey(root_.get()));
      X509V3_set_ctx(&ctx, r1.get(), cross.get(), nullptr, nullptr, 0);
      HP_TRY(AddExt(cross.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE"));
      HP_TRY(AddExt(cross.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
      HP_TRY(AddExt(cross.get(), &ctx, NID_subject_key_identifier, "hash"));
      HP_TRY(AddExt(cross.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
      if (X509_sign(cross.get(), key.get(), EVP_sha256()) <= 0) {
        return Fail(core::ossl::LastError(ErrorCode::kInternal, "cross-certificate sign"));
      }
      HP_ASSIGN_OR_RETURN(std::string kp, core::ossl::PrivateKeyToPem(
                                              key.get(), options_.passphrase.Reveal()));
      HP_ASSIGN_OR_RETURN(std::string rp, core::ossl::CertificateToPem(r1.get()));
      HP_ASSIGN_OR_RETURN(std::string xp, core::ossl::CertificateToPem(cross.get()));
      HP_TRY(WriteFileAtomic(dir / "alt-root.key", kp, true));
      HP_TRY(WriteFileAtomic(dir / "alt-root.pem", rp, false));
      HP_TRY(WriteFileAtomic(dir / "cross-x1.pem", xp, false));  // last: marks completion
      core::log::Info("created CA alternate root and cross-certificate",
                      {{"path", (dir / "alt-root.pem").string()}});
    }
    HP_ASSIGN_OR_RETURN(alt_root_pem_, ReadFile(dir / "alt-root.pem"));
    HP_ASSIGN_OR_RETURN(cross_x1_pem_, ReadFile(dir / "cross-x1.pem"));
    return core::Ok();
  }

  // A CA certificate for `pub`, signed by the root (PEM).
  Result<std::string> CertifyIntermediate(const std::string& id, bool rsa, EVP_PKEY* pub) {
    core::ossl::X509Ptr cert(X509_new());
    X509_set_version(cert.get(), X509_VERSION_3);
    HP_TRY(SetRandomSerial(cert.get()));
    auto name = MakeName(options_.organization + (rsa ? " RSA " : " ECDSA ") + id,
                         options_.organization);
    X509_set_subject_name(cert.get(), name.get());
    X509_set_issuer_name(cert.get(), X509_get_subject_name(root_.get()));
    const auto now = clock_.Now();
    HP_TRY(SetValidity(cert.get(), now - std::chrono::hours(1),
                       now + std::chrono::hours(24 * 365 * 5)));
    X509_set_pubkey(cert.get(), pub);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, root_.get(), cert.get(), nullptr, nullptr, 0);
    HP_TRY(AddExt(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
    HP_TRY(AddExt(cert.get(), &ctx, NID_key_usage,
                  "critical,digitalSignature,keyCertSign,cRLSign"));
    HP_TRY(AddExt(cert.get(), &ctx, NID_ext_key_usage, "serverAuth"));
    HP_TRY(AddExt(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
    HP_TRY(AddExt(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
    HP_TRY(AddExt(cert.get(), &ctx, NID_certificate_policies, "2.23.140.1.2.1"));
    HP_TRY(root_signer_->SignCertificate(cert.get()));
    return core::ossl::CertificateToPem(cert.get());
  }

  Status RotateIssuerLocked(LeafKeyKind kind) {
    const bool rsa = kind == LeafKeyKind::kRsa;
    std::string id = (rsa ? "r" : "e") + std::to_string(next_serial_++);
    HP_ASSIGN_OR_RETURN(auto key, rsa ? core::ossl::GenerateRsaKey(2048)
                                      : core::ossl::GenerateEcKey("P-256"));
    HP_ASSIGN_OR_RETURN(std::string cp, CertifyIntermediate(id, rsa, key.get()));
    HP_ASSIGN_OR_RETURN(std::string kp, core::ossl::PrivateKeyToPem(key.get(),
                                                                    options_.passphrase.Reveal()));
    const fs::path dir = fs::path(options_.dir) / "issuers";
    HP_TRY(WriteFileAtomic(dir / (id + ".pem"), cp, false));
    HP_TRY(WriteFileAtomic(dir / (id + ".key"), kp, true));
    HP_TRY(LoadIssuer(id));
    if (active_.count(kind)) issuers_[active_[kind]]->info.active = false;
    active_[kind] = id;
    issuers_[id]->info.active = true;
    core::log::Info("created CA intermediate", {{"id", id}});
    return SaveState();
  }

  // Loads issuers/<id>.pem and its key: `signer` when given, else the encrypted key file or the
  // PKCS#11 key named in <id>.pkcs11.json. A token that cannot be used is fatal only for an
  // active issuer (`required`); an old one then only fails to sign its CRL.
  Status LoadIssuer(const std::string& id, std::unique_ptr<Signer> signer = nullptr,
                    bool required = true) {
    const fs::path dir = fs::path(options_.dir) / "issuers";
    auto iss = std::make_unique<Issuer>();
    HP_ASSIGN_OR_RETURN(iss->info.cert_pem, ReadFile(dir / (id + ".pem")));
    HP_ASSIGN_OR_RETURN(iss->cert, core::ossl::ReadCertificatePem(iss->info.cert_pem));
    const fs::path p11 = dir / (id + ".pkcs11.json");
    if (fs::exists(p11)) {
      HP_ASSIGN_OR_RETURN(auto cfg, ReadPkcs11Json(p11));
      // The configured token settings win for the configured key (a moved PIN file ...).
      if (!options_.pkcs11.empty() && options_.pkcs11.token == cfg.token &&
          options_.pkcs11.key_label == cfg.key_label) {
        cfg = options_.pkcs11;
      }
      iss->info.signer = "pkcs11 module=" + cfg.module + " token=" + cfg.token +
                         " key=" + cfg.key_label + " pin_file=" + cfg.pin_file;
      if (!signer && !options_.inspect_only) {
        auto s = NewPkcs11Signer(cfg);
        if (!s) {
          if (required) {
            core::Error e = s.error();
            e.detail = "issuer " + id + ": " + e.detail;
            return Fail(std::move(e));
          }
          iss->signer_error = s.error().detail;
          core::log::Warn("CA issuer key unavailable", {{"id", id}, {"error", s.error().detail}});
        } else {
          signer = std::move(*s);
        }
      }
    } else {
      iss->info.signer = "file issuers/" + id + ".key (AES-256 encrypted PKCS#8)";
      if (!signer && !options_.inspect_only) {
        HP_ASSIGN_OR_RETURN(std::string kp, ReadFile(dir / (id + ".key")));
        auto key = core::ossl::ReadPrivateKeyPem(kp, options_.passphrase.Reveal());
        if (!key) {
          return Fail(ErrorCode::kUnavailable, "cannot decrypt " + (dir / (id + ".key")).string() +
                                                   " (wrong passphrase?)");
        }
        signer = NewOpenSslSigner(std::move(*key));
      }
    }
    if (signer && EVP_PKEY_eq(X509_get0_pubkey(iss->cert.get()), signer->public_key()) != 1) {
      core::ossl::DrainErrors();
      return Fail(ErrorCode::kUnavailable, "key and certificate of issuer " + id + " differ");
    }
    if (!signer && iss->signer_error.empty()) iss->signer_error = "opened for inspection only";
    iss->signer = std::move(signer);
    iss->info.id = id;
    iss->info.kind = id[0] == 'r' ? LeafKeyKind::kRsa : LeafKeyKind::kEcdsa;
    Describe(iss->cert.get(), iss->info);
    const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(iss->cert.get());
    if (!ski) return Fail(ErrorCode::kUnavailable, "issuer " + id + " has no SKI");
    iss->info.ski = std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
                                static_cast<size_t>(ASN1_STRING_length(ski)));
    iss->info.crl_url = options_.base_url + "/acme/crl/" + id;
    iss->info.ca_issuers_url = options_.base_url + "/acme/issuer/" + id;

    // Leaf extensions that never change for this issuer.
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, iss->cert.get(), nullptr, nullptr, nullptr, 0);
    X509V3_set_ctx_nodb(&ctx);
    for (auto [nid, value] : std::vector<std::pair<int, std::string>>{
             {NID_ext_key_usage, "serverAuth"},
             {NID_basic_constraints, "critical,CA:FALSE"},
             {NID_crl_distribution_points, "URI:" + iss->info.crl_url},
             {NID_info_access, "caIssuers;URI:" + iss->info.ca_issuers_url}}) {
      HP_ASSIGN_OR_RETURN(auto ext, MakeExt(&ctx, nid, value));
      iss->static_exts.push_back(std::move(ext));
    }
    HP_ASSIGN_OR_RETURN(auto pol, DvPolicyExt());
    iss->static_exts.push_back(std::move(pol));
    // AKI from the issuer's SKI (keyid only).
    AUTHORITY_KEYID* aki = AUTHORITY_KEYID_new();
    aki->keyid = ASN1_OCTET_STRING_dup(ski);
    core::ossl::X509Ext aki_ext(X509V3_EXT_i2d(NID_authority_key_identifier, 0, aki));
    AUTHORITY_KEYID_free(aki);
    if (!aki_ext) return Fail(core::ossl::LastError(ErrorCode::kInternal, "AKI"));
    iss->static_exts.push_back(std::move(aki_ext));
    HP_ASSIGN_OR_RETURN(iss->ku_ecdsa, MakeExt(&ctx, NID_key_usage, "critical,digitalSignature"));
    HP_ASSIGN_OR_RETURN(iss->ku_rsa,
                        MakeExt(&ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment"));
    issuers_[id] = std::move(iss);
    return core::Ok();
  }

  CaOptions options_;
  const core::Clock& clock_;
  mutable std::shared_mutex mu_;  // guards issuers_, active_, next_serial_
  std::string root_pem_;
  std::string alt_root_pem_, cross_x1_pem_;
  core::ossl::X509Ptr root_;
  std::unique_ptr<Signer> root_signer_;
  std::map<std::string, std::unique_ptr<Issuer>> issuers_;
  std::map<LeafKeyKind, std::string> active_;
  int next_serial_ = 1;
  IssuerInfo root_info_;
  std::string last_pkcs11_id_;
};

}  // namespace

std::unique_ptr<Signer> NewOpenSslSigner(core::ossl::PKey key) {
  return std::make_unique<OpenSslSigner>(std::move(key));
}

Result<std::unique_ptr<CertificateAuthority>> CertificateAuthority::Create(
    CaOptions options, const core::Clock& clock) {
  if (options.passphrase.empty() && !options.inspect_only) {
    return Fail(ErrorCode::kInvalidArgument, "the CA needs a passphrase for its key files");
  }
  auto ca = std::make_unique<OpenSslAuthority>(std::move(options), clock);
  HP_TRY(ca->Init());
  return std::unique_ptr<CertificateAuthority>(std::move(ca));
}

}  // namespace hp::acme
