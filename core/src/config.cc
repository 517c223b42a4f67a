#include "hp/core/config.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "hp/core/json.h"

extern char** environ;

namespace hp::core {

ConfigSchema& ConfigSchema::Add(ConfigKey key) {
  keys_.push_back(std::move(key));
  return *this;
}

const ConfigKey* ConfigSchema::Find(const std::string& key) const {
  for (const auto& k : keys_)
    if (k.key == key) return &k;
  return nullptr;
}

std::string ConfigSchema::Markdown() const {
  std::ostringstream o;
  o << "| key | environment variable | type | default | meaning |\n|---|---|---|---|---|\n";
  for (const auto& k : keys_) {
    std::string env = "HOSTPLANE_";
    for (char c : k.key) env += (c == '.' || c == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const char* type = k.type == ConfigType::kInt ? "int" : k.type == ConfigType::kBool ? "bool" : "string";
    std::string doc = k.doc;
    if (!k.allowed.empty()) {
      doc += " One of:";
      for (const auto& a : k.allowed) doc += " `" + a + "`";
      doc += ".";
    }
    if (k.type == ConfigType::kInt && (k.min != INT64_MIN || k.max != INT64_MAX))
      doc += " Range " + std::to_string(k.min) + "..." + std::to_string(k.max) + ".";
    o << "| `" << k.key << "` | `" << env << "` | " << type << " | `" << k.default_value << "` | " << doc << " |\n";
  }
  return o.str();
}

const std::string& Config::GetString(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) {
    std::fprintf(stderr, "fatal: config key %s not in schema\n", key.c_str());
    std::abort();
  }
  return it->second;
}
int64_t Config::GetInt(const std::string& key) const { return std::stoll(GetString(key)); }
bool Config::GetBool(const std::string& key) const { return GetString(key) == "true"; }

namespace {

std::string EnvName(const std::string& key) {
  std::string env = "HOSTPLANE_";
  for (char c : key) env += (c == '.' || c == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return env;
}

Result<std::string> Normalize(const ConfigKey& k, const std::string& raw, const std::string& source) {
  auto bad = [&](const std::string& why) {
    return FailField(ErrorCode::kInvalidArgument, k.key,
                     "config key '" + k.key + "' (" + source + "): " + why);
  };
  switch (k.type) {
    case ConfigType::kInt: {
      if (raw.empty()) return bad("must be an integer");
      size_t pos = 0;
      long long v = 0;
      try {
        v = std::stoll(raw, &pos);
      } catch (...) {
        return bad("must be an integer, got '" + raw + "'");
      }
      if (pos != raw.size()) return bad("must be an integer, got '" + raw + "'");
      if (v < k.min || v > k.max)
        return bad("must be between " + std::to_string(k.min) + " and " + std::to_string(k.max) + ", got " + raw);
      return std::to_string(v);
    }
    case ConfigType::kBool:
      if (raw == "true" || raw == "1" || raw == "yes") return std::string("true");
      if (raw == "false" || raw == "0" || raw == "no") return std::string("false");
      return bad("must be true or false, got '" + raw + "'");
    case ConfigType::kString:
      if (!k.allowed.empty() && std::find(k.allowed.begin(), k.allowed.end(), raw) == k.allowed.end()) {
        std::string list;
        for (const auto& a : k.allowed) list += (list.empty() ? "" : ", ") + a;
        return bad("must be one of " + list + ", got '" + raw + "'");
      }
      if (k.validate) {
        std::string why = k.validate(raw);
        if (!why.empty()) return bad(why);
      }
      return raw;
  }
  return raw;
}

Status Flatten(const Json& j, const std::string& prefix, std::map<std::string, std::string>* out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    const Json& v = it.value();
    if (v.is_object()) {
      HP_TRY(Flatten(v, key, out));
    } else if (v.is_string()) {
      (*out)[key] = v.get<std::string>();
    } else if (v.is_boolean()) {
      (*out)[key] = v.get<bool>() ? "true" : "false";
    } else if (v.is_number_integer()) {
      (*out)[key] = std::to_string(v.get<int64_t>());
    } else {
      return FailField(ErrorCode::kInvalidArgument, key,
                       "config key '" + key + "': must be a string, integer or boolean");
    }
  }
  return Ok();
}

}  // namespace

Result<Config> LoadConfig(const ConfigSchema& schema, const std::optional<std::string>& file,
                          const std::map<std::string, std::string>& environment,
                          const std::map<std::string, std::string>& overrides) {
  Config cfg;
  for (const auto& k : schema.keys()) cfg.Set(k.key, k.default_value);

  auto apply = [&](const std::string& key, const std::string& raw, const std::string& source) -> Status {
    const ConfigKey* k = schema.Find(key);
    if (!k)
      return FailField(ErrorCode::kInvalidArgument, key, "unknown config key '" + key + "' (" + source + ")");
    HP_ASSIGN_OR_RETURN(std::string v, Normalize(*k, raw, source));
    cfg.Set(key, std::move(v));
    return Ok();
  };

  for (const auto& [k, v] : overrides) HP_TRY(apply(k, v, "command line"));
  if (file) {
    std::ifstream in(*file);
    if (!in) return FailField(ErrorCode::kInvalidArgument, "--config", "cannot read config file " + *file);
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = ParseJsonObject(ss.str());
    if (!j) return Fail(ErrorCode::kInvalidArgument, "config file " + *file + ": " + j.error().detail);
    std::map<std::string, std::string> flat;
    HP_TRY(Flatten(*j, "", &flat));
    for (const auto& [k, v] : flat) HP_TRY(apply(k, v, "file " + *file));
  }
  // Environment overrides the file; command-line overrides everything.
  std::map<std::string, std::string> by_env;
  for (const auto& k : schema.keys()) by_env[EnvName(k.key)] = k.key;
  for (const auto& [name, value] : environment) {
    if (name.rfind("HOSTPLANE_", 0) != 0) continue;
    auto it = by_env.find(name);
    if (it == by_env.end())
      return FailField(ErrorCode::kInvalidArgument, name, "unknown config environment variable " + name);
    HP_TRY(apply(it->second, value, "environment " + name));
  }
  for (const auto& [k, v] : overrides) HP_TRY(apply(k, v, "command line"));
  return cfg;
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string s(*e);
    auto eq = s.find('=');
    if (eq != std::string::npos) out[s.substr(0, eq)] = s.substr(eq + 1);
  }
  return out;
}

std::string ValidateHostPort(const std::string& value) {
  std::string host, port;
  if (!value.empty() && value[0] == '[') {
    auto close = value.find(']');
    if (close == std::string::npos || close + 1 >= value.size() || value[close + 1] != ':')
      return "must be HOST:PORT or [IPv6]:PORT, got '" + value + "'";
    host = value.substr(1, close - 1);
    port = value.substr(close + 2);
  } else {
    auto colon = value.rfind(':');
    if (colon == std::string::npos) return "must be HOST:PORT, got '" + value + "'";
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
  }
  if (host.empty()) return "host part is empty in '" + value + "'";
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit))
    return "port must be a number 0-65535, got '" + port + "'";
  if (std::stoi(port) > 65535) return "port must be a number 0-65535, got " + port;
  return "";
}

}  // namespace hp::core
