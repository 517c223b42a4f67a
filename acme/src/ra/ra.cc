#include "ra/ra.h"

#include <algorithm>
#include <set>

#include "ca/names.h"
#include "hp/acme/csr.h"
#include "hp/core/encoding.h"
#include "hp/core/log.h"
#include "hp/core/random.h"

namespace hp::acme {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Json;
using core::Result;
using core::Status;

template <typename T>
Result<T> Need(Result<std::optional<T>> r, ErrorCode code, const std::string& what) {
  if (!r) return std::unexpected(r.error());
  if (!*r) return Fail(code, what);
  return std::move(**r);
}

bool ValidDnsName(const std::string& name) {
  if (name.empty() || name.size() > 253 || name.back() == '.') return false;
  size_t start = 0;
  int labels = 0;
  std::string last;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    std::string label = name.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    ++labels;
    last = label;
    start = dot + 1;
    if (dot == name.size()) break;
  }
  if (labels < 2) return false;
  return !std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Result<std::string> ValidateContact(const Json& contact, Json* out) {
  if (!contact.is_array()) {
    return Fail(ErrorCode::kAcmeMalformed, "contact must be an array of URLs");
  }
  if (contact.size() > 10) return Fail(ErrorCode::kAcmeInvalidContact, "too many contacts");
  *out = Json::array();
  for (const auto& c : contact) {
    if (!c.is_string()) return Fail(ErrorCode::kAcmeInvalidContact, "contact must be a string");
    std::string s = c.get<std::string>();
    if (s.rfind("mailto:", 0) != 0) {
      return Fail(ErrorCode::kAcmeUnsupportedContact,
                  "only mailto: contacts are supported, got \"" + s.substr(0, 64) + "\"");
    }
    std::string addr = s.substr(7);
    const size_t at = addr.find('@');
    if (addr.empty() || addr.size() > 254 || addr.find_first_of("?,;<> \t\r\n\"") != std::string::npos ||
        at == std::string::npos || at == 0 || addr.find('@', at + 1) != std::string::npos ||
        !ValidDnsName(NormalizeName("dns", addr.substr(at + 1)))) {
      return Fail(ErrorCode::kAcmeInvalidContact, "invalid contact email \"" + addr + "\"");
    }
    out->push_back(s);
  }
  return std::string();
}

ErrorCode CodeFromName(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::kAcmeUserActionRequired); ++i) {
    auto c = static_cast<ErrorCode>(i);
    if (core::ErrorCodeName(c) == name) return c;
  }
  return ErrorCode::kAcmeServerInternal;
}

}  // namespace

Json ErrorToJson(const core::Error& e) {
  Json j = {{"code", std::string(core::ErrorCodeName(e.code))}, {"detail", e.detail}};
  if (!e.identifier.type.empty()) {
    j["identifier"] = {{"type", e.identifier.type}, {"value", e.identifier.value}};
  }
  return j;
}

core::Error ErrorFromJson(const Json& j) {
  core::Error e(CodeFromName(j.value("code", "")), j.value("detail", ""));
  if (j.contains("identifier")) {
    e.identifier = {j["identifier"].value("type", ""), j["identifier"].value("value", "")};
  }
  return e;
}

std::string Ra::AuthzStatus(const AuthzRow& a) const {
  if ((a.status == "pending" || a.status == "valid") && a.expires <= sa_.clock().Now()) {
    return "expired";
  }
  return a.status;
}

// ---- Accounts ----------------------------------------------------------------------------

Result<Ra::NewAccountResult> Ra::NewAccount(const Jwk& key, const Json& payload,
                                            const std::string& remote_ip,
                                            const std::string& request_url) {
  if (!payload.is_object()) return Fail(ErrorCode::kAcmeMalformed, "payload must be an object");
  const bool only_existing = payload.value("onlyReturnExisting", false);
  Json contact = Json::array();
  if (payload.contains("contact")) HP_TRY(ValidateContact(payload["contact"], &contact));
  const bool tos = payload.value("termsOfServiceAgreed", false);
  std::optional<EabMessage> eab;
  if (payload.contains("externalAccountBinding")) {
    HP_ASSIGN_OR_RETURN(eab, ParseEab(payload["externalAccountBinding"], request_url, key));
  }
  return sa_.Write([&](SaTx& tx) -> Result<NewAccountResult> {
    HP_ASSIGN_OR_RETURN(auto existing, tx.AccountByThumbprint(key.thumbprint()));
    if (existing) {
      if (existing->status != "valid") {
        return Fail(ErrorCode::kAcmeUnauthorized, "account is " + existing->status);
      }
      return NewAccountResult{*existing, false};
    }
    if (only_existing) {
      return Fail(ErrorCode::kAcmeAccountDoesNotExist, "no account exists with this key");
    }
    if (!config_.terms_of_service_url.empty() && !tos) {
      return Fail(ErrorCode::kAcmeMalformed, "you must agree to the terms of service");
    }
    std::optional<EabKeyRow> eab_row;
    if (eab) {
      HP_ASSIGN_OR_RETURN(eab_row, tx.EabKey(eab->kid));
      if (!eab_row) return Fail(ErrorCode::kAcmeUnauthorized, "unknown external account key id");
      HP_TRY(VerifyEabMac(*eab, eab_row->hmac_key));
      if (eab_row->expires_at_us != 0 && core::ToUnixMicros(tx.now()) >= eab_row->expires_at_us) {
        return Fail(ErrorCode::kAcmeUnauthorized,
                    "this external account key expired at " +
                        core::FormatRfc3339(core::FromUnixMicros(eab_row->expires_at_us)) +
                        "; ask your provider for new EAB credentials");
      }
      if (eab_row->bound_account_id != 0) {
        return Fail(ErrorCode::kAcmeUnauthorized,
                    "this external account key is already bound to an account");
      }
    } else if (config_.external_account_required) {
      return Fail(ErrorCode::kAcmeExternalAccountRequired,
                  "this server requires an externalAccountBinding");
    }
    HP_ASSIGN_OR_RETURN(auto rl, tx.RateLimit("acct-ip:" + remote_ip,
                                              config_.limits.new_accounts_per_ip.count,
                                              config_.limits.new_accounts_per_ip.period, true));
    if (!rl.allowed) {
      return Fail(core::Error(ErrorCode::kAcmeRateLimited,
                              "too many new accounts from " + remote_ip)
                      .WithRetryAfter(rl.retry_after_seconds));
    }
    AccountRow row;
    row.public_id = core::NewPublicId();
    row.thumbprint = key.thumbprint();
    row.jwk = key.canonical();
    row.contact = contact;
    row.tos_agreed = tos;
    row.eab_kid = eab ? eab->kid : "";
    row.created_ip = remote_ip;
    row.created_at = tx.now();
    HP_TRY(tx.InsertAccount(row));
    if (eab_row) HP_TRY(tx.BindEabKey(eab_row->id, row.id));
    return NewAccountResult{row, true};
  });
}

