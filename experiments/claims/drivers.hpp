// The claim drivers, one per claim of docs/theory.md §5 (registered in claims.cpp). Each trains or loads what it
// needs from every seed of the profile, runs the experiment and returns its ClaimOutcome (claims.hpp).

#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "experiments/claims/claims.hpp"

namespace moelab::cli {

ClaimOutcome run_c1(const std::string& dir, const ReproProfile& p);    // c01_lipschitz_fit.cpp
ClaimOutcome run_c2(const std::string& dir, const ReproProfile& p);    // c02_expert_spread.cpp
ClaimOutcome run_c3(const std::string& dir, const ReproProfile& p);    // c03_moe_vs_dense.cpp
ClaimOutcome run_c4(const std::string& dir, const ReproProfile& p);    // c04_expert_swap.cpp
ClaimOutcome run_c5(const std::string& dir, const ReproProfile& p);    // c05_weak_experts.cpp
ClaimOutcome run_c6(const std::string& dir, const ReproProfile& p);    // c06_rt_er.cpp
ClaimOutcome run_c7(const std::string& dir, const ReproProfile& p);    // c07_dual_model.cpp
ClaimOutcome run_c8(const std::string& dir, const ReproProfile& p);    // c08_p2_bound.cpp
ClaimOutcome run_c9(const std::string& dir, const ReproProfile& p);    // c09_recipes.cpp
ClaimOutcome run_c10(const std::string& dir, const ReproProfile& p);   // c10_naive_bound.cpp

}  // namespace moelab::cli
