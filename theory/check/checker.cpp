#include "theory/check/checker.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <sstream>

#include "theory/check/check_internal.hpp"
#include "theory/bounds/linear_bounds.hpp"
#include "theory/bounds/ibp.hpp"
#include "theory/bounds/lipschitz.hpp"
#include "theory/network/outward_rounding.hpp"
#include "theory/bounds/p2_certificate.hpp"
#include "theory/network/rational_check.hpp"
#include "theory/attacks/routing_attack.hpp"

namespace moelab {

using check_detail::exceeds;
using check_detail::fmt;
using check_detail::quoted_list;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// P2's Equation (8), both readings: coverage, tightness, failures.
nlohmann::json p2_summary(const CheckReport& report) {
    nlohmann::json entry;
    entry["printed"] = check_detail::method_summary(report.rows, [](const CheckRow& r) { return r.p2_printed; }, false);
    entry["sound"] = check_detail::method_summary(report.rows, [](const CheckRow& r) { return r.p2_sound; }, true);
    entry["compared"] = report.p2_compared;
    entry["note"] = "P2's Equation (8) (theory/bounds/p2_certificate.hpp): printed margin/D and sound margin/(2D); compared with "
                    "attacks and exact distances only under hard top-1 routing, where P2's probability mixture decides as "
                    "the model does; p2_violations counts samples that beat the printed reading, the sound reading's "
                    "failures are violations";
    return entry;
}

// P2's readings against the verified distances (the sound one, when formal, as a certificate).
void judge_p2(CheckRow& row) {
    if (exceeds(row.p2_printed, row.attack, 1e-9))
        row.p2_violations.push_back(check_detail::beyond_attack("p2-printed", row.p2_printed, row.attack, row.attack_name));
    if (exceeds(row.p2_printed, row.exact, 1e-6)) row.p2_violations.push_back("p2-printed " + fmt(row.p2_printed) + " > exact " + fmt(row.exact));
    if (row.p2_status != "formal") return;
    if (exceeds(row.p2_sound, row.attack, 1e-9))
        row.violations.push_back(check_detail::beyond_attack("p2-sound", row.p2_sound, row.attack, row.attack_name));
    if (exceeds(row.p2_sound, row.exact, 1e-6)) row.violations.push_back("p2-sound " + fmt(row.p2_sound) + " > exact " + fmt(row.exact));
}

// P2's mixture sum_i a_i softmax(f_i) has the model's argmax when one expert decides with a positive weight.
bool p2_decides_as_model(const Network& net) {
    return net.model_level() && net.stages.front().moe.gate != GateMode::soft && net.stages.front().moe.k == 1;
}

// Each certificate against the verified points: with zero tolerance (piecewise-linear models in L-inf), a
// radius beyond the exact distance of the attack point or of the solver's minimiser is a violation; otherwise
// beyond the reported distances with a relative tolerance.
void judge_certificates(CheckRow& row, bool zero_tolerance, const double* attack_point, const Tensor& exact_point,
                        const double* x, std::int64_t d) {
    const bool attack_found = std::isfinite(row.attack) && row.attack_name != "clean";
    for (std::size_t m = 0; m < kCertMethods.size(); ++m) {
        const double c = row.certified[m];
        const std::string name = to_string(kCertMethods[m]);
        auto& sink = is_sound(kCertMethods[m]) ? row.violations : row.naive_violations;
        const bool beats_attack = zero_tolerance && attack_found ? exceeds_linf_distance(c, attack_point, x, d)
                                                                 : exceeds(c, row.attack, 1e-9);
        if (beats_attack) sink.push_back(check_detail::beyond_attack(name, c, row.attack, row.attack_name));
        const bool beats_exact = zero_tolerance ? !exact_point.empty() && exceeds_linf_distance(c, exact_point.data(), x, d)
                                                : exceeds(c, row.exact, 1e-6);
        if (beats_exact) sink.push_back(name + " " + fmt(c) + " > exact " + fmt(row.exact) + " (verified minimiser)");
    }
}

RoutingAttackOptions routing_check_options(const CheckOptions& o) {
    RoutingAttackOptions r;
    r.eps = o.attack_eps_max;
    r.domain = o.domain;
    return r;
}

}  // namespace

