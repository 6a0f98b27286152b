// moelab theory: lower bounds on a classifier's Lipschitz constants, by input gradients and across routing
// boundaries (claims C1 and C2). Upper bounds and the certificate: theory/bounds/lipschitz.hpp.
//
// On a linear region of a ReLU network (routing fixed) the gradient of F_y - F_j is that region's Jacobian
// row difference, so its dual norm is a lower bound on the Lipschitz constant of F_y - F_j on any set
// holding the point. Both functions below probe the given points and rounds - 1 uniform points of the
// L-inf ball of `radius` around each (Rng(seed) split by the function's name, then by round).
#pragma once

#include <cstdint>
#include <vector>

#include "moe/model.hpp"
#include "theory/network/geometry.hpp"

namespace moelab {

// One number for a set of points: the largest ||grad (F_y - F_j)||_dual over the points and random points
// around them (radius 0.05, 5 rounds; y the prediction at each probed point), and, for hard-routing MoEs,
// the largest ||F(x') - F(x)||_inf / ||x' - x||_p found across a routing boundary (DeepFool on the router).
struct LipschitzLower {
    double gradient = 0.0;        // max over points and class pairs of ||grad (F_y - F_j)||_dual
    double discontinuity = 0.0;   // max ||F(b+) - F(b-)||_inf / ||b+ - b-||_p across routing boundaries found
    std::int64_t boundaries = 0;  // routing boundaries probed
};
LipschitzLower lipschitz_lower(const Classifier& model, const Tensor& points, Norm p, std::uint64_t seed = 1);

// One number per sample (claim C2 sets it against how much the sample's top experts disagree): for row b,
//   L_b = max over x_b and its probes and over classes c != y_b of || grad_x (F_{y_b} - F_c) ||_dual,
// with y_b the prediction at x_b. A lower bound on the Lipschitz constant of F on the ball; it does not see
// routing jumps (lipschitz_lower's discontinuity term does).
std::vector<double> local_lipschitz_lower(const Classifier& model, const Tensor& points, Norm p, double radius = 0.05,
                                          int rounds = 5, std::uint64_t seed = 1);

}  // namespace moelab
