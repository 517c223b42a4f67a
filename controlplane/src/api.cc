#include "api.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "hp/core/encoding.h"
#include "hp/core/log.h"
#include "hp/core/openssl.h"
#include "hp/core/random.h"
#include "hp/core/secret.h"
#include "rbac.h"

namespace hp::cp {

using core::ErrorCode;
using core::http::Request;
using core::http::Response;

std::string Principal::ActorType() const {
  if (kind == Kind::kAnonymous) return "anonymous";
  if (kind == Kind::kToken) return "token";
  return user.is_staff ? "staff" : "user";
}
std::string Principal::ActorId() const {
  if (kind == Kind::kToken && token) return token->id;
  if (kind == Kind::kSession) return user.id;
  return "";
}
std::string Principal::Key() const {
  if (kind == Kind::kToken && token) return "token:" + token->id;
  if (kind == Kind::kSession) return "user:" + user.id;
  return "";
}

core::AuditEvent ApiContext::Event(const std::string& action, const std::string& target, const std::string& result) const {
  core::AuditEvent e;
  e.actor_type = who.ActorType();
  e.actor_id = who.ActorId();
  if (who.kind == Principal::Kind::kToken) e.detail["user"] = who.user.id;
  e.organization_id = org ? org->id : "";
  e.partner_id = org ? org->partner_id : "";
  e.action = action;
  e.target = target;
  e.source_ip = http.remote_ip;
  e.result = result;
  e.request_id = http.request_id;
  // A partner operator: the actor type says so (route code often replaces `detail`); the
  // organization's partner is in partner_id.
  if (!via_partner.empty()) {
    e.actor_type = "partner_operator";
    e.detail["via_partner"] = via_partner;
  }
  return e;
}

CpuPool::CpuPool(int threads) {
  for (int i = 0; i < threads; ++i)
    threads_.emplace_back([this] {
      while (true) {
        std::function<void()> task;
        {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
          if (stop_ && queue_.empty()) return;
          task = std::move(queue_.front());
          queue_.pop_front();
        }
        task();
      }
    });
}
CpuPool::~CpuPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}
void CpuPool::Submit(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
}

std::string Sha256Hex(std::string_view s) { return core::HexEncode(core::AsBytes(core::ossl::Sha256(s))); }
std::string RandomToken(size_t bytes) { return core::Base64UrlEncode(core::RandomBytes(bytes)); }
std::string Iso(int64_t micros) { return micros ? core::FormatRfc3339(core::FromUnixMicros(micros)) : ""; }

namespace {

struct Cidr {
  int family = 0;
  unsigned char addr[16] = {};
  int bits = 0;
};

std::optional<Cidr> ParseCidr(const std::string& text) {
  Cidr c;
  std::string addr = text;
  int bits = -1;
  auto slash = text.find('/');
  if (slash != std::string::npos) {
    addr = text.substr(0, slash);
    std::string b = text.substr(slash + 1);
    if (b.empty() || b.size() > 3 || !std::all_of(b.begin(), b.end(), ::isdigit)) return std::nullopt;
    bits = std::stoi(b);
  }
  if (inet_pton(AF_INET, addr.c_str(), c.addr) == 1) {
    c.family = AF_INET;
    c.bits = bits < 0 ? 32 : bits;
    if (c.bits > 32) return std::nullopt;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.addr) == 1) {
    c.family = AF_INET6;
    c.bits = bits < 0 ? 128 : bits;
    if (c.bits > 128) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return c;
}

bool Matches(const Cidr& net, const Cidr& ip) {
  if (net.family != ip.family) return false;
  int full = net.bits / 8, rest = net.bits % 8;
  if (std::memcmp(net.addr, ip.addr, static_cast<size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (net.addr[full] & mask) == (ip.addr[full] & mask);
}

std::string CookieValue(const std::string& header, const std::string& name) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string part = header.substr(pos, end - pos);
    while (!part.empty() && part.front() == ' ') part.erase(0, 1);
    if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
    pos = end + 1;
  }
  return "";
}

bool Unsafe(const std::string& method) { return method != "GET" && method != "HEAD" && method != "OPTIONS"; }

core::Error Unauth(const std::string& detail) { return core::Error(ErrorCode::kUnauthenticated, detail); }

}  // namespace

