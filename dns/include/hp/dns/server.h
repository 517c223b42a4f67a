#pragma once
// The built-in authoritative DNS server: answers from the hosted zones of a ZoneService over UDP
// and TCP. Answers come from an in-memory snapshot of every zone, rebuilt in the background when
// ZoneService reports a change (a query never touches SQL). Handles exact matches, wildcards
// (RFC 4592), in-zone CNAME chains, delegations (NS + glue, AA clear), NXDOMAIN and NODATA with
// the SOA in the authority section, EDNS0 (RFC 6891), REFUSED for zones it does not serve, AXFR
// (and IXFR answered as AXFR) over TCP to allowed addresses, and NOTIFY (RFC 1996) to configured
// secondaries after each change. Malformed queries get FORMERR or are dropped; never a crash.
//
// Threads: `udp_threads` receivers, one TCP acceptor plus one thread per TCP connection (bounded),
// and one maintenance thread (snapshot rebuilds, NOTIFY). None of them is an HTTP thread.
// Thread safety: all methods are safe to call from any thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hp/core/error.h"
#include "hp/dns/zone.h"

namespace hp::dns {

struct AuthServerOptions {
  // "127.0.0.1:53", "[::1]:5353"; port 0 picks a free port (see port()). UDP and TCP share it.
  std::string listen = "127.0.0.1:5353";
  int udp_threads = 2;
  int max_tcp_connections = 64;
  std::chrono::milliseconds tcp_idle_timeout{10000};
  // Client addresses (exact IPs) allowed to AXFR/IXFR; empty: nobody.
  std::vector<std::string> transfer_allow;
  // Secondaries ("host:port") sent a NOTIFY for every zone after each change.
  std::vector<std::string> notify;
  uint16_t edns_udp_size = 1232;
};

struct AuthServerStats {
  uint64_t queries = 0;    // well-formed queries answered
  uint64_t malformed = 0;  // packets answered with FORMERR or dropped
  uint64_t notifies_acked = 0;
  uint64_t snapshot_builds = 0;
};

class AuthServer {
 public:
  // Validates the options (kInvalidArgument naming the option) and subscribes to `zones`, which
  // must outlive the server.
  static hp::core::Result<std::unique_ptr<AuthServer>> Create(ZoneService& zones,
                                                              AuthServerOptions options);
  virtual ~AuthServer() = default;

  // Loads every zone, binds the sockets (kUnavailable when the address is taken) and starts the
  // threads. Answers flow when it returns.
  virtual hp::core::Status Start() = 0;
  // Stops every thread and closes the sockets; idempotent.
  virtual void Stop() = 0;
  // The bound port (after Start).
  virtual uint16_t port() const = 0;
  // Rebuilds the whole snapshot now (changes are otherwise picked up in the background).
  virtual hp::core::Status Reload() = 0;
  // Serial of a zone as currently served, 0 if not served (lets callers wait for a change).
  virtual uint32_t ServedSerial(const std::string& zone_name) const = 0;
  virtual AuthServerStats stats() const = 0;
};

}  // namespace hp::dns
