// moelab certify: certified radii of one method for the first N test samples (per-sample CSV).
//   lipschitz  Lipschitz margin, routing-aware for top-1 MoEs (theory/bounds/lipschitz.hpp)
//   naive      the fixed-routing Lipschitz margin: unsound for hard routing, for comparison only
//   ibp        interval bound propagation with routing uncertainty (theory/bounds/ibp.hpp)
//   crown      full CROWN through ReLUs, softmax gates, gate x expert products and every reachable routing, any
//              model moelab trains (theory/bounds/linear_bounds.hpp); crown-ibp the same with interval
//              intermediate bounds; alpha-crown with optimised relaxations
//   exact      the exact minimal L-inf distance where the MILP proves it (theory/exact/exact.hpp): it is the
//              largest radius any certificate can give
//   exact-lipschitz  the Lipschitz margin with exact local constants (MILP, theory/exact/exact_lipschitz.hpp), the
//              ball they hold on searched up to --radius-cap: what a Lipschitz margin gives with no slack in the
//              constant (L-inf, small piecewise-linear models). Under hard routing a ball that crosses a
//              routing boundary proves nothing, and the routing-aware `lipschitz` can be tighter.
//   smoothing  randomized smoothing, L2, probabilistic (theory/bounds/smoothing.hpp)
//   p2         P2's Equation (8) (theory/bounds/p2_certificate.hpp), model-level MoEs: both readings (printed
//              margin / D, sound margin / (2 D)) with their statuses, margin, D, and under hard routing each
//              capped by the route-stable radius (cut_by_route says when). Output read as probabilities
//              (default) or with --p2-output logits --p2-logit-bound M as raw logits (diagnostic)
//   dual       the sound certificates of the dual model (theory/bounds/dual.hpp): needs --robust-ckpt and --alpha;
//              the CSV has one column per certificate and their maximum
// Every CSV has the route-stability columns (theory/bounds/route_certificate.hpp): route_stable_radius and, per
// certificate, its class: route-stable, crossing (a routing boundary inside the certified ball), not-certified,
// or no-router (dense models).
#include <cmath>
#include <cstdio>
#include <sstream>

#include "engine/atomic_file.hpp"
#include "engine/parallel.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/io/config_keys.hpp"
#include "experiments/cli/flag_values.hpp"
#include "experiments/io/output_paths.hpp"
#include "experiments/cli/threads_flag.hpp"
#include "experiments/cli/dual_flags.hpp"
#include "experiments/cli/loaded_model.hpp"
#include "experiments/cluster/sample_split.hpp"
#include "experiments/cluster/split_runs.hpp"
#include "experiments/cli/work_limit_flags.hpp"
#include "theory/bounds/certify_methods.hpp"
#include "theory/bounds/dual.hpp"
#include "theory/bounds/route_certificate.hpp"

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
    std::string p2_output = "probabilities";
    double p2_logit_bound = std::nan("");
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
    const DualMix mix = parse_dual_mix(f.dual.mix);
    const DualRadii r = certify_dual(network_of(lm.model()), network_of(*robust.model), f.dual.alpha, test.x, test.y, norm, lm.domain, mix);
    std::ostringstream csv;
    csv << "index,label";
    for (const auto& m : kDualMethods) csv << ",certified_" << m;
    // The dual model routes through both halves: its ball is route-stable where both halves' are.
    const RouteRadii rs = route_stable_radii(network_of(lm.model()), test.x, lm.domain);
    const RouteRadii rr = route_stable_radii(network_of(*robust.model), test.x, lm.domain);
    RouteRadii route{rs.source == RouteSource::no_router ? rr.source : rs.source, {}};
    for (std::size_t i = 0; i < rs.radius.size(); ++i)
        route.radius.push_back(std::isnan(rs.radius[i]) ? rr.radius[i] : std::isnan(rr.radius[i]) ? rs.radius[i] : std::min(rs.radius[i], rr.radius[i]));
    csv << ",certified_best,route_stable_radius,route_class\n";
    for (std::int64_t i = 0; i < test.size(); ++i) {
        const auto ui = static_cast<std::size_t>(i);
        csv << i << "," << test.y[ui];
        for (const auto& m : r.radius) csv << "," << fmt(m[ui]);
        csv << "," << fmt(r.best[ui]) << "," << fmt(route.radius[ui]) << "," << to_string(route_class(r.best[ui], route.radius[ui], route.source)) << "\n";
    }
    write_file_atomic(f.out, csv.str());
    std::printf("%s (%s, alpha %g, best of %zu sound methods): %s%s%s; wrote %s\n", describe(mix).c_str(), f.norm.c_str(), f.dual.alpha,
                kDualMethods.size(), describe(count_route_classes(r.best, route)).c_str(), r.note.empty() ? "" : "; ",
                r.note.c_str(), f.out.c_str());
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
        throw std::invalid_argument("--robust-ckpt: only --method dual certifies the dual model");
    if (m.method == CertifyMethod::dual) {
        if (!f.dual.active()) throw std::invalid_argument("--method dual: needs --robust-ckpt and --alpha");
        return m.method;
    }
    const bool logits = f.p2_output == "logits";
    if (!logits && f.p2_output != "probabilities")
        throw std::invalid_argument("--p2-output: expected probabilities or logits, got '" + f.p2_output + "'");
    if (logits != !std::isnan(f.p2_logit_bound))
        throw std::invalid_argument("--p2-logit-bound: a bound M on the experts' logits goes with --p2-output logits (and only with it)");
    if (logits && !(std::isfinite(f.p2_logit_bound) && f.p2_logit_bound > 0.0))
        throw std::invalid_argument("--p2-logit-bound: must be positive and finite, got " + flag_number(f.p2_logit_bound));
    if (m.method != CertifyMethod::p2 && (logits || f.p2_output != "probabilities"))
        throw std::invalid_argument("--p2-output: only with --method p2");
    if (!certifies(m.method, norm))
        throw std::invalid_argument("--method " + f.method + (m.linf ? ": L-inf only (--norm linf)" : ": certifies L2 (--norm l2)"));
    return m.method;
}