bool IpInAllowlist(const std::string& ip, const std::vector<std::string>& cidrs) {
  if (cidrs.empty()) return true;
  std::string plain = ip;
  if (plain.rfind("::ffff:", 0) == 0 && plain.find('.') != std::string::npos) plain = plain.substr(7);
  auto addr = ParseCidr(plain);
  if (!addr) return false;
  for (const auto& c : cidrs) {
    auto net = ParseCidr(c);
    if (net && Matches(*net, *addr)) return true;
  }
  return false;
}

core::Result<std::vector<std::string>> ParseAllowlist(const core::Json& v, const std::string& field) {
  if (!v.is_array()) return core::FailField(ErrorCode::kInvalidArgument, field, "must be an array of IP addresses or CIDR ranges");
  if (v.size() > 100) return core::FailField(ErrorCode::kInvalidArgument, field, "at most 100 entries");
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string() || !ParseCidr(v[i].get<std::string>()))
      return core::FailField(ErrorCode::kInvalidArgument, field + "[" + std::to_string(i) + "]",
                             "is not an IP address or CIDR range (e.g. 203.0.113.0/24, 2001:db8::/32)");
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

core::Result<Page> ParsePage(const Request& req) {
  Page p;
  if (auto l = req.QueryParam("limit")) {
    try {
      size_t pos = 0;
      p.limit = std::stoi(*l, &pos);
      if (pos != l->size()) throw std::invalid_argument("x");
    } catch (...) {
      return core::FailField(ErrorCode::kInvalidArgument, "limit", "must be a number from 1 to 200");
    }
    if (p.limit < 1 || p.limit > 200) return core::FailField(ErrorCode::kInvalidArgument, "limit", "must be a number from 1 to 200");
  }
  if (auto c = req.QueryParam("cursor"); c && !c->empty()) {
    auto raw = core::Base64UrlDecodeToString(*c);
    if (!raw || raw->rfind("r:", 0) != 0) return core::FailField(ErrorCode::kInvalidArgument, "cursor", "is not a cursor this API returned");
    try {
      p.after = std::stoll(raw->substr(2));
    } catch (...) {
      return core::FailField(ErrorCode::kInvalidArgument, "cursor", "is not a cursor this API returned");
    }
  }
  return p;
}

Response PageResponse(const Request& req, core::Json items, size_t count, int limit, int64_t last) {
  core::Json body = {{"items", std::move(items)}, {"next_cursor", nullptr}};
  Response r;
  if (count == static_cast<size_t>(limit) && last > 0) {
    std::string cursor = core::Base64UrlEncode("r:" + std::to_string(last));
    body["next_cursor"] = cursor;
    std::string q;
    // Keep the caller's filters, replace the cursor.
    std::string_view rest = req.query;
    while (!rest.empty()) {
      size_t amp = rest.find('&');
      std::string_view part = rest.substr(0, amp);
      if (part.rfind("cursor=", 0) != 0 && !part.empty()) q += std::string(part) + "&";
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
    r = Response::Json(200, body);
    r.SetHeader("Link", "<" + req.path + "?" + q + "cursor=" + cursor + ">; rel=\"next\"");
    return r;
  }
  return Response::Json(200, body);
}

Api::Api(core::Database& db, const core::Clock& clock, core::JobQueue& jobs, core::Sealer& sealer, ChainedAuditLog& audit,
         ApiSettings settings)
    : db_(db), clock_(clock), jobs_(jobs), sealer_(sealer), audit_(audit), settings_(std::move(settings)), cpu_(2) {}

core::Status Api::QueueMail(const std::string& to, const std::string& subject, const std::string& body,
                            const std::string& organization_id) {
  std::string subj = subject, text = body, from_name = settings_.mail_from_name, from_address = settings_.mail_from_address;
  if (mail_brand_) {
    if (auto b = mail_brand_(organization_id, to)) {
      auto replace_all = [](std::string& s, const std::string& from, const std::string& to_str) {
        if (from.empty()) return;
        for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to_str.size()))
          s.replace(pos, from.size(), to_str);
      };
      for (std::string* s : {&subj, &text}) {
        if (!b->base_url.empty()) replace_all(*s, settings_.public_url, b->base_url);
        if (!b->brand_name.empty()) replace_all(*s, "hostplane", b->brand_name);
      }
      if (!b->from_name.empty()) from_name = b->from_name;
      if (!b->from_address.empty()) from_address = b->from_address;
    }
  }
  HP_ASSIGN_OR_RETURN(std::string sealed, sealer_.Seal(text, "mail.send"));
  core::Json payload = {{"to", to}, {"subject", subj}, {"body_sealed", sealed},
                        {"from_name", from_name}, {"from_address", from_address}};
  auto r = jobs_.Enqueue("mail.send", payload, {.max_attempts = 10});
  if (!r) return std::unexpected(r.error());
  return core::Ok();
}

