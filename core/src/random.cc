#include "hp/core/random.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <openssl/rand.h>

#include "hp/core/encoding.h"

namespace hp::core {

std::vector<uint8_t> RandomBytes(size_t n) {
  std::vector<uint8_t> out(n);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
    std::fputs("fatal: CSPRNG failure (RAND_bytes)\n", stderr);
    std::abort();
  }
  return out;
}

uint64_t RandomU64() {
  auto b = RandomBytes(8);
  uint64_t v;
  std::memcpy(&v, b.data(), 8);
  return v;
}

std::string NewPublicId() { return Base64UrlEncode(RandomBytes(16)); }

std::string NewOrderedPublicId(int64_t unix_millis) {
  // The base64url characters in ASCII order: digit i of a number is kSorted[i], so a fixed-width
  // number compares as a string the way it does as a number.
  static constexpr char kSorted[] = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
  std::string out(30, '-');
  uint64_t t = static_cast<uint64_t>(std::max<int64_t>(unix_millis, 0)) & ((uint64_t{1} << 48) - 1);
  for (int i = 7; i >= 0; --i, t >>= 6) out[static_cast<size_t>(i)] = kSorted[t & 63];
  const auto r = RandomBytes(17);  // 132 bits used: 22 characters of 6 bits
  uint32_t acc = 0;
  int bits = 0;
  size_t k = 0;
  for (size_t i = 8; i < out.size(); ++i) {
    if (bits < 6) {
      acc = (acc << 8) | r[k++];
      bits += 8;
    }
    out[i] = kSorted[(acc >> (bits - 6)) & 63];
    bits -= 6;
  }
  return out;
}

}  // namespace hp::core
