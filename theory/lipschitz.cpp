#include "theory/lipschitz.hpp"

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "engine/ops.hpp"
#include "theory/spectral_bounds.hpp"

namespace moelab {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double row_diff_dual(const Tensor& w, std::int64_t a, std::int64_t b, Norm p) {
    const std::int64_t n = w.cols();
    std::vector<double> v(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = w.at(a, i) - w.at(b, i);
    return dual_norm(v.data(), n, p);
}

// Product of the p -> p norms of all maps of a chain but the last.
double prefix_norm(const MapChain& chain, Norm p) {
    double L = 1.0;
    for (std::size_t i = 0; i + 1 < chain.size(); ++i) L *= operator_norm(chain[i].w, p);
    return L;
}

Tensor apply(const LinearMap& m, const Tensor& x) {
    NoGradGuard no_grad;
    return linear(Var(x), Var(m.w), Var(m.b)).value();
}

void relu_inplace(Tensor& t) {
    for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = std::max(0.0, t[i]);
}

Tensor run_chain(const MapChain& chain, Tensor x) {
    for (std::size_t i = 0; i < chain.size(); ++i) {
        if (i > 0) relu_inplace(x);
        x = apply(chain[i], x);
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

Tensor run_moe(const MoEStage& m, const Tensor& x) {
    const Tensor s = apply(m.router, x);
    const std::int64_t B = x.rows(), E = m.experts_count();
    std::vector<Tensor> outs;
    for (const auto& chain : m.experts) outs.push_back(run_chain(chain, x));
    const std::int64_t out_dim = outs.front().cols();
    Tensor y(Shape{B, out_dim}, 0.0);
    for (std::int64_t b = 0; b < B; ++b) {
        const double* sb = s.data() + b * E;
        const auto sel = top_k_of(sb, E, m.k);
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

// Features entering the head (layer-level models).
Tensor trunk(const Network& net, const Tensor& x) {
    Tensor h = apply(net.stem, x);
    relu_inplace(h);
    for (std::size_t b = 0; b < net.blocks.size(); ++b) {
        if (b > 0) relu_inplace(h);
        h = net.blocks[b].is_moe ? run_moe(net.blocks[b].moe, h) : run_chain(net.blocks[b].ffn, h);
    }
    return h;
}

bool has_moe(const Network& net) {
    if (net.model_level) return true;
    for (const auto& b : net.blocks)
        if (b.is_moe) return true;
    return false;
}

}  // namespace

double spectral_norm(const Tensor& w) {
    const lapack_int m = static_cast<lapack_int>(w.rows()), n = static_cast<lapack_int>(w.cols());
    std::vector<double> a(w.data(), w.data() + w.numel());
    std::vector<double> s(static_cast<std::size_t>(std::min(m, n))), superb(static_cast<std::size_t>(std::max(1, std::min(m, n))));
    const lapack_int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', m, n, a.data(), n, s.data(), nullptr, 1, nullptr, 1,
                                           superb.data());
    if (info != 0) throw std::runtime_error("spectral norm: LAPACKE_dgesvd failed with info " + std::to_string(info));
    return s.empty() ? 0.0 : s.front();
}

double linf_operator_norm(const Tensor& w) {
    double best = 0.0;
    for (std::int64_t r = 0; r < w.rows(); ++r) {
        double s = 0.0;
        for (std::int64_t c = 0; c < w.cols(); ++c) s += std::abs(w.at(r, c));
        best = std::max(best, s);
    }
    return best;
}

double l1_operator_norm(const Tensor& w) {
    double best = 0.0;
    for (std::int64_t c = 0; c < w.cols(); ++c) {
        double s = 0.0;
        for (std::int64_t r = 0; r < w.rows(); ++r) s += std::abs(w.at(r, c));
        best = std::max(best, s);
    }
    return best;
}

double operator_norm(const Tensor& w, Norm p) {
    if (p == Norm::linf) return linf_operator_norm(w);
    // Large matrices: the certified upper bound of power iteration with repeated squaring (its stopping rule
    // guarantees upper <= (1 + 1e-6) sigma_max); smaller ones: the SVD.
    if (w.numel() > kCertifiedPowerThreshold) return spectral_norm_bounds(w).upper;
    return spectral_norm(w);
}

double chain_norm(const MapChain& chain, Norm p) {
    double L = 1.0;
    for (const auto& m : chain) L *= operator_norm(m.w, p);
    return L;
}

Tensor network_logits(const Network& net, const Tensor& x) {
    if (net.model_level) return run_moe(net.top, x);
    return apply(net.head, trunk(net, x));
}

LipschitzUpper lipschitz_upper(const Network& net, Norm p) {
    const std::int64_t C = net.classes;
    LipschitzUpper u;
    u.pair = Tensor(Shape{C, C}, 0.0);
    if (net.model_level) {
        // Naive: each expert's own constant, gate <= 1 held fixed.
        u.sound = false;
        u.method = "naive-fixed-routing";
        u.note = "hard top-k routing is discontinuous: this bound holds only where routing does not change";
        for (const auto& chain : net.top.experts) {
            const double pre = prefix_norm(chain, p);
            u.logits = std::max(u.logits, chain_norm(chain, p));
            for (std::int64_t a = 0; a < C; ++a)
                for (std::int64_t b = 0; b < C; ++b)
                    if (a != b) u.pair.at(a, b) = std::max(u.pair.at(a, b), pre * row_diff_dual(chain.back().w, a, b, p));
        }
        if (net.top.gate == GateMode::soft) u.note = "soft routing: the gate's variation is not included; use the checker";
        return u;
    }
    double L = operator_norm(net.stem.w, p);
    for (const auto& blk : net.blocks) {
        if (!blk.is_moe) {
            L *= chain_norm(blk.ffn, p);
            continue;
        }
        double worst = 0.0;
        for (const auto& chain : blk.moe.experts) worst = std::max(worst, chain_norm(chain, p));
        L *= worst;
        u.sound = false;
    }
    u.method = u.sound ? "layer-product" : "naive-fixed-routing";
    if (!u.sound) u.note = "hard top-k routing is discontinuous: this bound holds only where routing and gates do not change";
    u.logits = L * operator_norm(net.head.w, p);
    for (std::int64_t a = 0; a < C; ++a)
        for (std::int64_t b = 0; b < C; ++b)
            if (a != b) u.pair.at(a, b) = L * row_diff_dual(net.head.w, a, b, p);
    return u;
}

CertifiedRadii certify_lipschitz(const Network& net, const Tensor& x, const std::vector<int>& y, Norm p, bool naive) {
    const std::int64_t B = x.rows(), C = net.classes;
    CertifiedRadii out;
    out.radius.assign(static_cast<std::size_t>(B), std::numeric_limits<double>::quiet_NaN());
    auto margin_radius = [&](const double* z, int label, auto&& pair) {
        double r = kInf;
        for (std::int64_t c = 0; c < C; ++c) {
            if (c == label) continue;
            const double m = z[label] - z[c];
            if (m <= 0.0) return 0.0;
            const double L = pair(label, c);
            r = std::min(r, L > 0.0 ? m / L : kInf);
        }
        return r;
    };
    if (!has_moe(net)) {
        const LipschitzUpper u = lipschitz_upper(net, p);
        const Tensor z = network_logits(net, x);
        for (std::int64_t b = 0; b < B; ++b)
            out.radius[static_cast<std::size_t>(b)] =
                margin_radius(z.data() + b * C, y[static_cast<std::size_t>(b)], [&](std::int64_t a, std::int64_t c) { return u.pair.at(a, c); });
        return out;
    }
    // Top-1 MoEs whose prediction inside a routing cell is one expert path's: model-level (any gate: the
    // positive gate scales all class scores alike) or one layer-level MoE block with top-1 and the gate
    // renormalised over the one chosen expert (g = 1).
    const bool layer_ok = !net.model_level && net.blocks.size() == 1 && net.blocks[0].is_moe && net.blocks[0].moe.k == 1 &&
                          net.blocks[0].moe.gate == GateMode::topk_then_softmax;
    const bool model_ok = net.model_level && net.top.k == 1;
    if (!layer_ok && !model_ok) {
        out.note = "lipschitz certificate covers top-1 model-level MoEs and one top-1 topk-softmax MoE block; use ibp";
        return out;
    }
    const MoEStage& moe = model_ok ? net.top : net.blocks[0].moe;
    const std::int64_t E = moe.experts_count();
    const double stem_norm = model_ok ? 1.0 : operator_norm(net.stem.w, p);
    Tensor h = x;
    if (!model_ok) {
        h = apply(net.stem, x);
        relu_inplace(h);
    }
    const Tensor s = apply(moe.router, h);
    std::vector<Tensor> path_logits;
    std::vector<Tensor> path_pairs;   // [C, C] per expert
    for (const auto& chain : moe.experts) {
        Tensor z = run_chain(chain, h);
        Tensor pair(Shape{C, C}, 0.0);
        if (model_ok) {
            const double pre = prefix_norm(chain, p);
            for (std::int64_t a = 0; a < C; ++a)
                for (std::int64_t c = 0; c < C; ++c)
                    if (a != c) pair.at(a, c) = pre * row_diff_dual(chain.back().w, a, c, p);
        } else {
            z = apply(net.head, z);
            const double pre = stem_norm * chain_norm(chain, p);
            for (std::int64_t a = 0; a < C; ++a)
                for (std::int64_t c = 0; c < C; ++c)
                    if (a != c) pair.at(a, c) = pre * row_diff_dual(net.head.w, a, c, p);
        }
        path_logits.push_back(std::move(z));
        path_pairs.push_back(std::move(pair));
    }
    for (std::int64_t b = 0; b < B; ++b) {
        const int label = y[static_cast<std::size_t>(b)];
        const double* sb = s.data() + b * E;
        const std::int64_t i = top_k_of(sb, E, 1).front();
        auto cert = [&](std::int64_t j) {
            const Tensor& pr = path_pairs[static_cast<std::size_t>(j)];
            return margin_radius(path_logits[static_cast<std::size_t>(j)].data() + b * C, label,
                                 [&](std::int64_t a, std::int64_t c) { return pr.at(a, c); });
        };
        const double own = cert(i);
        if (naive || own <= 0.0) {
            out.radius[static_cast<std::size_t>(b)] = own;
            continue;
        }
        // r* = min_j max(rho_j, cert_j): expert j can be chosen only at distance >= rho_j, where its router
        // score can have caught up with the chosen one's.
        double r = own;
        for (std::int64_t j = 0; j < E; ++j) {
            if (j == i) continue;
            const double LR = stem_norm * row_diff_dual(moe.router.w, i, j, p);
            const double gap = sb[i] - sb[j];
            const double rho = LR > 0.0 ? gap / LR : (gap > 0.0 ? kInf : 0.0);
            r = std::min(r, std::max(rho, cert(j)));
        }
        out.radius[static_cast<std::size_t>(b)] = r;
    }
    if (naive) out.note = "naive: routing held fixed (unsound for hard routing)";
    return out;
}

}  // namespace moelab
