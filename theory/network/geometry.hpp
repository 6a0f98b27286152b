// moelab theory: the geometry every bound, certificate and attack shares: the input norm and the input box.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

namespace moelab {

enum class Norm { linf, l2 };
Norm parse_norm(const std::string& name);   // "linf", "l2"; throws ConfigError naming the key "norm"
std::string to_string(Norm norm);
double vector_norm(const double* v, std::int64_t n, Norm norm);
double dual_norm(const double* v, std::int64_t n, Norm norm);   // L1 for linf, L2 for l2

// The input domain: every coordinate in [lo, hi].
struct Box {
    double lo = -std::numeric_limits<double>::infinity();
    double hi = std::numeric_limits<double>::infinity();
};
inline constexpr Box kImageBox{0.0, 1.0};

}  // namespace moelab
