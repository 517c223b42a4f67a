// Web front end: the RFC 8555 routes, JWS authentication, nonces, and the one place where an
// internal Error becomes an ACME problem document (core::ToProblem with kAcme).
#include <algorithm>
#include <atomic>
#include <thread>

#include "ca/names.h"
#include "hp/acme/jws.h"
#include "hp/acme/server.h"
#include "hp/core/encoding.h"
#include "hp/core/log.h"
#include "hp/core/problem.h"
#include "ra/ra.h"
#include "ra/task_pool.h"
#include "sa/fiber.h"
#include "sa/sa.h"
#include "va/va.h"

namespace hp::acme {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Json;
using core::Result;
using core::http::Reply;
using core::http::Request;
using core::http::Response;

struct Authed {
  JwsMessage msg;
  std::shared_ptr<const Jwk> key;
  std::optional<AccountRow> account;  // set for kid-signed requests
  Json payload;                       // null for POST-as-GET
  CheckedNonce nonce;                 // checked, recorded with the request's write
};

enum class KeyMode { kKid, kJwk, kEither };

// PEM straight from the stored DER (RFC 7468: base64 in 64-character lines); parsing it back
// into an X509 would decode its key, the slow part of OpenSSL 3's d2i.
std::string DerToPem(const std::string& der) {
  std::string b64(4 * ((der.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                reinterpret_cast<const unsigned char*>(der.data()),
                                static_cast<int>(der.size()));
  b64.resize(static_cast<size_t>(n));
  std::string out = "-----BEGIN CERTIFICATE-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  return out + "-----END CERTIFICATE-----\n";
}

std::string Rfc3339Seconds(core::TimePoint t) {
  return core::FormatRfc3339(std::chrono::time_point_cast<std::chrono::seconds>(t));
}

class AcmeServerImpl final : public AcmeServer {
 public:
  AcmeServerImpl(AcmeConfig config, AcmeDeps deps, std::shared_ptr<const PublicSuffixList> psl)
      : config_(std::move(config)),
        deps_(deps),
        sa_(*deps.db, *deps.clock),
        va_(config_.validation, *deps.dns),
        ra_(config_, sa_, *deps.ca, va_, *deps.dns, *deps.jobs, deps.workers, keys_),
        requests_(config_.request_threads > 0 ? std::make_unique<TaskPool>(config_.request_threads)
                                               : nullptr) {
    ra_.SetPublicSuffixList(std::move(psl));
    if (config_.validation.in_process) {
      validations_ = std::make_unique<TaskPool>(std::max(1, config_.validation.threads));
      ra_.SetValidationDispatcher([this](Ra::ValidationInput in) { DispatchValidation(std::move(in)); });
    }
    sweeper_ = std::thread([this] { Sweep(); });
  }

  ~AcmeServerImpl() override {
    // Request fibers still waiting for a commit: the commit thread resumes them; let them reply.
    for (int n = fibers_.load(); n > 0; n = fibers_.load()) fibers_.wait(n);
    {
      std::lock_guard lock(sweep_mu_);
      stopping_ = true;
    }
    sweep_cv_.notify_all();
    if (sweeper_.joinable()) sweeper_.join();
    requests_.reset();  // answers the requests still queued (they may dispatch validations)
    if (validations_) validations_->Clear();  // queued ones stay processing: the sweeper re-runs
    validations_.reset();
    // Validation fibers whose result write is still committing.
    for (int n = fibers_.load(); n > 0; n = fibers_.load()) fibers_.wait(n);
  }

  void RegisterRoutes(core::http::Router& r) override {
    auto get = [&](const std::string& pattern, const std::string& summary,
                   std::function<Response(const Request&)> fn, const std::string& method = "GET") {
      r.Add({method, pattern, summary, "acme"},
            [this, fn](Request&& req, Reply reply) { reply(Finish(Guard(fn, req))); });
    };
    get("/acme/directory", "ACME directory (RFC 8555 §7.1.1)",
        [this](const Request&) { return Response::Json(200, Directory()); });
    get("/acme/new-nonce", "New nonce (HEAD)", [](const Request&) {
      Response resp = Response::Empty(200);
      resp.SetHeader("Cache-Control", "no-store");
      return resp;
    }, "HEAD");
    get("/acme/new-nonce", "New nonce (GET)", [](const Request&) {
      Response resp = Response::Empty(204);
      resp.SetHeader("Cache-Control", "no-store");
      return resp;
    });
    get("/acme/renewal-info/{id}", "ARI renewal information (RFC 9773)",
        [this](const Request& req) { return RenewalInfoRoute(req); });
    get("/acme/crl/{issuer}", "CRL of an issuer (DER)", [this](const Request& req) {
      auto crl = ra_.GetCrl(req.Param("issuer"));
      if (!crl) return Problem(crl.error());
      Response resp(200, "application/pkix-crl", *crl);
      resp.SetHeader("Cache-Control", "public, max-age=3600");
      return resp;
    });
    get("/acme/issuer/{issuer}", "Issuer certificate (DER)", [this](const Request& req) {
      auto info = deps_.ca->issuer(req.Param("issuer"));
      if (!info) return Problem(info.error());
      auto cert = core::ossl::ReadCertificatePem(info->cert_pem);
      auto der = cert ? core::ossl::CertificateToDer(cert->get()) : Result<std::string>(std::unexpected(cert.error()));
      if (!der) return Problem(der.error());
      return Response(200, "application/pkix-cert", *der);
    });

    auto post = [&](const std::string& pattern, const std::string& summary, KeyMode mode,
                    std::function<Result<Response>(const Request&, Authed&)> fn) {
      // The reactor thread only hands the request over: authentication, the group-committed
      // write and the reply happen on a request thread.
      r.Add({"POST", pattern, summary, "acme", "", true, {}, {}, "application/json"},
            [this, mode, fn](Request&& req, Reply reply) {
              auto shared = std::make_shared<Request>(std::move(req));
              auto run = [this, mode, fn, shared, reply = std::move(reply)] {
                reply(Finish(Guard(
                    [&](const Request& rq) -> Response {
                      auto authed = Authenticate(rq, mode);
                      if (!authed) return Problem(authed.error());
                      PendingNonce nonce{authed->nonce};
                      Response out;
                      {
                        Sa::NonceScope scope(&nonce);  // the handler's first write records it
                        auto resp = fn(rq, *authed);
                        out = resp ? std::move(*resp) : Problem(resp.error());
                      }
                      if (!nonce.recorded) {  // read-only (or failed) request
                        auto st = sa_.Write([&](SaTx& tx) { return tx.RecordNonce(nonce.nonce); });
                        if (!st) return Problem(st.error());
                      }
                      return out;
                    },
                    *shared)));
              };
              if (requests_) {
                requests_->Submit(std::move(run));
              } else if (config_.request_threads < 0) {
                // On a fiber: suspended (the reactor moves on) while its writes commit, resumed
                // and answered by the thread that made them durable (sa/fiber.h).
                fibers_.fetch_add(1);
                Fiber::Start([this, run = std::move(run)] {
                  run();
                  if (fibers_.fetch_sub(1) == 1) fibers_.notify_all();  // wakes a waiting shutdown
                });
              } else {
                run();  // request_threads == 0: on the reactor thread (it blocks on the group commit)
              }
            });
    };
    post("/acme/new-account", "Create or find an account", KeyMode::kJwk,
         [this](const Request& req, Authed& a) { return NewAccount(req, a); });
    post("/acme/acct/{id}", "Account: fetch, update, deactivate", KeyMode::kKid,
         [this](const Request& req, Authed& a) { return AccountRoute(req, a); });
    post("/acme/acct/{id}/orders", "Orders of an account", KeyMode::kKid,
         [this](const Request& req, Authed& a) { return OrdersRoute(req, a); });
    post("/acme/acct/{id}/limits", "Rate limits and usage of an account", KeyMode::kKid,
         [this](const Request& req, Authed& a) { return LimitsRoute(req, a); });
    post("/acme/key-change", "Account key rollover", KeyMode::kKid,
         [this](const Request& req, Authed& a) { return KeyChange(req, a); });
    post("/acme/new-order", "Create an order", KeyMode::kKid,
         [this](const Request&, Authed& a) -> Result<Response> {
           if (a.msg.post_as_get) return Fail(ErrorCode::kAcmeMalformed, "new-order needs a payload");
           HP_ASSIGN_OR_RETURN(auto order, ra_.NewOrder(*a.account, a.payload));
           HP_ASSIGN_OR_RETURN(Response resp, OrderResponse(201, order));
           resp.SetHeader("Location", OrderUrl(order.public_id));
           return resp;
         });
    post("/acme/order/{id}", "Fetch an order", KeyMode::kKid,
         [this](const Request& req, Authed& a) -> Result<Response> {
           HP_ASSIGN_OR_RETURN(auto order, ra_.GetOrder(*a.account, req.Param("id")));
           return OrderResponse(200, order);
         });
    post("/acme/order/{id}/finalize", "Finalize an order with a CSR", KeyMode::kKid,
         [this](const Request& req, Authed& a) -> Result<Response> {
           if (!a.payload.is_object() || !a.payload.contains("csr") || !a.payload["csr"].is_string()) {
             return Fail(ErrorCode::kAcmeMalformed, "finalize needs a csr (base64url DER)");
           }
           auto der = core::Base64UrlDecodeToString(a.payload["csr"].get<std::string>());
           if (!der) return Fail(ErrorCode::kAcmeBadCsr, "csr is not base64url");
           HP_ASSIGN_OR_RETURN(auto order, ra_.Finalize(*a.account, req.Param("id"), *der));
           HP_ASSIGN_OR_RETURN(Response resp, OrderResponse(200, order));
           resp.SetHeader("Location", OrderUrl(order.public_id));
           return resp;
         });
    post("/acme/authz/{id}", "Fetch or deactivate an authorization", KeyMode::kKid,
         [this](const Request& req, Authed& a) -> Result<Response> {
           AuthzRow authz;
           if (!a.msg.post_as_get && a.payload.is_object() && a.payload.contains("status")) {
             if (a.payload["status"] != "deactivated") {
               return Fail(ErrorCode::kAcmeMalformed, "the only status a client may set is deactivated");
             }
             HP_ASSIGN_OR_RETURN(authz, ra_.DeactivateAuthz(*a.account, req.Param("id")));
           } else {
             HP_ASSIGN_OR_RETURN(authz, ra_.GetAuthz(*a.account, req.Param("id")));
           }
           Response resp = Response::Json(200, AuthzJson(authz));
           if (authz.chall_status == "processing") resp.SetHeader("Retry-After", "1");
           return resp;
         });
    post("/acme/chall/{authz}/{type}", "Respond to or fetch a challenge", KeyMode::kKid,
         [this](const Request& req, Authed& a) -> Result<Response> {
           AuthzRow authz;
           const std::string type = req.Param("type");
           if (a.msg.post_as_get) {
             HP_ASSIGN_OR_RETURN(authz, ra_.GetAuthz(*a.account, req.Param("authz")));
           } else {
             if (!a.payload.is_object()) return Fail(ErrorCode::kAcmeMalformed, "payload must be {}");
             HP_ASSIGN_OR_RETURN(authz, ra_.RespondChallenge(*a.account, req.Param("authz"), type));
           }
           if (std::find(authz.challenge_types.begin(), authz.challenge_types.end(), type) ==
               authz.challenge_types.end()) {
             return Fail(ErrorCode::kNotFound, "no such challenge");
           }
           Response resp = Response::Json(200, ChallengeJson(authz, type));
           resp.AppendHeader("Link", "<" + AuthzUrl(authz.public_id) + ">;rel=\"up\"");
           if (authz.chall_status == "processing") resp.SetHeader("Retry-After", "1");
           return resp;
         });
    post("/acme/cert/{id}", "Download a certificate chain", KeyMode::kKid,
         [this](const Request& req, Authed& a) -> Result<Response> {
           HP_ASSIGN_OR_RETURN(auto cert, ra_.GetCertificate(*a.account, req.Param("id")));
           if (cert.der.empty()) return Fail(ErrorCode::kInternal, "stored certificate is empty");
           HP_ASSIGN_OR_RETURN(auto issuer, deps_.ca->issuer(cert.issuer_id));
           Response resp(200, "application/pem-certificate-chain",
                         DerToPem(cert.der) + issuer.cert_pem);
           AddAlternateLinks(resp, cert, req.Param("id"));
           return resp;
         });
    // Alternate chain n (RFC 8555 §7.4.2): the same leaf and issuer, then the cross-certificate
    // of the root (see CertificateAuthority::AlternateChainTail).
    post("/acme/cert/{id}/{alt}", "Download an alternate certificate chain", KeyMode::kKid,
         [this](const Request& req, Authed& a) -> Result<Response> {
           HP_ASSIGN_OR_RETURN(auto cert, ra_.GetCertificate(*a.account, req.Param("id")));
           if (cert.der.empty()) return Fail(ErrorCode::kInternal, "stored certificate is empty");
           const std::string alt = req.Param("alt");
           if (alt.empty() || alt.size() > 3 || alt.find_first_not_of("0123456789") != std::string::npos) {
             return Fail(ErrorCode::kNotFound, "no such alternate chain");
           }
           const size_t n = static_cast<size_t>(std::stoul(alt));
           if (n < 1) return Fail(ErrorCode::kNotFound, "no such alternate chain");
           HP_ASSIGN_OR_RETURN(auto issuer, deps_.ca->issuer(cert.issuer_id));
           HP_ASSIGN_OR_RETURN(std::string tail, deps_.ca->AlternateChainTail(cert.issuer_id, n - 1));
           Response resp(200, "application/pem-certificate-chain",
                         DerToPem(cert.der) + issuer.cert_pem + tail);
           // The other chains (the default one included) as alternates of this one.
           resp.AppendHeader("Link", "<" + config_.base_url + "/acme/cert/" + req.Param("id") +
                                         ">;rel=\"alternate\"");
           AddAlternateLinks(resp, cert, req.Param("id"), n);
           return resp;
         });
    post("/acme/revoke-cert", "Revoke a certificate", KeyMode::kEither,
         [this](const Request&, Authed& a) -> Result<Response> {
           HP_TRY(ra_.Revoke(a.account ? &*a.account : nullptr, a.account ? nullptr : a.key.get(),
                             a.payload));
           return Response::Empty(200);
         });
  }

  void RegisterJobs(core::WorkerPool& pool) override {
    pool.Register(kValidateJob, [this](core::JobContext& ctx) {
      return ra_.RunValidation(ctx.job().payload);
    });
    pool.Register(kFinalizeJob, [this](core::JobContext& ctx) {
      return ra_.RunFinalize(ctx.job().payload);
    });
    pool.Register(kCrlJob, [this](core::JobContext&) -> Result<Json> {
      // The next slot first: a failing refresh is retried, the schedule goes on regardless.
      HP_TRY(ra_.ScheduleCrlJob(deps_.clock->Now(), false));
      return ra_.RefreshCrls();
    });
    // The current slot's job (idempotent: after a restart in the same slot it is the same job).
    if (auto st = ra_.ScheduleCrlJob(deps_.clock->Now(), true); !st) {
      core::log::Error("cannot schedule the CRL job", {{"error", st.error().ToString()}});
    }
  }

  Result<EabCredentials> CreateEabKey(const std::string& owner,
                                      std::optional<core::TimePoint> expires_at) override {
    return ra_.CreateEabKey(owner, expires_at);
  }
  Result<std::vector<EabKeyInfo>> EabKeysOf(const std::string& owner) override {
    return ra_.EabKeysOf(owner);
  }
  Result<std::vector<EabCertificate>> CertificatesOfEabOwner(const std::string& owner,
                                                            int64_t after, int limit) override {
    return ra_.CertificatesOfEabOwner(owner, after, limit);
  }
  Result<std::vector<EabCertificate>> EabCertificatesSince(const std::string& owner_prefix,
                                                          int64_t after, int limit) override {
    return ra_.EabCertificatesSince(owner_prefix, after, limit);
  }

 private:
  // Link: <.../acme/cert/{id}/{n}>;rel="alternate" for every alternate chain but `except`.
  void AddAlternateLinks(Response& resp, const CertRow& cert, const std::string& id,
                         size_t except = 0) {
    const size_t count = deps_.ca->alternate_chain_count(cert.issuer_id);
    for (size_t n = 1; n <= count; ++n) {
      if (n == except) continue;
      resp.AppendHeader("Link", "<" + config_.base_url + "/acme/cert/" + id + "/" +
                                    std::to_string(n) + ">;rel=\"alternate\"");
    }
  }

  void DispatchValidation(Ra::ValidationInput in) {
    validations_->Submit([this, in = std::move(in)]() mutable {
      auto run = [this, in = std::move(in)] {
        auto r = ra_.RunValidation(in);
        if (!r) {
          // Left processing: the sweeper runs it again once it is stale.
          core::log::Warn("validation failed to complete",
                          {{"authz", in.authz.public_id}, {"error", r.error().ToString()}});
        }
      };
      if (config_.request_threads < 0) {
        // With request fibers, a validation is one too: its result write suspends it, and this
        // thread goes on to the next validation instead of sleeping through the commit; the
        // committing thread finishes it (nothing after the write uses this thread's state).
        fibers_.fetch_add(1);
        Fiber::Start([this, run = std::move(run)] {
          run();
          if (fibers_.fetch_sub(1) == 1) fibers_.notify_all();
        });
      } else {
        run();
      }
    });
  }
  // The sweeper's re-runs: the validation loads its authorization itself.
  void DispatchValidationById(const std::string& authz_id) {
    validations_->Submit([this, authz_id] {
      auto r = ra_.RunValidation(Json{{"authz", authz_id}});
      if (!r) {
        core::log::Warn("validation failed to complete",
                        {{"authz", authz_id}, {"error", r.error().ToString()}});
      }
    });
  }


  // Re-runs in-process validations that a crash (or a store error) left processing, and prunes
  // rate-limit rows: at start-up and then every stale_after / 4.
  void Sweep() {
    const auto every = std::max<core::Duration>(config_.validation.stale_after / 4,
                                                std::chrono::seconds(1));
    std::unique_lock lock(sweep_mu_);
    while (!stopping_) {
      lock.unlock();
      const auto before = deps_.clock->Now() - config_.validation.stale_after;
      auto stale = config_.validation.in_process
                       ? sa_.Read([&](SaTx& tx) { return tx.StaleProcessingAuthz(before, 1000); })
                       : core::Result<std::vector<std::string>>(std::vector<std::string>{});
      if (stale) {
        for (const auto& id : *stale) {
          core::log::Info("re-running an interrupted validation", {{"authz", id}});
          // Mark it as restarted so that the next sweep does not dispatch it twice.
          auto st = sa_.Write([&](SaTx& tx) -> core::Status {
            HP_ASSIGN_OR_RETURN(auto a, tx.AuthzByPublicId(id));
            if (!a || a->chall_status != "processing") return core::Ok();
            a->processing_since = tx.now();
            return tx.UpdateAuthz(*a);
          });
          if (st) DispatchValidationById(id);
        }
      }
      // Rate-limit rows that ran out, once an hour (a row runs out at most its limit's period,
      // hours to a week, after its last use: an hourly pass is soon enough).
      if (const auto now = deps_.clock->Now(); now >= next_rate_prune_) {
        next_rate_prune_ = now + std::chrono::hours(1);
        auto pruned = sa_.PruneRateLimits(5000, [&] {
          std::lock_guard g(sweep_mu_);
          return stopping_;
        });
        if (!pruned)
          core::log::Warn("rate-limit pruning failed", {{"error", pruned.error().ToString()}});
        else if (*pruned > 0)
          core::log::Info("rate-limit rows pruned", {{"rows", *pruned}});
      }
      lock.lock();
      sweep_cv_.wait_for(lock, every, [&] { return stopping_; });
    }
  }

  std::string Url(const std::string& path) const { return config_.base_url + path; }
  std::string OrderUrl(const std::string& id) const { return Url("/acme/order/" + id); }
  std::string AuthzUrl(const std::string& id) const { return Url("/acme/authz/" + id); }

  Response Problem(const core::Error& e) const {
    if (e.code == ErrorCode::kInternal || e.code == ErrorCode::kAcmeServerInternal) {
      core::log::Error("acme internal error", {{"detail", e.detail}});
    }
    Response r = Response::FromProblem(core::ToProblem(e, core::ProblemNamespace::kAcme));
    if (e.code == ErrorCode::kConflict && !e.instance.empty()) r.SetHeader("Location", e.instance);
    return r;
  }

  // Every response: a fresh nonce and the index link (RFC 8555 §6.5, §7.1).
  Response Finish(Response r) {
    r.SetHeader("Replay-Nonce", deps_.nonces->Issue());
    r.AppendHeader("Link", "<" + Url("/acme/directory") + ">;rel=\"index\"");
    if (r.GetHeader("Cache-Control").empty()) r.SetHeader("Cache-Control", "no-store");
    return r;
  }

  template <typename F>
  Response Guard(F&& fn, const Request& req) {
    try {
      return fn(req);
    } catch (const std::exception& e) {
      return Problem(core::Error(ErrorCode::kInternal, e.what()));
    }
  }

  Json Directory() const {
    Json profiles = Json::object();
    for (const auto& p : deps_.ca->profiles()) profiles[p.name] = p.description;
    Json meta = {{"caaIdentities", config_.caa_identities},
                 {"externalAccountRequired", config_.external_account_required},
                 {"profiles", profiles}};
    if (!config_.terms_of_service_url.empty()) meta["termsOfService"] = config_.terms_of_service_url;
    if (!config_.website.empty()) meta["website"] = config_.website;
    return {{"newNonce", Url("/acme/new-nonce")},   {"newAccount", Url("/acme/new-account")},
            {"newOrder", Url("/acme/new-order")},   {"revokeCert", Url("/acme/revoke-cert")},
            {"keyChange", Url("/acme/key-change")}, {"renewalInfo", Url("/acme/renewal-info")},
            {"meta", meta}};
  }

  Result<Authed> Authenticate(const Request& req, KeyMode mode) {
    std::string ct = req.Header("content-type");
    ct = ct.substr(0, ct.find(';'));
    while (!ct.empty() && ct.back() == ' ') ct.pop_back();
    if (ct != "application/jose+json") {
      return Fail(ErrorCode::kUnsupportedMediaType,
                  "Content-Type must be application/jose+json");
    }
    if (req.body.size() > config_.max_body_bytes) {
      return Fail(ErrorCode::kPayloadTooLarge,
                  "request body exceeds " + std::to_string(config_.max_body_bytes) + " bytes");
    }
    Authed a;
    HP_ASSIGN_OR_RETURN(a.msg, ParseJws(req.body));
    if (a.msg.url != Url(req.path)) {
      return Fail(ErrorCode::kAcmeUnauthorized,
                  "JWS url \"" + a.msg.url.substr(0, 200) + "\" does not match the request URL");
    }
    const bool has_kid = !a.msg.kid.empty();
    if (has_kid && mode == KeyMode::kJwk) {
      return Fail(ErrorCode::kAcmeMalformed, "this resource requires a jwk, not a kid");
    }
    if (!has_kid && mode == KeyMode::kKid) {
      return Fail(ErrorCode::kAcmeMalformed, "this resource requires a kid (account URL)");
    }
    if (has_kid) {
      const std::string prefix = Url("/acme/acct/");
      if (a.msg.kid.rfind(prefix, 0) != 0 || a.msg.kid.size() == prefix.size() ||
          a.msg.kid.find('/', prefix.size()) != std::string::npos) {
        return Fail(ErrorCode::kAcmeAccountDoesNotExist, "kid is not an account URL of this CA");
      }
      HP_ASSIGN_OR_RETURN(a.account, ra_.AuthenticatedAccount(a.msg.kid.substr(prefix.size())));
      HP_ASSIGN_OR_RETURN(a.key, keys_.GetCanonical(a.account->jwk));
    } else {
      HP_ASSIGN_OR_RETURN(a.key, keys_.Get(a.msg.jwk));
    }
    HP_TRY(VerifyJws(a.msg, *a.key));
    // The nonce is checked only for requests that are otherwise genuine; it is recorded as used
    // with the request's own write (or on its own for a request that writes nothing).
    HP_ASSIGN_OR_RETURN(a.nonce, deps_.nonces->Check(a.msg.nonce));
    if (!a.msg.post_as_get) {
      auto p = core::ParseJson(a.msg.payload);
      if (!p) return Fail(ErrorCode::kAcmeMalformed, "JWS payload is not valid JSON");
      a.payload = std::move(*p);
    }
    return a;
  }

  Json AccountJson(const AccountRow& a) const {
    Json j = {{"status", a.status},
              {"contact", a.contact},
              {"orders", Url("/acme/acct/" + a.public_id + "/orders")},
              {"key", Json::parse(a.jwk)},
              {"createdAt", Rfc3339Seconds(a.created_at)}};
    if (a.tos_agreed) j["termsOfServiceAgreed"] = true;
    if (!a.eab_kid.empty()) j["externalAccountBinding"] = {{"kid", a.eab_kid}};
    return j;
  }

  Result<Response> NewAccount(const Request& req, Authed& a) {
    if (a.msg.post_as_get) return Fail(ErrorCode::kAcmeMalformed, "new-account needs a payload");
    HP_ASSIGN_OR_RETURN(auto res, ra_.NewAccount(*a.key, a.payload, req.remote_ip, a.msg.url));
    Response resp = Response::Json(res.created ? 201 : 200, AccountJson(res.account));
    resp.SetHeader("Location", ra_.AccountUrl(res.account.public_id));
    return resp;
  }

  Result<AccountRow> OwnAccount(const Request& req, const Authed& a) const {
    if (req.Param("id") != a.account->public_id) {
      return Fail(ErrorCode::kAcmeUnauthorized, "the kid does not match the account URL");
    }
    return *a.account;
  }

  Result<Response> AccountRoute(const Request& req, Authed& a) {
    HP_ASSIGN_OR_RETURN(auto acct, OwnAccount(req, a));
    HP_ASSIGN_OR_RETURN(acct, ra_.UpdateAccount(acct, a.payload));
    Response resp = Response::Json(200, AccountJson(acct));
    resp.SetHeader("Location", ra_.AccountUrl(acct.public_id));
    return resp;
  }

  Result<Response> OrdersRoute(const Request& req, Authed& a) {
    HP_ASSIGN_OR_RETURN(auto acct, OwnAccount(req, a));
    HP_ASSIGN_OR_RETURN(auto page, ra_.ListOrders(acct, req.QueryParam("cursor").value_or("")));
    Json urls = Json::array();
    for (const auto& id : page.first) urls.push_back(OrderUrl(id));
    Response resp = Response::Json(200, Json{{"orders", urls}});
    if (!page.second.empty()) {
      resp.AppendHeader("Link", "<" + Url(req.path) + "?cursor=" + page.second + ">;rel=\"next\"");
    }
    return resp;
  }

  Result<Response> LimitsRoute(const Request& req, Authed& a) {
    HP_ASSIGN_OR_RETURN(auto acct, OwnAccount(req, a));
    HP_ASSIGN_OR_RETURN(Json limits, ra_.Limits(acct));
    return Response::Json(200, limits);
  }

  Result<Response> KeyChange(const Request& req, Authed& a) {
    (void)req;
    if (a.msg.post_as_get) return Fail(ErrorCode::kAcmeMalformed, "key-change needs a payload");
    HP_ASSIGN_OR_RETURN(auto inner, ParseJws(a.msg.payload, JwsKind::kInner));
    if (inner.url != a.msg.url) {
      return Fail(ErrorCode::kAcmeMalformed, "inner JWS url must equal the outer url");
    }
    HP_ASSIGN_OR_RETURN(auto new_key, keys_.Get(inner.jwk));
    HP_TRY(VerifyJws(inner, *new_key));
    auto p = core::ParseJson(inner.payload);
    if (!p || !p->is_object()) return Fail(ErrorCode::kAcmeMalformed, "inner payload is not JSON");
    if (p->value("account", "") != a.msg.kid) {
      return Fail(ErrorCode::kAcmeMalformed, "inner payload account does not match the kid");
    }
    if (!p->contains("oldKey")) return Fail(ErrorCode::kAcmeMalformed, "inner payload has no oldKey");
    auto old = Jwk::Parse((*p)["oldKey"]);
    if (!old || (*old)->canonical() != a.account->jwk) {
      return Fail(ErrorCode::kAcmeMalformed, "oldKey is not the account's current key");
    }
    HP_ASSIGN_OR_RETURN(auto acct, ra_.ChangeKey(*a.account, *new_key));
    Response resp = Response::Json(200, AccountJson(acct));
    resp.SetHeader("Location", ra_.AccountUrl(acct.public_id));
    return resp;
  }

  Json ChallengeJson(const AuthzRow& a, const std::string& type) const {
    std::string status = "pending";
    if (type == a.chall_type) status = a.chall_status;
    Json c = {{"type", type},
              {"url", Url("/acme/chall/" + a.public_id + "/" + type)},
              {"status", status},
              {"token", a.token}};
    if (type == a.chall_type && a.validated_at.time_since_epoch().count() != 0) {
      c["validated"] = Rfc3339Seconds(a.validated_at);
    }
    if (type == a.chall_type && !a.error.empty()) {
      auto e = ErrorFromJson(Json::parse(a.error, nullptr, false));
      Json pj = core::ToProblem(e, core::ProblemNamespace::kAcme).body;
      c["error"] = pj;
    }
    if (type == a.chall_type && !a.validation_record.empty()) {
      auto rec = Json::parse(a.validation_record, nullptr, false);
      if (rec.is_object() && rec.contains("records")) c["validationRecord"] = rec["records"];
    }
    return c;
  }

  Json AuthzJson(const AuthzRow& a) const {
    Json challenges = Json::array();
    for (const auto& t : a.challenge_types) challenges.push_back(ChallengeJson(a, t));
    Json j = {{"identifier", {{"type", a.identifier.type}, {"value", a.identifier.value}}},
              {"status", ra_.AuthzStatus(a)},
              {"expires", Rfc3339Seconds(a.expires)},
              {"challenges", challenges}};
    if (a.wildcard) j["wildcard"] = true;
    return j;
  }

  Result<Response> OrderResponse(int status, const OrderRow& o) {
    Json authz = Json::array();
    for (const auto& id : o.authz) authz.push_back(AuthzUrl(id));
    Json j = {{"status", o.status},
              {"expires", Rfc3339Seconds(o.expires)},
              {"identifiers", IdentifiersToJson(o.identifiers)},
              {"authorizations", authz},
              {"finalize", Url("/acme/order/" + o.public_id + "/finalize")},
              {"profile", o.profile}};
    if (!o.replaces.empty()) j["replaces"] = o.replaces;
    if (!o.certificate_id.empty()) j["certificate"] = Url("/acme/cert/" + o.certificate_id);
    if (o.status == "invalid" && !o.error.empty()) {
      j["error"] = core::ToProblem(ErrorFromJson(Json::parse(o.error, nullptr, false)),
                                   core::ProblemNamespace::kAcme)
                       .body;
    }
    Response resp = Response::Json(status, j);
    if (o.status == "processing") resp.SetHeader("Retry-After", "1");
    return resp;
  }

  Response RenewalInfoRoute(const Request& req) {
    auto info = ra_.GetRenewalInfo(req.Param("id"));
    if (!info) return Problem(info.error());
    Response resp = Response::Json(
        200, Json{{"suggestedWindow",
                   {{"start", Rfc3339Seconds(info->start)}, {"end", Rfc3339Seconds(info->end)}}}});
    resp.SetHeader("Retry-After", std::to_string(info->retry_after_seconds));
    resp.SetHeader("Cache-Control", "public, max-age=" + std::to_string(info->retry_after_seconds));
    return resp;
  }

  AcmeConfig config_;
  AcmeDeps deps_;
  JwkCache keys_;
  Sa sa_;
  Va va_;
  Ra ra_;
  std::unique_ptr<TaskPool> requests_;
  // Request and validation fibers started and not finished (request_threads < 0).
  std::atomic<int> fibers_{0};
  std::unique_ptr<TaskPool> validations_;
  std::mutex sweep_mu_;
  std::condition_variable sweep_cv_;
  bool stopping_ = false;
  core::TimePoint next_rate_prune_{};  // Sweep's thread only
  std::thread sweeper_;
};

}  // namespace

Result<std::unique_ptr<AcmeServer>> AcmeServer::Create(AcmeConfig config, AcmeDeps deps) {
  if (!deps.db || !deps.clock || !deps.jobs || !deps.ca || !deps.dns || !deps.nonces) {
    return Fail(ErrorCode::kInvalidArgument, "AcmeServer::Create: a dependency is missing");
  }
  if (config.base_url.empty() || config.base_url.back() == '/') {
    return Fail(ErrorCode::kInvalidArgument, "acme base_url must be set, without trailing slash");
  }
  HP_ASSIGN_OR_RETURN(auto psl, PublicSuffixList::Load(config.public_suffix_list,
                                                        "acme.public_suffix_list"));
  return std::unique_ptr<AcmeServer>(new AcmeServerImpl(std::move(config), deps, std::move(psl)));
}

}  // namespace hp::acme
