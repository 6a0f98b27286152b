// The exact L-inf Lipschitz constant (theory/exact/exact_lipschitz.hpp) against closed forms, brute force over
// dense grids, the sound upper and gradient lower bounds, and routing: a constant inside a routing cell,
// "discontinuous" across a boundary where experts differ, bounds with a gap when the time limit strikes.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "tests/gradcheck.hpp"
#include "theory/exact/exact.hpp"
#include "theory/exact/exact_lipschitz.hpp"
#include "theory/network/outward_rounding.hpp"
#include "theory/bounds/lipschitz.hpp"
#include "theory/bounds/lipschitz_lower.hpp"

using namespace moelab;
using moelab::testing::random_tensor;

namespace {

Tensor logits_at(const Classifier& model, const Tensor& x) {
    NoGradGuard no_grad;
    return model.forward(Var(x)).logits.value();
}

void sharpen(Classifier& model, double factor) {
    for (const auto& p : model.params().all()) {
        Var v = p.var;
        for (std::int64_t i = 0; i < v.value().numel(); ++i) v.value()[i] *= factor;
    }
}

ModelConfig mlp(std::int64_t input_dim, std::int64_t width, std::int64_t hidden, std::int64_t classes, std::uint64_t seed) {
    ModelConfig c;
    c.kind = ModelKind::mlp;
    c.input_dim = input_dim;
    c.width = width;
    c.hidden = hidden;
    c.classes = classes;
    c.seed = seed;
    return c;
}

ModelConfig linear_experts(std::int64_t input_dim, std::int64_t classes, std::int64_t experts, std::uint64_t seed) {
    ModelConfig c;
    c.kind = ModelKind::moe_model;
    c.input_dim = input_dim;
    c.classes = classes;
    c.hidden = 0;   // linear experts
    c.experts = experts;
    c.top_k = 1;
    c.gate = GateMode::topk_then_softmax;   // gate exactly 1
    c.seed = seed;
    return c;
}

ExactLipschitzOptions options(double time_limit_s = 10.0) {
    ExactLipschitzOptions o;
    o.time_limit_s = time_limit_s;
    return o;
}

double row_diff_l1(const Tensor& w, std::int64_t a, std::int64_t b) {
    double s = 0.0;
    for (std::int64_t i = 0; i < w.cols(); ++i) s += std::abs(w.at(a, i) - w.at(b, i));
    return s;
}

// max over a lattice of spacing h on [lo, hi]^d (d = 1 or 2) of the margin's gradient L1 norm, by central
// differences of step 1e-6 (a secant across a kink averages slopes, so it never exceeds the true max);
// misses only linear regions thinner than ~h.
double grid_max_gradient_l1(const Classifier& model, int a, int b, double lo, double hi, std::int64_t n) {
    const std::int64_t d = model.config().input_dim;
    const double h = (hi - lo) / static_cast<double>(n - 1), step = 1e-6;
    const std::int64_t points = d == 1 ? n : n * n;
    std::vector<double> xs;
    for (std::int64_t p = 0; p < points; ++p) {
        std::vector<double> x{lo + static_cast<double>(p % n) * h};
        if (d == 2) x.push_back(lo + static_cast<double>(p / n) * h);
        for (std::int64_t i = 0; i < d; ++i)
            for (double s : {-step, step}) {
                std::vector<double> y = x;
                y[static_cast<std::size_t>(i)] = std::clamp(y[static_cast<std::size_t>(i)] + s, lo, hi);
                xs.insert(xs.end(), y.begin(), y.end());
            }
    }
    const Tensor z = logits_at(model, Tensor(Shape{static_cast<std::int64_t>(xs.size()) / d, d}, xs));
    const std::int64_t C = z.cols();
    const auto margin = [&](std::int64_t r) { return z[r * C + a] - z[r * C + b]; };
    double best = 0.0;
    for (std::int64_t p = 0; p < points; ++p) {
        double g1 = 0.0;
        for (std::int64_t i = 0; i < d; ++i) {
            const std::int64_t r = (p * d + i) * 2;
            const double dx = xs[static_cast<std::size_t>((r + 1) * d + i)] - xs[static_cast<std::size_t>(r * d + i)];
            g1 += std::abs(margin(r + 1) - margin(r)) / dx;
        }
        best = std::max(best, g1);
    }
    return best;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(exact_lipschitz)

BOOST_AUTO_TEST_CASE(exact_constant_of_a_linear_model_is_the_l1_norm_of_the_row_difference) {
    const ModelConfig c = linear_experts(/*input_dim=*/5, /*classes=*/4, /*experts=*/1, 3);
    const Classifier model(c);
    const Tensor W = model.params().get("moe.experts.0.fc1.weight").value();   // [C, d]
    const InputBox box = domain_box(c.input_dim, kImageBox);
    double pair_max = 0.0;
    for (int a = 0; a < c.classes; ++a)
        for (int b = a + 1; b < c.classes; ++b) {
            const ExactLipschitzResult r = exact_lipschitz_pair_linf(model, a, b, box, options());
            const double closed = row_diff_l1(W, a, b);
            pair_max = std::max(pair_max, closed);
            BOOST_TEST_REQUIRE((r.status == ExactLipschitzStatus::optimal), r.note);
            BOOST_TEST(std::abs(r.lower - closed) <= 1e-7 * std::max(1.0, closed), "pair " << a << b << ": " << r.lower << " vs " << closed);
            BOOST_TEST(r.upper == solver_upper_outward(r.lower));   // proven optimal: only GLPK's tolerances charged
            BOOST_TEST(r.upper > closed);
            BOOST_TEST(r.cells == 1);
        }
    const ExactLipschitzResult all = exact_lipschitz_linf(model, box, options());
    BOOST_TEST_REQUIRE((all.status == ExactLipschitzStatus::optimal), all.note);
    BOOST_TEST(std::abs(all.lower - pair_max) <= 1e-7 * std::max(1.0, pair_max));
    BOOST_TEST(std::abs(row_diff_l1(W, all.class_a, all.class_b) - pair_max) <= 1e-12);
}

BOOST_AUTO_TEST_CASE(exact_constant_of_tiny_relu_nets_matches_a_dense_grid) {
    int index = 0;
    for (std::int64_t d : {1, 2})
        for (std::uint64_t seed : {11u, 12u, 13u}) {
            Classifier model(mlp(d, /*width=*/4, /*hidden=*/3, /*classes=*/3, seed + 10 * static_cast<std::uint64_t>(d)));
            sharpen(model, 2.0);
            const double lo = -1.0, hi = 1.0;
            const InputBox box = domain_box(d, Box{lo, hi});
            const ExactLipschitzResult r = exact_lipschitz_pair_linf(model, 0, 1, box, options());
            const double grid = grid_max_gradient_l1(model, 0, 1, lo, hi, d == 1 ? 20001 : 301);
            BOOST_TEST_MESSAGE("d=" << d << " seed " << seed << ": exact " << r.lower << " grid " << grid << ", "
                                    << r.seconds * 1e3 << " ms; " << r.note);
            BOOST_TEST_REQUIRE((r.status == ExactLipschitzStatus::optimal), r.note);
            // Nothing real is steeper than the exact constant; the grid sees every region wider than its spacing.
            BOOST_TEST(grid <= r.lower * (1.0 + 1e-6) + 1e-9, "net " << index << ": grid " << grid << " > exact " << r.lower);
            BOOST_TEST(r.lower <= grid * (1.0 + 1e-4) + 1e-9, "net " << index << ": exact " << r.lower << " > grid " << grid);
            ++index;
        }
}

BOOST_AUTO_TEST_CASE(exact_constant_lies_between_the_gradient_lower_bound_and_the_layer_product_and_local_below_global) {
    int solved = 0;
    for (std::uint64_t k = 0; k < 20; ++k) {
        const std::int64_t d = 1 + static_cast<std::int64_t>(k % 4), width = 3 + static_cast<std::int64_t>(k % 6);
        Classifier model(mlp(d, width, /*hidden=*/2 + static_cast<std::int64_t>(k % 3), /*classes=*/3, 100 + k));
        sharpen(model, 1.5);
        const InputBox box = domain_box(d, kImageBox);
        const ExactLipschitzResult global = exact_lipschitz_linf(model, box, options());
        BOOST_TEST_REQUIRE((global.status == ExactLipschitzStatus::optimal), "net " << k << ": " << global.note);
        ++solved;
        const Tensor points = random_tensor(Shape{8, d}, 200 + k, 0.1, 0.9);   // lipschitz_lower probes +-0.05
        const LipschitzLower lower = lipschitz_lower(model, points, Norm::linf);
        const LipschitzUpper upper = lipschitz_upper(network_of(model), Norm::linf);
        double pair_upper = 0.0;
        for (std::int64_t i = 0; i < upper.pair.numel(); ++i) pair_upper = std::max(pair_upper, upper.pair[i]);
        BOOST_TEST(lower.gradient <= global.upper * (1.0 + 1e-6) + 1e-9, "net " << k << ": gradient " << lower.gradient << " > exact " << global.upper);
        BOOST_TEST(global.lower <= pair_upper * (1.0 + 1e-9) + 1e-9, "net " << k << ": exact " << global.lower << " > layer product " << pair_upper);
        Tensor x(Shape{1, d});
        for (std::int64_t i = 0; i < d; ++i) x[i] = points.at(0, i);
        const ExactLipschitzResult local = exact_lipschitz_linf(model, linf_ball(x, 0.05, kImageBox), options());
        BOOST_TEST_REQUIRE((local.status == ExactLipschitzStatus::optimal), "net " << k << ": " << local.note);
        // Both uppers carry the same monotone tolerance charge (outward_rounding.hpp).
        BOOST_TEST(local.upper <= global.upper * (1.0 + 1e-6) + 1e-9, "net " << k << ": local " << local.upper << " > global " << global.upper);
    }
    BOOST_TEST(solved == 20);
}

BOOST_AUTO_TEST_CASE(two_linear_experts_give_the_expert_norm_inside_a_cell_and_discontinuous_across_the_boundary) {
    Classifier model(linear_experts(/*input_dim=*/2, /*classes=*/3, /*experts=*/2, 21));
    // The router sends x0 < 0.5 to expert 0 and x0 > 0.5 to expert 1: s_0 - s_1 = 2 (0.5 - x0).
    Var rw = model.params().get("moe.router.proj.weight"), rb = model.params().get("moe.router.proj.bias");
    const std::vector<double> w{-1.0, 0.0, 1.0, 0.0}, bias{0.5, -0.5};
    for (std::size_t i = 0; i < w.size(); ++i) rw.value()[static_cast<std::int64_t>(i)] = w[i];
    for (std::size_t i = 0; i < bias.size(); ++i) rb.value()[static_cast<std::int64_t>(i)] = bias[i];
    const Tensor W0 = model.params().get("moe.experts.0.fc1.weight").value(), W1 = model.params().get("moe.experts.1.fc1.weight").value();

    const Tensor inside(Shape{1, 2}, std::vector<double>{0.2, 0.6});
    const ExactLipschitzResult local = exact_lipschitz_pair_linf(model, 0, 2, linf_ball(inside, 0.1, kImageBox), options());
    BOOST_TEST_REQUIRE((local.status == ExactLipschitzStatus::optimal), local.note);
    BOOST_TEST(local.routing_fixed_by_intervals);
    BOOST_TEST(std::abs(local.lower - row_diff_l1(W0, 0, 2)) <= 1e-7 * std::max(1.0, local.lower));

    const ExactLipschitzResult global = exact_lipschitz_pair_linf(model, 0, 2, domain_box(2, kImageBox), options());
    BOOST_TEST_REQUIRE((global.status == ExactLipschitzStatus::discontinuous), global.note);
    BOOST_TEST(std::isinf(global.lower));
    BOOST_TEST(global.cells == 2);
    BOOST_TEST_REQUIRE(!global.jump_point.empty());
    BOOST_TEST(std::abs(global.jump_point[0] - 0.5) <= 1e-9);   // on the router's boundary
    // The jump is the experts' disagreement on the margin there.
    const double x1 = global.jump_point[1];
    const Tensor b0 = model.params().get("moe.experts.0.fc1.bias").value(), b1 = model.params().get("moe.experts.1.fc1.bias").value();
    const double m0 = (W0.at(0, 0) - W0.at(2, 0)) * 0.5 + (W0.at(0, 1) - W0.at(2, 1)) * x1 + b0[0] - b0[2];
    const double m1 = (W1.at(0, 0) - W1.at(2, 0)) * 0.5 + (W1.at(0, 1) - W1.at(2, 1)) * x1 + b1[0] - b1[2];
    BOOST_TEST(std::abs(global.jump - std::abs(m0 - m1)) <= 1e-6);
    const double per_cell = std::max(row_diff_l1(W0, 0, 2), row_diff_l1(W1, 0, 2));
    BOOST_TEST(std::abs(global.per_cell_lower - per_cell) <= 1e-7 * std::max(1.0, per_cell));
    BOOST_TEST(global.per_cell_upper == solver_upper_outward(global.per_cell_lower));
}

BOOST_AUTO_TEST_CASE(a_work_or_time_limit_that_strikes_returns_proven_bounds_with_a_gap_and_runs_are_deterministic) {
    Classifier model(mlp(/*input_dim=*/8, /*width=*/24, /*hidden=*/24, /*classes=*/3, 7));
    const InputBox box = domain_box(8, kImageBox);
    const ExactLipschitzResult r = exact_lipschitz_pair_linf(model, 0, 1, box, options(0.02));
    BOOST_TEST_MESSAGE("time-limited: [" << r.lower << ", " << r.upper << "] " << r.seconds << " s; " << r.note);
    BOOST_TEST_REQUIRE((r.status == ExactLipschitzStatus::bounds_only), r.note);
    BOOST_TEST(r.lower <= r.upper);
    BOOST_TEST(r.gap() > 0.0);
    BOOST_TEST(r.lower > 0.0);   // at least the gradient norm at the box's centre, incumbent or not
    BOOST_TEST(std::isfinite(r.upper));
    BOOST_TEST(r.load_dependent);   // the opt-in clock stopped it: marked

    // The deterministic work limit: two nodes stop the same search at the same place, bit for bit.
    ExactLipschitzOptions nodes = options(0.0);
    nodes.work_limit_nodes = 2;
    const ExactLipschitzResult w1 = exact_lipschitz_pair_linf(model, 0, 1, box, nodes);
    const ExactLipschitzResult w2 = exact_lipschitz_pair_linf(model, 0, 1, box, nodes);
    BOOST_TEST_REQUIRE((w1.status == ExactLipschitzStatus::bounds_only), w1.note);
    BOOST_TEST(w1.lower == w2.lower);
    BOOST_TEST(w1.upper == w2.upper);
    BOOST_TEST(w1.lower <= w1.upper);
    BOOST_TEST(!w1.load_dependent);

    Classifier small(mlp(2, 5, 3, 3, 8));
    sharpen(small, 2.0);
    const ExactLipschitzResult first = exact_lipschitz_linf(small, domain_box(2, kImageBox), options());
    const ExactLipschitzResult second = exact_lipschitz_linf(small, domain_box(2, kImageBox), options());
    BOOST_TEST_REQUIRE((first.status == ExactLipschitzStatus::optimal), first.note);
    BOOST_TEST(first.lower == second.lower);   // bit for bit
    BOOST_TEST(first.class_a == second.class_a);
    BOOST_TEST(first.class_b == second.class_b);
}

// On each ball the certificate is at most the ball and the exact minimal distance. The search over balls
// is never worse than the certificate on the cap ball, never above the exact distance either, and its
// answer is reproduced by the certificate on the ball it reports.
BOOST_AUTO_TEST_CASE(local_exact_lipschitz_certificates_and_the_ball_search_stay_below_the_exact_distance) {
    int certified = 0, searched_certified = 0, improved = 0;
    for (std::uint64_t seed : {31u, 32u, 33u}) {
        Classifier model(mlp(2, 4, 3, 3, seed));
        sharpen(model, 3.0);
        const Tensor xs = random_tensor(Shape{3, 2}, seed, 0.2, 0.8);
        for (std::int64_t b = 0; b < xs.rows(); ++b) {
            const Tensor x(Shape{1, 2}, std::vector<double>{xs.at(b, 0), xs.at(b, 1)});
            const int y = static_cast<int>(argmax_rows(logits_at(model, x))[0]);
            ExactOptions eo;
            eo.domain = kImageBox;
            eo.radius_cap = 1.0;
            const ExactResult d = exact_min_distance_linf(model, x, y, eo);
            for (double radius : {0.05, 0.2, 1.0}) {
                const double r = certified_radius_exact_lipschitz_linf(model, x, y, radius, kImageBox, options());
                BOOST_TEST_REQUIRE(std::isfinite(r));
                BOOST_TEST(r <= radius);
                BOOST_TEST(r <= d.upper * (1.0 + 1e-6) + 1e-9, "seed " << seed << " sample " << b << ": certified " << r << " > d* " << d.upper);
                if (r > 0.0) ++certified;
            }
            const double one_ball = certified_radius_exact_lipschitz_linf(model, x, y, 1.0, kImageBox, options());
            const ExactLipschitzCertificate best =
                best_certified_radius_exact_lipschitz_linf(model, x, y, 1.0, kImageBox, options(), 10);
            BOOST_TEST_MESSAGE("seed " << seed << " sample " << b << ": cap ball " << one_ball << ", searched " << best.radius
                                       << " (ball " << best.ball << ", " << best.balls_tried << " balls), exact " << d.upper);
            BOOST_TEST(best.radius >= one_ball);
            BOOST_TEST(best.radius <= d.upper * (1.0 + 1e-6) + 1e-9, "seed " << seed << " sample " << b);
            if (best.radius > 0.0) {
                ++searched_certified;
                BOOST_TEST(certified_radius_exact_lipschitz_linf(model, x, y, best.ball, kImageBox, options()) == best.radius);
            }
            improved += best.radius > one_ball * 1.01;
        }
    }
    BOOST_TEST(certified > 0);
    BOOST_TEST(searched_certified >= 6);
    BOOST_TEST(improved >= 3);
}

BOOST_AUTO_TEST_CASE(the_ball_search_gives_0_when_misclassified_nan_when_unsupported_and_refuses_bad_arguments) {
    Classifier model(mlp(2, 4, 3, 3, 31));
    const Tensor x(Shape{1, 2}, std::vector<double>{0.4, 0.6});
    const int y = static_cast<int>(argmax_rows(logits_at(model, x))[0]);
    const ExactLipschitzCertificate wrong =
        best_certified_radius_exact_lipschitz_linf(model, x, (y + 1) % 3, 1.0, kImageBox, options());
    BOOST_TEST(wrong.radius == 0.0);
    BOOST_TEST(wrong.balls_tried == 0);
    BOOST_CHECK_THROW(best_certified_radius_exact_lipschitz_linf(model, x, y, 0.0, kImageBox, options()), std::invalid_argument);
    BOOST_CHECK_THROW(best_certified_radius_exact_lipschitz_linf(model, x, 3, 1.0, kImageBox, options()), std::invalid_argument);
    ModelConfig c = linear_experts(2, 3, 2, 5);
    c.gate = GateMode::softmax_then_topk;
    const Classifier soft_gate(c);
    BOOST_TEST(std::isnan(best_certified_radius_exact_lipschitz_linf(soft_gate, x, 0, 1.0, kImageBox, options()).radius));
}

BOOST_AUTO_TEST_CASE(unsupported_models_and_bad_arguments_are_refused_with_a_reason) {
    ModelConfig c = linear_experts(2, 3, 2, 5);
    c.gate = GateMode::softmax_then_topk;   // g(x) f(x): not piecewise linear
    const Classifier soft_gate(c);
    const ExactLipschitzResult r = exact_lipschitz_pair_linf(soft_gate, 0, 1, domain_box(2, kImageBox), options());
    BOOST_TEST((r.status == ExactLipschitzStatus::unsupported));
    BOOST_TEST(r.note.find("softmax") != std::string::npos, r.note);
    const Classifier model(mlp(2, 3, 2, 3, 1));
    BOOST_CHECK_THROW(exact_lipschitz_pair_linf(model, 0, 0, domain_box(2, kImageBox), options()), std::invalid_argument);
    BOOST_CHECK_THROW(exact_lipschitz_pair_linf(model, 0, 1, domain_box(2, Box{}), options()), std::invalid_argument);
    BOOST_CHECK_THROW(exact_lipschitz_pair_linf(model, 0, 1, domain_box(3, kImageBox), options()), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
