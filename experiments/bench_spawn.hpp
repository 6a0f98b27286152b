// The benchmark driver's way of running its workers, PyTorch and gnuplot: posix_spawn with an argument vector
// and extra environment variables, so no path or flag of the user's (--out, the data path) passes a shell.
#pragma once

#include <string>
#include <vector>

namespace moelab::bench {

// Runs argv[0] (looked up on PATH unless it holds a '/') with argv and the current environment plus `env`
// ("NAME=value" entries, overriding). Returns the exit status (-1 when it could not start or did not exit
// normally); its stdout goes to `out` when non-null (else inherited), its stderr to /dev/null when `quiet`.
int run_program(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
                std::string* out = nullptr, bool quiet = false);

}  // namespace moelab::bench
