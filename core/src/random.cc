#include "hp/core/random.h"

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

}  // namespace hp::core
