// The registry of reproduced claims and the repro profiles. The drivers live in cNN_*.cpp beside this file, one
// per claim (drivers.hpp lists them); the report in report.cpp.
#include "experiments/claims/claims.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "experiments/claims/drivers.hpp"

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
        p.robust_train_limit = 12000;   // all 60000 would put C6 alone past the full budget
        p.rt_er_betas = {1.0, 3.0, 6.0, 9.0};
        p.jtdmoe_alphas = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
        p.pgd_samples = 1000;
        return p;
    }
    throw std::invalid_argument("PROFILE: expected quick or full, got '" + name + "'");
}

const std::vector<Claim>& claims() {
    static const std::vector<Claim> all{
        {"C1", "MoE fits clustered data with a smaller Lipschitz constant than dense at equal compute, more so as E grows",
         "P1", run_c1},
        {"C2", "Robustness suffers where the top experts differ (attack distance vs relative expert spread near routing boundaries)",
         "P1", run_c2},
        {"C3", "MoE more robust than dense at equal compute and matched clean accuracy (PGD-40, Fashion-MNIST)", "P1", run_c3},
        {"C4", "Robust to the choice of experts (swap one layer's selected expert for the next-ranked)", "P1", run_c4},
        {"C5", "Experts are weaker than the router (SA, RA, RA-E, RA-R)", "P2", run_c5},
        {"C6", "RT-ER beats plain adversarial training of an MoE (SA and RA)", "P2", run_c6},
        {"C7", "JTDMoE's joint training lies above separately trained dual-model halves (the SA-RA trade-off in alpha read apart)", "P2",
         run_c7},
        {"C8", "P2's certified radius (Theorem 5.4, Equation (8)) holds, and how much slack it has", "P2", run_c8},
        {"C9", "Tuned over equally many recipes, the MoE is more reliable than dense (adversarial and OOD robustness)",
         "P3", run_c9},
        {"C10", "A smooth-routing Lipschitz bound is unsound for top-k MoE; the routing-aware one holds", "derived",
         run_c10},
    };
    return all;
}

}  // namespace moelab::cli
