#include "engine/dataset.hpp"

#include <algorithm>
#include <stdexcept>

namespace moelab {

Dataset subset(const Dataset& d, std::int64_t begin, std::int64_t count) {
    if (begin < 0 || count < 0 || begin + count > d.size())
        throw std::out_of_range("subset: samples [" + std::to_string(begin) + ", " + std::to_string(begin + count) +
                                ") are outside data set '" + d.name + "' of " + std::to_string(d.size()));
    Dataset s;
    s.name = d.name;
    s.num_classes = d.num_classes;
    const std::int64_t dim = d.dim();
    s.x = Tensor(Shape{count, dim}, std::vector<double>(d.x.data() + begin * dim, d.x.data() + (begin + count) * dim));
    s.y.assign(d.y.begin() + begin, d.y.begin() + begin + count);
    return s;
}

}  // namespace moelab
