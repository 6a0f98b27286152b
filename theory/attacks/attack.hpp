// moelab theory: adversarial attacks and minimal adversarial distances (docs/theory.md §4).
//
// Every attack works on an AttackModel: a batch of inputs x [B, d] -> logits [B, C] as an autograd graph,
// and the input domain (a box; images live in [0, 1]). Attacks are batched: each sample has its own state
// (step size, best point, counters), and the model's rows do not interact (no capacity limit at
// inference), so a batch of B is B independent attacks run together. Deterministic: the random starts
// come from Rng(seed).split(<attack>).split(restart) indexed by element, and every op is deterministic
// under any thread count. Not guaranteed: the same sample attacked in a batch of another size gives
// the same bits (engine/blas.hpp: batch composition).
//
// What every AttackResult promises, checked by a fresh forward pass at the end of each attack:
//   adv_pred[b] = argmax of the model at x_adv[b]; success[b] = the sample is misclassified there
//   (untargeted: adv_pred != label; targeted: adv_pred == target); x_adv lies in the domain and within the
//   attack's ball (eps-bounded attacks); distance[b] = ||x_adv[b] - x[b]|| in the attack's norm.
// Minimal-distance attacks (deepfool, fmn, bisection) return distance = +inf and x_adv = x where they
// found nothing; a sample misclassified at x itself has distance 0. Their points are accepted only when
// misclassified by a margin of 1e-10 of the logits' scale, so that they stay misclassified when evaluated
// in a batch of another size (a point within rounding of the boundary could flip: engine/blas.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/autograd.hpp"
#include "moe/model.hpp"
#include "theory/network/geometry.hpp"

namespace moelab {

struct AttackModel {
    std::function<Var(const Var& x)> logits;   // x [B, d] -> [B, C]
    Box domain;
    const ParamRegistry* params = nullptr;     // frozen while attacking: input gradients only
};

// The classifier as it predicts (k_override: top-k at inference, 0 = configured).
AttackModel classifier_attack_model(const Classifier& model, Box domain, std::int64_t k_override = 0);
// The classifier with routing held at its decision on x_clean (rows must be attacked in the same order):
// the perturbation reaches the experts only (P2's RA-E).
AttackModel frozen_routing_attack_model(const Classifier& model, const Tensor& x_clean, Box domain);
// The first MoE layer's router as a classifier over experts: its "logits" are the router scores, so an
// untargeted attack with label = the clean top-1 expert is an attack that changes the routing decision.
AttackModel router_attack_model(const Classifier& model, Box domain);
// The clean top-1 expert of the first MoE layer per row (the labels for router_attack_model).
std::vector<int> top1_experts(const Classifier& model, const Tensor& x);

enum class AttackLoss { ce, dlr, margin };   // margin: max_{j != y} z_j - z_y (Carlini-Wagner)
AttackLoss parse_attack_loss(const std::string& name);
enum class StepSchedule { constant, cosine };
StepSchedule parse_step_schedule(const std::string& name);

struct AttackOptions {
    Norm norm = Norm::linf;
    double eps = 0.1;
    int steps = 10;
    double step_size = 0.0;         // <= 0: 2.5 eps / steps (Madry et al.)
    StepSchedule schedule = StepSchedule::constant;
    int restarts = 1;
    bool random_start = true;
    AttackLoss loss = AttackLoss::ce;
    std::vector<int> targets;       // empty: untargeted; else one target class per sample
    std::uint64_t seed = 1;
    void validate() const;          // throws ConfigError naming the key
};

struct AttackResult {
    Tensor x_adv;                   // [B, d]
    std::vector<int> clean_pred, adv_pred;
    std::vector<double> distance;
    std::vector<std::uint8_t> success;
    double success_rate() const;
};

// eps-bounded attacks
AttackResult fgsm(const AttackModel& m, const Tensor& x, const std::vector<int>& y, const AttackOptions& o);
AttackResult pgd(const AttackModel& m, const Tensor& x, const std::vector<int>& y, const AttackOptions& o);
// APGD (Croce and Hein 2020): momentum 0.75, step 2 eps halved at the checkpoints p_0 = 0, p_1 = 0.22,
// p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06) when fewer than 75% of the steps since the last one
// improved the loss or nothing changed; restarts from the best point. o.loss picks CE or DLR.
AttackResult apgd(const AttackModel& m, const Tensor& x, const std::vector<int>& y, const AttackOptions& o);
// The same, with a per-sample radius (used by the bisection).
AttackResult pgd_per_sample(const AttackModel& m, const Tensor& x, const std::vector<int>& y, const AttackOptions& o,
                            const std::vector<double>& eps);

// minimal-distance attacks: upper bounds on the distance to the nearest adversarial example
struct MinimalOptions {
    Norm norm = Norm::l2;
    int max_iter = 50;
    double overshoot = 0.02;        // DeepFool
    double eps_max = 1.0;           // bisection: the largest radius tried
    int bisection_steps = 20;
    AttackOptions inner;            // bisection: the PGD run at each radius (eps ignored)
    int refine_steps = 60;          // final bisection on the segment x -> x_adv (all three)
    std::uint64_t seed = 1;
};
AttackResult deepfool(const AttackModel& m, const Tensor& x, const std::vector<int>& y, const MinimalOptions& o);
AttackResult fmn(const AttackModel& m, const Tensor& x, const std::vector<int>& y, const MinimalOptions& o);
AttackResult pgd_bisection(const AttackModel& m, const Tensor& x, const std::vector<int>& y, const MinimalOptions& o);

// Moves each successful x_adv[b] back along the segment from x[b] to the decision boundary by
// bisection (`steps` halvings); the result stays misclassified (verified) and its distance shrinks.
void refine_on_segment(const AttackModel& m, const Tensor& x, const std::vector<int>& y, AttackResult& r, int steps, const std::vector<int>& targets = {});

// Logits of the model at x, without a graph.
Tensor attack_logits(const AttackModel& m, const Tensor& x);

}  // namespace moelab
