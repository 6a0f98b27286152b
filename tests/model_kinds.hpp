// One small config of every model kind and routing variant moelab has, for round-trip tests: a dense MLP,
// layer-level MoE under each gate mode, a mixed MoE/FFN stack with noisy gating and expert capacity, and
// model-level MoE with linear and with MLP experts, and with a frozen router.
#pragma once

#include <vector>

#include "moe/model.hpp"

namespace moelab::testing {

inline std::vector<ModelConfig> every_model_kind() {
    ModelConfig base;
    base.input_dim = 5, base.classes = 3, base.width = 7, base.hidden = 4, base.experts = 4, base.top_k = 2;
    std::vector<ModelConfig> out;
    ModelConfig c = base;
    c.kind = ModelKind::mlp, c.depth = 2;
    out.push_back(c);
    for (GateMode g : {GateMode::softmax_then_topk, GateMode::topk_then_softmax, GateMode::soft}) {
        c = base;
        c.kind = ModelKind::moe, c.gate = g;
        out.push_back(c);
    }
    c = base;
    c.kind = ModelKind::moe, c.depth = 3, c.moe_blocks = {1}, c.noisy = true, c.capacity_factor = 1.0;
    out.push_back(c);
    c = base;
    c.kind = ModelKind::moe_model, c.hidden = 0, c.top_k = 1;
    out.push_back(c);
    c = base;
    c.kind = ModelKind::moe_model, c.gate = GateMode::topk_then_softmax, c.noisy = true, c.capacity_factor = 0.75;
    out.push_back(c);
    c = base;   // P2's released routing: hard argmax, a frozen router
    c.kind = ModelKind::moe_model, c.gate = GateMode::topk_then_softmax, c.top_k = 1, c.router = RouterTraining::frozen;
    out.push_back(c);
    return out;
}

}  // namespace moelab::testing
