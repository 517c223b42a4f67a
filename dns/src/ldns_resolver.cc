#include <map>
#include <set>

#include "hp/dns/resolver.h"
#include "ldns_util.h"
#include "names.h"
#include "net.h"

namespace hp::dns {

using hp::core::ErrorCode;
using hp::core::Fail;
using hp::core::FailField;
using hp::core::Result;
using hp::core::Status;
using namespace internal;  // NOLINT

std::vector<std::string> Answer::TxtStrings() const {
  std::vector<std::string> out;
  for (const auto& r : records) {
    if (r.type != static_cast<uint16_t>(QType::kTXT)) continue;
    std::string joined;
    size_t i = 0;
    while (i < r.rdata.size()) {
      size_t len = static_cast<uint8_t>(r.rdata[i]);
      joined += r.rdata.substr(i + 1, len);
      i += 1 + len;
    }
    out.push_back(joined);
  }
  return out;
}

namespace {

hp::core::Error Bogus(const std::string& what) {
  return hp::core::Error(ErrorCode::kAcmeDns, "DNSSEC bogus: " + what);
}

std::string RdataWire(const ldns_rr* rr) {
  BufferPtr buf(ldns_buffer_new(256));
  if (ldns_rr_rdata2buffer_wire(buf.get(), rr) != LDNS_STATUS_OK) return {};
  return std::string(reinterpret_cast<const char*>(ldns_buffer_begin(buf.get())),
                     ldns_buffer_position(buf.get()));
}

// RRs of `type` owned by `owner` in one section (clones, caller owns the list).
RrListPtr Select(const ldns_pkt* p, ldns_pkt_section sec, const std::string& owner,
                 ldns_rr_type type, bool rrsig_covering = false) {
  RrListPtr out(ldns_rr_list_new());
  const ldns_rr_list* l = ldns_pkt_get_section_clone(p, sec);
  // ldns_pkt_get_section_clone returns a new deep copy; adopt it so it is freed.
  RrListPtr all(const_cast<ldns_rr_list*>(l));
  for (size_t i = 0; i < ldns_rr_list_rr_count(all.get()); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(all.get(), i);
    if (DnameToString(ldns_rr_owner(rr)) != owner) continue;
    if (rrsig_covering) {
      if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_RRSIG) continue;
      ldns_rdf* tc = ldns_rr_rrsig_typecovered(rr);
      if (!tc || ldns_rdf2rr_type(tc) != type) continue;
    } else if (ldns_rr_get_type(rr) != type) {
      continue;
    }
    ldns_rr_list_push_rr(out.get(), ldns_rr_clone(rr));
  }
  return out;
}

class LdnsResolverImpl final : public Resolver {
 public:
  LdnsResolverImpl(ResolverOptions o, std::vector<HostPort> ups,
                   std::map<std::string, std::vector<RrPtr>> anchors, const hp::core::Clock& c)
      : options_(std::move(o)), upstreams_(std::move(ups)), anchors_(std::move(anchors)),
        clock_(c) {}

