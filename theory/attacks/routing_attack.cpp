// The routing-crossing attack: linear programs over the regions where the first MoE layer selects each
// expert (theory/attacks/routing_attack.hpp says what and why).
#include "theory/attacks/routing_attack.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <stdexcept>

#include "engine/config_error.hpp"
#include "theory/attacks/attack_internal.hpp"
#include "theory/network/local_piece.hpp"
#include "theory/exact/small_lp.hpp"

namespace moelab {

using attack_detail::check_batch;
using milp::Milp;

namespace {

// Strictness of the routing and class constraints, relative to the scores' scale, tried in turn when the
// program's point lands on the wrong side of a boundary (GLPK works to ~1e-7).
constexpr std::array<double, 3> kStrictness{1e-9, 1e-7, 1e-5};
// A point counts when misclassified by this much of the logits' scale (as refine_on_segment requires), so
// that the harness's own forward pass (another summation order) agrees.
constexpr double kClearMargin = 1e-10;
// Simplex iterations per program: a deterministic limit far above what these programs take.
constexpr int kLpIterationLimit = 100000;
// Where the pieces are linearisations only (ReLU experts, layer-level routers): radii bisected by the
// minimal-distance variant, and halvings of the segment from x to a point found.
constexpr int kRadiusBisections = 12;
constexpr int kSegmentSteps = 30;

struct Sample {
    const Network& net;
    std::vector<double> x;
    int label = 0;
    double scale = 1.0;   // max(1, |logits|, |router scores|) at x
    bool exact_pieces = false;   // the pieces are the network itself (pieces_are_exact)
};

double scale_at(const Network& net, const std::vector<double>& x) {
    const PointForward f = forward_point(net, x);
    double s = std::max(1.0, f.router_scale);
    for (double z : f.logits) s = std::max(s, std::abs(z));
    return s;
}

// Misclassified at p by a clear margin, by the plain-order forward pass.
bool clearly_fooled(const Network& net, const std::vector<double>& p, int label) {
    const PointForward f = forward_point(net, p);
    double scale = 1.0, other = -milp::kInf;
    for (std::size_t c = 0; c < f.logits.size(); ++c) {
        scale = std::max(scale, std::abs(f.logits[c]));
        if (static_cast<int>(c) != label) other = std::max(other, f.logits[c]);
    }
    return other - f.logits[static_cast<std::size_t>(label)] >= kClearMargin * scale;
}

bool routed_to(const Network& net, const std::vector<double>& p, std::int64_t expert) {
    return forward_point(net, p).route.front() == expert;
}

// Columns 0..d-1: the point, inside the box and the L-inf ball of radius r around x.
Milp ball_columns(const std::vector<double>& x, double r, Box domain) {
    Milp lp;
    for (double xi : x) lp.add_column(std::max(domain.lo, xi - r), std::min(domain.hi, xi + r));
    return lp;
}

// Row a . p + a0 >= tau over the point's columns.
void add_at_least(Milp& lp, const double* a, double a0, std::int64_t d, double tau) {
    std::vector<int> cols;
    std::vector<double> coefs;
    for (std::int64_t k = 0; k < d; ++k)
        if (a[k] != 0.0) cols.push_back(static_cast<int>(k)), coefs.push_back(a[k]);
    lp.add_row(std::move(cols), std::move(coefs), tau - a0, milp::kInf);
}

// Every MoE stage keeps its expert: each lead s_e - s_j >= tau.
void add_routing_rows(Milp& lp, const LocalPiece& piece, double tau) {
    for (const RoutingLead& r : piece.routes) {
        const std::int64_t d = r.lead.in();
        for (std::int64_t row = 0; row < r.lead.out(); ++row) add_at_least(lp, r.lead.w.data() + row * d, r.lead.b[row], d, tau);
    }
}

// z_c - z_label of the piece: coefficients (d) and constant.
std::vector<double> margin_of(const LocalPiece& piece, int c, int label, double& constant) {
    const std::int64_t d = piece.logits.in();
    std::vector<double> a(static_cast<std::size_t>(d));
    for (std::int64_t k = 0; k < d; ++k) a[static_cast<std::size_t>(k)] = piece.logits.weight(c, k) - piece.logits.weight(label, k);
    constant = piece.logits.b[c] - piece.logits.b[label];
    return a;
}

// The program's point pulled into the box and the ball of radius r (GLPK's basic values may overshoot a
// bound by its tolerance), exactly: the distance computed afterwards is <= r.
std::vector<double> into_ball(const std::vector<double>& values, const std::vector<double>& x, double r, Box domain) {
    const auto d = static_cast<std::int64_t>(x.size());
    Tensor p(Shape{1, d}, std::vector<double>(values.begin(), values.begin() + d));
    attack_detail::project(p, Tensor(Shape{1, d}, x), {r}, Norm::linf, domain);
    return p.vec();
}

// The best point of the linearised margin z_c - z_label over the region of `expert` in the eps ball and
// within `step` of `at` (a trust region: the piece is only a linearisation away from `at`); nullopt when the
// region misses that box at every strictness. Sets `fooled` when the point is clearly misclassified.
std::optional<std::vector<double>> margin_step(const Sample& s, std::int64_t expert, int c, double eps,
                                               const std::vector<double>& at, double step, Box domain, bool& fooled) {
    const auto d = static_cast<std::int64_t>(s.x.size());
    const LocalPiece piece = local_piece(s.net, at, expert);
    double constant = 0.0;
    const std::vector<double> margin = margin_of(piece, c, s.label, constant);
    std::optional<std::vector<double>> next;
    for (const double strict : kStrictness) {
        Milp lp = ball_columns(s.x, eps, domain);
        for (std::int64_t k = 0; k < d; ++k) {
            milp::MilpColumn& col = lp.columns[static_cast<std::size_t>(k)];
            col.lo = std::max(col.lo, at[static_cast<std::size_t>(k)] - step);
            col.hi = std::min(col.hi, at[static_cast<std::size_t>(k)] + step);
            col.objective = -margin[static_cast<std::size_t>(k)];
        }
        add_routing_rows(lp, piece, strict * s.scale);
        const milp::LpSolution sol = milp::solve_lp(lp, kLpIterationLimit);
        if (!sol.optimal) break;
        next = into_ball(sol.values, s.x, eps, domain);
        fooled = clearly_fooled(s.net, *next, s.label);
        if (fooled || routed_to(s.net, *next, expert)) break;   // stricter only helps a point outside the region
    }
    return next;
}

// Maximises z_c - z_label over the region of `expert` within the eps ball. Exact pieces: one program over
// the whole ball. Otherwise sequential programs in a trust region of 2.5 eps / rounds around the last point
// (PGD's step, Madry et al. 2018), entering the region first by a program over the whole ball.
std::optional<std::vector<double>> eps_search(const Sample& s, std::int64_t expert, int c, const RoutingAttackOptions& o) {
    const double trust = s.exact_pieces ? milp::kInf : 2.5 * o.eps / o.rounds;
    std::vector<double> at = s.x;
    for (int round = 0; round < o.rounds; ++round) {
        bool fooled = false;
        auto next = margin_step(s, expert, c, o.eps, at, trust, o.domain, fooled);
        if (!next && std::isfinite(trust)) next = margin_step(s, expert, c, o.eps, at, milp::kInf, o.domain, fooled);
        if (!next) return std::nullopt;   // the region misses the ball
        if (fooled) return next;
        if (*next == at) return std::nullopt;
        at = std::move(*next);
    }
    return std::nullopt;
}

// The program of the minimal search: columns p (d) and t, minimise t subject to |p_k - x_k| <= t <= r.
Milp distance_program(const std::vector<double>& x, double r, Box domain) {
    Milp lp = ball_columns(x, r, domain);
    const int t = lp.add_column(0.0, r);
    lp.columns[static_cast<std::size_t>(t)].objective = 1.0;
    for (std::size_t k = 0; k < x.size(); ++k) {
        lp.add_row({static_cast<int>(k), t}, {1.0, -1.0}, -milp::kInf, x[k]);   // p_k - t <= x_k
        lp.add_row({static_cast<int>(k), t}, {1.0, 1.0}, x[k], milp::kInf);     // p_k + t >= x_k
    }
    return lp;
}

// The point of the region of `expert` nearest to x where z_c - z_label >= tau, within `radius`.
std::optional<std::vector<double>> min_search(const Sample& s, std::int64_t expert, int c, double radius, int rounds,
                                              Box domain) {
    const auto d = static_cast<std::int64_t>(s.x.size());
    std::vector<double> at = s.x;
    for (int round = 0; round < rounds; ++round) {
        const LocalPiece piece = local_piece(s.net, at, expert);
        double constant = 0.0;
        const std::vector<double> margin = margin_of(piece, c, s.label, constant);
        std::vector<double> next;
        for (const double strict : kStrictness) {
            Milp lp = distance_program(s.x, radius, domain);
            add_routing_rows(lp, piece, strict * s.scale);
            add_at_least(lp, margin.data(), constant, d, strict * s.scale);
            const milp::LpSolution sol = milp::solve_lp(lp, kLpIterationLimit);
            if (!sol.optimal) break;   // nothing of this kind within the radius
            next = into_ball(sol.values, s.x, radius, domain);
            if (clearly_fooled(s.net, next, s.label)) return next;
        }
        if (next.empty() || next == at) return std::nullopt;
        at = std::move(next);
    }
    return std::nullopt;
}

const MoEStage& first_moe(const Network& net) {
    for (const Stage& st : net.stages)
        if (st.kind == Stage::Kind::moe) return st.moe;
    throw std::logic_error("routing: the network has no MoE stage");
}

// Whether interval bounds on the score differences leave `expert` reachable within the ball of radius r.
// For a model-level MoE the router reads the input and the bounds are those of an affine map over a box; a
// layer-level router reads hidden features, and every expert counts as reachable.
bool reachable(const Sample& s, std::int64_t expert, double r, Box domain) {
    if (!s.net.model_level()) return true;
    const MoEStage& m = first_moe(s.net);
    std::vector<double> lo, hi;
    for (double xi : s.x) lo.push_back(std::max(domain.lo, xi - r)), hi.push_back(std::min(domain.hi, xi + r));
    for (std::int64_t j = 0; j < m.experts_count(); ++j)
        if (j != expert && milp::difference_lower(m.router, j, expert, lo, hi) > 0.0) return false;
    return true;
}

// The experts of the first MoE stage reachable within r: the one chosen at x first, then the others in
// index order.
std::vector<std::int64_t> expert_order(const Sample& s, double r, Box domain) {
    const std::int64_t clean = forward_point(s.net, s.x).route.front();
    std::vector<std::int64_t> order{clean};
    for (std::int64_t e = 0; e < first_moe(s.net).experts_count(); ++e)
        if (e != clean && reachable(s, e, r, domain)) order.push_back(e);
    return order;
}

// A model-level MoE with linear experts is affine on each routing region: one program per pair is exact.
bool pieces_are_exact(const Network& net) {
    if (!net.model_level()) return false;
    for (const MapChain& c : first_moe(net).experts)
        if (c.size() != 1) return false;
    return true;
}

// The first point found that fools the model within eps, if any.
std::optional<std::vector<double>> eps_point(const Sample& s, const RoutingAttackOptions& o) {
    const auto classes = static_cast<int>(s.net.classes);
    for (const std::int64_t e : expert_order(s, o.eps, o.domain))
        for (int c = 0; c < classes; ++c)
            if (c != s.label)
                if (auto p = eps_search(s, e, c, o)) return p;
    return std::nullopt;
}

double linf_from(const std::vector<double>& p, const std::vector<double>& x) {
    double dist = 0.0;
    for (std::size_t k = 0; k < p.size(); ++k) dist = std::max(dist, std::abs(p[k] - x[k]));
    return dist;
}

// Moves p towards x along the segment while it stays clearly misclassified (bisection on the segment).
std::vector<double> refine_on_segment(const Sample& s, std::vector<double> p) {
    double lo = 0.0, hi = 1.0;
    std::vector<double> q(p.size()), best = p;
    for (int step = 0; step < kSegmentSteps; ++step) {
        const double mid = 0.5 * (lo + hi);
        for (std::size_t k = 0; k < q.size(); ++k) q[k] = s.x[k] + mid * (p[k] - s.x[k]);
        if (clearly_fooled(s.net, q, s.label)) hi = mid, best = q;
        else lo = mid;
    }
    return best;
}

// Where the pieces are only linearisations, the minimal programs can stall between pieces; the eps-bounded
// search is then run at radii bisected between 0 and the best distance so far, each point refined on its
// segment to x.
std::optional<std::vector<double>> bisect_radius(const Sample& s, const RoutingAttackOptions& o, std::optional<std::vector<double>> best) {
    double lo = 0.0, hi = best ? linf_from(*best, s.x) : o.eps;
    RoutingAttackOptions at = o;
    for (int step = 0; step <= kRadiusBisections && hi > 0.0; ++step) {
        at.eps = step == 0 && !best ? hi : 0.5 * (lo + hi);
        if (auto p = eps_point(s, at)) {
            best = refine_on_segment(s, std::move(*p));
            hi = std::min(at.eps, linf_from(*best, s.x));
        } else {
            lo = at.eps;
            if (!best) return std::nullopt;   // nothing within the largest radius
        }
    }
    return best;
}

// The closest fooling point found within o.eps, if any.
std::optional<std::vector<double>> min_point(const Sample& s, const RoutingAttackOptions& o) {
    const auto classes = static_cast<int>(s.net.classes);
    std::optional<std::vector<double>> best;
    double best_distance = o.eps;
    for (const std::int64_t e : expert_order(s, o.eps, o.domain)) {
        for (int c = 0; c < classes; ++c) {
            if (c == s.label || !reachable(s, e, best_distance, o.domain)) continue;
            const auto p = min_search(s, e, c, best_distance, o.rounds, o.domain);
            if (!p) continue;
            const double dist = linf_from(*p, s.x);
            if (!best || dist < best_distance) best = p, best_distance = dist;
        }
    }
    return s.exact_pieces ? best : bisect_radius(s, o, std::move(best));
}

AttackResult run_routing(const Classifier& model, const Tensor& x, const std::vector<int>& y, const RoutingAttackOptions& o,
                         bool minimal) {
    o.validate();
    if (const std::string why = routing_attack_support(model); !why.empty()) throw ConfigError("attack", why, "routing");
    check_batch(o.domain, x, y, {}, "routing");
    const Network net = network_of(model);
    RoutingAttackOptions run = o;
    if (pieces_are_exact(net)) run.rounds = 1;
    const std::int64_t d = x.cols();
    AttackResult r;
    r.x_adv = x;
    for (std::int64_t b = 0; b < x.rows(); ++b) {
        Sample s{net, std::vector<double>(x.data() + b * d, x.data() + (b + 1) * d), y[static_cast<std::size_t>(b)]};
        if (s.label < 0 || s.label >= net.classes) throw std::invalid_argument("routing: label outside the classes");
        if (clearly_fooled(net, s.x, s.label)) continue;   // misclassified at x already: x is the point
        s.scale = scale_at(net, s.x);
        s.exact_pieces = pieces_are_exact(net);
        const auto p = minimal ? min_point(s, run) : eps_point(s, run);
        if (p) std::copy(p->begin(), p->end(), r.x_adv.data() + b * d);
    }
    attack_detail::finish(classifier_attack_model(model, o.domain), x, y, {}, Norm::linf, minimal, r);
    return r;
}

}  // namespace

void RoutingAttackOptions::validate() const {
    if (!(eps >= 0.0) || !std::isfinite(eps)) throw ConfigError("eps", "must be a finite number >= 0, got " + std::to_string(eps));
    if (rounds < 1) throw ConfigError("steps", "must be >= 1, got " + std::to_string(rounds));
}

std::string routing_attack_support(const Classifier& model) {
    if (model.moe_layers().empty()) return "the model has no MoE layer";
    return local_piece_support(network_of(model));
}

AttackResult routing_attack(const Classifier& model, const Tensor& x, const std::vector<int>& y, const RoutingAttackOptions& o) {
    return run_routing(model, x, y, o, false);
}

AttackResult routing_min_distance(const Classifier& model, const Tensor& x, const std::vector<int>& y,
                                  const RoutingAttackOptions& o) {
    return run_routing(model, x, y, o, true);
}

}  // namespace moelab
