// Pistache 0.0.5 adapter. Pistache defects this code works around (see shared/LIBRARY-NOTES.md):
// headers added with addRaw() are not sent (DynamicHeader below), one header per name (callers
// join values), maxRequestSize defaults to 4 KiB (raised from options).
#include "hp/core/http_server.h"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/http_header.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "hp/core/log.h"
#include "hp/core/random.h"
#include "hp/core/secret.h"

namespace hp::core::http {
namespace {

using namespace Pistache;

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) h = (h ^ static_cast<uint8_t>(std::tolower(static_cast<unsigned char>(c)))) * 0x100000001b3ULL;
  return h;
}

// A response header with a runtime name (Pistache drops addRaw() headers).
class DynamicHeader final : public Pistache::Http::Header::Header {
 public:
  DynamicHeader(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)), hash_(Fnv1a(name_)) {}
  const char* name() const override { return name_.c_str(); }
  void write(std::ostream& os) const override { os << value_; }
  uint64_t hash() const override { return hash_; }

 private:
  std::string name_;
  std::string value_;
  uint64_t hash_;
};

bool ValidRequestId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

struct Shared {
  const Router* router;
  ServerOptions options;
  std::atomic<int> in_flight{0};
  Counter* requests_total = nullptr;
  Histogram* latency = nullptr;
  MetricsRegistry* metrics = nullptr;
};

class PistacheHandler final : public Pistache::Http::Handler {
 public:
  HTTP_PROTOTYPE(PistacheHandler)
  explicit PistacheHandler(std::shared_ptr<Shared> s) : s_(std::move(s)) {}

  void onRequest(const Pistache::Http::Request& preq, Pistache::Http::ResponseWriter writer) override {
    const auto start = std::chrono::steady_clock::now();
    s_->in_flight.fetch_add(1);
    Request req;
    req.method = Pistache::Http::methodString(preq.method());
    req.path = preq.resource();
    req.query = preq.query().as_str();
    if (!req.query.empty() && req.query[0] == '?') req.query.erase(0, 1);
    std::ostringstream os;  // one stream for every typed header: constructing one is not cheap
    for (const auto& h : preq.headers().list()) {
      os.str(std::string());
      h->write(os);
      std::string n = h->name();
      for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(std::move(n), os.str());
    }
    for (const auto& [name, raw] : preq.headers().rawList()) {
      std::string n = name;
      for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(std::move(n), raw.value());
    }
    req.body = preq.body();
    req.remote_ip = preq.address().host();
    req.scheme = "http";
    std::string host = req.Header("host");
    if (!s_->options.front_token.empty() &&
        ConstantTimeEquals(req.Header("x-hp-front"), s_->options.front_token)) {
      std::string xff = req.Header("x-forwarded-for");
      if (!xff.empty()) {
        auto comma = xff.rfind(',');
        std::string last = comma == std::string::npos ? xff : xff.substr(comma + 1);
        while (!last.empty() && last.front() == ' ') last.erase(0, 1);
        req.remote_ip = last;
      }
      std::string proto = req.Header("x-forwarded-proto");
      if (proto == "https" || proto == "http") req.scheme = proto;
    }
    if (!host.empty() && host.front() == '[') {
      req.host = host.substr(0, host.find(']') + 1);
    } else {
      req.host = host.substr(0, host.find(':'));
    }
    std::string rid = req.Header("x-request-id");
    req.request_id = ValidRequestId(rid) ? rid : NewPublicId();

    auto w = std::make_shared<Pistache::Http::ResponseWriter>(std::move(writer));
    auto shared = s_;
    auto sent = std::make_shared<std::atomic<bool>>(false);
    Reply reply = [w, shared, sent, start, method = req.method, path = req.path, rid = req.request_id,
                   ip = req.remote_ip](Response resp) {
      if (sent->exchange(true)) return;  // exactly once
      resp.SetHeader("X-Request-Id", rid);
      for (auto& [k, v] : resp.headers) w->headers().add(std::make_shared<DynamicHeader>(k, v));
      const bool head = method == "HEAD";
      try {
        w->send(static_cast<Pistache::Http::Code>(resp.status), head ? std::string() : resp.body);
      } catch (const std::exception& e) {
        log::Warn("response send failed", {{"error", e.what()}});
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      shared->requests_total->Inc();
      shared->latency->Observe(secs);
      if (shared->options.access_log) {
        log::Access(method, path, resp.status, static_cast<int64_t>(secs * 1000000), ip,
                    resp.body.size(), rid);
      }
      shared->in_flight.fetch_sub(1);
    };

    if (req.body.size() > s_->options.max_request_bytes) {
      reply(Response::FromError(Error(ErrorCode::kPayloadTooLarge, "request body exceeds " +
                                                                      std::to_string(s_->options.max_request_bytes) + " bytes")));
      return;
    }
    auto m = s_->router->Find(req.method, req.path);
    if (!m.route) {
      if (!m.allowed.empty()) {
        std::string allow;
        for (const auto& a : m.allowed) allow += (allow.empty() ? "" : ", ") + a;
        Response r = Response::FromError(Error(ErrorCode::kInvalidArgument, "method " + req.method + " not allowed on " + req.path));
        r.status = 405;
        r.SetHeader("Allow", allow);
        reply(std::move(r));
      } else {
        reply(Response::FromError(Error(ErrorCode::kNotFound, "no resource at " + req.path)));
      }
      return;
    }
    req.params = std::move(m.params);
    log::ScopedRequestId scoped(req.request_id);
    try {
      (*m.handler)(std::move(req), reply);
    } catch (const std::exception& e) {
      log::Error("handler threw", {{"error", e.what()}});
      reply(Response::FromError(Error(ErrorCode::kInternal, e.what())));
    }
  }

  void onTimeout(const Pistache::Http::Request&, Pistache::Http::ResponseWriter writer) override {
    writer.send(Pistache::Http::Code::Request_Timeout, "request timeout\n");
  }

 private:
  std::shared_ptr<Shared> s_;
};

class PistacheServer final : public Server {
 public:
  PistacheServer(ServerOptions options, const Router& router, MetricsRegistry& metrics) {
    shared_ = std::make_shared<Shared>();
    shared_->router = &router;
    shared_->options = std::move(options);
    shared_->metrics = &metrics;
    shared_->requests_total = &metrics.GetCounter("hostplane_http_requests_total", "HTTP requests served");
    shared_->latency = &metrics.GetHistogram("hostplane_http_request_duration_seconds", "HTTP request latency");
  }
  ~PistacheServer() override { Shutdown(std::chrono::milliseconds(0)); }