  Result<Answer> Lookup(std::string_view name_in, QType qtype) override {
    HP_ASSIGN_OR_RETURN(std::string name, NormalizeName(name_in, "name",
                                                        {.allow_wildcard = true,
                                                         .allow_root = true}));
    Answer ans;
    ans.qname = name;
    ans.qtype = qtype;
    auto type = static_cast<ldns_rr_type>(qtype);
    KeyCache keys;
    bool all_secure = true;
    std::string current = name;
    std::set<std::string> seen{current};
    for (int hop = 0; hop <= options_.max_cname_chain; ++hop) {
      HP_ASSIGN_OR_RETURN(PktPtr pkt, Send(current, type));
      bool followed = false;
      while (true) {
        RrListPtr data = Select(pkt.get(), LDNS_SECTION_ANSWER, current, type);
        if (ldns_rr_list_rr_count(data.get()) > 0) {
          HP_ASSIGN_OR_RETURN(bool secure,
                              ValidateRRset(pkt.get(), LDNS_SECTION_ANSWER, current, type, keys));
          all_secure &= secure;
          for (size_t i = 0; i < ldns_rr_list_rr_count(data.get()); ++i) {
            const ldns_rr* rr = ldns_rr_list_rr(data.get(), i);
            ans.records.push_back({current, static_cast<uint16_t>(type), ldns_rr_ttl(rr),
                                   RrDataToString(rr), RdataWire(rr)});
          }
          ans.dnssec = all_secure ? DnssecStatus::kSecure : DnssecStatus::kInsecure;
          return ans;
        }
        RrListPtr cname = Select(pkt.get(), LDNS_SECTION_ANSWER, current, LDNS_RR_TYPE_CNAME);
        if (type == LDNS_RR_TYPE_CNAME || ldns_rr_list_rr_count(cname.get()) == 0) break;
        HP_ASSIGN_OR_RETURN(bool secure, ValidateRRset(pkt.get(), LDNS_SECTION_ANSWER, current,
                                                       LDNS_RR_TYPE_CNAME, keys));
        all_secure &= secure;
        ans.cname_chain.push_back(current);
        current = DnameToString(ldns_rr_rdf(ldns_rr_list_rr(cname.get(), 0), 0));
        if (!seen.insert(current).second) {
          return Fail(ErrorCode::kAcmeDns, "CNAME loop at " + current);
        }
        if (static_cast<int>(ans.cname_chain.size()) > options_.max_cname_chain) {
          return Fail(ErrorCode::kAcmeDns, "CNAME chain longer than " +
                                               std::to_string(options_.max_cname_chain));
        }
        followed = true;
      }
      if (followed) continue;  // ask for the new name itself
      // A negative answer for `current`.
      ans.nxdomain = ldns_pkt_get_rcode(pkt.get()) == LDNS_RCODE_NXDOMAIN;
      HP_ASSIGN_OR_RETURN(bool secure, ValidateNegative(pkt.get(), current, type, keys));
      all_secure &= secure;
      ans.dnssec = all_secure ? DnssecStatus::kSecure : DnssecStatus::kInsecure;
      return ans;
    }
    return Fail(ErrorCode::kAcmeDns, "CNAME chain too long for " + name);
  }

 private:
  using KeyCache = std::map<std::string, std::shared_ptr<ldns_rr_list>>;

  bool Validating() const { return !anchors_.empty(); }

  // The closest trust anchor zone at or above `name`, or empty.
  std::string AnchorFor(const std::string& name) const {
    std::string best;
    for (const auto& [zone, rrs] : anchors_) {
      if (InZone(name, zone) && zone.size() > best.size()) best = zone;
    }
    return best;
  }

