// moelab theory: the affine piece of a piecewise-linear network around one point (docs/theory.md §4, docs/exactness.md §5).
//
// A network of theory/network/network.hpp with top-1 routing is piecewise affine: fix the phase of every ReLU and
// the expert of every MoE stage, and logits = W x + b on the region where those choices hold. local_piece()
// follows the forward pass at x and multiplies the maps out, so the routing attack (theory/attacks/routing_attack.hpp)
// can ask a linear program for the best point of a region instead of following a gradient. With each MoE
// stage it records the scores' lead of the chosen expert over every other one (s_e - s_j as a map of x):
// the routing region is where all of those leads are >= 0.
//
// The first MoE stage may be forced to an expert other than the one it selects at x (the region the attack
// wants to search); later stages take their own choice at x. For a model-level MoE (one MoE stage whose
// router reads the input) the leads are exact everywhere, and so are the logits of a linear expert. A
// gate g != 1 (softmax_then_topk) is kept as its value at x, a constant: the piece is then only a
// linearisation, which is all an attack needs (every point it reports is checked by a forward pass).
#pragma once

#include <cstdint>
#include <vector>

#include "theory/network/network.hpp"

namespace moelab {

struct RoutingLead {
    std::int64_t expert = 0;        // the expert the stage selects (or was forced to)
    std::vector<std::int64_t> others;   // every other expert j, in ascending order
    AffineMap lead;                 // row r: s_expert - s_{others[r]} as a map of the input ([E - 1, d])
};

struct LocalPiece {
    AffineMap logits;                 // [C, d]
    std::vector<RoutingLead> routes;  // one per MoE stage, in order
};

// Throws std::invalid_argument when an MoE stage selects more than one expert (top_k > 1 or soft gating).
LocalPiece local_piece(const Network& net, const std::vector<double>& x, std::int64_t forced_first_expert = -1);

// "" when every MoE stage of the network routes top-1 (so local_piece applies), else the reason.
std::string local_piece_support(const Network& net);

}  // namespace moelab
