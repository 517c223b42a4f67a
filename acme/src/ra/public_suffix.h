#pragma once
// The Public Suffix List (https://publicsuffix.org/list/, Debian package `publicsuffix`:
// /usr/share/publicsuffix/public_suffix_list.dat) and the "registered domain" of a name, for the
// certificates-per-registered-domain rate limit. The algorithm of publicsuffix.org/list/: the
// prevailing rule is an exception rule if one matches, else the matching rule with the most
// labels, else "*"; an exception rule's public suffix drops its leftmost label. Both the ICANN
// and the private sections count (github.io users each have their own registered domain, like
// Let's Encrypt's limit). Rules with non-ASCII labels are converted to A-labels (RFC 3492
// Punycode) because identifiers arrive in A-label form.
//
// Thread safety: immutable after Parse/Load; safe to share.

#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

#include "hp/core/error.h"

namespace hp::acme {

class PublicSuffixList {
 public:
  static PublicSuffixList Parse(std::string_view text);
  // kInvalidArgument naming `field` when the file is missing or holds no rules. Loaded once per
  // path and process, then shared.
  static core::Result<std::shared_ptr<const PublicSuffixList>> Load(const std::string& path,
                                                                    const std::string& field);

  // `name`: lower case, A-labels, no trailing dot. The public suffix plus one label; the name
  // itself when it is a public suffix (or has a single label).
  std::string RegisteredDomain(std::string_view name) const;
  std::string PublicSuffix(std::string_view name) const;
  size_t size() const { return rules_.size() + wildcards_.size() + exceptions_.size(); }

 private:
  // Number of labels of the public suffix of `name` (>= 1 for a non-empty name).
  size_t SuffixLabels(std::string_view name) const;
  std::unordered_set<std::string> rules_;       // "co.uk"
  std::unordered_set<std::string> wildcards_;   // "ck" for "*.ck"
  std::unordered_set<std::string> exceptions_;  // "www.ck" for "!www.ck"
};

// RFC 3492 Punycode of one UTF-8 label, with the "xn--" prefix when it is not pure ASCII
// (ASCII labels are returned unchanged). Invalid UTF-8 returns the input unchanged.
std::string ToALabel(std::string_view label);

}  // namespace hp::acme
