// The backward pass of a bound graph (CROWN's back-substitution) and its gradient with respect to the
// relaxations' parameters (for alpha-CROWN). Derivations: docs/theory.md, "Linear bounds through ReLU,
// softmax gates and products".
//
// Invariant, per objective row k: for every point of the region, lam_k . (the start node) >= sum over nodes n
// of lam[n]_k . z_n + cst_k - err_k, where lam[n] holds the coefficients not yet pushed to n's parents. A
// linear node pushes lam W to its parent (a GEMM) and lam . b to the constant; a relaxed node pushes through
// its lower line where the coefficient is >= 0 and its upper line where it is < 0. err_k collects a bound on
// every rounding error made on the way: a product lam W computed in double is within gamma_n |lam| |W| of the
// exact one, and multiplies a parent whose size the parent's bounds limit.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "engine/blas.hpp"
#include "theory/bounds/bound_graph.hpp"

namespace moelab {

namespace {

constexpr double kBeta = 0.5;   // McCormick weight where nothing optimises it
constexpr double kU = kUnitRoundoff;

double magnitude(const BoundNode& n, std::size_t j) { return std::max(std::abs(n.lo[j]), std::abs(n.hi[j])); }

// Coefficient buffers kept per thread between calls (a stack of them: a backward pass may start another, for a
// product's scalar bounds): the matrices of a pass over a 784-input network run to megabytes, and fresh ones
// from the allocator cost page faults and zeroing on every call (measured: most of a call's time).
struct Workspace {
    std::vector<std::vector<double>> lam;
    std::vector<std::uint8_t> used;
};
thread_local std::vector<std::unique_ptr<Workspace>> t_workspaces;
thread_local std::size_t t_depth = 0;

struct WorkspaceLease {
    Workspace* w;
    explicit WorkspaceLease(std::size_t nodes) {
        if (t_workspaces.size() == t_depth) t_workspaces.push_back(std::make_unique<Workspace>());
        w = t_workspaces[t_depth++].get();
        if (w->lam.size() < nodes) w->lam.resize(nodes);
        w->used.assign(nodes, 0);
    }
    ~WorkspaceLease() { --t_depth; }
    WorkspaceLease(const WorkspaceLease&) = delete;
    WorkspaceLease& operator=(const WorkspaceLease&) = delete;
};

}  // namespace

class Backward {
public:
    Backward(const BoundGraph& g, int start, std::int64_t K, const BoundGraph::BackwardOptions& o)
        : g_(g), nodes_(g.nodes_), start_(start), K_(K), o_(o), lease_(nodes_.size()), lam_(lease_.w->lam), used_(lease_.w->used),
          cst_(static_cast<std::size_t>(K), 0.0), err_(static_cast<std::size_t>(K), 0.0) {}

    BackwardResult run(const std::vector<double>& lam0) {
        lam_[static_cast<std::size_t>(start_)] = lam0;
        used_[static_cast<std::size_t>(start_)] = 1;
        bool linear_so_far = true;
        for (int n = start_; n > 0; --n) {
            if (!used_[static_cast<std::size_t>(n)]) continue;
            const BoundNode& node = nodes_[static_cast<std::size_t>(n)];
            switch (node.kind) {
                case NodeKind::linear: linear(n); break;
                case NodeKind::relu:
                case NodeKind::exp: elementwise(n); break;
                case NodeKind::reciprocal: reciprocal(n); break;
                case NodeKind::gated_sum:
                    if (o_.aggregate_top_product && linear_so_far && top_ < 0) aggregated(n);
                    else product(n);
                    break;
                case NodeKind::input: break;
            }
            linear_so_far = linear_so_far && node.kind == NodeKind::linear;
        }
        BackwardResult r;
        r.lower = at_input();
        if (o_.want_gradient) r.gradient = gradient();
        return r;
    }

private:
    const BoundGraph& g_;
    const std::vector<BoundNode>& nodes_;
    int start_;
    std::int64_t K_;
    BoundGraph::BackwardOptions o_;
    WorkspaceLease lease_;
    std::vector<std::vector<double>>& lam_;   // per node [K, dim], valid where used_
    std::vector<std::uint8_t>& used_;
    std::vector<double> cst_, err_;
    // The aggregated product: its node, the bounds [ma, mb] of each row's scalar lam_k . expert_t ([K, T] each),
    // the interval-product bound where it won (alt_won_), the minimiser chosen at the input per row.
    int top_ = -1;
    std::vector<double> ma_, mb_;
    std::vector<std::uint8_t> alt_won_;
    std::vector<double> x_sel_;

