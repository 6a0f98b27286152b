// moelab moe: the router, which scores experts and picks the top k for each input row.
//
// scores s(x) = R x + b (a Linear d -> E). Gate conventions (docs/theory.md section 1):
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

// Whether the router learns. frozen: its scores are constants to autograd, so no loss (cross-entropy or
// auxiliary) reaches its weights and it keeps its random initialisation: the routing of Zhang et al. 2025's
// released code (a hard argmax on integer indices, so the router gets no gradient), which works like a fixed
// random hash of the input. With --gate topk-softmax and k = 1 the gate is 1, as there.
enum class RouterTraining { learned, frozen };
RouterTraining parse_router_training(const std::string& name);   // "learned", "frozen"
std::string to_string(RouterTraining r);
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

// How a forward pass may deviate from the router's own decision (robustness measurements, docs/theory.md §4):
//   k_override  top-k at inference (MoE-RBench's "top-k at inference"); 0 = the configured k
//   swap_rank   r >= 0: the expert ranked r (0 = highest score) is replaced by the expert ranked k (the next
//               one), with its own gate (P1's "robustness to the choice of experts"); needs k < E
//   frozen      routing held fixed: the experts and gate values of this Routing (computed on the clean
//               input) are used as constants, so only the experts see the input (P2's RA-E attack)
struct RoutingControl {
    std::int64_t k_override = 0;
    std::int64_t swap_rank = -1;
    const Routing* frozen = nullptr;
};

struct Router {
    Linear proj;            // d -> E
    Linear noise_proj;      // d -> E, no bias; only with noisy gating
    GateMode mode = GateMode::softmax_then_topk;
    std::int64_t experts = 0, top_k = 1;
    bool noisy = false;
    RouterTraining learning = RouterTraining::learned;

    static Router create(ParamRegistry& params, const std::string& name, std::int64_t dim, std::int64_t experts,
                         std::int64_t top_k, GateMode mode, bool noisy, const Rng& rng);
    // Routes x [B, d] under `control` (k_override and swap_rank; `frozen` is applied by the MoE layer).
    // `noise_rng` is used only when noisy && training. Throws std::invalid_argument on a k or rank that
    // does not fit the number of experts.
    Routing route(const Var& x, bool training, const Rng& noise_rng, const RoutingControl& control = {}) const;
};

}  // namespace moelab
