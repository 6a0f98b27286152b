#include "theory/bounds/ibp.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/blas.hpp"
#include "engine/parallel.hpp"

namespace moelab {

namespace {

// Bounds of B rows: lo, hi [B, n].
struct Boxes {
    Tensor lo, hi;
};

Boxes affine(const AffineMap& m, const Boxes& in) {
    const std::int64_t B = in.lo.rows(), n = m.in(), out = m.out();
    Tensor mid(Shape{B, n}), rad(Shape{B, n});
    for (std::int64_t i = 0; i < mid.numel(); ++i) {
        mid[i] = 0.5 * (in.lo[i] + in.hi[i]);
        rad[i] = 0.5 * (in.hi[i] - in.lo[i]);
    }
    Tensor absw = m.w;
    for (std::int64_t i = 0; i < absw.numel(); ++i) absw[i] = std::abs(absw[i]);
    Tensor c(Shape{B, out}), r(Shape{B, out}, 0.0);
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t o = 0; o < out; ++o) c.at(b, o) = m.b[o];
    gemm(false, true, B, out, n, 1.0, mid.data(), n, m.w.data(), n, 1.0, c.data(), out);
    gemm(false, true, B, out, n, 1.0, rad.data(), n, absw.data(), n, 0.0, r.data(), out);
    Boxes o{Tensor(Shape{B, out}), Tensor(Shape{B, out})};
    for (std::int64_t i = 0; i < c.numel(); ++i) {
        const double slack = 1e-12 * (std::abs(c[i]) + r[i]) + 1e-300;
        o.lo[i] = c[i] - r[i] - slack;
        o.hi[i] = c[i] + r[i] + slack;
    }
    return o;
}

void relu(Boxes& v) {
    for (std::int64_t i = 0; i < v.lo.numel(); ++i) {
        v.lo[i] = std::max(0.0, v.lo[i]);
        v.hi[i] = std::max(0.0, v.hi[i]);
    }
}

Boxes chain(const MapChain& c, Boxes v) {
    for (std::size_t i = 0; i < c.size(); ++i) {
        if (i > 0) relu(v);
        v = affine(c[i], v);
    }
    return v;
}

Boxes moe(const MoEStage& m, const Boxes& in) {
    const Boxes s = affine(m.router, in);
    const std::int64_t B = in.lo.rows(), E = m.experts_count(), k = m.k;
    std::vector<Boxes> e;
    for (const auto& c : m.experts) e.push_back(chain(c, in));
    const std::int64_t out = e.front().lo.cols();
    Boxes y{Tensor(Shape{B, out}, 0.0), Tensor(Shape{B, out}, 0.0)};
    parallel_for(B, 8, [&](std::int64_t b) {
        const double* sl = s.lo.data() + b * E;
        const double* sh = s.hi.data() + b * E;
        std::vector<std::uint8_t> possible(static_cast<std::size_t>(E)), sure(static_cast<std::size_t>(E));
        for (std::int64_t j = 0; j < E; ++j) {
            std::int64_t surely_above = 0, maybe_above = 0;
            for (std::int64_t i = 0; i < E; ++i) {
                if (i == j) continue;
                surely_above += sl[i] > sh[j];
                maybe_above += sh[i] >= sl[j];
            }
            possible[static_cast<std::size_t>(j)] = surely_above < k;
            sure[static_cast<std::size_t>(j)] = maybe_above < k;
        }
        double shift = -std::numeric_limits<double>::infinity();
        for (std::int64_t j = 0; j < E; ++j) shift = std::max(shift, sh[j]);
        std::vector<double> el(static_cast<std::size_t>(E)), eu(static_cast<std::size_t>(E));
        double sum_l = 0.0, sum_u = 0.0;
        for (std::int64_t j = 0; j < E; ++j) {
            el[static_cast<std::size_t>(j)] = std::exp(sl[j] - shift);
            eu[static_cast<std::size_t>(j)] = std::exp(sh[j] - shift);
            sum_l += el[static_cast<std::size_t>(j)];
            sum_u += eu[static_cast<std::size_t>(j)];
        }
        for (std::int64_t j = 0; j < E; ++j) {
            const auto uj = static_cast<std::size_t>(j);
            if (!possible[uj]) continue;
            double g_lo = 0.0, g_hi = 1.0;
            if (m.gate == GateMode::topk_then_softmax) {
                if (sure[uj]) {
                    if (k == 1) {
                        g_lo = 1.0;
                    } else {
                        // Worst case: the other k - 1 selected experts have the largest upper scores.
                        std::vector<double> others;
                        for (std::int64_t i = 0; i < E; ++i)
                            if (i != j && possible[static_cast<std::size_t>(i)]) others.push_back(eu[static_cast<std::size_t>(i)]);
                        std::sort(others.rbegin(), others.rend());
                        double denom = el[uj];
                        for (std::int64_t t = 0; t < k - 1 && t < static_cast<std::int64_t>(others.size()); ++t)
                            denom += others[static_cast<std::size_t>(t)];
                        g_lo = el[uj] / denom * (1.0 - 1e-12);
                    }
                }
            } else {
                const double p_lo = el[uj] / (el[uj] + (sum_u - eu[uj]));
                const double p_hi = eu[uj] / (eu[uj] + (sum_l - el[uj]));
                g_lo = (sure[uj] || m.gate == GateMode::soft) ? p_lo * (1.0 - 1e-12) : 0.0;
                g_hi = std::min(1.0, p_hi * (1.0 + 1e-12));
            }
            const Boxes& ej = e[uj];
            for (std::int64_t c = 0; c < out; ++c) {
                const double lo = ej.lo.at(b, c), hi = ej.hi.at(b, c);
                const double p1 = g_lo * lo, p2 = g_lo * hi, p3 = g_hi * lo, p4 = g_hi * hi;
                y.lo.at(b, c) += std::min({p1, p2, p3, p4});
                y.hi.at(b, c) += std::max({p1, p2, p3, p4});
            }
        }
        for (std::int64_t c = 0; c < out; ++c) {
            const double slack = 1e-12 * (std::abs(y.lo.at(b, c)) + std::abs(y.hi.at(b, c))) + 1e-300;
            y.lo.at(b, c) -= slack;
            y.hi.at(b, c) += slack;
        }
    });
    return y;
}

Boxes input_boxes(const Tensor& x, const std::vector<double>& r, Box domain) {
    Boxes v{Tensor(x.shape()), Tensor(x.shape())};
    const std::int64_t d = x.cols();
    for (std::int64_t b = 0; b < x.rows(); ++b)
        for (std::int64_t i = 0; i < d; ++i) {
            v.lo.at(b, i) = std::max(x.at(b, i) - r[static_cast<std::size_t>(b)], domain.lo);
            v.hi.at(b, i) = std::min(x.at(b, i) + r[static_cast<std::size_t>(b)], domain.hi);
        }
    return v;
}

Boxes through_one(const Stage& s, Boxes v) {
    switch (s.kind) {
        case Stage::Kind::affine: return affine(s.map, v);
        case Stage::Kind::relu: relu(v); return v;
        case Stage::Kind::chain: return chain(s.chain, std::move(v));
        case Stage::Kind::moe: return moe(s.moe, v);
    }
    return v;
}

// Bounds after the first `end` stages.
Boxes through(const Network& net, std::size_t end, Boxes v) {
    for (std::size_t i = 0; i < end; ++i) v = through_one(net.stages[i], std::move(v));
    return v;
}

}  // namespace

