// moelab lipschitz: upper and lower bounds on the model's Lipschitz constants (theory/bounds/lipschitz.hpp).
// Prints them and writes FILE.json. The upper bound is the maximum pair constant max_{y != j} L_yj of the
// class-score differences (and the logit-vector bound); lower bounds come from gradients at the first N
// test samples and, for hard-routing MoEs, from output jumps across routing boundaries. With --norm linf the
// exact constant by MILP (theory/exact/exact_lipschitz.hpp) replaces "exact": null: the global constant over the
// input domain (models up to --exact-max-size) and local constants on balls around the first test samples.
//
// JSON "exact" (null for --norm l2, with "exact_note" saying why), every constant for input L-inf and output
// |F_a - F_b| (the L1 norm of the margin's gradient), each entry shaped as
//   {status: optimal|bounds_only|discontinuous|unsupported, lower, upper, gap (null when infinite),
//    per_cell_lower, per_cell_upper, pair: [a, b], cells, routing_fixed_by_intervals, relu_binaries,
//    sign_binaries, seconds, note, jump: null | {point: [...], size}}
//   exact.global: max over all class pairs on the region exact.global_region ("domain" box, or the test data's
//                 bounding box when the domain is unbounded); null when the model exceeds --exact-max-size
//   exact.local:  per sample {sample, label, radius, ...}: max over pairs (label, j) on the L-inf ball of
//                 radius --exact-radius around the sample, intersected with the domain
#include <cmath>
#include <cstdio>
#include <memory>

#include "engine/atomic_file.hpp"
#include "engine/parallel.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/io/output_paths.hpp"
#include "experiments/cli/threads_flag.hpp"
#include "experiments/cli/loaded_model.hpp"
#include "experiments/cli/work_limit_flags.hpp"
#include "theory/exact/exact_lipschitz.hpp"
#include "theory/bounds/lipschitz.hpp"
#include "theory/bounds/lipschitz_lower.hpp"

