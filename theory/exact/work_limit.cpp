// The exact solvers' work limit (work_limit.hpp): a node budget counted in GLPK's callback.
#include "theory/exact/work_limit.hpp"

#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>

namespace moelab::milp {

void validate_work_limit(std::int64_t nodes, double seconds, const char* key_nodes, const char* key_seconds) {
    if (nodes < 1)
        throw std::invalid_argument(std::string(key_nodes) + ": must be >= 1 branch-and-bound nodes, got " + std::to_string(nodes));
    if (!(seconds >= 0.0) || !std::isfinite(seconds))
        throw std::invalid_argument(std::string(key_seconds) + ": must be 0 (no wall-clock limit) or positive seconds, got " +
                                    std::to_string(seconds));
}

WorkBudget::WorkBudget(std::int64_t nodes, double seconds) : nodes_left_(nodes), seconds_limit_(seconds) {}

bool WorkBudget::exhausted() const {
    return nodes_left_ <= 0 || (seconds_limit_ > 0.0 && seconds_spent_ >= seconds_limit_);
}

int WorkBudget::glpk_time_limit_ms() const {
    if (seconds_limit_ <= 0.0) return INT_MAX;
    const double ms = (seconds_limit_ - seconds_spent_) * 1000.0;
    return ms <= 1.0 ? 1 : ms >= 2e9 ? INT_MAX : static_cast<int>(ms);
}

void WorkBudget::charge(std::int64_t nodes, double seconds, int stopped) {
    nodes_left_ -= nodes;
    seconds_spent_ += seconds;
    if (stopped == GLP_ETMLIM) clock_struck_ = true;
    if (stopped == GLP_ESTOP) work_struck_ = true;
}

// Every callback reason counts: the tree's size only grows, and checking at each call stops the search
// at the first call after the limit, a point fixed by the problem alone.
void node_budget_callback(glp_tree* tree, void* info) {
    auto* cb = static_cast<NodeBudgetCallback*>(info);
    if (cb->inner) cb->inner(tree, cb->inner_info);
    int active = 0, current = 0, total = 0;
    glp_ios_tree_size(tree, &active, &current, &total);
    cb->nodes = total;
    if (total >= cb->node_limit) glp_ios_terminate(tree);
}

}  // namespace moelab::milp