    std::size_t uk(std::int64_t k) const { return static_cast<std::size_t>(k); }

    // The coefficients of node n, zero when first touched (fresh: the caller overwrites them all, no zeroing).
    std::vector<double>& lam_of(int n, bool fresh = false) {
        auto& l = lam_[static_cast<std::size_t>(n)];
        const auto size = static_cast<std::size_t>(K_ * nodes_[static_cast<std::size_t>(n)].dim);
        if (!used_[static_cast<std::size_t>(n)]) {
            if (fresh) l.resize(size);
            else l.assign(size, 0.0);
            used_[static_cast<std::size_t>(n)] = 1;
        }
        return l;
    }

    void linear(int n) {
        const BoundNode& node = nodes_[static_cast<std::size_t>(n)];
        const DenseMap& m = *node.map;
        const std::vector<double>& lam = lam_[static_cast<std::size_t>(n)];
        const bool fresh = !used_[static_cast<std::size_t>(node.parent)];
        std::vector<double>& lp = lam_of(node.parent, fresh);
        // lam_parent += lam W: [K, out] x [out, in] (= when the parent had no coefficients yet).
        gemm(false, false, K_, m.in, m.out, 1.0, lam.data(), m.out, m.w.data(), m.in, fresh ? 0.0 : 1.0, lp.data(), m.in);
        const double g = gamma_n(std::max(m.in, m.out) + 1);
        for (std::int64_t k = 0; k < K_; ++k) {
            double c = 0.0, e = 0.0;
            const double* lk = lam.data() + k * m.out;
            for (std::int64_t r = 0; r < m.out; ++r) {
                c += lk[r] * m.b[static_cast<std::size_t>(r)];
                e += std::abs(lk[r]) * node.mag_out[static_cast<std::size_t>(r)];
            }
            cst_[uk(k)] += c;
            err_[uk(k)] += g * e + 2.0 * kU * std::abs(cst_[uk(k)]);
        }
    }

    // The line a relu or exp unit uses for coefficient a (alpha-CROWN's slope for an unstable ReLU's lower line).
    Line line_of(int n, const BoundNode& node, std::int64_t k, std::size_t j, double a) const {
        if (a < 0.0) return node.lines[j].upper;
        Line l = node.lines[j].lower;
        if (node.kind == NodeKind::relu && o_.params && !o_.params->relu_slope[static_cast<std::size_t>(n)].empty() && unstable(node, j))
            l.slope = std::clamp(o_.params->relu_slope[static_cast<std::size_t>(n)][static_cast<std::size_t>(k * node.dim) + j], 0.0, 1.0);
        return l;
    }
    bool unstable(const BoundNode& relu, std::size_t j) const {
        const BoundNode& p = nodes_[static_cast<std::size_t>(relu.parent)];
        return p.lo[j] < 0.0 && p.hi[j] > 0.0;
    }

