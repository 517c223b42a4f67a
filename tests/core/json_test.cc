#include "hp/core/json.h"

#include <gtest/gtest.h>

namespace hp::core {
namespace {

TEST(Json, MalformedInputGivesOffsetNotException) {
  auto r = ParseJson("{\"a\": 1,,}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().detail.find("byte"), std::string::npos);
  EXPECT_FALSE(ParseJsonObject("[1,2]"));
  EXPECT_TRUE(ParseJsonObject("{}"));
}

TEST(Json, DeepNestingIsRefused) {
  std::string deep(10000, '[');
  deep += std::string(10000, ']');
  auto r = ParseJson(deep);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("deep"), std::string::npos);
  // Brackets inside strings do not count.
  EXPECT_TRUE(ParseJson("{\"s\": \"" + std::string(200, '[') + "\"}"));
}

TEST(Json, TypedGettersNameTheField) {
  auto j = *ParseJsonObject(R"({"name":"x","n":5,"b":true,"wrong":"5"})");
  EXPECT_EQ(*GetString(j, "name"), "x");
  EXPECT_EQ(*GetInt(j, "n"), 5);
  EXPECT_EQ(**GetOptionalBool(j, "b"), true);
  EXPECT_FALSE(*GetOptionalString(j, "absent"));
  auto missing = GetString(j, "email");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().field, "email");
  auto wrong = GetInt(j, "wrong");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().field, "wrong");
  EXPECT_NE(wrong.error().detail.find("integer"), std::string::npos);
}

}  // namespace
}  // namespace hp::core
