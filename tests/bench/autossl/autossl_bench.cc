// AutoSSL mass renewal (issue 7, acceptance 4) against `hostplane serve --dev` with the real
// nginx web node and our own CA: N certificates (sites x names) are issued, the dev clock is moved
// past the latest renewal time so all N are due at once, and the time until every one is renewed
// and deployed is measured. The CA's limit (acme.limits.new_orders_per_account_3h, default 300)
// and AutoSSL's pacing (autossl.max_orders_per_3h, default 250) stay at their defaults: when the
// budget of a 3-hour window is used up the bench moves the dev clock on by an hour.
// Checks: no certificate expired, no rate-limit error, no failed issuance.
// Usage: autossl_bench [certificates=500] [names_per_site=10]
#include <chrono>
#include <cstdio>
#include <ctime>
#include <algorithm>
#include <map>
#include <thread>
#include <string>

#include "api_fixture.h"

using hp::testing::ApiServer;
using hp::testing::FreePort;
using hp::testing::Json;

namespace {

double Secs(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Tally {
  int valid = 0, waiting = 0, busy = 0, failed = 0, renewed = 0;
  std::string first_error;
};

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const int total = argc > 1 ? std::atoi(argv[1]) : 500;
  const int per_site = argc > 2 ? std::atoi(argv[2]) : 10;
  const int sites = (total + per_site - 1) / per_site;
  const int web = FreePort(), tls = FreePort();
  ApiServer s({{"HOSTPLANE_PROVISIONING_WEB_LISTEN", "127.0.0.1:" + std::to_string(web)},
               {"HOSTPLANE_PROVISIONING_WEB_TLS_LISTEN", "127.0.0.1:" + std::to_string(tls)},
               {"HOSTPLANE_ACME_VA_HTTP_PORT", std::to_string(web)},
               {"HOSTPLANE_ACME_VA_STATIC_IPS", "127.0.0.1"},
               {"HOSTPLANE_AUTOSSL_SCAN_INTERVAL_S", "2"},
               {"HOSTPLANE_AUTOSSL_RETRY_BASE_S", "1"},
               {"HOSTPLANE_JOBS_WORKERS", "4"},
               {"HOSTPLANE_API_RATE_LIMIT_PER_MINUTE", "1000000"}});
  auto a = s.SignUp("bench@autossl.example", "AutoSSL Bench");
  const std::string org = "/api/v1/organizations/" + a.org_id;
  auto call = [&](const std::string& m, const std::string& path, const Json& body) {
    for (int i = 0;; ++i) {
      auto r = s.Call(m, path, body, a.session);
      if (r.status == 401 && i < 3) {
        a.session = s.SignIn(a.email, a.password);
        continue;
      }
      if (r.status != 429 || i > 50) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  };
  auto tally = [&](const std::map<std::string, std::string>& before) {
    Tally t;
    auto list = call("GET", org + "/certificates", nullptr);
    for (const auto& c : list.json["items"]) {
      const std::string st = c.value("status", "");
      if (st == "valid" && c.value("deployed", false)) ++t.valid;
      else if (st == "waiting") ++t.waiting;
      else if (st == "failed") {
        ++t.failed;
        if (t.first_error.empty()) t.first_error = c.value("domain", "") + ": " + c.value("last_error", "");
      } else ++t.busy;
      auto it = before.find(c.value("domain", ""));
      if (it != before.end() && st == "valid" && c.value("deployed", false) &&
          c.value("serial", "") != it->second)
        ++t.renewed;
    }
    return t;
  };
  // Drives until `done(t)`; moves the clock on by an hour when the order budget is used up.
  int clock_moves = 0;
  auto drive = [&](const std::map<std::string, std::string>& before, auto done) {
    int last = -1;
    auto idle = std::chrono::steady_clock::now();
    for (;;) {
      Tally t = tally(before);
      if (done(t)) return t;
      const int progress = t.valid + t.renewed * 1000;
      if (progress != last) {
        last = progress;
        idle = std::chrono::steady_clock::now();
      }
      // Budget used up: first issuances wait as "waiting", due renewals stay "valid" with the old
      // serial until the window moves on.
      const bool starved = t.waiting > 0 || (!before.empty() && t.renewed < total);
      if (t.busy == 0 && starved && Secs(idle) > 3) {
        s.Advance(3600);
        ++clock_moves;
        a.session = s.SignIn(a.email, a.password);
        idle = std::chrono::steady_clock::now();
      }
      if (Secs(idle) > 60) {
        std::fprintf(stderr, "no progress for 60 s (valid %d waiting %d busy %d failed %d: %s)\n", t.valid,
                     t.waiting, t.busy, t.failed, t.first_error.c_str());
        std::exit(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  };

  // Setup: sites and names (each name issued automatically when served).
  const auto t_setup = std::chrono::steady_clock::now();
  int names = 0;
  for (int k = 0; k < sites; ++k) {
    // One registered domain per site (the CA allows 50 certificates per registered domain a week).
    const std::string domain = "s" + std::to_string(k) + "-autossl-bench.test";
    auto r = call("POST", org + "/sites", {{"domain", domain}, {"quota_mib", 10}});
    if (r.status != 202) {
      std::fprintf(stderr, "create site: %d %s\n", r.status, r.body.c_str());
      return 1;
    }
    const std::string id = r.json["site"].value("id", "");
    ++names;
    for (int j = 1; j < per_site && names < total; ++j, ++names) {
      auto d = call("POST", org + "/sites/" + id + "/domains",
                    {{"domain", "n" + std::to_string(j) + "." + domain}});
      if (d.status != 202) {
        std::fprintf(stderr, "add domain: %d %s\n", d.status, d.body.c_str());
        return 1;
      }
    }
  }
  Tally t = drive({}, [&](const Tally& t) { return t.valid >= total; });
  std::printf("setup: %d certificates on %d sites issued and deployed in %.1f s (%d clock moves)\n",
              t.valid, sites, Secs(t_setup), clock_moves);

  // All due at once: past the latest renewal time.
  std::map<std::string, std::string> before;
  int64_t latest = 0;
  const auto listed = call("GET", org + "/certificates", nullptr);
  for (const auto& c : listed.json["items"]) {
    before[c.value("domain", "")] = c.value("serial", "");
    latest = std::max<int64_t>(latest, c["renew_at"].get<int64_t>());
  }
  const double dev_now = static_cast<double>(std::time(nullptr)) + s.offset();
  if (static_cast<int>(before.size()) < total || latest <= dev_now) {
    std::fprintf(stderr, "unexpected certificate list (%zu, latest renewal %lld)\n", before.size(),
                 static_cast<long long>(latest));
    return 1;
  }
  s.Advance(static_cast<double>(latest) - dev_now + 60);
  a.session = s.SignIn(a.email, a.password);
  const double renew_start_dev = static_cast<double>(std::time(nullptr)) + s.offset();
  clock_moves = 0;
  const auto t0 = std::chrono::steady_clock::now();
  t = drive(before, [&](const Tally& t) { return t.renewed >= total; });
  const double took = Secs(t0);
  const double dev_span = static_cast<double>(std::time(nullptr)) + s.offset() - renew_start_dev;

  // Checks: nothing expired, no rate-limit error, no failure.
  int expired = 0, errors = 0;
  const int64_t now = static_cast<int64_t>(std::time(nullptr) + s.offset());
  std::string err;
  const auto final_list = call("GET", org + "/certificates", nullptr);
  for (const auto& c : final_list.json["items"]) {
    if (c["not_after"].get<int64_t>() <= now) ++expired;
    if (c.value("failures", 0) != 0 || !c["last_error"].is_null()) {
      ++errors;
      if (err.empty()) err = c.dump();
    }
  }
  std::printf("renewal: %d of %d certificates due at once renewed and deployed in %.1f s wall "
              "(%.2f certificates/s; dev clock spanned %.1f h in %d moves for the 3-hour order "
              "budget); expired %d, failed or rate-limited %d\n",
              t.renewed, total, took, t.renewed / took, dev_span / 3600, clock_moves, expired, errors);
  if (!err.empty()) std::printf("first error: %s\n", err.c_str());
  return (t.renewed >= total && expired == 0 && errors == 0) ? 0 : 1;
}
