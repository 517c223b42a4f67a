// Acceptance 2: partner API request signing (valid, tampered, skew window, replay, rotation
// overlap, revocation).
#include "hp/partner/signing.h"

#include <gtest/gtest.h>

#include "fixture.h"
#include "hp/core/encoding.h"
#include "hp/core/openssl.h"

namespace hp::partner {
namespace {

using namespace std::chrono_literals;

class SigningTest : public ::testing::Test {
 protected:
  testing::StoreFixture f;
  ApiKeyStore keys{*f.db, *f.sealer, f.clock};

  std::string Now() const { return std::to_string(core::ToUnixSeconds(f.clock.Now())); }

  SignedRequest Signed(const NewApiKey& k, std::string method, std::string path, std::string query,
                       std::string body, std::string ts = "") {
    if (ts.empty()) ts = Now();
    SignedRequest r{method, path, query, body, k.key.id, ts, ""};
    r.signature = SignRequest(k.secret.Reveal(), method, path, query, ts, body);
    return r;
  }
};

TEST(CanonicalTest, CoversMethodPathSortedQueryTimestampAndBodyHash) {
  std::string c = CanonicalRequest("post", "/partner/v1/customers", "b=2&a=1", "1800000000",
                                   "{\"name\":\"x\"}");
  std::string body_hash = core::HexEncode(core::AsBytes(core::ossl::Sha256("{\"name\":\"x\"}")));
  EXPECT_EQ(c, "HMAC-SHA256\nPOST\n/partner/v1/customers\na=1&b=2\n1800000000\n" + body_hash);
  // Empty body: hash of the empty string, so GET requests sign too.
  EXPECT_NE(CanonicalRequest("GET", "/p", "", "1", "")
                .find("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            std::string::npos);
  EXPECT_EQ(CanonicalQuery("z=1&&a=2&a=1"), "a=1&a=2&z=1");
}

TEST(CanonicalTest, KnownVector) {
  // A fixed vector partners can check their client libraries against (docs/partners.md).
  EXPECT_EQ(SignRequest("secret", "GET", "/partner/v1/customers", "limit=10", "1800000000", ""),
            core::HexEncode(core::AsBytes(core::ossl::HmacSha256(
                "secret",
                CanonicalRequest("GET", "/partner/v1/customers", "limit=10", "1800000000", "")))));
}

TEST_F(SigningTest, ValidSignatureIsAcceptedAndNamesThePartner) {
  auto k = *keys.Create("partnerA", "ci");
  auto r = keys.Verify(Signed(k, "POST", "/partner/v1/customers", "", R"({"name":"Acme"})"));
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->partner_id, "partnerA");
  EXPECT_EQ(r->id, k.key.id);
  // Uppercase hex is the same signature.
  auto s = Signed(k, "GET", "/partner/v1/customers", "limit=5", "");
  for (auto& c : s.signature) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(keys.Verify(s));
}

TEST_F(SigningTest, TamperedBodyPathQueryOrMethodIsRefused) {
  auto k = *keys.Create("partnerA", "ci");
  auto base = Signed(k, "POST", "/partner/v1/customers", "a=1", R"({"name":"Acme"})");
  auto body = base;
  body.body = R"({"name":"Evil"})";
  auto path = base;
  path.path = "/partner/v1/customers/other";
  auto query = base;
  query.query = "a=2";
  auto method = base;
  method.method = "PUT";
  for (const auto* r : {&body, &path, &query, &method}) {
    auto v = keys.Verify(*r);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, core::ErrorCode::kUnauthenticated);
    EXPECT_EQ(v.error().detail, "signature does not match");
  }
  // The untampered request still passes (the failures were not recorded as uses).
  EXPECT_TRUE(keys.Verify(base));
}

TEST_F(SigningTest, WrongSecretIsRefused) {
  auto k = *keys.Create("partnerA", "ci");
  auto other = *keys.Create("partnerB", "ci");
  auto r = Signed(k, "GET", "/partner/v1/customers", "", "");
  r.signature =
      SignRequest(other.secret.Reveal(), "GET", "/partner/v1/customers", "", r.timestamp, "");
  EXPECT_FALSE(keys.Verify(r));
}

TEST_F(SigningTest, TimestampOutsideTheFiveMinuteWindowIsRefused) {
  auto k = *keys.Create("partnerA", "ci");
  const int64_t now = core::ToUnixSeconds(f.clock.Now());
  auto old =
      keys.Verify(Signed(k, "GET", "/partner/v1/customers", "", "", std::to_string(now - 301)));
  ASSERT_FALSE(old);
  EXPECT_NE(old.error().detail.find("5-minute window"), std::string::npos);
  EXPECT_FALSE(
      keys.Verify(Signed(k, "GET", "/partner/v1/customers", "", "", std::to_string(now + 301))));
  // The edges of the window pass.
  EXPECT_TRUE(
      keys.Verify(Signed(k, "GET", "/partner/v1/customers", "", "", std::to_string(now - 300))));
  EXPECT_TRUE(
      keys.Verify(Signed(k, "GET", "/partner/v1/customers", "", "", std::to_string(now + 300))));
  // Not a number.
  EXPECT_FALSE(
      keys.Verify(Signed(k, "GET", "/partner/v1/customers", "", "", "2026-01-01T00:00:00Z")));
}

TEST_F(SigningTest, ReplayedSignatureIsRefusedForAsLongAsItsTimestampCouldPass) {
  auto k = *keys.Create("partnerA", "ci");
  auto r = Signed(k, "POST", "/partner/v1/customers", "", R"({"name":"Acme"})");
  ASSERT_TRUE(keys.Verify(r));
  auto again = keys.Verify(r);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().detail.find("replayed"), std::string::npos);
  f.clock.Advance(299s);
  EXPECT_FALSE(keys.Verify(r));
  // Later the timestamp itself is out of the window (and the replay row is pruned).
  f.clock.Advance(10s);
  auto late = keys.Verify(r);
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().detail.find("window"), std::string::npos);
  // A fresh signature of the same request is fine.
  EXPECT_TRUE(keys.Verify(Signed(k, "POST", "/partner/v1/customers", "", R"({"name":"Acme"})")));
}

