#include "theory/network.hpp"

#include <algorithm>
#include <stdexcept>

#include "engine/ops.hpp"

namespace moelab {

namespace {

LinearMap map_of(const ParamRegistry& p, const std::string& name) {
    LinearMap m;
    m.w = p.get(name + ".weight").value();
    m.b = p.contains(name + ".bias") ? p.get(name + ".bias").value() : Tensor(Shape{m.w.rows()}, 0.0);
    return m;
}

MapChain chain_of(const ParamRegistry& p, const std::string& name) {
    MapChain c;
    for (int j = 1; p.contains(name + ".fc" + std::to_string(j) + ".weight"); ++j)
        c.push_back(map_of(p, name + ".fc" + std::to_string(j)));
    return c;
}

MoEStage moe_of(const ParamRegistry& p, const std::string& name, const ModelConfig& c) {
    MoEStage s;
    s.router = map_of(p, name + ".router.proj");
    for (std::int64_t i = 0; i < c.experts; ++i) s.experts.push_back(chain_of(p, name + ".experts." + std::to_string(i)));
    s.k = c.gate == GateMode::soft ? c.experts : c.top_k;
    s.gate = c.gate;
    return s;
}

}  // namespace

Tensor apply_chain(const MapChain& chain, const Tensor& x) {
    NoGradGuard no_grad;
    Tensor h = x;
    for (std::size_t i = 0; i < chain.size(); ++i) {
        if (i > 0)
            for (std::int64_t j = 0; j < h.numel(); ++j) h[j] = std::max(0.0, h[j]);
        h = linear(Var(h), Var(chain[i].w), Var(chain[i].b)).value();
    }
    return h;
}

Network network_of(const Classifier& model) {
    const ModelConfig& c = model.config();
    const ParamRegistry& p = model.params();
    Network n;
    n.input_dim = c.input_dim;
    n.classes = c.classes;
    if (c.kind == ModelKind::moe_model) {
        n.model_level = true;
        n.top = moe_of(p, "moe", c);
        return n;
    }
    n.stem = map_of(p, "stem");
    n.head = map_of(p, "head");
    for (std::int64_t b = 0; b < c.depth; ++b) {
        Block blk;
        const std::string name = "blocks." + std::to_string(b);
        blk.is_moe = c.kind == ModelKind::moe && c.is_moe_block(b);
        if (blk.is_moe) blk.moe = moe_of(p, name + ".moe", c);
        else blk.ffn = chain_of(p, name + ".ffn");
        n.blocks.push_back(std::move(blk));
    }
    return n;
}

}  // namespace moelab
