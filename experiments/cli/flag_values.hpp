// moelab command line: flag values that used to pass silently.
//
// `--samples -1` and `--train-limit -5` meant "all", `--train-limit 0` trained on nothing, `--seed -1`
// wrapped to 2^64 - 1, a NaN was echoed in an error as an empty string, and `moelab frob` answered "A
// subcommand is required". Each now gets a one-line error naming the flag.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <limits>
#include <string>

namespace moelab::cli {

// Default of a count flag whose absence means "all" (so that an explicit -1 can be refused).
inline constexpr std::int64_t kAllCount = std::numeric_limits<std::int64_t>::min();

// kAllCount -> -1 (the library's "all"); otherwise throws std::invalid_argument "<flag>: must be >= 1, got N".
std::int64_t count_flag(const std::string& flag, std::int64_t value);
// A flag's number as the user wrote it would read: "nan", "inf", "-inf" or the value (17 digits).
std::string flag_number(double v);
// On every subcommand: --seed must be written as a non-negative integer (CLI11 wraps "-1" to 2^64 - 1).
void add_seed_checks(CLI::App& app);
// Throws std::invalid_argument "unknown command 'frob' (expected one of info, train, ...)" when argv[1]
// is neither a flag nor a subcommand of `app`.
void reject_unknown_command(CLI::App& app, int argc, char** argv);

}  // namespace moelab::cli