namespace moelab::cli {

namespace {

struct LipschitzFlags {
    std::string ckpt, out, data, norm = "l2";
    std::int64_t samples = 200;
    int threads = kThreadsUnset;
    std::int64_t exact_samples = 3, exact_max_size = 128;
    double exact_radius = 0.05;
    WorkLimitFlags work;
};

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json exact_json(const ExactLipschitzResult& r) {
    nlohmann::json jump = nullptr;
    if (!r.jump_point.empty()) jump = {{"point", r.jump_point.vec()}, {"size", r.jump}};
    return {{"status", to_string(r.status)}, {"lower", finite_or_null(r.lower)}, {"upper", finite_or_null(r.upper)},
            {"gap", finite_or_null(r.gap())}, {"per_cell_lower", finite_or_null(r.per_cell_lower)},
            {"per_cell_upper", finite_or_null(r.per_cell_upper)}, {"pair", {r.class_a, r.class_b}}, {"cells", r.cells},
            {"routing_fixed_by_intervals", r.routing_fixed_by_intervals}, {"relu_binaries", r.relu_binaries},
            {"sign_binaries", r.sign_binaries}, {"seconds", r.seconds}, {"note", r.note}, {"jump", jump}};
}

// ReLU units on one routing path plus input coordinates: the size that decides whether the global MILP is tried.
std::int64_t exact_size(const ModelConfig& c) {
    if (c.kind == ModelKind::moe_model) return c.input_dim + c.hidden;
    return c.input_dim + c.width + c.depth * c.hidden;
}

// The global constant and the local ones at the first samples; "exact_note" says what was skipped.
nlohmann::json exact_section(const LipschitzFlags& f, const LoadedModel& lm, std::string& note) {
    const Classifier& model = lm.model();
    const ModelConfig& c = model.config();
    ExactLipschitzOptions o;
    o.work_limit_nodes = f.work.nodes;
    o.time_limit_s = f.work.seconds;
    nlohmann::json out = {{"norm", "input linf, output |F_a - F_b|: max ||grad (F_a - F_b)||_1"},
                          {"work_limit_nodes", f.work.nodes}, {"time_limit_s", f.work.seconds}, {"radius", f.exact_radius}};
    const Tensor& xs = lm.data.test.x;
    InputBox region = domain_box(c.input_dim, lm.domain);
    std::string region_name = "domain";
    if (!std::isfinite(lm.domain.lo) || !std::isfinite(lm.domain.hi)) {   // no finite domain: the data's box
        region_name = "test data bounding box";
        for (std::int64_t i = 0; i < c.input_dim; ++i) {
            region.lo[static_cast<std::size_t>(i)] = region.hi[static_cast<std::size_t>(i)] = xs.at(0, i);
            for (std::int64_t b = 1; b < xs.rows(); ++b) {
                region.lo[static_cast<std::size_t>(i)] = std::min(region.lo[static_cast<std::size_t>(i)], xs.at(b, i));
                region.hi[static_cast<std::size_t>(i)] = std::max(region.hi[static_cast<std::size_t>(i)], xs.at(b, i));
            }
        }
    }
    out["global_region"] = region_name;
    if (exact_size(c) <= f.exact_max_size) {
        out["global"] = exact_json(exact_lipschitz_linf(model, region, o));
    } else {
        out["global"] = nullptr;
        note = "global constant skipped: input + ReLU units = " + std::to_string(exact_size(c)) + " > --exact-max-size " +
               std::to_string(f.exact_max_size) + "; ";
    }
    nlohmann::json local = nlohmann::json::array();
    const auto predictions = argmax_rows(network_logits(network_of(model), xs));
    for (std::int64_t b = 0; b < std::min(f.exact_samples, xs.rows()); ++b) {
        Tensor x(Shape{1, c.input_dim});
        for (std::int64_t i = 0; i < c.input_dim; ++i) x[i] = xs.at(b, i);
        const int label = static_cast<int>(predictions[static_cast<std::size_t>(b)]);
        nlohmann::json e = exact_json(exact_lipschitz_linf(model, linf_ball(x, f.exact_radius, lm.domain), o, label));
        e["sample"] = b;
        e["label"] = label;
        e["radius"] = f.exact_radius;
        local.push_back(std::move(e));
    }
    out["local"] = std::move(local);
    return out;
}

void run(const LipschitzFlags& f) {
    apply_threads_flag(f.threads);
    require_output_file("--out", f.out, {{"--ckpt", f.ckpt}});
    const Norm norm = parse_norm(f.norm);
    const LoadedModel lm = load_model_and_data(f.ckpt, f.data, f.samples);
    const Network net = network_of(lm.model());
    const LipschitzUpper up = lipschitz_upper(net, norm);
    double pair_max = 0.0;
    for (std::int64_t i = 0; i < up.pair.numel(); ++i) pair_max = std::max(pair_max, up.pair[i]);
    const LipschitzLower low = lipschitz_lower(lm.model(), lm.data.test.x, norm);
    const bool hard_routing = !lm.model().moe_layers().empty() && lm.model().config().gate != GateMode::soft;
    validate_work_limit_flags(f.work, "exact-");
    if (!(f.exact_radius >= 0.0) || std::isinf(f.exact_radius)) throw std::invalid_argument("--exact-radius: must be finite and >= 0");
    if (f.exact_samples < 0) throw std::invalid_argument("--exact-samples: must be >= 0");
    std::string exact_note = "exact constant by MILP for input linf only (an L1 gradient norm is linear); use --norm linf";
    nlohmann::json exact = nullptr;
    if (norm == Norm::linf) {
        exact_note.clear();
        exact = exact_section(f, lm, exact_note);
    }
    nlohmann::json j = {
        {"checkpoint", f.ckpt},
        {"norm", f.norm},
        {"upper", {{"pair_max", pair_max}, {"logits", up.logits}, {"method", up.method}, {"sound", up.sound}, {"note", up.note}}},
        {"lower", {{"gradient", low.gradient}, {"discontinuity_ratio", low.discontinuity}, {"routing_boundaries_probed", low.boundaries}}},
        {"exact", exact},
        {"exact_note", exact_note},
        {"global_constant_finite", !hard_routing},
    };
    write_file_atomic(f.out, j.dump(2) + "\n");
    std::printf("Lipschitz (%s): upper %.6g (%s%s), lower %.6g (gradients)", f.norm.c_str(), pair_max, up.method.c_str(),
                up.sound ? ", sound" : ", NOT sound for hard routing", low.gradient);
    if (low.boundaries > 0) std::printf(", jump ratio %.6g across %lld routing boundaries", low.discontinuity, static_cast<long long>(low.boundaries));
    if (!exact.is_null() && !exact["global"].is_null()) {
        const nlohmann::json& g = exact["global"];
        std::printf("; exact (global, %s): %s", exact["global_region"].get<std::string>().c_str(), g["status"].get<std::string>().c_str());
        if (!g["lower"].is_null()) std::printf(" [%.6g, %.6g]", g["lower"].get<double>(), g["upper"].is_null() ? INFINITY : g["upper"].get<double>());
        if (!g["per_cell_upper"].is_null() && g["cells"].get<std::int64_t>() > 1) std::printf(", per cell <= %.6g", g["per_cell_upper"].get<double>());
    }
    std::printf("; wrote %s\n", f.out.c_str());
}

}  // namespace

void add_lipschitz_command(CLI::App& app, int& exit_code) {
    auto f = std::make_shared<LipschitzFlags>();
    auto* sub = app.add_subcommand("lipschitz", "upper and lower bounds on the model's Lipschitz constants");
    sub->add_option("--ckpt", f->ckpt, "model checkpoint or model file (.npz)")->required();
    sub->add_option("--norm", f->norm, "input norm: linf or l2")->capture_default_str();
    sub->add_option("--out", f->out, "JSON output")->required();
    sub->add_option("--samples", f->samples, "test samples used for the lower bounds")->capture_default_str();
    sub->add_option("--data", f->data, "data set (default: the model's)");
    sub->add_option("--threads", f->threads, "OpenMP threads (results do not depend on it)");
    sub->add_option("--exact-samples", f->exact_samples, "test samples with an exact local constant (--norm linf)")->capture_default_str();
    add_work_limit_flags(*sub, f->work, "exact-", "per class pair and region");
    sub->add_option("--exact-radius", f->exact_radius, "L-inf radius of the local regions")->capture_default_str();
    sub->add_option("--exact-max-size", f->exact_max_size, "try the global constant only up to input + ReLU units")->capture_default_str();
    sub->callback([f, &exit_code] {
        run(*f);
        exit_code = 0;
    });
}

}  // namespace moelab::cli