CheckReport run_check(const Classifier& model, const Dataset& data, const CheckOptions& o,
                      const std::function<void(long, long)>& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    const Network net = network_of(model);
    const std::int64_t n = data.size(), d = data.dim();
    const std::int64_t begin = std::clamp<std::int64_t>(o.rows_begin, 0, n);
    const std::int64_t end = o.rows_end < 0 ? n : std::clamp<std::int64_t>(o.rows_end, begin, n);
    CheckReport rep;
    rep.rows.resize(static_cast<std::size_t>(end - begin));
    if (begin == end) return rep;
    const AttackModel full = classifier_attack_model(model, o.domain);
    const auto clean = argmax_rows(attack_logits(full, data.x));
    // Piecewise-linear models: every point is judged by the exact rational forward pass and, in linf,
    // certificates are compared with its exact distance, zero tolerance (theory/network/rational_check.hpp).
    std::unique_ptr<RationalModel> exact_forward;
    if (rational_support(model).empty()) exact_forward = std::make_unique<RationalModel>(model);
    const bool zero_tolerance = exact_forward && o.norm == Norm::linf;
    const check_detail::PointCheck verified = [&](std::size_t i, const double* p) {
        return !exact_forward || exact_forward->adversarial(p, data.y[i]);
    };
    // Attacks, all samples at once: the best verified distance of three independent minimal-distance attacks,
    // and on top-1 MoEs in linf of the routing attack, which searches every routing region reachable within
    // the largest radius (theory/attacks/routing_attack.hpp).
    std::vector<check_detail::NamedAttackResult> routing;
    if (o.norm == Norm::linf && routing_attack_support(model).empty())
        routing.emplace_back("routing", routing_min_distance(model, data.x, data.y, routing_check_options(o)));
    const check_detail::AttackDistances attack =
        check_detail::best_attack_distances(full, data, clean, o, verified, std::move(routing));
    const CertifiedRadii lip = certify_lipschitz(net, data.x, data.y, o.norm, false);
    const CertifiedRadii naive = certify_lipschitz(net, data.x, data.y, o.norm, true);
    const bool has_moe = !model.moe_layers().empty();
    const std::string exact_reason = o.norm == Norm::linf ? exact_support(model) : "exact distances are L-inf only";
    std::vector<SmoothedCertificate> smooth;
    if (o.smoothing && o.norm == Norm::l2) {   // per sample: these rows alone, their noise streams numbered from `begin`
        const Dataset rows = subset(data, begin, end - begin);
        smooth = certify_smoothing(model, rows.x, rows.y, o.smoothing_options, begin);
    }
    const std::vector<double> ibp = ibp_certified_radii(net, data.x, data.y, o.domain);
    const auto linear = [&](CertifyMethod m) {
        return linear_certified_radii(net, data.x, data.y, o.norm, o.domain, linear_bound_options(m));
    };
    const std::vector<double> crown = linear(CertifyMethod::crown), crown_ibp = linear(CertifyMethod::crown_ibp),
                              alpha_crown = linear(CertifyMethod::alpha_crown);
    std::vector<P2Radius> p2;
    if (net.model_level() && o.norm == Norm::linf) {
        P2Options po;
        po.domain = o.domain;
        p2 = p2_equation8_radii(net, data.x, data.y, po);
    }
    rep.p2_compared = !p2.empty() && p2_decides_as_model(net);
    const RouteRadii route = route_stable_radii(net, data.x, o.domain);
    rep.route_source = route.source;
    const bool exact_lipschitz = o.exact_lipschitz && o.norm == Norm::linf && exact_lipschitz_support(model).empty();
    for (std::int64_t i = begin; i < end; ++i) {
        const auto ui = static_cast<std::size_t>(i);
        CheckRow& row = rep.rows[static_cast<std::size_t>(i - begin)];
        row.index = i;
        row.label = data.y[ui];
        row.clean_pred = static_cast<int>(clean[ui]);
        const double* x = data.x.data() + i * d;
        // Floating-point certificates, moved down by their rounding charge (theory/network/outward_rounding.hpp).
        row.certified = {float_radius_outward(lip.radius[ui]), float_radius_outward(ibp[ui]),
                         has_moe ? float_radius_outward(naive.radius[ui]) : kNaN, float_radius_outward(crown[ui]), kNaN,
                         float_radius_outward(crown_ibp[ui]), float_radius_outward(alpha_crown[ui])};
        if (exact_lipschitz) {
            const Tensor xi(Shape{1, d}, std::vector<double>(x, x + d));
            const ExactLipschitzCertificate c = best_certified_radius_exact_lipschitz_linf(
                model, xi, row.label, o.exact_options.radius_cap, o.domain, o.exact_lipschitz_options);
            row.certified[4] = c.radius;
            row.load_dependent = c.load_dependent;
        }
        row.attack = attack.distance[ui];
        row.attack_name = attack.name[ui];
        if (!smooth.empty()) row.smoothing = smooth[static_cast<std::size_t>(i - begin)].radius;
        row.exact_status = "skipped";
        Tensor exact_point;   // a verified minimiser of the exact solver (empty: none)
        if (o.exact && exact_reason.empty()) {
            Tensor xi(Shape{1, d}, std::vector<double>(x, x + d));
            const ExactResult e = exact_min_distance_linf(model, xi, row.label, o.exact_options);
            row.exact_status = to_string(e.status);
            row.exact_lower = e.lower;
            row.load_dependent = row.load_dependent || e.load_dependent;
            if (e.status == ExactStatus::optimal) row.exact = e.upper;
            exact_point = e.x_adv;
            // A proven lower bound above an attack's verified distance is a contradiction too.
            if (exceeds(e.lower, row.attack, 1e-6))
                row.violations.push_back("exact lower bound " + fmt(e.lower) + " > attack " + fmt(row.attack));
        } else if (!exact_reason.empty()) {
            row.exact_status = "unsupported";
        }
        judge_certificates(row, zero_tolerance, attack.points.data() + i * d, exact_point, x, d);
        row.route_stable = route.radius[ui];
        if (!p2.empty()) {
            row.p2_printed = p2[ui].printed;
            row.p2_sound = p2[ui].sound;
            row.p2_status = to_string(p2[ui].sound_status);
            if (rep.p2_compared) judge_p2(row);
        }
        if (exceeds(row.exact, row.attack, 1e-6))
            row.violations.push_back(check_detail::beyond_attack("exact", row.exact, row.attack, row.attack_name));
        if (progress) progress(i + 1 - begin, end - begin);
    }
    count_violations(rep);
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

void count_violations(CheckReport& report) {
    report.violations = report.naive_violations = report.p2_violations = 0;
    for (const CheckRow& row : report.rows) {
        report.violations += !row.violations.empty();
        report.naive_violations += !row.naive_violations.empty();
        report.p2_violations += !row.p2_violations.empty();
    }
}

std::string to_csv(const CheckReport& report) {
    std::ostringstream out;
    std::vector<std::string> names;
    for (const CertifyMethod m : kCertMethods) names.push_back(to_string(m));
    check_detail::csv_header_start(out, names);
    // load_dependent stays the last column (scripts and tests read a row's end).
    out << ",exact,exact_status,exact_lower,attack,attack_name,smoothing_l2,violations,naive_violations,p2_printed,p2_sound,"
           "p2_status,p2_violations,route_stable_radius";
    for (const std::string& n : names) out << ",route_" << n;
    out << ",route_p2_sound,load_dependent\n";
    for (const CheckRow& r : report.rows) {
        check_detail::csv_row_start(out, r);
        out << "," << fmt(r.exact) << "," << r.exact_status << "," << fmt(r.exact_lower) << "," << fmt(r.attack) << ","
            << r.attack_name << "," << fmt(r.smoothing) << "," << quoted_list(r.violations) << "," << quoted_list(r.naive_violations) << ","
            << fmt(r.p2_printed) << "," << fmt(r.p2_sound) << "," << r.p2_status << "," << quoted_list(r.p2_violations) << ","
            << fmt(r.route_stable);
        for (double c : r.certified) out << "," << to_string(route_class(c, r.route_stable, report.route_source));
        out << "," << to_string(route_class(r.p2_sound, r.route_stable, report.route_source)) << "," << (r.load_dependent ? 1 : 0) << "\n";
    }
    return out.str();
}

nlohmann::json summary_json(const CheckReport& report, const CheckOptions& o) {
    using nlohmann::json;
    json methods = json::object();
    RouteRadii route{report.route_source, {}};
    for (const CheckRow& r : report.rows) route.radius.push_back(r.route_stable);
    for (std::size_t m = 0; m < kCertMethods.size(); ++m) {
        json entry = check_detail::method_summary(report.rows, [m](const CheckRow& r) { return r.certified[m]; }, is_sound(kCertMethods[m]));
        std::vector<double> c;
        for (const CheckRow& r : report.rows) c.push_back(r.certified[m]);
        entry["route_classes"] = to_json(count_route_classes(c, route));
        methods[to_string(kCertMethods[m])] = entry;
    }
    std::int64_t optimal = 0, exact_vs_attack = 0, load_dependent = 0;
    for (const CheckRow& r : report.rows) load_dependent += r.load_dependent;
    std::vector<double> gap;
    for (const CheckRow& r : report.rows) {
        if (r.exact_status != "optimal") continue;
        ++optimal;
        if (std::isfinite(r.attack) && r.exact > 0.0) {
            gap.push_back(r.attack / r.exact);
            ++exact_vs_attack;
        }
    }
    std::sort(gap.begin(), gap.end());
    json failing = json::array();
    for (const CheckRow& r : report.rows)
        if (!r.violations.empty()) failing.push_back({{"index", r.index}, {"violations", r.violations}});
    return {{"norm", to_string(o.norm)},
            {"samples", report.rows.size()},
            {"violations", report.violations},
            {"violating_samples", failing},
            {"naive_violations", report.naive_violations},
            {"p2_violations", report.p2_violations},
            {"p2", p2_summary(report)},
            {"route_stable_radius_source", to_string(report.route_source)},
            {"methods", methods},
            {"exact_optimal", optimal},
            {"exact_work_limit_nodes", o.exact_options.work_limit_nodes},
            {"exact_time_limit_s", o.exact_options.time_limit_s},
            {"load_dependent_samples", load_dependent},
            {"median_attack_over_exact", gap.empty() ? json() : json(gap[gap.size() / 2])},
            {"tolerance", "piecewise-linear models in linf: certificates vs the exact rational distance of verified points, "
                          "zero tolerance; exact vs attack: 1e-6 relative (GLPK); otherwise certificate vs attack 1e-9 relative"},
            {"seconds", report.seconds}};
}

}  // namespace moelab
