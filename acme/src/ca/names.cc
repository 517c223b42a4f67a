#include "ca/names.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace hp::acme {

bool LooksLikeIp(std::string_view s) { return IpTextToBytes(s).has_value(); }

core::Result<std::string> IpTextToBytes(std::string_view text) {
  std::string t(text);
  unsigned char buf[16];
  if (inet_pton(AF_INET, t.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, t.c_str(), buf) == 1) {
    return std::string(reinterpret_cast<char*>(buf), 16);
  }
  return core::Fail(core::ErrorCode::kInvalidArgument, "not an IP address");
}

core::Result<std::string> IpBytesToText(const std::string& raw) {
  char out[INET6_ADDRSTRLEN] = {0};
  if (raw.size() == 4 && inet_ntop(AF_INET, raw.data(), out, sizeof out)) return std::string(out);
  if (raw.size() == 16 && inet_ntop(AF_INET6, raw.data(), out, sizeof out)) {
    return std::string(out);
  }
  return core::Fail(core::ErrorCode::kInvalidArgument, "not an IP address");
}

std::string NormalizeName(std::string_view type, std::string_view value) {
  if (type == "ip") {
    auto b = IpTextToBytes(value);
    if (b) {
      auto t = IpBytesToText(*b);
      if (t) return *t;
    }
    return std::string(value);
  }
  std::string s(value);
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace hp::acme
