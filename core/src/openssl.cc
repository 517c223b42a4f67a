#include "hp/core/openssl.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

namespace hp::core::ossl {

std::string DrainErrors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

Error LastError(ErrorCode code, std::string_view what) {
  std::string d(what);
  std::string q = DrainErrors();
  if (!q.empty()) d += " (" + q + ")";
  return Error(code, d);
}

namespace {
Bio MemBio(std::string_view data) {
  return Bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}
std::string BioString(BIO* bio) {
  char* p = nullptr;
  long n = BIO_get_mem_data(bio, &p);
  return std::string(p, static_cast<size_t>(n));
}
}  // namespace

Result<PKey> ReadPrivateKeyPem(std::string_view pem, std::string_view passphrase) {
  Bio bio = MemBio(pem);
  std::string pass(passphrase);
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr,
                                        pass.empty() ? nullptr : pass.data());
  if (!k) return std::unexpected(LastError(ErrorCode::kInvalidArgument, "cannot read private key PEM"));
  return PKey(k);
}

Result<std::string> PrivateKeyToPem(EVP_PKEY* key, std::string_view passphrase) {
  Bio bio(BIO_new(BIO_s_mem()));
  int ok;
  if (passphrase.empty()) {
    ok = PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    std::string pass(passphrase);
    ok = PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(), pass.data(),
                                       static_cast<int>(pass.size()), nullptr, nullptr);
  }
  if (ok != 1) return std::unexpected(LastError(ErrorCode::kInternal, "cannot write private key"));
  return BioString(bio.get());
}

Result<std::string> PublicKeyToPem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PUBKEY(bio.get(), key) != 1)
    return std::unexpected(LastError(ErrorCode::kInternal, "cannot write public key"));
  return BioString(bio.get());
}

Result<X509Ptr> ReadCertificatePem(std::string_view pem) {
  Bio bio = MemBio(pem);
  X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (!c) return std::unexpected(LastError(ErrorCode::kInvalidArgument, "cannot read certificate PEM"));
  return X509Ptr(c);
}

Result<std::string> CertificateToPem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(bio.get(), cert) != 1)
    return std::unexpected(LastError(ErrorCode::kInternal, "cannot write certificate"));
  return BioString(bio.get());
}

Result<std::string> CertificateToDer(X509* cert) {
  unsigned char* buf = nullptr;
  int n = i2d_X509(cert, &buf);
  if (n <= 0) return std::unexpected(LastError(ErrorCode::kInternal, "cannot encode certificate"));
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
  OPENSSL_free(buf);
  return out;
}

Result<PKey> GenerateEcKey(std::string_view curve) {
  const char* name = curve == "P-256" ? "P-256" : curve == "P-384" ? "P-384" : nullptr;
  if (!name) return Fail(ErrorCode::kInvalidArgument, "unsupported curve " + std::string(curve));
  EVP_PKEY* k = EVP_EC_gen(name);
  if (!k) return std::unexpected(LastError(ErrorCode::kInternal, "EC key generation failed"));
  return PKey(k);
}

Result<PKey> GenerateRsaKey(int bits) {
  EVP_PKEY* k = EVP_RSA_gen(static_cast<unsigned>(bits));
  if (!k) return std::unexpected(LastError(ErrorCode::kInternal, "RSA key generation failed"));
  return PKey(k);
}

Result<PKey> GenerateEd25519Key() {
  PKeyCtx ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  EVP_PKEY* k = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &k) != 1)
    return std::unexpected(LastError(ErrorCode::kInternal, "Ed25519 key generation failed"));
  return PKey(k);
}

std::string Sha256(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return std::string(reinterpret_cast<char*>(md), sizeof md);
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

}  // namespace hp::core::ossl
