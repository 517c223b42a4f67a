#pragma once
// RFC 9457 problem details: the one mapping from an internal Error to what an HTTP client sees.
// Both the REST API and the ACME front end use ToProblem(); only the type namespace differs.

#include <string>

#include <nlohmann/json.hpp>

#include "hp/core/error.h"

namespace hp::core {

enum class ProblemNamespace {
  kApi,   // type "https://hostplane.dev/problems/<name>"
  kAcme,  // type "urn:ietf:params:acme:error:<name>" (RFC 8555 §6.7)
};

struct Problem {
  int status = 500;
  std::string type;
  std::string title;
  std::string detail;
  nlohmann::json body;  // full application/problem+json document
  int retry_after_seconds = 0;
};

// Maps an Error to a problem document. Internal errors never leak their detail.
Problem ToProblem(const Error& error, ProblemNamespace ns);

// The HTTP status an error code maps to (also used for logging/metrics).
int HttpStatusFor(ErrorCode code);

}  // namespace hp::core