    void elementwise(int n) {
        const BoundNode& node = nodes_[static_cast<std::size_t>(n)];
        const BoundNode& p = nodes_[static_cast<std::size_t>(node.parent)];
        const std::vector<double>& lam = lam_[static_cast<std::size_t>(n)];
        std::vector<double>& lp = lam_of(node.parent);
        for (std::int64_t k = 0; k < K_; ++k)
            for (std::size_t j = 0; j < static_cast<std::size_t>(node.dim); ++j) {
                const double a = lam[static_cast<std::size_t>(k * node.dim) + j];
                if (a == 0.0) continue;
                const Line l = line_of(n, node, k, j, a);
                lp[static_cast<std::size_t>(k * node.dim) + j] += a * l.slope;
                cst_[uk(k)] += a * l.intercept;
                err_[uk(k)] += 2.0 * kU * (std::abs(a * l.slope) * magnitude(p, j) + std::abs(a * l.intercept) + std::abs(cst_[uk(k)]));
            }
    }

    void reciprocal(int n) {
        const BoundNode& node = nodes_[static_cast<std::size_t>(n)];
        const BoundNode& p = nodes_[static_cast<std::size_t>(node.parent)];
        const std::vector<double>& lam = lam_[static_cast<std::size_t>(n)];
        std::vector<double>& lp = lam_of(node.parent);
        for (std::int64_t k = 0; k < K_; ++k)
            for (std::size_t t = 0; t < static_cast<std::size_t>(node.dim); ++t) {
                const double a = lam[static_cast<std::size_t>(k * node.dim) + t];
                if (a == 0.0) continue;
                const Line l = a >= 0.0 ? node.lines[t].lower : node.lines[t].upper;
                const auto row = static_cast<std::size_t>(a >= 0.0 ? node.lower_row[t] : node.upper_row[t]);
                lp[static_cast<std::size_t>(k * p.dim) + row] += a * l.slope;
                cst_[uk(k)] += a * l.intercept;
                err_[uk(k)] += 2.0 * kU * (std::abs(a * l.slope) * magnitude(p, row) + std::abs(a * l.intercept) + std::abs(cst_[uk(k)]));
            }
    }

    // lam_c g e_c per output coordinate: the lower planes of g e for lam_c >= 0, of g (-e) for lam_c < 0.
    void product(int n) {
        const BoundNode& node = nodes_[static_cast<std::size_t>(n)];
        const BoundNode& gates = nodes_[static_cast<std::size_t>(node.gates)];
        const std::vector<double>& lam = lam_[static_cast<std::size_t>(n)];
        const auto D = static_cast<std::size_t>(node.dim);
        for (std::size_t t = 0; t < node.experts.size(); ++t) {
            const int en = node.experts[t];
            const BoundNode& e = nodes_[static_cast<std::size_t>(en)];
            std::vector<double>& le = lam_of(en);
            std::vector<double>& lg = lam_of(node.gates);
            const double ga = gates.lo[t], gb = gates.hi[t];
            for (std::int64_t k = 0; k < K_; ++k)
                for (std::size_t c = 0; c < D; ++c) {
                    const double a = lam[uk(k) * D + c];
                    if (a == 0.0) continue;
                    const double s = a >= 0.0 ? 1.0 : -1.0, w = std::abs(a);
                    const BilinearLine bl = a >= 0.0 ? bilinear_lower(ga, gb, e.lo[c], e.hi[c], kBeta)
                                                     : bilinear_lower(ga, gb, -e.hi[c], -e.lo[c], kBeta);
                    le[uk(k) * D + c] += w * s * bl.coef_m;
                    lg[uk(k) * static_cast<std::size_t>(gates.dim) + t] += w * bl.coef_g;
                    cst_[uk(k)] += w * bl.constant;
                    err_[uk(k)] += bilinear_charge(a, ga, gb, e.lo[c], e.hi[c]) + 2.0 * kU * std::abs(cst_[uk(k)]);
                }
        }
    }

