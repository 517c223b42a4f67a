#pragma once
#include <string>
#include <vector>

#include "settings.h"

namespace hp::cp {
// Operator commands run against the database directly (the server may be running):
//   staff create --email E [--password-file F]   (password from the file or standard input)
//   audit verify | audit export --from T --to T [--organization ID]
//   partners create --name N --channel agency|reseller|oem | partners list
//   orgs list [--partner ID] | orgs suspend ID [--reason R] | orgs unsuspend ID
//   secrets rotate-master-key
//   roles docs
// Returns the exit code; `positional[0]` is the command name.
int RunAdminCommand(const std::vector<std::string>& positional, const std::map<std::string, std::string>& options,
                    const CommonFlags& flags);
}  // namespace hp::cp
