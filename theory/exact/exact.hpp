// moelab theory: the exact minimal L-infinity adversarial distance of small piecewise-linear models, by a
// mixed-integer linear program (docs/theory.md §4; Tjeng, Xiao and Tedrake 2019 for ReLU networks, with one
// binary per routing choice for top-1 MoE), solved with GLPK's branch and bound.
//
//   d*(x) = min ||delta||_inf  s.t.  x + delta in the domain, some class j != label has logit_j >= logit_label
//
// The MILP: input variables x' in [x - R, x + R] intersected with the domain, t >= |x'_i - x_i|, minimise t.
// Each ReLU y = max(0, z) whose pre-activation bounds [l, u] straddle 0 gets a binary b: y >= z, y >= 0,
// y <= z - l (1 - b), y <= u b. A top-1 MoE gets a binary a_i per reachable expert (sum a_i = 1), router
// constraints s_i - s_j >= -(1 - a_i) M_ij and the selected expert's output by big-M. Every bound and M
// comes from CROWN run layer by layer over the ball (theory/bounds/layer_bounds.hpp, intersected with interval
// arithmetic; theory/exact/distance_milp.hpp), which is why the cap must be finite: stable ReLUs, experts that
// cannot win the routing and classes that cannot overtake the label are removed before the solve.
//
// d* is the smallest of the distances of its pieces: one MILP per class j that can overtake the label and,
// for a network with one top-1 MoE stage, per expert e that can win the routing (z_j >= z_label routed to
// e). With the class and the expert fixed the LP relaxation is far stronger (a binary per class let it put
// the misclassification at x itself: a root bound of 0 on every Fashion-MNIST sample measured) and the other
// experts' ReLUs drop out; most pieces are ruled out by the bounds alone. The pieces run in a fixed order
// (the attack point's class and expert first), each searching the ball of radius min(cap, 1.001 U), U the
// best verified distance so far, so the bounds tighten as the search goes.
//
// Before the MILP, an L-inf DeepFool run (theory/attacks/attack.hpp) supplies a verified adversarial point at some
// distance U. The MILPs are solved by GLPK (default) or CBC (ExactOptions::backend, theory/exact/milp_backend.hpp).
//
// Lower bounds: the smallest over the pieces of: the proven optimum of a piece's closed problem; the radius
// searched, for a piece proven empty there; under the work limit (a number of branch-and-bound nodes
// summed over all pieces, deterministic: theory/exact/work_limit.hpp) or the opt-in time limit, the smallest local
// bound among the open nodes (GLPK: glp_ios_best_node, CBC: its best possible value), or 0 when the limit
// struck before the first branching or before the piece was reached.
//
// Precision: GLPK works to ~1e-7 (primal feasibility) and the integrality tolerance is set to 1e-9, so d* is
// exact to ~1e-6 relative, not to the last bit. The MILP's minimiser may sit exactly on a routing boundary
// where the model's tie-breaking (lower expert index) picks the other expert; then the solve is repeated with
// a strictness margin of 1e-9 (then 1e-7, 1e-5) of the score scale on the routing and class constraints, and
// x_adv is that second point, verified (see ExactResult::note). Verified means misclassified by the exact
// rational forward pass (theory/network/rational_check.hpp, zero tolerance); upper is its distance rounded up.
// optimal requires the verified x_adv to lie within 1e-6 relative of the proven lower bound; the reported
// lower bound then carries GLPK's tolerances outward (theory/network/outward_rounding.hpp: lower (1 - 1e-7) - 1e-7,
// rounded down).
//
// Deterministic: GLPK and CBC run single-threaded with no time- or thread-dependent randomness, the pieces
// run in a fixed order, and DeepFool is deterministic. Thread-safety: as Classifier::forward (graph building
// is per thread); GLPK keeps per-thread state; CBC solves are serialised (theory/exact/milp_cbc.cpp).
// Solve times: docs/performance.md (W6, W7: the Fashion-MNIST top-1 MoEs, CPU seconds per sample).
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "engine/tensor.hpp"
#include "moe/model.hpp"
#include "theory/network/geometry.hpp"
#include "theory/exact/milp_backend.hpp"

namespace moelab {

struct ExactOptions {
    double radius_cap = 1.0;     // search only ||delta||_inf <= radius_cap (finite big-M); beyond it: "d* > cap"
    // Per sample, over all GLPK solves of that sample (theory/exact/work_limit.hpp): a deterministic number of
    // branch-and-bound nodes, and an opt-in wall-clock limit (0: off) whose stops mark the result
    // load-dependent (ExactResult::load_dependent).
    std::int64_t work_limit_nodes = 20000;
    double time_limit_s = 0.0;
    Box domain;                  // input box; images are [0, 1]
    MilpBackend backend = kDefaultMilpBackend;   // which MILP solver (theory/exact/milp_backend.hpp)
};

// optimal      lower == upper (within ~1e-6 relative) and x_adv is a verified adversarial example
// bounds_only  the work (or time) limit struck, or the minimiser failed verification: lower <= d* <= upper
// beyond_cap   no adversarial example within radius_cap: d* > radius_cap (lower = radius_cap, upper = +inf)
// unsupported  the model is not a supported piecewise-linear model (note says why); no numbers
enum class ExactStatus { optimal, bounds_only, beyond_cap, unsupported };
std::string to_string(ExactStatus status);

struct ExactResult {
    ExactStatus status = ExactStatus::unsupported;
    double lower = 0.0, upper = std::numeric_limits<double>::infinity();   // proven bounds on d*
    Tensor x_adv;          // [1, d] the minimiser when a verified adversarial point was found (empty otherwise)
    std::string note;      // why not optimal / unsupported, which lower bound was used, solver messages
    double seconds = 0.0;  // wall time spent in GLPK
    bool load_dependent = false;   // the opt-in wall-clock limit stopped a solve: another run may differ
};

// "" when the model's decision function is piecewise linear and this solver supports it, else the reason.
// Supported: kind mlp; kind moe-model with one active expert per input (top_k == 1, or one expert) and no
// capacity limit (the gate g_i > 0 only scales the chosen expert's logits, so argmax F = argmax f_i for
// every gate mode); kind moe whose MoE blocks route top-1 with gate exactly 1 (gate topk-softmax, or one
// expert) and no capacity limit. Noisy gating is ignored: the noise is off at inference.
std::string exact_support(const Classifier& model);

// d*(x) for one sample x [1, d] of class `label` (normally the model's prediction at x; if the model
// already misclassifies x, d* = 0). Throws std::invalid_argument on a bad shape, label, option, or an x
// outside o.domain. An unsupported model gives status unsupported with the reason in note.
ExactResult exact_min_distance_linf(const Classifier& model, const Tensor& x, int label, const ExactOptions& o);

}  // namespace moelab
