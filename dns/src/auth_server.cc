#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "hp/core/log.h"
#include "hp/dns/server.h"
#include "ldns_util.h"
#include "net.h"
#include "snapshot.h"

namespace hp::dns {

using hp::core::ErrorCode;
using hp::core::Fail;
using hp::core::Result;
using hp::core::Status;
using namespace internal;  // NOLINT

namespace {

constexpr size_t kMaxTcpMessage = 65535;
constexpr size_t kAxfrMessageBudget = 16000;

// Changes reported by ZoneService; outlives the server through a weak_ptr in the observer.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> dirty;
  bool stop = false;
};

std::vector<uint8_t> HeaderOnly(const uint8_t* query, ldns_pkt_rcode rcode) {
  std::vector<uint8_t> out(query, query + 12);
  out[2] = static_cast<uint8_t>((query[2] & 0x79) | 0x80);  // QR, keep opcode and RD
  out[3] = static_cast<uint8_t>(query[3] & 0x10);           // keep CD
  out[3] = static_cast<uint8_t>(out[3] | (rcode & 0x0f));
  for (int i = 4; i < 12; ++i) out[i] = 0;
  return out;
}

std::vector<uint8_t> ToWire(const ldns_pkt* p) {
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, p, &size) != LDNS_STATUS_OK) return {};
  std::vector<uint8_t> out(wire, wire + size);
  free(wire);
  return out;
}

void ClearSection(ldns_pkt* p, ldns_pkt_section s) {
  switch (s) {
    case LDNS_SECTION_ANSWER:
      ldns_rr_list_deep_free(ldns_pkt_answer(p));
      ldns_pkt_set_answer(p, ldns_rr_list_new());
      ldns_pkt_set_ancount(p, 0);
      break;
    case LDNS_SECTION_AUTHORITY:
      ldns_rr_list_deep_free(ldns_pkt_authority(p));
      ldns_pkt_set_authority(p, ldns_rr_list_new());
      ldns_pkt_set_nscount(p, 0);
      break;
    case LDNS_SECTION_ADDITIONAL:
      ldns_rr_list_deep_free(ldns_pkt_additional(p));
      ldns_pkt_set_additional(p, ldns_rr_list_new());
      ldns_pkt_set_arcount(p, 0);
      break;
    default:
      break;
  }
}

