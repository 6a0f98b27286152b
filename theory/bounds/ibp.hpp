// moelab theory: interval bound propagation (Gowal et al. 2018) through ReLU networks and through the
// MoE layer with routing uncertainty, and the certified radius it gives (docs/theory.md §3).
//
// Through an MoE layer: router scores are bounded over the box; expert j can be among the top k somewhere
// in the box unless k others surely beat it (their lower score exceeds its upper score), and is surely
// selected when fewer than k others can reach it. Gates are bounded per convention: softmax probabilities
// p_j in [e^{l_j} / (e^{l_j} + sum_{i != j} e^{u_i}), e^{u_j} / (e^{u_j} + sum_{i != j} e^{l_i})];
// a gate that may be unselected also contains 0; top-k-then-softmax gates lie in [lower, 1] (sound, loose).
// The output is bounded by sum_j [gate_j] x [expert_j] in interval arithmetic. Everything is sound for
// any point of the box; for the L2 norm the box is the L-inf box of the same radius (which contains the ball).
//
// Batched: B samples, each with its own radius, go through the network together, the affine maps as two
// GEMMs (centres, and radii through |W|); each bound is widened by 1e-12 relative so that rounding in
// the midpoint-radius form cannot make it wrong.
#pragma once

#include <vector>

#include "theory/network/geometry.hpp"
#include "theory/network/network.hpp"

namespace moelab {

struct IntervalVec {
    std::vector<double> lo, hi;
};

// Bounds on the logits over the box {x' : |x' - x|_inf <= r} intersected with the domain (one sample).
IntervalVec ibp_logits(const Network& net, const double* x, double r, Box domain);
// Bounds on the logits of every row over its own box of radius r[b] ([B, C] each; any model, batched).
struct LogitBounds {
    Tensor lo, hi;
};
LogitBounds ibp_logit_bounds(const Network& net, const Tensor& x, const std::vector<double>& r, Box domain);
// Bounds on the input of every MoE stage, in stage order (what its router reads), for every row over its own box
// of radius r[b] ([B, width] each). The route-stability bound of theory/route_column.hpp tests router score
// differences on them.
std::vector<LogitBounds> ibp_moe_input_bounds(const Network& net, const Tensor& x, const std::vector<double>& r, Box domain);
// Lower bounds on F_y - F_j for every row b and class j ([B, C]; entry y is 0), over the box of radius r[b].
Tensor ibp_margin_lower(const Network& net, const Tensor& x, const std::vector<int>& y, const std::vector<double>& r,
                        Box domain);
// The largest radius per row (doubling, then `iters` halvings) at which every margin lower bound is
// positive; 0 when even r = 0 fails (misclassified). For l2, the L-inf box radius (which certifies the ball).
std::vector<double> ibp_certified_radii(const Network& net, const Tensor& x, const std::vector<int>& y, Box domain,
                                        int iters = 40);

}  // namespace moelab
