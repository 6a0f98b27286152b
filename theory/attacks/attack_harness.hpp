// moelab theory: the attack harness behind `moelab attack`.
//
// Runs one attack (theory/attacks/attack_registry.hpp) over a data set in batches and collects, per sample, what a researcher needs to
// check a bound against it: label, clean and adversarial prediction, distance found, whether the routing
// of the first MoE layer changed and which experts it chose before and after. Then the summary: clean
// and robust accuracy, the robust-accuracy-vs-eps curve and per-expert vulnerability.
//
// router: PGD on the router as a classifier over experts (label: the clean top-1 expert), i.e. the
// perturbation that most changes the routing decision; the model is judged at that point (RA-R).
// Robust accuracy counts samples classified correctly at x and at every point the attack reports. For
// eps-bounded attacks the curve runs the attack at each radius of the grid; a sample fooled at a smaller
// radius counts as fooled at every larger one (the point lies in the larger ball too), so the curve never
// increases. For minimal-distance attacks, robust at eps means: clean-correct and distance found > eps.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/dataset.hpp"
#include "theory/attacks/attack.hpp"
#include "theory/attacks/attack_registry.hpp"

namespace moelab {

struct AttackSpec {
    Attack attack = Attack::pgd;
    AttackOptions options;            // norm, eps, steps, step size, restarts, seed, loss
    MinimalOptions minimal;           // deepfool, fmn, bisection (norm and eps are taken from options)
    std::vector<double> eps_grid;     // empty: eps/4, eps/2, 3eps/4, eps (eps-bounded); 11 points in [0, eps] (minimal)
    std::string target;               // "": untargeted; "next": (label + 1) mod C; or a class index
    std::int64_t k_override = 0;      // top-k at inference
    std::int64_t swap_rank = 0;       // swap
    std::int64_t batch_size = 250;
    Box domain;
};

// Throws ConfigError naming the key on a bad combination.
void validate(const AttackSpec& spec, const Classifier& model);

struct SampleRecord {
    std::int64_t index = 0;
    int label = 0, clean_pred = 0, adv_pred = 0;
    bool success = false;             // the attack fooled the model (targeted: reached the target)
    double distance = 0.0;            // of the reported point; +inf when a minimal attack found none
    bool routing_changed = false;     // the first MoE layer's expert set differs at the reported point
    bool top1_changed = false;        // its highest-scored expert differs
    std::vector<std::int64_t> experts_before, experts_after;
    int full_model_pred = 0;          // router/expert attacks: the unmodified model at the reported point
    // Per radius of the curve's grid: 1 where the sample counts as robust at that radius (what the
    // robust-accuracy curve averages); unused for swap, which has no curve.
    std::vector<std::uint8_t> robust_at;
};

struct RobustnessReport {
    std::vector<SampleRecord> samples;
    Tensor x_adv;                                   // [n, d] the reported points (x itself where none)
    double clean_accuracy = 0.0, robust_accuracy = 0.0;
    std::vector<std::pair<double, double>> curve;   // (eps, robust accuracy)
    double routing_change_rate = 0.0, top1_change_rate = 0.0;
    double full_model_robust_accuracy = 0.0;        // router and expert attacks
    double seconds = 0.0;
};

// `progress(done, total)` is called after each batch.
RobustnessReport run_attack(const Classifier& model, const Dataset& data, const AttackSpec& spec,
                            const std::function<void(long, long)>& progress = {});

// Accuracies, change rates and the curve from the report's per-sample records (run_attack calls it; so does
// a caller that put the records of several blocks of batches together).
void summarize(RobustnessReport& report, const AttackSpec& spec);

std::string to_csv(const RobustnessReport& report);
nlohmann::json summary_json(const RobustnessReport& report, const AttackSpec& spec, std::int64_t experts);

}  // namespace moelab
