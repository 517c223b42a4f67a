#pragma once
// Configuration: a schema of documented, defaulted keys; a JSON file; environment overrides
// (HOSTPLANE_<KEY> with dots as underscores, upper case). Every problem names the key.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hp/core/error.h"

namespace hp::core {

enum class ConfigType { kString, kInt, kBool };

struct ConfigKey {
  std::string key;  // dotted, e.g. "http.listen"
  ConfigType type = ConfigType::kString;
  std::string default_value;
  std::string doc;
  int64_t min = INT64_MIN;
  int64_t max = INT64_MAX;
  std::vector<std::string> allowed;  // for enumerated strings
  // Extra validation: returns an error message or empty.
  std::string (*validate)(const std::string& value) = nullptr;
};

class ConfigSchema {
 public:
  ConfigSchema& Add(ConfigKey key);
  const std::vector<ConfigKey>& keys() const { return keys_; }
  const ConfigKey* Find(const std::string& key) const;
  // Markdown table of every key, default and doc (docs/config.md is generated from it).
  std::string Markdown() const;

 private:
  std::vector<ConfigKey> keys_;
};

class Config {
 public:
  const std::string& GetString(const std::string& key) const;  // aborts on an unknown key (bug)
  int64_t GetInt(const std::string& key) const;
  bool GetBool(const std::string& key) const;
  void Set(const std::string& key, std::string value) { values_[key] = std::move(value); }
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
};

// Loads defaults, then the JSON file (if given), then environment variables, then `overrides`
// (e.g. from --dev), validating every value against the schema. Unknown keys in the file or in
// HOSTPLANE_* variables are errors naming the key.
Result<Config> LoadConfig(const ConfigSchema& schema, const std::optional<std::string>& file,
                          const std::map<std::string, std::string>& environment,
                          const std::map<std::string, std::string>& overrides = {});

// The process environment as a map.
std::map<std::string, std::string> ProcessEnvironment();

// Validators shared by several keys.
std::string ValidateHostPort(const std::string& value);  // "127.0.0.1:8443", "[::1]:0"

}  // namespace hp::core
