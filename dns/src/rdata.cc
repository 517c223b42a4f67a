// Record data validation: our own field-by-field checks (for precise error messages), then
// ldns parses the result so the stored form is exactly what the wire code will read back.

#include <arpa/inet.h>

#include <charconv>
#include <vector>

#include "ldns_util.h"
#include "names.h"

namespace hp::dns::internal {

using hp::core::ErrorCode;
using hp::core::FailField;
using hp::core::Result;
using hp::core::Status;

namespace {

std::vector<std::string> SplitTokens(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i >= s.size()) break;
    size_t start = i;
    if (s[i] == '"') {
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        ++i;
      }
      if (i < s.size()) ++i;
    } else {
      while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    }
    out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

Result<uint32_t> ParseUint(std::string_view s, uint32_t max, const std::string& field) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > max) {
    return FailField(ErrorCode::kInvalidArgument, field,
                     "must be an integer between 0 and " + std::to_string(max));
  }
  return v;
}

// Parses a sequence of character-strings (quoted with escapes, or bare tokens) into raw bytes.
Result<std::vector<std::string>> ParseCharacterStrings(std::string_view s,
                                                       const std::string& field) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i >= s.size()) break;
    bool quoted = s[i] == '"';
    if (quoted) ++i;
    std::string cur;
    bool closed = !quoted;
    while (i < s.size()) {
      char c = s[i];
      if (quoted && c == '"') {
        closed = true;
        ++i;
        break;
      }
      if (!quoted && (c == ' ' || c == '\t')) break;
      if (!quoted && c == '"') {
        return FailField(ErrorCode::kInvalidArgument, field, "unexpected quote");
      }
      if (c == '\\') {
        if (i + 1 >= s.size()) {
          return FailField(ErrorCode::kInvalidArgument, field, "dangling backslash");
        }
        if (i + 3 < s.size() + 0 && isdigit(static_cast<unsigned char>(s[i + 1])) &&
            isdigit(static_cast<unsigned char>(s[i + 2])) &&
            isdigit(static_cast<unsigned char>(s[i + 3]))) {
          int v = (s[i + 1] - '0') * 100 + (s[i + 2] - '0') * 10 + (s[i + 3] - '0');
          if (v > 255) return FailField(ErrorCode::kInvalidArgument, field, "bad \\DDD escape");
          cur += static_cast<char>(v);
          i += 4;
          continue;
        }
        cur += s[i + 1];
        i += 2;
        continue;
      }
      cur += c;
      ++i;
    }
    if (!closed) return FailField(ErrorCode::kInvalidArgument, field, "unterminated quote");
    if (cur.size() > 255) {
      return FailField(ErrorCode::kInvalidArgument, field,
                       "a character-string is longer than 255 octets");
    }
    out.push_back(std::move(cur));
  }
  return out;
}

