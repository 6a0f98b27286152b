#include "theory/network/network.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/ops.hpp"
#include "theory/network/finite_guard.hpp"

namespace moelab {

namespace {

// ---- extraction ---------------------------------------------------------------------------------------

AffineMap map_of(const ParamRegistry& p, const std::string& name) {
    AffineMap m;
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

Stage affine_stage(AffineMap m) {
    Stage s;
    s.kind = Stage::Kind::affine;
    s.map = std::move(m);
    return s;
}

Stage chain_stage(MapChain c) {
    Stage s;
    s.kind = Stage::Kind::chain;
    s.chain = std::move(c);
    return s;
}

Stage moe_stage(const ParamRegistry& p, const std::string& name, const ModelConfig& c) {
    Stage s;
    s.kind = Stage::Kind::moe;
    s.moe.router = map_of(p, name + ".router.proj");
    for (std::int64_t i = 0; i < c.experts; ++i) s.moe.experts.push_back(chain_of(p, name + ".experts." + std::to_string(i)));
    s.moe.k = c.gate == GateMode::soft ? c.experts : c.top_k;
    s.moe.gate = c.gate;
    return s;
}

// ---- the forward pass ---------------------------------------------------------------------------------

// How an affine map sums: the engine's GEMM over all rows, or plain index order per row.
enum class Summation { gemm, in_order };

struct Walk {
    Summation sum = Summation::gemm;
    const Route* fixed = nullptr;   // forced top-1 experts (gate 1)
    PointForward* trace = nullptr;  // receives the route and the router scale (one row)
    std::size_t moe_index = 0;
};

Tensor affine(const AffineMap& m, const Tensor& x, Summation sum) {
    if (sum == Summation::gemm) {
        NoGradGuard no_grad;
        return linear(Var(x), Var(m.w), Var(m.b)).value();
    }
    Tensor y(Shape{x.rows(), m.out()});
    for (std::int64_t row = 0; row < x.rows(); ++row)
        for (std::int64_t r = 0; r < m.out(); ++r) {
            double v = m.b[r];
            for (std::int64_t c = 0; c < m.in(); ++c) v += m.weight(r, c) * x.at(row, c);
            y.at(row, r) = v;
        }
    return y;
}

void relu_inplace(Tensor& t) {
    for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = std::max(0.0, t[i]);
}

Tensor chain(const MapChain& c, Tensor x, Summation sum) {
    for (std::size_t i = 0; i < c.size(); ++i) {
        if (i > 0) relu_inplace(x);
        x = affine(c[i], x, sum);
    }
    return x;
}

// The k selected experts of one row of router scores, highest first, ties to the lower index.
std::vector<std::int64_t> top_k_of(const double* s, std::int64_t E, std::int64_t k) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(E));
    for (std::int64_t i = 0; i < E; ++i) order[static_cast<std::size_t>(i)] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return s[a] > s[b]; });
    order.resize(static_cast<std::size_t>(k));
    return order;
}

// Gates as moe/router.hpp computes them: softmax over all scores (softmax_then_topk, soft) or over the
// selected ones (topk_then_softmax), the selected experts' outputs summed in ascending expert order.
Tensor moe(const MoEStage& m, const Tensor& x, Walk& walk) {
    if (walk.fixed) {
        const std::int64_t i = (*walk.fixed)[walk.moe_index++];
        if (walk.trace) walk.trace->route.push_back(i);
        return chain(m.experts[static_cast<std::size_t>(i)], x, walk.sum);
    }
    const Tensor s = affine(m.router, x, walk.sum);
    const std::int64_t B = x.rows(), E = m.experts_count();
    std::vector<Tensor> outs;
    for (const auto& c : m.experts) outs.push_back(chain(c, x, walk.sum));
    const std::int64_t out_dim = outs.front().cols();
    Tensor y(Shape{B, out_dim}, 0.0);
    for (std::int64_t b = 0; b < B; ++b) {
        const double* sb = s.data() + b * E;
        const auto sel = top_k_of(sb, E, m.k);
        if (walk.trace) {
            walk.trace->route.push_back(sel.front());
            for (std::int64_t i = 0; i < E; ++i) walk.trace->router_scale = std::max(walk.trace->router_scale, std::abs(sb[i]));
        }
        double mx = sb[0];
        for (std::int64_t i = 1; i < E; ++i) mx = std::max(mx, sb[i]);
        double z_all = 0.0, z_sel = 0.0;
        for (std::int64_t i = 0; i < E; ++i) z_all += std::exp(sb[i] - mx);
        for (auto i : sel) z_sel += std::exp(sb[i] - mx);
        std::vector<std::int64_t> ascending = sel;
        std::sort(ascending.begin(), ascending.end());
        for (auto i : ascending) {
            const double g = std::exp(sb[i] - mx) / (m.gate == GateMode::topk_then_softmax ? z_sel : z_all);
            for (std::int64_t c = 0; c < out_dim; ++c) y.at(b, c) += g * outs[static_cast<std::size_t>(i)].at(b, c);
        }
    }
    return y;
}

Tensor run(const Network& net, Tensor x, Walk& walk) {
    for (const Stage& s : net.stages) {
        switch (s.kind) {
            case Stage::Kind::affine: x = affine(s.map, x, walk.sum); break;
            case Stage::Kind::relu: relu_inplace(x); break;
            case Stage::Kind::chain: x = chain(s.chain, std::move(x), walk.sum); break;
            case Stage::Kind::moe: x = moe(s.moe, x, walk); break;
        }
    }
    return x;
}

}  // namespace

bool Network::has_moe() const {
    for (const Stage& s : stages)
        if (s.kind == Stage::Kind::moe) return true;
    return false;
}

Network network_of(const Classifier& model) {
    require_finite_weights(model);   // every bound starts here: refuse NaN/inf weights once
    const ModelConfig& c = model.config();
    const ParamRegistry& p = model.params();
    Network n;
    n.input_dim = c.input_dim;
    n.classes = c.classes;
    if (c.kind == ModelKind::moe_model) {
        n.stages.push_back(moe_stage(p, "moe", c));
        return n;
    }
    n.stages.push_back(affine_stage(map_of(p, "stem")));
    n.stages.emplace_back();   // relu
    for (std::int64_t b = 0; b < c.depth; ++b) {
        if (b > 0) n.stages.emplace_back();
        const std::string name = "blocks." + std::to_string(b);
        if (c.kind == ModelKind::moe && c.is_moe_block(b)) n.stages.push_back(moe_stage(p, name + ".moe", c));
        else n.stages.push_back(chain_stage(chain_of(p, name + ".ffn")));
    }
    n.stages.push_back(affine_stage(map_of(p, "head")));
    return n;
}

Tensor network_logits(const Network& net, const Tensor& x) {
    Walk walk;
    return run(net, x, walk);
}

Tensor apply_affine(const AffineMap& map, const Tensor& x) { return affine(map, x, Summation::gemm); }

Tensor apply_chain(const MapChain& c, const Tensor& x) { return chain(c, x, Summation::gemm); }

PointForward forward_point(const Network& net, const std::vector<double>& x, const Route* fixed) {
    PointForward out;
    Walk walk{Summation::in_order, fixed, &out, 0};
    const Tensor z = run(net, Tensor(Shape{1, static_cast<std::int64_t>(x.size())}, x), walk);
    out.logits = z.vec();
    return out;
}

}  // namespace moelab