Result<AccountRow> Ra::AuthenticatedAccount(const std::string& public_id) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(accounts_mu_);
    auto it = accounts_.find(public_id);
    if (it != accounts_.end() && it->second.second > now) return it->second.first;
  }
  HP_ASSIGN_OR_RETURN(auto row, sa_.Read([&](SaTx& tx) { return tx.AccountByPublicId(public_id); }));
  if (!row) return Fail(ErrorCode::kAcmeAccountDoesNotExist, "account does not exist");
  if (row->status != "valid") {
    return Fail(ErrorCode::kAcmeUnauthorized, "account is " + row->status);
  }
  if (config_.account_cache_ttl.count() > 0) {
    std::lock_guard lock(accounts_mu_);
    if (accounts_.size() >= 100000) accounts_.clear();  // bounded; refilled by the next requests
    accounts_[public_id] = {*row, now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                            config_.account_cache_ttl)};
  }
  return *row;
}

void Ra::ForgetAccount(const std::string& public_id) {
  std::lock_guard lock(accounts_mu_);
  accounts_.erase(public_id);
}

Result<AccountRow> Ra::UpdateAccount(AccountRow account, const Json& payload) {
  if (payload.is_null() || (payload.is_object() && payload.empty())) return account;
  if (!payload.is_object()) return Fail(ErrorCode::kAcmeMalformed, "payload must be an object");
  bool changed = false;
  if (payload.contains("contact")) {
    Json contact;
    HP_TRY(ValidateContact(payload["contact"], &contact));
    account.contact = contact;
    changed = true;
  }
  if (payload.contains("termsOfServiceAgreed") && payload["termsOfServiceAgreed"] == true) {
    account.tos_agreed = true;
    changed = true;
  }
  if (payload.contains("status")) {
    if (payload["status"] != "deactivated") {
      return Fail(ErrorCode::kAcmeMalformed, "the only status a client may set is deactivated");
    }
    account.status = "deactivated";
    changed = true;
  }
  if (!changed) return account;
  ForgetAccount(account.public_id);
  auto st = sa_.Write([&](SaTx& tx) { return tx.UpdateAccount(account); });
  ForgetAccount(account.public_id);  // also drop a copy cached while the write ran
  HP_TRY(st);
  return account;
}

Result<AccountRow> Ra::ChangeKey(AccountRow account, const Jwk& new_key) {
  ForgetAccount(account.public_id);
  struct Forget {
    Ra* ra;
    std::string id;
    ~Forget() { ra->ForgetAccount(id); }
  } forget{this, account.public_id};
  return sa_.Write([&](SaTx& tx) -> Result<AccountRow> {
    HP_ASSIGN_OR_RETURN(auto other, tx.AccountByThumbprint(new_key.thumbprint()));
    if (other) {
      core::Error e(ErrorCode::kConflict, "the new key is already in use by an account");
      e.instance = AccountUrl(other->public_id);
      return Fail(std::move(e));
    }
    account.jwk = new_key.canonical();
    account.thumbprint = new_key.thumbprint();
    HP_TRY(tx.UpdateAccount(account));
    return account;
  });
}

Result<std::pair<std::vector<std::string>, std::string>> Ra::ListOrders(const AccountRow& account,
                                                                        const std::string& cursor) {
  return sa_.Read([&](SaTx& tx) -> Result<std::pair<std::vector<std::string>, std::string>> {
    int64_t after = 0;
    if (!cursor.empty()) {
      HP_ASSIGN_OR_RETURN(auto o, tx.OrderByPublicId(cursor));
      if (!o || o->account_id != account.id) {
        return Fail(ErrorCode::kAcmeMalformed, "invalid cursor");
      }
      after = o->id;
    }
    const int page = config_.orders_page_size;
    HP_ASSIGN_OR_RETURN(auto rows, tx.OrdersOfAccount(account.id, after, page + 1));
    std::pair<std::vector<std::string>, std::string> out;
    for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(page); ++i) {
      out.first.push_back(rows[i].second);
    }
    if (rows.size() > static_cast<size_t>(page)) out.second = out.first.back();
    return out;
  });
}

