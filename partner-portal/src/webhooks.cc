#include "hp/partner/webhooks.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include "hp/core/encoding.h"
#include "hp/core/log.h"
#include "hp/core/openssl.h"
#include "hp/core/random.h"
#include "hp/partner/branding.h"

namespace hp::partner {

using core::ErrorCode;
using core::Json;

namespace {

std::string OwnerName(OwnerType t) { return t == OwnerType::kPartner ? "partner" : "organization"; }
int64_t Micros(core::TimePoint t) { return core::ToUnixMicros(t); }
std::string SealContext(const std::string& sub_id) { return "webhook-subscription:" + sub_id; }
std::string Hex(std::string_view raw) { return core::HexEncode(core::AsBytes(raw)); }

bool IsLooseHttpUrl(std::string_view s) {
  if (s.size() > 2000 || s.rfind("http://", 0) != 0 || s.size() <= 7) return false;
  for (unsigned char c : s)
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' ||
        c == '`')
      return false;
  return s.substr(7).find('@') == std::string_view::npos;
}

// ---- Receiver address checks (SSRF) --------------------------------------------------------

struct Target {
  std::string host;  // without brackets
  std::string port;
};

std::optional<Target> ParseTarget(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::nullopt;
  std::string_view rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  Target t;
  t.port = url.rfind("https", 0) == 0 ? "443" : "80";
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    t.host = std::string(rest.substr(1, close - 1));
    if (close + 1 < rest.size() && rest[close + 1] == ':')
      t.port = std::string(rest.substr(close + 2));
  } else {
    size_t colon = rest.rfind(':');
    t.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) t.port = std::string(rest.substr(colon + 1));
  }
  if (t.host.empty() || t.port.empty()) return std::nullopt;
  return t;
}

// An address as 16 bytes (IPv4 as ::ffff:a.b.c.d) and whether it was IPv4.
bool ToBytes(const std::string& ip, std::array<uint8_t, 16>* out) {
  in_addr v4{};
  in6_addr v6{};
  out->fill(0);
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    (*out)[10] = (*out)[11] = 0xff;
    std::memcpy(out->data() + 12, &v4, 4);
    return true;
  }
  if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    std::memcpy(out->data(), &v6, 16);
    return true;
  }
  return false;
}

bool InCidr(const std::array<uint8_t, 16>& a, const std::string& cidr) {
  size_t slash = cidr.find('/');
  std::string net = cidr.substr(0, slash);
  std::array<uint8_t, 16> n{};
  if (!ToBytes(net, &n)) return false;
  const bool v4 = net.find(':') == std::string::npos;
  int bits = slash == std::string::npos ? (v4 ? 32 : 128) : std::atoi(cidr.c_str() + slash + 1);
  if (v4) bits += 96;
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (n[i] & mask)) return false;
  }
  return true;
}

// Loopback, private, shared, link-local, unspecified, multicast and other non-public ranges.
const std::vector<std::string>& ForbiddenRanges() {
  static const std::vector<std::string> r = {
      "0.0.0.0/8",      "10.0.0.0/8",    "100.64.0.0/10", "127.0.0.0/8",
      "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",  "192.168.0.0/16",
      "198.18.0.0/15",  "224.0.0.0/3",   "::/128",        "::1/128",
      "fc00::/7",       "fe80::/10",     "ff00::/8",      "64:ff9b::/96"};
  return r;
}

}  // namespace

core::Result<std::string> CheckWebhookAddress(const std::string& ip,
                                              const std::vector<std::string>& allowed) {
  std::array<uint8_t, 16> a{};
  if (!ToBytes(ip, &a)) return core::Fail(ErrorCode::kInvalidArgument, "not an address: " + ip);
  for (const auto& c : allowed)
    if (InCidr(a, c)) return ip;
  for (const auto& c : ForbiddenRanges())
    if (InCidr(a, c))
      return core::Fail(ErrorCode::kInvalidArgument,
                        "the receiver's address " + ip + " is private, loopback or link-local");
  return ip;
}

