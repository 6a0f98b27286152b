// The flags that turn certify and check into commands about P2's dual model
// F_D = (1 - alpha) F_S + alpha F_R (theory/bounds/dual.hpp): --robust-ckpt names F_R (F_S is --ckpt), --alpha its weight,
// --dual-mix what is mixed (logits, as P2's code, by default; or probabilities).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "moe/model_io.hpp"

namespace moelab::cli {

struct DualFlags {
    std::string robust_ckpt;
    double alpha = 0.0;
    CLI::Option* alpha_option = nullptr;
    std::string mix = "logits";
    bool active() const { return !robust_ckpt.empty(); }
};

void add_dual_flags(CLI::App& sub, DualFlags& f);
// Validates the pair (--alpha given, in [0, 1], only with --robust-ckpt) and loads F_R, checking it has the
// standard model's input dimension and classes. Throws naming --alpha or --robust-ckpt.
SavedModel load_robust_model(const DualFlags& f, const Classifier& standard);
// --alpha without --robust-ckpt: throws naming --alpha.
void reject_lone_alpha(const DualFlags& f);

}  // namespace moelab::cli
