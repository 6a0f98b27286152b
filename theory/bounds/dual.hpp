// moelab theory: the dual model of P2, F_D(x) = (1 - alpha) F_S(x) + alpha F_R(x) (docs/theory.md §1), its sound
// certified radii (docs/theory.md §3, "dual-model certificates"), attacks on it, and the checker's chain
// certified <= attack over it (claim C8).
//
// What is combined (DualMix, both labelled in every output):
//   logits         (1 - alpha) z_S + alpha z_R, as P2's released code mixes the two models (the CLI's default);
//   probabilities  (1 - alpha) softmax(z_S) + alpha softmax(z_R), as moe/model.hpp's dual_forward does, so every
//                  class-score difference of either model lies in (-1, 1): B_S = 1 below.
//
// Certificates (each sound for any input norm p in {linf, l2}; 0 where F_D misclassifies x):
//   dual-lipschitz      (a) Lipschitz margin of F_D itself. z -> p_y - p_j is 1-Lipschitz from L-inf to |.|
//                       (its gradient has L1 norm s + t (1 - s) - t^2 <= 1, s = p_y + p_j, t = |p_y - p_j|),
//                       so L(F_D,y - F_D,j) <= (1 - alpha) L_S + alpha L_R with L_S, L_R sound bounds on
//                       ||z(x') - z(x)||_inf / ||x' - x||_p of each model's logits; r = M_D(x) / L_D. Mixed
//                       logits: z_y - z_j moves by at most twice the L-inf change, r = M_D(x) / (2 L_D).
//   dual-robust-margin  (b) F_D,y - F_D,j at x' >= alpha (p_R,y - p_R,j)(x') - (1 - alpha) B_S, so
//                       r = min_j (M_R,yj(x) - (1 - alpha) B_S / alpha) / L_R where positive (0 otherwise;
//                       alpha = 0: 0). Needs only the robust model's constant. Mixed logits: F_S's logit
//                       differences have no bound, so it does not apply (NaN).
//   dual-ibp            interval bounds on both models' logits over the box (theory/bounds/ibp.hpp, routing
//                       uncertainty included, so it covers every MoE), then on their softmax:
//                       p_c in [1 / (1 + sum_{k != c} e^{hi_k - lo_c}), 1 / (1 + sum_{k != c} e^{lo_k - hi_c})];
//                       certified where (1 - alpha)(lo p_S,y - hi p_S,j) + alpha (lo p_R,y - hi p_R,j) > 0 for
//                       all j; the largest such radius by doubling then bisection (mixed logits: the same test
//                       on the logit bounds directly). For l2, the box of radius r contains the ball.
//   best                the largest of the three (each is sound, so their maximum is).
// The Lipschitz ones need a sound global constant: models without MoE (layer products). A hard-routing MoE has
// none (docs/theory.md §2): there they are NaN and dual-ibp is the one that covers the model.
// P2's dual-model theorem (5.5) could not be read in a form precise enough to evaluate; no bound here claims to be
// P2's. P2's single-MoE certificate (Theorem 5.4, Equation (8)) is theory/bounds/p2_certificate.hpp.
//
// Exact minimal distances are not computed for F_D: the probability mixture is not piecewise linear, so the
// MILP of theory/exact/exact.hpp does not apply; the chain checked is certified <= attack.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "theory/check/checker.hpp"
#include "theory/network/network.hpp"

namespace moelab {

// Throws ConfigError{"alpha", "must be in [0, 1], got X"} (NaN included).
void check_alpha(double alpha);

enum class DualMix { logits, probabilities };
const char* to_string(DualMix mix);   // "logits", "probabilities"
DualMix parse_dual_mix(const std::string& name);   // throws ConfigError{"dual-mix", ...}
// "dual: (1 - alpha) z_S + alpha z_R (logits, as P2's code)" or the probabilities form: the label outputs carry.
std::string describe(DualMix mix);

// F_D's probabilities [B, C] from the copied matrices (mirrors dual_forward).
Tensor dual_probabilities(const Network& standard, const Network& robust, double alpha, const Tensor& x);
// F_D's outputs [B, C] under either mix (probabilities: dual_probabilities).
Tensor dual_outputs(const Network& standard, const Network& robust, double alpha, const Tensor& x, DualMix mix);

// The dual model as attacks see it: mixed probabilities as "logits" log(F_D + 1e-300) (same argmax as F_D; the
// CE loss is F_D's negative log-likelihood), mixed logits as they are. Both models' parameters stay frozen.
AttackModel dual_attack_model(const Classifier& standard, const Classifier& robust, double alpha, Box domain,
                              DualMix mix = DualMix::probabilities);

inline const std::vector<std::string> kDualMethods{"dual-lipschitz", "dual-robust-margin", "dual-ibp"};

struct DualRadii {
    std::vector<std::vector<double>> radius;   // [kDualMethods][row]; NaN: the method does not cover the models
    std::vector<double> best;                  // per row, the largest sound radius
    std::string note;
};
// Throws std::invalid_argument on a bad alpha, shapes that differ, or models with different class counts.
DualRadii certify_dual(const Network& standard, const Network& robust, double alpha, const Tensor& x,
                       const std::vector<int>& y, Norm p, Box domain, DualMix mix = DualMix::probabilities);

struct DualCheckRow {
    std::int64_t index = 0;
    int label = 0, clean_pred = 0;            // clean_pred: argmax F_D(x)
    std::vector<double> certified;            // per kDualMethods
    double best = 0.0;
    double attack = std::numeric_limits<double>::infinity();   // best verified attack distance on F_D
    std::string attack_name;
    std::vector<std::string> violations;
};

struct DualCheckReport {
    double alpha = 0.0;
    DualMix mix = DualMix::probabilities;
    std::vector<DualCheckRow> rows;
    std::int64_t violations = 0;
    double seconds = 0.0;
};

// Claim C8's entry point: for the dual model of `standard` and `robust` at weight `alpha`, per sample of
// `data`, the certified radius of every method of certify_dual and the best of three verified
// minimal-distance attacks on F_D (DeepFool, FMN, PGD bisection up to o.attack_eps_max, o.attack_steps
// iterations); then certified <= attack is verified (1e-9 relative) and violations counted (a bug). Uses o.norm, o.domain,
// o.attack_eps_max, o.attack_steps, o.seed; o.exact and o.smoothing are ignored (see above). Deterministic.
DualCheckReport run_dual_check(const Classifier& standard, const Classifier& robust, double alpha, const Dataset& data,
                               const CheckOptions& o, DualMix mix = DualMix::probabilities,
                               const std::function<void(long, long)>& progress = {});

std::string to_csv(const DualCheckReport& report);
// Per method: samples covered, certified at a positive radius, certified at `eps` (certified accuracy),
// median certified / attack; the attack's robust accuracy at `eps`; violation counts.
nlohmann::json summary_json(const DualCheckReport& report, const CheckOptions& o, double eps);

}  // namespace moelab
