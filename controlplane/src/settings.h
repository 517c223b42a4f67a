#pragma once
// The configuration schema of the binary (core keys + every module's keys) and loading it from
// command-line flags, a file and the environment.

#include <optional>
#include <string>
#include <vector>

#include "hp/core/config.h"

namespace hp::cp {

struct CommonFlags {
  bool dev = false;
  std::optional<std::string> config_file;
  std::optional<std::string> var_dir;
  std::optional<std::string> listen;
};

core::ConfigSchema BuildSchema();

// Loads and validates the configuration; `var_dir` and `store.path` are made absolute.
core::Result<core::Config> LoadSettings(const CommonFlags& flags);

std::string DatabasePath(const core::Config& cfg);

}  // namespace hp::cp
