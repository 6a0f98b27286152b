// moelab theory: adversarial-training recipes that plug into moe::train as its step loss (TrainHooks::batch_loss).
//
// They live here, not in moe/, because they need the attacks (theory/attacks/attack.hpp). Each step's randomness (the
// attacks' random starts) comes only from the step's stream fo.rng, split by name, so a run is bitwise
// reproducible and a resumed run continues bit for bit (moe/train.hpp).
//
//   PGD adversarial training [Madry et al. 2018]: min_theta E max_{||delta|| <= eps} CE(F(x + delta), y), the inner
//   max by PGD with a random start (stream fo.rng.split("pgd_train")). The model's auxiliary losses (load
//   balancing, z-loss) are taken at the adversarial batch, where the routing being trained is the one attacked.
//
//   RT-ER [Zhang, Xu, Hu, Wang, ICML 2025 (P2), "robust training with expert robustification"], for a model-level
//   MoE (kind moe-model, the experts are whole classifiers f_i and the router looks at the input):
//       L = CE(F(x'), y) + beta * (1/B) * sum_b KL( softmax f_{r2(b)}(x_b) || softmax f_{r2(b)}(x''_b) )
//   x' = PGD on the whole MoE (as above); r2(b) = the expert of the second-highest router score at the clean x_b;
//   x''_b = PGD on the expert f_{r2(b)} alone (CE against the label; stream fo.rng.split("rt_er").split(r2)).
//   The regulariser makes the runner-up expert robust too, so that a routing switch under attack lands on a robust
//   expert. Source: P2 §4 as summarised in docs/theory.md §4, and the authors' code (github.com/TIML-Group/
//   Robust-MoE-Dual-Model, tinyimagenet_RT_ER.py): the KL is PyTorch's
//   KLDivLoss(log_softmax(f(x'')), softmax(f(x))) with sum reduction, scaled by beta / batch size, beta = 6 by
//   default (the paper's ablation tries 1, 3, 6, 9). Gradients flow through both the clean and the adversarial
//   expert output, as there. The experts run without dropout in the regulariser.
//
//   JTDMoE [P2, Algorithm 1]: joint training of the dual model F_D = (1 - alpha) F_S + alpha F_R (moe/model.hpp,
//   dual_forward: a mixture of class probabilities). Bi-level, alternating per batch as in the authors'
//   cifar10_JTDMoE.py: the robust MoE F_R takes its RT-ER step on its own (lower level), and the standard MoE F_S
//   takes a step on the dual model's clean loss -log F_D,y(x) with F_R held fixed (upper level), so F_S learns to
//   complement the robust model rather than to stand alone. Differences from the authors' code, on purpose: the
//   dual model mixes probabilities (moelab's definition, which P2's certified bounds need), not logits; the robust
//   step is RT-ER (the second-ranked expert), where their JTDMoE script regularises every expert; F_S steps before
//   F_R within a batch (their order is F_R first). Because F_R's step never reads F_S, the robust model of a JTDMoE
//   run is bitwise the model RT-ER trains alone from the same seed (tests/test_robust_training.cpp checks it).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/rng.hpp"
#include "moe/train.hpp"
#include "theory/attacks/attack.hpp"

namespace moelab {

// The attack used inside training.
struct TrainingAttack {
    Norm norm = Norm::linf;
    double eps = 0.1;
    int steps = 10;
    double step_size = 0.0;       // <= 0: 2.5 eps / steps (Madry et al.)
    Box domain = kImageBox;
    void validate() const;        // throws std::invalid_argument naming the option
};

// Madry et al.'s step loss: cross-entropy (and the model's auxiliary losses) at the PGD point of each row.
// BatchLoss::ce is the adversarial cross-entropy, BatchLoss::out the output at the adversarial batch.
BatchLossFn pgd_adversarial_batch_loss(const TrainingAttack& attack);

struct RtErOptions {
    TrainingAttack attack;
    double beta = 6.0;            // weight of the expert regulariser (P2's default)
    void validate() const;
};

// The points an RT-ER step is computed at.
struct RtErPoints {
    Tensor x_adv;                               // [B, d] PGD on the whole model
    std::vector<std::int64_t> second;           // [B] expert of the second-highest router score at the clean x
    Tensor x_expert_adv;                        // [B, d] PGD on expert second[b] alone
};
// Throws std::invalid_argument unless the model is a model-level MoE with at least 2 experts.
RtErPoints rt_er_points(const Classifier& model, const Tensor& x, const std::vector<int>& y, const TrainingAttack& attack,
                        const Rng& step_rng);

// The second-highest router score's expert per row (ties to the lower index, like top-k).
std::vector<std::int64_t> second_ranked_experts(const Classifier& model, const Tensor& x);

// (1/B) sum_b KL( softmax f_{second[b]}(x_b) || softmax f_{second[b]}(x''_b) ): the RT-ER regulariser, a scalar
// differentiable w.r.t. the experts' parameters. Rows are grouped by expert (ascending), each group one batch.
Var rt_er_expert_term(const Classifier& model, const Tensor& x, const Tensor& x_expert_adv,
                      const std::vector<std::int64_t>& second);

// RT-ER's step loss on given points: CE(F(x_adv)) + aux + beta * rt_er_expert_term. BatchLoss::ce is the
// adversarial cross-entropy; the regulariser is part of BatchLoss::aux (with the routing losses).
BatchLoss rt_er_loss(Classifier& model, const Tensor& x, const RtErPoints& points, const std::vector<int>& y,
                     const ForwardOptions& fo, const TrainConfig& config, double beta);
// rt_er_points at the step's stream, then rt_er_loss.
BatchLossFn rt_er_batch_loss(const RtErOptions& options);

struct JtdmoeOptions {
    double alpha = 0.5;           // the dual model's smoothing parameter during training
    RtErOptions robust;           // the robust MoE's recipe
    void validate() const;
};

// The step loss of JTDMoE for the robust model (the model moe::train trains). Each call first takes one step of
// `standard` with `standard_optimizer` (whose learning rate is set to `robust_optimizer`'s, i.e. the schedule
// moe::train applies) on -log F_D,y(x) + F_S's auxiliary losses, F_R held fixed; then returns F_R's RT-ER loss.
// `standard`, both optimizers and the options must outlive the returned function. Randomness: F_S's dropout and
// router noise come from fo.rng.split("jtdmoe_standard"), F_R's from rt_er_batch_loss.
BatchLossFn jtdmoe_batch_loss(Classifier& standard, Optimizer& standard_optimizer, const Optimizer& robust_optimizer,
                              const JtdmoeOptions& options);

// The dual model's clean loss -mean_b log F_D,y_b(x_b) with F_R held fixed (differentiable w.r.t. F_S only).
Var dual_model_nll(const Classifier& standard, const Classifier& robust, double alpha, const Tensor& x,
                   const std::vector<int>& y, const ForwardOptions& standard_fo);

// Trains both halves of the dual model jointly from `robust_state` (fresh or restored; the standard model and its
// optimizer must be restored by the caller too when resuming). Checkpoint both models in hooks.on_epoch.
void train_jtdmoe(Classifier& standard, Optimizer& standard_optimizer, Classifier& robust, Optimizer& robust_optimizer,
                  const Dataset& train_set, const Dataset& test_set, const TrainConfig& config, TrainState& robust_state,
                  const JtdmoeOptions& options, TrainHooks hooks = {});

}  // namespace moelab