namespace {

// Resolves the URL's host and checks every address; returns "ip:port" to connect to (pinned, so
// a second DNS answer cannot point the request elsewhere). kNotFound when the name does not
// resolve, kInvalidArgument when an address is not allowed.
core::Result<std::string> ResolveReceiver(const std::string& url,
                                          const std::vector<std::string>& allowed) {
  auto t = ParseTarget(url);
  if (!t) return core::Fail(ErrorCode::kInvalidArgument, "cannot parse the URL's host");
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(t->host.c_str(), t->port.c_str(), &hints, &res); rc != 0)
    return core::Fail(ErrorCode::kNotFound, "cannot resolve " + t->host + ": " + gai_strerror(rc));
  std::vector<std::string> ips;
  for (addrinfo* p = res; p; p = p->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {0};
    const void* src =
        p->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(p->ai_addr)->sin6_addr);
    if (inet_ntop(p->ai_family, src, buf, sizeof buf)) ips.emplace_back(buf);
  }
  freeaddrinfo(res);
  if (ips.empty()) return core::Fail(ErrorCode::kNotFound, "no address for " + t->host);
  for (const auto& ip : ips)
    if (auto c = CheckWebhookAddress(ip, allowed); !c) return std::unexpected(c.error());
  const std::string& ip = ips.front();
  return (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" + t->port;
}

std::vector<std::string> Events(const std::string& json) {
  auto j = core::ParseJson(json);
  std::vector<std::string> out;
  if (j && j->is_array())
    for (const auto& e : *j)
      if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

struct DeliveryRow {
  int64_t row = 0;
  Delivery d;
  Owner owner;
  std::string url, secret_sealed, body;
  bool subscription_deleted = false;
};

constexpr const char* kDeliverySelect =
    "SELECT d.id, d.public_id, e.public_id, e.type, s.public_id, d.state, d.attempts, "
    "d.next_attempt_at, "
    "d.last_status, d.last_error, d.created_at, s.owner_type, s.owner_id, s.url, s.secret_sealed, "
    "e.body, "
    "s.deleted_at FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id "
    "JOIN webhook_subscriptions s ON s.id = d.subscription_id";

DeliveryRow ReadDelivery(SQLite::Statement& q) {
  DeliveryRow r;
  r.row = q.getColumn(0).getInt64();
  r.d.id = q.getColumn(1).getString();
  r.d.event_id = q.getColumn(2).getString();
  r.d.event_type = q.getColumn(3).getString();
  r.d.subscription_id = q.getColumn(4).getString();
  r.d.state = q.getColumn(5).getString();
  r.d.attempts = q.getColumn(6).getInt();
  if (int64_t n = q.getColumn(7).getInt64()) r.d.next_attempt_at = core::FromUnixMicros(n);
  r.d.last_status = q.getColumn(8).getInt();
  r.d.last_error = q.getColumn(9).getString();
  r.d.created_at = core::FromUnixMicros(q.getColumn(10).getInt64());
  r.owner.type =
      q.getColumn(11).getString() == "partner" ? OwnerType::kPartner : OwnerType::kOrganization;
  r.owner.id = q.getColumn(12).getString();
  r.url = q.getColumn(13).getString();
  r.secret_sealed = q.getColumn(14).getString();
  r.body = q.getColumn(15).getString();
  r.subscription_deleted = q.getColumn(16).getInt64() != 0;
  return r;
}

core::Result<std::optional<DeliveryRow>> FindDelivery(SQLite::Database& tx, const std::string& id) {
  SQLite::Statement q(tx, std::string(kDeliverySelect) + " WHERE d.public_id = ?");
  q.bind(1, id);
  if (!q.executeStep()) return std::nullopt;
  return ReadDelivery(q);
}

bool Owns(const Owner& a, const Owner& b) { return a.type == b.type && a.id == b.id; }

}  // namespace

const std::vector<std::string>& WebhookEventTypes() {
  static const std::vector<std::string> kTypes = {
      "service.provisioned", "service.failed", "certificate.issued", "certificate.expiring",
      "certificate.failed",  "invoice.issued", "invoice.paid",       "organization.suspended"};
  return kTypes;
}

bool IsWebhookEventType(std::string_view type) {
  const auto& t = WebhookEventTypes();
  return std::find(t.begin(), t.end(), type) != t.end();
}

std::string SignWebhook(std::string_view secret, int64_t unix_seconds, std::string_view body) {
  const std::string ts = std::to_string(unix_seconds);
  return "t=" + ts + ",v1=" + Hex(core::ossl::HmacSha256(secret, ts + "." + std::string(body)));
}

