#include "theory/small_lp.hpp"

#include <stdexcept>

namespace moelab::milp {

namespace {

int bound_type(double lo, double hi) {
    if (std::isinf(lo) && std::isinf(hi)) return GLP_FR;
    if (std::isinf(hi)) return GLP_LO;
    if (std::isinf(lo)) return GLP_UP;
    return lo == hi ? GLP_FX : GLP_DB;
}

double finite_or_zero(double v) { return std::isinf(v) ? 0.0 : v; }

void load(glp_prob* P, const Milp& lp) {
    const int n = static_cast<int>(lp.columns.size()), m = static_cast<int>(lp.rows.size());
    glp_set_obj_dir(P, GLP_MIN);
    glp_add_cols(P, n);
    for (int j = 0; j < n; ++j) {
        const MilpColumn& c = lp.columns[static_cast<std::size_t>(j)];
        if (c.binary) throw std::invalid_argument("solve_lp: a linear program has no binary columns");
        glp_set_col_bnds(P, j + 1, bound_type(c.lo, c.hi), finite_or_zero(c.lo), finite_or_zero(c.hi));
        glp_set_obj_coef(P, j + 1, c.objective);
    }
    if (m > 0) glp_add_rows(P, m);
    std::vector<int> ia{0}, ja{0};   // GLPK's arrays are 1-based
    std::vector<double> ar{0.0};
    for (int i = 0; i < m; ++i) {
        const MilpRow& r = lp.rows[static_cast<std::size_t>(i)];
        glp_set_row_bnds(P, i + 1, bound_type(r.lo, r.hi), finite_or_zero(r.lo), finite_or_zero(r.hi));
        for (std::size_t k = 0; k < r.cols.size(); ++k) {
            ia.push_back(i + 1);
            ja.push_back(r.cols[k] + 1);
            ar.push_back(r.coefs[k]);
        }
    }
    glp_load_matrix(P, static_cast<int>(ar.size()) - 1, ia.data(), ja.data(), ar.data());
}

}  // namespace

LpSolution solve_lp(const Milp& lp, int iteration_limit) {
    if (iteration_limit < 1) throw std::invalid_argument("solve_lp: the iteration limit must be >= 1");
    glp_prob* P = glp_create_prob();
    const int terminal = glp_term_out(GLP_OFF);
    LpSolution s;
    try {
        load(P, lp);
        glp_scale_prob(P, GLP_SF_AUTO);
        glp_smcp parm;
        glp_init_smcp(&parm);
        parm.msg_lev = GLP_MSG_OFF;
        parm.presolve = GLP_ON;   // an infeasible problem then ends at once (GLP_ENOPFS)
        parm.it_lim = iteration_limit;
        const int ret = glp_simplex(P, &parm);
        s.optimal = ret == 0 && glp_get_status(P) == GLP_OPT;
        if (s.optimal) {
            s.objective = glp_get_obj_val(P);
            for (int j = 0; j < static_cast<int>(lp.columns.size()); ++j) s.values.push_back(glp_get_col_prim(P, j + 1));
        }
    } catch (...) {
        glp_delete_prob(P);
        glp_term_out(terminal);
        throw;
    }
    glp_delete_prob(P);
    glp_term_out(terminal);
    return s;
}

}  // namespace moelab::milp
