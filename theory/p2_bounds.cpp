#include "theory/p2_bounds.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "theory/dual.hpp"
#include "theory/lipschitz.hpp"

namespace moelab {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool has_layer_moe(const Network& net) { return net.has_moe() && !net.model_level(); }

// M(z) = z_y - max_{j != y} z_j over one row.
double margin(const double* z, std::int64_t C, int y) {
    double best = -std::numeric_limits<double>::infinity();
    for (std::int64_t j = 0; j < C; ++j)
        if (j != y) best = std::max(best, z[j]);
    return z[y] - best;
}

}  // namespace

P2Constants p2_constants(const Network& net, const Tensor& x, Norm p) {
    P2Constants c;
    const std::int64_t B = x.rows();
    c.expert_bound.assign(static_cast<std::size_t>(B), 0.0);
    if (has_layer_moe(net)) {
        c.note = "P2's bounds are about model-level MoEs (experts are classifiers); layer-level MoE blocks are not covered";
        return c;
    }
    if (!net.model_level()) {
        c.expert_lipschitz = lipschitz_upper(net, p).logits;   // sound: no routing
        return c;
    }
    const MoEStage& m = net.stages[0].moe;
    for (const auto& chain : m.experts) c.expert_lipschitz = std::max(c.expert_lipschitz, chain_norm(chain, p));
    double router_row = 0.0;
    for (std::int64_t i = 0; i < m.router.w.rows(); ++i)
        router_row = std::max(router_row, dual_norm(m.router.w.data() + i * m.router.w.cols(), m.router.w.cols(), p));
    c.router_lipschitz = 2.0 * router_row;
    for (const auto& chain : m.experts) {
        const Tensor f = apply_chain(chain, x);
        for (std::int64_t b = 0; b < B; ++b) {
            double& bound = c.expert_bound[static_cast<std::size_t>(b)];
            for (std::int64_t k = 0; k < f.cols(); ++k) bound = std::max(bound, std::abs(f.at(b, k)));
        }
    }
    return c;
}

std::vector<double> p2_single_radii(const Network& net, const Tensor& x, const std::vector<int>& y, Norm p) {
    const std::int64_t B = x.rows(), C = net.classes;
    std::vector<double> r(static_cast<std::size_t>(B), kNaN);
    const P2Constants c = p2_constants(net, x, p);
    if (!c.note.empty()) return r;
    const Tensor z = network_logits(net, x);
    for (std::int64_t b = 0; b < B; ++b) {
        const auto ub = static_cast<std::size_t>(b);
        const double M = margin(z.data() + b * C, C, y[ub]);
        const double L = c.at(ub);
        r[ub] = M <= 0.0 ? 0.0 : (L > 0.0 ? M / (2.0 * L) : std::numeric_limits<double>::infinity());
    }
    return r;
}

std::vector<double> p2_dual_radii(const Network& standard, const Network& robust, double alpha, const Tensor& x,
                                  const std::vector<int>& y, Norm p) {
    check_alpha(alpha);
    const std::int64_t B = x.rows(), C = standard.classes;
    std::vector<double> r(static_cast<std::size_t>(B), kNaN);
    const P2Constants cs = p2_constants(standard, x, p), cr = p2_constants(robust, x, p);
    if (!cs.note.empty() || !cr.note.empty()) return r;
    const Tensor pd = dual_probabilities(standard, robust, alpha, x);
    for (std::int64_t b = 0; b < B; ++b) {
        const auto ub = static_cast<std::size_t>(b);
        const double M = margin(pd.data() + b * C, C, y[ub]);
        const double L = (1.0 - alpha) * cs.at(ub) + alpha * cr.at(ub);
        r[ub] = M <= 0.0 ? 0.0 : (L > 0.0 ? M / L : std::numeric_limits<double>::infinity());
    }
    return r;
}

}  // namespace moelab