  Result<PktPtr> Send(const std::string& name, ldns_rr_type type) {
    RdfPtr qname = MakeDname(name);
    if (!qname) return FailField(ErrorCode::kInvalidArgument, "name", "bad name " + name);
    std::string last_error = "no upstream";
    for (const auto& up : upstreams_) {
      for (bool tcp : {false, true}) {
        ResolverPtr res(ldns_resolver_new());
        RdfPtr addr(ldns_rdf_new_frm_str(
            up.addr.ss_family == AF_INET ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA,
            up.host.c_str()));
        ldns_resolver_push_nameserver(res.get(), addr.get());
        ldns_resolver_set_port(res.get(), up.port);
        ldns_resolver_set_recursive(res.get(), options_.recursion_desired);
        ldns_resolver_set_retry(res.get(), static_cast<uint8_t>(std::max(1, options_.retries)));
        ldns_resolver_set_retrans(res.get(), 0);
        timeval tv{};
        tv.tv_sec = options_.timeout.count() / 1000;
        tv.tv_usec = (options_.timeout.count() % 1000) * 1000;
        ldns_resolver_set_timeout(res.get(), tv);
        ldns_resolver_set_usevc(res.get(), tcp);
        ldns_resolver_set_fallback(res.get(), false);
        ldns_resolver_set_igntc(res.get(), true);
        ldns_resolver_set_edns_udp_size(res.get(), options_.edns_udp_size);
        ldns_resolver_set_dnssec(res.get(), Validating());
        ldns_resolver_set_dnssec_cd(res.get(), false);
        ldns_resolver_set_random(res.get(), false);
        ldns_pkt* raw = nullptr;
        ldns_status st = ldns_resolver_query_status(&raw, res.get(), qname.get(), type,
                                                    LDNS_RR_CLASS_IN,
                                                    options_.recursion_desired ? LDNS_RD : 0);
        PktPtr pkt(raw);
        if (st != LDNS_STATUS_OK || !pkt) {
          last_error = up.host + ":" + std::to_string(up.port) + ": " +
                       ldns_get_errorstr_by_id(st);
          break;  // try the next upstream
        }
        if (ldns_pkt_tc(pkt.get()) && !tcp) continue;  // truncated: again over TCP
        ldns_pkt_rcode rc = ldns_pkt_get_rcode(pkt.get());
        if (rc == LDNS_RCODE_NOERROR || rc == LDNS_RCODE_NXDOMAIN) return pkt;
        last_error = up.host + ":" + std::to_string(up.port) + " answered " +
                     TakeCString(ldns_pkt_rcode2str(rc));
        break;
      }
    }
    return Fail(ErrorCode::kUnavailable, "DNS lookup of " + name + " " + TypeToString(type) +
                                             " failed: " + last_error);
  }

  // Validates the RRset (owner, type) of `sec`. true: secure; false: insecure (no anchor).
  Result<bool> ValidateRRset(const ldns_pkt* pkt, ldns_pkt_section sec, const std::string& owner,
                             ldns_rr_type type, KeyCache& cache) {
    if (!Validating()) return false;
    std::string anchor = AnchorFor(owner);
    if (anchor.empty()) return false;
    RrListPtr rrset = Select(pkt, sec, owner, type);
    RrListPtr sigs = Select(pkt, sec, owner, type, true);
    std::string what = owner + " " + TypeToString(type);
    if (ldns_rr_list_rr_count(sigs.get()) == 0) {
      return std::unexpected(Bogus("no RRSIG over " + what));
    }
    std::string signer = DnameToString(ldns_rr_rrsig_signame(ldns_rr_list_rr(sigs.get(), 0)));
    if (!InZone(owner, signer) || !InZone(signer, anchor)) {
      return std::unexpected(Bogus("signer " + signer + " of " + what + " is out of bailiwick"));
    }
    HP_ASSIGN_OR_RETURN(auto keys, ZoneKeys(signer, anchor, cache));
    HP_TRY(Verify(rrset.get(), sigs.get(), keys.get(), what));
    return true;
  }

  Status Verify(ldns_rr_list* rrset, ldns_rr_list* sigs, ldns_rr_list* keys,
                const std::string& what) {
    RrListPtr good(ldns_rr_list_new());
    time_t now = static_cast<time_t>(hp::core::ToUnixSeconds(clock_.Now()));
    ldns_status st = ldns_verify_time(rrset, sigs, keys, now, good.get());
    // `good` holds pointers into `keys`; free only the list.
    ldns_rr_list_free(good.release());
    if (st != LDNS_STATUS_OK) {
      return std::unexpected(Bogus(what + ": " + ldns_get_errorstr_by_id(st)));
    }
    return hp::core::Ok();
  }

