// moelab moe: one training step cut into micro-shards (train.hpp states the rule), for train.cpp.
//
// A shard's record is what data-parallel processes exchange (ShardExchange): the shard's metrics, then
// one flag per parameter telling whether its gradient reached it, then every parameter's gradient in
// registry order (zeros where not reached). Integers (counts, loads) travel as doubles: exact below 2^53.
// Summing the S records in shard order gives the step's gradient and metrics on every process alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "moe/train.hpp"

namespace moelab {

// The step's metrics, summed over its shards (losses already weighted by shard rows / batch rows).
struct StepTotals {
    double loss = 0.0;                 // minimised loss (cross-entropy plus auxiliary terms)
    double ce = 0.0, aux = 0.0;        // its cross-entropy and auxiliary parts
    double entropy = 0.0;              // row-weighted mean router entropy, first MoE layer
    bool routed = false;               // some shard went through an MoE layer
    std::int64_t correct = 0, dropped = 0;
    std::vector<std::int64_t> expert_load;   // selections per expert, MoE layer by layer ([layers * E]; empty: no MoE)
};

class ShardRecords {
public:
    // The record layout of `model` (its experts and parameters); the model must outlive this.
    // gradients_in_place: the step has one shard computed here (S = 1, one process), so backward's gradients
    // are already the step's gradients: records then carry metrics only, and nothing is copied per step.
    ShardRecords(Classifier& model, bool gradients_in_place);
    std::size_t size() const { return size_; }   // doubles per record

    // Forward and backward of one shard from zero gradients; writes its record (size() doubles).
    // `weight` = shard rows / batch rows scales the loss, hence the gradient and the reported losses.
    void compute(const BatchLossFn& loss_fn, const Tensor& x, const std::vector<int>& labels,
                 const ForwardOptions& fo, const TrainConfig& config, double weight, double* record) const;
    // The record of a shard with no rows: contributes nothing.
    void empty(double* record) const;
    // Adds `shards` consecutive records in order: each parameter's gradient becomes the sum over the shards
    // that reached it (left empty when none did, so the optimizer skips it as in a plain step).
    StepTotals sum(const std::vector<double>& records, int shards) const;

private:
    Classifier& model_;
    bool in_place_ = false;
    std::size_t loads_ = 0, size_ = 0;   // loads_ = MoE layers * experts
};

}  // namespace moelab