  uint16_t port() const override { return port_; }

  Status Start() override {
    try {
      Pistache::Address addr(shared_->options.address, Pistache::Port(shared_->options.port));
      endpoint_ = std::make_unique<Pistache::Http::Endpoint>(addr);
      auto opts = Pistache::Http::Endpoint::options()
                      .threads(shared_->options.threads)
                      .flags(Pistache::Tcp::Options::ReuseAddr)
                      .maxRequestSize(shared_->options.max_request_bytes + 16384)
                      .maxResponseSize(64 << 20)
                      .backlog(1024)
                      .headerTimeout(std::chrono::seconds(10))
                      .bodyTimeout(std::chrono::seconds(30))
                      .keepaliveTimeout(std::chrono::seconds(75));
      endpoint_->init(opts);
      endpoint_->setHandler(Pistache::Http::make_handler<PistacheHandler>(shared_));
      endpoint_->serveThreaded();
      port_ = static_cast<uint16_t>(endpoint_->getPort());
      started_ = true;
    } catch (const std::exception& e) {
      return Fail(ErrorCode::kUnavailable, "cannot listen on " + shared_->options.address + ":" +
                                               std::to_string(shared_->options.port) + ": " + e.what());
    }
    return Ok();
  }

  void Shutdown(std::chrono::milliseconds drain) override {
    if (!started_) return;
    auto deadline = std::chrono::steady_clock::now() + drain;
    while (shared_->in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    endpoint_->shutdown();
    started_ = false;
  }

  int InFlight() const override { return shared_->in_flight.load(); }

 private:
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<Pistache::Http::Endpoint> endpoint_;
  uint16_t port_ = 0;
  bool started_ = false;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::Create(ServerOptions options, const Router& router, MetricsRegistry& metrics) {
  if (options.threads < 1) return FailField(ErrorCode::kInvalidArgument, "http.threads", "must be at least 1");
  return std::unique_ptr<Server>(new PistacheServer(std::move(options), router, metrics));
}

}  // namespace hp::core::http
