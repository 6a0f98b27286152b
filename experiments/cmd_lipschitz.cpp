// moelab lipschitz: upper and lower bounds on the model's Lipschitz constants (theory/lipschitz.hpp).
// Prints them and writes FILE.json. The upper bound is the maximum pair constant max_{y != j} L_yj of the
// class-score differences (and the logit-vector bound); lower bounds come from gradients at the first N
// test samples and, for hard-routing MoEs, from output jumps across routing boundaries.
#include <cmath>
#include <cstdio>
#include <memory>

#include "engine/atomic_file.hpp"
#include "engine/parallel.hpp"
#include "experiments/commands.hpp"
#include "experiments/loaded_model.hpp"
#include "theory/lipschitz.hpp"

namespace moelab::cli {

namespace {

struct LipschitzFlags {
    std::string ckpt, out, data, norm = "l2";
    std::int64_t samples = 200;
    int threads = 0;
};

void run(const LipschitzFlags& f) {
    if (f.threads < 0) throw std::invalid_argument("--threads: must be >= 1");
    if (f.threads > 0) set_threads(f.threads);
    const Norm norm = parse_norm(f.norm);
    const LoadedModel lm = load_model_and_data(f.ckpt, f.data, f.samples);
    const Network net = network_of(lm.model());
    const LipschitzUpper up = lipschitz_upper(net, norm);
    double pair_max = 0.0;
    for (std::int64_t i = 0; i < up.pair.numel(); ++i) pair_max = std::max(pair_max, up.pair[i]);
    const LipschitzLower low = lipschitz_lower(lm.model(), lm.data.test.x, norm);
    const bool hard_routing = !lm.model().moe_layers().empty() && lm.model().config().gate != GateMode::soft;
    nlohmann::json j = {
        {"checkpoint", f.ckpt},
        {"norm", f.norm},
        {"upper", {{"pair_max", pair_max}, {"logits", up.logits}, {"method", up.method}, {"sound", up.sound}, {"note", up.note}}},
        {"lower", {{"gradient", low.gradient}, {"discontinuity_ratio", low.discontinuity}, {"routing_boundaries_probed", low.boundaries}}},
        {"exact", nullptr},
        {"exact_note", "the exact Lipschitz constant by MILP is not built; see moelab check for exact minimal distances"},
        {"global_constant_finite", !hard_routing},
    };
    write_file_atomic(f.out, j.dump(2) + "\n");
    std::printf("Lipschitz (%s): upper %.6g (%s%s), lower %.6g (gradients)", f.norm.c_str(), pair_max, up.method.c_str(),
                up.sound ? ", sound" : ", NOT sound for hard routing", low.gradient);
    if (low.boundaries > 0) std::printf(", jump ratio %.6g across %lld routing boundaries", low.discontinuity, static_cast<long long>(low.boundaries));
    std::printf("; wrote %s\n", f.out.c_str());
}

}  // namespace

void add_lipschitz_command(CLI::App& app, int& exit_code) {
    auto f = std::make_shared<LipschitzFlags>();
    auto* sub = app.add_subcommand("lipschitz", "upper and lower bounds on the model's Lipschitz constants");
    sub->add_option("--ckpt", f->ckpt, "model checkpoint")->required();
    sub->add_option("--norm", f->norm, "input norm: linf or l2")->capture_default_str();
    sub->add_option("--out", f->out, "JSON output")->required();
    sub->add_option("--samples", f->samples, "test samples used for the lower bounds")->capture_default_str();
    sub->add_option("--data", f->data, "data set (default: the model's)");
    sub->add_option("--threads", f->threads, "OpenMP threads (results do not depend on it)");
    sub->callback([f, &exit_code] {
        run(*f);
        exit_code = 0;
    });
}

}  // namespace moelab::cli
