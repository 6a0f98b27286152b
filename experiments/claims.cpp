// The registry of reproduced claims and the repro profiles. The drivers live in claims_p1.cpp (P1),
// claims_p2.cpp (P2), claims_p2_bounds.cpp (P2's certificate), claims_p3.cpp (P3) and claims_derived.cpp; the
// report in claim_report.cpp.
#include "experiments/claims.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "experiments/claims_drivers.hpp"

using nlohmann::json;

namespace moelab::cli {

ReproProfile repro_profile(const std::string& name) {
    ReproProfile p;
    p.name = name;
    if (name == "quick") return p;
    if (name == "full") {
        p.seeds = {1, 2, 3, 4, 5};
        p.train_limit = -1;
        p.test_samples = 2000;
        p.epochs = 10;
        p.check_samples = 200;
        p.correlation_samples = 1000;
        p.robust_test_samples = 2000;
        p.train_attack_steps = 10;
        p.pgd_samples = 1000;
        return p;
    }
    throw std::invalid_argument("PROFILE: expected quick or full, got '" + name + "'");
}

namespace {

Verdict verdict_named(const std::string& s) {
    if (s == "reproduced") return Verdict::reproduced;
    if (s == "not reproduced") return Verdict::not_reproduced;
    return Verdict::inconclusive;
}

// A driver not yet rewritten over seeds: one seed, its own verdict rule (stated in its reason), no interval.
template <json (*Driver)(const std::string&, const ReproProfile&)>
ClaimOutcome legacy_outcome(const std::string& dir, const ReproProfile& p) {
    const json r = Driver(dir, p);
    ClaimOutcome o;
    o.paper = r.at("paper").get<std::string>();
    o.effect = "single-seed verdict (no interval)";
    o.interval = Interval{std::nan(""), -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(), 0};
    o.verdict = verdict_named(r.at("verdict").get<std::string>());
    o.seeds = {p.seeds.front()};
    o.budget = std::to_string(p.epochs) + " epochs, one seed";
    o.setup = "Not yet rewritten over seeds: one seed, the driver's own rule (below).";
    o.figure = r.value("figure", std::string());
    o.reason = r.at("reason").get<std::string>();
    o.checker_violations = r.value("checker_violations", std::int64_t{-1});
    o.data = r;
    return o;
}

}  // namespace

const std::vector<Claim>& claims() {
    static const std::vector<Claim> all{
        {"C1", "MoE fits clustered data with a smaller Lipschitz constant than dense at equal compute, more so as E grows",
         "P1", run_c1},
        {"C2", "Robustness suffers where the top experts differ (attack distance vs relative expert spread near routing boundaries)",
         "P1", run_c2},
        {"C3", "MoE more robust than dense at equal compute and matched clean accuracy (PGD-40, Fashion-MNIST)", "P1", run_c3},
        {"C4", "Robust to the choice of experts (swap one layer's selected expert for the next-ranked)", "P1", run_c4},
        {"C5", "Experts are weaker than the router (SA, RA, RA-E, RA-R)", "P2", legacy_outcome<run_c5>},
        {"C6", "RT-ER beats plain adversarial training of an MoE (SA and RA)", "P2", legacy_outcome<run_c6>},
        {"C7", "The dual model trades SA for RA smoothly in alpha; JTDMoE dominates separate training", "P2",
         legacy_outcome<run_c7>},
        {"C8", "P2's certified bounds hold, and how tight they are (dual model over alpha)", "P2", legacy_outcome<run_c8>},
        {"C9", "MoE vs dense adversarial and OOD robustness across training recipes (lr, dropout, load balancing, top-k)",
         "P3", legacy_outcome<run_c9>},
        {"C10", "A smooth-routing Lipschitz bound is unsound for top-k MoE; the routing-aware one holds", "derived",
         run_c10},
    };
    return all;
}

}  // namespace moelab::cli
