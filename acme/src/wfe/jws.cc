#include "hp/acme/jws.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>

#include "hp/core/encoding.h"
#include "hp/core/secret.h"

namespace hp::acme {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Json;
using core::Result;
using core::Status;

using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, core::ossl::Deleter<OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, core::ossl::Deleter<OSSL_PARAM_free>>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, core::ossl::Deleter<ECDSA_SIG_free>>;

Result<std::string> B64Member(const Json& obj, const char* name, ErrorCode code) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) {
    return Fail(code, std::string("JWK member \"") + name + "\" missing or not a string");
  }
  auto d = core::Base64UrlDecodeToString(it->get<std::string>());
  if (!d) return Fail(code, std::string("JWK member \"") + name + "\" is not base64url");
  return *d;
}

std::string StripLeadingZeros(std::string s) {
  size_t i = 0;
  while (i + 1 < s.size() && s[i] == '\0') ++i;
  return s.substr(i);
}

Result<core::ossl::PKey> FromData(const char* type, OSSL_PARAM_BLD* bld) {
  Params params(OSSL_PARAM_BLD_to_param(bld));
  core::ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    core::ossl::DrainErrors();
    return Fail(ErrorCode::kAcmeBadPublicKey, "JWK does not describe a valid public key");
  }
  core::ossl::PKey key(raw);
  core::ossl::PKeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    core::ossl::DrainErrors();
    return Fail(ErrorCode::kAcmeBadPublicKey, "JWK public key fails validation");
  }
  return key;
}

bool IsMacAlg(std::string_view a) { return a == "HS256" || a == "HS384" || a == "HS512"; }

Result<JwsAlg> ParseAlg(std::string_view a) {
  if (a == "RS256") return JwsAlg::kRs256;
  if (a == "ES256") return JwsAlg::kEs256;
  if (a == "ES384") return JwsAlg::kEs384;
  if (a == "EdDSA") return JwsAlg::kEdDsa;
  if (a == "none") return Fail(ErrorCode::kAcmeBadSignatureAlgorithm, "alg \"none\" is not allowed");
  if (IsMacAlg(a)) {
    return Fail(ErrorCode::kAcmeBadSignatureAlgorithm,
                "MAC algorithms are allowed only inside externalAccountBinding");
  }
  return Fail(ErrorCode::kAcmeBadSignatureAlgorithm,
              "unsupported alg; use one of RS256, ES256, ES384, EdDSA");
}

Result<std::string> DecodeMember(const Json& obj, const char* name, bool allow_empty) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) {
    return Fail(ErrorCode::kAcmeMalformed, std::string("JWS member \"") + name + "\" missing");
  }
  const auto& s = it->get_ref<const std::string&>();
  if (s.empty() && !allow_empty) {
    return Fail(ErrorCode::kAcmeMalformed, std::string("JWS member \"") + name + "\" is empty");
  }
  auto d = core::Base64UrlDecodeToString(s);
  if (!d) {
    return Fail(ErrorCode::kAcmeMalformed,
                std::string("JWS member \"") + name + "\" is not base64url");
  }
  return *d;
}

}  // namespace

std::string_view JwsAlgName(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::kRs256: return "RS256";
    case JwsAlg::kEs256: return "ES256";
    case JwsAlg::kEs384: return "ES384";
    case JwsAlg::kEdDsa: return "EdDSA";
  }
  return "?";
}

