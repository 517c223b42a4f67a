#include "dns_test_util.h"
#include "hp/core/ports.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

namespace hp::dns::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "hp-dns-XXXXXX").string();
  char* p = mkdtemp(tmpl.data());
  path_ = p ? p : "/tmp";
}
TempDir::~TempDir() {
  if (!getenv("HP_KEEP_TEMP")) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
}

// Never from the kernel's ephemeral range: see core::PickUnusedPort.
int FreePort() {
  auto p = hp::core::PickUnusedPort("127.0.0.1");
  return p ? *p : 0;
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
}
std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::pair<int, std::string> Run(const std::vector<std::string>& argv) {
  std::string cmd;
  for (const auto& a : argv) {
    std::string q = "'";
    for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    cmd += q + "' ";
  }
  cmd += "2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128, out};
}

bool PollUntil(const std::function<bool()>& fn, std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (fn()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval, not a sync
  }
  return fn();
}

Knot::Knot(std::vector<ZoneConf> zones, std::string tsig_name, std::string tsig_secret)
    : zones_(std::move(zones)), tsig_name_(std::move(tsig_name)),
      tsig_secret_(std::move(tsig_secret)) {}

Knot::~Knot() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 250; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string Knot::Start() {
  if (port_ == 0) port_ = FreePort();
  const std::string& d = dir_.path();
  std::string conf = "server:\n  rundir: \"" + d + "\"\n  listen: 127.0.0.1@" +
                     std::to_string(port_) +
                     "\n  udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n"
                     "database:\n  storage: \"" + d + "\"\n"
                     "log:\n  - target: stderr\n    any: info\n";
  if (!tsig_name_.empty()) {
    conf += "key:\n  - id: " + tsig_name_ + "\n    algorithm: hmac-sha256\n    secret: " +
            tsig_secret_ + "\n";
  }
  conf += "acl:\n  - id: notify_ok\n    address: 127.0.0.1\n    action: notify\n";
  if (!tsig_name_.empty()) {
    conf += "  - id: update_ok\n    address: 127.0.0.1\n    key: " + tsig_name_ +
            "\n    action: update\n";
  }
  std::string remotes;
  std::string zones = "zone:\n";
  int ri = 0;
  for (const auto& z : zones_) {
    zones += "  - domain: " + z.name + "\n    storage: \"" + d + "\"\n    file: \"" + z.name +
             ".zone\"\n    zonefile-sync: -1\n    zonefile-load: whole\n"
             "    journal-content: none\n    semantic-checks: off\n";
    if (!z.file_text.empty()) WriteFile(d + "/" + z.name + ".zone", z.file_text);
    std::vector<std::string> acls;
    if (!z.primary.empty()) {
      std::string id = "primary" + std::to_string(ri++);
      remotes += "  - id: " + id + "\n    address: " + z.primary + "\n";
      zones += "    master: " + id + "\n";
      acls.push_back("notify_ok");
    }
    if (z.allow_update) acls.push_back("update_ok");
    if (!acls.empty()) {
      zones += "    acl: [";
      for (size_t i = 0; i < acls.size(); ++i) zones += (i ? ", " : "") + acls[i];
      zones += "]\n";
    }
  }
  if (!remotes.empty()) conf += "remote:\n" + remotes;
  conf += zones;
  WriteFile(d + "/knot.conf", conf);
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open((d + "/knot.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execl("/usr/sbin/knotd", "knotd", "-c", (d + "/knot.conf").c_str(), nullptr);
    _exit(127);
  }
  bool up = PollUntil(
      [&] {
        for (const auto& z : zones_) {
          if (z.file_text.empty() || !z.must_load) continue;
          Packet p = Query(port_, z.name + ".", LDNS_RR_TYPE_SOA, {.tcp = false});
          if (!p || ldns_pkt_get_rcode(p.get()) != LDNS_RCODE_NOERROR ||
              ldns_pkt_ancount(p.get()) == 0) {
            return false;
          }
        }
        Packet any = Query(port_, "health.invalid.", LDNS_RR_TYPE_SOA, {});
        return any != nullptr;
      },
      std::chrono::seconds(15));
  if (!up) return "knotd did not come up:\n" + ReadFile(d + "/knot.log");
  return "";
}

Packet Query(int port, const std::string& name, ldns_rr_type type, QueryOptions o) {
  ldns_resolver* res = ldns_resolver_new();
  ldns_rdf* ns = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, "127.0.0.1");
  ldns_resolver_push_nameserver(res, ns);
  ldns_rdf_deep_free(ns);
  ldns_resolver_set_port(res, static_cast<uint16_t>(port));
  ldns_resolver_set_recursive(res, false);
  ldns_resolver_set_usevc(res, o.tcp);
  ldns_resolver_set_fallback(res, false);
  ldns_resolver_set_igntc(res, true);
  ldns_resolver_set_retry(res, 2);
  ldns_resolver_set_timeout(res, {1, 0});
  ldns_resolver_set_dnssec(res, o.dnssec);
  ldns_resolver_set_edns_udp_size(res, o.edns ? o.edns_size : 0);
  ldns_rdf* qname = ldns_dname_new_frm_str(name.c_str());
  ldns_pkt* query = nullptr;
  ldns_resolver_prepare_query_pkt(&query, res, qname, type, LDNS_RR_CLASS_IN, 0);
  ldns_pkt* answer = nullptr;
  if (query) {
    if (o.edns) {
      ldns_pkt_set_edns_udp_size(query, o.edns_size);
      ldns_pkt_set_edns_do(query, o.dnssec);
    }
    ldns_resolver_send_pkt(&answer, res, query);
    ldns_pkt_free(query);
  }
  ldns_rdf_deep_free(qname);
  ldns_resolver_deep_free(res);
  return Packet(answer);
}

