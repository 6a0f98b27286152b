// moelab moe: the classifiers the theory is about, and their dense baselines.
//
// kind "mlp"        x -> ReLU(stem) -> [FFN block]^depth -> head
// kind "moe"        x -> ReLU(stem) -> [FFN or MoE block]^depth -> head   (layer-level MoE, P1)
// kind "moe-model"  F(x) = sum_i g_i(x) f_i(x), router on the input, each expert a whole classifier
//                   input -> hidden -> classes (linear when hidden = 0)    (model-level MoE, P2;
//                   with linear experts this is the theory's model for clustered data)
// Blocks: an FFN block is Linear(width -> hidden) ReLU Linear(hidden -> width); an MoE block has E such
// experts (or linear experts when hidden = 0). Consecutive blocks are separated by a ReLU.
// Dense baselines of an MoE config (P1): dense_baseline(c, BaselineMatch::compute) replaces every MoE block by an
// FFN of hidden width k * hidden (equal active compute); params picks the FFN width whose parameter
// count is closest to the MoE's (equal total parameters).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/named_enum.hpp"
#include "moe/aux_losses.hpp"
#include "moe/moe_layer.hpp"

namespace moelab {

enum class ModelKind { mlp, moe, moe_model };
ModelKind parse_model_kind(const std::string& name);   // "mlp", "moe", "moe-model"
std::string to_string(ModelKind kind);

struct ModelConfig {
    ModelKind kind = ModelKind::moe;
    std::int64_t input_dim = 784;
    std::int64_t classes = 10;
    std::int64_t width = 128;          // stem output and block width
    std::int64_t depth = 1;            // number of blocks
    std::int64_t hidden = 256;         // FFN / expert hidden width (0: linear experts)
    std::int64_t experts = 8;
    std::int64_t top_k = 2;
    GateMode gate = GateMode::softmax_then_topk;
    bool noisy = false;
    RouterTraining router = RouterTraining::learned;   // "router" in JSON; absent (older files) = learned
    double capacity_factor = 0.0;      // <= 0: unlimited
    std::vector<std::int64_t> moe_blocks;   // which blocks are MoE (kind moe); empty = all
    double dropout = 0.0;
    std::uint64_t seed = 1;            // initialisation seed

    // Throws ConfigError naming the key ("top-k", "experts", ...) on a bad value.
    void validate() const;
    bool is_moe_block(std::int64_t block) const;
};

nlohmann::json to_json(const ModelConfig& c);
// Strict: unknown keys, wrong types and bad values throw std::invalid_argument naming the key.
ModelConfig model_config_from_json(const nlohmann::json& j);

// What a dense baseline matches: the MoE's active compute or its total parameters.
enum class BaselineMatch { compute, params, count };
inline constexpr std::array<NamedValue<BaselineMatch>, 2> kBaselineMatches{
    {{BaselineMatch::compute, "compute"}, {BaselineMatch::params, "params"}}};
static_assert(names_match_enum(kBaselineMatches));
// Throws ConfigError{"match", "unknown baseline 'x' (expected compute or params)"}.
BaselineMatch parse_baseline_match(const std::string& name);
ModelConfig dense_baseline(const ModelConfig& moe, BaselineMatch match);

struct ForwardOptions {
    bool training = false;
    Rng rng{0};                        // per-step stream: dropout and router noise (training only)
    std::int64_t k_override = 0;       // top-k at inference; 0 = the configured k
    std::int64_t swap_rank = -1;       // >= 0: replace the expert of this rank by the next-ranked (router.hpp)
    std::int64_t swap_layer = -1;      // with swap_rank: only in this MoE layer (0-based); -1: in every MoE layer
    // Routing held fixed: one Routing per MoE layer, as returned in ModelOutput::routings by a forward on
    // the same rows (empty: the router decides). Used by the expert attack (P2's RA-E).
    const std::vector<Routing>* frozen_routing = nullptr;
};

struct ModelOutput {
    Var logits;                        // [B, classes]
    std::vector<Routing> routings;     // one per MoE layer, in order
    std::int64_t dropped = 0;          // capacity-dropped slots over all MoE layers
};

struct FFN {
    MLP mlp;
};

class Classifier {
public:
    explicit Classifier(const ModelConfig& config);
    Classifier(const Classifier&) = delete;
    Classifier& operator=(const Classifier&) = delete;

    ModelOutput forward(const Var& x, const ForwardOptions& options = {}) const;
    // Sum over MoE layers of the weighted auxiliary losses; an undefined Var when there are none.
    Var aux_loss(const ModelOutput& out, double lb_weight, double z_weight, BalanceConvention convention) const;

    const ModelConfig& config() const { return config_; }
    ParamRegistry& params() { return params_; }
    const ParamRegistry& params() const { return params_; }
    const std::vector<MoELayer>& moe_layers() const { return moe_; }

private:
    ModelConfig config_;
    ParamRegistry params_;
    Linear stem_, head_;
    std::vector<FFN> ffn_;             // blocks are ffn_ and moe_ interleaved by block_is_moe_
    std::vector<MoELayer> moe_;
    std::vector<bool> block_is_moe_;
};

// The dual model of Zhang et al. 2025 (docs/theory.md section 1): F_D(x) = (1 - alpha) F_S(x) + alpha F_R(x),
// combined on class probabilities (softmax outputs) so that class-score differences of each model
// are bounded by 1. Returns [B, classes] probabilities.
Var dual_forward(const Classifier& standard, const Classifier& robust, double alpha, const Var& x);

}  // namespace moelab
