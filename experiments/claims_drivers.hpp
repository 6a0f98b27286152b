// The claim drivers, one per claim of docs/theory.md §5 (registered in claims.cpp). Each trains or loads what it
// needs from every seed of the profile, runs the experiment and returns its ClaimOutcome (claims.hpp).

#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "experiments/claims.hpp"

namespace moelab::cli {

ClaimOutcome run_c1(const std::string& dir, const ReproProfile& p);     // claims_p1_fit.cpp
ClaimOutcome run_c2(const std::string& dir, const ReproProfile& p);     // claims_p1_spread.cpp
ClaimOutcome run_c3(const std::string& dir, const ReproProfile& p);     // claims_p1.cpp
ClaimOutcome run_c4(const std::string& dir, const ReproProfile& p);
ClaimOutcome run_c5(const std::string& dir, const ReproProfile& p);    // claims_p2_c5.cpp, claims_p2_c6.cpp, claims_p2_c7.cpp
ClaimOutcome run_c6(const std::string& dir, const ReproProfile& p);
ClaimOutcome run_c7(const std::string& dir, const ReproProfile& p);
ClaimOutcome run_c8(const std::string& dir, const ReproProfile& p);      // claims_p2_bounds.cpp
ClaimOutcome run_c9(const std::string& dir, const ReproProfile& p);    // claims_p3.cpp
ClaimOutcome run_c10(const std::string& dir, const ReproProfile& p);   // claims_derived.cpp

}  // namespace moelab::cli
