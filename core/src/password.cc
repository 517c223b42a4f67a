#include "hp/core/password.h"

#include <argon2.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include "hp/core/encoding.h"
#include "hp/core/random.h"
#include "hp/core/secret.h"

namespace hp::core {
namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
// Bounds on parameters read from a stored hash, so a corrupted or planted row cannot make one
// verification take gigabytes of memory or minutes of CPU.
constexpr uint32_t kMaxMemoryKib = 1u << 20;  // 1 GiB
constexpr uint32_t kMaxIterations = 64;
constexpr uint32_t kMaxParallelism = 16;
constexpr size_t kMaxPasswordBytes = 1024;
// Verification accepts somewhat longer input than the policy so that a long legacy password still
// verifies, yet hashing cost stays bounded.
constexpr size_t kMaxVerifyBytes = 4096;

// The most common passwords of public breach corpora (lower-case; compared case-insensitively).
// Most are already refused by the length or class rules; they are listed anyway so that the
// refusal reason is the honest one ("too common").
constexpr std::string_view kCommonPasswords[] = {
    "123456",        "password",  "12345678",   "qwerty",     "123456789",  "12345",
    "1234",          "111111",    "1234567",    "dragon",     "123123",     "baseball",
    "abc123",        "football",  "monkey",     "letmein",    "696969",     "shadow",
    "master",        "666666",    "qwertyuiop", "123321",     "mustang",    "1234567890",
    "michael",       "654321",    "superman",   "1qaz2wsx",   "7777777",    "121212",
    "000000",        "qazwsx",    "123qwe",     "killer",     "trustno1",   "jordan",
    "jennifer",      "zxcvbnm",   "asdfgh",     "hunter",     "buster",     "soccer",
    "harley",        "batman",    "andrew",     "tigger",     "sunshine",   "iloveyou",
    "2000",          "charlie",   "robert",     "thomas",     "hockey",     "ranger",
    "daniel",        "starwars",  "klaster",    "112233",     "george",     "computer",
    "michelle",      "jessica",   "pepper",     "1111",       "zxcvbn",     "555555",
    "11111111",      "131313",    "freedom",    "777777",     "pass",       "maggie",
    "159753",        "aaaaaa",    "ginger",     "princess",   "joshua",     "cheese",
    "amanda",        "summer",    "love",       "ashley",     "nicole",     "chelsea",
    "biteme",        "matthew",   "access",     "yankees",    "987654321",  "dallas",
    "austin",        "thunder",   "taylor",     "matrix",     "william",    "corvette",
    "hello",         "martin",    "heather",    "secret",     "merlin",     "diamond",
    "1234qwer",      "gfhjkm",    "hammer",     "silver",     "222222",     "88888888",
    "anthony",       "justin",    "test",       "bailey",     "q1w2e3r4t5", "patrick",
    "internet",      "scooter",   "orange",     "11111",      "golfer",     "cookie",
    "richard",       "samantha",  "bigdog",     "guitar",     "jackson",    "whatever",
    "mickey",        "chicken",   "sparky",     "snoopy",     "maverick",   "phoenix",
    "camaro",        "peanut",    "morgan",     "welcome",    "falcon",     "cowboy",
    "ferrari",       "samsung",   "andrea",     "smokey",     "steelers",   "joseph",
    "mercedes",      "dakota",    "arsenal",    "eagles",     "melissa",    "boomer",
    "booboo",        "spider",    "nascar",     "monster",    "tigers",     "yellow",
    "xxxxxx",        "123123123", "gateway",    "marina",     "diablo",     "bulldog",
    "qwer1234",      "compaq",    "purple",     "hardcore",   "banana",     "junior",
    "hannah",        "123654",    "porsche",    "lakers",     "iceman",     "money",
    "cowboys",       "987654",    "london",     "tennis",     "999999",     "ncc1701",
    "coffee",        "scooby",    "0000",       "miller",     "boston",     "q1w2e3r4",
    "brandon",       "yamaha",    "chester",    "mother",     "forever",    "johnny",
    "edward",        "333333",    "oliver",     "redsox",     "player",     "nikita",
    "knight",        "fender",    "barney",     "midnight",   "please",     "brandy",
    "chicago",       "badboy",    "slayer",     "rangers",    "charles",    "angel",
    "flower",        "rabbit",    "wizard",     "jasper",     "enter",      "rachel",
    "chris",         "steven",    "winner",     "adidas",     "victoria",   "natasha",
    "1q2w3e4r",      "jasmine",   "winter",     "prince",     "panties",    "marine",
    "ghbdtn",        "fishing",   "cocacola",   "casper",     "james",      "232323",
    "raiders",       "888888",    "marlboro",   "gandalf",    "asdfasdf",   "crystal",
    "87654321",      "12344321",  "golden",     "8675309",    "password1",  "password12",
    "password123",   "passw0rd",  "p@ssw0rd",   "p@ssword",   "pa$$word",   "qwerty123",
    "qwerty12",      "qwerty1",   "abc12345",   "abcd1234",   "1q2w3e4r5t", "1qaz2wsx3edc",
    "zaq12wsx",      "iloveyou1", "welcome1",   "welcome123", "letmein1",   "admin123",
    "administrator", "changeme",  "trustno1!",  "sunshine1",  "monkey123",  "football1",
    "baseball1",     "princess1", "dragon123",  "master123",  "superman1",  "qwertyu1",
    "aa123456",      "a1b2c3d4",  "1a2b3c4d",   "abcdefg1",   "asdf1234",   "zxcv1234",
    "password!",     "welcome!",  "qazwsxedc",  "passpass",   "testtest",   "test1234",
    "hello123",      "love1234",
};

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct Phc {
  uint32_t version = 0;
  uint32_t m = 0, t = 0, p = 0;
  std::vector<uint8_t> salt;
  std::vector<uint8_t> hash;
};

// PHC strings use standard base64 without padding.
Result<std::vector<uint8_t>> UnpaddedBase64(std::string_view s) {
  std::string padded(s);
  while (padded.size() % 4 != 0) padded += '=';
  return Base64Decode(padded);
}

bool ParseU32(std::string_view s, uint32_t& out) {
  if (s.empty() || s.size() > 10) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"; only argon2id is accepted.
std::optional<Phc> ParsePhc(std::string_view encoded) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = encoded.find('$', start);
    if (pos == std::string_view::npos) {
      parts.push_back(encoded.substr(start));
      break;
    }
    parts.push_back(encoded.substr(start, pos - start));
    start = pos + 1;
  }
  if (parts.size() != 6 || !parts[0].empty() || parts[1] != "argon2id") return std::nullopt;
  Phc phc;
  if (!parts[2].starts_with("v=") || !ParseU32(parts[2].substr(2), phc.version))
    return std::nullopt;
  std::string_view params = parts[3];
  bool have_m = false, have_t = false, have_p = false;
  while (!params.empty()) {
    size_t comma = params.find(',');
    std::string_view kv = params.substr(0, comma);
    params = comma == std::string_view::npos ? std::string_view() : params.substr(comma + 1);
    if (kv.size() < 3 || kv[1] != '=') return std::nullopt;
    std::string_view value = kv.substr(2);
    switch (kv[0]) {
      case 'm':
        have_m = ParseU32(value, phc.m);
        break;
      case 't':
        have_t = ParseU32(value, phc.t);
        break;
      case 'p':
        have_p = ParseU32(value, phc.p);
        break;
      default:
        return std::nullopt;
    }
  }
  if (!have_m || !have_t || !have_p) return std::nullopt;
  auto salt = UnpaddedBase64(parts[4]);
  auto hash = UnpaddedBase64(parts[5]);
  if (!salt || !hash) return std::nullopt;
  phc.salt = std::move(*salt);
  phc.hash = std::move(*hash);
  return phc;
}

}  // namespace

