#pragma once
// The certificate authority: the only holder of signing keys (through Signer). It keeps a
// hierarchy under a directory: an ECDSA P-384 root and issuing intermediates (ECDSA P-256 for
// EC keys, RSA 2048 for RSA keys), keys encrypted at rest with a passphrase. It issues leaf
// certificates from checked CSRs with the CA/Browser Forum BR DV profile, lints every
// to-be-signed certificate before signing it (a violation is kInternal, never a certificate),
// and signs CRLs per issuer.
//
// Thread safety: CertificateAuthority and Signer are safe to use from any thread.

#include <memory>
#include <string>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/openssl.h"
#include "hp/core/secret.h"

namespace hp::acme {

// Signs with a private key that may never leave its holder (a PKCS#11 token).
class Signer {
 public:
  virtual ~Signer() = default;
  virtual core::Status SignCertificate(X509* cert) = 0;  // sets signature (SHA-256/384)
  virtual core::Status SignCrl(X509_CRL* crl) = 0;
  // The public key, for matching against the issuer certificate.
  virtual EVP_PKEY* public_key() const = 0;
  // Where the key lives, for operators ("file ...", "pkcs11 token=... key=..."); no secrets.
  virtual std::string description() const { return ""; }
};

// A signer over an OpenSSL key in memory (from an encrypted PEM file).
std::unique_ptr<Signer> NewOpenSslSigner(core::ossl::PKey key);

// A key pair on a PKCS#11 token (config keys acme.ca.pkcs11.*). The private key is used through
// the token (libp11's OpenSSL engine) and never leaves it.
struct Pkcs11KeyConfig {
  std::string module;     // the PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so
  std::string token;      // token label
  std::string key_label;  // CKA_LABEL of the private key (and of its public key object)
  std::string pin_file;   // file whose first line is the user PIN
  bool empty() const { return module.empty(); }
};

// Opens the token and the key. Errors name the config key to fix: a wrong PIN
// (acme.ca.pkcs11.pin_file), a missing key or token (acme.ca.pkcs11.key_label), a missing
// module (acme.ca.pkcs11.module). Signers on one token share one engine session.
core::Result<std::unique_ptr<Signer>> NewPkcs11Signer(const Pkcs11KeyConfig& config);
enum class LeafKeyKind { kEcdsa, kRsa };

// A certificate profile (RFC draft-aaron-acme-profiles); validity is capped by the profile.
struct CertProfile {
  std::string name;         // "classic", "shortlived"
  std::string description;
  core::Duration validity;  // notAfter - notBefore + 1s
};

struct CaOptions {
  std::string dir;            // <var>/ca: root.pem, root.key, issuers/<id>.{pem,key}
  core::Secret passphrase;    // encrypts every private key file
  std::string base_url;       // public base for CRL and AIA URLs ("https://ca.example")
  std::string organization = "hostplane";  // subject O of the CA certificates
  std::vector<CertProfile> profiles = {
      {"classic", "90-day certificate, the BR DV profile", std::chrono::hours(24 * 90)},
      {"shortlived", "6-day certificate", std::chrono::hours(24 * 6 + 16)},
  };
  // Leaves are backdated by this much to tolerate client clock skew.
  core::Duration backdate = std::chrono::hours(1);
  // When set, the active intermediate of the key's kind (ECDSA or RSA) is the one whose key is
  // on this token: created (certified by the root) on first use, reused afterwards.
  Pkcs11KeyConfig pkcs11;
  // Only read the hierarchy (`hostplane ca show`): no key file is decrypted, no token opened,
  // nothing created; Issue, SignCrl and the rotations fail with kConflict.
  bool inspect_only = false;
};

struct IssuerInfo {
  std::string id;           // stable, URL-safe: "e1", "r1", "e2" after a rotation ...
  LeafKeyKind kind;
  bool active = false;      // new leaves of this kind are issued by this issuer
  std::string cert_pem;
  std::string ski;          // raw bytes of the SubjectKeyIdentifier
  std::string crl_url;      // in every leaf it issues
  std::string ca_issuers_url;
  core::TimePoint not_before;
  core::TimePoint not_after;
  std::string subject;             // RFC 2253 text
  std::string key_type;            // "ECDSA P-256", "RSA 2048", "ECDSA P-384"
  std::string sha256_fingerprint;  // of the DER certificate, upper-case hex with colons
  std::string signer;              // "file issuers/e1.key (encrypted)", "pkcs11 token=..."
};

struct IssueRequest {
  std::string csr_der;  // already checked with CheckCsr against these identifiers
  std::vector<core::Identifier> identifiers;
  std::string profile;
  core::TimePoint not_before;  // 0: now - backdate
  // Optional, from CheckCsr: the parsed csr_der and its SPKI hash, so that they are not
  // decoded and hashed twice (key decoding is the slow part of OpenSSL 3's d2i).
  EVP_PKEY* csr_key = nullptr;       // both or neither
  X509_PUBKEY* csr_spki = nullptr;
  std::string spki_sha256;
};

struct IssuedCertificate {
  std::string serial_hex;  // lower-case, no leading zeros
  std::string der;
  std::string pem;         // leaf only
  std::string issuer_id;
  std::string aki;          // raw issuer SKI (for ARI ids)
  std::string serial_der;   // raw serial INTEGER contents (for ARI ids)
  std::string spki_sha256;  // hex
  core::TimePoint not_before;
  core::TimePoint not_after;
};

struct RevokedEntry {
  std::string serial_hex;
  core::TimePoint revoked_at;
  int reason = 0;  // RFC 5280 CRLReason
};

class CertificateAuthority {
 public:
  // Loads the hierarchy from options.dir, creating root and intermediates on first start.
  // Fails (naming the file) when a key cannot be decrypted or a file is damaged.
  static core::Result<std::unique_ptr<CertificateAuthority>> Create(CaOptions options,
                                                                    const core::Clock& clock);
  virtual ~CertificateAuthority() = default;

