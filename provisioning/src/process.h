#pragma once
// Runs a program (no shell) and collects its exit code and combined output.
#include <string>
#include <vector>

#include "hp/core/error.h"

namespace hp::provisioning {

struct CommandResult {
  int exit_code = -1;  // 128+signal when killed
  std::string output;  // stdout and stderr, interleaved
};

// kInternal when the program cannot be started. `input` is written to its stdin.
core::Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                       const std::string& input = "");

}  // namespace hp::provisioning
