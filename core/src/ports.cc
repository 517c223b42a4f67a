#include "hp/core/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <random>

namespace hp::core {
namespace {

struct Addr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
};

bool ParseIp(const std::string& ip, Addr& a) {
  std::string bare = ip.size() > 1 && ip.front() == '[' ? ip.substr(1, ip.size() - 2) : ip;
  if (bare == "localhost" || bare.empty()) bare = "127.0.0.1";
  if (bare.find(':') != std::string::npos) {
    auto* s = reinterpret_cast<sockaddr_in6*>(&a.ss);
    s->sin6_family = AF_INET6;
    a.family = AF_INET6;
    a.len = sizeof(sockaddr_in6);
    return ::inet_pton(AF_INET6, bare.c_str(), &s->sin6_addr) == 1;
  }
  auto* s = reinterpret_cast<sockaddr_in*>(&a.ss);
  s->sin_family = AF_INET;
  a.family = AF_INET;
  a.len = sizeof(sockaddr_in);
  return ::inet_pton(AF_INET, bare.c_str(), &s->sin_addr) == 1;
}

void SetPort(Addr& a, int port) {
  if (a.family == AF_INET6)
    reinterpret_cast<sockaddr_in6*>(&a.ss)->sin6_port = htons(static_cast<uint16_t>(port));
  else
    reinterpret_cast<sockaddr_in*>(&a.ss)->sin_port = htons(static_cast<uint16_t>(port));
}

int GetPort(const Addr& a) {
  return ntohs(a.family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&a.ss)->sin6_port
                                    : reinterpret_cast<const sockaddr_in*>(&a.ss)->sin_port);
}

// Binds TCP (and, for a fixed port, UDP) on a; returns the bound port or 0.
int TryBind(Addr a, int port) {
  SetPort(a, port);
  int t = ::socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (t < 0) return 0;
  int result = 0;
  if (::bind(t, reinterpret_cast<sockaddr*>(&a.ss), a.len) == 0 &&
      ::getsockname(t, reinterpret_cast<sockaddr*>(&a.ss), &a.len) == 0) {
    int u = ::socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (u >= 0) {
      if (::bind(u, reinterpret_cast<sockaddr*>(&a.ss), a.len) == 0) result = GetPort(a);
      ::close(u);
    }
  }
  ::close(t);
  return result;
}

int EphemeralLow() {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768, high = 60999;
  if (!(f >> low >> high)) low = 32768;
  return low;
}

}  // namespace

Result<int> PickUnusedPort(const std::string& ip, std::span<const int> avoid) {
  Addr a;
  if (!ParseIp(ip, a)) return Fail(ErrorCode::kInvalidArgument, "not a numeric address: " + ip);
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  const int high = EphemeralLow() - 1;
  const int low = std::max(10000, high - 12000);
  const auto avoided = [&](int p) { return std::find(avoid.begin(), avoid.end(), p) != avoid.end(); };
  if (high - low >= 1000) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      int candidate;
      {
        std::lock_guard lock(mu);
        candidate = std::uniform_int_distribution<int>(low, high)(rng);
      }
      if (avoided(candidate)) continue;
      if (TryBind(a, candidate) == candidate) return candidate;
    }
  }
  for (int attempt = 0; attempt < 50; ++attempt) {
    int p = TryBind(a, 0);
    if (p != 0 && !avoided(p)) return p;
  }
  return Fail(ErrorCode::kUnavailable, "no free port on " + ip);
}

}  // namespace hp::core
