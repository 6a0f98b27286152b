// Every differentiable op in engine/ops.hpp against central finite differences, gradients with
// respect to every input (inputs of attacks included): relative error below 1e-6.
#include <boost/test/unit_test.hpp>

#include "engine/nn.hpp"
#include "engine/ops.hpp"
#include "tests/gradcheck.hpp"

using namespace moelab;
using moelab::testing::gradcheck;
using moelab::testing::random_tensor;

namespace {
constexpr double kTol = 1e-6;

// Values in [lo, hi] kept at least `gap` away from the kinks in `kinks` (relu, abs, clamp, max ties).
Tensor away_from(Tensor t, std::vector<double> kinks, double gap = 0.05) {
    for (std::int64_t i = 0; i < t.numel(); ++i)
        for (double k : kinks)
            if (std::fabs(t[i] - k) < gap) t[i] = k + (t[i] >= k ? gap : -gap);
    return t;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(gradcheck_ops)

BOOST_AUTO_TEST_CASE(matmul_gradients_match_finite_differences) {
    BOOST_TEST(gradcheck([](auto& v) { return matmul(v[0], v[1]); },
                         {random_tensor({5, 7}, 1), random_tensor({7, 3}, 2)}) < kTol);
    // More rows than one gemm row block, so the blocked path is checked too.
    BOOST_TEST(gradcheck([](auto& v) { return matmul(v[0], v[1]); },
                         {random_tensor({70, 3}, 3), random_tensor({3, 2}, 4)}) < kTol);
}

BOOST_AUTO_TEST_CASE(linear_gradients_match_finite_differences) {
    BOOST_TEST(gradcheck([](auto& v) { return linear(v[0], v[1], v[2]); },
                         {random_tensor({6, 4}, 5), random_tensor({3, 4}, 6), random_tensor({3}, 7)}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return linear(v[0], v[1], Var()); },
                         {random_tensor({66, 4}, 8), random_tensor({3, 4}, 9)}) < kTol);
}

BOOST_AUTO_TEST_CASE(linear_relu_matches_finite_differences_and_the_unfused_ops_bit_for_bit) {
    // Pre-activations kept away from the kink: weights and inputs positive-ish, bias spread around 0.
    const Tensor x = random_tensor({6, 4}, 40), w = random_tensor({5, 4}, 41), b = random_tensor({5}, 42);
    BOOST_TEST(gradcheck([](auto& v) { return linear_relu(v[0], v[1], v[2]); }, {x, w, b}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return linear_relu(v[0], v[1], Var()); },
                         {random_tensor({70, 3}, 43), random_tensor({4, 3}, 44)}) < kTol);
    // Same values and same gradients as relu(linear(...)), to the bit, also with K = 600 (OpenBLAS adds
    // the product onto C in K-chunks: the bias must go in first in both).
    const Tensor xk = random_tensor({6, 600}, 49), wk = random_tensor({5, 600}, 50, -0.05, 0.05);
    Var xf(xk, true), wf(wk, true), bf(b, true), xu(xk, true), wu(wk, true), bu(b, true);
    Var fused = linear_relu(xf, wf, bf), unfused = relu(linear(xu, wu, bu));
    BOOST_TEST(fused.value().bitwise_equal(unfused.value()));
    std::int64_t zeros = 0;
    for (std::int64_t i = 0; i < fused.value().numel(); ++i) zeros += fused.value()[i] == 0.0;
    BOOST_TEST(zeros > 0);   // the ReLU did cut something
    const Tensor seed = random_tensor({6, 5}, 45);
    backward(fused, seed);
    backward(unfused, seed);
    BOOST_TEST(xf.grad().bitwise_equal(xu.grad()));
    BOOST_TEST(wf.grad().bitwise_equal(wu.grad()));
    BOOST_TEST(bf.grad().bitwise_equal(bu.grad()));
}

