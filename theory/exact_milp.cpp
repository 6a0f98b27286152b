// The exact minimal L-infinity distance by MILP (exact.hpp): the model as plain affine maps, interval
// bounds, the MILP encoding (Tjeng et al. 2019, plus top-1 routing) and the GLPK solve.
#include "theory/attack.hpp"
#include "theory/exact.hpp"

#include <glpk.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "engine/ops.hpp"
#include "theory/milp_internal.hpp"
#include "theory/outward_rounding.hpp"
#include "theory/rational_check.hpp"

namespace moelab {
namespace {

using namespace milp;

static_assert(ExactOptions{}.work_limit_nodes == kDefaultWorkLimitNodes, "one default work limit");

// The last affine map of the network and its input, for tight bounds on logit differences.
struct LastAffine {
    const AffineMap* map = nullptr;
    Activations input;
};

// Strictness margins: 0 for the relaxed (closed) problem whose optimum is d*; a small positive value to
// find a point strictly inside a routing cell and strictly misclassified (see exact.hpp).
struct Margins {
    double router = 0.0, classes = 0.0;
};

Activations encode_chain(Milp& milp, Activations x, const MapChain& chain, LastAffine* last) {
    for (std::size_t l = 0; l < chain.size(); ++l) {
        if (l > 0) x = encode_relu(milp, x);
        if (last && l + 1 == chain.size()) *last = {&chain[l], x};
        x = encode_affine(milp, x, chain[l]);
    }
    return x;
}

// Top-1 routing: binary a_i per reachable expert, sum a_i = 1, s_i - s_j >= m - (1 - a_i) M_ij, and the
// output z = f_i(x) of the chosen expert by big-M on z_c - f_{i,c}.
Activations encode_top1_moe(Milp& milp, const Activations& in, const MoEStage& moe, double margin, LastAffine* last) {
    const auto E = static_cast<std::int64_t>(moe.experts.size());
    // lower[i][j]: lower bound of s_i - s_j over the input box.
    std::vector<std::vector<double>> lower(static_cast<std::size_t>(E), std::vector<double>(static_cast<std::size_t>(E), 0.0));
    for (std::int64_t i = 0; i < E; ++i)
        for (std::int64_t j = 0; j < E; ++j)
            if (i != j) lower[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)] = difference_lower(moe.router, i, j, in.lo, in.hi);
    // Expert i is reachable unless some j beats it by more than the margin everywhere on the box.
    std::vector<std::int64_t> reachable;
    for (std::int64_t i = 0; i < E; ++i) {
        bool ok = true;
        for (std::int64_t j = 0; j < E; ++j)
            if (j != i && -lower[static_cast<std::size_t>(j)][static_cast<std::size_t>(i)] < margin) ok = false;
        if (ok) reachable.push_back(i);
    }
    if (reachable.empty()) {
        milp.infeasible = true;
        reachable.push_back(0);   // keep the shapes defined; the problem is not solved
    }
    const Activations scores = encode_affine(milp, in, moe.router);
    std::vector<int> chosen;   // a_i per reachable expert; -1 when it is the only one (a_i = 1)
    for (std::size_t r = 0; r < reachable.size(); ++r) {
        if (reachable.size() == 1) {
            chosen.push_back(-1);
        } else {
            chosen.push_back(milp.add_column(0.0, 1.0, true));
            ++milp.routing_binaries;
        }
    }
    if (reachable.size() > 1) milp.add_row(chosen, std::vector<double>(chosen.size(), 1.0), 1.0, 1.0);
    for (std::size_t r = 0; r < reachable.size(); ++r) {
        const std::int64_t i = reachable[r];
        for (std::int64_t j = 0; j < E; ++j) {
            if (j == i) continue;
            const double low = lower[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)];
            if (low >= margin) continue;   // holds on the whole box
            const int si = scores.col[static_cast<std::size_t>(i)], sj = scores.col[static_cast<std::size_t>(j)];
            if (chosen[r] < 0) {
                milp.add_row({si, sj}, {1.0, -1.0}, margin, kInf);
            } else {
                const double M = margin - low;   // s_i - s_j - M a_i >= margin - M
                milp.add_row({si, sj, chosen[r]}, {1.0, -1.0, -M}, margin - M, kInf);
            }
        }
    }
    std::vector<Activations> outputs;
    LastAffine expert_last;
    for (std::int64_t i : reachable)
        outputs.push_back(encode_chain(milp, in, moe.experts[static_cast<std::size_t>(i)], &expert_last));
    if (reachable.size() == 1) {
        if (last) *last = expert_last;
        return outputs[0];
    }
    if (last) *last = {};   // several expert maps: no single last affine map
    Activations z;
    const std::size_t m = outputs[0].size();
    for (std::size_t c = 0; c < m; ++c) {
        double lo = kInf, hi = -kInf;
        for (const Activations& f : outputs) {
            lo = std::min(lo, f.lo[c]);
            hi = std::max(hi, f.hi[c]);
        }
        z.col.push_back(milp.add_column(lo, hi));
        z.lo.push_back(lo);
        z.hi.push_back(hi);
    }
    for (std::size_t r = 0; r < reachable.size(); ++r) {
        const Activations& f = outputs[r];
        for (std::size_t c = 0; c < m; ++c) {
            const double up = z.hi[c] - f.lo[c], down = f.hi[c] - z.lo[c];
            // z_c - f_c <= (1 - a) up  and  z_c - f_c >= -(1 - a) down
            milp.add_row({z.col[c], f.col[c], chosen[r]}, {1.0, -1.0, up}, -kInf, up);
            milp.add_row({z.col[c], f.col[c], chosen[r]}, {1.0, -1.0, -down}, -down, kInf);
        }
    }
    return z;
}

