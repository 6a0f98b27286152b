// moelab moe: saving and loading trained models.
//
// A model checkpoint is an engine checkpoint (checkpoint.hpp) whose tensors are the model's parameters
// under their registry names plus the optimizer state ("optim.*"), and whose metadata is JSON:
//   {"format": "moelab-model", "version": 1, "model": <ModelConfig>, "train": <TrainConfig>,
//    "data": "<data spec>", "state": {"epochs_done": n, "step": s}, "history": [<EpochMetrics>...]}
// load_model rebuilds the architecture from "model" and loads the parameters strictly (unknown,
// missing or mis-shaped tensors are errors naming the file).
#pragma once

#include <memory>
#include <string>

#include "engine/checkpoint.hpp"
#include "moe/train.hpp"

namespace moelab {

struct SavedModel {
    std::unique_ptr<Classifier> model;
    TrainConfig train;
    TrainState state;
    std::string data_spec;
    Checkpoint checkpoint;             // the raw file, for optimizer state
};

void save_model(const std::string& path, const Classifier& model, const Optimizer* optimizer,
                const TrainConfig& train, const TrainState& state, const std::string& data_spec);
SavedModel load_model(const std::string& path);
// Restores the optimizer state saved with the model (throws naming the file if absent).
void load_optimizer_state(const SavedModel& saved, Optimizer& optimizer, const std::string& path);

}  // namespace moelab
