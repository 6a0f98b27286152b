// moelab theory: the certified bounds of P2 (Zhang, Xu, Hu, Wang, ICML 2025, "Optimizing Robustness and
// Accuracy in Mixture of Experts: A Dual-Model Approach", arXiv 2502.06832), in the form checked here.
//
// SOURCE STATUS — read before relying on these numbers. The paper's abstract says it "derives certified
// robustness bounds for both the single MoE and the dual-model"; docs/theory.md §3 paraphrases them as a bound
// "expressed through the Lipschitz constants of the router and of the experts and the classification
// margin" and one "in which alpha weighs the robust model's contribution". The stored copy of the paper
// that we could read (arxiv.org/html/2502.06832v2, PMLR page, the authors' blog post) returned
// only the title, abstract and the start of the introduction: the theorem statements, with their exact
// constants and assumptions, could NOT be read. What follows is therefore the product-rule bound that the
// paraphrase describes ("P2-form"), written out with every assumption, not a verified transcription of
// P2's theorem. Replace the two formulas below when the statement has been read; the checker's separate
// `p2_violations` count is built to say whether it holds either way.
//
// P2-form, single MoE F(x) = sum_i a_i(x) f_i(x) (model-level: experts f_i are classifiers, router gates
// a(x) computed from scores s(x) = R x + b). Assumptions, as the form needs them:
//   (A1) every expert is L_f-Lipschitz: ||f_i(x') - f_i(x)||_inf <= L_f ||x' - x||_p;
//   (A2) the gate vector is L_a-Lipschitz into L1: ||a(x') - a(x)||_1 <= L_a ||x' - x||_p;
//   (A3) the experts' outputs are bounded by B_f = max_i ||f_i(x)||_inf (taken at x).
// Product rule: ||F(x') - F(x)||_inf <= sum_i |a_i(x') - a_i(x)| ||f_i|| + sum_i a_i(x) ||f_i(x') - f_i(x)||
//                                    <= (L_f + L_a B_f) ||x' - x||_p,
// and a class-score difference moves by at most twice the L-inf change, so the label y is kept for
//     ||delta||_p < r_P2(x) = M(x) / (2 (L_f + L_a B_f)),      M(x) = F_y(x) - max_{j != y} F_j(x).
// Constants used (theory/lipschitz.hpp machinery): L_f = max_i product of the expert's p -> p layer norms
// (sound for each expert); L_a = 2 max_i ||R_i||_dual: the softmax Jacobian has L1 row sums
// 2 p_k (1 - p_k), summing to <= 2, and ||s(x') - s(x)||_inf <= max_i ||R_i||_dual ||x' - x||_p. This is
// (A2) for SOFT routing only: hard top-k gates are discontinuous (docs/theory.md §2), so (A2) fails for them and
// the form treats routing as smooth; (A3) evaluates B_f at x rather than over the ball. Both make r_P2 a
// claim to test, not a certificate: the checker counts its failures apart (p2_violations), never hides them.
//
// P2-form, dual model F_D = (1 - alpha) softmax(F_S) + alpha softmax(F_R) (probabilities, as
// moe/model.hpp's dual_forward combines them): softmax is 1/2-Lipschitz L-inf -> L-inf (its Jacobian's L1
// row sums are 2 p_k (1 - p_k) <= 1/2), so with the single-model constants L_S, L_R of the form above
// (for a model without MoE: its layer-product constant, which is sound),
//     r_P2,D(x) = M_D(x) / (2 ((1 - alpha) L_S / 2 + alpha L_R / 2)) = M_D(x) / ((1 - alpha) L_S + alpha L_R),
// M_D the margin of F_D's probabilities. Same status as the single-model form.
#pragma once

#include <string>
#include <vector>

#include "theory/geometry.hpp"
#include "theory/network.hpp"

namespace moelab {

// The constants of the P2-form bound of one model at the rows of x.
struct P2Constants {
    double expert_lipschitz = 0.0;    // L_f (max over experts; the whole model's constant when it has no MoE)
    double router_lipschitz = 0.0;    // L_a (0 when the model has no router)
    std::vector<double> expert_bound; // B_f(x) per row (0 when the model has no router)
    std::string note;                 // "" when the form applies; else why not (then every radius is NaN)
    double at(std::size_t row) const { return expert_lipschitz + router_lipschitz * expert_bound[row]; }
};
// Model-level MoEs (P2's model) and models without MoE; layer-level MoE blocks are not covered (note says so).
P2Constants p2_constants(const Network& net, const Tensor& x, Norm p);

// r_P2(x) per row for label y (0 where the model misclassifies; NaN where the form does not apply).
std::vector<double> p2_single_radii(const Network& net, const Tensor& x, const std::vector<int>& y, Norm p);

// r_P2,D(x) per row: standard and robust models combined on probabilities with weight alpha on the robust
// one (0 where F_D misclassifies; NaN where the form does not apply to either model).
std::vector<double> p2_dual_radii(const Network& standard, const Network& robust, double alpha, const Tensor& x,
                                  const std::vector<int>& y, Norm p);

}  // namespace moelab
