// The certified radius of the linear bounds (linear_bounds.hpp): the same search as ibp's and crown-ibp's,
// doubling from 1/8 then halving, each step one call of margin_bounds that stops at the first failing route.
#include <cmath>

#include "engine/parallel.hpp"
#include "theory/bounds/linear_bounds.hpp"

namespace moelab {

namespace {

struct RowSearch {
    const LinearBounder& bounder;
    const double* x;
    std::int64_t d;
    int y;
    Norm norm;
    Box domain;

    bool certified(double r, const LinearBoundOptions& o) const {
        const MarginBounds m = bounder.margin_bounds(norm_ball_region(x, d, r, norm, domain), y, o);
        if (m.stopped_early) return false;
        for (std::size_t j = 0; j < m.lower.size(); ++j)
            if (static_cast<int>(j) != y && !(m.lower[j] > 0.0)) return false;
        return true;
    }

    // Doubling from `start` (lo = 0) or growing from a certified `lo` by `grow`, then `iters` halvings.
    double search(const LinearBoundOptions& o, double lo, double grow, int iters) const {
        double hi = lo > 0.0 ? lo * grow : 0.125;
        while (hi < 1e6 && certified(hi, o)) {
            lo = hi;
            hi *= lo > 0.0 && grow < 2.0 ? grow : 2.0;
        }
        for (int i = 0; i < iters; ++i) {
            const double mid = 0.5 * (lo + hi);
            (certified(mid, o) ? lo : hi) = mid;
        }
        return lo;
    }
};

}  // namespace

std::vector<double> linear_certified_radii(const Network& net, const Tensor& x, const std::vector<int>& y, Norm norm,
                                           Box domain, const LinearBoundOptions& options, int iters) {
    const LinearBounder bounder(net);
    const std::int64_t B = x.rows(), d = x.cols();
    std::vector<double> out(static_cast<std::size_t>(B), 0.0);
    LinearBoundOptions o = options;
    o.stop_at_failure = true;
    o.details = false;
    parallel_for(B, 2, [&](std::int64_t b) {
        const RowSearch s{bounder, x.data() + b * d, d, y[static_cast<std::size_t>(b)], norm, domain};
        LinearBoundOptions crown = o;
        if (o.method == LinearMethod::alpha_crown) crown.method = LinearMethod::crown;
        // A point outside the domain has an empty region (nothing to bound, nothing claimed), and a misclassified
        // point (or a tie) no radius: 0.
        for (std::int64_t i = 0; i < d; ++i)
            if (!(s.x[i] >= domain.lo && s.x[i] <= domain.hi)) return;
        if (!s.certified(0.0, crown)) return;
        double r = s.search(crown, 0.0, 2.0, iters);
        // alpha-CROWN never bounds below CROWN: start from CROWN's radius, grow by 1/8 steps, halve fewer times.
        if (o.method == LinearMethod::alpha_crown) r = s.search(o, r, 1.125, std::max(8, iters / 2));
        out[static_cast<std::size_t>(b)] = r;
    });
    return out;
}

}  // namespace moelab