bool ReadFull(int fd, int stop_fd, uint8_t* buf, size_t n, int timeout_ms) {
  size_t got = 0;
  while (got < n) {
    pollfd pfd[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int r = poll(pfd, 2, timeout_ms);
    if (r <= 0 || (pfd[1].revents & POLLIN)) return false;
    ssize_t k = read(fd, buf + got, n - got);
    if (k <= 0) return false;
    got += static_cast<size_t>(k);
  }
  return true;
}

bool WriteFull(int fd, const uint8_t* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t k = send(fd, buf + done, n - done, MSG_NOSIGNAL);
    if (k <= 0) {
      if (k < 0 && errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(k);
  }
  return true;
}

class AuthServerImpl final : public AuthServer {
 public:
  AuthServerImpl(ZoneService& zones, AuthServerOptions options, HostPort listen)
      : zones_(zones), options_(std::move(options)), listen_(listen),
        inbox_(std::make_shared<Inbox>()) {
    std::weak_ptr<Inbox> weak = inbox_;
    zones_.AddObserver([weak](const ZoneChange& change) {
      if (auto inbox = weak.lock()) {
        std::lock_guard lock(inbox->mu);
        inbox->dirty.insert(change.zone_name);
        inbox->cv.notify_all();
      }
    });
    snapshot_ = std::make_shared<Snapshot>();
  }
  ~AuthServerImpl() override { Stop(); }

  Status Start() override {
    if (started_) return hp::core::Ok();
    HP_TRY(Reload());
    stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int family = listen_.addr.ss_family;
    udp_fd_ = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    tcp_fd_ = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(tcp_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage addr = listen_.addr;
    if (bind(tcp_fd_, reinterpret_cast<sockaddr*>(&addr), listen_.len) != 0) {
      int e = errno;
      CloseAll();
      return Fail(ErrorCode::kUnavailable, "dns.listen: cannot bind TCP " + listen_.host + ":" +
                                               std::to_string(listen_.port) + ": " + strerror(e));
    }
    socklen_t len = sizeof addr;
    getsockname(tcp_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    if (bind(udp_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      int e = errno;
      CloseAll();
      return Fail(ErrorCode::kUnavailable, "dns.listen: cannot bind UDP " + listen_.host + ": " +
                                               strerror(e));
    }
    port_ = ntohs(addr.ss_family == AF_INET
                      ? reinterpret_cast<sockaddr_in*>(&addr)->sin_port
                      : reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    listen(tcp_fd_, 128);
    started_ = true;
    for (int i = 0; i < std::max(1, options_.udp_threads); ++i) {
      threads_.emplace_back([this] { UdpLoop(); });
    }
    threads_.emplace_back([this] { TcpAcceptLoop(); });
    threads_.emplace_back([this] { MaintenanceLoop(); });
    hp::core::log::Info("dns server listening", {{"address", listen_.host}, {"port", port_}});
    return hp::core::Ok();
  }

  void Stop() override {
    if (!started_.exchange(false)) return;
    {
      std::lock_guard lock(inbox_->mu);
      inbox_->stop = true;
      inbox_->cv.notify_all();
    }
    uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof one) < 0) {
      // The eventfd cannot be full here; nothing else to do.
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
    {
      std::unique_lock lock(conn_mu_);
      conn_cv_.wait(lock, [&] { return connections_ == 0; });
    }
    CloseAll();
  }

  uint16_t port() const override { return port_; }

  Status Reload() override {
    HP_ASSIGN_OR_RETURN(std::vector<ZoneContents> all, zones_.LoadAll());
    auto snap = std::make_shared<Snapshot>();
    for (const auto& c : all) {
      HP_ASSIGN_OR_RETURN(auto z, ZoneData::Build(c));
      snap->zones[c.zone.name] = std::move(z);
    }
    std::lock_guard lock(snap_mu_);
    snapshot_ = std::move(snap);
    ++builds_;
    return hp::core::Ok();
  }

  uint32_t ServedSerial(const std::string& zone_name) const override {
    std::string name = ToLowerAbs(zone_name);
    auto snap = Current();
    auto it = snap->zones.find(name);
    return it == snap->zones.end() ? 0 : it->second->serial();
  }

  AuthServerStats stats() const override {
    return {queries_.load(), malformed_.load(), notifies_acked_.load(), builds_.load()};
  }

 private:
  static std::string ToLowerAbs(std::string s) {
    for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    if (s.empty() || s.back() != '.') s += '.';
    return s;
  }

  std::shared_ptr<const Snapshot> Current() const {
    std::lock_guard lock(snap_mu_);
    return snapshot_;
  }

  void CloseAll() {
    for (int* fd : {&udp_fd_, &tcp_fd_, &stop_fd_}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }

  bool TransferAllowed(const sockaddr_storage& from) const {
    std::string ip = AddressOf(from);
    for (const auto& a : options_.transfer_allow) {
      if (a == ip) return true;
    }
    return false;
  }

  // Turns one query into zero (drop), one, or several (AXFR) response messages.
  std::vector<std::vector<uint8_t>> Process(const uint8_t* data, size_t len, bool tcp,
                                            const sockaddr_storage& from) {
    std::vector<std::vector<uint8_t>> out;
    if (len < 12 || (data[2] & 0x80)) {  // too short to answer, or a response
      ++malformed_;
      return out;
    }
    ldns_pkt* raw = nullptr;
    if (ldns_wire2pkt(&raw, data, len) != LDNS_STATUS_OK) {
      ++malformed_;
      out.push_back(HeaderOnly(data, LDNS_RCODE_FORMERR));
      return out;
    }
    PktPtr q(raw);
    ldns_pkt_opcode opcode = ldns_pkt_get_opcode(q.get());
    if (opcode != LDNS_PACKET_QUERY) {
      out.push_back(HeaderOnly(data, LDNS_RCODE_NOTIMPL));
      return out;
    }
    if (ldns_pkt_qdcount(q.get()) != 1 || ldns_rr_list_rr_count(ldns_pkt_question(q.get())) != 1 ||
        ldns_pkt_ancount(q.get()) != 0) {
      ++malformed_;
      out.push_back(HeaderOnly(data, LDNS_RCODE_FORMERR));
      return out;
    }
    ++queries_;
    const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(q.get()), 0);
    const ldns_rdf* qname = ldns_rr_owner(question);
    ldns_rr_type qtype = ldns_rr_get_type(question);
    PktPtr resp(ldns_pkt_new());
    ldns_pkt_set_id(resp.get(), ldns_pkt_id(q.get()));
    ldns_pkt_set_qr(resp.get(), true);
    ldns_pkt_set_opcode(resp.get(), LDNS_PACKET_QUERY);
    ldns_pkt_set_rd(resp.get(), ldns_pkt_rd(q.get()));
    ldns_pkt_set_cd(resp.get(), ldns_pkt_cd(q.get()));
    ldns_pkt_push_rr(resp.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(question));
    bool edns = ldns_pkt_edns(q.get());
    size_t limit = 512;
    if (edns) {
      ldns_pkt_set_edns_udp_size(resp.get(), options_.edns_udp_size);
      ldns_pkt_set_edns_do(resp.get(), ldns_pkt_edns_do(q.get()));
      limit = std::max<size_t>(512, std::min<size_t>(ldns_pkt_edns_udp_size(q.get()),
                                                     options_.edns_udp_size));
      if (ldns_pkt_edns_version(q.get()) != 0) {
        ldns_pkt_set_edns_extended_rcode(resp.get(), 1);  // BADVERS (RFC 6891 §6.1.3)
        out.push_back(ToWire(resp.get()));
        return out;
      }
    }
    if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN) {
      ldns_pkt_set_rcode(resp.get(), LDNS_RCODE_REFUSED);
      out.push_back(ToWire(resp.get()));
      return out;
    }
    auto snap = Current();
    std::string key = NameKey(qname);
    const ZoneData* zone = snap->FindZone(key);
    if (!zone) {
      ldns_pkt_set_rcode(resp.get(), LDNS_RCODE_REFUSED);
      out.push_back(ToWire(resp.get()));
      return out;
    }
    if (qtype == LDNS_RR_TYPE_AXFR || qtype == LDNS_RR_TYPE_IXFR) {
      if (!tcp || key != zone->apex() || !TransferAllowed(from)) {
        ldns_pkt_set_rcode(resp.get(), tcp ? LDNS_RCODE_NOTAUTH : LDNS_RCODE_FORMERR);
        out.push_back(ToWire(resp.get()));
        return out;
      }
      return Transfer(*zone, resp.get());
    }
    AnswerQuery(*zone, qname, qtype, resp.get());
    std::vector<uint8_t> wire = ToWire(resp.get());
    if (!tcp && wire.size() > limit) {
      ClearSection(resp.get(), LDNS_SECTION_ADDITIONAL);
      wire = ToWire(resp.get());
      if (wire.size() > limit) {
        ClearSection(resp.get(), LDNS_SECTION_ANSWER);
        ClearSection(resp.get(), LDNS_SECTION_AUTHORITY);
        ldns_pkt_set_tc(resp.get(), true);
        wire = ToWire(resp.get());
      }
    }
    out.push_back(std::move(wire));
    return out;
  }

  // AXFR (RFC 5936): SOA, every record, SOA, packed into messages of ~16 kB.
  std::vector<std::vector<uint8_t>> Transfer(const ZoneData& zone, ldns_pkt* first) {
    std::vector<std::vector<uint8_t>> out;
    std::vector<const ldns_rr*> rrs;
    rrs.push_back(zone.soa());
    for (const ldns_rr* rr : zone.all()) rrs.push_back(rr);
    rrs.push_back(zone.soa());
    ldns_pkt_set_aa(first, true);
    PktPtr cur(ldns_pkt_clone(first));
    size_t budget = 0;
    for (const ldns_rr* rr : rrs) {
      size_t sz = ldns_rdf_size(ldns_rr_owner(rr)) + 10;
      for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i) sz += ldns_rdf_size(ldns_rr_rdf(rr, i));
      if (budget + sz > kAxfrMessageBudget && ldns_pkt_ancount(cur.get()) > 0) {
        out.push_back(ToWire(cur.get()));
        cur.reset(ldns_pkt_clone(first));
        budget = 0;
      }
      ldns_pkt_push_rr(cur.get(), LDNS_SECTION_ANSWER, ldns_rr_clone(rr));
      budget += sz;
    }
    out.push_back(ToWire(cur.get()));
    return out;
  }

  void UdpLoop() {
    std::vector<uint8_t> buf(65536);
    while (true) {
      pollfd pfd[2] = {{udp_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      int r = poll(pfd, 2, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 || (pfd[1].revents & POLLIN)) return;
      for (int burst = 0; burst < 64; ++burst) {
        sockaddr_storage from{};
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(udp_fd_, buf.data(), buf.size(), 0,
                             reinterpret_cast<sockaddr*>(&from), &flen);
        if (n < 0) break;
        for (const auto& msg : Process(buf.data(), static_cast<size_t>(n), false, from)) {
          if (msg.empty()) continue;
          sendto(udp_fd_, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
        }
      }
    }
  }

  void TcpAcceptLoop() {
    while (true) {
      pollfd pfd[2] = {{tcp_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      int r = poll(pfd, 2, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 || (pfd[1].revents & POLLIN)) return;
      sockaddr_storage from{};
      socklen_t flen = sizeof from;
      int fd = accept4(tcp_fd_, reinterpret_cast<sockaddr*>(&from), &flen, SOCK_CLOEXEC);
      if (fd < 0) continue;
      {
        std::lock_guard lock(conn_mu_);
        if (connections_ >= options_.max_tcp_connections) {
          close(fd);
          continue;
        }
        ++connections_;
      }
      std::thread([this, fd, from] {
        ServeTcp(fd, from);
        close(fd);
        std::lock_guard lock(conn_mu_);
        --connections_;
        conn_cv_.notify_all();
      }).detach();
    }
  }

  void ServeTcp(int fd, const sockaddr_storage& from) {
    int timeout = static_cast<int>(options_.tcp_idle_timeout.count());
    std::vector<uint8_t> buf(kMaxTcpMessage);
    while (true) {
      uint8_t lenbuf[2];
      if (!ReadFull(fd, stop_fd_, lenbuf, 2, timeout)) return;
      size_t len = (static_cast<size_t>(lenbuf[0]) << 8) | lenbuf[1];
      if (len == 0) return;
      if (!ReadFull(fd, stop_fd_, buf.data(), len, timeout)) return;
      auto msgs = Process(buf.data(), len, true, from);
      if (msgs.empty()) return;  // garbage on a stream: close it
      for (const auto& m : msgs) {
        if (m.empty()) return;
        uint8_t pre[2] = {static_cast<uint8_t>(m.size() >> 8), static_cast<uint8_t>(m.size())};
        if (!WriteFull(fd, pre, 2) || !WriteFull(fd, m.data(), m.size())) return;
      }
    }
  }

  void MaintenanceLoop() {
    while (true) {
      std::set<std::string> dirty;
      {
        std::unique_lock lock(inbox_->mu);
        inbox_->cv.wait(lock, [&] { return inbox_->stop || !inbox_->dirty.empty(); });
        if (inbox_->stop) return;
        dirty.swap(inbox_->dirty);
      }
      auto next = std::make_shared<Snapshot>(*Current());
      std::vector<std::string> changed;
      for (const auto& name : dirty) {
        auto loaded = zones_.LoadByName(name);
        if (!loaded) {
          hp::core::log::Warn("dns: zone reload failed",
                              {{"zone", name}, {"error", loaded.error().ToString()}});
          std::lock_guard lock(inbox_->mu);
          inbox_->dirty.insert(name);  // retried with the next change
          continue;
        }
        if (!*loaded) {
          next->zones.erase(name);
          continue;
        }
        auto built = ZoneData::Build(**loaded);
        if (!built) continue;
        next->zones[name] = *built;
        changed.push_back(name);
      }
      {
        std::lock_guard lock(snap_mu_);
        snapshot_ = next;
        ++builds_;
      }
      for (const auto& name : changed) SendNotifies(name);
    }
  }

  void SendNotifies(const std::string& zone) {
    for (const auto& target : options_.notify) {
      auto hp = ParseHostPort(target, "dns.notify");
      if (!hp) continue;
      PktPtr p(ldns_pkt_query_new(MakeDname(zone).release(), LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN,
                                  LDNS_AA));
      ldns_pkt_set_opcode(p.get(), LDNS_PACKET_NOTIFY);
      uint16_t id = static_cast<uint16_t>(hp::core::RandomU64());
      ldns_pkt_set_id(p.get(), id);
      std::vector<uint8_t> wire = ToWire(p.get());
      int fd = socket(hp->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      connect(fd, reinterpret_cast<sockaddr*>(&hp->addr), hp->len);
      for (int attempt = 0; attempt < 3; ++attempt) {
        send(fd, wire.data(), wire.size(), 0);
        pollfd pfd[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
        if (poll(pfd, 2, 1000) <= 0 || (pfd[1].revents & POLLIN)) continue;
        uint8_t buf[512];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n >= 12 && buf[0] == (id >> 8) && buf[1] == (id & 0xff)) {
          ++notifies_acked_;
          break;
        }
      }
      close(fd);
    }
  }

  ZoneService& zones_;
  AuthServerOptions options_;
  HostPort listen_;
  std::shared_ptr<Inbox> inbox_;
  mutable std::mutex snap_mu_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::atomic<bool> started_{false};
  int udp_fd_ = -1;
  int tcp_fd_ = -1;
  int stop_fd_ = -1;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::mutex conn_mu_;
  std::condition_variable conn_cv_;
  int connections_ = 0;
  std::atomic<uint64_t> queries_{0};
  std::atomic<uint64_t> malformed_{0};
  std::atomic<uint64_t> notifies_acked_{0};
  std::atomic<uint64_t> builds_{0};
};

}  // namespace

Result<std::unique_ptr<AuthServer>> AuthServer::Create(ZoneService& zones,
                                                       AuthServerOptions options) {
  HP_ASSIGN_OR_RETURN(HostPort listen, ParseHostPort(options.listen, "dns.listen"));
  for (const auto& n : options.notify) HP_TRY(ParseHostPort(n, "dns.notify"));
  for (const auto& a : options.transfer_allow) {
    HP_TRY(ParseHostPort(a, "dns.transfer_allow", 53));
  }
  if (options.udp_threads < 1 || options.udp_threads > 64) {
    return hp::core::FailField(ErrorCode::kInvalidArgument, "dns.udp_threads", "must be 1..64");
  }
  if (options.edns_udp_size < 512) {
    return hp::core::FailField(ErrorCode::kInvalidArgument, "dns.edns_udp_size", "must be >= 512");
  }
  return std::unique_ptr<AuthServer>(new AuthServerImpl(zones, std::move(options), listen));
}

}  // namespace hp::dns
