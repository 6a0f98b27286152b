// moelab theory: linear bounds on the class margins of any Network moelab builds (dense, layer-level and
// model-level MoEs, every gate form, several MoE blocks) over an input region, by back-substitution
// (docs/theory.md, "Linear bounds through ReLU, softmax gates and products"):
//   crown-ibp    intermediate bounds from intervals, the margins by back-substitution (Zhang et al. 2020)
//   crown        every intermediate node that needs bounds (ReLU inputs, router score differences, the sums
//                of exps under each gate, expert outputs, MoE outputs before a ReLU) bounded by
//                back-substitution to the input, intersected with intervals (full CROWN, Zhang et al. 2018)
//   alpha-crown  crown, then the lower ReLU slopes and the McCormick weights of the last MoE block optimised per
//                margin by projected gradient ascent (Adam steps, fixed count; Xu et al. 2021)
//
// Routing. For each MoE stage in order, the router's score differences s_i - s_j are bounded over the
// region (along the selections of earlier stages); an expert is surely selected, surely not, or undecided,
// and the reachable selections are the k-subsets consistent with every pairwise bound. Each reachable
// combination of selections is a route: a network whose gates are the softmax formula over a fixed set,
// bounded over the part of the region where that route is taken (there, the selected experts' scores are
// at least the others'), so the minimum over routes bounds the margin over the whole region (the routes'
// parts cover it). When the routes would exceed max_routes, a stage is relaxed instead: every expert
// that may be selected enters with a gate bounded below by 0 unless surely selected (documented fallback).
//
// For branch and bound (theory/exact): DomainConstraints restrict the region (fixed ReLU phases, fixed
// selections per MoE stage; a sub-box is the region itself), and MarginBounds reports per route what a
// brancher needs: the bounds of every ReLU's input (its unstable units are those with lo < 0 < hi) and the
// route's selections. Everything is deterministic: no threads inside one call, fixed iteration counts.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "theory/bounds/bound_graph.hpp"
#include "theory/network/geometry.hpp"
#include "theory/network/network.hpp"

namespace moelab {

enum class LinearMethod { crown_ibp, crown, alpha_crown };

struct LinearBoundOptions {
    LinearMethod method = LinearMethod::crown;
    int alpha_iterations = 20;          // alpha-crown: ascent steps per route
    double alpha_step = 0.1;            // alpha-crown: Adam's step size on slopes and weights in [0, 1]
    std::size_t max_routes = 64;        // routes enumerated before a stage is relaxed
    // Stop as soon as one route's margin bound is <= 0 (what a radius search needs), and stop alpha-CROWN's
    // ascent once every margin bound of a route is > 0.
    bool stop_at_failure = false;
    bool details = false;               // fill MarginBounds::routes' ReLU bounds
};

enum class ReluPhase : std::int8_t { active, inactive };
struct ReluSplit {
    ReluLayerId layer;
    std::int64_t unit = 0;
    ReluPhase phase = ReluPhase::active;
};
using Selection = std::vector<std::int64_t>;   // the selected experts of one MoE stage, ascending
struct DomainConstraints {
    std::vector<ReluSplit> relu_splits;                 // the ReLU's input is >= 0 (active) or <= 0 (inactive)
    std::vector<std::optional<Selection>> selections;   // per MoE stage in order; nullopt or absent: free
};

struct ReluLayerBounds {
    ReluLayerId layer;
    std::vector<double> lo, hi;   // bounds on the ReLU's input on this route
};
struct RouteBounds {
    std::vector<Selection> selections;   // per MoE stage; for a relaxed stage, the experts that may be selected
    std::vector<std::uint8_t> relaxed;   // per MoE stage
    std::vector<double> margin_lower;    // per class j: lower bound of F_y - F_j on this route (entry y: 0)
    std::vector<ReluLayerBounds> relus;  // with LinearBoundOptions::details
};
struct MarginBounds {
    // Per class j: a lower bound of F_y - F_j over the (constrained) region, entry y 0; +inf for every j when
    // the constraints leave no reachable route (the region is empty).
    std::vector<double> lower;
    std::vector<RouteBounds> routes;
    bool stopped_early = false;          // stop_at_failure cut the enumeration short
};

// The region of the L-inf ball (or, for l2, of the L2 ball within the same box) of radius r around x,
// intersected with the domain.
InputRegion norm_ball_region(const double* x, std::int64_t d, double r, Norm norm, Box domain);

// A network prepared for repeated bounds (weights copied with their absolute values once). Thread-safe:
// const calls share nothing mutable.
class LinearBounder {
public:
    explicit LinearBounder(const Network& net);   // throws std::invalid_argument for non-finite weights
    MarginBounds margin_bounds(const InputRegion& region, int y, const LinearBoundOptions& options,
                               const DomainConstraints& constraints = {}) const;
    const Network& network() const { return net_; }

    struct Prepared;   // bound_network.cpp
private:
    const Network& net_;
    std::shared_ptr<const Prepared> prep_;
};

// Per row: the largest radius (doubling from 1/8, then `iters` halvings; alpha-crown starts from crown's
// radius) at which every margin bound is positive, 0 when even the point fails (misclassified) or lies outside
// the domain. For l2 the
// region is the L2 ball within its box. OpenMP over rows (each row alone: the bits do not depend on the
// thread count or the batch). Not yet charged for the radius' own last rounding: float_radius_outward.
std::vector<double> linear_certified_radii(const Network& net, const Tensor& x, const std::vector<int>& y, Norm norm,
                                           Box domain, const LinearBoundOptions& options, int iters = 30);

}  // namespace moelab
