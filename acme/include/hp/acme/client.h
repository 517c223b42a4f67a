#pragma once
// An RFC 8555 ACME client, used by the control plane's AutoSSL as an internal client of our own
// RA/VA/CA (over HTTPS to <public_url>/acme/directory, like any other client; never issuing
// around the VA). Account keys are ECDSA P-256 (ES256).
//
// Blocking (core::HttpClient): call from worker threads only. One AcmeClient is not thread-safe
// (it keeps a nonce); use one per job.
//
// Errors: transport failures are kUnavailable; an ACME problem document becomes an Error whose
// code is the matching kAcme* code (kInternal when unknown) and whose detail is
// "<type>: <detail>" as the server sent it.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hp/core/error.h"
#include "hp/core/http_client.h"
#include "hp/core/json.h"
#include "hp/core/openssl.h"

namespace hp::acme::client {

struct ClientOptions {
  std::string directory_url;  // https://localhost:8443/acme/directory
  std::string ca_file;        // PEM trust anchors for the ACME server (empty: system store)
  std::string connect_to;     // optional "127.0.0.1:8443" (see HttpClientRequest::connect_to)
  long timeout_ms = 15000;
};

struct Challenge {
  std::string type;  // "http-01", "dns-01", "tls-alpn-01"
  std::string url;
  std::string token;
  std::string status;
  core::Json error;  // problem document when invalid, else null
};

struct Authorization {
  std::string url;
  std::string identifier;  // dNSName value
  std::string status;      // pending, valid, invalid, deactivated, expired, revoked
  bool wildcard = false;   // the order named "*.<identifier>"
  std::vector<Challenge> challenges;
  const Challenge* Find(std::string_view type) const;
};

struct Order {
  std::string url;
  std::string status;  // pending, ready, processing, valid, invalid
  std::vector<std::string> authorizations;
  std::string finalize;
  std::string certificate;  // set once valid
  core::Json error;
};

class AcmeClient {
 public:
  // `account_key` must be an EC P-256 private key.
  static core::Result<std::unique_ptr<AcmeClient>> Create(core::HttpClient& http,
                                                          ClientOptions options,
                                                          core::ossl::PKey account_key);

  // Fetches the directory (once) and registers the account, or finds it when the key already
  // has one (new-account answers 200 then). Agrees to the terms of service. Returns the account
  // URL (the "kid").
  core::Result<std::string> Register(const std::vector<std::string>& contact = {});
  // Uses a known account URL instead of registering.
  void set_account_url(std::string url) { kid_ = std::move(url); }
  const std::string& account_url() const { return kid_; }

  // `replaces`: the ARI certificate id of the certificate this order renews (RFC 9773), or empty.
  core::Result<Order> NewOrder(const std::vector<std::string>& dns_names,
                               const std::string& replaces = "");
  core::Result<Order> GetOrder(const std::string& url);
  core::Result<Authorization> GetAuthorization(const std::string& url);
  // Tells the server the challenge is ready to be validated.
  core::Status Respond(const Challenge& challenge);
  // Sends the DER CSR; returns the order as the server answered.
  core::Result<Order> Finalize(const Order& order, std::string_view csr_der);
  // The PEM chain (leaf first).
  core::Result<std::string> DownloadCertificate(const std::string& url);

  // ARI (RFC 9773): the server's suggested renewal window of a certificate (leaf first PEM).
  struct RenewalWindow {
    std::chrono::system_clock::time_point start, end;
    int64_t retry_after_seconds = 0;
  };
  core::Result<RenewalWindow> GetRenewalInfo(const std::string& certificate_pem);
  // Revokes the certificate (leaf first PEM) with an RFC 5280 reason code, signed by the
  // account that ordered it (1 keyCompromise, 4 superseded, 5 cessationOfOperation).
  core::Status Revoke(const std::string& certificate_pem, int reason);

  // token "." base64url(JWK thumbprint of the account key) (RFC 8555 §8.1).
  std::string KeyAuthorization(std::string_view token) const;
  const std::string& thumbprint() const { return thumbprint_; }
  const core::Json& account_jwk() const { return jwk_; }

  ~AcmeClient();

 private:
  AcmeClient() = default;
  core::Status LoadDirectory();
  core::Result<std::string> FetchNonce();
  struct Reply {
    int status = 0;
    std::string location;
    core::Json json;
    std::string body;
  };
  // Signed POST (jwk when no account yet or `use_jwk`), retried once on badNonce; a problem
  // document becomes an Error.
  core::Result<Reply> Post(const std::string& url, const std::string& payload,
                           bool use_jwk = false);
  core::Result<std::string> Sign(const std::string& url, const std::string& payload, bool use_jwk,
                                 const std::string& nonce);

  core::HttpClient* http_ = nullptr;
  ClientOptions options_;
  core::ossl::PKey key_;
  core::Json jwk_;
  std::string thumbprint_;
  core::Json directory_;
  std::string nonce_;
  std::string kid_;
};

// A DER PKCS#10 request for `dns_names` (SAN; CN = the first name) signed by `key`.
core::Result<std::string> MakeCsr(EVP_PKEY* key, const std::vector<std::string>& dns_names);

// The whole issuance with http-01: new order, for every pending authorization present the key
// authorization (`present(token, key_authorization)`), respond, poll until valid, finalize with a
// CSR for `cert_key`, poll the order, download. `cleanup(token)` runs for every presented token,
// whatever the outcome. Fails with the first problem (an invalid authorization's error names the
// identifier) or kUnavailable after `timeout`.
struct Http01Presenter {
  std::function<core::Status(const std::string& token, const std::string& key_authorization)>
      present;
  std::function<void(const std::string& token)> cleanup;
  // dns-01 (optional): publish / withdraw the TXT value base64url(SHA-256(key authorization))
  // at _acme-challenge.<domain>. Used for wildcard names, and for every name when prefer_dns01.
  std::function<core::Status(const std::string& domain, const std::string& txt)> dns01_present;
  std::function<void(const std::string& domain, const std::string& txt)> dns01_cleanup;
  bool prefer_dns01 = false;
};

// base64url(JWK-less) ARI certificate id: base64url(AKI keyIdentifier) "." base64url(serial).
core::Result<std::string> AriCertificateId(const std::string& certificate_pem);
// The dns-01 TXT value of a key authorization.
std::string Dns01TxtValue(std::string_view key_authorization);
struct IssuedCertificate {
  std::string order_url;
  std::string certificate_url;
  std::string chain_pem;  // leaf first
};
core::Result<IssuedCertificate> ObtainCertificate(
    AcmeClient& client, const std::vector<std::string>& dns_names, const Http01Presenter& http01,
    EVP_PKEY* cert_key, std::chrono::milliseconds timeout = std::chrono::seconds(60),
    std::chrono::milliseconds poll_interval = std::chrono::milliseconds(200),
    const std::string& replaces = "");

}  // namespace hp::acme::client
