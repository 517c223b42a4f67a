// RFC 8555 client (see hp/acme/client.h).
#include "hp/acme/client.h"

#include <openssl/core_names.h>
#include <openssl/x509v3.h>

#include <thread>

#include "hp/acme/jws.h"
#include "hp/core/encoding.h"

namespace hp::acme::client {

namespace {

using core::ErrorCode;
using core::Fail;
using core::Json;

core::Result<std::string> BnParam(EVP_PKEY* key, const char* name, size_t pad) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) {
    return Fail(core::ossl::LastError(ErrorCode::kInvalidArgument, "account key is not EC P-256"));
  }
  core::ossl::BigNum owned(bn);
  std::string out(pad, '\0');
  if (BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(pad)) < 0) {
    return Fail(ErrorCode::kInvalidArgument, "account key coordinate too large");
  }
  return out;
}

// "urn:ietf:params:acme:error:badNonce" -> kAcmeBadNonce.
ErrorCode CodeForType(std::string_view type) {
  constexpr std::string_view kPrefix = "urn:ietf:params:acme:error:";
  if (!type.starts_with(kPrefix)) return ErrorCode::kInternal;
  type.remove_prefix(kPrefix.size());
  for (int c = static_cast<int>(ErrorCode::kAcmeAccountDoesNotExist);
       c <= static_cast<int>(ErrorCode::kAcmeUserActionRequired); ++c) {
    if (core::ErrorCodeName(static_cast<ErrorCode>(c)) == type) return static_cast<ErrorCode>(c);
  }
  return ErrorCode::kInternal;
}

core::Error ProblemError(const Json& problem, int status) {
  if (!problem.is_object()) {
    return core::Error(ErrorCode::kInternal, "ACME server answered HTTP " + std::to_string(status) +
                                                 " without a problem");
  }
  const std::string type = problem.value("type", "");
  std::string detail = type + ": " + problem.value("detail", "");
  if (problem.contains("subproblems") && problem["subproblems"].is_array()) {
    for (const auto& sp : problem["subproblems"]) {
      if (!sp.is_object()) continue;
      std::string who;
      if (sp.contains("identifier") && sp["identifier"].is_object()) {
        who = sp["identifier"].value("value", "");
      }
      detail += "; " + who + ": " + sp.value("detail", "");
    }
  }
  core::Error e(CodeForType(type), std::move(detail));
  if (status == 503 || status == 429) e.retry_after_seconds = 1;
  return e;
}

std::string Str(const Json& j, const char* k) {
  return j.is_object() && j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : "";
}