  // The DNSKEY RRset of `zone`, authenticated from the anchor (directly, or through DS records
  // signed by the parent zone's keys).
  Result<std::shared_ptr<ldns_rr_list>> ZoneKeys(const std::string& zone,
                                                 const std::string& anchor, KeyCache& cache) {
    if (auto it = cache.find(zone); it != cache.end()) return it->second;
    HP_ASSIGN_OR_RETURN(PktPtr pkt, Send(zone, LDNS_RR_TYPE_DNSKEY));
    std::shared_ptr<ldns_rr_list> keys(
        Select(pkt.get(), LDNS_SECTION_ANSWER, zone, LDNS_RR_TYPE_DNSKEY).release(),
        ldns_rr_list_deep_free);
    RrListPtr sigs = Select(pkt.get(), LDNS_SECTION_ANSWER, zone, LDNS_RR_TYPE_DNSKEY, true);
    if (ldns_rr_list_rr_count(keys.get()) == 0) {
      return std::unexpected(Bogus("no DNSKEY for " + zone));
    }
    RrListPtr trusted(ldns_rr_list_new());
    std::vector<ldns_rr*> refs;  // DS or DNSKEY records the keys must match
    PktPtr ds_pkt;
    RrListPtr ds;
    if (zone == anchor) {
      for (const auto& a : anchors_.at(anchor)) refs.push_back(a.get());
    } else {
      HP_ASSIGN_OR_RETURN(ds_pkt, Send(zone, LDNS_RR_TYPE_DS));
      HP_ASSIGN_OR_RETURN(bool secure,
                          ValidateRRset(ds_pkt.get(), LDNS_SECTION_ANSWER, zone,
                                        LDNS_RR_TYPE_DS, cache));
      (void)secure;
      ds = Select(ds_pkt.get(), LDNS_SECTION_ANSWER, zone, LDNS_RR_TYPE_DS);
      for (size_t i = 0; i < ldns_rr_list_rr_count(ds.get()); ++i) {
        refs.push_back(ldns_rr_list_rr(ds.get(), i));
      }
      if (refs.empty()) return std::unexpected(Bogus("no DS for signed zone " + zone));
    }
    for (size_t i = 0; i < ldns_rr_list_rr_count(keys.get()); ++i) {
      ldns_rr* k = ldns_rr_list_rr(keys.get(), i);
      for (ldns_rr* ref : refs) {
        bool match = ldns_rr_get_type(ref) == LDNS_RR_TYPE_DS
                         ? ldns_rr_compare_ds(k, ref)
                         : ldns_rr_compare_no_rdata(k, ref) == 0 &&
                               RdataWire(k) == RdataWire(ref);
        if (match) {
          ldns_rr_list_push_rr(trusted.get(), ldns_rr_clone(k));
          break;
        }
      }
    }
    if (ldns_rr_list_rr_count(trusted.get()) == 0) {
      return std::unexpected(Bogus("no DNSKEY of " + zone + " matches its " +
                                   (zone == anchor ? "trust anchor" : "DS records")));
    }
    HP_TRY(Verify(keys.get(), sigs.get(), trusted.get(), zone + " DNSKEY"));
    cache[zone] = keys;
    return keys;
  }

