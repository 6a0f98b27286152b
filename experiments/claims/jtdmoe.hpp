// C7's JTDMoE (P2, Algorithm 1) trained at every alpha it is scored at, with the dual model mixed on logits as P2's
// released code does, F_D = (1 - alpha) z_S + alpha z_R, or on probabilities as moelab's library dual model
// (theory/bounds/dual.hpp, moe/model.hpp dual_forward) does. The switch lives here, not in theory/, on purpose: the
// library's dual model (and C8's certificates on it) stays probability-mixed.
//
// One pass trains them all: F_R takes its RT-ER step per batch (P2's default beta 6) and, before it, every standard
// half F_S(mix, alpha) takes one step on the dual model's clean loss with F_R held fixed, exactly as the library's
// JTDMoE (theory/attacks/robust_training.hpp) does for one alpha. F_R's step never reads an F_S, so F_R is bitwise the model
// RT-ER trains alone from the same seed: it is stored as p2-rt-er too, and C6's RT-ER at beta 6 is this F_R.
#pragma once

#include <memory>
#include <vector>

#include "experiments/claims/p2_models.hpp"

namespace moelab::cli {

enum class DualMix { logits, probabilities };
const char* to_string(DualMix mix);   // "logits", "probabilities"
inline const std::vector<DualMix> kDualMixes{DualMix::logits, DualMix::probabilities};

// The dual model of standard and robust at alpha as attacks see it (both halves frozen): logit mixing gives the
// mixed logits, probability mixing log F_D (as theory/bounds/dual.hpp's dual_attack_model).
AttackModel mixed_dual_model(const Classifier& standard, const Classifier& robust, double alpha, DualMix mix);

struct JtdmoeFamily {
    std::vector<double> alphas;
    std::vector<DualMix> mixes;
    std::unique_ptr<Classifier> robust;                     // F_R: RT-ER at beta 6, bitwise p2-rt-er
    std::vector<std::unique_ptr<Classifier>> standard;      // F_S per (mix, alpha): index m * alphas.size() + a
    const Classifier& standard_at(std::size_t mix, std::size_t alpha) const { return *standard[mix * alphas.size() + alpha]; }
};
// Trains (or loads, cached as p2-rt-er-s<seed> and p2-jtdmoe-<mix>-a<alpha>-s<seed>) the family at s.beta = 6.
JtdmoeFamily p2_jtdmoe_family(const std::string& root, const P2Setup& s, const std::vector<double>& alphas,
                              const std::vector<DualMix>& mixes);

}  // namespace moelab::cli
