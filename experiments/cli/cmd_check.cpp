// moelab check: certified <= exact <= attack, per sample (theory/check/checker.hpp). Writes DIR/check.csv,
// DIR/summary.json and DIR/check.png; exits non-zero, naming the samples, when any sound certificate,
// exact distance or attack contradicts another. With --robust-ckpt R.ckpt --alpha A it checks P2's dual model
// (1 - A) F_S + A F_R instead (theory/bounds/dual.hpp): DIR/dual_check.csv and DIR/dual_summary.json, certified <=
// attack for every dual certificate.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "engine/atomic_file.hpp"
#include "engine/parallel.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/io/output_paths.hpp"
#include "experiments/cli/threads_flag.hpp"
#include "experiments/cli/dual_flags.hpp"
#include "experiments/io/gnuplot_run.hpp"
#include "experiments/cli/loaded_model.hpp"
#include "experiments/io/progress.hpp"
#include "experiments/cluster/sample_split.hpp"
#include "experiments/cluster/split_runs.hpp"
#include "experiments/cli/work_limit_flags.hpp"
#include "theory/check/checker.hpp"
#include "theory/bounds/dual.hpp"

namespace moelab::cli {

namespace {

struct CheckFlags {
    std::string ckpt, out, data, norm = "linf";
    std::int64_t samples = 100;
    double radius_cap = 1.0, eps_max = 1.0, eps = 0.1;
    WorkLimitFlags work;
    bool no_exact = false, smoothing = false, exact_lipschitz = false;
    int threads = kThreadsUnset;
    DualFlags dual;
};

// True when DIR/check.png was drawn now (an older one is removed first, so that "wrote" is never stale).
bool plot(const std::string& dir) {
    const std::filesystem::path png = std::filesystem::path(dir) / "check.png";
    std::error_code ec;
    std::filesystem::remove(png, ec);
    return draw_figure("check", "check.gp", dir) && std::filesystem::is_regular_file(png, ec);
}

int report_violations(long long violations, const std::vector<std::int64_t>& samples, const std::string& csv) {
    if (violations == 0) return 0;
    std::string names;
    for (std::size_t i = 0; i < samples.size() && i < 10; ++i) names += (names.empty() ? "" : ", ") + std::to_string(samples[i]);
    std::fprintf(stderr, "moelab: check: %lld violations of certified <= exact <= attack (samples %s%s); see %s\n", violations,
                 names.c_str(), samples.size() > 10 ? ", ..." : "", csv.c_str());
    return 1;
}

void run_dual(const CheckFlags& f, const CheckOptions& o, const LoadedModel& lm, int& exit_code) {
    const SavedModel robust = load_robust_model(f.dual, lm.model());
    Progress bar("check dual", static_cast<long>(lm.data.test.size()), "samples");
    const DualCheckReport rep = run_dual_check(lm.model(), *robust.model, f.dual.alpha, lm.data.test, o, parse_dual_mix(f.dual.mix),
                                                [&](long done, long) { bar.update(done); });
    bar.finish();
    nlohmann::json summary = summary_json(rep, o, f.eps);
    summary["checkpoint"] = f.ckpt;
    summary["robust_checkpoint"] = f.dual.robust_ckpt;
    summary["expert_usage"] = to_json(measure_expert_usage(lm.model(), lm.data.test.x));
    summary["robust_expert_usage"] = to_json(measure_expert_usage(*robust.model, lm.data.test.x));
    write_file_atomic(f.out + "/dual_check.csv", to_csv(rep));
    write_file_atomic(f.out + "/dual_summary.json", summary.dump(2) + "\n");
    std::printf("check %s (%s, alpha %g): %lld samples, %lld violations; wrote %s/{dual_check.csv,dual_summary.json}\n",
                describe(rep.mix).c_str(), f.norm.c_str(), f.dual.alpha, static_cast<long long>(rep.rows.size()), static_cast<long long>(rep.violations),
                f.out.c_str());
    std::vector<std::int64_t> bad;
    for (const auto& r : rep.rows)
        if (!r.violations.empty()) bad.push_back(r.index);
    exit_code = report_violations(rep.violations, bad, f.out + "/dual_check.csv");
}

void run(const CheckFlags& f, int& exit_code) {
    apply_threads_flag(f.threads);
    refuse_mpirun_without_mpi("check");
    CheckOptions o;
    o.norm = parse_norm(f.norm);
    if (!(f.radius_cap > 0.0) || !std::isfinite(f.radius_cap))
        throw std::invalid_argument("--radius-cap: must be positive and finite");
    validate_work_limit_flags(f.work, "");
    if (!(f.eps_max > 0.0)) throw std::invalid_argument("--eps-max: must be positive");
    if (!(f.eps >= 0.0)) throw std::invalid_argument("--eps: must be >= 0");
    reject_lone_alpha(f.dual);
    if (f.exact_lipschitz && f.dual.active()) throw std::invalid_argument("--exact-lipschitz: not for the dual model (--robust-ckpt)");
    require_output_dir("--out", f.out, {"check.csv", "summary.json", "check.png", "dual_check.csv", "dual_summary.json"},
                       {{"--ckpt", f.ckpt}, {"--robust-ckpt", f.dual.robust_ckpt}});
    const LoadedModel lm = load_model_and_data(f.ckpt, f.data, f.samples);
    o.domain = lm.domain;
    o.exact = !f.no_exact;
    o.exact_options.radius_cap = f.radius_cap;
    o.exact_options.work_limit_nodes = f.work.nodes;
    o.exact_options.time_limit_s = f.work.seconds;
    o.exact_options.backend = f.work.milp_backend();
    o.exact_lipschitz = f.exact_lipschitz;
    o.exact_lipschitz_options.work_limit_nodes = f.work.nodes;
    o.exact_lipschitz_options.time_limit_s = f.work.seconds;
    o.exact_options.domain = lm.domain;
    o.attack_eps_max = f.eps_max;
    o.smoothing = f.smoothing;
    if (f.dual.active()) {
        if (is_rank0()) run_dual(f, o, lm, exit_code);   // not split: rank 0 alone under mpirun
        return;
    }
    // Under mpirun the samples are split over the ranks and merged on rank 0, which alone writes and prints.
    const CheckReport rep = check_on_ranks(lm.model(), lm.data.test, o, "check");
    if (!is_rank0()) return;
    nlohmann::json summary = summary_json(rep, o);
    summary["checkpoint"] = f.ckpt;
    const std::vector<ExpertUsage> usage = measure_expert_usage(lm.model(), lm.data.test.x);
    summary["expert_usage"] = to_json(usage);
    write_file_atomic(f.out + "/check.csv", to_csv(rep));
    write_file_atomic(f.out + "/summary.json", summary.dump(2) + "\n");
    const bool drawn = plot(f.out);
    std::printf("check (%s): %lld samples, %lld violations, %lld naive-bound violations (expected for hard routing), "
                "%lld violations of P2's printed reading, %lld exact; wrote %s/{check.csv,summary.json%s}\n",
                f.norm.c_str(), static_cast<long long>(rep.rows.size()), static_cast<long long>(rep.violations),
                static_cast<long long>(rep.naive_violations), static_cast<long long>(rep.p2_violations),
                summary["exact_optimal"].get<long long>(), f.out.c_str(), drawn ? ",check.png" : "");
    if (!usage.empty()) std::printf("expert usage on these samples: %s\n", usage_line(usage).c_str());
    std::vector<std::int64_t> bad;
    for (const auto& r : rep.rows)
        if (!r.violations.empty()) bad.push_back(r.index);
    exit_code = report_violations(rep.violations, bad, f.out + "/check.csv");
}

}  // namespace

void add_check_command(CLI::App& app, int& exit_code) {
    auto f = std::make_shared<CheckFlags>();
    auto* sub = app.add_subcommand("check", "verify certified <= exact <= attack per sample");
    sub->add_option("--ckpt", f->ckpt, "model checkpoint or model file (.npz)")->required();
    sub->add_option("--out", f->out, "output directory")->required();
    sub->add_option("--norm", f->norm, "linf or l2")->capture_default_str();
    sub->add_option("--samples", f->samples, "first N test samples")->capture_default_str();
    sub->add_option("--data", f->data, "data set (default: the model's)");
    sub->add_option("--radius-cap", f->radius_cap, "exact: largest L-inf radius searched")->capture_default_str();
    add_work_limit_flags(*sub, f->work, "", "per sample (exact-lipschitz: per class pair and ball)");
    sub->add_option("--eps-max", f->eps_max, "attack bisection: largest radius")->capture_default_str();
    sub->add_flag("--no-exact", f->no_exact, "skip the exact MILP");
    sub->add_flag("--smoothing", f->smoothing, "also report randomized smoothing (L2, probabilistic)");
    sub->add_flag("--exact-lipschitz", f->exact_lipschitz,
                  "also the Lipschitz margin with exact local constants (MILP per class pair and ball; L-inf, small models)");
    sub->add_option("--eps", f->eps, "dual: radius at which certified and attack robust accuracy are reported")->capture_default_str();
    sub->add_option("--threads", f->threads, "OpenMP threads (results do not depend on it)");
    add_dual_flags(*sub, f->dual);
    sub->callback([f, &exit_code] { run(*f, exit_code); });
}

}  // namespace moelab::cli
