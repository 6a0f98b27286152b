// moelab theory: a certificate is a proof, so nothing non-finite may enter or leave one.
//
// An infinite weight makes products like inf * 0 = NaN, and comparisons with NaN are false, so a bound can
// silently come out 0 (a "Lipschitz constant" of 0 certifies every radius) or GLPK aborts on an invalid
// scale factor. The guards here are called where a model becomes matrices (network_of), before sampling
// certificates (smoothing), and on every constant a certificate divides by.
#pragma once

#include <string>

#include "moe/model.hpp"
#include "theory/network/network.hpp"

namespace moelab {

// Throws std::invalid_argument "weights: tensor '<name>' holds inf at index i (values must be finite); no
// certificate is computed for such a model".
void require_finite_weights(const Classifier& model);
void require_finite_network(const Network& net);
// Throws std::domain_error "<what> is <value>, not finite: refusing to certify with it" unless v is finite.
void require_finite_bound(double v, const std::string& what);

}  // namespace moelab
