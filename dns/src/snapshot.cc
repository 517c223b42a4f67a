#include "snapshot.h"

#include <set>

#include "names.h"

namespace hp::dns::internal {

using hp::core::ErrorCode;
using hp::core::Fail;
using hp::core::Result;

ZoneData::~ZoneData() {
  for (ldns_rr* rr : all_) ldns_rr_free(rr);
  ldns_rr_free(soa_);
}

Result<std::shared_ptr<const ZoneData>> ZoneData::Build(const ZoneContents& c) {
  std::shared_ptr<ZoneData> z(new ZoneData());
  z->apex_ = c.zone.name;
  z->serial_ = c.zone.soa.serial;
  const Soa& s = c.zone.soa;
  std::string soa_text = c.zone.name + " " + std::to_string(s.ttl) + " IN SOA " + s.mname + " " +
                         s.rname + " " + std::to_string(s.serial) + " " +
                         std::to_string(s.refresh) + " " + std::to_string(s.retry) + " " +
                         std::to_string(s.expire) + " " + std::to_string(s.minimum);
  ldns_status st = ldns_rr_new_frm_str(&z->soa_, soa_text.c_str(), 0, nullptr, nullptr);
  if (st != LDNS_STATUS_OK) {
    return Fail(ErrorCode::kInternal, "zone " + c.zone.name + ": bad SOA: " +
                                          ldns_get_errorstr_by_id(st));
  }
  z->nodes_[z->apex_].rrsets.push_back({LDNS_RR_TYPE_SOA, {z->soa_}});
  for (const Record& r : c.records) {
    std::string text = r.name + " " + std::to_string(r.ttl) + " IN " +
                       std::string(RecordTypeName(r.type)) + " " + r.data;
    ldns_rr* rr = nullptr;
    st = ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr);
    if (st != LDNS_STATUS_OK) {
      // Data was validated on the way in; a failure here is a bug. Skip the record, keep serving.
      continue;
    }
    z->all_.push_back(rr);
    std::string key = NameKey(ldns_rr_owner(rr));
    Node& node = z->nodes_[key];
    ldns_rr_type t = ldns_rr_get_type(rr);
    RRset* set = nullptr;
    for (auto& x : node.rrsets) {
      if (x.type == t) set = &x;
    }
    if (!set) {
      node.rrsets.push_back({t, {}});
      set = &node.rrsets.back();
    }
    set->rrs.push_back(rr);
    // Empty non-terminals between the owner and the apex.
    for (std::string p = Parent(key); p.size() > z->apex_.size() && InZone(p, z->apex_);
         p = Parent(p)) {
      z->nodes_.try_emplace(p);
    }
  }
  // One TTL per RRset on the wire (RFC 2181 §5.2): the lowest.
  for (auto& [k, node] : z->nodes_) {
    for (auto& set : node.rrsets) {
      uint32_t ttl = UINT32_MAX;
      for (ldns_rr* rr : set.rrs) ttl = std::min(ttl, ldns_rr_ttl(rr));
      for (ldns_rr* rr : set.rrs) ldns_rr_set_ttl(rr, ttl);
    }
  }
  return std::shared_ptr<const ZoneData>(std::move(z));
}

const ZoneData* Snapshot::FindZone(const std::string& key) const {
  std::string_view n = key;
  while (true) {
    auto it = zones.find(std::string(n));
    if (it != zones.end()) return it->second.get();
    if (n == ".") return nullptr;
    size_t dot = n.find('.');
    if (dot == std::string_view::npos || dot + 1 >= n.size()) {
      n = ".";
    } else {
      n = n.substr(dot + 1);
    }
  }
}

std::string NameKey(const ldns_rdf* dname) {
  const uint8_t* d = ldns_rdf_data(dname);
  size_t len = ldns_rdf_size(dname);
  std::string out;
  out.reserve(len + 1);
  size_t i = 0;
  while (i < len) {
    uint8_t l = d[i++];
    if (l == 0) break;
    for (uint8_t j = 0; j < l && i < len; ++j, ++i) {
      uint8_t c = d[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<uint8_t>(c - 'A' + 'a');
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*') {
        out += static_cast<char>(c);
      } else {
        char buf[8];
        snprintf(buf, sizeof buf, "\\%03u", c);
        out += buf;
      }
    }
    out += '.';
  }
  if (out.empty()) out = ".";
  return out;
}

namespace {

constexpr int kMaxChain = 8;

struct Builder {
  const ZoneData& zone;
  ldns_pkt* resp;
  std::set<std::pair<std::string, int>> additional_seen;
  bool referral = false;

