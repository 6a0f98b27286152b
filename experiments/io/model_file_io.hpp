// The model file (moe/model_file.hpp) on the command line: the input conventions of a data set, written into
// the model.npz that train produces, and checked against the data a command evaluates an imported model on.
#pragma once

#include <string>

#include "experiments/io/data_spec.hpp"
#include "moe/model_file.hpp"
#include "moe/model_io.hpp"

namespace moelab::cli {

// A checkpoint (load_model) or a model file (an .npz, told by its magic: read_model_file, its conventions
// into *info when given); a model file has no training state (train, state, history and checkpoint empty).
SavedModel load_checkpoint_or_model_file(const std::string& path, ModelFileInfo* info = nullptr);

// fashion-mnist: pixels / 255 in [0, 1] and its ten class names; clusters: unscaled, unbounded, no names.
ModelFileInfo data_conventions(const DataSplits& data, const std::string& spec);

// Throws std::invalid_argument naming --data when the file's declared input scaling or domain is not the
// data's (a file that declares none accepts any data: unscaled and unbounded is no constraint).
void require_same_conventions(const ModelFileInfo& file, const ModelFileInfo& data, const std::string& path,
                              const std::string& spec);

}  // namespace moelab::cli