Result<std::shared_ptr<const Jwk>> Jwk::Parse(const Json& jwk) {
  if (!jwk.is_object()) return Fail(ErrorCode::kAcmeMalformed, "jwk is not an object");
  for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "k"}) {
    if (jwk.contains(priv)) {
      return Fail(ErrorCode::kAcmeBadPublicKey, "JWK contains private key material");
    }
  }
  auto kty_it = jwk.find("kty");
  if (kty_it == jwk.end() || !kty_it->is_string()) {
    return Fail(ErrorCode::kAcmeMalformed, "JWK has no kty");
  }
  const std::string kty = *kty_it;
  std::shared_ptr<Jwk> out(new Jwk());
  Json canon = Json::object();
  if (kty == "RSA") {
    HP_ASSIGN_OR_RETURN(std::string n, B64Member(jwk, "n", ErrorCode::kAcmeBadPublicKey));
    HP_ASSIGN_OR_RETURN(std::string e, B64Member(jwk, "e", ErrorCode::kAcmeBadPublicKey));
    n = StripLeadingZeros(n);
    e = StripLeadingZeros(e);
    const size_t bits = n.size() * 8;
    if (bits < 2048 || bits > 8192) {
      return Fail(ErrorCode::kAcmeBadPublicKey, "RSA keys must have 2048 to 8192 bits");
    }
    core::ossl::BigNum bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                                      static_cast<int>(n.size()), nullptr));
    core::ossl::BigNum bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                                      static_cast<int>(e.size()), nullptr));
    if (!bn_n || !bn_e || BN_num_bits(bn_n.get()) < 2048 || !BN_is_odd(bn_e.get()) ||
        BN_num_bits(bn_e.get()) > 32 || BN_get_word(bn_e.get()) < 65537) {
      return Fail(ErrorCode::kAcmeBadPublicKey, "RSA key has a weak modulus or exponent");
    }
    ParamBld bld(OSSL_PARAM_BLD_new());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get());
    HP_ASSIGN_OR_RETURN(out->pkey_, FromData("RSA", bld.get()));
    out->alg_ = JwsAlg::kRs256;
    canon = {{"kty", "RSA"}, {"n", core::Base64UrlEncode(n)}, {"e", core::Base64UrlEncode(e)}};
  } else if (kty == "EC") {
    auto crv = jwk.value("crv", std::string());
    size_t len = 0;
    const char* group = nullptr;
    if (crv == "P-256") {
      len = 32, group = "prime256v1", out->alg_ = JwsAlg::kEs256;
    } else if (crv == "P-384") {
      len = 48, group = "secp384r1", out->alg_ = JwsAlg::kEs384;
    } else {
      return Fail(ErrorCode::kAcmeBadPublicKey, "EC keys must use P-256 or P-384");
    }
    HP_ASSIGN_OR_RETURN(std::string x, B64Member(jwk, "x", ErrorCode::kAcmeBadPublicKey));
    HP_ASSIGN_OR_RETURN(std::string y, B64Member(jwk, "y", ErrorCode::kAcmeBadPublicKey));
    if (x.size() != len || y.size() != len) {
      return Fail(ErrorCode::kAcmeBadPublicKey, "EC coordinates have the wrong length");
    }
    std::string point = "\x04" + x + y;
    ParamBld bld(OSSL_PARAM_BLD_new());
    OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                     point.size());
    HP_ASSIGN_OR_RETURN(out->pkey_, FromData("EC", bld.get()));
    canon = {{"kty", "EC"}, {"crv", crv}, {"x", core::Base64UrlEncode(x)},
             {"y", core::Base64UrlEncode(y)}};
  } else if (kty == "OKP") {
    if (jwk.value("crv", std::string()) != "Ed25519") {
      return Fail(ErrorCode::kAcmeBadPublicKey, "OKP keys must use Ed25519");
    }
    HP_ASSIGN_OR_RETURN(std::string x, B64Member(jwk, "x", ErrorCode::kAcmeBadPublicKey));
    if (x.size() != 32) return Fail(ErrorCode::kAcmeBadPublicKey, "Ed25519 key must be 32 bytes");
    out->pkey_.reset(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size()));
    if (!out->pkey_) {
      core::ossl::DrainErrors();
      return Fail(ErrorCode::kAcmeBadPublicKey, "invalid Ed25519 key");
    }
    out->alg_ = JwsAlg::kEdDsa;
    canon = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", core::Base64UrlEncode(x)}};
  } else {
    return Fail(ErrorCode::kAcmeBadPublicKey, "unsupported kty \"" + kty + "\"");
  }
  out->canonical_ = canon.dump();  // nlohmann objects are ordered: this is RFC 7638 form
  out->thumbprint_ = core::Base64UrlEncode(core::ossl::Sha256(out->canonical_));
  return std::shared_ptr<const Jwk>(std::move(out));
}

Json Jwk::ToJson() const { return Json::parse(canonical_); }

Status Jwk::Verify(std::string_view signing_input, std::string_view signature) const {
  std::string sig(signature);
  const EVP_MD* md = nullptr;
  switch (alg_) {
    case JwsAlg::kRs256: md = EVP_sha256(); break;
    case JwsAlg::kEdDsa: md = nullptr; break;
    case JwsAlg::kEs256:
    case JwsAlg::kEs384: {
      const size_t half = alg_ == JwsAlg::kEs256 ? 32 : 48;
      md = alg_ == JwsAlg::kEs256 ? EVP_sha256() : EVP_sha384();
      if (sig.size() != 2 * half) {
        return Fail(ErrorCode::kAcmeMalformed, "ECDSA signature has the wrong length");
      }
      EcdsaSig es(ECDSA_SIG_new());
      BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()),
                            static_cast<int>(half), nullptr);
      BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + half,
                            static_cast<int>(half), nullptr);
      if (!es || !r || !s || ECDSA_SIG_set0(es.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return Fail(ErrorCode::kInternal, "ECDSA_SIG allocation failed");
      }
      unsigned char* der = nullptr;
      int der_len = i2d_ECDSA_SIG(es.get(), &der);
      if (der_len <= 0) return Fail(ErrorCode::kInternal, "i2d_ECDSA_SIG failed");
      sig.assign(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
      OPENSSL_free(der);
      break;
    }
  }
  core::ossl::MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey_.get()) != 1) {
    return Fail(core::ossl::LastError(ErrorCode::kInternal, "EVP_DigestVerifyInit"));
  }
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                            sig.size(),
                            reinterpret_cast<const unsigned char*>(signing_input.data()),
                            signing_input.size());
  if (rc != 1) {
    core::ossl::DrainErrors();
    return Fail(ErrorCode::kAcmeMalformed, "JWS signature is invalid");
  }
  return core::Ok();
}

