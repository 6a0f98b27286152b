#include "theory/check/check_internal.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <utility>

#include "theory/network/rational_check.hpp"

namespace moelab::check_detail {

std::string fmt(double v) {
    if (std::isnan(v)) return "";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    std::ostringstream s;
    s.precision(17);
    s << v;
    return s.str();
}

std::string quoted_list(const std::vector<std::string>& items) {
    std::string s;
    for (const auto& x : items) {
        if (!s.empty()) s += "; ";
        s += x;
    }
    return "\"" + s + "\"";
}

std::string beyond_attack(const std::string& what, double value, double attack, const std::string& attack_name) {
    return what + " " + fmt(value) + " > attack " + fmt(attack) + " (" + attack_name + ")";
}

bool exceeds(double certified, double reference, double rel) {
    if (std::isnan(certified) || std::isnan(reference)) return false;
    return certified > reference + rel * std::max(1.0, std::abs(reference));
}

AttackDistances best_attack_distances(const AttackModel& m, const Dataset& data, const std::vector<std::int64_t>& clean_pred,
                                      const CheckOptions& o, const PointCheck& verified, std::vector<NamedAttackResult> extra) {
    MinimalOptions mo;
    mo.norm = o.norm;
    mo.max_iter = o.attack_steps;
    mo.eps_max = o.attack_eps_max;
    mo.inner.norm = o.norm;
    mo.inner.steps = 20;
    mo.inner.restarts = 2;
    mo.inner.seed = o.seed;
    mo.seed = o.seed;
    std::vector<NamedAttackResult> attacks{
        {"deepfool", deepfool(m, data.x, data.y, mo)},
        {"fmn", fmn(m, data.x, data.y, mo)},
        {"bisection", pgd_bisection(m, data.x, data.y, mo)}};
    for (auto& a : extra) attacks.push_back(std::move(a));
    const auto n = static_cast<std::size_t>(data.size());
    AttackDistances out{std::vector<double>(n, std::numeric_limits<double>::infinity()), std::vector<std::string>(n), data.x};
    const std::int64_t d = data.dim();
    for (std::size_t i = 0; i < n; ++i) {
        const double* x = data.x.data() + static_cast<std::int64_t>(i) * d;
        for (const auto& [name, r] : attacks) {
            if (!r.success[i]) continue;
            const double* p = r.x_adv.data() + static_cast<std::int64_t>(i) * d;
            if (verified && !verified(i, p)) continue;
            const double dist = verified && o.norm == Norm::linf ? linf_distance_up(p, x, d) : r.distance[i];
            if (dist < out.distance[i]) {
                out.distance[i] = dist, out.name[i] = name;
                std::copy(p, p + d, out.points.data() + static_cast<std::int64_t>(i) * d);
            }
        }
        if (clean_pred[i] != data.y[i]) out.distance[i] = 0.0, out.name[i] = "clean";
    }
    return out;
}

}  // namespace moelab::check_detail