  // NXDOMAIN / NODATA: SOA and NSEC/NSEC3 RRsets in the authority section must validate, and the
  // NSEC(3) records must deny the name/type.
  Result<bool> ValidateNegative(const ldns_pkt* pkt, const std::string& name, ldns_rr_type type,
                                KeyCache& cache) {
    if (!Validating() || AnchorFor(name).empty()) return false;
    RrListPtr auth(ldns_pkt_get_section_clone(pkt, LDNS_SECTION_AUTHORITY));
    std::set<std::pair<std::string, ldns_rr_type>> sets;
    RrListPtr nsecs(ldns_rr_list_new());
    RrListPtr sigs(ldns_rr_list_new());
    bool nsec3 = false;
    for (size_t i = 0; i < ldns_rr_list_rr_count(auth.get()); ++i) {
      ldns_rr* rr = ldns_rr_list_rr(auth.get(), i);
      ldns_rr_type t = ldns_rr_get_type(rr);
      if (t == LDNS_RR_TYPE_RRSIG) {
        ldns_rr_list_push_rr(sigs.get(), ldns_rr_clone(rr));
        continue;
      }
      if (t == LDNS_RR_TYPE_NSEC || t == LDNS_RR_TYPE_NSEC3) {
        nsec3 = t == LDNS_RR_TYPE_NSEC3;
        ldns_rr_list_push_rr(nsecs.get(), ldns_rr_clone(rr));
      }
      if (t == LDNS_RR_TYPE_SOA || t == LDNS_RR_TYPE_NSEC || t == LDNS_RR_TYPE_NSEC3) {
        sets.insert({DnameToString(ldns_rr_owner(rr)), t});
      }
    }
    if (ldns_rr_list_rr_count(nsecs.get()) == 0) {
      return std::unexpected(Bogus("negative answer for " + name + " without NSEC/NSEC3 proof"));
    }
    for (const auto& [owner, t] : sets) {
      HP_ASSIGN_OR_RETURN(bool secure,
                          ValidateRRset(pkt, LDNS_SECTION_AUTHORITY, owner, t, cache));
      (void)secure;
    }
    RrPtr q(ldns_rr_new());
    ldns_rr_set_owner(q.get(), MakeDname(name).release());
    ldns_rr_set_type(q.get(), type);
    ldns_rr_set_question(q.get(), true);
    ldns_status st =
        nsec3 ? ldns_dnssec_verify_denial_nsec3(q.get(), nsecs.get(), sigs.get(),
                                                ldns_pkt_get_rcode(pkt), type,
                                                ldns_pkt_get_rcode(pkt) == LDNS_RCODE_NOERROR)
              : ldns_dnssec_verify_denial(q.get(), nsecs.get(), sigs.get());
    if (st != LDNS_STATUS_OK) {
      return std::unexpected(Bogus("denial of " + name + ": " + ldns_get_errorstr_by_id(st)));
    }
    return true;
  }

  ResolverOptions options_;
  std::vector<HostPort> upstreams_;
  std::map<std::string, std::vector<RrPtr>> anchors_;
  const hp::core::Clock& clock_;
};

}  // namespace

Result<std::unique_ptr<Resolver>> CreateLdnsResolver(ResolverOptions options,
                                                     const hp::core::Clock& clock) {
  if (options.upstreams.empty()) {
    return FailField(ErrorCode::kInvalidArgument, "dns.upstream", "at least one upstream needed");
  }
  std::vector<HostPort> ups;
  for (const auto& u : options.upstreams) {
    HP_ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(u, "dns.upstream", 53));
    ups.push_back(hp);
  }
  std::map<std::string, std::vector<RrPtr>> anchors;
  for (const auto& a : options.trust_anchors) {
    ldns_rr* raw = nullptr;
    ldns_status st = ldns_rr_new_frm_str(&raw, a.c_str(), 3600, nullptr, nullptr);
    RrPtr rr(raw);
    if (st != LDNS_STATUS_OK || (ldns_rr_get_type(rr.get()) != LDNS_RR_TYPE_DS &&
                                 ldns_rr_get_type(rr.get()) != LDNS_RR_TYPE_DNSKEY)) {
      return FailField(ErrorCode::kInvalidArgument, "dns.trust_anchors",
                       "not a DS or DNSKEY record: " + a.substr(0, 60));
    }
    anchors[DnameToString(ldns_rr_owner(rr.get()))].push_back(std::move(rr));
  }
  if (options.timeout.count() <= 0) {
    return FailField(ErrorCode::kInvalidArgument, "dns.timeout", "must be positive");
  }
  return std::unique_ptr<Resolver>(
      new LdnsResolverImpl(std::move(options), std::move(ups), std::move(anchors), clock));
}

}  // namespace hp::dns
