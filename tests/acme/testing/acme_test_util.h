#pragma once
// Client-side helpers for acme tests: account keys as JWKs, JWS signing (what an ACME client
// does), CSRs, and running openssl(1).

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
