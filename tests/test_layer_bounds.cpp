// Per-layer CROWN bounds (theory/bounds/layer_bounds.hpp) against the values at random points of the box, against
// interval arithmetic computed here independently (never looser, and strictly tighter somewhere in deeper
// layers), and the lower bounds of linear objectives against their smallest sampled value.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <vector>

#include "engine/rng.hpp"
#include "tests/gradcheck.hpp"
#include "theory/bounds/layer_bounds.hpp"

using namespace moelab;
using moelab::testing::random_tensor;

namespace {

// A ReLU chain in -> widths... with random weights (biases too), seeded.
MapChain random_chain(const std::vector<std::int64_t>& sizes, std::uint64_t seed) {
    MapChain chain;
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
        AffineMap m;
        m.w = random_tensor(Shape{sizes[l + 1], sizes[l]}, seed + 10 * l, -1.0, 1.0);
        m.b = random_tensor(Shape{sizes[l + 1]}, seed + 10 * l + 1, -0.5, 0.5);
        chain.push_back(std::move(m));
    }
    return chain;
}

// Each map's output at x (pre-activations), ReLU between maps.
std::vector<std::vector<double>> forward(const MapChain& chain, std::vector<double> a) {
    std::vector<std::vector<double>> out;
    for (std::size_t l = 0; l < chain.size(); ++l) {
        if (l > 0)
            for (double& v : a) v = std::max(0.0, v);
        const AffineMap& m = chain[l];
        std::vector<double> z(static_cast<std::size_t>(m.out()));
        for (std::int64_t r = 0; r < m.out(); ++r) {
            double s = m.b[r];
            for (std::int64_t c = 0; c < m.in(); ++c) s += m.weight(r, c) * a[static_cast<std::size_t>(c)];
            z[static_cast<std::size_t>(r)] = s;
        }
        out.push_back(z);
        a = z;
    }
    return out;
}

// Interval arithmetic of m over [lo, hi] (plain, no widening: compared with bounds that are widened).
UnitBounds interval(const AffineMap& m, const std::vector<double>& lo, const std::vector<double>& hi) {
    UnitBounds b;
    for (std::int64_t r = 0; r < m.out(); ++r) {
        double l = m.b[r], u = m.b[r];
        for (std::int64_t c = 0; c < m.in(); ++c) {
            const double w = m.weight(r, c);
            l += w * (w >= 0 ? lo[static_cast<std::size_t>(c)] : hi[static_cast<std::size_t>(c)]);
            u += w * (w >= 0 ? hi[static_cast<std::size_t>(c)] : lo[static_cast<std::size_t>(c)]);
        }
        b.lo.push_back(l);
        b.hi.push_back(u);
    }
    return b;
}

struct Case {
    MapChain chain;
    std::vector<double> x, lo, hi;
};

Case make_case(std::uint64_t seed, double r) {
    Case k{random_chain({5, 12, 10, 4}, seed), {}, {}, {}};
    const Tensor x = random_tensor(Shape{5}, seed + 99, -1.0, 1.0);
    for (std::int64_t i = 0; i < 5; ++i) {
        k.x.push_back(x[i]);
        k.lo.push_back(x[i] - r);
        k.hi.push_back(x[i] + r);
    }
    return k;
}