Result<JwsMessage> ParseJws(std::string_view body, JwsKind kind) {
  auto parsed = core::ParseJson(body);
  if (!parsed || !parsed->is_object()) {
    return Fail(ErrorCode::kAcmeMalformed, "request body is not a JSON object (flattened JWS)");
  }
  const Json& obj = *parsed;
  if (obj.contains("signatures")) {
    return Fail(ErrorCode::kAcmeMalformed, "JWS general serialization is not allowed");
  }
  if (obj.contains("header")) {
    return Fail(ErrorCode::kAcmeMalformed, "JWS unprotected header is not allowed");
  }
  for (const auto& [k, v] : obj.items()) {
    if (k != "protected" && k != "payload" && k != "signature") {
      return Fail(ErrorCode::kAcmeMalformed, "unexpected JWS member \"" + k + "\"");
    }
  }
  JwsMessage m;
  HP_ASSIGN_OR_RETURN(std::string prot_json, DecodeMember(obj, "protected", false));
  HP_ASSIGN_OR_RETURN(m.payload, DecodeMember(obj, "payload", true));
  HP_ASSIGN_OR_RETURN(m.signature, DecodeMember(obj, "signature", false));
  m.post_as_get = obj["payload"].get_ref<const std::string&>().empty();
  m.signing_input = obj["protected"].get<std::string>() + "." + obj["payload"].get<std::string>();

  auto prot = core::ParseJson(prot_json);
  if (!prot || !prot->is_object()) {
    return Fail(ErrorCode::kAcmeMalformed, "JWS protected header is not a JSON object");
  }
  const Json& h = *prot;
  if (h.contains("crit") || h.contains("b64")) {
    return Fail(ErrorCode::kAcmeMalformed, "JWS extensions (crit, b64) are not supported");
  }
  auto str = [&](const char* name) -> Result<std::string> {
    auto it = h.find(name);
    if (it == h.end()) return std::string();
    if (!it->is_string()) {
      return Fail(ErrorCode::kAcmeMalformed, std::string("JWS header \"") + name +
                                                 "\" is not a string");
    }
    return it->get<std::string>();
  };
  HP_ASSIGN_OR_RETURN(m.alg_name, str("alg"));
  if (m.alg_name.empty()) return Fail(ErrorCode::kAcmeMalformed, "JWS header has no alg");
  HP_ASSIGN_OR_RETURN(m.alg, ParseAlg(m.alg_name));
  HP_ASSIGN_OR_RETURN(m.nonce, str("nonce"));
  HP_ASSIGN_OR_RETURN(m.url, str("url"));
  HP_ASSIGN_OR_RETURN(m.kid, str("kid"));
  if (h.contains("jwk")) m.jwk = h["jwk"];
  const bool has_jwk = !m.jwk.is_null();
  const bool has_kid = h.contains("kid");
  if (m.url.empty()) return Fail(ErrorCode::kAcmeMalformed, "JWS header has no url");
  if (kind == JwsKind::kOuter) {
    if (has_jwk && has_kid) {
      return Fail(ErrorCode::kAcmeMalformed, "JWS header must not contain both jwk and kid");
    }
    if (!has_jwk && !has_kid) {
      return Fail(ErrorCode::kAcmeMalformed, "JWS header must contain jwk or kid");
    }
    if (has_kid && m.kid.empty()) return Fail(ErrorCode::kAcmeMalformed, "JWS kid is empty");
    if (!h.contains("nonce")) return Fail(ErrorCode::kAcmeBadNonce, "JWS header has no nonce");
  } else {
    if (!has_jwk) return Fail(ErrorCode::kAcmeMalformed, "inner JWS must contain jwk");
    if (has_kid) return Fail(ErrorCode::kAcmeMalformed, "inner JWS must not contain kid");
    if (h.contains("nonce")) {
      return Fail(ErrorCode::kAcmeMalformed, "inner JWS must not contain a nonce");
    }
  }
  return m;
}

