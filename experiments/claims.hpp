// The reproduced claims of docs/theory.md §5, one driver each. A driver trains what it needs, runs
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
    std::int64_t correlation_samples = 200;   // C2: correctly classified test samples set against expert spread
    std::int64_t robust_test_samples = 1000;  // C6, C7: test samples of the adversarially trained models' evaluation
    int train_attack_steps = 5;               // C6, C7: PGD steps of adversarial training (P2: 10)
};
ReproProfile repro_profile(const std::string& name);   // throws naming PROFILE

// A reproduced claim: its driver (experiments/claims_drivers.hpp) writes its files under `dir` and returns its
// result JSON ("paper", "ours", "verdict", "reason", "figure").
struct Claim {
    std::string id, title, source;
    nlohmann::json (*run)(const std::string& dir, const ReproProfile& p);
};
const std::vector<Claim>& claims();

// REPORT.md from the results (claims of docs/theory.md §5 without a result are listed as not run).
std::string render_report(const std::vector<nlohmann::json>& results, const ReproProfile& p);
// REPORT.md's model cards (experiments/claims_models.cpp): each model under ROOT/models/ with its routing settings
// and expert usage; empty when there are none.
std::string model_cards(const std::string& root);

}  // namespace moelab::cli
