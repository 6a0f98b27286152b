// moelab theory: operator norms, Lipschitz bounds and the Lipschitz-margin certificate (docs/theory.md §2-3).
//
// Conventions: the input norm p is linf or l2; a "pair constant" L_yj bounds the Lipschitz constant of
// the class-score difference F_y - F_j (a scalar) w.r.t. ||.||_p, so that |(F_y - F_j)(x') - (F_y - F_j)(x)|
// <= L_yj ||x' - x||_p. For a linear last layer v = w_y - w_j on features h: L_yj <= ||v||_dual * L(h),
// with L(h) the product of the p -> p operator norms of the maps before it (ReLU is 1-Lipschitz).
//
// Hard top-k routing is discontinuous (docs/theory.md §2): no finite global constant holds unless experts agree
// at routing boundaries. So for MoE models this file offers
//   - the naive bound: the expert-path constant with the routing held fixed, as if routing were smooth.
//     Unsound on purpose: the checker shows attacks beating it (claim C10);
//   - the routing-aware certificate (certify_lipschitz): a radius is certified only if every expert that
//     can be selected somewhere in the ball keeps the label (docs/theory.md §3, "reachable set").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "theory/network/geometry.hpp"
#include "theory/network/network.hpp"

namespace moelab {

double spectral_norm(const Tensor& w);        // largest singular value (LAPACKE dgesvd)
double linf_operator_norm(const Tensor& w);   // ||W||_{inf -> inf} = max row L1 norm
double l1_operator_norm(const Tensor& w);     // ||W||_{1 -> 1} = max column L1 norm
// p -> p. For l2, matrices above kCertifiedPowerThreshold entries get the certified power-iteration upper
// bound (theory/bounds/spectral_bounds.hpp, within 1e-6 relative), smaller ones the SVD.
double operator_norm(const Tensor& w, Norm p);
double chain_norm(const MapChain& chain, Norm p);   // product of the maps' p -> p norms

struct LipschitzUpper {
    Tensor pair;          // [C, C] pair constants (0 on the diagonal)
    double logits = 0.0;  // bound for x -> F(x) with ||.||_p on both sides
    bool sound = true;    // false: the naive fixed-routing bound of a hard-routing MoE
    std::string method;   // "layer-product" or "naive-fixed-routing"
    std::string note;
};
LipschitzUpper lipschitz_upper(const Network& net, Norm p);

// Lower bounds: theory/bounds/lipschitz_lower.hpp.

// Certified radii (docs/theory.md §3) of the label y at each row of x: no ||delta||_p < r changes the prediction
// away from y (0 when x is already misclassified). NaN where the method does not cover the model (the
// note says why). `naive` uses the fixed-routing constant (unsound for MoEs; kept to show it fails).
struct CertifiedRadii {
    std::vector<double> radius;
    std::string note;
};
CertifiedRadii certify_lipschitz(const Network& net, const Tensor& x, const std::vector<int>& y, Norm p, bool naive = false);

}  // namespace moelab