// CROWN's bounds per layer, fed interval bounds of each map over the previous layer's CROWN bounds.
std::vector<UnitBounds> crown_bounds(const Case& k, LayerBounds& lb) {
    std::vector<UnitBounds> out;
    std::vector<double> lo = k.lo, hi = k.hi;
    for (std::size_t l = 0; l < k.chain.size(); ++l) {
        if (l > 0) {
            lb.relu();
            for (double& v : lo) v = std::max(0.0, v);
            for (double& v : hi) v = std::max(0.0, v);
        }
        out.push_back(lb.append(k.chain[l], interval(k.chain[l], lo, hi)));
        lo = out.back().lo;
        hi = out.back().hi;
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(layer_bounds)

BOOST_AUTO_TEST_CASE(crown_layer_bounds_contain_sampled_values_and_beat_interval_arithmetic) {
    double crown_width = 0.0, interval_width = 0.0;
    for (std::uint64_t seed : {1, 2, 3, 4}) {
        const Case k = make_case(seed, 0.3);
        LayerBounds lb(k.lo, k.hi);
        const std::vector<UnitBounds> crown = crown_bounds(k, lb);
        // Plain interval arithmetic from the box, layer after layer.
        std::vector<UnitBounds> ibp;
        std::vector<double> lo = k.lo, hi = k.hi;
        for (std::size_t l = 0; l < k.chain.size(); ++l) {
            if (l > 0) {
                for (double& v : lo) v = std::max(0.0, v);
                for (double& v : hi) v = std::max(0.0, v);
            }
            ibp.push_back(interval(k.chain[l], lo, hi));
            lo = ibp.back().lo;
            hi = ibp.back().hi;
        }
        for (std::size_t l = 0; l < crown.size(); ++l)
            for (std::size_t u = 0; u < crown[l].lo.size(); ++u) {
                BOOST_TEST(crown[l].lo[u] >= ibp[l].lo[u] - 1e-9 * (1.0 + std::abs(ibp[l].lo[u])));
                BOOST_TEST(crown[l].hi[u] <= ibp[l].hi[u] + 1e-9 * (1.0 + std::abs(ibp[l].hi[u])));
                if (l > 0) {
                    crown_width += crown[l].hi[u] - crown[l].lo[u];
                    interval_width += ibp[l].hi[u] - ibp[l].lo[u];
                }
            }
        const Rng rng(seed);
        for (std::uint64_t p = 0; p < 2000; ++p) {
            std::vector<double> pt(k.x.size());
            for (std::size_t i = 0; i < pt.size(); ++i) {
                const double t = rng.split(p).uniform(i);
                // Half the points on the box's corners, where the extremes of a ReLU net tend to be.
                pt[i] = p % 2 ? k.lo[i] + t * (k.hi[i] - k.lo[i]) : (t < 0.5 ? k.lo[i] : k.hi[i]);
            }
            const auto z = forward(k.chain, pt);
            for (std::size_t l = 0; l < z.size(); ++l)
                for (std::size_t u = 0; u < z[l].size(); ++u) {
                    BOOST_TEST(z[l][u] >= crown[l].lo[u], "layer " << l << " unit " << u << " seed " << seed);
                    BOOST_TEST(z[l][u] <= crown[l].hi[u], "layer " << l << " unit " << u << " seed " << seed);
                }
        }
    }
    // CROWN's relaxation carried back through the ReLUs is far tighter than intervals past the first layer.
    BOOST_TEST(crown_width < 0.9 * interval_width, "CROWN widths " << crown_width << " vs interval " << interval_width);
}

BOOST_AUTO_TEST_CASE(crown_lower_bounds_of_logit_differences_lie_below_every_sampled_value) {
    for (std::uint64_t seed : {5, 6, 7}) {
        const Case k = make_case(seed, 0.2);
        LayerBounds lb(k.lo, k.hi);
        crown_bounds(k, lb);
        std::vector<std::vector<double>> objectives;
        for (std::size_t j = 1; j < 4; ++j) {
            std::vector<double> c(4, 0.0);
            c[j] = 1.0;
            c[0] = -1.0;
            objectives.push_back(c);
        }
        const std::vector<double> lower = lb.lower(objectives);
        std::vector<double> smallest(objectives.size(), 1e300);
        const Rng rng(seed);
        for (std::uint64_t p = 0; p < 3000; ++p) {
            std::vector<double> pt(k.x.size());
            for (std::size_t i = 0; i < pt.size(); ++i) pt[i] = k.lo[i] + rng.split(p).uniform(i) * (k.hi[i] - k.lo[i]);
            const auto z = forward(k.chain, pt).back();
            for (std::size_t o = 0; o < objectives.size(); ++o) smallest[o] = std::min(smallest[o], z[o + 1] - z[0]);
        }
        for (std::size_t o = 0; o < objectives.size(); ++o) {
            BOOST_TEST(lower[o] <= smallest[o], "seed " << seed << " objective " << o);
            // Not vacuous: within a few units of the sampled minimum on these small boxes.
            BOOST_TEST(lower[o] >= smallest[o] - 5.0, "seed " << seed << " objective " << o << ": " << lower[o] << " vs " << smallest[o]);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
