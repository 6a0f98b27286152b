// moelab theory, internal: the MILP plumbing shared by the exact solvers (exact_milp.cpp: minimal
// adversarial distance; exact_lipschitz.cpp: exact Lipschitz constants), which encode the model in the
// form of theory/network/network.hpp. Not a public API: interval bounds over a box, the MILP as plain data with the
// Tjeng et al. (2019) ReLU encoding, and a solve by the chosen back-end (theory/exact/milp_backend.hpp: GLPK or
// CBC; minimisation, single-threaded, a counted node budget, deterministic).
#pragma once

#include <glpk.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "moe/model.hpp"
#include "theory/exact/milp_backend.hpp"
#include "theory/network/network.hpp"
#include "theory/exact/work_limit.hpp"

namespace moelab::milp {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- interval bounds (IBP over a box) ----------------------------------------------------------

// Widens a bound by a few ulps of its size so that rounding in the bound arithmetic never cuts off a
// reachable value.
inline double widen_down(double v) { return v - 1e-12 * (1.0 + std::abs(v)); }
inline double widen_up(double v) { return v + 1e-12 * (1.0 + std::abs(v)); }

// Lower bound of sum_c a_c x_c + a0 over the box [lo, hi] (positive part at lo, negative part at hi).
template <class Coef>
double linear_lower(std::int64_t n, Coef a, double a0, const std::vector<double>& lo, const std::vector<double>& hi) {
    double s = a0;
    for (std::int64_t c = 0; c < n; ++c) {
        const double w = a(c);
        s += w >= 0 ? w * lo[static_cast<std::size_t>(c)] : w * hi[static_cast<std::size_t>(c)];
    }
    return widen_down(s);
}

// Lower bound of (row i - row j) x + b_i - b_j: tighter than the difference of the rows' own intervals.
double difference_lower(const AffineMap& f, std::int64_t i, std::int64_t j, const std::vector<double>& lo,
                        const std::vector<double>& hi);

// ---- the MILP as plain data ----------------------------------------------------------------------

struct MilpColumn {
    double lo = 0.0, hi = 0.0;
    bool binary = false;
    double objective = 0.0;
};
struct MilpRow {   // lo <= sum coef_k x_{col_k} <= hi (either side may be infinite)
    std::vector<int> cols;
    std::vector<double> coefs;
    double lo = -kInf, hi = kInf;
};
struct Milp {
    std::vector<MilpColumn> columns;
    std::vector<MilpRow> rows;
    bool infeasible = false;   // proven by the bounds alone while encoding
    int relu_binaries = 0, routing_binaries = 0;
    // Let GLPK generate Gomory mixed-integer cuts (from 16 binaries on; solve_milp says why). The
    // minimal-distance MILP wants them, LipMIP's did not (measured in milp_internal.cpp).
    bool gomory_cuts = false;

    int add_column(double lo, double hi, bool binary = false) {
        columns.push_back({lo, hi, binary, 0.0});
        return static_cast<int>(columns.size()) - 1;
    }
    void add_row(std::vector<int> cols, std::vector<double> coefs, double lo, double hi) {
        rows.push_back({std::move(cols), std::move(coefs), lo, hi});
    }
};

// One LP column per unit of a layer, with its interval bounds.
struct Activations {
    std::vector<int> col;
    std::vector<double> lo, hi;
    std::size_t size() const { return col.size(); }
};

// y_o = sum_i coef(o, i) x_i + bias(o) for o < outputs: one column per output with its interval bounds
// over x's box, and the row y_o - sum_i coef(o, i) x_i = bias(o).
template <class Coef, class Bias>
Activations encode_linear(Milp& milp, const Activations& in, std::int64_t outputs, Coef coef, Bias bias) {
    const auto n = static_cast<std::int64_t>(in.size());
    Activations out;
    for (std::int64_t o = 0; o < outputs; ++o) {
        const auto w = [&](std::int64_t i) { return coef(o, i); };
        const double b = bias(o);
        const double lo = linear_lower(n, w, b, in.lo, in.hi);
        const double hi = -linear_lower(n, [&](std::int64_t i) { return -w(i); }, -b, in.lo, in.hi);
        const int y = milp.add_column(lo, hi);
        std::vector<int> cols{y};
        std::vector<double> coefs{1.0};
        for (std::int64_t i = 0; i < n; ++i)
            if (w(i) != 0.0) {
                cols.push_back(in.col[static_cast<std::size_t>(i)]);
                coefs.push_back(-w(i));
            }
        milp.add_row(std::move(cols), std::move(coefs), b, b);
        out.col.push_back(y);
        out.lo.push_back(lo);
        out.hi.push_back(hi);
    }
    return out;
}

// y = W x + b: one column per output unit with its interval bounds.
Activations encode_affine(Milp& milp, const Activations& in, const AffineMap& f);

// ReLU phase of a unit: the binary's column when the unit is unstable on the box, else one of these.
constexpr int kPhaseOn = -1, kPhaseOff = -2;
// y = max(0, z) (Tjeng et al. 2019, eq. (5)); when `phase` is given, it receives each unit's binary column
// (b = 1: active) or kPhaseOn / kPhaseOff for units stable on the box.
Activations encode_relu(Milp& milp, const Activations& in, std::vector<int>* phase = nullptr);

// ---- the GLPK solve ------------------------------------------------------------------------------

struct MilpSolution {
    int glpk_return = 0;          // glp_intopt's return code
    int mip_status = GLP_UNDEF;   // glp_mip_status
    double objective = kInf;
    std::vector<double> values;   // column values of the incumbent (when mip_status is GLP_OPT or GLP_FEAS)
    double best_bound = -kInf;   // a valid lower bound on the optimum (-inf: none proven)
    double seconds = 0.0;
};

// Minimises the MILP's objective within what is left of `budget` (work_limit.hpp), and charges it; GLPK's
// terminal output is silenced. GLPK can
// misreport a feasible problem whose optimum is degenerate (many fixed zero columns) as infeasible after
// its automatic scaling (seen on LipMIP problems whose gradient is 0 on the region); a caller that doubts an
// infeasibility may re-solve with presolve = false, which also drops the scaling and solves the LP
// relaxation by the simplex first (infeasible relaxation: glpk_return GLP_ENOPFS).
// `backend` picks the solver (milp_backend.hpp); every back-end reports in GLPK's codes (glpk_return,
// mip_status), so callers read one kind of answer.
MilpSolution solve_milp(const Milp& milp, WorkBudget& budget, bool presolve = true, MilpBackend backend = MilpBackend::glpk);
MilpSolution solve_milp_glpk(const Milp& milp, WorkBudget& budget, bool presolve);
MilpSolution solve_milp_cbc(const Milp& milp, WorkBudget& budget, bool presolve);   // milp_cbc.cpp
std::string glpk_return_name(int ret);
// Loads `milp` into an empty GLPK problem: minimise its objective over its columns (binaries as GLP_BV) and
// rows. Shared by solve_milp_glpk and the simplex of small_lp.hpp.
void load_into_glpk(glp_prob* P, const Milp& milp);

}  // namespace moelab::milp
