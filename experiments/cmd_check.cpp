// moelab check: certified <= exact <= attack, per sample (theory/checker.hpp). Writes DIR/check.csv,
// DIR/summary.json and DIR/check.png; exits non-zero, naming the samples, when any sound certificate,
// exact distance or attack contradicts another.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "engine/atomic_file.hpp"
#include "engine/parallel.hpp"
#include "experiments/commands.hpp"
#include "experiments/loaded_model.hpp"
#include "experiments/progress.hpp"
#include "theory/checker.hpp"

namespace moelab::cli {

namespace {

struct CheckFlags {
    std::string ckpt, out, data, norm = "linf";
    std::int64_t samples = 100;
    double radius_cap = 1.0, time_limit = 20.0, eps_max = 1.0;
    bool no_exact = false, smoothing = false;
    int threads = 0;
};

void plot(const std::string& dir) {
    if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) return;
    const std::string cmd = "gnuplot -e \"dir='" + dir + "'\" figures/check.gp 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "check: gnuplot could not draw %s/check.png\n", dir.c_str());
}

void run(const CheckFlags& f, int& exit_code) {
    if (f.threads < 0) throw std::invalid_argument("--threads: must be >= 1");
    if (f.threads > 0) set_threads(f.threads);
    CheckOptions o;
    o.norm = parse_norm(f.norm);
    if (!(f.radius_cap > 0.0)) throw std::invalid_argument("--radius-cap: must be positive");
    if (!(f.eps_max > 0.0)) throw std::invalid_argument("--eps-max: must be positive");
    const LoadedModel lm = load_model_and_data(f.ckpt, f.data, f.samples);
    o.domain = lm.domain;
    o.exact = !f.no_exact;
    o.exact_options.radius_cap = f.radius_cap;
    o.exact_options.time_limit_s = f.time_limit;
    o.exact_options.domain = lm.domain;
    o.attack_eps_max = f.eps_max;
    o.smoothing = f.smoothing;
    std::filesystem::create_directories(f.out);
    Progress bar("check", static_cast<long>(lm.data.test.size()), "samples");
    const CheckReport rep = run_check(lm.model(), lm.data.test, o, [&](long done, long) { bar.update(done); });
    bar.finish();
    nlohmann::json summary = summary_json(rep, o);
    summary["checkpoint"] = f.ckpt;
    write_file_atomic(f.out + "/check.csv", to_csv(rep));
    write_file_atomic(f.out + "/summary.json", summary.dump(2) + "\n");
    plot(f.out);
    std::printf("check (%s): %lld samples, %lld violations, %lld naive-bound violations (expected for hard routing), "
                "%lld exact; wrote %s/{check.csv,summary.json,check.png}\n",
                f.norm.c_str(), static_cast<long long>(rep.rows.size()), static_cast<long long>(rep.violations),
                static_cast<long long>(rep.naive_violations), summary["exact_optimal"].get<long long>(), f.out.c_str());
    if (rep.violations > 0) {
        std::string names;
        int shown = 0;
        for (const auto& r : rep.rows)
            if (!r.violations.empty() && shown++ < 10) names += (names.empty() ? "" : ", ") + std::to_string(r.index);
        std::fprintf(stderr, "moelab: check: %lld violations of certified <= exact <= attack (samples %s%s); see %s/check.csv\n",
                     static_cast<long long>(rep.violations), names.c_str(), rep.violations > 10 ? ", ..." : "", f.out.c_str());
        exit_code = 1;
        return;
    }
    exit_code = 0;
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
    sub->add_option("--threads", f->threads, "OpenMP threads (results do not depend on it)");
    sub->callback([f, &exit_code] { run(*f, exit_code); });
}

}  // namespace moelab::cli
