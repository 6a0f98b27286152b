// The exact minimal L-infinity distance (theory/exact/exact.hpp) against closed forms, brute force and attacks:
// the linear classifier's dual-norm formula, a dense search over L-inf shells in 2-D for small ReLU nets and
// top-1 MoEs, "no attack beats it", verified minimisers, the cap, and honest refusals.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "tests/gradcheck.hpp"
#include "theory/attacks/attack.hpp"
#include "theory/exact/exact.hpp"
#include "theory/network/outward_rounding.hpp"

using namespace moelab;
using moelab::testing::random_tensor;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor logits_at(const Classifier& model, const Tensor& x) {
    NoGradGuard no_grad;
    return model.forward(Var(x)).logits.value();
}

int predicted(const Classifier& model, const Tensor& x) {
    return static_cast<int>(argmax_rows(logits_at(model, x))[0]);
}

Tensor row(const Tensor& x, std::int64_t r) {
    Tensor out(Shape{1, x.cols()});
    for (std::int64_t c = 0; c < x.cols(); ++c) out[c] = x.at(r, c);
    return out;
}

// Freshly initialised nets are nearly constant near the origin; larger weights give decision boundaries
// close enough to the samples to find.
void sharpen(Classifier& model, double factor) {
    for (const auto& p : model.params().all()) {
        Var v = p.var;
        for (std::int64_t i = 0; i < v.value().numel(); ++i) v.value()[i] *= factor;
    }
}

ModelConfig tiny_mlp(std::int64_t width, std::int64_t classes, std::uint64_t seed) {
    ModelConfig c;
    c.kind = ModelKind::mlp;
    c.input_dim = 2;
    c.width = width;
    c.hidden = 3;
    c.classes = classes;
    c.seed = seed;
    return c;
}

ModelConfig top1_moe_model(std::int64_t input_dim, std::int64_t classes, std::int64_t experts, std::int64_t hidden,
                           std::uint64_t seed) {
    ModelConfig c;
    c.kind = ModelKind::moe_model;
    c.input_dim = input_dim;
    c.classes = classes;
    c.hidden = hidden;
    c.experts = experts;
    c.top_k = 1;
    c.seed = seed;
    return c;
}

ModelConfig top1_layer_moe(std::uint64_t seed) {
    ModelConfig c;
    c.kind = ModelKind::moe;
    c.input_dim = 2;
    c.classes = 3;
    c.width = 3;
    c.hidden = 3;
    c.experts = 2;
    c.top_k = 1;
    c.gate = GateMode::topk_then_softmax;
    c.seed = seed;
    return c;
}

ExactOptions options(double cap) {
    ExactOptions o;
    o.radius_cap = cap;
    o.time_limit_s = 10.0;
    return o;
}

// The smallest r = k h (k = 1..cap/h) such that the L-inf sphere of radius r around x, sampled on the lattice
// of spacing h, holds a misclassified point; +inf if none. Every point it finds is a real adversarial
// example, so d* <= result; and the minimiser's cell is missed only if it is thinner than ~h.
double shell_search_2d(const Classifier& model, const Tensor& x, int label, double cap, double h) {
    const auto shells = static_cast<std::int64_t>(cap / h);
    std::int64_t k = 1;
    while (k <= shells) {
        std::vector<double> pts;
        std::vector<std::int64_t> shell_of;
        for (; k <= shells && pts.size() < 400000; ++k) {
            for (std::int64_t a = -k; a <= k; ++a)
                for (double s : {-1.0, 1.0}) {
                    const double u = static_cast<double>(a) * h, v = s * static_cast<double>(k) * h;
                    pts.insert(pts.end(), {x[0] + u, x[1] + v, x[0] + v, x[1] + u});
                    shell_of.insert(shell_of.end(), {k, k});
                }
        }
        const auto n = static_cast<std::int64_t>(shell_of.size());
        const Tensor logits = logits_at(model, Tensor(Shape{n, 2}, pts));
        const auto pred = argmax_rows(logits);
        for (std::int64_t i = 0; i < n; ++i)
            if (pred[static_cast<std::size_t>(i)] != label)
                return static_cast<double>(shell_of[static_cast<std::size_t>(i)]) * h;
    }
    return kInf;
}

