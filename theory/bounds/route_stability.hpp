// moelab theory: how far an input can move before a hard router changes its decision.
//
// For an affine router s(x) = W x + b that selects the top-k experts (ties to the lower index), the route-stable
// radius at x is the L-inf distance from x to the nearest point of the input box where the selected set differs.
// No perturbation inside the open ball of that radius changes the routing, so a certificate that assumes fixed
// routing (P2's Equation (8) under a hard router) holds inside it. Derivation: docs/p2-certificate.md.
#pragma once

#include <cstdint>
#include <vector>

#include "theory/attacks/attack.hpp"
#include "theory/network/network.hpp"

namespace moelab {

struct RouteStability {
    double radius = 0.0;         // L-inf; +inf when no routing change is reachable inside the box
    std::int64_t overtaken = -1; // the selected expert that loses its place first (-1 when radius is +inf)
    std::int64_t rival = -1;     // the expert that takes it
};

// Exact: the computation runs in rational arithmetic on the router's float64 weights and x, and the radius is
// rounded down to a double (never above the exact distance of the real-arithmetic router). The box clips each
// coordinate's reach. `x` (router.in() values) must lie in the box; k in [1, experts].
RouteStability route_stable_radius_linf(const AffineMap& router, std::int64_t k, const double* x, Box box);

// The same distance without the box: min over selected i, unselected j of (s_i - s_j)(x) / ||W_i - W_j||_1,
// in floating point. Equal to the exact one when the box does not bind; a lower bound of it otherwise.
double route_stable_radius_linf_unclipped(const AffineMap& router, std::int64_t k, const double* x);

// The selected experts of s(x) = W x + b (ties to the lower index), in rank order.
std::vector<std::int64_t> selected_experts(const AffineMap& router, std::int64_t k, const double* x);

}  // namespace moelab
