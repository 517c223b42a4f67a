#pragma once
// Picking a free TCP/UDP port for a listener that cannot bind port 0 itself (nginx, a child
// process, a test peer). Thread-safe.
#include <span>
#include <string>

#include "hp/core/error.h"

namespace hp::core {

// A port that nothing listens on at `ip` right now (TCP and UDP both bind), never one of
// `avoid`. It is drawn at random from just below the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range): ports the kernel hands out for bind(0) and for the
// source side of outgoing connections can be taken by anyone between the check and the real
// bind, ports below it only by another explicit choice. Falls back to bind(0) when that range
// is too small. `ip` is a numeric IPv4/IPv6 address or "localhost".
Result<int> PickUnusedPort(const std::string& ip, std::span<const int> avoid = {});

}  // namespace hp::core
