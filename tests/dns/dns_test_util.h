#pragma once
// Helpers for the dns tests: temp dirs, free ports, a real knotd on loopback, ldns queries and a
// normalised view of answers for comparisons.

#include <stdbool.h>  // NOLINT (before ldns)

#include <ldns/ldns.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hp::dns::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A port free for both TCP and UDP on 127.0.0.1 a moment ago.
int FreePort();
void WriteFile(const std::string& path, const std::string& data);
std::string ReadFile(const std::string& path);
// Runs argv to completion; returns {exit code, stdout+stderr}.
std::pair<int, std::string> Run(const std::vector<std::string>& argv);

// A knotd started with a generated configuration; killed by the destructor.
class Knot {
 public:
  struct ZoneConf {
    std::string name;       // "example.test"
    std::string file_text;  // zone file content; empty: a secondary (needs `primary`)
    std::string primary;    // "127.0.0.1@PORT" for a secondary zone
    bool allow_update = false;
    bool must_load = true;  // Start() waits for its SOA
  };
  // tsig: {name, base64 secret} used for update ACLs (hmac-sha256).
  Knot(std::vector<ZoneConf> zones, std::string tsig_name = "", std::string tsig_secret = "");
  ~Knot();
  // Starts and waits until every primary zone answers its SOA. Empty string on success, else
  // the reason (with knotd's log).
  std::string Start();
  int port() const { return port_; }
  void set_port(int p) { port_ = p; }
  const std::string& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  std::vector<ZoneConf> zones_;
  std::string tsig_name_, tsig_secret_;
  int port_ = 0;
  pid_t pid_ = -1;
};

struct PktDeleter {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Packet = std::unique_ptr<ldns_pkt, PktDeleter>;

struct QueryOptions {
  bool tcp = false;
  bool edns = true;
  bool dnssec = false;
  uint16_t edns_size = 1232;
};
// One query to 127.0.0.1:port; nullptr on timeout.
Packet Query(int port, const std::string& name, ldns_rr_type type, QueryOptions o = {});
// Sends raw bytes over UDP and waits up to timeout for any reply.
std::optional<std::vector<uint8_t>> SendRawUdp(int port, const std::vector<uint8_t>& bytes,
                                               std::chrono::milliseconds timeout);

// "rcode=NOERROR flags=qr aa rd\nANSWER:\n<sorted rrs without ttl>\nAUTHORITY:..." for diffing.
std::string Normalize(const ldns_pkt* p);

// Polls `fn` until it returns true or the deadline passes.
bool PollUntil(const std::function<bool()>& fn, std::chrono::milliseconds deadline);

}  // namespace hp::dns::testing
