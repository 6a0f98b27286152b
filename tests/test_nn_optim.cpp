// Layers and optimizers: initialisation, names, and update rules against hand computation.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "engine/nn.hpp"
#include "engine/optim.hpp"

using namespace moelab;

BOOST_AUTO_TEST_SUITE(nn_optim)

BOOST_AUTO_TEST_CASE(linear_init_follows_the_documented_uniform_bound) {
    ParamRegistry params;
    const Linear l = Linear::create(params, "fc", 16, 8, Rng(1));
    const double bound = 0.25;   // 1/sqrt(16)
    double lo = 1, hi = -1;
    for (double w : l.weight.value().vec()) lo = std::min(lo, w), hi = std::max(hi, w);
    BOOST_TEST(lo >= -bound);
    BOOST_TEST(hi <= bound);
    BOOST_TEST(hi - lo > 1.5 * bound);   // the range is actually used
    BOOST_TEST(l.weight.shape() == (Shape{8, 16}));
    BOOST_TEST(params.contains("fc.bias"));
}

BOOST_AUTO_TEST_CASE(mlp_registers_stable_dotted_names_in_order) {
    ParamRegistry params;
    MLP::create(params, "experts.3", {4, 5, 6, 2}, Rng(1));
    std::vector<std::string> names;
    for (const auto& p : params.all()) names.push_back(p.name);
    const std::vector<std::string> want{"experts.3.fc1.weight", "experts.3.fc1.bias", "experts.3.fc2.weight",
                                        "experts.3.fc2.bias",   "experts.3.fc3.weight", "experts.3.fc3.bias"};
    BOOST_TEST(names == want, boost::test_tools::per_element());
    BOOST_TEST(params.numel() == 4 * 5 + 5 + 5 * 6 + 6 + 6 * 2 + 2);
    BOOST_CHECK_THROW(params.add("experts.3.fc1.weight", Tensor(Shape{1})), std::invalid_argument);
    // Initial values depend on the name, not on creation order.
    ParamRegistry other;
    Linear::create(other, "unrelated", 3, 3, Rng(1));
    MLP::create(other, "experts.3", {4, 5, 6, 2}, Rng(1));
    BOOST_TEST(other.get("experts.3.fc2.weight").value().bitwise_equal(params.get("experts.3.fc2.weight").value()));
}

namespace {
// One scalar parameter p with loss = 0.5 * p^2 (gradient p), stepped `steps` times.
std::vector<double> run_optimizer(OptimizerConfig cfg, double p0, int steps) {
    ParamRegistry params;
    Var p = params.add("p", Tensor(Shape{1}, p0));
    Optimizer opt(params, cfg);
    std::vector<double> trace;
    for (int s = 0; s < steps; ++s) {
        opt.zero_grad();
        backward(mul_scalar(mul(p, p), 0.5));
        opt.step();
        trace.push_back(p.value()[0]);
    }
    return trace;
}
}  // namespace

BOOST_AUTO_TEST_CASE(sgd_with_momentum_and_weight_decay_matches_hand_computation) {
    OptimizerConfig c{OptimizerKind::sgd, 0.1, 0.9, 0.9, 0.999, 1e-8, 0.01};
    const auto t = run_optimizer(c, 1.0, 2);
    // step 1: g = 1 + 0.01 = 1.01; buf = 1.01; p = 1 - 0.101 = 0.899
    // step 2: g = 0.899 * 1.01 = 0.90799; buf = 0.9 * 1.01 + 0.90799 = 1.81699; p = 0.899 - 0.181699
    BOOST_TEST(std::fabs(t[0] - 0.899) < 1e-15);
    BOOST_TEST(std::fabs(t[1] - (0.899 - 0.181699)) < 1e-15);
}

BOOST_AUTO_TEST_CASE(adam_first_steps_match_hand_computation) {
    OptimizerConfig c{OptimizerKind::adam, 0.1, 0.0, 0.9, 0.999, 1e-8, 0.0};
    const auto t = run_optimizer(c, 1.0, 2);
    // Step 1 of Adam moves every coordinate by lr * g/|g| (up to eps): p = 1 - 0.1.
    BOOST_TEST(std::fabs(t[0] - (1.0 - 0.1 / (1.0 + 1e-8))) < 1e-15);
    // Step 2 by hand: g2 = p1 = t[0].
    const double g2 = t[0];
    const double m = 0.9 * 0.1 + 0.1 * g2;   // b1*m1 + (1-b1)*g2 with m1 = 0.1
    const double v = 0.999 * 0.001 + 0.001 * g2 * g2;
    const double p2 = t[0] - (0.1 / (1 - 0.81)) * m / (std::sqrt(v) / std::sqrt(1 - 0.998001) + 1e-8);
    BOOST_TEST(std::fabs(t[1] - p2) < 1e-14);
}

BOOST_AUTO_TEST_CASE(adamw_decays_weights_decoupled_from_the_gradient) {
    OptimizerConfig adamw{OptimizerKind::adamw, 0.1, 0.0, 0.9, 0.999, 1e-8, 0.5};
    OptimizerConfig adam{OptimizerKind::adam, 0.1, 0.0, 0.9, 0.999, 1e-8, 0.0};
    // One step: AdamW = Adam's step applied to p * (1 - lr * wd).
    const double w = run_optimizer(adamw, 2.0, 1)[0];
    const double a = run_optimizer(adam, 2.0, 1)[0];
    BOOST_TEST(std::fabs(w - (a - 2.0 * 0.1 * 0.5)) < 1e-14);
    // Coupled L2 in Adam enters the gradient (g = 2 + 0.5 * 2 = 3) and is normalised by it.
    OptimizerConfig adam_l2 = adam;
    adam_l2.weight_decay = 0.5;
    BOOST_TEST(std::fabs(run_optimizer(adam_l2, 2.0, 1)[0] - (2.0 - 0.1 * 3.0 / (3.0 + 1e-8))) < 1e-15);
}

BOOST_AUTO_TEST_CASE(optimizer_state_round_trip_continues_identically) {
    OptimizerConfig c{OptimizerKind::adam, 0.05, 0.0, 0.9, 0.999, 1e-8, 0.01};
    ParamRegistry a_params, b_params;
    Var a = a_params.add("p", Tensor(Shape{3}, {1.0, -2.0, 0.5}));
    Var b = b_params.add("p", Tensor(Shape{3}, {1.0, -2.0, 0.5}));
    Optimizer oa(a_params, c), ob(b_params, c);
    auto step = [](Optimizer& o, Var& p) {
        o.zero_grad();
        backward(sum_all(mul(p, p)));
        o.step();
    };
    for (int i = 0; i < 3; ++i) step(oa, a), step(ob, b);
    // b restarts from a fresh optimizer loaded with the state: same trajectory bit for bit.
    Optimizer ob2(b_params, c);
    ob2.load_state(ob.state());
    for (int i = 0; i < 3; ++i) step(oa, a), step(ob2, b);
    BOOST_TEST(a.value().bitwise_equal(b.value()));
    BOOST_CHECK_THROW(parse_optimizer_kind("rmsprop"), std::invalid_argument);
    BOOST_CHECK_THROW(Optimizer(a_params, OptimizerConfig{OptimizerKind::adam, -1.0}), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
