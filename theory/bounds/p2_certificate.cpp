#include "theory/bounds/p2_certificate.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "theory/network/finite_guard.hpp"
#include "theory/network/float_error.hpp"
#include "theory/bounds/route_stability.hpp"

namespace moelab {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kU = std::numeric_limits<double>::epsilon() / 2.0;

void validate(const Network& net, const Tensor& x, const std::vector<int>& y, const P2Options& o) {
    require_finite_network(net);   // theory/network/finite_guard.hpp: no certificate for non-finite weights
    if (static_cast<std::int64_t>(y.size()) != x.rows()) throw std::invalid_argument("p2: one label per row expected");
    for (std::int64_t i = 0; i < x.numel(); ++i)
        if (!(x.data()[i] >= o.domain.lo && x.data()[i] <= o.domain.hi))
            throw std::invalid_argument("p2: input value " + std::to_string(x.data()[i]) + " is not finite or outside the domain");
    if (o.output == P2Output::logits && !(std::isfinite(o.logit_bound) && o.logit_bound > 0.0))
        throw std::invalid_argument("p2: logit_bound: a finite bound M > 0 on the experts' logits is required with raw logits");
}

// Upper bounds, rounded upward, of ||W_i - W_j||_1 for every pair of router rows.
std::vector<double> router_pair_norms(const AffineMap& router) {
    const std::int64_t E = router.out(), d = router.in();
    std::vector<double> q(static_cast<std::size_t>(E * E), 0.0);
    for (std::int64_t i = 0; i < E; ++i)
        for (std::int64_t j = 0; j < E; ++j) {
            double s = 0.0;
            for (std::int64_t c = 0; c < d; ++c) s = add_up(s, std::abs(router.w.at(i, c) - router.w.at(j, c)) * (1.0 + 2.0 * kU));
            q[static_cast<std::size_t>(i * E + j)] = s;
        }
    return q;
}

// The routing at one row: which experts carry weight inside the ball, their weights (with error bounds) and
// the weights' Lipschitz constants r_i. Softmax weights a_i = softmax(s over `pool`)_i satisfy
// |a_i(x') - a_i(x)| <= a_i (1 - a_i) max_{j in pool} |(s_i - s_j)(x') - (s_i - s_j)(x)| <= (1/4) max_j ||W_i - W_j||_1 ||x' - x||_inf.
struct RowRouting {
    std::vector<std::int64_t> active;
    BoundedValues weight;          // per active expert
    std::vector<double> lipschitz; // r_i per active expert
};

RowRouting route_row(const MoEStage& m, const std::vector<double>& pair_norm, const double* x) {
    const std::int64_t E = m.experts_count();
    const BoundedValues s = chain_with_error(MapChain{m.router}, x);
    RowRouting r;
    std::vector<std::int64_t> pool;
    if (m.gate == GateMode::soft) {
        for (std::int64_t e = 0; e < E; ++e) r.active.push_back(e);
        pool = r.active;
    } else {
        r.active = selected_experts(m.router, m.k, x);
        std::sort(r.active.begin(), r.active.end());
        if (m.gate == GateMode::topk_then_softmax) pool = r.active;
        else for (std::int64_t e = 0; e < E; ++e) pool.push_back(e);
    }
    BoundedValues pooled;
    for (std::int64_t e : pool) {
        pooled.value.push_back(s.value[static_cast<std::size_t>(e)]);
        pooled.error.push_back(s.error[static_cast<std::size_t>(e)]);
    }
    const BoundedValues p = softmax_with_error(pooled);
    for (std::int64_t i : r.active) {
        const auto at = static_cast<std::size_t>(std::find(pool.begin(), pool.end(), i) - pool.begin());
        r.weight.value.push_back(p.value[at]);
        r.weight.error.push_back(p.error[at]);
        double q = 0.0;
        for (std::int64_t j : pool) q = std::max(q, pair_norm[static_cast<std::size_t>(i * E + j)]);
        r.lipschitz.push_back(0.25 * q);
    }
    return r;
}

// The lowest value margin(x) = min_{j != y} F_y - F_j can have given F's computed values and error bounds.
double margin_lower(const BoundedValues& F, int y) {
    double low = kInf;
    for (std::size_t j = 0; j < F.value.size(); ++j) {
        if (static_cast<int>(j) == y) continue;
        const double gap = F.value[static_cast<std::size_t>(y)] - F.value[j];
        const double err = (F.error[static_cast<std::size_t>(y)] + F.error[j]) * (1.0 + 4.0 * kU) + std::abs(gap) * kU;
        low = std::min(low, std::nextafter(gap - err, -kInf));
    }
    return low;
}

P2Radius row_radius(const MoEStage& m, const std::vector<double>& pair_norm, const std::vector<double>& expert_l,
                    const double* x, int y, const P2Options& o) {
    const RowRouting r = route_row(m, pair_norm, x);
    const bool probabilities = o.output == P2Output::probabilities;
    const double M = probabilities ? 1.0 : o.logit_bound;
    BoundedValues F;
    double D = 0.0;
    for (std::size_t a = 0; a < r.active.size(); ++a) {
        const std::int64_t i = r.active[a];
        BoundedValues f = chain_with_error(m.experts[static_cast<std::size_t>(i)], x);
        if (probabilities) f = softmax_with_error(f);
        if (F.value.empty()) { F.value.assign(f.value.size(), 0.0); F.error.assign(f.value.size(), 0.0); }
        const double w = r.weight.value[a], ew = r.weight.error[a];
        for (std::size_t c = 0; c < f.value.size(); ++c) {
            F.value[c] += w * f.value[c];
            F.error[c] += (ew * (std::abs(f.value[c]) + f.error[c]) + w * f.error[c] +
                           4.0 * static_cast<double>(r.active.size() + 1) * kU * std::abs(w * f.value[c])) * (1.0 + 4.0 * kU);
        }
        const double l = probabilities ? 0.5 * expert_l[static_cast<std::size_t>(i)] : expert_l[static_cast<std::size_t>(i)];
        const double w_up = std::min(1.0, add_up(w, ew));
        D = add_up(D, add_up(mul_up(r.lipschitz[a], M), mul_up(w_up, l)));
    }
    P2Radius out;
    out.margin = margin_lower(F, y);
    out.denominator = D;
    const bool certified = out.margin > 0.0;
    out.printed = !certified ? 0.0 : D > 0.0 ? div_down(out.margin, D) : kInf;
    out.sound = !certified ? 0.0 : D > 0.0 ? div_down(out.margin, 2.0 * D) : kInf;
    out.printed_status = out.sound_status = RadiusStatus::formal;
    if (m.gate != GateMode::soft) {
        out.route_stable = route_stable_radius_linf(m.router, m.k, x, o.domain).radius;
        out.cut_by_route = out.route_stable < out.sound;
        out.printed = std::min(out.printed, out.route_stable);
        out.sound = std::min(out.sound, out.route_stable);
        if (m.gate == GateMode::softmax_then_topk) {
            out.printed_status = RadiusStatus::not_applicable;
            out.note = "softmax-then-top-k gates do not sum to 1 (Theorem 5.4 assumes normalised weights)";
        }
        if (out.route_stable == 0.0) {
            out.printed_status = out.sound_status = RadiusStatus::not_applicable;
            out.note = "a routing tie is reachable at x (route-stable radius 0)";
        }
    }
    if (!probabilities) {
        out.printed_status = out.sound_status = RadiusStatus::diagnostic;
        out.note = "raw logits: the bound M on the experts' logits is stated, not proven";
    }
    return out;
}

}  // namespace

const char* to_string(RadiusStatus status) {
    switch (status) {
        case RadiusStatus::formal: return "formal";
        case RadiusStatus::not_applicable: return "not-applicable";
        case RadiusStatus::diagnostic: return "diagnostic";
    }
    return "?";
}

std::vector<P2Radius> p2_equation8_radii(const Network& net, const Tensor& x, const std::vector<int>& y,
                                         const P2Options& options) {
    const auto B = static_cast<std::size_t>(x.rows());
    if (!net.model_level()) {
        P2Radius none;
        none.note = "Equation (8) is about model-level MoEs (experts are whole classifiers, the router reads the input)";
        return std::vector<P2Radius>(B, none);
    }
    validate(net, x, y, options);
    const MoEStage& m = net.stages.front().moe;
    const std::vector<double> pair_norm = router_pair_norms(m.router);
    std::vector<double> expert_l;
    for (const auto& chain : m.experts) expert_l.push_back(chain_linf_norm_upper(chain));
    std::vector<P2Radius> out(B);
    for (std::size_t b = 0; b < B; ++b)
        out[b] = row_radius(m, pair_norm, expert_l, x.data() + static_cast<std::int64_t>(b) * x.cols(), y[b], options);
    return out;
}

}  // namespace moelab
