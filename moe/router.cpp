#include "moe/router.hpp"

#include <stdexcept>

#include "engine/config_error.hpp"

namespace moelab {

GateMode parse_gate_mode(const std::string& name) {
    if (name == "softmax-topk") return GateMode::softmax_then_topk;
    if (name == "topk-softmax") return GateMode::topk_then_softmax;
    if (name == "soft") return GateMode::soft;
    throw ConfigError("gate", "unknown gate '" + name + "' (expected softmax-topk, topk-softmax or soft)");
}

std::string to_string(GateMode mode) {
    switch (mode) {
        case GateMode::softmax_then_topk: return "softmax-topk";
        case GateMode::topk_then_softmax: return "topk-softmax";
        case GateMode::soft: return "soft";
    }
    return "?";
}

RouterTraining parse_router_training(const std::string& name) {
    if (name == "learned") return RouterTraining::learned;
    if (name == "frozen") return RouterTraining::frozen;
    throw std::invalid_argument("--router: unknown router '" + name + "' (expected learned or frozen)");
}

std::string to_string(RouterTraining r) { return r == RouterTraining::learned ? "learned" : "frozen"; }

Router Router::create(ParamRegistry& params, const std::string& name, std::int64_t dim, std::int64_t experts,
                      std::int64_t top_k, GateMode mode, bool noisy, const Rng& rng) {
    if (experts < 1) throw ConfigError("experts", "must be at least 1, got " + std::to_string(experts));
    if (top_k < 1 || top_k > experts)
        throw ConfigError("top-k", "must be in [1, experts = " + std::to_string(experts) + "], got " +
                                    std::to_string(top_k));
    Router r;
    r.proj = Linear::create(params, join_name(name, "proj"), dim, experts, rng);
    if (noisy) r.noise_proj = Linear::create(params, join_name(name, "noise"), dim, experts, rng, /*bias=*/false);
    r.mode = mode;
    r.experts = experts;
    r.top_k = top_k;
    r.noisy = noisy;
    return r;
}

Routing Router::route(const Var& x, bool training, const Rng& noise_rng, const RoutingControl& control) const {
    Routing out;
    Var s = proj.forward(x);
    if (noisy && training) {
        Tensor z(s.shape());
        for (std::int64_t i = 0; i < z.numel(); ++i) z[i] = noise_rng.normal(static_cast<std::uint64_t>(i));
        s = add(s, mul(Var(std::move(z)), softplus(noise_proj.forward(x))));
    }
    // Frozen: in training the scores are a constant, so no gradient reaches the router; attacks still see it.
    if (training && learning == RouterTraining::frozen) s = Var(s.value());
    const std::int64_t k = mode == GateMode::soft ? experts : (control.k_override > 0 ? control.k_override : top_k);
    if (k > experts)
        throw std::invalid_argument("top-k at inference: " + std::to_string(k) + " exceeds the " +
                                    std::to_string(experts) + " experts");
    out.logits = s;
    out.probs = softmax(s);
    out.k = k;
    if (control.swap_rank >= 0) {
        if (control.swap_rank >= k || k >= experts)
            throw ConfigError("swap-rank", "must be in [0, k = " + std::to_string(k) +
                                        ") with k < experts = " + std::to_string(experts) + ", got " +
                                        std::to_string(control.swap_rank));
        const std::vector<std::int64_t> ranked = topk(s.value(), k + 1);
        const std::int64_t rows = s.shape()[0];
        out.expert.resize(static_cast<std::size_t>(rows * k));
        for (std::int64_t b = 0; b < rows; ++b)
            for (std::int64_t j = 0; j < k; ++j)
                out.expert[static_cast<std::size_t>(b * k + j)] =
                    ranked[static_cast<std::size_t>(b * (k + 1) + (j == control.swap_rank ? k : j))];
    } else {
        out.expert = topk(s.value(), k);
    }
    if (mode == GateMode::topk_then_softmax)
        out.gates = softmax(gather_cols(s, out.expert, k));
    else
        out.gates = gather_cols(out.probs, out.expert, k);
    out.kept.assign(out.expert.size(), 1);
    return out;
}

}  // namespace moelab
