#include <algorithm>
#include <mutex>
#include <sstream>

#include "hp/acme/dns_checker.h"

namespace hp::acme {

struct StaticDnsChecker::State {
  std::mutex mu;
  std::vector<std::string> default_ips;
  std::map<std::string, std::vector<std::string>> ips, txt, caa;
};

StaticDnsChecker::StaticDnsChecker(std::vector<std::string> default_ips)
    : state_(std::make_shared<State>()) {
  state_->default_ips = std::move(default_ips);
}

void StaticDnsChecker::SetIps(const std::string& name, std::vector<std::string> ips) {
  std::lock_guard l(state_->mu);
  state_->ips[name] = std::move(ips);
}
void StaticDnsChecker::SetTxt(const std::string& name, std::vector<std::string> values) {
  std::lock_guard l(state_->mu);
  state_->txt[name] = std::move(values);
}
void StaticDnsChecker::SetCaa(const std::string& name, std::vector<std::string> records) {
  std::lock_guard l(state_->mu);
  state_->caa[name] = std::move(records);
}

core::Result<std::vector<std::string>> StaticDnsChecker::LookupIps(const std::string& name) {
  std::lock_guard l(state_->mu);
  auto it = state_->ips.find(name);
  const auto& v = it == state_->ips.end() ? state_->default_ips : it->second;
  if (v.empty()) return core::Fail(core::ErrorCode::kAcmeDns, "no A/AAAA records for " + name);
  return v;
}

core::Result<std::vector<std::string>> StaticDnsChecker::LookupTxt(const std::string& name) {
  std::lock_guard l(state_->mu);
  auto it = state_->txt.find(name);
  if (it == state_->txt.end()) return std::vector<std::string>{};
  return it->second;
}

core::Status StaticDnsChecker::CheckCaa(const CaaQuery& q) {
  std::vector<std::string> records;
  {
    std::lock_guard l(state_->mu);
    std::string name = q.domain;
    while (!name.empty()) {
      auto it = state_->caa.find(name);
      if (it != state_->caa.end() && !it->second.empty()) {
        records = it->second;
        break;
      }
      auto dot = name.find('.');
      if (dot == std::string::npos) break;
      name = name.substr(dot + 1);
    }
  }
  if (records.empty()) return core::Ok();
  struct Rec {
    std::string tag, value;
  };
  std::vector<Rec> issue, issuewild;
  for (const auto& r : records) {
    std::istringstream in(r);
    int flags = 0;
    Rec rec;
    in >> flags >> rec.tag;
    std::getline(in, rec.value);
    rec.value.erase(0, rec.value.find_first_not_of(' '));
    if (rec.value.size() >= 2 && rec.value.front() == '"') {
      rec.value = rec.value.substr(1, rec.value.size() - 2);
    }
    if (rec.tag == "issue") issue.push_back(rec);
    if (rec.tag == "issuewild") issuewild.push_back(rec);
    if ((flags & 128) && rec.tag != "issue" && rec.tag != "issuewild" && rec.tag != "iodef") {
      return core::Fail(core::ErrorCode::kAcmeCaa,
                        "CAA record for " + q.domain + " has an unknown critical tag");
    }
  }
  const auto& relevant = q.wildcard && !issuewild.empty() ? issuewild : issue;
  if (relevant.empty()) return core::Ok();
  for (const auto& rec : relevant) {
    std::string v = rec.value;
    std::vector<std::string> parts;
    std::stringstream ss(v);
    std::string part;
    while (std::getline(ss, part, ';')) {
      part.erase(0, part.find_first_not_of(" \t"));
      part.erase(part.find_last_not_of(" \t") + 1);
      parts.push_back(part);
    }
    if (parts.empty() || std::find(q.issuer_domains.begin(), q.issuer_domains.end(), parts[0]) ==
                             q.issuer_domains.end()) {
      continue;
    }
    bool ok = true;
    for (size_t i = 1; i < parts.size(); ++i) {
      auto eq = parts[i].find('=');
      if (eq == std::string::npos) continue;
      std::string k = parts[i].substr(0, eq), val = parts[i].substr(eq + 1);
      if (k == "accounturi" && val != q.account_uri) ok = false;
      if (k == "validationmethods") {
        std::stringstream ms(val);
        std::string m;
        bool found = false;
        while (std::getline(ms, m, ',')) found |= m == q.method;
        ok &= found;
      }
    }
    if (ok) return core::Ok();
  }
  return core::Fail(core::ErrorCode::kAcmeCaa,
                    "CAA records for " + q.domain + " do not allow this CA to issue");
}

}  // namespace hp::acme