void Api::AuditAlone(const core::AuditEvent& e) {
  auto st = db_.Write([&](SQLite::Database& tx) { return audit_.Append(tx, e); });
  if (!st) core::log::Error("audit append failed", {{"action", e.action}, {"error", st.error().ToString()}});
}

bool Api::RateLimit(const std::string& key, int* retry_after) {
  const double per_us = settings_.rate_limit_per_minute / 60e6;
  const double burst = std::max(10.0, settings_.rate_limit_per_minute / 4.0);
  const int64_t now = Now();
  std::lock_guard lock(rl_mu_);
  if (buckets_.size() > 100000) buckets_.clear();  // bounded memory under abuse
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst, now});
  Bucket& b = it->second;
  if (!fresh) {
    b.tokens = std::min(burst, b.tokens + static_cast<double>(now - b.at) * per_us);
    b.at = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return true;
  }
  *retry_after = std::max(1, static_cast<int>((1.0 - b.tokens) / per_us / 1e6 + 0.999));
  return false;
}

core::Result<Principal> Api::Authenticate(const Request& req, const std::string& org_id, OrgAccess* access) {
  auto lookup_org = [&](SQLite::Database& c, int64_t user_row) -> core::Status {
    if (org_id.empty() || !access) return core::Ok();
    access->looked_up = true;
    auto org = store::GetOrganization(c, org_id);
    if (!org) return core::Ok();  // not found: decided by the caller (404)
    HP_ASSIGN_OR_RETURN(access->role, store::RoleOf(c, org->row, user_row));
    if (!access->role && partner_access_) {
      if (auto pa = partner_access_(c, *org, user_row)) {
        access->role = pa->role;
        access->via_partner = pa->partner_id;
      }
    }
    access->org = std::move(*org);
    return core::Ok();
  };
  Principal p;
  const std::string auth = req.Header("authorization");
  const int64_t now = Now();
  if (!auth.empty()) {
    if (auth.rfind("Bearer ", 0) != 0) return core::Fail(Unauth("Authorization must be 'Bearer <token>'"));
    std::string tok = auth.substr(7);
    // hp_<22-char id>_<secret>
    if (tok.size() < 30 || tok.rfind("hp_", 0) != 0 || tok[25] != '_') return core::Fail(Unauth("malformed API token"));
    std::string id = tok.substr(3, 22), secret = tok.substr(26);
    HP_ASSIGN_OR_RETURN(auto found, db_.Read([&](SQLite::Database& c) -> core::Result<std::optional<std::pair<store::Token, store::User>>> {
      HP_ASSIGN_OR_RETURN(auto t, store::FindToken(c, id));
      if (!t) return std::optional<std::pair<store::Token, store::User>>();
      HP_ASSIGN_OR_RETURN(auto u, store::GetUserByRow(c, t->user_row));
      HP_TRY(lookup_org(c, u.row));
      return std::optional<std::pair<store::Token, store::User>>(std::make_pair(*t, u));
    }));
    if (!found || !core::ConstantTimeEquals(Sha256Hex(secret), found->first.secret_hash))
      return core::Fail(Unauth("invalid API token"));
    const auto& t = found->first;
    if (t.revoked_at) return core::Fail(Unauth("this API token was revoked"));
    if (t.expires_at && t.expires_at <= now) return core::Fail(Unauth("this API token expired at " + Iso(t.expires_at)));
    if (!IpInAllowlist(req.remote_ip, t.ip_allowlist))
      return core::Fail(core::Error(ErrorCode::kPermissionDenied, "this API token may not be used from " + req.remote_ip));
    if (now - t.last_used_at > 60LL * 1000000) {
      (void)db_.Write([&](SQLite::Database& tx) { return store::TouchToken(tx, t.row, now); });
    }
    p.kind = Principal::Kind::kToken;
    p.token = t;
    p.user = found->second;
    return p;
  }
  const std::string cookie = CookieValue(req.Header("cookie"), "hp_session");
  if (cookie.empty()) return p;
  HP_ASSIGN_OR_RETURN(auto found, db_.Read([&](SQLite::Database& c) -> core::Result<std::optional<std::pair<store::Session, store::User>>> {
    HP_ASSIGN_OR_RETURN(auto s, store::FindSession(c, Sha256Hex(cookie)));
    if (!s) return std::optional<std::pair<store::Session, store::User>>();
    HP_ASSIGN_OR_RETURN(auto u, store::GetUserByRow(c, s->user_row));
    HP_TRY(lookup_org(c, u.row));
    return std::optional<std::pair<store::Session, store::User>>(std::make_pair(*s, u));
  }));
  if (!found) return core::Fail(Unauth("unknown session; sign in again"));
  const auto& s = found->first;
  if (s.revoked_at) return core::Fail(Unauth("this session was signed out; sign in again"));
  if (s.expires_at <= now || now - s.last_seen_at > settings_.session_idle_us)
    return core::Fail(Unauth("your session expired; sign in again"));
  if (Unsafe(req.method)) {
    const std::string csrf = req.Header("x-csrf-token");
    if (csrf.empty())
      return core::Fail(core::Error(ErrorCode::kPermissionDenied, "missing CSRF token: send the X-CSRF-Token header given at sign-in").WithField("X-CSRF-Token"));
    if (!core::ConstantTimeEquals(Sha256Hex(csrf), s.csrf_hash))
      return core::Fail(core::Error(ErrorCode::kPermissionDenied, "CSRF token does not match this session").WithField("X-CSRF-Token"));
  }
  if (now - s.last_seen_at > 60LL * 1000000) {
    (void)db_.Write([&](SQLite::Database& tx) { return store::TouchSession(tx, s.row, now); });
  }
  p.kind = Principal::Kind::kSession;
  p.session = s;
  p.user = found->second;
  return p;
}

