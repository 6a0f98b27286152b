// moelab engine: a labelled data set held in memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.hpp"

namespace moelab {

struct Dataset {
    std::string name;
    Tensor x;                 // [N, D] float64
    std::vector<int> y;       // N labels in [0, num_classes)
    int num_classes = 0;

    std::int64_t size() const { return static_cast<std::int64_t>(y.size()); }
    std::int64_t dim() const { return x.cols(); }
};

// Samples [begin, begin + count) as a new data set. Throws std::out_of_range naming the range.
Dataset subset(const Dataset& d, std::int64_t begin, std::int64_t count);

}  // namespace moelab
