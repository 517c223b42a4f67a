#include "hp/dns/caa.h"

#include <map>

#include "names.h"

namespace hp::dns {

using hp::core::Result;
using internal::ToLower;

namespace {

std::string Trim(std::string_view s) {
  size_t a = s.find_first_not_of(" \t");
  if (a == std::string_view::npos) return "";
  size_t b = s.find_last_not_of(" \t");
  return std::string(s.substr(a, b - a + 1));
}

struct IssueValue {
  bool valid = false;
  std::string domain;  // lower case; empty: nobody
  std::map<std::string, std::string> params;
};

// RFC 8659 §4.2: issuer-domain-name *WSP [";" *WSP [parameters] *WSP]; parameter: tag "=" value.
IssueValue ParseIssue(std::string_view v) {
  IssueValue out;
  size_t semi = v.find(';');
  out.domain = ToLower(Trim(v.substr(0, semi)));
  if (!out.domain.empty()) {
    for (char c : out.domain) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
      if (!ok) return out;
    }
    if (out.domain.front() == '.' || out.domain.back() == '.' ||
        out.domain.find("..") != std::string::npos) {
      return out;
    }
  }
  if (semi != std::string_view::npos) {
    std::string_view rest = v.substr(semi + 1);
    size_t start = 0;
    while (start <= rest.size()) {
      size_t next = rest.find(';', start);
      std::string p = Trim(rest.substr(start, next == std::string_view::npos ? rest.npos
                                                                             : next - start));
      if (!p.empty()) {
        size_t eq = p.find('=');
        if (eq == std::string::npos || eq == 0) return out;
        std::string key = ToLower(p.substr(0, eq));
        std::string val = p.substr(eq + 1);
        for (char c : key) {
          if (!isalnum(static_cast<unsigned char>(c))) return out;
        }
        for (char c : val) {
          if (c <= 0x20 || c >= 0x7f) return out;
        }
        if (out.params.count(key)) return out;  // a repeated parameter is ambiguous
        out.params[key] = val;
      } else if (next != std::string_view::npos) {
        return out;  // ";;" has an empty parameter
      }
      if (next == std::string_view::npos) break;
      start = next + 1;
    }
  }
  out.valid = true;
  return out;
}

bool KnownTag(const std::string& tag) {
  return tag == "issue" || tag == "issuewild" || tag == "iodef" || tag == "contactemail" ||
         tag == "contactphone" || tag == "issuemail" || tag == "issuevmc";
}

}  // namespace

CaaChecker::CaaChecker(Resolver& resolver, CaaConfig config)
    : resolver_(resolver), config_(std::move(config)) {
  for (auto& d : config_.issuer_domains) {
    d = ToLower(d);
    while (!d.empty() && d.back() == '.') d.pop_back();
  }
}

CaaDecision CaaChecker::Evaluate(const std::vector<CaaRecord>& rrset,
                                 const CaaRequest& req) const {
  CaaDecision d;
  d.records = rrset;
  if (rrset.empty()) {
    d.permitted = true;
    d.reason = "no CAA records: issuance is not restricted";
    return d;
  }
  for (const auto& r : rrset) {
    if ((r.flags & 0x80) && !KnownTag(ToLower(r.tag))) {
      d.reason = "CAA record with unknown critical tag '" + r.tag + "' forbids issuance";
      return d;
    }
  }
  bool wildcard = req.wildcard || req.name.starts_with("*.");
  std::vector<const CaaRecord*> props;
  if (wildcard) {
    for (const auto& r : rrset) {
      if (ToLower(r.tag) == "issuewild") props.push_back(&r);
    }
  }
  std::string used = props.empty() ? "issue" : "issuewild";
  if (props.empty()) {
    for (const auto& r : rrset) {
      if (ToLower(r.tag) == "issue") props.push_back(&r);
    }
  }
  if (props.empty()) {
    d.permitted = true;
    d.reason = "CAA records have no issue" + std::string(wildcard ? "/issuewild" : "") +
               " property: issuance is not restricted";
    return d;
  }
  std::string why = "no " + used + " property names this CA";
  for (const CaaRecord* r : props) {
    IssueValue v = ParseIssue(r->value);
    if (!v.valid) {
      why = "malformed " + used + " value '" + r->value + "' authorises nobody";
      continue;
    }
    if (v.domain.empty()) continue;
    bool ours = false;
    for (const auto& mine : config_.issuer_domains) ours |= mine == v.domain;
    if (!ours) continue;
    if (auto it = v.params.find("accounturi"); it != v.params.end()) {
      if (it->second != req.account_uri) {
        why = "accounturi " + it->second + " does not match the requesting account";
        continue;
      }
    }
    if (auto it = v.params.find("validationmethods"); it != v.params.end()) {
      bool listed = false;
      std::string_view list = it->second;
      size_t start = 0;
      while (start <= list.size()) {
        size_t comma = list.find(',', start);
        std::string_view m = list.substr(start, comma == list.npos ? list.npos : comma - start);
        listed |= m == req.method;
        if (comma == list.npos) break;
        start = comma + 1;
      }
      if (!listed) {
        why = "validationmethods " + it->second + " does not allow " + req.method;
        continue;
      }
    }
    d.permitted = true;
    d.reason = "authorised by " + used + " \"" + r->value + "\"";
    return d;
  }
  d.reason = why;
  return d;
}

Result<CaaDecision> CaaChecker::Check(const CaaRequest& req) const {
  std::string name = req.name;
  if (name.starts_with("*.")) name = name.substr(2);
  HP_ASSIGN_OR_RETURN(name, internal::NormalizeName(name, "name"));
  bool all_secure = true;
  for (std::string cur = name; cur != "."; cur = internal::Parent(cur)) {
    HP_ASSIGN_OR_RETURN(Answer a, resolver_.Lookup(cur, QType::kCAA));
    all_secure &= a.dnssec == DnssecStatus::kSecure;
    if (a.records.empty()) continue;
    std::vector<CaaRecord> set;
    for (const auto& rr : a.records) {
      const std::string& w = rr.rdata;
      if (w.size() < 2 || w.size() < 2u + static_cast<uint8_t>(w[1])) {
        return hp::core::Fail(hp::core::ErrorCode::kAcmeDns, "malformed CAA record at " + cur);
      }
      size_t tlen = static_cast<uint8_t>(w[1]);
      set.push_back({rr.name, static_cast<uint8_t>(w[0]), w.substr(2, tlen), w.substr(2 + tlen)});
    }
    CaaDecision d = Evaluate(set, req);
    d.relevant_name = cur;
    d.dnssec = all_secure ? DnssecStatus::kSecure : DnssecStatus::kInsecure;
    d.reason = cur + ": " + d.reason;
    return d;
  }
  CaaDecision d = Evaluate({}, req);
  d.dnssec = all_secure ? DnssecStatus::kSecure : DnssecStatus::kInsecure;
  return d;
}

}  // namespace hp::dns
