#pragma once
// The validator's view of DNS: address lookups for http-01/tls-alpn-01, TXT for dns-01, and CAA
// evaluation (RFC 8659, with RFC 8657 accounturi/validationmethods). The production adapter sits
// on hp::dns::Resolver (DNSSEC-validated) and lives outside this module; acme only needs this.
//
// Thread safety: implementations must be safe to call from several validation workers at once.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hp/core/error.h"

namespace hp::acme {

struct CaaQuery {
  std::string domain;       // the identifier without "*."
  bool wildcard = false;    // issuewild applies
  std::string account_uri;  // for accounturi=
  std::string method;       // "http-01", "dns-01", "tls-alpn-01" for validationmethods=
  std::vector<std::string> issuer_domains;  // our caaIdentities
};

class DnsChecker {
 public:
  virtual ~DnsChecker() = default;
  // A and AAAA addresses as text. kAcmeDns when the lookup fails (SERVFAIL, bogus DNSSEC,
  // timeout) or the name has no address.
  virtual core::Result<std::vector<std::string>> LookupIps(const std::string& name) = 0;
  // TXT strings (each record's character-strings joined). Empty when none; kAcmeDns on failure.
  virtual core::Result<std::vector<std::string>> LookupTxt(const std::string& name) = 0;
  // Ok when CAA permits us to issue; kAcmeCaa (detail names the record) when it forbids it;
  // kAcmeDns when CAA cannot be determined (a lookup failure is never a permission).
  virtual core::Status CheckCaa(const CaaQuery& query) = 0;
};

// A fixed table, for `serve --dev` without a DNS server and for tests of the validator itself:
// every name resolves to `default_ips` unless listed; TXT and CAA ("0 issue \"ca.test\"") per
// exact name; CAA is looked up tree-climbing like RFC 8659. Thread-safe; Set* may be called
// while validations run.
class StaticDnsChecker final : public DnsChecker {
 public:
  explicit StaticDnsChecker(std::vector<std::string> default_ips);
  void SetIps(const std::string& name, std::vector<std::string> ips);
  void SetTxt(const std::string& name, std::vector<std::string> values);
  void SetCaa(const std::string& name, std::vector<std::string> records);
  core::Result<std::vector<std::string>> LookupIps(const std::string& name) override;
  core::Result<std::vector<std::string>> LookupTxt(const std::string& name) override;
  core::Status CheckCaa(const CaaQuery& query) override;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace hp::acme
