// moelab moe: the deterministic training loop and evaluation.
//
// Determinism: epoch e visits the training set in the order of a Fisher-Yates shuffle drawn from
// Rng(seed).split("shuffle").split(e); step s draws dropout and router noise from
// Rng(seed).split("step").split(s). Nothing else is random, so a run resumed after epoch e (weights,
// optimizer state and step counter restored from the checkpoint) continues bit for bit.
//
// Learning-rate schedules, by global step t of T = epochs * steps_per_epoch:
//   constant   lr
//   cosine     lr * 0.5 * (1 + cos(pi * t / T))
//   step       lr * 0.1^floor(3 t / T)      (two decays of 10x, at 1/3 and 2/3 of training)
//
// Micro-shards (TrainConfig::micro_shards = S; data-parallel training): each batch of B rows is cut into S
// contiguous shards, shard i holding rows [i B / S, (i+1) B / S). Shard i's loss is scaled by its rows / B,
// its dropout and router noise come from the step stream split by i (S = 1: the step stream itself), its
// gradient is computed from zero, and the S gradients are added in shard order before the optimizer step.
// So the weights depend on S, never on how the shards are spread over processes (ShardExchange) or
// threads, and S = 1 is the plain full-batch step bit for bit. With S > 1 the MoE auxiliary losses
// (load balancing, z-loss) and expert capacity are computed per shard, as on multi-device training where
// each device balances its own tokens: the weighted sum of per-shard balance losses is not the balance
// loss of the whole batch. A shard left empty (B < S) contributes nothing.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/dataset.hpp"
#include "engine/named_enum.hpp"
#include "engine/optim.hpp"
#include "moe/expert_usage.hpp"
#include "moe/model.hpp"

namespace moelab {

enum class LrSchedule { constant, cosine, step, count };
inline constexpr std::array<NamedValue<LrSchedule>, 3> kLrSchedules{
    {{LrSchedule::constant, "constant"}, {LrSchedule::cosine, "cosine"}, {LrSchedule::step, "step"}}};
static_assert(names_match_enum(kLrSchedules));
// Throws ConfigError{"schedule", "unknown schedule 'x' (expected constant, cosine or step)"}.
LrSchedule parse_lr_schedule(const std::string& name);
inline std::string to_string(LrSchedule s) { return name_of(kLrSchedules, s); }

struct TrainConfig {
    int epochs = 3;
    std::int64_t batch_size = 128;
    OptimizerConfig optimizer;
    LrSchedule schedule = LrSchedule::constant;
    std::uint64_t seed = 1;
    double lb_weight = 0.3;            // Switch load-balancing loss weight (docs/routing-and-balance.md: why not 0.01)
    double z_weight = 0.0;             // router z-loss weight
    BalanceConvention lb_convention = BalanceConvention::all_picks;
    int micro_shards = 1;              // S above; 1 = the plain full-batch step

