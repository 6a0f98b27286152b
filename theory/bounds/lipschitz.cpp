#include "theory/bounds/lipschitz.hpp"

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>

#include "theory/network/finite_guard.hpp"
#include "theory/bounds/spectral_bounds.hpp"

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

// pair(a, c) = scale * ||w_a - w_c||_dual for the rows of the last map w.
Tensor pair_constants(const Tensor& w, double scale, std::int64_t C, Norm p) {
    Tensor pair(Shape{C, C}, 0.0);
    for (std::int64_t a = 0; a < C; ++a)
        for (std::int64_t c = 0; c < C; ++c)
            if (a != c) pair.at(a, c) = scale * row_diff_dual(w, a, c, p);
    return pair;
}

// The Lipschitz-margin radius of one row of logits z: min over c != label of (z_label - z_c) / pair(label, c)
// (0 when misclassified).
template <class Pair>
double margin_radius(const double* z, int label, std::int64_t C, Pair&& pair) {
    double r = kInf;
    for (std::int64_t c = 0; c < C; ++c) {
        if (c == label) continue;
        const double m = z[label] - z[c];
        if (!std::isfinite(m)) return std::numeric_limits<double>::quiet_NaN();   // overflowed logits: refuse
        if (m <= 0.0) return 0.0;
        const double L = pair(label, c);
        r = std::min(r, L > 0.0 ? m / L : kInf);
    }
    return r;
}

// The MoE stage ends the network (model-level): each expert's own constant, gate <= 1 held fixed, after the
// stages before it (constant L).
void naive_output_moe(const MoEStage& moe, double L, Norm p, LipschitzUpper& u) {
    u.sound = false;
    u.method = "naive-fixed-routing";
    u.note = "hard top-k routing is discontinuous: this bound holds only where routing does not change";
    const std::int64_t C = u.pair.rows();
    for (const auto& chain : moe.experts) {
        const double pre = prefix_norm(chain, p);
        u.logits = std::max(u.logits, L * chain_norm(chain, p));
        for (std::int64_t a = 0; a < C; ++a)
            for (std::int64_t b = 0; b < C; ++b)
                if (a != b) u.pair.at(a, b) = std::max(u.pair.at(a, b), L * (pre * row_diff_dual(chain.back().w, a, b, p)));
    }
    if (moe.gate == GateMode::soft) u.note = "soft routing: the gate's variation is not included; use the checker";
}

