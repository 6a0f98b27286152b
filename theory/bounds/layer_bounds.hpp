// moelab theory: per-unit bounds on every layer of a ReLU network over an input box, by CROWN (Zhang et al.
// 2018, "Efficient Neural Network Robustness Certification with General Activation Functions") run for each
// layer in turn: a unit's pre-activation is carried back to the input as a linear function, through the
// affine maps exactly and through each earlier ReLU by its linear relaxation, which uses the bounds already
// found for that earlier layer (full CROWN, not CROWN-IBP), and then minimised over the box in closed form.
// Each unit's bounds are intersected with interval arithmetic on the previous layer's bounds, so they are
// never looser than interval bounds. The exact MILP (exact.hpp) takes its big-M constants and its stable-ReLU
// and reachable-class decisions from these.
//
// Rounding: every bound is moved outward by 1e-10 of the sum of absolute values of the terms that formed
// it (the products carried back included), about a million times what double rounding of sums of <= 10^4
// terms through a few layers can cost (n u, u = 1.1e-16); the ReLU slopes' own rounding is covered by
// the same charge (the upper line's error at z is at most u |slope| |z - l|, a term of that sum).
#pragma once

#include <vector>

#include "theory/network/network.hpp"

namespace moelab {

struct UnitBounds {
    std::vector<double> lo, hi;
};

// The maps of a ReLU network from some input box, appended one at a time, each with proven bounds on its
// output units.
class LayerBounds {
public:
    LayerBounds(std::vector<double> lo, std::vector<double> hi);
    // Appends the affine map m (whose input is the current output, after a ReLU if relu() was called) and
    // returns bounds on its output units: CROWN's, intersected with `interval` (the caller's interval bounds).
    const UnitBounds& append(const AffineMap& m, const UnitBounds& interval);
    // A ReLU follows the last appended map (or the input box, when none was appended yet).
    void relu();
    // Lower bound over the box of c . (output of the last map) for each row c of `objectives`.
    std::vector<double> lower(const std::vector<std::vector<double>>& objectives) const;

private:
    struct Step {
        const AffineMap* map;
        bool relu_after;
        UnitBounds pre;   // bounds on the map's output
    };
    std::vector<double> in_lo_, in_hi_;
    std::vector<Step> steps_;
    double back_substitute(std::vector<double> lam) const;
};

}  // namespace moelab