Activations encode_network(Milp& milp, Activations x, const Network& net, double router_margin, LastAffine* last) {
    for (const Stage& s : net.stages) {
        switch (s.kind) {
            case Stage::Kind::affine:
                *last = {&s.map, x};
                x = encode_affine(milp, x, s.map);
                break;
            case Stage::Kind::relu:
                *last = {};
                x = encode_relu(milp, x);
                break;
            case Stage::Kind::chain: x = encode_chain(milp, std::move(x), s.chain, last); break;
            case Stage::Kind::moe: x = encode_top1_moe(milp, x, s.moe, router_margin, last); break;
        }
    }
    return x;
}

// Some class j != label has z_j - z_label >= m: binary c_j per class that can win, sum c_j = 1,
// z_j - z_label >= m - (1 - c_j) M_j.
void encode_misclassification(Milp& milp, const Activations& z, const LastAffine& last, std::int64_t label, double margin) {
    const auto y = static_cast<std::size_t>(label);
    std::vector<std::size_t> winners;
    std::vector<double> low;   // lower bound of z_j - z_y per winner
    for (std::size_t j = 0; j < z.size(); ++j) {
        if (j == y) continue;
        double lo = widen_down(z.lo[j] - z.hi[y]), hi = widen_up(z.hi[j] - z.lo[y]);
        if (last.map) {
            const auto jj = static_cast<std::int64_t>(j);
            lo = std::max(lo, difference_lower(*last.map, jj, label, last.input.lo, last.input.hi));
            hi = std::min(hi, -difference_lower(*last.map, label, jj, last.input.lo, last.input.hi));
        }
        if (hi < margin) continue;   // class j never reaches the label's logit on the box
        winners.push_back(j);
        low.push_back(lo);
    }
    if (winners.empty()) {
        milp.infeasible = true;
        return;
    }
    if (winners.size() == 1) {
        milp.add_row({z.col[winners[0]], z.col[y]}, {1.0, -1.0}, margin, kInf);
        return;
    }
    std::vector<int> picks;
    for (std::size_t k = 0; k < winners.size(); ++k) {
        const int c = milp.add_column(0.0, 1.0, true);
        picks.push_back(c);
        const double M = std::max(0.0, margin - low[k]);   // z_j - z_y - M c >= margin - M
        milp.add_row({z.col[winners[k]], z.col[y], c}, {1.0, -1.0, -M}, margin - M, kInf);
    }
    milp.add_row(picks, std::vector<double>(picks.size(), 1.0), 1.0, 1.0);
}

// The whole problem: inputs x' in [x - R, x + R] clipped to the domain, t >= |x'_i - x_i|, minimise t.
// Columns 0..d-1 are x', column d is t.
Milp build_milp(const Network& net, const std::vector<double>& x, std::int64_t label, double R, const Box& domain,
                const Margins& margins) {
    Milp milp;
    milp.gomory_cuts = true;   // milp_internal.cpp: a 5-10x shorter branch and bound on W6
    Activations in;
    for (double xi : x) {
        const double lo = std::max(xi - R, domain.lo), hi = std::min(xi + R, domain.hi);
        in.col.push_back(milp.add_column(lo, hi));
        in.lo.push_back(lo);
        in.hi.push_back(hi);
    }
    const int t = milp.add_column(0.0, R);
    milp.columns[static_cast<std::size_t>(t)].objective = 1.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        milp.add_row({t, in.col[i]}, {1.0, -1.0}, -x[i], kInf);   // t >= x'_i - x_i
        milp.add_row({t, in.col[i]}, {1.0, 1.0}, x[i], kInf);     // t >= x_i - x'_i
    }
    LastAffine last;
    const Activations z = encode_network(milp, in, net, margins.router, &last);
    encode_misclassification(milp, z, last, label, margins.classes);
    return milp;
}


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
    // Keeps p as x_adv when the exact rational forward pass misclassifies it (theory/rational_check.hpp:
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
    const AttackResult r = deepfool(classifier_attack_model(s.model, s.o.domain), s.x, {s.label}, attack);
    if (r.success[0] && s.distance_to_x(r.x_adv) <= s.o.radius_cap) s.offer(r.x_adv);
    s.R = std::min(s.o.radius_cap, s.res.upper * (1.0 + 1e-3));
    if (s.R < s.o.radius_cap) s.note << "DeepFool point at " << s.res.upper << " limits the search radius to " << s.R << "; ";
}

