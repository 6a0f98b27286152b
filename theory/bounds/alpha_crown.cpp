#include "theory/bounds/alpha_crown.hpp"

#include <algorithm>
#include <cmath>

namespace moelab {

namespace {

// Adam's moments for one parameter vector, ascent, projected onto [0, 1].
struct AdamState {
    std::vector<double> m, v;
    void step(std::vector<double>& p, const std::vector<double>& grad, double lr, int t) {
        if (m.empty()) m.assign(p.size(), 0.0), v.assign(p.size(), 0.0);
        constexpr double b1 = 0.9, b2 = 0.999, eps = 1e-8;
        const double c1 = 1.0 - std::pow(b1, t), c2 = 1.0 - std::pow(b2, t);
        for (std::size_t i = 0; i < p.size(); ++i) {
            if (!std::isfinite(grad[i])) continue;
            m[i] = b1 * m[i] + (1.0 - b1) * grad[i];
            v[i] = b2 * v[i] + (1.0 - b2) * grad[i] * grad[i];
            p[i] = std::clamp(p[i] + lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + eps), 0.0, 1.0);
        }
    }
};

}  // namespace

std::vector<double> alpha_crown_lower(const BoundGraph& g, int node, const std::vector<double>& lam, std::int64_t K,
                                      const AlphaOptions& o) {
    RelaxParams params = g.default_params(node, K);
    std::vector<AdamState> relu_state(params.relu_slope.size());
    AdamState beta_state;
    std::vector<double> cache;
    BoundGraph::BackwardOptions bo;
    bo.params = &params;
    bo.want_gradient = true;
    bo.aggregate_top_product = true;
    bo.product_cache = &cache;
    std::vector<double> best(static_cast<std::size_t>(K), -INFINITY);
    // With a top product, both ways of entering its gates (linear bounds, intervals) are evaluated at every step;
    // each row climbs the gradient of the one that is larger for it.
    const bool two = g.top_product(node) >= 0;
    for (int it = 0; it < std::max(1, o.iterations); ++it) {
        bo.concretize_top_gates = false;
        BackwardResult r = g.lower(node, lam, K, bo);
        if (two) {
            bo.concretize_top_gates = true;
            const BackwardResult c = g.lower(node, lam, K, bo);
            for (std::size_t k = 0; k < best.size(); ++k) {
                if (!(c.lower[k] > r.lower[k])) continue;
                r.lower[k] = c.lower[k];
                for (std::size_t n = 0; n < r.gradient.relu_slope.size(); ++n) {
                    auto& dst = r.gradient.relu_slope[n];
                    const auto& src = c.gradient.relu_slope[n];
                    if (dst.empty() || src.empty()) continue;
                    const std::size_t dim = dst.size() / best.size();
                    std::copy(src.begin() + static_cast<std::ptrdiff_t>(k * dim), src.begin() + static_cast<std::ptrdiff_t>((k + 1) * dim),
                              dst.begin() + static_cast<std::ptrdiff_t>(k * dim));
                }
                auto& db = r.gradient.product_beta;
                const std::size_t T = db.size() / best.size();
                if (!db.empty() && !c.gradient.product_beta.empty())
                    std::copy(c.gradient.product_beta.begin() + static_cast<std::ptrdiff_t>(k * T),
                              c.gradient.product_beta.begin() + static_cast<std::ptrdiff_t>((k + 1) * T), db.begin() + static_cast<std::ptrdiff_t>(k * T));
            }
        }
        bool all_positive = true;
        for (std::size_t k = 0; k < best.size(); ++k) {
            best[k] = std::max(best[k], r.lower[k]);
            all_positive = all_positive && best[k] > 0.0;
        }
        if ((o.stop_when_positive && all_positive) || it + 1 == o.iterations) break;
        // A step size decaying as in auto_LiRPA's default schedule (0.98 per step).
        const double lr = o.step * std::pow(0.98, it);
        for (std::size_t n = 0; n < params.relu_slope.size(); ++n)
            if (!params.relu_slope[n].empty() && !r.gradient.relu_slope[n].empty())
                relu_state[n].step(params.relu_slope[n], r.gradient.relu_slope[n], lr, it + 1);
        if (!params.product_beta.empty() && !r.gradient.product_beta.empty())
            beta_state.step(params.product_beta, r.gradient.product_beta, lr, it + 1);
    }
    return best;
}

}  // namespace moelab
