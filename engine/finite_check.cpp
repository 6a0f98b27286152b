#include "engine/finite_check.hpp"

#include <cmath>
#include <stdexcept>

namespace moelab {

std::int64_t first_non_finite(const Tensor& t) {
    const double* d = t.data();
    for (std::int64_t i = 0; i < t.numel(); ++i)
        if (!std::isfinite(d[i])) return i;
    return -1;
}

std::string non_finite_name(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return std::to_string(v);
}

void require_finite(const Tensor& t, const std::string& name, const std::string& where) {
    const std::int64_t i = first_non_finite(t);
    if (i < 0) return;
    throw std::invalid_argument(where + ": tensor '" + name + "' holds a non-finite value, " + non_finite_name(t.data()[i]) +
                                ", at index " + std::to_string(i) + " (values must be finite)");
}

}  // namespace moelab
