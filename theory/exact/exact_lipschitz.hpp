// moelab theory: the exact Lipschitz constant of small piecewise-linear models by a mixed-integer linear
// program (docs/theory.md §2; LipMIP, Jordan and Dimakis 2020), solved with GLPK's branch and bound.
//
// Quantity. For a pair of classes (a, b) and the scalar margin f = F_a - F_b, with input norm L-inf and
// output |.|, the Lipschitz constant of f on a convex region X is
//     L_ab(X) = sup_{x != y in X} |f(x) - f(y)| / ||x - y||_inf = max_{x in X} ||grad f(x)||_1
// (the L1 norm is the dual of L-inf; the max runs over the closures of the linear regions, see below).
// This is the constant the Lipschitz-margin certificate needs: the label y keeps winning against j on the
// ball of radius r while F_y(x) - F_j(x) > L_yj r. The model-level constant is the max over pairs.
// Regions: the global one is the input domain box (e.g. [0,1]^d); a local one is the L-inf ball of radius
// r around x intersected with the domain. Only L-inf input is supported (other norms: unsupported).
//
// The MILP (LipMIP). Forward: x in the region box, y = W x + b per affine map, and per ReLU whose
// pre-activation bounds [l, u] (interval arithmetic over the box) straddle 0 a binary phase a with the
// big-M encoding of Tjeng et al. 2019 (stable units have a fixed phase and no binary). Backward: the signal
// g starts at e_a - e_b on the logits; through an affine map g_in = W^T g_out (continuous, exact); through
// a ReLU g_in = a * g_out, linearised exactly by four rows with the interval bounds [gl, gu] of g_out
// (backward interval arithmetic). Objective: maximise sum_i |g_0,i| with one sign binary per input
// coordinate whose g_0 bound straddles 0. At a non-differentiable point (z = 0) the big-M rows let the
// phase be either value: the MILP maximises over every phase assignment consistent with some x in the
// closure of its region, i.e. over the closures of the linear regions. For a continuous piecewise-linear f
// on a convex X that maximum is the Lipschitz constant: every segment crosses finitely many regions and on
// each f changes by at most its gradient's dual norm times the length; conversely a region with non-empty
// interior attains its gradient norm. A phase pattern that is feasible only on a lower-dimensional face
// (a "thin" region) could in principle exceed every full region's gradient; in general position that does
// not happen (LipMIP's argument, Jordan and Dimakis 2020, Thm. 1), and the answer is then exact.
//
// Top-1 MoEs (model-level with gate exactly 1, or layer-level top-1 blocks with topk-softmax gates). Inside
// one routing cell (one expert per MoE stage) the model is piecewise linear and the gate is constant, so the
// same MILP with the routing fixed (router rows s_i >= s_j) gives the per-cell constant. The solver
// enumerates every routing cell that interval bounds cannot rule out, solves each (an infeasible MILP means
// an empty cell), and reports
//   - one non-empty cell (routing cannot change in the region): the constant, exact as for an MLP;
//   - several non-empty cells: a bisection between cell witnesses finds a routing boundary point b; if the
//     margin jumps there (|f_route1(b) - f_route2(b)| > 0 beyond rounding) the constant is infinite: status
//     discontinuous, with the point as evidence. If no jump is found continuity is not proven: bounds_only
//     with lower = the largest per-cell constant and upper = +inf.
// Either way per_cell_* is the max over non-empty cells of the per-cell constant (what the routing-aware
// certificate uses).
//
// Status and bounds: optimal only when GLPK proved every solved problem optimal (and routing is fixed or the
// model has no MoE); every upper bound then carries GLPK's tolerances, charged outward
// (theory/network/outward_rounding.hpp: upper = lower (1 + 1e-7) + 1e-7, rounded up). On a time limit: lower = the best incumbent found (a real gradient norm of some phase
// pattern) or the gradient norm at the region's centre, whichever is larger; upper = min(GLPK's best
// open-node bound, the interval bound sum_i max|g_0,i|): bounds_only.
// GLPK works to ~1e-7 primal feasibility, integrality tolerance 1e-9: values are exact to ~1e-6 relative.
// Deterministic: GLPK single-threaded, no randomness anywhere. Thread-safety: as exact.hpp.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "engine/tensor.hpp"
#include "moe/model.hpp"
#include "theory/network/geometry.hpp"