core::Status VerifyWebhookSignature(std::string_view header, std::string_view secret,
                                    std::string_view body, core::TimePoint now,
                                    core::Duration tolerance) {
  std::string t;
  std::vector<std::string> v1;
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    std::string_view part =
        header.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.rfind("t=", 0) == 0) t = std::string(part.substr(2));
    if (part.rfind("v1=", 0) == 0) v1.emplace_back(part.substr(3));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  if (t.empty() || v1.empty() || t.size() > 12 || !std::all_of(t.begin(), t.end(), ::isdigit))
    return core::Fail(ErrorCode::kUnauthenticated, "malformed webhook signature header");
  const int64_t ts = std::stoll(t);
  const int64_t now_s = core::ToUnixSeconds(now);
  const int64_t tol = std::chrono::duration_cast<std::chrono::seconds>(tolerance).count();
  if (ts < now_s - tol || ts > now_s + tol)
    return core::Fail(ErrorCode::kUnauthenticated, "webhook timestamp outside tolerance");
  const std::string expected = Hex(core::ossl::HmacSha256(secret, t + "." + std::string(body)));
  for (const auto& s : v1)
    if (core::ConstantTimeEquals(expected, s)) return core::Ok();
  return core::Fail(ErrorCode::kUnauthenticated, "webhook signature does not match");
}

WebhookService::WebhookService(core::Database& db, core::Sealer& sealer, core::JobQueue& jobs,
                               core::HttpClient& http, const core::Clock& clock,
                               WebhookOptions options)
    : db_(db),
      sealer_(sealer),
      jobs_(jobs),
      http_(http),
      clock_(clock),
      options_(std::move(options)) {}

