#include "theory/network/float_error.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace moelab {

namespace {

constexpr double kU = std::numeric_limits<double>::epsilon() / 2.0;   // unit roundoff 2^-53
constexpr double kInf = std::numeric_limits<double>::infinity();

double gamma(std::int64_t n) {
    const double nu = static_cast<double>(n) * kU;
    return nu / (1.0 - nu);
}

// The error bounds are themselves computed in double: a relative slack of 4 (n + 2) u covers their own
// rounding (second-order in u).
double slack(std::int64_t n) { return 1.0 + 4.0 * static_cast<double>(n + 2) * kU; }

// One affine map y = W a + b on a row known up to per-coordinate errors e_a:
// |fl(W a^ + b) - (W a + b)| <= gamma_{n+1} (|W| |a^| + |b|) + |W| e_a.
BoundedValues affine_with_error(const AffineMap& m, const BoundedValues& a) {
    const std::int64_t n = m.in(), out = m.out();
    BoundedValues y;
    y.value.resize(static_cast<std::size_t>(out));
    y.error.resize(static_cast<std::size_t>(out));
    const double g = gamma(n + 1);
    for (std::int64_t r = 0; r < out; ++r) {
        const double* w = m.w.data() + r * n;
        double acc = m.b.data()[r], mag = std::abs(m.b.data()[r]), carried = 0.0;
        for (std::int64_t c = 0; c < n; ++c) {
            acc += w[c] * a.value[static_cast<std::size_t>(c)];
            mag += std::abs(w[c] * a.value[static_cast<std::size_t>(c)]);
            carried += std::abs(w[c]) * a.error[static_cast<std::size_t>(c)];
        }
        y.value[static_cast<std::size_t>(r)] = acc;
        y.error[static_cast<std::size_t>(r)] = (g * mag + carried) * slack(n);
    }
    return y;
}

}  // namespace

double add_up(double a, double b) { return std::nextafter(a + b, kInf); }
double mul_up(double a, double b) { return std::nextafter(a * b, kInf); }
double div_down(double a, double b) { return std::nextafter(a / b, -kInf); }

BoundedValues chain_with_error(const MapChain& chain, const double* x) {
    BoundedValues h;
    const std::int64_t d = chain.front().in();
    h.value.assign(x, x + d);
    h.error.assign(static_cast<std::size_t>(d), 0.0);
    for (std::size_t i = 0; i < chain.size(); ++i) {
        if (i > 0)   // ReLU is exact and 1-Lipschitz: the error bound carries over
            for (double& v : h.value) v = std::max(v, 0.0);
        h = affine_with_error(chain[i], h);
    }
    return h;
}

// p_c = exp(z_c - m) / sum_k exp(z_k - m), m = max z. Arithmetic: the subtraction, exp (2u), the sum of C terms
// and the division give p^_c within (C + 6) u relative of p_c(z^), plus u from the exponent's own rounding
// (p_c |z_c - m| u <= u / e); charged twice over. Input errors: |p_c(z^) - p_c(z)| <= (1/2) max_k e_k, the
// softmax Jacobian's rows having L1 norm 2 p_c (1 - p_c) <= 1/2.
BoundedValues softmax_with_error(const BoundedValues& z) {
    const std::size_t C = z.value.size();
    const double m = *std::max_element(z.value.begin(), z.value.end());
    double sum = 0.0, e_in = 0.0;
    BoundedValues p;
    p.value.resize(C);
    p.error.resize(C);
    for (std::size_t c = 0; c < C; ++c) {
        p.value[c] = std::exp(z.value[c] - m);
        sum += p.value[c];
        e_in = std::max(e_in, z.error[c]);
    }
    const double arithmetic = 2.0 * (static_cast<double>(C) + 8.0) * kU;
    for (std::size_t c = 0; c < C; ++c) {
        p.value[c] /= sum;
        p.error[c] = (arithmetic + 0.5 * e_in) * slack(static_cast<std::int64_t>(C));
    }
    return p;
}

double linf_operator_norm_upper(const Tensor& w) {
    double best = 0.0;
    for (std::int64_t r = 0; r < w.rows(); ++r) {
        double s = 0.0;
        for (std::int64_t c = 0; c < w.cols(); ++c) s = add_up(s, std::abs(w.at(r, c)));
        best = std::max(best, s);
    }
    return best;
}

double chain_linf_norm_upper(const MapChain& chain) {
    double l = 1.0;
    for (const auto& m : chain) l = mul_up(l, linf_operator_norm_upper(m.w));
    return l;
}

}  // namespace moelab
