#include "hp/core/error.h"

namespace hp::core {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalidArgument";
    case ErrorCode::kNotFound: return "notFound";
    case ErrorCode::kAlreadyExists: return "alreadyExists";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kUnauthenticated: return "unauthenticated";
    case ErrorCode::kPermissionDenied: return "permissionDenied";
    case ErrorCode::kRateLimited: return "rateLimited";
    case ErrorCode::kPayloadTooLarge: return "payloadTooLarge";
    case ErrorCode::kUnsupportedMediaType: return "unsupportedMediaType";
    case ErrorCode::kPreconditionFailed: return "preconditionFailed";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kInternal: return "internal";
    case ErrorCode::kAcmeAccountDoesNotExist: return "accountDoesNotExist";
    case ErrorCode::kAcmeAlreadyReplaced: return "alreadyReplaced";
    case ErrorCode::kAcmeAlreadyRevoked: return "alreadyRevoked";
    case ErrorCode::kAcmeBadCsr: return "badCSR";
    case ErrorCode::kAcmeBadNonce: return "badNonce";
    case ErrorCode::kAcmeBadPublicKey: return "badPublicKey";
    case ErrorCode::kAcmeBadRevocationReason: return "badRevocationReason";
    case ErrorCode::kAcmeBadSignatureAlgorithm: return "badSignatureAlgorithm";
    case ErrorCode::kAcmeCaa: return "caa";
    case ErrorCode::kAcmeCompound: return "compound";
    case ErrorCode::kAcmeConnection: return "connection";
    case ErrorCode::kAcmeDns: return "dns";
    case ErrorCode::kAcmeExternalAccountRequired: return "externalAccountRequired";
    case ErrorCode::kAcmeIncorrectResponse: return "incorrectResponse";
    case ErrorCode::kAcmeInvalidContact: return "invalidContact";
    case ErrorCode::kAcmeInvalidProfile: return "invalidProfile";
    case ErrorCode::kAcmeMalformed: return "malformed";
    case ErrorCode::kAcmeOrderNotReady: return "orderNotReady";
    case ErrorCode::kAcmeRateLimited: return "rateLimited";
    case ErrorCode::kAcmeRejectedIdentifier: return "rejectedIdentifier";
    case ErrorCode::kAcmeServerInternal: return "serverInternal";
    case ErrorCode::kAcmeTls: return "tls";
    case ErrorCode::kAcmeUnauthorized: return "unauthorized";
    case ErrorCode::kAcmeUnsupportedContact: return "unsupportedContact";
    case ErrorCode::kAcmeUnsupportedIdentifier: return "unsupportedIdentifier";
    case ErrorCode::kAcmeUserActionRequired: return "userActionRequired";
  }
  return "internal";
}

std::string Error::ToString() const {
  std::string out;
  if (!field.empty()) out = field + ": ";
  out += detail.empty() ? std::string(ErrorCodeName(code)) : detail;
  return out;
}

}  // namespace hp::core
