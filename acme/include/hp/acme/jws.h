#pragma once
// JSON Web Signatures as ACME uses them (RFC 8555 §6.2, RFC 7515 flattened JSON serialization):
// parsing with every structural rejection rule, public JWK parsing with RFC 7638 thumbprints,
// signature verification for RS256, ES256, ES384 and EdDSA (Ed25519), and the HS256 MAC that is
// allowed only inside External Account Binding (RFC 8555 §7.3.4).
//
// Errors: kAcmeMalformed for structure, kAcmeBadSignatureAlgorithm for an algorithm we do not
// accept (none, MACs, unknown, or one that does not fit the key), kAcmeBadPublicKey for keys we
// refuse. Whether the key may act on a resource is the caller's business.
//
// Thread safety: all functions are reentrant; Jwk objects are immutable and may be shared.

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "hp/core/error.h"
#include "hp/core/json.h"
#include "hp/core/openssl.h"

namespace hp::acme {

enum class JwsAlg { kRs256, kEs256, kEs384, kEdDsa };
std::string_view JwsAlgName(JwsAlg alg);

// A parsed public key from a JWK. Immutable.
class Jwk {
 public:
  // Accepts RSA (2048..8192 bits, odd exponent >= 65537), EC P-256/P-384 (point on the curve) and
  // OKP Ed25519. Rejects private members, unknown kty/crv and malformed values.
  static core::Result<std::shared_ptr<const Jwk>> Parse(const core::Json& jwk);

  // The only algorithm this key may sign with.
  JwsAlg alg() const { return alg_; }
  // RFC 7638 thumbprint, base64url(SHA-256(canonical JSON)); used in key authorizations.
  const std::string& thumbprint() const { return thumbprint_; }
  // Canonical JSON of the required members (minimal encodings); equal keys give equal strings.
  const std::string& canonical() const { return canonical_; }
  core::Json ToJson() const;
  EVP_PKEY* pkey() const { return pkey_.get(); }

  // Verifies `signature` (JWS encoding: raw r||s for ECDSA) over `signing_input`.
  core::Status Verify(std::string_view signing_input, std::string_view signature) const;

 private:
  Jwk() = default;
  JwsAlg alg_ = JwsAlg::kEs256;
  std::string thumbprint_;
  std::string canonical_;
  core::ossl::PKey pkey_;
};

// A flattened JWS whose structure and protected header passed the ACME rules, not yet verified.
struct JwsMessage {
  std::string alg_name;  // as sent
  JwsAlg alg = JwsAlg::kEs256;
  std::string nonce;     // empty only for inner/EAB JWS
  std::string url;
  std::string kid;       // exactly one of kid / jwk is set for outer JWS
  core::Json jwk;        // null when absent
  std::string signing_input;  // protected "." payload, as sent
  std::string signature;      // decoded bytes
  std::string payload;        // decoded bytes; empty for POST-as-GET
  bool post_as_get = false;   // payload member was the empty string
};

enum class JwsKind {
  kOuter,  // request body: needs nonce + url and exactly one of jwk/kid
  kInner,  // keyChange inner JWS: needs url and jwk, no nonce, no kid
};

// Parses a flattened JWS JSON body. Rejects: non-object, the general serialization
// ("signatures"), an unprotected "header", missing/invalid base64url members, alg none, MAC
// algorithms, unknown algorithms, "crit" or "b64" extensions, both or neither of jwk/kid, a
// missing nonce or url (outer), a nonce or kid in an inner JWS.
core::Result<JwsMessage> ParseJws(std::string_view body, JwsKind kind = JwsKind::kOuter);

// Verifies the signature of a parsed message with `key` (whose algorithm must match).
core::Status VerifyJws(const JwsMessage& msg, const Jwk& key);

// External Account Binding (RFC 8555 §7.3.4): `eab` is the externalAccountBinding object. Checks
// that alg is HS256, kid is set, no nonce, url equals `url`, the payload is the canonical form of
// `account_jwk`, and returns the kid. The MAC itself is checked by VerifyEabMac once the caller
// has looked the key up.
struct EabMessage {
  std::string kid;
  std::string signing_input;
  std::string mac;
};
core::Result<EabMessage> ParseEab(const core::Json& eab, std::string_view url,
                                  const Jwk& account_jwk);
// Constant-time HMAC-SHA256 check; kAcmeUnauthorized on mismatch.
core::Status VerifyEabMac(const EabMessage& eab, std::string_view hmac_key);

// A bounded, thread-safe cache of parsed keys by their JSON text, so that the same account key
// is parsed once (key parsing costs more than the verification itself for EC keys).
class JwkCache {
 public:
  explicit JwkCache(size_t capacity = 100000) : capacity_(capacity) {}
  core::Result<std::shared_ptr<const Jwk>> Get(const core::Json& jwk);
  // Same, keyed by a canonical string stored earlier (e.g. an account's key from the store).
  core::Result<std::shared_ptr<const Jwk>> GetCanonical(const std::string& canonical);

 private:
  core::Result<std::shared_ptr<const Jwk>> Lookup(const std::string& key, const core::Json* json);
  using Entry = std::pair<std::string, std::shared_ptr<const Jwk>>;
  size_t capacity_;
  std::mutex mu_;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
};

// token "." thumbprint (RFC 8555 §8.1).
std::string KeyAuthorization(std::string_view token, const Jwk& key);

}  // namespace hp::acme
