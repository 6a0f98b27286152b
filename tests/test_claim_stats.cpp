// The statistics of the claims' verdicts against closed forms and tabulated quantiles.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <ostream>

#include "experiments/claims/stats.hpp"

using namespace moelab::cli;

namespace moelab::cli {
std::ostream& operator<<(std::ostream& os, Verdict v) { return os << to_string(v); }
}  // namespace moelab::cli

namespace {
double t2(double p) { return (2 * p - 1) / std::sqrt(2 * p * (1 - p)); }
}  // namespace

BOOST_AUTO_TEST_SUITE(claim_stats)

BOOST_AUTO_TEST_CASE(the_interval_is_the_student_t_interval) {
    // values 1, 2, 3: mean 2, s = 1; with 2 degrees of freedom the t quantile has the closed form
    // t_p = (2p - 1) / sqrt(2 p (1 - p)).
    const Interval i = mean_interval({1.0, 2.0, 3.0});
    BOOST_TEST(i.mean == 2.0);
    BOOST_TEST(i.half_width() == t2(0.975) / std::sqrt(3.0), boost::test_tools::tolerance(1e-12));
    // Five seeds: t_{0.975, 4} = 2.776445105197799 (tables).
    const Interval five = mean_interval({0.5, 0.7, 0.6, 0.9, 0.8});
    BOOST_TEST(five.half_width() == 2.776445105197793 * std::sqrt(0.025) / std::sqrt(5.0), boost::test_tools::tolerance(1e-12));
    // One seed says nothing about the spread.
    BOOST_TEST(std::isinf(mean_interval({0.4}).hi));
    BOOST_CHECK_THROW(mean_interval({}), std::invalid_argument);
    BOOST_CHECK_THROW(mean_interval({1.0, std::nan("")}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(the_share_interval_is_the_exact_binomial_one) {
    using boost::test_tools::tolerance;
    // k = 0 and k = n have closed forms: hi = 1 - 0.025^(1/n), lo = 0.025^(1/n).
    const Interval none = share_interval(0, 5), all = share_interval(5, 5);
    BOOST_TEST(none.lo == 0.0);
    BOOST_TEST(none.hi == 1.0 - std::pow(0.025, 0.2), tolerance(1e-9));
    BOOST_TEST(all.lo == std::pow(0.025, 0.2), tolerance(1e-9));
    BOOST_TEST(all.hi == 1.0);
    // 4 of 5: the bounds solve the tail equations, evaluated here by hand.
    const Interval four = share_interval(4, 5);
    BOOST_TEST(four.mean == 0.8);
    const double lo = four.lo, hi = four.hi;
    const double at_least_4 = 5 * std::pow(lo, 4) * (1 - lo) + std::pow(lo, 5);   // P(X >= 4 | lo)
    const double at_most_4 = 1.0 - std::pow(hi, 5);                              // P(X <= 4 | hi)
    BOOST_TEST(at_least_4 == 0.025, tolerance(1e-7));
    BOOST_TEST(at_most_4 == 0.025, tolerance(1e-7));
    BOOST_TEST(lo == 0.2836, tolerance(1e-3));   // published tables: [0.284, 0.995]
    BOOST_TEST(hi == 0.9949, tolerance(1e-3));
    BOOST_CHECK_THROW(share_interval(6, 5), std::invalid_argument);
    // Power: with 5 seeds, a share of 1 - 0.2^(1/5) = 0.275 gives at least one event with probability 0.8.
    BOOST_TEST(1.0 - std::pow(1.0 - minimal_detectable_share(5), 5) == 0.8, tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(paired_differences_remove_the_shared_seed_effect) {
    // Large seed-to-seed spread, constant difference 0.01: the paired interval is a point, the unpaired one wide.
    const std::vector<double> a{0.50, 0.70, 0.90}, b{0.49, 0.69, 0.89};
    const Interval d = paired_difference(a, b);
    BOOST_TEST(d.mean == 0.01, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(d.half_width() < 1e-9);
    BOOST_TEST(mean_interval(a).half_width() > 0.4);
    BOOST_CHECK_THROW(paired_difference(a, {0.1}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(verdicts_read_the_interval_against_the_threshold) {
    const VerdictRule above{Direction::above, 0.01}, below{Direction::below, 0.0}, within{Direction::within, 0.05};
    const auto iv = [](double lo, double hi) { Interval i; i.lo = lo; i.hi = hi; i.mean = (lo + hi) / 2; i.n = 3; return i; };
    BOOST_TEST(verdict_on_interval(iv(0.02, 0.05), above) == Verdict::reproduced);
    BOOST_TEST(verdict_on_interval(iv(-0.05, 0.005), above) == Verdict::not_reproduced);
    BOOST_TEST(verdict_on_interval(iv(0.0, 0.05), above) == Verdict::inconclusive);
    BOOST_TEST(verdict_on_interval(iv(-0.3, -0.1), below) == Verdict::reproduced);
    BOOST_TEST(verdict_on_interval(iv(0.1, 0.3), below) == Verdict::not_reproduced);
    BOOST_TEST(verdict_on_interval(iv(-0.02, 0.03), within) == Verdict::reproduced);
    BOOST_TEST(verdict_on_interval(iv(0.06, 0.3), within) == Verdict::not_reproduced);
    BOOST_TEST(verdict_on_interval(iv(0.0, 0.3), within) == Verdict::inconclusive);
    BOOST_TEST(verdict_on_interval(mean_interval({0.9}), above) == Verdict::inconclusive);   // one seed decides nothing
}

BOOST_AUTO_TEST_CASE(minimal_detectable_effect_and_numbers_for_people) {
    // (t_{0.975,2} + t_{0.80,2}) s / sqrt(n), s = 1, n = 3.
    BOOST_TEST(minimal_detectable_effect({1.0, 2.0, 3.0}) == (t2(0.975) + t2(0.80)) / std::sqrt(3.0),
               boost::test_tools::tolerance(1e-12));
    BOOST_TEST(std::isinf(minimal_detectable_effect({1.0})));
    BOOST_TEST(sig(0.1 + 0.2) == "0.3");
    BOOST_TEST(sig(0.041234567) == "0.04123");
    BOOST_TEST(sig(std::nan("")) == "n/a");
    Interval i;
    i.mean = 0.41234;
    i.lo = 0.39;
    i.hi = 0.433;
    BOOST_TEST(sig(i) == "0.412 [0.39, 0.433]");
}

BOOST_AUTO_TEST_SUITE_END()
