#pragma once
// Socket address helpers shared by the server, resolver and publisher.

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "hp/core/error.h"

namespace hp::dns::internal {

struct HostPort {
  std::string host;  // "127.0.0.1", "::1"
  uint16_t port = 0;
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// "127.0.0.1:53", "[::1]:53", or a bare address with `default_port` (0: port required).
hp::core::Result<HostPort> ParseHostPort(const std::string& text, const std::string& field,
                                         uint16_t default_port = 0);
std::string AddressOf(const sockaddr_storage& a);

}  // namespace hp::dns::internal