Result<Json> Ra::Limits(const AccountRow& account) {
  return sa_.Read([&](SaTx& tx) -> Result<Json> {
    auto entry = [&](const std::string& key, const RateLimit& l) -> Result<Json> {
      HP_ASSIGN_OR_RETURN(auto d, tx.RateLimit(key, l.count, l.period, false));
      return Json{{"limit", l.count},
                  {"periodSeconds", std::chrono::duration_cast<std::chrono::seconds>(l.period).count()},
                  {"used", d.used}};
    };
    Json out = Json::object();
    HP_ASSIGN_OR_RETURN(out["newOrdersPerAccount"],
                        entry("orders:" + account.public_id, config_.limits.new_orders_per_account));
    HP_ASSIGN_OR_RETURN(out["newAccountsPerIp"],
                        entry("acct-ip:" + account.created_ip, config_.limits.new_accounts_per_ip));
    const auto& fv = config_.limits.failed_validations_per_account_and_name;
    out["failedValidationsPerAccountAndName"] = {
        {"limit", fv.count},
        {"periodSeconds", std::chrono::duration_cast<std::chrono::seconds>(fv.period).count()}};
    const auto& cd = config_.limits.certificates_per_registered_domain;
    out["certificatesPerRegisteredDomain"] = {
        {"limit", cd.count},
        {"periodSeconds", std::chrono::duration_cast<std::chrono::seconds>(cd.period).count()}};
    return out;
  });
}

// ---- Orders ------------------------------------------------------------------------------

Result<std::vector<core::Identifier>> Ra::CheckIdentifiers(const Json& ids) {
  if (!ids.is_array() || ids.empty()) {
    return Fail(ErrorCode::kAcmeMalformed, "identifiers must be a non-empty array");
  }
  if (static_cast<int>(ids.size()) > config_.max_identifiers) {
    return Fail(ErrorCode::kAcmeRejectedIdentifier,
                "at most " + std::to_string(config_.max_identifiers) + " identifiers per order");
  }
  std::vector<core::Identifier> out;
  std::set<std::pair<std::string, std::string>> seen;
  std::vector<core::Error> subs;
  for (const auto& j : ids) {
    if (!j.is_object() || !j.contains("type") || !j.contains("value") || !j["type"].is_string() ||
        !j["value"].is_string()) {
      return Fail(ErrorCode::kAcmeMalformed, "identifier must have string type and value");
    }
    core::Identifier id{j["type"].get<std::string>(), j["value"].get<std::string>()};
    if (id.type == "dns") {
      id.value = NormalizeName("dns", id.value);
      std::string base = id.value.rfind("*.", 0) == 0 ? id.value.substr(2) : id.value;
      if (LooksLikeIp(base)) {
        subs.push_back(core::Error(ErrorCode::kAcmeRejectedIdentifier,
                                   "an IP address must use the \"ip\" identifier type")
                           .WithIdentifier(id.type, id.value));
        continue;
      }
      if (!ValidDnsName(base)) {
        subs.push_back(core::Error(ErrorCode::kAcmeRejectedIdentifier,
                                   "\"" + id.value + "\" is not a valid DNS name")
                           .WithIdentifier(id.type, id.value));
        continue;
      }
    } else if (id.type == "ip") {
      if (!config_.allow_ip_identifiers || !LooksLikeIp(id.value)) {
        subs.push_back(core::Error(ErrorCode::kAcmeRejectedIdentifier,
                                   "\"" + id.value + "\" is not an acceptable IP address")
                           .WithIdentifier(id.type, id.value));
        continue;
      }
      id.value = NormalizeName("ip", id.value);
    } else {
      subs.push_back(core::Error(ErrorCode::kAcmeUnsupportedIdentifier,
                                 "identifier type \"" + id.type + "\" is not supported")
                         .WithIdentifier(id.type, id.value));
      continue;
    }
    if (seen.insert({id.type, id.value}).second) out.push_back(id);
  }
  if (subs.size() == 1) return Fail(std::move(subs[0]));
  if (!subs.empty()) {
    core::Error e(ErrorCode::kAcmeRejectedIdentifier,
                  std::to_string(subs.size()) + " identifiers were rejected");
    e.subproblems = std::move(subs);
    return Fail(std::move(e));
  }
  return out;
}

// The registered domain through the Public Suffix List (an IP address counts as its own).
std::string Ra::RegisteredDomain(const core::Identifier& id) const {
  if (id.type == "ip") return id.value;
  std::string_view v = id.value;
  if (v.starts_with("*.")) v.remove_prefix(2);
  return psl_->RegisteredDomain(v);
}

Status Ra::CheckCertsPerDomain(SaTx& tx, const std::vector<core::Identifier>& ids, bool spend) {
  const auto& l = config_.limits.certificates_per_registered_domain;
  std::set<std::string> domains;
  for (const auto& id : ids) domains.insert(RegisteredDomain(id));
  for (const auto& d : domains) {
    HP_ASSIGN_OR_RETURN(auto r, tx.RateLimit("certs:" + d, l.count, l.period, false));
    if (spend) {
      HP_ASSIGN_OR_RETURN(r, tx.RateLimit("certs:" + d, l.count, l.period, true));
    }
    if (!r.allowed || (!spend && r.used >= l.count && l.count > 0)) {
      return Fail(core::Error(ErrorCode::kAcmeRateLimited,
                              "too many certificates already issued for " + d)
                      .WithRetryAfter(std::max(r.retry_after_seconds, 1)));
    }
  }
  return core::Ok();
}

