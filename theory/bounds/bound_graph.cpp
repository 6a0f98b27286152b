#include "theory/bounds/bound_graph.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "engine/blas.hpp"

namespace moelab {

DenseMap dense_map(std::int64_t out, std::int64_t in, std::vector<double> w, std::vector<double> b) {
    DenseMap m;
    m.out = out;
    m.in = in;
    m.w = std::move(w);
    m.b = b.empty() ? std::vector<double>(static_cast<std::size_t>(out), 0.0) : std::move(b);
    m.abs_w.resize(m.w.size());
    for (std::size_t i = 0; i < m.w.size(); ++i) m.abs_w[i] = std::abs(m.w[i]);
    return m;
}

BoundGraph::BoundGraph(InputRegion region) : region_(std::move(region)) {
    BoundNode in;
    in.kind = NodeKind::input;
    in.dim = static_cast<std::int64_t>(region_.lo.size());
    in.lo = region_.lo;
    in.hi = region_.hi;
    in.refined = true;
    for (std::size_t i = 0; i < in.lo.size(); ++i)
        if (!(in.lo[i] <= in.hi[i])) feasible_ = false;   // an empty box, or NaN
    nodes_.push_back(std::move(in));
}

int BoundGraph::push(BoundNode n) {
    for (std::size_t i = 0; i < n.lo.size(); ++i)
        if (!(n.lo[i] <= n.hi[i])) feasible_ = false;
    nodes_.push_back(std::move(n));
    return static_cast<int>(nodes_.size()) - 1;
}

// Midpoint-radius intervals through W: c = W mid + b, r = |W| rad with rad rounded up so that [mid - rad,
// mid + rad] contains [lo, hi]; both products are within gamma_{in+1} (|W| (|mid| + rad) + |b|) of exact
// (Higham), charged twice.
void BoundGraph::interval_linear(BoundNode& n) const {
    const BoundNode& p = nodes_[static_cast<std::size_t>(n.parent)];
    const DenseMap& m = *n.map;
    if (m.in != p.dim) throw std::logic_error("bound graph: a map's input does not match its parent");
    std::vector<double> mid(static_cast<std::size_t>(m.in)), rad(mid.size()), mag(mid.size());
    for (std::size_t i = 0; i < mid.size(); ++i) {
        mid[i] = 0.5 * (p.lo[i] + p.hi[i]);
        rad[i] = std::nextafter(std::max(p.hi[i] - mid[i], mid[i] - p.lo[i]), INFINITY);
        mag[i] = std::abs(mid[i]) + rad[i];
    }
    const auto out = static_cast<std::size_t>(m.out);
    std::vector<double> c(m.b), r(out, 0.0);
    n.mag_out = m.b;
    for (double& v : n.mag_out) v = std::abs(v);
    gemm(false, true, 1, m.out, m.in, 1.0, mid.data(), m.in, m.w.data(), m.in, 1.0, c.data(), m.out);
    gemm(false, true, 1, m.out, m.in, 1.0, rad.data(), m.in, m.abs_w.data(), m.in, 0.0, r.data(), m.out);
    gemm(false, true, 1, m.out, m.in, 1.0, mag.data(), m.in, m.abs_w.data(), m.in, 1.0, n.mag_out.data(), m.out);
    const double g = 2.0 * gamma_n(m.in + 2);
    n.lo.resize(out);
    n.hi.resize(out);
    for (std::size_t j = 0; j < out; ++j) {
        const double slack = g * n.mag_out[j] + std::numeric_limits<double>::min();
        n.lo[j] = c[j] - r[j] - slack;
        n.hi[j] = c[j] + r[j] + slack;
    }
}

int BoundGraph::add_linear(int parent, std::shared_ptr<const DenseMap> map) {
    BoundNode n;
    n.kind = NodeKind::linear;
    n.parent = parent;
    n.dim = map->out;
    n.map = std::move(map);
    interval_linear(n);
    // Intervals of a map of the input box, or of rows that copy one parent unit, are exact (up to the charge).
    n.refined = nodes_[static_cast<std::size_t>(parent)].kind == NodeKind::input || n.map->selection_rows;
    if (n.refined && region_.has_l2 && nodes_[static_cast<std::size_t>(parent)].kind == NodeKind::input) n.refined = false;
    return push(std::move(n));
}

int BoundGraph::add_relu(int parent, ReluLayerId id) {
    const BoundNode& p = nodes_[static_cast<std::size_t>(parent)];
    BoundNode n;
    n.kind = NodeKind::relu;
    n.parent = parent;
    n.dim = p.dim;
    n.relu_id = id;
    n.refined = true;
    for (std::int64_t j = 0; j < p.dim; ++j) {
        const double l = p.lo[static_cast<std::size_t>(j)], u = p.hi[static_cast<std::size_t>(j)];
        n.lo.push_back(std::max(0.0, l));
        n.hi.push_back(std::max(0.0, u));
        n.lines.push_back(relu_relaxation(l, u, crown_relu_slope(l, u)));
    }
    return push(std::move(n));
}

int BoundGraph::add_exp(int parent) {
    const BoundNode& p = nodes_[static_cast<std::size_t>(parent)];
    BoundNode n;
    n.kind = NodeKind::exp;
    n.parent = parent;
    n.dim = p.dim;
    n.refined = true;
    for (std::int64_t j = 0; j < p.dim; ++j) {
        const double l = p.lo[static_cast<std::size_t>(j)], u = p.hi[static_cast<std::size_t>(j)];
        n.lo.push_back(exp_down(l));
        n.hi.push_back(exp_up(u));
        n.lines.push_back(exp_relaxation(l, u));
    }
    return push(std::move(n));
}

int BoundGraph::add_reciprocal(int parent, std::vector<std::int64_t> lower_row, std::vector<std::int64_t> upper_row,
                               std::vector<std::uint8_t> may_be_zero) {
    const BoundNode& p = nodes_[static_cast<std::size_t>(parent)];
    BoundNode n;
    n.kind = NodeKind::reciprocal;
    n.parent = parent;
    n.dim = static_cast<std::int64_t>(lower_row.size());
    n.refined = true;
    for (std::size_t t = 0; t < lower_row.size(); ++t) {
        // v is a sum of exps: v >= 0 whatever its computed lower bound says.
        const auto lr = static_cast<std::size_t>(lower_row[t]), ur = static_cast<std::size_t>(upper_row[t]);
        const double vl_lo = std::max(0.0, p.lo[lr]), vl_hi = std::max(vl_lo, p.hi[lr]);
        const double vu_lo = std::max(0.0, p.lo[ur]), vu_hi = std::max(vu_lo, p.hi[ur]);
        n.lo.push_back(may_be_zero[t] ? 0.0 : reciprocal_down(vl_hi));
        n.hi.push_back(reciprocal_up(vu_lo));
        UnitRelaxation r;
        r.lower = reciprocal_relaxation(vl_lo, vl_hi).lower;
        r.upper = reciprocal_relaxation(vu_lo, vu_hi).upper;
        if (may_be_zero[t]) r.lower = Line{};   // g >= 0
        n.lines.push_back(r);
    }
    n.lower_row = std::move(lower_row);
    n.upper_row = std::move(upper_row);
    n.may_be_zero = std::move(may_be_zero);
    return push(std::move(n));
}

void BoundGraph::interval_gated_sum(BoundNode& n) const {
    const BoundNode& g = nodes_[static_cast<std::size_t>(n.gates)];
    const auto T = n.experts.size();
    n.lo.assign(static_cast<std::size_t>(n.dim), 0.0);
    n.hi.assign(static_cast<std::size_t>(n.dim), 0.0);
    std::vector<double> mag(static_cast<std::size_t>(n.dim), 0.0);
    for (std::size_t t = 0; t < T; ++t) {
        const BoundNode& e = nodes_[static_cast<std::size_t>(n.experts[t])];
        const double ga = g.lo[t], gb = g.hi[t];
        for (std::size_t c = 0; c < static_cast<std::size_t>(n.dim); ++c) {
            const double p1 = ga * e.lo[c], p2 = ga * e.hi[c], p3 = gb * e.lo[c], p4 = gb * e.hi[c];
            n.lo[c] += std::min({p1, p2, p3, p4});
            n.hi[c] += std::max({p1, p2, p3, p4});
            mag[c] += std::max({std::abs(p1), std::abs(p2), std::abs(p3), std::abs(p4)});
        }
    }
    const double gmm = 2.0 * gamma_n(static_cast<std::int64_t>(2 * T + 2));
    for (std::size_t c = 0; c < n.lo.size(); ++c) {
        n.lo[c] -= gmm * mag[c] + std::numeric_limits<double>::min();
        n.hi[c] += gmm * mag[c] + std::numeric_limits<double>::min();
    }
}

int BoundGraph::add_gated_sum(int gates, std::vector<int> experts) {
    BoundNode n;
    n.kind = NodeKind::gated_sum;
    n.gates = gates;
    n.dim = nodes_[static_cast<std::size_t>(experts.front())].dim;
    n.experts = std::move(experts);
    interval_gated_sum(n);
    return push(std::move(n));
}

bool BoundGraph::clip(int node, std::int64_t unit, double lo, double hi) {
    BoundNode& n = nodes_[static_cast<std::size_t>(node)];
    auto& l = n.lo[static_cast<std::size_t>(unit)];
    auto& h = n.hi[static_cast<std::size_t>(unit)];
    l = std::max(l, lo);
    h = std::min(h, hi);
    if (!(l <= h)) feasible_ = false;
    return feasible_;
}

void BoundGraph::refine(int node, bool unstable_only) {
    BoundNode& n = nodes_[static_cast<std::size_t>(node)];
    if (n.refined || !back_substitution_ || !feasible_) return;
    if (n.kind != NodeKind::linear && n.kind != NodeKind::gated_sum) return;
    std::vector<std::int64_t> rows;
    for (std::int64_t j = 0; j < n.dim; ++j)
        if (!unstable_only || (n.lo[static_cast<std::size_t>(j)] < 0.0 && n.hi[static_cast<std::size_t>(j)] > 0.0)) rows.push_back(j);
    if (!unstable_only) n.refined = true;
    if (rows.empty()) return;
    const auto R = static_cast<std::int64_t>(rows.size());
    std::vector<double> lam(static_cast<std::size_t>(2 * R * n.dim), 0.0);
    for (std::int64_t r = 0; r < R; ++r) {
        lam[static_cast<std::size_t>(r * n.dim + rows[static_cast<std::size_t>(r)])] = 1.0;
        lam[static_cast<std::size_t>((R + r) * n.dim + rows[static_cast<std::size_t>(r)])] = -1.0;
    }
    const std::vector<double> low = lower(node, lam, 2 * R).lower;
    BoundNode& m = nodes_[static_cast<std::size_t>(node)];   // lower() does not add nodes, but be plain about it
    for (std::int64_t r = 0; r < R; ++r) {
        const auto j = static_cast<std::size_t>(rows[static_cast<std::size_t>(r)]);
        // Both are proven; an empty intersection can only come from rounding beyond the charge: keep the interval.
        const double lo = std::max(m.lo[j], low[static_cast<std::size_t>(r)]);
        const double hi = std::min(m.hi[j], -low[static_cast<std::size_t>(R + r)]);
        if (lo <= hi) {
            m.lo[j] = lo;
            m.hi[j] = hi;
        }
    }
}

}  // namespace moelab
