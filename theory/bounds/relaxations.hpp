// moelab theory: the linear relaxations of the nonlinear nodes of a bound graph (theory/bounds/bound_graph.hpp), each
// a pair of lines that hold over an interval of the node's input, with their rounding already charged: the
// lines are moved outward so that the lines as computed in double still enclose the exact function
// (derivations and sources: docs/theory.md, "Linear bounds through ReLU, softmax gates and products").
//   ReLU            the triangle: upper line u (z - l) / (u - l), lower line alpha z, alpha in [0, 1]
//                   (Zhang et al. 2018; alpha optimised by alpha-CROWN, Xu et al. 2021)
//   exp             convex: a tangent below, the chord above (Shi et al. 2020)
//   1 / (1 + v)     convex and decreasing on v >= 0 (the gate as a function of the sum of exps): a tangent
//                   below, the chord above
//   g * M           McCormick's planes for a product of two bounded factors (McCormick 1976), a convex
//                   combination of the two lower (or the two upper) planes
#pragma once

#include <cstdint>

namespace moelab {

// y >= slope x + intercept (a lower line) or y <= slope x + intercept (an upper line) over the input interval.
struct Line {
    double slope = 0.0, intercept = 0.0;
};

struct UnitRelaxation {
    Line lower, upper;
};

// Unit roundoff of IEEE double and Higham's gamma_n = n u / (1 - n u): a sum of n products in any order,
// with or without FMA, is within gamma_n (|a| . |b|) of the exact sum.
inline constexpr double kUnitRoundoff = 1.1102230246251565e-16;
double gamma_n(std::int64_t n);

// The lower slope CROWN picks for an unstable ReLU (Zhang et al. 2018): 1 when u >= -l, else 0.
double crown_relu_slope(double l, double u);
// The ReLU over [l, u]: identity or zero where stable; else the triangle with `lower_slope` in [0, 1].
UnitRelaxation relu_relaxation(double l, double u, double lower_slope);
// exp over [l, u] (finite): the tangent at the midpoint below, the chord above.
UnitRelaxation exp_relaxation(double l, double u);
// f(v) = 1 / (1 + v) over [l, u], 0 <= l <= u (finite): the tangent at the midpoint below, the chord above.
UnitRelaxation reciprocal_relaxation(double l, double u);
// f(v) = 1 / (1 + v) rounded down and up (a bound on the exact value).
double reciprocal_down(double v);
double reciprocal_up(double v);
// exp(v) rounded down and up.
double exp_down(double v);
double exp_up(double v);

// g * M >= coef_m M + coef_g g + constant for g in [ga, gb], M in [ma, mb]: beta times the plane through
// (ga, ma) plus 1 - beta times the plane through (gb, mb) (McCormick's two lower planes). The upper planes of
// g * M are minus the lower planes of g * (-M). Exact in reals: the caller charges the rounding of these
// coefficients (bilinear_charge).
struct BilinearLine {
    double coef_g = 0.0, coef_m = 0.0, constant = 0.0;
};
BilinearLine bilinear_lower(double ga, double gb, double ma, double mb, double beta);
// A bound on how far the computed coefficients' plane can be from the exact plane anywhere on the box, times
// the weight |lambda| the caller multiplies it by: 32 u |lambda| max|g| max|M| (docs/theory.md).
double bilinear_charge(double lambda, double ga, double gb, double ma, double mb);

}  // namespace moelab