IntervalVec ibp_logits(const Network& net, const double* x, double r, Box domain) {
    const Tensor xt(Shape{1, net.input_dim}, std::vector<double>(x, x + net.input_dim));
    const Boxes z = through(net, net.stages.size(), input_boxes(xt, {r}, domain));
    return {std::vector<double>(z.lo.data(), z.lo.data() + z.lo.numel()), std::vector<double>(z.hi.data(), z.hi.data() + z.hi.numel())};
}

LogitBounds ibp_logit_bounds(const Network& net, const Tensor& x, const std::vector<double>& r, Box domain) {
    const Boxes z = through(net, net.stages.size(), input_boxes(x, r, domain));
    return {z.lo, z.hi};
}

std::vector<LogitBounds> ibp_moe_input_bounds(const Network& net, const Tensor& x, const std::vector<double>& r, Box domain) {
    std::vector<LogitBounds> out;
    Boxes v = input_boxes(x, r, domain);
    for (std::size_t i = 0; i < net.stages.size(); ++i) {
        if (net.stages[i].kind == Stage::Kind::moe) out.push_back({v.lo, v.hi});
        v = through_one(net.stages[i], std::move(v));
    }
    return out;
}

Tensor ibp_margin_lower(const Network& net, const Tensor& x, const std::vector<int>& y, const std::vector<double>& r,
                        Box domain) {
    const std::int64_t B = x.rows(), C = net.classes;
    Tensor lower(Shape{B, C}, 0.0);
    const Boxes in = input_boxes(x, r, domain);
    const Stage& last = net.stages.back();
    if (last.kind != Stage::Kind::affine) {
        const Boxes z = through(net, net.stages.size(), in);
        for (std::int64_t b = 0; b < B; ++b) {
            const int yb = y[static_cast<std::size_t>(b)];
            for (std::int64_t j = 0; j < C; ++j)
                if (j != yb) lower.at(b, j) = z.lo.at(b, yb) - z.hi.at(b, j);
        }
        return lower;
    }
    // Through a last affine map, bound (w_y - w_j) . h + (b_y - b_j) directly: tighter than lo_y - hi_j.
    const AffineMap& head = last.map;
    const Boxes h = through(net, net.stages.size() - 1, in);
    const std::int64_t n = head.in();
    parallel_for(B, 8, [&](std::int64_t b) {
        const int yb = y[static_cast<std::size_t>(b)];
        for (std::int64_t j = 0; j < C; ++j) {
            if (j == yb) continue;
            double c = head.b[yb] - head.b[j], rad = 0.0;
            for (std::int64_t i = 0; i < n; ++i) {
                const double w = head.w.at(yb, i) - head.w.at(j, i);
                c += w * 0.5 * (h.lo.at(b, i) + h.hi.at(b, i));
                rad += std::abs(w) * 0.5 * (h.hi.at(b, i) - h.lo.at(b, i));
            }
            lower.at(b, j) = c - rad - 1e-12 * (std::abs(c) + rad);
        }
    });
    return lower;
}

