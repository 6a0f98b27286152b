// moelab theory: per-sample local Lipschitz estimates (THEORY.md §2, claim C2).
//
// lipschitz_lower (lipschitz.hpp) gives one number for a whole set of points; C2 needs one per sample, to set
// against how much the sample's top experts disagree. For row b this returns
//   L_b = max over the points x_b and x_b + u_r (u_r uniform in the L-inf ball of `radius`, r = 1..rounds-1)
//         and over classes c != y_b of || grad_x (F_{y_b} - F_c) ||_dual,
// with y_b the prediction at x_b. Each gradient norm is the exact local constant of that class-score difference on
// the linear region around the point (ReLU networks, fixed routing), so L_b is a lower bound on the Lipschitz
// constant of F on the ball; it does not see routing jumps (lipschitz_lower's discontinuity term does).
#pragma once

#include <cstdint>
#include <vector>

#include "moe/model.hpp"
#include "theory/attack.hpp"

namespace moelab {

std::vector<double> local_lipschitz_lower(const Classifier& model, const Tensor& points, Norm p, double radius = 0.05,
                                          int rounds = 5, std::uint64_t seed = 1);

}  // namespace moelab
