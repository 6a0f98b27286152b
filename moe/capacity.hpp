// moelab moe: expert capacity and deterministic token dropping.
//
// With a capacity factor c > 0, each expert accepts at most C = ceil(c * B * k / E) (token, slot) pairs
// per batch. Order of admission, fixed and documented: all rows' first choices in row order, then all
// second choices in row order, and so on (so a row's preferred expert is served before anyone's
// second choice). A dropped slot contributes nothing: the layer's output for that row is the gated
// sum over its kept slots only, and zero if every slot was dropped. Gates are not renormalised.
// Training only: at inference (MoELayer::forward with training = false, i.e. eval, attack, certify, check
// and every bound) no slot is dropped, so a row's prediction never depends on the rest of its batch.
#pragma once

#include <cstdint>

#include "moe/router.hpp"

namespace moelab {

std::int64_t expert_capacity(double capacity_factor, std::int64_t rows, std::int64_t k, std::int64_t experts);

// Marks dropped slots in routing.kept and returns how many were dropped. c <= 0 means unlimited.
std::int64_t apply_capacity(Routing& routing, std::int64_t experts, double capacity_factor);

}  // namespace moelab
