// moelab attack: one named attack over the test set of a trained model (theory/attacks/attack_harness.hpp).
// Writes FILE.csv (one row per sample, header first) and FILE.json beside it (summary), atomically.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "engine/atomic_file.hpp"
#include "engine/npz.hpp"
#include "engine/parallel.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/io/config_keys.hpp"
#include "experiments/io/output_paths.hpp"
#include "experiments/cli/threads_flag.hpp"
#include "experiments/cli/loaded_model.hpp"
#include "experiments/cluster/sample_split.hpp"
#include "experiments/cluster/split_runs.hpp"
#include "theory/attacks/attack_harness.hpp"

namespace moelab::cli {

namespace {

struct AttackFlags {
    std::string ckpt, out, data, save_adv, attack, norm = "linf", loss = "ce", schedule = "constant", target;
    double eps = 0.1, step_size = 0.0, overshoot = 0.02;
    int steps = 10, restarts = 1, bisection_steps = 20, threads = kThreadsUnset;
    std::int64_t samples = 500, batch_size = 250, top_k = 0, swap_rank = 0;
    std::uint64_t seed = 1;
    std::vector<double> eps_grid;
    bool no_random_start = false;
};

std::string json_path_for(const std::string& csv) {
    std::filesystem::path p(csv);
    return (p.extension() == ".csv" ? p.replace_extension(".json") : std::filesystem::path(csv + ".json")).string();
}

void run(const AttackFlags& f) {
    apply_threads_flag(f.threads);
    refuse_mpirun_without_mpi("attack");
    const std::string json_path = json_path_for(f.out);
    const std::vector<NamedPath> inputs{{"--ckpt", f.ckpt}};
    require_output_file("--out", f.out, inputs);
    require_output_file("--out (its JSON summary)", json_path, inputs);
    if (!f.save_adv.empty()) {
        require_output_file("--save-adv", f.save_adv, inputs);
        if (f.save_adv == f.out || f.save_adv == json_path)
            throw std::invalid_argument("--save-adv " + f.save_adv + ": is also the --out CSV or its JSON summary");
    }
    if (f.swap_rank < 0) throw std::invalid_argument("--swap-rank: must be >= 0 (0 = the top expert), got " + std::to_string(f.swap_rank));
    if (f.top_k < 0) throw std::invalid_argument("--top-k: must be >= 1 (0 = as trained)");
    const LoadedModel lm = load_model_and_data(f.ckpt, f.data, f.samples);
    const Classifier& model = lm.model();
    const std::string& spec_text = lm.data_spec;
    const DataSplits& data = lm.data;
    AttackSpec spec;
    spec.options.norm = parse_norm(f.norm);
    spec.options.eps = f.eps;
    spec.options.steps = f.steps;
    spec.options.step_size = f.step_size;
    spec.options.schedule = parse_step_schedule(f.schedule);
    spec.options.restarts = f.restarts;
    spec.options.random_start = !f.no_random_start;
    spec.options.loss = parse_attack_loss(f.loss);
    spec.options.seed = f.seed;
    spec.minimal.max_iter = std::max(f.steps, 1);
    spec.minimal.overshoot = f.overshoot;
    spec.minimal.bisection_steps = f.bisection_steps;
    spec.eps_grid = f.eps_grid;
    spec.target = f.target;
    spec.k_override = f.top_k;
    spec.swap_rank = f.swap_rank;
    spec.batch_size = f.batch_size;
    spec.domain = lm.domain;
    spec.attack = parse_attack(f.attack);   // where validate() refused an unknown name: the same error order
    validate(spec, model);
    // Under mpirun whole batches are split over the ranks and merged on rank 0, which alone writes and prints.
    const RobustnessReport rep = attack_on_ranks(model, data.test, spec, "attack " + f.attack);
    if (!is_rank0()) return;
    nlohmann::json summary = summary_json(rep, spec, model.moe_layers().empty() ? 0 : model.config().experts);
    const std::vector<ExpertUsage> usage_before = measure_expert_usage(model, data.test.x, f.top_k),
                                   usage_after = measure_expert_usage(model, rep.x_adv, f.top_k);
    summary["expert_usage_before"] = to_json(usage_before);
    summary["expert_usage_after"] = to_json(usage_after);
    summary["checkpoint"] = f.ckpt;
    summary["data"] = spec_text;
    // The optional archive first: if it cannot be written, neither the CSV nor its JSON is.
    if (!f.save_adv.empty()) write_npz(f.save_adv, {{"x", data.test.x}, {"x_adv", rep.x_adv}});
    write_file_atomic(json_path, summary.dump(2) + "\n");
    write_file_atomic(f.out, to_csv(rep));
    std::printf("%s (%s, eps %g): clean accuracy %.4f, robust accuracy %.4f, routing changed for %.1f%% (top-1 for %.1f%%) of %zu samples; "
                "wrote %s and %s\n",
                f.attack.c_str(), f.norm.c_str(), f.eps, rep.clean_accuracy, rep.robust_accuracy,
                100.0 * rep.routing_change_rate, 100.0 * rep.top1_change_rate, rep.samples.size(), f.out.c_str(), json_path.c_str());
    if (!usage_before.empty())
        std::printf("expert usage before: %s\nexpert usage after:  %s\n", usage_line(usage_before).c_str(),
                    usage_line(usage_after).c_str());
}

}  // namespace

void add_attack_command(CLI::App& app, int& exit_code) {
    auto f = std::make_shared<AttackFlags>();
    auto* sub = app.add_subcommand("attack", "adversarial attacks on a trained model: per-sample CSV and JSON summary");
    sub->add_option("--ckpt", f->ckpt, "model checkpoint (DIR/model.ckpt) or model file (.npz)")->required();
    sub->add_option("--attack", f->attack, or_list(attack_names()))->required();
    sub->add_option("--out", f->out, "per-sample CSV; the JSON summary goes beside it")->required();
    sub->add_option("--norm", f->norm, "threat model: linf or l2")->capture_default_str();
    sub->add_option("--eps", f->eps, "radius (minimal-distance attacks: the curve's largest radius)")->capture_default_str();
    sub->add_option("--steps", f->steps, "attack iterations")->capture_default_str();
    sub->add_option("--step-size", f->step_size, "PGD step (0: 2.5 eps / steps)")->capture_default_str();
    sub->add_option("--step-schedule", f->schedule, "constant or cosine")->capture_default_str();
    sub->add_option("--restarts", f->restarts, "random restarts (the best point over all is kept)")->capture_default_str();
    sub->add_flag("--no-random-start", f->no_random_start, "start PGD at the clean input");
    sub->add_option("--loss", f->loss, "PGD/FGSM objective: ce, dlr or margin")->capture_default_str();
    sub->add_option("--target", f->target, "targeted attack: 'next' (label + 1 mod C) or a class index");
    sub->add_option("--eps-grid", f->eps_grid, "radii of the robust-accuracy curve (comma-separated)")->delimiter(',');
    sub->add_option("--overshoot", f->overshoot, "DeepFool overshoot")->capture_default_str();
    sub->add_option("--bisection-steps", f->bisection_steps, "bisection: halvings of the radius")->capture_default_str();
    sub->add_option("--samples", f->samples, "attack the first N test samples")->capture_default_str();
    sub->add_option("--batch-size", f->batch_size, "samples attacked together")->capture_default_str();
    sub->add_option("--top-k", f->top_k, "experts per input at inference (default: as trained)");
    sub->add_option("--swap-rank", f->swap_rank, "swap: the rank (0 = top) replaced by the next-ranked expert")->capture_default_str();
    sub->add_option("--save-adv", f->save_adv, "also write the inputs and reported points (x, x_adv) to this .npz");
    sub->add_option("--data", f->data, "data set (default: the one the model was trained on)");
    sub->add_option("--seed", f->seed, "seed of random starts")->capture_default_str();
    sub->add_option("--threads", f->threads, "OpenMP threads (results do not depend on it)");
    sub->callback([f, &exit_code] {
        run(*f);
        exit_code = 0;
    });
}

}  // namespace moelab::cli
