#pragma once
// Secrets are non-copyable, wiped on release, compared in constant time, and never printed.

#include <string>
#include <string_view>

namespace hp::core {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  ~Secret();

  // Deliberately verbose: every use of the raw value is visible in review.
  std::string_view Reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  void Clear();

 private:
  std::string value_;
};

// Constant-time equality for MACs, tokens and hashes (length is not secret).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Overwrites a string's bytes in a way the compiler may not elide.
void SecureWipe(std::string& s);

// Redacted representation for logs: "<redacted:N>".
std::string Redacted(std::string_view secret);

}  // namespace hp::core
