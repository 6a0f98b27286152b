#include "experiments/cli/dual_flags.hpp"

#include <stdexcept>

#include "experiments/io/config_keys.hpp"
#include "experiments/io/model_file_io.hpp"
#include "theory/bounds/dual.hpp"

namespace moelab::cli {

void add_dual_flags(CLI::App& sub, DualFlags& f) {
    sub.add_option("--robust-ckpt", f.robust_ckpt, "dual model: the robust model F_R (--ckpt is the standard model F_S)");
    f.alpha_option = sub.add_option("--alpha", f.alpha, "dual model: weight of F_R in (1 - alpha) F_S + alpha F_R, in [0, 1]");
    sub.add_option("--dual-mix", f.mix, "dual model: mix logits (as P2's code) or probabilities")->capture_default_str();
}

void reject_lone_alpha(const DualFlags& f) {
    if (!f.active() && f.alpha_option && f.alpha_option->count() > 0)
        throw std::invalid_argument("--alpha: only meaningful with --robust-ckpt (the dual model)");
}

SavedModel load_robust_model(const DualFlags& f, const Classifier& standard) {
    if (!f.alpha_option || f.alpha_option->count() == 0) throw std::invalid_argument("--alpha: required with --robust-ckpt");
    check_alpha(f.alpha);
    parse_dual_mix(f.mix);
    SavedModel r;
    try {
        r = load_checkpoint_or_model_file(f.robust_ckpt);
    } catch (const std::exception& e) {
        throw std::invalid_argument(std::string("--robust-ckpt: ") + user_message(e));
    }
    const ModelConfig &a = standard.config(), &b = r.model->config();
    if (a.input_dim != b.input_dim || a.classes != b.classes)
        throw std::invalid_argument("--robust-ckpt: " + f.robust_ckpt + " has input " + std::to_string(b.input_dim) + " and " +
                                    std::to_string(b.classes) + " classes, the standard model " + std::to_string(a.input_dim) +
                                    " and " + std::to_string(a.classes));
    return r;
}

}  // namespace moelab::cli