BOOST_AUTO_TEST_CASE(weighted_index_add_matches_finite_differences_and_closed_form) {
    // Two parts scattered into 4 rows; row 3 gets contributions from both, row 1 from none.
    const std::vector<std::vector<std::int64_t>> index{{0, 3, 2}, {3, 2}}, weight_index{{0, 4, 2}, {5, 3}};
    auto f = [&](auto& v) { return weighted_index_add(4, {v[0], v[1]}, index, v[2], weight_index); };
    BOOST_TEST(gradcheck(f, {random_tensor({3, 2}, 46), random_tensor({2, 2}, 47), random_tensor({3, 2}, 48)}) < kTol);
    const Tensor p0(Shape{3, 2}, {1, 2, 3, 4, 5, 6}), p1(Shape{2, 2}, {10, 20, 30, 40});
    const Tensor w(Shape{3, 2}, {0.5, 0, 2, 3, -1, 0.25});
    const Tensor y = weighted_index_add(4, {Var(p0), Var(p1)}, index, Var(w), weight_index).value();
    // row 0: 0.5*[1,2]; row 1: 0; row 2: 2*[5,6] + 3*[30,40]; row 3: -1*[3,4] + 0.25*[10,20]
    BOOST_TEST(y.vec() == (std::vector<double>{0.5, 1, 0, 0, 100, 132, -0.5, 1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(binary_ops_with_each_broadcast_match_finite_differences) {
    const Tensor a = random_tensor({4, 5}, 10);
    const Tensor b_same = random_tensor({4, 5}, 11, 0.5, 2.0);
    const Tensor b_row = random_tensor({5}, 12, 0.5, 2.0);
    const Tensor b_row2 = random_tensor({1, 5}, 13, 0.5, 2.0);
    const Tensor b_scalar = random_tensor({}, 14, 0.5, 2.0);
    for (const Tensor& b : {b_same, b_row, b_row2, b_scalar}) {
        BOOST_TEST(gradcheck([](auto& v) { return add(v[0], v[1]); }, {a, b}) < kTol);
        BOOST_TEST(gradcheck([](auto& v) { return sub(v[0], v[1]); }, {a, b}) < kTol);
        BOOST_TEST(gradcheck([](auto& v) { return mul(v[0], v[1]); }, {a, b}) < kTol);
        BOOST_TEST(gradcheck([](auto& v) { return div(v[0], v[1]); }, {a, b}) < kTol);
    }
}

BOOST_AUTO_TEST_CASE(scale_rows_matches_finite_differences) {
    BOOST_TEST(gradcheck([](auto& v) { return scale_rows(v[0], v[1]); },
                         {random_tensor({4, 3}, 35), random_tensor({4}, 36)}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return scale_rows(v[0], v[1]); },
                         {random_tensor({3, 5}, 37), random_tensor({3, 1}, 38)}) < kTol);
}

BOOST_AUTO_TEST_CASE(scalar_ops_match_finite_differences) {
    const Tensor a = random_tensor({3, 4}, 15);
    BOOST_TEST(gradcheck([](auto& v) { return add_scalar(v[0], 2.5); }, {a}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return mul_scalar(v[0], -1.5); }, {a}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return pow_scalar(v[0], 2.7); }, {random_tensor({3, 4}, 16, 0.2, 2.0)}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return pow_scalar(v[0], 3.0); }, {a}) < kTol);
}

BOOST_AUTO_TEST_CASE(unary_ops_match_finite_differences) {
    const Tensor a = random_tensor({4, 6}, 17, -3.0, 3.0);
    BOOST_TEST(gradcheck([](auto& v) { return relu(v[0]); }, {away_from(a, {0.0})}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return tanh(v[0]); }, {a}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return sigmoid(v[0]); }, {a}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return softplus(v[0]); }, {a}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return exp(v[0]); }, {a}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return log(v[0]); }, {random_tensor({4, 6}, 18, 0.1, 3.0)}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return abs(v[0]); }, {away_from(a, {0.0})}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return clamp(v[0], -1.0, 1.5); }, {away_from(a, {-1.0, 1.5})}) < kTol);
}

BOOST_AUTO_TEST_CASE(softmax_log_softmax_and_cross_entropy_match_finite_differences) {
    const Tensor z = random_tensor({5, 7}, 19, -4.0, 4.0);
    BOOST_TEST(gradcheck([](auto& v) { return softmax(v[0]); }, {z}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return log_softmax(v[0]); }, {z}) < kTol);
    const std::vector<int> labels{0, 6, 3, 3, 1};
    BOOST_TEST(gradcheck([&](auto& v) { return cross_entropy(v[0], labels); }, {z}) < kTol);
    // Large logits: the max-subtraction keeps values finite and gradients exact.
    BOOST_TEST(gradcheck([&](auto& v) { return cross_entropy(v[0], labels); },
                         {random_tensor({5, 7}, 20, 300.0, 320.0)}) < kTol);
}