    // Bounds of the scalars lam_k . e over the region: a back-substitution of +-lam from the expert node,
    // intersected with the interval dot product (so never looser than per coordinate).
    void scalar_bounds(const BoundNode& node, const std::vector<double>& lam) {
        const auto T = node.experts.size(), K = uk(K_), D = static_cast<std::size_t>(node.dim);
        if (o_.product_cache && o_.product_cache->size() == 2 * K * T) {
            ma_.assign(o_.product_cache->begin(), o_.product_cache->begin() + static_cast<std::ptrdiff_t>(K * T));
            mb_.assign(o_.product_cache->begin() + static_cast<std::ptrdiff_t>(K * T), o_.product_cache->end());
            return;
        }
        ma_.assign(K * T, 0.0);
        mb_.assign(K * T, 0.0);
        std::vector<double> both(2 * K * D);
        for (std::size_t i = 0; i < K * D; ++i) {
            both[i] = lam[i];
            both[K * D + i] = -lam[i];
        }
        for (std::size_t t = 0; t < T; ++t) {
            const BoundNode& e = nodes_[static_cast<std::size_t>(node.experts[t])];
            const std::vector<double> low = g_.lower(node.experts[t], both, 2 * K_).lower;
            for (std::size_t k = 0; k < K; ++k) {
                double il = 0.0, iu = 0.0, mag = 0.0;
                for (std::size_t c = 0; c < D; ++c) {
                    const double a = lam[k * D + c];
                    il += std::min(a * e.lo[c], a * e.hi[c]);
                    iu += std::max(a * e.lo[c], a * e.hi[c]);
                    mag += std::abs(a) * magnitude(e, c);
                }
                const double slack = 2.0 * gamma_n(static_cast<std::int64_t>(D) + 1) * mag;
                il -= slack;
                iu += slack;
                double lo = std::max(il, low[k]), hi = std::min(iu, -low[K + k]);
                if (!(lo <= hi)) lo = il, hi = iu;
                ma_[k * T + t] = lo;
                mb_[k * T + t] = hi;
            }
        }
        if (o_.product_cache) {
            *o_.product_cache = ma_;
            o_.product_cache->insert(o_.product_cache->end(), mb_.begin(), mb_.end());
        }
    }

    // sum_t g_t M_t with M_t = lam . e_t: McCormick on the scalars (weights beta from the params).
    void aggregated(int n) {
        top_ = n;
        const BoundNode& node = nodes_[static_cast<std::size_t>(n)];
        const BoundNode& gates = nodes_[static_cast<std::size_t>(node.gates)];
        top_lam_ = lam_[static_cast<std::size_t>(n)];
        const std::vector<double>& lam = top_lam_;
        scalar_bounds(node, lam);
        const auto T = node.experts.size(), K = uk(K_), D = static_cast<std::size_t>(node.dim);
        // The interval product bound sum_t min_g g ma_t, taken where larger (no parameter moves it).
        alt_won_.assign(K, 0);
        std::vector<double> alt(K), alt_err(K);
        for (std::size_t k = 0; k < K; ++k) {
            alt[k] = cst_[k];
            alt_err[k] = err_[k];
            for (std::size_t t = 0; t < T; ++t) {
                const double m = ma_[k * T + t], v = std::min(gates.lo[t] * m, gates.hi[t] * m);
                alt[k] += v;
                alt_err[k] += 4.0 * kU * (std::abs(v) + std::abs(alt[k]));
            }
        }
        alt_ = std::move(alt);
        alt_err_ = std::move(alt_err);
        for (std::size_t t = 0; t < T; ++t) {
            std::vector<double>& le = lam_of(node.experts[t]);
            std::vector<double>& lg = lam_of(node.gates);
            const double ga = gates.lo[t], gb = gates.hi[t];
            for (std::size_t k = 0; k < K; ++k) {
                const double beta = beta_of(k, t);
                const double ma = ma_[k * T + t], mb = mb_[k * T + t];
                const BilinearLine bl = bilinear_lower(ga, gb, ma, mb, beta);
                double lmag = 0.0;
                for (std::size_t c = 0; c < D; ++c) {
                    le[k * D + c] += bl.coef_m * lam[k * D + c];
                    lmag += std::abs(lam[k * D + c]) * magnitude(nodes_[static_cast<std::size_t>(node.experts[t])], c);
                }
                if (o_.concretize_top_gates) {
                    // coef_g g >= min(coef_g ga, coef_g gb): the gate by its interval (the exact image of its sum's bounds).
                    const double v = std::min(bl.coef_g * ga, bl.coef_g * gb);
                    cst_[k] += v;
                    err_[k] += 2.0 * kU * (std::abs(v) + std::abs(cst_[k]));
                } else {
                    lg[k * static_cast<std::size_t>(gates.dim) + t] += bl.coef_g;
                }
                cst_[k] += bl.constant;
                err_[k] += bilinear_charge(1.0, ga, gb, ma, mb) + 2.0 * kU * (std::abs(bl.coef_m) * lmag + std::abs(cst_[k]));
            }
        }
    }
    std::vector<double> alt_, alt_err_;

