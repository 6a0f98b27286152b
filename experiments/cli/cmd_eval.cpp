// moelab eval: clean and out-of-distribution accuracy of a trained model, and per-expert accuracy.
// Writes FILE.json (atomically) with clean_accuracy, ood (one entry per corruption and severity),
// per_expert (samples routed to each expert by the first MoE layer's top-1, and their accuracy).
// --dump-logits and --dump-input-grad also write the test samples' logits and input gradients as .npy
// (experiments/cli/model_dumps.hpp), for comparison with an outside implementation.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "engine/atomic_file.hpp"
#include "engine/corruptions.hpp"
#include "engine/npz.hpp"
#include "engine/parallel.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/cli/flag_values.hpp"
#include "experiments/io/output_paths.hpp"
#include "experiments/cli/threads_flag.hpp"
#include "experiments/cli/loaded_model.hpp"
#include "experiments/cli/model_dumps.hpp"
#include "experiments/io/progress.hpp"

namespace moelab::cli {

namespace {

struct EvalFlags {
    std::string ckpt, out, data, dump_logits, dump_input_grad;
    std::int64_t samples = kAllCount, top_k = 0;
    std::uint64_t seed = 1;
    int threads = kThreadsUnset;
};

// A dump's directory must exist and its path differ from the other outputs: checked before any work, so a
// bad flag leaves nothing written.
void check_dump_path(const std::string& path, const std::string& flag, const EvalFlags& f) {
    if (path.empty()) return;
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent))
        throw std::invalid_argument(flag + ": directory '" + parent.string() + "' does not exist");
    if (path == f.out || (flag == "--dump-input-grad" && path == f.dump_logits))
        throw std::invalid_argument(flag + ": '" + path + "' is also another output of this command");
}

nlohmann::json nan_to_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

void run_eval(const EvalFlags& f) {
    apply_threads_flag(f.threads);
    require_output_file("--out", f.out, {{"--ckpt", f.ckpt}});
    if (f.top_k < 0) throw std::invalid_argument("--top-k: must be positive");
    check_dump_path(f.dump_logits, "--dump-logits", f);
    check_dump_path(f.dump_input_grad, "--dump-input-grad", f);
    const LoadedModel lm = load_model_and_data(f.ckpt, f.data, f.samples);   // kAllCount (default): the whole test split
    const Classifier& model = lm.model();
    const std::string& spec = lm.data_spec;
    const DataSplits& data = lm.data;
    const EvalResult clean = evaluate(model, data.test, 500, f.top_k);
    nlohmann::json per_expert = nlohmann::json::array();
    for (std::size_t e = 0; e < clean.expert_samples.size(); ++e)
        per_expert.push_back({{"expert", e}, {"samples", clean.expert_samples[e]},
                              {"accuracy", nan_to_null(clean.expert_accuracy[e])}});
    const auto corruptions = standard_corruptions(data.images);
    Progress bar("eval " + f.ckpt, static_cast<long>(corruptions.size()), "variants");
    nlohmann::json ood = nlohmann::json::array();
    const Rng rng = Rng(f.seed).split("ood");
    double ood_sum = 0.0;
    for (std::size_t i = 0; i < corruptions.size(); ++i) {
        const Corruption& c = corruptions[i];
        Dataset variant = data.test;
        variant.x = apply_corruption(data.test.x, c, rng.split(i), data.images);
        const EvalResult r = evaluate(model, variant, 500, f.top_k);
        ood.push_back({{"corruption", c.name}, {"severity", c.severity}, {"accuracy", r.accuracy}, {"loss", r.loss}});
        ood_sum += r.accuracy;
        bar.update(static_cast<long>(i + 1));
    }
    bar.finish();
    const nlohmann::json result = {{"checkpoint", f.ckpt},
                                   {"data", spec},
                                   {"samples", data.test.size()},
                                   {"top_k", f.top_k > 0 ? f.top_k : model.config().top_k},
                                   {"clean_accuracy", clean.accuracy},
                                   {"clean_loss", clean.loss},
                                   {"ood_mean_accuracy", ood_sum / static_cast<double>(corruptions.size())},
                                   {"ood", ood},
                                   {"per_expert", per_expert},
                                   {"expert_usage", to_json(clean.usage)}};
    if (!f.dump_logits.empty()) write_npy(f.dump_logits, dump_logits(model, data.test, f.top_k));
    if (!f.dump_input_grad.empty()) write_npy(f.dump_input_grad, dump_input_gradients(model, data.test, f.top_k));
    write_file_atomic(f.out, result.dump(2) + "\n");
    std::printf("clean accuracy %.4f, mean OOD accuracy %.4f over %zu variants; wrote %s\n", clean.accuracy,
                ood_sum / static_cast<double>(corruptions.size()), corruptions.size(), f.out.c_str());
    if (!clean.usage.empty()) std::printf("expert usage: %s\n", usage_line(clean.usage).c_str());
}

}  // namespace

void add_eval_command(CLI::App& app, int& exit_code) {
    auto flags = std::make_shared<EvalFlags>();
    auto* sub = app.add_subcommand("eval", "clean and out-of-distribution accuracy of a trained model");
    sub->add_option("--ckpt", flags->ckpt, "model checkpoint (DIR/model.ckpt) or model file (.npz)")->required();
    sub->add_option("--out", flags->out, "output JSON file")->required();
    sub->add_option("--data", flags->data, "data set (default: the one the model was trained on)");
    sub->add_option("--samples", flags->samples, "evaluate on the first N test samples");
    sub->add_option("--top-k", flags->top_k, "experts per input at inference (default: as trained)");
    sub->add_option("--dump-logits", flags->dump_logits, "also write the test samples' logits [N, classes] to this .npy");
    sub->add_option("--dump-input-grad", flags->dump_input_grad,
                    "also write [N, input_dim] to this .npy: row i the gradient of sample i's cross-entropy loss at its label");
    sub->add_option("--seed", flags->seed, "seed of the noise corruptions")->capture_default_str();
    sub->add_option("--threads", flags->threads, "OpenMP threads (results do not depend on it)");
    sub->callback([flags, &exit_code] {
        run_eval(*flags);
        exit_code = 0;
    });
}

}  // namespace moelab::cli
