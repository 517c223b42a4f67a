#pragma once
// Registration authority: accounts, orders, authorizations, policy (identifiers, profiles, rate
// limits, EAB), the order state machine of RFC 8555 §7.1.6, and the glue to VA and CA. Called by
// the WFE with authenticated requests; never renders HTTP. Thread-safe.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "hp/acme/ca.h"
#include "hp/acme/csr.h"
#include "hp/acme/jws.h"
#include "hp/acme/server.h"
#include "hp/core/jobs.h"
#include "ra/public_suffix.h"
#include "sa/sa.h"
#include "va/va.h"

namespace hp::acme {

inline constexpr char kValidateJob[] = "acme.validate";
inline constexpr char kFinalizeJob[] = "acme.finalize";
// Scheduled CRL re-issue: one job per AcmeConfig::crl_check_every slot (idempotency key
// "slot-<unix seconds of the slot start>"), each enqueueing the next.
inline constexpr char kCrlJob[] = "acme.crl";

// Errors stored with authorizations/orders are kept as {code name, detail, identifier} and
// turned into problem documents only by the WFE.
core::Json ErrorToJson(const core::Error& e);
core::Error ErrorFromJson(const core::Json& j);

struct RenewalInfo {
  core::TimePoint start, end;
  int retry_after_seconds = 21600;
};

class Ra {
 public:
  Ra(const AcmeConfig& config, Sa& sa, CertificateAuthority& ca, Va& va, DnsChecker& dns,
     core::JobQueue& jobs, core::WorkerPool* workers, JwkCache& keys)
      : config_(config), sa_(sa), ca_(ca), va_(va), dns_(dns), jobs_(jobs), workers_(workers),
        keys_(keys) {}

  void SetPublicSuffixList(std::shared_ptr<const PublicSuffixList> psl) { psl_ = std::move(psl); }
  std::string RegisteredDomain(const core::Identifier& id) const;

  // What a validation needs: the authorization as RespondChallenge committed it (processing) and
  // its account's public id and key thumbprint. With validation.in_process, RespondChallenge hands
  // it to the dispatcher (the WFE's validation threads) instead of enqueueing a durable job, so
  // the validation thread does not read it back.
  struct ValidationInput {
    AuthzRow authz;
    std::string account_public_id;
    std::string thumbprint;
  };
  void SetValidationDispatcher(std::function<void(ValidationInput)> dispatch) {
    dispatch_ = std::move(dispatch);
  }

  std::string AccountUrl(const std::string& public_id) const {
    return config_.base_url + "/acme/acct/" + public_id;
  }

  // Accounts.
  struct NewAccountResult {
    AccountRow account;
    bool created = false;
  };
  core::Result<NewAccountResult> NewAccount(const Jwk& key, const core::Json& payload,
                                            const std::string& remote_ip,
                                            const std::string& request_url);
  // A valid account by its URL id; kAcmeAccountDoesNotExist / kAcmeUnauthorized (deactivated).
  // Answered from memory for up to config.account_cache_ttl; writes through this Ra invalidate.
  core::Result<AccountRow> AuthenticatedAccount(const std::string& public_id);
  core::Result<AccountRow> UpdateAccount(AccountRow account, const core::Json& payload);
  // Replaces the account key; kConflict with instance = the other account's URL when in use.
  core::Result<AccountRow> ChangeKey(AccountRow account, const Jwk& new_key);
  core::Result<std::pair<std::vector<std::string>, std::string>> ListOrders(
      const AccountRow& account, const std::string& cursor);
  core::Result<core::Json> Limits(const AccountRow& account);

  // Orders and authorizations.
  core::Result<OrderRow> NewOrder(const AccountRow& account, const core::Json& payload);
  core::Result<OrderRow> GetOrder(const AccountRow& account, const std::string& id);
  core::Result<AuthzRow> GetAuthz(const AccountRow& account, const std::string& id);
  core::Result<AuthzRow> RespondChallenge(const AccountRow& account, const std::string& authz_id,
                                          const std::string& type);
  core::Result<AuthzRow> DeactivateAuthz(const AccountRow& account, const std::string& id);
  core::Result<OrderRow> Finalize(const AccountRow& account, const std::string& order_id,
                                  const std::string& csr_der);

  // Certificates.
  core::Result<CertRow> GetCertificate(const AccountRow& account, const std::string& id);
  // Exactly one of account / key is set (kid- or jwk-signed request).
  core::Status Revoke(const AccountRow* account, const Jwk* key, const core::Json& payload);
  core::Result<RenewalInfo> GetRenewalInfo(const std::string& ari_id);
  core::Result<std::string> GetCrl(const std::string& issuer_id);
  // The scheduled job: re-signs the CRL of every issuer that has a revocation not yet in its CRL,
  // has none yet, or whose CRL is older than config.crl_max_age. {"reissued": [issuer ids]}.
  core::Result<core::Json> RefreshCrls();
  // Enqueues the CRL job of the slot after `after` (idempotent per slot).
  core::Status ScheduleCrlJob(core::TimePoint after, bool this_slot);

  core::Result<EabCredentials> CreateEabKey(const std::string& owner,
                                            std::optional<core::TimePoint> expires_at);
  core::Result<std::vector<EabKeyInfo>> EabKeysOf(const std::string& owner);
  core::Result<std::vector<EabCertificate>> CertificatesOfEabOwner(const std::string& owner,
                                                                  int64_t after, int limit);
  core::Result<std::vector<EabCertificate>> EabCertificatesSince(const std::string& owner_prefix,
                                                                int64_t after, int limit);

  // Job handlers (worker threads).
  core::Result<core::Json> RunValidation(const core::Json& payload);  // loads the input
  core::Result<core::Json> RunValidation(const ValidationInput& in);
  core::Result<core::Json> RunFinalize(const core::Json& payload);

  // Effective status of an authorization now ("expired" once past expires).
  std::string AuthzStatus(const AuthzRow& a) const;

 private:
  // Signs and stores the next CRL of `issuer_id` after `row` (the stored one, if any).
  core::Result<std::string> SignCrl(const std::string& issuer_id, const std::optional<CrlRow>& row);
  // The order's status from its authorizations; also the oldest validation time of its dns
  // authorizations when asked (for the CAA recheck at finalize).
  core::Status Derive(SaTx& tx, OrderRow& order, core::TimePoint* oldest_dns_validation = nullptr);
  // for_request: inside the request's nonce write (Sa::ReadForRequest) rather than a read.
  core::Result<OrderRow> LoadOrder(const AccountRow& account, const std::string& id,
                                   bool for_request);
  core::Result<std::vector<core::Identifier>> CheckIdentifiers(const core::Json& ids);
  core::Result<CertRow> IssueInTx(SaTx& tx, OrderRow& order, const AccountRow& account,
                                  const std::string& csr_der, const CheckedCsr* checked = nullptr);
  core::Status CheckCertsPerDomain(SaTx& tx, const std::vector<core::Identifier>& ids,
                                   bool spend);

  void ForgetAccount(const std::string& public_id);

  const AcmeConfig& config_;
  std::function<void(ValidationInput)> dispatch_;
  std::mutex accounts_mu_;
  std::unordered_map<std::string, std::pair<AccountRow, std::chrono::steady_clock::time_point>>
      accounts_;  // public id -> row, cached until
  Sa& sa_;
  CertificateAuthority& ca_;
  Va& va_;
  DnsChecker& dns_;
  core::JobQueue& jobs_;
  core::WorkerPool* workers_;
  std::shared_ptr<const PublicSuffixList> psl_;
  JwkCache& keys_;
};

}  // namespace hp::acme
