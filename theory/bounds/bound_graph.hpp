// moelab theory: a bound graph, the computation of one network with its routing fixed (or relaxed), node by
// node, with proven bounds on every node over an input region, and linear lower bounds of any linear
// function of a node by back-substitution to the input (CROWN, Zhang et al. 2018). theory/bounds/linear_bounds.hpp
// builds one graph per reachable routing from a Network; this header is its machinery.
//
// Nodes, in topological order (a node's parents have smaller indices):
//   input        the region (a box, and optionally an L2 ball)
//   linear       W x + b of its parent (the network's maps, router score differences, sums of exps)
//   relu, exp    elementwise of the parent
//   reciprocal   unit t: 1 / (1 + v), v the parent's row lower_row[t] for the lower bound and upper_row[t] for
//                the upper one (a superset and a subset of the exps summed: top-k-then-softmax gates whose
//                selection is undecided), or between 0 and that when the expert may be unselected
//   gated_sum    sum over t of gate t (a unit of the gates node) times expert node t (a vector)
// Every node gets interval bounds when it is added (from its parents'); refine() tightens a node's bounds by
// back-substitution (full CROWN), intersected with the intervals. Bounds are valid on the input region
// intersected with the graph's routing region (the caller may clip a node's bounds by constraints that hold
// there: fixed ReLU phases, the signs of score differences a fixed selection implies).
//
// Rounding: every interval and every back-substituted bound is moved outward by a derived bound on its
// floating-point error (Higham's gamma_n for each product, relaxations.hpp for the lines); docs/theory.md.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "theory/bounds/relaxations.hpp"

namespace moelab {

// y = W x + b with |W| kept beside W (for intervals and rounding charges). Row-major [out, in].
struct DenseMap {
    std::int64_t out = 0, in = 0;
    std::vector<double> w, abs_w, b;
    bool selection_rows = false;   // each row one entry +-1 and no bias: intervals are exact
};
DenseMap dense_map(std::int64_t out, std::int64_t in, std::vector<double> w, std::vector<double> b);

// The input region: the box [lo, hi], and when l2_radius is finite also the L2 ball around center (the
// region is their intersection; a bound is the larger of the two minimisations).
struct InputRegion {
    std::vector<double> lo, hi;
    std::vector<double> center;
    double l2_radius = 0.0;
    bool has_l2 = false;
};

enum class NodeKind { input, linear, relu, exp, reciprocal, gated_sum };

// Which ReLU layer of the network a relu node is: the stage (index into Network::stages), the expert (-1
// outside an MoE stage) and the map of the chain it follows (0 for a relu stage).
struct ReluLayerId {
    int stage = 0, expert = -1, index = 0;
    bool operator==(const ReluLayerId&) const = default;
};

struct BoundNode {
    NodeKind kind = NodeKind::input;
    std::int64_t dim = 0;
    int parent = -1;
    std::shared_ptr<const DenseMap> map;      // linear
    std::vector<double> mag_out;              // linear: |W| max|parent| + |b|, for rounding charges
    ReluLayerId relu_id;                      // relu
    std::vector<UnitRelaxation> lines;        // relu (CROWN's lower slope), exp, reciprocal: fixed at add time
    std::vector<std::int64_t> lower_row, upper_row;   // reciprocal
    std::vector<std::uint8_t> may_be_zero;    // reciprocal
    int gates = -1;                           // gated_sum: the gates node; parents are the experts
    std::vector<int> experts;
    std::vector<double> lo, hi;               // proven bounds
    bool refined = false;
};

// Per objective row, parameters of the relaxations that alpha-CROWN optimises (empty: CROWN's choice).
struct RelaxParams {
    // relu_slope[node] is [K, dim] (K objective rows) for relu nodes, empty elsewhere.
    std::vector<std::vector<double>> relu_slope;
    // The McCormick weight of the top product node (bilinear_lower's beta), [K, experts].
    std::vector<double> product_beta;
};

// Lower bounds and, when asked, their gradient with respect to RelaxParams (same layout).
struct BackwardResult {
    std::vector<double> lower;   // [K]
    RelaxParams gradient;
};

class BoundGraph {
public:
    explicit BoundGraph(InputRegion region);

    int add_linear(int parent, std::shared_ptr<const DenseMap> map);
    int add_relu(int parent, ReluLayerId id);
    int add_exp(int parent);
    int add_reciprocal(int parent, std::vector<std::int64_t> lower_row, std::vector<std::int64_t> upper_row,
                       std::vector<std::uint8_t> may_be_zero);
    int add_gated_sum(int gates, std::vector<int> experts);

    // Tightens node's bounds by back-substitution (rows of unstable units only, when unstable_only: the
    // input of a ReLU), intersected with its intervals. A no-op for the input, elementwise nodes and
    // linear maps of the input (where intervals are exact), and when back-substitution is off.
    void refine(int node, bool unstable_only);
    void set_back_substitution(bool on) { back_substitution_ = on; }
    bool back_substitution() const { return back_substitution_; }

    // Clips a node's bounds (a constraint that holds on the region the graph stands for). False when the
    // bounds become empty: the region is empty.
    bool clip(int node, std::int64_t unit, double lo, double hi);
    bool feasible() const { return feasible_; }

    // Lower bounds over the region of lam_k . node for the K rows of lam ([K, dim]).
    //   params                the relaxations use them (shaped as default_params gives), else CROWN's choices
    //   want_gradient         the result carries d lower_k / d params (for alpha-CROWN's ascent)
    //   aggregate_top_product the first product node met through linear maps alone from `node` (the MoE
    //                         block ending a network) is relaxed per row as g * (lam . expert) with McCormick
    //                         planes on that scalar, whose bounds come from a back-substitution of their own
    //                         (never looser than per coordinate), and the bound is also taken as the interval
    //                         product of g and that scalar where that is larger. Elsewhere a product is relaxed
    //                         per output coordinate with the mean of the two planes (beta 1/2).
    //   product_cache         the top product's scalar bounds, kept between calls with the same node and lam
    struct BackwardOptions {
        const RelaxParams* params = nullptr;
        bool want_gradient = false;
        bool aggregate_top_product = false;
        std::vector<double>* product_cache = nullptr;
        // With aggregate_top_product: the gates of the top product enter by their intervals (min over [ga, gb] of
        // the plane's gate term) instead of their linear bounds: looser in their correlation with the experts,
        // tighter in the gates themselves (their intervals are the exact image of their sums' bounds).
        bool concretize_top_gates = false;
    };
    BackwardResult lower(int node, const std::vector<double>& lam, std::int64_t K, const BackwardOptions& options) const;
    BackwardResult lower(int node, const std::vector<double>& lam, std::int64_t K) const { return lower(node, lam, K, BackwardOptions{}); }
    // RelaxParams of the right shape for K rows from `node`, at CROWN's choices.
    RelaxParams default_params(int node, std::int64_t K) const;
    // The product node lower(..., aggregate_top_product) relaxes per row from `node`, or -1.
    int top_product(int node) const;

    const BoundNode& node(int i) const { return nodes_[static_cast<std::size_t>(i)]; }
    int size() const { return static_cast<int>(nodes_.size()); }
    const InputRegion& region() const { return region_; }

private:
    InputRegion region_;
    std::vector<BoundNode> nodes_;
    bool back_substitution_ = true;
    bool feasible_ = true;

    int push(BoundNode n);
    void interval_linear(BoundNode& n) const;
    void interval_gated_sum(BoundNode& n) const;
    friend class Backward;
};

}  // namespace moelab