Result<OrderRow> Ra::NewOrder(const AccountRow& account, const Json& payload) {
  if (!payload.is_object()) return Fail(ErrorCode::kAcmeMalformed, "payload must be an object");
  if (payload.contains("notBefore") || payload.contains("notAfter")) {
    return Fail(ErrorCode::kAcmeMalformed, "notBefore and notAfter are not supported");
  }
  HP_ASSIGN_OR_RETURN(auto ids, CheckIdentifiers(payload.value("identifiers", Json())));
  std::string profile = config_.default_profile;
  if (payload.contains("profile")) {
    if (!payload["profile"].is_string()) return Fail(ErrorCode::kAcmeMalformed, "profile must be a string");
    profile = payload["profile"].get<std::string>();
    const auto& ps = ca_.profiles();
    if (std::none_of(ps.begin(), ps.end(), [&](const CertProfile& p) { return p.name == profile; })) {
      return Fail(ErrorCode::kAcmeInvalidProfile, "unknown profile \"" + profile + "\"");
    }
  }
  std::string replaces;
  if (payload.contains("replaces")) {
    if (!payload["replaces"].is_string()) return Fail(ErrorCode::kAcmeMalformed, "replaces must be a string");
    replaces = payload["replaces"].get<std::string>();
  }
  return sa_.Write([&](SaTx& tx) -> Result<OrderRow> {
    const auto now = tx.now();
    HP_ASSIGN_OR_RETURN(auto rl, tx.RateLimit("orders:" + account.public_id,
                                              config_.limits.new_orders_per_account.count,
                                              config_.limits.new_orders_per_account.period, true));
    if (!rl.allowed) {
      return Fail(core::Error(ErrorCode::kAcmeRateLimited, "too many new orders for this account")
                      .WithRetryAfter(rl.retry_after_seconds));
    }
    HP_TRY(CheckCertsPerDomain(tx, ids, false));
    OrderRow order;
    // Orders, authorizations and certificates get time-ordered ids: each lands next to the
    // others of its group commit in the public-id index instead of on a random page.
    order.public_id = core::NewOrderedPublicId(core::ToUnixMicros(now) / 1000);
    if (!replaces.empty()) {
      HP_ASSIGN_OR_RETURN(auto old, tx.CertByAriId(replaces));
      if (!old) return Fail(ErrorCode::kAcmeMalformed, "replaces: no such certificate");
      if (old->account_id != account.id) {
        return Fail(ErrorCode::kAcmeUnauthorized, "replaces: the certificate is not yours");
      }
      if (!old->replaced_by.empty()) {
        HP_ASSIGN_OR_RETURN(auto prev, tx.OrderByPublicId(old->replaced_by));
        if (prev && prev->status != "invalid") {
          return Fail(ErrorCode::kAcmeAlreadyReplaced,
                      "the certificate has already been replaced by another order");
        }
      }
      bool overlap = false;
      for (const auto& n : old->names) {
        for (const auto& i : ids) overlap |= n.type == i.type && n.value == i.value;
      }
      if (!overlap) {
        return Fail(ErrorCode::kAcmeMalformed, "replaces: the order shares no name with it");
      }
      HP_TRY(tx.MarkReplaced(old->id, order.public_id));
      order.replaces = replaces;
    }
    order.account_id = account.id;
    order.identifiers = ids;
    order.profile = profile;
    order.created_at = now;
    order.expires = now + config_.order_lifetime;
    for (const auto& id : ids) {
      const bool wildcard = id.type == "dns" && id.value.rfind("*.", 0) == 0;
      core::Identifier base{id.type, wildcard ? id.value.substr(2) : id.value};
      HP_ASSIGN_OR_RETURN(auto reuse, tx.ReusableAuthz(account.id, base, wildcard,
                                                       now + std::chrono::hours(24)));
      AuthzRow a;
      if (reuse) {
        a = *reuse;
      } else {
        a.public_id = core::NewOrderedPublicId(core::ToUnixMicros(now) / 1000);
        a.account_id = account.id;
        a.identifier = base;
        a.wildcard = wildcard;
        a.expires = now + config_.pending_authz_lifetime;
        a.token = core::Base64UrlEncode(core::RandomBytes(32));
        a.created_at = now;
        if (wildcard) {
          a.challenge_types = {"dns-01"};
        } else if (base.type == "ip") {
          a.challenge_types = {"http-01", "tls-alpn-01"};
        } else {
          a.challenge_types = {"http-01", "dns-01", "tls-alpn-01"};
        }
        HP_TRY(tx.InsertAuthz(a));
      }
      order.authz.push_back(a.public_id);
      order.expires = std::min(order.expires, a.expires);
    }
    HP_TRY(tx.InsertOrder(order));
    HP_TRY(Derive(tx, order));
    return order;
  });
}

Status Ra::Derive(SaTx& tx, OrderRow& o, core::TimePoint* oldest_dns_validation) {
  if (o.status == "valid" || o.status == "invalid" || o.status == "processing") return core::Ok();
  if (o.expires <= tx.now()) {
    o.status = "invalid";
    o.error = ErrorToJson(core::Error(ErrorCode::kAcmeMalformed, "order expired")).dump();
    return core::Ok();
  }
  bool all_valid = true;
  for (const auto& id : o.authz) {
    HP_ASSIGN_OR_RETURN(auto a, tx.AuthzByPublicId(id));
    if (!a) return Fail(ErrorCode::kInternal, "order references a missing authorization");
    const std::string st = AuthzStatus(*a);
    if (st == "invalid" || st == "deactivated" || st == "expired" || st == "revoked") {
      o.status = "invalid";
      if (!a->error.empty()) o.error = a->error;
      else o.error = ErrorToJson(core::Error(ErrorCode::kAcmeUnauthorized, "authorization for " + a->identifier.value + " is " + st)).dump();
      return core::Ok();
    }
    if (st != "valid") all_valid = false;
    if (oldest_dns_validation && a->identifier.type == "dns") {
      *oldest_dns_validation = std::min(*oldest_dns_validation, a->validated_at);
    }
  }
  o.status = all_valid ? "ready" : "pending";
  return core::Ok();
}

