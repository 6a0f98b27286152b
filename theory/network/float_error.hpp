// moelab theory: floating-point evaluation with a rigorous bound on its rounding error, for certificates that
// must charge rounding (radii moved down, constants moved up). Derivations: docs/p2-certificate.md.
//
// Model: IEEE double, round to nearest, u = 2^-53; a sum of n products, in any order and with or without FMA,
// is within gamma_n (|a|.|b|) of the exact sum, gamma_n = n u / (1 - n u) (Higham, Accuracy and Stability of
// Numerical Algorithms, 2nd ed., eq. (3.5)); libm's exp is within 2u relative (glibc's bound is below 1 ulp).
#pragma once

#include <cstdint>
#include <vector>

#include "theory/network/network.hpp"

namespace moelab {

// Values computed in double and, per coordinate, a bound on their distance to the exact real value.
struct BoundedValues {
    std::vector<double> value;
    std::vector<double> error;
};

// The chain (affine maps, ReLU between them) applied to one row x (exact input), with error bounds.
BoundedValues chain_with_error(const MapChain& chain, const double* x);

// softmax(z) for z given with error bounds (value and error of each coordinate).
BoundedValues softmax_with_error(const BoundedValues& z);

// Upper bounds, rounded upward, on ||W||_{inf->inf} (largest row L1 norm) and on the product of a chain's norms.
double linf_operator_norm_upper(const Tensor& w);
double chain_linf_norm_upper(const MapChain& chain);

// a + b, a * b and a / b rounded upward or downward (one ulp past the round-to-nearest result).
double add_up(double a, double b);
double mul_up(double a, double b);
double div_down(double a, double b);

}  // namespace moelab
