// moelab theory: the routing-crossing attack (`--attack routing`, docs/theory.md §4, docs/exactness.md §5).
//
// Gradient attacks on a hard top-1 MoE follow the expert that is active where they stand; a weaker expert
// selected a little further away stays invisible to them. This attack visits the routing regions on purpose.
// For every expert e of the first MoE layer that interval bounds on the router scores leave reachable, and
// every class c != label, it searches the region R_e where the router selects e, intersected with the
// L-inf ball and the input box, by linear programs over the network's affine piece (theory/network/local_piece.hpp):
//   eps-bounded:       maximise z_c - z_label over R_e and the ball of radius eps
//   minimal distance:  minimise ||p - x||_inf subject to p in R_e and z_c - z_label >= tau
// For a model-level MoE with linear experts the router and the experts are affine, one program per pair is
// exact, and the best over (e, c) is the exact answer up to the strictness below. Elsewhere (ReLU experts,
// layer-level MoEs whose router reads hidden features) the piece is a linearisation: the eps-bounded search
// runs up to `rounds` programs per pair, each in a trust region of 2.5 eps / rounds around the last point
// (sequential linear programming), and the minimal one bisects the radius with that search.
// The routing and class constraints are kept strict by tau = 1e-9 of the scores' scale (the model breaks
// ties towards the lower index); a point that lands on the wrong side anyway is solved again with 1e-7 and
// 1e-5. Every reported point is checked by a forward pass (misclassified by 1e-10 of the logits' scale, as
// the other minimal-distance attacks require) and finally by the harness's own pass (attack.hpp's promise).
//
// L-inf only. Deterministic: no randomness, GLPK's simplex is deterministic and limited by iterations.
// The eps-bounded search stops at the first fooling point per sample; the minimal one keeps the closest
// and searches later regions only within that distance.
#pragma once

#include <string>
#include <vector>

#include "theory/attacks/attack.hpp"

namespace moelab {

struct RoutingAttackOptions {
    double eps = 0.1;   // eps-bounded: the radius; minimal distance: the largest radius searched
    int rounds = 10;    // linear programs per (expert, class): each re-linearises at the last program's point
    Box domain;
    void validate() const;   // throws ConfigError naming the key (eps, steps)
};

// "" when the attack applies to the model (an MoE layer, top-1 routing in every MoE layer), else the reason.
std::string routing_attack_support(const Classifier& model);

// Both return what every attack promises (theory/attacks/attack.hpp), judged by the classifier itself; the
// minimal-distance variant reports distance +inf and x_adv = x where it found nothing within o.eps.
// Throws ConfigError{"attack", reason, "routing"} for a model routing_attack_support refuses.
AttackResult routing_attack(const Classifier& model, const Tensor& x, const std::vector<int>& y, const RoutingAttackOptions& o);
AttackResult routing_min_distance(const Classifier& model, const Tensor& x, const std::vector<int>& y,
                                  const RoutingAttackOptions& o);

}  // namespace moelab
