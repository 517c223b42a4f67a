#include "hp/acme/lint.h"

#include <cstring>
#include <ctime>
#include <set>

#include "ca/names.h"
#include "hp/core/openssl.h"

namespace hp::acme {
namespace {

template <typename T, auto Free>
using Owned = std::unique_ptr<T, core::ossl::Deleter<Free>>;

std::string Uri(const GENERAL_NAME* gn) {
  if (gn->type != GEN_URI) return {};
  const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

bool ToTimePoint(const ASN1_TIME* t, core::TimePoint* out) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return false;
  *out = core::FromUnixSeconds(static_cast<int64_t>(timegm(&tm)));
  return true;
}

std::string Str(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

}  // namespace

std::vector<std::string> LintLeaf(X509* cert, const LintPolicy& policy) {
  std::vector<std::string> v;
  if (X509_get_version(cert) != X509_VERSION_3) v.push_back("version is not 3");

  // Serial.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  core::ossl::BigNum sn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!sn || BN_is_negative(sn.get()) || BN_is_zero(sn.get())) {
    v.push_back("serial is not a positive integer");
  } else {
    if (BN_num_bytes(sn.get()) > 20) v.push_back("serial longer than 20 octets");
    if (BN_num_bits(sn.get()) < 64) v.push_back("serial has fewer than 64 bits");
  }

  // Issuer.
  if (!policy.issuer ||
      X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(policy.issuer)) != 0) {
    v.push_back("issuer name is not the issuing CA's subject");
  }

  // Validity.
  core::TimePoint nb, na;
  if (!ToTimePoint(X509_get0_notBefore(cert), &nb) ||
      !ToTimePoint(X509_get0_notAfter(cert), &na)) {
    v.push_back("validity is unreadable");
  } else {
    if (na <= nb) v.push_back("notAfter is not after notBefore");
    if (na - nb + std::chrono::seconds(1) > policy.max_validity) {
      v.push_back("validity exceeds the profile's maximum");
    }
    if (nb > policy.now + std::chrono::minutes(5)) v.push_back("notBefore is in the future");
    if (nb < policy.now - std::chrono::hours(48)) v.push_back("notBefore is backdated > 48h");
  }