// The largest sum of |entries| along a row (rows = true) or a column of w.
double max_line_abs_sum(const Tensor& w, bool rows) {
    const std::int64_t lines = rows ? w.rows() : w.cols(), along = rows ? w.cols() : w.rows();
    double best = 0.0;
    for (std::int64_t l = 0; l < lines; ++l) {
        double s = 0.0;
        for (std::int64_t i = 0; i < along; ++i) s += std::abs(rows ? w.at(l, i) : w.at(i, l));
        best = std::max(best, s);
    }
    return best;
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

double linf_operator_norm(const Tensor& w) { return max_line_abs_sum(w, true); }

double l1_operator_norm(const Tensor& w) { return max_line_abs_sum(w, false); }

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

namespace {

// A product of finite norms can still overflow to inf (or inf * 0 give NaN): such a constant is no bound.
const LipschitzUpper& checked(const LipschitzUpper& u) {
    require_finite_bound(u.logits, "the " + u.method + " Lipschitz bound");
    for (std::int64_t i = 0; i < u.pair.numel(); ++i) require_finite_bound(u.pair.data()[i], "a " + u.method + " pair constant");
    return u;
}

}  // namespace

LipschitzUpper lipschitz_upper(const Network& net, Norm p) {
    require_finite_network(net);
    LipschitzUpper u;
    u.pair = Tensor(Shape{net.classes, net.classes}, 0.0);
    // L: the product of the p -> p constants of every stage before the last (ReLU: 1; an MoE: its worst
    // expert, which holds only while routing does not change).
    double L = 1.0;
    for (std::size_t i = 0; i + 1 < net.stages.size(); ++i) {
        const Stage& s = net.stages[i];
        if (s.kind == Stage::Kind::affine) L *= operator_norm(s.map.w, p);
        if (s.kind == Stage::Kind::chain) L *= chain_norm(s.chain, p);
        if (s.kind != Stage::Kind::moe) continue;
        double worst = 0.0;
        for (const auto& chain : s.moe.experts) worst = std::max(worst, chain_norm(chain, p));
        L *= worst;
        u.sound = false;
    }
    const Stage& last = net.stages.back();
    if (last.kind == Stage::Kind::moe) {
        naive_output_moe(last.moe, L, p, u);
        return checked(u);
    }
    u.method = u.sound ? "layer-product" : "naive-fixed-routing";
    if (!u.sound) u.note = "hard top-k routing is discontinuous: this bound holds only where routing and gates do not change";
    u.logits = L * operator_norm(last.map.w, p);
    u.pair = pair_constants(last.map.w, L, net.classes, p);
    return checked(u);
}

namespace {

// The top-1 MoEs the routing-aware certificate covers, whose prediction inside a routing cell is one expert
// path's: model-level (any gate: the positive gate scales all class scores alike), or stem, ReLU, one MoE
// block with top-1 and the gate renormalised over the one chosen expert (g = 1), head.
struct RoutedNetwork {
    const AffineMap* stem = nullptr;   // null: model-level
    const MoEStage* moe = nullptr;
    const AffineMap* head = nullptr;
};

std::optional<RoutedNetwork> routed_network(const Network& net) {
    const auto& st = net.stages;
    if (net.model_level()) {
        if (st[0].moe.k != 1) return std::nullopt;
        return RoutedNetwork{nullptr, &st[0].moe, nullptr};
    }
    const bool layer_ok = st.size() == 4 && st[2].kind == Stage::Kind::moe && st[2].moe.k == 1 &&
                          st[2].moe.gate == GateMode::topk_then_softmax;
    if (!layer_ok) return std::nullopt;
    return RoutedNetwork{&st[0].map, &st[2].moe, &st[3].map};
}

// Per expert path (the network with the MoE replaced by expert e): its logits on every row and its pair
// constants; and the router scores with the constant of the map before the router.
struct ExpertPaths {
    Tensor scores;                            // [B, E]
    std::vector<Tensor> logits, pairs;        // per expert: [B, C], [C, C]
    double stem_norm = 1.0;
};

ExpertPaths expert_paths(const RoutedNetwork& rn, const Tensor& x, std::int64_t C, Norm p) {
    ExpertPaths out;
    out.stem_norm = rn.stem ? operator_norm(rn.stem->w, p) : 1.0;
    Tensor h = x;
    if (rn.stem) {
        h = apply_affine(*rn.stem, x);
        for (std::int64_t i = 0; i < h.numel(); ++i) h[i] = std::max(0.0, h[i]);
    }
    out.scores = apply_affine(rn.moe->router, h);
    for (const auto& chain : rn.moe->experts) {
        Tensor z = apply_chain(chain, h);
        if (rn.head) {
            z = apply_affine(*rn.head, z);
            out.pairs.push_back(pair_constants(rn.head->w, out.stem_norm * chain_norm(chain, p), C, p));
        } else {
            out.pairs.push_back(pair_constants(chain.back().w, prefix_norm(chain, p), C, p));
        }
        out.logits.push_back(std::move(z));
    }
    return out;
}

// r* = min_j max(rho_j, cert_j) over experts j other than the chosen i: expert j can be chosen only at
// distance >= rho_j, where its router score can have caught up with the chosen one's; cert_j is expert j's
// own Lipschitz-margin radius. `naive`: cert_i alone (routing held fixed).
double routing_aware_radius(const ExpertPaths& paths, const MoEStage& moe, std::int64_t b, int label, std::int64_t C, Norm p,
                            bool naive) {
    const std::int64_t E = moe.experts_count();
    const double* sb = paths.scores.data() + b * E;
    const std::int64_t i = std::max_element(sb, sb + E) - sb;   // top-1, ties to the lower index
    auto cert = [&](std::int64_t j) {
        const Tensor& pr = paths.pairs[static_cast<std::size_t>(j)];
        return margin_radius(paths.logits[static_cast<std::size_t>(j)].data() + b * C, label, C,
                             [&](std::int64_t a, std::int64_t c) { return pr.at(a, c); });
    };
    const double own = cert(i);
    if (naive || own <= 0.0) return own;
    double r = own;
    for (std::int64_t j = 0; j < E; ++j) {
        if (j == i) continue;
        const double LR = paths.stem_norm * row_diff_dual(moe.router.w, i, j, p);
        const double gap = sb[i] - sb[j];
        const double rho = LR > 0.0 ? gap / LR : (gap > 0.0 ? kInf : 0.0);
        r = std::min(r, std::max(rho, cert(j)));
    }
    return r;
}

}  // namespace

CertifiedRadii certify_lipschitz(const Network& net, const Tensor& x, const std::vector<int>& y, Norm p, bool naive) {
    const std::int64_t B = x.rows(), C = net.classes;
    CertifiedRadii out;
    out.radius.assign(static_cast<std::size_t>(B), std::numeric_limits<double>::quiet_NaN());
    if (!net.has_moe()) {
        const LipschitzUpper u = lipschitz_upper(net, p);
        const Tensor z = network_logits(net, x);
        for (std::int64_t b = 0; b < B; ++b)
            out.radius[static_cast<std::size_t>(b)] = margin_radius(z.data() + b * C, y[static_cast<std::size_t>(b)], C,
                                                                    [&](std::int64_t a, std::int64_t c) { return u.pair.at(a, c); });
        return out;
    }
    const std::optional<RoutedNetwork> rn = routed_network(net);
    if (!rn) {
        out.note = "lipschitz certificate covers top-1 model-level MoEs and one top-1 topk-softmax MoE block; use ibp";
        return out;
    }
    const ExpertPaths paths = expert_paths(*rn, x, C, p);
    for (std::int64_t b = 0; b < B; ++b)
        out.radius[static_cast<std::size_t>(b)] = routing_aware_radius(paths, *rn->moe, b, y[static_cast<std::size_t>(b)], C, p, naive);
    if (naive) out.note = "naive: routing held fixed (unsound for hard routing)";
    return out;
}

}  // namespace moelab
