// OOD corruptions: identities at zero severity, exact geometry, and invariants.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "engine/corruptions.hpp"
#include "tests/gradcheck.hpp"

using namespace moelab;
using moelab::testing::random_tensor;

BOOST_AUTO_TEST_SUITE(corruptions)

BOOST_AUTO_TEST_CASE(zero_severity_corruptions_are_identities) {
    const Tensor x = random_tensor({3, 784}, 50, 0.0, 1.0);
    BOOST_TEST(gaussian_noise(x, 0.0, Rng(1)).bitwise_equal(x));
    BOOST_TEST(contrast(x, 1.0).vec() == x.vec(), boost::test_tools::tolerance(1e-15) << boost::test_tools::per_element());
    const Tensor r = rotate(x, 0.0, 28);
    for (std::int64_t i = 0; i < x.numel(); ++i) BOOST_REQUIRE(std::fabs(r[i] - x[i]) < 1e-12);
}

BOOST_AUTO_TEST_CASE(rotating_by_90_degrees_moves_pixels_exactly) {
    // On a 28x28 grid about its centre, a quarter turn maps pixel (r, c) to (27 - c, r).
    const Tensor x = random_tensor({1, 784}, 51, 0.0, 1.0);
    const Tensor y = rotate(x, 90.0, 28);
    double worst = 0;
    for (std::int64_t r = 0; r < 28; ++r)
        for (std::int64_t c = 0; c < 28; ++c) worst = std::max(worst, std::fabs(y[(27 - c) * 28 + r] - x[r * 28 + c]));
    BOOST_TEST(worst < 1e-12);
}

BOOST_AUTO_TEST_CASE(blur_keeps_constant_images_and_smooths_a_point) {
    const Tensor flat(Shape{1, 784}, 0.3);
    const Tensor b = blur(flat, 1.0, 28);
    for (std::int64_t i = 0; i < 784; ++i) BOOST_REQUIRE(std::fabs(b[i] - 0.3) < 1e-15);
    Tensor point(Shape{1, 784}, 0.0);
    point[14 * 28 + 14] = 1.0;
    const Tensor p = blur(point, 1.0, 28);
    double total = 0;
    for (std::int64_t i = 0; i < 784; ++i) total += p[i];
    BOOST_TEST(std::fabs(total - 1.0) < 1e-12);   // mass preserved away from borders
    BOOST_TEST(p[14 * 28 + 14] < 0.2);
    BOOST_TEST(p[14 * 28 + 15] == p[14 * 28 + 13]);
}

BOOST_AUTO_TEST_CASE(corruptions_stay_in_the_pixel_domain_and_noise_is_seeded) {
    const Tensor x = random_tensor({4, 784}, 52, 0.0, 1.0);
    for (const Corruption& c : standard_corruptions(true)) {
        const Tensor y = apply_corruption(x, c, Rng(3), true);
        for (double v : y.vec()) BOOST_REQUIRE(v >= 0.0 && v <= 1.0);
    }
    BOOST_TEST(gaussian_noise(x, 0.2, Rng(3)).bitwise_equal(gaussian_noise(x, 0.2, Rng(3))));
    BOOST_TEST(!gaussian_noise(x, 0.2, Rng(3)).bitwise_equal(gaussian_noise(x, 0.2, Rng(4))));
    BOOST_CHECK_THROW(blur(Tensor(Shape{1, 10}), 1.0, 28), ShapeError);
    BOOST_TEST(standard_corruptions(false).size() == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