core::Result<NewSubscription> WebhookService::Subscribe(const Owner& owner, const std::string& url,
                                                        const std::vector<std::string>& events) {
  if (owner.id.empty()) return core::FailField(ErrorCode::kInvalidArgument, "owner", "is required");
  if (!IsValidHttpsUrl(url) && !(options_.allow_http && IsLooseHttpUrl(url)))
    return core::FailField(ErrorCode::kInvalidArgument, "url", "must be an https:// URL");
  // A receiver on a private network is refused now when its name resolves (and again at every
  // attempt, pinned to the checked address); a name that does not resolve yet may later.
  if (auto r = ResolveReceiver(url, options_.allowed_private_cidrs);
      !r && r.error().code == ErrorCode::kInvalidArgument)
    return core::FailField(ErrorCode::kInvalidArgument, "url", r.error().detail);
  if (events.empty())
    return core::FailField(ErrorCode::kInvalidArgument, "events", "name at least one event type");
  for (size_t i = 0; i < events.size(); ++i)
    if (!IsWebhookEventType(events[i]))
      return core::FailField(ErrorCode::kInvalidArgument, "events[" + std::to_string(i) + "]",
                             "unknown event type '" + events[i] + "'");
  NewSubscription out;
  out.subscription = {core::NewPublicId(), owner, url, events, clock_.Now()};
  out.secret = core::Secret("whsec_" + core::Base64UrlEncode(core::RandomBytes(32)));
  HP_ASSIGN_OR_RETURN(std::string sealed,
                      sealer_.Seal(out.secret.Reveal(), SealContext(out.subscription.id)));
  HP_TRY(db_.Write([&](SQLite::Database& tx) -> core::Status {
    SQLite::Statement c(tx,
                        "SELECT COUNT(*) FROM webhook_subscriptions WHERE owner_type = ? AND "
                        "owner_id = ? AND deleted_at = 0");
    c.bind(1, OwnerName(owner.type));
    c.bind(2, owner.id);
    c.executeStep();
    if (static_cast<size_t>(c.getColumn(0).getInt64()) >= options_.max_subscriptions_per_owner)
      return core::Fail(ErrorCode::kConflict,
                        "at most " + std::to_string(options_.max_subscriptions_per_owner) +
                            " webhook subscriptions; delete one first");
    SQLite::Statement q(tx,
                        "INSERT INTO webhook_subscriptions(public_id, owner_type, owner_id, url, "
                        "events, secret_sealed, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, out.subscription.id);
    q.bind(2, OwnerName(owner.type));
    q.bind(3, owner.id);
    q.bind(4, url);
    q.bind(5, Json(events).dump());
    q.bind(6, sealed);
    q.bind(7, Micros(out.subscription.created_at));
    q.exec();
    return core::Ok();
  }));
  return out;
}

core::Result<std::vector<Subscription>> WebhookService::ListSubscriptions(const Owner& owner) {
  return db_.Read([&](SQLite::Database& tx) -> core::Result<std::vector<Subscription>> {
    SQLite::Statement q(tx,
                        "SELECT public_id, url, events, created_at FROM webhook_subscriptions "
                        "WHERE owner_type = ? AND "
                        "owner_id = ? AND deleted_at = 0 ORDER BY id");
    q.bind(1, OwnerName(owner.type));
    q.bind(2, owner.id);
    std::vector<Subscription> out;
    while (q.executeStep())
      out.push_back({q.getColumn(0).getString(), owner, q.getColumn(1).getString(),
                     Events(q.getColumn(2).getString()),
                     core::FromUnixMicros(q.getColumn(3).getInt64())});
    return out;
  });
}

core::Status WebhookService::Unsubscribe(const Owner& owner, const std::string& id) {
  const int64_t now = Micros(clock_.Now());
  return db_.Write([&](SQLite::Database& tx) -> core::Status {
    SQLite::Statement q(tx,
                        "UPDATE webhook_subscriptions SET deleted_at = ? WHERE public_id = ? AND "
                        "owner_type = ? AND "
                        "owner_id = ? AND deleted_at = 0");
    q.bind(1, now);
    q.bind(2, id);
    q.bind(3, OwnerName(owner.type));
    q.bind(4, owner.id);
    if (q.exec() != 1)
      return core::Fail(ErrorCode::kNotFound, "webhook subscription " + id + " not found");
    return core::Ok();
  });
}

core::Result<std::string> WebhookService::Ping(const Owner& owner,
                                               const std::string& subscription_id) {
  const core::TimePoint now = clock_.Now();
  const std::string event_id = "evt_" + core::NewPublicId();
  Json body = {{"id", event_id},
               {"type", "webhook.ping"},
               {"created", core::FormatRfc3339(now)},
               {"data", {{"subscription_id", subscription_id}}}};
  if (owner.type == OwnerType::kOrganization) body["organization_id"] = owner.id;
  const std::string text = body.dump();
  const std::string delivery_id = core::NewPublicId();
  HP_TRY(db_.Write([&](SQLite::Database& tx) -> core::Status {
    SQLite::Statement s(tx,
                        "SELECT id FROM webhook_subscriptions WHERE public_id = ? AND "
                        "owner_type = ? AND owner_id = ? AND deleted_at = 0");
    s.bind(1, subscription_id);
    s.bind(2, OwnerName(owner.type));
    s.bind(3, owner.id);
    if (!s.executeStep())
      return core::Fail(ErrorCode::kNotFound,
                        "webhook subscription " + subscription_id + " not found");
    const int64_t sub = s.getColumn(0).getInt64();
    SQLite::Statement e(tx,
                        "INSERT INTO webhook_events(public_id, type, organization_id, "
                        "partner_id, body, created_at) VALUES (?, 'webhook.ping', ?, ?, ?, ?)");
    e.bind(1, event_id);
    e.bind(2, owner.type == OwnerType::kOrganization ? owner.id : "");
    e.bind(3, owner.type == OwnerType::kPartner ? owner.id : "");
    e.bind(4, text);
    e.bind(5, Micros(now));
    e.exec();
    SQLite::Statement d(tx,
                        "INSERT INTO webhook_deliveries(public_id, event_id, subscription_id, "
                        "state, created_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?)");
    d.bind(1, delivery_id);
    d.bind(2, tx.getLastInsertRowid());
    d.bind(3, sub);
    d.bind(4, Micros(now));
    d.bind(5, Micros(now));
    d.exec();
    return core::Ok();
  }));
  HP_TRY(EnqueueAttempt(delivery_id, 1, std::nullopt, false, ""));
  return delivery_id;
}

core::Result<std::string> WebhookService::Publish(const Event& ev) {
  if (!IsWebhookEventType(ev.type))
    return core::FailField(ErrorCode::kInvalidArgument, "type", "unknown event type " + ev.type);
  const core::TimePoint now = clock_.Now();
  // With a source, the id is a function of it (128 bits of a hash, like a random public id), so a
  // retried caller finds the event it already recorded instead of making a second one.
  const std::string event_id =
      "evt_" + (ev.source_id.empty()
                    ? core::NewPublicId()
                    : core::Base64UrlEncode(
                          core::ossl::Sha256("hp.webhook.event.source\n" + ev.source_id)
                              .substr(0, 16)));
  Json body = {{"id", event_id},
               {"type", ev.type},
               {"created", core::FormatRfc3339(now)},
               {"data", ev.data}};
  if (!ev.organization_id.empty()) body["organization_id"] = ev.organization_id;
  const std::string text = body.dump();
  HP_ASSIGN_OR_RETURN(
      std::vector<std::string> deliveries,
      db_.Write([&](SQLite::Database& tx) -> core::Result<std::vector<std::string>> {
        if (!ev.source_id.empty()) {
          SQLite::Statement x(tx, "SELECT id FROM webhook_events WHERE public_id = ?");
          x.bind(1, event_id);
          if (x.executeStep()) {
            // Already recorded: no new deliveries. Those never attempted get their first attempt
            // enqueued again, in case the first Publish stopped between commit and enqueue (the
            // job's idempotency key makes this a no-op otherwise).
            SQLite::Statement q(tx,
                                "SELECT public_id FROM webhook_deliveries WHERE event_id = ? AND "
                                "attempts = 0 ORDER BY id");
            q.bind(1, x.getColumn(0).getInt64());
            std::vector<std::string> pending;
            while (q.executeStep()) pending.push_back(q.getColumn(0).getString());
            return pending;
          }
        }
        SQLite::Statement e(tx,
                            "INSERT INTO webhook_events(public_id, type, organization_id, "
                            "partner_id, body, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?)");
        e.bind(1, event_id);
        e.bind(2, ev.type);
        e.bind(3, ev.organization_id);
        e.bind(4, ev.partner_id);
        e.bind(5, text);
        e.bind(6, Micros(now));
        e.exec();
        const int64_t event_row = tx.getLastInsertRowid();
        SQLite::Statement s(tx,
                            "SELECT id, events FROM webhook_subscriptions WHERE deleted_at = 0 AND "
                            "((owner_type = 'organization' "
                            "AND owner_id = ? AND owner_id <> '') OR (owner_type = 'partner' AND "
                            "owner_id = ? AND owner_id <> '')) "
                            "ORDER BY id");
        s.bind(1, ev.organization_id);
        s.bind(2, ev.partner_id);
        std::vector<int64_t> subs;
        while (s.executeStep()) {
          auto types = Events(s.getColumn(1).getString());
          if (std::find(types.begin(), types.end(), ev.type) != types.end())
            subs.push_back(s.getColumn(0).getInt64());
        }
        std::vector<std::string> ids;
        for (int64_t sub : subs) {
          std::string id = core::NewPublicId();
          SQLite::Statement d(tx,
                              "INSERT INTO webhook_deliveries(public_id, event_id, "
                              "subscription_id, state, created_at, updated_at) "
                              "VALUES (?, ?, ?, 'pending', ?, ?)");
          d.bind(1, id);
          d.bind(2, event_row);
          d.bind(3, sub);
          d.bind(4, Micros(now));
          d.bind(5, Micros(now));
          d.exec();
          ids.push_back(id);
        }
        return ids;
      }));
  for (const auto& id : deliveries) HP_TRY(EnqueueAttempt(id, 1, std::nullopt, false, ""));
  return event_id;
}

core::Status WebhookService::EnqueueAttempt(const std::string& delivery_id, int attempt,
                                            std::optional<core::TimePoint> run_at, bool manual,
                                            const std::string& key_suffix) {
  core::EnqueueOptions o;
  o.idempotency_key = delivery_id + ":" + std::to_string(attempt) + key_suffix;
  o.run_at = run_at;
  o.max_attempts = 5;  // job-level retries cover crashes and a busy store, not receiver failures
  auto r = jobs_.Enqueue(std::string(kWebhookJobKind),
                         {{"delivery", delivery_id}, {"attempt", attempt}, {"manual", manual}}, o);
  if (!r) return std::unexpected(r.error());
  if (pool_) pool_->Notify();
  return core::Ok();
}

core::Result<Json> WebhookService::RunDelivery(const Json& payload) {
  const std::string id = payload.value("delivery", "");
  const int attempt = payload.value("attempt", 0);
  const bool manual = payload.value("manual", false);
  HP_ASSIGN_OR_RETURN(auto found,
                      db_.Read([&](SQLite::Database& tx) { return FindDelivery(tx, id); }));
  if (!found) return core::Fail(ErrorCode::kNotFound, "webhook delivery " + id + " not found");
  DeliveryRow row = std::move(*found);
  if (attempt <= row.d.attempts) {
    // This attempt already ran (a job re-run after a crash, or a manual attempt took its number):
    // make sure the chain goes on, then stop.
    if (row.d.state == "retrying")
      HP_TRY(EnqueueAttempt(id, row.d.attempts + 1, row.d.next_attempt_at, false, ""));
    return Json{{"skipped", "attempt " + std::to_string(attempt) + " already made"}};
  }
  if (!manual && (row.d.state == "delivered" || row.d.state == "failed"))
    return Json{{"skipped", row.d.state}};
  if (row.subscription_deleted) {
    HP_TRY(db_.Write([&](SQLite::Database& tx) -> core::Status {
      SQLite::Statement q(tx,
                          "UPDATE webhook_deliveries SET state = 'failed', last_error = "
                          "'subscription deleted', updated_at = ? WHERE id = ?");
      q.bind(1, Micros(clock_.Now()));
      q.bind(2, row.row);
      q.exec();
      return core::Ok();
    }));
    return Json{{"skipped", "subscription deleted"}};
  }
  HP_ASSIGN_OR_RETURN(core::Secret secret,
                      sealer_.Open(row.secret_sealed, SealContext(row.d.subscription_id)));
  const core::TimePoint at = clock_.Now();
  auto pinned = ResolveReceiver(row.url, options_.allowed_private_cidrs);
  core::HttpClientRequest req;
  if (pinned) req.connect_to = *pinned;
  req.method = "POST";
  req.url = row.url;
  req.body = row.body;
  req.timeout_ms = options_.timeout_ms;
  req.connect_timeout_ms = std::min<long>(options_.timeout_ms, 5000);
  req.max_response_bytes = 64 * 1024;
  req.ca_file = options_.ca_file;
  req.headers = {{"Content-Type", "application/json"},
                 {"User-Agent", "webhook-delivery/1"},
                 {std::string(kWebhookIdHeader), row.d.event_id},
                 {std::string(kWebhookSignatureHeader),
                  SignWebhook(secret.Reveal(), core::ToUnixSeconds(at), row.body)}};
  const auto started = std::chrono::steady_clock::now();
  auto resp = pinned ? http_.Do(req)
                     : core::Result<core::HttpClientResponse>(std::unexpected(pinned.error()));
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - started)
                         .count();
  const int status = resp ? resp->status : 0;
  const bool ok = status >= 200 && status < 300;
  std::string error = resp ? (ok ? "" : "HTTP " + std::to_string(status)) : resp.error().detail;
  if (error.size() > 500) error.resize(500);

  // Automatic failures follow the schedule; manual attempts never start a new chain.
  std::string state = row.d.state;
  std::optional<core::TimePoint> next;
  if (ok) {
    state = "delivered";
  } else if (!manual) {
    const size_t failed = static_cast<size_t>(attempt);
    if (failed <= options_.schedule.size()) {
      state = "retrying";
      next = at + options_.schedule[failed - 1];
    } else {
      state = "failed";
    }
  } else if (state == "pending") {
    state = "failed";
  }
  const bool chain_active = !ok && !manual && next.has_value();
  HP_TRY(db_.Write([&](SQLite::Database& tx) -> core::Status {
    SQLite::Statement a(tx,
                        "INSERT OR IGNORE INTO webhook_attempts(delivery_id, number, at, "
                        "http_status, error, duration_ms, manual) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)");
    a.bind(1, row.row);
    a.bind(2, attempt);
    a.bind(3, Micros(at));
    a.bind(4, status);
    a.bind(5, error);
    a.bind(6, ms);
    a.bind(7, manual ? 1 : 0);
    a.exec();
    SQLite::Statement u(tx,
                        "UPDATE webhook_deliveries SET state = ?, attempts = MAX(attempts, ?), "
                        "next_attempt_at = CASE WHEN ? "
                        "THEN ? ELSE next_attempt_at END, last_status = ?, last_error = ?, "
                        "updated_at = ? WHERE id = ?");
    u.bind(1, state);
    u.bind(2, attempt);
    u.bind(3, (chain_active || ok) ? 1 : 0);
    u.bind(4, next ? Micros(*next) : int64_t{0});
    u.bind(5, status);
    u.bind(6, error);
    u.bind(7, Micros(at));
    u.bind(8, row.row);
    u.exec();
    return core::Ok();
  }));
  if (chain_active) HP_TRY(EnqueueAttempt(id, attempt + 1, next, false, ""));
  Json out = {{"attempt", attempt}, {"http_status", status}, {"state", state}};
  if (!error.empty()) out["error"] = error;
  if (next) out["next_attempt_at"] = core::FormatRfc3339(*next);
  return out;
}