  // Builds the leaf, lints it against the profile, signs it. kAcmeInvalidProfile for an unknown
  // profile; kInternal when the lint finds a violation (nothing is signed then).
  virtual core::Result<IssuedCertificate> Issue(const IssueRequest& request) = 0;
  // A DER CRL for `issuer_id` listing `revoked`, with thisUpdate now and nextUpdate now+validity.
  virtual core::Result<std::string> SignCrl(const std::string& issuer_id, int64_t number,
                                            const std::vector<RevokedEntry>& revoked,
                                            core::Duration validity) = 0;

  virtual std::string root_pem() const = 0;
  // Alternate chains (RFC 8555 §7.4.2 Link rel="alternate"). Besides the ECDSA P-384 root
  // ("Root X1") the CA keeps an RSA 4096 root ("Root R1", alt-root.pem) for trust stores that
  // only accept RSA roots, and a certificate of Root X1 signed by Root R1 (cross-x1.pem; same
  // subject, key and SKI as Root X1). Every issuer therefore has one alternate chain: its own
  // certificate followed by that cross-certificate, which verifies up to Root R1 -- the way
  // Let's Encrypt serves ISRG Root X2 (ECDSA) cross-signed by ISRG Root X1 (RSA).
  // The PEM appended after the issuer certificate for alternate chain `n` (0-based) of
  // `issuer_id`; kNotFound past the last one.
  virtual core::Result<std::string> AlternateChainTail(const std::string& issuer_id,
                                                       size_t n) const = 0;
  virtual size_t alternate_chain_count(const std::string& issuer_id) const = 0;
  // Root R1 (PEM); empty when the hierarchy has none (inspect-only of an old directory).
  virtual std::string alternate_root_pem() const = 0;
  // The root as an IssuerInfo (id "root"; crl/AIA URLs empty).
  virtual IssuerInfo root() const = 0;
  virtual std::vector<IssuerInfo> issuers() const = 0;
  virtual core::Result<IssuerInfo> issuer(const std::string& id) const = 0;
  virtual const std::vector<CertProfile>& profiles() const = 0;
  // Creates a new intermediate of `kind`, makes it the active one (the old one keeps serving its
  // CRL). Returns its id.
  virtual core::Result<std::string> RotateIssuer(LeafKeyKind kind) = 0;
  // Makes the key on a PKCS#11 token the active intermediate of its kind: certifies it with the
  // root the first time (the issuer remembers module, token, label and PIN file in
  // issuers/<id>.pkcs11.json), reuses that intermediate afterwards. Returns its id.
  virtual core::Result<std::string> UsePkcs11Issuer(const Pkcs11KeyConfig& config) = 0;
};

}  // namespace hp::acme
