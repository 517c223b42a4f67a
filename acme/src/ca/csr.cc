#include "hp/acme/csr.h"

#include <arpa/inet.h>

#include <algorithm>
#include <set>

#include <openssl/core_names.h>

#include "ca/names.h"
#include "hp/core/encoding.h"
#include "hp/core/openssl.h"

namespace hp::acme {
namespace {

using core::ErrorCode;
using core::Fail;

using Exts = std::unique_ptr<STACK_OF(X509_EXTENSION), decltype([](STACK_OF(X509_EXTENSION)* s) {
                               sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
                             })>;

}  // namespace

core::Status CheckLeafKey(EVP_PKEY* key, bool validate_point) {
  const int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_RSA) {
    const int bits = EVP_PKEY_get_bits(key);
    if (bits != 2048 && bits != 3072 && bits != 4096) {
      return Fail(ErrorCode::kAcmeBadPublicKey,
                  "RSA keys must have 2048, 3072 or 4096 bits (got " + std::to_string(bits) + ")");
    }
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e);
    core::ossl::BigNum bn_n(n), bn_e(e);
    if (!n || !e) return Fail(ErrorCode::kAcmeBadPublicKey, "unreadable RSA key");
    if (!BN_is_word(e, 65537)) {
      return Fail(ErrorCode::kAcmeBadPublicKey, "RSA public exponent must be 65537");
    }
    // Moduli with small factors are broken keys (bad RNGs, corrupted keys).
    for (BN_ULONG p = 3; p < 2000; p += 2) {
      bool prime = true;
      for (BN_ULONG d = 3; d * d <= p; d += 2) {
        if (p % d == 0) {
          prime = false;
          break;
        }
      }
      if (prime && BN_mod_word(n, p) == 0) {
        return Fail(ErrorCode::kAcmeBadPublicKey, "RSA modulus has a small prime factor");
      }
    }
    return core::Ok();
  }
  if (id == EVP_PKEY_EC) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) != 1) {
      return Fail(ErrorCode::kAcmeBadPublicKey, "unreadable EC key");
    }
    const std::string g(group, len);
    if (g != "prime256v1" && g != "secp384r1") {
      return Fail(ErrorCode::kAcmeBadPublicKey, "EC keys must use P-256 or P-384 (got " + g + ")");
    }
    if (!validate_point) return core::Ok();
    core::ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1) {
      core::ossl::DrainErrors();
      return Fail(ErrorCode::kAcmeBadPublicKey, "EC public key is not a valid point");
    }
    return core::Ok();
  }
  return Fail(ErrorCode::kAcmeBadPublicKey,
              "certificate keys must be RSA (2048/3072/4096) or ECDSA (P-256/P-384)");
}

core::Result<std::string> SpkiSha256Hex(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  if (len <= 0) return Fail(core::ossl::LastError(ErrorCode::kInternal, "i2d_PUBKEY"));
  std::string d(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return core::HexEncode(core::AsBytes(core::ossl::Sha256(d)));
}

core::Result<std::vector<core::Identifier>> GeneralNamesToIdentifiers(GENERAL_NAMES* names) {
  std::vector<core::Identifier> out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_DNS) {
      const ASN1_IA5STRING* s = gn->d.dNSName;
      out.push_back({"dns", std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                        static_cast<size_t>(ASN1_STRING_length(s)))});
    } else if (gn->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* s = gn->d.iPAddress;
      auto ip = IpBytesToText(std::string(
          reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
          static_cast<size_t>(ASN1_STRING_length(s))));
      if (!ip) return Fail(ErrorCode::kAcmeBadCsr, "CSR has a malformed iPAddress name");
      out.push_back({"ip", *ip});
    } else {
      return Fail(ErrorCode::kAcmeBadCsr, "CSR has a subjectAltName that is not DNS or IP");
    }
  }
  return out;
}

core::Result<CheckedCsr> CheckCsr(std::string_view der,
                                  const std::vector<core::Identifier>& identifiers) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  core::ossl::X509Req req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (!req || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    core::ossl::DrainErrors();
    return Fail(ErrorCode::kAcmeBadCsr, "CSR is not a DER PKCS#10 request");
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (!key) return Fail(ErrorCode::kAcmeBadCsr, "CSR has no public key");
  HP_TRY(CheckLeafKey(key));
  if (X509_REQ_verify(req.get(), key) != 1) {
    core::ossl::DrainErrors();
    return Fail(ErrorCode::kAcmeBadCsr, "CSR signature does not verify");
  }
  const int sig_nid = X509_REQ_get_signature_nid(req.get());
  if (sig_nid == NID_md5WithRSAEncryption || sig_nid == NID_sha1WithRSAEncryption ||
      sig_nid == NID_ecdsa_with_SHA1) {
    return Fail(ErrorCode::kAcmeBadCsr, "CSR is signed with a weak hash");
  }

  std::vector<core::Identifier> names;
  Exts exts(X509_REQ_get_extensions(req.get()));
  if (exts) {
    core::ossl::GeneralNames san(static_cast<GENERAL_NAMES*>(
        X509V3_get_d2i(exts.get(), NID_subject_alt_name, nullptr, nullptr)));
    if (san) {
      HP_ASSIGN_OR_RETURN(names, GeneralNamesToIdentifiers(san.get()));
    }
  }
  std::string cn;
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx >= 0) {
    if (X509_NAME_get_index_by_NID(subject, NID_commonName, idx) >= 0) {
      return Fail(ErrorCode::kAcmeBadCsr, "CSR has more than one CN");
    }
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n < 0) return Fail(ErrorCode::kAcmeBadCsr, "CSR CN is not a string");
    cn.assign(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
  }

  std::set<std::pair<std::string, std::string>> want, got;
  for (const auto& id : identifiers) want.insert({id.type, NormalizeName(id.type, id.value)});
  for (const auto& id : names) got.insert({id.type, NormalizeName(id.type, id.value)});
  if (!cn.empty()) {
    const bool cn_ip = LooksLikeIp(cn);
    auto cn_key = std::make_pair(std::string(cn_ip ? "ip" : "dns"),
                                 NormalizeName(cn_ip ? "ip" : "dns", cn));
    if (!want.count(cn_key)) {
      return Fail(ErrorCode::kAcmeBadCsr, "CSR CN \"" + cn + "\" is not an identifier of the order");
    }
    got.insert(cn_key);  // a CN-only name counts as requested (RFC 8555 allows either)
  }
  for (const auto& g : got) {
    if (!want.count(g)) {
      return Fail(ErrorCode::kAcmeBadCsr,
                  "CSR contains \"" + g.second + "\", which is not an identifier of the order");
    }
  }
  for (const auto& w : want) {
    if (!got.count(w)) {
      return Fail(ErrorCode::kAcmeBadCsr,
                  "CSR does not contain \"" + w.second + "\" from the order");
    }
  }
  CheckedCsr out;
  out.der = std::string(der);
  out.rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
  // The SPKI as the CSR carries it: plain DER re-encoding, no key encoder round trip.
  unsigned char* spki = nullptr;
  const int len = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req.get()), &spki);
  if (len <= 0) return Fail(core::ossl::LastError(ErrorCode::kInternal, "i2d_X509_PUBKEY"));
  out.spki_sha256 = core::HexEncode(core::AsBytes(core::ossl::Sha256(
      std::string_view(reinterpret_cast<char*>(spki), static_cast<size_t>(len)))));
  OPENSSL_free(spki);
  out.req = std::shared_ptr<X509_REQ>(req.release(), X509_REQ_free);
  return out;
}

}  // namespace hp::acme
