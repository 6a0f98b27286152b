#include "experiments/model_file_io.hpp"

#include <stdexcept>

namespace moelab::cli {

namespace {

std::string describe(const InputConvention& c) {
    std::string s = "input scale " + std::to_string(c.input_scale) + ", domain ";
    return s + (c.bounded ? "[" + std::to_string(c.lo) + ", " + std::to_string(c.hi) + "]" : "unbounded");
}

}  // namespace

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
