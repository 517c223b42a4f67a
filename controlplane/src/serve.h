#pragma once
#include "hp/core/store.h"
#include "settings.h"

namespace hp::cp {
// Runs the server until SIGTERM/SIGINT; returns the process exit code.
int Serve(const CommonFlags& flags);
// Every migration set the binary knows (core + modules).
std::vector<const core::MigrationSet*> AllMigrations();
}  // namespace hp::cp
