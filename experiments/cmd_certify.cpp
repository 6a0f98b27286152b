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
#include "experiments/certify_methods.hpp"
#include "experiments/commands.hpp"
#include "experiments/dual_flags.hpp"
#include "experiments/loaded_model.hpp"
#include "experiments/progress.hpp"
#include "theory/crown.hpp"
#include "theory/dual.hpp"
#include "theory/exact.hpp"
#include "theory/exact_lipschitz.hpp"
#include "theory/ibp.hpp"
#include "theory/lipschitz.hpp"
#include "theory/p2_bounds.hpp"
#include "theory/smoothing.hpp"

namespace moelab::cli {

namespace {

struct CertifyFlags {
    std::string ckpt, out, data, method, norm = "linf";
    std::int64_t samples = 100;
    double sigma = 0.25, radius_cap = 1.0, time_limit = 20.0;
    std::int64_t n = 1000;
    int threads = 0;
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

void run(const CertifyFlags& f) {
    if (f.threads < 0) throw std::invalid_argument("--threads: must be >= 1");
    if (f.threads > 0) set_threads(f.threads);
    const Norm norm = parse_norm(f.norm);
    if (!(f.radius_cap > 0.0) || !std::isfinite(f.radius_cap))
        throw std::invalid_argument("--radius-cap: must be positive and finite, got " + fmt(f.radius_cap));
    if (!(f.time_limit > 0.0) || !std::isfinite(f.time_limit))
        throw std::invalid_argument("--time-limit: must be positive seconds, got " + fmt(f.time_limit));
    const std::vector<std::string> methods{"lipschitz", "naive", "ibp", "crown", "exact", "exact-lipschitz", "smoothing", "p2", "dual"};
    if (std::find(methods.begin(), methods.end(), f.method) == methods.end())
        throw std::invalid_argument("--method: expected lipschitz, naive, ibp, crown, exact, exact-lipschitz, smoothing, p2 or dual, got '" +
                                    f.method + "'");
    reject_lone_alpha(f.dual);
    if (f.dual.active() && f.method != "p2" && f.method != "dual")
        throw std::invalid_argument("--robust-ckpt: only --method dual and --method p2 certify the dual model");
    if (f.method == "dual") {
        if (!f.dual.active()) throw std::invalid_argument("--method dual: needs --robust-ckpt and --alpha");
        run_dual(f, norm);
        return;
    }
    if (f.method == "exact" && norm != Norm::linf) throw std::invalid_argument("--method exact: L-inf only (--norm linf)");
    if (f.method == "exact-lipschitz" && norm != Norm::linf)
        throw std::invalid_argument("--method exact-lipschitz: L-inf only (--norm linf)");
    if (f.method == "smoothing" && norm != Norm::l2) throw std::invalid_argument("--method smoothing: certifies L2 (--norm l2)");
    const LoadedModel lm = load_model_and_data(f.ckpt, f.data, f.samples);
    const Classifier& model = lm.model();
    const Dataset& test = lm.data.test;
    const std::int64_t n = test.size(), d = test.dim();
    std::vector<double> radius(static_cast<std::size_t>(n), std::nan(""));
    std::vector<std::string> status(static_cast<std::size_t>(n));
    std::string note;
    std::unique_ptr<SavedModel> robust;
    if (f.dual.active()) robust = std::make_unique<SavedModel>(load_robust_model(f.dual, model));
    Progress bar("certify " + f.method, static_cast<long>(n), "samples");
    if (f.method == "p2") {
        const Network net = network_of(model);
        radius = robust ? p2_dual_radii(net, network_of(*robust->model), f.dual.alpha, test.x, test.y, norm)
                        : p2_single_radii(net, test.x, test.y, norm);
        note = p2_constants(net, test.x, norm).note;
        for (auto& s : status) s = "p2-form (unverified, may be unsound)";
    } else if (f.method == "exact") {
        ExactOptions eo;
        eo.radius_cap = f.radius_cap;
        eo.time_limit_s = f.time_limit;
        eo.domain = lm.domain;
        note = exact_support(model);
        if (!note.empty()) throw std::invalid_argument("--method exact: " + note);
        for (std::int64_t i = 0; i < n; ++i) {
            Tensor xi(Shape{1, d}, std::vector<double>(test.x.data() + i * d, test.x.data() + (i + 1) * d));
            const ExactResult e = exact_min_distance_linf(model, xi, test.y[static_cast<std::size_t>(i)], eo);
            status[static_cast<std::size_t>(i)] = to_string(e.status);
            // Only a proven optimum is reported as the distance; otherwise the proven lower bound is the
            // certificate (no perturbation below it succeeds).
            radius[static_cast<std::size_t>(i)] = e.lower;
            bar.update(static_cast<long>(i + 1));
        }
    } else if (f.method == "exact-lipschitz") {
        note = exact_lipschitz_support(model);
        if (!note.empty()) throw std::invalid_argument("--method exact-lipschitz: " + note);
        ExactLipschitzOptions lo;
        lo.time_limit_s = f.time_limit;
        int balls = 0;
        for (std::int64_t i = 0; i < n; ++i) {
            Tensor xi(Shape{1, d}, std::vector<double>(test.x.data() + i * d, test.x.data() + (i + 1) * d));
            const ExactLipschitzCertificate c =
                best_certified_radius_exact_lipschitz_linf(model, xi, test.y[static_cast<std::size_t>(i)], f.radius_cap, lm.domain, lo);
            radius[static_cast<std::size_t>(i)] = c.radius;
            balls += c.balls_tried;
            bar.update(static_cast<long>(i + 1));
        }
        std::ostringstream what;
        what << "local constants on " << balls << " balls up to radius " << f.radius_cap;
        note = what.str();
    } else {
        MethodRadii m = certify_by_method(f.method, model, test, norm, lm.domain, f.sigma, f.n);
        radius = std::move(m.radius);
        status = std::move(m.status);
        note = m.note;
    }
    bar.finish();
    std::ostringstream csv;
    csv << "index,label,certified_radius,status\n";
    std::int64_t certified = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        const double r = radius[static_cast<std::size_t>(i)];
        certified += r > 0.0;
        csv << i << "," << test.y[static_cast<std::size_t>(i)] << "," << fmt(r) << ","
            << (status[static_cast<std::size_t>(i)].empty() ? (std::isnan(r) ? "unsupported" : "sound") : status[static_cast<std::size_t>(i)])
            << "\n";
    }
    write_file_atomic(f.out, csv.str());
    std::printf("%s (%s): %lld of %lld samples certified at a positive radius%s%s; wrote %s\n", f.method.c_str(),
                f.norm.c_str(), static_cast<long long>(certified), static_cast<long long>(n), note.empty() ? "" : "; ",
                note.c_str(), f.out.c_str());
    const std::vector<ExpertUsage> usage = measure_expert_usage(model, test.x);
    if (!usage.empty()) std::printf("expert usage on these samples: %s\n", usage_line(usage).c_str());
}

}  // namespace

void add_certify_command(CLI::App& app, int& exit_code) {
    auto f = std::make_shared<CertifyFlags>();
    auto* sub = app.add_subcommand("certify", "certified radii of the first N test samples (per-sample CSV)");
    sub->add_option("--ckpt", f->ckpt, "model checkpoint")->required();
    sub->add_option("--method", f->method, "lipschitz, naive, ibp, crown, exact, exact-lipschitz, smoothing, p2 or dual")->required();
    sub->add_option("--out", f->out, "per-sample CSV with certified_radius")->required();
    sub->add_option("--norm", f->norm, "linf or l2")->capture_default_str();
    sub->add_option("--samples", f->samples, "first N test samples")->capture_default_str();
    sub->add_option("--data", f->data, "data set (default: the model's)");
    sub->add_option("--sigma", f->sigma, "smoothing: noise level")->capture_default_str();
    sub->add_option("--n", f->n, "smoothing: Monte Carlo samples")->capture_default_str();
    sub->add_option("--radius-cap", f->radius_cap, "exact, exact-lipschitz: largest L-inf radius searched")->capture_default_str();
    sub->add_option("--time-limit", f->time_limit, "exact: seconds per sample; exact-lipschitz: per class pair and ball")
        ->capture_default_str();
    sub->add_option("--threads", f->threads, "OpenMP threads (results do not depend on it)");
    add_dual_flags(*sub, f->dual);
    sub->callback([f, &exit_code] {
        run(*f);
        exit_code = 0;
    });
}

}  // namespace moelab::cli
