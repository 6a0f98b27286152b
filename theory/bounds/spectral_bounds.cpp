#include "theory/bounds/spectral_bounds.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/blas.hpp"

namespace moelab {

namespace {

constexpr double kU = 0x1p-53;           // unit roundoff
constexpr double kUp = 1.0 + 8.0 * kU;   // rounds a computed bound up past its own rounding

double gamma(double n) { return n * kU / (1.0 - n * kU); }

double frobenius(const std::vector<double>& a) {
    double s = 0.0;
    for (double v : a) s += v * v;
    return std::sqrt(s);
}

// >= the exact Frobenius norm: the computed one times 1 + gamma(N + 2) for the sum of N squares and the sqrt.
double frobenius_upper(const std::vector<double>& a) { return frobenius(a) * (1.0 + gamma(static_cast<double>(a.size()) + 2)) * kUp; }

// sym(fl(S S)) of an n x n symmetric S, scaled by 2^-e so that its Frobenius norm is in [0.5, 1).
std::vector<double> square_scaled(const std::vector<double>& s, std::int64_t n, int& e) {
    std::vector<double> p(s.size(), 0.0);
    gemm(false, false, n, n, n, 1.0, s.data(), n, s.data(), n, 0.0, p.data(), n);
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = i + 1; j < n; ++j) {
            const double v = 0.5 * (p[static_cast<std::size_t>(i * n + j)] + p[static_cast<std::size_t>(j * n + i)]);
            p[static_cast<std::size_t>(i * n + j)] = p[static_cast<std::size_t>(j * n + i)] = v;
        }
    const double f = frobenius(p);
    e = f > 0.0 ? std::ilogb(f) + 1 : 0;
    for (double& v : p) v = std::ldexp(v, -e);
    return p;
}

// Upper bound on sigma_max from the levels M_0, M_1, ... so far (see the header).
double squaring_upper_bound(const std::vector<std::vector<double>>& levels, const std::vector<int>& exps, std::int64_t n,
                            double gram_err) {
    const std::size_t K = levels.size() - 1;
    double U = frobenius_upper(levels[K]);   // >= ||M_K||_2 >= lambda_max(M_K)
    for (std::size_t lvl = K; lvl-- > 0;) {
        const double fk = frobenius_upper(levels[lvl]);
        const double err = gamma(static_cast<double>(n) + 2) * fk * fk * kUp;
        U = std::sqrt((std::ldexp(U, exps[lvl + 1]) + err) * kUp) * kUp;   // >= lambda_max(M_lvl)
    }
    const double lambda = (std::ldexp(U, exps[0]) + gram_err) * kUp;   // >= lambda_max(Gram)
    return std::sqrt(lambda) * kUp;
}

// ||fl(W v) - W v||_2 <= gamma_n || |W| |v| ||_2 <= gamma_n ||W||_F ||v||_2, so the exact ||W v|| is at least
// the computed one minus that, and sigma_max >= ||W v|| / ||v||. v lives on the Gram matrix's (smaller)
// side: for a wide W the row side, ||W^T v||; else ||W v||. wf >= ||W||_F.
double power_lower_bound(const Tensor& w, const std::vector<double>& v, double wf) {
    const std::int64_t m = w.rows(), k = w.cols();
    const bool wide = m < k;
    const std::int64_t n = wide ? m : k, other = wide ? k : m;
    std::vector<double> wv(static_cast<std::size_t>(other), 0.0);
    gemm(wide, false, other, 1, n, 1.0, w.data(), k, v.data(), 1, 0.0, wv.data(), 1);
    const double den = frobenius_upper(v);
    const double num = frobenius(wv) * (1.0 - gamma(static_cast<double>(other) + 2)) - gamma(static_cast<double>(n) + 2) * wf * den * kUp;
    return den > 0.0 && num > 0.0 ? num / den * (1.0 - 4.0 * kU) : 0.0;
}

}  // namespace

SpectralBounds spectral_norm_bounds(const Tensor& w, double tol, int max_rounds) {
    if (!(tol > 0.0)) throw std::invalid_argument("spectral_norm_bounds: tol must be positive");
    if (w.shape().rank() != 2) throw std::invalid_argument("spectral_norm_bounds: expected a matrix");
    for (std::int64_t i = 0; i < w.numel(); ++i)
        if (!std::isfinite(w[i])) throw std::invalid_argument("spectral_norm_bounds: matrix has NaN or infinite entries");
    const std::int64_t m = w.rows(), k = w.cols();
    const bool wide = m < k;                 // Gram on the smaller side: W W^T (m x m) or W^T W (k x k)
    const std::int64_t n = wide ? m : k, other = wide ? k : m;
    SpectralBounds out;
    // Level 0: G = sym(fl(Gram)) scaled by 2^-e0; lambda_max(Gram) <= 2^e0 lambda_max(M_0) + gamma_other ||W||_F^2.
    std::vector<double> g(static_cast<std::size_t>(n * n), 0.0);
    gemm(!wide, wide, n, n, other, 1.0, w.data(), k, w.data(), k, 0.0, g.data(), n);
    std::vector<double> w_all(w.data(), w.data() + w.numel());
    const double wf = frobenius_upper(w_all), wf2 = wf * wf * kUp;
    if (wf2 == 0.0) {
        out.converged = true;
        return out;
    }
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = i + 1; j < n; ++j) {
            const double v = 0.5 * (g[static_cast<std::size_t>(i * n + j)] + g[static_cast<std::size_t>(j * n + i)]);
            g[static_cast<std::size_t>(i * n + j)] = g[static_cast<std::size_t>(j * n + i)] = v;
        }
    const std::vector<double> gram = g;   // unscaled, for the power iteration
    const double gram_err = gamma(static_cast<double>(other) + 2) * wf2;
    std::vector<std::vector<double>> levels;   // M_0, M_1, ... (each Frobenius norm in [0.5, 1))
    std::vector<int> exps;                      // e_0, e_1, ...
    {
        const double f = frobenius(g);
        const int e0 = f > 0.0 ? std::ilogb(f) + 1 : 0;
        for (double& v : g) v = std::ldexp(v, -e0);
        levels.push_back(g);
        exps.push_back(e0);
    }
    // Power iteration on the Gram matrix from a fixed start (all ones plus a ramp, so no eigenvector is
    // orthogonal to it by symmetry), lower bound from ||W v|| / ||v|| on the original side.
    std::vector<double> v(static_cast<std::size_t>(n)), av(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = 1.0 + 1e-3 * static_cast<double>(i);
    for (int round = 0; round < max_rounds; ++round) {
        for (int s = 0; s < 8; ++s) {
            gemm(false, false, n, 1, n, 1.0, gram.data(), n, v.data(), 1, 0.0, av.data(), 1);
            const double f = frobenius(av);
            if (!(f > 0.0)) break;
            for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = av[static_cast<std::size_t>(i)] / f;
            ++out.power_steps;
        }
        if (levels.size() < 64) {
            int e = 0;
            levels.push_back(square_scaled(levels.back(), n, e));
            exps.push_back(e);
        }
        out.squarings = static_cast<int>(levels.size()) - 1;
        out.lower = power_lower_bound(w, v, wf);
        out.upper = squaring_upper_bound(levels, exps, n, gram_err);
        if (out.upper <= out.lower * (1.0 + tol)) {
            out.converged = true;
            break;
        }
    }
    return out;
}

}  // namespace moelab
