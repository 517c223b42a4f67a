#pragma once
// A stub resolver for the CA (dns-01, CAA) and the control plane: asks configured upstream servers
// (recursive resolvers in production, authoritative servers on loopback in tests), follows CNAME
// chains, and validates DNSSEC when trust anchors are configured.
//
// Contract:
//  - UDP with EDNS0 (DO bit when validating), TCP when the answer is truncated; per-query timeout
//    and retries across the upstreams in order.
//  - A SERVFAIL, REFUSED, timeout or unparseable answer is an error (kUnavailable); it never reads
//    as "no record". NXDOMAIN and NODATA are answers with no records.
//  - With trust anchors: an answer for a name under an anchor must validate (RRSIGs over the
//    answer, or over SOA + NSEC/NSEC3 for a negative answer, chained to the anchor through
//    DNSKEY/DS). A failure is kAcmeDns with "DNSSEC bogus: ..." in the detail. Names under no
//    anchor are answered with DnssecStatus::kInsecure.
//
// Thread safety: Lookup may be called from any thread concurrently.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/error.h"

namespace hp::dns {

enum class QType : uint16_t {
  kA = 1,
  kNS = 2,
  kCNAME = 5,
  kSOA = 6,
  kPTR = 12,
  kMX = 15,
  kTXT = 16,
  kAAAA = 28,
  kSRV = 33,
  kDS = 43,
  kDNSKEY = 48,
  kCAA = 257,
};

enum class DnssecStatus { kInsecure, kSecure };

struct ResourceRecord {
  std::string name;   // owner, lower case, absolute
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::string data;   // presentation form of the RDATA ("192.0.2.1", "\"txt\"", ...)
  std::string rdata;  // RDATA bytes as on the wire (uncompressed)
};

struct Answer {
  std::string qname;  // as asked, absolute lower case
  QType qtype = QType::kA;
  bool nxdomain = false;                  // the final name of the chain does not exist
  std::vector<std::string> cname_chain;   // owner names of the CNAMEs followed, in order
  std::vector<ResourceRecord> records;    // RRs of qtype at the end of the chain
  DnssecStatus dnssec = DnssecStatus::kInsecure;
  // TXT convenience: each record's character-strings concatenated.
  std::vector<std::string> TxtStrings() const;
};

struct ResolverOptions {
  // "127.0.0.1:53", "[::1]:5353"; at least one.
  std::vector<std::string> upstreams;
  std::chrono::milliseconds timeout{2000};
  int retries = 2;  // attempts per upstream
  // true for recursive upstreams; false to talk to authoritative servers directly.
  bool recursion_desired = true;
  uint16_t edns_udp_size = 1232;
  // DS or DNSKEY records in presentation form ("example. 3600 IN DS 12345 13 2 ABCD...").
  std::vector<std::string> trust_anchors;
  int max_cname_chain = 8;
};

class Resolver {
 public:
  virtual ~Resolver() = default;
  virtual hp::core::Result<Answer> Lookup(std::string_view name, QType type) = 0;
};

// The ldns implementation. kInvalidArgument naming "dns.upstream" / "dns.trust_anchors" for bad
// options. `clock` decides RRSIG validity periods and must outlive the resolver.
hp::core::Result<std::unique_ptr<Resolver>> CreateLdnsResolver(
    ResolverOptions options, const hp::core::Clock& clock = hp::core::SystemClock::Instance());

}  // namespace hp::dns
