#pragma once
// The immutable in-memory form of the hosted zones that the server answers from, and the answer
// logic (RFC 1034 §4.3.2 with RFC 4592 wildcards). Wire handling lives in auth_server.cc.

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "hp/core/error.h"
#include "hp/dns/zone.h"
#include "ldns_util.h"

namespace hp::dns::internal {

struct RRset {
  ldns_rr_type type;
  std::vector<ldns_rr*> rrs;  // owned by the ZoneData
};
struct Node {
  std::vector<RRset> rrsets;  // empty: an empty non-terminal
  const RRset* Find(ldns_rr_type t) const {
    for (const auto& s : rrsets) {
      if (s.type == t) return &s;
    }
    return nullptr;
  }
};

class ZoneData {
 public:
  static hp::core::Result<std::shared_ptr<const ZoneData>> Build(const ZoneContents& contents);
  ~ZoneData();
  ZoneData(const ZoneData&) = delete;
  ZoneData& operator=(const ZoneData&) = delete;

  const std::string& apex() const { return apex_; }
  uint32_t serial() const { return serial_; }
  const ldns_rr* soa() const { return soa_; }
  const Node* Find(const std::string& key) const {
    auto it = nodes_.find(key);
    return it == nodes_.end() ? nullptr : &it->second;
  }
  // Every RR except the SOA, in a stable order (for AXFR).
  const std::vector<ldns_rr*>& all() const { return all_; }

 private:
  ZoneData() = default;
  std::string apex_;
  uint32_t serial_ = 0;
  ldns_rr* soa_ = nullptr;
  std::unordered_map<std::string, Node> nodes_;
  std::vector<ldns_rr*> all_;
};

struct Snapshot {
  std::unordered_map<std::string, std::shared_ptr<const ZoneData>> zones;
  // Zone with the longest apex containing `key`, or nullptr.
  const ZoneData* FindZone(const std::string& key) const;
};

// Lower-case presentation of a wire name, escaping anything outside [a-z0-9-_*] as \DDD.
std::string NameKey(const ldns_rdf* dname);

// Fills the answer, authority and additional sections and the RCODE/AA of `resp` for one
// question. `resp` already carries the header and question.
void AnswerQuery(const ZoneData& zone, const ldns_rdf* qname, ldns_rr_type qtype, ldns_pkt* resp);

}  // namespace hp::dns::internal
