#include "hp/core/password.h"

#include <gtest/gtest.h>

namespace hp::core {
namespace {

// Cheap parameters keep the suite fast; one test exercises the production defaults.
constexpr PasswordHashParams kFast{.t_cost = 1, .m_cost_kib = 1024, .parallelism = 1};

TEST(Password, DefaultHashIsArgon2idPhcAndVerifies) {
  auto h = HashPassword("correct horse battery staple");
  ASSERT_TRUE(h) << h.error().ToString();
  EXPECT_TRUE(h->starts_with("$argon2id$v=19$m=19456,t=2,p=1$")) << *h;
  EXPECT_TRUE(VerifyPassword("correct horse battery staple", *h));
  EXPECT_FALSE(VerifyPassword("correct horse battery stapler", *h));
  EXPECT_FALSE(VerifyPassword("", *h));
  EXPECT_FALSE(PasswordNeedsRehash(*h));
}

TEST(Password, SaltMakesEveryHashDifferent) {
  auto a = HashPassword("same password 1", kFast);
  auto b = HashPassword("same password 1", kFast);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(VerifyPassword("same password 1", *a));
  EXPECT_TRUE(VerifyPassword("same password 1", *b));
}

TEST(Password, VerifiesHashesFromTheReferenceImplementation) {
  // From the reference implementation (phc-winner-argon2): password "password", salt "somesalt",
  // argon2id t=2 m=65536 p=1, 32-byte hash; a hash stored by any PHC-conforming tool verifies.
  EXPECT_TRUE(VerifyPassword(
      "password",
      "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"));
  EXPECT_FALSE(VerifyPassword(
      "Password",
      "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"));
}

TEST(Password, MalformedOrForeignHashesNeverVerify) {
  auto h = HashPassword("s3cret-pass", kFast);
  ASSERT_TRUE(h);
  std::string tampered = *h;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(VerifyPassword("s3cret-pass", tampered));
  EXPECT_FALSE(VerifyPassword("s3cret-pass", ""));
  EXPECT_FALSE(VerifyPassword("s3cret-pass", "s3cret-pass"));
  EXPECT_FALSE(VerifyPassword("s3cret-pass", "$2b$12$abcdefghijklmnopqrstuv"));  // bcrypt
  // argon2i is not accepted, nor absurd costs planted in a row.
  std::string argon2i = *h;
  argon2i.replace(0, 9, "$argon2i");
  EXPECT_FALSE(VerifyPassword("s3cret-pass", argon2i));
  EXPECT_FALSE(VerifyPassword("password",
                              "$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHQ$"
                              "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"));
  EXPECT_TRUE(PasswordNeedsRehash("garbage"));
}

TEST(Password, WeakerParametersNeedRehash) {
  auto weak = HashPassword("s3cret-pass", kFast);
  ASSERT_TRUE(weak);
  EXPECT_TRUE(PasswordNeedsRehash(*weak));
  EXPECT_FALSE(PasswordNeedsRehash(*weak, kFast));
  PasswordHashParams more_iterations = kFast;
  more_iterations.t_cost = 3;
  EXPECT_TRUE(PasswordNeedsRehash(*weak, more_iterations));
}

TEST(PasswordPolicy, AcceptsGoodPasswords) {
  EXPECT_TRUE(CheckPasswordPolicy("tanuki-2026", "hanako@example.jp"));
  EXPECT_TRUE(CheckPasswordPolicy("Correcthorsebattery", "hanako@example.jp"));
  EXPECT_TRUE(CheckPasswordPolicy("パスワードは秘密です1", "hanako@example.jp"));
}

TEST(PasswordPolicy, RefusesWithAReadableReason) {
  struct Case {
    std::string password;
    std::string reason_part;
  };
  const std::vector<Case> cases = {
      {"Ab1!x", "at least 8 characters"},
      {"パスワ1", "at least 8 characters"},  // 4 characters, though 10 bytes
      {"abcdefghij", "at least two"},
      {"12345678901", "at least two"},
      {"Password1", "too common"},
      {"P@ssw0rd", "too common"},
      {"1q2w3e4r", "too common"},
      {"QWERTY123", "too common"},
      {"Hanako2026", "e-mail"},
      {"hanako2026@example.jp", "e-mail"},
      {std::string(1025, 'a') + "1", "at most 1024"},
  };
  for (const auto& c : cases) {
    auto st = CheckPasswordPolicy(c.password, "hanako2026@example.jp");
    ASSERT_FALSE(st) << c.password;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(st.error().field, "password");
    EXPECT_NE(st.error().detail.find(c.reason_part), std::string::npos)
        << c.password << ": " << st.error().detail;
  }
}

}  // namespace
}  // namespace hp::core
