#include "theory/bounds/crown.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "engine/parallel.hpp"

namespace moelab {

namespace {

struct Step {
    const AffineMap* map;
    bool relu_after;
};
using Plan = std::vector<Step>;

// A top-1 MoE block whose gate is exactly 1 (top-1 with topk-softmax gates, or one expert) computes its
// chosen expert's chain: with the choice fixed the network is a plain ReLU network.
bool gate_is_one(const MoEStage& m) { return m.k == 1 && (m.gate == GateMode::topk_then_softmax || m.experts_count() == 1); }

// The affine maps of the first `end` stages in order, with where a ReLU follows, MoE stage k replaced by its
// expert choice[k].
Plan plan_of(const Network& net, const std::vector<std::int64_t>& choice, std::size_t end) {
    Plan p;
    std::size_t k = 0;
    const auto push_chain = [&](const MapChain& c) {
        for (std::size_t i = 0; i < c.size(); ++i) {
            if (i > 0) p.back().relu_after = true;
            p.push_back({&c[i], false});
        }
    };
    for (std::size_t i = 0; i < end; ++i) {
        const Stage& s = net.stages[i];
        switch (s.kind) {
            case Stage::Kind::affine: p.push_back({&s.map, false}); break;
            case Stage::Kind::relu: if (!p.empty()) p.back().relu_after = true; break;
            case Stage::Kind::chain: push_chain(s.chain); break;
            case Stage::Kind::moe: push_chain(s.moe.experts[static_cast<std::size_t>(choice[k++])]); break;
        }
    }
    return p;
}

// Interval bounds of m's output over the box [lo, hi] (centre and radius form, widened by a relative 1e-12
// for the rounding of these sums).
std::pair<std::vector<double>, std::vector<double>> map_bounds(const AffineMap& m, const std::vector<double>& lo,
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
    for (const Step& layer : plan) {
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
            const AffineMap& m = *plan[li].map;
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

// Every combination of experts (one per MoE stage) that interval bounds cannot rule out inside the box
// [xlo, xhi], each as the plain ReLU network it makes. A point's own routing is always among them: its
// stage-k expert wins the scores at its stage-k input, which lies in the bounds computed along its own
// earlier choices. False when there would be more than `max_cells` (then nothing is certified).
constexpr std::size_t kMaxCells = 256;
bool reachable_plans(const Network& net, const std::vector<double>& xlo, const std::vector<double>& xhi, std::size_t stage,
                     std::size_t max_cells, std::vector<std::int64_t>& choice, std::vector<Plan>& out) {
    while (stage < net.stages.size() && net.stages[stage].kind != Stage::Kind::moe) ++stage;
    if (stage == net.stages.size()) {
        if (out.size() == max_cells) return false;
        out.push_back(plan_of(net, choice, stage));
        return true;
    }
    // The MoE stage's input: the box itself, or the bounds of the maps before it (after their ReLU).
    std::vector<double> lo = xlo, hi = xhi;
    const Plan before = plan_of(net, choice, stage);
    if (!before.empty()) {
        const auto bounds = preactivation_bounds(before, xlo, xhi);
        lo = bounds.back().first;
        hi = bounds.back().second;
        if (before.back().relu_after) {
            for (auto& v : lo) v = std::max(0.0, v);
            for (auto& v : hi) v = std::max(0.0, v);
        }
    }
    for (std::int64_t e : reachable_experts(net.stages[stage].moe, lo, hi)) {
        choice.push_back(e);
        const bool ok = reachable_plans(net, xlo, xhi, stage + 1, max_cells, choice, out);
        choice.pop_back();
        if (!ok) return false;
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
    for (std::size_t i = 0; i < net.stages.size(); ++i) {
        const Stage& s = net.stages[i];
        if (s.kind != Stage::Kind::moe) continue;
        // An MoE ending the network only scales its expert's logits by a positive gate; one inside it must
        // pass its expert's output on unscaled.
        if (i + 1 == net.stages.size() && s.moe.k != 1) return "crown covers top-1 model-level MoEs; use ibp for top-k > 1";
        if (i + 1 < net.stages.size() && !gate_is_one(s.moe))
            return "crown passes through a layer-level MoE block only when it routes top-1 with gate 1 "
                   "(top_k 1, gate topk-softmax); use ibp";
    }
    return "";
}

std::vector<double> crown_margin_lower(const Network& net, const double* x, int y, double r, Box domain) {
    const std::int64_t d = net.input_dim, C = net.classes;
    std::vector<double> xlo(static_cast<std::size_t>(d)), xhi(static_cast<std::size_t>(d));
    for (std::int64_t i = 0; i < d; ++i) {
        xlo[static_cast<std::size_t>(i)] = std::max(x[i] - r, domain.lo);
        xhi[static_cast<std::size_t>(i)] = std::min(x[i] + r, domain.hi);
    }
    std::vector<double> lower(static_cast<std::size_t>(C), std::numeric_limits<double>::infinity());
    // Every routing the box allows (one plan without MoE) must keep y. A model-level MoE's cells are its
    // experts, one backward pass each: not capped.
    std::vector<Plan> plans;
    std::vector<std::int64_t> choice;
    const std::size_t max_cells = net.model_level() ? SIZE_MAX : kMaxCells;
    if (!reachable_plans(net, xlo, xhi, 0, max_cells, choice, plans)) {
        std::fill(lower.begin(), lower.end(), -std::numeric_limits<double>::infinity());
    } else {
        const auto objectives = margin_objectives(C, y);
        for (const Plan& plan : plans) {
            const std::vector<double> v = backward_lower(plan, objectives, xlo, xhi);
            std::size_t t = 0;
            for (std::int64_t j = 0; j < C; ++j)
                if (j != y) lower[static_cast<std::size_t>(j)] = std::min(lower[static_cast<std::size_t>(j)], v[t++]);
        }
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
