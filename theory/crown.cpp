#include "theory/crown.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "engine/parallel.hpp"

namespace moelab {

namespace {

struct Layer {
    const LinearMap* map;
    bool relu_after;
};
using Plan = std::vector<Layer>;

// A top-1 MoE block whose gate is exactly 1 (top-1 with topk-softmax gates, or one expert) computes its
// chosen expert's chain: with the choice fixed the network is a plain ReLU network.
bool gate_is_one(const MoEStage& m) { return m.k == 1 && (m.gate == GateMode::topk_then_softmax || m.experts_count() == 1); }

// The maps of a layer-level network in order, with where a ReLU follows (Classifier::forward's structure:
// relu(stem), blocks with ReLU inside and between them, no ReLU before the head), MoE block b replaced by
// its expert choice[b]. Only the first `blocks` blocks (all by default), and the head only with all of them.
Plan plan_of(const Network& net, const std::vector<std::int64_t>& choice = {}, std::size_t blocks = SIZE_MAX) {
    Plan p;
    p.push_back({&net.stem, true});
    const std::size_t n = std::min(blocks, net.blocks.size());
    for (std::size_t b = 0; b < n; ++b) {
        const Block& blk = net.blocks[b];
        const MapChain& c = blk.is_moe ? blk.moe.experts[static_cast<std::size_t>(choice[b])] : blk.ffn;
        for (std::size_t i = 0; i < c.size(); ++i) {
            const bool last_of_block = i + 1 == c.size();
            const bool last_block = b + 1 == net.blocks.size();
            p.push_back({&c[i], !last_of_block || !last_block});
        }
    }
    if (n == net.blocks.size()) p.push_back({&net.head, false});
    return p;
}

Plan plan_of_chain(const MapChain& c) {
    Plan p;
    for (std::size_t i = 0; i < c.size(); ++i) p.push_back({&c[i], i + 1 < c.size()});
    return p;
}

// Interval bounds of m's output over the box [lo, hi] (centre and radius form, widened by a relative 1e-12
// for the rounding of these sums).
std::pair<std::vector<double>, std::vector<double>> map_bounds(const LinearMap& m, const std::vector<double>& lo,
                                                               const std::vector<double>& hi) {
    const std::int64_t n = m.in(), o = m.out();
    std::vector<double> l(static_cast<std::size_t>(o)), u(static_cast<std::size_t>(o));
    for (std::int64_t r = 0; r < o; ++r) {
        double c = m.b[r], rad = 0.0;
        for (std::int64_t i = 0; i < n; ++i) {
            const double w = m.w.at(r, i);
            c += w * 0.5 * (lo[static_cast<std::size_t>(i)] + hi[static_cast<std::size_t>(i)]);
            rad += std::abs(w) * 0.5 * (hi[static_cast<std::size_t>(i)] - lo[static_cast<std::size_t>(i)]);
        }
        const double slack = 1e-12 * (std::abs(c) + rad);
        l[static_cast<std::size_t>(r)] = c - rad - slack;
        u[static_cast<std::size_t>(r)] = c + rad + slack;
    }
    return {std::move(l), std::move(u)};
}

// The experts of `m` that can win the top-1 routing somewhere in the box of its input: those whose score
// can reach the largest lower bound of any score.
std::vector<std::int64_t> reachable_experts(const MoEStage& m, const std::vector<double>& lo, const std::vector<double>& hi) {
    const auto [slo, shi] = map_bounds(m.router, lo, hi);
    const double best_low = *std::max_element(slo.begin(), slo.end());
    std::vector<std::int64_t> out;
    for (std::int64_t e = 0; e < m.experts_count(); ++e)
        if (shi[static_cast<std::size_t>(e)] >= best_low) out.push_back(e);
    return out;
}

// Interval bounds of each layer's output (pre-activation), over the input box [lo, hi].
std::vector<std::pair<std::vector<double>, std::vector<double>>> preactivation_bounds(
    const Plan& plan, std::vector<double> lo, std::vector<double> hi) {
    std::vector<std::pair<std::vector<double>, std::vector<double>>> out;
    for (const Layer& layer : plan) {
        auto [l, u] = map_bounds(*layer.map, lo, hi);
        out.emplace_back(l, u);
        if (layer.relu_after) {
            for (auto& v : l) v = std::max(0.0, v);
            for (auto& v : u) v = std::max(0.0, v);
        }
        lo = std::move(l);
        hi = std::move(u);
    }
    return out;
}

// min over the box of c^T (network output), for each objective row c in `objectives` ([K, out]).
std::vector<double> backward_lower(const Plan& plan, const std::vector<std::vector<double>>& objectives,
                                   const std::vector<double>& xlo, const std::vector<double>& xhi) {
    const auto bounds = preactivation_bounds(plan, xlo, xhi);
    std::vector<double> result;
    for (const auto& c : objectives) {
        std::vector<double> lam = c;   // over the output of the current layer (pre-activation)
        double constant = 0.0;
        for (std::size_t li = plan.size(); li-- > 0;) {
            const LinearMap& m = *plan[li].map;
            // Through the affine map: lam . (W a + b) = (lam W) . a + lam . b
            const std::int64_t n = m.in(), o = m.out();
            std::vector<double> next(static_cast<std::size_t>(n), 0.0);
            for (std::int64_t r = 0; r < o; ++r) {
                const double lr = lam[static_cast<std::size_t>(r)];
                if (lr == 0.0) continue;
                constant += lr * m.b[r];
                const double* w = m.w.data() + r * n;
                for (std::int64_t i = 0; i < n; ++i) next[static_cast<std::size_t>(i)] += lr * w[i];
            }
            lam = std::move(next);
            if (li == 0) break;
            // Through the ReLU that follows layer li - 1 (if any), using that layer's pre-activation bounds.
            if (!plan[li - 1].relu_after) continue;
            const auto& [l, u] = bounds[li - 1];
            for (std::size_t k = 0; k < lam.size(); ++k) {
                const double lo = l[k], hi = u[k], a = lam[k];
                if (hi <= 0.0) {
                    lam[k] = 0.0;
                } else if (lo >= 0.0) {
                    // identity
                } else if (a >= 0.0) {
                    lam[k] = hi >= -lo ? a : 0.0;   // lower line alpha z
                } else {
                    const double s = hi / (hi - lo);   // upper line s (z - lo)
                    lam[k] = a * s;
                    constant += -a * s * lo;
                }
            }
        }
        double v = constant;
        for (std::size_t i = 0; i < lam.size(); ++i) v += lam[i] * (lam[i] >= 0.0 ? xlo[i] : xhi[i]);
        v -= 1e-12 * (std::abs(v) + 1.0);
        result.push_back(v);
    }
    return result;
}

// Every combination of experts (one per MoE block) that interval bounds cannot rule out inside the box
// [xlo, xhi], each as the plain ReLU network it makes. A point's own routing is always among them: its
// block-b expert wins the scores at its block-b input, which lies in the bounds computed along its own
// earlier choices. False when there would be more than kMaxCells (then nothing is certified).
constexpr std::size_t kMaxCells = 256;
bool reachable_plans(const Network& net, const std::vector<double>& xlo, const std::vector<double>& xhi, std::size_t b,
                     std::vector<std::int64_t>& choice, std::vector<Plan>& out) {
    while (b < net.blocks.size() && !net.blocks[b].is_moe) ++b;
    if (b == net.blocks.size()) {
        if (out.size() == kMaxCells) return false;
        out.push_back(plan_of(net, choice));
        return true;
    }
    // The block's input: after the ReLU that follows the stem or the previous block.
    const auto bounds = preactivation_bounds(plan_of(net, choice, b), xlo, xhi);
    std::vector<double> lo = bounds.back().first, hi = bounds.back().second;
    for (auto& v : lo) v = std::max(0.0, v);
    for (auto& v : hi) v = std::max(0.0, v);
    for (std::int64_t e : reachable_experts(net.blocks[b].moe, lo, hi)) {
        choice[b] = e;
        if (!reachable_plans(net, xlo, xhi, b + 1, choice, out)) return false;
    }
    return true;
}

std::vector<std::vector<double>> margin_objectives(std::int64_t C, int y) {
    std::vector<std::vector<double>> obj;
    for (std::int64_t j = 0; j < C; ++j) {
        if (j == y) continue;
        std::vector<double> c(static_cast<std::size_t>(C), 0.0);
        c[static_cast<std::size_t>(y)] = 1.0;
        c[static_cast<std::size_t>(j)] = -1.0;
        obj.push_back(std::move(c));
    }
    return obj;
}

}  // namespace

std::string crown_support(const Network& net) {
    if (net.model_level) return net.top.k == 1 ? "" : "crown covers top-1 model-level MoEs; use ibp for top-k > 1";
    for (const auto& b : net.blocks)
        if (b.is_moe && !gate_is_one(b.moe))
            return "crown passes through a layer-level MoE block only when it routes top-1 with gate 1 "
                   "(--top-k 1 --gate topk-softmax); use ibp";
    return "";
}

std::vector<double> crown_margin_lower(const Network& net, const double* x, int y, double r, Box domain) {
    const std::int64_t d = net.input_dim, C = net.classes;
    std::vector<double> xlo(static_cast<std::size_t>(d)), xhi(static_cast<std::size_t>(d));
    for (std::int64_t i = 0; i < d; ++i) {
        xlo[static_cast<std::size_t>(i)] = std::max(x[i] - r, domain.lo);
        xhi[static_cast<std::size_t>(i)] = std::min(x[i] + r, domain.hi);
    }
    std::vector<double> lower(static_cast<std::size_t>(C), 0.0);
    const auto objectives = margin_objectives(C, y);
    auto scatter = [&](const std::vector<double>& v, std::vector<double>& into) {
        std::size_t t = 0;
        for (std::int64_t j = 0; j < C; ++j)
            if (j != y) into[static_cast<std::size_t>(j)] = std::min(into[static_cast<std::size_t>(j)], v[t++]);
    };
    std::fill(lower.begin(), lower.end(), std::numeric_limits<double>::infinity());
    if (!net.model_level) {
        // Every routing the box allows (one plan without MoE blocks) must keep y.
        std::vector<Plan> plans;
        std::vector<std::int64_t> choice(net.blocks.size(), 0);
        if (!reachable_plans(net, xlo, xhi, 0, choice, plans)) std::fill(lower.begin(), lower.end(), -std::numeric_limits<double>::infinity());
        else
            for (const Plan& plan : plans) scatter(backward_lower(plan, objectives, xlo, xhi), lower);
    } else {
        // Top-1 model-level MoE: every expert that can win the routing somewhere in the box must keep y.
        for (std::int64_t e : reachable_experts(net.top, xlo, xhi))
            scatter(backward_lower(plan_of_chain(net.top.experts[static_cast<std::size_t>(e)]), objectives, xlo, xhi), lower);
    }
    lower[static_cast<std::size_t>(y)] = 0.0;
    return lower;
}

std::vector<double> crown_certified_radii(const Network& net, const Tensor& x, const std::vector<int>& y, Box domain,
                                          int iters) {
    const std::int64_t B = x.rows(), d = x.cols();
    std::vector<double> out(static_cast<std::size_t>(B), std::numeric_limits<double>::quiet_NaN());
    if (!crown_support(net).empty()) return out;
    parallel_for(B, 1, [&](std::int64_t b) {
        const double* xb = x.data() + b * d;
        const int yb = y[static_cast<std::size_t>(b)];
        auto certified = [&](double r) {
            const auto low = crown_margin_lower(net, xb, yb, r, domain);
            for (std::int64_t j = 0; j < net.classes; ++j)
                if (j != yb && !(low[static_cast<std::size_t>(j)] > 0.0)) return false;
            return true;
        };
        double lo = 0.0, hi = 0.125;
        if (!certified(0.0)) {
            out[static_cast<std::size_t>(b)] = 0.0;
            return;
        }
        while (certified(hi) && hi < 1e6) {
            lo = hi;
            hi *= 2.0;
        }
        for (int i = 0; i < iters; ++i) {
            const double mid = 0.5 * (lo + hi);
            (certified(mid) ? lo : hi) = mid;
        }
        out[static_cast<std::size_t>(b)] = lo;
    });
    return out;
}

}  // namespace moelab
