#pragma once
// Validation authority: proves control of an identifier by http-01 (libcurl), tls-alpn-01
// (OpenSSL, RFC 8737) or dns-01 (through DnsChecker). Blocking network I/O: call it only from
// worker threads. Thread-safe.

#include <string>

#include "hp/acme/dns_checker.h"
#include "hp/acme/server.h"
#include "hp/core/json.h"

namespace hp::acme {

// One HTTP response as the validator saw it.
struct Fetched {
  long status = 0;
  std::string location;  // Location header as sent (may be relative)
  std::string body;      // at most ValidationConfig::max_response_bytes
  bool overflow = false;  // the body was larger
};

class Va {
 public:
  Va(ValidationConfig config, DnsChecker& dns) : config_(config), dns_(dns) {}
  // Ok with a validation record ({"url":..., "addressUsed":...}) or the ACME error the client
  // should see (kAcmeConnection, kAcmeIncorrectResponse, kAcmeDns, kAcmeTls, kAcmeUnauthorized).
  core::Result<core::Json> Validate(const core::Identifier& id, const std::string& type,
                                    const std::string& token, const std::string& key_auth);

 private:
  core::Result<core::Json> Http01(const core::Identifier& id, const std::string& token,
                                  const std::string& key_auth);
  core::Result<core::Json> TlsAlpn01(const core::Identifier& id, const std::string& key_auth);
  core::Result<core::Json> Dns01(const core::Identifier& id, const std::string& key_auth);
  core::Result<std::string> ResolveOne(const std::string& host);
  // http: a plain HTTP/1.0 GET on our own socket to `ip` (no libcurl: a handle, its connection
  // cache and multi loop cost more than the fetch); https redirect targets go through libcurl.
  core::Result<Fetched> PlainHttpGet(const std::string& ip, int port, const std::string& host,
                                     const std::string& path, const std::string& url);
  core::Result<Fetched> CurlGet(const std::string& ip, int port, const std::string& host,
                                const std::string& url);

  ValidationConfig config_;
  DnsChecker& dns_;
};

}  // namespace hp::acme
