// The certified power iteration against the LAPACK SVD, closed forms and its use in operator_norm.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "tests/gradcheck.hpp"
#include "theory/bounds/lipschitz.hpp"
#include "theory/bounds/spectral_bounds.hpp"

using namespace moelab;
using moelab::testing::random_tensor;

BOOST_AUTO_TEST_SUITE(spectral_bounds)

BOOST_AUTO_TEST_CASE(power_iteration_brackets_the_svd_value_within_its_tolerance) {
    for (std::uint64_t seed = 0; seed < 6; ++seed) {
        const std::int64_t m = 20 + 17 * static_cast<std::int64_t>(seed), n = 90 - 11 * static_cast<std::int64_t>(seed);
        const Tensor w = random_tensor(Shape{m, n}, 40 + seed);
        const double svd = spectral_norm(w);
        const SpectralBounds b = spectral_norm_bounds(w, 1e-6);
        BOOST_TEST(b.converged);
        BOOST_TEST(b.lower <= svd * (1 + 1e-13), "seed " << seed);
        BOOST_TEST(b.upper >= svd * (1 - 1e-13), "seed " << seed);
        BOOST_TEST(b.upper <= b.lower * (1 + 1e-6));
        // Bits do not depend on anything but the matrix.
        const SpectralBounds again = spectral_norm_bounds(w, 1e-6);
        BOOST_TEST(again.lower == b.lower);
        BOOST_TEST(again.upper == b.upper);
    }
}

BOOST_AUTO_TEST_CASE(repeated_top_singular_values_and_a_zero_matrix_follow_their_closed_forms) {
    // diag(3, 3, 1, 0.5) padded: two equal top singular values, which slow neither bound.
    Tensor d(Shape{4, 6}, 0.0);
    d.at(0, 0) = 3, d.at(1, 1) = -3, d.at(2, 2) = 1, d.at(3, 3) = 0.5;
    const SpectralBounds b = spectral_norm_bounds(d, 1e-9);
    BOOST_TEST(b.converged);
    BOOST_TEST(b.lower <= 3.0);
    BOOST_TEST(b.upper >= 3.0);
    BOOST_TEST(b.upper - b.lower <= 3e-9 * 3.0);
    const SpectralBounds z = spectral_norm_bounds(Tensor(Shape{3, 5}, 0.0));
    BOOST_TEST(z.upper == 0.0);
    BOOST_TEST(z.lower == 0.0);
    // A rank-one matrix u v^T: sigma = ||u|| ||v||; the bound must not fall below it.
    Tensor r(Shape{7, 9});
    double nu = 0, nv = 0;
    for (int i = 0; i < 7; ++i) nu += (i + 1.0) * (i + 1.0);
    for (int j = 0; j < 9; ++j) nv += (j - 4.5) * (j - 4.5);
    for (int i = 0; i < 7; ++i)
        for (int j = 0; j < 9; ++j) r.at(i, j) = (i + 1.0) * (j - 4.5);
    const SpectralBounds rb = spectral_norm_bounds(r, 1e-12);
    BOOST_TEST(rb.upper >= std::sqrt(nu * nv) * (1 - 1e-15));
    BOOST_TEST(rb.lower <= std::sqrt(nu * nv) * (1 + 1e-15));
    BOOST_TEST(rb.upper / rb.lower <= 1 + 1e-12);
    BOOST_CHECK_THROW(spectral_norm_bounds(r, 0.0), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(operator_norm_switches_to_the_certified_bound_above_the_threshold) {
    // 40 x 5001 = 200040 entries > threshold: the Gram side is 40, so this stays cheap.
    const Tensor w = random_tensor(Shape{40, 5001}, 77);
    BOOST_REQUIRE(w.numel() > kCertifiedPowerThreshold);
    const double svd = spectral_norm(w), used = operator_norm(w, Norm::l2);
    BOOST_TEST(used >= svd * (1 - 1e-13));
    BOOST_TEST(used <= svd * (1 + 1.01e-6));
    const Tensor small = random_tensor(Shape{30, 40}, 78);
    BOOST_TEST(operator_norm(small, Norm::l2) == spectral_norm(small));
}

BOOST_AUTO_TEST_SUITE_END()
