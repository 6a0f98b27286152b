#include "experiments/cli/work_limit_flags.hpp"

#include <cmath>
#include <stdexcept>

#include "theory/exact/work_limit.hpp"

namespace moelab::cli {

static_assert(WorkLimitFlags{}.nodes == milp::kDefaultWorkLimitNodes, "one default for the library and the flags");

void add_work_limit_flags(CLI::App& sub, WorkLimitFlags& f, const std::string& prefix, const std::string& per) {
    sub.add_option("--" + prefix + "work-limit", f.nodes,
                   "exact solvers: branch-and-bound nodes " + per + " (deterministic: the same answer on any machine and load)")
        ->capture_default_str();
    f.seconds_option = sub.add_option("--" + prefix + "time-limit", f.seconds,
                                      "exact solvers: also a wall-clock limit in seconds " + per +
                                          " (off by default; results it stops are marked load-dependent)");
    sub.add_option("--" + prefix + "milp-solver", f.milp_solver, "exact: the MILP solver, glpk or cbc (the same answers)")
        ->capture_default_str();
}

void validate_work_limit_flags(const WorkLimitFlags& f, const std::string& prefix) {
    if (f.nodes < 1)
        throw std::invalid_argument("--" + prefix + "work-limit: must be >= 1 branch-and-bound nodes, got " + std::to_string(f.nodes));
    const bool given = f.seconds_option && f.seconds_option->count() > 0;
    if (given && (!(f.seconds > 0.0) || !std::isfinite(f.seconds)))
        throw std::invalid_argument("--" + prefix + "time-limit: must be positive seconds, got " + std::to_string(f.seconds));
    (void)f.milp_backend();   // an unknown name throws here, before any work
}

}  // namespace moelab::cli