// The route-stability columns: the sample's route-stable radius and the class of the certified ball.
void route_cells(std::ostringstream& csv, double certified, const RouteRadii& route, std::size_t i) {
    csv << "," << fmt(route.radius[i]) << "," << to_string(route_class(certified, route.radius[i], route.source));
}

// --method p2: both readings of Equation (8) per sample (which is which: docs/p2-certificate.md).
std::string p2_csv(const Dataset& test, const MethodRadii& m, const RouteRadii& route) {
    std::ostringstream csv;
    csv << "index,label,margin,denominator,printed_radius,printed_status,sound_radius,sound_status,cut_by_route,"
           "route_stable_radius,route_class,note\n";
    for (std::size_t i = 0; i < m.p2.size(); ++i) {
        const P2Radius& q = m.p2[i];
        csv << i << "," << test.y[i] << "," << fmt(q.margin) << "," << fmt(q.denominator) << "," << fmt(q.printed) << ","
            << to_string(q.printed_status) << "," << fmt(q.sound) << "," << to_string(q.sound_status) << "," << (q.cut_by_route ? 1 : 0);
        route_cells(csv, m.radius[i], route, i);
        csv << ",\"" << q.note << "\"\n";
    }
    return csv.str();
}

void write_radii(const CertifyFlags& f, const Dataset& test, const MethodRadii& m, const RouteRadii& route) {
    std::string text;
    if (!m.p2.empty()) {
        text = p2_csv(test, m, route);
    } else {
        std::ostringstream csv;
        csv << "index,label,certified_radius,status,route_stable_radius,route_class\n";
        for (std::int64_t i = 0; i < test.size(); ++i) {
            const auto ui = static_cast<std::size_t>(i);
            csv << i << "," << test.y[ui] << "," << fmt(m.radius[ui]) << "," << m.status[ui];
            route_cells(csv, m.radius[ui], route, ui);
            csv << "\n";
        }
        text = csv.str();
    }
    write_file_atomic(f.out, text);
    std::printf("%s (%s): %s (route-stable radius: %s)%s%s; wrote %s\n", f.method.c_str(), f.norm.c_str(),
                describe(count_route_classes(m.radius, route)).c_str(), to_string(route.source), m.note.empty() ? "" : "; ",
                m.note.c_str(), f.out.c_str());
    if (!m.p2.empty()) {
        std::int64_t printed = 0, cut = 0;
        for (const P2Radius& q : m.p2) { printed += q.printed > 0.0; cut += q.cut_by_route; }
        std::printf("p2: printed reading positive on %lld samples; route-stable radius cut the sound reading on %lld\n",
                    static_cast<long long>(printed), static_cast<long long>(cut));
    }
}

void run(const CertifyFlags& f) {
    apply_threads_flag(f.threads);
    refuse_mpirun_without_mpi("certify");
    require_output_file("--out", f.out, {{"--ckpt", f.ckpt}, {"--robust-ckpt", f.dual.robust_ckpt}});
    const Norm norm = parse_norm(f.norm);
    const CertifyMethod method = check_flags(f, norm);
    if (method == CertifyMethod::dual) {
        if (is_rank0()) run_dual(f, norm);   // one batch over the set: rank 0 alone under mpirun
        return;
    }
    const LoadedModel lm = load_model_and_data(f.ckpt, f.data, f.samples);
    const Dataset& test = lm.data.test;
    CertifySettings settings;
    settings.domain = lm.domain;
    settings.sigma = f.sigma;
    settings.draws = f.n;
    settings.radius_cap = f.radius_cap;
    settings.work_limit_nodes = f.work.nodes;
    settings.time_limit_s = f.work.seconds;
    settings.milp_backend = f.work.milp_backend();
    if (f.p2_output == "logits") {
        settings.p2.output = P2Output::logits;
        settings.p2.logit_bound = f.p2_logit_bound;
    }
    settings.p2.domain = lm.domain;
    // Under mpirun the samples are split over the ranks and merged on rank 0, which alone writes and prints.
    const MethodRadii m = certify_on_ranks(method, lm.model(), test, norm, settings, "certify " + f.method);
    if (!is_rank0()) return;
    write_radii(f, test, m, route_stable_radii(network_of(lm.model()), test.x, lm.domain));
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
    sub->add_option("--p2-output", f->p2_output, "p2: Equation (8) on probabilities or logits")->capture_default_str();
    sub->add_option("--p2-logit-bound", f->p2_logit_bound, "p2 with --p2-output logits: the stated bound M on the experts' logits");
    add_dual_flags(*sub, f->dual);
    sub->callback([f, &exit_code] {
        run(*f);
        exit_code = 0;
    });
}

}  // namespace moelab::cli
