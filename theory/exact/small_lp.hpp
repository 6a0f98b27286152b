// moelab theory, internal: one linear program (the Milp data of theory/exact/milp_internal.hpp without binaries)
// solved by GLPK's simplex. Deterministic: GLPK is single-threaded and uses no randomness, and the work is
// limited by a number of simplex iterations, never by the clock. Used by the routing attack
// (theory/attacks/routing_attack.cpp), whose programs have a few hundred columns at most.
#pragma once

#include <vector>

#include "theory/exact/milp_internal.hpp"

namespace moelab::milp {

struct LpSolution {
    bool optimal = false;        // GLPK proved the returned point optimal (else: infeasible, unbounded, limit)
    double objective = kInf;
    std::vector<double> values;  // column values (when optimal)
};

// Minimises lp's objective; binaries are refused (std::invalid_argument). `iteration_limit` >= 1 simplex
// iterations: a problem that needs more reports !optimal.
LpSolution solve_lp(const Milp& lp, int iteration_limit);

}  // namespace moelab::milp
