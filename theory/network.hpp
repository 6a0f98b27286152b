// moelab theory: a trained classifier as plain matrices, for bound computations.
//
// Bounds (Lipschitz constants, interval and linear relaxations, exact solvers) need the model's maps,
// not its autograd graph. network_of() copies them out of a Classifier in the order Classifier::forward
// applies them (moe/model.hpp):
//   layer-level (mlp, moe): x -> ReLU(stem) -> block_1 -> ReLU -> block_2 ... -> head
//   model-level (moe-model): x -> MoE whose experts map to the classes
// An FFN block or an expert is a list of linear maps with ReLU between them (none after the last).
#pragma once

#include <cstdint>
#include <vector>

#include "moe/model.hpp"

namespace moelab {

struct LinearMap {
    Tensor w;   // [out, in]
    Tensor b;   // [out] (zeros when the layer has no bias)
    std::int64_t in() const { return w.cols(); }
    std::int64_t out() const { return w.rows(); }
};

using MapChain = std::vector<LinearMap>;   // ReLU between consecutive maps

struct MoEStage {
    LinearMap router;
    std::vector<MapChain> experts;
    std::int64_t k = 1;
    GateMode gate = GateMode::softmax_then_topk;
    std::int64_t experts_count() const { return static_cast<std::int64_t>(experts.size()); }
};

struct Block {
    bool is_moe = false;
    MapChain ffn;
    MoEStage moe;
};

struct Network {
    bool model_level = false;      // moe-model: `top` is the whole model
    LinearMap stem, head;
    std::vector<Block> blocks;
    MoEStage top;
    std::int64_t input_dim = 0, classes = 0;
};

// Throws std::invalid_argument for what bounds do not model: capacity limits (a row's output would
// depend on the rest of the batch).
Network network_of(const Classifier& model);

// The chain applied to rows of x ([B, in] -> [B, out]), ReLU between maps, none after the last: an expert's
// or FFN block's output computed from the copied matrices.
Tensor apply_chain(const MapChain& chain, const Tensor& x);

}  // namespace moelab
