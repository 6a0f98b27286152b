// Central finite-difference gradient check shared by the test suites.
//
// For an op f(inputs) -> out, draws a random projection w of out's shape and compares
// d<w, f>/d input computed by backward(out, seed = w) with (<w, f(x + h e_i)> - <w, f(x - h e_i)>) / 2h,
// element by element for every input. The scalar projection is computed here in plain double, so an
// op is never checked through another differentiable op.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <functional>
#include <vector>

#include "engine/autograd.hpp"
#include "engine/rng.hpp"

namespace moelab::testing {

inline Tensor random_tensor(Shape shape, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
    Tensor t(shape);
    Rng rng(seed);
    for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform(static_cast<std::uint64_t>(i), lo, hi);
    return t;
}

// True when both lists have the same length and every tensor the same shape and bits (weights and
// optimizer state compared across runs, thread counts and resumptions).
inline bool bitwise_identical(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!a[i].bitwise_equal(b[i])) return false;
    return true;
}

// Largest relative error max_i |analytic_i - numeric_i| / max(1, |analytic_i|, |numeric_i|) over all
// inputs; also checks that every input received a gradient of the right shape.
inline double gradcheck(const std::function<Var(const std::vector<Var>&)>& f, const std::vector<Tensor>& inputs,
                        double h = 1e-5, std::uint64_t seed = 99) {
    std::vector<Var> vars;
    for (const Tensor& t : inputs) vars.emplace_back(t, true);
    Var out = f(vars);
    Tensor w(out.shape());
    Rng rng(seed);
    for (std::int64_t i = 0; i < w.numel(); ++i) w[i] = rng.uniform(static_cast<std::uint64_t>(i), -1.0, 1.0);
    backward(out, w);
    auto project = [&](const std::vector<Tensor>& xs) {
        NoGradGuard no_grad;
        std::vector<Var> vs;
        for (const Tensor& t : xs) vs.emplace_back(t, false);
        const Tensor y = f(vs).value();
        double s = 0.0;
        for (std::int64_t i = 0; i < y.numel(); ++i) s += w[i] * y[i];
        return s;
    };
    double worst = 0.0;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        const Tensor& g = vars[k].grad();
        BOOST_REQUIRE_MESSAGE(g.shape() == inputs[k].shape(),
                              "input " << k << " got gradient of shape " << g.shape().str());
        for (std::int64_t i = 0; i < inputs[k].numel(); ++i) {
            std::vector<Tensor> plus = inputs, minus = inputs;
            plus[k][i] += h;
            minus[k][i] -= h;
            const double numeric = (project(plus) - project(minus)) / (2.0 * h);
            const double analytic = g[i];
            const double err = std::fabs(analytic - numeric) / std::max({1.0, std::fabs(analytic), std::fabs(numeric)});
            worst = std::max(worst, err);
        }
    }
    return worst;
}

}  // namespace moelab::testing
