#pragma once
// OpenSSL objects live in unique_ptrs with their free function (PowerDNS habit), and OpenSSL's
// error queue becomes an Error.

#include <memory>
#include <string>
#include <string_view>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hp/core/error.h"

namespace hp::core::ossl {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};

using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PKeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using X509Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using X509Crl = std::unique_ptr<X509_CRL, Deleter<X509_CRL_free>>;
using X509Name = std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>>;
using X509Ext = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using X509Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using X509StoreCtx = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using Asn1Integer = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER_free>>;
using Asn1Time = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME_free>>;
using Asn1Object = std::unique_ptr<ASN1_OBJECT, Deleter<ASN1_OBJECT_free>>;
using Asn1OctetString = std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING_free>>;
using BigNum = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using GeneralNames = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using SslCtx = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;
using Ssl = std::unique_ptr<SSL, Deleter<SSL_free>>;

// Drains OpenSSL's thread-local error queue into one string (for logs; never sent to clients).
std::string DrainErrors();
// An Error of `code` whose detail is `what` plus the drained OpenSSL queue.
Error LastError(ErrorCode code, std::string_view what);

// PEM helpers.
Result<PKey> ReadPrivateKeyPem(std::string_view pem, std::string_view passphrase = {});
Result<std::string> PrivateKeyToPem(EVP_PKEY* key, std::string_view passphrase = {});
Result<std::string> PublicKeyToPem(EVP_PKEY* key);
Result<X509Ptr> ReadCertificatePem(std::string_view pem);
Result<std::string> CertificateToPem(X509* cert);
Result<std::string> CertificateToDer(X509* cert);

// New keys.
Result<PKey> GenerateEcKey(std::string_view curve /* "P-256", "P-384" */);
Result<PKey> GenerateRsaKey(int bits);
Result<PKey> GenerateEd25519Key();

// SHA-256 of data.
std::string Sha256(std::string_view data);
// HMAC-SHA256(key, data), raw bytes.
std::string HmacSha256(std::string_view key, std::string_view data);

}  // namespace hp::core::ossl
