#pragma once
// Pre-issuance lint: checks a to-be-signed leaf against the BR DV profile and the order before
// the CA signs it. Used inside the CA; public so that tests and the CLI can lint any certificate.
//
// Thread safety: reentrant.

#include <string>
#include <vector>

#include <openssl/x509.h>

#include "hp/core/clock.h"
#include "hp/core/error.h"

namespace hp::acme {

struct LintPolicy {
  X509* issuer = nullptr;  // the issuing intermediate
  std::vector<core::Identifier> identifiers;  // exactly the SANs expected
  core::Duration max_validity;                // of the profile
  core::TimePoint now;
  std::string crl_url;
  std::string ca_issuers_url;
  // Optional: the subject key as already decoded and checked (CheckCsr). The certificate must
  // then carry exactly this SubjectPublicKeyInfo (compared byte for byte), and the key itself is
  // not decoded again (OpenSSL 3's key decoding is slow).
  EVP_PKEY* subject_key = nullptr;
  X509_PUBKEY* subject_spki = nullptr;
};

// Returns every violation found (empty: the certificate conforms). Checked: version 3; serial
// positive, >= 64 bits of entropy-sized, <= 20 octets; issuer name = issuer subject; validity
// within the profile and not in the future beyond skew; subject only CN and CN among SANs; SAN
// present with exactly the identifiers; key RSA 2048..4096 (e=65537) or EC P-256/P-384; key
// usage critical digitalSignature (+keyEncipherment for RSA only); EKU serverAuth only;
// basicConstraints CA:false critical; AKI = issuer SKI; SKI present; certificatePolicies
// 2.23.140.1.2.1; CRL distribution point and AIA caIssuers as configured; no other extensions.
std::vector<std::string> LintLeaf(X509* tbs, const LintPolicy& policy);

}  // namespace hp::acme
