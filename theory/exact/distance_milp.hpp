// moelab theory, internal: the minimal-distance MILP of exact.hpp built from the model's one form
// (theory/network/network.hpp). Not a public API; exact_milp.cpp solves what this builds.
//
// Bounds: every unit's bounds come from CROWN over the search box (theory/bounds/layer_bounds.hpp), intersected
// with interval arithmetic. They decide which ReLUs are stable (no binary), which experts can win the
// routing somewhere in the box (the others are left out; one left: no routing binary), which classes can
// overtake the label (the others are left out), and every big-M constant. The bounds on the logit
// differences z_j - z_label come from CROWN on those differences directly (per expert for an MoE at the
// end of the network, then the widest over the reachable experts), far tighter than the difference of the
// logits' own bounds.
#pragma once

#include <cstdint>
#include <vector>

#include "theory/network/geometry.hpp"
#include "theory/exact/milp_internal.hpp"
#include "theory/network/network.hpp"

namespace moelab::milp {

// Strictness margins: 0 for the relaxed (closed) problem whose optimum is d*; a small positive value to
// find a point strictly inside a routing cell and strictly misclassified (exact.hpp).
struct Margins {
    double router = 0.0, classes = 0.0;
};

// inputs x' in [x - R, x + R] clipped to the domain, t >= |x'_i - x_i|, z_target - z_label >= margins.classes
// (piece.target < 0: some class j != label, one binary per class that can win), routed to piece.expert where
// one is given, minimise t. Columns 0..d-1 are x',
// column d is t. infeasible is set when the bounds alone rule the target out within R.
// The part of the problem one MILP searches: points where class `target` reaches the label's logit
// (-1: any class), routed to `expert` at the network's MoE stage (-1: any expert; only for networks with
// one MoE stage).
struct Piece {
    std::int64_t target = -1, expert = -1;
};
Milp build_distance_milp(const Network& net, const std::vector<double>& x, std::int64_t label, double R, const Box& domain,
                         const Margins& margins, Piece piece = {});

}  // namespace moelab::milp
