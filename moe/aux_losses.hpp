// moelab moe: auxiliary router losses.
//
// Switch load balancing (Fedus et al. 2021): L = E * sum_i f_i * P_i, where P_i is the mean router
// probability of expert i over the batch (differentiable) and f_i the fraction of routed work that
// went to expert i (a constant). Implementations disagree on f_i when k > 1 (docs/theory.md section 1), so the
// convention is a named choice:
//   top1       f_i = (rows whose top-1 expert is i) / B                   (Switch, GShard / E)
//   all-picks  f_i = (selections of i among all k choices) / (B * k)     (MegaBlocks, Mixtral)
// With perfectly uniform routing both give L = 1.
// Router z-loss (Zoph et al. 2022, ST-MoE): (1/B) sum_b (logsumexp_i s_i(x_b))^2.
// Both are returned unweighted; the trainer multiplies by the flag weights.
#pragma once

#include <string>

#include "moe/router.hpp"

namespace moelab {

enum class BalanceConvention { top1, all_picks };
BalanceConvention parse_balance_convention(const std::string& name);   // "top1", "all-picks"
std::string to_string(BalanceConvention c);

Var load_balancing_loss(const Routing& routing, std::int64_t experts, BalanceConvention convention);
Var router_z_loss(const Var& logits);

}  // namespace moelab
