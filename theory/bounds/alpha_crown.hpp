// moelab theory: alpha-CROWN (Xu et al. 2021, "Fast and Complete"): the parameters of the relaxations (lower
// ReLU slopes, McCormick weights of the last MoE block) chosen per objective row by projected gradient ascent on
// the bound, from CROWN's choices, a fixed number of Adam steps (Kingma and Ba 2015) in a fixed order. Every
// step's bound is the sound, rounding-charged back-substitution at that step's parameters, so the best bound
// seen per row is itself sound and never below CROWN's (the first step is CROWN's).
#pragma once

#include <cstdint>
#include <vector>

#include "theory/bounds/bound_graph.hpp"

namespace moelab {

struct AlphaOptions {
    int iterations = 20;
    double step = 0.1;
    bool stop_when_positive = false;   // stop once every row's best bound is > 0
};

// The best lower bound per row of lam ([K, dim] on `node`) over the ascent (aggregating the top product).
std::vector<double> alpha_crown_lower(const BoundGraph& g, int node, const std::vector<double>& lam, std::int64_t K,
                                      const AlphaOptions& options);

}  // namespace moelab
