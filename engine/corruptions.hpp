// moelab engine: out-of-distribution variants of image data (MoE-RBench's OOD dimension, small scale).
//
// Each takes x [N, side*side] with pixels in [0, 1] and returns a new tensor, clipped to [0, 1]
// (except gaussian_noise with clip = false, for non-image data).
//   gaussian_noise  x + sigma * N(0, 1), noise element i from rng.normal(i)
//   blur            separable Gaussian blur of standard deviation sigma pixels, radius ceil(3 sigma),
//                   borders clamped
//   rotate          rotation by `degrees` counter-clockwise about the image centre, bilinear sampling,
//                   zero outside the image
//   contrast        (x - mean(x)) * factor + mean(x), per image
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/rng.hpp"
#include "engine/tensor.hpp"

namespace moelab {

Tensor gaussian_noise(const Tensor& x, double sigma, const Rng& rng, bool clip = true);
Tensor blur(const Tensor& x, double sigma, std::int64_t side);
Tensor rotate(const Tensor& x, double degrees, std::int64_t side);
Tensor contrast(const Tensor& x, double factor);

struct Corruption {
    std::string name;      // "noise", "blur", "rotate", "contrast"
    double severity;       // the parameter above
};
// The standard set: three severities of each corruption (images) or of noise only (non-image data).
std::vector<Corruption> standard_corruptions(bool images);
Tensor apply_corruption(const Tensor& x, const Corruption& c, const Rng& rng, bool images, std::int64_t side = 28);

}  // namespace moelab
