// The CBC back-end of solve_milp (milp_internal.hpp, milp_backend.hpp): the same plain-data MILP handed to
// COIN-OR CBC through its C interface, its answer reported in GLPK's status codes so that the exact solvers
// read one kind of answer whichever solver ran.
//
// Deterministic: one thread (CBC's default; no "threads" parameter is set), and CBC's random seeds are fixed
// constants unless asked otherwise. The work limit is CBC's node limit (maxNodes) at what is left of the
// budget; the nodes it used are charged. A stop at the limit reports CBC's best possible objective (the
// smallest bound over the open nodes) as the lower bound, as GLPK's callback does.
// CBC's solve (CbcMain1 behind Cbc_solve) keeps process-wide state in places, so solves are serialised by a
// mutex: exact certification over several OpenMP threads then runs its CBC solves one at a time (each
// sample's answer is unchanged, it does not depend on the order).
#include "theory/exact/milp_internal.hpp"

#include <coin/Cbc_C_Interface.h>

#include <cfloat>
#include <chrono>
#include <climits>
#include <mutex>
#include <string>

namespace moelab::milp {
namespace {

std::mutex cbc_mutex;

double finite_or_max(double v) { return v == kInf ? DBL_MAX : v == -kInf ? -DBL_MAX : v; }

// Column-major (CBC's loadProblem) from the row list.
void load(Cbc_Model* model, const Milp& milp) {
    const auto n = milp.columns.size();
    std::vector<std::vector<std::pair<int, double>>> by_column(n);
    for (std::size_t i = 0; i < milp.rows.size(); ++i) {
        const MilpRow& r = milp.rows[i];
        for (std::size_t k = 0; k < r.cols.size(); ++k)
            by_column[static_cast<std::size_t>(r.cols[k])].emplace_back(static_cast<int>(i), r.coefs[k]);
    }
    std::vector<CoinBigIndex> start{0};
    std::vector<int> index;
    std::vector<double> value, collb, colub, obj, rowlb, rowub;
    for (std::size_t j = 0; j < n; ++j) {
        for (const auto& [row, coef] : by_column[j]) {
            index.push_back(row);
            value.push_back(coef);
        }
        start.push_back(static_cast<CoinBigIndex>(index.size()));
        collb.push_back(finite_or_max(milp.columns[j].lo));
        colub.push_back(finite_or_max(milp.columns[j].hi));
        obj.push_back(milp.columns[j].objective);
    }
    for (const MilpRow& r : milp.rows) {
        rowlb.push_back(finite_or_max(r.lo));
        rowub.push_back(finite_or_max(r.hi));
    }
    Cbc_loadProblem(model, static_cast<int>(n), static_cast<int>(milp.rows.size()), start.data(), index.data(), value.data(),
                    collb.data(), colub.data(), obj.data(), rowlb.data(), rowub.data());
    for (std::size_t j = 0; j < n; ++j)
        if (milp.columns[j].binary) Cbc_setInteger(model, static_cast<int>(j));
}

void configure(Cbc_Model* model, const WorkBudget& budget, bool presolve) {
    Cbc_setLogLevel(model, 0);
    Cbc_setParameter(model, "log", "0");
    Cbc_setParameter(model, "slog", "0");
    // As GLPK's mip_gap and tol_int (milp_internal.cpp): a near-exact optimum, near-exact binaries.
    Cbc_setParameter(model, "integerTolerance", "1e-9");
    Cbc_setAllowableFractionGap(model, 1e-9);
    Cbc_setAllowableGap(model, 0.0);
    if (!presolve) {
        Cbc_setParameter(model, "presolve", "off");
        Cbc_setParameter(model, "preprocess", "off");
    }
    Cbc_setMaximumNodes(model, static_cast<int>(std::min<std::int64_t>(budget.nodes_left(), INT_MAX)));
    if (budget.glpk_time_limit_ms() != INT_MAX) Cbc_setMaximumSeconds(model, budget.glpk_time_limit_ms() / 1000.0);
}

// CBC's statuses in GLPK's codes (milp_internal.hpp).
void read_answer(Cbc_Model* model, MilpSolution& s) {
    const int status = Cbc_status(model), secondary = Cbc_secondaryStatus(model);
    const bool has_point = Cbc_numberSavedSolutions(model) > 0 || Cbc_bestSolution(model) != nullptr;
    if (Cbc_isProvenInfeasible(model)) {
        s.glpk_return = 0;
        s.mip_status = GLP_NOFEAS;
        return;
    }
    // Status -1 (no branch and bound): a problem without integer columns, solved as an LP.
    if ((status == 0 || status == -1) && Cbc_isProvenOptimal(model)) {
        s.glpk_return = 0;
        s.mip_status = GLP_OPT;
    } else {
        s.glpk_return = secondary == 4 ? GLP_ETMLIM : secondary == 3 ? GLP_ESTOP : GLP_EFAIL;
        s.mip_status = has_point ? GLP_FEAS : GLP_UNDEF;
        // CBC's best possible value is a proven bound only when a limit stopped the search.
        if (secondary == 3 || secondary == 4) s.best_bound = Cbc_getBestPossibleObjValue(model);

    }
    if (s.mip_status == GLP_OPT || s.mip_status == GLP_FEAS) {
        const double* x = Cbc_getColSolution(model);
        s.objective = Cbc_getObjValue(model);
        s.values.assign(x, x + Cbc_getNumCols(model));
    }
}

}  // namespace

MilpSolution solve_milp_cbc(const Milp& milp, WorkBudget& budget, bool presolve) {
    const std::lock_guard<std::mutex> lock(cbc_mutex);
    MilpSolution s;
    Cbc_Model* model = Cbc_newModel();
    load(model, milp);
    configure(model, budget, presolve);
    const auto start = std::chrono::steady_clock::now();
    Cbc_solve(model);
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    read_answer(model, s);
    budget.charge(Cbc_getNodeCount(model), s.seconds, s.glpk_return);
    Cbc_deleteModel(model);
    return s;
}

}  // namespace moelab::milp
