// The reproduced claims of ../shared/THEORY.md §5, one driver each. A driver trains what it needs, runs
// the experiment, writes its data (CSV), its figure (PNG, via a gnuplot script in figures/) and a result
// (JSON: statement, the paper's numbers, ours, verdict and reason) under OUT/claims/<id>/, and returns
// the result. Results hold no timings, so two runs give the same bytes.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moelab::cli {

struct ReproProfile {
    std::string name = "quick";      // quick or full
    std::int64_t train_limit = 12000, test_samples = 500, epochs = 3;
    std::int64_t check_samples = 60;
};
ReproProfile repro_profile(const std::string& name);   // throws naming PROFILE

struct Claim {
    std::string id, title, source;
    nlohmann::json (*run)(const std::string& dir, const ReproProfile& p);
};
const std::vector<Claim>& claims();

// REPORT.md from the results under OUT/claims/ (claims that did not run are listed as such).
std::string render_report(const std::vector<nlohmann::json>& results, const ReproProfile& p);

}  // namespace moelab::cli
