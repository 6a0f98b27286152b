// A trained model with the test samples it is judged on, as attack, certify, lipschitz and check load them.
#pragma once

#include <cstdint>
#include <string>

#include "experiments/io/data_spec.hpp"
#include "moe/model_io.hpp"
#include "theory/attacks/attack.hpp"

namespace moelab::cli {

struct LoadedModel {
    SavedModel saved;
    DataSplits data;
    std::string data_spec;
    Box domain;                     // [0, 1] for images, unbounded otherwise
    const Classifier& model() const { return *saved.model; }
};

// Loads the checkpoint, or a model file (an .npz, told by its magic: moe/model_file.hpp), and the first
// `samples` test samples (kAllCount, experiments/cli/flag_values.hpp: all) of `data_spec` (empty: the data the model
// was trained on). Throws naming --ckpt, --data or --samples; a model file must agree with the data's input
// scaling and domain.
LoadedModel load_model_and_data(const std::string& ckpt, const std::string& data_spec, std::int64_t samples);

}  // namespace moelab::cli
