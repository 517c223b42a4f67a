#include "net.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace hp::dns::internal {

using hp::core::ErrorCode;
using hp::core::FailField;

hp::core::Result<HostPort> ParseHostPort(const std::string& text, const std::string& field,
                                         uint16_t default_port) {
  HostPort hp;
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) {
      return FailField(ErrorCode::kInvalidArgument, field, "missing ']' in '" + text + "'");
    }
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') {
        return FailField(ErrorCode::kInvalidArgument, field, "expected ':' after ']'");
      }
      port = text.substr(close + 2);
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon != std::string::npos && text.find(':') == colon) {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
    } else {
      host = text;  // bare IPv4, or bare IPv6 without port
    }
  }
  if (port.empty()) {
    if (default_port == 0 && text.find('@') == std::string::npos) {
      return FailField(ErrorCode::kInvalidArgument, field, "'" + text + "' needs a port");
    }
    hp.port = default_port;
  } else {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v > 65535) {
      return FailField(ErrorCode::kInvalidArgument, field, "bad port in '" + text + "'");
    }
    hp.port = static_cast<uint16_t>(v);
  }
  hp.host = host;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&hp.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&hp.addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(hp.port);
    hp.len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(hp.port);
    hp.len = sizeof(sockaddr_in6);
  } else {
    return FailField(ErrorCode::kInvalidArgument, field,
                     "'" + host + "' is not an IP address");
  }
  return hp;
}

std::string AddressOf(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a)->sin_addr, buf, sizeof buf);
  } else if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], buf, sizeof buf);
    } else {
      inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    }
  }
  return buf;
}

}  // namespace hp::dns::internal
