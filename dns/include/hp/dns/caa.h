#pragma once
// CAA checking for the CA (RFC 8659 with the RFC 8657 accounturi / validationmethods
// parameters). Climbs from the requested name towards the root (the root itself is not asked)
// and uses the first non-empty CAA RRset found; CNAMEs are followed by the resolver at each name
// but climbing continues from the requested name's parent, never the CNAME target's.
//
// Policy on the relevant RRset:
//  - any property with the critical flag (128) and a tag we do not know forbids issuance;
//  - wildcard requests use `issuewild` properties when there are any, else `issue`;
//    non-wildcard requests use `issue` only; no such properties at all: not restricted;
//  - a property authorises us when its issuer domain is one of ours (case-insensitive) and its
//    parameters hold: accounturi equal to the requesting account, validationmethods listing the
//    method; a syntactically invalid value authorises nobody; unknown parameters are ignored.
// A lookup failure (SERVFAIL, timeout, DNSSEC bogus) is an error: the caller must not issue.
//
// Thread safety: Check may be called concurrently if the Resolver allows it (LdnsResolver does).

#include <cstdint>
#include <string>
#include <vector>

#include "hp/core/error.h"
#include "hp/dns/resolver.h"

namespace hp::dns {

struct CaaConfig {
  // The issuer domain names that identify this CA in CAA records ("ca.hostplane.example").
  std::vector<std::string> issuer_domains;
};

struct CaaRequest {
  std::string name;          // "example.com" or "*.example.com" (then wildcard is implied)
  bool wildcard = false;
  std::string account_uri;   // ACME account URL of the requester (RFC 8657 accounturi)
  std::string method;        // "http-01", "dns-01", "tls-alpn-01"
};

struct CaaRecord {
  std::string owner;  // where it was found (after CNAMEs: the owner that held it)
  uint8_t flags = 0;
  std::string tag;
  std::string value;
};

struct CaaDecision {
  bool permitted = false;
  std::string reason;         // one line for the audit trail / problem detail
  std::string relevant_name;  // name whose RRset decided; empty when none was found
  std::vector<CaaRecord> records;  // the relevant RRset (empty when none)
  DnssecStatus dnssec = DnssecStatus::kInsecure;
};

class CaaChecker {
 public:
  CaaChecker(Resolver& resolver, CaaConfig config);
  hp::core::Result<CaaDecision> Check(const CaaRequest& request) const;

  // The evaluation alone, on a given RRset (exposed for tests and for re-checks from the audit
  // trail).
  CaaDecision Evaluate(const std::vector<CaaRecord>& rrset, const CaaRequest& request) const;

 private:
  Resolver& resolver_;
  CaaConfig config_;
};

}  // namespace hp::dns
