// moelab theory: a trained classifier as one piecewise-linear form, the one every pass of theory/ reads:
// interval bounds (ibp.hpp), CROWN (crown.hpp), Lipschitz bounds and certificates (lipschitz.hpp,
// p2_certificate.hpp, dual.hpp), the exact MILP solvers (exact.hpp, exact_lipschitz.hpp) and the checker.
//
// network_of() copies the maps out of a Classifier once, as stages in the order Classifier::forward applies
// them (moe/model.hpp):
//   layer-level (mlp, moe):  affine (stem), relu, block, relu, block, ..., affine (head)
//   model-level (moe-model): one MoE stage whose experts map to the classes
// A block is an FFN (a chain of affine maps) or an MoE stage (router, experts, top-k, gate). A pass is a
// loop over the stages with one case per kind, so a new kind of block is one Stage::Kind, its case in
// network_of, and its case in each pass.
#pragma once

#include <cstdint>
#include <vector>

#include "moe/model.hpp"

namespace moelab {

// y = W x + b.
struct AffineMap {
    Tensor w;   // [out, in], row-major (the Linear layer's own layout)
    Tensor b;   // [out] (zeros when the layer has no bias)
    std::int64_t in() const { return w.cols(); }
    std::int64_t out() const { return w.rows(); }
    double weight(std::int64_t r, std::int64_t c) const { return w.data()[r * w.cols() + c]; }
};

using MapChain = std::vector<AffineMap>;   // ReLU between consecutive maps, none after the last

// sum over the k experts with the highest router scores (ties: lower index) of gate_i * expert_i(x).
struct MoEStage {
    AffineMap router;                 // router scores s = R x + c
    std::vector<MapChain> experts;
    std::int64_t k = 1;               // all experts for soft gating
    GateMode gate = GateMode::softmax_then_topk;
    std::int64_t experts_count() const { return static_cast<std::int64_t>(experts.size()); }
};

struct Stage {
    enum class Kind { affine, relu, chain, moe };
    Kind kind = Kind::relu;
    AffineMap map;     // affine
    MapChain chain;    // chain: an FFN block
    MoEStage moe;      // moe
};

struct Network {
    std::vector<Stage> stages;
    std::int64_t input_dim = 0, classes = 0;
    // One MoE stage and nothing else: P2's model-level MoE, whose experts are whole classifiers.
    bool model_level() const { return stages.size() == 1 && stages[0].kind == Stage::Kind::moe; }
    bool has_moe() const;
};

// Throws std::invalid_argument for what bounds do not model: capacity limits (a row's output would
// depend on the rest of the batch).
Network network_of(const Classifier& model);

// ---- the forward pass ----------------------------------------------------------------------------------

// The logits of the rows of x [B, d] ([B, C]), affine maps through the engine's GEMM. Equals
// Classifier::forward to rounding (a check that network_of mirrors it).
Tensor network_logits(const Network& net, const Tensor& x);
// One map, or a chain, applied to the rows of x ([B, in] -> [B, out]) as network_logits applies them.
Tensor apply_affine(const AffineMap& map, const Tensor& x);
Tensor apply_chain(const MapChain& chain, const Tensor& x);

using Route = std::vector<std::int64_t>;   // the top-1 expert of each MoE stage, in order

// The same forward pass at one point, each affine map summed in plain index order (b_r + sum_c W_rc x_c,
// c ascending) rather than by a GEMM whose rounding depends on the shape of the call: the exact solvers'
// checks and bisections get one value per point. With `fixed`, MoE stage k computes expert fixed[k] with
// gate 1 (for models whose gate is exactly 1).
struct PointForward {
    std::vector<double> logits;
    Route route;                 // the top-1 expert of each MoE stage (= *fixed when given)
    double router_scale = 0.0;   // the largest router score magnitude seen
};
PointForward forward_point(const Network& net, const std::vector<double>& x, const Route* fixed = nullptr);

}  // namespace moelab
