#include "experiments/io/model_file_io.hpp"

#include <stdexcept>

namespace moelab::cli {

namespace {

std::string describe(const InputConvention& c) {
    std::string s = "input scale " + std::to_string(c.input_scale) + ", domain ";
    return s + (c.bounded ? "[" + std::to_string(c.lo) + ", " + std::to_string(c.hi) + "]" : "unbounded");
}

}  // namespace

SavedModel load_checkpoint_or_model_file(const std::string& path, ModelFileInfo* info) {
    if (!is_npz_file(path)) return load_model(path);
    ModelFile mf = read_model_file(path);
    SavedModel s;
    s.model = std::move(mf.model);
    s.data_spec = mf.info.data_spec;
    if (info) *info = mf.info;
    return s;
}

ModelFileInfo data_conventions(const DataSplits& data, const std::string& spec) {
    ModelFileInfo info;
    info.data_spec = spec;
    if (data.images) {   // engine/idx.cpp: pixel bytes / 255
        info.input = InputConvention{255.0, true, 0.0, 1.0};
        info.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    }
    return info;
}

void require_same_conventions(const ModelFileInfo& file, const ModelFileInfo& data, const std::string& path,
                              const std::string& spec) {
    const InputConvention& f = file.input;
    const InputConvention& d = data.input;
    if (f.input_scale == 1.0 && !f.bounded) return;
    if (f.input_scale != d.input_scale || f.bounded != d.bounded || (f.bounded && (f.lo != d.lo || f.hi != d.hi)))
        throw std::invalid_argument("--data: " + path + " declares " + describe(f) + ", but '" + spec + "' has " +
                                    describe(d));
}

}  // namespace moelab::cli