Result<std::string> HashPassword(std::string_view password, const PasswordHashParams& params) {
  if (password.size() > kMaxVerifyBytes)
    return FailField(ErrorCode::kInvalidArgument, "password", "password is too long");
  if (params.t_cost < 1 || params.m_cost_kib < 8 * params.parallelism || params.parallelism < 1 ||
      params.m_cost_kib > kMaxMemoryKib || params.t_cost > kMaxIterations ||
      params.parallelism > kMaxParallelism)
    return Fail(ErrorCode::kInternal, "argon2id parameters out of range");
  std::vector<uint8_t> salt = RandomBytes(kSaltBytes);
  std::string encoded(argon2_encodedlen(params.t_cost, params.m_cost_kib, params.parallelism,
                                        kSaltBytes, kHashBytes, Argon2_id),
                      '\0');
  int rc = argon2id_hash_encoded(params.t_cost, params.m_cost_kib, params.parallelism,
                                 password.data(), password.size(), salt.data(), salt.size(),
                                 kHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK)
    return Fail(ErrorCode::kInternal, std::string("argon2id: ") + argon2_error_message(rc));
  encoded.resize(encoded.find('\0'));
  return encoded;
}

bool VerifyPassword(std::string_view password, std::string_view encoded) {
  if (password.size() > kMaxVerifyBytes) return false;
  auto phc = ParsePhc(encoded);
  if (!phc || phc->version != ARGON2_VERSION_13) return false;
  if (phc->m > kMaxMemoryKib || phc->t < 1 || phc->t > kMaxIterations || phc->p < 1 ||
      phc->p > kMaxParallelism || phc->salt.size() < 8 || phc->hash.size() < 16 ||
      phc->hash.size() > 64)
    return false;
  std::string computed(phc->hash.size(), '\0');
  int rc = argon2id_hash_raw(phc->t, phc->m, phc->p, password.data(), password.size(),
                             phc->salt.data(), phc->salt.size(), computed.data(), computed.size());
  if (rc != ARGON2_OK) {
    SecureWipe(computed);
    return false;
  }
  bool ok = ConstantTimeEquals(
      computed,
      std::string_view(reinterpret_cast<const char*>(phc->hash.data()), phc->hash.size()));
  SecureWipe(computed);
  return ok;
}

