#include "hp/core/problem.h"

namespace hp::core {
namespace {

using Json = nlohmann::json;

bool IsAcmeCode(ErrorCode c) { return c >= ErrorCode::kAcmeAccountDoesNotExist; }

// Generic codes expressed in the ACME namespace (RFC 8555 has no "notFound" type; Boulder answers
// malformed with 404 status for missing resources).
std::string_view AcmeNameFor(ErrorCode c) {
  switch (c) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kConflict:
    case ErrorCode::kPayloadTooLarge:
    case ErrorCode::kUnsupportedMediaType:
    case ErrorCode::kPreconditionFailed:
      return "malformed";
    case ErrorCode::kUnauthenticated:
    case ErrorCode::kPermissionDenied:
      return "unauthorized";
    case ErrorCode::kRateLimited:
      return "rateLimited";
    case ErrorCode::kUnavailable:
    case ErrorCode::kInternal:
      return "serverInternal";
    default:
      return ErrorCodeName(c);
  }
}

std::string_view TitleFor(ErrorCode c) {
  switch (c) {
    case ErrorCode::kInvalidArgument: return "Invalid request";
    case ErrorCode::kNotFound: return "Not found";
    case ErrorCode::kAlreadyExists: return "Already exists";
    case ErrorCode::kConflict: return "Conflict";
    case ErrorCode::kUnauthenticated: return "Authentication required";
    case ErrorCode::kPermissionDenied: return "Permission denied";
    case ErrorCode::kRateLimited:
    case ErrorCode::kAcmeRateLimited: return "Rate limit exceeded";
    case ErrorCode::kPayloadTooLarge: return "Request body too large";
    case ErrorCode::kUnsupportedMediaType: return "Unsupported media type";
    case ErrorCode::kPreconditionFailed: return "Precondition failed";
    case ErrorCode::kUnavailable: return "Service unavailable";
    case ErrorCode::kInternal:
    case ErrorCode::kAcmeServerInternal: return "Internal server error";
    default: return "ACME error";
  }
}

Json ProblemJson(const Error& e, ProblemNamespace ns, int status) {
  Json j = Json::object();
  const bool internal = e.code == ErrorCode::kInternal || e.code == ErrorCode::kAcmeServerInternal;
  if (ns == ProblemNamespace::kAcme) {
    j["type"] = "urn:ietf:params:acme:error:" + std::string(AcmeNameFor(e.code));
  } else {
    j["type"] = "https://hostplane.dev/problems/" + std::string(ErrorCodeName(e.code));
    j["title"] = std::string(TitleFor(e.code));
  }
  j["status"] = status;
  if (internal) {
    j["detail"] = "An internal error occurred; it has been logged.";
  } else if (!e.detail.empty()) {
    j["detail"] = e.detail;
  } else {
    j["detail"] = std::string(TitleFor(e.code));
  }
  if (!e.field.empty()) j["field"] = e.field;
  if (!e.instance.empty()) j["instance"] = e.instance;
  if (!e.identifier.type.empty()) {
    j["identifier"] = {{"type", e.identifier.type}, {"value", e.identifier.value}};
  }
  if (!e.subproblems.empty()) {
    Json subs = Json::array();
    for (const auto& s : e.subproblems) {
      Json sj = ProblemJson(s, ns, HttpStatusFor(s.code));
      sj.erase("status");
      subs.push_back(std::move(sj));
    }
    j["subproblems"] = std::move(subs);
  }
  return j;
}

}  // namespace

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kAlreadyExists: return 409;
    case ErrorCode::kConflict: return 409;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kRateLimited: return 429;
    case ErrorCode::kPayloadTooLarge: return 413;
    case ErrorCode::kUnsupportedMediaType: return 415;
    case ErrorCode::kPreconditionFailed: return 412;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kInternal: return 500;
    case ErrorCode::kAcmeAccountDoesNotExist: return 400;
    case ErrorCode::kAcmeAlreadyReplaced: return 409;
    case ErrorCode::kAcmeAlreadyRevoked: return 400;
    case ErrorCode::kAcmeBadCsr: return 400;
    case ErrorCode::kAcmeBadNonce: return 400;
    case ErrorCode::kAcmeBadPublicKey: return 400;
    case ErrorCode::kAcmeBadRevocationReason: return 400;
    case ErrorCode::kAcmeBadSignatureAlgorithm: return 400;
    case ErrorCode::kAcmeCaa: return 403;
    case ErrorCode::kAcmeCompound: return 403;
    case ErrorCode::kAcmeConnection: return 400;
    case ErrorCode::kAcmeDns: return 400;
    case ErrorCode::kAcmeExternalAccountRequired: return 401;
    case ErrorCode::kAcmeIncorrectResponse: return 403;
    case ErrorCode::kAcmeInvalidContact: return 400;
    case ErrorCode::kAcmeInvalidProfile: return 400;
    case ErrorCode::kAcmeMalformed: return 400;
    case ErrorCode::kAcmeOrderNotReady: return 403;
    case ErrorCode::kAcmeRateLimited: return 429;
    case ErrorCode::kAcmeRejectedIdentifier: return 400;
    case ErrorCode::kAcmeServerInternal: return 500;
    case ErrorCode::kAcmeTls: return 400;
    case ErrorCode::kAcmeUnauthorized: return 403;
    case ErrorCode::kAcmeUnsupportedContact: return 400;
    case ErrorCode::kAcmeUnsupportedIdentifier: return 400;
    case ErrorCode::kAcmeUserActionRequired: return 403;
  }
  return 500;
}

Problem ToProblem(const Error& error, ProblemNamespace ns) {
  (void)IsAcmeCode;
  Problem p;
  p.status = HttpStatusFor(error.code);
  p.body = ProblemJson(error, ns, p.status);
  p.type = p.body["type"].get<std::string>();
  p.title = std::string(TitleFor(error.code));
  p.detail = p.body["detail"].get<std::string>();
  if (error.retry_after_seconds > 0) p.retry_after_seconds = error.retry_after_seconds;
  return p;
}

}  // namespace hp::core
