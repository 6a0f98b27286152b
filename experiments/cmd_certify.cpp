// moelab certify: certified radii of one method for the first N test samples (per-sample CSV).
//   lipschitz  Lipschitz margin, routing-aware for top-1 MoEs (theory/lipschitz.hpp)
//   naive      the fixed-routing Lipschitz margin: unsound for hard routing, for comparison only
//   ibp        interval bound propagation with routing uncertainty (theory/ibp.hpp)
//   crown      linear relaxation through ReLU layers, routing-aware for top-1 model-level MoEs and layer-level
//              blocks that route top-1 with gate 1 (theory/crown.hpp)
//   exact      the exact minimal L-inf distance where the MILP proves it (theory/exact.hpp): it is the
//              largest radius any certificate can give
//   exact-lipschitz  the Lipschitz margin with exact local constants (MILP, theory/exact_lipschitz.hpp), the
//              ball they hold on searched up to --radius-cap: what a Lipschitz margin gives with no slack in the
//              constant (L-inf, small piecewise-linear models). Under hard routing a ball that crosses a
//              routing boundary proves nothing, and the routing-aware `lipschitz` can be tighter.
//   smoothing  randomized smoothing, L2, probabilistic (theory/smoothing.hpp)
//   p2         P2's bound (theory/p2_bounds.hpp; form not verified against the paper, may be unsound): of the
//              single model, or with --robust-ckpt and --alpha of the dual model
//   dual       the sound certificates of the dual model (theory/dual.hpp): needs --robust-ckpt and --alpha;
//              the CSV has one column per certificate, their maximum and P2's bound
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>

#include "engine/atomic_file.hpp"
#include "engine/parallel.hpp"
#include "experiments/commands.hpp"
#include "experiments/config_keys.hpp"
#include "experiments/flag_values.hpp"
#include "experiments/output_paths.hpp"
#include "experiments/threads_flag.hpp"
#include "experiments/dual_flags.hpp"
#include "experiments/loaded_model.hpp"
#include "experiments/progress.hpp"
#include "experiments/work_limit_flags.hpp"
#include "theory/certify_methods.hpp"
#include "theory/dual.hpp"

