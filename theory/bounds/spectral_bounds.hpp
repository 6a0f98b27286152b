// moelab theory: the spectral norm of a large matrix by power iteration, with a certified stopping rule.
//
// sigma_max(W) is bracketed from both sides, and iteration stops when upper / lower <= 1 + tol:
//   lower  ||W v||_2 / ||v||_2 for the power-iteration vector v of A = W^T W (any v gives a lower bound),
//          times (1 - (m + n + 8) u) for the rounding of the two norms and the product (u = 2^-53);
//   upper  sigma_max^2 = lambda_max(A) and lambda_max(S)^2 = lambda_max(S^2) for symmetric S, so by
//          repeated squaring lambda_max(A) <= ||A^(2^k)||_F^(1/2^k), which tends to lambda_max(A) as k grows
//          (the other eigenvalues' share shrinks like (lambda_i / lambda_max)^(2^k)). In floating point each
//          level is M_{k+1} = 2^-e_{k+1} sym(fl(M_k M_k)), scaled by an exact power of two so nothing
//          overflows, and Weyl's inequality charges the rounding: with gamma_n = n u / (1 - n u),
//            lambda_max(M_k)^2 <= 2^e_{k+1} lambda_max(M_{k+1}) + gamma_n ||M_k||_F^2,
//          the deepest level bounded by its Frobenius norm (times 1 + n^2 u); the same holds for the Gram
//          product itself (gamma_m ||W||_F^2). Unwinding these inequalities, each step rounded up by a
//          factor 1 + 8u, gives a rigorous upper bound.
// The Gram matrix is taken on the smaller side (W W^T when W has fewer rows), so a squaring costs
// min(m, n)^3. Products use engine/blas.hpp's gemm (fixed partitions): the bounds are the same bits under any
// thread count.
//
// Where moelab uses it: operator_norm(w, l2) (theory/bounds/lipschitz.hpp) for matrices of more than
// kCertifiedPowerThreshold entries, returning the certified upper bound (what a Lipschitz upper bound needs);
// smaller matrices use the LAPACK SVD, whose value is exact to rounding.
#pragma once

#include <cstdint>

#include "engine/tensor.hpp"

namespace moelab {

inline constexpr std::int64_t kCertifiedPowerThreshold = 200000;   // entries; e.g. a 784 x 256 layer

struct SpectralBounds {
    double lower = 0.0, upper = 0.0;   // lower <= sigma_max(W) <= upper, rigorous
    int power_steps = 0;               // power-iteration steps taken
    int squarings = 0;                 // depth of repeated squaring
    bool converged = false;            // upper / lower <= 1 + tol reached (else the bounds at max_rounds)
};

// Throws std::invalid_argument on tol <= 0 or a non-2-D or non-finite W. A zero matrix gives [0, 0].
SpectralBounds spectral_norm_bounds(const Tensor& w, double tol = 1e-6, int max_rounds = 60);

}  // namespace moelab
