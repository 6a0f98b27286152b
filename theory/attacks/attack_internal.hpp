// moelab theory: helpers shared by the attack implementations (not part of the public API).
#pragma once

#include <vector>

#include "engine/rng.hpp"
#include "theory/attacks/attack.hpp"

namespace moelab::attack_detail {

// One evaluation of the attack objective: logits at x, the per-sample objective (to maximise) and its
// gradient w.r.t. x, from one forward and one backward pass (forward only when !with_grad).
struct Evaluation {
    Tensor logits;
    std::vector<double> value;
    Tensor grad;   // [B, d]; empty when !with_grad
};
Evaluation evaluate_objective(const AttackModel& m, const Tensor& x, const std::vector<int>& y, AttackLoss loss,
                              const std::vector<int>& targets, bool with_grad = true);
// The same, with x moved into the graph and back instead of copied (x is unchanged afterwards).
Evaluation evaluate_objective_in_place(const AttackModel& m, Tensor& x, const std::vector<int>& y, AttackLoss loss,
                                       const std::vector<int>& targets, bool with_grad = true);

// Gradient w.r.t. x of sum_b seed[b] . logits[b] (seed [B, C]).
Tensor input_gradient(const AttackModel& m, const Tensor& x, const Tensor& seed);

std::vector<int> predictions(const Tensor& logits);
bool fooled(int pred, int label, const std::vector<int>& targets, std::size_t b);

// The steepest-ascent direction of one row under the norm: sign(g) for linf, g / ||g||_2 for l2
// (zero when g is zero).
void ascent_direction(const double* g, double* out, std::int64_t d, Norm norm);

// Projects x_adv onto {||x_adv - x|| <= eps[b]} intersected with the domain, strictly (no rounding
// overshoot: the distance computed afterwards is <= eps).
void project(Tensor& x_adv, const Tensor& x, const std::vector<double>& eps, Norm norm, Box domain);

// A uniform point of the eps-ball around x (then clipped to the domain).
Tensor random_start(const Tensor& x, const std::vector<double>& eps, Norm norm, Box domain, const Rng& rng);

// Fills clean_pred, adv_pred, success and distance of r: adv_pred from a fresh forward pass at
// r.x_adv, unless adv_pred_known holds a prediction (>= 0) for every sample, taken by the attack from
// its own forward pass at those very points (the same batch, so the same bits; it saves one pass).
// min_distance: a sample that is not fooled gets distance +inf and x_adv = x.
void finish(const AttackModel& m, const Tensor& x, const std::vector<int>& y, const std::vector<int>& targets,
            Norm norm, bool min_distance, AttackResult& r, const std::vector<int>& adv_pred_known = {});

// Refuses a batch whose shape, labels or targets do not fit, or whose inputs are not finite or lie outside
// the model's domain (no point of an eps-ball around such an input need lie in the domain).
void check_batch(Box domain, const Tensor& x, const std::vector<int>& y, const std::vector<int>& targets, const char* who);

}  // namespace moelab::attack_detail
