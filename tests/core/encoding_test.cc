#include "hp/core/encoding.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "hp/core/random.h"

namespace hp::core {
namespace {

TEST(Base64Url, RoundTripsEveryLength) {
  for (size_t n = 0; n < 70; ++n) {
    auto data = RandomBytes(n);
    std::string enc = Base64UrlEncode(data);
    EXPECT_EQ(enc.find('='), std::string::npos);
    EXPECT_EQ(enc.find('+'), std::string::npos);
    EXPECT_EQ(enc.find('/'), std::string::npos);
    auto dec = Base64UrlDecode(enc);
    ASSERT_TRUE(dec) << enc;
    EXPECT_EQ(*dec, data);
  }
}

TEST(Base64Url, KnownVectorsFromRfc4648) {
  EXPECT_EQ(Base64UrlEncode(std::string_view("foobar")), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode(std::string_view("fo")), "Zm8");
  EXPECT_EQ(Base64UrlEncode(std::string_view("\xfb\xff")), "-_8");
  EXPECT_EQ(*Base64UrlDecodeToString("Zm8"), "fo");
}

TEST(Base64Url, RejectsPaddingForeignCharactersAndNonCanonicalBits) {
  EXPECT_FALSE(Base64UrlDecode("Zm8="));       // padding is not allowed in JOSE
  EXPECT_FALSE(Base64UrlDecode("Zm+v"));       // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("Zm9"));        // "Zm8" is the canonical form of "fo"
  EXPECT_FALSE(Base64UrlDecode("Z"));          // impossible length
  EXPECT_EQ(Base64UrlDecode("Zm 8").error().code, ErrorCode::kInvalidArgument);
}

TEST(Base64, StandardWithPadding) {
  EXPECT_EQ(Base64Encode(AsBytes("fo")), "Zm8=");
  auto d = Base64Decode("Zm8=");
  ASSERT_TRUE(d);
  EXPECT_EQ(std::string(d->begin(), d->end()), "fo");
  EXPECT_FALSE(Base64Decode("Zm8"));
}

TEST(Hex, RoundTripAndErrors) {
  std::vector<uint8_t> b = {0x00, 0xab, 0xff};
  EXPECT_EQ(HexEncode(b), "00abff");
  EXPECT_EQ(*HexDecode("00ABff"), b);
  EXPECT_FALSE(HexDecode("abc"));
  EXPECT_FALSE(HexDecode("zz"));
}

TEST(PublicId, Is128BitsOfBase64UrlAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewPublicId();
    EXPECT_EQ(id.size(), 22u);
    auto raw = Base64UrlDecode(id);
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->size(), 16u);
    EXPECT_TRUE(seen.insert(id).second);
  }
}

TEST(Random, BufferedDrawsNeverRepeatAcrossRefillsAndThreads) {
  // Draws of odd sizes cross the per-thread block's refill boundary many times; two threads
  // draw at once. No 8-byte chunk may ever come out twice.
  std::vector<std::string> chunks[2];
  auto draw = [](std::vector<std::string>* out) {
    for (int i = 0; i < 20000; ++i) {
      uint8_t b[13];
      RandomFill(b, sizeof b);
      out->emplace_back(reinterpret_cast<char*>(b), 8);
    }
  };
  std::thread t(draw, &chunks[1]);
  draw(&chunks[0]);
  t.join();
  std::set<std::string> seen;
  for (auto& v : chunks) {
    for (auto& c : v) EXPECT_TRUE(seen.insert(c).second);
  }
  EXPECT_EQ(seen.size(), 40000u);
  EXPECT_EQ(RandomBytes(4096).size(), 4096u);  // large requests bypass the block
}

TEST(PublicId, OrderedIdsSortByCreationTimeAndCarry128RandomBits) {
  std::set<std::string> seen;
  std::string prev;
  // Milliseconds across carries of every time digit, including the top one.
  const int64_t base = 1'795'000'000'000;  // 2026-11-19
  std::set<int64_t> times;
  for (int64_t step : {int64_t{0}, int64_t{63}, int64_t{4095}, int64_t{262'143}, int64_t{1} << 30,
                       int64_t{1} << 40}) {
    for (int i = 0; i < 50; ++i) times.insert(base + step + i);
  }
  for (int64_t t : times) {
    for (int twice = 0; twice < 2; ++twice) {
      std::string id = NewOrderedPublicId(t);
      EXPECT_EQ(id.size(), 30u);
      EXPECT_EQ(id.find_first_not_of("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"),
                std::string::npos)
          << id;
      if (twice == 0) {
        EXPECT_LT(prev, id) << "not ordered by time";
      }
      prev = std::max(prev, id);
      EXPECT_TRUE(seen.insert(id).second);
    }
  }
  // Same millisecond: only the random part differs.
  std::string a = NewOrderedPublicId(base), b = NewOrderedPublicId(base);
  EXPECT_EQ(a.substr(0, 8), b.substr(0, 8));
  EXPECT_NE(a.substr(8), b.substr(8));
}

}  // namespace
}  // namespace hp::core
