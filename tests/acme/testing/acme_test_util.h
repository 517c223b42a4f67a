#pragma once
// Client-side helpers for acme tests: account keys as JWKs, JWS signing (what an ACME client
// does), CSRs, and running openssl(1).

#include <map>
#include <string>
#include <vector>

#include "hp/core/json.h"
#include "hp/core/openssl.h"

namespace hp::acme::testing {

struct TestKey {
  core::ossl::PKey key;
  std::string alg;  // RS256, ES256, ES384, EdDSA
  core::Json jwk;   // public JWK
};

// alg: RS256 (2048), ES256, ES384, EdDSA.
TestKey MakeKey(const std::string& alg);
// Raw JWS signature over `input` (r||s for ECDSA).
std::string SignRaw(const TestKey& key, const std::string& input, const std::string& alg = "");
// Flattened JWS with a protected header built from `header` (alg filled in when absent).
std::string SignJws(const TestKey& key, core::Json header, const std::string& payload);
// DER CSR with SAN names ("dns:" / "ip:" prefixes optional: dotted quads become IPs) and CN.
std::string MakeCsr(EVP_PKEY* key, const std::vector<std::string>& names,
                    const std::string& cn = "");
// Runs a shell command, returns exit status and captures stdout+stderr into *out.
int Run(const std::string& cmd, std::string* out = nullptr);
std::string TempDir();
void WriteFile(const std::string& path, const std::string& data);

}  // namespace hp::acme::testing

namespace hp::acme::testing {

struct HttpResult {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  core::Json json() const { return core::Json::parse(body, nullptr, false); }
  std::string header(const std::string& n) const {
    auto it = headers.find(n);
    return it == headers.end() ? "" : it->second;
  }
};
// Plain HTTP request through libcurl (loopback only).
HttpResult Http(const std::string& method, const std::string& url, const std::string& body = "",
                const std::string& content_type = "application/jose+json");

// A minimal ACME client: what certbot/lego do on the wire, with knobs to break each rule.
class AcmeClient {
 public:
  AcmeClient(std::string directory_url, std::string alg = "ES256");
  core::Json dir;
  TestKey key;
  std::string kid;  // account URL once registered
  std::string nonce;

  std::string Nonce();
  // Signs with `key` (jwk when kid empty or use_jwk), posts, keeps the returned nonce.
  HttpResult Post(const std::string& url, const std::string& payload, bool use_jwk = false);
  HttpResult PostRaw(const std::string& url, const std::string& body,
                     const std::string& content_type = "application/jose+json");
  std::string SignedBody(const std::string& url, const std::string& payload, bool use_jwk,
                         const std::string& nonce);
  HttpResult Register(const core::Json& extra = core::Json::object());
};

}  // namespace hp::acme::testing