Status VerifyJws(const JwsMessage& msg, const Jwk& key) {
  if (msg.alg != key.alg()) {
    return Fail(ErrorCode::kAcmeBadSignatureAlgorithm,
                "alg " + msg.alg_name + " does not match the key (expected " +
                    std::string(JwsAlgName(key.alg())) + ")");
  }
  return key.Verify(msg.signing_input, msg.signature);
}

Result<EabMessage> ParseEab(const Json& eab, std::string_view url, const Jwk& account_jwk) {
  if (!eab.is_object()) {
    return Fail(ErrorCode::kAcmeMalformed, "externalAccountBinding is not a JWS object");
  }
  for (const auto& [k, v] : eab.items()) {
    if (k != "protected" && k != "payload" && k != "signature") {
      return Fail(ErrorCode::kAcmeMalformed, "unexpected member in externalAccountBinding");
    }
  }
  HP_ASSIGN_OR_RETURN(std::string prot_json, DecodeMember(eab, "protected", false));
  HP_ASSIGN_OR_RETURN(std::string payload, DecodeMember(eab, "payload", false));
  EabMessage out;
  HP_ASSIGN_OR_RETURN(out.mac, DecodeMember(eab, "signature", false));
  auto h = core::ParseJson(prot_json);
  if (!h || !h->is_object()) {
    return Fail(ErrorCode::kAcmeMalformed, "externalAccountBinding protected header invalid");
  }
  if (h->value("alg", std::string()) != "HS256") {
    return Fail(ErrorCode::kAcmeBadSignatureAlgorithm, "externalAccountBinding must use HS256");
  }
  if (h->contains("nonce")) {
    return Fail(ErrorCode::kAcmeMalformed, "externalAccountBinding must not contain a nonce");
  }
  if (h->contains("crit") || h->contains("jwk")) {
    return Fail(ErrorCode::kAcmeMalformed, "externalAccountBinding header has extra members");
  }
  if (h->value("url", std::string()) != url) {
    return Fail(ErrorCode::kAcmeMalformed, "externalAccountBinding url does not match");
  }
  out.kid = h->value("kid", std::string());
  if (out.kid.empty()) return Fail(ErrorCode::kAcmeMalformed, "externalAccountBinding has no kid");
  auto pj = core::ParseJson(payload);
  if (!pj) return Fail(ErrorCode::kAcmeMalformed, "externalAccountBinding payload is not a JWK");
  auto inner = Jwk::Parse(*pj);
  if (!inner || (*inner)->canonical() != account_jwk.canonical()) {
    return Fail(ErrorCode::kAcmeMalformed,
                "externalAccountBinding payload is not the account key");
  }
  out.signing_input = eab["protected"].get<std::string>() + "." + eab["payload"].get<std::string>();
  return out;
}

Status VerifyEabMac(const EabMessage& eab, std::string_view hmac_key) {
  if (!core::ConstantTimeEquals(core::ossl::HmacSha256(hmac_key, eab.signing_input), eab.mac)) {
    return Fail(ErrorCode::kAcmeUnauthorized, "externalAccountBinding MAC is invalid");
  }
  return core::Ok();
}

Result<std::shared_ptr<const Jwk>> JwkCache::Get(const Json& jwk) {
  return Lookup(jwk.dump(), &jwk);
}

Result<std::shared_ptr<const Jwk>> JwkCache::GetCanonical(const std::string& canonical) {
  return Lookup(canonical, nullptr);
}

Result<std::shared_ptr<const Jwk>> JwkCache::Lookup(const std::string& key, const Json* json) {
  {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
  }
  std::shared_ptr<const Jwk> parsed;
  if (json) {
    HP_ASSIGN_OR_RETURN(parsed, Jwk::Parse(*json));
  } else {
    auto j = core::ParseJson(key);
    if (!j) return Fail(ErrorCode::kInternal, "stored JWK is not JSON");
    HP_ASSIGN_OR_RETURN(parsed, Jwk::Parse(*j));
  }
  std::lock_guard lock(mu_);
  if (map_.count(key)) return parsed;
  lru_.emplace_front(key, parsed);
  map_[key] = lru_.begin();
  while (lru_.size() > capacity_) {
    map_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return parsed;
}

std::string KeyAuthorization(std::string_view token, const Jwk& key) {
  return std::string(token) + "." + key.thumbprint();
}

}  // namespace hp::acme