void WebhookService::RegisterJobs(core::WorkerPool& pool) {
  pool_ = &pool;
  pool.Register(std::string(kWebhookJobKind),
                [this](core::JobContext& jc) { return RunDelivery(jc.job().payload); });
}

core::Result<std::vector<Delivery>> WebhookService::ListDeliveries(
    const Owner& owner, const std::string& subscription_id) {
  return db_.Read([&](SQLite::Database& tx) -> core::Result<std::vector<Delivery>> {
    SQLite::Statement own(tx,
                          "SELECT 1 FROM webhook_subscriptions WHERE public_id = ? AND owner_type "
                          "= ? AND owner_id = ?");
    own.bind(1, subscription_id);
    own.bind(2, OwnerName(owner.type));
    own.bind(3, owner.id);
    if (!own.executeStep())
      return core::Fail(ErrorCode::kNotFound,
                        "webhook subscription " + subscription_id + " not found");
    SQLite::Statement q(tx, std::string(kDeliverySelect) +
                                " WHERE s.public_id = ? AND s.owner_type = ? AND s.owner_id = ? "
                                "ORDER BY d.id DESC LIMIT 200");
    q.bind(1, subscription_id);
    q.bind(2, OwnerName(owner.type));
    q.bind(3, owner.id);
    std::vector<Delivery> out;
    while (q.executeStep()) out.push_back(ReadDelivery(q).d);
    return out;
  });
}

