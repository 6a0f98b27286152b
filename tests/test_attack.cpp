// Attacks against closed forms and their promises: minimal distances on a linear classifier, the
// router attack on a 2-D two-expert MoE, verified adversarial examples inside their balls, robust
// accuracy non-increasing in eps, restarts never weaker, thread-count determinism.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>

#include "engine/config_error.hpp"
#include "engine/parallel.hpp"
#include "experiments/io/config_keys.hpp"
#include "tests/gradcheck.hpp"
#include "theory/attacks/attack.hpp"
#include "theory/attacks/attack_internal.hpp"
#include "theory/attacks/attack_harness.hpp"

using namespace moelab;
using moelab::testing::random_tensor;

namespace {

struct LinearClassifier {
    Tensor w, b;   // [C, d], [C]
    AttackModel model() const {
        AttackModel m;
        const Var wv(w), bv(b);
        m.logits = [wv, bv](const Var& x) { return linear(x, wv, bv); };
        return m;   // unbounded domain
    }
    // min over k != y of (z_y - z_k) / ||w_y - w_k||_dual: the exact minimal distance (docs/theory.md §4).
    double exact_distance(const double* x, int y, Norm norm) const {
        const std::int64_t C = w.rows(), d = w.cols();
        double best = std::numeric_limits<double>::infinity();
        for (std::int64_t k = 0; k < C; ++k) {
            if (k == y) continue;
            std::vector<double> diff(static_cast<std::size_t>(d));
            double margin = b[y] - b[k];
            for (std::int64_t i = 0; i < d; ++i) {
                diff[static_cast<std::size_t>(i)] = w.at(y, i) - w.at(k, i);
                margin += diff[static_cast<std::size_t>(i)] * x[i];
            }
            best = std::min(best, margin / dual_norm(diff.data(), d, norm));
        }
        return best;
    }
};

LinearClassifier random_linear(std::int64_t C, std::int64_t d, std::uint64_t seed) {
    return {random_tensor(Shape{C, d}, seed), random_tensor(Shape{C}, seed + 1)};
}

std::vector<int> clean_predictions(const AttackModel& m, const Tensor& x) {
    const auto p = argmax_rows(attack_logits(m, x));
    return {p.begin(), p.end()};
}

ModelConfig small_moe(std::int64_t input_dim = 8) {
    ModelConfig c;
    c.kind = ModelKind::moe;
    c.input_dim = input_dim;
    c.classes = 5;
    c.width = 12;
    c.hidden = 10;
    c.experts = 4;
    c.top_k = 2;
    c.seed = 7;
    return c;
}

// A freshly initialised network is nearly constant on [0,1]^d (every input gets the same class); three
// times larger weights make its decisions vary over the cube, so that attacks have something to find.
void sharpen(Classifier& model) {
    for (const auto& p : model.params().all()) {
        Var v = p.var;
        for (std::int64_t i = 0; i < v.value().numel(); ++i) v.value()[i] *= 3.0;
    }
}

// Checks every promise of an eps-bounded AttackResult by recomputing it.
void check_eps_result(const AttackModel& m, const Tensor& x, const std::vector<int>& y, const AttackResult& r,
                      double eps, Norm norm) {
    const auto pred = clean_predictions(m, r.x_adv);
    const std::int64_t d = x.cols();
    for (std::size_t b = 0; b < y.size(); ++b) {
        BOOST_TEST(pred[b] == r.adv_pred[b]);
        BOOST_TEST(static_cast<bool>(r.success[b]) == (pred[b] != y[b]));
        std::vector<double> delta(static_cast<std::size_t>(d));
        for (std::int64_t i = 0; i < d; ++i) {
            const double v = r.x_adv[static_cast<std::int64_t>(b) * d + i];
            BOOST_TEST((v >= m.domain.lo && v <= m.domain.hi));
            delta[static_cast<std::size_t>(i)] = v - x[static_cast<std::int64_t>(b) * d + i];
        }
        BOOST_TEST(vector_norm(delta.data(), d, norm) <= eps);
        BOOST_TEST(r.distance[b] == vector_norm(delta.data(), d, norm));
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(attack)

BOOST_AUTO_TEST_CASE(deepfool_hits_the_exact_minimal_distance_of_a_linear_classifier) {
    for (std::int64_t C : {2, 4}) {
        const LinearClassifier lin = random_linear(C, 6, 10 + static_cast<std::uint64_t>(C));
        const AttackModel m = lin.model();
        const Tensor x = random_tensor(Shape{20, 6}, 3, -2.0, 2.0);
        const auto y = clean_predictions(m, x);
        for (Norm norm : {Norm::l2, Norm::linf}) {
            MinimalOptions o;
            o.norm = norm;
            o.overshoot = 0.02;
            const AttackResult r = deepfool(m, x, y, o);
            for (std::size_t b = 0; b < y.size(); ++b) {
                const double exact = lin.exact_distance(x.data() + static_cast<std::int64_t>(b) * 6, y[b], norm);
                BOOST_TEST_REQUIRE(static_cast<bool>(r.success[b]));
                BOOST_TEST(std::abs(r.distance[b] - exact) <= 1e-9 * std::max(1.0, exact),
                           "C=" << C << " " << to_string(norm) << " sample " << b << ": deepfool " << r.distance[b]
                                << " exact " << exact);
                BOOST_TEST(r.distance[b] >= exact * (1 - 1e-12));   // nothing beats the exact distance
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(pgd_bisection_and_fmn_find_the_minimal_distance_of_a_binary_linear_classifier) {
    const LinearClassifier lin = random_linear(2, 5, 31);
    const AttackModel m = lin.model();
    const Tensor x = random_tensor(Shape{16, 5}, 4, -1.0, 1.0);
    const auto y = clean_predictions(m, x);
    for (Norm norm : {Norm::l2, Norm::linf}) {
        MinimalOptions o;
        o.norm = norm;
        o.eps_max = 4.0;
        o.bisection_steps = 20;
        o.refine_steps = 0;   // the bisection alone must get there
        o.inner.norm = norm;
        o.inner.steps = 20;
        o.inner.random_start = false;
        const AttackResult bis = pgd_bisection(m, x, y, o);
        o.max_iter = 100;
        const AttackResult fm = fmn(m, x, y, o);
        for (std::size_t b = 0; b < y.size(); ++b) {
            const double exact = lin.exact_distance(x.data() + static_cast<std::int64_t>(b) * 5, y[b], norm);
            if (exact > o.eps_max) continue;
            BOOST_TEST_REQUIRE(static_cast<bool>(bis.success[b]));
            BOOST_TEST(std::abs(bis.distance[b] - exact) <= 1e-3 * exact, to_string(norm) << " bisection " << bis.distance[b] << " exact " << exact);
            BOOST_TEST_REQUIRE(static_cast<bool>(fm.success[b]));
            BOOST_TEST(fm.distance[b] >= exact * (1 - 1e-12));
            BOOST_TEST(fm.distance[b] <= exact * 1.01, to_string(norm) << " fmn " << fm.distance[b] << " exact " << exact);
        }
    }
}

BOOST_AUTO_TEST_CASE(the_router_attack_flips_routing_exactly_at_the_routing_boundary) {
    // F(x) = sum_i g_i(x) f_i(x), two linear experts on R^2, top-1: routing changes where s_0(x) = s_1(x),
    // at distance |s_0 - s_1| / ||r_0 - r_1||_dual from x.
    ModelConfig c;
    c.kind = ModelKind::moe_model;
    c.input_dim = 2;
    c.classes = 2;
    c.hidden = 0;
    c.experts = 2;
    c.top_k = 1;
    c.seed = 5;
    const Classifier model(c);
    const Tensor R = model.params().get("moe.router.proj.weight").value();
    const Tensor rb = model.params().get("moe.router.proj.bias").value();
    const Tensor x = random_tensor(Shape{25, 2}, 8, -3.0, 3.0);
    const AttackModel router = router_attack_model(model, Box{});
    const std::vector<int> top = top1_experts(model, x);
    for (Norm norm : {Norm::l2, Norm::linf}) {
        MinimalOptions o;
        o.norm = norm;
        const AttackResult r = deepfool(router, x, top, o);
        const double diff[2] = {R.at(0, 0) - R.at(1, 0), R.at(0, 1) - R.at(1, 1)};
        for (std::size_t b = 0; b < top.size(); ++b) {
            const double* xb = x.data() + 2 * b;
            const double gap = std::abs(diff[0] * xb[0] + diff[1] * xb[1] + rb[0] - rb[1]);
            const double exact = gap / dual_norm(diff, 2, norm);
            BOOST_TEST_REQUIRE(static_cast<bool>(r.success[b]));
            BOOST_TEST(std::abs(r.distance[b] - exact) <= 1e-9 * std::max(1.0, exact));
            // Routing has changed at x_adv and not a hair before it.
            Tensor after(Shape{1, 2}, std::vector<double>(r.x_adv.data() + 2 * b, r.x_adv.data() + 2 * b + 2));
            Tensor before(Shape{1, 2});
            for (int i = 0; i < 2; ++i) before[i] = xb[i] + (1 - 1e-7) * (after[i] - xb[i]);
            BOOST_TEST(top1_experts(model, after)[0] != top[b]);
            BOOST_TEST(top1_experts(model, before)[0] == top[b]);
        }
    }
}

BOOST_AUTO_TEST_CASE(eps_attacks_report_verified_examples_inside_their_balls) {
    Classifier model(small_moe());
    sharpen(model);
    const AttackModel m = classifier_attack_model(model, kImageBox);
    const Tensor x = random_tensor(Shape{60, 8}, 9, 0.0, 1.0);
    const auto y = clean_predictions(m, x);
    for (Norm norm : {Norm::linf, Norm::l2}) {
        AttackOptions o;
        o.norm = norm;
        o.eps = norm == Norm::linf ? 0.1 : 0.3;
        o.steps = 15;
        const AttackResult f = fgsm(m, x, y, o), p = pgd(m, x, y, o);
        o.loss = AttackLoss::ce;
        const AttackResult ace = apgd(m, x, y, o);
        o.loss = AttackLoss::dlr;
        const AttackResult adlr = apgd(m, x, y, o);
        for (const AttackResult* r : {&f, &p, &ace, &adlr}) check_eps_result(m, x, y, *r, o.eps, norm);
        // The attacks do find something on this untrained model, and PGD is at least as strong as FGSM here.
        BOOST_TEST(p.success_rate() > 0.2);
        BOOST_TEST(p.success_rate() >= f.success_rate());
        BOOST_TEST(std::max(ace.success_rate(), adlr.success_rate()) > 0.2);
    }
}

BOOST_AUTO_TEST_CASE(robust_accuracy_does_not_increase_with_eps_and_restarts_never_weaken) {
    Classifier model(small_moe());
    sharpen(model);
    const AttackModel m = classifier_attack_model(model, kImageBox);
    const Tensor x = random_tensor(Shape{80, 8}, 12, 0.0, 1.0);
    const auto y = clean_predictions(m, x);
    double previous = 2.0;
    for (double eps : {0.0, 0.02, 0.05, 0.1, 0.2, 0.4}) {
        AttackOptions o;
        o.eps = eps;
        o.steps = 20;
        o.restarts = 2;
        const double robust = 1.0 - pgd(m, x, y, o).success_rate();
        BOOST_TEST(robust <= previous, "eps " << eps);
        previous = robust;
    }
    AttackOptions one;
    one.eps = 0.05;
    one.steps = 5;
    AttackOptions three = one;
    three.restarts = 3;
    const AttackResult a = pgd(m, x, y, one), b = pgd(m, x, y, three);
    for (std::size_t i = 0; i < y.size(); ++i) BOOST_TEST((!a.success[i] || b.success[i]));
    BOOST_TEST(b.success_rate() >= a.success_rate());
    BOOST_TEST(a.success_rate() > 0.0);   // not a comparison of two zeros
}

BOOST_AUTO_TEST_CASE(the_expert_attack_holds_routing_and_the_router_gets_no_gradient) {
    const Classifier model(small_moe());
    const Tensor x = random_tensor(Shape{10, 8}, 13, 0.0, 1.0);
    const AttackModel frozen = frozen_routing_attack_model(model, x, kImageBox);
    const AttackModel live = classifier_attack_model(model, kImageBox);
    BOOST_TEST(attack_logits(frozen, x).bitwise_equal(attack_logits(live, x)));
    // Far from x the router would choose differently, but the frozen model keeps the clean choice: its
    // output is the gated sum of the clean-chosen experts, linear in the gates held fixed.
    Var xv(random_tensor(Shape{10, 8}, 14, 0.0, 1.0), true);
    backward(sum_all(frozen.logits(xv)));
    BOOST_TEST(model.params().get("blocks.0.moe.router.proj.weight").grad().empty());
    BOOST_TEST(!xv.grad().empty());
}

BOOST_AUTO_TEST_CASE(swapping_the_top_expert_for_the_next_one_follows_the_definition) {
    ModelConfig c = small_moe();
    c.top_k = 1;
    const Classifier model(c);
    const Tensor x = random_tensor(Shape{6, 8}, 15, 0.0, 1.0);
    NoGradGuard no_grad;
    ForwardOptions swap;
    swap.swap_rank = 0;
    const ModelOutput swapped = model.forward(Var(x), swap);
    const ModelOutput k2 = [&] {
        ForwardOptions o;
        o.k_override = 2;
        return model.forward(Var(x), o);
    }();
    // The swapped expert is the second of the top-2, with its softmax probability as gate.
    for (std::int64_t b = 0; b < 6; ++b) {
        BOOST_TEST(swapped.routings[0].expert[static_cast<std::size_t>(b)] == k2.routings[0].expert[static_cast<std::size_t>(2 * b + 1)]);
        BOOST_TEST(swapped.routings[0].gates.value()[b] == k2.routings[0].gates.value()[2 * b + 1]);
    }
    ForwardOptions bad;
    bad.swap_rank = 1;   // k = 1: only rank 0 exists
    BOOST_CHECK_THROW(model.forward(Var(x), bad), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(attacks_give_the_same_bits_under_1_2_and_4_threads) {
    Classifier model(small_moe(40));
    sharpen(model);
    const AttackModel m = classifier_attack_model(model, kImageBox);
    const Tensor x = random_tensor(Shape{300, 40}, 16, 0.0, 1.0);
    const auto y = clean_predictions(m, x);
    AttackOptions o;
    o.eps = 0.05;
    o.steps = 5;
    const int before = max_threads();
    std::vector<Tensor> out;
    for (int t : {1, 2, 4}) {
        set_threads(t);
        out.push_back(apgd(m, x, y, o).x_adv);
        out.push_back(pgd(m, x, y, o).x_adv);
    }
    set_threads(before);
    BOOST_TEST(out[0].bitwise_equal(out[2]));
    BOOST_TEST(out[0].bitwise_equal(out[4]));
    BOOST_TEST(out[1].bitwise_equal(out[3]));
    BOOST_TEST(out[1].bitwise_equal(out[5]));
}

// Attacks need gradients whatever their caller's mode: called from inside a NoGradGuard (evaluation
// code often is) they must find the very same points, not silently step along a zero gradient.
BOOST_AUTO_TEST_CASE(attacks_inside_a_no_grad_scope_give_the_same_points) {
    Classifier model(small_moe(20));
    sharpen(model);
    const AttackModel m = classifier_attack_model(model, kImageBox);
    const Tensor x = random_tensor(Shape{40, 20}, 17, 0.0, 1.0);
    const auto y = clean_predictions(m, x);
    AttackOptions o;
    o.eps = 0.05;
    o.steps = 5;
    MinimalOptions mo;
    const AttackResult pgd_free = pgd(m, x, y, o), df_free = deepfool(m, x, y, mo);
    NoGradGuard no_grad;
    const AttackResult pgd_guarded = pgd(m, x, y, o), df_guarded = deepfool(m, x, y, mo);
    BOOST_TEST(pgd_guarded.x_adv.bitwise_equal(pgd_free.x_adv));
    BOOST_TEST(df_guarded.x_adv.bitwise_equal(df_free.x_adv));
    int moved = 0;
    for (std::size_t b = 0; b < y.size(); ++b) moved += pgd_free.distance[b] > 0.0;
    BOOST_TEST(moved > 20);   // a real attack, not a no-op on both sides
    BOOST_TEST(!grad_enabled());   // and the caller's mode is back
}

BOOST_AUTO_TEST_CASE(bad_attack_options_are_refused_naming_the_key) {
    AttackOptions o;
    o.eps = -0.1;
    try {
        o.validate();
        BOOST_FAIL("eps < 0 accepted");
    } catch (const ConfigError& e) {
        BOOST_TEST(e.key == "eps");
        BOOST_TEST(cli::user_message(e).rfind("--eps: ", 0) == 0u);   // what the command line prints
    }
    o.eps = std::nan("");
    BOOST_CHECK_THROW(o.validate(), std::invalid_argument);
    BOOST_CHECK_THROW(parse_norm("l3"), std::invalid_argument);
    const LinearClassifier lin = random_linear(3, 2, 1);
    Tensor x(Shape{1, 2}, 0.5);
    x[1] = std::nan("");
    BOOST_CHECK_THROW(pgd(lin.model(), x, {0}, AttackOptions{}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(the_harness_reports_verified_points_and_a_monotone_curve) {
    Classifier model(small_moe());
    sharpen(model);
    Dataset data;
    data.x = random_tensor(Shape{70, 8}, 17, 0.0, 1.0);
    const AttackModel m = classifier_attack_model(model, kImageBox);
    // Labels: the model's own predictions, except every 7th sample, which is mislabelled on purpose.
    data.y = clean_predictions(m, data.x);
    for (std::size_t i = 0; i < data.y.size(); i += 7) data.y[i] = (data.y[i] + 1) % 5;
    data.num_classes = 5;
    for (const std::string attack : {"pgd", "apgd-dlr", "deepfool", "fmn", "router", "expert"}) {
        AttackSpec spec;
        spec.attack = parse_attack(attack);
        spec.options.eps = 0.08;
        spec.options.steps = 10;
        spec.batch_size = 32;   // several batches, the last one short
        spec.domain = kImageBox;
        const RobustnessReport rep = run_attack(model, data, spec);
        BOOST_TEST_REQUIRE(rep.samples.size() == 70u);
        const AttackModel judge = attack == "expert" ? frozen_routing_attack_model(model, data.x, kImageBox) : m;
        const auto pred = clean_predictions(judge, rep.x_adv);
        const std::int64_t d = 8;
        double robust = 0;
        for (std::size_t i = 0; i < 70; ++i) {
            const SampleRecord& s = rep.samples[i];
            BOOST_TEST(s.adv_pred == pred[i], attack << " sample " << i);
            std::vector<double> delta(static_cast<std::size_t>(d));
            for (std::int64_t j = 0; j < d; ++j) {
                const double v = rep.x_adv[static_cast<std::int64_t>(i) * d + j];
                BOOST_TEST((v >= 0.0 && v <= 1.0));
                delta[static_cast<std::size_t>(j)] = v - data.x[static_cast<std::int64_t>(i) * d + j];
            }
            const double dist = vector_norm(delta.data(), d, Norm::linf);
            if (is_minimal_distance(spec.attack)) {
                if (s.success) BOOST_TEST(dist == s.distance);
                robust += s.clean_pred == s.label && s.distance > 0.08;
            } else {
                BOOST_TEST(dist <= 0.08);
                robust += s.clean_pred == s.label && s.adv_pred == s.label;
            }
            if (s.success && attack != "router") BOOST_TEST(s.adv_pred != s.label);
        }
        BOOST_TEST(rep.robust_accuracy == robust / 70.0);
        BOOST_TEST(rep.clean_accuracy == 60.0 / 70.0);
        for (std::size_t i = 1; i < rep.curve.size(); ++i) BOOST_TEST(rep.curve[i].second <= rep.curve[i - 1].second);
        BOOST_TEST(rep.robust_accuracy < rep.clean_accuracy, attack << " found nothing");
        const std::string csv = to_csv(rep);
        BOOST_TEST(csv.rfind("index,label,clean_pred,adv_pred,success,distance,routing_changed", 0) == 0u);
        BOOST_TEST(std::count(csv.begin(), csv.end(), '\n') == 71);
        const auto j = summary_json(rep, spec, 4);
        BOOST_TEST(j.at("robust_accuracy").get<double>() == rep.robust_accuracy);
        BOOST_TEST(j.at("per_expert").size() == 4u);
    }
}

BOOST_AUTO_TEST_CASE(the_swap_measurement_matches_a_direct_forward) {
    Classifier model(small_moe());
    sharpen(model);
    Dataset data;
    data.x = random_tensor(Shape{40, 8}, 18, 0.0, 1.0);
    data.y = clean_predictions(classifier_attack_model(model, kImageBox), data.x);
    data.num_classes = 5;
    AttackSpec spec;
    spec.attack = Attack::swap;
    spec.swap_rank = 1;
    const RobustnessReport rep = run_attack(model, data, spec);
    ForwardOptions o;
    o.swap_rank = 1;
    NoGradGuard no_grad;
    const auto pred = argmax_rows(model.forward(Var(data.x), o).logits.value());
    double same = 0;
    for (std::size_t i = 0; i < 40; ++i) same += static_cast<int>(pred[i]) == data.y[i];
    BOOST_TEST(rep.robust_accuracy == same / 40.0);
    BOOST_TEST(rep.routing_change_rate == 1.0);   // the second expert is always replaced
}

// The L-inf projection has a vectorised path (clamps as blends, a one-ulp fix by bit pattern) and an
// element-wise fallback; both must give exactly the element-wise definition, on the awkward cases too:
// negative and zero values, steps outside the domain, eps 0 and tiny, NaN, rows not a multiple of 4.
// (The clean points lie in the domain: the attacks refuse any other, see the next test.)
BOOST_AUTO_TEST_CASE(the_linf_projection_equals_its_element_wise_definition_bit_for_bit) {
    const auto reference = [](Tensor a, const Tensor& o, const std::vector<double>& eps, Box box) {
        const std::int64_t d = o.cols();
        for (std::int64_t b = 0; b < o.rows(); ++b)
            for (std::int64_t i = 0; i < d; ++i) {
                const double oi = o[b * d + i], e = eps[static_cast<std::size_t>(b)];
                double v = std::clamp(a[b * d + i], oi - e, oi + e);
                v = std::clamp(v, box.lo, box.hi);
                while (std::abs(v - oi) > e) v = std::nextafter(v, oi);
                a[b * d + i] = v;
            }
        return a;
    };
    const std::vector<double> eps_values{0.1, 0.3, 0.0, 1e-300, 0.03, 1e-8, 2.0, 0.1};
    for (const std::int64_t d : {1, 3, 4, 7, 784}) {
        const std::int64_t B = static_cast<std::int64_t>(eps_values.size());
        Tensor o = random_tensor(Shape{B, d}, 11 + static_cast<std::uint64_t>(d));   // about [-1, 1]
        Tensor a = random_tensor(Shape{B, d}, 12 + static_cast<std::uint64_t>(d));
        for (std::int64_t i = 0; i < o.numel(); ++i) {
            o[i] = std::clamp(0.5 + o[i], 0.0, 1.0);   // inside the domain, many on its faces
            a[i] = o[i] + 0.4 * a[i];    // steps of either sign, some beyond eps
            if (i % 13 == 0) a[i] = 0.0;
            if (i % 17 == 0) o[i] = -0.0;
        }
        if (d >= 3) a[2] = std::numeric_limits<double>::quiet_NaN();
        for (const Box box : {Box{0.0, 1.0}, Box{-1e300, 1e300}, Box{-0.5, 1.0}}) {
            const Tensor want = reference(a, o, eps_values, box);
            Tensor got = a;
            attack_detail::project(got, o, eps_values, Norm::linf, box);
            BOOST_TEST(got.bitwise_equal(want), "d " << d << " box [" << box.lo << ", " << box.hi << "]");
        }
    }
}

// An input outside the domain has no admissible point near it (the projection onto the ball and the
// domain would be empty); the attacks refuse it by name instead of searching.
BOOST_AUTO_TEST_CASE(attacks_refuse_inputs_outside_the_domain) {
    const LinearClassifier lin = random_linear(3, 4, 5);
    AttackModel m = lin.model();
    m.domain = Box{0.0, 1.0};
    Tensor x(Shape{2, 4}, 0.5);
    x[6] = 1.25;
    AttackOptions o;
    o.eps = 0.1;
    const std::vector<int> y{0, 1};
    const auto refused = [&](const auto& attack, const std::string& who) {
        try {
            attack(m, x, y, o);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what()) == who + ": input 1 has value 1.25 outside the domain [0, 1]";
        }
        return false;
    };
    BOOST_TEST(refused(pgd, "pgd"));
    BOOST_TEST(refused(fgsm, "fgsm"));
    BOOST_TEST(refused(apgd, "apgd"));
}

BOOST_AUTO_TEST_SUITE_END()
