#include "hp/core/problem.h"

#include <gtest/gtest.h>

namespace hp::core {
namespace {

TEST(Problem, ApiProblemNamesFieldAndStatus) {
  Error e(ErrorCode::kInvalidArgument, "must be an e-mail address");
  e.field = "email";
  Problem p = ToProblem(e, ProblemNamespace::kApi);
  EXPECT_EQ(p.status, 400);
  EXPECT_EQ(p.body["type"], "https://hostplane.dev/problems/invalidArgument");
  EXPECT_EQ(p.body["field"], "email");
  EXPECT_EQ(p.body["detail"], "must be an e-mail address");
  EXPECT_EQ(p.body["status"], 400);
}

TEST(Problem, InternalDetailNeverLeaks) {
  Problem p = ToProblem(Error(ErrorCode::kInternal, "sqlite: disk I/O error at /secret/path"), ProblemNamespace::kApi);
  EXPECT_EQ(p.status, 500);
  EXPECT_EQ(p.body["detail"].get<std::string>().find("secret"), std::string::npos);
  Problem a = ToProblem(Error(ErrorCode::kInternal, "key file /var/ca/x.key"), ProblemNamespace::kAcme);
  EXPECT_EQ(a.body["type"], "urn:ietf:params:acme:error:serverInternal");
  EXPECT_EQ(a.body["detail"].get<std::string>().find("key file"), std::string::npos);
}

TEST(Problem, AcmeTypesFollowRfc8555) {
  struct Case {
    ErrorCode code;
    const char* type;
    int status;
  } cases[] = {
      {ErrorCode::kAcmeBadNonce, "urn:ietf:params:acme:error:badNonce", 400},
      {ErrorCode::kAcmeBadCsr, "urn:ietf:params:acme:error:badCSR", 400},
      {ErrorCode::kAcmeUnauthorized, "urn:ietf:params:acme:error:unauthorized", 403},
      {ErrorCode::kAcmeOrderNotReady, "urn:ietf:params:acme:error:orderNotReady", 403},
      {ErrorCode::kAcmeRateLimited, "urn:ietf:params:acme:error:rateLimited", 429},
      {ErrorCode::kAcmeExternalAccountRequired, "urn:ietf:params:acme:error:externalAccountRequired", 401},
      {ErrorCode::kAcmeAlreadyReplaced, "urn:ietf:params:acme:error:alreadyReplaced", 409},
      {ErrorCode::kNotFound, "urn:ietf:params:acme:error:malformed", 404},
  };
  for (const auto& c : cases) {
    Problem p = ToProblem(Error(c.code, "x"), ProblemNamespace::kAcme);
    EXPECT_EQ(p.body["type"], c.type);
    EXPECT_EQ(p.status, c.status) << c.type;
  }
}

TEST(Problem, SubproblemsCarryIdentifiersAndRetryAfter) {
  Error e(ErrorCode::kAcmeRejectedIdentifier, "some identifiers were rejected");
  e.subproblems.push_back(Error(ErrorCode::kAcmeCaa, "CAA forbids issuance").WithIdentifier("dns", "a.example"));
  e.subproblems.push_back(Error(ErrorCode::kAcmeMalformed, "bad name").WithIdentifier("dns", "-b.example"));
  e.retry_after_seconds = 30;
  Problem p = ToProblem(e, ProblemNamespace::kAcme);
  ASSERT_EQ(p.body["subproblems"].size(), 2u);
  EXPECT_EQ(p.body["subproblems"][0]["type"], "urn:ietf:params:acme:error:caa");
  EXPECT_EQ(p.body["subproblems"][0]["identifier"]["value"], "a.example");
  EXPECT_EQ(p.retry_after_seconds, 30);
}

}  // namespace
}  // namespace hp::core
