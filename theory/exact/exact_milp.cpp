// The exact minimal L-infinity distance by MILP (exact.hpp): the attack that bounds the search ball, one
// MILP per piece (class, expert; built by distance_milp.hpp), their solves and the verification of points.
#include "theory/attacks/attack.hpp"
#include "theory/exact/exact.hpp"

#include <glpk.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "engine/ops.hpp"
#include "theory/exact/distance_milp.hpp"
#include "theory/exact/milp_internal.hpp"
#include "theory/network/outward_rounding.hpp"
#include "theory/network/rational_check.hpp"

namespace moelab {
namespace {

using namespace milp;

static_assert(ExactOptions{}.work_limit_nodes == kDefaultWorkLimitNodes, "one default work limit");

// ---- verification ----------------------------------------------------------------------------------

Tensor model_logits(const Classifier& model, const Tensor& x) {
    NoGradGuard no_grad;
    return model.forward(Var(x)).logits.value();
}

double max_abs(const Tensor& t) {
    double s = 0.0;
    for (std::int64_t i = 0; i < t.numel(); ++i) s = std::max(s, std::abs(t[i]));
    return s;
}

}  // namespace

std::string to_string(ExactStatus status) {
    switch (status) {
        case ExactStatus::optimal: return "optimal";
        case ExactStatus::bounds_only: return "bounds_only";
        case ExactStatus::beyond_cap: return "beyond_cap";
        case ExactStatus::unsupported: return "unsupported";
    }
    return "?";
}

std::string exact_support(const Classifier& model) {
    const ModelConfig& c = model.config();
    const std::int64_t active = c.gate == GateMode::soft ? c.experts : c.top_k;
    if (c.kind == ModelKind::moe_model && active != 1)
        return "moe-model with " + std::to_string(active) + " active experts (gate " + to_string(c.gate) +
               "): F = sum_i g_i f_i mixes experts by softmax gates, which is not piecewise linear";
    if (c.kind == ModelKind::moe) {
        const bool gate_is_one = c.experts == 1 || (c.gate == GateMode::topk_then_softmax && active == 1);
        if (!gate_is_one)
            return "moe with gate " + to_string(c.gate) + " and " + std::to_string(active) +
                   " active experts: the gates scale hidden units by a softmax, which is not piecewise linear "
                   "(supported: top_k = 1 with gate topk-softmax, where the gate is exactly 1)";
    }
    return "";
}

namespace {

// ---- exact_min_distance_linf, step by step -------------------------------------------------------------

void validate_inputs(const ModelConfig& c, const Tensor& x, int label, const ExactOptions& o) {
    if (x.shape().rank() != 2 || x.rows() != 1 || x.cols() != c.input_dim)
        throw std::invalid_argument("exact_min_distance_linf: x must be [1, " + std::to_string(c.input_dim) + "], got " +
                                    x.shape().str());
    if (label < 0 || label >= c.classes)
        throw std::invalid_argument("exact_min_distance_linf: label " + std::to_string(label) + " outside [0, " +
                                    std::to_string(c.classes) + ")");
    if (!(o.radius_cap > 0.0) || std::isinf(o.radius_cap))
        throw std::invalid_argument("exact_min_distance_linf: radius_cap must be positive and finite (it sets the big-M "
                                    "constants), got " + std::to_string(o.radius_cap));
    validate_work_limit(o.work_limit_nodes, o.time_limit_s, "exact_min_distance_linf: work_limit_nodes",
                        "exact_min_distance_linf: time_limit_s");
    for (std::int64_t i = 0; i < x.numel(); ++i)
        if (!(x[i] >= o.domain.lo && x[i] <= o.domain.hi))
            throw std::invalid_argument("exact_min_distance_linf: x[" + std::to_string(i) + "] = " + std::to_string(x[i]) +
                                        " lies outside the domain");
}

bool said_infeasible(const MilpSolution& s) {
    return s.glpk_return == GLP_ENOPFS || (s.glpk_return == 0 && s.mip_status == GLP_NOFEAS);
}

// The state of one sample's search: the best verified adversarial point so far (res.x_adv, res.upper), the
// proven lower bound, the search radius R and the note.
struct Search {
    const Classifier& model;
    const Tensor& x;
    int label;
    const ExactOptions& o;
    ExactResult res;
    std::ostringstream note;
    double R = 0.0;
    RationalModel exact_model{model};                       // judges points with zero tolerance
    WorkBudget budget{o.work_limit_nodes, o.time_limit_s};  // shared by every solve of this sample