Order ParseOrder(const Json& j, std::string url) {
  Order o;
  o.url = std::move(url);
  o.status = Str(j, "status");
  o.finalize = Str(j, "finalize");
  o.certificate = Str(j, "certificate");
  if (j.is_object() && j.contains("authorizations") && j["authorizations"].is_array()) {
    for (const auto& a : j["authorizations"]) {
      if (a.is_string()) o.authorizations.push_back(a.get<std::string>());
    }
  }
  if (j.is_object() && j.contains("error")) o.error = j["error"];
  return o;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

const Challenge* Authorization::Find(std::string_view type) const {
  for (const auto& c : challenges) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

AcmeClient::~AcmeClient() = default;

core::Result<std::unique_ptr<AcmeClient>> AcmeClient::Create(core::HttpClient& http,
                                                             ClientOptions options,
                                                             core::ossl::PKey account_key) {
  if (!account_key || EVP_PKEY_get_base_id(account_key.get()) != EVP_PKEY_EC ||
      EVP_PKEY_get_bits(account_key.get()) != 256) {
    return Fail(ErrorCode::kInvalidArgument, "ACME account key must be EC P-256");
  }
  std::unique_ptr<AcmeClient> c(new AcmeClient());
  c->http_ = &http;
  c->options_ = std::move(options);
  HP_ASSIGN_OR_RETURN(std::string x, BnParam(account_key.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32));
  HP_ASSIGN_OR_RETURN(std::string y, BnParam(account_key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32));
  c->jwk_ = {{"crv", "P-256"},
             {"kty", "EC"},
             {"x", core::Base64UrlEncode(x)},
             {"y", core::Base64UrlEncode(y)}};
  HP_ASSIGN_OR_RETURN(auto parsed, Jwk::Parse(c->jwk_));
  c->thumbprint_ = parsed->thumbprint();
  c->key_ = std::move(account_key);
  return c;
}

std::string AcmeClient::KeyAuthorization(std::string_view token) const {
  return std::string(token) + "." + thumbprint_;
}

core::Status AcmeClient::LoadDirectory() {
  if (!directory_.is_null()) return core::Ok();
  core::HttpClientRequest req;
  req.url = options_.directory_url;
  req.ca_file = options_.ca_file;
  req.connect_to = options_.connect_to;
  req.timeout_ms = options_.timeout_ms;
  HP_ASSIGN_OR_RETURN(auto resp, http_->Do(req));
  Json dir = Json::parse(resp.body, nullptr, false);
  if (resp.status != 200 || !dir.is_object() || Str(dir, "newNonce").empty() ||
      Str(dir, "newAccount").empty() || Str(dir, "newOrder").empty()) {
    return Fail(ErrorCode::kUnavailable, "ACME directory " + options_.directory_url +
                                             " answered HTTP " + std::to_string(resp.status) +
                                             " without newNonce/newAccount/newOrder");
  }
  directory_ = std::move(dir);
  return core::Ok();
}

core::Result<std::string> AcmeClient::FetchNonce() {
  HP_TRY(LoadDirectory());
  core::HttpClientRequest req;
  req.method = "HEAD";
  req.url = Str(directory_, "newNonce");
  req.ca_file = options_.ca_file;
  req.connect_to = options_.connect_to;
  req.timeout_ms = options_.timeout_ms;
  HP_ASSIGN_OR_RETURN(auto resp, http_->Do(req));
  auto it = resp.headers.find("replay-nonce");
  if (it == resp.headers.end() || it->second.empty()) {
    return Fail(ErrorCode::kUnavailable, "ACME newNonce answered HTTP " +
                                             std::to_string(resp.status) + " without Replay-Nonce");
  }
  return it->second;
}

core::Result<std::string> AcmeClient::Sign(const std::string& url, const std::string& payload,
                                           bool use_jwk, const std::string& nonce) {
  Json header = {{"alg", "ES256"}, {"nonce", nonce}, {"url", url}};
  if (use_jwk || kid_.empty()) {
    header["jwk"] = jwk_;
  } else {
    header["kid"] = kid_;
  }
  const std::string protected_b64 = core::Base64UrlEncode(header.dump());
  const std::string payload_b64 = core::Base64UrlEncode(payload);
  const std::string input = protected_b64 + "." + payload_b64;
  core::ossl::MdCtx ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return Fail(core::ossl::LastError(ErrorCode::kInternal, "JWS signing"));
  }
  std::string der(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return Fail(core::ossl::LastError(ErrorCode::kInternal, "JWS signing"));
  }
  der.resize(len);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (es == nullptr) return Fail(core::ossl::LastError(ErrorCode::kInternal, "ECDSA signature"));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(es);
  Json body = {{"protected", protected_b64},
               {"payload", payload_b64},
               {"signature", core::Base64UrlEncode(raw)}};
  return body.dump();
}

core::Result<AcmeClient::Reply> AcmeClient::Post(const std::string& url, const std::string& payload,
                                                 bool use_jwk) {
  HP_TRY(LoadDirectory());
  for (int attempt = 0;; ++attempt) {
    if (nonce_.empty()) {
      HP_ASSIGN_OR_RETURN(nonce_, FetchNonce());
    }
    HP_ASSIGN_OR_RETURN(std::string body, Sign(url, payload, use_jwk, nonce_));
    nonce_.clear();
    core::HttpClientRequest req;
    req.method = "POST";
    req.url = url;
    req.body = std::move(body);
    req.headers = {{"Content-Type", "application/jose+json"}};
    req.ca_file = options_.ca_file;
    req.connect_to = options_.connect_to;
    req.timeout_ms = options_.timeout_ms;
    req.max_response_bytes = 4 << 20;
    HP_ASSIGN_OR_RETURN(auto resp, http_->Do(req));
    if (auto it = resp.headers.find("replay-nonce"); it != resp.headers.end()) {
      nonce_ = it->second;
    }
    Reply r;
    r.status = resp.status;
    r.body = std::move(resp.body);
    if (auto it = resp.headers.find("location"); it != resp.headers.end()) r.location = it->second;
    const bool json = [&] {
      auto it = resp.headers.find("content-type");
      return it != resp.headers.end() && it->second.find("json") != std::string::npos;
    }();
    if (json) r.json = Json::parse(r.body, nullptr, false);
    if (r.status >= 400) {
      core::Error e = ProblemError(r.json, r.status);
      if (e.code == ErrorCode::kAcmeBadNonce && attempt < 2) continue;
      return Fail(std::move(e));
    }
    return r;
  }
}

core::Result<std::string> AcmeClient::Register(const std::vector<std::string>& contact) {
  HP_TRY(LoadDirectory());
  Json payload = {{"termsOfServiceAgreed", true}};
  if (!contact.empty()) payload["contact"] = contact;
  HP_ASSIGN_OR_RETURN(Reply r,
                      Post(Str(directory_, "newAccount"), payload.dump(), /*use_jwk=*/true));
  if (r.location.empty()) {
    return Fail(ErrorCode::kInternal, "ACME new-account answered without a Location");
  }
  if (Str(r.json, "status") != "valid") {
    return Fail(ErrorCode::kAcmeUnauthorized, "ACME account is " + Str(r.json, "status"));
  }
  kid_ = r.location;
  return kid_;
}

core::Result<Order> AcmeClient::NewOrder(const std::vector<std::string>& dns_names,
                                         const std::string& replaces) {
  HP_TRY(LoadDirectory());
  if (kid_.empty()) return Fail(ErrorCode::kConflict, "no ACME account: Register first");
  Json ids = Json::array();
  for (const auto& n : dns_names) ids.push_back({{"type", "dns"}, {"value", n}});
  Json payload = {{"identifiers", ids}};
  if (!replaces.empty()) payload["replaces"] = replaces;
  HP_ASSIGN_OR_RETURN(Reply r, Post(Str(directory_, "newOrder"), payload.dump()));
  if (r.location.empty()) return Fail(ErrorCode::kInternal, "ACME new-order without Location");
  return ParseOrder(r.json, r.location);
}

core::Result<Order> AcmeClient::GetOrder(const std::string& url) {
  HP_ASSIGN_OR_RETURN(Reply r, Post(url, ""));
  return ParseOrder(r.json, url);
}

core::Result<Authorization> AcmeClient::GetAuthorization(const std::string& url) {
  HP_ASSIGN_OR_RETURN(Reply r, Post(url, ""));
  Authorization a;
  a.url = url;
  a.status = Str(r.json, "status");
  if (r.json.is_object() && r.json.contains("identifier")) {
    a.identifier = Str(r.json["identifier"], "value");
  }
  a.wildcard = r.json.is_object() && r.json.value("wildcard", false);
  if (r.json.is_object() && r.json.contains("challenges") && r.json["challenges"].is_array()) {
    for (const auto& c : r.json["challenges"]) {
      Challenge ch;
      ch.type = Str(c, "type");
      ch.url = Str(c, "url");
      ch.token = Str(c, "token");
      ch.status = Str(c, "status");
      if (c.is_object() && c.contains("error")) ch.error = c["error"];
      a.challenges.push_back(std::move(ch));
    }
  }
  return a;
}

core::Result<std::string> AriCertificateId(const std::string& certificate_pem) {
  auto cert = core::ossl::ReadCertificatePem(certificate_pem);
  if (!cert) return Fail(ErrorCode::kInvalidArgument, "not a PEM certificate");
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(cert->get());
  if (aki == nullptr) return Fail(ErrorCode::kInvalidArgument, "certificate without an AKI");
  // The serial's magnitude octets, as our CA computes ARI ids.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert->get());
  std::string content(reinterpret_cast<const char*>(ASN1_STRING_get0_data(serial)),
                      static_cast<size_t>(ASN1_STRING_length(serial)));
  return core::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(aki)),
                                                static_cast<size_t>(ASN1_STRING_length(aki)))) +
         "." + core::Base64UrlEncode(content);
}

