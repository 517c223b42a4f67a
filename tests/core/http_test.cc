#include "hp/core/http.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "hp/core/http_server.h"
#include "hp/core/log.h"
#include "test_support.h"

namespace hp::core::http {
namespace {

TEST(Router, MatchesParamsAndReportsAllowedMethods) {
  Router r;
  r.AddSync({.method = "GET", .pattern = "/api/v1/orgs/{id}"}, [](const Request& q) { return Response::Text(200, q.Param("id")); });
  r.AddSync({.method = "DELETE", .pattern = "/api/v1/orgs/{id}"}, [](const Request&) { return Response::Empty(204); });
  r.AddSync({.method = "GET", .pattern = "/api/v1/orgs"}, [](const Request&) { return Response::Empty(200); });
  auto m = r.Find("GET", "/api/v1/orgs/abc%20d");
  ASSERT_TRUE(m.route);
  EXPECT_EQ(m.params["id"], "abc d");
  EXPECT_TRUE(r.Find("HEAD", "/api/v1/orgs/x").route);  // HEAD falls back to GET
  auto none = r.Find("PUT", "/api/v1/orgs/x");
  EXPECT_FALSE(none.route);
  EXPECT_EQ(none.allowed, (std::vector<std::string>{"DELETE", "GET"}));
  EXPECT_FALSE(r.Find("GET", "/api/v1/orgs/x/y").route);
  EXPECT_FALSE(r.Find("GET", "/api/v1/orgs/").route);
}

TEST(Router, OpenApiDocumentsEveryRoute) {
  Router r;
  r.AddSync({.method = "GET", .pattern = "/a/{id}", .summary = "get a", .tag = "t", .permission = "a.read"}, [](const Request&) { return Response::Empty(200); });
  r.AddSync({.method = "POST", .pattern = "/a", .summary = "make a", .request_schema = {{"type", "object"}}}, [](const Request&) { return Response::Empty(201); });
  r.AddSync({.method = "GET", .pattern = "/hidden", .documented = false}, [](const Request&) { return Response::Empty(200); });
  auto doc = r.OpenApi("t", "1");
  EXPECT_EQ(doc["openapi"], "3.1.0");
  EXPECT_EQ(doc["paths"]["/a/{id}"]["get"]["parameters"][0]["name"], "id");
  EXPECT_EQ(doc["paths"]["/a/{id}"]["get"]["x-permission"], "a.read");
  EXPECT_TRUE(doc["paths"]["/a"]["post"].contains("requestBody"));
  EXPECT_FALSE(doc["paths"].contains("/hidden"));
}

TEST(Request, QueryParamsAreDecoded) {
  Request q;
  q.query = "a=1&b=hello+world&c=%2Fx&flag";
  EXPECT_EQ(*q.QueryParam("b"), "hello world");
  EXPECT_EQ(*q.QueryParam("c"), "/x");
  EXPECT_EQ(*q.QueryParam("flag"), "");
  EXPECT_FALSE(q.QueryParam("d"));
}

std::vector<nlohmann::json> ReadLogLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));  // throws if not JSON
  return out;
}

