// P2's Equation (8) (theory/bounds/p2_certificate.hpp) against a hand computation and against brute-force minimal
// distances; the route-stable radius (theory/bounds/route_stability.hpp) against a vertex search and its closed form.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "tests/gradcheck.hpp"
#include "theory/network/network.hpp"
#include "theory/bounds/p2_certificate.hpp"
#include "theory/bounds/route_stability.hpp"

using namespace moelab;
using moelab::testing::random_tensor;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

AffineMap affine_map(std::int64_t out, std::int64_t in, std::vector<double> w, std::vector<double> b) {
    return AffineMap{Tensor(Shape{out, in}, std::move(w)), Tensor(Shape{out}, std::move(b))};
}

// The top-k set at x' differs from `chosen` (ties to the lower index), evaluated in double.
bool routing_differs(const AffineMap& router, std::int64_t k, const std::vector<double>& x, const std::vector<std::int64_t>& chosen) {
    std::vector<std::int64_t> now = selected_experts(router, k, x.data());
    std::vector<std::int64_t> was = chosen;
    std::sort(now.begin(), now.end());
    std::sort(was.begin(), was.end());
    return now != was;
}

// Independent route-stability search: a linear score difference is largest on box ∩ ball at a vertex, so the
// routing changes within radius t iff it differs at one of the 2^d vertices; bisection on t.
double route_radius_by_vertices(const AffineMap& router, std::int64_t k, const std::vector<double>& x, Box box) {
    const std::int64_t d = router.in();
    const std::vector<std::int64_t> chosen = selected_experts(router, k, x.data());
    auto changes_within = [&](double t) {
        for (std::int64_t v = 0; v < (std::int64_t{1} << d); ++v) {
            std::vector<double> p(x);
            for (std::int64_t c = 0; c < d; ++c)
                p[static_cast<std::size_t>(c)] = (v >> c) & 1 ? std::min(box.hi, x[static_cast<std::size_t>(c)] + t)
                                                             : std::max(box.lo, x[static_cast<std::size_t>(c)] - t);
            if (routing_differs(router, k, p, chosen)) return true;
        }
        return false;
    };
    const double far = box.hi - box.lo;
    if (!changes_within(far)) return kInf;
    double lo = 0.0, hi = far;
    for (int it = 0; it < 200 && hi - lo > 1e-15; ++it) {
        const double mid = 0.5 * (lo + hi);
        (changes_within(mid) ? hi : lo) = mid;
    }
    return hi;
}

ModelConfig tiny_moe_model(std::int64_t E, std::int64_t k, GateMode gate, std::uint64_t seed) {
    ModelConfig c;
    c.kind = ModelKind::moe_model;
    c.input_dim = 2;
    c.classes = 3;
    c.hidden = 4;
    c.experts = E;
    c.top_k = k;
    c.gate = gate;
    c.seed = seed;
    return c;
}

