// moelab theory: CROWN (Zhang et al. 2018), linear bounds propagated backwards through ReLU networks,
// and the certified radius it gives.
//
// For a margin F_y - F_j = c^T z_L, the bound is carried back layer by layer as a linear function
// Lambda . a + const of the layer's activations. Through an affine map it is exact; through a ReLU whose
// pre-activation bounds [l, u] straddle 0 it uses the triangle relaxation's upper line u (z - l) / (u - l)
// where Lambda < 0 and the lower line alpha z (alpha = 1 if u >= -l, else 0) where Lambda >= 0. At the input
// the linear function is minimised over the box in closed form. Intermediate pre-activation bounds come from
// interval propagation (the CROWN-IBP variant: sound, cheaper, looser in the middle than full CROWN).
//
// Coverage: layer-level models without MoE blocks (kind mlp) fully. Top-1 model-level MoEs with routing
// uncertainty: the experts that can be chosen somewhere in the box are found from interval bounds on the
// router scores, and a radius is certified when CROWN certifies the label for every one of them (the
// positive gate of a top-1 model-level MoE does not change which class its expert picks). Layer-level MoE
// blocks that route top-1 with gate exactly 1 (topk-softmax gates, or one expert) the same way: every
// combination of experts the interval bounds allow (block by block, each block's input bounded along the
// earlier choices; at most 256) is a plain ReLU network, and each must keep the label. A softmax gate
// inside a layer-level block multiplies the expert's output before later layers and biases, so no such
// argument holds there. Other MoEs: not covered (NaN, with a note); use ibp.
#pragma once

#include <string>
#include <vector>

#include "theory/network/geometry.hpp"
#include "theory/network/network.hpp"

namespace moelab {

// "" when CROWN covers the model, else the reason.
std::string crown_support(const Network& net);
// Lower bounds on F_y - F_j for each j (entry y is 0) over the box of radius r around x (one sample).
std::vector<double> crown_margin_lower(const Network& net, const double* x, int y, double r, Box domain);
// Per row: the largest radius (doubling, then `iters` halvings) at which every margin bound is positive.
std::vector<double> crown_certified_radii(const Network& net, const Tensor& x, const std::vector<int>& y, Box domain,
                                          int iters = 30);

}  // namespace moelab