Result<OrderRow> Ra::GetOrder(const AccountRow& account, const std::string& id) {
  return LoadOrder(account, id, true);
}

Result<OrderRow> Ra::LoadOrder(const AccountRow& account, const std::string& id,
                               bool for_request) {
  auto load = [&](SaTx& tx) -> Result<OrderRow> {
    HP_ASSIGN_OR_RETURN(auto o, Need(tx.OrderByPublicId(id), ErrorCode::kNotFound, "no such order"));
    if (o.account_id != account.id) {
      return Fail(ErrorCode::kAcmeUnauthorized, "this order belongs to another account");
    }
    HP_TRY(Derive(tx, o));
    return o;
  };
  return for_request ? sa_.ReadForRequest(load) : sa_.Read(load);
}

Result<AuthzRow> Ra::GetAuthz(const AccountRow& account, const std::string& id) {
  HP_ASSIGN_OR_RETURN(auto a,
                      sa_.ReadForRequest([&](SaTx& tx) { return tx.AuthzByPublicId(id); }));
  if (!a) return Fail(ErrorCode::kNotFound, "no such authorization");
  if (a->account_id != account.id) {
    return Fail(ErrorCode::kAcmeUnauthorized, "this authorization belongs to another account");
  }
  return *a;
}

Result<AuthzRow> Ra::RespondChallenge(const AccountRow& account, const std::string& authz_id,
                                      const std::string& type) {
  bool enqueue = false;
  HP_ASSIGN_OR_RETURN(auto a, sa_.Write([&](SaTx& tx) -> Result<AuthzRow> {
    HP_ASSIGN_OR_RETURN(auto a, Need(tx.AuthzByPublicId(authz_id), ErrorCode::kNotFound,
                                     "no such authorization"));
    if (a.account_id != account.id) {
      return Fail(ErrorCode::kAcmeUnauthorized, "this authorization belongs to another account");
    }
    if (std::find(a.challenge_types.begin(), a.challenge_types.end(), type) ==
        a.challenge_types.end()) {
      return Fail(ErrorCode::kNotFound, "no such challenge");
    }
    const std::string st = AuthzStatus(a);
    if (st == "expired") return Fail(ErrorCode::kAcmeMalformed, "the authorization has expired");
    if (st != "pending" || a.chall_status == "processing") return a;
    const auto& fl = config_.limits.failed_validations_per_account_and_name;
    HP_ASSIGN_OR_RETURN(auto rl, tx.RateLimit("fail:" + account.public_id + ":" + a.identifier.value,
                                              fl.count, fl.period, false));
    if (fl.count > 0 && rl.used >= fl.count) {
      return Fail(core::Error(ErrorCode::kAcmeRateLimited,
                              "too many failed validations for " + a.identifier.value)
                      .WithRetryAfter(static_cast<int>(
                          std::chrono::duration_cast<std::chrono::seconds>(fl.period).count() /
                          std::max<int64_t>(fl.count, 1))));
    }
    a.chall_type = type;
    a.chall_status = "processing";
    a.processing_since = tx.now();
    HP_TRY(tx.UpdateAuthz(a));
    enqueue = true;
    return a;
  }));
  if (enqueue && config_.validation.in_process && dispatch_) {
    dispatch_(ValidationInput{a, account.public_id, account.thumbprint});
  } else if (enqueue) {
    core::EnqueueOptions opts;
    opts.idempotency_key = a.public_id;
    opts.max_attempts = 3;
    HP_TRY(jobs_.Enqueue(kValidateJob, Json{{"authz", a.public_id}}, opts));
    if (workers_) workers_->Notify();
  }
  return a;
}

Result<AuthzRow> Ra::DeactivateAuthz(const AccountRow& account, const std::string& id) {
  return sa_.Write([&](SaTx& tx) -> Result<AuthzRow> {
    HP_ASSIGN_OR_RETURN(auto a, Need(tx.AuthzByPublicId(id), ErrorCode::kNotFound,
                                     "no such authorization"));
    if (a.account_id != account.id) {
      return Fail(ErrorCode::kAcmeUnauthorized, "this authorization belongs to another account");
    }
    const std::string st = AuthzStatus(a);
    if (st != "pending" && st != "valid") {
      return Fail(ErrorCode::kAcmeMalformed, "only pending or valid authorizations can be "
                                             "deactivated (this one is " + st + ")");
    }
    a.status = "deactivated";
    HP_TRY(tx.UpdateAuthz(a));
    return a;
  });
}

Result<Json> Ra::RunValidation(const Json& payload) {
  const std::string authz_id = payload.value("authz", "");
  auto loaded = sa_.Read([&](SaTx& tx) -> Result<std::pair<AuthzRow, AccountRow>> {
    HP_ASSIGN_OR_RETURN(auto a, Need(tx.AuthzByPublicId(authz_id), ErrorCode::kNotFound,
                                     "authorization vanished"));
    HP_ASSIGN_OR_RETURN(auto acct, Need(tx.AccountById(a.account_id), ErrorCode::kNotFound,
                                        "account vanished"));
    return std::make_pair(a, acct);
  });
  if (!loaded) return std::unexpected(loaded.error());
  return RunValidation(ValidationInput{std::move(loaded->first), loaded->second.public_id,
                                       loaded->second.thumbprint});
}