// The smallest distance any of the three minimal-distance attacks finds (+inf when all fail).
double best_attack_distance(const Classifier& model, const Tensor& x, int label, double eps_max) {
    const AttackModel m = classifier_attack_model(model, Box{});
    MinimalOptions o;
    o.norm = Norm::linf;
    o.eps_max = eps_max;
    o.max_iter = 100;
    o.inner.norm = Norm::linf;
    o.inner.steps = 20;
    o.inner.random_start = false;
    const std::vector<int> y{label};
    double best = kInf;
    for (const AttackResult& r : {deepfool(m, x, y, o), pgd_bisection(m, x, y, o), fmn(m, x, y, o)})
        if (r.success[0]) best = std::min(best, r.distance[0]);
    return best;
}

// Checks d* against the shell search and the attacks for a few samples of a 2-D model; returns how many
// samples had a finite d* (so a test can insist the comparison was not vacuous).
int check_against_brute_force(const Classifier& model, const std::string& what, std::uint64_t seed) {
    const double cap = 1.0, h = 2e-3;
    const Tensor xs = random_tensor(Shape{3, 2}, seed, -1.0, 1.0);
    int finite = 0;
    for (std::int64_t b = 0; b < xs.rows(); ++b) {
        const Tensor x = row(xs, b);
        const int label = predicted(model, x);
        const ExactResult r = exact_min_distance_linf(model, x, label, options(cap));
        const double grid = shell_search_2d(model, x, label, cap, h);
        BOOST_TEST_MESSAGE(what << " sample " << b << ": " << to_string(r.status) << " d* in [" << r.lower << ", "
                                << r.upper << "], shell search " << grid << ", " << r.seconds * 1e3 << " ms; "
                                << r.note);
        if (r.status == ExactStatus::beyond_cap) {
            BOOST_TEST(r.lower == solver_lower_outward(cap));   // the cap, less GLPK's tolerances
            BOOST_TEST(grid >= cap - h, what << " sample " << b << ": beyond the cap, yet the search found " << grid);
            continue;
        }
        BOOST_TEST_REQUIRE((r.status == ExactStatus::optimal), what << " sample " << b << ": " << r.note);
        ++finite;
        // Nothing real is closer than d*; the lattice finds a point within a few spacings of it.
        BOOST_TEST(r.upper <= grid + 1e-6, what << " sample " << b << ": d* " << r.upper << " > search " << grid);
        BOOST_TEST(grid <= r.lower + 5 * h, what << " sample " << b << ": d* " << r.lower << " << search " << grid);
        const double attack = best_attack_distance(model, x, label, cap);
        BOOST_TEST(r.upper <= attack + 1e-6, what << " sample " << b << ": d* " << r.upper << " > attack " << attack);
    }
    return finite;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(exact)

BOOST_AUTO_TEST_CASE(exact_distance_of_a_linear_classifier_is_the_dual_norm_formula) {
    for (std::int64_t d : {2, 5}) {
        const ModelConfig c = top1_moe_model(d, 4, /*experts=*/1, /*hidden=*/0, 40 + static_cast<std::uint64_t>(d));
        const Classifier model(c);
        const Tensor W = model.params().get("moe.experts.0.fc1.weight").value();   // [C, d]
        const Tensor bias = model.params().get("moe.experts.0.fc1.bias").value();
        const Tensor xs = random_tensor(Shape{6, d}, 5, -1.0, 1.0);
        const double cap = 10.0;
        for (std::int64_t b = 0; b < xs.rows(); ++b) {
            const Tensor x = row(xs, b);
            const Tensor z = logits_at(model, x);
            const int y = predicted(model, x);
            // docs/theory.md §4: for a linear classifier, d*_inf = min_{k != y} (z_y - z_k) / ||w_y - w_k||_1.
            double closed = kInf;
            for (std::int64_t k = 0; k < c.classes; ++k) {
                if (k == y) continue;
                double l1 = 0.0;
                for (std::int64_t i = 0; i < d; ++i) l1 += std::abs(W.at(y, i) - W.at(k, i));
                closed = std::min(closed, (z[y] - z[k]) / l1);
            }
            (void)bias;
            const ExactResult r = exact_min_distance_linf(model, x, y, options(cap));
            BOOST_TEST_REQUIRE((r.status == ExactStatus::optimal), "d=" << d << " sample " << b << ": " << r.note);
            BOOST_TEST(std::abs(r.lower - closed) <= 1e-6 * std::max(1.0, closed),
                       "d=" << d << " sample " << b << ": lower " << r.lower << " closed form " << closed);
            BOOST_TEST(std::abs(r.upper - closed) <= 1e-6 * std::max(1.0, closed),
                       "d=" << d << " sample " << b << ": upper " << r.upper << " closed form " << closed);
        }
    }
}

BOOST_AUTO_TEST_CASE(exact_distance_of_tiny_relu_nets_matches_a_shell_search_and_no_attack_beats_it) {
    int finite = 0, model_index = 0;
    for (std::uint64_t seed : {1, 2, 3, 4}) {
        for (std::int64_t width : {3, 4}) {
            const std::int64_t classes = 2 + (model_index++ % 2);
            Classifier model(tiny_mlp(width, classes, seed));
            sharpen(model, 3.0);
            finite += check_against_brute_force(model, "mlp w=" + std::to_string(width) + " seed " + std::to_string(seed),
                                                100 + seed);
        }
    }
    BOOST_TEST(finite >= 8);
}

BOOST_AUTO_TEST_CASE(exact_distance_of_top1_moes_matches_a_shell_search_and_no_attack_beats_it) {
    int finite = 0;
    for (std::uint64_t seed : {1, 2, 3}) {
        Classifier linear_experts(top1_moe_model(2, 3, /*experts=*/2, /*hidden=*/0, seed));
        sharpen(linear_experts, 3.0);
        finite += check_against_brute_force(linear_experts, "moe-model seed " + std::to_string(seed), 200 + seed);
        Classifier relu_experts(top1_moe_model(2, 3, /*experts=*/3, /*hidden=*/3, seed));
        sharpen(relu_experts, 3.0);
        finite += check_against_brute_force(relu_experts, "moe-model relu seed " + std::to_string(seed), 300 + seed);
        Classifier layer(top1_layer_moe(seed));
        sharpen(layer, 3.0);
        finite += check_against_brute_force(layer, "layer moe seed " + std::to_string(seed), 400 + seed);
    }
    // Two blocks, the second an FFN: routing inside a deeper net, encoded layer by layer.
    ModelConfig deeper = top1_layer_moe(6);
    deeper.depth = 2;
    deeper.moe_blocks = {0};
    Classifier two_blocks(deeper);
    sharpen(two_blocks, 4.0);
    finite += check_against_brute_force(two_blocks, "layer moe depth 2", 500);
    BOOST_TEST(finite >= 12);
}

BOOST_AUTO_TEST_CASE(the_minimiser_is_misclassified_inside_the_domain_and_at_the_stated_distance) {
    ModelConfig c = tiny_mlp(8, 4, 11);
    c.input_dim = 6;
    c.hidden = 6;
    Classifier model(c);
    sharpen(model, 3.0);
    ExactOptions o = options(0.5);
    o.domain = kImageBox;
    const Tensor xs = random_tensor(Shape{5, 6}, 12, 0.0, 1.0);
    int found = 0;
    for (std::int64_t b = 0; b < xs.rows(); ++b) {
        const Tensor x = row(xs, b);
        const int label = predicted(model, x);
        const ExactResult r = exact_min_distance_linf(model, x, label, o);
        BOOST_TEST_MESSAGE("6-D mlp sample " << b << ": " << to_string(r.status) << " [" << r.lower << ", " << r.upper
                                             << "] " << r.seconds * 1e3 << " ms; " << r.note);
        if (r.status == ExactStatus::beyond_cap) continue;
        BOOST_TEST_REQUIRE((r.status == ExactStatus::optimal), r.note);
        ++found;
        BOOST_TEST_REQUIRE(r.x_adv.shape() == x.shape());
        double dist = 0.0;
        for (std::int64_t i = 0; i < x.numel(); ++i) {
            BOOST_TEST(r.x_adv[i] >= 0.0);
            BOOST_TEST(r.x_adv[i] <= 1.0);
            dist = std::max(dist, std::abs(r.x_adv[i] - x[i]));
        }
        BOOST_TEST(dist <= r.upper + 1e-12);
        BOOST_TEST(r.lower <= r.upper);
        // A fresh forward pass: some other class reaches the label's logit (ties within 1e-7 of the scale).
        const Tensor z = logits_at(model, r.x_adv);
        double best_other = -kInf, scale = 1.0;
        for (std::int64_t j = 0; j < z.numel(); ++j) {
            scale = std::max(scale, std::abs(z[j]));
            if (j != label) best_other = std::max(best_other, z[j]);
        }
        BOOST_TEST(best_other >= z[label] - 1e-7 * scale);
    }
    BOOST_TEST(found >= 2);
}

BOOST_AUTO_TEST_CASE(a_cap_below_the_distance_gives_beyond_cap_with_the_cap_as_lower_bound) {
    Classifier model(tiny_mlp(4, 3, 2));
    sharpen(model, 3.0);
    const Tensor x = random_tensor(Shape{1, 2}, 9, -1.0, 1.0);
    const int label = predicted(model, x);
    const ExactResult full = exact_min_distance_linf(model, x, label, options(3.0));
    BOOST_TEST_REQUIRE((full.status == ExactStatus::optimal), full.note);
    const ExactResult capped = exact_min_distance_linf(model, x, label, options(0.5 * full.lower));
    BOOST_TEST((capped.status == ExactStatus::beyond_cap));
    BOOST_TEST(capped.lower == solver_lower_outward(0.5 * full.lower));
    BOOST_TEST(capped.lower < 0.5 * full.lower);
    BOOST_TEST(capped.upper == kInf);
    BOOST_TEST(capped.x_adv.empty());
}

BOOST_AUTO_TEST_CASE(models_that_are_not_piecewise_linear_are_refused_with_a_reason) {
    const Tensor x = random_tensor(Shape{1, 2}, 3, -1.0, 1.0);
    std::vector<ModelConfig> refused;
    ModelConfig top2 = top1_layer_moe(1);
    top2.top_k = 2;
    top2.gate = GateMode::softmax_then_topk;
    refused.push_back(top2);
    ModelConfig softmax_gate = top1_layer_moe(1);   // top-1 but the gate is p_i, a smooth scale of the hidden layer
    softmax_gate.gate = GateMode::softmax_then_topk;
    refused.push_back(softmax_gate);
    ModelConfig soft_model = top1_moe_model(2, 3, 2, 0, 1);
    soft_model.gate = GateMode::soft;
    refused.push_back(soft_model);
    for (const ModelConfig& c : refused) {
        const Classifier model(c);
        BOOST_TEST(!exact_support(model).empty());
        const ExactResult r = exact_min_distance_linf(model, x, predicted(model, x), options(1.0));
        BOOST_TEST((r.status == ExactStatus::unsupported));
        BOOST_TEST(!r.note.empty());
        BOOST_TEST(r.x_adv.empty());
    }
    // Noisy gating is off at inference, so it does not matter.
    ModelConfig noisy = top1_moe_model(2, 3, 2, 0, 1);
    noisy.noisy = true;
    BOOST_TEST(exact_support(Classifier(noisy)).empty());
}

BOOST_AUTO_TEST_CASE(bad_arguments_throw_naming_the_problem) {
    const Classifier model(tiny_mlp(3, 2, 1));
    const Tensor x = random_tensor(Shape{1, 2}, 3, -1.0, 1.0);
    ExactOptions o = options(1.0);
    BOOST_CHECK_THROW(exact_min_distance_linf(model, random_tensor(Shape{1, 3}, 1), 0, o), std::invalid_argument);
    BOOST_CHECK_THROW(exact_min_distance_linf(model, x, 2, o), std::invalid_argument);
    o.radius_cap = kInf;
    BOOST_CHECK_THROW(exact_min_distance_linf(model, x, 0, o), std::invalid_argument);
    o = options(1.0);
    o.domain = Box{2.0, 3.0};
    BOOST_CHECK_THROW(exact_min_distance_linf(model, x, 0, o), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