  void Push(ldns_pkt_section sec, const RRset& set, const ldns_rdf* owner = nullptr) {
    for (ldns_rr* rr : set.rrs) {
      ldns_rr* c = ldns_rr_clone(rr);
      if (owner) {
        ldns_rdf_deep_free(ldns_rr_owner(c));
        ldns_rr_set_owner(c, ldns_rdf_clone(owner));
      }
      ldns_pkt_push_rr(resp, sec, c);
    }
  }
  void PushSoaAuthority() {
    ldns_rr* c = ldns_rr_clone(zone.soa());
    uint32_t minimum = ldns_rdf2native_int32(ldns_rr_rdf(c, 6));
    ldns_rr_set_ttl(c, std::min(ldns_rr_ttl(c), minimum));
    ldns_pkt_push_rr(resp, LDNS_SECTION_AUTHORITY, c);
  }
  // A/AAAA of an in-zone target name.
  void AddAddresses(const ldns_rdf* target) {
    std::string key = NameKey(target);
    if (!InZone(key, zone.apex())) return;
    const Node* n = zone.Find(key);
    if (!n) return;
    for (ldns_rr_type t : {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA}) {
      const RRset* s = n->Find(t);
      if (!s) continue;
      if (!additional_seen.insert({key, static_cast<int>(t)}).second) continue;
      Push(LDNS_SECTION_ADDITIONAL, *s);
    }
  }
  void AdditionalFor(const RRset& set) {
    for (ldns_rr* rr : set.rrs) {
      switch (ldns_rr_get_type(rr)) {
        case LDNS_RR_TYPE_NS: AddAddresses(ldns_rr_rdf(rr, 0)); break;
        case LDNS_RR_TYPE_MX: AddAddresses(ldns_rr_rdf(rr, 1)); break;
        case LDNS_RR_TYPE_SRV: AddAddresses(ldns_rr_rdf(rr, 3)); break;
        default: break;
      }
    }
  }

  // Delegation point strictly below the apex on the way to `key` (top-most), or nullptr.
  const Node* FindCut(const std::string& key, bool exact_ds, std::string* cut_key) {
    // Collect ancestors below the apex, from the top down.
    std::vector<std::string> chain;
    for (std::string p = key; p.size() > zone.apex().size() && InZone(p, zone.apex());
         p = Parent(p)) {
      chain.push_back(p);
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      const Node* n = zone.Find(*it);
      if (!n) return nullptr;  // nothing exists below here
      if (n->Find(LDNS_RR_TYPE_NS)) {
        if (exact_ds && *it == key) return nullptr;  // DS is answered by the parent side
        *cut_key = *it;
        return n;
      }
    }
    return nullptr;
  }

  // Answers for `qname` (key form `key`); `owner` is the owner to put on synthesised records.
  // Returns the RCODE.
  ldns_pkt_rcode Resolve(const ldns_rdf* qname, ldns_rr_type qtype, int depth) {
    std::string key = NameKey(qname);
    std::string cut;
    if (const Node* deleg = FindCut(key, qtype == LDNS_RR_TYPE_DS, &cut)) {
      const RRset* ns = deleg->Find(LDNS_RR_TYPE_NS);
      if (ldns_pkt_ancount(resp) == 0) referral = true;
      Push(LDNS_SECTION_AUTHORITY, *ns);
      AdditionalFor(*ns);
      return LDNS_RCODE_NOERROR;
    }
    const Node* node = zone.Find(key);
    const ldns_rdf* synth_owner = nullptr;
    if (!node) {
      // Closest encloser, then its wildcard.
      std::string ce = Parent(key);
      while (ce.size() > zone.apex().size() && !zone.Find(ce)) ce = Parent(ce);
      node = zone.Find("*." + ce);
      if (!node) {
        PushSoaAuthority();
        return LDNS_RCODE_NXDOMAIN;
      }
      synth_owner = qname;
    }
    const ldns_rdf* owner = synth_owner;
    const RRset* cname = node->Find(LDNS_RR_TYPE_CNAME);
    if (cname && qtype != LDNS_RR_TYPE_CNAME) {
      Push(LDNS_SECTION_ANSWER, *cname, owner);
      const ldns_rdf* target = ldns_rr_rdf(cname->rrs[0], 0);
      if (depth < kMaxChain && InZone(NameKey(target), zone.apex())) {
        return Resolve(target, qtype, depth + 1);
      }
      return LDNS_RCODE_NOERROR;
    }
    if (qtype == LDNS_RR_TYPE_ANY) {
      // RFC 8482 minimal ANY: one RRset, the one of the lowest type (as Knot does), over UDP and
      // TCP alike; clients that need everything ask per type.
      const RRset* pick = nullptr;
      for (const auto& set : node->rrsets) {
        if (!pick || set.type < pick->type) pick = &set;
      }
      if (pick) {
        Push(LDNS_SECTION_ANSWER, *pick, owner);
        AdditionalFor(*pick);
      } else {
        PushSoaAuthority();
      }
      return LDNS_RCODE_NOERROR;
    }
    if (const RRset* set = node->Find(qtype)) {
      Push(LDNS_SECTION_ANSWER, *set, owner);
      AdditionalFor(*set);
      return LDNS_RCODE_NOERROR;
    }
    PushSoaAuthority();
    return LDNS_RCODE_NOERROR;
  }
};

}  // namespace

void AnswerQuery(const ZoneData& zone, const ldns_rdf* qname, ldns_rr_type qtype, ldns_pkt* resp) {
  Builder b{zone, resp, {}, false};
  ldns_pkt_rcode rc = b.Resolve(qname, qtype, 0);
  ldns_pkt_set_rcode(resp, rc);
  ldns_pkt_set_aa(resp, !b.referral);
}

}  // namespace hp::dns::internal
