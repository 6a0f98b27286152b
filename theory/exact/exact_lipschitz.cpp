// The exact L-inf Lipschitz constant by MILP (exact_lipschitz.hpp): per routing cell, the LipMIP encoding
// (forward big-M phases, backward signal linearised against the phases, L1 norm by sign binaries), solved
// with GLPK through the shared plumbing of theory/exact/milp_internal.hpp; then the cells are combined.
#include "theory/exact/exact_lipschitz.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "engine/ops.hpp"
#include "theory/exact/exact.hpp"
#include "theory/exact/milp_internal.hpp"
#include "theory/network/outward_rounding.hpp"
#include "theory/network/rational_check.hpp"

namespace moelab {
namespace {

using namespace milp;

static_assert(ExactLipschitzOptions{}.work_limit_nodes == kDefaultWorkLimitNodes, "one default work limit");

// ---- the model with the routing held fixed -----------------------------------------------------------

double margin_on_route(const Network& net, const std::vector<double>& x, const Route& route, int a, int b) {
    const std::vector<double> z = forward_point(net, x, &route).logits;
    return z[static_cast<std::size_t>(a)] - z[static_cast<std::size_t>(b)];
}

// The routing the model takes at x (ties: lower index, as topk()).
Route route_at(const Network& net, const std::vector<double>& x) { return forward_point(net, x).route; }

// Every combination of one expert per MoE stage ({} for a network without MoE).
std::vector<Route> all_routes(const Network& net) {
    std::vector<Route> routes{Route{}};
    for (const Stage& s : net.stages) {
        if (s.kind != Stage::Kind::moe) continue;
        std::vector<Route> next;
        for (const Route& r : routes)
            for (std::int64_t i = 0; i < s.moe.experts_count(); ++i) {
                Route e = r;
                e.push_back(i);
                next.push_back(std::move(e));
            }
        routes = std::move(next);
    }
    return routes;
}

// ---- the LipMIP encoding of one routing cell ---------------------------------------------------------

// What the backward pass needs from the forward encoding: an affine map, or a ReLU's phases.
struct TapeEntry {
    const AffineMap* map = nullptr;   // affine when set, else ReLU
    std::vector<int> phase;           // binary column or kPhaseOn / kPhaseOff per unit
};

struct CellMilp {
    Milp milp;
    bool empty = false;                // interval bounds show another expert always beats the route's
    bool fixed_by_intervals = true;    // every router inequality holds on the whole box
    double interval_upper = 0.0;       // sum_i max |g_0,i| over the interval bounds of g_0: a sound upper bound
    std::int64_t sign_binaries = 0;
};

// g_in = W^T g_out: one column per input unit, bounds by interval arithmetic over g_out's box.
Activations backward_affine(Milp& milp, const Activations& g, const AffineMap& f) {
    return encode_linear(
        milp, g, f.in(), [&](std::int64_t c, std::int64_t r) { return f.weight(r, c); }, [](std::int64_t) { return 0.0; });
}

// g_in = a g_out for a binary phase a and g_out in [gl, gu]: exact with four rows (the product of a bounded
// continuous variable and a binary); a stable unit passes g (active) or 0 (inactive).
Activations backward_relu(Milp& milp, const Activations& g, const std::vector<int>& phase) {
    Activations out;
    for (std::size_t k = 0; k < g.size(); ++k) {
        const double gl = g.lo[k], gu = g.hi[k];
        if (phase[k] == kPhaseOn) {
            out.col.push_back(g.col[k]);
            out.lo.push_back(gl);
            out.hi.push_back(gu);
            continue;
        }
        if (phase[k] == kPhaseOff || (gl == 0.0 && gu == 0.0)) {
            out.col.push_back(milp.add_column(0.0, 0.0));
            out.lo.push_back(0.0);
            out.hi.push_back(0.0);
            continue;
        }
        const double lo = std::min(gl, 0.0), hi = std::max(gu, 0.0);
        const int h = milp.add_column(lo, hi), gc = g.col[k], a = phase[k];
        milp.add_row({h, gc, a}, {1.0, -1.0, -gl}, -kInf, -gl);   // h <= g - gl (1 - a)
        milp.add_row({h, gc, a}, {1.0, -1.0, -gu}, -gu, kInf);    // h >= g - gu (1 - a)
        milp.add_row({h, a}, {1.0, -gu}, -kInf, 0.0);             // h <= gu a
        milp.add_row({h, a}, {1.0, -gl}, 0.0, kInf);              // h >= gl a
        out.col.push_back(h);
        out.lo.push_back(lo);
        out.hi.push_back(hi);
    }
    return out;
}

// Minimise -sum_i |g_i|: t_i = |g_i| from above by t <= g + M1 (1 - s), t <= -g + M2 s (s: sign binary,
// M1 = -2 gl, M2 = 2 gu); coordinates of fixed sign need no binary.
void objective_l1(CellMilp& cell, const Activations& g) {
    Milp& milp = cell.milp;
    for (std::size_t i = 0; i < g.size(); ++i) {
        const double gl = g.lo[i], gu = g.hi[i];
        cell.interval_upper += std::max(std::abs(gl), std::abs(gu));
        const auto col = static_cast<std::size_t>(g.col[i]);
        if (gl >= 0.0) {
            milp.columns[col].objective -= 1.0;
        } else if (gu <= 0.0) {
            milp.columns[col].objective += 1.0;
        } else {
            const int t = milp.add_column(0.0, std::max(-gl, gu));
            const int s = milp.add_column(0.0, 1.0, true);
            ++cell.sign_binaries;
            const double M1 = -2.0 * gl, M2 = 2.0 * gu;
            milp.add_row({t, g.col[i], s}, {1.0, -1.0, M1}, -kInf, M1);   // t - g + M1 s <= M1
            milp.add_row({t, g.col[i], s}, {1.0, 1.0, -M2}, -kInf, 0.0);  // t + g - M2 s <= 0
            milp.columns[static_cast<std::size_t>(t)].objective = -1.0;
        }
    }
}

// Columns 0..d-1 are the input x. With `interior`, no gradient: the problem instead maximises the routing
// slack t (s_i - s_j >= t for every chosen i and rival j), for a witness point strictly inside the cell.
CellMilp build_cell(const Network& net, const Route& route, int a, int b, const InputBox& box, bool interior = false) {
    CellMilp cell;
    Milp& milp = cell.milp;
    Activations h;
    for (std::size_t i = 0; i < box.lo.size(); ++i) {
        h.col.push_back(milp.add_column(box.lo[i], box.hi[i]));
        h.lo.push_back(box.lo[i]);
        h.hi.push_back(box.hi[i]);
    }
    std::vector<TapeEntry> tape;
    std::vector<std::pair<int, int>> router_rows;   // (s_i, s_j) columns: s_i - s_j >= 0 (interior: >= t)
    double slack_max = 0.0;                         // an upper bound on every s_i - s_j over the box
    const auto forward_affine = [&](const AffineMap& f) {
        tape.push_back({&f, {}});
        h = encode_affine(milp, h, f);
    };
    const auto forward_relu = [&] {
        TapeEntry t;
        h = encode_relu(milp, h, &t.phase);
        tape.push_back(std::move(t));
    };
    const auto forward_chain = [&](const MapChain& chain) {
        for (std::size_t l = 0; l < chain.size(); ++l) {
            if (l > 0) forward_relu();
            forward_affine(chain[l]);
        }
    };
    std::size_t k = 0;
    for (const Stage& s : net.stages) {
        if (s.kind == Stage::Kind::affine) {
            forward_affine(s.map);
        } else if (s.kind == Stage::Kind::relu) {
            forward_relu();
        } else if (s.kind == Stage::Kind::chain) {
            forward_chain(s.chain);
        } else {
            const std::int64_t i = route[k++];
            const std::int64_t E = s.moe.experts_count();
            std::vector<std::int64_t> open;   // experts j whose s_i >= s_j is not implied by the bounds
            for (std::int64_t j = 0; j < E; ++j) {
                if (j == i) continue;
                if (difference_lower(s.moe.router, j, i, h.lo, h.hi) > 0.0) {   // j beats i on the whole box
                    cell.empty = true;
                    return cell;
                }
                if (difference_lower(s.moe.router, i, j, h.lo, h.hi) <= 0.0) open.push_back(j);
                slack_max = std::max(slack_max, -difference_lower(s.moe.router, j, i, h.lo, h.hi));
            }
            if (!open.empty()) {
                cell.fixed_by_intervals = false;
                const Activations scores = encode_affine(milp, h, s.moe.router);
                const int si = scores.col[static_cast<std::size_t>(i)];
                for (std::int64_t j : open) router_rows.emplace_back(si, scores.col[static_cast<std::size_t>(j)]);
            }
            forward_chain(s.moe.experts[static_cast<std::size_t>(i)]);
        }
    }
    if (interior) {
        const int t = milp.add_column(0.0, std::max(slack_max, 1.0));
        milp.columns[static_cast<std::size_t>(t)].objective = -1.0;
        for (const auto& [si, sj] : router_rows) milp.add_row({si, sj, t}, {1.0, -1.0, -1.0}, 0.0, kInf);
        return cell;
    }
    for (const auto& [si, sj] : router_rows) milp.add_row({si, sj}, {1.0, -1.0}, 0.0, kInf);
    // The backward signal: e_a - e_b on the logits, then through the tape in reverse.
    Activations g;
    for (std::size_t c = 0; c < h.size(); ++c) {
        const double v = (static_cast<int>(c) == a ? 1.0 : 0.0) - (static_cast<int>(c) == b ? 1.0 : 0.0);
        g.col.push_back(milp.add_column(v, v));
        g.lo.push_back(v);
        g.hi.push_back(v);
    }
    for (auto it = tape.rbegin(); it != tape.rend(); ++it)
        g = it->map ? backward_affine(milp, g, *it->map) : backward_relu(milp, g, it->phase);
    objective_l1(cell, g);
    return cell;
}

// ---- one cell, one pair, then combining ----------------------------------------------------------------

struct CellResult {
    bool empty = false, proven = false;
    double lower = 0.0, upper = kInf;
    std::vector<double> argmax;   // empty when no incumbent
    Route route;
};

CellResult solve_cell(const CellMilp& cell, std::size_t d, WorkBudget& budget, double& seconds, std::ostringstream& note) {
    CellResult r;
    r.upper = solver_upper_outward(cell.interval_upper);
    if (budget.exhausted()) {
        note << "no work left for a cell: interval bound only; ";
        return r;
    }
    const auto infeasible = [](const MilpSolution& s) {
        return s.glpk_return == GLP_ENOPFS || (s.glpk_return == 0 && s.mip_status == GLP_NOFEAS);
    };
    MilpSolution s = solve_milp(cell.milp, budget);
    seconds += s.seconds;
    if (infeasible(s) && !budget.exhausted()) {   // confirm without the presolver (milp_internal.hpp)
        s = solve_milp(cell.milp, budget, false);
        seconds += s.seconds;
    }
    if (infeasible(s)) {
        r.empty = true;   // no x in the box routes this way
        return r;
    }
    const bool incumbent = s.mip_status == GLP_OPT || s.mip_status == GLP_FEAS;
    r.proven = s.glpk_return == 0 && s.mip_status == GLP_OPT;
    if (incumbent) {
        r.lower = std::max(0.0, -s.objective);
        r.argmax.assign(s.values.begin(), s.values.begin() + static_cast<std::ptrdiff_t>(d));
    }
    if (r.proven) {
        r.upper = solver_upper_outward(r.lower);   // GLPK's tolerances, charged (outward_rounding.hpp)
    } else {
        r.upper = solver_upper_outward(std::max(r.lower, std::min(cell.interval_upper, -s.best_bound)));
        note << "solver stopped: " << glpk_return_name(s.glpk_return)
             << "; upper = min(best open node bound, interval bound); ";
    }
    return r;
}

Tensor row_tensor(const std::vector<double>& v) { return Tensor(Shape{1, static_cast<std::int64_t>(v.size())}, v); }

// Bisection on the segment p -> q (whose routes differ) for a routing boundary point; returns the margin
// jump there, |f_left(b) - f_right(b)| with both routes' formulas evaluated at the same point b.
double jump_between(const Network& net, const std::vector<double>& p, const std::vector<double>& q, int a, int b,
                    std::vector<double>& boundary) {
    const Route rp = route_at(net, p);
    if (rp == route_at(net, q)) return 0.0;
    const auto at = [&](double t) {
        std::vector<double> x(p.size());
        for (std::size_t i = 0; i < p.size(); ++i) x[i] = p[i] + t * (q[i] - p[i]);
        return x;
    };
    double lo = 0.0, hi = 1.0;
    for (int it = 0; it < 60; ++it) {
        const double mid = 0.5 * (lo + hi);
        (route_at(net, at(mid)) == rp ? lo : hi) = mid;
    }
    boundary = at(hi);
    const Route left = route_at(net, at(lo)), right = route_at(net, boundary);
    return std::abs(margin_on_route(net, boundary, left, a, b) - margin_on_route(net, boundary, right, a, b));
}

// ||grad (F_a - F_b)(x)||_1 by reverse mode: the gradient of the linear region x lies in (at a kink, of a
// region whose closure holds x: the same general-position caveat as the MILP's, see the header).
double margin_gradient_l1(const Classifier& model, const std::vector<double>& x, int a, int b) {
    const GradModeGuard grad_on(true);   // the caller may be inside a NoGradGuard
    Var xv(row_tensor(x), true);
    const Var logits = model.forward(xv).logits;
    Tensor seed(logits.shape(), 0.0);
    seed[a] = 1.0;
    seed[b] = -1.0;
    backward(logits, seed);
    double norm = 0.0;
    for (std::int64_t i = 0; i < xv.grad().numel(); ++i) norm += std::abs(xv.grad()[i]);
    return norm;
}

void check_region(const InputBox& region, std::int64_t d) {
    if (static_cast<std::int64_t>(region.lo.size()) != d || static_cast<std::int64_t>(region.hi.size()) != d)
        throw std::invalid_argument("exact_lipschitz: the region has " + std::to_string(region.lo.size()) +
                                    " coordinates, the model's input " + std::to_string(d));
    for (std::size_t i = 0; i < region.lo.size(); ++i)
        if (!std::isfinite(region.lo[i]) || !std::isfinite(region.hi[i]) || region.lo[i] > region.hi[i])
            throw std::invalid_argument("exact_lipschitz: region coordinate " + std::to_string(i) + " is [" +
                                        std::to_string(region.lo[i]) + ", " + std::to_string(region.hi[i]) +
                                        "]: the box must be finite and non-empty (it sets the big-M constants)");
}

}  // namespace

std::string to_string(ExactLipschitzStatus status) {
    switch (status) {
        case ExactLipschitzStatus::optimal: return "optimal";
        case ExactLipschitzStatus::bounds_only: return "bounds_only";
        case ExactLipschitzStatus::discontinuous: return "discontinuous";
        case ExactLipschitzStatus::unsupported: return "unsupported";
    }
    return "?";
}

InputBox domain_box(std::int64_t input_dim, const Box& domain) {
    InputBox box;
    box.lo.assign(static_cast<std::size_t>(input_dim), domain.lo);
    box.hi.assign(static_cast<std::size_t>(input_dim), domain.hi);
    return box;
}

InputBox linf_ball(const Tensor& x, double radius_linf, const Box& domain) {
    if (!(radius_linf >= 0.0) || std::isinf(radius_linf))
        throw std::invalid_argument("linf_ball: the radius must be finite and >= 0, got " + std::to_string(radius_linf));
    InputBox box;
    for (std::int64_t i = 0; i < x.numel(); ++i) {
        box.lo.push_back(std::max(x[i] - radius_linf, domain.lo));
        box.hi.push_back(std::min(x[i] + radius_linf, domain.hi));
    }
    return box;
}

std::string exact_lipschitz_support(const Classifier& model) {
    const std::string base = exact_support(model);   // piecewise-linear decisions (exact.hpp)
    if (!base.empty()) return base;
    const ModelConfig& c = model.config();
    if (c.kind == ModelKind::moe_model && c.experts > 1 && !(c.top_k == 1 && c.gate == GateMode::topk_then_softmax))
        return "moe-model with gate " + to_string(c.gate) +
               ": the output g(x) f_i(x) is scaled by a softmax gate, which is not piecewise linear (supported: top_k = 1 "
               "with gate topk-softmax, where the gate is exactly 1)";
    return "";
}

namespace {

// ---- exact_lipschitz_pair_linf, step by step ---------------------------------------------------------------

void validate_pair(const ModelConfig& c, int class_a, int class_b, const InputBox& region, const ExactLipschitzOptions& o) {
    if (class_a < 0 || class_b < 0 || class_a >= c.classes || class_b >= c.classes || class_a == class_b)
        throw std::invalid_argument("exact_lipschitz_pair_linf: classes (" + std::to_string(class_a) + ", " +
                                    std::to_string(class_b) + ") must be two different classes in [0, " +
                                    std::to_string(c.classes) + ")");
    validate_work_limit(o.work_limit_nodes, o.time_limit_s, "exact_lipschitz_pair_linf: work_limit_nodes",
                        "exact_lipschitz_pair_linf: time_limit_s");
    check_region(region, c.input_dim);
}

// Every routing cell interval bounds cannot rule out, solved; the non-empty ones returned. Records the
// binaries and whether routing is fixed by the intervals alone in res.
std::vector<CellResult> solve_cells(const Network& net, const std::vector<Route>& routes, const InputBox& region,
                                    WorkBudget& budget, bool& all_proven, ExactLipschitzResult& res,
                                    std::ostringstream& note) {
    std::vector<CellResult> cells;
    bool fixed = true;
    std::int64_t candidates = 0;   // cells interval bounds cannot rule out
    for (const Route& route : routes) {
        const CellMilp cell = build_cell(net, route, res.class_a, res.class_b, region);
        if (cell.empty) continue;
        ++candidates;
        fixed = fixed && cell.fixed_by_intervals;
        res.relu_binaries = std::max<std::int64_t>(res.relu_binaries, cell.milp.relu_binaries);
        res.sign_binaries = std::max(res.sign_binaries, cell.sign_binaries);
        CellResult r = solve_cell(cell, region.lo.size(), budget, res.seconds, note);
        if (r.empty) continue;
        r.route = route;
        all_proven = all_proven && r.proven;
        cells.push_back(std::move(r));
    }
    res.routing_fixed_by_intervals = candidates == 1 && fixed;
    res.cells = static_cast<std::int64_t>(cells.size());
    return cells;
}

// per_cell_* as the max over the cells, and argmax. The gradient norm at the region's centre is a lower
// bound of its cell's constant that does not depend on the solver: when a time limit strikes before GLPK
// finds an incumbent, the lower bound is that instead of 0.
void combine_cells(const Classifier& model, const std::vector<CellResult>& cells, const std::vector<double>& centre,
                   ExactLipschitzResult& res) {
    double best = -1.0;
    res.per_cell_lower = 0.0;
    res.per_cell_upper = 0.0;
    const double centre_norm = margin_gradient_l1(model, centre, res.class_a, res.class_b);
    if (centre_norm > 0.0) {
        res.per_cell_lower = centre_norm;
        best = centre_norm;
        res.argmax = row_tensor(centre);
    }
    for (const CellResult& r : cells) {
        res.per_cell_lower = std::max(res.per_cell_lower, r.lower);
        res.per_cell_upper = std::max(res.per_cell_upper, r.upper);
        if (!r.argmax.empty() && r.lower > best) {
            best = r.lower;
            res.argmax = row_tensor(r.argmax);
        }
    }
}

// Several cells: looks for a jump of the margin at a routing boundary between cell witnesses: each
// cell's point of largest routing slack (strictly inside when the cell has an interior), and the centre.
// Records the largest jump found (res.jump, res.jump_point).
void find_jump(const Network& net, const std::vector<CellResult>& cells, const InputBox& region,
               const std::vector<double>& centre, WorkBudget& budget, ExactLipschitzResult& res) {
    const int a = res.class_a, b = res.class_b;
    const auto d = static_cast<std::ptrdiff_t>(region.lo.size());
    std::vector<std::vector<double>> witnesses;
    for (const CellResult& r : cells) {
        if (budget.exhausted()) break;
        const MilpSolution s = solve_milp(build_cell(net, r.route, a, b, region, true).milp, budget);
        res.seconds += s.seconds;
        if (s.mip_status == GLP_OPT || s.mip_status == GLP_FEAS) witnesses.emplace_back(s.values.begin(), s.values.begin() + d);
    }
    witnesses.push_back(centre);
    for (std::size_t p = 0; p < witnesses.size(); ++p)
        for (std::size_t q = p + 1; q < witnesses.size(); ++q) {
            std::vector<double> boundary;
            const double jump = jump_between(net, witnesses[p], witnesses[q], a, b, boundary);
            const double scale = std::max(1.0, std::abs(margin_on_route(net, witnesses[p], route_at(net, witnesses[p]), a, b)));
            if (jump > 1e-7 * scale && jump > res.jump) {
                res.jump = jump;
                res.jump_point = row_tensor(boundary);
            }
        }
}

}  // namespace

ExactLipschitzResult exact_lipschitz_pair_linf(const Classifier& model, int class_a, int class_b, const InputBox& region,
                                               const ExactLipschitzOptions& o) {
    validate_pair(model.config(), class_a, class_b, region, o);
    ExactLipschitzResult res;
    res.class_a = class_a;
    res.class_b = class_b;
    res.note = exact_lipschitz_support(model);
    if (!res.note.empty()) return res;

    const Network net = network_of(model);
    const std::vector<Route> routes = all_routes(net);
    if (static_cast<std::int64_t>(routes.size()) > o.max_cells) {
        res.note = std::to_string(routes.size()) + " routing cells exceed max_cells = " + std::to_string(o.max_cells);
        return res;
    }
    std::ostringstream note;
    bool all_proven = true;
    WorkBudget budget(o.work_limit_nodes, o.time_limit_s);
    const std::vector<CellResult> cells = solve_cells(net, routes, region, budget, all_proven, res, note);
    res.load_dependent = budget.clock_struck();
    note << res.relu_binaries << " ReLU and " << res.sign_binaries << " sign binaries (largest cell); ";
    if (cells.empty()) {   // a non-empty box always holds some cell: only numerical trouble gets here
        res.status = ExactLipschitzStatus::bounds_only;
        res.note = note.str() + "every routing cell reported infeasible (numerical trouble): nothing proven";
        return res;
    }
    std::vector<double> centre(region.lo.size());
    for (std::size_t i = 0; i < centre.size(); ++i) centre[i] = 0.5 * (region.lo[i] + region.hi[i]);
    combine_cells(model, cells, centre, res);
    if (cells.size() == 1) {   // routing cannot change in the region: the per-cell constant is the constant
        res.lower = res.per_cell_lower;
        res.upper = res.per_cell_upper;
        res.status = all_proven ? ExactLipschitzStatus::optimal : ExactLipschitzStatus::bounds_only;
        res.note = note.str();
        return res;
    }
    find_jump(net, cells, region, centre, budget, res);
    res.load_dependent = budget.clock_struck();
    if (res.jump > 0.0) {
        res.status = ExactLipschitzStatus::discontinuous;
        res.lower = res.upper = kInf;
        note << res.cells << " routing cells meet in the region and the margin jumps by " << res.jump
             << " at a routing boundary: no finite constant; per_cell is the max over cells; ";
    } else {
        res.status = ExactLipschitzStatus::bounds_only;
        res.lower = res.per_cell_lower;
        res.upper = kInf;
        note << res.cells << " routing cells meet in the region; no jump found between cell witnesses, but continuity "
                "on every routing boundary is not proven: upper = inf; ";
    }
    res.note = note.str();
    return res;
}

ExactLipschitzResult exact_lipschitz_linf(const Classifier& model, const InputBox& region, const ExactLipschitzOptions& o,
                                          int label) {
    const auto C = static_cast<int>(model.config().classes);
    if (label >= C) throw std::invalid_argument("exact_lipschitz_linf: label " + std::to_string(label) + " >= classes");
    ExactLipschitzResult all;
    all.note = exact_lipschitz_support(model);
    if (!all.note.empty()) return all;
    std::vector<std::pair<int, int>> pairs;
    for (int a = 0; a < C; ++a)
        for (int b = a + 1; b < C; ++b)
            if (label < 0 || a == label || b == label) pairs.emplace_back(a, b);
    bool first = true, all_optimal = true;
    std::ostringstream note;
    for (const auto& [a, b] : pairs) {
        const ExactLipschitzResult r = exact_lipschitz_pair_linf(model, a, b, region, o);
        if (r.status == ExactLipschitzStatus::unsupported) return r;
        all.seconds += r.seconds;
        all.load_dependent = all.load_dependent || r.load_dependent;
        all_optimal = all_optimal && r.status == ExactLipschitzStatus::optimal;
        if (r.status == ExactLipschitzStatus::discontinuous && all.jump_point.empty()) {
            all.jump_point = r.jump_point;
            all.jump = r.jump;
        }
        if (r.status != ExactLipschitzStatus::optimal && note.str().size() < 400)
            note << "pair (" << a << ", " << b << "): " << to_string(r.status) << ", " << r.note;
        if (first || r.per_cell_lower > all.per_cell_lower) {
            all.class_a = a;
            all.class_b = b;
            all.argmax = r.argmax;
        }
        all.lower = first ? r.lower : std::max(all.lower, r.lower);
        all.upper = first ? r.upper : std::max(all.upper, r.upper);
        all.per_cell_lower = first ? r.per_cell_lower : std::max(all.per_cell_lower, r.per_cell_lower);
        all.per_cell_upper = first ? r.per_cell_upper : std::max(all.per_cell_upper, r.per_cell_upper);
        all.cells = std::max(all.cells, r.cells);
        all.relu_binaries = std::max(all.relu_binaries, r.relu_binaries);
        all.sign_binaries = std::max(all.sign_binaries, r.sign_binaries);
        all.routing_fixed_by_intervals = first ? r.routing_fixed_by_intervals : all.routing_fixed_by_intervals && r.routing_fixed_by_intervals;
        first = false;
    }
    all.status = !all.jump_point.empty() ? ExactLipschitzStatus::discontinuous
                 : all_optimal           ? ExactLipschitzStatus::optimal
                                         : ExactLipschitzStatus::bounds_only;
    if (all.status == ExactLipschitzStatus::discontinuous) all.lower = all.upper = kInf;
    all.note = "max over " + std::to_string(pairs.size()) + " class pairs; " + note.str();
    return all;
}

double certified_radius_exact_lipschitz_linf(const Classifier& model, const Tensor& x, int label, double radius,
                                             const Box& domain, const ExactLipschitzOptions& o, bool* load_dependent) {
    const ModelConfig& c = model.config();
    if (label < 0 || label >= c.classes)
        throw std::invalid_argument("certified_radius_exact_lipschitz_linf: label " + std::to_string(label) + " outside [0, " +
                                    std::to_string(c.classes) + ")");
    const Tensor z = [&] {
        NoGradGuard no_grad;
        return model.forward(Var(x)).logits.value();
    }();
    const InputBox ball = linf_ball(x, radius, domain);
    if (!exact_lipschitz_support(model).empty()) return std::numeric_limits<double>::quiet_NaN();
    const RationalModel exact(model);   // margins exactly, rounded down
    double r = radius;
    for (int j = 0; j < c.classes; ++j) {
        if (j == label) continue;
        if (z[label] - z[j] <= 0.0) return 0.0;
        const double m = exact.margin_lower(x.data(), label, j);
        if (m <= 0.0) return 0.0;
        const ExactLipschitzResult L = exact_lipschitz_pair_linf(model, label, j, ball, o);
        if (load_dependent && L.load_dependent) *load_dependent = true;
        if (L.status == ExactLipschitzStatus::unsupported || !std::isfinite(L.upper))
            return std::numeric_limits<double>::quiet_NaN();
        if (L.upper > 0.0) r = std::min(r, divide_down(m, L.upper));
    }
    return r;
}

ExactLipschitzCertificate best_certified_radius_exact_lipschitz_linf(const Classifier& model, const Tensor& x, int label,
                                                                     double cap, const Box& domain,
                                                                     const ExactLipschitzOptions& o, int steps) {
    if (!(cap > 0.0) || !std::isfinite(cap))
        throw std::invalid_argument("best_certified_radius_exact_lipschitz_linf: cap must be positive and finite, got " +
                                    std::to_string(cap));
    if (steps < 0) throw std::invalid_argument("best_certified_radius_exact_lipschitz_linf: steps must be >= 0");
    if (label < 0 || label >= model.config().classes)
        throw std::invalid_argument("best_certified_radius_exact_lipschitz_linf: label " + std::to_string(label) +
                                    " outside [0, " + std::to_string(model.config().classes) + ")");
    ExactLipschitzCertificate best;
    if (!exact_lipschitz_support(model).empty()) {
        best.radius = std::numeric_limits<double>::quiet_NaN();
        return best;
    }
    // Tries ball r: records the certificate if it beats the best so far; true when it reaches r.
    auto reaches = [&](double r) {
        ++best.balls_tried;
        const double c = certified_radius_exact_lipschitz_linf(model, x, label, r, domain, o, &best.load_dependent);
        if (std::isnan(c)) return false;   // routing jumps inside this ball
        if (c > best.radius) {
            best.radius = c;
            best.ball = r;
        }
        return c >= r;
    };
    const Tensor z = [&] {
        NoGradGuard no_grad;
        return model.forward(Var(x)).logits.value();
    }();
    for (std::int64_t j = 0; j < z.numel(); ++j)
        if (j != label && z[label] - z[j] <= 0.0) return best;   // misclassified or tied: radius 0 on every ball
    if (reaches(cap)) return best;
    double lo = best.radius, hi = cap;
    for (int s = 0; s < steps; ++s) {
        const double mid = 0.5 * (lo + hi);
        if (reaches(mid)) lo = mid;
        else hi = mid;
        lo = std::max(lo, best.radius);
    }
    return best;
}

}  // namespace moelab