Result<Json> Ra::RunValidation(const ValidationInput& in) {
  const AuthzRow& a = in.authz;
  const std::string& authz_id = a.public_id;
  if (a.status != "pending" || a.chall_status != "processing") return Json{{"skipped", true}};
  const std::string key_auth = a.token + "." + in.thumbprint;
  const std::string name = a.wildcard ? "*." + a.identifier.value : a.identifier.value;
  auto record = va_.Validate(a.identifier, a.chall_type, a.token, key_auth);
  if (record && a.identifier.type == "dns") {
    CaaQuery q{a.identifier.value, a.wildcard, AccountUrl(in.account_public_id), a.chall_type,
               config_.caa_identities};
    auto caa = dns_.CheckCaa(q);
    if (!caa) {
      core::Error e = caa.error();
      e.identifier = {a.identifier.type, name};
      record = std::unexpected(std::move(e));
    }
  }
  HP_TRY(sa_.Write([&](SaTx& tx) -> Status {
    HP_ASSIGN_OR_RETURN(auto cur, Need(tx.AuthzByPublicId(authz_id), ErrorCode::kNotFound,
                                       "authorization vanished"));
    if (cur.status != "pending") return core::Ok();
    if (record) {
      cur.status = "valid";
      cur.chall_status = "valid";
      cur.validated_at = tx.now();
      cur.expires = tx.now() + config_.valid_authz_lifetime;
      cur.validation_record = record->dump();
    } else {
      cur.status = "invalid";
      cur.chall_status = "invalid";
      cur.error = ErrorToJson(record.error()).dump();
      const auto& fl = config_.limits.failed_validations_per_account_and_name;
      HP_TRY(tx.RateLimit("fail:" + in.account_public_id + ":" + a.identifier.value, fl.count,
                          fl.period, true));
    }
    return tx.UpdateAuthz(cur);
  }));
  return Json{{"valid", record.has_value()}};
}

// ---- Finalize and certificates ----------------------------------------------------------

Result<CertRow> Ra::IssueInTx(SaTx& tx, OrderRow& order, const AccountRow& account,
                              const std::string& csr_der, const CheckedCsr* checked) {
  HP_TRY(CheckCertsPerDomain(tx, order.identifiers, true));
  IssueRequest req{csr_der, order.identifiers, order.profile, {}};
  if (checked) {
    req.csr_key = checked->key.get();
    req.csr_spki = checked->spki.get();
    req.spki_sha256 = checked->spki_sha256;
  }
  auto issued = ca_.Issue(req);
  if (!issued) return std::unexpected(issued.error());
  CertRow c;
  c.public_id = core::NewOrderedPublicId(core::ToUnixMicros(tx.now()) / 1000);
  c.serial = issued->serial_hex;
  c.ari_id = core::Base64UrlEncode(issued->aki) + "." + core::Base64UrlEncode(issued->serial_der);
  c.account_id = account.id;
  c.order_id = order.id;
  c.issuer_id = issued->issuer_id;
  c.profile = order.profile;
  c.names = order.identifiers;
  c.spki_hash = issued->spki_sha256;
  c.der = issued->der;
  c.not_before = issued->not_before;
  c.not_after = issued->not_after;
  HP_TRY(tx.InsertCertificate(c));
  order.status = "valid";
  order.certificate_id = c.public_id;
  HP_TRY(tx.UpdateOrder(order));
  return c;
}

Result<OrderRow> Ra::Finalize(const AccountRow& account, const std::string& order_id,
                              const std::string& csr_der) {
  HP_ASSIGN_OR_RETURN(auto acct_key, keys_.GetCanonical(account.jwk));
  std::optional<CheckedCsr> csr;
  bool deferred = false;
  // One write: the order's state, the CSR against its names, issuance. (The CSR used to be
  // checked between a read of the order and this write, which read it again.)
  auto result = sa_.Write([&](SaTx& tx) -> Result<OrderRow> {
    HP_ASSIGN_OR_RETURN(auto o, Need(tx.OrderByPublicId(order_id), ErrorCode::kNotFound,
                                     "no such order"));
    if (o.account_id != account.id) {
      return Fail(ErrorCode::kAcmeUnauthorized, "this order belongs to another account");
    }
    core::TimePoint oldest_dns_validation = core::TimePoint::max();
    HP_TRY(Derive(tx, o, &oldest_dns_validation));
    if (o.status != "ready") {
      return Fail(ErrorCode::kAcmeOrderNotReady,
                  "order is " + o.status + ", not ready: complete its authorizations first");
    }
    HP_ASSIGN_OR_RETURN(auto checked, CheckCsr(csr_der, o.identifiers));
    csr = std::move(checked);
    if (EVP_PKEY_eq(acct_key->pkey(), csr->key.get()) == 1) {
      return Fail(ErrorCode::kAcmeBadCsr, "the certificate key must differ from the account key");
    }
    HP_ASSIGN_OR_RETURN(bool blocked, tx.IsKeyBlocked(csr->spki_sha256));
    if (blocked) return Fail(ErrorCode::kAcmeBadPublicKey, "the key is known to be compromised");
    if (oldest_dns_validation < tx.now() - config_.caa_recheck_after) {
      o.status = "processing";
      HP_TRY(tx.UpdateOrder(o));
      deferred = true;
      return o;
    }
    HP_TRY(IssueInTx(tx, o, account, csr->der, &*csr));
    return o;
  });
  if (!result) return result;
  if (deferred) {
    core::EnqueueOptions opts;
    opts.idempotency_key = order_id;
    opts.max_attempts = 3;
    HP_TRY(jobs_.Enqueue(kFinalizeJob,
                         Json{{"order", order_id}, {"csr", core::Base64UrlEncode(csr->der)}}, opts));
    if (workers_) workers_->Notify();
  }
  return result;
}

