// moelab moe: the self-describing model file (model.npz), for NumPy, PyTorch and models trained elsewhere.
//
// A NumPy .npz archive (engine/npz.hpp) of
//   - every parameter as a float64 array under its registry name ("stem.weight", "blocks.0.moe.router.proj.bias",
//     ...; Linear weights [out, in], y = x W^T + b as in torch.nn.Linear), and
//   - "__moelab__": a 1-D uint8 array holding UTF-8 JSON that describes everything else the forward pass needs:
//       {"format": "moelab-model-file", "version": 1,
//        "model": <ModelConfig JSON: kind, sizes, experts, top_k, gate, noisy, capacity_factor, moe_blocks, ...>,
//        "conventions": {"tie_rule": "lower-index", "input_scale": 255, "input_domain": [0, 1] | null,
//                        "class_names": [...]},
//        "data": "<data spec>" (optional)}
// python/moelab_torch.py reads and writes this format; docs/model-format.md documents it.
//
// read_model_file validates like a checkpoint: format and version, the model config strictly, the
// parameter count against the config before the model is allocated, then names and shapes, and every
// value finite. Errors name the file and the entry or key.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "moe/model.hpp"

namespace moelab {

inline constexpr int kModelFileVersion = 1;
inline constexpr const char* kModelFileFormat = "moelab-model-file";
inline constexpr const char* kModelFileMetaEntry = "__moelab__";

// How raw data becomes the model's input: x = raw / input_scale, and x lies in [lo, hi] when bounded
// (fashion-mnist: pixels / 255 in [0, 1]; synthetic clusters: unscaled and unbounded).
struct InputConvention {
    double input_scale = 1.0;
    bool bounded = false;
    double lo = 0.0, hi = 1.0;
};

struct ModelFileInfo {
    InputConvention input;
    std::vector<std::string> class_names;   // empty when unknown; else one per class
    std::string data_spec;                  // the data the model was trained on; empty when unknown
};

struct ModelFile {
    std::unique_ptr<Classifier> model;
    ModelFileInfo info;
};

// The "conventions" object of the JSON (tie rule, input scale and domain, class names).
nlohmann::json conventions_json(const ModelFileInfo& info);
// The "__moelab__" JSON of a model.
nlohmann::json model_file_meta(const ModelConfig& config, const ModelFileInfo& info);
// Writes the model file atomically; the same model and info give the same bytes.
void write_model_file(const std::string& path, const Classifier& model, const ModelFileInfo& info);
// Throws std::runtime_error naming the file and the entry or key on anything invalid.
ModelFile read_model_file(const std::string& path);
// True when the file starts with the ZIP magic "PK\3\4" (an .npz), false otherwise or when unreadable.
bool is_npz_file(const std::string& path);

// The number of parameters Classifier(config) registers, computed without allocating; throws
// std::invalid_argument when it exceeds 2^40 (no file could hold it).
std::int64_t parameter_count(const ModelConfig& config);

}  // namespace moelab