std::optional<std::vector<uint8_t>> SendRawUdp(int port, const std::vector<uint8_t>& bytes,
                                               std::chrono::milliseconds timeout) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  pollfd p{fd, POLLIN, 0};
  std::optional<std::vector<uint8_t>> out;
  if (poll(&p, 1, static_cast<int>(timeout.count())) > 0) {
    std::vector<uint8_t> buf(65536);
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n >= 0) {
      buf.resize(static_cast<size_t>(n));
      out = std::move(buf);
    }
  }
  close(fd);
  return out;
}

namespace {
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string Section(const ldns_rr_list* l, bool skip_opt) {
  std::vector<std::string> v;
  for (size_t i = 0; i < ldns_rr_list_rr_count(l); ++i) {
    ldns_rr* c = ldns_rr_clone(ldns_rr_list_rr(l, i));
    if (skip_opt && ldns_rr_get_type(c) == LDNS_RR_TYPE_OPT) {
      ldns_rr_free(c);
      continue;
    }
    ldns_rr_set_ttl(c, 0);
    char* s = ldns_rr2str(c);
    std::string line = Lower(s ? s : "");
    free(s);
    ldns_rr_free(c);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    for (char& ch : line) {
      if (ch == '\t') ch = ' ';
    }
    v.push_back(line);
  }
  std::sort(v.begin(), v.end());
  std::string out;
  for (auto& s : v) out += "  " + s + "\n";
  return out;
}
}  // namespace

std::string Normalize(const ldns_pkt* p) {
  if (!p) return "(no answer)";
  char* rc = ldns_pkt_rcode2str(ldns_pkt_get_rcode(p));
  std::string out = std::string("rcode=") + (rc ? rc : "?");
  free(rc);
  out += " flags=";
  if (ldns_pkt_qr(p)) out += "qr ";
  if (ldns_pkt_aa(p)) out += "aa ";
  if (ldns_pkt_tc(p)) out += "tc ";
  if (ldns_pkt_rd(p)) out += "rd ";
  if (ldns_pkt_ra(p)) out += "ra ";
  if (ldns_pkt_ad(p)) out += "ad ";
  if (ldns_pkt_cd(p)) out += "cd ";
  out += ldns_pkt_edns(p) ? " edns" : " no-edns";
  out += "\nANSWER:\n" + Section(ldns_pkt_answer(p), false);
  out += "AUTHORITY:\n" + Section(ldns_pkt_authority(p), false);
  out += "ADDITIONAL:\n" + Section(ldns_pkt_additional(p), true);
  return out;
}

}  // namespace hp::dns::testing
