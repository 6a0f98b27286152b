#include "theory/bounds/route_stability.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include <boost/multiprecision/cpp_int.hpp>

namespace moelab {

namespace {

using Rational = boost::multiprecision::cpp_rational;
constexpr double kInf = std::numeric_limits<double>::infinity();

// The largest double that is <= q (q >= 0).
double round_down(const Rational& q) {
    double d = q.convert_to<double>();
    while (d > 0.0 && Rational(d) > q) d = std::nextafter(d, 0.0);
    return d;
}

void check_inputs(const AffineMap& router, std::int64_t k, const double* x, Box box) {
    const std::int64_t E = router.out(), d = router.in();
    if (k < 1 || k > E) throw std::invalid_argument("route stability: k = " + std::to_string(k) + " not in [1, " + std::to_string(E) + "]");
    if (!(box.lo <= box.hi) || box.lo == kInf || box.hi == -kInf) throw std::invalid_argument("route stability: empty input box");
    for (std::int64_t c = 0; c < d; ++c)
        if (!(x[c] >= box.lo && x[c] <= box.hi))
            throw std::invalid_argument("route stability: input coordinate " + std::to_string(c) + " = " + std::to_string(x[c]) +
                                        " is not finite or outside the box");
    for (std::int64_t i = 0; i < router.w.numel(); ++i)
        if (!std::isfinite(router.w.data()[i])) throw std::invalid_argument("route stability: router weight is not finite");
    for (std::int64_t i = 0; i < router.b.numel(); ++i)
        if (!std::isfinite(router.b.data()[i])) throw std::invalid_argument("route stability: router bias is not finite");
}

// The smallest t >= 0 at which expert j can beat expert i somewhere in box ∩ {||x' - x||_inf <= t}, exactly.
// With w = W_j - W_i and g(x') = w.x' + b_j - b_i, the largest g on that set is
//     h(t) = g(x) + sum_c |w_c| min(t, room_c),   room_c = hi - x_c if w_c > 0, x_c - lo if w_c < 0,
// concave and non-decreasing in t (an infinite side of the box gives room_c = +inf: that coordinate never
// saturates). j beats i where g > 0, or g = 0 and j < i (ties go to the lower index). Returns false when no
// such t exists.
bool overtaking_distance(const AffineMap& router, std::int64_t i, std::int64_t j, const double* x, Box box, Rational& t) {
    const std::int64_t d = router.in();
    const double* wi = router.w.data() + i * d;
    const double* wj = router.w.data() + j * d;
    Rational g = Rational(router.b.data()[j]) - Rational(router.b.data()[i]);
    std::vector<std::pair<Rational, Rational>> reach;   // (room_c, |w_c|) for w_c != 0 and finite room_c > 0
    Rational h_max;                                      // h(+inf) - g(x) over the finite rooms
    Rational unbounded;                                  // sum of |w_c| whose room is infinite
    for (std::int64_t c = 0; c < d; ++c) {
        const Rational w = Rational(wj[c]) - Rational(wi[c]);
        g += w * Rational(x[c]);
        if (w == 0) continue;
        const double side = w > 0 ? box.hi : box.lo;
        if (std::isinf(side)) { unbounded += abs(w); continue; }
        const Rational room = w > 0 ? Rational(box.hi) - Rational(x[c]) : Rational(x[c]) - Rational(box.lo);
        if (room == 0) continue;
        const Rational slope = abs(w);
        h_max += slope * room;
        reach.emplace_back(room, slope);
    }
    const bool tie_wins = j < i;
    if (g > 0 || (g == 0 && tie_wins)) { t = 0; return true; }
    const Rational top = g + h_max;
    if (unbounded == 0 && (top < 0 || (top == 0 && !tie_wins))) return false;
    // Walk the breakpoints: on [room_(m-1), room_(m)] h has slope equal to the sum of |w_c| not yet saturated.
    std::sort(reach.begin(), reach.end());
    Rational slope = unbounded;
    for (const auto& r : reach) slope += r.second;
    Rational h = g, at = 0;
    for (const auto& [room, w] : reach) {
        const Rational next = h + slope * (room - at);
        if (next >= 0) { t = at + (-h) / slope; return true; }
        h = next;
        at = room;
        slope -= w;
    }
    // Past every finite room only the unbounded coordinates still move (top == 0 with tie_wins and none of
    // them: reached exactly when every coordinate is saturated).
    t = unbounded > 0 ? at + (-h) / unbounded : at;
    return true;
}

}  // namespace

std::vector<std::int64_t> selected_experts(const AffineMap& router, std::int64_t k, const double* x) {
    const std::int64_t E = router.out(), d = router.in();
    std::vector<double> s(static_cast<std::size_t>(E));
    for (std::int64_t e = 0; e < E; ++e) {
        double acc = router.b.data()[e];
        for (std::int64_t c = 0; c < d; ++c) acc += router.w.data()[e * d + c] * x[c];
        s[static_cast<std::size_t>(e)] = acc;
    }
    std::vector<std::int64_t> order(static_cast<std::size_t>(E));
    for (std::int64_t e = 0; e < E; ++e) order[static_cast<std::size_t>(e)] = e;
    std::stable_sort(order.begin(), order.end(), [&s](std::int64_t a, std::int64_t b) {
        return s[static_cast<std::size_t>(a)] > s[static_cast<std::size_t>(b)];
    });
    order.resize(static_cast<std::size_t>(k));
    return order;
}

RouteStability route_stable_radius_linf(const AffineMap& router, std::int64_t k, const double* x, Box box) {
    check_inputs(router, k, x, box);
    const std::int64_t E = router.out();
    const std::vector<std::int64_t> chosen = selected_experts(router, k, x);
    std::vector<bool> in_set(static_cast<std::size_t>(E), false);
    for (std::int64_t i : chosen) in_set[static_cast<std::size_t>(i)] = true;
    RouteStability out;
    out.radius = kInf;
    Rational best;
    bool found = false;
    for (std::int64_t i : chosen)
        for (std::int64_t j = 0; j < E; ++j) {
            if (in_set[static_cast<std::size_t>(j)]) continue;
            Rational t;
            if (!overtaking_distance(router, i, j, x, box, t)) continue;
            if (!found || t < best) { best = t; out.overtaken = i; out.rival = j; found = true; }
        }
    if (found) out.radius = round_down(best);
    return out;
}

double route_stable_radius_linf_unclipped(const AffineMap& router, std::int64_t k, const double* x) {
    const std::int64_t E = router.out(), d = router.in();
    const std::vector<std::int64_t> chosen = selected_experts(router, k, x);
    std::vector<bool> in_set(static_cast<std::size_t>(E), false);
    for (std::int64_t i : chosen) in_set[static_cast<std::size_t>(i)] = true;
    double best = kInf;
    for (std::int64_t i : chosen)
        for (std::int64_t j = 0; j < E; ++j) {
            if (in_set[static_cast<std::size_t>(j)]) continue;
            double gap = router.b.data()[i] - router.b.data()[j], norm = 0.0;
            for (std::int64_t c = 0; c < d; ++c) {
                const double wi = router.w.data()[i * d + c], wj = router.w.data()[j * d + c];
                gap += (wi - wj) * x[c];
                norm += std::abs(wi - wj);
            }
            if (norm > 0.0) best = std::min(best, std::max(gap, 0.0) / norm);
            else if (gap < 0.0 || (gap == 0.0 && j < i)) best = 0.0;
        }
    return best;
}

}  // namespace moelab
