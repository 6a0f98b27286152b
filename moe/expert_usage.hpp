// moelab moe: expert usage, how much of the routed work each expert of an MoE layer receives.
//
// Counted over selections (token-slots): each input contributes its k selected experts, so with top-1 a
// share is the fraction of inputs an expert receives and with top-k the fraction of the B * k picks.
// Capacity drops do not change the count (it is the router's decision that is measured).
//   share_i          selections of expert i / all selections
//   above_1pct       experts with share >= 1%
//   entropy          -sum_i share_i log share_i / log E, in [0, 1] (1 = uniform; 0 when E = 1)
//   max_share        the largest share
//   collapsed        above_1pct < E / 2, or max_share > max(0.5, 2 / E): the layer is, in effect, a
//                    smaller layer with dead experts beside it (docs/routing-and-balance.md)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/router.hpp"

namespace moelab {

struct ExpertUsage {
    std::vector<std::int64_t> selections;   // per expert
    std::vector<double> share;              // per expert; all 0 when nothing was routed
    std::int64_t above_1pct = 0;
    double entropy = 0.0;                   // normalised
    double max_share = 0.0;
    bool collapsed = false;
};

// Usage from per-expert selection counts (E = counts.size() >= 1). No selections at all: not collapsed,
// shares 0 (nothing to judge).
ExpertUsage expert_usage(const std::vector<std::int64_t>& selections);

// Adds a routing's selections (every row's k picks) into counts[expert]; counts must have E entries.
void count_selections(const Routing& routing, std::vector<std::int64_t>& counts);

// {"selections", "share", "above_1pct", "entropy", "max_share", "collapsed"}.
nlohmann::json to_json(const ExpertUsage& u);
// Strict reader of to_json's output (throws std::invalid_argument naming the key).
ExpertUsage expert_usage_from_json(const nlohmann::json& j);
// One line, e.g. "shares .25/.24/.26/.25, 4/4 experts >= 1%, entropy 1.00, max .26" (+ ", COLLAPSED").
std::string usage_line(const ExpertUsage& u);
// The layers of a model, one usage each: "layer 0: ...; layer 1: ...".
std::string usage_line(const std::vector<ExpertUsage>& layers);
// True when any layer collapsed.
bool any_collapsed(const std::vector<ExpertUsage>& layers);
nlohmann::json to_json(const std::vector<ExpertUsage>& layers);   // an array, one entry per layer

class Classifier;
// The usage of each MoE layer of `model` on the rows of x [n, d] (inference, no graph, batches of
// batch_size rows; k_override as ForwardOptions). Empty for a dense model.
std::vector<ExpertUsage> measure_expert_usage(const Classifier& model, const Tensor& x, std::int64_t k_override = 0,
                                              std::int64_t batch_size = 500);

}  // namespace moelab
