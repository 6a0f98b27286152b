#include "theory/bounds/route_certificate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "theory/bounds/ibp.hpp"
#include "theory/bounds/route_stability.hpp"

namespace moelab {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kU = std::numeric_limits<double>::epsilon() / 2.0;

bool hard(const MoEStage& m) { return m.gate != GateMode::soft && m.k < m.experts_count(); }

// The selection of one hard router is fixed on the box [lo, hi] of its input (one row): the top-k by the scores at
// the box's centre, S, beats every expert outside it everywhere in the box. The upper bound of
// (s_j - s_i)(h) = (W_j - W_i) h + b_j - b_i over the box is sum_c max(w_c lo_c, w_c hi_c) + b_j - b_i; its
// floating-point error is below gamma_(n+3) times the sum of the magnitudes involved, charged upward.
bool selection_fixed(const MoEStage& m, const double* lo, const double* hi) {
    const std::int64_t E = m.experts_count(), n = m.router.in();
    std::vector<double> centre(static_cast<std::size_t>(E));
    for (std::int64_t e = 0; e < E; ++e) {
        double s = m.router.b.data()[e];
        for (std::int64_t c = 0; c < n; ++c) s += m.router.weight(e, c) * 0.5 * (lo[c] + hi[c]);
        centre[static_cast<std::size_t>(e)] = s;
    }
    std::vector<std::int64_t> order(static_cast<std::size_t>(E));
    for (std::int64_t e = 0; e < E; ++e) order[static_cast<std::size_t>(e)] = e;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::int64_t a, std::int64_t b) { return centre[static_cast<std::size_t>(a)] > centre[static_cast<std::size_t>(b)]; });
    const double gamma = 2.0 * static_cast<double>(n + 4) * kU;
    for (std::int64_t a = 0; a < m.k; ++a)
        for (std::int64_t z = m.k; z < E; ++z) {
            const std::int64_t i = order[static_cast<std::size_t>(a)], j = order[static_cast<std::size_t>(z)];
            double up = m.router.b.data()[j] - m.router.b.data()[i];
            double mag = std::abs(m.router.b.data()[j]) + std::abs(m.router.b.data()[i]);
            for (std::int64_t c = 0; c < n; ++c) {
                const double w = m.router.weight(j, c) - m.router.weight(i, c);
                up += std::max(w * lo[c], w * hi[c]);
                mag += (std::abs(m.router.weight(j, c)) + std::abs(m.router.weight(i, c))) * std::max(std::abs(lo[c]), std::abs(hi[c]));
            }
            if (!(up + gamma * mag * (1.0 + 1e-6) < 0.0)) return false;
        }
    return true;
}

// The box of radius r computed in floating point covers the true ball of radius r - u (|x|_max + r) only; the
// radius reported is lowered by twice that.
double charged(double r, const double* x, std::int64_t d) {
    if (!std::isfinite(r) || r <= 0.0) return r;
    double m = 0.0;
    for (std::int64_t c = 0; c < d; ++c) m = std::max(m, std::abs(x[c]));
    return std::max(0.0, r - 4.0 * kU * (m + r));
}

}  // namespace

std::vector<double> route_stable_radii_ibp(const Network& net, const Tensor& x, Box domain, int iters) {
    const std::size_t B = static_cast<std::size_t>(x.rows());
    const double span = std::isfinite(domain.hi - domain.lo) ? domain.hi - domain.lo : kInf;
    std::vector<double> lo(B, 0.0), hi(B, std::isfinite(span) ? span : 0.125);
    const auto at_zero = routing_fixed_on_boxes(net, x, lo, domain);
    std::vector<std::uint8_t> unbounded(B, 0), growing(B, 0);
    if (std::isfinite(span)) {
        // The whole domain inside the ball: no change is reachable at all.
        const auto everywhere = routing_fixed_on_boxes(net, x, hi, domain);
        for (std::size_t b = 0; b < B; ++b) unbounded[b] = at_zero[b] && everywhere[b];
    } else {
        for (std::size_t b = 0; b < B; ++b) growing[b] = at_zero[b];
        for (int round = 0; round < 30; ++round) {
            if (std::none_of(growing.begin(), growing.end(), [](std::uint8_t g) { return g != 0; })) break;
            const auto ok = routing_fixed_on_boxes(net, x, hi, domain);
            for (std::size_t b = 0; b < B; ++b) {
                if (!growing[b]) continue;
                if (ok[b] && hi[b] < 1e6) { lo[b] = hi[b]; hi[b] *= 2.0; }
                else growing[b] = 0;
            }
        }
    }
    for (int it = 0; it < iters; ++it) {
        std::vector<double> mid(B, 0.0);
        for (std::size_t b = 0; b < B; ++b) mid[b] = at_zero[b] && !unbounded[b] ? 0.5 * (lo[b] + hi[b]) : 0.0;
        const auto ok = routing_fixed_on_boxes(net, x, mid, domain);
        for (std::size_t b = 0; b < B; ++b)
            if (at_zero[b] && !unbounded[b]) (ok[b] ? lo[b] : hi[b]) = mid[b];
    }
    std::vector<double> out(B);
    for (std::size_t b = 0; b < B; ++b)
        out[b] = !at_zero[b] ? 0.0 : unbounded[b] ? kInf : charged(lo[b], x.data() + static_cast<std::int64_t>(b) * x.cols(), x.cols());
    return out;
}

