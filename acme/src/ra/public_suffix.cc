#include "ra/public_suffix.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

namespace hp::acme {
namespace {

bool DecodeUtf8(std::string_view s, std::vector<uint32_t>* out) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0;
    size_t len = 0;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c & 0xe0) == 0xc0) {
      cp = c & 0x1f;
      len = 2;
    } else if ((c & 0xf0) == 0xe0) {
      cp = c & 0x0f;
      len = 3;
    } else if ((c & 0xf8) == 0xf0) {
      cp = c & 0x07;
      len = 4;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t j = 1; j < len; ++j) {
      const auto d = static_cast<unsigned char>(s[i + j]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    out->push_back(cp);
    i += len;
  }
  return true;
}

// RFC 3492 section 6.1.
uint32_t Adapt(uint32_t delta, uint32_t numpoints, bool first) {
  constexpr uint32_t kBase = 36, kTmin = 1, kTmax = 26, kSkew = 38, kDamp = 700;
  delta = first ? delta / kDamp : delta / 2;
  delta += delta / numpoints;
  uint32_t k = 0;
  while (delta > ((kBase - kTmin) * kTmax) / 2) {
    delta /= kBase - kTmin;
    k += kBase;
  }
  return k + (kBase - kTmin + 1) * delta / (delta + kSkew);
}

char Digit(uint32_t d) { return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26)); }

std::vector<std::string_view> Labels(std::string_view name) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    out.push_back(name.substr(start, dot - start));
    start = dot + 1;
  }
  return out;
}

}  // namespace

std::string ToALabel(std::string_view label) {
  std::vector<uint32_t> cps;
  if (!DecodeUtf8(label, &cps)) return std::string(label);
  std::string out;
  for (uint32_t c : cps) {
    if (c < 0x80) out += static_cast<char>(c);
  }
  const uint32_t b = static_cast<uint32_t>(out.size());
  if (b == cps.size()) return out;
  if (b > 0) out += '-';
  constexpr uint32_t kBase = 36, kTmin = 1, kTmax = 26;
  uint32_t n = 128, delta = 0, bias = 72, h = b;
  while (h < cps.size()) {
    uint32_t m = UINT32_MAX;
    for (uint32_t c : cps) {
      if (c >= n && c < m) m = c;
    }
    delta += (m - n) * (h + 1);
    n = m;
    for (uint32_t c : cps) {
      if (c < n) ++delta;
      if (c == n) {
        uint32_t q = delta;
        for (uint32_t k = kBase;; k += kBase) {
          const uint32_t t = k <= bias ? kTmin : (k >= bias + kTmax ? kTmax : k - bias);
          if (q < t) break;
          out += Digit(t + (q - t) % (kBase - t));
          q = (q - t) / (kBase - t);
        }
        out += Digit(q);
        bias = Adapt(delta, h + 1, h == b);
        delta = 0;
        ++h;
      }
    }
    ++delta;
    ++n;
  }
  return "xn--" + out;
}

PublicSuffixList PublicSuffixList::Parse(std::string_view text) {
  PublicSuffixList psl;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    // A rule is the first whitespace-delimited token of a line; "//" starts a comment line.
    size_t ws = line.find_first_of(" \t\r");
    if (ws != std::string_view::npos) line = line.substr(0, ws);
    if (line.empty() || line.starts_with("//")) continue;
    bool exception = false, wildcard = false;
    if (line.front() == '!') {
      exception = true;
      line.remove_prefix(1);
    } else if (line.starts_with("*.")) {
      wildcard = true;
      line.remove_prefix(2);
    }
    std::string rule;
    for (std::string_view label : Labels(line)) {
      if (!rule.empty()) rule += '.';
      std::string l = ToALabel(label);
      for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      rule += l;
    }
    if (rule.empty()) continue;
    (exception ? psl.exceptions_ : wildcard ? psl.wildcards_ : psl.rules_).insert(rule);
  }
  return psl;
}

core::Result<std::shared_ptr<const PublicSuffixList>> PublicSuffixList::Load(
    const std::string& path, const std::string& field) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const PublicSuffixList>> loaded;
  std::lock_guard lock(mu);
  if (auto it = loaded.find(path); it != loaded.end()) return it->second;
  std::ifstream in(path);
  if (!in) {
    return core::FailField(core::ErrorCode::kInvalidArgument, field,
                           "cannot read the Public Suffix List " + path +
                               " (Debian package publicsuffix)");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto psl = std::make_shared<const PublicSuffixList>(Parse(ss.str()));
  if (psl->size() < 2) {
    return core::FailField(core::ErrorCode::kInvalidArgument, field,
                           path + " holds no public suffix rules");
  }
  loaded[path] = psl;
  return std::shared_ptr<const PublicSuffixList>(psl);
}

size_t PublicSuffixList::SuffixLabels(std::string_view name) const {
  const auto labels = Labels(name);
  const size_t n = labels.size();
  // Suffix starting at label i, as a view into `name`.
  auto suffix = [&](size_t i) {
    return name.substr(static_cast<size_t>(labels[i].data() - name.data()));
  };
  std::string tmp;
  auto has = [&](const std::unordered_set<std::string>& set, std::string_view s) {
    tmp.assign(s);
    return set.contains(tmp);
  };
  // An exception rule wins over everything; its public suffix is the rule minus one label.
  for (size_t i = 0; i < n; ++i) {
    if (has(exceptions_, suffix(i))) return n - i - 1;
  }
  // Otherwise the longest matching rule (i from the left: most labels first).
  for (size_t i = 0; i < n; ++i) {
    if (has(rules_, suffix(i))) return n - i;
    if (i + 1 < n && has(wildcards_, suffix(i + 1))) return n - i;
  }
  return 1;  // the implicit "*" rule
}

std::string PublicSuffixList::PublicSuffix(std::string_view name) const {
  const auto labels = Labels(name);
  const size_t k = std::min(SuffixLabels(name), labels.size());
  return std::string(name.substr(static_cast<size_t>(labels[labels.size() - k].data() - name.data())));
}

std::string PublicSuffixList::RegisteredDomain(std::string_view name) const {
  const auto labels = Labels(name);
  const size_t k = SuffixLabels(name);
  if (k >= labels.size()) return std::string(name);
  return std::string(
      name.substr(static_cast<size_t>(labels[labels.size() - k - 1].data() - name.data())));
}

}  // namespace hp::acme
