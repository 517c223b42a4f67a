#include "hp/acme/jws.h"

#include <gtest/gtest.h>

#include "hp/core/encoding.h"
#include "testing/acme_test_util.h"

namespace hp::acme {
namespace {

using core::ErrorCode;
using core::Json;
using testing::MakeKey;
using testing::SignJws;

constexpr char kUrl[] = "https://ca.test/acme/new-order";

Json Header(const testing::TestKey& k) {
  return {{"nonce", "n1"}, {"url", kUrl}, {"jwk", k.jwk}};
}

ErrorCode Code(const core::Status& s) { return s ? ErrorCode::kInternal : s.error().code; }

// Parses and verifies with the embedded jwk, like new-account does.
core::Status ParseAndVerify(const std::string& body) {
  auto m = ParseJws(body);
  if (!m) return std::unexpected(m.error());
  auto k = Jwk::Parse(m->jwk);
  if (!k) return std::unexpected(k.error());
  return VerifyJws(*m, **k);
}

class JwsAlgTest : public ::testing::TestWithParam<std::string> {};

TEST_P(JwsAlgTest, GoodSignatureVerifiesAndTamperedOneDoesNot) {
  auto key = MakeKey(GetParam());
  std::string body = SignJws(key, Header(key), R"({"termsOfServiceAgreed":true})");
  auto m = ParseJws(body);
  ASSERT_TRUE(m) << m.error().detail;
  EXPECT_EQ(m->url, kUrl);
  EXPECT_EQ(m->nonce, "n1");
  EXPECT_FALSE(m->post_as_get);
  EXPECT_TRUE(ParseAndVerify(body));

  // Same header, other payload, old signature: rejected.
  Json j = Json::parse(body);
  j["payload"] = core::Base64UrlEncode(std::string(R"({"termsOfServiceAgreed":false})"));
  EXPECT_EQ(Code(ParseAndVerify(j.dump())), ErrorCode::kAcmeMalformed);
}

TEST_P(JwsAlgTest, SignatureByAnotherKeyIsRejected) {
  auto key = MakeKey(GetParam());
  auto other = MakeKey(GetParam());
  Json h = Header(key);
  std::string body = SignJws(other, h, "{}");  // jwk says `key`, signed by `other`
  EXPECT_EQ(Code(ParseAndVerify(body)), ErrorCode::kAcmeMalformed);
}

INSTANTIATE_TEST_SUITE_P(Algs, JwsAlgTest, ::testing::Values("RS256", "ES256", "ES384", "EdDSA"));

TEST(Jws, PostAsGetHasEmptyPayload) {
  auto key = MakeKey("ES256");
  auto m = ParseJws(SignJws(key, Header(key), ""));
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->post_as_get);
}

TEST(Jws, AlgNoneIsRejected) {
  auto key = MakeKey("ES256");
  Json h = Header(key);
  h["alg"] = "none";
  Json j = {{"protected", core::Base64UrlEncode(h.dump())},
            {"payload", core::Base64UrlEncode(std::string("{}"))},
            {"signature", core::Base64UrlEncode(std::string("x"))}};
  EXPECT_EQ(ParseJws(j.dump()).error().code, ErrorCode::kAcmeBadSignatureAlgorithm);
}

TEST(Jws, MacAlgorithmsAreRejectedOutsideEab) {
  auto key = MakeKey("ES256");
  for (const char* alg : {"HS256", "HS384", "HS512"}) {
    Json h = Header(key);
    h["alg"] = alg;
    Json j = {{"protected", core::Base64UrlEncode(h.dump())},
              {"payload", core::Base64UrlEncode(std::string("{}"))},
              {"signature", core::Base64UrlEncode(core::ossl::HmacSha256("k", "x"))}};
    EXPECT_EQ(ParseJws(j.dump()).error().code, ErrorCode::kAcmeBadSignatureAlgorithm) << alg;
  }
}

TEST(Jws, AlgMustMatchKey) {
  auto key = MakeKey("ES256");
  Json h = Header(key);
  h["alg"] = "ES384";
  std::string body = SignJws(key, h, "{}");
  EXPECT_EQ(Code(ParseAndVerify(body)), ErrorCode::kAcmeBadSignatureAlgorithm);
}

TEST(Jws, JwkAndKidTogetherAreRejected) {
  auto key = MakeKey("ES256");
  Json h = Header(key);
  h["kid"] = "https://ca.test/acme/acct/x";
  EXPECT_EQ(ParseJws(SignJws(key, h, "{}")).error().code, ErrorCode::kAcmeMalformed);
}

TEST(Jws, NeitherJwkNorKidIsRejected) {
  auto key = MakeKey("ES256");
  Json h = {{"nonce", "n"}, {"url", kUrl}};
  EXPECT_EQ(ParseJws(SignJws(key, h, "{}")).error().code, ErrorCode::kAcmeMalformed);
}

TEST(Jws, MissingNonceIsBadNonceAndMissingUrlIsMalformed) {
  auto key = MakeKey("ES256");
  Json h = Header(key);
  h.erase("nonce");
  EXPECT_EQ(ParseJws(SignJws(key, h, "{}")).error().code, ErrorCode::kAcmeBadNonce);
  h = Header(key);
  h.erase("url");
  EXPECT_EQ(ParseJws(SignJws(key, h, "{}")).error().code, ErrorCode::kAcmeMalformed);
}

TEST(Jws, StructuralRejections) {
  auto key = MakeKey("ES256");
  Json good = Json::parse(SignJws(key, Header(key), "{}"));
  auto with = [&](const char* k, Json v) {
    Json j = good;
    j[k] = v;
    return ParseJws(j.dump());
  };
  EXPECT_EQ(with("header", Json{{"kid", "x"}}).error().code, ErrorCode::kAcmeMalformed);
  EXPECT_EQ(with("signatures", Json::array()).error().code, ErrorCode::kAcmeMalformed);
  EXPECT_EQ(with("signature", "a=b").error().code, ErrorCode::kAcmeMalformed);
  EXPECT_EQ(with("payload", 5).error().code, ErrorCode::kAcmeMalformed);
  EXPECT_EQ(ParseJws("not json").error().code, ErrorCode::kAcmeMalformed);
  EXPECT_EQ(ParseJws("[1]").error().code, ErrorCode::kAcmeMalformed);
  Json h = Header(key);
  h["crit"] = Json::array({"b64"});
  h["b64"] = false;
  EXPECT_EQ(ParseJws(SignJws(key, h, "{}")).error().code, ErrorCode::kAcmeMalformed);
}

TEST(Jwk, RejectsWeakAndPrivateKeys) {
  auto rsa = MakeKey("RS256");
  Json priv = rsa.jwk;
  priv["d"] = "AQAB";
  EXPECT_EQ(Jwk::Parse(priv).error().code, ErrorCode::kAcmeBadPublicKey);
  Json small = rsa.jwk;
  small["n"] = core::Base64UrlEncode(std::string(128, '\xff'));  // 1024 bits
  EXPECT_EQ(Jwk::Parse(small).error().code, ErrorCode::kAcmeBadPublicKey);
  Json e3 = rsa.jwk;
  e3["e"] = "Aw";
  EXPECT_EQ(Jwk::Parse(e3).error().code, ErrorCode::kAcmeBadPublicKey);
  auto ec = MakeKey("ES256");
  Json off_curve = ec.jwk;
  off_curve["y"] = core::Base64UrlEncode(std::string(32, '\x01'));
  EXPECT_EQ(Jwk::Parse(off_curve).error().code, ErrorCode::kAcmeBadPublicKey);
  Json p521 = ec.jwk;
  p521["crv"] = "P-521";
  EXPECT_EQ(Jwk::Parse(p521).error().code, ErrorCode::kAcmeBadPublicKey);
}

TEST(Jwk, ThumbprintMatchesRfc7638Example) {
  // RFC 7638 §3.1.
  Json jwk = {
      {"kty", "RSA"},
      {"n", "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
            "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YG"
            "jQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt"
            "-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDK"
            "gw"},
      {"e", "AQAB"},
      {"alg", "RS256"},
      {"kid", "2011-04-29"}};
  auto k = Jwk::Parse(jwk);
  ASSERT_TRUE(k) << k.error().detail;
  EXPECT_EQ((*k)->thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

TEST(Eab, GoodMacBindsAndWrongKeyOrUrlDoesNot) {
  auto acct = MakeKey("ES256");
  auto jwk = *Jwk::Parse(acct.jwk);
  const std::string mac_key = "0123456789abcdef0123456789abcdef";
  auto make = [&](const std::string& url, const std::string& alg, const Json& payload) {
    Json h = {{"alg", alg}, {"kid", "kid-1"}, {"url", url}};
    std::string prot = core::Base64UrlEncode(h.dump());
    std::string pay = core::Base64UrlEncode(payload.dump());
    return Json{{"protected", prot}, {"payload", pay},
                {"signature",
                 core::Base64UrlEncode(core::ossl::HmacSha256(mac_key, prot + "." + pay))}};
  };
  auto eab = ParseEab(make(kUrl, "HS256", acct.jwk), kUrl, *jwk);
  ASSERT_TRUE(eab) << eab.error().detail;
  EXPECT_EQ(eab->kid, "kid-1");
  EXPECT_TRUE(VerifyEabMac(*eab, mac_key));
  EXPECT_EQ(VerifyEabMac(*eab, "other key").error().code, ErrorCode::kAcmeUnauthorized);
  EXPECT_EQ(ParseEab(make("https://x/", "HS256", acct.jwk), kUrl, *jwk).error().code,
            ErrorCode::kAcmeMalformed);
  EXPECT_EQ(ParseEab(make(kUrl, "ES256", acct.jwk), kUrl, *jwk).error().code,
            ErrorCode::kAcmeBadSignatureAlgorithm);
  EXPECT_EQ(ParseEab(make(kUrl, "HS256", MakeKey("ES256").jwk), kUrl, *jwk).error().code,
            ErrorCode::kAcmeMalformed);
}

TEST(JwkCache, ReturnsTheSameParsedKey) {
  JwkCache cache(2);
  auto a = MakeKey("ES256"), b = MakeKey("ES256"), c = MakeKey("ES256");
  auto ka = *cache.Get(a.jwk);
  EXPECT_EQ(ka.get(), cache.Get(a.jwk)->get());
  cache.Get(b.jwk);
  cache.Get(c.jwk);  // evicts a
  EXPECT_NE(ka.get(), cache.Get(a.jwk)->get());
  EXPECT_EQ(ka->thumbprint(), (*cache.GetCanonical(ka->canonical()))->thumbprint());
}

}  // namespace
}  // namespace hp::acme