  // Key.
  EVP_PKEY* key = nullptr;
  if (policy.subject_key && policy.subject_spki) {
    key = policy.subject_key;
    unsigned char *a = nullptr, *b = nullptr;
    const int la = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &a);
    const int lb = i2d_X509_PUBKEY(policy.subject_spki, &b);
    if (la <= 0 || la != lb || std::memcmp(a, b, static_cast<size_t>(la)) != 0) {
      v.push_back("public key differs from the checked CSR key");
    }
    OPENSSL_free(a);
    OPENSSL_free(b);
  } else {
    key = X509_get0_pubkey(cert);
  }
  const bool rsa = key && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
  if (!key) {
    v.push_back("no public key");
  } else if (auto st = CheckLeafKey(key, /*validate_point=*/!policy.subject_key); !st) {
    v.push_back("public key: " + st.error().detail);
  }

  // Extensions: exactly the profile's set, each once.
  static const std::set<int> kAllowed = {
      NID_subject_alt_name,       NID_key_usage,           NID_ext_key_usage,
      NID_basic_constraints,      NID_authority_key_identifier, NID_subject_key_identifier,
      NID_certificate_policies,   NID_crl_distribution_points,  NID_info_access};
  std::set<int> seen;
  for (int i = 0; i < X509_get_ext_count(cert); ++i) {
    X509_EXTENSION* ext = X509_get_ext(cert, i);
    int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
    if (!kAllowed.count(nid)) {
      v.push_back("unexpected extension " + std::to_string(nid));
    } else if (!seen.insert(nid).second) {
      v.push_back("duplicate extension " + std::to_string(nid));
    }
  }

  // Subject and SAN.
  std::set<std::pair<std::string, std::string>> want;
  for (const auto& id : policy.identifiers) want.insert({id.type, NormalizeName(id.type, id.value)});
  int crit = -1;
  Owned<GENERAL_NAMES, GENERAL_NAMES_free> san(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr)));
  std::set<std::pair<std::string, std::string>> got;
  if (!san) {
    v.push_back("subjectAltName missing");
  } else {
    auto ids = GeneralNamesToIdentifiers(san.get());
    if (!ids) {
      v.push_back("subjectAltName has a name that is neither DNS nor IP");
    } else {
      for (const auto& id : *ids) {
        if (!got.insert({id.type, NormalizeName(id.type, id.value)}).second) {
          v.push_back("subjectAltName has duplicate " + id.value);
        }
      }
      if (got != want) v.push_back("subjectAltName differs from the order's identifiers");
    }
  }
  X509_NAME* subject = X509_get_subject_name(cert);
  const int entries = X509_NAME_entry_count(subject);
  for (int i = 0; i < entries; ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(subject, i);
    if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) != NID_commonName) {
      v.push_back("subject has an attribute other than CN");
    } else {
      std::string cn = Str(X509_NAME_ENTRY_get_data(e));
      const char* type = LooksLikeIp(cn) ? "ip" : "dns";
      if (!got.count({type, NormalizeName(type, cn)})) v.push_back("CN is not among the SANs");
      if (cn.size() > 64) v.push_back("CN longer than 64 characters");
    }
  }
  if (entries > 1) v.push_back("subject has more than one attribute");
  if (san && entries == 0 && crit != 1) v.push_back("subjectAltName must be critical");

  // Key usage.
  Owned<ASN1_BIT_STRING, ASN1_BIT_STRING_free> ku(static_cast<ASN1_BIT_STRING*>(
      X509_get_ext_d2i(cert, NID_key_usage, &crit, nullptr)));
  if (!ku) {
    v.push_back("keyUsage missing");
  } else {
    if (crit != 1) v.push_back("keyUsage not critical");
    if (!ASN1_BIT_STRING_get_bit(ku.get(), 0)) v.push_back("keyUsage lacks digitalSignature");
    const bool ke = ASN1_BIT_STRING_get_bit(ku.get(), 2);
    if (ke && !rsa) v.push_back("keyEncipherment on a non-RSA key");
    for (int bit : {1, 3, 4, 5, 6, 7, 8}) {
      if (ASN1_BIT_STRING_get_bit(ku.get(), bit)) {
        v.push_back("keyUsage has a bit not allowed for a subscriber: " + std::to_string(bit));
      }
    }
  }

  // Extended key usage: serverAuth only.
  Owned<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free> eku(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, nullptr)));
  if (!eku) {
    v.push_back("extKeyUsage missing");
  } else {
    if (sk_ASN1_OBJECT_num(eku.get()) != 1 ||
        OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), 0)) != NID_server_auth) {
      v.push_back("extKeyUsage must be exactly serverAuth");
    }
  }

  // Basic constraints.
  Owned<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free> bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert, NID_basic_constraints, &crit, nullptr)));
  if (!bc) {
    v.push_back("basicConstraints missing");
  } else {
    if (bc->ca) v.push_back("basicConstraints has CA:TRUE");
    if (crit != 1) v.push_back("basicConstraints not critical");
  }

  // Key identifiers.
  Owned<AUTHORITY_KEYID, AUTHORITY_KEYID_free> aki(static_cast<AUTHORITY_KEYID*>(
      X509_get_ext_d2i(cert, NID_authority_key_identifier, &crit, nullptr)));
  const ASN1_OCTET_STRING* issuer_ski =
      policy.issuer ? X509_get0_subject_key_id(policy.issuer) : nullptr;
  if (!aki || !aki->keyid) {
    v.push_back("authorityKeyIdentifier missing");
  } else if (!issuer_ski || ASN1_OCTET_STRING_cmp(aki->keyid, issuer_ski) != 0) {
    v.push_back("authorityKeyIdentifier does not match the issuer");
  } else if (aki->issuer || aki->serial) {
    v.push_back("authorityKeyIdentifier must carry only keyIdentifier");
  }
  Owned<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free> ski(static_cast<ASN1_OCTET_STRING*>(
      X509_get_ext_d2i(cert, NID_subject_key_identifier, &crit, nullptr)));
  if (!ski) v.push_back("subjectKeyIdentifier missing");

  // Certificate policies: the DV policy.
  Owned<CERTIFICATEPOLICIES, CERTIFICATEPOLICIES_free> pol(static_cast<CERTIFICATEPOLICIES*>(
      X509_get_ext_d2i(cert, NID_certificate_policies, &crit, nullptr)));
  bool dv = false;
  if (pol) {
    for (int i = 0; i < sk_POLICYINFO_num(pol.get()); ++i) {
      char buf[80];
      OBJ_obj2txt(buf, sizeof buf, sk_POLICYINFO_value(pol.get(), i)->policyid, 1);
      if (std::string(buf) == "2.23.140.1.2.1") dv = true;
    }
  }
  if (!dv) v.push_back("certificatePolicies lacks 2.23.140.1.2.1 (DV)");

  // CRL distribution point.
  Owned<CRL_DIST_POINTS, CRL_DIST_POINTS_free> dps(static_cast<CRL_DIST_POINTS*>(
      X509_get_ext_d2i(cert, NID_crl_distribution_points, &crit, nullptr)));
  bool crl_ok = false;
  if (dps && sk_DIST_POINT_num(dps.get()) == 1) {
    DIST_POINT* dp = sk_DIST_POINT_value(dps.get(), 0);
    if (dp->distpoint && dp->distpoint->type == 0 &&
        sk_GENERAL_NAME_num(dp->distpoint->name.fullname) == 1) {
      crl_ok = Uri(sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0)) == policy.crl_url;
    }
  }
  if (!crl_ok) v.push_back("cRLDistributionPoints is not the issuer's CRL URL");

  // AIA caIssuers.
  Owned<AUTHORITY_INFO_ACCESS, AUTHORITY_INFO_ACCESS_free> aia(
      static_cast<AUTHORITY_INFO_ACCESS*>(X509_get_ext_d2i(cert, NID_info_access, &crit, nullptr)));
  bool aia_ok = false;
  if (aia) {
    for (int i = 0; i < sk_ACCESS_DESCRIPTION_num(aia.get()); ++i) {
      ACCESS_DESCRIPTION* ad = sk_ACCESS_DESCRIPTION_value(aia.get(), i);
      if (OBJ_obj2nid(ad->method) == NID_ad_ca_issuers && Uri(ad->location) == policy.ca_issuers_url) {
        aia_ok = true;
      }
    }
  }
  if (!aia_ok) v.push_back("authorityInfoAccess lacks the caIssuers URL");
  core::ossl::DrainErrors();
  return v;
}

}  // namespace hp::acme