core::Result<Delivery> WebhookService::GetDelivery(const Owner& owner,
                                                   const std::string& delivery_id) {
  HP_ASSIGN_OR_RETURN(
      auto found, db_.Read([&](SQLite::Database& tx) { return FindDelivery(tx, delivery_id); }));
  if (!found || !Owns(found->owner, owner))
    return core::Fail(ErrorCode::kNotFound, "webhook delivery " + delivery_id + " not found");
  return found->d;
}

core::Result<std::vector<Attempt>> WebhookService::ListAttempts(const Owner& owner,
                                                                const std::string& delivery_id) {
  return db_.Read([&](SQLite::Database& tx) -> core::Result<std::vector<Attempt>> {
    HP_ASSIGN_OR_RETURN(auto found, FindDelivery(tx, delivery_id));
    if (!found || !Owns(found->owner, owner))
      return core::Fail(ErrorCode::kNotFound, "webhook delivery " + delivery_id + " not found");
    SQLite::Statement q(tx,
                        "SELECT number, at, http_status, error, duration_ms, manual FROM "
                        "webhook_attempts WHERE delivery_id = ? "
                        "ORDER BY number");
    q.bind(1, found->row);
    std::vector<Attempt> out;
    while (q.executeStep())
      out.push_back({q.getColumn(0).getInt(), core::FromUnixMicros(q.getColumn(1).getInt64()),
                     q.getColumn(2).getInt(), q.getColumn(3).getString(), q.getColumn(4).getInt64(),
                     q.getColumn(5).getInt() != 0});
    return out;
  });
}

core::Status WebhookService::Redeliver(const Owner& owner, const std::string& delivery_id) {
  HP_ASSIGN_OR_RETURN(Delivery d, GetDelivery(owner, delivery_id));
  return EnqueueAttempt(d.id, d.attempts + 1, std::nullopt, true, ":manual:" + core::NewPublicId());
}

}  // namespace hp::partner