namespace moelab {

// An axis-aligned input box (the region the constant holds on); every bound finite.
struct InputBox {
    std::vector<double> lo, hi;
};
InputBox domain_box(std::int64_t input_dim, const Box& domain);            // the global region
InputBox linf_ball(const Tensor& x, double radius_linf, const Box& domain);   // local: ball around x [1, d] ∩ domain

struct ExactLipschitzOptions {
    // Per class pair, over all its routing cells (theory/exact/work_limit.hpp): a deterministic number of
    // branch-and-bound nodes, and an opt-in wall-clock limit (0: off) whose stops mark the result
    // load-dependent.
    std::int64_t work_limit_nodes = 20000;
    double time_limit_s = 0.0;
    std::int64_t max_cells = 64;   // routing cells (products of expert choices) enumerated at most
};

// optimal        lower <= L <= upper, apart only by the tolerance charge (GLPK proved every cell's MILP
//                optimal; routing cannot change)
// bounds_only    the work (or time) limit struck, or routing changes without a jump found: lower <= L <= upper
// discontinuous  routing changes inside the region and the margin jumps at `jump_point`: L = +inf
// unsupported    not a supported piecewise-linear model or norm (note says why); no numbers
enum class ExactLipschitzStatus { optimal, bounds_only, discontinuous, unsupported };
std::string to_string(ExactLipschitzStatus status);

struct ExactLipschitzResult {
    ExactLipschitzStatus status = ExactLipschitzStatus::unsupported;
    double lower = 0.0, upper = std::numeric_limits<double>::infinity();   // proven bounds on L_ab(region)
    // max over non-empty routing cells of the per-cell constant (equal to lower/upper without routing change)
    double per_cell_lower = 0.0, per_cell_upper = std::numeric_limits<double>::infinity();
    int class_a = 0, class_b = 1;    // the pair (for the all-pairs maximum: the pair attaining per_cell_lower)
    std::int64_t cells = 0;          // non-empty routing cells in the region (1 for an MLP)
    bool routing_fixed_by_intervals = false;   // router interval bounds alone show one reachable cell
    Tensor argmax;                   // [1, d] where the largest per-cell gradient norm is attained
    Tensor jump_point;               // [1, d] a routing boundary point where the margin jumps (discontinuous)
    double jump = 0.0;               // |f(b+) - f(b-)| there
    std::int64_t relu_binaries = 0, sign_binaries = 0;   // of the largest problem solved
    std::string note;
    double seconds = 0.0;            // wall time in GLPK
    bool load_dependent = false;     // the opt-in wall-clock limit stopped a solve: another run may differ
    double gap() const { return upper - lower; }
};

// "" when the solver supports the model, else the reason: kind mlp; moe-model with one expert or top_k = 1
// and gate topk-softmax (gate exactly 1; a softmax gate g(x) f(x) is not piecewise linear); kind moe whose
// MoE blocks route top-1 with gate exactly 1; no capacity limit.
std::string exact_lipschitz_support(const Classifier& model);

// L_ab over the region for f = F_a - F_b. Throws std::invalid_argument on a bad pair, a region of the
// wrong dimension, an empty or infinite box, or a non-positive time limit.
ExactLipschitzResult exact_lipschitz_pair_linf(const Classifier& model, int class_a, int class_b, const InputBox& region,
                                               const ExactLipschitzOptions& o);

// max over pairs (a, b), a < b, of L_ab (b ranging over all classes when `label` < 0, else pairs
// (label, j): the constants a certificate of `label` needs). Bounds are the max of the pairs' bounds;
// status: unsupported / discontinuous if any pair is, optimal if all are, else bounds_only. The time limit
// applies per pair.
ExactLipschitzResult exact_lipschitz_linf(const Classifier& model, const InputBox& region, const ExactLipschitzOptions& o,
                                          int label = -1);

// A Lipschitz-margin certificate with exact local constants (docs/theory.md §3), valid only on the ball it was
// computed for: with U_yj the proven upper bound of L_yj on B = ball(x, radius) ∩ domain, the margin
// F_y - F_j stays positive on B within distance m_j / U_yj of x, so the certified radius is
// min(radius, min_j m_j / U_yj) (0 when x is misclassified). Safe at the last digit: m_j is computed in
// exact rational arithmetic and rounded down (theory/network/rational_check.hpp), U_yj carries GLPK's tolerances
// outward, and the quotient is rounded down (theory/network/outward_rounding.hpp). NaN when the pair constants are infinite
// (routing changes inside B with a jump: use the routing-aware certificate) or the model is unsupported.
// `load_dependent`, when given, is set when the opt-in wall-clock limit stopped one of its solves.
double certified_radius_exact_lipschitz_linf(const Classifier& model, const Tensor& x, int label, double radius,
                                             const Box& domain, const ExactLipschitzOptions& o,
                                             bool* load_dependent = nullptr);

// The best radius that certificate reaches over balls up to `cap`. The constants shrink with the ball, so
// g(r) = min_j m_j / U_yj(ball r) does not increase with r and the certificate on ball r reaches r exactly
// while g(r) >= r: bisection (`steps` halvings of [0, cap]) finds the largest such r it can prove. Every
// certificate computed on the way is valid on its own ball, so the answer is the best of them (0 when x is
// misclassified or nothing positive is proven). A ball where routing changes with a jump proves nothing
// (its constants are infinite), but a smaller ball may. radius NaN: the model is unsupported.
struct ExactLipschitzCertificate {
    double radius = 0.0;
    double ball = 0.0;     // the ball whose constants proved `radius`
    int balls_tried = 0;   // each one exact_lipschitz_pair_linf per class j != label
    bool load_dependent = false;   // the opt-in wall-clock limit stopped a solve on some ball
};
ExactLipschitzCertificate best_certified_radius_exact_lipschitz_linf(const Classifier& model, const Tensor& x, int label,
                                                                     double cap, const Box& domain,
                                                                     const ExactLipschitzOptions& o, int steps = 8);

}  // namespace moelab