    // min over the region of lam_input . x + cst, minus twice the collected error (the factor 2 covers the
    // rounding of err itself and of this last sum), rounded down; -inf when anything is not finite.
    std::vector<double> at_input() {
        const BoundNode& in = nodes_[0];
        const InputRegion& reg = g_.region();
        const auto d = static_cast<std::size_t>(in.dim), K = uk(K_);
        const std::vector<double>& lam = lam_of(0);
        std::vector<double> out(K);
        x_sel_.assign(K * d, 0.0);
        alt_won_.resize(K, 0);
        const double gd = gamma_n(static_cast<std::int64_t>(d) + 2);
        for (std::size_t k = 0; k < K; ++k) {
            const double* l = lam.data() + k * d;
            double v = cst_[k], mag = std::abs(cst_[k]);
            for (std::size_t i = 0; i < d; ++i) {
                v += l[i] * (l[i] >= 0.0 ? in.lo[i] : in.hi[i]);
                mag += std::abs(l[i]) * std::max(std::abs(in.lo[i]), std::abs(in.hi[i]));
                x_sel_[k * d + i] = l[i] >= 0.0 ? in.lo[i] : in.hi[i];
            }
            double best = v - 2.0 * (err_[k] + gd * mag);
            if (reg.has_l2) {
                double dot = cst_[k], dmag = std::abs(cst_[k]), sq = 0.0;
                for (std::size_t i = 0; i < d; ++i) {
                    dot += l[i] * reg.center[i];
                    dmag += std::abs(l[i] * reg.center[i]);
                    sq += l[i] * l[i];
                }
                const double norm = std::sqrt(sq), v2 = dot - reg.l2_radius * norm;
                const double b2 = v2 - 2.0 * (err_[k] + gd * (dmag + 2.0 * reg.l2_radius * norm));
                if (b2 > best) {
                    best = b2;
                    for (std::size_t i = 0; i < d; ++i)
                        x_sel_[k * d + i] = reg.center[i] - (norm > 0.0 ? reg.l2_radius * l[i] / norm : 0.0);
                }
            }
            if (top_ >= 0) {
                const double a = alt_[k] - 2.0 * alt_err_[k];
                if (a > best) {
                    best = a;
                    alt_won_[k] = 1;
                }
            }
            out[k] = std::isfinite(best) ? std::nextafter(best, -INFINITY) : -INFINITY;
        }
        return out;
    }

