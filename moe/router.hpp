// moelab moe: the router, which scores experts and picks the top k for each input row.
//
// scores s(x) = R x + b (a Linear d -> E). Gate conventions (THEORY.md section 1):
//   softmax_then_topk  p = softmax(s); g_i = p_i for i in top-k(s), else 0 (Switch, GShard, V-MoE)
//   topk_then_softmax  g = softmax over the k selected scores, so the k gates sum to 1 (Mixtral)
//   soft               g = softmax(s) over all E experts: every expert is active; F is smooth
// Noisy top-k (Shazeer et al. 2017), training only: s_i = (R x + b)_i + N(0,1) * softplus((W_noise x)_i),
// with the noise drawn from the Rng passed to route(). Ties in top-k go to the lower expert index.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/nn.hpp"

namespace moelab {

enum class GateMode { softmax_then_topk, topk_then_softmax, soft };
GateMode parse_gate_mode(const std::string& name);   // "softmax-topk", "topk-softmax", "soft"
std::string to_string(GateMode mode);

// What the router decided for a batch of B rows.
struct Routing {
    Var logits;                          // [B, E] router scores s(x), noise included when training
    Var probs;                           // [B, E] softmax(logits)
    std::int64_t k = 0;                  // experts per row (E for soft routing)
    std::vector<std::int64_t> expert;    // [B * k] selected experts per row, highest score first
    Var gates;                           // [B, k] gate weight of each selected expert
    std::vector<std::uint8_t> kept;      // [B * k] 0 where capacity dropped the slot (see capacity.hpp)
    std::int64_t rows() const { return logits.shape()[0]; }
};

struct Router {
    Linear proj;            // d -> E
    Linear noise_proj;      // d -> E, no bias; only with noisy gating
    GateMode mode = GateMode::softmax_then_topk;
    std::int64_t experts = 0, top_k = 1;
    bool noisy = false;

    static Router create(ParamRegistry& params, const std::string& name, std::int64_t dim, std::int64_t experts,
                         std::int64_t top_k, GateMode mode, bool noisy, const Rng& rng);
    // Routes x [B, d]. `k_override` > 0 replaces top_k (MoE-RBench's "top-k at inference").
    // `noise_rng` is used only when noisy && training.
    Routing route(const Var& x, bool training, const Rng& noise_rng, std::int64_t k_override = 0) const;
};

}  // namespace moelab
