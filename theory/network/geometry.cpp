#include "theory/network/geometry.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/config_error.hpp"

namespace moelab {

Norm parse_norm(const std::string& name) {
    if (name == "linf") return Norm::linf;
    if (name == "l2") return Norm::l2;
    throw ConfigError("norm", "expected linf or l2, got '" + name + "'");
}

std::string to_string(Norm norm) { return norm == Norm::linf ? "linf" : "l2"; }

double vector_norm(const double* v, std::int64_t n, Norm norm) {
    double s = 0.0;
    if (norm == Norm::linf) {
        for (std::int64_t i = 0; i < n; ++i) s = std::max(s, std::abs(v[i]));
        return s;
    }
    for (std::int64_t i = 0; i < n; ++i) s += v[i] * v[i];
    return std::sqrt(s);
}

double dual_norm(const double* v, std::int64_t n, Norm norm) {
    if (norm == Norm::l2) return vector_norm(v, n, Norm::l2);
    double s = 0.0;
    for (std::int64_t i = 0; i < n; ++i) s += std::abs(v[i]);
    return s;
}

}  // namespace moelab
