// The reproduced claims of docs/theory.md §5, one driver each. A driver trains what it needs from every seed of the
// profile, runs the experiment, writes its data (CSV) and its figure (PNG, via a gnuplot script in figures/) under
// OUT/claims/<id>/, and returns a ClaimOutcome: the effect over seeds with its 95% interval, the verdict read on
// that interval, the set-up card and the results tables. cmd_repro.cpp writes the outcome to result.json and the
// report renders it (experiments/claims/report.cpp). Outcomes hold no timings, so two runs give the same bytes.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/claims/stats.hpp"

namespace moelab::cli {

struct ReproProfile {
    std::string name = "quick";      // quick or full
    std::vector<std::uint64_t> seeds{1, 2, 3, 4, 5};   // every claim trains its models once per seed (quick and full)
    std::int64_t train_limit = 12000, test_samples = 500, epochs = 3;
    std::int64_t check_samples = 60;
    std::int64_t correlation_samples = 200;   // C2: correctly classified test samples set against expert spread
    std::int64_t robust_test_samples = 1000;  // C6, C7: test samples of the adversarially trained models' evaluation
    int train_attack_steps = 5;               // C6, C7: PGD steps of adversarial training (P2: 10)
    std::int64_t robust_train_limit = 4000;   // C5, C6, C7, C9: training images where a claim trains many models per seed
    std::vector<double> rt_er_betas{6.0};     // C6: RT-ER's beta (P2's ablation: 1, 3, 6, 9; 6 is its default)
    std::vector<double> jtdmoe_alphas{0.25, 0.5, 0.75};   // C7: JTDMoE trained and scored at each (full: 0.1 .. 0.9)
    std::int64_t pgd_samples = 200;           // C3: test samples attacked with PGD-40 at each eps
    bool is_quick() const { return name == "quick"; }   // a quick run's cards point to the full profile
};
ReproProfile repro_profile(const std::string& name);   // throws naming PROFILE

// A table for a person: cells already formatted (sig() from stats.hpp: 3-4 significant digits).
struct ResultsTable {
    std::string caption;                          // one line above the table ("" none)
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;   // each as long as header
};
std::string to_markdown(const ResultsTable& t);

// What a claim's run found. The summary row reads: paper, effect (interval), verdict, seeds, budget.
struct ClaimOutcome {
    std::string paper;           // the paper's statement and numbers, one line
    std::string effect;          // what `interval` measures, e.g. "RA(MoE) - RA(dense) at eps 0.1, paired by seed"
    Interval interval;           // mean over seeds and its 95% interval
    VerdictRule rule;            // read on `interval` (stats.hpp)
    Verdict verdict = Verdict::inconclusive;
    double detectable = std::numeric_limits<double>::infinity();   // smallest effect this run could detect
    std::vector<std::uint64_t> seeds;
    std::string budget;          // training and evaluation budget in a few words ("3 epochs, 12k images; PGD-40, 500")
    std::string setup;           // the set-up card: data, model, routing, training, attack, eps and why, samples,
                                 // seeds, and where it differs from the paper (one paragraph)
    std::vector<ResultsTable> tables;
    std::string figure;          // file under OUT/claims/<id>/ ("" when none)
    std::string reason;          // what the numbers say, one or two sentences
    std::string part_verdict;    // a second half of the claim read apart, with its own verdict ("trade-off half:
                                 // reproduced"), shown beside the verdict so it is not buried ("" when none)
    std::vector<std::string> usage;   // expert usage of every MoE trained (moe/expert_usage usage_line), per model
    std::int64_t checker_violations = -1;   // -1: this claim runs no checker
    nlohmann::json data;         // everything else machine-readable (result.json only, never in the report text)
};
// Fills verdict and detectable from interval, rule and the per-seed effects.
void decide(ClaimOutcome& o, const std::vector<double>& per_seed_effects);
nlohmann::json to_json(const ClaimOutcome& o);

// A reproduced claim and its driver (experiments/claims/drivers.hpp).
struct Claim {
    std::string id, title, source;
    ClaimOutcome (*run)(const std::string& dir, const ReproProfile& p);
};
const std::vector<Claim>& claims();

struct ClaimRun {
    const Claim* claim;
    ClaimOutcome outcome;
};
// The summary table alone (printed by make repro), then REPORT.md: summary, one section per claim (set-up card,
// tables, figure, rule, verdict, expert usage), the claims not run, and the checker's count with the claims it covers.
std::string summary_table(const std::vector<ClaimRun>& runs);
std::string render_report(const std::vector<ClaimRun>& runs, const ReproProfile& p);
// REPORT.md's model cards (experiments/claims/model_cards.cpp): each model under ROOT/models/ with its routing settings
// and expert usage; empty when there are none.
std::string model_cards(const std::string& root);

}  // namespace moelab::cli
