#pragma once
namespace hp::cp {
// The `hostplane` command line; returns the exit code (0 ok, 1 operation failed, 2 usage/config).
int Main(int argc, char** argv);
}  // namespace hp::cp