BOOST_AUTO_TEST_CASE(reductions_over_every_axis_match_finite_differences) {
    const Tensor a = random_tensor({2, 3, 4}, 21);
    for (int axis : {0, 1, 2, -1})
        for (bool keep : {false, true}) {
            BOOST_TEST(gradcheck([=](auto& v) { return sum(v[0], axis, keep); }, {a}) < kTol);
            BOOST_TEST(gradcheck([=](auto& v) { return mean(v[0], axis, keep); }, {a}) < kTol);
            BOOST_TEST(gradcheck([=](auto& v) { return max(v[0], axis, keep); }, {a}) < kTol);
        }
    BOOST_TEST(gradcheck([](auto& v) { return sum_all(v[0]); }, {a}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return mean_all(v[0]); }, {a}) < kTol);
}

BOOST_AUTO_TEST_CASE(index_ops_match_finite_differences) {
    const Tensor a = random_tensor({5, 3}, 22);
    const std::vector<std::int64_t> rows{4, 0, 4, 2};   // repeats accumulate
    BOOST_TEST(gradcheck([&](auto& v) { return index_select(v[0], rows); }, {a}) < kTol);
    BOOST_TEST(gradcheck([&](auto& v) { return index_add(v[0], rows, v[1]); }, {a, random_tensor({4, 3}, 23)}) < kTol);
    const std::vector<std::int64_t> cols{2, 0, 1, 1, 0, 0, 2, 1, 1, 2};
    BOOST_TEST(gradcheck([&](auto& v) { return gather_cols(v[0], cols, 2); }, {a}) < kTol);
}

BOOST_AUTO_TEST_CASE(shape_ops_match_finite_differences) {
    const Tensor a = random_tensor({2, 3, 4}, 24);
    BOOST_TEST(gradcheck([](auto& v) { return concat({v[0], v[1]}, 1); }, {a, random_tensor({2, 2, 4}, 25)}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return concat({v[0], v[1], v[0]}, -1); },
                         {a, random_tensor({2, 3, 1}, 26)}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return reshape(v[0], Shape{4, 6}); }, {a}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return transpose(v[0]); }, {a}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return transpose(v[0], 0, 2); }, {a}) < kTol);
    BOOST_TEST(gradcheck([](auto& v) { return transpose(v[0], 0, 1); }, {random_tensor({3, 5}, 27)}) < kTol);
}

BOOST_AUTO_TEST_CASE(dropout_matches_finite_differences_with_its_fixed_mask) {
    const Rng rng(7);
    BOOST_TEST(gradcheck([&](auto& v) { return dropout(v[0], 0.3, rng, true); }, {random_tensor({6, 5}, 28)}) < kTol);
}

BOOST_AUTO_TEST_CASE(a_composed_mlp_has_correct_input_and_parameter_gradients) {
    // The attack use case: d loss / d input through a whole network.
    const std::vector<int> labels{1, 0, 2};
    BOOST_TEST(gradcheck(
                   [&](auto& v) {
                       Var h = tanh(linear(v[0], v[1], v[2]));
                       return cross_entropy(linear(h, v[3], v[4]), labels);
                   },
                   {random_tensor({3, 4}, 29), random_tensor({5, 4}, 30), random_tensor({5}, 31),
                    random_tensor({3, 5}, 32), random_tensor({3}, 33)}) < kTol);
}

BOOST_AUTO_TEST_CASE(the_checker_itself_catches_a_wrong_gradient) {
    // A deliberately wrong backward (factor 2 too large) must fail the check: the tolerance bites.
    auto wrong = [](const std::vector<Var>& v) {
        return make_result(v[0].value(), "wrong", {v[0]}, [](Node& self) {
            Tensor g = self.grad;
            for (double& x : g.vec()) x *= 2.0;
            self.parents[0]->accumulate(g);
        });
    };
    BOOST_TEST(gradcheck(wrong, {random_tensor({2, 2}, 34)}) > 0.1);
}

BOOST_AUTO_TEST_SUITE_END()
