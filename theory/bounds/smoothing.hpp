// moelab theory: randomized smoothing (Cohen, Rosenfeld and Kolter 2019), a probabilistic L2 certificate.
//
// The smoothed classifier g(x) = argmax_c P(f(x + N(0, sigma^2 I)) = c). CERTIFY: n0 noisy copies pick the
// class c_A, n more estimate p_A with a one-sided Clopper-Pearson lower bound at level 1 - alpha; if it is
// above 1/2 the radius is sigma * Phi^{-1}(p_A_lower), else g abstains (radius 0). The certificate is about
// g, not about the model itself, and holds with probability 1 - alpha: the checker reports it apart and
// never counts it among the sound methods. Noise for sample i comes from Rng(seed).split("smoothing").split(i).
#pragma once

#include <cstdint>
#include <vector>

#include "moe/model.hpp"

namespace moelab {

struct SmoothingOptions {
    double sigma = 0.25;
    std::int64_t n0 = 100, n = 1000;
    double alpha = 0.001;
    std::int64_t batch = 500;
    std::uint64_t seed = 1;
    void validate() const;   // throws ConfigError naming the key: sigma, n0, n, alpha
};

struct SmoothedCertificate {
    int predicted = -1;      // -1: abstain
    double p_lower = 0.0;
    double radius = 0.0;     // of the label y: 0 unless predicted == y
};

// Certifies rows of x ([B, d]) for labels y. `first_index` numbers the rows for the noise streams.
std::vector<SmoothedCertificate> certify_smoothing(const Classifier& model, const Tensor& x, const std::vector<int>& y,
                                                   const SmoothingOptions& o, std::int64_t first_index = 0);

// One-sided lower confidence bound of a binomial proportion (Clopper-Pearson) at level 1 - alpha.
double clopper_pearson_lower(std::int64_t successes, std::int64_t trials, double alpha);

}  // namespace moelab
