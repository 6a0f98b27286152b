#include "moe/moe_layer.hpp"

#include <stdexcept>

namespace moelab {

MoELayer MoELayer::create(ParamRegistry& params, const std::string& name, std::int64_t dim, std::int64_t out,
                          std::int64_t expert_hidden, std::int64_t experts, std::int64_t top_k, GateMode mode,
                          bool noisy, double capacity_factor, double dropout, const Rng& rng) {
    if (expert_hidden < 0)
        throw std::invalid_argument("--expert-hidden: must be >= 0 (0 = linear experts), got " +
                                    std::to_string(expert_hidden));
    MoELayer layer;
    layer.router = Router::create(params, join_name(name, "router"), dim, experts, top_k, mode, noisy, rng);
    for (std::int64_t i = 0; i < experts; ++i) {
        std::vector<std::int64_t> sizes{dim};
        if (expert_hidden > 0) sizes.push_back(expert_hidden);
        sizes.push_back(out);
        layer.experts.push_back(
            MLP::create(params, join_name(name, "experts." + std::to_string(i)), sizes, rng, dropout));
    }
    layer.capacity_factor = capacity_factor;
    return layer;
}

Dispatch dispatch(const Routing& routing, std::int64_t experts) {
    Dispatch d;
    d.rows.resize(static_cast<std::size_t>(experts));
    d.slots.resize(static_cast<std::size_t>(experts));
    const std::int64_t rows = routing.rows(), k = routing.k;
    for (std::int64_t b = 0; b < rows; ++b)
        for (std::int64_t j = 0; j < k; ++j) {
            const std::int64_t slot = b * k + j;
            if (!routing.kept[static_cast<std::size_t>(slot)]) continue;
            const auto e = static_cast<std::size_t>(routing.expert[static_cast<std::size_t>(slot)]);
            d.rows[e].push_back(b);
            d.slots[e].push_back(slot);
        }
    return d;
}

MoEOutput MoELayer::forward(const Var& x, bool training, const Rng& rng, const RoutingControl& control) const {
    MoEOutput out;
    if (control.frozen) {
        const Routing& f = *control.frozen;
        if (f.rows() != x.shape()[0])
            throw ShapeError("moe: frozen routing has " + std::to_string(f.rows()) + " rows, input " + x.shape().str());
        out.routing = f;
        // Constants: no gradient reaches the router through a frozen decision.
        out.routing.logits = Var(f.logits.value());
        out.routing.probs = Var(f.probs.value());
        out.routing.gates = Var(f.gates.value());
    } else {
        out.routing = router.route(x, training, rng.split("router_noise"), control);
    }
    const std::int64_t E = static_cast<std::int64_t>(experts.size());
    out.dropped = apply_capacity(out.routing, E, capacity_factor);
    const Dispatch d = dispatch(out.routing, E);
    // Each expert's rows are gathered and run as one batch; weighted_index_add then adds every expert's
    // gated output into its rows in expert order, in one pass over one output buffer.
    std::vector<Var> expert_out;
    std::vector<std::vector<std::int64_t>> expert_rows, expert_slots;
    for (std::int64_t i = 0; i < E; ++i) {
        const auto& r = d.rows[static_cast<std::size_t>(i)];
        if (r.empty()) continue;
        Var xe = index_select(x, r);
        expert_out.push_back(experts[static_cast<std::size_t>(i)].forward(
            xe, training, rng.split("expert_dropout").split(static_cast<std::uint64_t>(i))));
        expert_rows.push_back(r);
        expert_slots.push_back(d.slots[static_cast<std::size_t>(i)]);
    }
    const std::int64_t rows = out.routing.rows();
    Var y = expert_out.empty() ? Var(Tensor(Shape{rows, out_dim()}, 0.0))
                               : weighted_index_add(rows, expert_out, expert_rows, out.routing.gates, expert_slots);
    out.y = y;
    return out;
}

}  // namespace moelab
