// moelab theory: P2's certified radius (Zhang, Xu, Hu, Wang, ICML 2025, Theorem 5.4, Equation (8)), evaluated with
// sound constants, in two readings side by side. Derivation and sources: docs/p2-certificate.md.
//
// For a model-level MoE F(x) = sum_i a_i(x) f_i(x), router weights a_i that are r_i-Lipschitz, experts f_i that
// are L_i-Lipschitz (per output coordinate, L-inf input) with |f_i,c| <= M_i, and
//     D(x) = sum_i (r_i M_i + a_i(x) L_i):
//   printed   r = margin(x) / D(x)          Equation (8) as P2 prints it
//   sound     r = margin(x) / (2 D(x))      what the decomposition F(x+d) - F(x) = sum_i [a_i(x+d) - a_i(x)] f_i(x+d)
//                                           + a_i(x) [f_i(x+d) - f_i(x)] proves: each coordinate moves by at most
//                                           D(x) ||d||, a difference of two by twice that.
// Outputs: class probabilities (f_i = softmax of expert i's logits: M_i = 1, L_i = half the logits' constant) or
// raw logits with a bound M the user states (then every radius is diagnostic: M is not proven).
// Constants: products of the experts' inf->inf operator norms, rounded upward; r_i from the softmax router's
// closed form (1/4) max_j ||W_i - W_j||_1. Rounding is charged: the margin is lowered by a derived bound on its
// floating-point error, D raised, the quotient rounded down.
// Hard routing (top-k gates): the router weights jump at routing ties, so no finite r_i exists; the form is
// applied inside the route-stable ball (theory/bounds/route_stability.hpp), where the selected set cannot change, and
// each radius is the smaller of the two. A radius of 0 there (a reachable tie) is "not applicable".
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "theory/attacks/attack.hpp"
#include "theory/network/network.hpp"

namespace moelab {

enum class P2Output { probabilities, logits };
enum class RadiusStatus { formal, not_applicable, diagnostic };
const char* to_string(RadiusStatus status);   // "formal", "not-applicable", "diagnostic"

struct P2Options {
    P2Output output = P2Output::probabilities;
    double logit_bound = std::numeric_limits<double>::quiet_NaN();   // M for raw logits (required with logits)
    Box domain = kImageBox;
};

struct P2Radius {
    double margin = 0.0;        // of F's outputs at x, lowered by its rounding bound (<= 0: not certified)
    double denominator = 0.0;   // D(x), rounded upward
    double printed = 0.0;       // Equation (8) as printed (hard routing: capped by route_stable)
    double sound = 0.0;         // margin / (2 D) (hard routing: capped by route_stable)
    double route_stable = std::numeric_limits<double>::infinity();   // L-inf; +inf under soft routing
    bool cut_by_route = false;  // hard routing: the route-stable radius was below the uncapped sound radius
    RadiusStatus printed_status = RadiusStatus::not_applicable;
    RadiusStatus sound_status = RadiusStatus::not_applicable;
    std::string note;           // why a status is not formal ("" when both are)
};

// Per row of x ([B, d], inside options.domain), for label y. Input norm L-inf. Throws std::invalid_argument on
// non-finite weights or inputs and on a logits reading without a finite logit_bound > 0. Models that are not
// model-level MoEs get radius 0 with status not_applicable and the reason.
std::vector<P2Radius> p2_equation8_radii(const Network& net, const Tensor& x, const std::vector<int>& y,
                                         const P2Options& options);

}  // namespace moelab