std::string Quote(std::string_view raw) {
  std::string out = "\"";
  for (unsigned char c : raw) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\%03u", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

Result<std::string> Target(std::string_view tok, const std::string& field, bool allow_root) {
  return NormalizeName(tok, field, {.allow_wildcard = false, .allow_root = allow_root});
}

Status WantTokens(const std::vector<std::string>& toks, size_t n, std::string_view shape) {
  if (toks.size() != n) {
    return FailField(ErrorCode::kInvalidArgument, "data",
                     "expected " + std::string(shape));
  }
  return hp::core::Ok();
}

// Checks an RFC 8659 issue/issuewild value: [issuer-domain-name] [; key=value]*.
Status CheckIssueValue(std::string_view v) {
  size_t semi = v.find(';');
  std::string domain(v.substr(0, semi));
  while (!domain.empty() && (domain.back() == ' ' || domain.back() == '\t')) domain.pop_back();
  while (!domain.empty() && (domain.front() == ' ' || domain.front() == '\t')) domain.erase(0, 1);
  if (!domain.empty()) {
    auto r = NormalizeName(domain, "data.value", {});
    if (!r) return std::unexpected(r.error());
    if (domain.back() == '.') {
      return FailField(ErrorCode::kInvalidArgument, "data.value",
                       "issuer domain name must not end with a dot");
    }
  }
  if (semi == std::string_view::npos) return hp::core::Ok();
  std::string_view rest = v.substr(semi + 1);
  size_t i = 0;
  while (i < rest.size()) {
    size_t next = rest.find(';', i);
    std::string_view kv = rest.substr(i, next == std::string_view::npos ? rest.npos : next - i);
    size_t a = kv.find_first_not_of(" \t");
    size_t b = kv.find_last_not_of(" \t");
    if (a != std::string_view::npos) {
      kv = kv.substr(a, b - a + 1);
      size_t eq = kv.find('=');
      if (eq == 0 || eq == std::string_view::npos) {
        return FailField(ErrorCode::kInvalidArgument, "data.value",
                         "CAA parameter must be key=value");
      }
      for (char c : kv.substr(0, eq)) {
        if (!isalnum(static_cast<unsigned char>(c))) {
          return FailField(ErrorCode::kInvalidArgument, "data.value", "bad CAA parameter key");
        }
      }
      for (char c : kv.substr(eq + 1)) {
        if (c <= 0x20 || c >= 0x7f || c == ';') {
          return FailField(ErrorCode::kInvalidArgument, "data.value",
                           "bad CAA parameter value");
        }
      }
    } else if (next != std::string_view::npos || i != 0) {
      // An empty parameter between semicolons is tolerated only at the end.
    }
    if (next == std::string_view::npos) break;
    i = next + 1;
  }
  return hp::core::Ok();
}

}  // namespace