void Api::Register(core::http::Router& router, core::http::RouteInfo info, ApiHandler handler, bool cpu_heavy,
                   bool allowed_while_suspended) {
  const std::string perm = info.permission;
  if (perm.empty() || !(perm == kPublic || perm == kAuthenticated || perm == kStaff || IsPermission(perm))) {
    std::fprintf(stderr, "fatal: route %s %s declares no valid permission ('%s')\n", info.method.c_str(), info.pattern.c_str(), perm.c_str());
    std::abort();
  }
  if (info.tag.empty()) info.tag = "api";
  core::http::RouteInfo copy = info;
  const bool susp = allowed_while_suspended;
  router.Add(std::move(info), [this, copy, handler, cpu_heavy, susp](Request&& req, core::http::Reply reply) {
    if (cpu_heavy) {
      auto shared = std::make_shared<Request>(std::move(req));
      cpu_.Submit([this, copy, handler, susp, shared, reply] { Handle(copy, handler, susp, std::move(*shared), reply); });
    } else {
      Handle(copy, handler, susp, std::move(req), reply);
    }
  });
}

void Api::Handle(const core::http::RouteInfo& info, const ApiHandler& handler, bool allowed_while_suspended, Request&& req,
                 core::http::Reply reply) {
  auto r = Run(info, handler, allowed_while_suspended, req);
  Response resp = r ? std::move(*r) : Response::FromError(r.error());
  if (!r && r.error().code == ErrorCode::kUnauthenticated) resp.SetHeader("WWW-Authenticate", "Bearer realm=\"hostplane\"");
  if (!r && r.error().code == ErrorCode::kInternal) core::log::Error("api internal error", {{"path", req.path}, {"error", r.error().detail}});
  resp.SetHeader("Cache-Control", "no-store");
  reply(std::move(resp));
}

