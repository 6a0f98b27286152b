// moelab theory: what the two checkers (theory/checker.cpp, theory/dual_check.cpp) share; not public API.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/dataset.hpp"
#include "theory/attack.hpp"
#include "theory/checker.hpp"

namespace moelab::check_detail {

// A number as the CSV and the violation messages print it: 17 digits, "" for NaN, "inf"/"-inf".
std::string fmt(double v);

// certified > reference beyond the tolerance of the reference's precision (rel, relative, at least
// absolute rel); never true when either is NaN (a method that does not cover the sample).
bool exceeds(double certified, double reference, double rel);

// Per sample, the smallest distance at which one of three independent minimal-distance attacks
// (DeepFool, FMN, PGD bisection; o.attack_steps iterations, radii up to o.attack_eps_max) verified an
// adversarial example of m, and the attack's name; 0 and "clean" for a sample m already misclassifies
// (clean_pred != label); +inf and "" where no attack succeeded.
// With `verified` (the checker passes the exact rational forward pass, theory/rational_check.hpp) an
// attack's point counts only where verified(sample, point) holds; then a linf distance is recomputed
// exactly and rounded up. `points` [n, d] holds the chosen point per sample (x where none).
struct AttackDistances {
    std::vector<double> distance;
    std::vector<std::string> name;
    Tensor points;
};
using PointCheck = std::function<bool(std::size_t sample, const double* point)>;
AttackDistances best_attack_distances(const AttackModel& m, const Dataset& data, const std::vector<std::int64_t>& clean_pred,
                                      const CheckOptions& o, const PointCheck& verified = {});

}  // namespace moelab::check_detail
