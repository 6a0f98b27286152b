// moelab theory, internal: how much work an exact solver may spend, counted so that the answer depends on
// the inputs alone. Not a public API (the options structs of exact.hpp and exact_lipschitz.hpp carry the
// numbers).
//
// The default limit is a number of branch-and-bound nodes, summed over every GLPK solve one answer needs
// (one sample's distance, one class pair's constant on one region). GLPK is deterministic and
// single-threaded, so the same problem reaches the same node after the same steps on every machine and
// under any load: counting nodes in the branch-and-bound callback (glp_ios_tree_size) and stopping with
// glp_ios_terminate at the limit gives the same status, bounds and minimiser bits every time. A wall-clock
// limit (GLPK's tm_lim) stays as an opt-in safety; an answer it stopped is marked load-dependent
// (WorkBudget::clock_struck), because another run under other load would have stopped elsewhere.
#pragma once

#include <glpk.h>

#include <cstdint>

namespace moelab::milp {

// Default nodes per answer (it replaces a 20 s clock): the tests' problems close in far fewer; a search that
// needs more stops bounds_only, with proven bounds, at the same node on every run.
constexpr std::int64_t kDefaultWorkLimitNodes = 20000;

// Throws std::invalid_argument naming `key` (the options key) unless nodes >= 1; the same for seconds,
// which must be 0 (off) or positive and finite.
void validate_work_limit(std::int64_t nodes, double seconds, const char* key_nodes, const char* key_seconds);

// The work left for one answer; every solve charges what it spent.
class WorkBudget {
public:
    WorkBudget(std::int64_t nodes, double seconds);
    bool exhausted() const;                 // no node, or (when a clock is set) no time left
    std::int64_t nodes_left() const { return nodes_left_; }
    int glpk_time_limit_ms() const;         // GLPK's tm_lim: what is left of the clock, or INT_MAX (off)
    // `stopped` is glp_intopt's / glp_simplex's return code: GLP_ETMLIM marks the answer load-dependent.
    void charge(std::int64_t nodes, double seconds, int stopped);
    bool clock_struck() const { return clock_struck_; }
    bool work_struck() const { return work_struck_; }

private:
    std::int64_t nodes_left_;
    double seconds_limit_, seconds_spent_ = 0.0;
    bool clock_struck_ = false, work_struck_ = false;
};

// The branch-and-bound callback that enforces the node budget: it forwards every call to `inner` (the
// solver's own bookkeeping) and terminates the search once the tree has generated `node_limit` nodes.
struct NodeBudgetCallback {
    void (*inner)(glp_tree*, void*) = nullptr;
    void* inner_info = nullptr;
    std::int64_t node_limit = 0;
    std::int64_t nodes = 0;   // nodes generated so far (out)
};
void node_budget_callback(glp_tree* tree, void* info);

}  // namespace moelab::milp