    // The relaxed network evaluated forward at each row's minimiser, with each row's own line choices: the
    // bound is that value, so d bound / d (a line's parameter) = (the node's coefficient) x (d line / d param
    // at the parent's forward value).
    RelaxParams gradient() {
        const auto K = uk(K_);
        std::vector<std::vector<double>> z(nodes_.size());
        z[0] = x_sel_;
        const int last = top_ >= 0 ? top_ - 1 : start_;
        RelaxParams grad;
        grad.relu_slope.resize(nodes_.size());
        for (int n = 1; n <= last; ++n) {
            if (!used_[static_cast<std::size_t>(n)]) continue;
            forward(n, z);
            const BoundNode& node = nodes_[static_cast<std::size_t>(n)];
            if (node.kind != NodeKind::relu) continue;
            const std::vector<double>& lam = lam_[static_cast<std::size_t>(n)];
            const std::vector<double>& zp = z[static_cast<std::size_t>(node.parent)];
            auto& gr = grad.relu_slope[static_cast<std::size_t>(n)];
            gr.assign(K * static_cast<std::size_t>(node.dim), 0.0);
            for (std::size_t i = 0; i < gr.size(); ++i) {
                const std::size_t j = i % static_cast<std::size_t>(node.dim), k = i / static_cast<std::size_t>(node.dim);
                if (lam[i] >= 0.0 && unstable(node, j) && !alt_won_[k]) gr[i] = lam[i] * zp[i];
            }
        }
        if (top_ >= 0) grad.product_beta = beta_gradient(z);
        return grad;
    }

    std::vector<double> beta_gradient(const std::vector<std::vector<double>>& z) {
        const BoundNode& node = nodes_[static_cast<std::size_t>(top_)];
        const BoundNode& gates = nodes_[static_cast<std::size_t>(node.gates)];
        const auto T = node.experts.size(), K = uk(K_), D = static_cast<std::size_t>(node.dim);
        const std::vector<double>& zg = z[static_cast<std::size_t>(node.gates)];
        std::vector<double> out(K * T, 0.0);
        // M^_kt = lam_k . z(e_t), lam the top product's coefficients (top_lam_).
        for (std::size_t t = 0; t < T; ++t) {
            const std::vector<double>& ze = z[static_cast<std::size_t>(node.experts[t])];
            for (std::size_t k = 0; k < K; ++k) {
                if (alt_won_[k]) continue;
                double m = 0.0;
                for (std::size_t c = 0; c < D; ++c) m += top_lam_[k * D + c] * ze[k * D + c];
                const double ga = gates.lo[t], gb = gates.hi[t], ma = ma_[k * T + t], mb = mb_[k * T + t];
                const double coef_g = beta_of(k, t) * ma + (1.0 - beta_of(k, t)) * mb;
                const double g = o_.concretize_top_gates ? (coef_g >= 0.0 ? ga : gb) : zg[k * static_cast<std::size_t>(gates.dim) + t];
                out[k * T + t] = (ga - gb) * m + (ma - mb) * g - (ga * ma - gb * mb);
            }
        }
        return out;
    }
    std::vector<double> top_lam_;
    double beta_of(std::size_t k, std::size_t t) const {
        const std::size_t T = nodes_[static_cast<std::size_t>(top_)].experts.size();
        return o_.params && !o_.params->product_beta.empty() ? std::clamp(o_.params->product_beta[k * T + t], 0.0, 1.0) : kBeta;
    }

