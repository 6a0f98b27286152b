// The checker over the dual model (theory/bounds/dual.hpp): certified <= attack per sample, for every sound
// dual certificate.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>

#include "engine/ops.hpp"
#include "theory/check/check_internal.hpp"
#include "theory/bounds/dual.hpp"

namespace moelab {

using check_detail::fmt;

namespace {

// certified <= attack with 1e-9 relative tolerance (both float64 computations).
bool exceeds(double certified, double attack) { return check_detail::exceeds(certified, attack, 1e-9); }

}  // namespace

DualCheckReport run_dual_check(const Classifier& standard, const Classifier& robust, double alpha, const Dataset& data,
                               const CheckOptions& o, DualMix mix, const std::function<void(long, long)>& progress) {
    check_alpha(alpha);
    const auto t0 = std::chrono::steady_clock::now();
    const Network ns = network_of(standard), nr = network_of(robust);
    const std::int64_t n = data.size();
    DualCheckReport rep;
    rep.alpha = alpha;
    rep.mix = mix;
    rep.rows.resize(static_cast<std::size_t>(n));
    const AttackModel dual = dual_attack_model(standard, robust, alpha, o.domain, mix);
    const auto clean = argmax_rows(attack_logits(dual, data.x));
    const check_detail::AttackDistances attack = check_detail::best_attack_distances(dual, data, clean, o);
    const DualRadii cert = certify_dual(ns, nr, alpha, data.x, data.y, o.norm, o.domain, mix);
    for (std::int64_t i = 0; i < n; ++i) {
        const auto ui = static_cast<std::size_t>(i);
        DualCheckRow& row = rep.rows[ui];
        row.index = i;
        row.label = data.y[ui];
        row.clean_pred = static_cast<int>(clean[ui]);
        for (const auto& m : cert.radius) row.certified.push_back(m[ui]);
        row.best = cert.best[ui];
        row.attack = attack.distance[ui];
        row.attack_name = attack.name[ui];
        for (std::size_t m = 0; m < kDualMethods.size(); ++m)
            if (exceeds(row.certified[m], row.attack))
                row.violations.push_back(check_detail::beyond_attack(kDualMethods[m], row.certified[m], row.attack, row.attack_name));
        rep.violations += !row.violations.empty();
        if (progress) progress(i + 1, n);
    }
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

std::string to_csv(const DualCheckReport& report) {
    std::ostringstream out;
    check_detail::csv_header_start(out, kDualMethods);
    out << ",certified_best,attack,attack_name,violations\n";
    for (const DualCheckRow& r : report.rows) {
        check_detail::csv_row_start(out, r);
        out << "," << fmt(r.best) << "," << fmt(r.attack) << "," << r.attack_name << "," << check_detail::quoted_list(r.violations) << "\n";
    }
    return out.str();
}

nlohmann::json summary_json(const DualCheckReport& report, const CheckOptions& o, double eps) {
    using nlohmann::json;
    const auto n = static_cast<double>(std::max<std::size_t>(1, report.rows.size()));
    auto method_entry = [&](auto&& value, bool sound) { return check_detail::method_summary(report.rows, value, sound, &eps); };
    json methods = json::object();
    for (std::size_t m = 0; m < kDualMethods.size(); ++m)
        methods[kDualMethods[m]] = method_entry([m](const DualCheckRow& r) { return r.certified[m]; }, true);
    methods["best"] = method_entry([](const DualCheckRow& r) { return r.best; }, true);
    std::int64_t clean = 0, robust = 0;
    for (const DualCheckRow& r : report.rows) {
        clean += r.clean_pred == r.label;
        robust += r.clean_pred == r.label && r.attack > eps;
    }
    json failing = json::array();
    for (const DualCheckRow& r : report.rows)
        if (!r.violations.empty()) failing.push_back({{"index", r.index}, {"violations", r.violations}});
    return {{"model", describe(report.mix)},
            {"mix", to_string(report.mix)},
            {"alpha", report.alpha},
            {"norm", to_string(o.norm)},
            {"eps", eps},
            {"samples", report.rows.size()},
            {"clean_accuracy", static_cast<double>(clean) / n},
            {"attack_robust_accuracy_at_eps", static_cast<double>(robust) / n},
            {"violations", report.violations},
            {"violating_samples", failing},
            {"p2_note", "no dual bound here is P2's: its dual-model theorem could not be read precisely enough to evaluate"},
            {"methods", methods},
            {"exact", "not computed: the probability mixture is not piecewise linear"},
            {"tolerance", "certificate vs attack: 1e-9 relative"},
            {"seconds", report.seconds}};
}

}  // namespace moelab