const char* to_string(RouteSource source) {
    switch (source) {
        case RouteSource::no_router: return "no router";
        case RouteSource::soft_routing: return "soft routing";
        case RouteSource::exact_affine: return "exact";
        case RouteSource::ibp_lower_bound: return "IBP lower bound";
    }
    return "?";
}

const char* to_string(RouteClass c) {
    switch (c) {
        case RouteClass::stable: return "route-stable";
        case RouteClass::crossing: return "crossing";
        case RouteClass::not_certified: return "not-certified";
        case RouteClass::no_router: return "no-router";
    }
    return "?";
}

std::vector<std::uint8_t> routing_fixed_on_boxes(const Network& net, const Tensor& x, const std::vector<double>& r, Box domain) {
    const std::size_t B = static_cast<std::size_t>(x.rows());
    std::vector<std::uint8_t> fixed(B, 1);
    const std::vector<LogitBounds> inputs = ibp_moe_input_bounds(net, x, r, domain);
    std::size_t at = 0;
    for (const Stage& s : net.stages) {
        if (s.kind != Stage::Kind::moe) continue;
        const LogitBounds& in = inputs[at++];
        if (!hard(s.moe)) continue;
        const std::int64_t n = in.lo.cols();
        for (std::size_t b = 0; b < B; ++b)
            if (fixed[b] && !selection_fixed(s.moe, in.lo.data() + static_cast<std::int64_t>(b) * n, in.hi.data() + static_cast<std::int64_t>(b) * n))
                fixed[b] = 0;
    }
    return fixed;
}

RouteRadii route_stable_radii(const Network& net, const Tensor& x, Box domain, int iters) {
    RouteRadii out;
    const auto B = static_cast<std::size_t>(x.rows());
    bool any_moe = false, any_hard = false;
    for (const Stage& s : net.stages)
        if (s.kind == Stage::Kind::moe) {
            any_moe = true;
            any_hard = any_hard || hard(s.moe);
        }
    if (!any_moe) {
        out.radius.assign(B, kNaN);
        return out;
    }
    if (!any_hard) {
        out.source = RouteSource::soft_routing;
        out.radius.assign(B, kInf);
        return out;
    }
    if (net.model_level()) {
        out.source = RouteSource::exact_affine;
        const MoEStage& m = net.stages.front().moe;
        for (std::size_t b = 0; b < B; ++b)
            out.radius.push_back(route_stable_radius_linf(m.router, m.k, x.data() + static_cast<std::int64_t>(b) * x.cols(), domain).radius);
        return out;
    }
    out.source = RouteSource::ibp_lower_bound;
    out.radius = route_stable_radii_ibp(net, x, domain, iters);
    return out;
}

RouteClass route_class(double certified, double route_stable, RouteSource source) {
    if (!(certified > 0.0)) return RouteClass::not_certified;
    if (source == RouteSource::no_router) return RouteClass::no_router;
    return certified <= route_stable ? RouteClass::stable : RouteClass::crossing;
}

RouteCounts count_route_classes(const std::vector<double>& certified, const RouteRadii& route) {
    RouteCounts c;
    for (std::size_t i = 0; i < certified.size(); ++i)
        switch (route_class(certified[i], route.radius[i], route.source)) {
            case RouteClass::stable: ++c.stable; break;
            case RouteClass::crossing: ++c.crossing; break;
            case RouteClass::not_certified: ++c.not_certified; break;
            case RouteClass::no_router: ++c.no_router; break;
        }
    return c;
}

std::string describe(const RouteCounts& c) {
    if (c.stable == 0 && c.crossing == 0 && c.no_router > 0)
        return std::to_string(c.no_router) + " certified (no router), " + std::to_string(c.not_certified) + " not certified";
    return std::to_string(c.stable) + " certified & route-stable, " + std::to_string(c.crossing) +
           " certified but crossing a routing boundary, " + std::to_string(c.not_certified) + " not certified";
}

nlohmann::json to_json(const RouteCounts& c) {
    return {{"certified_route_stable", c.stable}, {"certified_crossing", c.crossing},
            {"not_certified", c.not_certified}, {"certified_no_router", c.no_router}};
}

}  // namespace moelab
