#include "moe/capacity.hpp"

#include <cmath>
#include <vector>

namespace moelab {

std::int64_t expert_capacity(double capacity_factor, std::int64_t rows, std::int64_t k, std::int64_t experts) {
    return static_cast<std::int64_t>(
        std::ceil(capacity_factor * static_cast<double>(rows * k) / static_cast<double>(experts)));
}

std::int64_t apply_capacity(Routing& routing, std::int64_t experts, double capacity_factor) {
    if (capacity_factor <= 0.0) return 0;
    const std::int64_t rows = routing.rows(), k = routing.k;
    const std::int64_t cap = expert_capacity(capacity_factor, rows, k, experts);
    std::vector<std::int64_t> load(static_cast<std::size_t>(experts), 0);
    std::int64_t dropped = 0;
    for (std::int64_t j = 0; j < k; ++j)
        for (std::int64_t b = 0; b < rows; ++b) {
            const std::size_t slot = static_cast<std::size_t>(b * k + j);
            auto& n = load[static_cast<std::size_t>(routing.expert[slot])];
            if (n < cap) {
                ++n;
            } else {
                routing.kept[slot] = 0;
                ++dropped;
            }
        }
    return dropped;
}

}  // namespace moelab