// The closed problem (no margins), whose optimum is d*. GLPK's scaling can make a feasible problem look
// infeasible (found by the exact-Lipschitz solver, milp_internal.hpp): "no adversarial example within the
// radius" is a claim, so it is confirmed without the presolver and the scaling.
MilpSolution solve_closed(Search& s, const Milp& milp) {
    MilpSolution first = solve_milp(milp, s.budget);
    s.res.seconds = first.seconds;
    if (said_infeasible(first) && !s.budget.exhausted()) {
        first = solve_milp(milp, s.budget, false);
        s.res.seconds += first.seconds;
    }
    return first;
}

// The closed problem's minimiser failed verification: solve again with a strictness margin inside the
// routing cell and past the class boundary, for a verified point just beyond d*. The margin starts near
// rounding and grows only while GLPK's ~1e-7 tolerances leave the point on the wrong side. Not needed
// when the DeepFool point already sits within tolerance of the proven bound.
void resolve_with_margins(Search& s, const Network& net, double scale_of_scores, bool verified) {
    const bool attack_is_tight = s.attack_is_tight();
    for (double relative_margin : {1e-9, 1e-7, 1e-5}) {
        if (verified || attack_is_tight || s.budget.exhausted()) break;
        const double margin = relative_margin * scale_of_scores;
        const Milp strict = build_milp(net, s.x.vec(), s.label, s.R, s.o.domain, Margins{margin, margin});
        if (strict.infeasible) break;
        const MilpSolution second = solve_milp(strict, s.budget);
        s.res.seconds += second.seconds;
        s.note << "re-solved with margin " << margin << " (" << glpk_return_name(second.glpk_return) << ")";
        if (second.mip_status == GLP_OPT || second.mip_status == GLP_FEAS) verified = s.offer(s.point_of(second));
        s.note << (verified ? ": verified; " : ": not misclassified either; ");
    }
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

    const Milp milp = build_milp(net, x.vec(), label, s.R, o.domain, Margins{});
    s.note << milp.relu_binaries << " ReLU and " << milp.routing_binaries << " routing binaries; ";
    const bool attack_point = !s.res.x_adv.empty();
    MilpSolution first;
    if (!milp.infeasible) first = solve_closed(s, milp);
    if (milp.infeasible || said_infeasible(first)) {
        s.note << (milp.infeasible ? "interval bounds rule out every other class within the radius"
                                   : "no adversarial example within the radius (" + glpk_return_name(first.glpk_return) + ")");
        if (attack_point) {   // contradicts the verified DeepFool point: numerical trouble, keep only what is proven
            s.note << ", contradicting the verified DeepFool point: numerical trouble; ";
            return s.finish(false);
        }
        s.res.status = ExactStatus::beyond_cap;
        s.res.load_dependent = s.budget.clock_struck();
        s.res.lower = solver_lower_outward(s.R);
        s.res.note = s.note.str();
        return s.res;
    }
    const bool proven_optimal = first.glpk_return == 0 && first.mip_status == GLP_OPT;
    const bool has_point = first.mip_status == GLP_OPT || first.mip_status == GLP_FEAS;
    if (proven_optimal) {
        s.res.lower = std::max(0.0, first.objective);
    } else {
        s.res.lower = std::max(0.0, first.best_bound);
        s.note << "solver stopped: " << glpk_return_name(first.glpk_return)
               << "; lower bound = best open node bound of the branch and bound (glp_ios_best_node); ";
    }
    if (has_point) {
        const bool verified = s.offer(s.point_of(first));
        if (!verified)
            s.note << "the MILP minimiser at distance " << first.objective
                   << " is not misclassified by the exact forward pass (a routing or class tie-break); ";
        resolve_with_margins(s, net, std::max({1.0, max_abs(clean), plain.router_scale}), verified);
    }
    return s.finish(proven_optimal);
}

}  // namespace moelab