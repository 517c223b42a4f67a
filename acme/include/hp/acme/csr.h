#pragma once
// Checks of a finalize CSR (RFC 8555 §7.4) before it reaches the CA.
//
// Thread safety: reentrant.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/x509.h>

#include "hp/core/error.h"

namespace hp::acme {

struct CheckedCsr {
  std::string der;
  std::string spki_sha256;  // hex SHA-256 of the SubjectPublicKeyInfo (blocked-key lookups)
  bool rsa = false;
  // `der`'s public key and SubjectPublicKeyInfo (algorithm + key bits as sent), checked and with
  // the signature verified, so that the CA need not reparse.
  std::shared_ptr<EVP_PKEY> key;
  std::shared_ptr<X509_PUBKEY> spki;
};

// Accepts a DER PKCS#10 request whose self-signature verifies, whose key is RSA 2048/3072/4096
// (exponent 65537, no small factors) or ECDSA P-256/P-384, whose SAN dNSNames and iPAddresses
// are exactly `identifiers` (case-insensitive, any order, no duplicates missing), and whose CN,
// if any, is one of them. kAcmeBadCsr names what is wrong; kAcmeBadPublicKey for weak keys.
core::Result<CheckedCsr> CheckCsr(std::string_view der,
                                  const std::vector<core::Identifier>& identifiers);

}  // namespace hp::acme