Result<Json> Ra::RunFinalize(const Json& payload) {
  const std::string order_id = payload.value("order", "");
  HP_ASSIGN_OR_RETURN(std::string csr, core::Base64UrlDecodeToString(payload.value("csr", "")));
  auto loaded = sa_.Read([&](SaTx& tx) -> Result<std::pair<OrderRow, AccountRow>> {
    HP_ASSIGN_OR_RETURN(auto o, Need(tx.OrderByPublicId(order_id), ErrorCode::kNotFound, "order vanished"));
    HP_ASSIGN_OR_RETURN(auto acct, Need(tx.AccountById(o.account_id), ErrorCode::kNotFound,
                                        "account vanished"));
    return std::make_pair(o, acct);
  });
  if (!loaded) return std::unexpected(loaded.error());
  auto [order, account] = *loaded;
  if (order.status != "processing") return Json{{"skipped", true}};
  // CAA recheck (network) outside any transaction.
  core::Error failure;
  bool failed = false;
  std::vector<core::Error> subs;
  for (const auto& id : order.identifiers) {
    if (id.type != "dns") continue;
    const bool wildcard = id.value.rfind("*.", 0) == 0;
    CaaQuery q{wildcard ? id.value.substr(2) : id.value, wildcard, AccountUrl(account.public_id),
               "", config_.caa_identities};
    auto st = dns_.CheckCaa(q);
    if (!st) {
      core::Error e = st.error();
      e.identifier = id;
      subs.push_back(std::move(e));
    }
  }
  if (!subs.empty()) {
    failed = true;
    failure = subs.size() == 1 ? subs[0] : core::Error(ErrorCode::kAcmeCaa, "CAA forbids issuance");
    if (subs.size() > 1) failure.subproblems = subs;
  }
  HP_TRY(sa_.Write([&](SaTx& tx) -> Status {
    HP_ASSIGN_OR_RETURN(auto o, Need(tx.OrderByPublicId(order_id), ErrorCode::kNotFound, "order vanished"));
    if (o.status != "processing") return core::Ok();
    if (!failed) {
      auto cert = IssueInTx(tx, o, account, csr);
      if (cert) return core::Ok();
      failure = cert.error();
      if (failure.code == ErrorCode::kInternal) {
        failure = core::Error(ErrorCode::kAcmeServerInternal, "issuance failed");
      }
    }
    o.status = "invalid";
    o.error = ErrorToJson(failure).dump();
    return tx.UpdateOrder(o);
  }));
  return Json{{"issued", !failed}};
}

Result<CertRow> Ra::GetCertificate(const AccountRow& account, const std::string& id) {
  HP_ASSIGN_OR_RETURN(auto c, sa_.ReadForRequest([&](SaTx& tx) { return tx.CertByPublicId(id); }));
  if (!c) return Fail(ErrorCode::kNotFound, "no such certificate");
  if (c->account_id != account.id) {
    return Fail(ErrorCode::kAcmeUnauthorized, "this certificate belongs to another account");
  }
  return *c;
}

Status Ra::Revoke(const AccountRow* account, const Jwk* key, const Json& payload) {
  if (!payload.is_object() || !payload.contains("certificate") ||
      !payload["certificate"].is_string()) {
    return Fail(ErrorCode::kAcmeMalformed, "certificate (base64url DER) is required");
  }
  auto der = core::Base64UrlDecodeToString(payload["certificate"].get<std::string>());
  if (!der) return Fail(ErrorCode::kAcmeMalformed, "certificate is not base64url");
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der->data());
  core::ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der->size())));
  if (!cert) return Fail(ErrorCode::kAcmeMalformed, "certificate is not DER X.509");
  int reason = 0;
  if (payload.contains("reason")) {
    if (!payload["reason"].is_number_integer()) {
      return Fail(ErrorCode::kAcmeBadRevocationReason, "reason must be an integer");
    }
    reason = payload["reason"].get<int>();
  }
  // BR 7.2.2: unspecified (0), keyCompromise (1), affiliationChanged (3), superseded (4),
  // cessationOfOperation (5); privilegeWithdrawn is the CA's own.
  if (reason != 0 && reason != 1 && reason != 3 && reason != 4 && reason != 5) {
    return Fail(ErrorCode::kAcmeBadRevocationReason,
                "reason " + std::to_string(reason) + " is not allowed (use 0, 1, 3, 4 or 5)");
  }
  core::ossl::BigNum sn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  char* hex = BN_bn2hex(sn.get());
  std::string serial(hex);
  OPENSSL_free(hex);
  for (auto& c : serial) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (key) {
    if (reason != 0 && reason != 1) {
      return Fail(ErrorCode::kAcmeBadRevocationReason,
                  "revocation signed with the certificate key must use keyCompromise (1)");
    }
    reason = 1;
  }
  return sa_.Write([&](SaTx& tx) -> Status {
    HP_ASSIGN_OR_RETURN(auto c, Need(tx.CertBySerial(serial), ErrorCode::kNotFound,
                                     "certificate was not issued by this CA"));
    if (c.der != *der) return Fail(ErrorCode::kNotFound, "certificate was not issued by this CA");
    if (key) {
      HP_ASSIGN_OR_RETURN(std::string spki, SpkiSha256Hex(key->pkey()));
      if (spki != c.spki_hash) {
        return Fail(ErrorCode::kAcmeUnauthorized, "the request is not signed by the certificate key");
      }
      HP_TRY(tx.BlockKey(c.spki_hash, "keyCompromise revocation of " + serial));
    } else if (account->id != c.account_id) {
      HP_ASSIGN_OR_RETURN(bool authorized, tx.HasValidAuthzFor(account->id, c.names));
      if (!authorized) {
        return Fail(ErrorCode::kAcmeUnauthorized,
                    "the account neither owns the certificate nor holds valid authorizations "
                    "for all its names");
      }
    }
    HP_TRY(tx.Revoke(c.id, reason));
    return tx.MarkCrlDirty(c.issuer_id);
  });
}

