#include "theory/bounds/relaxations.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace moelab {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Each slope and intercept below is a few roundings of exact operations and of libm's exp/expm1 (within one
// ulp): at most 8 u relative each, so the computed line is within 8 u (|slope| |x| + |intercept|) of the exact
// one on the interval. The lines are moved outward by 1e-13 (about 900 u) of that size plus the function's
// largest value: a hundredfold margin over the derivation (docs/theory.md).
constexpr double kLineCharge = 1e-13;

double line_charge(const Line& line, double l, double u, double fmax) {
    return kLineCharge * (std::abs(line.slope) * std::max(std::abs(l), std::abs(u)) + std::abs(line.intercept) + std::abs(fmax)) +
           std::numeric_limits<double>::min();
}

UnitRelaxation charged(UnitRelaxation r, double l, double u, double fmax) {
    r.lower.intercept -= line_charge(r.lower, l, u, fmax);
    r.upper.intercept += line_charge(r.upper, l, u, fmax);
    return r;
}

}  // namespace

double gamma_n(std::int64_t n) {
    const double nu = static_cast<double>(n) * kUnitRoundoff;
    return nu / (1.0 - nu);
}

double crown_relu_slope(double l, double u) { return u >= -l ? 1.0 : 0.0; }

UnitRelaxation relu_relaxation(double l, double u, double lower_slope) {
    UnitRelaxation r;
    if (u <= 0.0) return r;   // zero
    if (l >= 0.0) {
        r.lower.slope = r.upper.slope = 1.0;
        return r;
    }
    // Upper line s (z - l) with s rounded up and -s l rounded up: above the exact line for z >= l.
    const double s = std::nextafter(u / (u - l), kInf);
    r.upper.slope = s;
    r.upper.intercept = std::nextafter(-s * l, kInf);
    r.lower.slope = std::clamp(lower_slope, 0.0, 1.0);   // alpha z <= relu(z) for alpha in [0, 1]: exact
    return r;
}

double exp_down(double v) { return std::exp(v) * (1.0 - 4.0 * kUnitRoundoff); }
double exp_up(double v) { return std::exp(v) * (1.0 + 4.0 * kUnitRoundoff); }
double reciprocal_down(double v) { return (1.0 / (1.0 + v)) * (1.0 - 4.0 * kUnitRoundoff); }
double reciprocal_up(double v) { return (1.0 / (1.0 + v)) * (1.0 + 4.0 * kUnitRoundoff); }

UnitRelaxation exp_relaxation(double l, double u) {
    UnitRelaxation r;
    const double t = 0.5 * (l + u), et = std::exp(t);
    r.lower = {et, et * (1.0 - t)};   // the tangent at t: e^t (1 + x - t)
    const double el = std::exp(l), w = u - l;
    if (w > 0.0) {
        // The chord, its slope e^l (e^w - 1) / w through expm1 (no cancellation for narrow intervals).
        r.upper.slope = el * std::expm1(w) / w;
        r.upper.intercept = el - r.upper.slope * l;
    } else {
        r.upper = {0.0, std::exp(u)};
    }
    return charged(r, l, u, std::exp(u));
}

UnitRelaxation reciprocal_relaxation(double l, double u) {
    UnitRelaxation r;
    const double t = 0.5 * (l + u), ft = 1.0 / (1.0 + t);
    r.lower = {-ft * ft, ft + ft * ft * t};   // the tangent at t: f(t) + f'(t) (v - t), f' = -f^2
    // The chord: slope (f(u) - f(l)) / (u - l) = -1 / ((1 + l)(1 + u)) exactly, intercept (1 + l + u) / ((1 + l)(1 + u)).
    const double den = (1.0 + l) * (1.0 + u);
    r.upper = {-1.0 / den, (1.0 + l + u) / den};
    return charged(r, l, u, 1.0 / (1.0 + l));
}

BilinearLine bilinear_lower(double ga, double gb, double ma, double mb, double beta) {
    // (g - ga)(M - ma) >= 0:  g M >= ga M + ma g - ga ma;  (gb - g)(mb - M) >= 0:  g M >= gb M + mb g - gb mb.
    const double b = std::clamp(beta, 0.0, 1.0), c = 1.0 - b;
    return {b * ma + c * mb, b * ga + c * gb, -(b * ga * ma + c * gb * mb)};
}

double bilinear_charge(double lambda, double ga, double gb, double ma, double mb) {
    const double gmax = std::max(std::abs(ga), std::abs(gb)), mmax = std::max(std::abs(ma), std::abs(mb));
    return 32.0 * kUnitRoundoff * std::abs(lambda) * gmax * mmax;
}

}  // namespace moelab
