// The flags that bound the exact solvers' work (theory/exact/work_limit.hpp): --work-limit, a deterministic number
// of branch-and-bound nodes (the default), and --time-limit, an opt-in wall-clock safety whose stops make a
// result load-dependent (marked in the output); and --milp-solver, which MILP solver does that work.
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "theory/exact/milp_backend.hpp"

namespace moelab::cli {

struct WorkLimitFlags {
    std::int64_t nodes = 20000;   // theory/exact/work_limit.hpp: kDefaultWorkLimitNodes
    double seconds = 0.0;         // 0: no wall-clock limit
    CLI::Option* seconds_option = nullptr;
    std::string milp_solver = kMilpBackends[static_cast<std::size_t>(kDefaultMilpBackend)].name;   // --milp-solver
    MilpBackend milp_backend() const { return parse_milp_backend(milp_solver); }
};

// Adds --work-limit, --time-limit and --milp-solver (names prefixed by `prefix`, e.g. "exact-"); `per` says what one limit
// covers ("per sample").
void add_work_limit_flags(CLI::App& sub, WorkLimitFlags& f, const std::string& prefix, const std::string& per);
// Throws naming the flag: --work-limit below 1, a --time-limit given but not positive and finite, an unknown
// --milp-solver (a ConfigError keyed milp-solver).
void validate_work_limit_flags(const WorkLimitFlags& f, const std::string& prefix);

}  // namespace moelab::cli
