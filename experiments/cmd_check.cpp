// moelab check: certified <= exact <= attack, per sample (theory/checker.hpp). Writes DIR/check.csv,
// DIR/summary.json and DIR/check.png; exits non-zero, naming the samples, when any sound certificate,
// exact distance or attack contradicts another. With --robust-ckpt R.ckpt --alpha A it checks P2's dual model
// (1 - A) F_S + A F_R instead (theory/dual.hpp): DIR/dual_check.csv and DIR/dual_summary.json, certified <=
// attack for every dual certificate, P2's bound counted apart (p2_violations).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "engine/atomic_file.hpp"
#include "engine/parallel.hpp"
#include "experiments/commands.hpp"
#include "experiments/dual_flags.hpp"
#include "experiments/loaded_model.hpp"
#include "experiments/progress.hpp"
#include "theory/checker.hpp"
#include "theory/dual.hpp"

namespace moelab::cli {

namespace {

struct CheckFlags {
    std::string ckpt, out, data, norm = "linf";
    std::int64_t samples = 100;
    double radius_cap = 1.0, time_limit = 20.0, eps_max = 1.0, eps = 0.1;
    bool no_exact = false, smoothing = false, exact_lipschitz = false;
    int threads = 0;
    DualFlags dual;
};

void plot(const std::string& dir) {
    if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) return;
    const std::string cmd = "gnuplot -e \"dir='" + dir + "'\" figures/check.gp 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "check: gnuplot could not draw %s/check.png\n", dir.c_str());
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
    const DualCheckReport rep = run_dual_check(lm.model(), *robust.model, f.dual.alpha, lm.data.test, o, [&](long done, long) { bar.update(done); });
    bar.finish();
    nlohmann::json summary = summary_json(rep, o, f.eps);
    summary["checkpoint"] = f.ckpt;
    summary["robust_checkpoint"] = f.dual.robust_ckpt;
    summary["expert_usage"] = to_json(measure_expert_usage(lm.model(), lm.data.test.x));
    summary["robust_expert_usage"] = to_json(measure_expert_usage(*robust.model, lm.data.test.x));
    write_file_atomic(f.out + "/dual_check.csv", to_csv(rep));
    write_file_atomic(f.out + "/dual_summary.json", summary.dump(2) + "\n");
    std::printf("check dual (%s, alpha %g): %lld samples, %lld violations, %lld P2-bound violations (a finding about the bound, "
                "not counted as a bug); wrote %s/{dual_check.csv,dual_summary.json}\n",
                f.norm.c_str(), f.dual.alpha, static_cast<long long>(rep.rows.size()), static_cast<long long>(rep.violations),
                static_cast<long long>(rep.p2_violations), f.out.c_str());
    std::vector<std::int64_t> bad;
    for (const auto& r : rep.rows)
        if (!r.violations.empty()) bad.push_back(r.index);
    exit_code = report_violations(rep.violations, bad, f.out + "/dual_check.csv");
}

void run(const CheckFlags& f, int& exit_code) {
    if (f.threads < 0) throw std::invalid_argument("--threads: must be >= 1");
    if (f.threads > 0) set_threads(f.threads);
    CheckOptions o;
    o.norm = parse_norm(f.norm);
    if (!(f.radius_cap > 0.0) || !std::isfinite(f.radius_cap))
        throw std::invalid_argument("--radius-cap: must be positive and finite");
    if (!(f.time_limit > 0.0) || !std::isfinite(f.time_limit)) throw std::invalid_argument("--time-limit: must be positive seconds");
    if (!(f.eps_max > 0.0)) throw std::invalid_argument("--eps-max: must be positive");
    if (!(f.eps >= 0.0)) throw std::invalid_argument("--eps: must be >= 0");
    reject_lone_alpha(f.dual);
    if (f.exact_lipschitz && f.dual.active()) throw std::invalid_argument("--exact-lipschitz: not for the dual model (--robust-ckpt)");
    const LoadedModel lm = load_model_and_data(f.ckpt, f.data, f.samples);
    o.domain = lm.domain;
    o.exact = !f.no_exact;
    o.exact_options.radius_cap = f.radius_cap;
    o.exact_options.time_limit_s = f.time_limit;
    o.exact_lipschitz = f.exact_lipschitz;
    o.exact_lipschitz_options.time_limit_s = f.time_limit;
    o.exact_options.domain = lm.domain;
    o.attack_eps_max = f.eps_max;
    o.smoothing = f.smoothing;
    std::filesystem::create_directories(f.out);
    if (f.dual.active()) {
        run_dual(f, o, lm, exit_code);
        return;
    }
    Progress bar("check", static_cast<long>(lm.data.test.size()), "samples");
    const CheckReport rep = run_check(lm.model(), lm.data.test, o, [&](long done, long) { bar.update(done); });
    bar.finish();
    nlohmann::json summary = summary_json(rep, o);
    summary["checkpoint"] = f.ckpt;
    const std::vector<ExpertUsage> usage = measure_expert_usage(lm.model(), lm.data.test.x);
    summary["expert_usage"] = to_json(usage);
    write_file_atomic(f.out + "/check.csv", to_csv(rep));
    write_file_atomic(f.out + "/summary.json", summary.dump(2) + "\n");
    plot(f.out);
    std::printf("check (%s): %lld samples, %lld violations, %lld naive-bound violations (expected for hard routing), "
                "%lld P2-bound violations, %lld exact; wrote %s/{check.csv,summary.json,check.png}\n",
                f.norm.c_str(), static_cast<long long>(rep.rows.size()), static_cast<long long>(rep.violations),
                static_cast<long long>(rep.naive_violations), static_cast<long long>(rep.p2_violations),
                summary["exact_optimal"].get<long long>(), f.out.c_str());
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
    sub->add_option("--ckpt", f->ckpt, "model checkpoint")->required();
    sub->add_option("--out", f->out, "output directory")->required();
    sub->add_option("--norm", f->norm, "linf or l2")->capture_default_str();
    sub->add_option("--samples", f->samples, "first N test samples")->capture_default_str();
    sub->add_option("--data", f->data, "data set (default: the model's)");
    sub->add_option("--radius-cap", f->radius_cap, "exact: largest L-inf radius searched")->capture_default_str();
    sub->add_option("--time-limit", f->time_limit, "exact: seconds per sample")->capture_default_str();
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
