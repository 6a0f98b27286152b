#include "engine/corruptions.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/parallel.hpp"

namespace moelab {

namespace {
double clip01(double v) { return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v); }

void require_images(const Tensor& x, std::int64_t side, const char* op) {
    if (x.cols() != side * side)
        throw ShapeError(std::string(op) + ": rows of " + x.shape().str() + " are not " + std::to_string(side) + "x" +
                         std::to_string(side) + " images");
}
}  // namespace

Tensor gaussian_noise(const Tensor& x, double sigma, const Rng& rng, bool clip) {
    Tensor out(x.shape());
    parallel_for(x.numel(), kElementGrain, [&](std::int64_t i) {
        const double v = x[i] + sigma * rng.normal(static_cast<std::uint64_t>(i));
        out[i] = clip ? clip01(v) : v;
    });
    return out;
}

Tensor blur(const Tensor& x, double sigma, std::int64_t side) {
    require_images(x, side, "blur");
    if (!(sigma > 0.0)) return x;
    const auto radius = static_cast<std::int64_t>(std::ceil(3.0 * sigma));
    std::vector<double> k(static_cast<std::size_t>(2 * radius + 1));
    double ks = 0.0;
    for (std::int64_t t = -radius; t <= radius; ++t)
        ks += (k[static_cast<std::size_t>(t + radius)] = std::exp(-0.5 * static_cast<double>(t * t) / (sigma * sigma)));
    for (double& v : k) v /= ks;
    Tensor out(x.shape());
    parallel_for(x.rows(), kRowGrain, [&](std::int64_t n) {
        const double* img = x.data() + n * side * side;
        std::vector<double> tmp(static_cast<std::size_t>(side * side));
        auto clampi = [side](std::int64_t v) { return std::clamp<std::int64_t>(v, 0, side - 1); };
        for (std::int64_t r = 0; r < side; ++r)
            for (std::int64_t c = 0; c < side; ++c) {
                double s = 0.0;
                for (std::int64_t t = -radius; t <= radius; ++t)
                    s += k[static_cast<std::size_t>(t + radius)] * img[r * side + clampi(c + t)];
                tmp[static_cast<std::size_t>(r * side + c)] = s;
            }
        double* o = out.data() + n * side * side;
        for (std::int64_t r = 0; r < side; ++r)
            for (std::int64_t c = 0; c < side; ++c) {
                double s = 0.0;
                for (std::int64_t t = -radius; t <= radius; ++t)
                    s += k[static_cast<std::size_t>(t + radius)] * tmp[static_cast<std::size_t>(clampi(r + t) * side + c)];
                o[r * side + c] = clip01(s);
            }
    });
    return out;
}

Tensor rotate(const Tensor& x, double degrees, std::int64_t side) {
    require_images(x, side, "rotate");
    const double a = degrees * 3.14159265358979323846 / 180.0, ca = std::cos(a), sa = std::sin(a);
    const double centre = 0.5 * static_cast<double>(side - 1);
    Tensor out(x.shape());
    parallel_for(x.rows(), kRowGrain, [&](std::int64_t n) {
        const double* img = x.data() + n * side * side;
        double* o = out.data() + n * side * side;
        auto pixel = [&](std::int64_t r, std::int64_t c) {
            return (r < 0 || c < 0 || r >= side || c >= side) ? 0.0 : img[r * side + c];
        };
        for (std::int64_t r = 0; r < side; ++r)
            for (std::int64_t c = 0; c < side; ++c) {
                // Inverse map: the source of output pixel (r, c) is its rotation by -a.
                const double dx = static_cast<double>(c) - centre, dy = centre - static_cast<double>(r);
                const double sx = ca * dx + sa * dy + centre, sy = centre - (-sa * dx + ca * dy);
                const auto c0 = static_cast<std::int64_t>(std::floor(sx)), r0 = static_cast<std::int64_t>(std::floor(sy));
                const double fx = sx - static_cast<double>(c0), fy = sy - static_cast<double>(r0);
                const double v = (1 - fy) * ((1 - fx) * pixel(r0, c0) + fx * pixel(r0, c0 + 1)) +
                                 fy * ((1 - fx) * pixel(r0 + 1, c0) + fx * pixel(r0 + 1, c0 + 1));
                o[r * side + c] = clip01(v);
            }
    });
    return out;
}

Tensor contrast(const Tensor& x, double factor) {
    Tensor out(x.shape());
    const std::int64_t d = x.cols();
    parallel_for(x.rows(), kRowGrain, [&](std::int64_t n) {
        double mean = 0.0;
        for (std::int64_t j = 0; j < d; ++j) mean += x[n * d + j];
        mean /= static_cast<double>(d);
        for (std::int64_t j = 0; j < d; ++j) out[n * d + j] = clip01((x[n * d + j] - mean) * factor + mean);
    });
    return out;
}

std::vector<Corruption> standard_corruptions(bool images) {
    std::vector<Corruption> c{{"noise", 0.1}, {"noise", 0.2}, {"noise", 0.4}};
    if (!images) return c;
    for (double s : {0.5, 1.0, 1.5}) c.push_back({"blur", s});
    for (double s : {10.0, 20.0, 30.0}) c.push_back({"rotate", s});
    for (double s : {0.7, 0.5, 0.3}) c.push_back({"contrast", s});
    return c;
}

Tensor apply_corruption(const Tensor& x, const Corruption& c, const Rng& rng, bool images, std::int64_t side) {
    if (c.name == "noise") return gaussian_noise(x, c.severity, rng.split("noise"), images);
    if (c.name == "blur") return blur(x, c.severity, side);
    if (c.name == "rotate") return rotate(x, c.severity, side);
    if (c.name == "contrast") return contrast(x, c.severity);
    throw std::invalid_argument("corruption: unknown corruption '" + c.name + "' (expected noise, blur, rotate, contrast)");
}

}  // namespace moelab
