// moelab theory: moving reported radii down and upper constants up by what rounding and the solver's
// tolerances could have cost, so that every reported certificate is safe at the last digit (the derivation
// is in docs/exactness.md).
//
//   - A quotient, product or sum computed in IEEE double with round-to-nearest is within half an ulp of
//     the exact value; one step toward the safe side (std::nextafter) covers it: divide_down.
//   - A number produced by GLPK (an optimum, a best-bound) satisfies the problem only to GLPK's tolerances:
//     primal feasibility 1e-7 relative (tol_bnd), integrality 1e-9 (tol_int, set in milp_internal.cpp),
//     relative MIP gap 1e-9 (mip_gap). It is charged kSolverRelativeTolerance relative (plus the same
//     amount absolutely, for values near 0), then rounded outward.
//   - Margins are not charged here: they are computed exactly (theory/network/rational_check.hpp) and rounded down.
#pragma once

namespace moelab {

// GLPK's tolerances, relative: the primal feasibility tolerance (1e-7, relative to 1 + |bound|) dominates
// the integrality tolerance and the MIP gap (both 1e-9).
constexpr double kSolverRelativeTolerance = 1e-7;

// v (1 + tol) + tol, rounded up: an upper constant from the solver. +inf and NaN pass through.
double solver_upper_outward(double v);
// v (1 - tol) - tol, rounded down and clamped at 0: a lower bound (certified radius) from the solver.
double solver_lower_outward(double v);
// a / b rounded toward -inf (a >= 0, b > 0): a radius margin / constant that never exceeds the exact quotient.
double divide_down(double a, double b);

// A radius computed by a floating-point certificate (global Lipschitz, IBP, CROWN, naive) whose margin comes
// from the rounded forward pass: moved down by kFloatRadiusRelative relative, then one ulp. The forward
// pass's relative error on a margin is about n u (n: the longest sum, u = 2^-53) times the cancellation
// factor sum |w||h| / |margin|; 1e-12 covers n u ~ 1e-14 with a hundredfold cancellation (docs/exactness.md).
constexpr double kFloatRadiusRelative = 1e-12;
double float_radius_outward(double r);

}  // namespace moelab
