#include "theory/exact/small_lp.hpp"

#include <stdexcept>

namespace moelab::milp {

LpSolution solve_lp(const Milp& lp, int iteration_limit) {
    if (iteration_limit < 1) throw std::invalid_argument("solve_lp: the iteration limit must be >= 1");
    for (const MilpColumn& c : lp.columns)
        if (c.binary) throw std::invalid_argument("solve_lp: a linear program has no binary columns");
    glp_prob* P = glp_create_prob();
    const int terminal = glp_term_out(GLP_OFF);
    LpSolution s;
    try {
        load_into_glpk(P, lp);
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