std::string Dns01TxtValue(std::string_view key_authorization) {
  return core::Base64UrlEncode(core::ossl::Sha256(key_authorization));
}

core::Result<AcmeClient::RenewalWindow> AcmeClient::GetRenewalInfo(
    const std::string& certificate_pem) {
  HP_TRY(LoadDirectory());
  const std::string base = Str(directory_, "renewalInfo");
  if (base.empty()) return Fail(ErrorCode::kUnavailable, "the ACME server offers no renewalInfo");
  HP_ASSIGN_OR_RETURN(std::string id, AriCertificateId(certificate_pem));
  core::HttpClientRequest req;
  req.url = base + "/" + id;
  req.ca_file = options_.ca_file;
  req.connect_to = options_.connect_to;
  req.timeout_ms = options_.timeout_ms;
  HP_ASSIGN_OR_RETURN(auto resp, http_->Do(req));
  Json j = Json::parse(resp.body, nullptr, false);
  if (resp.status != 200 || !j.is_object() || !j.contains("suggestedWindow") ||
      !j["suggestedWindow"].is_object()) {
    return Fail(ErrorCode::kUnavailable,
                "renewalInfo answered HTTP " + std::to_string(resp.status) + " for " + id);
  }
  auto parse = [](const std::string& t) -> std::optional<std::chrono::system_clock::time_point> {
    struct tm tm {};
    const char* end = strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == nullptr) return std::nullopt;
    return std::chrono::system_clock::from_time_t(timegm(&tm));
  };
  auto start = parse(Str(j["suggestedWindow"], "start"));
  auto end = parse(Str(j["suggestedWindow"], "end"));
  if (!start || !end || *end < *start)
    return Fail(ErrorCode::kUnavailable, "renewalInfo without a valid suggestedWindow");
  RenewalWindow w{*start, *end, 0};
  for (const auto& [k, v] : resp.headers)
    if (k == "retry-after" && !v.empty() && std::isdigit(static_cast<unsigned char>(v[0])))
      w.retry_after_seconds = std::atoll(v.c_str());
  return w;
}

