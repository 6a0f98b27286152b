// moelab theory: P2's Equation (8) held against distances measured on the classifier it is about. P2's certificate
// concerns the probability mixture F(x) = sum_i a_i(x) softmax(f_i(x)) of a model-level MoE (theory/bounds/p2_certificate.hpp);
// under soft routing its argmax can differ from the model's own output (which mixes logits), so the attacks here
// run on F itself. Under hard top-1 routing F = a_sel softmax(f_sel) decides as the model does, and the exact
// minimal L-inf distance of the MILP (theory/exact/exact.hpp) applies where the solver supports the model.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "engine/dataset.hpp"
#include "theory/check/checker.hpp"
#include "theory/bounds/p2_certificate.hpp"

namespace moelab {

// P2's probability mixture as attacks see it: "logits" log(F + 1e-300) (same argmax as F). Built from the
// model's copied matrices (no parameter registry: nothing to freeze). Model-level MoEs only (throws otherwise).
AttackModel p2_mixture_attack_model(const Classifier& model, Box domain);
// F's argmax per row, in plain double arithmetic.
std::vector<std::int64_t> p2_mixture_predictions(const Network& net, const Tensor& x);

struct P2CheckRow {
    int label = 0;
    std::int64_t clean_pred = 0;                                   // argmax F(x)
    P2Radius radius;                                               // both readings of Equation (8)
    double attack = std::numeric_limits<double>::infinity();       // best verified attack distance on F
    std::string attack_name;
    double exact = std::numeric_limits<double>::quiet_NaN();       // d* when proven optimal (hard top-1 only)
    std::string exact_status = "not-applicable";
    // The tightest measured distance: min(attack, exact) (0 when F misclassifies x).
    double distance() const { return std::isnan(exact) ? attack : std::min(attack, exact); }
};

// Per sample of data (L-inf; o.domain, o.attack_eps_max, o.attack_steps, o.seed, o.exact, o.exact_options).
// Deterministic.
std::vector<P2CheckRow> run_p2_check(const Classifier& model, const Dataset& data, const CheckOptions& o);

}  // namespace moelab