    void validate() const;             // throws ConfigError naming the key
};

// "micro_shards" is written only when it is not 1, so configs and checkpoints of plain runs keep their bytes.
nlohmann::json to_json(const TrainConfig& c);
TrainConfig train_config_from_json(const nlohmann::json& j);   // strict, like model_config_from_json

double scheduled_lr(const TrainConfig& c, long step, long total_steps);

struct EvalResult {
    double loss = 0.0;
    double accuracy = 0.0;
    std::vector<std::int64_t> predictions;
    std::vector<std::int64_t> top1_expert;           // first MoE layer's top-1 expert per sample (empty for mlp)
    std::vector<std::int64_t> expert_samples;        // per expert: samples whose top-1 it is
    std::vector<double> expert_accuracy;             // per expert: accuracy on those samples (NaN if none)
    std::vector<ExpertUsage> usage;                  // per MoE layer: its selections over the data (expert_usage.hpp)
};

// Inference over a dataset in batches (no graph). k_override: top-k at inference (0 = configured).
EvalResult evaluate(const Classifier& model, const Dataset& data, std::int64_t batch_size = 500,
                    std::int64_t k_override = 0);

struct EpochMetrics {
    int epoch = 0;                     // 1-based
    double lr = 0.0;                   // at the epoch's last step
    double train_loss = 0.0;           // mean cross-entropy over the epoch's batches (aux losses excluded)
    double aux_loss = 0.0;             // mean weighted auxiliary loss
    double train_accuracy = 0.0;       // on the batches as trained (dropout on)
    double test_loss = 0.0, test_accuracy = 0.0;
    std::vector<std::int64_t> expert_load;   // selections per expert over the epoch (first MoE layer)
    std::vector<ExpertUsage> train_usage;    // per MoE layer, over the epoch's training batches as trained
    std::vector<ExpertUsage> test_usage;     // per MoE layer, on the test set after the epoch
    double router_entropy = 0.0;       // mean entropy (nats) of router probabilities, first MoE layer
    std::int64_t dropped_tokens = 0;   // capacity-dropped slots over the epoch, all layers
    double seconds = 0.0;              // wall time (not part of the deterministic results)
};
// The usage keys are written for MoE models only; histories saved before they existed load with them empty.
nlohmann::json to_json(const EpochMetrics& m);
EpochMetrics epoch_metrics_from_json(const nlohmann::json& j);

// A one-line warning when the epoch ended with a collapsed MoE layer (expert_usage.hpp), on the test set or on
// the training batches; empty otherwise.
std::string collapse_warning(const EpochMetrics& m);

// Where a run stands; saved in checkpoints so that --resume continues exactly.
struct TrainState {
    int epochs_done = 0;
    long step = 0;
    std::vector<EpochMetrics> history;
};

// What one step minimises on a batch, and what the epoch metrics are read from.
struct BatchLoss {
    Var loss;                          // minimised (backward runs from here)
    Var ce;                            // reported as train_loss: the cross-entropy term
    Var aux;                           // reported as aux_loss; undefined when there is none
    ModelOutput out;                   // predictions (train_accuracy), routing (load, entropy), drops
};

// The default: cross-entropy of the model on the batch plus its weighted auxiliary losses.
BatchLoss standard_batch_loss(Classifier& model, const Tensor& x, const std::vector<int>& labels,
                              const ForwardOptions& fo, const TrainConfig& config);

// A replacement for standard_batch_loss. Adversarial-training recipes live above moe/ (they need the
// attacks of theory/) and plug in here. Any randomness must come from fo.rng (the step's stream, e.g.
// fo.rng.split("attack")), so that runs and resumed runs stay bitwise identical. With micro-shards it is
// called once per shard, on the shard's rows, with the shard's stream; train() applies the shard weight.
using BatchLossFn = std::function<BatchLoss(Classifier& model, const Tensor& x, const std::vector<int>& labels,
                                            const ForwardOptions& fo, const TrainConfig& config)>;

// How a step's micro-shards are spread over processes (data-parallel training; experiments/ supplies an
// MPI implementation, moe/ knows nothing of MPI). Process `rank` of `ranks` computes shards
// [rank S / ranks, (rank + 1) S / ranks); S must be a multiple of `ranks` (train() throws naming
// --micro-shards otherwise), so every process does the same work. Each shard yields one record, a vector of
// doubles of a length fixed by the model (its gradient, which parameters it reached, its metrics).
// `allgather(mine, all)` receives this process's records concatenated and must fill `all` with every
// process's, concatenated in rank order: all S records in shard order. Every process then adds the
// same records in the same order and takes the same optimizer step, so the weights stay identical.
// The default (ranks = 1, no allgather) is one process computing every shard.
struct ShardExchange {
    int rank = 0, ranks = 1;
    std::function<void(const std::vector<double>& mine, std::vector<double>& all)> allgather;
};

struct TrainHooks {
    // Replaces the step's loss (empty: standard_batch_loss).
    BatchLossFn batch_loss;
    // Called after each step with (step in epoch, steps per epoch, running mean loss).
    std::function<void(long, long, double)> on_step;
    // Called after each epoch, once the metrics are in state.history; checkpoint here.
    std::function<void(const TrainState&, const Optimizer&)> on_epoch;
    // Non-finite loss: training stops by throwing std::runtime_error after on_epoch of the last good epoch.
    // Data parallelism: which micro-shards this process computes and how records are exchanged.
    ShardExchange exchange;
};

// Trains `model` from `state` (fresh or restored) until config.epochs. `optimizer` must be built over
// model.params() and restored too when resuming.
void train(Classifier& model, Optimizer& optimizer, const Dataset& train_set, const Dataset& test_set,
           const TrainConfig& config, TrainState& state, const TrainHooks& hooks = {});

}  // namespace moelab
