#include "theory/bounds/layer_bounds.hpp"

#include <algorithm>
#include <cmath>

namespace moelab {

namespace {

constexpr double kRoundingCharge = 1e-10;   // layer_bounds.hpp: relative to the sum of absolute terms

}  // namespace

LayerBounds::LayerBounds(std::vector<double> lo, std::vector<double> hi) : in_lo_(std::move(lo)), in_hi_(std::move(hi)) {}

void LayerBounds::relu() {
    if (!steps_.empty()) {
        steps_.back().relu_after = true;
        return;
    }
    // A ReLU straight on the input box (after an MoE stage restarted the bounds): the box of its outputs.
    for (double& v : in_lo_) v = std::max(0.0, v);
    for (double& v : in_hi_) v = std::max(0.0, v);
}

// min over the box of lam . (output of the last map): the linear function carried back map by map; through
// a ReLU whose input straddles 0, the triangle relaxation's upper line s (z - l) where the coefficient is
// negative, the lower line alpha z (alpha = 1 when u >= -l, else 0) where it is positive. `mag` follows the
// same steps with absolute values: the size of the terms, for the rounding charge.
double LayerBounds::back_substitute(std::vector<double> lam) const {
    std::vector<double> mag(lam.size());
    for (std::size_t k = 0; k < lam.size(); ++k) mag[k] = std::abs(lam[k]);
    double constant = 0.0, constant_mag = 0.0;
    for (std::size_t li = steps_.size(); li-- > 0;) {
        const AffineMap& m = *steps_[li].map;
        const std::int64_t n = m.in(), o = m.out();
        std::vector<double> next(static_cast<std::size_t>(n), 0.0), next_mag(static_cast<std::size_t>(n), 0.0);
        for (std::int64_t r = 0; r < o; ++r) {
            const double lr = lam[static_cast<std::size_t>(r)], mr = mag[static_cast<std::size_t>(r)];
            if (mr == 0.0) continue;
            constant += lr * m.b[r];
            constant_mag += mr * std::abs(m.b[r]);
            const double* w = m.w.data() + r * n;
            for (std::int64_t i = 0; i < n; ++i) {
                next[static_cast<std::size_t>(i)] += lr * w[i];
                next_mag[static_cast<std::size_t>(i)] += mr * std::abs(w[i]);
            }
        }
        lam = std::move(next);
        mag = std::move(next_mag);
        if (li == 0 || !steps_[li - 1].relu_after) continue;
        const UnitBounds& b = steps_[li - 1].pre;
        for (std::size_t k = 0; k < lam.size(); ++k) {
            const double l = b.lo[k], u = b.hi[k], a = lam[k];
            if (u <= 0.0) {
                lam[k] = 0.0;
                mag[k] = 0.0;
            } else if (l >= 0.0) {
                // identity
            } else if (a >= 0.0) {
                if (u < -l) lam[k] = 0.0;   // lower line 0 (mag kept: a's rounding may hide a sign); else z
            } else {
                const double s = u / (u - l);
                lam[k] = a * s;
                mag[k] *= s;
                constant -= a * s * l;
                constant_mag += mag[k] * std::abs(l) + mag[k] * std::abs(u);
            }
        }
    }
    double v = constant, v_mag = constant_mag;
    for (std::size_t i = 0; i < lam.size(); ++i) {
        v += lam[i] * (lam[i] >= 0.0 ? in_lo_[i] : in_hi_[i]);
        v_mag += mag[i] * std::max(std::abs(in_lo_[i]), std::abs(in_hi_[i]));
    }
    return v - kRoundingCharge * v_mag;
}

const UnitBounds& LayerBounds::append(const AffineMap& m, const UnitBounds& interval) {
    steps_.push_back({&m, false, interval});
    UnitBounds& out = steps_.back().pre;
    // The first map over the box: interval arithmetic is already exact (up to rounding).
    if (steps_.size() == 1) return out;
    const auto rows = static_cast<std::size_t>(m.out());
    std::vector<double> lam(rows, 0.0);
    for (std::size_t r = 0; r < rows; ++r) {
        lam[r] = 1.0;
        const double lo = back_substitute(lam);
        lam[r] = -1.0;
        const double hi = -back_substitute(lam);
        lam[r] = 0.0;
        // Both are proven; the intersection is empty only through rounding beyond the charge: keep the interval.
        const double nlo = std::max(out.lo[r], lo), nhi = std::min(out.hi[r], hi);
        if (nlo <= nhi) {
            out.lo[r] = nlo;
            out.hi[r] = nhi;
        }
    }
    return out;
}

std::vector<double> LayerBounds::lower(const std::vector<std::vector<double>>& objectives) const {
    std::vector<double> out;
    for (const auto& c : objectives) out.push_back(back_substitute(c));
    return out;
}

}  // namespace moelab