    void forward(int n, std::vector<std::vector<double>>& z) const {
        const BoundNode& node = nodes_[static_cast<std::size_t>(n)];
        const auto K = uk(K_), D = static_cast<std::size_t>(node.dim);
        std::vector<double>& zn = z[static_cast<std::size_t>(n)];
        zn.assign(K * D, 0.0);
        const std::vector<double>& lam = lam_[static_cast<std::size_t>(n)];
        const bool has = used_[static_cast<std::size_t>(n)] != 0;
        const auto coef = [&](std::size_t i) { return has ? lam[i] : 0.0; };
        switch (node.kind) {
            case NodeKind::linear: {
                const DenseMap& m = *node.map;
                for (std::size_t k = 0; k < K; ++k) std::copy(m.b.begin(), m.b.end(), zn.begin() + static_cast<std::ptrdiff_t>(k * D));
                gemm(false, true, K_, m.out, m.in, 1.0, z[static_cast<std::size_t>(node.parent)].data(), m.in, m.w.data(), m.in, 1.0,
                     zn.data(), m.out);
                break;
            }
            case NodeKind::relu:
            case NodeKind::exp: {
                const std::vector<double>& zp = z[static_cast<std::size_t>(node.parent)];
                for (std::size_t i = 0; i < K * D; ++i) {
                    const Line l = line_of(n, node, static_cast<std::int64_t>(i / D), i % D, coef(i));
                    zn[i] = l.slope * zp[i] + l.intercept;
                }
                break;
            }
            case NodeKind::reciprocal: {
                const std::vector<double>& zp = z[static_cast<std::size_t>(node.parent)];
                const auto P = static_cast<std::size_t>(nodes_[static_cast<std::size_t>(node.parent)].dim);
                for (std::size_t k = 0; k < K; ++k)
                    for (std::size_t t = 0; t < D; ++t) {
                        const bool low = coef(k * D + t) >= 0.0;
                        const Line l = low ? node.lines[t].lower : node.lines[t].upper;
                        const auto row = static_cast<std::size_t>(low ? node.lower_row[t] : node.upper_row[t]);
                        zn[k * D + t] = l.slope * zp[k * P + row] + l.intercept;
                    }
                break;
            }
            case NodeKind::gated_sum: {
                const BoundNode& gates = nodes_[static_cast<std::size_t>(node.gates)];
                const std::vector<double>& zg = z[static_cast<std::size_t>(node.gates)];
                for (std::size_t t = 0; t < node.experts.size(); ++t) {
                    const BoundNode& e = nodes_[static_cast<std::size_t>(node.experts[t])];
                    const std::vector<double>& ze = z[static_cast<std::size_t>(node.experts[t])];
                    for (std::size_t k = 0; k < K; ++k)
                        for (std::size_t c = 0; c < D; ++c) {
                            const double gz = zg[k * static_cast<std::size_t>(gates.dim) + t], ez = ze[k * D + c];
                            if (coef(k * D + c) >= 0.0) {
                                const BilinearLine bl = bilinear_lower(gates.lo[t], gates.hi[t], e.lo[c], e.hi[c], kBeta);
                                zn[k * D + c] += bl.coef_m * ez + bl.coef_g * gz + bl.constant;
                            } else {
                                const BilinearLine bl = bilinear_lower(gates.lo[t], gates.hi[t], -e.hi[c], -e.lo[c], kBeta);
                                zn[k * D + c] -= -bl.coef_m * ez + bl.coef_g * gz + bl.constant;
                            }
                        }
                }
                break;
            }
            case NodeKind::input: break;
        }
    }
};

BackwardResult BoundGraph::lower(int node, const std::vector<double>& lam, std::int64_t K, const BackwardOptions& options) const {
    Backward b(*this, node, K, options);
    return b.run(lam);
}

int BoundGraph::top_product(int node) const {
    int n = node;
    while (n > 0 && nodes_[static_cast<std::size_t>(n)].kind == NodeKind::linear) n = nodes_[static_cast<std::size_t>(n)].parent;
    return n > 0 && nodes_[static_cast<std::size_t>(n)].kind == NodeKind::gated_sum ? n : -1;
}

RelaxParams BoundGraph::default_params(int node, std::int64_t K) const {
    RelaxParams p;
    p.relu_slope.resize(nodes_.size());
    for (int n = 1; n <= node; ++n) {
        const BoundNode& r = nodes_[static_cast<std::size_t>(n)];
        if (r.kind != NodeKind::relu) continue;
        auto& s = p.relu_slope[static_cast<std::size_t>(n)];
        s.resize(static_cast<std::size_t>(K * r.dim));
        for (std::size_t i = 0; i < s.size(); ++i) s[i] = r.lines[i % static_cast<std::size_t>(r.dim)].lower.slope;
    }
    const int top = top_product(node);
    if (top >= 0) p.product_beta.assign(static_cast<std::size_t>(K) * nodes_[static_cast<std::size_t>(top)].experts.size(), kBeta);
    return p;
}

}  // namespace moelab
