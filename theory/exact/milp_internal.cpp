// The MILP plumbing shared by the exact solvers (milp_internal.hpp): interval bounds, the ReLU encoding
// and the GLPK solve.
#include "theory/exact/milp_internal.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "engine/config_error.hpp"

namespace moelab::milp {
namespace {

// Binaries from which GLPK generates Gomory cuts (solve_milp says why).
constexpr long kGomoryCutsFromBinaries = 16;

int glpk_bound_type(double lo, double hi) {
    if (std::isinf(lo) && std::isinf(hi)) return GLP_FR;
    if (std::isinf(hi)) return GLP_LO;
    if (std::isinf(lo)) return GLP_UP;
    return lo == hi ? GLP_FX : GLP_DB;
}

// GLPK ignores the bound a bound type leaves out; 0 stands there instead of an infinity.
double finite_or_zero(double v) { return std::isinf(v) ? 0.0 : v; }

}  // namespace

// Lower bound of (row i - row j) x + b_i - b_j: tighter than the difference of the rows' own intervals.
double difference_lower(const AffineMap& f, std::int64_t i, std::int64_t j, const std::vector<double>& lo,
                        const std::vector<double>& hi) {
    return linear_lower(
        f.in(), [&](std::int64_t c) { return f.weight(i, c) - f.weight(j, c); }, f.b[i] - f.b[j], lo, hi);
}

Activations encode_affine(Milp& milp, const Activations& in, const AffineMap& f) {
    return encode_linear(
        milp, in, f.out(), [&](std::int64_t r, std::int64_t c) { return f.weight(r, c); }, [&](std::int64_t r) { return f.b[r]; });
}

// Tjeng et al. 2019, eq. (5): stable units need no binary; an unstable one gets y >= z, y >= 0,
// y <= z - l (1 - b), y <= u b.
Activations encode_relu(Milp& milp, const Activations& in, std::vector<int>* phase) {
    Activations out;
    if (phase) phase->clear();
    for (std::size_t k = 0; k < in.size(); ++k) {
        const double l = in.lo[k], u = in.hi[k];
        const int z = in.col[k];
        if (l >= 0.0) {
            if (phase) phase->push_back(kPhaseOn);
            out.col.push_back(z);
            out.lo.push_back(l);
            out.hi.push_back(u);
            continue;
        }
        if (u <= 0.0) {
            if (phase) phase->push_back(kPhaseOff);
            out.col.push_back(milp.add_column(0.0, 0.0));
            out.lo.push_back(0.0);
            out.hi.push_back(0.0);
            continue;
        }
        const int y = milp.add_column(0.0, u);
        const int b = milp.add_column(0.0, 1.0, true);
        ++milp.relu_binaries;
        if (phase) phase->push_back(b);
        milp.add_row({y, z}, {1.0, -1.0}, 0.0, kInf);          // y - z >= 0
        milp.add_row({y, z, b}, {1.0, -1.0, -l}, -kInf, -l);   // y - z - l b <= -l
        milp.add_row({y, b}, {1.0, -u}, -kInf, 0.0);           // y - u b <= 0
        out.col.push_back(y);
        out.lo.push_back(0.0);
        out.hi.push_back(u);
    }
    return out;
}

// Branch-and-bound callback: at each node selection every open subproblem is in the active list, so the
// smallest local bound among them (glp_ios_best_node) bounds the optimum from below. Bounds only grow,
// so the last one recorded is the best proven.
void record_best_bound(glp_tree* tree, void* info) {
    if (glp_ios_reason(tree) != GLP_ISELECT) return;
    const int node = glp_ios_best_node(tree);
    if (node == 0) return;
    auto* bound = static_cast<double*>(info);
    *bound = std::max(*bound, glp_ios_node_bound(tree, node));
}

void load_into_glpk(glp_prob* P, const Milp& milp) {
    glp_set_obj_dir(P, GLP_MIN);
    const int n = static_cast<int>(milp.columns.size()), m = static_cast<int>(milp.rows.size());
    glp_add_cols(P, n);
    for (int j = 0; j < n; ++j) {
        const MilpColumn& c = milp.columns[static_cast<std::size_t>(j)];
        glp_set_col_bnds(P, j + 1, glpk_bound_type(c.lo, c.hi), finite_or_zero(c.lo), finite_or_zero(c.hi));
        if (c.binary) glp_set_col_kind(P, j + 1, GLP_BV);
        glp_set_obj_coef(P, j + 1, c.objective);
    }
    if (m > 0) glp_add_rows(P, m);
    std::vector<int> ia{0}, ja{0};   // GLPK's arrays are 1-based
    std::vector<double> ar{0.0};
    for (int i = 0; i < m; ++i) {
        const MilpRow& r = milp.rows[static_cast<std::size_t>(i)];
        glp_set_row_bnds(P, i + 1, glpk_bound_type(r.lo, r.hi), finite_or_zero(r.lo), finite_or_zero(r.hi));
        for (std::size_t k = 0; k < r.cols.size(); ++k) {
            ia.push_back(i + 1);
            ja.push_back(r.cols[k] + 1);
            ar.push_back(r.coefs[k]);
        }
    }
    glp_load_matrix(P, static_cast<int>(ar.size()) - 1, ia.data(), ja.data(), ar.data());
}

MilpSolution solve_milp_glpk(const Milp& milp, WorkBudget& budget, bool presolve) {
    glp_prob* P = glp_create_prob();
    load_into_glpk(P, milp);
    const int terminal = glp_term_out(GLP_OFF);   // glp_scale_prob reports to the terminal whatever msg_lev says
    glp_scale_prob(P, GLP_SF_AUTO);

    MilpSolution s;
    glp_iocp parm;
    glp_init_iocp(&parm);
    parm.msg_lev = GLP_MSG_OFF;
    parm.presolve = presolve ? GLP_ON : GLP_OFF;
    parm.mip_gap = 1e-9;
    parm.tol_int = 1e-9;   // the default 1e-5 would let a "binary" 1 - 1e-5 open a big-M gap of 1e-5 M
    parm.tm_lim = budget.glpk_time_limit_ms();
    // Gomory mixed-integer cuts, where the problem asks for them: on W6's hard samples the root bound of
    // the minimal-distance MILP is weak, and these cuts close most of it (16-D top-1 MoE, 5 samples: experts
    // 16-32-3 x 4 2.4 s -> 0.21 s, 16-16-3 x 8 6.0 s -> 1.0 s per sample; the same optima to 1e-9). GLPK's
    // other cuts (MIR, cover, clique) and pseudocost branching helped less or hurt there. LipMIP's problem
    // got slower with them (a global 8-16-16 constant: 2.9 s -> 10.9 s), so it does not ask. Problems with
    // few binaries close in a handful of nodes, where generating cuts only costs: the random-model property
    // test (3-D inputs, hidden 4) ran 12 s without cuts and 17 s with them at any size.
    const auto binaries = std::count_if(milp.columns.begin(), milp.columns.end(), [](const MilpColumn& c) { return c.binary; });
    if (milp.gomory_cuts && binaries >= kGomoryCutsFromBinaries) parm.gmi_cuts = GLP_ON;
    NodeBudgetCallback work{record_best_bound, &s.best_bound, budget.nodes_left()};
    parm.cb_func = node_budget_callback;
    parm.cb_info = &work;
    const auto start = std::chrono::steady_clock::now();
    // Without the presolver glp_intopt needs the LP relaxation solved first; an infeasible relaxation
    // means an infeasible MILP (reported as the presolver would: GLP_ENOPFS).
    bool relaxation_ok = true;
    if (!presolve) {
        glp_unscale_prob(P);   // the scaling is what misleads GLPK there (milp_internal.hpp)
        glp_smcp lp;
        glp_init_smcp(&lp);
        lp.msg_lev = GLP_MSG_OFF;
        lp.tm_lim = parm.tm_lim;
        const int ret = glp_simplex(P, &lp);
        relaxation_ok = ret == 0 && glp_get_status(P) == GLP_OPT;
        s.glpk_return = ret != 0 ? ret : glp_get_status(P) == GLP_NOFEAS ? GLP_ENOPFS : GLP_EFAIL;
    }
    if (relaxation_ok) s.glpk_return = glp_intopt(P, &parm);
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    budget.charge(work.nodes, s.seconds, s.glpk_return);
    s.mip_status = glp_mip_status(P);
    if (s.mip_status == GLP_OPT || s.mip_status == GLP_FEAS) {
        s.objective = glp_mip_obj_val(P);
        for (int j = 0; j < static_cast<int>(milp.columns.size()); ++j) s.values.push_back(glp_mip_col_val(P, j + 1));
    }
    glp_delete_prob(P);
    glp_term_out(terminal);
    return s;
}

MilpSolution solve_milp(const Milp& milp, WorkBudget& budget, bool presolve, MilpBackend backend) {
    switch (backend) {
        case MilpBackend::glpk: return solve_milp_glpk(milp, budget, presolve);
        case MilpBackend::cbc: return solve_milp_cbc(milp, budget, presolve);
        case MilpBackend::count: break;
    }
    throw std::logic_error("solve_milp: no such back-end");
}

std::string glpk_return_name(int ret) {
    switch (ret) {
        case 0: return "ok";
        case GLP_EBOUND: return "GLP_EBOUND (bad bounds)";
        case GLP_EROOT: return "GLP_EROOT (no root LP basis)";
        case GLP_ENOPFS: return "GLP_ENOPFS (no primal feasible solution)";
        case GLP_ENODFS: return "GLP_ENODFS (no dual feasible solution)";
        case GLP_EFAIL: return "GLP_EFAIL (solver failure)";
        case GLP_EMIPGAP: return "GLP_EMIPGAP (gap tolerance reached)";
        case GLP_ETMLIM: return "GLP_ETMLIM (time limit)";
        case GLP_ESTOP: return "GLP_ESTOP (work limit: branch-and-bound nodes)";
        default: return "GLPK code " + std::to_string(ret);
    }
}

}  // namespace moelab::milp

namespace moelab {

MilpBackend parse_milp_backend(const std::string& name) {
    if (const auto b = find_by_name(kMilpBackends, name)) return *b;
    throw ConfigError("milp-solver", "unknown MILP solver '" + name + "' (expected glpk or cbc)");
}

}  // namespace moelab