std::vector<double> ibp_certified_radii(const Network& net, const Tensor& x, const std::vector<int>& y, Box domain, int iters) {
    const std::size_t B = static_cast<std::size_t>(x.rows());
    auto certified = [&](const std::vector<double>& r) {
        const Tensor low = ibp_margin_lower(net, x, y, r, domain);
        std::vector<std::uint8_t> ok(B, 1);
        for (std::size_t b = 0; b < B; ++b)
            for (std::int64_t j = 0; j < net.classes; ++j)
                if (j != y[b] && !(low.at(static_cast<std::int64_t>(b), j) > 0.0)) ok[b] = 0;
        return ok;
    };
    std::vector<double> lo(B, 0.0), hi(B, 0.125);
    const auto at_zero = certified(lo);
    std::vector<std::uint8_t> growing(B);
    for (std::size_t b = 0; b < B; ++b) growing[b] = at_zero[b];
    // Doubling until each row fails (or its radius exceeds 1e6).
    for (int round = 0; round < 30; ++round) {
        bool any = false;
        for (std::size_t b = 0; b < B; ++b) any |= growing[b] != 0;
        if (!any) break;
        const auto ok = certified(hi);
        for (std::size_t b = 0; b < B; ++b) {
            if (!growing[b]) continue;
            if (ok[b] && hi[b] < 1e6) {
                lo[b] = hi[b];
                hi[b] *= 2.0;
            } else {
                growing[b] = 0;
            }
        }
    }
    for (int i = 0; i < iters; ++i) {
        std::vector<double> mid(B);
        for (std::size_t b = 0; b < B; ++b) mid[b] = at_zero[b] ? 0.5 * (lo[b] + hi[b]) : 0.0;
        const auto ok = certified(mid);
        for (std::size_t b = 0; b < B; ++b) {
            if (!at_zero[b]) continue;
            (ok[b] ? lo[b] : hi[b]) = mid[b];
        }
    }
    for (std::size_t b = 0; b < B; ++b)
        if (!at_zero[b]) lo[b] = 0.0;
    return lo;
}

}  // namespace moelab