namespace moelab::cli {

namespace {

struct CertifyFlags {
    std::string ckpt, out, data, method, norm = "linf";
    std::int64_t samples = 100;
    double sigma = 0.25, radius_cap = 1.0;
    WorkLimitFlags work;
    std::int64_t n = 1000;
    int threads = kThreadsUnset;
    DualFlags dual;
};

std::string fmt(double v) {
    if (std::isnan(v)) return "";
    if (std::isinf(v)) return "inf";
    std::ostringstream s;
    s.precision(17);
    s << v;
    return s.str();
}

// --method dual: every dual certificate per sample.
void run_dual(const CertifyFlags& f, Norm norm) {
    const LoadedModel lm = load_model_and_data(f.ckpt, f.data, f.samples);
    const SavedModel robust = load_robust_model(f.dual, lm.model());
    const Dataset& test = lm.data.test;
    const DualRadii r = certify_dual(network_of(lm.model()), network_of(*robust.model), f.dual.alpha, test.x, test.y, norm, lm.domain);
    std::ostringstream csv;
    csv << "index,label";
    for (const auto& m : kDualMethods) csv << ",certified_" << m;
    csv << ",certified_best,p2_form\n";
    std::int64_t certified = 0;
    for (std::int64_t i = 0; i < test.size(); ++i) {
        const auto ui = static_cast<std::size_t>(i);
        csv << i << "," << test.y[ui];
        for (const auto& m : r.radius) csv << "," << fmt(m[ui]);
        csv << "," << fmt(r.best[ui]) << "," << fmt(r.p2[ui]) << "\n";
        certified += r.best[ui] > 0.0;
    }
    write_file_atomic(f.out, csv.str());
    std::printf("dual (%s, alpha %g): %lld of %lld samples certified at a positive radius (best of %zu sound methods)%s%s; wrote %s\n",
                f.norm.c_str(), f.dual.alpha, static_cast<long long>(certified), static_cast<long long>(test.size()),
                kDualMethods.size(), r.note.empty() ? "" : "; ", r.note.c_str(), f.out.c_str());
}

// The flags alone, before any file is read; returns the method. Norm-only methods are refused in the
// order the table gives (exact, exact-lipschitz: L-inf; smoothing: L2).
CertifyMethod check_flags(const CertifyFlags& f, Norm norm) {
    if (!(f.radius_cap > 0.0) || !std::isfinite(f.radius_cap))
        throw std::invalid_argument("--radius-cap: must be positive and finite, got " + flag_number(f.radius_cap));
    validate_work_limit_flags(f.work, "");
    const auto found = find_certify_method(f.method);
    if (!found)
        throw std::invalid_argument("--method: expected " + or_list(certify_method_names()) + ", got '" + f.method + "'");
    const CertifyMethodInfo& m = info(*found);
    reject_lone_alpha(f.dual);
    if (f.dual.active() && !m.takes_dual_model)
        throw std::invalid_argument("--robust-ckpt: only --method dual and --method p2 certify the dual model");
    if (m.method == CertifyMethod::dual) {
        if (!f.dual.active()) throw std::invalid_argument("--method dual: needs --robust-ckpt and --alpha");
        return m.method;
    }
    if (!certifies(m.method, norm))
        throw std::invalid_argument("--method " + f.method + (m.linf ? ": L-inf only (--norm linf)" : ": certifies L2 (--norm l2)"));
    return m.method;
}

void write_radii(const CertifyFlags& f, const Dataset& test, const MethodRadii& m) {
    std::ostringstream csv;
    csv << "index,label,certified_radius,status\n";
    std::int64_t certified = 0;
    for (std::int64_t i = 0; i < test.size(); ++i) {
        const double r = m.radius[static_cast<std::size_t>(i)];
        certified += r > 0.0;
        csv << i << "," << test.y[static_cast<std::size_t>(i)] << "," << fmt(r) << "," << m.status[static_cast<std::size_t>(i)] << "\n";
    }
    write_file_atomic(f.out, csv.str());
    std::printf("%s (%s): %lld of %lld samples certified at a positive radius%s%s; wrote %s\n", f.method.c_str(),
                f.norm.c_str(), static_cast<long long>(certified), static_cast<long long>(test.size()),
                m.note.empty() ? "" : "; ", m.note.c_str(), f.out.c_str());
}

void run(const CertifyFlags& f) {
    apply_threads_flag(f.threads);
    require_output_file("--out", f.out, {{"--ckpt", f.ckpt}, {"--robust-ckpt", f.dual.robust_ckpt}});
    const Norm norm = parse_norm(f.norm);
    const CertifyMethod method = check_flags(f, norm);
    if (method == CertifyMethod::dual) {
        run_dual(f, norm);
        return;
    }
    const LoadedModel lm = load_model_and_data(f.ckpt, f.data, f.samples);
    const Dataset& test = lm.data.test;
    std::unique_ptr<SavedModel> robust;
    if (f.dual.active()) robust = std::make_unique<SavedModel>(load_robust_model(f.dual, lm.model()));
    CertifySettings settings;
    settings.domain = lm.domain;
    settings.sigma = f.sigma;
    settings.draws = f.n;
    settings.radius_cap = f.radius_cap;
    settings.work_limit_nodes = f.work.nodes;
    settings.time_limit_s = f.work.seconds;
    settings.milp_backend = f.work.milp_backend();
    settings.robust = robust ? robust->model.get() : nullptr;
    settings.alpha = f.dual.alpha;
    Progress bar("certify " + f.method, static_cast<long>(test.size()), "samples");
    const MethodRadii m = certify_by_method(method, lm.model(), test, norm, settings, [&](long done) { bar.update(done); });
    bar.finish();
    write_radii(f, test, m);
    const std::vector<ExpertUsage> usage = measure_expert_usage(lm.model(), test.x);
    if (!usage.empty()) std::printf("expert usage on these samples: %s\n", usage_line(usage).c_str());
}

}  // namespace

void add_certify_command(CLI::App& app, int& exit_code) {
    auto f = std::make_shared<CertifyFlags>();
    auto* sub = app.add_subcommand("certify", "certified radii of the first N test samples (per-sample CSV)");
    sub->add_option("--ckpt", f->ckpt, "model checkpoint or model file (.npz)")->required();
    sub->add_option("--method", f->method, or_list(certify_method_names()))->required();
    sub->add_option("--out", f->out, "per-sample CSV with certified_radius")->required();
    sub->add_option("--norm", f->norm, "linf or l2")->capture_default_str();
    sub->add_option("--samples", f->samples, "first N test samples")->capture_default_str();
    sub->add_option("--data", f->data, "data set (default: the model's)");
    sub->add_option("--sigma", f->sigma, "smoothing: noise level")->capture_default_str();
    sub->add_option("--n", f->n, "smoothing: Monte Carlo samples")->capture_default_str();
    sub->add_option("--radius-cap", f->radius_cap, "exact, exact-lipschitz: largest L-inf radius searched")->capture_default_str();
    add_work_limit_flags(*sub, f->work, "", "per sample (exact-lipschitz: per class pair and ball)");
    sub->add_option("--threads", f->threads, "OpenMP threads (results do not depend on it)");
    add_dual_flags(*sub, f->dual);
    sub->callback([f, &exit_code] {
        run(*f);
        exit_code = 0;
    });
}

}  // namespace moelab::cli