// P2's F(x) = sum_i a_i(x) softmax(f_i(x)) on rows of x, with the model's routing (soft or hard top-k).
Tensor probability_mixture(const Network& net, const Tensor& x) {
    const MoEStage& m = net.stages.front().moe;
    const Tensor s = apply_chain(MapChain{m.router}, x);
    std::vector<Tensor> z;
    for (const auto& chain : m.experts) z.push_back(apply_chain(chain, x));
    const std::int64_t B = x.rows(), E = m.experts_count(), C = z.front().cols();
    Tensor F(Shape{B, C});
    for (std::int64_t b = 0; b < B; ++b) {
        std::vector<std::int64_t> pool;
        if (m.gate == GateMode::soft) for (std::int64_t e = 0; e < E; ++e) pool.push_back(e);
        else pool = selected_experts(m.router, m.k, x.data() + b * x.cols());
        double mx = -kInf, sum = 0.0;
        for (std::int64_t e : pool) mx = std::max(mx, s.at(b, e));
        for (std::int64_t e : pool) sum += std::exp(s.at(b, e) - mx);
        for (std::int64_t e : pool) {
            const double a = std::exp(s.at(b, e) - mx) / sum;
            double zm = -kInf, zs = 0.0;
            for (std::int64_t c = 0; c < C; ++c) zm = std::max(zm, z[static_cast<std::size_t>(e)].at(b, c));
            for (std::int64_t c = 0; c < C; ++c) zs += std::exp(z[static_cast<std::size_t>(e)].at(b, c) - zm);
            for (std::int64_t c = 0; c < C; ++c) F.at(b, c) += a * std::exp(z[static_cast<std::size_t>(e)].at(b, c) - zm) / zs;
        }
    }
    return F;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(p2_certificate)

BOOST_AUTO_TEST_CASE(equation_8_matches_a_hand_computation_in_both_readings) {
    // d = 1, E = 2, two classes, soft routing: s = (x, -x), f_0 = (2x, 0), f_1 = (0, x); at x = 0.5, label 0.
    Network net;
    net.input_dim = 1;
    net.classes = 2;
    Stage moe;
    moe.kind = Stage::Kind::moe;
    moe.moe.router = affine_map(2, 1, {1.0, -1.0}, {0.0, 0.0});
    moe.moe.experts = {MapChain{affine_map(2, 1, {2.0, 0.0}, {0.0, 0.0})}, MapChain{affine_map(2, 1, {0.0, 1.0}, {0.0, 0.0})}};
    moe.moe.k = 2;
    moe.moe.gate = GateMode::soft;
    net.stages.push_back(moe);
    const Tensor x(Shape{1, 1}, std::vector<double>{0.5});
    // a = softmax(0.5, -0.5); f_0 = softmax(1, 0), f_1 = softmax(0, 0.5); r_i = ||W_0 - W_1||_1 / 4 = 1/2;
    // L_0 = ||(2, 0)|| / 2 = 1, L_1 = 1/2 (half the logits' constant); M = 1.
    const double a0 = 1.0 / (1.0 + std::exp(-1.0)), a1 = 1.0 - a0;
    const double f00 = 1.0 / (1.0 + std::exp(-1.0)), f10 = 1.0 / (1.0 + std::exp(0.5));
    const double margin = (a0 * f00 + a1 * f10) - (a0 * (1 - f00) + a1 * (1 - f10));
    const double D = 0.5 + 0.5 + a0 * 1.0 + a1 * 0.5;
    const P2Radius r = p2_equation8_radii(net, x, {0}, P2Options{}).front();
    BOOST_TEST(r.printed == margin / D, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(r.sound == margin / (2 * D), boost::test_tools::tolerance(1e-12));
    BOOST_TEST(r.printed <= margin / D);       // rounding charged downward
    BOOST_TEST(r.sound <= margin / (2 * D));
    BOOST_TEST(r.route_stable == kInf);        // soft routing never switches
    BOOST_TEST(std::string(to_string(r.sound_status)) == "formal");
    // The wrong label is not certified.
    BOOST_TEST(p2_equation8_radii(net, x, {1}, P2Options{}).front().sound == 0.0);
    // Raw logits with a stated bound are diagnostic.
    P2Options logits;
    logits.output = P2Output::logits;
    logits.logit_bound = 1.0;
    BOOST_TEST(std::string(to_string(p2_equation8_radii(net, x, {0}, logits).front().sound_status)) == "diagnostic");
}

BOOST_AUTO_TEST_CASE(a_non_finite_weight_or_missing_logit_bound_is_refused) {
    const Classifier model(tiny_moe_model(3, 3, GateMode::soft, 7));
    Network net = network_of(model);
    const Tensor x(Shape{1, 2}, std::vector<double>{0.5, 0.5});
    P2Options logits;
    logits.output = P2Output::logits;
    BOOST_CHECK_THROW(p2_equation8_radii(net, x, {0}, logits), std::invalid_argument);
    net.stages.front().moe.experts[1][0].w.data()[0] = -std::numeric_limits<double>::infinity();
    BOOST_CHECK_THROW(p2_equation8_radii(net, x, {0}, P2Options{}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(the_sound_reading_is_never_beaten_on_random_small_moes) {
    // P2's probability mixture on a 301 x 301 grid of [0, 1]^2: a grid point that is misclassified (by more than
    // 1e-12) bounds the minimal distance from above; the sound radius must stay below it (tolerance 0).
    const std::int64_t n = 301;
    Tensor grid(Shape{n * n, 2});
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
            grid.at(i * n + j, 0) = static_cast<double>(i) / static_cast<double>(n - 1);
            grid.at(i * n + j, 1) = static_cast<double>(j) / static_cast<double>(n - 1);
        }
    std::int64_t samples = 0, certified = 0, printed_beaten = 0, route_cut = 0;
    double worst_ratio = 0.0;
    for (std::uint64_t seed = 0; seed < 12; ++seed) {
        const GateMode gate = seed % 3 == 0 ? GateMode::soft : seed % 3 == 1 ? GateMode::topk_then_softmax : GateMode::softmax_then_topk;
        Classifier model(tiny_moe_model(3, gate == GateMode::soft ? 3 : 1, gate, seed));
        for (const auto& p : model.params().all()) {
            Var v = p.var;
            for (std::int64_t i = 0; i < v.value().numel(); ++i) v.value()[i] *= 3.0;
        }
        const Network net = network_of(model);
        const Tensor F = probability_mixture(net, grid);
        const Tensor x = random_tensor(Shape{8, 2}, 500 + seed, 0.05, 0.95);
        const Tensor Fx = probability_mixture(net, x);
        std::vector<int> y;
        for (std::int64_t p : argmax_rows(Fx)) y.push_back(static_cast<int>(p));
        const std::vector<P2Radius> radii = p2_equation8_radii(net, x, y, P2Options{});
        for (std::int64_t b = 0; b < x.rows(); ++b) {
            double found = kInf;
            for (std::int64_t g = 0; g < grid.rows(); ++g) {
                double best_other = -kInf;
                for (std::int64_t c = 0; c < 3; ++c) if (c != y[static_cast<std::size_t>(b)]) best_other = std::max(best_other, F.at(g, c));
                if (F.at(g, y[static_cast<std::size_t>(b)]) - best_other < -1e-12)
                    found = std::min(found, std::max(std::abs(grid.at(g, 0) - x.at(b, 0)), std::abs(grid.at(g, 1) - x.at(b, 1))));
            }
            const P2Radius& r = radii[static_cast<std::size_t>(b)];
            ++samples;
            certified += r.sound > 0.0;
            route_cut += r.cut_by_route;
            printed_beaten += r.printed > found;
            if (found < kInf) worst_ratio = std::max(worst_ratio, r.sound / found);
            BOOST_TEST(r.sound <= found, "seed " << seed << " row " << b << ": sound radius " << r.sound << " > " << found);
            if (r.route_stable < kInf) {
                // Inside the route-stable ball the routing cannot change: check it on the ball's vertices.
                const double t = r.route_stable * (1.0 - 1e-12);
                const std::vector<double> xb{x.at(b, 0), x.at(b, 1)};
                const auto chosen = selected_experts(net.stages.front().moe.router, net.stages.front().moe.k, xb.data());
                for (int v = 0; v < 4; ++v) {
                    const std::vector<double> p{std::clamp(xb[0] + (v & 1 ? t : -t), 0.0, 1.0), std::clamp(xb[1] + (v & 2 ? t : -t), 0.0, 1.0)};
                    BOOST_TEST(!routing_differs(net.stages.front().moe.router, net.stages.front().moe.k, p, chosen));
                }
            }
        }
    }
    BOOST_TEST_MESSAGE("p2: " << certified << " of " << samples << " certified by the sound reading; the printed reading beaten on "
                              << printed_beaten << "; cut by the route-stable radius " << route_cut
                              << "; largest sound radius / brute-force distance " << worst_ratio);
    BOOST_TEST(certified >= samples / 2);
}

BOOST_AUTO_TEST_CASE(route_stable_radius_matches_a_hand_case_and_honours_ties) {
    // s_0 = x, s_1 = 0.3: expert 0 at x = 0.5 until x' < 0.3.
    AffineMap r = affine_map(2, 1, {1.0, 0.0}, {0.0, 0.3});
    const double x = 0.5;
    BOOST_TEST(route_stable_radius_linf(r, 1, &x, Box{0.0, 1.0}).radius == 0.2, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(route_stable_radius_linf(r, 1, &x, Box{0.0, 1.0}).rival == 1);
    BOOST_TEST(route_stable_radius_linf(r, 1, &x, Box{0.4, 1.0}).radius == kInf);   // the box stops the input first
    // A tie at x that expert 0 wins by its lower index: any step down hands the input to expert 1.
    r.b.data()[1] = 0.5;
    BOOST_TEST(route_stable_radius_linf(r, 1, &x, Box{0.0, 1.0}).radius == 0.0);
    // The same tie seen from expert 1's side: s_0 = 0.5 const, s_1 = x; expert 0 holds x = 0.5 by index, and
    // expert 1 needs s_1 > 0.5 strictly: reachable, distance 0.
    AffineMap q = affine_map(2, 1, {0.0, 1.0}, {0.5, 0.0});
    BOOST_TEST(route_stable_radius_linf(q, 1, &x, Box{0.0, 1.0}).radius == 0.0);
    BOOST_TEST(route_stable_radius_linf(q, 1, &x, Box{0.0, 0.5}).radius == kInf);   // the box stops it at the tie
}

BOOST_AUTO_TEST_CASE(route_stable_radius_matches_a_vertex_search_and_the_unclipped_closed_form) {
    std::int64_t finite = 0, clipped_larger = 0;
    for (std::uint64_t seed = 0; seed < 60; ++seed) {
        const std::int64_t d = 3, E = 4, k = seed % 2 ? 2 : 1;
        const AffineMap r{random_tensor(Shape{E, d}, 10 * seed + 1), random_tensor(Shape{E}, 10 * seed + 2, -0.3, 0.3)};
        const Tensor xs = random_tensor(Shape{d}, 10 * seed + 3, 0.0, 1.0);
        const std::vector<double> x(xs.data(), xs.data() + d);
        const Box box{0.0, 1.0};
        const double exact = route_stable_radius_linf(r, k, x.data(), box).radius;
        const double brute = route_radius_by_vertices(r, k, x, box);
        if (brute == kInf) BOOST_TEST(exact == kInf);
        else {
            ++finite;
            BOOST_TEST(exact <= brute + 1e-12);
            BOOST_TEST(exact >= brute - 1e-9, "seed " << seed << ": exact " << exact << " vertex search " << brute);
        }
        const double open = route_stable_radius_linf_unclipped(r, k, x.data());
        BOOST_TEST(exact >= open * (1.0 - 1e-12));
        clipped_larger += exact > open * (1.0 + 1e-9);
        // With a box far away the clipping never binds: the closed form is exact.
        BOOST_TEST(route_stable_radius_linf(r, k, x.data(), Box{-1e6, 1e6}).radius == open, boost::test_tools::tolerance(1e-12));
    }
    BOOST_TEST(finite >= 30);
    BOOST_TEST(clipped_larger >= 1, "the box never made a difference: the test does not exercise the clipping");
}

BOOST_AUTO_TEST_SUITE_END()