bool PasswordNeedsRehash(std::string_view encoded, const PasswordHashParams& params) {
  auto phc = ParsePhc(encoded);
  if (!phc) return true;
  return phc->version != ARGON2_VERSION_13 || phc->m < params.m_cost_kib ||
         phc->t < params.t_cost || phc->p < params.parallelism || phc->salt.size() < kSaltBytes ||
         phc->hash.size() < kHashBytes;
}

Status CheckPasswordPolicy(std::string_view password, std::string_view email) {
  auto refuse = [](std::string reason) {
    return FailField(ErrorCode::kInvalidArgument, "password", std::move(reason));
  };
  if (password.size() > kMaxPasswordBytes)
    return refuse("password must be at most " + std::to_string(kMaxPasswordBytes) + " bytes");
  // Characters, not bytes: count UTF-8 lead bytes so "パスワード" is 5 characters.
  size_t chars = 0;
  bool lower = false, upper = false, digit = false, other = false;
  for (unsigned char c : password) {
    if ((c & 0xC0) != 0x80) ++chars;
    if (c >= 'a' && c <= 'z') {
      lower = true;
    } else if (c >= 'A' && c <= 'Z') {
      upper = true;
    } else if (c >= '0' && c <= '9') {
      digit = true;
    } else {
      other = true;
    }
  }
  if (chars < 8) return refuse("password must be at least 8 characters long");
  if (int(lower) + int(upper) + int(digit) + int(other) < 2)
    return refuse(
        "password must mix at least two of: lower-case letters, upper-case letters, digits, "
        "other characters");
  const std::string lowered = Lower(password);
  if (!email.empty()) {
    const std::string mail = Lower(email);
    const std::string local = mail.substr(0, mail.find('@'));
    if (lowered == mail || lowered == local)
      return refuse("password must not be your e-mail address");
  }
  for (std::string_view common : kCommonPasswords) {
    if (lowered == common) return refuse("password is too common; choose another");
  }
  return Ok();
}

}  // namespace hp::core
