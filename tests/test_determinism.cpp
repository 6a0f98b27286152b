// A small training run gives bitwise-identical weights twice in a row and under 1, 2 and 4 threads.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "engine/blas.hpp"
#include "engine/float_semantics.hpp"
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

// A tall product (the W4 inference shape family) is cut into at most kGemmMaxBlocks row blocks that
// depend on the shape alone; its bits do not depend on the thread count, and it agrees with a naive product.
BOOST_AUTO_TEST_CASE(a_tall_gemm_has_the_same_bits_under_1_2_and_4_threads) {
    const std::int64_t M = 3001, N = 100, K = 200;
    BOOST_TEST(gemm_row_block(M, N, K) == 448);          // 120 MFLOP, B of 20 000: 7 blocks
    BOOST_TEST(gemm_row_block(10000, 128, 784) == 640);  // W4's stem: 16 blocks
    BOOST_TEST(gemm_row_block(128, 256, 256) == 128);    // 16.8 MFLOP: one block
    BOOST_TEST(gemm_row_block(10000, 10, 128) == 640);   // a small B: 16 blocks (the head of W4)
    BOOST_TEST(gemm_row_block(256, 8, 128) == 64);       // a small B: blocks of 64 rows
    const Rng rng(3);
    std::vector<double> a(static_cast<std::size_t>(M * K)), b(static_cast<std::size_t>(K * N));
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = rng.split("a").normal(i);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = rng.split("b").normal(i);
    const int before = max_threads();
    std::vector<std::vector<double>> c;
    for (int t : {1, 2, 4}) {
        set_threads(t);
        c.emplace_back(static_cast<std::size_t>(M * N), 0.0);
        gemm(false, false, M, N, K, 1.0, a.data(), K, b.data(), N, 0.0, c.back().data(), N);
    }
    set_threads(before);
    BOOST_TEST((c[0] == c[1]));
    BOOST_TEST((c[0] == c[2]));
    double worst = 0.0;
    for (std::int64_t i = 0; i < M; i += 97)
        for (std::int64_t j = 0; j < N; ++j) {
            double s = 0.0;
            for (std::int64_t k = 0; k < K; ++k) s += a[static_cast<std::size_t>(i * K + k)] * b[static_cast<std::size_t>(k * N + j)];
            worst = std::max(worst, std::abs(s - c[0][static_cast<std::size_t>(i * N + j)]));
        }
    BOOST_TEST(worst < 1e-12);
}

// The benchmark's GEMM floor replays what gemm() recorded: one call per product, as the caller made it.
BOOST_AUTO_TEST_CASE(gemm_calls_are_recorded_as_made) {
    ParamRegistry params;
    const Linear lin = Linear::create(params, "fc", 7, 5, Rng(1));
    std::vector<GemmCall> calls;
    record_gemm_calls(&calls);
    Var y = lin.forward(Var(Tensor(Shape{300, 7}, 0.5)));
    record_gemm_calls(nullptr);
    lin.forward(Var(Tensor(Shape{2, 7}, 0.5)));   // not recorded
    BOOST_TEST_REQUIRE(calls.size() == 1u);
    BOOST_TEST(calls[0].M == 300);
    BOOST_TEST(calls[0].N == 5);
    BOOST_TEST(calls[0].K == 7);
    BOOST_TEST(calls[0].trans_b);
    BOOST_TEST(!calls[0].trans_a);
    BOOST_TEST(calls[0].flops() == 2.0 * 300 * 5 * 7);
}

// The library is compiled so that a*b+c rounds twice and subnormals survive (the Makefile's
// -ffp-contract=off; no -ffast-math). Built with CXXFLAGS=-march=native and without that flag, GCC
// fuses the product into an FMA and this fails (checked by hand when the probe was written).
BOOST_AUTO_TEST_CASE(the_library_is_built_without_fma_contraction_or_flush_to_zero) {
    const FloatSemantics s = float_semantics();
    BOOST_TEST(s.unfused_multiply_add);
    BOOST_TEST(s.subnormals_kept);
}

BOOST_AUTO_TEST_SUITE_END()