core::Status AcmeClient::Revoke(const std::string& certificate_pem, int reason) {
  HP_TRY(LoadDirectory());
  auto cert = core::ossl::ReadCertificatePem(certificate_pem);
  if (!cert) return Fail(ErrorCode::kInvalidArgument, "not a PEM certificate");
  const int len = i2d_X509(cert->get(), nullptr);
  if (len <= 0) return Fail(ErrorCode::kInvalidArgument, "cannot encode the certificate");
  std::string der(static_cast<size_t>(len), '\0');
  unsigned char* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509(cert->get(), &p);
  Json payload = {{"certificate", core::Base64UrlEncode(der)}, {"reason", reason}};
  HP_TRY(Post(Str(directory_, "revokeCert"), payload.dump()));
  return core::Ok();
}

core::Status AcmeClient::Respond(const Challenge& challenge) {
  HP_TRY(Post(challenge.url, "{}"));
  return core::Ok();
}

core::Result<Order> AcmeClient::Finalize(const Order& order, std::string_view csr_der) {
  Json payload = {{"csr", core::Base64UrlEncode(csr_der)}};
  HP_ASSIGN_OR_RETURN(Reply r, Post(order.finalize, payload.dump()));
  return ParseOrder(r.json, order.url);
}

core::Result<std::string> AcmeClient::DownloadCertificate(const std::string& url) {
  HP_ASSIGN_OR_RETURN(Reply r, Post(url, ""));
  if (r.body.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return Fail(ErrorCode::kInternal, "ACME certificate download is not a PEM chain");
  }
  return r.body;
}

