// moelab theory: the MILP solvers behind the exact solvers (exact.hpp, exact_lipschitz.hpp), one enum and
// one table row each; the name is compared only in parse_milp_backend.
//   glpk   GNU GLPK's branch and cut (glp_intopt), Gomory cuts on the minimal-distance problem
//   cbc    COIN-OR CBC (Cbc_C_Interface.h) with its default cuts and heuristics, one thread
// Both are deterministic (single-threaded, no randomness that depends on time or thread), both count their
// branch-and-bound nodes against the same work limit (work_limit.hpp) and report the best proven bound when
// it strikes. Which one is faster depends on the problem: docs/performance.md (W7) has the measurement that
// chose the default.
#pragma once

#include <array>
#include <string>

#include "engine/named_enum.hpp"

namespace moelab {

enum class MilpBackend { glpk, cbc, count };

inline constexpr std::array<NamedValue<MilpBackend>, 2> kMilpBackends{{{MilpBackend::glpk, "glpk"}, {MilpBackend::cbc, "cbc"}}};
static_assert(names_match_enum(kMilpBackends));

inline constexpr MilpBackend kDefaultMilpBackend = MilpBackend::glpk;

inline std::string to_string(MilpBackend b) { return name_of(kMilpBackends, b); }
// Throws ConfigError("milp-solver", ...) on an unknown name.
MilpBackend parse_milp_backend(const std::string& name);

}  // namespace moelab
