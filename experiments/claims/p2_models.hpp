// P2's models (Zhang, Xu, Hu, Wang, ICML 2025), shared by the drivers of C5, C6 and C7 and reusable by C8's.
//
// Setting: Fashion-MNIST, a model-level MoE as in P2 (experts are whole classifiers 784 -> 64 -> 10, a linear
// router on the image, E = 4, top-1 routing), Adam (lr 3e-3) with a cosine schedule; adversarial training at L-inf
// eps = 0.1 with PGD-5 in the quick profile and PGD-10 in the full one (P2: CIFAR-10 at 8/255 with PGD-10); RT-ER's
// beta = 6 (P2's default); JTDMoE trained at alpha = 0.5. Every model is trained once per seed (initialisation and
// shuffling from it) and cached under OUT/models/<name>-s<seed>/ (model.ckpt and recipe.json, which names the
// training recipe) with these stable names:
//   p2-standard          plain training (the dual model's standard MoE F_S when trained separately)
//   p2-frozen-standard   plain training with P2's frozen random router and gate 1 (C5)
//   p2-pgd-at            PGD adversarial training of the whole MoE (Madry et al.)
//   p2-rt-er             RT-ER at beta 6 (the dual model's robust MoE F_R when trained separately);
//                        p2-rt-er-b<beta> at another beta
//   p2-jtdmoe-<mix>-a<alpha>   C7's JTDMoE standard halves, one per alpha and mixing (jtdmoe.cpp)
// The combined model is dual_forward (moe/model.hpp) / dual_attack_model (theory/bounds/dual.hpp) at any alpha.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/claims/claims.hpp"
#include "experiments/io/data_spec.hpp"
#include "theory/attacks/attack.hpp"
#include "theory/attacks/robust_training.hpp"

namespace moelab::cli {

struct P2Setup {
    DataSplits data;              // Fashion-MNIST: profile.train_limit training and profile.robust_test_samples test images
    ModelConfig model;
    TrainConfig train;
    TrainingAttack attack;        // the training attack, also the evaluation radius
    double beta = 6.0;            // RT-ER
    std::uint64_t seed = 1;       // model and training seed
    std::string name(const std::string& base) const;   // the cache name of this seed's model: "<base>-s<seed>"
};
P2Setup p2_setup(const ReproProfile& p, std::uint64_t seed);
P2Setup p2_setup(const ReproProfile& p);   // the profile's first seed

// Each trains (or loads from OUT/models/<name>) one model of the setup.
std::unique_ptr<Classifier> p2_standard(const std::string& root, const P2Setup& s);
std::unique_ptr<Classifier> p2_frozen_standard(const std::string& root, const P2Setup& s);
std::unique_ptr<Classifier> p2_pgd_at(const std::string& root, const P2Setup& s);
std::unique_ptr<Classifier> p2_rt_er(const std::string& root, const P2Setup& s);   // at s.beta
// RT-ER's cache name at s.beta ("p2-rt-er-s<seed>" at 6, "p2-rt-er-b<beta>-s<seed>" otherwise) and its recipe.
std::string p2_rt_er_name(const P2Setup& s);
nlohmann::json p2_rt_er_recipe(const P2Setup& s);
nlohmann::json p2_attack_json(const TrainingAttack& a);
// "6000" or "all 60000": the training images of the profile's P2 models, for set-up cards.
std::string p2_training_images(const ReproProfile& p);

// Per test sample: correct at x, and correct at x and at the point of an L-inf PGD attack.
struct Outcomes {
    std::vector<std::uint8_t> clean, robust;
    double sa() const;
    double ra() const;
};
Outcomes pgd_outcomes(const AttackModel& m, const Dataset& data, double eps, int steps);

// The first n test images of the setup (all when n exceeds them).
Dataset first_test_images(const P2Setup& s, std::int64_t n);

}  // namespace moelab::cli