core::Result<Response> Api::Run(const core::http::RouteInfo& info, const ApiHandler& handler, bool allowed_while_suspended,
                                const Request& req) {
  const auto org_param = req.params.find("org");
  OrgAccess pre;
  HP_ASSIGN_OR_RETURN(Principal who, Authenticate(req, org_param == req.params.end() ? "" : org_param->second, &pre));
  int retry = 0;
  const std::string rl_key = who.kind == Principal::Kind::kAnonymous ? "ip:" + req.remote_ip : who.Key();
  if (!RateLimit(rl_key, &retry))
    return core::Fail(core::Error(ErrorCode::kRateLimited, "too many requests; retry after " + std::to_string(retry) + " s").WithRetryAfter(retry));

  ApiContext ctx{req, std::move(who), std::nullopt, "", core::Json::object()};
  const std::string& perm = info.permission;
  auto deny = [&](core::Error e) -> core::Result<Response> {
    if (Unsafe(req.method)) {
      auto ev = ctx.Event(info.method + " " + info.pattern, req.path, "denied");
      ev.detail["reason"] = e.detail;
      AuditAlone(ev);
    }
    return core::Fail(std::move(e));
  };
  if (perm != kPublic) {
    if (ctx.who.kind == Principal::Kind::kAnonymous) return core::Fail(Unauth("sign in or send an API token (Authorization: Bearer hp_...)"));
    if (perm == kStaff && !ctx.who.user.is_staff) return deny(core::Error(ErrorCode::kPermissionDenied, "this route is for platform staff only"));
    if (perm == kAuthenticated && ctx.who.kind == Principal::Kind::kToken && info.pattern.find("{org}") == std::string::npos &&
        info.pattern.rfind("/api/v1/me", 0) == 0 && Unsafe(req.method))
      return deny(core::Error(ErrorCode::kPermissionDenied, "account settings can only be changed from a signed-in session"));
  }
  if (auto it = req.params.find("org"); it != req.params.end()) {
    const std::string org_id = it->second;
    core::Result<std::pair<store::Organization, std::string>> access =
        core::Fail(ErrorCode::kNotFound, "organization " + org_id + " not found");
    if (pre.looked_up) {
      if (pre.org && pre.role) access = std::make_pair(*pre.org, *pre.role);
      ctx.via_partner = pre.via_partner;
    } else {
      access = db_.Read([&](SQLite::Database& c) -> core::Result<std::pair<store::Organization, std::string>> {
        auto org = store::GetOrganization(c, org_id);
        if (!org) return std::unexpected(org.error());
        HP_ASSIGN_OR_RETURN(auto role, store::RoleOf(c, org->row, ctx.who.user.row));
        if (!role && partner_access_) {
          if (auto pa = partner_access_(c, *org, ctx.who.user.row)) {
            role = pa->role;
            ctx.via_partner = pa->partner_id;
          }
        }
        if (!role) return core::Fail(ErrorCode::kNotFound, "organization " + org_id + " not found");
        return std::make_pair(*org, *role);
      });
    }
    // Partner operators act from a signed-in session, never with a token of another organization.
    if (!ctx.via_partner.empty() && ctx.who.token) access = core::Fail(ErrorCode::kNotFound, "organization " + org_id + " not found");
    // Not a member, or a token of another organization: the organization does not exist for you.
    if (!access || (ctx.who.token && ctx.who.token->org_row != access->first.row))
      return core::Fail(core::Error(ErrorCode::kNotFound, "organization " + org_id + " not found"));
    ctx.org = access->first;
    ctx.role = access->second;
    if (!IpInAllowlist(req.remote_ip, ctx.org->ip_allowlist))
      return deny(core::Error(ErrorCode::kPermissionDenied, "address " + req.remote_ip + " is not in this organization's IP allow-list"));
    if (ctx.org->status != "active" && Unsafe(req.method) && !(allowed_while_suspended && ctx.org->status == "suspended"))
      return deny(core::Error(ErrorCode::kPermissionDenied, "organization is " + ctx.org->status + "; contact support"));
    if (IsPermission(perm)) {
      if (!RoleHas(ctx.role, perm))
        return deny(core::Error(ErrorCode::kPermissionDenied, "your role '" + ctx.role + "' lacks permission " + perm));
      if (ctx.who.token && std::find(ctx.who.token->scopes.begin(), ctx.who.token->scopes.end(), perm) == ctx.who.token->scopes.end())
        return deny(core::Error(ErrorCode::kPermissionDenied, "this API token lacks scope " + perm));
    }
  } else if (IsPermission(perm)) {
    return core::Fail(ErrorCode::kInternal, "route " + info.pattern + " needs an {org} parameter for permission " + perm);
  }

  if ((req.method == "POST" || req.method == "PUT" || req.method == "PATCH") && !req.body.empty()) {
    std::string ct = req.Header("content-type");
    if (ct.rfind("application/json", 0) != 0)
      return core::Fail(core::Error(ErrorCode::kUnsupportedMediaType, "send the body as application/json").WithField("Content-Type"));
    HP_ASSIGN_OR_RETURN(ctx.body, core::ParseJsonObject(req.body));
  }

  // Idempotency-Key on creating POSTs: the first response is stored and replayed.
  const std::string idem = req.method == "POST" ? req.Header("idempotency-key") : "";
  const std::string principal_key = ctx.who.Key().empty() ? "ip:" + req.remote_ip : ctx.who.Key();
  const std::string req_hash = Sha256Hex(req.method + " " + req.path + "\n" + req.body);
  if (!idem.empty()) {
    if (idem.size() > 255) return core::Fail(core::Error(ErrorCode::kInvalidArgument, "at most 255 characters").WithField("Idempotency-Key"));
    HP_ASSIGN_OR_RETURN(auto stored, db_.Read([&](SQLite::Database& c) { return store::FindIdempotent(c, principal_key, idem); }));
    if (stored) {
      if (stored->request_hash != req_hash)
        return core::Fail(core::Error(ErrorCode::kConflict, "this Idempotency-Key was used for a different request").WithField("Idempotency-Key"));
      Response r(stored->status, "application/json", stored->body);
      if (stored->headers.is_object())
        for (auto it = stored->headers.begin(); it != stored->headers.end(); ++it) r.SetHeader(it.key(), it.value().get<std::string>());
      r.SetHeader("Idempotent-Replayed", "true");
      return r;
    }
  }
  HP_ASSIGN_OR_RETURN(Response resp, handler(ctx));
  if (!idem.empty() && resp.status < 500) {
    core::Json hs = core::Json::object();
    for (const auto& [k, v] : resp.headers)
      if (k == "Location" || k == "ETag") hs[k] = v;
    (void)db_.Write([&](SQLite::Database& tx) {
      return store::SaveIdempotent(tx, principal_key, idem, {req_hash, resp.status, resp.body, hs}, Now());
    });
  }
  return resp;
}

}  // namespace hp::cp
