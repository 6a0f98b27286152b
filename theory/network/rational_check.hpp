// moelab theory: the model's decision in exact rational arithmetic, for verifying adversarial points and
// margins with zero tolerance.
//
// Every double is a dyadic rational, so the function the stored weights define can be evaluated exactly:
// affine maps, ReLU and top-1 routing (router scores compared exactly, ties to the lower index as topk())
// need only additions, multiplications and comparisons of rationals (GMP's mpq). The floating-point forward
// pass (Classifier::forward, BLAS) rounds; near a decision or routing boundary it can disagree with the exact
// function. A point counts as adversarial for the checker and the exact solver only when this exact pass
// misclassifies it (argmax, ties to the lower class index, as argmax_rows), so a certificate that exceeds
// the distance of such a point is a proof of unsoundness, not a rounding question.
//
// Supported: the piecewise-linear models of exact_support() (theory/exact/exact.hpp). A moe-model whose softmax
// gate scales the chosen expert's logits by g > 0 has the same argmax as the expert: the gate is skipped
// by predict(); margin_lower() needs a gate that is exactly 1 and throws otherwise.
// Cost: the numerators grow by about 53 bits per layer; fine for the small models the exact solvers handle.
// Thread-safety: const methods are safe to call concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "moe/model.hpp"

namespace moelab {

class RationalModel {
public:
    // Throws std::invalid_argument (with exact_support's reason) for an unsupported model.
    explicit RationalModel(const Classifier& model);
    ~RationalModel();
    RationalModel(RationalModel&&) noexcept;

    std::int64_t input_dim() const;
    // The exact argmax at x (input_dim doubles), ties to the lower class index.
    int predict(const double* x) const;
    bool adversarial(const double* x, int label) const { return predict(x) != label; }
    // The exact logit margin z_label - z_j at x, rounded toward -inf to a double (a lower bound).
    double margin_lower(const double* x, int label, int j) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// "" when RationalModel supports the model, else the reason.
std::string rational_support(const Classifier& model);

// ||a - b||_inf computed exactly and rounded up (an upper bound; exact when the difference is a double).
double linf_distance_up(const double* a, const double* b, std::int64_t n);
// certified > ||a - b||_inf, decided exactly (zero tolerance).
bool exceeds_linf_distance(double certified, const double* a, const double* b, std::int64_t n);

}  // namespace moelab