Result<RenewalInfo> Ra::GetRenewalInfo(const std::string& ari_id) {
  HP_ASSIGN_OR_RETURN(auto c, sa_.Read([&](SaTx& tx) { return tx.CertByAriId(ari_id); }));
  if (!c) return Fail(ErrorCode::kNotFound, "no certificate with this ARI id");
  RenewalInfo info;
  const auto now = sa_.clock().Now();
  if (c->revoked_at.time_since_epoch().count() != 0) {
    info.start = now - std::chrono::hours(1);
    info.end = now;
    return info;
  }
  const auto life = c->not_after - c->not_before;
  info.start = c->not_before + life * 2 / 3;
  info.end = info.start + life / 6;
  return info;
}

Result<std::string> Ra::GetCrl(const std::string& issuer_id) {
  HP_TRY(ca_.issuer(issuer_id));
  HP_ASSIGN_OR_RETURN(auto row, sa_.Read([&](SaTx& tx) { return tx.Crl(issuer_id); }));
  const auto now = sa_.clock().Now();
  if (row && row->dirty_since == 0 && row->this_update > now - std::chrono::hours(24)) {
    return row->der;
  }
  return SignCrl(issuer_id, row);
}

Result<std::string> Ra::SignCrl(const std::string& issuer_id, const std::optional<CrlRow>& row) {
  const auto now = sa_.clock().Now();
  HP_ASSIGN_OR_RETURN(auto revoked, sa_.Read([&](SaTx& tx) { return tx.RevokedOf(issuer_id); }));
  std::vector<RevokedEntry> entries;
  for (const auto& [serial, info] : revoked) entries.push_back({serial, info.first, info.second});
  const int64_t number = row ? row->number + 1 : 1;
  HP_ASSIGN_OR_RETURN(std::string der,
                      ca_.SignCrl(issuer_id, number, entries, config_.crl_validity));
  const int64_t seen_dirty = row ? row->dirty_since : 0;
  HP_TRY(sa_.Write([&](SaTx& tx) -> Status {
    HP_ASSIGN_OR_RETURN(auto cur, tx.Crl(issuer_id));
    if (cur && cur->number >= number) return core::Ok();  // someone else was faster
    CrlRow r{issuer_id, number, der, now, now + config_.crl_validity, 0};
    // A revocation that arrived while we signed keeps the CRL dirty.
    if (cur && cur->dirty_since != seen_dirty) r.dirty_since = cur->dirty_since;
    return tx.PutCrl(r);
  }));
  return der;
}

Result<Json> Ra::RefreshCrls() {
  const auto now = sa_.clock().Now();
  Json reissued = Json::array();
  for (const auto& issuer : ca_.issuers()) {
    HP_ASSIGN_OR_RETURN(auto row, sa_.Read([&](SaTx& tx) { return tx.Crl(issuer.id); }));
    if (row && row->dirty_since == 0 && row->this_update > now - config_.crl_max_age) continue;
    HP_TRY(SignCrl(issuer.id, row));
    reissued.push_back(issuer.id);
  }
  if (!reissued.empty()) core::log::Info("acme CRLs re-issued", {{"issuers", reissued}});
  return Json{{"reissued", reissued}};
}

Status Ra::ScheduleCrlJob(core::TimePoint after, bool this_slot) {
  const int64_t every = std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(config_.crl_check_every).count());
  int64_t slot = core::ToUnixSeconds(after) / every * every;
  if (!this_slot) slot += every;
  core::EnqueueOptions opts;
  opts.idempotency_key = "slot-" + std::to_string(slot);
  opts.run_at = core::FromUnixSeconds(slot);
  HP_TRY(jobs_.Enqueue(kCrlJob, Json{{"slot", slot}}, opts));
  if (workers_) workers_->Notify();
  return core::Ok();
}

Result<EabCredentials> Ra::CreateEabKey(const std::string& owner,
                                        std::optional<core::TimePoint> expires_at) {
  EabKeyRow row;
  if (expires_at) row.expires_at_us = core::ToUnixMicros(*expires_at);
  row.kid = core::NewPublicId();
  auto bytes = core::RandomBytes(32);
  row.hmac_key.assign(bytes.begin(), bytes.end());
  row.owner = owner;
  HP_TRY(sa_.Write([&](SaTx& tx) { return tx.InsertEabKey(row); }));
  return EabCredentials{row.kid, core::Base64UrlEncode(row.hmac_key)};
}

Result<std::vector<EabKeyInfo>> Ra::EabKeysOf(const std::string& owner) {
  return sa_.Read([&](SaTx& tx) { return tx.EabKeysOf(owner); });
}

Result<std::vector<EabCertificate>> Ra::CertificatesOfEabOwner(const std::string& owner,
                                                              int64_t after, int limit) {
  return sa_.Read([&](SaTx& tx) { return tx.CertificatesOfEabOwner(owner, after, limit); });
}

Result<std::vector<EabCertificate>> Ra::EabCertificatesSince(const std::string& owner_prefix,
                                                            int64_t after, int limit) {
  return sa_.Read([&](SaTx& tx) { return tx.EabCertificatesSince(owner_prefix, after, limit); });
}

}  // namespace hp::acme