    double distance_to_x(const Tensor& p) const {
        double s = 0.0;
        for (std::int64_t i = 0; i < p.numel(); ++i) s = std::max(s, std::abs(p[i] - x[i]));
        return s;
    }
    // Keeps p as x_adv when the exact rational forward pass misclassifies it (theory/network/rational_check.hpp:
    // zero tolerance) and it is closer than the current one; its distance rounded up bounds d* from above.
    bool offer(const Tensor& p) {
        if (!exact_model.adversarial(p.data(), label)) return false;
        const double dist = linf_distance_up(p.data(), x.data(), x.numel());
        if (dist < res.upper) {
            res.x_adv = p;
            res.upper = dist;
        }
        return true;
    }
    // The solver's x', clipped into the ball and the domain.
    Tensor point_of(const MilpSolution& s) const {
        Tensor p(Shape{1, x.cols()});
        for (std::int64_t i = 0; i < x.cols(); ++i)
            p[i] = std::clamp(s.values[static_cast<std::size_t>(i)], std::max(x[i] - R, o.domain.lo), std::min(x[i] + R, o.domain.hi));
        return p;
    }
    bool attack_is_tight() const { return !res.x_adv.empty() && res.upper - res.lower <= 1e-6 * std::max(1.0, res.upper); }
    // Optimal only when GLPK proved the closed problem optimal and a verified point attains it.
    ExactResult finish(bool proven_optimal) {
        res.load_dependent = budget.clock_struck();
        res.lower = std::min(res.lower, res.upper);
        const bool tight = attack_is_tight();
        res.status = proven_optimal && tight ? ExactStatus::optimal : ExactStatus::bounds_only;
        res.lower = solver_lower_outward(res.lower);   // GLPK's tolerances, charged (outward_rounding.hpp)
        if (res.status == ExactStatus::bounds_only && proven_optimal && !res.x_adv.empty())
            note << "verified point is " << res.upper - res.lower << " beyond the proven lower bound; ";
        res.note = note.str();
        return res;
    }
};

// An upper bound from DeepFool (L-inf), verified: with a point at distance U in hand the MILP need only
// search the ball of radius U (slightly widened, so that the margin re-solve has room) instead of the
// cap, and the interval bounds, hence every big-M, shrink with the ball.
void attack_first(Search& s) {
    MinimalOptions attack;
    attack.norm = Norm::linf;
    const AttackModel m = classifier_attack_model(s.model, s.o.domain);
    const AttackResult r = deepfool(m, s.x, {s.label}, attack);
    if (r.success[0] && s.distance_to_x(r.x_adv) <= s.o.radius_cap) s.offer(r.x_adv);
    s.R = std::min(s.o.radius_cap, s.res.upper * (1.0 + 1e-3));
    if (s.R < s.o.radius_cap) s.note << "DeepFool point at " << s.res.upper << " limits the search radius to " << s.R << "; ";
}

// The closed problem (no margins), whose optimum is d*_j. GLPK's scaling can make a feasible problem look
// infeasible (found by the exact-Lipschitz solver, milp_internal.hpp): "no adversarial example within the
// radius" is a claim, so it is confirmed without the presolver and the scaling.
MilpSolution solve_closed(Search& s, const Milp& milp) {
    MilpSolution first = solve_milp(milp, s.budget, true, s.o.backend);
    s.res.seconds += first.seconds;
    if (said_infeasible(first) && !s.budget.exhausted()) {
        first = solve_milp(milp, s.budget, false, s.o.backend);
        s.res.seconds += first.seconds;
    }
    return first;
}

// The closed problem's minimiser failed verification: solve again with a strictness margin inside the
// routing cell and past the class boundary, for a verified point just beyond d*_j. The margin starts near
// rounding and grows only while the solver's ~1e-7 tolerances leave the point on the wrong side. Not needed
// when a verified point already sits within tolerance of this class's optimum.
void resolve_with_margins(Search& s, const Network& net, double scale_of_scores, bool verified, Piece piece, double optimum) {
    const bool point_is_tight = !s.res.x_adv.empty() && s.res.upper - optimum <= 1e-6 * std::max(1.0, s.res.upper);
    for (double relative_margin : {1e-9, 1e-7, 1e-5}) {
        if (verified || point_is_tight || s.budget.exhausted()) break;
        const double margin = relative_margin * scale_of_scores;
        const Milp strict = build_distance_milp(net, s.x.vec(), s.label, s.R, s.o.domain, Margins{margin, margin}, piece);
        if (strict.infeasible) break;
        const MilpSolution second = solve_milp(strict, s.budget, true, s.o.backend);
        s.res.seconds += second.seconds;
        s.note << "re-solved with margin " << margin << " (" << glpk_return_name(second.glpk_return) << ")";
        if (second.mip_status == GLP_OPT || second.mip_status == GLP_FEAS) verified = s.offer(s.point_of(second));
        s.note << (verified ? ": verified; " : ": not misclassified either; ");
    }
}

// What one piece's MILP proved about d*_piece, the distance to the nearest point of that piece (class j
// reaches the label's logit, routed to expert e).
struct PieceAnswer {
    double lower = 0.0;       // d*_piece >= lower (0: nothing proven)
    bool proven = false;      // lower is d*_piece, or d*_piece > the radius searched
    bool infeasible = false;  // no such point within the radius searched (lower = that radius)
};

// d* = min over pieces. One MILP per class j that can overtake the label and, for a network with one top-1
// MoE stage, per expert e that can win the routing, instead of one MILP with a binary per class and per
// expert: with the class fixed the LP relaxation can no longer spread the misclassification over fractional
// class binaries (its root bound was 0 on every W7 sample), with the expert fixed the routing is a set of
// plain rows and the other experts' ReLUs vanish; each verified point shrinks the radius, hence the bounds
// and big-Ms, of the pieces after it, and the bounds rule most pieces out before any solve.
PieceAnswer solve_piece(Search& s, const Network& net, Piece piece, double scale_of_scores) {
    if (!s.res.x_adv.empty()) s.R = std::min(s.R, s.res.upper * (1.0 + 1e-3));
    const Milp milp = build_distance_milp(net, s.x.vec(), s.label, s.R, s.o.domain, Margins{}, piece);
    if (milp.infeasible) return {s.R, true, true};   // the bounds rule the piece out within R
    s.note << "class " << piece.target;
    if (piece.expert >= 0) s.note << " expert " << piece.expert;
    s.note << ": " << milp.relu_binaries << " ReLU and " << milp.routing_binaries << " routing binaries";
    if (s.budget.exhausted()) {
        s.note << ", not solved (work limit); ";
        return {};
    }
    const MilpSolution first = solve_closed(s, milp);
    if (said_infeasible(first)) {
        s.note << ", none within " << s.R << "; ";
        return {s.R, true, true};
    }
    const bool proven = first.glpk_return == 0 && first.mip_status == GLP_OPT;
    const PieceAnswer answer{std::max(0.0, proven ? first.objective : first.best_bound), proven, false};
    s.note << (proven ? "; " : ", solver stopped: " + glpk_return_name(first.glpk_return) + ", lower bound = best open node bound; ");
    if (first.mip_status == GLP_OPT || first.mip_status == GLP_FEAS) {
        const bool verified = s.offer(s.point_of(first));
        if (!verified)
            s.note << "the MILP minimiser at distance " << first.objective
                   << " is not misclassified by the exact forward pass (a routing or class tie-break); ";
        resolve_with_margins(s, net, scale_of_scores, verified, piece, first.objective);
    }
    return answer;
}

std::vector<std::int64_t> first_then_rest(std::int64_t first, std::int64_t n, std::int64_t skip) {
    std::vector<std::int64_t> order;
    if (first >= 0 && first != skip) order.push_back(first);
    for (std::int64_t j = 0; j < n; ++j)
        if (j != skip && j != first) order.push_back(j);
    return order;
}

// The attack point's class and expert first (its piece has that point's distance as its radius, and a close
// point found early shrinks the radius of every later piece), then the others in index order.
std::vector<Piece> piece_order(const Search& s, const Network& net) {
    std::int64_t first_class = -1, first_expert = -1;
    if (!s.res.x_adv.empty()) {
        const PointForward f = forward_point(net, s.res.x_adv.vec());
        first_class = static_cast<std::int64_t>(std::max_element(f.logits.begin(), f.logits.end()) - f.logits.begin());
        if (!f.route.empty()) first_expert = f.route[0];
    }
    std::int64_t moe_stages = 0, experts = 0;
    for (const Stage& st : net.stages)
        if (st.kind == Stage::Kind::moe) ++moe_stages, experts = st.moe.experts_count();
    std::vector<Piece> order;
    for (std::int64_t j : first_then_rest(first_class, net.classes, s.label)) {
        if (moe_stages != 1) {
            order.push_back({j, -1});
            continue;
        }
        for (std::int64_t e : first_then_rest(first_expert, experts, -1)) order.push_back({j, e});
    }
    return order;
}

}  // namespace

ExactResult exact_min_distance_linf(const Classifier& model, const Tensor& x, int label, const ExactOptions& o) {
    validate_inputs(model.config(), x, label, o);
    const std::string unsupported = exact_support(model);
    if (!unsupported.empty()) {
        ExactResult res;
        res.note = unsupported;
        return res;
    }
    Search s{model, x, label, o, {}, {}, 0.0};

    const Network net = network_of(model);
    const Tensor clean = model_logits(model, x);
    const PointForward plain = forward_point(net, x.vec());
    // The extraction must reproduce the model, or every number below would be about another function.
    const double scale = std::max(1.0, max_abs(clean));
    for (std::int64_t j = 0; j < clean.cols(); ++j)
        if (std::abs(plain.logits[static_cast<std::size_t>(j)] - clean[j]) > 1e-8 * scale) {
            s.res.note = "internal: the extracted piecewise-linear network disagrees with Classifier::forward at x";
            return s.res;
        }
    if (s.exact_model.adversarial(x.data(), label)) {   // already misclassified: d* = 0
        s.res.status = ExactStatus::optimal;
        s.res.lower = s.res.upper = 0.0;
        s.res.x_adv = x;
        s.res.note = "x is misclassified";
        return s.res;
    }
    attack_first(s);

    const bool attack_point = !s.res.x_adv.empty();
    const double scale_of_scores = std::max({1.0, max_abs(clean), plain.router_scale});
    double lower = kInf;
    bool proven = true, none_anywhere = true;
    for (const Piece& piece : piece_order(s, net)) {
        const PieceAnswer a = solve_piece(s, net, piece, scale_of_scores);
        lower = std::min(lower, a.lower);
        proven = proven && a.proven;
        none_anywhere = none_anywhere && a.infeasible;
    }
    // Every class ruled out, or a proven bound beyond a verified point: contradicts that point (numerical
    // trouble); keep only what is proven.
    if (attack_point && (none_anywhere || lower > s.res.upper * (1.0 + 1e-6))) {
        s.note << "no class reaches the label within the radius, contradicting the verified attack point: numerical trouble; ";
        s.res.lower = 0.0;
        return s.finish(false);
    }
    if (none_anywhere) {
        s.note << "no adversarial example within the radius; ";
        s.res.status = ExactStatus::beyond_cap;
        s.res.load_dependent = s.budget.clock_struck();
        s.res.lower = solver_lower_outward(s.R);
        s.res.note = s.note.str();
        return s.res;
    }
    s.res.lower = lower;
    return s.finish(proven);
}

}  // namespace moelab