Result<std::string> CanonicalRdata(RecordType type, std::string_view data,
                                   const std::string& owner) {
  std::string_view d = data;
  while (!d.empty() && (d.front() == ' ' || d.front() == '\t')) d.remove_prefix(1);
  while (!d.empty() && (d.back() == ' ' || d.back() == '\t')) d.remove_suffix(1);
  if (d.empty()) return FailField(ErrorCode::kInvalidArgument, "data", "data is empty");
  if (d.size() > 8192) return FailField(ErrorCode::kInvalidArgument, "data", "data is too long");
  for (char c : d) {
    if (c == '\n' || c == '\r' || c == '\0') {
      return FailField(ErrorCode::kInvalidArgument, "data", "data contains a line break or NUL");
    }
  }
  std::vector<std::string> toks = SplitTokens(d);
  std::string text;  // what ldns parses
  switch (type) {
    case RecordType::kA: {
      HP_TRY(WantTokens(toks, 1, "an IPv4 address"));
      in_addr a{};
      if (inet_pton(AF_INET, toks[0].c_str(), &a) != 1) {
        return FailField(ErrorCode::kInvalidArgument, "data", "not an IPv4 address");
      }
      char buf[INET_ADDRSTRLEN];
      text = inet_ntop(AF_INET, &a, buf, sizeof buf);
      break;
    }
    case RecordType::kAAAA: {
      HP_TRY(WantTokens(toks, 1, "an IPv6 address"));
      in6_addr a{};
      if (inet_pton(AF_INET6, toks[0].c_str(), &a) != 1) {
        return FailField(ErrorCode::kInvalidArgument, "data", "not an IPv6 address");
      }
      char buf[INET6_ADDRSTRLEN];
      text = inet_ntop(AF_INET6, &a, buf, sizeof buf);
      break;
    }
    case RecordType::kCNAME:
    case RecordType::kNS:
    case RecordType::kPTR: {
      HP_TRY(WantTokens(toks, 1, "one domain name"));
      HP_ASSIGN_OR_RETURN(text, Target(toks[0], "data", false));
      break;
    }
    case RecordType::kMX: {
      HP_TRY(WantTokens(toks, 2, "'<preference> <exchange>'"));
      HP_ASSIGN_OR_RETURN(uint32_t pref, ParseUint(toks[0], 65535, "data.preference"));
      HP_ASSIGN_OR_RETURN(std::string host, Target(toks[1], "data.exchange", true));
      text = std::to_string(pref) + " " + host;
      break;
    }
    case RecordType::kSRV: {
      HP_TRY(WantTokens(toks, 4, "'<priority> <weight> <port> <target>'"));
      HP_ASSIGN_OR_RETURN(uint32_t prio, ParseUint(toks[0], 65535, "data.priority"));
      HP_ASSIGN_OR_RETURN(uint32_t weight, ParseUint(toks[1], 65535, "data.weight"));
      HP_ASSIGN_OR_RETURN(uint32_t port, ParseUint(toks[2], 65535, "data.port"));
      HP_ASSIGN_OR_RETURN(std::string host, Target(toks[3], "data.target", true));
      text = std::to_string(prio) + " " + std::to_string(weight) + " " + std::to_string(port) +
             " " + host;
      break;
    }
    case RecordType::kTXT: {
      std::vector<std::string> strings;
      if (d.front() == '"') {
        HP_ASSIGN_OR_RETURN(strings, ParseCharacterStrings(d, "data"));
      } else {
        std::string raw(d);
        for (size_t i = 0; i < raw.size(); i += 255) strings.push_back(raw.substr(i, 255));
      }
      if (strings.empty()) return FailField(ErrorCode::kInvalidArgument, "data", "no text");
      for (size_t i = 0; i < strings.size(); ++i) {
        if (i) text += ' ';
        text += Quote(strings[i]);
      }
      break;
    }
    case RecordType::kCAA: {
      if (toks.size() < 3) {
        return FailField(ErrorCode::kInvalidArgument, "data", "expected '<flags> <tag> <value>'");
      }
      HP_ASSIGN_OR_RETURN(uint32_t flags, ParseUint(toks[0], 255, "data.flags"));
      const std::string& tag = toks[1];
      if (tag.empty() || tag.size() > 15) {
        return FailField(ErrorCode::kInvalidArgument, "data.tag", "tag must be 1-15 characters");
      }
      for (char c : tag) {
        if (!isalnum(static_cast<unsigned char>(c))) {
          return FailField(ErrorCode::kInvalidArgument, "data.tag",
                           "tag must be letters and digits");
        }
      }
      // The value is the rest: one quoted string, or a bare token.
      size_t pos = d.find(tag, d.find_first_not_of("0123456789")) + tag.size();
      std::string_view rest = d.substr(pos);
      while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
      std::string value;
      if (!rest.empty() && rest.front() == '"') {
        HP_ASSIGN_OR_RETURN(auto parts, ParseCharacterStrings(rest, "data.value"));
        if (parts.size() != 1) {
          return FailField(ErrorCode::kInvalidArgument, "data.value",
                           "the value must be one quoted string");
        }
        value = parts[0];
      } else {
        if (toks.size() != 3) {
          return FailField(ErrorCode::kInvalidArgument, "data.value",
                           "quote a value that contains spaces");
        }
        value = toks[2];
      }
      std::string ltag = ToLower(tag);
      if (ltag == "issue" || ltag == "issuewild") {
        HP_TRY(CheckIssueValue(value));
      } else if (ltag == "iodef") {
        if (!value.starts_with("mailto:") && !value.starts_with("https://") &&
            !value.starts_with("http://")) {
          return FailField(ErrorCode::kInvalidArgument, "data.value",
                           "iodef must be a mailto:, http: or https: URL");
        }
      }
      text = std::to_string(flags) + " " + tag + " " + Quote(value);
      break;
    }
  }
  // Round-trip through ldns: the canonical form is what ldns prints.
  std::string rr_text = owner + " 3600 IN " + std::string(RecordTypeName(type)) + " " + text;
  ldns_rr* raw = nullptr;
  ldns_status st = ldns_rr_new_frm_str(&raw, rr_text.c_str(), 0, nullptr, nullptr);
  RrPtr rr(raw);
  if (st != LDNS_STATUS_OK) {
    return FailField(ErrorCode::kInvalidArgument, "data",
                     std::string("unparseable record data: ") + ldns_get_errorstr_by_id(st));
  }
  std::string canon = RrDataToString(rr.get());
  if (type == RecordType::kCNAME || type == RecordType::kNS || type == RecordType::kPTR ||
      type == RecordType::kMX || type == RecordType::kSRV) {
    canon = ToLower(canon);
  }
  return canon;
}

}  // namespace hp::dns::internal
