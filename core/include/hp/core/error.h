#pragma once
// The one internal error type. Untrusted input and library failures become Error values inside a
// Result<T>; nothing throws across a module boundary. Only hp::core::ToProblem() turns an Error into
// what a client sees (see problem.h).

#include <expected>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hp::core {

// Codes are the union of what HTTP clients need to tell apart: RFC 8555 §6.7 error types (so the
// ACME front end can map them one to one) and the generic REST API cases.
enum class ErrorCode {
  // Generic
  kInvalidArgument,   // a field of the request is malformed; detail names the field
  kNotFound,          // the resource does not exist *for this caller*
  kAlreadyExists,     // creating something that exists
  kConflict,          // state does not allow the operation (e.g. If-Match mismatch)
  kUnauthenticated,   // no or bad credentials
  kPermissionDenied,  // authenticated but not allowed
  kRateLimited,       // too many requests; retry_after_seconds set
  kPayloadTooLarge,
  kUnsupportedMediaType,
  kPreconditionFailed,
  kUnavailable,  // a dependency is down; retryable
  kInternal,     // a bug or an unexpected library failure; detail is never shown to clients
  // RFC 8555 §6.7 (and RFC 8555 extensions) error types
  kAcmeAccountDoesNotExist,
  kAcmeAlreadyReplaced,
  kAcmeAlreadyRevoked,
  kAcmeBadCsr,
  kAcmeBadNonce,
  kAcmeBadPublicKey,
  kAcmeBadRevocationReason,
  kAcmeBadSignatureAlgorithm,
  kAcmeCaa,
  kAcmeCompound,
  kAcmeConnection,
  kAcmeDns,
  kAcmeExternalAccountRequired,
  kAcmeIncorrectResponse,
  kAcmeInvalidContact,
  kAcmeInvalidProfile,
  kAcmeMalformed,
  kAcmeOrderNotReady,
  kAcmeRateLimited,
  kAcmeRejectedIdentifier,
  kAcmeServerInternal,
  kAcmeTls,
  kAcmeUnauthorized,
  kAcmeUnsupportedContact,
  kAcmeUnsupportedIdentifier,
  kAcmeUserActionRequired,
};

// Stable lower-camel name of a code ("invalidArgument", "badNonce"); used in problem type URIs.
std::string_view ErrorCodeName(ErrorCode code);

struct Identifier {
  std::string type;   // "dns", "ip"
  std::string value;  // "example.com"
};

struct Error;

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string detail;               // human readable; for kInternal only logged, never sent
  std::string field;                // offending input field (JSON pointer or key), if any
  int retry_after_seconds = 0;      // > 0 for rate limits and unavailability
  std::string instance;             // optional URI of the failing resource
  Identifier identifier;            // for ACME subproblems
  std::vector<Error> subproblems;   // per-identifier problems (RFC 8555 §6.7.1)

  Error() = default;
  Error(ErrorCode c, std::string d) : code(c), detail(std::move(d)) {}

  Error& WithField(std::string f) & {
    field = std::move(f);
    return *this;
  }
  Error&& WithField(std::string f) && {
    field = std::move(f);
    return std::move(*this);
  }
  Error&& WithRetryAfter(int s) && {
    retry_after_seconds = s;
    return std::move(*this);
  }
  Error&& WithIdentifier(std::string type, std::string value) && {
    identifier = {std::move(type), std::move(value)};
    return std::move(*this);
  }
  // "field: detail" or just detail; for logs and CLI messages.
  std::string ToString() const;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> Fail(ErrorCode code, std::string detail) {
  return std::unexpected<Error>(Error(code, std::move(detail)));
}
inline std::unexpected<Error> FailField(ErrorCode code, std::string field, std::string detail) {
  Error e(code, std::move(detail));
  e.field = std::move(field);
  return std::unexpected<Error>(std::move(e));
}
inline std::unexpected<Error> Fail(Error e) { return std::unexpected<Error>(std::move(e)); }
inline Status Ok() { return {}; }

}  // namespace hp::core

// HP_TRY(expr): evaluates a Result/Status; on error returns it from the enclosing function.
#define HP_TRY(expr)                                                 \
  do {                                                               \
    auto&& hp_try_r_ = (expr);                                       \
    if (!hp_try_r_) return std::unexpected(std::move(hp_try_r_).error()); \
  } while (0)

#define HP_CONCAT_INNER_(a, b) a##b
#define HP_CONCAT_(a, b) HP_CONCAT_INNER_(a, b)
// HP_ASSIGN_OR_RETURN(lhs, expr): lhs = *expr, or return the error.
#define HP_ASSIGN_OR_RETURN(lhs, expr) \
  HP_ASSIGN_OR_RETURN_IMPL_(HP_CONCAT_(hp_r_, __LINE__), lhs, expr)
#define HP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)              \
  auto tmp = (expr);                                           \
  if (!tmp) return std::unexpected(std::move(tmp).error());    \
  lhs = std::move(*tmp)