TEST_F(SigningTest, RotatedKeyWorksDuringTheOverlapThenStops) {
  auto old = *keys.Create("partnerA", "ci");
  auto fresh = keys.Rotate(old.key.id, 1h);
  ASSERT_TRUE(fresh) << fresh.error().detail;
  EXPECT_EQ(fresh->key.partner_id, "partnerA");
  EXPECT_NE(fresh->key.id, old.key.id);
  // Both work during the overlap.
  EXPECT_TRUE(keys.Verify(Signed(old, "GET", "/partner/v1/customers", "", "")));
  EXPECT_TRUE(keys.Verify(Signed(*fresh, "GET", "/partner/v1/customers", "", "")));
  f.clock.Advance(59min);
  EXPECT_TRUE(keys.Verify(Signed(old, "GET", "/partner/v1/customers", "a=1", "")));
  f.clock.Advance(2min);
  auto expired = keys.Verify(Signed(old, "GET", "/partner/v1/customers", "", ""));
  ASSERT_FALSE(expired);
  EXPECT_NE(expired.error().detail.find("expired"), std::string::npos);
  EXPECT_TRUE(keys.Verify(Signed(*fresh, "GET", "/partner/v1/customers", "", "")));
  // A key rotates once; the listing shows the chain.
  EXPECT_EQ(keys.Rotate(old.key.id, 1h).error().code, core::ErrorCode::kConflict);
  auto list = *keys.List("partnerA");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].replaced_by, fresh->key.id);
  EXPECT_TRUE(list[0].expires_at.has_value());
}

TEST_F(SigningTest, RotationIsScopedToThePartnerAndBounded) {
  auto k = *keys.Create("partnerA", "ci");
  EXPECT_EQ(keys.Rotate(k.key.id, 1h, "partnerB").error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(keys.Revoke(k.key.id, "partnerB").error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(keys.Rotate(k.key.id, std::chrono::hours(24 * 31)).error().code,
            core::ErrorCode::kInvalidArgument);
  EXPECT_TRUE(keys.Verify(Signed(k, "GET", "/x", "", "")));
}

TEST_F(SigningTest, RevokedKeyIsRefusedAtOnceEvenDuringAnOverlap) {
  auto old = *keys.Create("partnerA", "ci");
  auto fresh = *keys.Rotate(old.key.id, 1h);
  ASSERT_TRUE(keys.Revoke(old.key.id, "partnerA"));
  auto r = keys.Verify(Signed(old, "GET", "/partner/v1/customers", "", ""));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("revoked"), std::string::npos);
  EXPECT_TRUE(keys.Verify(Signed(fresh, "GET", "/partner/v1/customers", "", "")));
  ASSERT_TRUE(keys.Revoke(fresh.key.id));
  EXPECT_FALSE(keys.Verify(Signed(fresh, "GET", "/partner/v1/customers", "", "")));
  EXPECT_EQ(keys.Rotate(fresh.key.id, 1h).error().code, core::ErrorCode::kConflict);
}

TEST_F(SigningTest, MissingHeadersAndUnknownKeysAreUnauthenticated) {
  auto k = *keys.Create("partnerA", "ci");
  auto r = Signed(k, "GET", "/x", "", "");
  r.key_id.clear();
  EXPECT_NE(keys.Verify(r).error().detail.find(std::string(kSignatureHeader)), std::string::npos);
  auto u = Signed(k, "GET", "/x", "", "");
  u.key_id = "nosuchkey";
  EXPECT_EQ(keys.Verify(u).error().detail, "unknown API key");
}

TEST_F(SigningTest, SecretIsStoredSealedNotInClear) {
  auto k = *keys.Create("partnerA", "ci");
  auto sealed = f.db->Read([&](SQLite::Database& tx) -> core::Result<std::string> {
    SQLite::Statement q(tx, "SELECT secret_sealed FROM partner_api_keys WHERE public_id = ?");
    q.bind(1, k.key.id);
    q.executeStep();
    return q.getColumn(0).getString();
  });
  ASSERT_TRUE(sealed);
  EXPECT_EQ(sealed->find(std::string(k.secret.Reveal())), std::string::npos);
  EXPECT_EQ(sealed->rfind("hpseal1.", 0), 0u);
}

}  // namespace
}  // namespace hp::partner
