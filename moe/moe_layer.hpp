// moelab moe: the sparse Mixture-of-Experts layer.
//
//   F(x) = sum_i g_i(x) e_i(x)     (docs/theory.md section 1)
//
// Forward, for x [B, d]: the router picks k experts per row (router.hpp) and, when training, capacity may
// drop slots (capacity.hpp; never at inference); then the rows sent to expert i are gathered and run through the expert as one batch (one
// GEMM per expert layer), the experts in parallel (one task per expert; with gradients on, each expert is
// a small graph of its own inside one node whose backward differentiates the experts in parallel too);
// then every expert's output, scaled by its gates, is added into its rows (weighted_index_add). A row's
// output is therefore its gated expert outputs summed in ascending expert order, and the input gradient
// gathers the experts' contributions in that order too: the same bits on every run and thread count.
// Gradients flow to the router (through the gates), the gates and the experts.
//
// Experts are MLPs: sizes {d, m} is a linear expert, {d, h, m} a ReLU MLP expert.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "moe/capacity.hpp"
#include "moe/router.hpp"

namespace moelab {

struct MoEOutput {
    Var y;                       // [B, m]
    Routing routing;
    std::int64_t dropped = 0;    // slots dropped by capacity
};

// The shape and routing of one MoE layer.
struct MoELayerConfig {
    std::int64_t dim = 1, out = 1;     // input and output width
    std::int64_t expert_hidden = 0;    // 0: linear experts dim -> out
    std::int64_t experts = 1, top_k = 1;
    GateMode gate = GateMode::softmax_then_topk;
    bool noisy = false;                // router noise while training
    double capacity_factor = 0.0;      // <= 0: unlimited
    double dropout = 0.0;              // expert dropout while training
};

struct MoELayer {
    Router router;
    std::vector<MLP> experts;
    double capacity_factor = 0.0;   // <= 0: unlimited

    // Registers "<name>.router.proj.*" and "<name>.experts.<i>.fc<j>.*".
    static MoELayer create(ParamRegistry& params, const std::string& name, const MoELayerConfig& config, const Rng& rng);

    // `rng` drives router noise and expert dropout (used only when training). `control`: see router.hpp;
    // a frozen routing must have as many rows as x.
    MoEOutput forward(const Var& x, bool training, const Rng& rng, const RoutingControl& control = {}) const;
    std::int64_t out_dim() const { return experts.front().layers.back().out; }
};

// The rows routed to each expert (kept slots only), in row order: rows[i] and the matching flat slot
// indices (b * k + j) into routing.expert / routing.gates.
struct Dispatch {
    std::vector<std::vector<std::int64_t>> rows, slots;
};
Dispatch dispatch(const Routing& routing, std::int64_t experts);

}  // namespace moelab
