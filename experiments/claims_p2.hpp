// P2's models (Zhang, Xu, Hu, Wang, ICML 2025), shared by the drivers of C6 and C7 and reusable by C8's.
//
// Setting: Fashion-MNIST, a model-level MoE as in P2 (experts are whole classifiers 784 -> 64 -> 10, a linear
// router on the image, E = 4, top-1 routing), Adam (lr 3e-3) with a cosine schedule; adversarial training at L-inf
// eps = 0.1 with PGD-5 in the quick profile and PGD-10 in the full one (P2: CIFAR-10 at 8/255 with PGD-10); RT-ER's beta = 6 (P2's default); JTDMoE trained at
// alpha = 0.5. Every model is cached under OUT/models/<name>/ (model.ckpt and recipe.json, which names the training recipe)
// with these stable names:
//   p2-standard          plain training (the dual model's standard MoE F_S when trained separately)
//   p2-pgd-at            PGD adversarial training of the whole MoE (Madry et al.)
//   p2-rt-er             RT-ER (the dual model's robust MoE F_R when trained separately)
//   p2-jtdmoe-standard   JTDMoE's F_S, trained jointly with
//   p2-jtdmoe-robust     JTDMoE's F_R (bitwise equal to p2-rt-er: its step never reads F_S)
// A C8 driver gets all four dual-model halves, trained or loaded, with p2_dual_models(root_of(dir), profile); the
// combined model is dual_forward (moe/model.hpp) / dual_attack_model (theory/dual.hpp) at any alpha.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "experiments/claims.hpp"
#include "experiments/data_spec.hpp"
#include "theory/robust_training.hpp"

namespace moelab::cli {

struct P2Setup {
    DataSplits data;              // Fashion-MNIST: profile.train_limit training and profile.robust_test_samples test images
    ModelConfig model;
    TrainConfig train;
    TrainingAttack attack;        // the training attack, also the evaluation radius
    double beta = 6.0;            // RT-ER
    double joint_alpha = 0.5;     // JTDMoE
};
P2Setup p2_setup(const ReproProfile& p);

// Each trains (or loads from OUT/models/<name>) one model of the setup.
std::unique_ptr<Classifier> p2_standard(const std::string& root, const P2Setup& s);
std::unique_ptr<Classifier> p2_pgd_at(const std::string& root, const P2Setup& s);
std::unique_ptr<Classifier> p2_rt_er(const std::string& root, const P2Setup& s);

struct DualModels {
    P2Setup setup;
    std::unique_ptr<Classifier> standard, robust;               // trained separately: p2-standard, p2-rt-er
    std::unique_ptr<Classifier> joint_standard, joint_robust;   // JTDMoE at setup.joint_alpha
};
DualModels p2_dual_models(const std::string& root, const ReproProfile& p);

}  // namespace moelab::cli