TEST(AccessLog, EachRequestIsOneJsonLineWithItsFieldsEvenForHostilePaths) {
  const std::string file = ::testing::TempDir() + "/access.log";
  std::remove(file.c_str());
  ASSERT_TRUE(log::SetOutputFile(file));
  log::SetLevel(log::Level::kInfo);
  log::Access("GET", "/a/\"quoted\"\\back", 200, 1234567, "127.0.0.1", 42, "rid-1");
  log::Access("POST", std::string("/bad/\xff\x01utf8"), 404, 5, "::1", 0, "");
  log::Info("request", {{"method", "PUT"}});
  ASSERT_TRUE(log::SetOutputFile(""));
  log::SetLevel(log::Level::kError);
  auto lines = ReadLogLines(file);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["msg"], "request");
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["method"], "GET");
  EXPECT_EQ(lines[0]["path"], "/a/\"quoted\"\\back");
  EXPECT_EQ(lines[0]["status"], 200);
  EXPECT_DOUBLE_EQ(lines[0]["duration_ms"].get<double>(), 1234.567);
  EXPECT_EQ(lines[0]["remote_ip"], "127.0.0.1");
  EXPECT_EQ(lines[0]["bytes"], 42);
  EXPECT_EQ(lines[0]["request_id"], "rid-1");
  EXPECT_FALSE(lines[0]["ts"].get<std::string>().empty());
  EXPECT_EQ(lines[1]["path"], "/bad/\xef\xbf\xbd\u0001utf8");  // invalid byte replaced, control escaped
  EXPECT_FALSE(lines[1].contains("request_id"));
  // The same keys a generic line has.
  for (const char* k : {"ts", "level", "msg"}) EXPECT_TRUE(lines[2].contains(k)) << k;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetLevel(log::Level::kError);
    router_.AddSync({.method = "GET", .pattern = "/hello/{name}"}, [](const Request& q) {
      Response r = Response::Json(200, {{"hello", q.Param("name")}, {"ip", q.remote_ip}, {"scheme", q.scheme}});
      r.SetHeader("Link", "<https://x/a>;rel=\"index\"");
      r.AppendHeader("Link", "<https://x/b>;rel=\"next\"");
      r.SetHeader("Replay-Nonce", "abc");
      return r;
    });
    router_.Add({.method = "POST", .pattern = "/async"}, [](Request&& q, Reply reply) {
      // Reply later from another thread, as long work does.
      std::thread([body = q.body, reply] { reply(Response::Text(202, "got " + body)); }).detach();
    });
    router_.AddSync({.method = "GET", .pattern = "/fail"}, [](const Request&) {
      return Response::FromError(Error(ErrorCode::kRateLimited, "slow down").WithRetryAfter(7));
    });
    auto s = Server::Create({.port = 0, .threads = 2, .max_request_bytes = 1000, .front_token = "tok"}, router_, metrics_);
    ASSERT_TRUE(s);
    server_ = std::move(*s);
    ASSERT_TRUE(server_->Start());
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override { server_->Shutdown(std::chrono::seconds(1)); }

  Router router_;
  MetricsRegistry metrics_;
  std::unique_ptr<Server> server_;
  std::string base_;
};

TEST_F(ServerTest, SendsCustomHeadersAndJoinedLinks) {
  auto r = hp::testing::HttpRequest(base_ + "/hello/world");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.headers["replay-nonce"], "abc");
  EXPECT_EQ(r.headers["link"], "<https://x/a>;rel=\"index\", <https://x/b>;rel=\"next\"");
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_FALSE(r.headers["x-request-id"].empty());
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["hello"], "world");
  EXPECT_EQ(j["ip"], "127.0.0.1");
}

TEST_F(ServerTest, TrustsForwardedAddressOnlyWithTheFrontToken) {
  hp::testing::HttpOptions o;
  o.headers = {"X-Forwarded-For: 203.0.113.9", "X-Forwarded-Proto: https"};
  auto spoofed = hp::testing::HttpRequest(base_ + "/hello/x", o);
  EXPECT_EQ(nlohmann::json::parse(spoofed.body)["ip"], "127.0.0.1");
  o.headers.push_back("X-HP-Front: tok");
  auto fronted = hp::testing::HttpRequest(base_ + "/hello/x", o);
  EXPECT_EQ(nlohmann::json::parse(fronted.body)["ip"], "203.0.113.9");
  EXPECT_EQ(nlohmann::json::parse(fronted.body)["scheme"], "https");
}

TEST_F(ServerTest, AsyncRepliesAndProblems) {
  hp::testing::HttpOptions o;
  o.method = "POST";
  o.body = "payload";
  auto r = hp::testing::HttpRequest(base_ + "/async", o);
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, "got payload");
  auto nf = hp::testing::HttpRequest(base_ + "/nothing");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.headers["content-type"], "application/problem+json");
  auto na = hp::testing::HttpRequest(base_ + "/async");
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(na.headers["allow"], "POST");
  auto rl = hp::testing::HttpRequest(base_ + "/fail");
  EXPECT_EQ(rl.status, 429);
  EXPECT_EQ(rl.headers["retry-after"], "7");
  o.body = std::string(5000, 'x');
  auto big = hp::testing::HttpRequest(base_ + "/async", o);
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(metrics_.RenderPrometheus().find("hostplane_http_requests_total"), std::string::npos);
}

}  // namespace
}  // namespace hp::core::http
