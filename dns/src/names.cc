#include "names.h"

#include <arpa/inet.h>

namespace hp::dns::internal {

using hp::core::ErrorCode;
using hp::core::FailField;
using hp::core::Result;

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Result<std::string> NormalizeName(std::string_view input, const std::string& field,
                                  NameRules rules) {
  if (input.empty()) return FailField(ErrorCode::kInvalidArgument, field, "name is empty");
  if (input == ".") {
    if (rules.allow_root) return std::string(".");
    return FailField(ErrorCode::kInvalidArgument, field, "the root name is not allowed here");
  }
  std::string name = ToLower(input);
  if (name.back() != '.') name += '.';
  // Wire length: one length byte per label plus the labels plus the root byte.
  if (name.size() + 1 > 255) {
    return FailField(ErrorCode::kInvalidArgument, field, "name is longer than 255 octets");
  }
  size_t start = 0;
  bool first = true;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    std::string_view label(name.data() + start, dot - start);
    if (label.empty()) {
      return FailField(ErrorCode::kInvalidArgument, field, "name has an empty label");
    }
    if (label.size() > 63) {
      return FailField(ErrorCode::kInvalidArgument, field,
                       "label '" + std::string(label.substr(0, 16)) + "...' is longer than 63");
    }
    if (label == "*") {
      if (!first || !rules.allow_wildcard) {
        return FailField(ErrorCode::kInvalidArgument, field,
                         "'*' is only allowed as the leftmost label of an owner name");
      }
    } else {
      for (char c : label) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok) {
          return FailField(ErrorCode::kInvalidArgument, field,
                           std::string("invalid character '") + c + "' in name");
        }
      }
      if (label.front() == '-' || label.back() == '-') {
        return FailField(ErrorCode::kInvalidArgument, field,
                         "a label may not start or end with '-'");
      }
    }
    first = false;
    start = dot + 1;
  }
  return name;
}

bool InZone(std::string_view name, std::string_view zone) {
  if (zone == ".") return true;
  if (name.size() < zone.size()) return false;
  if (name.substr(name.size() - zone.size()) != zone) return false;
  return name.size() == zone.size() || name[name.size() - zone.size() - 1] == '.';
}

std::string Parent(std::string_view name) {
  size_t dot = name.find('.');
  if (dot == std::string_view::npos || dot + 1 >= name.size()) return ".";
  return std::string(name.substr(dot + 1));
}

Result<std::string> QualifyOwner(std::string_view input, const std::string& zone) {
  std::string abs;
  if (input.empty() || input == "@") {
    abs = zone;
  } else {
    std::string lower = ToLower(input);
    std::string zone_nodot = zone.substr(0, zone.size() - 1);
    if (lower.back() == '.') {
      abs = lower;
    } else if (lower == zone_nodot ||
               (lower.size() > zone_nodot.size() &&
                lower.ends_with("." + zone_nodot))) {
      abs = lower + ".";
    } else {
      abs = lower + "." + zone;
    }
  }
  HP_ASSIGN_OR_RETURN(std::string name, NormalizeName(abs, "name", {.allow_wildcard = true}));
  if (!InZone(name, zone)) {
    return FailField(ErrorCode::kInvalidArgument, "name",
                     "'" + name + "' is not inside the zone " + zone);
  }
  return name;
}

}  // namespace hp::dns::internal
