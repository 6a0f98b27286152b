// Outward rounding of reported radii and constants (outward_rounding.hpp).
#include "theory/network/outward_rounding.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace moelab {
namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}

double solver_upper_outward(double v) {
    if (!std::isfinite(v)) return v;
    const double charged = v + kSolverRelativeTolerance * (std::abs(v) + 1.0);   // two roundings, each <= 1/2 ulp
    return std::nextafter(std::nextafter(charged, kInf), kInf);
}

double solver_lower_outward(double v) {
    if (!std::isfinite(v)) return v;
    const double charged = v - kSolverRelativeTolerance * (std::abs(v) + 1.0);
    return std::max(0.0, std::nextafter(std::nextafter(charged, -kInf), -kInf));
}

double float_radius_outward(double r) {
    if (!std::isfinite(r) || r <= 0.0) return r;
    return std::max(0.0, std::nextafter(r * (1.0 - kFloatRadiusRelative), -kInf));
}

double divide_down(double a, double b) {
    const double q = a / b;   // correctly rounded: within 1/2 ulp of the exact quotient
    return std::isfinite(q) ? std::nextafter(q, -kInf) : q;
}

}  // namespace moelab
