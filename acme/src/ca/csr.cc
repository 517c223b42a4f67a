#include "hp/acme/csr.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

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
    // On the curve, not the point at infinity, coordinates in range. P-256 and P-384 have
    // cofactor 1, so every such point has the group's prime order: the full check's extra
    // order * Q multiplication (about 30 us, a fifth of a CSR check) proves nothing more.
    core::ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!ctx || EVP_PKEY_public_check_quick(ctx.get()) != 1) {
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

namespace {

// The name checks shared by both CSR paths: SAN dNSName/iPAddress entries and the CN against the
// order's identifiers.
core::Status CheckNames(X509_NAME* subject, STACK_OF(X509_EXTENSION)* exts,
                        const std::vector<core::Identifier>& identifiers) {
  std::vector<core::Identifier> names;
  if (exts) {
    core::ossl::GeneralNames san(static_cast<GENERAL_NAMES*>(
        X509V3_get_d2i(exts, NID_subject_alt_name, nullptr, nullptr)));
    if (san) {
      HP_ASSIGN_OR_RETURN(names, GeneralNamesToIdentifiers(san.get()));
    }
  }
  std::string cn;
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
  return core::Ok();
}

// A strict DER reader (definite, minimal lengths) for the fast path below.
struct DerReader {
  const unsigned char* p;
  const unsigned char* end;
  explicit DerReader(std::string_view s)
      : p(reinterpret_cast<const unsigned char*>(s.data())), end(p + s.size()) {}
  bool AtEnd() const { return p == end; }
  // Reads one element with tag `tag`: its contents into `value`, the whole TLV into `whole`.
  bool Next(unsigned char tag, std::string_view* value, std::string_view* whole = nullptr) {
    const unsigned char* start = p;
    if (end - p < 2 || p[0] != tag) return false;
    size_t len = p[1];
    p += 2;
    if (len & 0x80) {
      const size_t n = len & 0x7f;
      if (n == 0 || n > 3 || static_cast<size_t>(end - p) < n || p[0] == 0) return false;
      len = 0;
      for (size_t i = 0; i < n; ++i) len = (len << 8) | *p++;
      if (len < 0x80) return false;
    }
    if (static_cast<size_t>(end - p) < len) return false;
    *value = std::string_view(reinterpret_cast<const char*>(p), len);
    if (whole) *whole = std::string_view(reinterpret_cast<const char*>(start), p + len - start);
    p += len;
    return true;
  }
};

// DER contents of the OIDs the fast path knows.
constexpr std::string_view kOidEcPublicKey{"\x2a\x86\x48\xce\x3d\x02\x01", 7};
constexpr std::string_view kOidP256{"\x2a\x86\x48\xce\x3d\x03\x01\x07", 8};
constexpr std::string_view kOidP384{"\x2b\x81\x04\x00\x22", 5};
constexpr std::string_view kOidEcdsaSha256{"\x2a\x86\x48\xce\x3d\x04\x03\x02", 8};
constexpr std::string_view kOidEcdsaSha384{"\x2a\x86\x48\xce\x3d\x04\x03\x03", 8};
constexpr std::string_view kOidEcdsaSha512{"\x2a\x86\x48\xce\x3d\x04\x03\x04", 8};
constexpr std::string_view kOidExtensionRequest{"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x0e", 9};

template <typename T>
const unsigned char* U(T s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// The common case, an ECDSA P-256/P-384 CSR signed with ECDSA-SHA2, checked without
// d2i_X509_REQ: OpenSSL 3.0 decodes the SubjectPublicKeyInfo inside d2i through a decoder
// context that it builds per call by enumerating every provider's key managers and decoders
// (about half of the CSR check's CPU). Here the key comes from EVP_PKEY_fromdata, the subject
// and extensions from their own d2i calls, and the signature is verified over the exact
// CertificationRequestInfo bytes. Every check of the general path is made; anything this
// reader does not know, or any failure, returns nullopt and the general path (d2i_X509_REQ)
// decides, with its error messages.
std::optional<CheckedCsr> CheckEcCsrFast(std::string_view der,
                                         const std::vector<core::Identifier>& identifiers) {
  std::string_view req, cri, cri_whole, sigalg, sig;
  DerReader top(der);
  if (!top.Next(0x30, &req) || !top.AtEnd()) return std::nullopt;
  DerReader r(req);
  if (!r.Next(0x30, &cri, &cri_whole) || !r.Next(0x30, &sigalg) || !r.Next(0x03, &sig) ||
      !r.AtEnd()) {
    return std::nullopt;
  }
  std::string_view sig_oid;
  DerReader sa(sigalg);
  if (!sa.Next(0x06, &sig_oid) || !sa.AtEnd()) return std::nullopt;
  const char* md = sig_oid == kOidEcdsaSha256   ? "SHA256"
                   : sig_oid == kOidEcdsaSha384 ? "SHA384"
                   : sig_oid == kOidEcdsaSha512 ? "SHA512"
                                                : nullptr;
  if (!md || sig.size() < 2 || sig[0] != 0) return std::nullopt;

  std::string_view version, name, name_whole, spki, spki_whole, attrs;
  DerReader c(cri);
  if (!c.Next(0x02, &version) || version != std::string_view("\0", 1) ||
      !c.Next(0x30, &name, &name_whole) || !c.Next(0x30, &spki, &spki_whole)) {
    return std::nullopt;
  }
  const bool has_attrs = !c.AtEnd();
  if (has_attrs && (!c.Next(0xa0, &attrs) || !c.AtEnd())) return std::nullopt;

  std::string_view alg, bits, alg_oid, curve_oid;
  DerReader s(spki);
  if (!s.Next(0x30, &alg) || !s.Next(0x03, &bits) || !s.AtEnd()) return std::nullopt;
  DerReader a(alg);
  if (!a.Next(0x06, &alg_oid) || alg_oid != kOidEcPublicKey || !a.Next(0x06, &curve_oid) ||
      !a.AtEnd()) {
    return std::nullopt;
  }
  const int curve_nid = curve_oid == kOidP256   ? NID_X9_62_prime256v1
                        : curve_oid == kOidP384 ? NID_secp384r1
                                                : NID_undef;
  if (curve_nid == NID_undef || bits.size() < 2 || bits[0] != 0) return std::nullopt;
  const std::string_view point = bits.substr(1);

  // The key, through the EC key manager directly (it checks that the point is on the curve).
  char group[16];
  std::snprintf(group, sizeof group, "%s", curve_nid == NID_secp384r1 ? "secp384r1" : "prime256v1");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                        const_cast<unsigned char*>(U(point)), point.size()),
      OSSL_PARAM_construct_end()};
  core::ossl::PKeyCtx kctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!kctx || EVP_PKEY_fromdata_init(kctx.get()) != 1 ||
      EVP_PKEY_fromdata(kctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1 || !raw) {
    core::ossl::DrainErrors();
    return std::nullopt;
  }
  std::shared_ptr<EVP_PKEY> key(raw, EVP_PKEY_free);
  if (!CheckLeafKey(key.get())) return std::nullopt;

  // The self-signature over the CertificationRequestInfo as sent.
  core::ossl::MdCtx mctx(EVP_MD_CTX_new());
  const std::string_view sig_bytes = sig.substr(1);
  if (!mctx ||
      EVP_DigestVerifyInit_ex(mctx.get(), nullptr, md, nullptr, nullptr, key.get(), nullptr) != 1 ||
      EVP_DigestVerify(mctx.get(), U(sig_bytes), sig_bytes.size(), U(cri_whole),
                       cri_whole.size()) != 1) {
    core::ossl::DrainErrors();
    return std::nullopt;
  }

  // Subject and the extensionRequest attribute (the only attribute this path accepts).
  const unsigned char* np = U(name_whole);
  core::ossl::X509Name subject(d2i_X509_NAME(nullptr, &np, static_cast<long>(name_whole.size())));
  if (!subject || np != U(name_whole) + name_whole.size()) {
    core::ossl::DrainErrors();
    return std::nullopt;
  }
  Exts exts;
  DerReader at(attrs);
  while (has_attrs && !at.AtEnd()) {
    std::string_view attr, oid, values, ext, ext_whole;
    if (!at.Next(0x30, &attr) || exts) return std::nullopt;
    DerReader one(attr);
    if (!one.Next(0x06, &oid) || oid != kOidExtensionRequest || !one.Next(0x31, &values) ||
        !one.AtEnd()) {
      return std::nullopt;
    }
    DerReader v(values);
    if (!v.Next(0x30, &ext, &ext_whole) || !v.AtEnd()) return std::nullopt;
    const unsigned char* ep = U(ext_whole);
    exts.reset(d2i_X509_EXTENSIONS(nullptr, &ep, static_cast<long>(ext_whole.size())));
    if (!exts || ep != U(ext_whole) + ext_whole.size()) {
      core::ossl::DrainErrors();
      return std::nullopt;
    }
  }
  if (!CheckNames(subject.get(), exts.get(), identifiers)) return std::nullopt;

  // The SubjectPublicKeyInfo as the CSR carries it (algorithm + key bits), for the certificate.
  std::shared_ptr<X509_PUBKEY> pub(X509_PUBKEY_new(), X509_PUBKEY_free);
  if (!pub) return std::nullopt;
  auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(point.data(), point.size()));
  if (!copy || X509_PUBKEY_set0_param(pub.get(), OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
                                      V_ASN1_OBJECT, OBJ_nid2obj(curve_nid), copy,
                                      static_cast<int>(point.size())) != 1) {
    OPENSSL_free(copy);
    core::ossl::DrainErrors();
    return std::nullopt;
  }
  CheckedCsr out;
  out.der = std::string(der);
  out.rsa = false;
  out.spki_sha256 = core::HexEncode(core::AsBytes(core::ossl::Sha256(spki_whole)));
  out.key = std::move(key);
  out.spki = std::move(pub);
  return out;
}

}  // namespace

core::Result<CheckedCsr> CheckCsr(std::string_view der,
                                  const std::vector<core::Identifier>& identifiers) {
  if (auto fast = CheckEcCsrFast(der, identifiers)) return std::move(*fast);
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
  Exts exts(X509_REQ_get_extensions(req.get()));
  HP_TRY(CheckNames(X509_REQ_get_subject_name(req.get()), exts.get(), identifiers));

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
  std::shared_ptr<X509_REQ> owner(req.release(), X509_REQ_free);
  out.key = std::shared_ptr<EVP_PKEY>(owner, key);
  out.spki = std::shared_ptr<X509_PUBKEY>(owner, X509_REQ_get_X509_PUBKEY(owner.get()));
  return out;
}

}  // namespace hp::acme
