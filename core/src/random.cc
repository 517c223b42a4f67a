#include "hp/core/random.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hp/core/encoding.h"

namespace hp::core {

namespace {

void Generate(uint8_t* out, size_t n) {
  if (n > 0 && RAND_bytes(out, static_cast<int>(n)) != 1) {
    std::fputs("fatal: CSPRNG failure (RAND_bytes)\n", stderr);
    std::abort();
  }
}

// Small requests (ids, nonces, tokens: a few dozen per ACME issuance) are served from a per-thread
// block of DRBG output: each RAND_bytes call costs about a microsecond of fixed overhead in
// OpenSSL 3 (and a getpid system call for its fork check). Bytes are wiped as they are handed
// out, so no output is ever given twice or left behind. hostplane never forks without exec.
struct Pool {
  static constexpr size_t kSize = 512;
  uint8_t bytes[kSize];
  size_t next = kSize;
  ~Pool() { OPENSSL_cleanse(bytes, kSize); }
};
thread_local Pool t_pool;

}  // namespace

void RandomFill(uint8_t* out, size_t n) {
  if (n > Pool::kSize / 8) {
    Generate(out, n);
    return;
  }
  Pool& p = t_pool;
  while (n > 0) {
    if (p.next == Pool::kSize) {
      Generate(p.bytes, Pool::kSize);
      p.next = 0;
    }
    const size_t k = std::min(n, Pool::kSize - p.next);
    std::memcpy(out, p.bytes + p.next, k);
    OPENSSL_cleanse(p.bytes + p.next, k);
    p.next += k;
    out += k;
    n -= k;
  }
}

std::vector<uint8_t> RandomBytes(size_t n) {
  std::vector<uint8_t> out(n);
  RandomFill(out.data(), n);
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