core::Result<std::string> MakeCsr(EVP_PKEY* key, const std::vector<std::string>& dns_names) {
  if (dns_names.empty()) return Fail(ErrorCode::kInvalidArgument, "no names for the CSR");
  core::ossl::X509Req req(X509_REQ_new());
  if (!req) return Fail(core::ossl::LastError(ErrorCode::kInternal, "X509_REQ_new"));
  X509_REQ_set_version(req.get(), 0);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(dns_names[0].c_str()), -1, -1,
                             0);
  std::string san;
  for (const auto& n : dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + Lower(n);
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  if (ext == nullptr) {
    sk_X509_EXTENSION_free(exts);
    return Fail(core::ossl::LastError(ErrorCode::kInvalidArgument, "CSR subjectAltName"));
  }
  sk_X509_EXTENSION_push(exts, ext);
  const int added = X509_REQ_add_extensions(req.get(), exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  if (added != 1 || X509_REQ_set_pubkey(req.get(), key) != 1 ||
      X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0) {
    return Fail(core::ossl::LastError(ErrorCode::kInternal, "CSR signing"));
  }
  const int len = i2d_X509_REQ(req.get(), nullptr);
  if (len <= 0) return Fail(core::ossl::LastError(ErrorCode::kInternal, "CSR encoding"));
  std::string der(static_cast<size_t>(len), '\0');
  unsigned char* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509_REQ(req.get(), &p);
  return der;
}

core::Result<IssuedCertificate> ObtainCertificate(AcmeClient& client,
                                                  const std::vector<std::string>& dns_names,
                                                  const Http01Presenter& http01, EVP_PKEY* cert_key,
                                                  std::chrono::milliseconds timeout,
                                                  std::chrono::milliseconds poll_interval,
                                                  const std::string& replaces) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto expired = [&] { return std::chrono::steady_clock::now() >= deadline; };
  std::vector<std::string> presented;
  std::vector<std::pair<std::string, std::string>> txts;  // (domain, value) published
  struct Cleanup {
    const Http01Presenter& h;
    std::vector<std::string>& tokens;
    std::vector<std::pair<std::string, std::string>>& txts;
    ~Cleanup() {
      if (h.cleanup) {
        for (const auto& t : tokens) h.cleanup(t);
      }
      if (h.dns01_cleanup) {
        for (const auto& [d, v] : txts) h.dns01_cleanup(d, v);
      }
    }
  } cleanup{http01, presented, txts};

  HP_ASSIGN_OR_RETURN(Order order, client.NewOrder(dns_names, replaces));
  // Present and respond to every pending authorization, then wait for all.
  std::vector<std::string> waiting;
  for (const auto& url : order.authorizations) {
    HP_ASSIGN_OR_RETURN(Authorization authz, client.GetAuthorization(url));
    if (authz.status == "valid") continue;
    if (authz.status != "pending") {
      return Fail(ErrorCode::kAcmeUnauthorized,
                  "authorization for " + authz.identifier + " is " + authz.status);
    }
    const bool dns = http01.dns01_present && (authz.wildcard || http01.prefer_dns01 || !http01.present);
    const Challenge* ch = authz.Find(dns ? "dns-01" : "http-01");
    if (ch == nullptr) {
      return Fail(ErrorCode::kAcmeUnsupportedIdentifier,
                  std::string("no ") + (dns ? "dns-01" : "http-01") + " challenge offered for " +
                      authz.identifier);
    }
    if (dns) {
      const std::string txt = Dns01TxtValue(client.KeyAuthorization(ch->token));
      HP_TRY(http01.dns01_present(authz.identifier, txt));
      txts.emplace_back(authz.identifier, txt);
    } else {
      HP_TRY(http01.present(ch->token, client.KeyAuthorization(ch->token)));
      presented.push_back(ch->token);
    }
    if (ch->status == "pending") HP_TRY(client.Respond(*ch));
    waiting.push_back(url);
  }
  for (const auto& url : waiting) {
    for (;;) {
      HP_ASSIGN_OR_RETURN(Authorization authz, client.GetAuthorization(url));
      if (authz.status == "valid") break;
      if (authz.status != "pending") {
        std::string why = authz.status;
        const Challenge* ch = authz.Find("http-01");
        if (ch == nullptr || !ch->error.is_object()) ch = authz.Find("dns-01");
        if (ch != nullptr && ch->error.is_object()) {
          why = ProblemError(ch->error, 400).detail;
          return Fail(core::Error(ProblemError(ch->error, 400).code,
                                  "validation of " + authz.identifier + " failed: " + why));
        }
        return Fail(ErrorCode::kAcmeUnauthorized,
                    "authorization for " + authz.identifier + " is " + why);
      }
      if (expired()) {
        return Fail(ErrorCode::kUnavailable, "authorization for " + authz.identifier +
                                                 " still pending after " +
                                                 std::to_string(timeout.count()) + " ms");
      }
      std::this_thread::sleep_for(poll_interval);
    }
  }

  HP_ASSIGN_OR_RETURN(std::string csr, MakeCsr(cert_key, dns_names));
  HP_ASSIGN_OR_RETURN(order, client.Finalize(order, csr));
  while (order.status != "valid") {
    if (order.status == "invalid") {
      return Fail(order.error.is_object() ? ProblemError(order.error, 400)
                                          : core::Error(ErrorCode::kAcmeUnauthorized,
                                                        "order " + order.url + " is invalid"));
    }
    if (expired()) {
      return Fail(ErrorCode::kUnavailable, "order " + order.url + " is still " + order.status);
    }
    std::this_thread::sleep_for(poll_interval);
    HP_ASSIGN_OR_RETURN(order, client.GetOrder(order.url));
  }
  if (order.certificate.empty()) {
    return Fail(ErrorCode::kInternal, "valid order " + order.url + " without a certificate URL");
  }
  IssuedCertificate out;
  out.order_url = order.url;
  out.certificate_url = order.certificate;
  HP_ASSIGN_OR_RETURN(out.chain_pem, client.DownloadCertificate(order.certificate));
  return out;
}

}  // namespace hp::acme::client
